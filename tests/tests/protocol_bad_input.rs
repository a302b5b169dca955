//! Bad input on the one port, per protocol: each gets that protocol's own error form, never a
//! hang or a dropped connection. gRPC: a status in the trailers (or a trailers-only reply);
//! gRPC-Web: a status in the headers or in the trailer frame at the end of the body; Connect:
//! its error JSON for a unary call, its end-of-stream message for a stream. Raw requests over
//! HTTP/2 (h2c) and HTTP/1.1: malformed envelopes, a wrong length prefix, bad base64, an
//! unknown method, an oversized message, bad protocol headers.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::Engine as _;
use bytes::{Buf, Bytes};
use http::HeaderMap;
use prost::Message as _;
use protogate_tests::pb::{Echo, StreamRequest};
use protogate_tests::{
    Server, assert_echo_serves, echo_stack, echo_upstream_tcp, gateway, pool, serve_tcp,
};

/// A whole answer: status, headers, body and (HTTP/2 only) trailers.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
    trailers: Option<HeaderMap>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The HTTP versions a request goes over.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Version {
    H1,
    H2,
}

/// How long any answer may take: past that, the proxy hung.
const IN_TIME: Duration = Duration::from_secs(10);

/// Sends one request and reads the whole answer, failing on a hang or a broken connection.
async fn request(
    proxy: &Server,
    version: Version,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    let what = format!("{method} {target} over {version:?} with {headers:?}");
    let answer = match version {
        Version::H1 => {
            tokio::time::timeout(IN_TIME, h1(proxy, method, target, headers, body)).await
        }
        Version::H2 => {
            tokio::time::timeout(IN_TIME, h2(proxy, method, target, headers, body)).await
        }
    };
    answer
        .unwrap_or_else(|_| panic!("{what}: no answer within {IN_TIME:?}"))
        .unwrap_or_else(|e| panic!("{what}: the connection broke: {e}"))
}

