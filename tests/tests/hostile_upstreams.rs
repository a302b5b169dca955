#![allow(clippy::unwrap_used)]
//! Upstreams that misbehave, served by the `h2` crate's server (or plain TCP) so that they can
//! send what no gRPC library would: each gets the client a clear `google.rpc.Status` answer in
//! bounded time, and the proxy goes on serving.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::server::SendResponse;
use protogate_tests::{Address, Reply, Server, gateway, http1, pool, send, serve_tcp};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

type Call = (http::Request<h2::RecvStream>, SendResponse<Bytes>);

/// An HTTP/2 server on a free port that hands every call to `handler`, with the number of the
/// connection it came on (0 for the first).
async fn upstream<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Call, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    let connections = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (handler, n) = (handler.clone(), connections.fetch_add(1, Ordering::SeqCst));
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(tcp).await else {
                    return;
                };
                while let Some(Ok(call)) = connection.accept().await {
                    tokio::spawn(handler(call, n));
                }
            });
        }
    });
    addr
}

/// The response headers of a gRPC reply.
fn grpc_headers() -> http::Response<()> {
    http::Response::builder()
        .header("content-type", "application/grpc")
        .body(())
        .unwrap()
}

fn grpc_ok() -> http::HeaderMap {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    trailers
}

/// The echo proxy over the upstream at `addr`, with `options`.
async fn proxy_with(address: String, options: gateway::Options) -> Server {
    let config = gateway::runtime::pool::UpstreamConfig::new([address]);
    let upstream = gateway::runtime::pool::Pool::new(&config).unwrap();
    serve_tcp(gateway::router_with_options(upstream, options)).await
}

async fn proxy_to(addr: SocketAddr) -> Server {
    serve_tcp(gateway::router(pool(&Address::Tcp(addr)))).await
}

