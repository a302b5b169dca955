//! Operations (DESIGN.md §3.10): liveness and readiness endpoints (the upstream's
//! `grpc.health.v1`), kept out of the API's route space; Prometheus metrics per route template
//! and status; one structured access-log line per request (text or JSON, filtered by
//! `RUST_LOG`); graceful shutdown on SIGTERM with a grace period. The binary is the committed
//! example proxy (`example-proxy`), run with its flags.
#![allow(clippy::unwrap_used)]

mod ops_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ops_support::{Binary, Front, eventually, fresh_client};
use protogate_example_upstream::pb::helloworld::v1::greeter_server::{Greeter, GreeterServer};
use protogate_example_upstream::pb::helloworld::v1::{HelloReply, HelloRequest};
use protogate_tests::{assert_echo_serves, echo_service, gateway, http1, send, serve_tcp};
use tokio::net::TcpListener;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// A greeter that sleeps `<millis>` for the name `sleep-<millis>`, counting the calls it is in.
#[derive(Clone, Default)]
struct SlowGreeter {
    busy: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl Greeter for SlowGreeter {
    async fn say_hello(
        &self,
        request: tonic::Request<HelloRequest>,
    ) -> Result<tonic::Response<HelloReply>, tonic::Status> {
        let name = request.into_inner().name;
        if let Some(millis) = name.strip_prefix("sleep-").and_then(|m| m.parse().ok()) {
            self.busy.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(millis)).await;
            self.busy.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(tonic::Response::new(HelloReply {
            message: format!("Hello {name}"),
        }))
    }
}

/// A gRPC upstream on a free port: `service` and, with `health`, `grpc.health.v1` (every
/// service SERVING until told otherwise).
async fn upstream_with<S>(service: S, health: bool) -> (String, HealthReporter)
where
    S: tonic::server::NamedService
        + tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let mut builder = tonic::transport::Server::builder();
    let router = if health {
        builder.add_service(health_service).add_service(service)
    } else {
        builder.add_service(service)
    };
    tokio::spawn(router.serve_with_incoming(incoming));
    (url, reporter)
}

fn lazy_channel(url: &str) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect_lazy()
}

/// The echo proxy (in-process router on a real socket) over an echo upstream with
/// `grpc.health.v1`.
async fn echo_with_health(options: gateway::Options) -> (protogate_tests::Server, HealthReporter) {
    let (url, reporter) = upstream_with(echo_service(), true).await;
    let proxy = serve_tcp(gateway::router_with_options(lazy_channel(&url), options)).await;
    (proxy, reporter)
}