async fn h1(
    proxy: &Server,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Answer, String> {
    let mut request = protogate_tests::http1()
        .request(method.parse().unwrap(), format!("{}{target}", proxy.url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let reply = request.body(body).send().await.map_err(|e| e.to_string())?;
    let status = reply.status().as_u16();
    let headers = reply.headers().clone();
    let body = reply.bytes().await.map_err(|e| e.to_string())?;
    Ok(Answer {
        status,
        headers,
        body,
        trailers: None,
    })
}

async fn h2(
    proxy: &Server,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Answer, String> {
    let addr = proxy.url().trim_start_matches("http://").to_string();
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| e.to_string())?;
    let (client, connection) = h2::client::handshake(tcp)
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let mut client = client.ready().await.map_err(|e| e.to_string())?;
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{target}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let (response, mut stream) = client
        .send_request(builder.body(()).unwrap(), body.is_empty())
        .map_err(|e| e.to_string())?;
    if !body.is_empty() {
        stream.reserve_capacity(body.len());
        stream
            .send_data(Bytes::from(body), true)
            .map_err(|e| e.to_string())?;
    }
    let response = response.await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = response.into_body();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.map_err(|e| e.to_string())?;
    drop(client);
    driver.abort();
    Ok(Answer {
        status,
        headers,
        body: Bytes::from(data),
        trailers,
    })
}

/// A length-prefixed message: the flags byte, the length (big-endian), the payload.
fn envelope(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![flags];
    frame.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An `Echo` encoded.
fn echo_bytes(id: &str) -> Vec<u8> {
    Echo {
        id: id.to_string(),
        ..Echo::default()
    }
    .encode_to_vec()
}

/// A frame whose length prefix says 100 bytes and 10 follow.
fn short_frame() -> Vec<u8> {
    let mut frame = vec![0, 0, 0, 0, 100];
    frame.extend_from_slice(&[0x0a, 8, b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h']);
    frame
}

/// A frame whose length prefix claims 2 GiB, with a few bytes after it.
fn huge_prefix() -> Vec<u8> {
    let mut frame = vec![0, 0x7f, 0xff, 0xff, 0xff];
    frame.extend_from_slice(b"abc");
    frame
}

/// The gRPC codes, by name, for messages.
const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Codes a malformed request may fairly get: the request is wrong (INVALID_ARGUMENT) or,
/// as gRPC's own servers say of a message they cannot decode, INTERNAL.
const MALFORMED: &[u32] = &[3, 13];
const UNIMPLEMENTED: &[u32] = &[12];
const RESOURCE_EXHAUSTED: &[u32] = &[8];
/// A message over the upstream's limit, which the proxy passes undecoded: gRPC says
/// RESOURCE_EXHAUSTED, tonic (the echo upstream) OUT_OF_RANGE, and the proxy relays it.
const UPSTREAM_LIMIT: &[u32] = &[8, 11];
/// A whole body shorter than its length prefix claims (2 GiB): a wrong prefix, or a message
/// over the limit.
const HUGE_CLAIM: &[u32] = &[3, 8];

/// A failed check, for the table each test prints.
struct Checks {
    protocol: &'static str,
    results: Vec<(String, Result<String, String>)>,
}

impl Checks {
    fn new(protocol: &'static str) -> Checks {
        Checks {
            protocol,
            results: Vec::new(),
        }
    }

    fn record(&mut self, name: String, result: Result<String, String>) {
        self.results.push((name, result));
    }

    fn finish(self) {
        let mut failed = Vec::new();
        for (name, result) in &self.results {
            match result {
                Ok(seen) => println!("ok    {}: {name}: {seen}", self.protocol),
                Err(e) => {
                    println!("FAIL  {}: {name}: {e}", self.protocol);
                    failed.push(format!("  {name}: {e}"));
                }
            }
        }
        println!(
            "{}: {} passed, {} failed",
            self.protocol,
            self.results.len() - failed.len(),
            failed.len()
        );
        assert!(
            failed.is_empty(),
            "{}: {} of {} bad inputs were not answered in the protocol's error form:\n{}",
            self.protocol,
            failed.len(),
            self.results.len(),
            failed.join("\n")
        );
    }
}

/// The status of a gRPC answer: HTTP 200, `application/grpc`, and `grpc-status` in the
/// trailers (or, trailers-only, in the headers) with one of `codes`.
fn grpc_status(answer: &Answer, codes: &[u32]) -> Result<String, String> {
    if answer.status != 200 {
        return Err(format!(
            "HTTP {} (gRPC answers 200): {answer:?}",
            answer.status
        ));
    }
    let content_type = answer.header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/grpc") {
        return Err(format!("content-type {content_type:?}: {answer:?}"));
    }
    let from = |map: &HeaderMap| {
        map.get("grpc-status")
            .map(|v| (v.to_str().unwrap_or("?").to_string(), map.clone()))
    };
    let (status, map) = from(&answer.headers)
        .or_else(|| answer.trailers.as_ref().and_then(from))
        .ok_or_else(|| format!("no grpc-status in the headers or trailers: {answer:?}"))?;
    let message = map
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    expect_code(&status, &message, codes)
}

/// A `grpc-message` percent-decoded, as gRPC sends it.
fn percent_decoded(message: &str) -> String {
    let bytes = message.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn expect_code(status: &str, message: &str, codes: &[u32]) -> Result<String, String> {
    let message = percent_decoded(message);
    let code: u32 = status
        .trim()
        .parse()
        .map_err(|_| format!("grpc-status {status:?} is not a number"))?;
    let name = CODES.get(code as usize).copied().unwrap_or("?");
    if codes.contains(&code) {
        Ok(format!("{name} {message:?}"))
    } else {
        let wanted: Vec<_> = codes.iter().map(|c| CODES[*c as usize]).collect();
        Err(format!("{name} {message:?}, expected {wanted:?}"))
    }
}

/// Decodes a `grpc-web-text` body: base64 chunks, each possibly padded, one after another.
fn decode_text(body: &[u8]) -> Result<Vec<u8>, String> {
    let text: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let mut out = Vec::new();
    for chunk in text.chunks(4) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(chunk)
            .map_err(|e| {
                format!(
                    "the body is not base64 ({e}): {:?}",
                    String::from_utf8_lossy(body)
                )
            })?;
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// The status of a gRPC-Web answer: HTTP 200 with `grpc-status` in the headers (trailers-only)
/// or in the trailer frame (flag 0x80) that ends the body, with one of `codes`.
fn grpc_web_status(answer: &Answer, text: bool, codes: &[u32]) -> Result<String, String> {
    if answer.status != 200 {
        return Err(format!(
            "HTTP {} (gRPC-Web answers 200): {answer:?}",
            answer.status
        ));
    }
    let content_type = answer.header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/grpc-web") {
        return Err(format!("content-type {content_type:?}: {answer:?}"));
    }
    if let Some(status) = answer.header("grpc-status") {
        let message = answer.header("grpc-message").unwrap_or_default();
        return expect_code(status, message, codes);
    }
    let body = if text {
        decode_text(&answer.body)?
    } else {
        answer.body.to_vec()
    };
    let mut rest = &body[..];
    while rest.len() >= 5 {
        let flags = rest[0];
        let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        rest.advance(5);
        if rest.len() < len {
            return Err(format!("a frame of {len} bytes is cut short: {body:?}"));
        }
        let payload = &rest[..len];
        rest.advance(len);
        if flags & 0x80 != 0 {
            let trailers = String::from_utf8_lossy(payload).to_string();
            let field = |name: &str| {
                trailers.split("\r\n").find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| value.trim().to_string())
                })
            };
            let status = field("grpc-status")
                .ok_or_else(|| format!("no grpc-status in the trailer frame {trailers:?}"))?;
            if !rest.is_empty() {
                return Err(format!("bytes after the trailer frame: {rest:?}"));
            }
            return expect_code(&status, &field("grpc-message").unwrap_or_default(), codes);
        }
    }
    Err(format!(
        "no grpc-status in the headers and no trailer frame in the body: {answer:?}"
    ))
}

/// A Connect error: `application/json` with `{"code": "<code>", "message": ...}` and the
/// HTTP status Connect gives the code.
fn connect_error(answer: &Answer, codes: &[&str]) -> Result<String, String> {
    connect_error_or(answer, codes, None)
}

/// [`connect_error`], allowing `status` too: the 404 of a path that names no method.
fn connect_error_or(
    answer: &Answer,
    codes: &[&str],
    status: Option<u16>,
) -> Result<String, String> {
    let content_type = answer.header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return Err(format!("content-type {content_type:?}: {answer:?}"));
    }
    let json: serde_json::Value = serde_json::from_slice(&answer.body)
        .map_err(|e| format!("the body is not JSON ({e}): {answer:?}"))?;
    let code = json["code"].as_str().unwrap_or_default();
    if !codes.contains(&code) {
        return Err(format!("code {code:?}, expected {codes:?}: {json}"));
    }
    let expected_status = connect_http_status(code);
    if answer.status != expected_status && Some(answer.status) != status {
        return Err(format!(
            "HTTP {} for {code:?}, Connect says {expected_status}: {json}",
            answer.status
        ));
    }
    Ok(format!("HTTP {} {json}", answer.status))
}

/// The HTTP status of a Connect error code (connectrpc.com/docs/protocol, "Error Codes").
fn connect_http_status(code: &str) -> u16 {
    match code {
        "canceled" => 499,
        "invalid_argument" | "failed_precondition" | "out_of_range" => 400,
        "deadline_exceeded" => 504,
        "not_found" => 404,
        "already_exists" | "aborted" => 409,
        "permission_denied" => 403,
        "resource_exhausted" => 429,
        "unimplemented" => 501,
        "unavailable" => 503,
        "unauthenticated" => 401,
        _ => 500,
    }
}

/// The end of a Connect stream: HTTP 200, and a last envelope flagged 0x02 whose JSON has
/// `{"error": {"code": ...}}` with one of `codes`.
fn connect_end_of_stream(answer: &Answer, codes: &[&str]) -> Result<String, String> {
    if answer.status != 200 {
        return Err(format!(
            "HTTP {} (a Connect stream answers 200): {answer:?}",
            answer.status
        ));
    }
    let content_type = answer.header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/connect+") {
        return Err(format!("content-type {content_type:?}: {answer:?}"));
    }
    let mut rest = &answer.body[..];
    while rest.len() >= 5 {
        let flags = rest[0];
        let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        rest.advance(5);
        if rest.len() < len {
            return Err(format!(
                "an envelope of {len} bytes is cut short: {answer:?}"
            ));
        }
        let payload = &rest[..len];
        rest.advance(len);
        if flags & 0x02 != 0 {
            if !rest.is_empty() {
                return Err(format!("bytes after the end-of-stream message: {rest:?}"));
            }
            let json: serde_json::Value = serde_json::from_slice(payload)
                .map_err(|e| format!("end-of-stream message not JSON ({e}): {payload:?}"))?;
            let code = json["error"]["code"].as_str().unwrap_or_default();
            return if codes.contains(&code) {
                Ok(json.to_string())
            } else {
                Err(format!("code {code:?}, expected {codes:?}: {json}"))
            };
        }
    }
    Err(format!("no end-of-stream message: {answer:?}"))
}

/// What a malformed Connect message may fairly get, as for gRPC: the request is wrong, or the
/// upstream could not decode it.
const CONNECT_MALFORMED: &[&str] = &["invalid_argument", "internal"];

const VERSIONS: [Version; 2] = [Version::H1, Version::H2];

/// A proxy in front of the echo upstream that takes request messages of at most 64 KiB.
async fn small_limit_stack() -> (Server, Server) {
    let upstream = echo_upstream_tcp().await;
    let mut options = gateway::options();
    options.max_body_bytes = 64 * 1024;
    let proxy = serve_tcp(gateway::router_with_options(
        pool(&upstream.address),
        options,
    ))
    .await;
    (proxy, upstream)
}

/// A bad gRPC request: what it is, its path, body and extra headers, and the codes it may get.
type GrpcCase = (
    &'static str,
    &'static str,
    Vec<u8>,
    &'static [u32],
    &'static [(&'static str, &'static str)],
);

/// A bad Connect unary request: what it is, its method, target, headers and body, and the
/// codes it may get.
type ConnectCase = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<u8>,
    &'static [&'static str],
);