async fn get(proxy: &Server, path: &str, headers: &[(&str, &str)]) -> (Reply, Duration) {
    let mut request = http1().get(format!("{}{path}", proxy.url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let started = Instant::now();
    let reply = send(request).await;
    (reply, started.elapsed())
}

/// Asks twice, so that the proxy is seen to serve after the first answer, and checks each is
/// the expected error within `limit`; then that the proxy's own liveness answers.
async fn twice(
    proxy: &Server,
    path: &str,
    headers: &[(&str, &str)],
    (status, code, needle): (u16, i64, &str),
    limit: Duration,
) {
    for _ in 0..2 {
        let (reply, took) = get(proxy, path, headers).await;
        reply.assert_error(status, code, needle);
        assert!(took < limit, "{path}: {took:?} for {reply:?}");
    }
    let (reply, _) = get(proxy, "/healthz", &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn a_reply_that_does_not_decode_is_500() {
    let addr = upstream(|(_, mut respond), _| async move {
        let mut body = respond.send_response(grpc_headers(), false).unwrap();
        // A message of 3 bytes that are no protobuf: a field with wire type 7.
        body.send_data(
            Bytes::from_static(&[0, 0, 0, 0, 3, 0xff, 0xff, 0xff]),
            false,
        )
        .unwrap();
        body.send_trailers(grpc_ok()).unwrap();
    })
    .await;
    let proxy = proxy_to(addr).await;
    let expected = (500, 13, "the upstream sent a malformed message");
    twice(&proxy, "/v1/echo/x", &[], expected, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_oversized_message_fails_at_its_length_prefix() {
    // Claims 1 GiB, sends 5 bytes of it, and holds the stream open.
    let addr = upstream(|(_, mut respond), _| async move {
        let mut body = respond.send_response(grpc_headers(), false).unwrap();
        body.send_data(
            Bytes::from_static(&[0, 0x40, 0, 0, 0, 1, 2, 3, 4, 5]),
            false,
        )
        .unwrap();
        std::future::pending::<()>().await;
        drop(body);
    })
    .await;
    let proxy = proxy_to(addr).await;
    let expected = (
        429,
        8,
        "message of 1073741824 bytes, larger than the limit of 4194304",
    );
    twice(&proxy, "/v1/echo/x", &[], expected, Duration::from_secs(2)).await;

    // The limit is a setting: a real echo reply past it is refused the same way.
    let echo = protogate_tests::echo_upstream_tcp().await;
    let Address::Tcp(echo_addr) = echo.address else {
        unreachable!()
    };
    let mut options = gateway::options();
    options.max_upstream_message_bytes = 16;
    let proxy = proxy_with(format!("http://{echo_addr}"), options).await;
    let (reply, _) = get(&proxy, "/v1/echo/short", &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let long = format!("/v1/echo/{}", "x".repeat(64));
    let expected = (429, 8, "larger than the limit of 16 bytes");
    twice(&proxy, &long, &[], expected, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn an_upstream_that_never_answers_meets_the_deadline() {
    // Accepts the call and keeps it, never answering; or answers the headers and half a
    // message, then nothing.
    let silent = upstream(|(_, respond), _| async move {
        std::future::pending::<()>().await;
        drop(respond);
    })
    .await;
    let half = upstream(|(_, mut respond), _| async move {
        let mut body = respond.send_response(grpc_headers(), false).unwrap();
        body.send_data(Bytes::from_static(&[0, 0, 0, 0, 10, 8, 1]), false)
            .unwrap();
        std::future::pending::<()>().await;
        drop(body);
    })
    .await;
    for addr in [silent, half] {
        let proxy = proxy_to(addr).await;
        let expected = (504, 4, "deadline");
        let timeout = [("grpc-timeout", "300m")];
        twice(
            &proxy,
            "/v1/echo/x",
            &timeout,
            expected,
            Duration::from_secs(2),
        )
        .await;

        // Without a deadline from the client, the proxy's own request timeout answers.
        let mut options = gateway::options();
        options.request_timeout = Some(Duration::from_millis(300));
        let proxy = proxy_with(format!("http://{addr}"), options).await;
        let expected = (504, 4, "request timeout");
        twice(&proxy, "/v1/echo/x", &[], expected, Duration::from_secs(2)).await;
    }
}

#[tokio::test]
async fn a_stream_reset_midway_ends_with_an_error_line() {
    let addr = upstream(|(_, mut respond), _| async move {
        let mut body = respond.send_response(grpc_headers(), false).unwrap();
        // Two empty StreamReply messages, then RST_STREAM.
        body.send_data(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), false)
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        body.send_reset(h2::Reason::INTERNAL_ERROR);
    })
    .await;
    let proxy = proxy_to(addr).await;
    for _ in 0..2 {
        let (reply, took) = get(&proxy, "/v1/stream/r", &[]).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        let lines: Vec<serde_json::Value> = reply
            .text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{reply:?}");
        assert!(lines[0]["result"].is_object(), "{reply:?}");
        assert!(lines[1]["result"].is_object(), "{reply:?}");
        let error = &lines[2]["error"];
        assert!(error["code"].as_i64().is_some_and(|c| c != 0), "{reply:?}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{reply:?}"
        );
    }
}

#[tokio::test]
async fn a_goaway_with_calls_in_flight_fails_them_and_the_next_call_is_served() {
    // The first connection answers the headers, then goes away at once (GOAWAY with an error,
    // as a crashing server's last act); later ones answer properly.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((tcp, _)) = listener.accept().await {
            n += 1;
            let first = n == 1;
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(tcp).await else {
                    return;
                };
                while let Some(Ok((_, mut respond))) = connection.accept().await {
                    let mut body = respond.send_response(grpc_headers(), false).unwrap();
                    if first {
                        connection.abrupt_shutdown(h2::Reason::INTERNAL_ERROR);
                        let _ = std::future::poll_fn(|cx| connection.poll_closed(cx)).await;
                        return;
                    }
                    body.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), false)
                        .unwrap();
                    body.send_trailers(grpc_ok()).unwrap();
                }
            });
        }
    });
    let proxy = proxy_to(addr).await;
    let (reply, took) = get(&proxy, "/v1/echo/x", &[]).await;
    reply.assert_error(503, 14, "unavailable");
    assert!(took < Duration::from_secs(2), "{took:?}");
    for _ in 0..2 {
        let (reply, _) = get(&proxy, "/v1/echo/x", &[]).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
}

#[tokio::test]
async fn an_http_server_that_is_not_grpc_is_named() {
    let addr = upstream(|(_, mut respond), _| async move {
        let response = http::Response::builder()
            .header("content-type", "text/html")
            .body(())
            .unwrap();
        let mut body = respond.send_response(response, false).unwrap();
        body.send_data(Bytes::from_static(b"<html>hello</html>"), true)
            .unwrap();
    })
    .await;
    let proxy = proxy_to(addr).await;
    let expected = (
        500,
        2,
        "the upstream's reply is not gRPC: HTTP status 200, content-type text/html",
    );
    twice(&proxy, "/v1/echo/x", &[], expected, Duration::from_secs(2)).await;

    // A 404 page: its status says the method is not there.
    let addr = upstream(|(_, mut respond), _| async move {
        let response = http::Response::builder().status(404).body(()).unwrap();
        respond.send_response(response, true).unwrap();
    })
    .await;
    let proxy = proxy_to(addr).await;
    let expected = (501, 12, "HTTP status 404, content-type missing");
    twice(&proxy, "/v1/echo/x", &[], expected, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn an_http1_server_or_a_tls_mismatch_is_503() {
    // An HTTP/1.1 server where HTTP/2 was expected: it answers the preface with a 400 and
    // closes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http1_addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0; 1024];
                let _ = tcp.read(&mut buffer).await;
                let _ = tcp
                    .write_all(
                        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    let proxy = proxy_to(http1_addr).await;
    let expected = (
        503,
        14,
        &*format!("upstream http://{http1_addr} unavailable"),
    );
    twice(&proxy, "/v1/echo/x", &[], expected, Duration::from_secs(2)).await;

    // TLS to a cleartext HTTP/2 server.
    let cleartext = upstream(|(_, mut respond), _| async move {
        let _ = respond.send_response(grpc_headers(), true);
    })
    .await;
    let tls = proxy_with(format!("https://{cleartext}"), gateway::options()).await;
    let expected = (
        503,
        14,
        &*format!("upstream https://{cleartext} unavailable"),
    );
    twice(&tls, "/v1/echo/x", &[], expected, Duration::from_secs(2)).await;
}
