#![allow(clippy::unwrap_used)]
//! Streaming RPCs over plain HTTP (DESIGN.md §3.8), HTTP/1.1 and HTTP/2: server streaming as
//! NDJSON and Server-Sent Events, client streaming, bidirectional streaming (full duplex over
//! HTTP/2), errors before and after the first message, deadlines, cancellation seen from the
//! upstream, and the in-process mode.

use std::time::Duration;

use protogate_tests::streaming::{
    self, Connection, Lines, Outcome, Version, addr, exchange, fed_body, full_body, request,
    stream_state, unique, wait_for_stream,
};
use protogate_tests::{assert_echo_serves, echo_stack, gateway, serve_tcp};
use serde_json::{Value, json};

fn content_type(headers: &http::HeaderMap) -> &str {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn lines(body: &str) -> Vec<Value> {
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[tokio::test]
async fn server_stream_is_ndjson_with_a_result_per_message() {
    let (proxy, _upstream) = echo_stack().await;
    for version in Version::BOTH {
        let id = unique("ndjson");
        let path = format!("/v1/stream/{id}?count=3&replyHeaders[x-stream]=yes");
        let (status, headers, body) = exchange(addr(&proxy), version, "GET", &path, &[], "").await;
        assert_eq!(status, 200, "{version:?}: {body}");
        assert_eq!(content_type(&headers), "application/x-ndjson");
        assert_eq!(headers["grpc-metadata-x-stream"], "yes");
        let lines = lines(&body);
        assert_eq!(lines.len(), 3, "{body}");
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(line["result"]["id"], id.as_str());
            assert_eq!(line["result"]["index"], i);
            assert_eq!(line["result"]["nested"]["name"], format!("nested {i}"));
        }
        assert!(body.ends_with("}\n"), "{body:?}");
    }
}

#[tokio::test]
async fn each_message_is_flushed_before_the_upstream_sends_the_next() {
    let (proxy, _upstream) = echo_stack().await;
    for version in Version::BOTH {
        let id = unique("gated");
        let mut conn = Connection::open(addr(&proxy), version).await;
        let path = format!("/v1/stream/{id}?count=3&gated=true");
        let response = conn
            .send(request(
                "GET",
                addr(&proxy),
                version,
                &path,
                &[],
                full_body(""),
            ))
            .await;
        assert_eq!(response.status(), 200);
        let mut lines = Lines::new(response.into_body());
        let first = lines.next_json().await.unwrap();
        assert_eq!(first["result"]["index"], 0);
        // The upstream has sent only the first message: it waits for the test to release more.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(stream_state(&id).count, 1, "{version:?}");
        streaming::release(&id, 1);
        assert_eq!(lines.next_json().await.unwrap()["result"]["index"], 1);
        assert_eq!(stream_state(&id).count, 2);
        streaming::release(&id, 1);
        assert_eq!(lines.next_json().await.unwrap()["result"]["index"], 2);
        assert_eq!(lines.next_line().await, None);
    }
}

#[tokio::test]
async fn response_body_is_applied_inside_each_result() {
    let (proxy, _upstream) = echo_stack().await;
    let id = unique("nested");
    let path = format!("/v1/stream/{id}/nested?count=2");
    let (status, _, body) = exchange(addr(&proxy), Version::Http1, "GET", &path, &[], "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        lines(&body),
        vec![
            json!({"result": {"name": "nested 0", "count": 0, "notes": []}}),
            json!({"result": {"name": "nested 1", "count": 1, "notes": []}}),
        ]
    );
}

#[tokio::test]
async fn server_stream_request_from_a_body() {
    let (proxy, _upstream) = echo_stack().await;
    let id = unique("body");
    let body = format!(r#"{{"id": "{id}", "count": 2}}"#);
    let headers = [("content-type", "application/json")];
    for version in Version::BOTH {
        let (status, _, reply) = exchange(
            addr(&proxy),
            version,
            "POST",
            "/v1/stream",
            &headers,
            body.clone(),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        let lines = lines(&reply);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["result"]["id"], id.as_str());
    }
}

#[tokio::test]
async fn an_empty_stream_is_an_empty_200() {
    let (proxy, _upstream) = echo_stack().await;
    let path = format!("/v1/stream/{}?count=0", unique("empty"));
    let (status, headers, body) =
        exchange(addr(&proxy), Version::Http2, "GET", &path, &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(content_type(&headers), "application/x-ndjson");
    assert_eq!(body, "");
}

#[tokio::test]
async fn an_error_before_the_first_message_is_an_ordinary_error_reply() {
    let (proxy, _upstream) = echo_stack().await;
    for version in Version::BOTH {
        // The upstream fails as its first stream item (after sending its headers), and before
        // streaming at all (a trailers-only reply).
        for fail_after in [0, -1] {
            let path = format!(
                "/v1/stream/{}?count=3&failCode=5&failAfter={fail_after}",
                unique("early")
            );
            let (status, headers, body) =
                exchange(addr(&proxy), version, "GET", &path, &[], "").await;
            assert_eq!(status, 404, "{version:?} {fail_after}: {body}");
            assert_eq!(content_type(&headers), "application/json");
            let error: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(error["code"], 5);
            assert!(error["details"].is_array());
        }
    }
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn an_error_after_the_first_message_is_a_final_error_line() {
    let (proxy, _upstream) = echo_stack().await;
    for version in Version::BOTH {
        let path = format!(
            "/v1/stream/{}?count=5&failCode=10&failAfter=2",
            unique("late")
        );
        let (status, _, body) = exchange(addr(&proxy), version, "GET", &path, &[], "").await;
        assert_eq!(status, 200, "{body}");
        let lines = lines(&body);
        assert_eq!(lines.len(), 3, "{body}");
        assert_eq!(lines[1]["result"]["index"], 1);
        assert_eq!(
            lines[2],
            json!({"error": {"code": 10, "message": "failed after 2 replies", "details": []}})
        );
    }
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn a_deadline_ends_a_stream_with_an_error_line() {
    let (proxy, _upstream) = echo_stack().await;
    let path = format!("/v1/stream/{}?count=100&intervalMs=100", unique("deadline"));
    let headers = [("grpc-timeout", "250m")];
    let (status, _, body) =
        exchange(addr(&proxy), Version::Http1, "GET", &path, &headers, "").await;
    assert_eq!(status, 200, "{body}");
    let lines = lines(&body);
    assert!(lines.len() >= 2 && lines.len() < 10, "{body}");
    let last = lines.last().unwrap();
    assert_eq!(last["error"]["code"], 4, "{body}");
}

#[tokio::test]
async fn server_sent_events_for_accept_text_event_stream() {
    let (proxy, _upstream) = echo_stack().await;
    let sse = [("accept", "text/event-stream")];
    for version in Version::BOTH {
        let path = format!(
            "/v1/stream/{}?count=2&failCode=8&failAfter=2",
            unique("sse")
        );
        let (status, headers, body) = exchange(addr(&proxy), version, "GET", &path, &sse, "").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(content_type(&headers), "text/event-stream");
        assert_eq!(headers["cache-control"], "no-cache");
        let events: Vec<&str> = body.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 3, "{body:?}");
        let data: Value = serde_json::from_str(events[0].strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(data["index"], 0, "SSE data is the bare message: {body}");
        let error = events[2]
            .strip_prefix("event: error\ndata: ")
            .unwrap_or_else(|| panic!("{body:?}"));
        let error: Value = serde_json::from_str(error).unwrap();
        assert_eq!(error["code"], 8);
        assert_eq!(error["message"], "failed after 2 replies");
    }
    // An error before the first event is an ordinary error reply too.
    let path = format!(
        "/v1/stream/{}?count=2&failCode=7&failAfter=0",
        unique("sse")
    );
    let (status, headers, _) = exchange(addr(&proxy), Version::Http1, "GET", &path, &sse, "").await;
    assert_eq!(status, 403);
    assert_eq!(content_type(&headers), "application/json");
}

#[tokio::test]
async fn idle_event_streams_get_keep_alive_comments() {
    let upstream = protogate_tests::echo_upstream_tcp().await;
    let mut options = gateway::options();
    options.sse_keep_alive = Some(Duration::from_millis(40));
    let proxy = serve_tcp(gateway::router_with_options(
        protogate_tests::pool(&upstream.address),
        options,
    ))
    .await;
    let id = unique("keepalive");
    let mut conn = Connection::open(addr(&proxy), Version::Http1).await;
    let path = format!("/v1/stream/{id}?count=2&gated=true");
    let sse = [("accept", "text/event-stream")];
    let response = conn
        .send(request(
            "GET",
            addr(&proxy),
            Version::Http1,
            &path,
            &sse,
            full_body(""),
        ))
        .await;
    let mut events = Lines::new(response.into_body());
    assert!(events.next_by(b"\n\n").await.unwrap().starts_with("data: "));
    // The stream is idle until released: comments keep it open.
    assert_eq!(events.next_by(b"\n\n").await.unwrap(), ": keep-alive");
    assert_eq!(events.next_by(b"\n\n").await.unwrap(), ": keep-alive");
    streaming::release(&id, 1);
    let mut next = events.next_by(b"\n\n").await.unwrap();
    while next == ": keep-alive" {
        next = events.next_by(b"\n\n").await.unwrap();
    }
    assert!(next.starts_with("data: {"), "{next}");
}

#[tokio::test]
async fn bare_stream_messages_drop_the_result_envelope() {
    let upstream = protogate_tests::echo_upstream_tcp().await;
    let mut options = gateway::options();
    options.bare_stream_messages = true;
    let proxy = serve_tcp(gateway::router_with_options(
        protogate_tests::pool(&upstream.address),
        options,
    ))
    .await;
    let path = format!(
        "/v1/stream/{}?count=2&failCode=13&failAfter=2",
        unique("bare")
    );
    let (status, _, body) = exchange(addr(&proxy), Version::Http1, "GET", &path, &[], "").await;
    assert_eq!(status, 200);
    let lines = lines(&body);
    assert_eq!(lines[0]["index"], 0, "{body}");
    assert_eq!(lines[1]["index"], 1, "{body}");
    assert_eq!(
        lines[2]["error"]["code"], 13,
        "errors keep their envelope: {body}"
    );
}

#[tokio::test]
async fn stream_trailers_reach_http2_clients_that_accept_them() {
    let (proxy, _upstream) = echo_stack().await;
    let path = format!(
        "/v1/stream/{}?count=1&replyTrailers[x-done]=finally",
        unique("trailers")
    );
    let mut conn = Connection::open(addr(&proxy), Version::Http2).await;
    let response = conn
        .send(request(
            "GET",
            addr(&proxy),
            Version::Http2,
            &path,
            &[("te", "trailers")],
            full_body(""),
        ))
        .await;
    let mut lines = Lines::new(response.into_body());
    assert_eq!(lines.rest_json().await.len(), 1);
    let trailers = lines.trailers.expect("trailers");
    assert_eq!(trailers["grpc-trailer-x-done"], "finally");
}

#[tokio::test]
async fn a_client_going_away_cancels_the_upstream_stream() {
    let (proxy, _upstream) = echo_stack().await;
    for version in Version::BOTH {
        let id = unique("gone");
        let mut conn = Connection::open(addr(&proxy), version).await;
        let path = format!("/v1/stream/{id}?count=100000&intervalMs=20");
        let response = conn
            .send(request(
                "GET",
                addr(&proxy),
                version,
                &path,
                &[],
                full_body(""),
            ))
            .await;
        let mut lines = Lines::new(response.into_body());
        lines.next_json().await.unwrap();
        lines.next_json().await.unwrap();
        drop(lines);
        drop(conn);
        let state = wait_for_stream(&id, |s| s.outcome != Outcome::Running).await;
        assert_eq!(state.outcome, Outcome::Cancelled, "{version:?}: {state:?}");
        assert!(state.count < 1000, "{state:?}");
    }
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn request_errors_are_reported_before_streaming() {
    let (proxy, _upstream) = echo_stack().await;
    let path = format!("/v1/stream/{}?count=2&bogus=1", unique("bad"));
    let (status, headers, body) =
        exchange(addr(&proxy), Version::Http1, "GET", &path, &[], "").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(content_type(&headers), "application/json");
    assert!(body.contains("bogus"), "{body}");
    assert_echo_serves(&proxy).await;
}

// ---------------------------------------------------------------------------------------------
// Client streaming

#[tokio::test]
async fn client_stream_takes_ndjson_and_concatenated_json() {
    let (proxy, _upstream) = echo_stack().await;
    let ndjson = "{\"id\":\"a\",\"num\":1}\n{\"id\":\"b\",\"num\":2}\n\n{\"id\":\"c\",\"num\":3}\n";
    let concatenated =
        "{\"id\":\"a\",\"num\":1}{\"id\":\"b\",\"num\":2}  {\n  \"id\": \"c\",\n  \"num\": 3\n}";
    for version in Version::BOTH {
        for (body, content) in [
            (ndjson, "application/x-ndjson"),
            (concatenated, "application/json"),
        ] {
            let headers = [("content-type", content)];
            let (status, headers, reply) =
                exchange(addr(&proxy), version, "POST", "/v1/collect", &headers, body).await;
            assert_eq!(status, 200, "{version:?} {content}: {reply}");
            assert_eq!(content_type(&headers), "application/json");
            let reply: Value = serde_json::from_str(&reply).unwrap();
            assert_eq!(reply["count"], 3);
            let ids: Vec<&str> = reply["received"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap())
                .collect();
            assert_eq!(ids, ["a", "b", "c"]);
            assert_eq!(reply["received"][2]["num"], 3);
        }
    }
}

/// A client stream whose rule names no `body` (grpc-gateway's flow_combination.proto) takes its
/// messages from the body all the same.
#[tokio::test]
async fn client_stream_without_a_body_rule_reads_the_body() {
    let (proxy, _upstream) = echo_stack().await;
    for version in Version::BOTH {
        let headers = [("content-type", "application/x-ndjson")];
        let body = "{\"id\":\"a\"}\n{\"id\":\"b\"}\n";
        let (status, _, reply) = exchange(
            addr(&proxy),
            version,
            "POST",
            "/v1/collect-bare",
            &headers,
            body,
        )
        .await;
        assert_eq!(status, 200, "{version:?}: {reply}");
        let reply: Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply["count"], 2, "{reply}");
        assert_eq!(reply["received"][1]["id"], "b", "{reply}");
    }
    assert_echo_serves(&proxy).await;
}

/// `alt=sse`, the system parameter Google's streaming clients send, asks for Server-Sent Events
/// as `Accept: text/event-stream` does.
#[tokio::test]
async fn alt_sse_asks_for_server_sent_events() {
    let (proxy, _upstream) = echo_stack().await;
    for alt in ["alt=sse", "%24alt=sse"] {
        let path = format!("/v1/stream/{}?count=2&{alt}", unique("alt"));
        let (status, headers, body) =
            exchange(addr(&proxy), Version::Http1, "GET", &path, &[], "").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(content_type(&headers), "text/event-stream", "{alt}");
        assert_eq!(body.matches("data: ").count(), 2, "{body:?}");
    }
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn client_stream_with_an_empty_body_sends_no_message() {
    let (proxy, _upstream) = echo_stack().await;
    let (status, _, reply) =
        exchange(addr(&proxy), Version::Http1, "POST", "/v1/collect", &[], "").await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        serde_json::from_str::<Value>(&reply).unwrap(),
        json!({"received": [], "count": 0})
    );
}

#[tokio::test]
async fn client_stream_body_field_and_query_fill_every_message() {
    let (proxy, _upstream) = echo_stack().await;
    let body = "{\"name\":\"first\"}\n{\"name\":\"second\",\"count\":2}\n";
    let (status, _, reply) = exchange(
        addr(&proxy),
        Version::Http2,
        "POST",
        "/v1/collect/nested?id=from-query&tags=t",
        &[],
        body,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["count"], 2);
    for (i, name) in ["first", "second"].iter().enumerate() {
        assert_eq!(reply["received"][i]["id"], "from-query");
        assert_eq!(reply["received"][i]["tags"], json!(["t"]));
        assert_eq!(reply["received"][i]["nested"]["name"], *name);
    }
}

#[tokio::test]
async fn client_stream_sends_each_message_as_it_arrives() {
    let (proxy, _upstream) = echo_stack().await;
    for version in Version::BOTH {
        let id = unique("arrives");
        let (feed, body) = fed_body();
        let mut conn = Connection::open(addr(&proxy), version).await;
        let request = request("POST", addr(&proxy), version, "/v1/collect", &[], body);
        let call = tokio::spawn(async move { conn.send(request).await });
        feed.send(format!("{{\"id\":\"{id}\",\"num\":1}}\n")).await;
        let state = wait_for_stream(&id, |s| s.count == 1).await;
        assert_eq!(
            state.count, 1,
            "{version:?}: the first message went up before the body ended"
        );
        // Split across chunks: the message goes up once it is complete.
        feed.send(format!("{{\"id\":\"{id}\",")).await;
        feed.send("\"num\":2}").await;
        let state = wait_for_stream(&id, |s| s.count == 2).await;
        assert_eq!(state.count, 2);
        drop(feed);
        let response = call.await.unwrap();
        assert_eq!(response.status(), 200);
        let reply = Lines::new(response.into_body()).rest().await;
        let reply: Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply["count"], 2);
        assert_eq!(stream_state(&id).outcome, Outcome::Completed);
    }
}

#[tokio::test]
async fn a_decode_error_mid_body_cancels_the_call_and_answers_400() {
    let (proxy, _upstream) = echo_stack().await;
    for version in Version::BOTH {
        let id = unique("decode");
        let (feed, body) = fed_body();
        let mut conn = Connection::open(addr(&proxy), version).await;
        let request = request("POST", addr(&proxy), version, "/v1/collect", &[], body);
        let call = tokio::spawn(async move { conn.send(request).await });
        feed.send(format!("{{\"id\":\"{id}\"}}\n")).await;
        wait_for_stream(&id, |s| s.count == 1).await;
        feed.send("{\"id\": \"x\", \"num\": \"many\"}\n").await;
        let response = call.await.unwrap();
        assert_eq!(response.status(), 400, "{version:?}");
        let reply = Lines::new(response.into_body()).rest().await;
        let error: Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(error["code"], 3);
        let message = error["message"].as_str().unwrap();
        assert!(
            message.starts_with(
                "invalid JSON in message 2 of the request stream at line 2, column 20 (byte offset"
            ),
            "{message}"
        );
        assert!(message.contains("num: "), "{message}");
        // The upstream saw its stream fail, not end: it must not act on a partial stream.
        let state = wait_for_stream(&id, |s| s.outcome != Outcome::Running).await;
        assert!(
            matches!(state.outcome, Outcome::Failed(_) | Outcome::Cancelled),
            "{version:?}: {state:?}"
        );
        drop(feed);
    }
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn decode_errors_name_the_message_line_and_offset() {
    let (proxy, _upstream) = echo_stack().await;
    let cases = [
        (
            "{\"id\":\"a\"}\n{\"id\": 5}\n",
            "message 2 of the request stream at line 2, column 8 (byte offset 18): id: ",
        ),
        (
            "{\"id\":\"a\"} {\"unknown\": 1}",
            "message 2 of the request stream at line 1, column 13 (byte offset 12): ",
        ),
        (
            "[1, 2]",
            "message 1 of the request stream at line 1, column 1 (byte offset 0)",
        ),
        (
            "{\"id\":\"a\"}\n{\"id\":",
            "message 2 of the request stream at line 2",
        ),
        (
            "{\"id\":\"a\"}\nnull x",
            "message 2 of the request stream at line 2, column 1",
        ),
    ];
    for (body, needle) in cases {
        let (status, _, reply) = exchange(
            addr(&proxy),
            Version::Http1,
            "POST",
            "/v1/collect",
            &[],
            body,
        )
        .await;
        assert_eq!(status, 400, "{body:?}: {reply}");
        let error: Value = serde_json::from_str(&reply).unwrap();
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body:?}: {message}");
    }
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn client_stream_upstream_errors_and_limits() {
    let (proxy, _upstream) = echo_stack().await;
    let body = "{\"id\":\"f\"}\n{\"name\":\"fail:9\"}\n{\"id\":\"never\"}\n";
    let (status, headers, reply) = exchange(
        addr(&proxy),
        Version::Http2,
        "POST",
        "/v1/collect",
        &[],
        body,
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(content_type(&headers), "application/json");
    assert_eq!(serde_json::from_str::<Value>(&reply).unwrap()["code"], 9);

    let upstream = protogate_tests::echo_upstream_tcp().await;
    let mut options = gateway::options();
    options.max_body_bytes = 64;
    let small = serve_tcp(gateway::router_with_options(
        protogate_tests::pool(&upstream.address),
        options,
    ))
    .await;
    // Many small messages are fine; one message over the limit is a 413.
    let many: String = (0..50).map(|i| format!("{{\"num\":{i}}}\n")).collect();
    let (status, _, reply) = exchange(
        addr(&small),
        Version::Http1,
        "POST",
        "/v1/collect",
        &[],
        many,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(serde_json::from_str::<Value>(&reply).unwrap()["count"], 50);
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(100));
    let (status, _, reply) = exchange(
        addr(&small),
        Version::Http1,
        "POST",
        "/v1/collect",
        &[],
        big,
    )
    .await;
    assert_eq!(status, 413, "{reply}");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn a_client_going_away_mid_body_cancels_the_upstream_call() {
    let (proxy, _upstream) = echo_stack().await;
    for version in Version::BOTH {
        let id = unique("abandon");
        let (feed, body) = fed_body();
        let mut conn = Connection::open(addr(&proxy), version).await;
        let request = request("POST", addr(&proxy), version, "/v1/collect", &[], body);
        let call = tokio::spawn(async move { conn.send(request).await });
        feed.send(format!("{{\"id\":\"{id}\"}}\n")).await;
        wait_for_stream(&id, |s| s.count == 1).await;
        feed.fail().await;
        call.abort();
        let state = wait_for_stream(&id, |s| s.outcome != Outcome::Running).await;
        assert!(
            matches!(state.outcome, Outcome::Failed(_) | Outcome::Cancelled),
            "{version:?}: {state:?}"
        );
    }
    assert_echo_serves(&proxy).await;
}

// ---------------------------------------------------------------------------------------------
// Bidirectional streaming

#[tokio::test]
async fn bidi_streams_ndjson_both_ways() {
    let (proxy, _upstream) = echo_stack().await;
    let body = "{\"id\":\"1\"}\n{\"id\":\"2\"}\n{\"id\":\"3\",\"tags\":[\"x\"]}\n";
    for version in Version::BOTH {
        let (status, headers, reply) =
            exchange(addr(&proxy), version, "POST", "/v1/chat", &[], body).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(content_type(&headers), "application/x-ndjson");
        let lines = lines(&reply);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["result"]["id"], "1");
        assert_eq!(lines[2]["result"]["tags"], json!(["x"]));
    }
    // An empty body: no message either way.
    let (status, _, reply) =
        exchange(addr(&proxy), Version::Http1, "POST", "/v1/chat", &[], "").await;
    assert_eq!((status.as_u16(), reply.as_str()), (200, ""));
}

#[tokio::test]
async fn bidi_is_full_duplex_over_http2() {
    let (proxy, _upstream) = echo_stack().await;
    let id = unique("duplex");
    let (feed, body) = fed_body();
    let mut conn = Connection::open(addr(&proxy), Version::Http2).await;
    feed.send(format!("{{\"id\":\"{id}\",\"num\":0}}\n")).await;
    let response = conn
        .send(request(
            "POST",
            addr(&proxy),
            Version::Http2,
            "/v1/chat",
            &[],
            body,
        ))
        .await;
    assert_eq!(response.status(), 200);
    let mut lines = Lines::new(response.into_body());
    // Each message goes up only after the reply to the previous one came back.
    for i in 0..5 {
        let reply = lines.next_json().await.unwrap();
        assert_eq!(reply["result"]["num"], i);
        feed.send(format!("{{\"id\":\"{id}\",\"num\":{}}}\n", i + 1))
            .await;
    }
    assert_eq!(lines.next_json().await.unwrap()["result"]["num"], 5);
    drop(feed);
    assert_eq!(lines.next_line().await, None);
    assert!(!lines.failed);
    assert_eq!(
        wait_for_stream(&id, |s| s.outcome != Outcome::Running)
            .await
            .outcome,
        Outcome::Completed
    );
}

#[tokio::test]
async fn bidi_decode_errors_are_a_final_error_line() {
    let (proxy, _upstream) = echo_stack().await;
    let id = unique("bidi-decode");
    let (feed, body) = fed_body();
    let mut conn = Connection::open(addr(&proxy), Version::Http2).await;
    feed.send(format!("{{\"id\":\"{id}\"}}\n")).await;
    let response = conn
        .send(request(
            "POST",
            addr(&proxy),
            Version::Http2,
            "/v1/chat",
            &[],
            body,
        ))
        .await;
    assert_eq!(response.status(), 200);
    let mut lines = Lines::new(response.into_body());
    assert_eq!(
        lines.next_json().await.unwrap()["result"]["id"],
        id.as_str()
    );
    feed.send("{\"id\": 12}\n").await;
    let error = lines.next_json().await.unwrap();
    assert_eq!(error["error"]["code"], 3, "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("message 2 of the request stream at line 2"),
        "{message}"
    );
    assert_eq!(lines.next_line().await, None);
    let state = wait_for_stream(&id, |s| s.outcome != Outcome::Running).await;
    assert!(
        matches!(state.outcome, Outcome::Failed(_) | Outcome::Cancelled),
        "{state:?}"
    );

    // A bad first message is an ordinary 400.
    let (status, headers, reply) = exchange(
        addr(&proxy),
        Version::Http1,
        "POST",
        "/v1/chat",
        &[],
        "{\"id\": true}",
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(content_type(&headers), "application/json");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn bidi_upstream_errors_and_event_streams() {
    let (proxy, _upstream) = echo_stack().await;
    let body = "{\"id\":\"a\"}\n{\"name\":\"fail:14\"}\n";
    let (status, _, reply) =
        exchange(addr(&proxy), Version::Http1, "POST", "/v1/chat", &[], body).await;
    assert_eq!(status, 200, "{reply}");
    let lines = lines(&reply);
    assert_eq!(lines[0]["result"]["id"], "a");
    assert_eq!(lines[1]["error"]["code"], 14);

    let sse = [("accept", "text/event-stream")];
    let (status, headers, reply) = exchange(
        addr(&proxy),
        Version::Http2,
        "POST",
        "/v1/chat",
        &sse,
        "{\"id\":\"e\"}",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(content_type(&headers), "text/event-stream");
    assert_eq!(
        reply,
        "data: {\"id\":\"e\",\"name\":\"\",\"path\":\"\",\"a\":\"\",\"b\":\"\",\"num\":0,\"big\":\"0\",\"ubig\":\"0\",\"ratio\":0,\"score\":0,\"flag\":false,\"data\":\"\",\"genre\":\"GENRE_UNSPECIFIED\",\"small\":0,\"signedSmall\":0,\"fixedBig\":\"0\",\"tags\":[],\"nums\":[],\"genres\":[],\"labels\":{},\"counts\":{},\"customName\":\"\",\"type\":\"\",\"self\":\"\",\"say \\\"hi\\\"\\\\now\":\"\"}\n\n"
    );
}

#[tokio::test]
async fn a_client_going_away_cancels_a_bidi_call() {
    let (proxy, _upstream) = echo_stack().await;
    for version in Version::BOTH {
        let id = unique("bidi-gone");
        let (feed, body) = fed_body();
        let mut conn = Connection::open(addr(&proxy), version).await;
        feed.send(format!("{{\"id\":\"{id}\"}}\n")).await;
        let response = conn
            .send(request(
                "POST",
                addr(&proxy),
                version,
                "/v1/chat",
                &[],
                body,
            ))
            .await;
        let mut lines = Lines::new(response.into_body());
        lines.next_json().await.unwrap();
        drop(lines);
        drop(conn);
        drop(feed);
        let state = wait_for_stream(&id, |s| s.outcome != Outcome::Running).await;
        assert_ne!(state.outcome, Outcome::Running, "{version:?}");
    }
    assert_echo_serves(&proxy).await;
}

// ---------------------------------------------------------------------------------------------
// In-process: the router over the tonic server itself, no network between them.

#[tokio::test]
async fn in_process_mode_serves_every_streaming_kind() {
    let proxy = serve_tcp(gateway::router(protogate_tests::echo_service())).await;
    let at = addr(&proxy);
    for version in Version::BOTH {
        let path = format!(
            "/v1/stream/{}?count=3&failCode=6&failAfter=3",
            unique("inproc")
        );
        let (status, _, body) = exchange(at, version, "GET", &path, &[], "").await;
        assert_eq!(status, 200, "{body}");
        let l = lines(&body);
        assert_eq!((l.len(), &l[3]["error"]["code"]), (4, &json!(6)), "{body}");

        let (status, _, body) = exchange(
            at,
            version,
            "POST",
            "/v1/collect",
            &[],
            "{\"id\":\"a\"}{\"id\":\"b\"}",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["count"], 2);

        let (status, _, body) =
            exchange(at, version, "POST", "/v1/chat", &[], "{\"id\":\"c\"}\n").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(lines(&body)[0]["result"]["id"], "c");

        let (status, headers, body) = exchange(
            at,
            version,
            "GET",
            "/v1/download/inproc?size=1000&contentType=text/plain",
            &[],
            "",
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(content_type(&headers), "text/plain");
        assert_eq!(body, String::from_utf8_lossy(&streaming::pattern(0, 1000)));
    }

    // Full duplex, a decode error and cancellation work in-process too.
    let id = unique("inproc-duplex");
    let (feed, body) = fed_body();
    let mut conn = Connection::open(at, Version::Http2).await;
    feed.send(format!("{{\"id\":\"{id}\",\"num\":1}}\n")).await;
    let response = conn
        .send(request("POST", at, Version::Http2, "/v1/chat", &[], body))
        .await;
    let mut lines = Lines::new(response.into_body());
    assert_eq!(lines.next_json().await.unwrap()["result"]["num"], 1);
    feed.send("{\"num\": \"two\"}\n").await;
    assert_eq!(lines.next_json().await.unwrap()["error"]["code"], 3);
    let state = wait_for_stream(&id, |s| s.outcome != Outcome::Running).await;
    assert!(
        matches!(state.outcome, Outcome::Failed(_) | Outcome::Cancelled),
        "{state:?}"
    );

    let id = unique("inproc-gone");
    let path = format!("/v1/stream/{id}?count=100000&intervalMs=10");
    let response = conn
        .send(request(
            "GET",
            at,
            Version::Http2,
            &path,
            &[],
            full_body(""),
        ))
        .await;
    let mut lines = Lines::new(response.into_body());
    lines.next_json().await.unwrap();
    drop(lines);
    let state = wait_for_stream(&id, |s| s.outcome != Outcome::Running).await;
    assert_eq!(state.outcome, Outcome::Cancelled);
}

// ---------------------------------------------------------------------------------------------
// The example API's streaming method, through the committed generated crate.

#[tokio::test]
async fn the_example_api_streams_books() {
    let (proxy, _upstream) = protogate_tests::example_stack().await;
    let (status, headers, body) = exchange(
        addr(&proxy),
        Version::Http1,
        "GET",
        "/v1/shelves/1/books:stream",
        &[],
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type(&headers), "application/x-ndjson");
    let books = lines(&body);
    assert_eq!(books.len(), 1, "{body}");
    assert_eq!(books[0]["result"]["name"], "shelves/1/books/1");
    assert_eq!(books[0]["result"]["title"], "The Left Hand of Darkness");

    let sse = [("accept", "text/event-stream")];
    let (status, headers, body) = exchange(
        addr(&proxy),
        Version::Http2,
        "GET",
        "/v1/shelves/2/books:stream",
        &sse,
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type(&headers), "text/event-stream");
    assert!(
        body.starts_with("data: {\"name\":\"shelves/2/books/"),
        "{body}"
    );

    let (status, _, body) = exchange(
        addr(&proxy),
        Version::Http1,
        "GET",
        "/v1/shelves/9/books:stream",
        &[],
        "",
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], 5);
}

#[tokio::test]
async fn an_unavailable_upstream_is_a_503_for_every_kind() {
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let channel = protogate_tests::pool(&protogate_tests::Address::Tcp(closed));
    let proxy = serve_tcp(gateway::router(channel)).await;
    for version in Version::BOTH {
        for (method, path, body) in [
            ("GET", "/v1/stream/down?count=1", ""),
            ("POST", "/v1/collect", "{\"id\":\"a\"}"),
            ("POST", "/v1/chat", "{\"id\":\"a\"}"),
            ("GET", "/v1/download/down", ""),
        ] {
            let (status, headers, reply) =
                exchange(addr(&proxy), version, method, path, &[], body).await;
            assert_eq!(status, 503, "{version:?} {path}: {reply}");
            assert_eq!(content_type(&headers), "application/json");
            assert_eq!(serde_json::from_str::<Value>(&reply).unwrap()["code"], 14);
        }
    }
}