const GET: &str = "/echo.v1.EchoService/Get";
const STREAM: &str = "/echo.v1.EchoService/Stream";
const UNKNOWN: &str = "/unknown.v1.Nowhere/Call";

#[tokio::test]
async fn grpc_bad_input_gets_a_grpc_status() {
    let (proxy, _upstream) = echo_stack().await;
    let grpc = [("content-type", "application/grpc"), ("te", "trailers")];
    let mut checks = Checks::new("gRPC");
    let cases: Vec<GrpcCase> = vec![
        (
            "a well-formed call (control)",
            GET,
            envelope(0, &echo_bytes("ok")),
            &[0],
            &[],
        ),
        (
            "unknown method",
            UNKNOWN,
            envelope(0, &[]),
            UNIMPLEMENTED,
            &[],
        ),
        (
            "truncated envelope (3 bytes)",
            GET,
            vec![0, 0, 0],
            MALFORMED,
            &[],
        ),
        (
            "wrong length prefix (says 100, 10 follow)",
            GET,
            short_frame(),
            MALFORMED,
            &[],
        ),
        (
            "message bytes that are not protobuf",
            GET,
            envelope(0, &[0xff; 7]),
            MALFORMED,
            &[],
        ),
        (
            "length prefix of 2 GiB",
            GET,
            huge_prefix(),
            UPSTREAM_LIMIT,
            &[],
        ),
        (
            "compressed flag without grpc-encoding",
            GET,
            envelope(1, &echo_bytes("x")),
            MALFORMED,
            &[],
        ),
        (
            "unknown grpc-encoding",
            GET,
            envelope(1, &echo_bytes("x")),
            UNIMPLEMENTED,
            &[("grpc-encoding", "snappy-nonsense")],
        ),
        (
            "bad grpc-timeout",
            GET,
            envelope(0, &echo_bytes("x")),
            &[3],
            &[("grpc-timeout", "soon")],
        ),
    ];
    for (name, path, body, codes, extra) in cases {
        let headers: Vec<_> = grpc.iter().chain(extra).copied().collect();
        let answer = request(&proxy, Version::H2, "POST", path, &headers, body).await;
        checks.record(format!("{name} (h2)"), grpc_status(&answer, codes));
    }
    // A message over the upstream's 4 MiB limit, sent whole.
    let big = Echo {
        data: vec![7; 5 << 20],
        ..Echo::default()
    };
    let answer = request(
        &proxy,
        Version::H2,
        "POST",
        GET,
        &grpc,
        envelope(0, &big.encode_to_vec()),
    )
    .await;
    checks.record(
        "5 MiB message (h2)".to_string(),
        grpc_status(&answer, UPSTREAM_LIMIT),
    );
    assert_echo_serves(&proxy).await;
    checks.finish();
}

