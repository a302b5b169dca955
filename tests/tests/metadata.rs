//! Headers ⇄ gRPC metadata and deadlines (DESIGN §3.7), seen from both sides: what the echo
//! upstream received (its `Headers` RPC answers with every metadata entry) and what the HTTP
//! client got back — headers, HTTP trailers over HTTP/1.1 (chunked) and h2c, status and body.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Version};
use http_body_util::BodyExt as _;
use protogate_tests::*;
use serde_json::Value;

/// A reply read with hyper: status, headers, body and the HTTP trailers, if any.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: HeaderMap,
    body: String,
    json: Value,
    trailers: Option<HeaderMap>,
}

impl Raw {
    /// The values of a response header, in order.
    fn header(&self, name: &str) -> Vec<String> {
        values(&self.headers, name)
    }

    /// The values of an HTTP trailer, in order.
    fn trailer(&self, name: &str) -> Vec<String> {
        self.trailers
            .as_ref()
            .map(|t| values(t, name))
            .unwrap_or_default()
    }

    /// The metadata the upstream received, as `(key, value)` (binary values base64-encoded).
    fn received(&self) -> Vec<(String, String)> {
        assert_eq!(self.status, 200, "{self:?}");
        self.json["received"]
            .as_array()
            .unwrap_or_else(|| panic!("no `received` in {self:?}"))
            .iter()
            .map(|e| {
                (
                    e["key"].as_str().unwrap_or_default().to_string(),
                    e["value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The values the upstream received for `key`, in order.
    fn received_values(&self, key: &str) -> Vec<String> {
        self.received()
            .into_iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v)
            .collect()
    }

    /// Response header names starting with `prefix`.
    fn headers_starting(&self, prefix: &str) -> Vec<String> {
        self.headers
            .keys()
            .map(|k| k.as_str().to_string())
            .filter(|k| k.starts_with(prefix))
            .collect()
    }

    fn assert_error(&self, status: u16, code: i64, needle: &str) {
        assert_eq!(self.status, status, "status of {self:?}");
        assert_eq!(
            self.header("content-type"),
            ["application/json"],
            "{self:?}"
        );
        assert_eq!(self.json["code"], code, "code in {self:?}");
        let message = self.json["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(needle),
            "message {message:?} should contain {needle:?}"
        );
        assert!(self.json["details"].is_array(), "details in {self:?}");
    }
}

fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// Sends one request over a fresh HTTP/1.1 or h2c (prior knowledge) connection, with the
/// headers exactly as given (values as raw bytes), and reads the whole reply with its trailers.
async fn raw(
    server: &Server,
    version: Version,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Raw {
    let Address::Tcp(addr) = &server.address else {
        panic!("raw needs a TCP server");
    };
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect proxy");
    let io = hyper_util::rt::TokioIo::new(stream);
    let mut request = http::Request::builder().method(method);
    for (name, value) in headers {
        request = request.header(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_bytes(value.as_bytes()).expect("header value"),
        );
    }
    let response = if version == Version::HTTP_2 {
        let request = request
            .uri(format!("http://{addr}{target}"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request");
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .expect("h2c handshake");
        tokio::spawn(conn);
        sender.send_request(request).await.expect("send")
    } else {
        let request = request
            .uri(target)
            .header("host", addr.to_string())
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("handshake");
        tokio::spawn(conn);
        sender.send_request(request).await.expect("send")
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let collected = response.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned();
    let body = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
    let json = serde_json::from_str(&body).unwrap_or(Value::Null);
    Raw {
        status,
        headers,
        body,
        json,
        trailers,
    }
}

const BOTH: [Version; 2] = [Version::HTTP_11, Version::HTTP_2];

/// Percent-encodes a query string component.
fn enc(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `/v1/headers` asking the upstream for these reply headers and trailers (newline-separated
/// values are several values) and, when not 0, to fail with `fail_code`.
fn headers_path(
    reply_headers: &[(&str, &str)],
    reply_trailers: &[(&str, &str)],
    fail_code: i32,
) -> String {
    let mut query = Vec::new();
    for (k, v) in reply_headers {
        query.push(format!(
            "{}={}",
            enc(&format!("reply_headers[{k}]")),
            enc(v)
        ));
    }
    for (k, v) in reply_trailers {
        query.push(format!(
            "{}={}",
            enc(&format!("reply_trailers[{k}]")),
            enc(v)
        ));
    }
    if fail_code != 0 {
        query.push(format!("fail_code={fail_code}"));
    }
    format!("/v1/headers?{}", query.join("&"))
}

/// The echo proxy with `options` over the echo upstream on TCP.
async fn stack_with(options: impl FnOnce(&mut gateway::Options)) -> (Server, Server) {
    let upstream = echo_upstream_tcp().await;
    let mut o = gateway::options();
    options(&mut o);
    let proxy = serve_tcp(gateway::router_with_options(pool(&upstream.address), o)).await;
    (proxy, upstream)
}

/// Asserts the proxy still serves the `Headers` RPC and a plain GET.
async fn assert_serves(proxy: &Server) {
    assert_echo_serves(proxy).await;
    let reply = raw(
        proxy,
        Version::HTTP_11,
        "GET",
        "/v1/headers",
        &[("x-after", "ok")],
    )
    .await;
    assert_eq!(reply.received_values("x-after"), ["ok"], "{reply:?}");
}

/// Log lines recorded on this thread while a [`Logs`] guard lives. `#[tokio::test]` runs the
/// test, the proxy and the upstream on one thread, so this sees the proxy's request path.
struct Logs {
    lines: Arc<Mutex<Vec<String>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Logs {
    fn capture() -> Logs {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let guard = tracing::subscriber::set_default(Capture(lines.clone()));
        Logs {
            lines,
            _guard: guard,
        }
    }

    fn contains(&self, needle: &str) -> bool {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|l| l.contains(needle))
    }

    fn assert_line(&self, parts: &[&str]) {
        let lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert!(
            lines.iter().any(|l| parts.iter().all(|p| l.contains(p))),
            "no log line with {parts:?} in {lines:#?}"
        );
    }
}

/// A subscriber that records every event as `level field=value …`.
struct Capture(Arc<Mutex<Vec<String>>>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                let _ = write!(self.0, " {}={value:?}", field.name());
            }
        }
        let mut fields = Fields(event.metadata().level().to_string());
        event.record(&mut fields);
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

// ---------------------------------------------------------------------------------------------
// In: request headers → metadata

#[tokio::test]
async fn request_headers_are_forwarded_under_their_own_names() {
    let (proxy, _upstream) = echo_stack().await;
    for version in BOTH {
        let reply = raw(
            &proxy,
            version,
            "GET",
            "/v1/headers",
            &[
                ("authorization", "Bearer secret-token"),
                ("cookie", "session=abc; theme=dark"),
                ("x-request-id", "req-42"),
                (
                    "traceparent",
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                ),
                ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
                ("x-custom", "Some Value"),
                ("accept-language", "de-CH"),
            ],
        )
        .await;
        for (key, value) in [
            ("authorization", "Bearer secret-token"),
            ("cookie", "session=abc; theme=dark"),
            ("x-request-id", "req-42"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
            ("x-custom", "Some Value"),
            ("accept-language", "de-CH"),
        ] {
            assert_eq!(
                reply.received_values(key),
                [value],
                "{key} over {version:?}: {reply:?}"
            );
        }
    }
}

#[tokio::test]
async fn multi_valued_headers_keep_every_value_in_order() {
    let (proxy, _upstream) = echo_stack().await;
    for version in BOTH {
        let reply = raw(
            &proxy,
            version,
            "GET",
            "/v1/headers",
            &[
                ("x-multi", "one"),
                ("x-multi", "two"),
                ("grpc-metadata-x-multi", "three"),
                ("cookie", "a=1"),
                ("cookie", "b=2"),
                ("x-data-bin", "AQ=="),
                ("x-data-bin", "Ag"),
            ],
        )
        .await;
        assert_eq!(
            reply.received_values("x-multi"),
            ["one", "two", "three"],
            "{version:?}"
        );
        assert_eq!(
            reply.received_values("cookie"),
            ["a=1", "b=2"],
            "{version:?}"
        );
        assert_eq!(
            reply.received_values("x-data-bin"),
            ["AQ==", "Ag=="],
            "{version:?}"
        );
    }
}

#[tokio::test]
async fn grpc_metadata_prefix_is_stripped() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = raw(
        &proxy,
        Version::HTTP_11,
        "GET",
        "/v1/headers",
        &[
            ("Grpc-Metadata-Tenant", "acme"),
            ("grpc-metadata-x-user-bin", "AAEC/w=="),
        ],
    )
    .await;
    assert_eq!(reply.received_values("tenant"), ["acme"], "{reply:?}");
    assert_eq!(
        reply.received_values("x-user-bin"),
        ["AAEC/w=="],
        "{reply:?}"
    );
    // None of the client's: `grpc-accept-encoding` is the proxy's own, as `te` is.
    assert!(
        !reply
            .received()
            .iter()
            .any(|(k, _)| k.starts_with("grpc-") && k != "grpc-accept-encoding"),
        "{reply:?}"
    );
}

#[tokio::test]
async fn bin_headers_are_base64_decoded() {
    let (proxy, _upstream) = echo_stack().await;
    // Bytes 0, 1, 2, 255 in every accepted spelling: standard or URL-safe, padded or not; a
    // comma separates two values, as gRPC sends them.
    for (sent, expected) in [
        ("AAEC/w==", vec!["AAEC/w=="]),
        ("AAEC/w", vec!["AAEC/w=="]),
        ("AAEC_w", vec!["AAEC/w=="]),
        ("AAEC_w==", vec!["AAEC/w=="]),
        ("AQ==, Ag==", vec!["AQ==", "Ag=="]),
        ("", vec![""]),
    ] {
        let reply = raw(
            &proxy,
            Version::HTTP_11,
            "GET",
            "/v1/headers",
            &[("x-data-bin", sent)],
        )
        .await;
        assert_eq!(
            reply.received_values("x-data-bin"),
            expected,
            "{sent:?}: {reply:?}"
        );
        // The upstream sees binary metadata, not the text.
        let entry = reply.json["received"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["key"] == "x-data-bin");
        assert_eq!(
            entry.map(|e| e["binary"].clone()),
            Some(Value::Bool(true)),
            "{reply:?}"
        );
    }
}

#[tokio::test]
async fn bad_base64_in_a_bin_header_is_400() {
    let (proxy, upstream) = echo_stack().await;
    for version in BOTH {
        for (name, value) in [
            ("x-data-bin", "not base64!"),
            ("x-data-bin", "AAEC/w==, %%"),
            ("grpc-metadata-x-trace-bin", "A"),
            ("x-data-bin", "café"),
        ] {
            let reply = raw(&proxy, version, "GET", "/v1/headers", &[(name, value)]).await;
            reply.assert_error(400, 3, "is not valid base64");
            let message = reply.json["message"].as_str().unwrap_or_default();
            assert!(message.contains(&format!("header `{name}`")), "{message}");
        }
    }
    assert_serves(&proxy).await;
    drop(upstream);
}

#[tokio::test]
async fn hop_by_hop_framing_and_reserved_headers_are_not_forwarded() {
    let (proxy, _upstream) = echo_stack().await;
    let baseline = raw(&proxy, Version::HTTP_11, "GET", "/v1/headers", &[]).await;
    let reply = raw(
        &proxy,
        Version::HTTP_11,
        "GET",
        "/v1/headers",
        &[
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "named by Connection"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic Zm9vOmJhcg=="),
            ("proxy-custom", "1"),
            ("te", "trailers"),
            ("trailer", "x-later"),
            ("content-type", "application/json"),
            ("content-encoding", "identity"),
            ("accept-encoding", "gzip"),
            ("grpc-timeout", "10S"),
            ("grpc-custom", "reserved"),
            ("grpc-metadata-grpc-status", "5"),
            ("grpc-metadata-connection", "close"),
            ("grpc-metadata-content-type", "text/plain"),
            ("grpc-metadata-host", "evil.example"),
            ("grpc-metadata-te", "gzip"),
            ("grpc-metadata-proxy-x", "1"),
            ("grpc-metadata-x-hop", "named by Connection too"),
            ("x-kept", "yes"),
        ],
    )
    .await;
    assert_eq!(reply.received_values("x-kept"), ["yes"], "{reply:?}");
    let received = reply.received();
    for key in [
        "connection",
        "x-hop",
        "keep-alive",
        "proxy-authorization",
        "proxy-custom",
        "proxy-x",
        "trailer",
        "content-encoding",
        "accept-encoding",
        "grpc-custom",
        "host",
    ] {
        assert!(
            !received.iter().any(|(k, _)| k == key),
            "{key} forwarded: {received:?}"
        );
    }
    // The upstream's own gRPC headers are the client library's, never the client's values.
    for key in ["content-type", "te", "grpc-status", "grpc-timeout"] {
        let base: Vec<_> = baseline.received_values(key);
        let got = reply.received_values(key);
        if key == "grpc-timeout" {
            assert!(!got.iter().any(|v| v == "10S"), "{key}: {got:?}");
        } else {
            assert_eq!(
                got, base,
                "{key} was overridden by the client: {received:?}"
            );
        }
    }
}

#[tokio::test]
async fn invalid_metadata_names_and_values_are_skipped_with_a_log_line() {
    let logs = Logs::capture();
    let (proxy, _upstream) = echo_stack().await;
    for version in BOTH {
        let reply = raw(
            &proxy,
            version,
            "GET",
            "/v1/headers",
            &[
                ("x-bad!name", "1"),
                ("x-bad~name", "2"),
                ("grpc-metadata-", "empty key"),
                ("x-utf8", "café"),
                ("x-tab", "a\tb"),
                ("x-good", "kept"),
            ],
        )
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.received_values("x-good"), ["kept"], "{reply:?}");
        for key in ["x-bad!name", "x-bad~name", "", "x-utf8", "x-tab"] {
            assert!(
                reply.received_values(key).is_empty(),
                "{key:?} forwarded: {reply:?}"
            );
        }
    }
    for header in ["x-bad!name", "x-bad~name", "grpc-metadata-"] {
        logs.assert_line(&["DEBUG", header, "not a valid gRPC metadata key"]);
    }
    for header in ["x-utf8", "x-tab"] {
        logs.assert_line(&["DEBUG", header, "not a valid gRPC metadata value"]);
    }
    assert!(!logs.contains("x-good"), "a forwarded header was logged");
    assert_serves(&proxy).await;
}

#[tokio::test]
async fn x_forwarded_for_and_host_are_added() {
    let (proxy, _upstream) = echo_stack().await;
    let Address::Tcp(addr) = &proxy.address else {
        unreachable!()
    };
    for version in BOTH {
        let reply = raw(&proxy, version, "GET", "/v1/headers", &[]).await;
        assert_eq!(
            reply.received_values("x-forwarded-for"),
            ["127.0.0.1"],
            "{version:?}"
        );
        assert_eq!(
            reply.received_values("x-forwarded-host"),
            [addr.to_string()],
            "from Host or the HTTP/2 authority, {version:?}"
        );
        let reply = raw(
            &proxy,
            version,
            "GET",
            "/v1/headers",
            &[
                ("x-forwarded-for", "203.0.113.7"),
                ("x-forwarded-for", "198.51.100.1, 192.0.2.9"),
                ("x-forwarded-host", "spoofed.example"),
            ],
        )
        .await;
        assert_eq!(
            reply.received_values("x-forwarded-for"),
            ["203.0.113.7, 198.51.100.1, 192.0.2.9, 127.0.0.1"],
            "{version:?}"
        );
        assert_eq!(
            reply.received_values("x-forwarded-host"),
            ["spoofed.example"],
            "the client's own, as grpc-gateway keeps it, {version:?}"
        );
    }
}

/// Every request has an id, `x-request-id`: the client's when it sends a usable one, else one
/// the proxy makes. The upstream receives it, and the client gets it back.
#[tokio::test]
async fn every_request_has_an_id_that_reaches_the_upstream_and_comes_back() {
    let (proxy, _upstream) = echo_stack().await;
    for version in BOTH {
        let reply = raw(
            &proxy,
            version,
            "GET",
            "/v1/headers",
            &[("x-request-id", "client-7")],
        )
        .await;
        assert_eq!(
            reply.received_values("x-request-id"),
            ["client-7"],
            "{version:?}"
        );
        assert_eq!(reply.headers["x-request-id"], "client-7", "{version:?}");

        let mut made = Vec::new();
        for headers in [&[][..], &[("x-request-id", "has space")][..]] {
            let reply = raw(&proxy, version, "GET", "/v1/headers", headers).await;
            let id = reply.headers["x-request-id"]
                .to_str()
                .expect("text")
                .to_string();
            assert_eq!(id.len(), 32, "{version:?} {headers:?}: {id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
            assert_eq!(
                reply.received_values("x-request-id"),
                [id.as_str()],
                "{version:?}"
            );
            made.push(id);
        }
        assert_ne!(made[0], made[1], "each request gets its own id");
        // Errors the proxy answers itself carry it too.
        let reply = raw(
            &proxy,
            version,
            "GET",
            "/v1/nowhere",
            &[("x-request-id", "lost-1")],
        )
        .await;
        assert_eq!(reply.status, 404);
        assert_eq!(reply.headers["x-request-id"], "lost-1", "{version:?}");
    }
}

#[tokio::test]
async fn a_dropped_x_forwarded_host_is_replaced_by_the_host() {
    for drop in ["x-forwarded-host", "x-forwarded-*"] {
        let (proxy, _upstream) = stack_with(|o| o.drop_headers = vec![drop.to_string()]).await;
        let Address::Tcp(addr) = &proxy.address else {
            unreachable!()
        };
        for version in BOTH {
            let reply = raw(
                &proxy,
                version,
                "GET",
                "/v1/headers",
                &[
                    ("x-forwarded-host", "spoofed.example"),
                    ("grpc-metadata-x-forwarded-host", "spoofed.too"),
                ],
            )
            .await;
            assert_eq!(
                reply.received_values("x-forwarded-host"),
                [addr.to_string()],
                "{drop}, {version:?}"
            );
        }
    }
}

#[tokio::test]
async fn drop_list_drops_names_however_they_are_spelled() {
    let (proxy, _upstream) = stack_with(|o| {
        o.drop_headers = vec![
            "authorization".to_string(),
            "X-Internal-*".to_string(),
            "x-forwarded-for".to_string(),
            "x-secret-bin".to_string(),
        ];
    })
    .await;
    let reply = raw(
        &proxy,
        Version::HTTP_11,
        "GET",
        "/v1/headers",
        &[
            ("authorization", "Bearer a"),
            ("grpc-metadata-authorization", "Bearer b"),
            ("x-internal-user", "admin"),
            ("grpc-metadata-x-internal-role", "root"),
            ("x-internalx", "not the prefix"),
            ("x-forwarded-for", "203.0.113.7"),
            ("x-secret-bin", "not base64 but dropped first!"),
            ("x-ok", "1"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.received_values("x-ok"), ["1"]);
    assert_eq!(reply.received_values("x-internalx"), ["not the prefix"]);
    for key in [
        "authorization",
        "x-internal-user",
        "x-internal-role",
        "x-secret-bin",
    ] {
        assert!(reply.received_values(key).is_empty(), "{key}: {reply:?}");
    }
    // The client's chain is dropped; the proxy's own entry starts a new one.
    assert_eq!(reply.received_values("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(reply.received_values("x-forwarded-host").len(), 1);
}

#[tokio::test]
async fn allow_list_forwards_only_the_listed_names() {
    let (proxy, _upstream) = stack_with(|o| {
        o.forward_headers = Some(vec![
            "x-ok".to_string(),
            "traceparent".to_string(),
            "x-tenant-*".to_string(),
        ]);
        o.drop_headers = vec!["x-tenant-secret".to_string()];
    })
    .await;
    let reply = raw(
        &proxy,
        Version::HTTP_2,
        "GET",
        "/v1/headers",
        &[
            ("x-ok", "1"),
            (
                "grpc-metadata-traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("x-tenant-id", "t1"),
            ("x-tenant-secret", "both lists: dropped"),
            ("authorization", "Bearer a"),
            ("cookie", "a=1"),
            ("x-forwarded-for", "203.0.113.7"),
            ("x-other-bin", "not base64, not forwarded!"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let mut keys: Vec<String> = reply
        .received()
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| {
            k.starts_with("x-") || ["traceparent", "authorization", "cookie"].contains(&k.as_str())
        })
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "traceparent",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-ok",
            "x-tenant-id"
        ],
        "{reply:?}"
    );
    assert_eq!(reply.received_values("x-forwarded-for"), ["127.0.0.1"]);

    // An empty allow-list forwards none of the client's headers; `*` forwards all.
    for (list, forwarded) in [(vec![], false), (vec!["*".to_string()], true)] {
        let (proxy, _upstream) = stack_with(|o| o.forward_headers = Some(list.clone())).await;
        let reply = raw(
            &proxy,
            Version::HTTP_11,
            "GET",
            "/v1/headers",
            &[("x-ok", "1")],
        )
        .await;
        assert_eq!(
            !reply.received_values("x-ok").is_empty(),
            forwarded,
            "{list:?}: {reply:?}"
        );
        assert_eq!(reply.received_values("x-forwarded-for"), ["127.0.0.1"]);
    }
}

#[test]
fn header_lists_parse_for_the_flags() {
    use gateway::runtime::metadata::header_names;
    assert_eq!(
        header_names(" Authorization, x-internal-*,,X_Y.z ").as_deref(),
        Ok(&[
            "authorization".to_string(),
            "x-internal-*".to_string(),
            "x_y.z".to_string()
        ][..])
    );
    assert_eq!(header_names(""), Ok(vec![]));
    assert_eq!(header_names("*"), Ok(vec!["*".to_string()]));
    for bad in ["x y", "x-*-y", "x!", "grpc-metadata-x", "grpc-*", "é"] {
        let e = header_names(bad).expect_err(bad);
        assert!(e.contains(bad), "{e}");
    }
}

#[test]
fn generation_defaults_are_in_the_generated_options() {
    let o = gateway::options();
    assert_eq!(o.forward_headers, None);
    assert!(o.drop_headers.is_empty());
    assert_eq!(o.default_timeout, None);
}

// ---------------------------------------------------------------------------------------------
// Out: metadata → headers and trailers

#[tokio::test]
async fn header_metadata_comes_back_as_grpc_metadata_headers() {
    let (proxy, _upstream) = echo_stack().await;
    let path = headers_path(
        &[
            ("x-reply", "value"),
            ("x-multi", "a\nb"),
            ("x-blob-bin", "\u{1}\u{2}"),
            ("grpc-custom", "reserved"),
        ],
        &[],
        0,
    );
    for version in BOTH {
        let reply = raw(&proxy, version, "GET", &path, &[]).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.header("grpc-metadata-x-reply"), ["value"]);
        assert_eq!(reply.header("grpc-metadata-x-multi"), ["a", "b"]);
        assert_eq!(
            reply.header("grpc-metadata-x-blob-bin"),
            ["AQI"],
            "base64 as on the wire"
        );
        assert_eq!(reply.header("content-type"), ["application/json"]);
        // Reserved and framing metadata is not echoed.
        let mut echoed = reply.headers_starting("grpc-metadata-");
        echoed.sort();
        assert_eq!(
            echoed,
            [
                "grpc-metadata-x-blob-bin",
                "grpc-metadata-x-multi",
                "grpc-metadata-x-reply"
            ],
            "{reply:?}"
        );
        assert!(
            reply.headers_starting("grpc-trailer-").is_empty(),
            "{reply:?}"
        );
        assert!(reply.trailers.is_none(), "{reply:?}");
    }
}

#[tokio::test]
async fn trailer_metadata_is_sent_as_headers_without_te_trailers() {
    let (proxy, _upstream) = echo_stack().await;
    let path = headers_path(&[("x-h", "1")], &[("x-t", "2"), ("x-many", "a\nb")], 0);
    for version in BOTH {
        let reply = raw(&proxy, version, "GET", &path, &[]).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.header("grpc-metadata-x-h"), ["1"]);
        assert_eq!(reply.header("grpc-trailer-x-t"), ["2"]);
        assert_eq!(reply.header("grpc-trailer-x-many"), ["a", "b"]);
        // Trailers are not header metadata, and `grpc-status` is not echoed.
        let mut trailer_headers = reply.headers_starting("grpc-trailer-");
        trailer_headers.sort();
        assert_eq!(trailer_headers, ["grpc-trailer-x-many", "grpc-trailer-x-t"]);
        assert!(reply.header("grpc-metadata-x-t").is_empty());
        assert!(reply.headers_starting("grpc-metadata-x-echo").is_empty());
        assert!(reply.trailers.is_none(), "{reply:?}");
        assert!(reply.json["received"].is_array(), "{reply:?}");
    }
}

#[tokio::test]
async fn trailer_metadata_is_sent_as_http_trailers_with_te_trailers() {
    let (proxy, _upstream) = echo_stack().await;
    let path = headers_path(&[("x-h", "1")], &[("x-t", "2"), ("x-many", "a\nb")], 0);
    for version in BOTH {
        // HTTP/2 allows no other TE value than `trailers` (RFC 9113 §8.2.2).
        let tes: &[&str] = if version == Version::HTTP_2 {
            &["trailers"]
        } else {
            &["trailers", "gzip, Trailers", "gzip"]
        };
        for &te in tes {
            let reply = raw(&proxy, version, "GET", &path, &[("te", te), ("x-in", "i")]).await;
            if te == "gzip" {
                // Not `trailers`: trailer metadata stays in the headers.
                assert_eq!(reply.header("grpc-trailer-x-t"), ["2"], "{reply:?}");
                assert!(reply.trailers.is_none(), "{reply:?}");
                continue;
            }
            assert_eq!(reply.status, 200, "{reply:?}");
            assert_eq!(reply.header("grpc-metadata-x-h"), ["1"], "{reply:?}");
            assert!(
                reply.headers_starting("grpc-trailer-").is_empty(),
                "{version:?} {te:?}: {reply:?}"
            );
            let mut declared = reply.header("trailer");
            declared.sort();
            assert_eq!(declared.len(), 1, "{reply:?}");
            assert!(declared[0].contains("grpc-trailer-x-t"), "{reply:?}");
            assert!(declared[0].contains("grpc-trailer-x-many"), "{reply:?}");
            if version == Version::HTTP_11 {
                assert_eq!(reply.header("transfer-encoding"), ["chunked"], "{reply:?}");
                assert!(reply.header("content-length").is_empty(), "{reply:?}");
            }
            assert_eq!(
                reply.trailer("grpc-trailer-x-t"),
                ["2"],
                "{version:?}: {reply:?}"
            );
            assert_eq!(
                reply.trailer("grpc-trailer-x-many"),
                ["a", "b"],
                "{reply:?}"
            );
            let trailers = reply.trailers.as_ref().map(HeaderMap::len);
            assert_eq!(trailers, Some(3), "only the trailer metadata: {reply:?}");
            // The body is whole, and TE itself was not forwarded.
            assert!(reply.json["received"][0]["key"].is_string(), "{reply:?}");
            let te_received = reply.received_values("te");
            assert!(
                te_received.iter().all(|v| v == "trailers"),
                "{te_received:?}"
            );
            assert_eq!(reply.received_values("x-in"), ["i"]);
        }
    }
}

#[tokio::test]
async fn head_and_no_trailer_metadata_need_no_trailers() {
    let (proxy, _upstream) = echo_stack().await;
    let path = headers_path(&[("x-h", "1")], &[("x-t", "2")], 0);
    for version in BOTH {
        // HEAD has no body to put trailers after: trailer metadata stays in the headers.
        let reply = raw(&proxy, version, "HEAD", &path, &[("te", "trailers")]).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.header("grpc-trailer-x-t"), ["2"], "{reply:?}");
        assert!(reply.body.is_empty(), "{reply:?}");
        // No trailer metadata: a plain reply.
        let reply = raw(&proxy, version, "GET", "/v1/headers", &[("te", "trailers")]).await;
        assert!(reply.header("trailer").is_empty(), "{reply:?}");
        assert!(reply.trailers.is_none(), "{reply:?}");
    }
}

#[tokio::test]
async fn error_replies_carry_header_and_trailer_metadata() {
    let (proxy, _upstream) = echo_stack().await;
    let path = headers_path(&[("x-h", "1"), ("x-http-code", "201")], &[("x-t", "2")], 5);
    for version in BOTH {
        let reply = raw(&proxy, version, "GET", &path, &[]).await;
        reply.assert_error(404, 5, "failed as asked");
        assert_eq!(reply.header("grpc-metadata-x-h"), ["1"], "{reply:?}");
        assert_eq!(reply.header("grpc-trailer-x-t"), ["2"], "{reply:?}");
        let mut echoed = reply.headers_starting("grpc-");
        echoed.sort();
        assert_eq!(
            echoed,
            ["grpc-metadata-x-h", "grpc-trailer-x-t"],
            "{reply:?}"
        );
        assert!(reply.trailers.is_none(), "{reply:?}");

        let reply = raw(&proxy, version, "GET", &path, &[("te", "trailers")]).await;
        reply.assert_error(404, 5, "failed as asked");
        assert_eq!(reply.header("grpc-metadata-x-h"), ["1"], "{reply:?}");
        assert!(reply.header("grpc-trailer-x-t").is_empty(), "{reply:?}");
        assert_eq!(
            reply.trailer("grpc-trailer-x-t"),
            ["2"],
            "{version:?}: {reply:?}"
        );
    }
}

#[tokio::test]
async fn trailers_only_error_metadata_is_trailer_metadata() {
    // In process, without the layer: tonic answers a failure trailers-only, with all of its
    // metadata in the one header block, which gRPC defines as trailers.
    let proxy = serve_tcp(gateway::router(echo_service())).await;
    let path = headers_path(&[("x-h", "1")], &[], 9);
    let reply = raw(&proxy, Version::HTTP_11, "GET", &path, &[]).await;
    reply.assert_error(400, 9, "failed as asked");
    assert_eq!(reply.header("grpc-trailer-x-h"), ["1"], "{reply:?}");
    let mut echoed = reply.headers_starting("grpc-");
    echoed.sort();
    assert_eq!(
        echoed,
        ["grpc-trailer-x-h"],
        "no content-type or grpc-status: {reply:?}"
    );
}

#[tokio::test]
async fn x_http_code_sets_the_success_status() {
    let (proxy, _upstream) = echo_stack().await;
    for version in BOTH {
        let reply = raw(
            &proxy,
            version,
            "GET",
            &headers_path(&[("x-http-code", "201")], &[], 0),
            &[],
        )
        .await;
        assert_eq!(reply.status, 201, "{reply:?}");
        assert!(reply.json["received"].is_array(), "{reply:?}");
        assert_eq!(reply.header("content-type"), ["application/json"]);
        assert!(
            reply.headers_starting("grpc-metadata-").is_empty(),
            "not echoed: {reply:?}"
        );

        let path = headers_path(&[("x-http-code", "204"), ("x-h", "1")], &[("x-t", "2")], 0);
        for te in [&[][..], &[("te", "trailers")][..]] {
            let reply = raw(&proxy, version, "GET", &path, te).await;
            assert_eq!(reply.status, 204, "{reply:?}");
            assert!(reply.body.is_empty(), "204 sends no body: {reply:?}");
            assert!(reply.header("content-type").is_empty(), "{reply:?}");
            assert!(reply.header("content-length").is_empty(), "{reply:?}");
            assert!(reply.header("transfer-encoding").is_empty(), "{reply:?}");
            assert_eq!(reply.header("grpc-metadata-x-h"), ["1"]);
            // No body, so no trailers: trailer metadata stays in the headers.
            assert_eq!(reply.header("grpc-trailer-x-t"), ["2"], "{reply:?}");
            assert!(reply.trailers.is_none(), "{reply:?}");
        }
    }
    // The connection stays usable after a 204 (HTTP/1.1 framing is right).
    let reply = send(http1().get(format!(
        "{}{}",
        proxy.url(),
        headers_path(&[("x-http-code", "204")], &[], 0)
    )))
    .await;
    assert_eq!(reply.status, 204);
    let reply = send(http1().get(format!(
        "{}{}",
        proxy.url(),
        headers_path(&[("x-http-code", "202")], &[], 0)
    )))
    .await;
    assert_eq!(reply.status, 202);
    assert_serves(&proxy).await;
}

#[tokio::test]
async fn invalid_x_http_code_is_ignored_with_a_log_line() {
    let logs = Logs::capture();
    let (proxy, _upstream) = echo_stack().await;
    for bad in ["abc", "99", "600", "20 1", "1e2", "-200"] {
        let reply = raw(
            &proxy,
            Version::HTTP_11,
            "GET",
            &headers_path(&[("x-http-code", bad)], &[], 0),
            &[],
        )
        .await;
        assert_eq!(reply.status, 200, "{bad}: {reply:?}");
        assert!(reply.json["received"].is_array(), "{reply:?}");
        assert!(
            reply.headers_starting("grpc-metadata-").is_empty(),
            "{reply:?}"
        );
        logs.assert_line(&["WARN", "x-http-code", &format!("value={bad}")]);
    }
}

#[tokio::test]
async fn unicode_error_messages_survive() {
    let (proxy, _upstream) = echo_stack().await;
    let message = "ошибка: 書籍 «42» not found — ☃ 🎉 ünïcödé";
    for version in BOTH {
        let reply = raw(
            &proxy,
            version,
            "GET",
            &format!("/v1/fail/5?message={}", enc(message)),
            &[],
        )
        .await;
        reply.assert_error(404, 5, message);
        assert_eq!(reply.json["message"], message, "{reply:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Deadlines

#[tokio::test]
async fn grpc_timeout_accepts_every_unit() {
    let (proxy, _upstream) = echo_stack().await;
    for timeout in [
        "1H",
        "1M",
        "10S",
        "5000m",
        "5000000u",
        "99999999n",
        "00000010S",
    ] {
        let reply = raw(
            &proxy,
            Version::HTTP_11,
            "GET",
            "/v1/sleep/1",
            &[("grpc-timeout", timeout)],
        )
        .await;
        assert_eq!(reply.status, 200, "{timeout}: {reply:?}");
    }
    // The upstream sees the deadline as its own grpc-timeout.
    let reply = raw(
        &proxy,
        Version::HTTP_11,
        "GET",
        "/v1/headers",
        &[("grpc-timeout", "3S")],
    )
    .await;
    let sent = reply.received_values("grpc-timeout");
    assert_eq!(sent.len(), 1, "{reply:?}");
}

#[tokio::test]
async fn bad_grpc_timeout_is_400() {
    let (proxy, _upstream) = echo_stack().await;
    for version in BOTH {
        for bad in [
            "",
            "10",
            "S",
            "10s",
            "10x",
            "-1S",
            "1.5S",
            "123456789S",
            "1 S",
            "１S",
        ] {
            let reply = raw(
                &proxy,
                version,
                "GET",
                "/v1/sleep/1",
                &[("grpc-timeout", bad)],
            )
            .await;
            reply.assert_error(400, 3, "header `Grpc-Timeout`");
        }
    }
    assert_serves(&proxy).await;
}

#[tokio::test]
async fn expired_deadlines_are_504_in_every_unit() {
    let (proxy, _upstream) = echo_stack().await;
    for timeout in ["50m", "50000u", "50000000n"] {
        let started = std::time::Instant::now();
        let reply = raw(
            &proxy,
            Version::HTTP_2,
            "GET",
            "/v1/sleep/3000",
            &[("grpc-timeout", timeout)],
        )
        .await;
        reply.assert_error(504, 4, "deadline");
        assert!(started.elapsed() < Duration::from_secs(2), "{timeout}");
    }
    assert_serves(&proxy).await;
}

#[tokio::test]
async fn grpc_timeout_overrides_the_default_timeout() {
    let (proxy, _upstream) =
        stack_with(|o| o.default_timeout = Some(Duration::from_millis(100))).await;
    let reply = raw(
        &proxy,
        Version::HTTP_11,
        "GET",
        "/v1/sleep/300",
        &[("grpc-timeout", "5S")],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let reply = raw(&proxy, Version::HTTP_11, "GET", "/v1/sleep/3000", &[]).await;
    reply.assert_error(504, 4, "deadline");
}

#[test]
fn default_timeout_flag_takes_durations() {
    use gateway::runtime::metadata::parse_duration;
    for (text, expected) in [
        ("250ms", Duration::from_millis(250)),
        ("30s", Duration::from_secs(30)),
        ("1m", Duration::from_secs(60)),
        ("2h", Duration::from_secs(7200)),
        ("1.5s", Duration::from_millis(1500)),
        ("0.25m", Duration::from_secs(15)),
        ("0.001s", Duration::from_millis(1)),
    ] {
        assert_eq!(parse_duration(text), Ok(expected), "{text}");
    }
    for bad in [
        "", "30", "s", "1d", "-1s", "1..5s", ".5s", "1.s", "1 s", "30S", "1e3ms", "0s", "0ms",
    ] {
        let e = parse_duration(bad).expect_err(bad);
        assert!(e.contains(&format!("{bad:?}")), "{e}");
    }
}

/// A reply message that does not decode is the upstream's fault: 500 with INTERNAL, and the
/// proxy keeps serving.
#[tokio::test]
async fn a_reply_message_that_does_not_decode_is_an_internal_error() {
    let (proxy, _upstream) = echo_stack().await;
    let path = format!("{}&corrupt_message=true", headers_path(&[], &[], 0));
    for version in BOTH {
        let reply = raw(&proxy, version, "GET", &path, &[]).await;
        assert_eq!(reply.status, 500, "{reply:?}");
        assert_eq!(reply.json["code"], 13, "{reply:?}");
        let message = reply.json["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("the upstream sent a malformed message"),
            "{reply:?}"
        );
        assert_serves(&proxy).await;
    }
}

/// An upstream whose `grpc-status-details-bin` is not base64 makes tonic's client panic while it
/// reads the status; the proxy answers that request with a Status body and keeps serving.
#[tokio::test]
async fn a_malformed_status_from_the_upstream_is_an_error_reply_not_a_crash() {
    let (proxy, _upstream) = echo_stack().await;
    for fail_code in [0, 9] {
        let path = format!(
            "{}&corrupt_status_details=true",
            headers_path(&[("x-h", "1")], &[], fail_code)
        );
        for version in BOTH {
            let reply = raw(&proxy, version, "GET", &path, &[]).await;
            assert_eq!(reply.status, 500, "{reply:?}");
            assert_eq!(reply.json["code"], 13, "{reply:?}");
            assert_eq!(
                reply.json["message"], "the upstream sent a malformed response",
                "{reply:?}"
            );
            assert_serves(&proxy).await;
        }
    }
}
