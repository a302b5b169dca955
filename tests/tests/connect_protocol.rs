#![allow(clippy::unwrap_used)]
//! The Connect protocol on the proxy's port, as Connect clients send it: unary calls by POST
//! (JSON and protobuf) and GET, errors as Connect's error JSON, metadata both ways, deadlines,
//! streaming calls in envelopes with the end-of-stream message; malformed requests get
//! Connect's error forms.

use base64::Engine as _;
use prost::Message as _;
use protogate_tests::pb::{Echo, HeadersReply, HeadersRequest, StreamRequest};
use protogate_tests::{Server, WITH_DETAILS, assert_echo_serves, echo_stack, h2c, http1};
use serde_json::{Value, json};

fn url(proxy: &Server, method: &str) -> String {
    format!("{}/echo.v1.EchoService/{method}", proxy.url())
}

async fn post(
    client: &reqwest::Client,
    url: String,
    content_type: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = client
        .post(url)
        .header("content-type", content_type)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn json_of(response: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    (status, headers, json)
}

const VERSION: (&str, &str) = ("connect-protocol-version", "1");

#[tokio::test]
async fn unary_calls_in_json_and_protobuf_over_both_versions() {
    let (proxy, _upstream) = echo_stack().await;
    for client in [http1(), h2c()] {
        let body = br#"{"id":"c","nums":[1,2],"genre":"GENRE_POETRY"}"#.to_vec();
        let response = post(
            &client,
            url(&proxy, "Get"),
            "application/json",
            &[VERSION],
            body,
        )
        .await;
        let (status, headers, json) = json_of(response).await;
        assert_eq!(status, 200, "{json}");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(json["id"], "c");
        assert_eq!(json["nums"], json!([1, 2]));
        assert_eq!(json["genre"], "GENRE_POETRY");

        let message = Echo {
            id: "p".to_string(),
            ..Echo::default()
        };
        let response = post(
            &client,
            url(&proxy, "Get"),
            "application/proto",
            &[],
            message.encode_to_vec(),
        )
        .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/proto");
        let reply = Echo::decode(response.bytes().await.unwrap()).unwrap();
        assert_eq!(reply.id, "p");
    }
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn metadata_goes_both_ways_trailers_as_trailer_headers() {
    let (proxy, _upstream) = echo_stack().await;
    let request = br#"{"replyHeaders":{"x-h":"1"},"replyTrailers":{"x-t":"2"}}"#.to_vec();
    let response = post(
        &http1(),
        url(&proxy, "Headers"),
        "application/json",
        &[VERSION, ("x-user", "alice")],
        request,
    )
    .await;
    let (status, headers, json) = json_of(response).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(headers["x-h"], "1");
    assert_eq!(headers["trailer-x-t"], "2");
    let received = json["received"].as_array().unwrap();
    assert!(
        received
            .iter()
            .any(|e| e["key"] == "x-user" && e["value"] == "alice"),
        "{json}"
    );
    assert!(
        !received
            .iter()
            .any(|e| e["key"] == "connect-protocol-version"),
        "{json}"
    );
    // The protobuf form carries the same.
    let message = HeadersRequest::default();
    let response = post(
        &http1(),
        url(&proxy, "Headers"),
        "application/proto",
        &[("x-user", "bob")],
        message.encode_to_vec(),
    )
    .await;
    let reply = HeadersReply::decode(response.bytes().await.unwrap()).unwrap();
    assert!(
        reply
            .received
            .iter()
            .any(|e| e.key == "x-user" && e.value == "bob")
    );
}

#[tokio::test]
async fn errors_are_connect_error_json_with_details() {
    let (proxy, _upstream) = echo_stack().await;
    let client = http1();
    let fail = |code: i32, message: &str| format!(r#"{{"code":{code},"message":"{message}"}}"#);
    let response = post(
        &client,
        url(&proxy, "Fail"),
        "application/json",
        &[VERSION],
        fail(5, "no such shelf").into_bytes(),
    )
    .await;
    let (status, headers, json) = json_of(response).await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        json,
        json!({"code": "not_found", "message": "no such shelf"})
    );

    let response = post(
        &client,
        url(&proxy, "Fail"),
        "application/proto",
        &[],
        protogate_tests::pb::FailRequest {
            code: 9,
            message: WITH_DETAILS.to_string(),
        }
        .encode_to_vec(),
    )
    .await;
    let (status, _, json) = json_of(response).await;
    assert_eq!(status, 400);
    assert_eq!(json["code"], "failed_precondition");
    assert_eq!(json["details"][0]["type"], "google.rpc.ErrorInfo");
    let value = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(json["details"][0]["value"].as_str().unwrap())
        .unwrap();
    assert!(!value.is_empty());
}

#[tokio::test]
async fn get_calls_carry_the_message_in_the_query() {
    let (proxy, _upstream) = echo_stack().await;
    let client = http1();
    let query = "connect=v1&encoding=json&message=%7B%22id%22%3A%22g%22%7D";
    let response = client
        .get(format!("{}?{query}", url(&proxy, "Get")))
        .send()
        .await
        .unwrap();
    let (status, _, json) = json_of(response).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["id"], "g");

    let message = Echo {
        id: "b64".to_string(),
        ..Echo::default()
    };
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(message.encode_to_vec());
    let response = client
        .get(format!(
            "{}?encoding=proto&base64=1&message={encoded}&connect=v1",
            url(&proxy, "Get")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply = Echo::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(reply.id, "b64");

    // Only methods without side effects may be called by GET.
    let response = client
        .get(format!(
            "{}?encoding=json&message=%7B%7D&connect=v1",
            url(&proxy, "Typed")
        ))
        .send()
        .await
        .unwrap();
    let (status, _, json) = json_of(response).await;
    assert_eq!(status, 405, "{json}");
    assert_eq!(json["code"], "unimplemented");
}

#[tokio::test]
async fn connect_timeout_ms_is_the_deadline() {
    let (proxy, _upstream) = echo_stack().await;
    let started = std::time::Instant::now();
    let response = post(
        &http1(),
        url(&proxy, "Sleep"),
        "application/json",
        &[VERSION, ("connect-timeout-ms", "150")],
        br#"{"millis":5000}"#.to_vec(),
    )
    .await;
    let (status, _, json) = json_of(response).await;
    assert_eq!(status, 504, "{json}");
    assert_eq!(json["code"], "deadline_exceeded");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

/// A message in a Connect envelope.
fn envelope(flags: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend(u32::try_from(data.len()).unwrap().to_be_bytes());
    out.extend(data);
    out
}

/// The envelopes of a streaming reply: (flags, data).
fn envelopes(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        out.push((body[0], body[5..5 + len].to_vec()));
        body = &body[5 + len..];
    }
    assert!(body.is_empty(), "trailing bytes");
    out
}

#[tokio::test]
async fn streams_are_envelopes_ending_with_the_end_of_stream_message() {
    let (proxy, _upstream) = echo_stack().await;
    for client in [http1(), h2c()] {
        // Server streaming, JSON.
        let response = post(
            &client,
            url(&proxy, "Stream"),
            "application/connect+json",
            &[],
            envelope(0, br#"{"id":"cs","count":3}"#),
        )
        .await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "application/connect+json"
        );
        let all = envelopes(&response.bytes().await.unwrap());
        assert_eq!(all.len(), 4, "{all:?}");
        for (flags, data) in &all[..3] {
            assert_eq!(*flags, 0);
            let message: Value = serde_json::from_slice(data).unwrap();
            assert_eq!(message["id"], "cs");
        }
        assert_eq!(all[3].0, 2);
        let end: Value = serde_json::from_slice(&all[3].1).unwrap();
        assert!(end.get("error").is_none(), "{end}");

        // A stream that fails midway: its error in the end-of-stream message.
        let failing = StreamRequest {
            id: "cf".to_string(),
            count: 3,
            fail_code: 10,
            fail_after: 1,
            ..StreamRequest::default()
        };
        let response = post(
            &client,
            url(&proxy, "Stream"),
            "application/connect+proto",
            &[],
            envelope(0, &failing.encode_to_vec()),
        )
        .await;
        let all = envelopes(&response.bytes().await.unwrap());
        assert_eq!(all.len(), 2, "{all:?}");
        let end: Value = serde_json::from_slice(&all[1].1).unwrap();
        assert_eq!(end["error"]["code"], "aborted", "{end}");

        // Client streaming: several envelopes in, one reply and the end out.
        let mut body = Vec::new();
        for id in ["a", "b", "c"] {
            body.extend(envelope(0, format!(r#"{{"id":"{id}"}}"#).as_bytes()));
        }
        let response = post(
            &client,
            url(&proxy, "Collect"),
            "application/connect+json",
            &[],
            body,
        )
        .await;
        let all = envelopes(&response.bytes().await.unwrap());
        assert_eq!(all.len(), 2, "{all:?}");
        let collected: Value = serde_json::from_slice(&all[0].1).unwrap();
        assert_eq!(collected["count"], 3, "{collected}");
    }
    assert_echo_serves(&proxy).await;
}

/// Headers, body, and the HTTP status, code and message part the call is answered with.
type UnaryCase = (
    &'static [(&'static str, &'static str)],
    Vec<u8>,
    u16,
    &'static str,
    &'static str,
);

#[tokio::test]
async fn bad_requests_get_connect_errors() {
    let (proxy, _upstream) = echo_stack().await;
    let client = http1();
    // Unary: bad JSON, an unsupported protocol version, compression, an oversized body.
    let cases: [UnaryCase; 4] = [
        (
            &[VERSION],
            b"{not json".to_vec(),
            400,
            "invalid_argument",
            "invalid JSON",
        ),
        (
            &[("connect-protocol-version", "2")],
            b"{}".to_vec(),
            400,
            "invalid_argument",
            "version 1",
        ),
        (
            &[VERSION, ("content-encoding", "gzip")],
            b"{}".to_vec(),
            501,
            "unimplemented",
            "gzip",
        ),
        (
            &[VERSION],
            vec![b' '; 5 << 20],
            413,
            "resource_exhausted",
            "larger than the limit",
        ),
    ];
    for (headers, body, status, code, needle) in cases {
        let response = post(
            &client,
            url(&proxy, "Get"),
            "application/json",
            headers,
            body,
        )
        .await;
        let (got, _, json) = json_of(response).await;
        assert_eq!(got, status, "{needle}: {json}");
        assert_eq!(json["code"], code, "{json}");
        assert!(json["message"].as_str().unwrap().contains(needle), "{json}");
    }
    // Streaming: a compressed flag, a body that ends inside an envelope, an unknown method.
    let mut truncated = envelope(0, br#"{"id":"x"}"#);
    truncated.truncate(8);
    let cases: [(&str, Vec<u8>, &str, &str); 3] = [
        (
            "Collect",
            envelope(1, b"{}"),
            "invalid_argument",
            "compressed",
        ),
        (
            "Collect",
            truncated,
            "invalid_argument",
            "ends inside an envelope",
        ),
        (
            "Nope",
            envelope(0, b"{}"),
            "unimplemented",
            "unknown method",
        ),
    ];
    for (method, body, code, needle) in cases {
        let response = post(
            &client,
            url(&proxy, method),
            "application/connect+json",
            &[],
            body,
        )
        .await;
        assert_eq!(response.status(), 200);
        let all = envelopes(&response.bytes().await.unwrap());
        let end: Value = serde_json::from_slice(&all.last().unwrap().1).unwrap();
        assert_eq!(end["error"]["code"], code, "{needle}: {end}");
        assert!(
            end["error"]["message"].as_str().unwrap().contains(needle),
            "{needle}: {end}"
        );
    }
    assert_echo_serves(&proxy).await;
}
