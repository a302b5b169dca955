//! Query parameters (DESIGN.md §3.4): proto and JSON names, scalars, nested, repeated, enums,
//! wrappers, well-known types, maps, oneofs, and every way a query can be wrong.
//!
//! Query strings are written out by hand (and sent with `raw_http1` where a client could
//! re-encode them), so the proxy sees exactly the bytes under test.
#![allow(clippy::unwrap_used)]

use protogate_tests::{
    Reply, Server, assert_echo_serves, echo_stack, echo_upstream_tcp, gateway, pool, raw_http1,
    serve_tcp,
};

/// `GET /v1/echo/q?{query}`.
async fn query(proxy: &Server, query: &str) -> Reply {
    raw_http1(proxy, "GET", &format!("/v1/echo/q?{query}"), "").await
}

fn ok(reply: &Reply) -> &serde_json::Value {
    assert_eq!(reply.status, 200, "{reply:?}");
    &reply.json
}

#[tokio::test]
async fn scalars_by_proto_and_json_name() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = query(
        &proxy,
        "name=n&num=-7&big=-9007199254740993&ubig=18446744073709551615&ratio=0.25&score=1.5\
         &flag=true&data=aGk%3D&small=4294967295&signed_small=-3&fixed_big=12&opt_num=0\
         &renamed=r&type=t&self=s&path=p&a=x&b=y",
    )
    .await;
    let json = ok(&reply);
    let expected = serde_json::json!({
        "id": "q", "name": "n", "num": -7, "big": "-9007199254740993",
        "ubig": "18446744073709551615", "ratio": 0.25, "score": 1.5, "flag": true,
        "data": "aGk=", "small": 4294967295u32, "signedSmall": -3, "fixedBig": "12",
        "optNum": 0, "customName": "r", "type": "t", "self": "s", "path": "p", "a": "x", "b": "y",
    });
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&json[key], value, "field {key} of {reply:?}");
    }

    // The same fields by their JSON names.
    let reply = query(
        &proxy,
        "signedSmall=-4&fixedBig=13&optNum=5&customName=c&maybeText=t&maybeNum=9",
    )
    .await;
    let json = ok(&reply);
    assert_eq!(json["signedSmall"], -4, "{reply:?}");
    assert_eq!(json["fixedBig"], "13", "{reply:?}");
    assert_eq!(json["optNum"], 5, "{reply:?}");
    assert_eq!(json["customName"], "c", "{reply:?}");
    assert_eq!(json["maybeText"], "t", "{reply:?}");
    assert_eq!(json["maybeNum"], 9, "{reply:?}");
}

#[tokio::test]
async fn bytes_accept_standard_and_url_safe_base64() {
    let (proxy, _upstream) = echo_stack().await;
    // 0xfb 0xff 0xfe: `+//+` standard, `-__-` URL-safe.
    for value in ["%2B%2F%2F%2B", "-__-", "%2B%2F%2F%2B", "-__-"] {
        let reply = query(&proxy, &format!("data={value}")).await;
        assert_eq!(ok(&reply)["data"], "+//+", "{value}: {reply:?}");
    }
    // Padded and unpadded.
    for value in ["aGk%3D", "aGk"] {
        let reply = query(&proxy, &format!("data={value}")).await;
        assert_eq!(ok(&reply)["data"], "aGk=", "{value}: {reply:?}");
    }
}

#[tokio::test]
async fn nested_fields_by_dotted_names() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = query(
        &proxy,
        "nested.name=inner&nested.count=3&nested.notes=a&nested.notes=b",
    )
    .await;
    let nested = &ok(&reply)["nested"];
    assert_eq!(nested["name"], "inner", "{reply:?}");
    assert_eq!(nested["count"], 3, "{reply:?}");
    assert_eq!(nested["notes"], serde_json::json!(["a", "b"]), "{reply:?}");
}

