//! The committed generated crate (`generated-example`, from `examples/proto`) over the example
//! upstream (`examples/upstream`), both on real sockets: the README's API end to end.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use protogate_tests::{Reply, Server, example_stack, h2c, http1, send};
use serde_json::json;

async fn call(proxy: &Server, method: &str, path: &str, body: Option<serde_json::Value>) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http1().request(method, format!("{}{path}", proxy.url()));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    send(request).await
}

async fn get(proxy: &Server, path: &str) -> Reply {
    call(proxy, "GET", path, None).await
}

fn ok(reply: &Reply) -> &serde_json::Value {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.headers["content-type"], "application/json",
        "{reply:?}"
    );
    &reply.json
}

/// The proxy still answers a good request.
async fn assert_serves(proxy: &Server) {
    let reply = get(proxy, "/v1/greeter/again").await;
    assert_eq!(ok(&reply)["message"], "Hello again", "{reply:?}");
}

#[tokio::test]
async fn greeter_get_and_post_bindings() {
    let (proxy, _upstream) = example_stack().await;
    let reply = get(&proxy, "/v1/greeter/World").await;
    assert_eq!(ok(&reply), &json!({"message": "Hello World"}), "{reply:?}");
    let reply = get(&proxy, "/v1/greeter/Jos%C3%A9%20Mar%C3%ADa").await;
    assert_eq!(ok(&reply)["message"], "Hello José María", "{reply:?}");
    let reply = call(&proxy, "POST", "/v1/greeter", Some(json!({"name": "Ann"}))).await;
    assert_eq!(ok(&reply), &json!({"message": "Hello Ann"}), "{reply:?}");
    // Over HTTP/2 too.
    let reply = send(h2c().get(format!("{}/v1/greeter/h2", proxy.url()))).await;
    assert_eq!(ok(&reply)["message"], "Hello h2", "{reply:?}");
    // The upstream's INVALID_ARGUMENT for an empty name (empty body = empty message).
    call(&proxy, "POST", "/v1/greeter", None)
        .await
        .assert_error(400, 3, "name must not be empty");
    // The query cannot set what the path binds, nor what does not exist.
    get(&proxy, "/v1/greeter/a?name=b")
        .await
        .assert_error(400, 3, "`name`");
    get(&proxy, "/v1/greeter/a?lang=fr")
        .await
        .assert_error(400, 3, "`lang`");
    call(
        &proxy,
        "POST",
        "/v1/greeter",
        Some(json!({"name": "x", "lang": "fr"})),
    )
    .await
    .assert_error(400, 3, "lang");
    assert_serves(&proxy).await;
}

#[tokio::test]
async fn shelves_crud() {
    let (proxy, _upstream) = example_stack().await;
    let reply = get(&proxy, "/v1/shelves").await;
    assert_eq!(
        ok(&reply),
        &json!({
            "shelves": [
                {"id": "1", "theme": "Fiction", "bookCount": 1},
                {"id": "2", "theme": "History", "bookCount": 1}
            ],
            "nextPageToken": ""
        }),
        "{reply:?}"
    );
    // Paging through the query, by JSON and proto names.
    let reply = get(&proxy, "/v1/shelves?pageSize=1").await;
    assert_eq!(ok(&reply)["shelves"][0]["id"], "1", "{reply:?}");
    assert_eq!(reply.json["nextPageToken"], "1", "{reply:?}");
    let reply = get(&proxy, "/v1/shelves?page_size=1&page_token=1").await;
    assert_eq!(ok(&reply)["shelves"][0]["id"], "2", "{reply:?}");
    assert_eq!(reply.json["nextPageToken"], "", "{reply:?}");

    // Create (body field `shelf`), read, the literal `default`, delete.
    let reply = call(
        &proxy,
        "POST",
        "/v1/shelves",
        Some(json!({"theme": "Poetry"})),
    )
    .await;
    assert_eq!(
        ok(&reply),
        &json!({"id": "3", "theme": "Poetry", "bookCount": 0}),
        "{reply:?}"
    );
    let reply = get(&proxy, "/v1/shelves/3").await;
    assert_eq!(ok(&reply)["theme"], "Poetry", "{reply:?}");
    let reply = get(&proxy, "/v1/shelves/default").await;
    assert_eq!(
        ok(&reply)["id"],
        "1",
        "literal `default` beats {{shelf_id}}: {reply:?}"
    );
    let reply = call(&proxy, "DELETE", "/v1/shelves/3", None).await;
    assert_eq!(ok(&reply), &json!({}), "{reply:?}");
    get(&proxy, "/v1/shelves/3")
        .await
        .assert_error(404, 5, "shelf 3 not found");

    // A shelf that still holds books: FAILED_PRECONDITION, then `force` from the query.
    call(&proxy, "DELETE", "/v1/shelves/1", None)
        .await
        .assert_error(400, 9, "still holds");
    call(&proxy, "DELETE", "/v1/shelves/1?force=maybe", None)
        .await
        .assert_error(400, 3, "`force`");
    let reply = call(&proxy, "DELETE", "/v1/shelves/1?force=true", None).await;
    assert_eq!(ok(&reply), &json!({}), "{reply:?}");
    get(&proxy, "/v1/shelves/default")
        .await
        .assert_error(404, 5, "default shelf");
    // An unknown field of the body field's message.
    call(
        &proxy,
        "POST",
        "/v1/shelves",
        Some(json!({"theme": "x", "colour": "red"})),
    )
    .await
    .assert_error(400, 3, "colour");
    assert_serves(&proxy).await;
}

