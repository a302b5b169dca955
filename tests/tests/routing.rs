//! Routing (DESIGN.md §3.1): every HttpRule kind, specificity, 404/405, HEAD, strict paths.
//!
//! The echo upstream answers with the request it received (the specificity RPCs put the name of
//! the route that answered into `id`), so each test sees which binding served the request.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use protogate_tests::{Reply, Server, assert_echo_serves, echo_stack, h2c, http1, raw_http1, send};

async fn get(proxy: &Server, path: &str) -> Reply {
    send(http1().get(format!("{}{path}", proxy.url()))).await
}

async fn request(proxy: &Server, method: &str, path: &str, body: &str) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut builder = http1().request(method, format!("{}{path}", proxy.url()));
    if !body.is_empty() {
        builder = builder
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    send(builder).await
}

/// The methods of an `Allow` header, as a set.
fn allow(reply: &Reply) -> BTreeSet<String> {
    let value = reply
        .headers
        .get("allow")
        .unwrap_or_else(|| panic!("no Allow header in {reply:?}"))
        .to_str()
        .unwrap();
    value.split(',').map(|m| m.trim().to_string()).collect()
}

fn set(methods: &[&str]) -> BTreeSet<String> {
    methods.iter().map(|m| m.to_string()).collect()
}

/// Asserts a 200 from the specificity RPC named `route` with its captured fields.
fn assert_route(reply: &Reply, route: &str, fields: &[(&str, &str)]) {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["id"], route, "route that answered: {reply:?}");
    for (field, value) in fields {
        assert_eq!(reply.json[field], *value, "field {field} of {reply:?}");
    }
}

#[tokio::test]
async fn literal_beats_variable_beats_double_star() {
    let (proxy, _upstream) = echo_stack().await;
    // `/v1/spec/literal/{b}` vs `/v1/spec/{a}/fixed`: segment 3 decides, literal wins.
    assert_route(
        &get(&proxy, "/v1/spec/literal/fixed").await,
        "literal",
        &[("b", "fixed"), ("a", "")],
    );
    assert_route(
        &get(&proxy, "/v1/spec/literal/x").await,
        "literal",
        &[("b", "x")],
    );
    // `{a}/fixed` beats `{a}/{b}` at segment 4.
    assert_route(
        &get(&proxy, "/v1/spec/x/fixed").await,
        "fixed",
        &[("a", "x"), ("b", "")],
    );
    // `{a}/{b}` beats `**`.
    assert_route(
        &get(&proxy, "/v1/spec/x/y").await,
        "vars",
        &[("a", "x"), ("b", "y"), ("path", "")],
    );
    // Only `**` takes other segment counts.
    assert_route(
        &get(&proxy, "/v1/spec/x/y/z").await,
        "deep",
        &[("path", "x/y/z")],
    );
    assert_route(&get(&proxy, "/v1/spec/x").await, "deep", &[("path", "x")]);
    assert_route(
        &get(&proxy, "/v1/spec/literal").await,
        "deep",
        &[("path", "literal")],
    );
    assert_route(
        &get(&proxy, "/v1/spec/literal/fixed/more").await,
        "deep",
        &[("path", "literal/fixed/more")],
    );
}

#[tokio::test]
async fn double_star_matches_zero_or_more_segments() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = get(&proxy, "/v1/files/a").await;
    assert_eq!(
        (reply.status, &reply.json["path"]),
        (200, &"a".into()),
        "{reply:?}"
    );
    let reply = get(&proxy, "/v1/files/a/b/c/d.txt").await;
    assert_eq!(reply.json["path"], "a/b/c/d.txt", "{reply:?}");
    // Zero segments.
    let reply = get(&proxy, "/v1/files").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["path"], "", "{reply:?}");
}

#[tokio::test]
async fn double_star_captures_deep_paths() {
    // `**` is zero or more segments: a deep path still matches its route.
    let (proxy, _upstream) = echo_stack().await;
    for depth in [10, 63, 64, 100] {
        let deep = vec!["d"; depth].join("/");
        let reply = get(&proxy, &format!("/v1/files/{deep}")).await;
        assert_eq!(reply.status, 200, "{depth} segments: {reply:?}");
        assert_eq!(reply.json["path"], deep, "{depth} segments");
        let reply = get(&proxy, &format!("/v1/files/{deep}:stat")).await;
        assert_eq!(reply.status, 200, "{depth} segments with a verb: {reply:?}");
        assert_eq!(reply.json["path"], deep, "{depth} segments with a verb");
    }
}