#[tokio::test]
async fn repeated_fields_and_enums() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = query(
        &proxy,
        "tags=a&tags=b&tags=a&nums=1&nums=-2&genres=GENRE_POETRY&genres=1&genre=GENRE_FICTION",
    )
    .await;
    let json = ok(&reply);
    assert_eq!(
        json["tags"],
        serde_json::json!(["a", "b", "a"]),
        "{reply:?}"
    );
    assert_eq!(json["nums"], serde_json::json!([1, -2]), "{reply:?}");
    assert_eq!(
        json["genres"],
        serde_json::json!(["GENRE_POETRY", "GENRE_FICTION"]),
        "{reply:?}"
    );
    assert_eq!(json["genre"], "GENRE_FICTION", "{reply:?}");
    // An enum by number.
    let reply = query(&proxy, "genre=2").await;
    assert_eq!(ok(&reply)["genre"], "GENRE_POETRY", "{reply:?}");
}

#[tokio::test]
async fn wrappers_and_well_known_types() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = query(
        &proxy,
        "maybe_text=&maybe_num=-1&when=2024-01-02T03:04:05.5Z&wait=1.5s&mask=name,nested.count",
    )
    .await;
    let json = ok(&reply);
    // An empty value still sets a wrapper.
    assert_eq!(json["maybeText"], "", "{reply:?}");
    assert_eq!(json["maybeNum"], -1, "{reply:?}");
    assert_eq!(json["when"], "2024-01-02T03:04:05.500Z", "{reply:?}");
    assert_eq!(json["wait"], "1.500s", "{reply:?}");
    assert_eq!(json["mask"], "name,nested.count", "{reply:?}");

    // A timestamp with an offset: `+` must be sent as `%2B` (a bare `+` is a space).
    let reply = query(&proxy, "when=2024-01-02T04:04:05%2B01:00&wait=-2s").await;
    let json = ok(&reply);
    assert_eq!(json["when"], "2024-01-02T03:04:05Z", "{reply:?}");
    assert_eq!(json["wait"], "-2s", "{reply:?}");
    // Percent-encoded commas separate field mask paths too.
    let reply = query(&proxy, "mask=a%2Cb").await;
    assert_eq!(ok(&reply)["mask"], "a,b", "{reply:?}");
}

#[tokio::test]
async fn maps_by_bracketed_keys() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = query(
        &proxy,
        "labels[k]=v&labels%5Bwith%20space%5D=x%20y&labels[a.b]=c&counts[1]=2&counts[-3]=40",
    )
    .await;
    let json = ok(&reply);
    assert_eq!(
        json["labels"],
        serde_json::json!({"k": "v", "with space": "x y", "a.b": "c"}),
        "{reply:?}"
    );
    assert_eq!(
        json["counts"],
        serde_json::json!({"1": "2", "-3": "40"}),
        "{reply:?}"
    );
}

#[tokio::test]
async fn plus_is_a_space_in_queries() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = query(&proxy, "name=a+b+c&tags=x+y&labels[k+1]=v+w").await;
    let json = ok(&reply);
    assert_eq!(json["name"], "a b c", "{reply:?}");
    assert_eq!(json["tags"], serde_json::json!(["x y"]), "{reply:?}");
    assert_eq!(
        json["labels"],
        serde_json::json!({"k 1": "v w"}),
        "{reply:?}"
    );
    let reply = query(&proxy, "name=a%2Bb%20c%26d%3De").await;
    assert_eq!(ok(&reply)["name"], "a+b c&d=e", "{reply:?}");
}

#[tokio::test]
async fn oneof_members() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = query(&proxy, "text=hello").await;
    assert_eq!(ok(&reply)["text"], "hello", "{reply:?}");
    assert!(reply.json.get("number").is_none(), "{reply:?}");
    let reply = query(&proxy, "number=-5").await;
    assert_eq!(ok(&reply)["number"], "-5", "{reply:?}");
    assert!(reply.json.get("text").is_none(), "{reply:?}");
}

