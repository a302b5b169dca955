//! PATCH field masks (DESIGN.md §3.9): a PATCH with `body: "<field>"` whose request has one
//! `google.protobuf.FieldMask` field gets, when the client leaves that mask unset, the proto-name
//! paths of the body's JSON keys, relative to the body field's message, sorted.
//!
//! The echo API's `Update` (`PATCH /v1/update/{id}`, body `item`, mask `update_mask`) answers
//! with the request it received, so the mask shows in the reply's `updateMask` (a FieldMask's
//! JSON form: comma-joined lowerCamelCase paths). The exact proto-name paths are checked on the
//! generated walker directly.
#![allow(clippy::unwrap_used)]

use protogate_tests::gateway::JsonOptions;
use protogate_tests::gateway::proto::echo::v1::{Echo, Nested};
use protogate_tests::gateway::runtime::field_mask;
use protogate_tests::{
    Reply, Server, echo_stack, echo_upstream_tcp, example_stack, gateway, http1, pool, send,
    serve_tcp,
};
use serde_json::json;

async fn call(proxy: &Server, method: &str, path: &str, body: &str) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    send(
        http1()
            .request(method, format!("{}{path}", proxy.url()))
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

/// `PATCH /v1/update/u1` with `body`; returns the echoed request.
async fn update(proxy: &Server, query: &str, body: &str) -> serde_json::Value {
    let reply = call(proxy, "PATCH", &format!("/v1/update/u1{query}"), body).await;
    assert_eq!(reply.status, 200, "{body}: {reply:?}");
    assert_eq!(reply.json["id"], "u1", "{reply:?}");
    reply.json
}

/// The mask the upstream received for `body`, in its JSON form.
async fn mask_of(proxy: &Server, body: &str) -> serde_json::Value {
    update(proxy, "", body).await["updateMask"].clone()
}

/// The proto-name paths the generated walker for `Echo` finds in `body`.
fn paths(body: &str, options: &JsonOptions) -> Vec<String> {
    field_mask::derive::<Echo>(body.as_bytes(), options)
        .unwrap()
        .paths
}

#[tokio::test]
async fn nested_objects_are_descended() {
    let (proxy, _upstream) = echo_stack().await;
    let json = update(
        &proxy,
        "",
        r#"{"name":"n","nested":{"name":"x","count":2},"id":"item-id"}"#,
    )
    .await;
    assert_eq!(
        json["updateMask"], "id,name,nested.count,nested.name",
        "{json}"
    );
    // The body still decodes as usual.
    assert_eq!(json["item"]["nested"]["name"], "x", "{json}");
    assert_eq!(json["item"]["id"], "item-id", "{json}");

    // Repeated fields inside a nested object are leaves there.
    assert_eq!(
        mask_of(&proxy, r#"{"nested":{"notes":["a","b"]}}"#).await,
        "nested.notes"
    );
    // An empty object sets the field to an empty message: the path names the field.
    assert_eq!(mask_of(&proxy, r#"{"nested":{}}"#).await, "nested");
    assert_eq!(
        mask_of(&proxy, r#"{"nested":{},"num":1}"#).await,
        "nested,num"
    );
}

#[tokio::test]
async fn maps_and_repeated_fields_are_leaves() {
    let (proxy, _upstream) = echo_stack().await;
    let json = update(
        &proxy,
        "",
        r#"{"labels":{"k":"v","x":"y"},"tags":["a"],"counts":{},"nums":[],"genres":["GENRE_POETRY"]}"#,
    )
    .await;
    assert_eq!(
        json["updateMask"], "counts,genres,labels,nums,tags",
        "{json}"
    );
    assert_eq!(
        json["item"]["labels"],
        json!({"k": "v", "x": "y"}),
        "{json}"
    );
    assert_eq!(
        paths(r#"{"labels":{"deep.key":"v"}}"#, &JsonOptions::default()),
        ["labels"],
        "map keys never become path segments"
    );
}

#[tokio::test]
async fn null_values_count() {
    let (proxy, _upstream) = echo_stack().await;
    let json = update(
        &proxy,
        "",
        r#"{"name":null,"nested":null,"maybeText":null,"tags":null,"labels":null,"when":null,"text":null}"#,
    )
    .await;
    assert_eq!(
        json["updateMask"], "labels,maybeText,name,nested,tags,text,when",
        "{json}"
    );
    assert_eq!(
        paths(
            r#"{"maybe_text":null,"nested":{"count":null}}"#,
            &JsonOptions::default()
        ),
        ["maybe_text", "nested.count"]
    );
}

#[tokio::test]
async fn well_known_types_are_leaves() {
    let (proxy, _upstream) = echo_stack().await;
    let json = update(
        &proxy,
        "",
        r#"{"when":"2024-01-02T03:04:05Z","wait":"1.5s","mask":"a,b.c","maybeNum":4,"maybe_text":"t"}"#,
    )
    .await;
    assert_eq!(
        json["updateMask"], "mask,maybeNum,maybeText,wait,when",
        "{json}"
    );
    assert_eq!(json["item"]["when"], "2024-01-02T03:04:05Z", "{json}");
    assert_eq!(json["item"]["wait"], "1.500s", "{json}");
    assert_eq!(
        paths(
            r#"{"when":"2024-01-02T03:04:05Z","wait":"1.5s","maybeNum":4}"#,
            &JsonOptions::default()
        ),
        ["maybe_num", "wait", "when"]
    );
}

#[tokio::test]
async fn json_names_map_to_proto_names() {
    let (proxy, _upstream) = echo_stack().await;
    // `renamed` has `json_name = "customName"`: the mask names the proto field.
    let json = update(
        &proxy,
        "",
        r#"{"customName":"r","signedSmall":-1,"fixedBig":"2","optNum":0}"#,
    )
    .await;
    assert_eq!(
        json["updateMask"], "fixedBig,optNum,renamed,signedSmall",
        "{json}"
    );
    assert_eq!(json["item"]["customName"], "r", "{json}");
    assert_eq!(
        paths(
            r#"{"customName":"r","signedSmall":-1,"fixed_big":"2","optNum":0,"type":"t","self":"s"}"#,
            &JsonOptions::default()
        ),
        [
            "fixed_big",
            "opt_num",
            "renamed",
            "self",
            "signed_small",
            "type"
        ]
    );
}

#[tokio::test]
async fn oneof_members_are_named() {
    let (proxy, _upstream) = echo_stack().await;
    let json = update(&proxy, "", r#"{"number":"12"}"#).await;
    assert_eq!(json["updateMask"], "number", "{json}");
    assert_eq!(json["item"]["number"], "12", "{json}");
}

#[tokio::test]
async fn an_explicit_query_mask_wins() {
    let (proxy, _upstream) = echo_stack().await;
    let body = r#"{"name":"n","nested":{"count":2}}"#;
    for query in ["?updateMask=name", "?update_mask=name"] {
        let json = update(&proxy, query, body).await;
        assert_eq!(json["updateMask"], "name", "{query}: {json}");
        assert_eq!(json["item"]["nested"]["count"], 2, "{query}: {json}");
    }
    let json = update(&proxy, "?updateMask=nested.name,tags", body).await;
    assert_eq!(json["updateMask"], "nested.name,tags", "{json}");
    // Given but empty is still given: the client asked for an empty mask.
    let json = update(&proxy, "?update_mask=", body).await;
    assert_eq!(json["updateMask"], "", "{json}");
    // A mask given twice is refused as any singular parameter is.
    call(
        &proxy,
        "PATCH",
        "/v1/update/u1?updateMask=a&update_mask=b",
        body,
    )
    .await
    .assert_error(400, 3, "update_mask");
}

#[tokio::test]
async fn no_body_keys_is_an_empty_mask() {
    let (proxy, _upstream) = echo_stack().await;
    for body in ["{}", "", "  \n", "null"] {
        let json = update(&proxy, "", body).await;
        // Set, and empty (an unset mask would be `null`).
        assert_eq!(json["updateMask"], "", "{body:?}: {json}");
    }
    assert!(paths("{}", &JsonOptions::default()).is_empty());
    assert!(paths("", &JsonOptions::default()).is_empty());
}

#[tokio::test]
async fn strict_json_refuses_unknown_keys_before_any_mask() {
    let (proxy, _upstream) = echo_stack().await;
    call(
        &proxy,
        "PATCH",
        "/v1/update/u1",
        r#"{"name":"n","bogus":1}"#,
    )
    .await
    .assert_error(400, 3, "bogus");
    call(
        &proxy,
        "PATCH",
        "/v1/update/u1",
        r#"{"nested":{"bogus":1}}"#,
    )
    .await
    .assert_error(400, 3, "bogus");
}

#[tokio::test]
async fn lenient_json_leaves_unknown_keys_out_of_the_mask() {
    let upstream = echo_upstream_tcp().await;
    let mut options = gateway::options();
    options.json.ignore_unknown_fields = true;
    let proxy = serve_tcp(gateway::router_with_options(
        pool(&upstream.address),
        options,
    ))
    .await;
    let json = update(
        &proxy,
        "",
        r#"{"name":"n","bogus":{"a":[1,{"b":null}]},"nested":{"extra":true,"count":1}}"#,
    )
    .await;
    assert_eq!(json["updateMask"], "name,nested.count", "{json}");
    assert_eq!(json["item"]["name"], "n", "{json}");
    // Only unknown keys inside: the object still sets the field (to an empty message).
    assert_eq!(mask_of(&proxy, r#"{"nested":{"extra":1}}"#).await, "nested");
    assert_eq!(mask_of(&proxy, r#"{"bogus":1}"#).await, "");

    let lenient = JsonOptions {
        ignore_unknown_fields: true,
        ..JsonOptions::default()
    };
    assert_eq!(
        paths(
            r#"{"bogus":1,"name":"n","nested":{"x":1,"name":"y"}}"#,
            &lenient
        ),
        ["name", "nested.name"]
    );
}

#[tokio::test]
async fn paths_are_relative_to_the_body_field() {
    let (proxy, _upstream) = echo_stack().await;
    // `PATCH /v1/echo/{id}/nested` has body `nested` and the request (Echo) has one FieldMask
    // field, `mask`: its paths name fields of Nested, without a `nested.` prefix.
    let reply = call(
        &proxy,
        "PATCH",
        "/v1/echo/e1/nested",
        r#"{"name":"n","notes":[]}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["mask"], "name,notes", "{reply:?}");
    assert_eq!(reply.json["nested"]["name"], "n", "{reply:?}");
    // The walker for the body field's own type.
    let mask = field_mask::derive::<Nested>(br#"{"count":1,"name":"x"}"#, &JsonOptions::default())
        .unwrap();
    assert_eq!(mask.paths, ["count", "name"]);
}

#[tokio::test]
async fn the_example_library_updates_only_what_the_body_names() {
    let (proxy, _upstream) = example_stack().await;
    let get = |path: &'static str| {
        let url = format!("{}{path}", proxy.url());
        async move { send(http1().get(url)).await }
    };
    let before = get("/v1/shelves/1/books/1").await;
    assert_eq!(before.status, 200, "{before:?}");
    assert_eq!(
        before.json["author"]["displayName"], "Ursula K. Le Guin",
        "{before:?}"
    );

    // No mask: `author.born` and `tags` only; the author's name and the rest stay.
    let reply = call(
        &proxy,
        "PATCH",
        "/v1/shelves/1/books/1",
        r#"{"author":{"born":1930},"tags":["sf"]}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let json = &reply.json;
    assert_eq!(
        json["author"],
        json!({"displayName": "Ursula K. Le Guin", "born": 1930}),
        "{reply:?}"
    );
    assert_eq!(json["tags"], json!(["sf"]), "{reply:?}");
    assert_eq!(json["title"], before.json["title"], "{reply:?}");
    assert_eq!(json["pages"], before.json["pages"], "{reply:?}");

    // A JSON name in a nested object: `author.display_name`.
    let reply = call(
        &proxy,
        "PATCH",
        "/v1/shelves/1/books/1",
        r#"{"author":{"displayName":"U. K. Le Guin"}}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json["author"],
        json!({"displayName": "U. K. Le Guin", "born": 1930}),
        "{reply:?}"
    );
}
