//! Path variable decoding (DESIGN.md §3.2): typed variables and their parse errors,
//! percent-decoding of single- and multi-segment captures.
//!
//! Paths that an HTTP client library would normalise (malformed escapes) are sent with
//! `raw_http1`, which puts the request target on the wire exactly as written.
#![allow(clippy::unwrap_used)]

use protogate_tests::{Reply, Server, assert_echo_serves, echo_stack, raw_http1};

async fn get(proxy: &Server, path: &str) -> Reply {
    raw_http1(proxy, "GET", path, "").await
}

/// `GET /v1/typed/{num}/{big}/{ubig}/{ratio}/{flag}/{genre}`.
async fn typed(proxy: &Server, vars: [&str; 6]) -> Reply {
    get(proxy, &format!("/v1/typed/{}", vars.join("/"))).await
}

fn ok(reply: &Reply) -> &serde_json::Value {
    assert_eq!(reply.status, 200, "{reply:?}");
    &reply.json
}

#[tokio::test]
async fn typed_variables_are_parsed_by_field_type() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = typed(
        &proxy,
        [
            "-2147483648",
            "-9223372036854775808",
            "18446744073709551615",
            "1.5",
            "true",
            "GENRE_POETRY",
        ],
    )
    .await;
    let json = ok(&reply);
    assert_eq!(json["num"], -2147483648i64, "{reply:?}");
    assert_eq!(json["big"], "-9223372036854775808", "{reply:?}");
    assert_eq!(json["ubig"], "18446744073709551615", "{reply:?}");
    assert_eq!(json["ratio"], 1.5, "{reply:?}");
    assert_eq!(json["flag"], true, "{reply:?}");
    assert_eq!(json["genre"], "GENRE_POETRY", "{reply:?}");

    let reply = typed(
        &proxy,
        [
            "2147483647",
            "9223372036854775807",
            "0",
            "-2.5e3",
            "false",
            "1",
        ],
    )
    .await;
    let json = ok(&reply);
    assert_eq!(json["num"], 2147483647, "{reply:?}");
    assert_eq!(json["big"], "9223372036854775807", "{reply:?}");
    assert_eq!(json["ubig"], "0", "{reply:?}");
    assert_eq!(json["ratio"], -2500.0, "{reply:?}");
    assert_eq!(json["flag"], false, "{reply:?}");
    // An enum by number is written back by name.
    assert_eq!(json["genre"], "GENRE_FICTION", "{reply:?}");
}

#[tokio::test]
async fn double_variables_accept_nan_and_infinity() {
    let (proxy, _upstream) = echo_stack().await;
    for (text, json) in [
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
    ] {
        let reply = typed(&proxy, ["1", "1", "1", text, "true", "0"]).await;
        assert_eq!(ok(&reply)["ratio"], json, "{reply:?}");
    }
    // Percent-decoded before parsing: `%2D` is `-`.
    let reply = typed(&proxy, ["%2D5", "1", "1", "%2DInfinity", "true", "0"]).await;
    assert_eq!(ok(&reply)["num"], -5, "{reply:?}");
    assert_eq!(reply.json["ratio"], "-Infinity", "{reply:?}");
}

#[tokio::test]
async fn typed_variable_parse_errors_name_the_variable_and_type() {
    let (proxy, _upstream) = echo_stack().await;
    let good = ["1", "2", "3", "4.5", "true", "GENRE_FICTION"];
    // (position, bad text, variable name, words of the expected type)
    let cases: &[(usize, &str, &str, &str)] = &[
        (0, "abc", "num", "32-bit integer"),
        (0, "0x10", "num", "32-bit integer"),
        (0, "1.0", "num", "32-bit integer"),
        (0, "+1", "num", "32-bit integer"),
        (0, "2147483648", "num", "32-bit integer"),
        (0, "-2147483649", "num", "32-bit integer"),
        (1, "1e3", "big", "64-bit integer"),
        (1, "9223372036854775808", "big", "64-bit integer"),
        (1, "%20", "big", "64-bit integer"),
        (2, "-1", "ubig", "unsigned 64-bit integer"),
        (2, "18446744073709551616", "ubig", "unsigned 64-bit integer"),
        (3, "abc", "ratio", "number"),
        (3, "nan", "ratio", "number"),
        (3, "inf", "ratio", "number"),
        (3, "1e999", "ratio", "number"),
        (4, "yes", "flag", "boolean"),
        (4, "TRUE", "flag", "boolean"),
        (4, "1", "flag", "boolean"),
        (5, "GENRE_NOPE", "genre", "enum"),
        (5, "genre_fiction", "genre", "enum"),
    ];
    for &(at, bad, name, expected) in cases {
        let mut vars = good;
        vars[at] = bad;
        let reply = typed(&proxy, vars).await;
        reply.assert_error(400, 3, &format!("`{name}`"));
        let message = reply.json["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "{bad:?} for {name}: message {message:?} should name the type {expected:?}"
        );
        assert_echo_serves(&proxy).await;
    }
    // The good vector itself is fine.
    ok(&typed(&proxy, good).await);
}