#[tokio::test]
async fn bad_queries_are_400_naming_the_parameter() {
    let (proxy, _upstream) = echo_stack().await;
    let cases: &[(&str, &str)] = &[
        // A singular field given twice, by one name or by both.
        ("name=a&name=b", "`name`"),
        ("signed_small=1&signedSmall=2", "signedSmall"),
        ("nested.count=1&nested.count=2", "`nested.count`"),
        (
            "when=2024-01-02T03:04:05Z&when=2024-01-02T03:04:05Z",
            "`when`",
        ),
        ("maybeNum=1&maybe_num=2", "maybe_num"),
        // Two members of one oneof.
        ("text=a&number=1", "number"),
        ("number=1&text=a", "text"),
        // Values of the wrong type.
        ("num=abc", "`num`"),
        ("num=", "`num`"),
        ("flag=", "`flag`"),
        ("num=%201", "`num`"),
        ("num=2147483648", "`num`"),
        ("big=1.5", "`big`"),
        ("ubig=-1", "`ubig`"),
        ("small=-1", "`small`"),
        ("ratio=abc", "`ratio`"),
        ("score=1e39", "`score`"),
        ("flag=1", "`flag`"),
        ("flag=yes", "`flag`"),
        ("data=%%%", "data"),
        ("data=a*b", "`data`"),
        ("genre=GENRE_NOPE", "`genre`"),
        ("genres=GENRE_FICTION&genres=nope", "`genres`"),
        ("nums=1&nums=x", "`nums`"),
        ("nested.count=x", "`nested.count`"),
        ("maybe_num=x", "`maybe_num`"),
        ("opt_num=1.5", "`opt_num`"),
        ("when=yesterday", "`when`"),
        ("when=2024-13-01T00:00:00Z", "`when`"),
        ("wait=5", "`wait`"),
        ("wait=1.5m", "`wait`"),
        ("counts[x]=1", "counts[x]"),
        ("counts[1]=x", "counts[1]"),
        // A map key given twice.
        ("labels[k]=a&labels[k]=b", "labels[k]"),
        // Unknown parameters, and message fields that are not leaves.
        ("bogus=1", "`bogus`"),
        ("Name=x", "`Name`"),
        ("nested=x", "`nested`"),
        ("nested.bogus=1", "`nested.bogus`"),
        ("renamed.x=1", "`renamed.x`"),
        ("labels=x", "`labels`"),
        ("when.seconds=1", "`when.seconds`"),
        ("labels[k=v", "`labels[k`"),
        ("tags[0]=x", "`tags[0]`"),
        // The path binds `id`.
        ("id=other", "`id`"),
        // Malformed escapes.
        ("name=%zz", "`name`"),
        ("name=%C3%28", "`name`"),
    ];
    for &(query_string, needle) in cases {
        let reply = query(&proxy, query_string).await;
        assert_eq!(reply.status, 400, "{query_string}: {reply:?}");
        reply.assert_error(400, 3, needle);
        assert_echo_serves(&proxy).await;
    }
}