#[tokio::test]
async fn books_crud() {
    let (proxy, _upstream) = example_stack().await;
    // Create on shelf 2 (body field `book`); the query sets `validate_only`.
    let book = json!({
        "title": "Odes",
        "author": {"displayName": "John Keats", "born": 1795},
        "genre": "GENRE_POETRY",
        "pages": 120,
        "copiesPrinted": "12000000000",
        "price": 7.5,
        "tags": ["romantic"],
        "labels": {"lang": "en"},
        "published": "1819-05-01T00:00:00Z",
        "readingTime": "5400s",
        "series": "Collected",
        "edition": 2,
        "isbn13": "9780140424478",
        "shelfPosition": "A3"
    });
    let reply = call(
        &proxy,
        "POST",
        "/v1/shelves/2/books?validateOnly=true",
        Some(book.clone()),
    )
    .await;
    assert_eq!(ok(&reply)["name"], "shelves/2/books/2", "{reply:?}");
    let reply = call(&proxy, "POST", "/v1/shelves/2/books", Some(book.clone())).await;
    let created = ok(&reply).clone();
    assert_eq!(created["name"], "shelves/2/books/2", "{reply:?}");
    for key in [
        "title",
        "author",
        "genre",
        "pages",
        "copiesPrinted",
        "price",
        "tags",
        "labels",
        "published",
        "readingTime",
        "series",
        "edition",
        "isbn13",
        "shelfPosition",
    ] {
        assert_eq!(created[key], book[key], "{key} of {reply:?}");
    }
    // Defaults are emitted.
    assert_eq!(created["rating"], 0, "{reply:?}");
    assert_eq!(created["inPrint"], false, "{reply:?}");
    assert_eq!(created["secondaryGenres"], json!([]), "{reply:?}");

    // Read by resource name, and by the additional binding with two ids.
    let reply = get(&proxy, "/v1/shelves/2/books/2").await;
    assert_eq!(ok(&reply), &created, "{reply:?}");
    let reply = get(&proxy, "/v1/shelves/2/books/2/details").await;
    assert_eq!(ok(&reply), &created, "{reply:?}");
    let reply = get(&proxy, "/v1/shelves/2/books/2/pages/3").await;
    assert_eq!(
        ok(&reply),
        &json!({"number": 3, "text": "Page 3 of Odes"}),
        "{reply:?}"
    );

    // Update: `book.name` from the path inside the body field, the mask from the query.
    let reply = call(
        &proxy,
        "PATCH",
        "/v1/shelves/2/books/2?updateMask=title,author.born",
        Some(json!({"name": "ignored", "title": "Odes (1819)", "author": {"born": 1796}, "pages": 1})),
    )
    .await;
    let json = ok(&reply);
    assert_eq!(json["name"], "shelves/2/books/2", "{reply:?}");
    assert_eq!(json["title"], "Odes (1819)", "{reply:?}");
    assert_eq!(
        json["author"],
        json!({"displayName": "John Keats", "born": 1796}),
        "{reply:?}"
    );
    assert_eq!(json["pages"], 120, "not in the mask: {reply:?}");

    // Replace (body `*`, the path's name wins).
    let reply = call(
        &proxy,
        "PUT",
        "/v1/shelves/2/books/2",
        Some(json!({"name": "shelves/9/books/9", "title": "Replaced", "genre": 2})),
    )
    .await;
    let json = ok(&reply);
    assert_eq!(json["name"], "shelves/2/books/2", "{reply:?}");
    assert_eq!(json["title"], "Replaced", "{reply:?}");
    assert_eq!(json["genre"], "GENRE_POETRY", "{reply:?}");
    assert_eq!(json["pages"], 0, "{reply:?}");
    assert!(json.get("author").is_none_or(|a| a.is_null()), "{reply:?}");

    // Delete; then it is gone.
    let reply = call(&proxy, "DELETE", "/v1/shelves/2/books/2", None).await;
    assert_eq!(ok(&reply), &json!({}), "{reply:?}");
    get(&proxy, "/v1/shelves/2/books/2").await.assert_error(
        404,
        5,
        "book shelves/2/books/2 not found",
    );
    get(&proxy, "/v1/shelves/2/books/2/details")
        .await
        .assert_error(404, 5, "not found");
    assert_serves(&proxy).await;
}

