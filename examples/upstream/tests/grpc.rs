//! Calls the server through the generated tonic clients over real TCP and Unix sockets.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use prost_types::{FieldMask, Timestamp};
use protogate_example_upstream::pb::helloworld::v1::{HelloRequest, greeter_client::GreeterClient};
use protogate_example_upstream::pb::library::v1::{
    Author, Book, BookFilter, CreateBookRequest, CreateShelfRequest, DeleteShelfRequest, Genre,
    GetAttachmentRequest, GetBookRequest, GetPageRequest, GetShelfRequest, ListBooksRequest,
    ListShelvesRequest, MoveBookRequest, Shelf, UpdateBookRequest,
    library_service_client::LibraryServiceClient,
};
use protogate_example_upstream::{serve, serve_unix};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::transport::{Channel, Endpoint, Uri};

/// A server on a real socket plus a channel to it; `stop` shuts it down and checks it exits cleanly.
struct TestServer {
    channel: Channel,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl TestServer {
    async fn tcp() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, async {
            let _ = stopped.await;
        }));
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect over tcp");
        Self {
            channel,
            stop,
            task,
        }
    }

    async fn unix(path: PathBuf) -> Self {
        let listener = UnixListener::bind(&path).expect("bind unix socket");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_unix(listener, async {
            let _ = stopped.await;
        }));
        let channel = unix_channel(path).await;
        Self {
            channel,
            stop,
            task,
        }
    }

    fn greeter(&self) -> GreeterClient<Channel> {
        GreeterClient::new(self.channel.clone())
    }

    fn library(&self) -> LibraryServiceClient<Channel> {
        LibraryServiceClient::new(self.channel.clone())
    }

    async fn stop(self) {
        drop(self.channel);
        self.stop.send(()).expect("server still running");
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops within 10s")
            .expect("server task did not panic")
            .expect("server exits without error");
    }
}

/// A channel whose connector dials a Unix socket; the URI is only a placeholder.
async fn unix_channel(path: PathBuf) -> Channel {
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
        .expect("connect over unix socket")
}

fn get_book(name: &str) -> GetBookRequest {
    GetBookRequest {
        name: name.to_owned(),
        ..GetBookRequest::default()
    }
}

fn left_hand_of_darkness() -> Book {
    Book {
        name: "shelves/1/books/1".to_owned(),
        title: "The Left Hand of Darkness".to_owned(),
        author: Some(Author {
            display_name: "Ursula K. Le Guin".to_owned(),
            born: 1929,
        }),
        genre: Genre::Fiction.into(),
        pages: 304,
        copies_printed: 5_000_000_000,
        price: 9.99,
        tags: vec!["sf".to_owned(), "classic".to_owned()],
        labels: HashMap::from([("lang".to_owned(), "en".to_owned())]),
        published: Some(
            "1969-03-01T00:00:00Z"
                .parse::<Timestamp>()
                .expect("timestamp"),
        ),
        in_print: true,
        ..Book::default()
    }
}

#[tokio::test]
async fn greeter_over_tcp() {
    let server = TestServer::tcp().await;
    let mut greeter = server.greeter();

    let reply = greeter
        .say_hello(HelloRequest {
            name: "World".to_owned(),
        })
        .await
        .expect("say_hello")
        .into_inner();
    assert_eq!(reply.message, "Hello World");

    let err = greeter
        .say_hello(HelloRequest::default())
        .await
        .expect_err("empty name is rejected");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "name must not be empty");

    server.stop().await;
}

#[tokio::test]
async fn both_services_over_unix_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::unix(dir.path().join("upstream.sock")).await;

    let reply = server
        .greeter()
        .say_hello(HelloRequest {
            name: "socket".to_owned(),
        })
        .await
        .expect("say_hello")
        .into_inner();
    assert_eq!(reply.message, "Hello socket");

    let mut library = server.library();
    let book = library
        .get_book(get_book("shelves/1/books/1"))
        .await
        .expect("get_book")
        .into_inner();
    assert_eq!(book, left_hand_of_darkness());

    let err = library
        .get_shelf(GetShelfRequest {
            shelf_id: "9".to_owned(),
        })
        .await
        .expect_err("shelf 9 does not exist");
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains('9'), "{}", err.message());

    server.stop().await;
}

