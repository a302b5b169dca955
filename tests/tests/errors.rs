//! Errors (DESIGN.md §3.6): the gRPC code → HTTP status table, the `google.rpc.Status` body
//! (details included), WWW-Authenticate, an unreachable upstream, deadlines.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use protogate_tests::{
    Address, Reply, Server, WITH_DETAILS, assert_echo_serves, echo_stack, echo_upstream_on,
    echo_upstream_tcp, gateway, h2c, http1, pool, send, serve_tcp, sleeping,
};
use tokio::net::TcpListener;

async fn get(proxy: &Server, path: &str) -> Reply {
    send(http1().get(format!("{}{path}", proxy.url()))).await
}

/// google.rpc.Code → HTTP status (grpc-gateway's table).
const TABLE: [(i64, &str, u16); 16] = [
    (1, "CANCELLED", 499),
    (2, "UNKNOWN", 500),
    (3, "INVALID_ARGUMENT", 400),
    (4, "DEADLINE_EXCEEDED", 504),
    (5, "NOT_FOUND", 404),
    (6, "ALREADY_EXISTS", 409),
    (7, "PERMISSION_DENIED", 403),
    (8, "RESOURCE_EXHAUSTED", 429),
    (9, "FAILED_PRECONDITION", 400),
    (10, "ABORTED", 409),
    (11, "OUT_OF_RANGE", 400),
    (12, "UNIMPLEMENTED", 501),
    (13, "INTERNAL", 500),
    (14, "UNAVAILABLE", 503),
    (15, "DATA_LOSS", 500),
    (16, "UNAUTHENTICATED", 401),
];

#[tokio::test]
async fn every_grpc_code_maps_to_its_http_status() {
    let (proxy, _upstream) = echo_stack().await;
    // OK → 200.
    let reply = get(&proxy, "/v1/echo/fine").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    for (code, name, status) in TABLE {
        let reply = get(&proxy, &format!("/v1/fail/{code}")).await;
        // The upstream's message and code come through unchanged in a google.rpc.Status body.
        reply.assert_error(status, code, &format!("failed with code {code}"));
        assert_eq!(
            reply.json["message"],
            format!("failed with code {code}"),
            "{name}: {reply:?}"
        );
        assert_eq!(
            reply.json["details"],
            serde_json::json!([]),
            "{name}: {reply:?}"
        );
        let keys: Vec<&String> = reply.json.as_object().unwrap().keys().collect();
        assert_eq!(
            keys.len(),
            3,
            "{name}: only code, message, details: {reply:?}"
        );
        // Only UNAUTHENTICATED challenges the client.
        assert_eq!(
            reply.headers.contains_key("www-authenticate"),
            code == 16,
            "{name}: WWW-Authenticate in {reply:?}"
        );
    }
}

#[tokio::test]
async fn the_table_holds_over_http2() {
    let (proxy, _upstream) = echo_stack().await;
    for (code, name, status) in TABLE {
        let reply = send(h2c().get(format!("{}/v1/fail/{code}", proxy.url()))).await;
        assert_eq!(reply.status, status, "{name}: {reply:?}");
        assert_eq!(reply.json["code"], code, "{name}: {reply:?}");
    }
}

#[tokio::test]
async fn unauthenticated_has_www_authenticate() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = get(&proxy, "/v1/fail/16?message=token%20expired").await;
    reply.assert_error(401, 16, "token expired");
    let challenge = reply.headers.get("www-authenticate");
    assert!(
        challenge.is_some_and(|v| !v.is_empty()),
        "401 without a WWW-Authenticate challenge: {reply:?}"
    );
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn upstream_messages_are_passed_through() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = get(
        &proxy,
        "/v1/fail/5?message=shelf%20%22x%22%20is%20gone%20%E2%9C%93",
    )
    .await;
    reply.assert_error(404, 5, "");
    assert_eq!(reply.json["message"], "shelf \"x\" is gone ✓", "{reply:?}");
}

#[tokio::test]
async fn an_upstream_without_the_service_is_501_naming_the_method() {
    // The example upstream serves the library API, not echo's.
    let other = protogate_tests::example_upstream_tcp().await;
    let proxy = serve_tcp(gateway::router(pool(&other.address))).await;
    for _ in 0..2 {
        get(&proxy, "/v1/echo/x?name=y").await.assert_error(
            501,
            12,
            "the upstream does not implement /echo.v1.EchoService/",
        );
    }
    // An upstream's own UNIMPLEMENTED message is kept: every_grpc_code_maps_to_its_http_status.
    let reply = get(&proxy, "/healthz").await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn status_details_are_decoded_with_their_type() {
    let (proxy, _upstream) = echo_stack().await;
    let reply = get(&proxy, &format!("/v1/fail/3?message={WITH_DETAILS}")).await;
    reply.assert_error(400, 3, WITH_DETAILS);
    assert_eq!(
        reply.json["details"],
        serde_json::json!([
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "TEST_REASON",
                "domain": "protogate.test",
                "metadata": {"key": "value"}
            },
            {
                "@type": "type.googleapis.com/unknown.v1.Thing",
                "value": "AQID"
            }
        ]),
        "details of {reply:?}"
    );
}