#[tokio::test]
async fn list_books_with_query_filters() {
    let (proxy, _upstream) = example_stack().await;
    let reply = get(
        &proxy,
        "/v1/shelves/1/books?pageSize=10&filter.author=le+guin&filter.genres=GENRE_FICTION\
         &filter.genres=3&filter.minPrice=5&filter.in_print=true\
         &filter.publishedAfter=1900-01-01T00:00:00Z&filter.maxReadingTime=3600s\
         &readMask=title,author.display_name&labels[lang]=en&isbn13s=1&isbn13s=-2\
         &includeBorrowed=false",
    )
    .await;
    let json = ok(&reply);
    let books = json["books"].as_array().unwrap();
    assert_eq!(books.len(), 1, "{reply:?}");
    assert_eq!(books[0]["title"], "The Left Hand of Darkness", "{reply:?}");
    assert_eq!(books[0]["copiesPrinted"], "5000000000", "{reply:?}");
    assert_eq!(books[0]["published"], "1969-03-01T00:00:00Z", "{reply:?}");
    // The request as the upstream understood it.
    let query = &json["query"];
    assert_eq!(query["parent"], "shelves/1", "{reply:?}");
    assert_eq!(query["pageSize"], 10, "{reply:?}");
    assert_eq!(
        query["filter"],
        json!({
            "author": "le guin",
            "genres": ["GENRE_FICTION", "GENRE_HISTORY"],
            "minPrice": 5,
            "inPrint": true,
            "publishedAfter": "1900-01-01T00:00:00Z",
            "maxReadingTime": "3600s"
        }),
        "{reply:?}"
    );
    assert_eq!(query["readMask"], "title,author.displayName", "{reply:?}");
    assert_eq!(query["labels"], json!({"lang": "en"}), "{reply:?}");
    assert_eq!(query["isbn13s"], json!(["1", "-2"]), "{reply:?}");
    assert_eq!(query["includeBorrowed"], false, "{reply:?}");

    // Filters that exclude the book.
    for filter in [
        "filter.author=beard",
        "filter.genres=GENRE_POETRY",
        "filter.minPrice=10",
        "filter.inPrint=false",
        "labels[lang]=fr",
        "lang=fr",
    ] {
        let reply = get(&proxy, &format!("/v1/shelves/1/books?{filter}")).await;
        assert_eq!(ok(&reply)["books"], json!([]), "{filter}: {reply:?}");
    }
    // The request's only map also takes bare `key=value` entries, the form OpenAPI clients
    // send an object parameter in; a name that starts with a field of the request is never one.
    let reply = get(&proxy, "/v1/shelves/1/books?lang=en&pageSize=5&a.b%20c=d").await;
    let json = ok(&reply);
    // No book has the label `a.b c`.
    assert_eq!(json["books"], json!([]), "{reply:?}");
    assert_eq!(
        json["query"]["labels"],
        json!({"lang": "en", "a.b c": "d"}),
        "{reply:?}"
    );
    assert_eq!(json["query"]["pageSize"], 5, "{reply:?}");
    let reply = get(&proxy, "/v1/shelves/1/books?lang=en&labels[parent]=x").await;
    assert_eq!(
        ok(&reply)["query"]["labels"],
        json!({"lang": "en", "parent": "x"}),
        "{reply:?}"
    );
    get(&proxy, "/v1/shelves/1/books?lang=en&labels[lang]=fr")
        .await
        .assert_error(400, 3, "given more than once");
    // A `$` name is a system parameter, never a bare key: one the proxy does not serve is
    // unknown, as it is on a binding without a map (`labels[$x]` still sets that key).
    for query in ["$fields=books", "%24", "$"] {
        get(&proxy, &format!("/v1/shelves/1/books?{query}"))
            .await
            .assert_error(400, 3, "unknown query parameter");
    }
    // A mask path JSON cannot carry is the client's error, not a reply the proxy cannot write
    // when the upstream echoes the mask (schemathesis found the 500).
    get(&proxy, "/v1/shelves/1/books?readMask=title,_2k0b.DduyI")
        .await
        .assert_error(400, 3, "lowerCamelCase");
    // Nor is `alt` (Google's system parameter), even without a value.
    let reply = get(&proxy, "/v1/shelves/1/books?alt&lang=en").await;
    assert_eq!(
        ok(&reply)["query"]["labels"],
        json!({"lang": "en"}),
        "{reply:?}"
    );
    let reply = get(&proxy, "/v1/shelves/1/books?labels[$x]=y").await;
    assert_eq!(
        ok(&reply)["query"]["labels"],
        json!({"$x": "y"}),
        "{reply:?}"
    );
    // The custom SEARCH binding of the same RPC.
    let reply = call(
        &proxy,
        "SEARCH",
        "/v1/shelves/2/books?filter.author=BEARD",
        None,
    )
    .await;
    assert_eq!(
        ok(&reply)["books"][0]["title"],
        "SPQR: A History of Ancient Rome",
        "{reply:?}"
    );

    // Bad filters.
    for (query, needle) in [
        ("filter.minPrice=cheap", "`filter.minPrice`"),
        ("filter.genres=GENRE_NOPE", "`filter.genres`"),
        ("filter.in_print=yes", "`filter.in_print`"),
        ("pageSize=1&page_size=2", "page_size"),
        ("filter.bogus=1", "`filter.bogus`"),
        ("parent=shelves/2", "`parent`"),
        ("labels=x", "`labels`"),
        ("lables[lang]=en", "`lables[lang]`"),
        ("isbn13s=x", "`isbn13s`"),
    ] {
        get(&proxy, &format!("/v1/shelves/1/books?{query}"))
            .await
            .assert_error(400, 3, needle);
        assert_serves(&proxy).await;
    }
    // The upstream's own validation.
    get(&proxy, "/v1/shelves/1/books?pageSize=-1")
        .await
        .assert_error(400, 3, "page_size");
    get(&proxy, "/v1/shelves/42/books")
        .await
        .assert_error(404, 5, "shelf 42 not found");
}