#[tokio::test]
async fn shelves() {
    let server = TestServer::tcp().await;
    let mut library = server.library();

    let first = library
        .list_shelves(ListShelvesRequest {
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .expect("list_shelves")
        .into_inner();
    assert_eq!(first.shelves.len(), 1);
    assert_eq!(first.shelves[0].id, "1");
    assert_eq!(first.shelves[0].theme, "Fiction");
    assert_eq!(first.shelves[0].book_count, 1);
    assert!(!first.next_page_token.is_empty());
    let second = library
        .list_shelves(ListShelvesRequest {
            page_size: 1,
            page_token: first.next_page_token,
        })
        .await
        .expect("list_shelves page 2")
        .into_inner();
    assert_eq!(second.shelves.len(), 1);
    assert_eq!(second.shelves[0].id, "2");
    assert_eq!(second.shelves[0].theme, "History");
    assert_eq!(second.next_page_token, "");

    let err = library
        .list_shelves(ListShelvesRequest {
            page_size: 0,
            page_token: "bogus".to_owned(),
        })
        .await
        .expect_err("bad page token");
    assert_eq!(err.code(), Code::InvalidArgument);

    let created = library
        .create_shelf(CreateShelfRequest {
            shelf: Some(Shelf {
                id: "ignored".to_owned(),
                theme: "Poetry".to_owned(),
                book_count: 7,
            }),
        })
        .await
        .expect("create_shelf")
        .into_inner();
    assert_eq!(
        created,
        Shelf {
            id: "3".to_owned(),
            theme: "Poetry".to_owned(),
            book_count: 0,
        }
    );
    let err = library
        .create_shelf(CreateShelfRequest { shelf: None })
        .await
        .expect_err("missing shelf");
    assert_eq!(err.code(), Code::InvalidArgument);

    let default = library
        .get_default_shelf(())
        .await
        .expect("get_default_shelf")
        .into_inner();
    assert_eq!(default.id, "1");

    let all = library
        .watch_changes(ListShelvesRequest::default())
        .await
        .expect("watch_changes")
        .into_inner();
    let ids: Vec<_> = all.shelves.iter().map(|shelf| shelf.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3"]);

    let err = library
        .delete_shelf(DeleteShelfRequest {
            shelf_id: "1".to_owned(),
            force: false,
        })
        .await
        .expect_err("shelf 1 still has books");
    assert_eq!(err.code(), Code::FailedPrecondition);
    library
        .delete_shelf(DeleteShelfRequest {
            shelf_id: "3".to_owned(),
            force: false,
        })
        .await
        .expect("empty shelf deletes without force");
    library
        .delete_shelf(DeleteShelfRequest {
            shelf_id: "1".to_owned(),
            force: true,
        })
        .await
        .expect("force deletes a shelf with books");
    let err = library
        .get_shelf(GetShelfRequest {
            shelf_id: "1".to_owned(),
        })
        .await
        .expect_err("shelf 1 is gone");
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), "shelf 1 not found");
    let err = library
        .get_book(get_book("shelves/1/books/1"))
        .await
        .expect_err("its books are gone too");
    assert_eq!(err.code(), Code::NotFound);

    server.stop().await;
}

#[tokio::test]
async fn list_books_filters_and_echoes_the_query() {
    let server = TestServer::tcp().await;
    let mut library = server.library();

    let request = ListBooksRequest {
        parent: "shelves/1".to_owned(),
        filter: Some(BookFilter {
            author: "le guin".to_owned(),
            genres: vec![Genre::Fiction.into(), Genre::Poetry.into()],
            min_price: 5.0,
            in_print: Some(true),
            ..BookFilter::default()
        }),
        read_mask: Some(FieldMask {
            paths: vec!["title".to_owned()],
        }),
        labels: HashMap::from([("lang".to_owned(), "en".to_owned())]),
        isbn13s: vec![9_780_441_478_125],
        include_borrowed: Some(false),
        ..ListBooksRequest::default()
    };
    let response = library
        .list_books(request.clone())
        .await
        .expect("list_books")
        .into_inner();
    assert_eq!(response.books, [left_hand_of_darkness()]);
    assert_eq!(response.next_page_token, "");
    assert_eq!(response.query, Some(request));

    let filters = [
        BookFilter {
            author: "Beard".to_owned(),
            ..BookFilter::default()
        },
        BookFilter {
            genres: vec![Genre::History.into()],
            ..BookFilter::default()
        },
        BookFilter {
            min_price: 10.0,
            ..BookFilter::default()
        },
        BookFilter {
            in_print: Some(false),
            ..BookFilter::default()
        },
    ];
    for filter in filters {
        let books = library
            .list_books(ListBooksRequest {
                parent: "shelves/1".to_owned(),
                filter: Some(filter.clone()),
                ..ListBooksRequest::default()
            })
            .await
            .expect("list_books")
            .into_inner()
            .books;
        assert!(books.is_empty(), "{filter:?} matched {books:?}");
    }
    let books = library
        .list_books(ListBooksRequest {
            parent: "shelves/1".to_owned(),
            labels: HashMap::from([("lang".to_owned(), "fr".to_owned())]),
            ..ListBooksRequest::default()
        })
        .await
        .expect("list_books")
        .into_inner()
        .books;
    assert!(books.is_empty());

    // Paging over several books.
    for title in ["A", "B", "C"] {
        library
            .create_book(CreateBookRequest {
                parent: "shelves/2".to_owned(),
                book: Some(Book {
                    title: title.to_owned(),
                    ..Book::default()
                }),
                validate_only: false,
            })
            .await
            .expect("create_book");
    }
    let mut titles = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = library
            .list_books(ListBooksRequest {
                parent: "shelves/2".to_owned(),
                page_size: 3,
                page_token,
                ..ListBooksRequest::default()
            })
            .await
            .expect("list_books page")
            .into_inner();
        assert!(page.books.len() <= 3);
        titles.extend(page.books.into_iter().map(|book| book.title));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(titles, ["SPQR: A History of Ancient Rome", "A", "B", "C"]);

    let err = library
        .list_books(ListBooksRequest {
            parent: "shelves/9".to_owned(),
            ..ListBooksRequest::default()
        })
        .await
        .expect_err("unknown shelf");
    assert_eq!(err.code(), Code::NotFound);
    let err = library
        .list_books(ListBooksRequest {
            parent: "racks/1".to_owned(),
            ..ListBooksRequest::default()
        })
        .await
        .expect_err("malformed parent");
    assert_eq!(err.code(), Code::InvalidArgument);

    server.stop().await;
}

#[tokio::test]
async fn book_lifecycle() {
    let server = TestServer::tcp().await;
    let mut library = server.library();
    let draft = Book {
        title: "The Dispossessed".to_owned(),
        price: 12.5,
        tags: vec!["sf".to_owned()],
        ..Book::default()
    };

    let validated = library
        .create_book(CreateBookRequest {
            parent: "shelves/1".to_owned(),
            book: Some(draft.clone()),
            validate_only: true,
        })
        .await
        .expect("validate_only create")
        .into_inner();
    assert_eq!(validated.title, draft.title);
    let err = library
        .get_book(get_book("shelves/1/books/2"))
        .await
        .expect_err("validate_only stores nothing");
    assert_eq!(err.code(), Code::NotFound);

    let created = library
        .create_book(CreateBookRequest {
            parent: "shelves/1".to_owned(),
            book: Some(draft.clone()),
            validate_only: false,
        })
        .await
        .expect("create_book")
        .into_inner();
    assert_eq!(created.name, "shelves/1/books/2");
    let by_ids = library
        .get_book(GetBookRequest {
            name: String::new(),
            shelf_id: "1".to_owned(),
            book_id: "2".to_owned(),
        })
        .await
        .expect("get_book by ids")
        .into_inner();
    assert_eq!(by_ids, created);

    // Only the masked field changes.
    let updated = library
        .update_book(UpdateBookRequest {
            book: Some(Book {
                name: created.name.clone(),
                title: "not applied".to_owned(),
                price: 14.0,
                ..Book::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["price".to_owned()],
            }),
        })
        .await
        .expect("update_book")
        .into_inner();
    assert_eq!(updated.price, 14.0);
    assert_eq!(updated.title, "The Dispossessed");
    assert_eq!(updated.tags, ["sf"]);

    let err = library
        .update_book(UpdateBookRequest {
            book: Some(created.clone()),
            update_mask: Some(FieldMask {
                paths: vec!["price".to_owned(), "colour".to_owned()],
            }),
        })
        .await
        .expect_err("unknown mask path");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("colour"), "{}", err.message());
    let unchanged = library
        .get_book(get_book(&created.name))
        .await
        .expect("get_book")
        .into_inner();
    assert_eq!(unchanged.price, 14.0, "a rejected mask changes nothing");

    // No mask: every mutable field is replaced.
    let replaced_all = library
        .update_book(UpdateBookRequest {
            book: Some(Book {
                name: created.name.clone(),
                title: "The Dispossessed: An Ambiguous Utopia".to_owned(),
                ..Book::default()
            }),
            update_mask: None,
        })
        .await
        .expect("update_book without mask")
        .into_inner();
    assert_eq!(
        replaced_all,
        Book {
            name: created.name.clone(),
            title: "The Dispossessed: An Ambiguous Utopia".to_owned(),
            ..Book::default()
        }
    );

    let replaced = library
        .replace_book(Book {
            name: created.name.clone(),
            title: "Always Coming Home".to_owned(),
            pages: 562,
            ..Book::default()
        })
        .await
        .expect("replace_book")
        .into_inner();
    assert_eq!(replaced.title, "Always Coming Home");
    assert_eq!(replaced.pages, 562);

    let moved = library
        .move_book(MoveBookRequest {
            name: created.name.clone(),
            target_shelf: "2".to_owned(),
        })
        .await
        .expect("move_book")
        .into_inner();
    assert_eq!(moved.name, "shelves/2/books/2");
    assert_eq!(moved.title, "Always Coming Home");
    let err = library
        .get_book(get_book(&created.name))
        .await
        .expect_err("the old name is gone");
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), "book shelves/1/books/2 not found");

    library
        .delete_book(get_book(&moved.name))
        .await
        .expect("delete_book");
    let err = library
        .get_book(get_book(&moved.name))
        .await
        .expect_err("deleted");
    assert_eq!(err.code(), Code::NotFound);
    let err = library
        .get_book(get_book("shelves/1"))
        .await
        .expect_err("malformed name");
    assert_eq!(err.code(), Code::InvalidArgument);

    server.stop().await;
}

