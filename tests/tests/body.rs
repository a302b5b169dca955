//! Request bodies and JSON output (DESIGN.md §3.3, §3.5 as seen through the proxy): body `*`,
//! a body field, a repeated body field, empty bodies, bad bodies, size limits, response_body,
//! and the ProtoJSON forms of the reply.
#![allow(clippy::unwrap_used)]

use protogate_tests::{
    Reply, Server, assert_echo_serves, echo_stack, echo_upstream_tcp, gateway, h2c, http1, pool,
    send, serve_tcp,
};

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

fn ok(reply: &Reply) -> &serde_json::Value {
    assert_eq!(reply.status, 200, "{reply:?}");
    &reply.json
}

#[tokio::test]
async fn body_star_is_the_whole_message() {
    let (proxy, _upstream) = echo_stack().await;
    let body = r#"{
        "id": "i", "name": "n", "num": -1, "big": "-5", "ubig": 7, "ratio": "NaN",
        "score": 2.5, "flag": true, "data": "aGk=", "genre": "GENRE_POETRY", "small": 3,
        "signed_small": -2, "fixedBig": "9", "nested": {"name": "x", "count": 2, "notes": ["p"]},
        "tags": ["a", "b"], "nums": [1, "2"], "genres": [1, "GENRE_POETRY"],
        "labels": {"k": "v"}, "counts": {"1": "2", "-3": 4},
        "when": "2024-01-02T03:04:05Z", "wait": "3s", "mask": "name,nested.count",
        "maybeText": "t", "maybe_num": 4, "optNum": 0, "number": "12",
        "renamed": "r", "type": "t", "self": "s"
    }"#;
    let reply = call(&proxy, "POST", "/v1/echo", body).await;
    let expected = serde_json::json!({
        "id": "i", "name": "n", "num": -1, "big": "-5", "ubig": "7", "ratio": "NaN",
        "score": 2.5, "flag": true, "data": "aGk=", "genre": "GENRE_POETRY", "small": 3,
        "signedSmall": -2, "fixedBig": "9", "nested": {"name": "x", "count": 2, "notes": ["p"]},
        "tags": ["a", "b"], "nums": [1, 2], "genres": ["GENRE_FICTION", "GENRE_POETRY"],
        "labels": {"k": "v"}, "counts": {"1": "2", "-3": "4"},
        "when": "2024-01-02T03:04:05Z", "wait": "3s", "mask": "name,nested.count",
        "maybeText": "t", "maybeNum": 4, "optNum": 0, "number": "12",
        "customName": "r", "type": "t", "self": "s"
    });
    let json = ok(&reply);
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&json[key], value, "field {key} of {reply:?}");
    }
    // `null` leaves a field unset.
    let reply = call(
        &proxy,
        "POST",
        "/v1/echo",
        r#"{"name":null,"nested":null,"maybeNum":null}"#,
    )
    .await;
    let json = ok(&reply);
    assert_eq!(json["name"], "", "{reply:?}");
    assert!(
        json.get("maybeNum").is_none_or(|v| v.is_null()),
        "{reply:?}"
    );
    assert!(json.get("nested").is_none_or(|v| v.is_null()), "{reply:?}");
}

#[tokio::test]
async fn path_variables_win_over_the_body() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = call(
        &proxy,
        "PUT",
        "/v1/echo/from-path",
        r#"{"id":"from-body","name":"n"}"#,
    )
    .await;
    let json = ok(&reply);
    assert_eq!(json["id"], "from-path", "{reply:?}");
    assert_eq!(json["name"], "n", "{reply:?}");
    let reply = call(
        &proxy,
        "POST",
        "/v1/projects/p/items/i:run",
        r#"{"name":"projects/x/items/y","tags":["t"]}"#,
    )
    .await;
    let json = ok(&reply);
    assert_eq!(json["name"], "projects/p/items/i", "{reply:?}");
    assert_eq!(json["tags"], serde_json::json!(["t"]), "{reply:?}");
}

