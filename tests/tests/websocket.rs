#![allow(clippy::unwrap_used)]
//! WebSocket sessions on streaming routes (DESIGN.md §3.8), with a real WebSocket client
//! (tokio-tungstenite) over HTTP/1.1, and over HTTP/2 with an extended CONNECT (RFC 8441): one
//! JSON message per frame each way, close codes reporting the final status, cancellation.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use protogate_tests::streaming::{
    self, Outcome, Version, addr, exchange, stream_state, unique, wait_for_stream,
};
use protogate_tests::{Server, assert_echo_serves, echo_stack, serve_tcp};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// A WebSocket client over any byte stream.
type Socket<S> = tokio_tungstenite::WebSocketStream<S>;

async fn connect(
    proxy: &Server,
    path: &str,
) -> Socket<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("ws://{}{path}", addr(proxy));
    let (socket, response) = tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("upgrade {path}: {e}"));
    assert_eq!(response.status(), 101);
    socket
}

/// The next data frame as JSON; panics on anything else.
async fn next_json<S>(socket: &mut Socket<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match next(socket).await {
        Message::Text(text) => serde_json::from_str(&text).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

async fn next<S>(socket: &mut Socket<S>) -> Message
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::time::timeout(Duration::from_secs(20), socket.next())
        .await
        .expect("a frame within 20 s")
        .expect("a frame")
        .expect("a good frame")
}

/// The close frame that ends the session: its code and reason.
async fn closed<S>(socket: &mut Socket<S>) -> (u16, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match next(socket).await {
        Message::Close(Some(frame)) => (u16::from(frame.code), frame.reason.to_string()),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

async fn send<S>(socket: &mut Socket<S>, text: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    socket.send(Message::text(text)).await.unwrap();
}

#[tokio::test]
async fn server_stream_over_websocket() {
    let (proxy, _upstream) = echo_stack().await;
    let id = unique("ws-server");
    let mut socket = connect(&proxy, &format!("/v1/stream/{id}?count=3")).await;
    for i in 0..3 {
        let frame = next_json(&mut socket).await;
        assert_eq!(frame["result"]["index"], i);
        assert_eq!(frame["result"]["id"], id.as_str());
    }
    assert_eq!(closed(&mut socket).await, (1000, String::new()));
}

#[tokio::test]
async fn server_stream_body_is_the_first_frame_and_path_variables_win() {
    let (proxy, _upstream) = echo_stack().await;
    let mut socket = connect(&proxy, "/v1/stream").await;
    send(&mut socket, r#"{"id": "from-frame", "count": 2}"#).await;
    assert_eq!(next_json(&mut socket).await["result"]["id"], "from-frame");
    assert_eq!(next_json(&mut socket).await["result"]["index"], 1);
    assert_eq!(closed(&mut socket).await.0, 1000);

    let mut socket = connect(&proxy, "/v1/stream/from-path:start").await;
    send(&mut socket, r#"{"id": "from-frame", "count": 1}"#).await;
    assert_eq!(next_json(&mut socket).await["result"]["id"], "from-path");
    assert_eq!(closed(&mut socket).await.0, 1000);
}

#[tokio::test]
async fn client_stream_over_websocket_ends_with_an_empty_frame() {
    let (proxy, _upstream) = echo_stack().await;
    let mut socket = connect(&proxy, "/v1/collect").await;
    for i in 0..3 {
        send(&mut socket, &format!(r#"{{"id": "m{i}"}}"#)).await;
    }
    send(&mut socket, "").await;
    let reply = next_json(&mut socket).await;
    assert_eq!(reply["result"]["count"], 3);
    assert_eq!(reply["result"]["received"][2]["id"], "m2");
    assert_eq!(closed(&mut socket).await.0, 1000);

    // `EOF`, as tmc/grpc-websocket-proxy clients send it, ends the stream too.
    let mut socket = connect(&proxy, "/v1/collect/nested?id=q").await;
    send(&mut socket, r#"{"name": "n"}"#).await;
    send(&mut socket, "EOF").await;
    let reply = next_json(&mut socket).await;
    assert_eq!(
        reply["result"]["received"][0]["nested"],
        json!({"name": "n", "count": 0, "notes": []})
    );
    assert_eq!(reply["result"]["received"][0]["id"], "q");
    assert_eq!(closed(&mut socket).await.0, 1000);
}

#[tokio::test]
async fn bidi_over_websocket_is_a_conversation() {
    let (proxy, _upstream) = echo_stack().await;
    let id = unique("ws-chat");
    let mut socket = connect(&proxy, "/v1/chat").await;
    for i in 0..5 {
        send(&mut socket, &format!(r#"{{"id": "{id}", "num": {i}}}"#)).await;
        let reply = next_json(&mut socket).await;
        assert_eq!(reply["result"]["num"], i);
    }
    send(&mut socket, "").await;
    assert_eq!(closed(&mut socket).await.0, 1000);
    let state = wait_for_stream(&id, |s| s.outcome != Outcome::Running).await;
    assert_eq!((state.count, state.outcome), (5, Outcome::Completed));
}

#[tokio::test]
async fn close_codes_report_the_final_status() {
    let (proxy, _upstream) = echo_stack().await;
    let path = format!(
        "/v1/stream/{}?count=3&failCode=10&failAfter=1",
        unique("ws-fail")
    );
    let mut socket = connect(&proxy, &path).await;
    assert_eq!(next_json(&mut socket).await["result"]["index"], 0);
    assert_eq!(
        next_json(&mut socket).await,
        json!({"error": {"code": 10, "message": "failed after 1 replies", "details": []}})
    );
    assert_eq!(
        closed(&mut socket).await,
        (4010, "failed after 1 replies".to_string())
    );

    // Before any message (the upstream refuses the call).
    let path = format!(
        "/v1/stream/{}?count=3&failCode=5&failAfter=-1",
        unique("ws-fail")
    );
    let mut socket = connect(&proxy, &path).await;
    assert_eq!(next_json(&mut socket).await["error"]["code"], 5);
    assert_eq!(closed(&mut socket).await.0, 4005);

    // A client-stream call that fails.
    let mut socket = connect(&proxy, "/v1/collect").await;
    send(&mut socket, r#"{"name": "fail:9"}"#).await;
    send(&mut socket, "").await;
    assert_eq!(next_json(&mut socket).await["error"]["code"], 9);
    assert_eq!(closed(&mut socket).await.0, 4009);
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn bad_frames_end_the_session_with_invalid_argument() {
    let (proxy, _upstream) = echo_stack().await;
    let id = unique("ws-bad");
    let mut socket = connect(&proxy, "/v1/chat").await;
    send(&mut socket, &format!(r#"{{"id": "{id}"}}"#)).await;
    next_json(&mut socket).await;
    send(&mut socket, r#"{"num": "one"}"#).await;
    let error = next_json(&mut socket).await;
    assert_eq!(error["error"]["code"], 3);
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("invalid JSON in message 2 of the request stream at line 1, column 9"),
        "{message}"
    );
    let (code, reason) = closed(&mut socket).await;
    assert_eq!(code, 4003);
    assert!(
        reason.len() <= 123 && reason.starts_with("invalid JSON"),
        "{reason}"
    );
    let state = wait_for_stream(&id, |s| s.outcome != Outcome::Running).await;
    assert_ne!(
        state.outcome,
        Outcome::Completed,
        "the call is cancelled, not completed"
    );

    // A route whose request comes from the path takes no frames.
    let gated = unique("ws-gated");
    let mut socket = connect(&proxy, &format!("/v1/stream/{gated}?count=5&gated=true")).await;
    next_json(&mut socket).await;
    send(&mut socket, "{}").await;
    let error = next_json(&mut socket).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("takes its request from the path"),
        "{error}"
    );
    assert_eq!(closed(&mut socket).await.0, 4003);
    let state = wait_for_stream(&gated, |s| s.outcome != Outcome::Running).await;
    assert_eq!(state.outcome, Outcome::Cancelled);
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn a_client_closing_or_leaving_cancels_the_call() {
    let (proxy, _upstream) = echo_stack().await;
    let id = unique("ws-close");
    let mut socket = connect(
        &proxy,
        &format!("/v1/stream/{id}?count=100000&intervalMs=10"),
    )
    .await;
    next_json(&mut socket).await;
    socket.close(None).await.unwrap();
    let state = wait_for_stream(&id, |s| s.outcome != Outcome::Running).await;
    assert_eq!(state.outcome, Outcome::Cancelled);

    let id = unique("ws-leave");
    let mut socket = connect(&proxy, "/v1/chat").await;
    send(&mut socket, &format!(r#"{{"id": "{id}"}}"#)).await;
    next_json(&mut socket).await;
    drop(socket);
    let state = wait_for_stream(&id, |s| s.outcome != Outcome::Running).await;
    assert!(
        matches!(state.outcome, Outcome::Failed(_) | Outcome::Cancelled),
        "{state:?}"
    );
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn http_body_streams_are_binary_frames() {
    let (proxy, _upstream) = echo_stack().await;
    let mut socket = connect(&proxy, "/v1/download/ws?size=200000&chunk=65536").await;
    let mut data = Vec::new();
    loop {
        match next(&mut socket).await {
            Message::Binary(chunk) => data.extend_from_slice(&chunk),
            Message::Close(Some(frame)) => {
                assert_eq!(frame.code, CloseCode::Normal);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(data, streaming::pattern(0, 200_000));

    // Binary frames in: raw chunks both ways.
    let mut socket = connect(&proxy, "/v1/echo-raw").await;
    socket
        .send(Message::binary(vec![0u8, 159, 146, 150]))
        .await
        .unwrap();
    match next(&mut socket).await {
        Message::Binary(chunk) => assert_eq!(chunk.as_ref(), [0u8, 159, 146, 150]),
        other => panic!("{other:?}"),
    }
    socket.send(Message::binary(Vec::new())).await.unwrap();
    assert_eq!(closed(&mut socket).await.0, 1000);
}

#[tokio::test]
async fn errors_before_the_upgrade_are_http_errors() {
    let (proxy, _upstream) = echo_stack().await;
    let url = format!("ws://{}/v1/stream/x?bogus=1", addr(&proxy));
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert!(
                body["message"].as_str().unwrap().contains("bogus"),
                "{body}"
            );
        }
        other => panic!("expected a 400, got {other:?}"),
    }

    // A malformed upgrade on a streaming route.
    let headers = [("upgrade", "websocket"), ("connection", "upgrade")];
    let (status, _, body) = exchange(
        addr(&proxy),
        Version::Http1,
        "GET",
        "/v1/chat",
        &headers,
        "",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid WebSocket upgrade"), "{body}");

    // An upgrade on a unary route is an ordinary request.
    let headers = [
        ("upgrade", "websocket"),
        ("connection", "upgrade"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ];
    let (status, _, body) = exchange(
        addr(&proxy),
        Version::Http1,
        "GET",
        "/v1/echo/plain",
        &headers,
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["id"], "plain");
    assert_echo_serves(&proxy).await;
}

/// A WebSocket over HTTP/2: an extended CONNECT (RFC 8441) on an h2c connection.
async fn connect_h2(
    proxy: &Server,
    path: &str,
) -> Socket<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>> {
    let at = addr(proxy);
    let stream = tokio::net::TcpStream::connect(at).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    // The server's SETTINGS (which enable extended CONNECT) arrive with its first reply.
    let warm_up = http::Request::get(format!("http://{at}/v1/echo/warm"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    sender.send_request(warm_up).await.unwrap();
    let mut request = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://{at}{path}"))
        .header("sec-websocket-version", "13")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let upgraded = hyper::upgrade::on(response).await.unwrap();
    Socket::from_raw_socket(
        hyper_util::rt::TokioIo::new(upgraded),
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await
}

#[tokio::test]
async fn websocket_over_http2() {
    let (proxy, _upstream) = echo_stack().await;
    let id = unique("ws-h2");
    let mut socket = connect_h2(&proxy, "/v1/chat").await;
    for i in 0..3 {
        send(&mut socket, &format!(r#"{{"id": "{id}", "num": {i}}}"#)).await;
        assert_eq!(next_json(&mut socket).await["result"]["num"], i);
    }
    send(&mut socket, "").await;
    assert_eq!(closed(&mut socket).await.0, 1000);

    let path = format!(
        "/v1/stream/{}?count=2&failCode=14&failAfter=2",
        unique("ws-h2")
    );
    let mut socket = connect_h2(&proxy, &path).await;
    next_json(&mut socket).await;
    next_json(&mut socket).await;
    assert_eq!(next_json(&mut socket).await["error"]["code"], 14);
    assert_eq!(closed(&mut socket).await.0, 4014);
    assert_eq!(stream_state(&id).outcome, Outcome::Completed);
}

#[tokio::test]
async fn websocket_in_process() {
    let proxy = serve_tcp(protogate_tests::gateway::router(
        protogate_tests::echo_service(),
    ))
    .await;
    let mut socket = connect(&proxy, "/v1/chat").await;
    send(&mut socket, r#"{"id": "in-process"}"#).await;
    assert_eq!(next_json(&mut socket).await["result"]["id"], "in-process");
    send(&mut socket, "").await;
    assert_eq!(closed(&mut socket).await.0, 1000);

    let mut socket = connect(&proxy, "/v1/collect").await;
    send(&mut socket, r#"{"id": "a"}"#).await;
    send(&mut socket, r#"{"id": 1}"#).await;
    assert_eq!(next_json(&mut socket).await["error"]["code"], 3);
    assert_eq!(closed(&mut socket).await.0, 4003);
}
