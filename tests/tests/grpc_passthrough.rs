#![allow(clippy::unwrap_used)]
//! Native gRPC clients on the proxy's port: a tonic client calls the echo API through the proxy
//! (every streaming kind, metadata both ways, deadlines, error details), and REST calls keep
//! working on the same port.

use std::time::{Duration, Instant};

use protogate_tests::pb::echo_service_client::EchoServiceClient;
use protogate_tests::pb::{Echo, FailRequest, HeadersRequest, SleepRequest, StreamRequest};
use protogate_tests::{
    Address, RpcStatus, Server, WITH_DETAILS, assert_echo_serves, echo_stack, echo_upstream_unix,
    gateway, pool, serve_tcp, serve_unix,
};
use tonic::Code;
use tonic::transport::Channel;

/// A tonic client of the echo API whose channel goes to the proxy, not the upstream.
async fn client(proxy: &Server) -> EchoServiceClient<Channel> {
    EchoServiceClient::new(protogate_tests::tonic_channel(&proxy.address))
}

fn echo(id: &str) -> Echo {
    Echo {
        id: id.to_string(),
        ..Echo::default()
    }
}

#[tokio::test]
async fn unary_calls_pass_through_with_metadata_both_ways() {
    let (proxy, _upstream) = echo_stack().await;
    let mut client = client(&proxy).await;
    let mut request = tonic::Request::new(Echo {
        id: "grpc".to_string(),
        name: "native".to_string(),
        nums: vec![1, 2, 3],
        ..Echo::default()
    });
    request
        .metadata_mut()
        .insert("x-user", "alice".parse().unwrap());
    let reply = client.get(request).await.unwrap();
    let message = reply.get_ref();
    assert_eq!(message.id, "grpc");
    assert_eq!(message.name, "native");
    assert_eq!(message.nums, [1, 2, 3]);

    // The upstream saw the client's metadata, binary included, and the forwarding headers.
    let mut request = tonic::Request::new(HeadersRequest::default());
    request
        .metadata_mut()
        .insert("x-user", "alice".parse().unwrap());
    request.metadata_mut().insert_bin(
        "x-blob-bin",
        tonic::metadata::MetadataValue::from_bytes(&[0, 1, 2, 255]),
    );
    let reply = client.headers(request).await.unwrap().into_inner();
    let received = |key: &str| -> Vec<String> {
        reply
            .received
            .iter()
            .filter(|e| e.key == key)
            .map(|e| e.value.clone())
            .collect()
    };
    assert_eq!(received("x-user"), ["alice"]);
    assert_eq!(received("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(received("x-blob-bin").len(), 1, "{reply:?}");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn errors_keep_their_code_message_and_details() {
    let (proxy, _upstream) = echo_stack().await;
    let mut client = client(&proxy).await;
    let status = client
        .fail(FailRequest {
            code: Code::NotFound as i32,
            message: "no such shelf".to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "no such shelf");

    let status = client
        .fail(FailRequest {
            code: Code::FailedPrecondition as i32,
            message: WITH_DETAILS.to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let details = <RpcStatus as prost::Message>::decode(status.details()).unwrap();
    assert_eq!(details.details.len(), 2, "{details:?}");
    assert_eq!(
        details.details[0].type_url,
        "type.googleapis.com/google.rpc.ErrorInfo"
    );
}

#[tokio::test]
async fn deadlines_reach_the_upstream() {
    let (proxy, _upstream) = echo_stack().await;
    let mut client = client(&proxy).await;
    let mut request = tonic::Request::new(SleepRequest { millis: 5_000 });
    request.set_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let status = client.sleep(request).await.unwrap_err();
    // The upstream's DEADLINE_EXCEEDED, or tonic's own timer firing first (which it reports
    // as CANCELLED).
    assert!(
        status.code() == Code::DeadlineExceeded || status.message() == "Timeout expired",
        "{status:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // The call was cancelled upstream too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while protogate_tests::sleeping(5_000) > 0 {
        assert!(
            Instant::now() < deadline,
            "the upstream call was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_streaming_kind_passes_through() {
    let (proxy, _upstream) = echo_stack().await;
    let mut client = client(&proxy).await;

    // Server streaming.
    let mut replies = client
        .stream(StreamRequest {
            id: "s".to_string(),
            count: 5,
            ..StreamRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(reply) = replies.message().await.unwrap() {
        assert_eq!(reply.id, "s");
        n += 1;
    }
    assert_eq!(n, 5);

    // A server stream that fails after two replies: the status arrives after them.
    let mut replies = client
        .stream(StreamRequest {
            id: "f".to_string(),
            count: 5,
            fail_code: Code::Aborted as i32,
            fail_after: 2,
            ..StreamRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(replies.message().await.unwrap().is_some());
    assert!(replies.message().await.unwrap().is_some());
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");

    // Client streaming.
    let messages = tokio_stream::iter((0..4).map(|i| echo(&format!("c{i}"))));
    let collected = client.collect(messages).await.unwrap().into_inner();
    assert_eq!(collected.count, 4);
    let ids: Vec<&str> = collected.received.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["c0", "c1", "c2", "c3"]);

    // Bidirectional: each message is answered before the next is sent.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut replies = client
        .chat(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    for i in 0..3 {
        tx.send(echo(&format!("b{i}"))).await.unwrap();
        let reply = replies.message().await.unwrap().unwrap();
        assert_eq!(reply.id, format!("b{i}"));
    }
    drop(tx);
    assert!(replies.message().await.unwrap().is_none());
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn a_service_the_proxy_was_not_generated_for_is_unimplemented() {
    let (proxy, _upstream) = echo_stack().await;
    // The health service: the upstream may serve it, but the proxy passes only echo's.
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        protogate_tests::tonic_channel(&proxy.address),
    );
    let status = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(
        status.message().contains("/grpc.health.v1.Health/Check"),
        "{status:?}"
    );
    // The proxy still serves both kinds of clients.
    let mut client = client(&proxy).await;
    client.get(echo("after")).await.unwrap();
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_unavailable_in_grpc_form() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = Address::Tcp(closed.local_addr().unwrap());
    drop(closed);
    let proxy = serve_tcp(gateway::router(pool(&address))).await;
    let mut client = client(&proxy).await;
    for _ in 0..2 {
        let status = client.get(echo("x")).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(status.message().contains("unavailable"), "{status:?}");
    }
}

#[tokio::test]
async fn the_proxys_own_limits_answer_in_grpc_form() {
    let upstream = echo_upstream_unix().await;
    let mut options = gateway::options();
    options.max_header_bytes = 256;
    let proxy = serve_unix(gateway::router_with_options(
        pool(&upstream.address),
        options,
    ))
    .await;
    let mut client = client(&proxy).await;
    let mut request = tonic::Request::new(echo("big"));
    request
        .metadata_mut()
        .insert("x-big", "x".repeat(1024).parse().unwrap());
    let status = client.get(request).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("header"), "{status:?}");
    client.get(echo("small")).await.unwrap();
}

/// h2 servers end a connection after 100 empty DATA frames without END_STREAM; a streamed
/// request's empty last chunk must not become one per call.
#[tokio::test]
async fn many_client_streams_on_one_connection_all_succeed() {
    let (proxy, _upstream) = echo_stack().await;
    let mut client = client(&proxy).await;
    for i in 0..150 {
        let messages = tokio_stream::iter([echo(&format!("m{i}"))]);
        let collected = client
            .collect(messages)
            .await
            .unwrap_or_else(|status| panic!("call {i}: {status:?}"))
            .into_inner();
        assert_eq!(collected.count, 1);
    }
}