#[tokio::test]
async fn body_field_fills_that_field_only() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = call(
        &proxy,
        "PATCH",
        "/v1/echo/item/nested?name=from-query",
        r#"{"name":"inner","count":"5","notes":["a"]}"#,
    )
    .await;
    let json = ok(&reply);
    assert_eq!(json["id"], "item", "{reply:?}");
    assert_eq!(json["name"], "from-query", "{reply:?}");
    assert_eq!(
        json["nested"],
        serde_json::json!({"name": "inner", "count": 5, "notes": ["a"]}),
        "{reply:?}"
    );
    // The body is the nested message: a top-level Echo field is unknown there.
    let reply = call(&proxy, "PATCH", "/v1/echo/item/nested", r#"{"id":"x"}"#).await;
    reply.assert_error(400, 3, "id");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn repeated_body_field() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = call(&proxy, "POST", "/v1/echo/t/tags?name=n", r#"["a","b","a"]"#).await;
    let json = ok(&reply);
    assert_eq!(
        json["tags"],
        serde_json::json!(["a", "b", "a"]),
        "{reply:?}"
    );
    assert_eq!(json["id"], "t", "{reply:?}");
    assert_eq!(json["name"], "n", "{reply:?}");
    // Not an array, or an array of the wrong element type.
    call(&proxy, "POST", "/v1/echo/t/tags", r#""a""#)
        .await
        .assert_error(400, 3, "");
    assert_echo_serves(&proxy).await;
    let reply = call(&proxy, "POST", "/v1/echo/t/tags", r#"["a",1]"#).await;
    reply.assert_error(400, 3, "[1]");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn empty_body_is_an_empty_message() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = call(&proxy, "POST", "/v1/echo", "").await;
    let json = ok(&reply);
    assert_eq!(json["id"], "", "{reply:?}");
    assert_eq!(json["name"], "", "{reply:?}");
    let reply = call(&proxy, "PUT", "/v1/echo/x", "").await;
    assert_eq!(ok(&reply)["id"], "x", "{reply:?}");
    let reply = call(&proxy, "PATCH", "/v1/echo/x/nested", "").await;
    assert_eq!(ok(&reply)["id"], "x", "{reply:?}");
    let reply = call(&proxy, "POST", "/v1/echo/x/tags", "").await;
    assert_eq!(ok(&reply)["tags"], serde_json::json!([]), "{reply:?}");
    // Whitespace only is empty too.
    let reply = call(&proxy, "PUT", "/v1/echo/w", " \r\n\t ").await;
    assert_eq!(ok(&reply)["id"], "w", "{reply:?}");
    // `{}` is the same.
    let reply = call(&proxy, "POST", "/v1/echo", "{}").await;
    assert_eq!(ok(&reply)["id"], "", "{reply:?}");
    // A request with no Content-Type and no body at all.
    let reply = send(http1().post(format!("{}/v1/echo", proxy.url()))).await;
    assert_eq!(ok(&reply)["id"], "", "{reply:?}");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let (proxy, _upstream) = echo_stack().await;
    for body in [
        r#"{"id":"#,
        r#"{"id":"a"} trailing"#,
        r#"{"id":'a'}"#,
        r#"{id:"a"}"#,
        "[",
        "not json",
        r#"{"id":"a",}"#,
    ] {
        let reply = call(&proxy, "POST", "/v1/echo", body).await;
        reply.assert_error(400, 3, "JSON");
        assert_echo_serves(&proxy).await;
    }
    // The whole-message binding wants an object.
    call(&proxy, "POST", "/v1/echo", "[]")
        .await
        .assert_error(400, 3, "");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn wrong_type_in_body_names_the_field() {
    let (proxy, _upstream) = echo_stack().await;
    for (body, field) in [
        (r#"{"num":"abc"}"#, "num"),
        (r#"{"num":1.5}"#, "num"),
        (r#"{"num":2147483648}"#, "num"),
        (r#"{"big":"1.5"}"#, "big"),
        (r#"{"flag":"true"}"#, "flag"),
        (r#"{"name":5}"#, "name"),
        (r#"{"genre":"GENRE_NOPE"}"#, "genre"),
        (r#"{"tags":"a"}"#, "tags"),
        (r#"{"labels":[]}"#, "labels"),
        (r#"{"counts":{"x":"1"}}"#, "counts"),
        (r#"{"nested":{"count":"x"}}"#, "nested.count"),
        (r#"{"when":"yesterday"}"#, "when"),
        (r#"{"wait":"5"}"#, "wait"),
        (r#"{"data":"***"}"#, "data"),
        (r#"{"text":"a","number":"1"}"#, "number"),
    ] {
        let reply = call(&proxy, "POST", "/v1/echo", body).await;
        reply.assert_error(400, 3, field);
        assert_echo_serves(&proxy).await;
    }
}

#[tokio::test]
async fn unknown_body_field_is_400_naming_it() {
    let (proxy, _upstream) = echo_stack().await;
    for (method, path, body, field) in [
        (
            "POST",
            "/v1/echo",
            r#"{"id":"a","bogusField":1}"#,
            "bogusField",
        ),
        ("POST", "/v1/echo", r#"{"nested":{"extra":true}}"#, "extra"),
        ("PUT", "/v1/echo/x", r#"{"customname":"x"}"#, "customname"),
        (
            "PATCH",
            "/v1/echo/x/nested",
            r#"{"name":"a","unknownInner":[]}"#,
            "unknownInner",
        ),
    ] {
        let reply = call(&proxy, method, path, body).await;
        reply.assert_error(400, 3, field);
        assert_echo_serves(&proxy).await;
    }
}

#[tokio::test]
async fn lenient_json_ignores_unknown_fields() {
    let upstream = echo_upstream_tcp().await;
    let mut options = gateway::options();
    options.json.ignore_unknown_fields = true;
    let proxy = serve_tcp(gateway::router_with_options(
        pool(&upstream.address),
        options,
    ))
    .await;
    let reply = call(
        &proxy,
        "POST",
        "/v1/echo",
        r#"{"id":"a","bogusField":{"deep":[1,2,{"x":null}]},"nested":{"extra":true,"name":"n"}}"#,
    )
    .await;
    let json = ok(&reply);
    assert_eq!(json["id"], "a", "{reply:?}");
    assert_eq!(json["nested"]["name"], "n", "{reply:?}");
    assert!(json.get("bogusField").is_none(), "{reply:?}");
    // Known fields of the wrong type are still refused.
    call(&proxy, "POST", "/v1/echo", r#"{"num":"x"}"#)
        .await
        .assert_error(400, 3, "num");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn oversized_body_is_413() {
    let upstream = echo_upstream_tcp().await;
    let mut options = gateway::options();
    options.max_body_bytes = 64;
    let proxy = serve_tcp(gateway::router_with_options(
        pool(&upstream.address),
        options,
    ))
    .await;
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(200));
    for client in [http1(), h2c()] {
        let reply = send(
            client
                .post(format!("{}/v1/echo", proxy.url()))
                .header("content-type", "application/json")
                .body(big.clone()),
        )
        .await;
        reply.assert_error(413, 8, "64");
    }
    // Exactly at the limit is fine.
    let at_limit = format!(r#"{{"name":"{}"}}"#, "y".repeat(64 - 11));
    assert_eq!(at_limit.len(), 64);
    let reply = call(&proxy, "POST", "/v1/echo", &at_limit).await;
    assert_eq!(ok(&reply)["name"], "y".repeat(53), "{reply:?}");
    // A body field binding has the same limit.
    let big_tags = format!(r#"["{}"]"#, "z".repeat(100));
    call(&proxy, "POST", "/v1/echo/x/tags", &big_tags)
        .await
        .assert_error(413, 8, "64");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn response_body_writes_one_field() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = send(http1().get(format!(
        "{}/v1/echo/x/nested?nested.name=n&nested.count=2&name=top",
        proxy.url()
    )))
    .await;
    assert_eq!(
        ok(&reply),
        &serde_json::json!({"name": "n", "count": 2, "notes": []}),
        "{reply:?}"
    );
    // Unset, the field is written as its default message.
    let reply = send(http1().get(format!("{}/v1/echo/x/nested", proxy.url()))).await;
    assert_eq!(
        ok(&reply),
        &serde_json::json!({"name": "", "count": 0, "notes": []}),
        "{reply:?}"
    );
}

#[tokio::test]
async fn a_json_name_that_needs_escaping_is_read_and_written_as_it_is() {
    let (proxy, _upstream) = echo_stack().await;
    // `json_name = "say \"hi\"\\now"`: a quote and a backslash in the key.
    let key = "say \"hi\"\\now";
    let body = serde_json::json!({ key: "in the body" }).to_string();
    let reply = call(&proxy, "POST", "/v1/echo", &body).await;
    assert_eq!(ok(&reply)[key], "in the body", "{reply:?}");
    assert!(
        reply.text.contains(r#""say \"hi\"\\now":"in the body""#),
        "{reply:?}"
    );
    // As a query parameter, by its JSON name or its proto name.
    let reply =
        send(http1().get(format!("{}/v1/echo/x?say%20%22hi%22%5Cnow=q", proxy.url()))).await;
    assert_eq!(ok(&reply)[key], "q", "{reply:?}");
    let reply = send(http1().get(format!("{}/v1/echo/x?quoted=p", proxy.url()))).await;
    assert_eq!(ok(&reply)[key], "p", "{reply:?}");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn json_output_forms() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = send(http1().get(format!(
        "{}/v1/echo/x?big=-5&ubig=6&fixed_big=7&genre=2&genres=1&renamed=r&type=t&self=s&data=AP8%3D&number=9&counts[1]=2",
        proxy.url()
    )))
    .await;
    assert_eq!(
        reply.headers["content-type"], "application/json",
        "{reply:?}"
    );
    let json = ok(&reply);
    // 64-bit integers as strings, map values included.
    assert_eq!(json["big"], "-5", "{reply:?}");
    assert_eq!(json["ubig"], "6", "{reply:?}");
    assert_eq!(json["fixedBig"], "7", "{reply:?}");
    assert_eq!(json["number"], "9", "{reply:?}");
    assert_eq!(json["counts"], serde_json::json!({"1": "2"}), "{reply:?}");
    // Enums as names.
    assert_eq!(json["genre"], "GENRE_POETRY", "{reply:?}");
    assert_eq!(
        json["genres"],
        serde_json::json!(["GENRE_FICTION"]),
        "{reply:?}"
    );
    // Bytes as standard base64.
    assert_eq!(json["data"], "AP8=", "{reply:?}");
    // json_name, and fields named after Rust keywords.
    assert_eq!(json["customName"], "r", "{reply:?}");
    assert!(json.get("renamed").is_none(), "{reply:?}");
    assert_eq!(json["type"], "t", "{reply:?}");
    assert_eq!(json["self"], "s", "{reply:?}");
    assert!(
        json.get("r#type").is_none() && json.get("self_").is_none(),
        "{reply:?}"
    );

    // Fields at their default are emitted.
    let reply = send(http1().get(format!("{}/v1/echo/x", proxy.url()))).await;
    let json = ok(&reply);
    let defaults = serde_json::json!({
        "id": "x", "name": "", "path": "", "a": "", "b": "", "num": 0, "big": "0",
        "ubig": "0", "ratio": 0, "score": 0, "flag": false, "data": "",
        "genre": "GENRE_UNSPECIFIED", "small": 0, "signedSmall": 0, "fixedBig": "0",
        "tags": [], "nums": [], "genres": [], "labels": {}, "counts": {},
        "customName": "", "type": "", "self": "",
    });
    for (key, value) in defaults.as_object().unwrap() {
        assert_eq!(&json[key], value, "default field {key} of {reply:?}");
    }
    // Fields with presence stay absent (or null) when unset.
    for key in [
        "optNum",
        "maybeText",
        "maybeNum",
        "text",
        "number",
        "when",
        "wait",
        "mask",
    ] {
        assert!(
            json.get(key).is_none_or(|v| v.is_null()),
            "{key} should be unset in {reply:?}"
        );
    }
}

/// An RPC whose request and reply are wrapper types (grpc-gateway's wrappers.proto): the body
/// is the bare JSON value, and so is the reply.
#[tokio::test]
async fn wrapper_types_as_request_and_reply() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = call(&proxy, "POST", "/v1/wrapped", r#""hi""#).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json, "echo: hi", "{reply:?}");
    let reply = call(&proxy, "POST", "/v1/wrapped/bytes", r#""AQID""#).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json, "AwIB", "{reply:?}");
    // An empty body is the empty message: the empty string.
    let reply = call(&proxy, "POST", "/v1/wrapped", "").await;
    assert_eq!(reply.json, "echo: ", "{reply:?}");
    call(&proxy, "POST", "/v1/wrapped", "5")
        .await
        .assert_error(400, 3, "invalid JSON body");
    call(&proxy, "POST", "/v1/wrapped?value=x", r#""hi""#)
        .await
        .assert_error(400, 3, "value");
    assert_echo_serves(&proxy).await;
}