#[tokio::test]
async fn grpc_web_bad_input_gets_a_grpc_web_status() {
    let (proxy, _upstream) = small_limit_stack().await;
    let mut checks = Checks::new("gRPC-Web");
    let b64 = |bytes: &[u8]| {
        base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into_bytes()
    };
    for version in VERSIONS {
        for (content_type, text) in [
            ("application/grpc-web+proto", false),
            ("application/grpc-web", false),
            ("application/grpc-web-text", true),
        ] {
            let encode = |bytes: Vec<u8>| if text { b64(&bytes) } else { bytes };
            let cases: Vec<(&str, &str, Vec<u8>, &[u32])> = vec![
                (
                    "a well-formed call (control)",
                    GET,
                    encode(envelope(0, &echo_bytes("ok"))),
                    &[0],
                ),
                (
                    "unknown method",
                    UNKNOWN,
                    encode(envelope(0, &[])),
                    UNIMPLEMENTED,
                ),
                (
                    "truncated envelope (3 bytes)",
                    GET,
                    encode(vec![0, 0, 0]),
                    MALFORMED,
                ),
                (
                    "wrong length prefix (says 100, 10 follow)",
                    GET,
                    encode(short_frame()),
                    MALFORMED,
                ),
                (
                    "message bytes that are not protobuf",
                    GET,
                    encode(envelope(0, &[0xff; 7])),
                    MALFORMED,
                ),
                (
                    "length prefix of 2 GiB",
                    GET,
                    encode(huge_prefix()),
                    HUGE_CLAIM,
                ),
                (
                    "a message over the proxy's 64 KiB limit",
                    GET,
                    encode(envelope(
                        0,
                        &Echo {
                            data: vec![1; 100_000],
                            ..Echo::default()
                        }
                        .encode_to_vec(),
                    )),
                    RESOURCE_EXHAUSTED,
                ),
                (
                    "two messages for a unary method",
                    GET,
                    encode([envelope(0, &echo_bytes("a")), envelope(0, &echo_bytes("b"))].concat()),
                    MALFORMED,
                ),
                (
                    "server streaming, truncated envelope",
                    STREAM,
                    encode(vec![0, 0]),
                    MALFORMED,
                ),
            ];
            let mut cases = cases;
            if text {
                cases.push(("bad base64", GET, b"AAAA!!!not*base64".to_vec(), MALFORMED));
                cases.push(("base64 cut mid-quantum", GET, b"AAAAAA".to_vec(), MALFORMED));
            }
            for (name, path, body, codes) in cases {
                let headers = [("content-type", content_type), ("x-grpc-web", "1")];
                let answer = request(&proxy, version, "POST", path, &headers, body).await;
                checks.record(
                    format!("{content_type}, {name} ({version:?})"),
                    grpc_web_status(&answer, text, codes),
                );
            }
        }
    }
    assert_echo_serves(&proxy).await;
    checks.finish();
}