#[tokio::test]
async fn single_segment_variables_are_fully_decoded() {
    let (proxy, _upstream) = echo_stack().await;
    for (raw, decoded) in [
        ("plain", "plain"),
        ("a%20b", "a b"),
        ("a%2Fb", "a/b"),
        ("a%2fb", "a/b"),
        ("%E2%9C%93", "✓"),
        ("a%3Ab", "a:b"),
        ("a:b", "a:b"),
        ("a%3Fb%23c", "a?b#c"),
        ("100%25", "100%"),
        ("a%2525b", "a%25b"),
        ("a+b", "a+b"),
        ("a%2Bb", "a+b"),
        ("~-._!$&'()*,;=@", "~-._!$&'()*,;=@"),
    ] {
        let reply = get(&proxy, &format!("/v1/echo/{raw}")).await;
        assert_eq!(ok(&reply)["id"], decoded, "{raw}: {reply:?}");
    }
    // Several variables in one template, each decoded on its own.
    let reply = get(&proxy, "/v1/spec/a%2Fb/c%20d").await;
    assert_eq!(ok(&reply)["a"], "a/b", "{reply:?}");
    assert_eq!(reply.json["b"], "c d", "{reply:?}");
    assert_eq!(reply.json["id"], "vars", "{reply:?}");
}

#[tokio::test]
async fn multi_segment_variables_keep_encoded_slashes() {
    let (proxy, _upstream) = echo_stack().await;
    for (raw, decoded) in [
        ("a/b/c", "a/b/c"),
        ("a%2Fb/c", "a%2Fb/c"),
        ("a%2fb", "a%2fb"),
        ("dir%20one/file%20two.txt", "dir one/file two.txt"),
        ("x%2525", "x%25"),
        ("%E2%9C%93/%3A", "✓/:"),
        ("a+b", "a+b"),
    ] {
        let reply = get(&proxy, &format!("/v1/files/{raw}")).await;
        assert_eq!(ok(&reply)["path"], decoded, "{raw}: {reply:?}");
    }
    // `{name=projects/*/items/*}` too.
    let reply = get(&proxy, "/v1/projects/p%2Fq/items/i%20j").await;
    assert_eq!(ok(&reply)["name"], "projects/p%2Fq/items/i j", "{reply:?}");
    // The `:stat` binding decodes the capture without its verb.
    let reply = get(&proxy, "/v1/files/a%2Fb/c%20d:stat").await;
    assert_eq!(ok(&reply)["path"], "a%2Fb/c d", "{reply:?}");
}

