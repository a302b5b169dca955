//! The `library.v1.LibraryService` service over an in-memory store.
//!
//! The semantics are real (paging, filters, update masks, error codes) so the
//! generated proxy can be tested end to end against behaviour, not canned replies.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use prost_types::Timestamp;
use tonic::{Request, Response, Status};

use crate::pb::library::v1::{
    Attachment, Author, Book, BookFilter, CreateBookRequest, CreateShelfRequest,
    DeleteShelfRequest, Genre, GetAttachmentRequest, GetBookRequest, GetPageRequest,
    GetShelfRequest, ListBooksRequest, ListBooksResponse, ListShelvesRequest, ListShelvesResponse,
    MoveBookRequest, Page, Shelf, UpdateBookRequest, book::Location,
    library_service_server::LibraryService,
};

/// Page size used when a request leaves `page_size` at 0.
const DEFAULT_PAGE_SIZE: usize = 50;
/// Upper bound on a page, so one request cannot ask for everything at once.
const MAX_PAGE_SIZE: usize = 1000;

/// The library service: shelves of books kept in memory, seeded with demo data.
///
/// The lock is a std `Mutex` because no handler awaits while holding it.
#[derive(Debug)]
pub struct Library {
    store: Mutex<Store>,
}

impl Library {
    /// A library seeded with shelves "1" (Fiction) and "2" (History), one book each,
    /// so the README demo has something to show.
    #[must_use]
    pub fn new() -> Self {
        Self {
            store: Mutex::new(Store::seeded()),
        }
    }

    /// Every mutation leaves the store consistent before it could panic, so a
    /// poisoned lock is safe to keep using instead of failing every later call.
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn list_shelves_page(&self, req: &ListShelvesRequest) -> Result<ListShelvesResponse, Status> {
        let store = self.store();
        let shelves = store
            .shelves
            .iter()
            .map(|(id, shelf)| (*id, shelf.to_shelf(*id)));
        let (shelves, next_page_token) = paginate(shelves, req.page_size, &req.page_token)?;
        Ok(ListShelvesResponse {
            shelves,
            next_page_token,
        })
    }
}

impl Default for Library {
    fn default() -> Self {
        Self::new()
    }
}

/// All state, keyed by numeric ids so listings sort 1, 2, …, 10 rather than as strings.
#[derive(Debug)]
struct Store {
    shelves: BTreeMap<u64, ShelfRecord>,
    next_shelf_id: u64,
}

#[derive(Debug)]
struct ShelfRecord {
    theme: String,
    books: BTreeMap<u64, Book>,
    next_book_id: u64,
}

impl Store {
    fn seeded() -> Self {
        let mut store = Store {
            shelves: BTreeMap::new(),
            next_shelf_id: 1,
        };
        let (fiction, shelf) = store.create_shelf("Fiction".to_owned());
        shelf.insert(
            fiction,
            Book {
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
                // 1969-03-01T00:00:00Z
                published: Some(Timestamp {
                    seconds: -26_438_400,
                    nanos: 0,
                }),
                in_print: true,
                ..Book::default()
            },
        );
        let (history, shelf) = store.create_shelf("History".to_owned());
        shelf.insert(
            history,
            Book {
                title: "SPQR: A History of Ancient Rome".to_owned(),
                author: Some(Author {
                    display_name: "Mary Beard".to_owned(),
                    born: 1955,
                }),
                genre: Genre::History.into(),
                pages: 608,
                copies_printed: 1_000_000,
                price: 18.5,
                tags: vec!["rome".to_owned()],
                labels: HashMap::from([("lang".to_owned(), "en".to_owned())]),
                // 2015-10-20T00:00:00Z
                published: Some(Timestamp {
                    seconds: 1_445_299_200,
                    nanos: 0,
                }),
                in_print: true,
                ..Book::default()
            },
        );
        store
    }

    /// Adds an empty shelf under the next free id; ids are never reused.
    fn create_shelf(&mut self, theme: String) -> (u64, &mut ShelfRecord) {
        let id = self.next_shelf_id;
        self.next_shelf_id += 1;
        let shelf = self.shelves.entry(id).or_insert(ShelfRecord {
            theme,
            books: BTreeMap::new(),
            next_book_id: 1,
        });
        (id, shelf)
    }

    /// The key of an existing shelf, or NOT_FOUND naming the id asked for.
    fn shelf_key(&self, id: &str) -> Result<u64, Status> {
        parse_id(id)
            .filter(|key| self.shelves.contains_key(key))
            .ok_or_else(|| Status::not_found(format!("shelf {id} not found")))
    }