#[tokio::test]
async fn move_verb() {
    let (proxy, _upstream) = example_stack().await;
    let reply = call(
        &proxy,
        "POST",
        "/v1/shelves/1/books/1:move",
        Some(json!({"targetShelf": "shelves/2", "name": "shelves/9/books/9"})),
    )
    .await;
    let json = ok(&reply);
    assert_eq!(json["name"], "shelves/2/books/2", "{reply:?}");
    assert_eq!(json["title"], "The Left Hand of Darkness", "{reply:?}");
    get(&proxy, "/v1/shelves/1/books/1")
        .await
        .assert_error(404, 5, "not found");
    let reply = get(&proxy, "/v1/shelves/2/books/2").await;
    assert_eq!(
        ok(&reply)["title"],
        "The Left Hand of Darkness",
        "{reply:?}"
    );
    // To a shelf that does not exist: the upstream's NOT_FOUND.
    call(
        &proxy,
        "POST",
        "/v1/shelves/2/books/2:move",
        Some(json!({"targetShelf": "7"})),
    )
    .await
    .assert_error(404, 5, "shelf 7 not found");
    // Another verb is no POST route on that path.
    let reply = call(
        &proxy,
        "POST",
        "/v1/shelves/2/books/2:copy",
        Some(json!({})),
    )
    .await;
    assert_eq!(reply.status, 405, "{reply:?}");
    assert_serves(&proxy).await;
}

#[tokio::test]
async fn response_body_author() {
    let (proxy, _upstream) = example_stack().await;
    let reply = get(&proxy, "/v1/shelves/2/books/1/author").await;
    assert_eq!(
        ok(&reply),
        &json!({"displayName": "Mary Beard", "born": 1955}),
        "{reply:?}"
    );
    get(&proxy, "/v1/shelves/2/books/5/author")
        .await
        .assert_error(404, 5, "book shelves/2/books/5 not found");
}

