//! Transports (DESIGN.md §2, §3.10): the upstream over TCP and over a Unix socket; the proxy
//! over TCP (HTTP/1.1 and h2c clients on the same listener) and over a Unix socket; and the
//! generated router over an in-process tonic server, mounted beside other routes.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use http_body_util::BodyExt;
use protogate_tests::{
    Address, Reply, Server, echo_service, echo_stack, echo_upstream_tcp, echo_upstream_unix,
    gateway, h2c, http1, pool, send, serve_tcp, serve_unix, tonic_channel, unix_request,
};
use tower::ServiceExt;

/// A GET, a POST with a body, and a 404 through a proxy on TCP, with `client`.
async fn exercise_tcp(proxy: &Server, client: &reqwest::Client, version: reqwest::Version) {
    let response = client
        .get(format!("{}/v1/echo/over%20tcp?name=n", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), version);
    let reply = Reply::from(response).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["id"], "over tcp", "{reply:?}");
    assert_eq!(reply.json["name"], "n", "{reply:?}");

    let reply = send(
        client
            .post(format!("{}/v1/echo", proxy.url()))
            .header("content-type", "application/json")
            .body(r#"{"id":"posted","big":"5"}"#),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["id"], "posted", "{reply:?}");
    assert_eq!(reply.json["big"], "5", "{reply:?}");

    send(client.get(format!("{}/v1/nothing", proxy.url())))
        .await
        .assert_error(404, 5, "/v1/nothing");
}

fn unix_path(server: &Server) -> std::path::PathBuf {
    match &server.address {
        Address::Unix(path) => path.clone(),
        Address::Tcp(addr) => panic!("{addr} is not a Unix socket"),
    }
}

#[tokio::test]
async fn upstream_over_tcp_proxy_over_tcp_http1_and_h2c() {
    let (proxy, _upstream) = echo_stack().await;
    exercise_tcp(&proxy, &http1(), reqwest::Version::HTTP_11).await;
    exercise_tcp(&proxy, &h2c(), reqwest::Version::HTTP_2).await;
}

#[tokio::test]
async fn upstream_over_a_unix_socket() {
    let upstream = echo_upstream_unix().await;
    let proxy = serve_tcp(gateway::router(pool(&upstream.address))).await;
    exercise_tcp(&proxy, &http1(), reqwest::Version::HTTP_11).await;
    exercise_tcp(&proxy, &h2c(), reqwest::Version::HTTP_2).await;
}

#[tokio::test]
async fn a_tonic_channel_is_an_upstream_too() {
    // The router takes any tonic client, not only the generated pool the binary uses.
    for upstream in [echo_upstream_tcp().await, echo_upstream_unix().await] {
        let proxy = serve_tcp(gateway::router(tonic_channel(&upstream.address))).await;
        exercise_tcp(&proxy, &http1(), reqwest::Version::HTTP_11).await;
        exercise_tcp(&proxy, &h2c(), reqwest::Version::HTTP_2).await;
    }
}

#[tokio::test]
async fn proxy_over_a_unix_socket() {
    for upstream in [echo_upstream_tcp().await, echo_upstream_unix().await] {
        let proxy = serve_unix(gateway::router(pool(&upstream.address))).await;
        let socket = unix_path(&proxy);

        let (status, body) = unix_request(&socket, "GET", "/v1/echo/over%2Funix?num=3", "").await;
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["id"], "over/unix", "{body}");
        assert_eq!(json["num"], 3, "{body}");

        let (status, body) = unix_request(
            &socket,
            "PUT",
            "/v1/echo/u",
            r#"{"id":"ignored","tags":["t"]}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["id"], "u", "{body}");
        assert_eq!(json["tags"], serde_json::json!(["t"]), "{body}");

        let (status, body) = unix_request(&socket, "GET", "/v1/fail/7", "").await;
        assert_eq!(status, 403, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["code"], 7, "{body}");

        let (status, body) = unix_request(&socket, "GET", "/v1/nothing", "").await;
        assert_eq!(status, 404, "{body}");
    }
}

#[tokio::test]
async fn in_process_upstream_without_network() {
    // The generated router calls the tonic server directly and is itself called as a tower
    // service: no socket anywhere.
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hi" }))
        .merge(gateway::router(echo_service()));

    let (status, body) = call(&app, "GET", "/hello", "").await;
    assert_eq!((status, body.as_str()), (200, "hi"));

    let (status, body) = call(&app, "GET", "/v1/echo/in-process?big=-1&genre=1", "").await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["id"], "in-process", "{body}");
    assert_eq!(json["big"], "-1", "{body}");
    assert_eq!(json["genre"], "GENRE_FICTION", "{body}");

    let (status, body) = call(
        &app,
        "POST",
        "/v1/projects/p/items/i:run",
        r#"{"text":"t"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["name"], "projects/p/items/i", "{body}");
    assert_eq!(json["text"], "t", "{body}");

    // Upstream errors and the proxy's own errors, in process.
    let (status, body) = call(&app, "GET", "/v1/fail/6", "").await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = call(&app, "GET", "/nothing", "").await;
    assert_eq!(status, 404, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["code"], 5, "{body}");
    // The other route keeps its own methods: axum answers 405 for it.
    let (status, _) = call(&app, "POST", "/hello", "").await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn in_process_upstream_served_beside_other_routes() {
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .merge(gateway::router(echo_service()));
    let proxy = serve_tcp(app).await;
    for client in [http1(), h2c()] {
        let text = client
            .get(format!("{}/healthz", proxy.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(text, "ok");
        let reply = send(client.get(format!("{}/v1/nested/n/4", proxy.url()))).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json["nested"]["count"], 4, "{reply:?}");
        send(client.get(format!("{}/v1/typed/x/1/1/1/true/0", proxy.url())))
            .await
            .assert_error(400, 3, "`num`");
    }
}

#[tokio::test]
async fn concurrent_requests_over_one_h2c_connection() {
    let (proxy, _upstream) = echo_stack().await;
    let client = h2c();
    let requests = (0..32).map(|i| {
        let client = client.clone();
        let url = format!("{}/v1/echo/r{i}?num={i}", proxy.url());
        async move { send(client.get(url)).await }
    });
    let replies = futures_join_all(requests).await;
    for (i, reply) in replies.iter().enumerate() {
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json["id"], format!("r{i}"), "{reply:?}");
        assert_eq!(reply.json["num"], i, "{reply:?}");
    }
}

/// Runs futures concurrently and collects their outputs in order.
async fn futures_join_all<F: Future<Output = Reply> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<Reply> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// Calls an axum app as a tower service (no network): status and body text.
async fn call(app: &axum::Router, method: &str, uri: &str, body: &str) -> (u16, String) {
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}