    fn shelf_mut(&mut self, id: &str) -> Result<(u64, &mut ShelfRecord), Status> {
        let key = self.shelf_key(id)?;
        self.shelves
            .get_mut(&key)
            .map(|shelf| (key, shelf))
            .ok_or_else(|| Status::not_found(format!("shelf {id} not found")))
    }

    /// Shelf and book keys of an existing book; NOT_FOUND names whichever is missing.
    fn book_key(&self, book: &BookRef) -> Result<(u64, u64), Status> {
        let shelf_key = self.shelf_key(&book.shelf_id)?;
        parse_id(&book.book_id)
            .filter(|key| {
                self.shelves
                    .get(&shelf_key)
                    .is_some_and(|shelf| shelf.books.contains_key(key))
            })
            .map(|key| (shelf_key, key))
            .ok_or_else(|| Status::not_found(format!("book {} not found", book.name())))
    }

    fn book(&self, book: &BookRef) -> Result<&Book, Status> {
        let (shelf, id) = self.book_key(book)?;
        self.shelves
            .get(&shelf)
            .and_then(|shelf| shelf.books.get(&id))
            .ok_or_else(|| Status::not_found(format!("book {} not found", book.name())))
    }

    fn book_mut(&mut self, book: &BookRef) -> Result<&mut Book, Status> {
        let (shelf, id) = self.book_key(book)?;
        self.shelves
            .get_mut(&shelf)
            .and_then(|shelf| shelf.books.get_mut(&id))
            .ok_or_else(|| Status::not_found(format!("book {} not found", book.name())))
    }
}

impl ShelfRecord {
    fn to_shelf(&self, id: u64) -> Shelf {
        Shelf {
            id: id.to_string(),
            theme: self.theme.clone(),
            book_count: i32::try_from(self.books.len()).unwrap_or(i32::MAX),
        }
    }

    /// Stores the book under the next free id on this shelf and returns it with its new name.
    fn insert(&mut self, shelf_id: u64, mut book: Book) -> Book {
        let id = self.next_book_id;
        self.next_book_id += 1;
        book.name = book_name(shelf_id, id);
        self.books.insert(id, book.clone());
        book
    }
}

/// A book named by its shelf and book ids, parsed from whichever form the request used.
#[derive(Debug)]
struct BookRef {
    shelf_id: String,
    book_id: String,
}

impl BookRef {
    /// Parses a resource name `shelves/{shelf}/books/{book}`.
    fn parse(name: &str) -> Result<Self, Status> {
        match name.split('/').collect::<Vec<_>>().as_slice() {
            ["shelves", shelf, "books", book] if !shelf.is_empty() && !book.is_empty() => {
                Ok(Self {
                    shelf_id: (*shelf).to_owned(),
                    book_id: (*book).to_owned(),
                })
            }
            _ => Err(Status::invalid_argument(format!(
                "book name {name:?} is not of the form shelves/{{shelf}}/books/{{book}}"
            ))),
        }
    }

    /// `GetBookRequest` names a book either by `name` or, when that is empty, by its two ids.
    fn from_request(req: &GetBookRequest) -> Result<Self, Status> {
        if !req.name.is_empty() {
            Self::parse(&req.name)
        } else if !req.shelf_id.is_empty() && !req.book_id.is_empty() {
            Ok(Self {
                shelf_id: req.shelf_id.clone(),
                book_id: req.book_id.clone(),
            })
        } else {
            Err(Status::invalid_argument(
                "either name or both shelf_id and book_id must be set",
            ))
        }
    }

    fn name(&self) -> String {
        format!("shelves/{}/books/{}", self.shelf_id, self.book_id)
    }
}

fn book_name(shelf: u64, book: u64) -> String {
    format!("shelves/{shelf}/books/{book}")
}

/// Ids are canonical decimals, so "01" does not alias shelf "1"; anything else names nothing.
fn parse_id(id: &str) -> Option<u64> {
    id.parse::<u64>().ok().filter(|n| n.to_string() == id)
}

/// Parses a `parent` of the form `shelves/{shelf}` into the shelf id.
fn parse_parent(parent: &str) -> Result<&str, Status> {
    match parent.strip_prefix("shelves/") {
        Some(id) if !id.is_empty() && !id.contains('/') => Ok(id),
        _ => Err(Status::invalid_argument(format!(
            "parent {parent:?} is not of the form shelves/{{shelf}}"
        ))),
    }
}

/// Accepts a target shelf as a bare id or as `shelves/{shelf}`.
fn target_shelf_id(target: &str) -> &str {
    target.strip_prefix("shelves/").unwrap_or(target)
}