#[tokio::test]
async fn liveness_answers_get_and_head_and_405_otherwise() {
    let (proxy, _health) = echo_with_health(gateway::options()).await;
    let reply = send(http1().get(format!("{}/healthz", proxy.url()))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json, serde_json::json!({"status": "SERVING"}));
    assert_eq!(reply.headers["content-type"], "application/json");
    let reply = send(http1().head(format!("{}/healthz", proxy.url()))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let reply = send(http1().post(format!("{}/healthz", proxy.url()))).await;
    reply.assert_error(405, 12, "allowed: GET, HEAD");
    assert_eq!(reply.headers["allow"], "GET, HEAD");
}

#[tokio::test]
async fn readiness_follows_the_upstream_health_service() {
    let (proxy, health) = echo_with_health(gateway::options()).await;
    let ready = format!("{}/readyz", proxy.url());

    let reply = send(http1().get(&ready)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json, serde_json::json!({"status": "SERVING"}));

    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    send(http1().get(&ready))
        .await
        .assert_error(503, 14, "upstream health check: NOT_SERVING");
    // Liveness is about the proxy, not the upstream.
    let reply = send(http1().get(format!("{}/healthz", proxy.url()))).await;
    assert_eq!(reply.status, 200, "{reply:?}");

    health.set_service_status("", ServingStatus::Serving).await;
    let reply = send(http1().get(&ready)).await;
    assert_eq!(reply.status, 200, "{reply:?}");

    // A named service: unknown to the health service until it is registered.
    let mut options = gateway::options();
    options.ready_service = "echo.v1.EchoService".to_string();
    let (url, health) = upstream_with(echo_service(), true).await;
    let proxy = serve_tcp(gateway::router_with_options(lazy_channel(&url), options)).await;
    send(http1().get(format!("{}/readyz", proxy.url())))
        .await
        .assert_error(503, 14, "NOT_FOUND");
    health
        .set_serving::<protogate_tests::pb::echo_service_server::EchoServiceServer<protogate_tests::EchoUpstream>>()
        .await;
    let reply = send(http1().get(format!("{}/readyz", proxy.url()))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

/// The echo proxy over `url` with readiness checked as `check` says.
async fn proxy_checking(url: &str, check: gateway::ReadyCheck) -> protogate_tests::Server {
    let mut options = gateway::options();
    options.ready_check = check;
    serve_tcp(gateway::router_with_options(lazy_channel(url), options)).await
}

#[tokio::test]
async fn readiness_without_a_health_service_follows_the_connection_unless_told_otherwise() {
    use gateway::ReadyCheck;
    let (url, _health) = upstream_with(echo_service(), false).await;
    for check in [ReadyCheck::Auto, ReadyCheck::Connection, ReadyCheck::None] {
        let proxy = proxy_checking(&url, check).await;
        for _ in 0..2 {
            let reply = send(http1().get(format!("{}/readyz", proxy.url()))).await;
            assert_eq!(reply.status, 200, "{check:?}: {reply:?}");
            assert_eq!(reply.json, serde_json::json!({"status": "SERVING"}));
        }
        assert_echo_serves(&proxy).await;
    }
    let proxy = proxy_checking(&url, ReadyCheck::Health).await;
    send(http1().get(format!("{}/readyz", proxy.url())))
        .await
        .assert_error(503, 14, "UNIMPLEMENTED");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn readiness_by_connection_or_none_ignores_not_serving() {
    use gateway::ReadyCheck;
    let (url, health) = upstream_with(echo_service(), true).await;
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    for (check, status) in [
        (ReadyCheck::Auto, 503),
        (ReadyCheck::Health, 503),
        (ReadyCheck::Connection, 200),
        (ReadyCheck::None, 200),
    ] {
        let proxy = proxy_checking(&url, check).await;
        let reply = send(http1().get(format!("{}/readyz", proxy.url()))).await;
        assert_eq!(reply.status, status, "{check:?}: {reply:?}");
        if status == 503 {
            reply.assert_error(503, 14, "upstream health check: NOT_SERVING");
        }
    }
}

#[tokio::test]
async fn readiness_is_503_without_an_upstream_unless_none() {
    use gateway::ReadyCheck;
    // Nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    for check in [ReadyCheck::Auto, ReadyCheck::Health, ReadyCheck::Connection] {
        let proxy = proxy_checking(&url, check).await;
        let started = Instant::now();
        send(http1().get(format!("{}/readyz", proxy.url())))
            .await
            .assert_error(503, 14, "upstream health check");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{check:?}: {:?}",
            started.elapsed()
        );
        let reply = send(http1().get(format!("{}/healthz", proxy.url()))).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let proxy = proxy_checking(&url, ReadyCheck::None).await;
    let reply = send(http1().get(format!("{}/readyz", proxy.url()))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn operation_paths_are_configurable_and_kept_out_of_the_api() {
    assert_eq!(gateway::claimed("/healthz"), None);
    assert_eq!(
        gateway::claimed("/v1/echo/healthz").as_deref(),
        Some("GET /v1/echo/{id}")
    );

    // A path inside the API is refused, naming the route that claims it.
    let mut options = gateway::options();
    options.health_path = Some("/v1/echo/healthz".to_string());
    let error = gateway::check(&options).unwrap_err();
    assert!(
        error.contains("health_path /v1/echo/healthz") && error.contains("GET /v1/echo/{id}"),
        "{error}"
    );
    let upstream = protogate_tests::echo_upstream_tcp().await;
    let channel = protogate_tests::pool(&upstream.address);
    let refused = channel.clone();
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        gateway::router_with_options(refused, options)
    }));
    assert!(built.is_err(), "router_with_options refuses it too");

    let mut options = gateway::options();
    options.metrics_path = Some("/healthz".to_string());
    let error = gateway::check(&options).unwrap_err();
    assert!(
        error.contains("metrics_path and health_path are both /healthz"),
        "{error}"
    );

    let mut options = gateway::options();
    options.health_path = Some("/ops/live".to_string());
    options.ready_path = None;
    options.metrics_path = Some("/ops/metrics".to_string());
    let proxy = serve_tcp(gateway::router_with_options(channel, options)).await;
    let get = |path: &str| http1().get(format!("{}{path}", proxy.url()));
    assert_eq!(send(get("/ops/live")).await.status, 200);
    let reply = send(get("/ops/metrics")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply
            .text
            .contains("# TYPE protogate_http_requests_total counter")
    );
    // The defaults are no longer served: those paths are the API's (404 there).
    for path in ["/healthz", "/readyz", "/metrics"] {
        send(get(path)).await.assert_error(404, 5, path);
    }
}

/// Scrapes `url` until `done` accepts the text (metrics are recorded when a response ends,
/// which may be just after the client has read it).
async fn scrape_until(url: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = send(http1().get(url)).await.text;
        if done(&text) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_that_leaves_before_its_response_is_not_left_in_flight() {
    use tokio::io::AsyncWriteExt as _;
    let (proxy, _upstream) = protogate_tests::echo_stack().await;
    let metrics = format!("{}/metrics", proxy.url());
    let protogate_tests::Address::Tcp(addr) = &proxy.address else {
        unreachable!()
    };
    for _ in 0..3 {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /v1/sleep/2000 HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .unwrap();
        scrape_until(&metrics, |t| {
            sample(t, "protogate_http_requests_in_flight") == Some(1.0)
        })
        .await;
        drop(tcp);
    }
    let text = scrape_until(&metrics, |t| {
        sample(t, "protogate_http_requests_in_flight") == Some(0.0)
    })
    .await;
    assert_eq!(
        sample(&text, "protogate_http_requests_in_flight"),
        Some(0.0),
        "{text}"
    );
}

/// The value of the series `series` (name and labels exactly as exposed), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_latency_upstream_errors_and_in_flight() {
    let (proxy, _health) = echo_with_health(gateway::options()).await;
    let url = proxy.url();
    let metrics = format!("{url}/metrics");
    for path in ["/v1/echo/a", "/v1/echo/b", "/v1/fail/5", "/v1/nothing"] {
        send(http1().get(format!("{url}{path}"))).await;
    }
    send(http1().head(format!("{url}/v1/echo/c"))).await;
    send(
        http1()
            .get(format!("{url}/v1/sleep/2000"))
            .header("grpc-timeout", "100m"),
    )
    .await
    .assert_error(504, 4, "deadline");

    let ok = r#"protogate_http_requests_total{method="GET",route="/v1/echo/{id}",code="200"}"#;
    let text = scrape_until(&metrics, |t| sample(t, ok) == Some(2.0)).await;
    assert_eq!(sample(&text, ok), Some(2.0), "{text}");
    let expect = [
        (
            r#"protogate_http_requests_total{method="HEAD",route="/v1/echo/{id}",code="200"}"#,
            1.0,
        ),
        (
            r#"protogate_http_requests_total{method="GET",route="/v1/fail/{code}",code="404"}"#,
            1.0,
        ),
        (
            r#"protogate_http_requests_total{method="GET",route="unmatched",code="404"}"#,
            1.0,
        ),
        (
            r#"protogate_http_requests_total{method="GET",route="/v1/sleep/{millis}",code="504"}"#,
            1.0,
        ),
        (
            r#"protogate_http_request_duration_seconds_count{method="GET",route="/v1/echo/{id}",code="200"}"#,
            2.0,
        ),
        (
            r#"protogate_http_request_duration_seconds_bucket{method="GET",route="/v1/echo/{id}",code="200",le="+Inf"}"#,
            2.0,
        ),
        (
            r#"protogate_upstream_errors_total{method="GET",route="/v1/fail/{code}",grpc_code="NOT_FOUND"}"#,
            1.0,
        ),
        (
            r#"protogate_upstream_errors_total{method="GET",route="/v1/sleep/{millis}",grpc_code="DEADLINE_EXCEEDED"}"#,
            1.0,
        ),
        ("protogate_http_requests_in_flight", 0.0),
        // The upstream's own time, by gRPC method and status: two calls of Get, the HEAD's
        // Peek, Fail's NOT_FOUND, and Sleep's deadline.
        (
            r#"protogate_upstream_duration_seconds_count{grpc_method="/echo.v1.EchoService/Get",grpc_code="OK"}"#,
            2.0,
        ),
        (
            r#"protogate_upstream_duration_seconds_bucket{grpc_method="/echo.v1.EchoService/Get",grpc_code="OK",le="+Inf"}"#,
            2.0,
        ),
        (
            r#"protogate_upstream_duration_seconds_count{grpc_method="/echo.v1.EchoService/Peek",grpc_code="OK"}"#,
            1.0,
        ),
        (
            r#"protogate_upstream_duration_seconds_count{grpc_method="/echo.v1.EchoService/Fail",grpc_code="NOT_FOUND"}"#,
            1.0,
        ),
    ];
    for (series, value) in expect {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    // The 504 took about its 100 ms deadline: its latency is in the right buckets.
    let bucket = |le: &str| {
        sample(
            &text,
            &format!(
                r#"protogate_http_request_duration_seconds_bucket{{method="GET",route="/v1/sleep/{{millis}}",code="504",le="{le}"}}"#
            ),
        )
    };
    assert_eq!(bucket("0.05"), Some(0.0), "{text}");
    assert_eq!(bucket("2.5"), Some(1.0), "{text}");
    // The upstream's side of that call ended at its deadline too.
    let upstream_bucket = |le: &str| {
        sample(
            &text,
            &format!(
                r#"protogate_upstream_duration_seconds_bucket{{grpc_method="/echo.v1.EchoService/Sleep",grpc_code="DEADLINE_EXCEEDED",le="{le}"}}"#
            ),
        )
    };
    assert_eq!(upstream_bucket("0.05"), Some(0.0), "{text}");
    assert_eq!(upstream_bucket("2.5"), Some(1.0), "{text}");
    // Every sample line is `name{labels} value` or `name value` (the proxy's own series, and
    // the process's under Prometheus' standard names); the successful 200s are no
    // upstream errors; the probe endpoints are not counted.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(
            line.starts_with("protogate_") || line.starts_with("process_"),
            "{line}"
        );
    }
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("protogate_upstream_errors_total")
                && l.contains(r#"grpc_code="OK""#)),
        "{text}"
    );
    assert!(
        !text.contains("healthz") && !text.contains("/metrics"),
        "{text}"
    );

    // A request in progress is in flight.
    let slow = tokio::spawn(send(fresh_client().get(format!("{url}/v1/sleep/700"))));
    let text = scrape_until(&metrics, |t| {
        sample(t, "protogate_http_requests_in_flight") == Some(1.0)
    })
    .await;
    assert_eq!(
        sample(&text, "protogate_http_requests_in_flight"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(slow.await.unwrap().status, 200);
}

#[tokio::test]
async fn an_unreachable_upstream_is_counted_and_metrics_can_be_turned_off() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let proxy = serve_tcp(gateway::router(lazy_channel(&url))).await;
    send(http1().get(format!("{}/v1/echo/x", proxy.url())))
        .await
        .assert_error(503, 14, "");
    let series = r#"protogate_upstream_errors_total{method="GET",route="/v1/echo/{id}",grpc_code="UNAVAILABLE"}"#;
    let text = scrape_until(&format!("{}/metrics", proxy.url()), |t| {
        sample(t, series).is_some()
    })
    .await;
    assert_eq!(sample(&text, series), Some(1.0), "{text}");

    let mut options = gateway::options();
    options.metrics_path = None;
    let proxy = serve_tcp(gateway::router_with_options(lazy_channel(&url), options)).await;
    send(http1().get(format!("{}/metrics", proxy.url())))
        .await
        .assert_error(404, 5, "/metrics");
}

/// The access-log lines (target `protogate::access`) among JSON log lines.
fn access_lines(binary: &Binary) -> Vec<serde_json::Value> {
    binary
        .lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|j| j["target"] == "protogate::access")
        .collect()
}

/// `--worker-threads 1` runs the proxy on a single-threaded scheduler: it serves requests in
/// parallel as with several threads (twenty upstream calls of 300 ms each take far less than
/// their sum). Zero threads is refused at startup, naming the flag.
#[tokio::test]
async fn the_binary_serves_on_one_or_several_worker_threads() {
    let (upstream, _health) = upstream_with(GreeterServer::new(SlowGreeter::default()), true).await;
    for threads in ["1", "2"] {
        let binary = Binary::start(
            &["--upstream", &upstream, "--worker-threads", threads],
            None,
        )
        .unwrap_or_else(|(code, log)| panic!("exit {code:?}\n{log}"));
        let url = binary.url();
        let start = Instant::now();
        let calls = (0..20).map(|_| {
            let url = url.clone();
            tokio::spawn(
                async move { send(http1().get(format!("{url}/v1/greeter/sleep-300"))).await },
            )
        });
        for call in calls.collect::<Vec<_>>() {
            let reply = call.await.expect("the request task ends");
            assert_eq!(reply.status, 200, "{threads} thread(s): {reply:?}");
            assert_eq!(reply.json["message"], "Hello sleep-300", "{reply:?}");
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed < Duration::from_secs(4),
            "{threads} thread(s): 20 calls of 300 ms took {elapsed:?}"
        );
    }
    let Err((code, log)) = Binary::start(&["--upstream", &upstream, "--worker-threads", "0"], None)
    else {
        panic!("--worker-threads 0 must be refused");
    };
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("--worker-threads"), "{log}");
}