#[tokio::test]
async fn verb_route_beats_plain_route() {
    let (proxy, _upstream) = echo_stack().await;
    // `/v1/files/{path=**}:stat` takes the verb off the capture.
    let reply = get(&proxy, "/v1/files/a/b.txt:stat").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json["path"], "a/b.txt",
        "the :stat binding answers: {reply:?}"
    );
    // The same shape without the verb is the plain `**` binding.
    let reply = get(&proxy, "/v1/files/a/b.txt").await;
    assert_eq!(reply.json["path"], "a/b.txt", "{reply:?}");
    // Another verb is not `:stat`: the plain binding captures it as text.
    let reply = get(&proxy, "/v1/files/a/b.txt:other").await;
    assert_eq!(reply.json["path"], "a/b.txt:other", "{reply:?}");
    // A colon before the last segment is not a verb.
    let reply = get(&proxy, "/v1/files/a:stat/b").await;
    assert_eq!(reply.json["path"], "a:stat/b", "{reply:?}");

    // `POST …:run` is a binding of its own; without the verb only GET and DELETE match.
    let reply = request(
        &proxy,
        "POST",
        "/v1/projects/p1/items/i1:run",
        r#"{"text":"go"}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["name"], "projects/p1/items/i1", "{reply:?}");
    assert_eq!(reply.json["text"], "go", "{reply:?}");
    let reply = request(&proxy, "POST", "/v1/projects/p1/items/i1", "{}").await;
    reply.assert_error(405, 12, "POST");
    assert_eq!(allow(&reply), set(&["DELETE", "GET", "HEAD"]), "{reply:?}");
    // An unknown verb on the POST shape matches no POST binding.
    let reply = request(&proxy, "POST", "/v1/projects/p1/items/i1:walk", "{}").await;
    assert_eq!(reply.status, 405, "{reply:?}");
}

#[tokio::test]
async fn multi_segment_capture_and_additional_bindings() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = get(&proxy, "/v1/projects/p1/items/i1").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["name"], "projects/p1/items/i1", "{reply:?}");
    let reply = request(&proxy, "DELETE", "/v1/projects/p2/items/i2", "").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["name"], "projects/p2/items/i2", "{reply:?}");
    // The capture's literals must match.
    get(&proxy, "/v1/projects/p1/things/i1").await.assert_error(
        404,
        5,
        "/v1/projects/p1/things/i1",
    );
    get(&proxy, "/v1/projects/p1/items")
        .await
        .assert_error(404, 5, "/v1/projects/p1/items");

    // `Post`: `POST /v1/echo` and `PUT /v1/echo/{id}` reach the same RPC.
    let reply = request(&proxy, "POST", "/v1/echo", r#"{"id":"a","name":"n"}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        (&reply.json["id"], &reply.json["name"]),
        (&"a".into(), &"n".into())
    );
    let reply = request(&proxy, "PUT", "/v1/echo/b", r#"{"name":"m"}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        (&reply.json["id"], &reply.json["name"]),
        (&"b".into(), &"m".into())
    );
}