fn require_shelf_id(id: &str) -> Result<&str, Status> {
    if id.is_empty() {
        Err(Status::invalid_argument("shelf_id must not be empty"))
    } else {
        Ok(id)
    }
}

/// Cuts one page out of `items` (sorted by id). The page token is the last id
/// returned, so paging stays stable while items are added or deleted.
fn paginate<T>(
    items: impl Iterator<Item = (u64, T)>,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<T>, String), Status> {
    let size = match usize::try_from(page_size) {
        Err(_) => return Err(Status::invalid_argument("page_size must not be negative")),
        Ok(0) => DEFAULT_PAGE_SIZE,
        Ok(n) => n.min(MAX_PAGE_SIZE),
    };
    let after = if page_token.is_empty() {
        None
    } else {
        Some(parse_id(page_token).ok_or_else(|| {
            Status::invalid_argument(format!("invalid page_token {page_token:?}"))
        })?)
    };
    let mut items = items
        .filter(|(id, _)| after.is_none_or(|after| *id > after))
        .peekable();
    let mut page = Vec::new();
    let mut last = None;
    while page.len() < size {
        let Some((id, item)) = items.next() else {
            break;
        };
        last = Some(id);
        page.push(item);
    }
    let next_page_token = match (items.peek(), last) {
        (Some(_), Some(last)) => last.to_string(),
        _ => String::new(),
    };
    Ok((page, next_page_token))
}

/// Whether a book passes ListBooks' filter and label selector.
/// The author match is a case-insensitive substring match.
fn matches(book: &Book, filter: Option<&BookFilter>, labels: &HashMap<String, String>) -> bool {
    let labels_ok = labels
        .iter()
        .all(|(key, value)| book.labels.get(key) == Some(value));
    let Some(filter) = filter else {
        return labels_ok;
    };
    let author_ok = filter.author.is_empty()
        || book.author.as_ref().is_some_and(|author| {
            author
                .display_name
                .to_lowercase()
                .contains(&filter.author.to_lowercase())
        });
    let genre_ok = filter.genres.is_empty() || filter.genres.contains(&book.genre);
    let price_ok = book.price >= filter.min_price;
    let in_print_ok = filter
        .in_print
        .is_none_or(|in_print| book.in_print == in_print);
    labels_ok && author_ok && genre_ok && price_ok && in_print_ok
}

/// Copies the field named by one update-mask path from `src` into `dst`.
/// Paths are top-level field names, plus `author.display_name` and `author.born`.
fn apply_mask_path(dst: &mut Book, src: &Book, path: &str) -> Result<(), Status> {
    match path {
        "title" => dst.title.clone_from(&src.title),
        "author" => dst.author.clone_from(&src.author),
        "author.display_name" => {
            dst.author.get_or_insert_with(Author::default).display_name = src
                .author
                .as_ref()
                .map(|author| author.display_name.clone())
                .unwrap_or_default();
        }
        "author.born" => {
            dst.author.get_or_insert_with(Author::default).born =
                src.author.as_ref().map_or(0, |author| author.born);
        }
        "genre" => dst.genre = src.genre,
        "pages" => dst.pages = src.pages,
        "copies_printed" => dst.copies_printed = src.copies_printed,
        "price" => dst.price = src.price,
        "rating" => dst.rating = src.rating,
        "in_print" => dst.in_print = src.in_print,
        "cover_thumbnail" => dst.cover_thumbnail.clone_from(&src.cover_thumbnail),
        "tags" => dst.tags.clone_from(&src.tags),
        "labels" => dst.labels.clone_from(&src.labels),
        "published" => dst.published = src.published,
        "reading_time" => dst.reading_time = src.reading_time,
        "subtitle" => dst.subtitle.clone_from(&src.subtitle),
        "series" => dst.series.clone_from(&src.series),
        "edition" => dst.edition = src.edition,
        "isbn13" => dst.isbn13 = src.isbn13,
        "secondary_genres" => dst.secondary_genres.clone_from(&src.secondary_genres),
        // A oneof member in the mask sets that member, or clears it when the
        // request does not carry it.
        "shelf_position" => match &src.location {
            Some(Location::ShelfPosition(_)) => dst.location.clone_from(&src.location),
            _ if matches!(dst.location, Some(Location::ShelfPosition(_))) => dst.location = None,
            _ => {}
        },
        "borrower" => match &src.location {
            Some(Location::Borrower(_)) => dst.location.clone_from(&src.location),
            _ if matches!(dst.location, Some(Location::Borrower(_))) => dst.location = None,
            _ => {}
        },
        "name" => {
            return Err(Status::invalid_argument(
                "update_mask path \"name\" is immutable; use MoveBook",
            ));
        }
        other => {
            return Err(Status::invalid_argument(format!(
                "unknown update_mask path {other:?}"
            )));
        }
    }
    Ok(())
}