#[tokio::test]
async fn fields_bound_by_path_or_body_are_rejected() {
    let (proxy, _upstream) = echo_stack().await;
    // Path-bound variables, single and multi-segment, and the nested ones.
    raw_http1(&proxy, "GET", "/v1/files/a/b?path=c", "")
        .await
        .assert_error(400, 3, "`path`");
    raw_http1(&proxy, "GET", "/v1/nested/n/1?nested.name=m", "")
        .await
        .assert_error(400, 3, "`nested.name`");
    raw_http1(&proxy, "GET", "/v1/typed/1/2/3/4/true/0?num=5", "")
        .await
        .assert_error(400, 3, "`num`");
    // The sibling of a nested path variable is still free.
    let reply = raw_http1(&proxy, "GET", "/v1/nested/n/1?nested.notes=x&name=top", "").await;
    assert_eq!(
        ok(&reply)["nested"]["notes"],
        serde_json::json!(["x"]),
        "{reply:?}"
    );
    assert_eq!(reply.json["nested"]["name"], "n", "{reply:?}");
    assert_eq!(reply.json["name"], "top", "{reply:?}");
    // Body `*` binds every field.
    raw_http1(&proxy, "POST", "/v1/echo?name=x", "{}")
        .await
        .assert_error(400, 3, "`name`");
    // Body `nested` binds the nested message and everything in it.
    raw_http1(&proxy, "PATCH", "/v1/echo/i/nested?nested.name=x", "{}")
        .await
        .assert_error(400, 3, "`nested.name`");
    raw_http1(&proxy, "POST", "/v1/echo/i/tags?tags=x", "[]")
        .await
        .assert_error(400, 3, "`tags`");
    // Other fields of those bindings take the query.
    let reply = raw_http1(
        &proxy,
        "PATCH",
        "/v1/echo/i/nested?name=q&num=2",
        r#"{"name":"b"}"#,
    )
    .await;
    let json = ok(&reply);
    assert_eq!(json["name"], "q", "{reply:?}");
    assert_eq!(json["num"], 2, "{reply:?}");
    assert_eq!(json["nested"]["name"], "b", "{reply:?}");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn lenient_mode_ignores_unknown_parameters() {
    let upstream = echo_upstream_tcp().await;
    let mut options = gateway::options();
    options.ignore_unknown_query_parameters = true;
    let proxy = serve_tcp(gateway::router_with_options(
        pool(&upstream.address),
        options,
    ))
    .await;
    let reply = query(
        &proxy,
        "bogus=1&name=n&nested.bogus=2&id=from-query&utm_source=x",
    )
    .await;
    let json = ok(&reply);
    assert_eq!(json["name"], "n", "{reply:?}");
    // A parameter for a path-bound field is ignored too: the path still wins.
    assert_eq!(json["id"], "q", "{reply:?}");
    let reply = raw_http1(
        &proxy,
        "POST",
        "/v1/echo?name=ignored",
        r#"{"name":"body"}"#,
    )
    .await;
    assert_eq!(ok(&reply)["name"], "body", "{reply:?}");
    // Known parameters are still checked.
    query(&proxy, "num=x").await.assert_error(400, 3, "`num`");
    query(&proxy, "name=a&name=b")
        .await
        .assert_error(400, 3, "`name`");
    assert_echo_serves(&proxy).await;
}

/// Google's system parameter `$alt` (its REST clients send `$alt=json;enum-encoding=int` on
/// every call) is not a field: it is taken off the query, and `enum-encoding=int` writes the
/// reply's enums as numbers. Formats other than JSON and SSE are refused by name.
#[tokio::test]
async fn google_system_parameter_alt() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = query(
        &proxy,
        "%24alt=json%3Benum-encoding%3Dint&genre=GENRE_POETRY&num=2",
    )
    .await;
    assert_eq!(ok(&reply)["genre"], 2, "{reply:?}");
    assert_eq!(reply.json["num"], 2, "{reply:?}");
    let reply = query(&proxy, "$alt=json;enum-encoding=int&genres=GENRE_FICTION").await;
    assert_eq!(ok(&reply)["genres"], serde_json::json!([1]), "{reply:?}");
    let reply = query(&proxy, "genre=GENRE_POETRY&alt=json").await;
    assert_eq!(ok(&reply)["genre"], "GENRE_POETRY", "{reply:?}");
    query(&proxy, "$alt=proto")
        .await
        .assert_error(400, 3, "alt");
    query(&proxy, "$alt=json;enum-encoding=roman")
        .await
        .assert_error(400, 3, "enum-encoding");
    query(&proxy, "$alt=json&alt=json")
        .await
        .assert_error(400, 3, "twice");
    // Without a value it is still the system parameter (JSON, the default), never a field.
    for bare in ["alt", "$alt", "genre=GENRE_POETRY&alt"] {
        let reply = query(&proxy, bare).await;
        assert_eq!(reply.status, 200, "{bare}: {reply:?}");
    }
    // Other `$` parameters are not system parameters the proxy knows: still unknown.
    query(&proxy, "$fields=a")
        .await
        .assert_error(400, 3, "$fields");
    assert_echo_serves(&proxy).await;
}