#[tokio::test]
async fn the_binary_logs_one_json_line_per_request() {
    let (upstream, _health) = upstream_with(GreeterServer::new(SlowGreeter::default()), true).await;
    let binary = Binary::start(
        &[
            "--upstream",
            &upstream,
            "--log-format",
            "json",
            "--access-log",
        ],
        None,
    )
    .unwrap_or_else(|(code, log)| panic!("exit {code:?}\n{log}"));
    let url = binary.url();
    let got = send(
        http1()
            .get(format!("{url}/v1/greeter/world"))
            .header("x-request-id", "log-1")
            .header("user-agent", "protogate-test/1"),
    )
    .await;
    assert_eq!(got.status, 200, "{got:?}");
    let reply = send(
        http1()
            .post(format!("{url}/v1/greeter"))
            .body(r#"{"name":"posted"}"#),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        send(http1().get(format!("{url}/v1/nothing"))).await.status,
        404
    );
    assert_eq!(
        send(http1().get(format!("{url}/healthz"))).await.status,
        200
    );

    assert!(eventually(Duration::from_secs(5), || access_lines(&binary).len() >= 3).await);
    let lines = access_lines(&binary);
    assert_eq!(
        lines.len(),
        3,
        "one line per API request, none for the probe: {lines:#?}"
    );
    let get = &lines[0];
    assert_eq!(get["level"], "INFO", "{get}");
    assert_eq!(get["message"], "request", "{get}");
    assert_eq!(get["method"], "GET", "{get}");
    assert_eq!(get["route"], "/v1/greeter/{name}", "{get}");
    assert_eq!(
        get["grpc_method"], "/helloworld.v1.Greeter/SayHello",
        "{get}"
    );
    assert_eq!(get["status"], 200, "{get}");
    assert_eq!(get["grpc_status"], "OK", "{get}");
    assert_eq!(get["complete"], true, "{get}");
    assert!(
        get["latency_ms"]
            .as_f64()
            .is_some_and(|ms| ms > 0.0 && ms < 5000.0),
        "{get}"
    );
    assert!(get["timestamp"].is_string(), "{get}");
    // Who asked, and how much went each way.
    assert_eq!(get["request_id"], "log-1", "{get}");
    assert_eq!(get["user_agent"], "protogate-test/1", "{get}");
    assert!(
        get["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.1:")),
        "{get}"
    );
    assert_eq!(get["bytes_in"], 0, "{get}");
    assert_eq!(get["bytes_out"], got.text.len(), "{get}");
    let post = &lines[1];
    assert_eq!(
        (&post["method"], &post["route"]),
        (&"POST".into(), &"/v1/greeter".into()),
        "{post}"
    );
    assert_eq!(post["bytes_in"], r#"{"name":"posted"}"#.len(), "{post}");
    assert_eq!(post["bytes_out"], reply.text.len(), "{post}");
    // An id the client did not send is made, and given back.
    let made = reply.headers["x-request-id"].to_str().expect("text");
    assert_eq!(post["request_id"], made, "{post}");
    assert_eq!(post["user_agent"], "-", "{post}");
    let miss = &lines[2];
    assert_eq!(miss["route"], "unmatched", "{miss}");
    assert_eq!(miss["grpc_method"], "-", "{miss}");
    assert_eq!(miss["status"], 404, "{miss}");
    assert_eq!(miss["grpc_status"], "NOT_FOUND", "{miss}");
}

#[tokio::test]
async fn the_binary_logs_text_filtered_by_rust_log() {
    let (upstream, _health) = upstream_with(GreeterServer::new(SlowGreeter::default()), true).await;
    let binary = Binary::start(&["--upstream", &upstream, "--access-log"], None)
        .unwrap_or_else(|(code, log)| panic!("exit {code:?}\n{log}"));
    assert_eq!(
        send(http1().get(format!("{}/v1/greeter/text", binary.url())))
            .await
            .status,
        200
    );
    let line = binary
        .wait_for_line(Duration::from_secs(5), |l| l.contains("protogate::access"))
        .await
        .unwrap_or_else(|| panic!("no access line in {:#?}", binary.lines()));
    for field in [
        "method=GET",
        "route=/v1/greeter/{name}",
        "grpc_method=/helloworld.v1.Greeter/SayHello",
        "status=200",
        "grpc_status=OK",
        "latency_ms=",
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }

    // Without --access-log there is none, whatever RUST_LOG says; with it, RUST_LOG filters by
    // target: the access log off, the rest on.
    for (flags, rust_log) in [
        (&["--upstream", &upstream][..], None),
        (
            &["--upstream", &upstream][..],
            Some("info,protogate::access=info"),
        ),
        (
            &["--upstream", &upstream, "--access-log"][..],
            Some("info,protogate::access=off"),
        ),
    ] {
        let quiet = Binary::start(flags, rust_log)
            .unwrap_or_else(|(code, log)| panic!("exit {code:?}\n{log}"));
        assert_eq!(
            send(http1().get(format!("{}/v1/greeter/quiet", quiet.url())))
                .await
                .status,
            200
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let lines = quiet.lines();
        assert!(
            lines.iter().any(|l| l.contains("ready to serve")),
            "{flags:?} {rust_log:?}: {lines:#?}"
        );
        assert!(
            !lines.iter().any(|l| l.contains("protogate::access")),
            "{flags:?} {rust_log:?}: {lines:#?}"
        );
    }
}

#[tokio::test]
async fn the_binary_serves_probes_and_metrics_where_told() {
    let (upstream, health) = upstream_with(GreeterServer::new(SlowGreeter::default()), true).await;
    let binary = Binary::start(
        &[
            "--upstream",
            &upstream,
            "--health-path",
            "/ops/live",
            "--metrics-path",
            "/ops/metrics",
        ],
        None,
    )
    .unwrap_or_else(|(code, log)| panic!("exit {code:?}\n{log}"));
    let url = binary.url();
    assert_eq!(
        send(http1().get(format!("{url}/ops/live"))).await.status,
        200
    );
    assert_eq!(send(http1().get(format!("{url}/readyz"))).await.status, 200);
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    send(http1().get(format!("{url}/readyz")))
        .await
        .assert_error(503, 14, "NOT_SERVING");
    assert_eq!(
        send(http1().get(format!("{url}/v1/greeter/m")))
            .await
            .status,
        200
    );
    let series =
        r#"protogate_http_requests_total{method="GET",route="/v1/greeter/{name}",code="200"}"#;
    let text = scrape_until(&format!("{url}/ops/metrics"), |t| {
        sample(t, series).is_some()
    })
    .await;
    assert_eq!(sample(&text, series), Some(1.0), "{text}");
    let up = format!("protogate_upstream_up{{address=\"{upstream}\"}}");
    assert_eq!(sample(&text, &up), Some(1.0), "{text}");

    // The document is large JSON: coded as the client and `--compression` agree.
    let coding = async |url: &str| {
        let reply = send(
            http1()
                .get(format!("{url}/openapi.json"))
                .header("accept-encoding", "zstd, gzip"),
        )
        .await;
        assert_eq!(reply.status, 200);
        reply
            .headers
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(coding(&url).await.as_deref(), Some("zstd"));

    let off = Binary::start(
        &[
            "--upstream",
            &upstream,
            "--no-metrics",
            "--no-health",
            "--compression",
            "off",
        ],
        None,
    )
    .unwrap_or_else(|(code, log)| panic!("exit {code:?}\n{log}"));
    for path in ["/metrics", "/healthz", "/readyz"] {
        send(http1().get(format!("{}{path}", off.url())))
            .await
            .assert_error(404, 5, path);
    }
    assert_eq!(coding(&off.url()).await, None);
    let gzip = Binary::start(&["--upstream", &upstream, "--compression", "gzip"], None)
        .unwrap_or_else(|(code, log)| panic!("exit {code:?}\n{log}"));
    assert_eq!(coding(&gzip.url()).await.as_deref(), Some("gzip"));

    // An upstream without the health service: ready by default, not with `health`; the log
    // says once why.
    let (bare, _) = upstream_with(GreeterServer::new(SlowGreeter::default()), false).await;
    let auto = Binary::start(&["--upstream", &bare, "--log-format", "json"], None)
        .unwrap_or_else(|(code, log)| panic!("exit {code:?}\n{log}"));
    for _ in 0..2 {
        let reply = send(http1().get(format!("{}/readyz", auto.url()))).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let said = |b: &Binary| {
        b.lines()
            .iter()
            .filter(|l| l.contains("does not implement grpc.health.v1.Health"))
            .count()
    };
    assert!(eventually(Duration::from_secs(5), || said(&auto) > 0).await);
    assert_eq!(said(&auto), 1, "{:#?}", auto.lines());
    let strict = Binary::start(&["--upstream", &bare, "--ready-check", "health"], None)
        .unwrap_or_else(|(code, log)| panic!("exit {code:?}\n{log}"));
    send(http1().get(format!("{}/readyz", strict.url())))
        .await
        .assert_error(503, 14, "UNIMPLEMENTED");
    let Err((code, log)) = Binary::start(&["--ready-check", "always"], None) else {
        panic!("the proxy started with an unknown readiness check");
    };
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("use auto, health, connection or none"),
        "{log}"
    );
}

#[tokio::test]
async fn the_binary_refuses_an_operation_path_inside_the_api() {
    let Err((code, log)) = Binary::start(&["--health-path", "/v1/shelves"], None) else {
        panic!("the proxy started with /healthz moved into the API");
    };
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("health_path /v1/shelves is inside the API")
            && log.contains("GET /v1/shelves"),
        "{log}"
    );
}

#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish_then_the_binary_exits() {
    let greeter = SlowGreeter::default();
    let busy = greeter.busy.clone();
    let (upstream, _health) = upstream_with(GreeterServer::new(greeter), true).await;
    let mut binary = Binary::start(&["--upstream", &upstream, "--shutdown-grace", "10s"], None)
        .unwrap_or_else(|(code, log)| panic!("exit {code:?}\n{log}"));
    let url = binary.url();
    let in_flight = tokio::spawn(send(
        fresh_client().get(format!("{url}/v1/greeter/sleep-3000")),
    ));
    assert!(eventually(Duration::from_secs(5), || busy.load(Ordering::SeqCst) == 1).await);

    binary.terminate();
    // It stops accepting at once...
    let addr = binary.addr;
    let mut refused = false;
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "new connections are refused after SIGTERM");
    // ...the request in flight finishes...
    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["message"], "Hello sleep-3000");
    // ...and then the process exits, cleanly.
    assert_eq!(
        binary.exited_within(Duration::from_secs(5)).await,
        Some(Some(0))
    );
    assert!(
        binary.lines().iter().any(|l| l.contains("stopped")),
        "{:#?}",
        binary.lines()
    );
}