/// Replaces every field but the resource name, which only MoveBook changes.
fn replace_mutable_fields(dst: &mut Book, src: Book) {
    let name = std::mem::take(&mut dst.name);
    *dst = Book { name, ..src };
}

#[tonic::async_trait]
impl LibraryService for Library {
    async fn list_shelves(
        &self,
        request: Request<ListShelvesRequest>,
    ) -> Result<Response<ListShelvesResponse>, Status> {
        self.list_shelves_page(request.get_ref()).map(Response::new)
    }

    async fn create_shelf(
        &self,
        request: Request<CreateShelfRequest>,
    ) -> Result<Response<Shelf>, Status> {
        let shelf = request
            .into_inner()
            .shelf
            .ok_or_else(|| Status::invalid_argument("shelf must be set"))?;
        let mut store = self.store();
        let (id, created) = store.create_shelf(shelf.theme);
        Ok(Response::new(created.to_shelf(id)))
    }

    async fn get_shelf(
        &self,
        request: Request<GetShelfRequest>,
    ) -> Result<Response<Shelf>, Status> {
        let id = require_shelf_id(&request.get_ref().shelf_id)?;
        let store = self.store();
        let key = store.shelf_key(id)?;
        store
            .shelves
            .get(&key)
            .map(|shelf| Response::new(shelf.to_shelf(key)))
            .ok_or_else(|| Status::not_found(format!("shelf {id} not found")))
    }

    async fn get_default_shelf(&self, _request: Request<()>) -> Result<Response<Shelf>, Status> {
        let store = self.store();
        store
            .shelves
            .get(&1)
            .map(|shelf| Response::new(shelf.to_shelf(1)))
            .ok_or_else(|| Status::not_found("default shelf 1 not found"))
    }

    async fn delete_shelf(
        &self,
        request: Request<DeleteShelfRequest>,
    ) -> Result<Response<()>, Status> {
        let req = request.get_ref();
        let id = require_shelf_id(&req.shelf_id)?;
        let mut store = self.store();
        let (key, shelf) = store.shelf_mut(id)?;
        if !shelf.books.is_empty() && !req.force {
            return Err(Status::failed_precondition(format!(
                "shelf {id} still holds {} book(s); set force to delete them too",
                shelf.books.len()
            )));
        }
        store.shelves.remove(&key);
        Ok(Response::new(()))
    }

    async fn list_books(
        &self,
        request: Request<ListBooksRequest>,
    ) -> Result<Response<ListBooksResponse>, Status> {
        let req = request.into_inner();
        let shelf_id = parse_parent(&req.parent)?;
        let store = self.store();
        let key = store.shelf_key(shelf_id)?;
        let books = store
            .shelves
            .get(&key)
            .into_iter()
            .flat_map(|shelf| shelf.books.iter())
            .filter(|(_, book)| matches(book, req.filter.as_ref(), &req.labels))
            .map(|(id, book)| (*id, book.clone()));
        let (books, next_page_token) = paginate(books, req.page_size, &req.page_token)?;
        Ok(Response::new(ListBooksResponse {
            books,
            next_page_token,
            query: Some(req),
        }))
    }

    async fn create_book(
        &self,
        request: Request<CreateBookRequest>,
    ) -> Result<Response<Book>, Status> {
        let req = request.into_inner();
        let shelf_id = parse_parent(&req.parent)?;
        let book = req
            .book
            .ok_or_else(|| Status::invalid_argument("book must be set"))?;
        let mut store = self.store();
        let (key, shelf) = store.shelf_mut(shelf_id)?;
        if req.validate_only {
            // Show the name the book would get, without taking the id.
            return Ok(Response::new(Book {
                name: book_name(key, shelf.next_book_id),
                ..book
            }));
        }
        Ok(Response::new(shelf.insert(key, book)))
    }

    async fn get_book(&self, request: Request<GetBookRequest>) -> Result<Response<Book>, Status> {
        let book = BookRef::from_request(request.get_ref())?;
        let store = self.store();
        store.book(&book).cloned().map(Response::new)
    }

    async fn update_book(
        &self,
        request: Request<UpdateBookRequest>,
    ) -> Result<Response<Book>, Status> {
        let req = request.into_inner();
        let update = req
            .book
            .ok_or_else(|| Status::invalid_argument("book must be set"))?;
        let book = BookRef::parse(&update.name)?;
        let mut store = self.store();
        let stored = store.book_mut(&book)?;
        // Apply to a copy so a bad path later in the mask leaves the book untouched.
        let mut updated = stored.clone();
        match req.update_mask {
            Some(mask) if !mask.paths.is_empty() => {
                for path in &mask.paths {
                    apply_mask_path(&mut updated, &update, path)?;
                }
            }
            _ => replace_mutable_fields(&mut updated, update),
        }
        *stored = updated.clone();
        Ok(Response::new(updated))
    }