#[tokio::test]
async fn connect_unary_bad_input_gets_connect_error_json() {
    let (proxy, _upstream) = small_limit_stack().await;
    let mut checks = Checks::new("Connect unary");
    let proto = [
        ("content-type", "application/proto"),
        ("connect-protocol-version", "1"),
    ];
    let json = [
        ("content-type", "application/json"),
        ("connect-protocol-version", "1"),
    ];
    let big = Echo {
        data: vec![1; 100_000],
        ..Echo::default()
    }
    .encode_to_vec();
    for version in VERSIONS {
        let cases: Vec<ConnectCase> = vec![
            (
                "unknown method",
                "POST",
                UNKNOWN,
                proto.to_vec(),
                vec![],
                &["unimplemented"],
            ),
            (
                "unknown method, JSON",
                "POST",
                UNKNOWN,
                json.to_vec(),
                b"{}".to_vec(),
                &["unimplemented"],
            ),
            (
                "bytes that are not protobuf",
                "POST",
                GET,
                proto.to_vec(),
                vec![0xff; 7],
                CONNECT_MALFORMED,
            ),
            (
                "malformed JSON",
                "POST",
                GET,
                json.to_vec(),
                b"{\"id\": ".to_vec(),
                &["invalid_argument"],
            ),
            (
                "JSON of the wrong shape",
                "POST",
                GET,
                json.to_vec(),
                b"[1, 2]".to_vec(),
                &["invalid_argument"],
            ),
            (
                "a message over the proxy's 64 KiB limit",
                "POST",
                GET,
                proto.to_vec(),
                big.clone(),
                &["resource_exhausted"],
            ),
            (
                "bad Connect-Timeout-Ms",
                "POST",
                GET,
                [proto.as_slice(), &[("connect-timeout-ms", "soon")]].concat(),
                echo_bytes("x"),
                &["invalid_argument"],
            ),
            (
                "Connect-Timeout-Ms of more than 10 digits",
                "POST",
                GET,
                [proto.as_slice(), &[("connect-timeout-ms", "12345678901")]].concat(),
                echo_bytes("x"),
                &["invalid_argument"],
            ),
            (
                "unsupported Connect-Protocol-Version",
                "POST",
                GET,
                vec![
                    ("content-type", "application/proto"),
                    ("connect-protocol-version", "2"),
                ],
                echo_bytes("x"),
                &["invalid_argument"],
            ),
            (
                "gzip Content-Encoding on bytes that are not gzip",
                "POST",
                GET,
                [proto.as_slice(), &[("content-encoding", "gzip")]].concat(),
                echo_bytes("x"),
                CONNECT_MALFORMED,
            ),
            (
                "unsupported Content-Encoding",
                "POST",
                GET,
                [proto.as_slice(), &[("content-encoding", "snappy-nonsense")]].concat(),
                echo_bytes("x"),
                &["unimplemented"],
            ),
            (
                "GET with a message that is not base64",
                "GET",
                "/echo.v1.EchoService/Get?connect=v1&encoding=proto&base64=1&message=%21%21%21",
                vec![],
                vec![],
                &["invalid_argument"],
            ),
            (
                "GET with malformed JSON",
                "GET",
                "/echo.v1.EchoService/Get?connect=v1&encoding=json&message=%7B%22id",
                vec![],
                vec![],
                &["invalid_argument"],
            ),
            (
                "GET with an unknown compression",
                "GET",
                "/echo.v1.EchoService/Get?connect=v1&encoding=proto&base64=1&compression=snappy-nonsense&message=CgF4",
                vec![],
                vec![],
                &["unimplemented"],
            ),
            (
                "GET with gzip compression of bytes that are not gzip",
                "GET",
                "/echo.v1.EchoService/Get?connect=v1&encoding=proto&base64=1&compression=gzip&message=CgF4",
                vec![],
                vec![],
                CONNECT_MALFORMED,
            ),
            (
                "GET of an unknown method",
                "GET",
                "/unknown.v1.Nowhere/Call?connect=v1&encoding=proto&message=",
                vec![],
                vec![],
                &["unimplemented"],
            ),
        ];
        for (name, method, target, headers, body, codes) in cases {
            let answer = request(&proxy, version, method, target, &headers, body).await;
            checks.record(
                format!("{name} ({version:?})"),
                connect_error(&answer, codes),
            );
        }
    }
    assert_echo_serves(&proxy).await;
    checks.finish();
}