/// Variables after a `**` take the segments at the end of the path; the `**` takes what they
/// leave, zero segments included.
#[tokio::test]
async fn variables_after_a_deep_wildcard_take_the_last_segments() {
    let (proxy, _upstream) = echo_stack().await;
    for (path, deep, name, a) in [
        (
            "/v1/rooms/rooms/r1/d/e%20f/col/items/7",
            "rooms/r1/d/e f",
            "col",
            "items/7",
        ),
        (
            "/v1/rooms/rooms/r1/col/items/7",
            "rooms/r1",
            "col",
            "items/7",
        ),
        (
            "/v1/rooms/rooms/r%2F1/x%2Fy/items/i%20j",
            "rooms/r%2F1",
            "x/y",
            "items/i j",
        ),
    ] {
        let reply = get(&proxy, path).await;
        let json = ok(&reply);
        assert_eq!(json["path"], deep, "{path}: {reply:?}");
        assert_eq!(json["name"], name, "{path}: {reply:?}");
        assert_eq!(json["a"], a, "{path}: {reply:?}");
    }
    // Too few segments for the variables after it, or a literal that does not match: no route.
    for path in [
        "/v1/rooms/rooms/r1/items/7",
        "/v1/rooms/rooms/r1/col/things/7",
    ] {
        let reply = get(&proxy, path).await;
        assert_eq!(reply.status, 404, "{path}: {reply:?}");
    }
}

#[tokio::test]
async fn malformed_escapes_are_400() {
    let (proxy, _upstream) = echo_stack().await;
    for (path, name) in [
        ("/v1/echo/%zz", "`id`"),
        ("/v1/echo/abc%2", "`id`"),
        ("/v1/echo/abc%", "`id`"),
        ("/v1/echo/%G1", "`id`"),
        ("/v1/files/a/%zz/b", "`path`"),
        ("/v1/files/a%", "`path`"),
        ("/v1/projects/p%x1/items/i", "`name`"),
        ("/v1/nested/%%/1", "`nested.name`"),
        ("/v1/typed/%q1/1/1/1/true/0", "`num`"),
    ] {
        let reply = get(&proxy, path).await;
        reply.assert_error(400, 3, name);
        assert!(
            reply.json["message"]
                .as_str()
                .unwrap()
                .contains("percent-encoding"),
            "{path}: {reply:?}"
        );
        assert_echo_serves(&proxy).await;
    }
}

#[tokio::test]
async fn escapes_that_are_not_utf8_are_400() {
    let (proxy, _upstream) = echo_stack().await;
    for (path, name) in [("/v1/echo/%FF", "`id`"), ("/v1/files/a/%C3%28", "`path`")] {
        get(&proxy, path).await.assert_error(400, 3, name);
        assert_echo_serves(&proxy).await;
    }
}

/// `GET /v1/typed-wkt/{data}/{when}/{wait}/{maybe_num}/{maybe_text}`: bytes as base64 (either
/// alphabet, padded or not), RFC 3339 timestamps, durations and wrappers by their inner type.
#[tokio::test]
async fn well_known_and_bytes_variables_are_parsed_by_field_type() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = get(
        &proxy,
        "/v1/typed-wkt/_-8/2024-02-29T12:30:00.5%2B01:00/-1.5s/42/hello%20there",
    )
    .await;
    let json = ok(&reply);
    assert_eq!(
        json["data"], "/+8=",
        "URL-safe unpadded base64 in, standard out: {reply:?}"
    );
    assert_eq!(json["when"], "2024-02-29T11:30:00.500Z", "{reply:?}");
    assert_eq!(json["wait"], "-1.500s", "{reply:?}");
    assert_eq!(json["maybeNum"], 42, "{reply:?}");
    assert_eq!(json["maybeText"], "hello there", "{reply:?}");

    for (path, variable, expected) in [
        (
            "/v1/typed-wkt/%%%/2024-01-01T00:00:00Z/1s/1/x",
            "data",
            "malformed",
        ),
        (
            "/v1/typed-wkt/YQ/2024-13-01T00:00:00Z/1s/1/x",
            "when",
            "timestamp",
        ),
        (
            "/v1/typed-wkt/YQ/2024-01-01T00:00:00Z/1h/1/x",
            "wait",
            "duration",
        ),
        (
            "/v1/typed-wkt/YQ/2024-01-01T00:00:00Z/1s/1.5/x",
            "maybe_num",
            "32-bit integer",
        ),
        (
            "/v1/typed-wkt/!!/2024-01-01T00:00:00Z/1s/1/x",
            "data",
            "base64",
        ),
    ] {
        let reply = get(&proxy, path).await;
        reply.assert_error(400, 3, &format!("`{variable}`"));
        let message = reply.json["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{path}: {message}");
        assert_echo_serves(&proxy).await;
    }
}