    async fn replace_book(&self, request: Request<Book>) -> Result<Response<Book>, Status> {
        let replacement = request.into_inner();
        let book = BookRef::parse(&replacement.name)?;
        let mut store = self.store();
        let stored = store.book_mut(&book)?;
        replace_mutable_fields(stored, replacement);
        Ok(Response::new(stored.clone()))
    }

    async fn delete_book(&self, request: Request<GetBookRequest>) -> Result<Response<()>, Status> {
        let book = BookRef::from_request(request.get_ref())?;
        let mut store = self.store();
        let (shelf, id) = store.book_key(&book)?;
        if let Some(shelf) = store.shelves.get_mut(&shelf) {
            shelf.books.remove(&id);
        }
        Ok(Response::new(()))
    }

    async fn move_book(&self, request: Request<MoveBookRequest>) -> Result<Response<Book>, Status> {
        let req = request.into_inner();
        let book = BookRef::parse(&req.name)?;
        let target = target_shelf_id(&req.target_shelf);
        if target.is_empty() {
            return Err(Status::invalid_argument("target_shelf must not be empty"));
        }
        let mut store = self.store();
        let (from_shelf, id) = store.book_key(&book)?;
        let to_shelf = store.shelf_key(target)?;
        if from_shelf == to_shelf {
            return store.book(&book).cloned().map(Response::new);
        }
        let moved = store
            .shelves
            .get_mut(&from_shelf)
            .and_then(|shelf| shelf.books.remove(&id))
            .ok_or_else(|| Status::not_found(format!("book {} not found", book.name())))?;
        let (to_shelf, shelf) = store.shelf_mut(target)?;
        Ok(Response::new(shelf.insert(to_shelf, moved)))
    }

    async fn get_author(&self, request: Request<GetBookRequest>) -> Result<Response<Book>, Status> {
        self.get_book(request).await
    }

    async fn get_page(&self, request: Request<GetPageRequest>) -> Result<Response<Page>, Status> {
        let req = request.into_inner();
        if req.number == 0 {
            return Err(Status::out_of_range("page numbers start at 1"));
        }
        if req.book_id.is_empty() {
            return Err(Status::invalid_argument("book_id must not be empty"));
        }
        let book = BookRef {
            shelf_id: require_shelf_id(&req.shelf_id)?.to_owned(),
            book_id: req.book_id,
        };
        let store = self.store();
        let found = store.book(&book)?;
        if found.pages > 0 && i64::from(req.number) > i64::from(found.pages) {
            return Err(Status::out_of_range(format!(
                "{} has {} pages, not {}",
                book.name(),
                found.pages,
                req.number
            )));
        }
        let title = if found.title.is_empty() {
            &found.name
        } else {
            &found.title
        };
        Ok(Response::new(Page {
            number: req.number,
            text: format!("Page {} of {title}", req.number),
        }))
    }

    async fn get_attachment(
        &self,
        request: Request<GetAttachmentRequest>,
    ) -> Result<Response<Attachment>, Status> {
        let path = request.into_inner().path;
        Ok(Response::new(Attachment {
            data: path.clone().into_bytes(),
            path,
        }))
    }

    async fn watch_changes(
        &self,
        request: Request<ListShelvesRequest>,
    ) -> Result<Response<ListShelvesResponse>, Status> {
        self.list_shelves_page(request.get_ref()).map(Response::new)
    }

    type StreamBooksStream = tokio_stream::Iter<std::vec::IntoIter<Result<Book, Status>>>;

    /// Every matching book of the shelf, one message each (no paging: the stream is the page).
    async fn stream_books(
        &self,
        request: Request<ListBooksRequest>,
    ) -> Result<Response<Self::StreamBooksStream>, Status> {
        let req = request.into_inner();
        let shelf_id = parse_parent(&req.parent)?;
        let store = self.store();
        let key = store.shelf_key(shelf_id)?;
        let books: Vec<Result<Book, Status>> = store
            .shelves
            .get(&key)
            .into_iter()
            .flat_map(|shelf| shelf.books.values())
            .filter(|book| matches(book, req.filter.as_ref(), &req.labels))
            .map(|book| Ok(book.clone()))
            .collect();
        Ok(Response::new(tokio_stream::iter(books)))
    }
}