#[tokio::test]
async fn several_and_nested_variables() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = get(&proxy, "/v1/nested/widget/42").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["nested"]["name"], "widget", "{reply:?}");
    assert_eq!(reply.json["nested"]["count"], 42, "{reply:?}");
    // A nested variable is parsed by its own field's type.
    get(&proxy, "/v1/nested/widget/many")
        .await
        .assert_error(400, 3, "nested.count");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn unknown_path_is_404_with_status_body() {
    let (proxy, _upstream) = echo_stack().await;
    for path in [
        "/",
        "/v1",
        "/v2/echo/x",
        "/v1/nothing/here",
        "/v1/echo/x/y/z",
        "/V1/echo/x",
        "/v1/typed/1/2/3/4/true",
    ] {
        let reply = get(&proxy, path).await;
        reply.assert_error(404, 5, path);
        assert!(reply.headers.get("allow").is_none(), "{reply:?}");
    }
    // An unknown method on an unknown path is a 404 as well.
    request(&proxy, "PURGE", "/v1/nothing", "")
        .await
        .assert_error(404, 5, "/v1/nothing");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let (proxy, _upstream) = echo_stack().await;
    // `/v1/echo/{id}`: GET (and HEAD), PUT, PURGE.
    let reply = request(&proxy, "DELETE", "/v1/echo/x", "").await;
    reply.assert_error(405, 12, "DELETE");
    assert_eq!(
        allow(&reply),
        set(&["GET", "HEAD", "PURGE", "PUT"]),
        "{reply:?}"
    );
    let reply = request(&proxy, "POST", "/v1/echo/x", "{}").await;
    reply.assert_error(405, 12, "POST");
    assert_eq!(
        allow(&reply),
        set(&["GET", "HEAD", "PURGE", "PUT"]),
        "{reply:?}"
    );
    // `/v1/echo`: POST only, so no HEAD either.
    let reply = get(&proxy, "/v1/echo").await;
    reply.assert_error(405, 12, "GET");
    assert_eq!(allow(&reply), set(&["POST"]), "{reply:?}");
    let reply = request(&proxy, "HEAD", "/v1/echo", "").await;
    assert_eq!(reply.status, 405, "{reply:?}");
    assert_eq!(allow(&reply), set(&["POST"]), "{reply:?}");
    // `/v1/echo/{id}/nested`: GET (with HEAD) and PATCH.
    let reply = request(&proxy, "PUT", "/v1/echo/x/nested", "{}").await;
    reply.assert_error(405, 12, "PUT");
    assert_eq!(allow(&reply), set(&["GET", "HEAD", "PATCH"]), "{reply:?}");
    // A GET-only route lists HEAD with GET.
    let reply = request(&proxy, "POST", "/v1/typed/1/2/3/4/true/1", "{}").await;
    reply.assert_error(405, 12, "POST");
    assert_eq!(allow(&reply), set(&["GET", "HEAD"]), "{reply:?}");
    // A method no binding uses at all.
    let reply = request(&proxy, "OPTIONS", "/v1/echo/x", "").await;
    reply.assert_error(405, 12, "OPTIONS");
    assert_eq!(
        allow(&reply),
        set(&["GET", "HEAD", "PURGE", "PUT"]),
        "{reply:?}"
    );
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn head_is_served_for_get_routes_without_a_body() {
    let (proxy, _upstream) = echo_stack().await;
    for client in [http1(), h2c()] {
        let response = client
            .head(format!("{}/v1/echo/x?name=n", proxy.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{response:?}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{response:?}"
        );
        let body = response.bytes().await.unwrap();
        assert!(body.is_empty(), "HEAD answered with a body: {body:?}");
        // HEAD of a GET route with a multi-segment capture too.
        let response = client
            .head(format!("{}/v1/files/a/b", proxy.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{response:?}");
        assert!(response.bytes().await.unwrap().is_empty());
    }
    // HEAD of a path no template matches.
    let response = http1()
        .head(format!("{}/v1/nothing", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn trailing_slash_and_empty_segments_are_404() {
    let (proxy, _upstream) = echo_stack().await;
    for path in [
        "/v1/echo/x/",
        "/v1/echo/",
        "/v1/echo//nested",
        "/v1//echo/x",
        "//v1/echo/x",
        "/v1/nested//42",
        "/v1/files/a//b",
        "/v1/files/a/",
        "/v1/files/",
        "/v1/spec/x/",
        "/v1/projects/p1/items/",
        "/v1/projects//items/i1",
    ] {
        let reply = raw_http1(&proxy, "GET", path, "").await;
        reply.assert_error(404, 5, "no route");
    }
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn custom_method_purge() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = request(&proxy, "PURGE", "/v1/echo/cache-key?name=n", "").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["id"], "cache-key", "{reply:?}");
    assert_eq!(reply.json["name"], "n", "{reply:?}");
    // Over HTTP/2 as well.
    let reply = send(h2c().request(
        reqwest::Method::from_bytes(b"PURGE").unwrap(),
        format!("{}/v1/echo/k2", proxy.url()),
    ))
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["id"], "k2", "{reply:?}");
    // PURGE is only bound on `/v1/echo/{id}`.
    let reply = request(&proxy, "PURGE", "/v1/echo/x/nested", "").await;
    reply.assert_error(405, 12, "PURGE");
    assert_eq!(allow(&reply), set(&["GET", "HEAD", "PATCH"]), "{reply:?}");
}

#[tokio::test]
async fn literals_are_case_sensitive_and_matched_raw() {
    let (proxy, _upstream) = echo_stack().await;
    get(&proxy, "/v1/ECHO/x").await.assert_error(404, 5, "ECHO");
    // `%65` is `e`, but literals are matched on the raw path.
    raw_http1(&proxy, "GET", "/v1/%65cho/x", "")
        .await
        .assert_error(404, 5, "%65cho");
    assert_echo_serves(&proxy).await;
}

/// A `HEAD` binding of its own (`custom: {kind: "HEAD"}`, as grpc-gateway's a_bit_of_everything
/// has) answers HEAD on its path, before the GET route of the same path; GET keeps its binding,
/// and HEAD on a path only GET serves still reaches the GET route.
#[tokio::test]
async fn a_head_binding_of_its_own_serves_head() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = request(&proxy, "HEAD", "/v1/echo/x", "").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.headers["grpc-metadata-x-rpc"], "peek", "{reply:?}");
    assert!(reply.text.is_empty(), "{reply:?}");
    let reply = get(&proxy, "/v1/echo/x").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["id"], "x", "{reply:?}");
    assert!(
        reply.headers.get("grpc-metadata-x-rpc").is_none(),
        "{reply:?}"
    );
    let reply = request(&proxy, "HEAD", "/v1/nested/n/1", "").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.headers.get("grpc-metadata-x-rpc").is_none(),
        "{reply:?}"
    );
    // HEAD is listed once in `Allow` although two bindings serve it.
    let reply = request(&proxy, "POST", "/v1/echo/x", "{}").await;
    let header = reply.headers["allow"].to_str().unwrap();
    assert_eq!(header.matches("HEAD").count(), 1, "{reply:?}");
    assert_echo_serves(&proxy).await;
}

/// Literal segments and `*` after `**` (`/v1/{name=projects/*/schemas/**}/schema` and
/// `{name=**/botSessions/*}` in googleapis, which Envoy and grpc-gateway route): each takes its
/// segments from the end of the path, `**` may match no segment, and a verb may follow.
#[tokio::test]
async fn literals_after_double_star() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = get(&proxy, "/v1/tails/t1/deep/a/b/leaf").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["path"], "tails/t1/deep/a/b", "{reply:?}");
    let reply = get(&proxy, "/v1/tails/t1/deep/leaf").await;
    assert_eq!(reply.json["path"], "tails/t1/deep", "{reply:?}");
    // An encoded slash stays encoded inside a multi-segment capture.
    let reply = get(&proxy, "/v1/tails/t1/deep/a%2Fb/leaf").await;
    assert_eq!(reply.json["path"], "tails/t1/deep/a%2Fb", "{reply:?}");
    // `/v1/tails/{path=**}/leaf:peek`.
    let reply = get(&proxy, "/v1/tails/x/y/leaf:peek").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["path"], "x/y", "{reply:?}");
    let reply = get(&proxy, "/v1/tails/t1/deep/a/leaf:peek").await;
    assert_eq!(reply.json["path"], "t1/deep/a", "{reply:?}");
    // `/v1/bots/{path=**/botSessions/*}`: `*` after `**` takes the last segment.
    let reply = get(&proxy, "/v1/bots/a/b/botSessions/s1").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["path"], "a/b/botSessions/s1", "{reply:?}");
    let reply = get(&proxy, "/v1/bots/botSessions/s1").await;
    assert_eq!(reply.json["path"], "botSessions/s1", "{reply:?}");
    get(&proxy, "/v1/bots/a/botSessions")
        .await
        .assert_error(404, 5, "/v1/bots/a/botSessions");
    // Without the literal tail nothing matches.
    get(&proxy, "/v1/tails/t1/deep/a/b")
        .await
        .assert_error(404, 5, "/v1/tails/t1/deep/a/b");
    get(&proxy, "/v1/tails/t1/deep/a/leaf/more")
        .await
        .assert_error(404, 5, "leaf/more");
    assert_echo_serves(&proxy).await;
}

/// A path variable inside a oneof member (`{inner.name}`, `inner` in oneof `choice`; grpc-gateway's
/// echo_service.proto binds `{no.note}`): the member is set, and wins over another member the
/// body set.
#[tokio::test]
async fn a_path_variable_inside_a_oneof_member() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = get(&proxy, "/v1/oneof/n1?num=3").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["inner"]["name"], "n1", "{reply:?}");
    assert_eq!(reply.json["num"], 3, "{reply:?}");
    let reply = request(&proxy, "POST", "/v1/oneof/n2", r#"{"inner":{"count":2}}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["inner"]["name"], "n2", "{reply:?}");
    assert_eq!(reply.json["inner"]["count"], 2, "{reply:?}");
    let reply = request(&proxy, "POST", "/v1/oneof/n3", r#"{"text":"t"}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["inner"]["name"], "n3", "{reply:?}");
    assert!(reply.json.get("text").is_none(), "{reply:?}");
    assert_echo_serves(&proxy).await;
}