#[tokio::test]
async fn upstream_down_is_503_until_it_is_back() {
    // A port with nothing listening on it.
    let parked = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = parked.local_addr().unwrap();
    drop(parked);
    let proxy = serve_tcp(gateway::router(pool(&Address::Tcp(addr)))).await;

    for client in [http1(), h2c()] {
        let reply = send(client.get(format!("{}/v1/echo/x", proxy.url()))).await;
        reply.assert_error(503, 14, "");
        assert!(
            !reply.json["message"].as_str().unwrap().is_empty(),
            "{reply:?}"
        );
    }

    // The upstream comes up on that address: the same proxy serves again.
    let listener = TcpListener::bind(addr).await.unwrap();
    let _upstream = echo_upstream_on(listener);
    let reply = poll_until_ok(&proxy, "/v1/echo/back").await;
    assert_eq!(reply.json["id"], "back", "{reply:?}");
}

#[tokio::test]
async fn upstream_socket_missing_is_503() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nobody-here.sock");
    let proxy = serve_tcp(gateway::router(pool(&Address::Unix(socket)))).await;
    let reply = get(&proxy, "/v1/echo/x").await;
    reply.assert_error(503, 14, "");
    // The proxy's own checks still come first.
    get(&proxy, "/v1/typed/x/1/1/1/true/0")
        .await
        .assert_error(400, 3, "`num`");
    get(&proxy, "/nope").await.assert_error(404, 5, "/nope");
}

#[tokio::test]
async fn upstream_restart_is_503_then_served_again() {
    let upstream = echo_upstream_tcp().await;
    let Address::Tcp(addr) = upstream.address else {
        unreachable!()
    };
    let proxy = serve_tcp(gateway::router(pool(&upstream.address))).await;
    assert_echo_serves(&proxy).await;

    upstream.stop().await;
    let reply = get(&proxy, "/v1/echo/x").await;
    reply.assert_error(503, 14, "");

    let _upstream = echo_upstream_on(TcpListener::bind(addr).await.unwrap());
    let reply = poll_until_ok(&proxy, "/v1/echo/again").await;
    assert_eq!(reply.json["id"], "again", "{reply:?}");
    assert_echo_serves(&proxy).await;
}

/// Polls `path` until it answers 200, for at most 3 s; every failure meanwhile must be a 503.
async fn poll_until_ok(proxy: &Server, path: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let reply = get(proxy, path).await;
        if reply.status == 200 {
            return reply;
        }
        reply.assert_error(503, 14, "");
        assert!(
            Instant::now() < deadline,
            "the proxy did not serve again after the upstream came back: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn deadline_exceeded_is_504() {
    let (proxy, _upstream) = echo_stack().await;
    let started = Instant::now();
    let reply = send(
        http1()
            .get(format!("{}/v1/sleep/5000", proxy.url()))
            .header("grpc-timeout", "100m"),
    )
    .await;
    reply.assert_error(504, 4, "");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the deadline was not applied: {:?}",
        started.elapsed()
    );
    // Within the deadline the call succeeds.
    let reply = send(
        http1()
            .get(format!("{}/v1/sleep/1", proxy.url()))
            .header("grpc-timeout", "2S"),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn default_timeout_option_is_504() {
    let upstream = echo_upstream_tcp().await;
    let mut options = gateway::options();
    options.default_timeout = Some(Duration::from_millis(100));
    let proxy = serve_tcp(gateway::router_with_options(
        pool(&upstream.address),
        options,
    ))
    .await;
    let started = Instant::now();
    get(&proxy, "/v1/sleep/5000").await.assert_error(504, 4, "");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_echo_serves(&proxy).await;
}

/// Polls until `sleeping(millis)` is `n`, for at most 2 s.
async fn wait_for_sleeping(millis: u32, n: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while sleeping(millis) != n {
        assert!(
            Instant::now() < deadline,
            "{what}: {} upstream calls in flight, expected {n}",
            sleeping(millis)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn client_going_away_cancels_the_upstream_call() {
    let (proxy, _upstream) = echo_stack().await;
    // A `millis` per client, so no other test's Sleep calls are counted.
    for (client, millis) in [(http1(), 4321), (h2c(), 4322)] {
        let url = format!("{}/v1/sleep/{millis}", proxy.url());
        let call = tokio::spawn(async move { client.get(url).send().await });
        wait_for_sleeping(millis, 1, "the call should reach the upstream").await;
        // The client gives up: its request is dropped mid-flight.
        call.abort();
        let _ = call.await;
        wait_for_sleeping(millis, 0, "the upstream call should be cancelled").await;
    }
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn proxy_errors_have_the_same_body() {
    let (proxy, _upstream) = echo_stack().await;
    // The proxy's own errors: no route, wrong method, bad variable, bad query, bad body.
    let replies = [
        get(&proxy, "/nope").await,
        send(http1().delete(format!("{}/v1/echo", proxy.url()))).await,
        get(&proxy, "/v1/typed/x/1/1/1/true/0").await,
        get(&proxy, "/v1/echo/x?bogus=1").await,
        send(http1().post(format!("{}/v1/echo", proxy.url())).body("{")).await,
    ];
    for reply in replies {
        assert!((400..500).contains(&reply.status), "{reply:?}");
        assert_eq!(
            reply.headers["content-type"], "application/json",
            "{reply:?}"
        );
        let object = reply.json.as_object().unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["code", "details", "message"], "{reply:?}");
        assert!(reply.json["code"].is_i64(), "{reply:?}");
        assert!(
            !reply.json["message"].as_str().unwrap().is_empty(),
            "{reply:?}"
        );
        assert_eq!(reply.json["details"], serde_json::json!([]), "{reply:?}");
    }
}