#[tokio::test]
async fn connect_stream_bad_input_gets_an_end_of_stream_error() {
    let (proxy, _upstream) = small_limit_stack().await;
    let mut checks = Checks::new("Connect streaming");
    let request_message = StreamRequest {
        id: "bad".to_string(),
        count: 1,
        ..StreamRequest::default()
    }
    .encode_to_vec();
    let big = StreamRequest {
        id: "x".repeat(100_000),
        ..StreamRequest::default()
    }
    .encode_to_vec();
    for version in VERSIONS {
        let headers = [
            ("content-type", "application/connect+proto"),
            ("connect-protocol-version", "1"),
        ];
        let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
            (
                "truncated envelope (3 bytes)",
                vec![0, 0, 0],
                CONNECT_MALFORMED,
            ),
            (
                "wrong length prefix (says 100, 10 follow)",
                short_frame(),
                CONNECT_MALFORMED,
            ),
            (
                "message bytes that are not protobuf",
                envelope(0, &[0xff; 7]),
                CONNECT_MALFORMED,
            ),
            (
                "length prefix of 2 GiB",
                huge_prefix(),
                &["resource_exhausted", "invalid_argument"],
            ),
            (
                "a message over the proxy's 64 KiB limit",
                envelope(0, &big),
                &["resource_exhausted"],
            ),
            (
                "compressed flag without Connect-Content-Encoding",
                envelope(1, &request_message),
                CONNECT_MALFORMED,
            ),
        ];
        for (name, body, codes) in cases {
            let answer = request(&proxy, version, "POST", STREAM, &headers, body).await;
            checks.record(
                format!("{name} ({version:?})"),
                connect_end_of_stream(&answer, codes),
            );
        }
        let json_headers = [
            ("content-type", "application/connect+json"),
            ("connect-protocol-version", "1"),
        ];
        let answer = request(
            &proxy,
            version,
            "POST",
            STREAM,
            &json_headers,
            envelope(0, b"{\"id\": "),
        )
        .await;
        checks.record(
            format!("malformed JSON message ({version:?})"),
            connect_end_of_stream(&answer, &["invalid_argument"]),
        );
        // An unknown method: Connect's end of stream, or the 404 that Connect clients read as
        // UNIMPLEMENTED.
        let answer = request(
            &proxy,
            version,
            "POST",
            "/unknown.v1.Nowhere/Stream",
            &headers,
            envelope(0, &[]),
        )
        .await;
        let result = if answer.status == 200 {
            connect_end_of_stream(&answer, &["unimplemented"])
        } else if answer.status == 404 {
            Ok("HTTP 404".to_string())
        } else {
            Err(format!("HTTP {}: {answer:?}", answer.status))
        };
        checks.record(format!("unknown method ({version:?})"), result);
    }
    assert_echo_serves(&proxy).await;
    checks.finish();
}