#[tokio::test]
async fn attachments_by_double_star() {
    let (proxy, _upstream) = example_stack().await;
    for (raw, path) in [
        ("a", "a"),
        ("a/b/c.txt", "a/b/c.txt"),
        ("dir%20x/file%2Fwith-slash", "dir x/file%2Fwith-slash"),
    ] {
        let reply = get(&proxy, &format!("/v1/attachments/{raw}")).await;
        let json = ok(&reply);
        assert_eq!(json["path"], path, "{reply:?}");
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(path);
        assert_eq!(json["data"], data, "{reply:?}");
    }
    get(&proxy, "/v1/attachments/a/")
        .await
        .assert_error(404, 5, "no route");
}

#[tokio::test]
async fn not_found_from_upstream_and_proxy() {
    let (proxy, _upstream) = example_stack().await;
    get(&proxy, "/v1/shelves/99")
        .await
        .assert_error(404, 5, "shelf 99 not found");
    get(&proxy, "/v1/shelves/1/books/99").await.assert_error(
        404,
        5,
        "book shelves/1/books/99 not found",
    );
    get(&proxy, "/v1/shelves/1/books/1/pages/0")
        .await
        .assert_error(400, 11, "page numbers start at 1");
    get(&proxy, "/v1/shelves/1/books/1/pages/-1")
        .await
        .assert_error(400, 3, "`number`");
    // No such route at all.
    get(&proxy, "/v1/libraries")
        .await
        .assert_error(404, 5, "/v1/libraries");
    assert_serves(&proxy).await;
}

#[tokio::test]
async fn method_not_allowed_with_allow() {
    let (proxy, _upstream) = example_stack().await;
    let allow = |reply: &Reply| -> BTreeSet<String> {
        reply.headers["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_string())
            .collect()
    };
    let set = |m: &[&str]| -> BTreeSet<String> { m.iter().map(|s| s.to_string()).collect() };
    let reply = call(&proxy, "DELETE", "/v1/shelves", None).await;
    reply.assert_error(405, 12, "DELETE");
    assert_eq!(allow(&reply), set(&["GET", "HEAD", "POST"]), "{reply:?}");
    let reply = call(&proxy, "PATCH", "/v1/shelves/1", Some(json!({}))).await;
    reply.assert_error(405, 12, "PATCH");
    assert_eq!(allow(&reply), set(&["DELETE", "GET", "HEAD"]), "{reply:?}");
    let reply = call(&proxy, "PUT", "/v1/shelves/1/books", Some(json!({}))).await;
    reply.assert_error(405, 12, "PUT");
    assert_eq!(
        allow(&reply),
        set(&["GET", "HEAD", "POST", "SEARCH"]),
        "{reply:?}"
    );
    let reply = call(&proxy, "POST", "/v1/shelves/1/books/1", Some(json!({}))).await;
    reply.assert_error(405, 12, "POST");
    assert_eq!(
        allow(&reply),
        set(&["DELETE", "GET", "HEAD", "PATCH", "PUT"]),
        "{reply:?}"
    );
    let reply = call(&proxy, "DELETE", "/v1/greeter/x", None).await;
    assert_eq!(allow(&reply), set(&["GET", "HEAD"]), "{reply:?}");
    // HEAD is served where GET is.
    let response = http1()
        .head(format!("{}/v1/shelves/1", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.unwrap().is_empty());
    assert_serves(&proxy).await;
}

/// `/readyz` asks the example upstream's `grpc.health.v1` service, as a Kubernetes readiness
/// probe would; `/healthz` answers without asking anyone.
#[tokio::test]
async fn readiness_follows_the_example_upstream() {
    let (proxy, upstream) = example_stack().await;
    for path in ["/healthz", "/readyz"] {
        let reply = send(http1().get(format!("{}{path}", proxy.url()))).await;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
    }
    upstream.stop().await;
    let reply = send(http1().get(format!("{}/readyz", proxy.url()))).await;
    assert_eq!(reply.status, 503, "upstream gone: {reply:?}");
    let reply = send(http1().get(format!("{}/healthz", proxy.url()))).await;
    assert_eq!(
        reply.status, 200,
        "liveness does not depend on the upstream: {reply:?}"
    );
}