#[tokio::test]
async fn author_pages_and_attachments() {
    let server = TestServer::tcp().await;
    let mut library = server.library();

    let book = library
        .get_author(get_book("shelves/1/books/1"))
        .await
        .expect("get_author")
        .into_inner();
    assert_eq!(
        book.author.map(|author| author.display_name).as_deref(),
        Some("Ursula K. Le Guin")
    );

    let page = library
        .get_page(GetPageRequest {
            shelf_id: "1".to_owned(),
            book_id: "1".to_owned(),
            number: 3,
        })
        .await
        .expect("get_page")
        .into_inner();
    assert_eq!(page.number, 3);
    assert_eq!(page.text, "Page 3 of The Left Hand of Darkness");
    for number in [0, 305] {
        let err = library
            .get_page(GetPageRequest {
                shelf_id: "1".to_owned(),
                book_id: "1".to_owned(),
                number,
            })
            .await
            .expect_err("no such page");
        assert_eq!(err.code(), Code::OutOfRange, "page {number}");
    }

    let attachment = library
        .get_attachment(GetAttachmentRequest {
            path: "covers/2024/front.png".to_owned(),
        })
        .await
        .expect("get_attachment")
        .into_inner();
    assert_eq!(attachment.path, "covers/2024/front.png");
    assert_eq!(attachment.data, b"covers/2024/front.png");

    server.stop().await;
}

