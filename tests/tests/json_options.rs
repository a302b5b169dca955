//! The JSON options (DESIGN.md §3.5) as a deployment sets them at run time, seen through the
//! proxy: proto field names, enums as numbers, defaults omitted — and input that accepts both
//! name forms whatever the output uses.
#![allow(clippy::unwrap_used)]

use protogate_tests::{Reply, Server, echo_upstream_tcp, gateway, http1, pool, send, serve_tcp};

/// The echo proxy with its generated options changed by `change`.
async fn proxy_with(change: impl FnOnce(&mut gateway::Options)) -> (Server, Server) {
    let upstream = echo_upstream_tcp().await;
    let mut options = gateway::options();
    change(&mut options);
    let proxy = serve_tcp(gateway::router_with_options(
        pool(&upstream.address),
        options,
    ))
    .await;
    (proxy, upstream)
}

async fn post(proxy: &Server, body: &str) -> Reply {
    send(
        http1()
            .post(format!("{}/v1/echo", proxy.url()))
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

const BODY: &str =
    r#"{"signedSmall": 5, "genre": "GENRE_POETRY", "customName": "r", "nested": {"name": "n"}}"#;

#[tokio::test]
async fn proto_names_are_used_for_output_and_both_forms_accepted_in_input() {
    let (proxy, _upstream) = proxy_with(|o| o.json.proto_names = true).await;
    let reply = post(&proxy, BODY).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["signed_small"], 5, "{reply:?}");
    assert_eq!(
        reply.json["renamed"], "r",
        "json_name is not used: {reply:?}"
    );
    assert!(reply.json.get("signedSmall").is_none(), "{reply:?}");
    assert!(reply.json.get("customName").is_none(), "{reply:?}");
    // Input in proto names works as well.
    let reply = post(&proxy, r#"{"signed_small": 6, "renamed": "s"}"#).await;
    assert_eq!(reply.json["signed_small"], 6, "{reply:?}");
    assert_eq!(reply.json["renamed"], "s", "{reply:?}");
}

#[tokio::test]
async fn enums_as_numbers() {
    let (proxy, _upstream) = proxy_with(|o| o.json.enums_as_numbers = true).await;
    let reply = post(
        &proxy,
        r#"{"genre": "GENRE_POETRY", "genres": [1, "GENRE_POETRY"]}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["genre"], 2, "{reply:?}");
    assert_eq!(reply.json["genres"], serde_json::json!([1, 2]), "{reply:?}");
}

#[tokio::test]
async fn defaults_can_be_omitted() {
    let (proxy, _upstream) = proxy_with(|o| o.json.emit_defaults = false).await;
    let reply = post(&proxy, r#"{"name": "only", "num": 0, "tags": []}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json,
        serde_json::json!({"name": "only"}),
        "only populated fields are written: {reply:?}"
    );
    // With defaults (the generated default), every field is present.
    let (proxy, _upstream) = proxy_with(|_| {}).await;
    let reply = post(&proxy, r#"{"name": "only"}"#).await;
    assert_eq!(reply.json["num"], 0, "{reply:?}");
    assert_eq!(reply.json["tags"], serde_json::json!([]), "{reply:?}");
    // Fields with presence are written only when set, as protobuf's own option does: a `null`
    // would read back as set (a `google.protobuf.Value`), so the output would not round-trip.
    for field in [
        "nested",
        "when",
        "wait",
        "mask",
        "maybeText",
        "maybeNum",
        "optNum",
        "text",
    ] {
        assert!(
            reply.json.get(field).is_none(),
            "unset field {field} is left out: {reply:?}"
        );
    }
    let reply = post(&proxy, r#"{"nested": {}, "maybeNum": 0, "optNum": 0}"#).await;
    assert_eq!(reply.json["nested"]["name"], "", "{reply:?}");
    assert_eq!(reply.json["maybeNum"], 0, "{reply:?}");
    assert_eq!(
        reply.json["optNum"], 0,
        "set to defaults, they are written: {reply:?}"
    );
}

#[tokio::test]
async fn a_mask_path_with_no_json_form_is_refused_as_input() {
    // `foo_3_bar` is a valid field mask path that lowerCamelCase cannot spell (it would read back
    // as `foo3_bar`). Taken from the query, the echoed reply could not be written (a 500 for the
    // client's own input), so the query refuses it: every mask the API accepts it can also say.
    // Writing such a path still fails (json_runtime.rs,
    // `field_mask_paths_that_would_not_read_back_fail_to_write`).
    let (proxy, _upstream) = proxy_with(|_| {}).await;
    let reply = send(http1().get(format!("{}/v1/echo/x?mask=foo_3_bar", proxy.url()))).await;
    reply.assert_error(400, 3, "lowerCamelCase");
    assert!(reply.text.contains("foo_3_bar"), "{reply:?}");
    // The same request with a path that has a JSON form is served.
    let reply = send(http1().get(format!("{}/v1/echo/x?mask=foo_bar", proxy.url()))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["mask"], "fooBar", "{reply:?}");
}

#[tokio::test]
async fn the_depth_limit_applies_to_request_bodies() {
    let (proxy, _upstream) = proxy_with(|o| o.json.max_depth = 2).await;
    let reply = post(&proxy, r#"{"nested": {"name": "x"}}"#).await;
    assert_eq!(
        reply.status, 200,
        "two levels are within the limit: {reply:?}"
    );
    let reply = post(&proxy, r#"{"nested": {"notes": ["a"]}}"#).await;
    reply.assert_error(400, 3, "nesting deeper than 2 levels");
    let reply = post(&proxy, r#"{"name": "still serving"}"#).await;
    assert_eq!(reply.json["name"], "still serving", "{reply:?}");
}