/// Reads one HTTP/1.1 answer from `tcp`: its head and `content-length` bytes.
async fn h1_answer(tcp: &mut tokio::net::TcpStream) -> Result<String, String> {
    use tokio::io::AsyncReadExt as _;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(IN_TIME, tcp.read(&mut buf))
            .await
            .map_err(|_| format!("no complete answer within {IN_TIME:?}: {answer:?}"))?
            .map_err(|e| {
                format!(
                    "reading the answer: {e} (read so far: {:?})",
                    String::from_utf8_lossy(&answer)
                )
            })?;
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                return Ok(text);
            }
        }
        if n == 0 {
            return Err(format!("the connection ended mid-answer: {text:?}"));
        }
    }
}

/// An answer the proxy gives before it has read the request (an unknown method) must not cut
/// off an HTTP/1.1 client whose body comes after its headers, as connect-node's come: the
/// client writes its body, reads the answer, and the connection goes on (or the answer said
/// `connection: close`). Otherwise connect-node's gRPC-Web transport, calling an unknown
/// method, fails with `write EPIPE` instead of reading UNIMPLEMENTED.
#[tokio::test]
async fn an_early_answer_over_http1_lets_the_client_finish_its_request() {
    use tokio::io::AsyncWriteExt as _;
    let (proxy, _upstream) = echo_stack().await;
    let host = proxy.url().trim_start_matches("http://").to_string();
    let mut checks = Checks::new("HTTP/1.1 early answer");
    let frame = envelope(0, &[]);
    for (content_type, expected) in [
        ("application/grpc-web+proto", "grpc-status: 12"),
        ("application/proto", "\"code\":\"unimplemented\""),
    ] {
        for chunked in [false, true] {
            let (framing, body) = if chunked {
                let mut body = format!("{:x}\r\n", frame.len()).into_bytes();
                body.extend_from_slice(&frame);
                body.extend_from_slice(b"\r\n0\r\n\r\n");
                ("transfer-encoding: chunked".to_string(), body)
            } else {
                (format!("content-length: {}", frame.len()), frame.clone())
            };
            let head = format!(
                "POST {UNKNOWN} HTTP/1.1\r\nhost: {host}\r\ncontent-type: {content_type}\r\n\
                 connect-protocol-version: 1\r\n{framing}\r\n\r\n"
            );
            let result = async {
                let mut tcp = tokio::net::TcpStream::connect(&host)
                    .await
                    .map_err(|e| e.to_string())?;
                tcp.write_all(head.as_bytes())
                    .await
                    .map_err(|e| format!("writing the head: {e}"))?;
                tokio::time::sleep(Duration::from_millis(200)).await;
                tcp.write_all(&body)
                    .await
                    .map_err(|e| format!("writing the body: {e}"))?;
                let answer = h1_answer(&mut tcp).await?;
                if !answer.to_ascii_lowercase().contains(expected) {
                    return Err(format!("no {expected:?} in {answer:?}"));
                }
                if answer.to_ascii_lowercase().contains("connection: close") {
                    return Ok("answered, then `connection: close`".to_string());
                }
                // The connection goes on: a second call on it is answered.
                let second = format!(
                    "POST {GET} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/grpc-web+proto\r\n\
                     content-length: {}\r\n\r\n",
                    envelope(0, &echo_bytes("again")).len()
                );
                let mut request = second.into_bytes();
                request.extend_from_slice(&envelope(0, &echo_bytes("again")));
                tcp.write_all(&request)
                    .await
                    .map_err(|e| format!("the proxy closed the connection after its answer, without `connection: close` ({answer:?}); writing a second request: {e}"))?;
                let again = h1_answer(&mut tcp).await.map_err(|e| {
                    format!("the proxy closed the connection after its answer, without `connection: close` ({answer:?}); the second request got: {e}")
                })?;
                if again.contains("grpc-status: 0") || again.contains("grpc-status:0") {
                    Ok("answered, and the connection served a second call".to_string())
                } else {
                    Ok(format!("answered; the second call got {again:?}"))
                }
            }
            .await;
            checks.record(
                format!("{content_type}, {framing}, body 200 ms after the head"),
                result,
            );
        }
    }
    checks.finish();
}