#[tokio::test]
async fn each_server_has_its_own_library() {
    let first = TestServer::tcp().await;
    let second = TestServer::tcp().await;
    first
        .library()
        .delete_shelf(DeleteShelfRequest {
            shelf_id: "2".to_owned(),
            force: true,
        })
        .await
        .expect("delete_shelf");
    second
        .library()
        .get_shelf(GetShelfRequest {
            shelf_id: "2".to_owned(),
        })
        .await
        .expect("the other server still has shelf 2");
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn stream_books_sends_each_matching_book() {
    let server = TestServer::tcp().await;
    let mut library = server.library();
    let mut stream = library
        .stream_books(ListBooksRequest {
            parent: "shelves/1".to_owned(),
            ..Default::default()
        })
        .await
        .expect("stream_books")
        .into_inner();
    let mut books = Vec::new();
    while let Some(book) = stream.message().await.expect("a book") {
        books.push(book);
    }
    assert_eq!(books, [left_hand_of_darkness()]);

    let err = library
        .stream_books(ListBooksRequest {
            parent: "shelves/9".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("shelf 9 does not exist");
    assert_eq!(err.code(), Code::NotFound);
    server.stop().await;
}

/// The proxy's `/readyz` (and a Kubernetes readiness probe behind it) asks
/// `grpc.health.v1.Health/Check`; the example upstream answers SERVING.
#[tokio::test]
async fn health_check_reports_serving() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let server = TestServer::tcp().await;
    let reply = HealthClient::new(server.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health check")
        .into_inner();
    assert_eq!(reply.status(), ServingStatus::Serving);
}