#[tokio::test]
async fn the_grace_period_bounds_the_shutdown() {
    let greeter = SlowGreeter::default();
    let busy = greeter.busy.clone();
    let (upstream, _health) = upstream_with(GreeterServer::new(greeter), true).await;
    let mut binary = Binary::start(
        &["--upstream", &upstream, "--shutdown-grace", "300ms"],
        None,
    )
    .unwrap_or_else(|(code, log)| panic!("exit {code:?}\n{log}"));
    let url = binary.url();
    let in_flight = tokio::spawn(async move {
        fresh_client()
            .get(format!("{url}/v1/greeter/sleep-20000"))
            .send()
            .await
    });
    assert!(eventually(Duration::from_secs(5), || busy.load(Ordering::SeqCst) == 1).await);
    let started = Instant::now();
    binary.terminate();
    assert_eq!(
        binary.exited_within(Duration::from_secs(5)).await,
        Some(Some(0))
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(in_flight.await.unwrap().is_err(), "the cut request fails");
}

#[tokio::test]
async fn shutdown_lets_streams_in_progress_finish() {
    let upstream = protogate_tests::echo_upstream_tcp().await;
    let app = gateway::router(protogate_tests::pool(&upstream.address));
    let mut front = Front::start(
        app,
        protogate_runtime::ConnLimits::default(),
        Some(Duration::from_secs(10)),
    )
    .await;
    let response = http1()
        .get(format!(
            "{}/v1/stream/draining?count=4&interval_ms=250",
            front.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stopped = front.shut_down();
    let body = response.text().await.unwrap();
    assert_eq!(body.lines().count(), 4, "the whole stream: {body}");
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("serve returns once the stream is done")
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(front.addr).await.is_err());
}
