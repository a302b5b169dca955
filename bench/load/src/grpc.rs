//! The reference: gRPC calls straight to the upstream over one tonic channel, with the
//! pre-encoded request bytes and no response decoding (so the client costs as little as the
//! HTTP clients, which do not parse JSON either).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use prost::Message as _;
use protogate_bench_upstream::pb::StreamItemsRequest;
use protogate_bench_upstream::{RawCodec, fixtures, paths};
use tokio::time::{Instant, timeout_at};
use tonic::client::Grpc;
use tonic::transport::{Channel, Endpoint};

use crate::Scenario;
use crate::stats::{Plan, WorkerStats};

/// The one call a run makes, over and over.
#[derive(Debug)]
pub struct Spec {
    path: PathAndQuery,
    request: Bytes,
    stream: bool,
}

impl Spec {
    pub fn new(scenario: Scenario, stream_count: u32) -> Spec {
        match scenario {
            Scenario::Get => Spec {
                path: PathAndQuery::from_static(paths::GET_ITEM),
                request: fixtures::get_item_request().encode_to_vec().into(),
                stream: false,
            },
            Scenario::Echo => Spec {
                path: PathAndQuery::from_static(paths::ECHO),
                request: fixtures::echo_item().encode_to_vec().into(),
                stream: false,
            },
            Scenario::Stream => Spec {
                path: PathAndQuery::from_static(paths::STREAM_ITEMS),
                request: StreamItemsRequest {
                    count: i32::try_from(stream_count).unwrap_or(i32::MAX),
                }
                .encode_to_vec()
                .into(),
                stream: true,
            },
        }
    }
}

/// Connects the channel all gRPC workers share (one HTTP/2 connection, as the proxy has).
pub async fn connect(target: SocketAddr) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(format!("http://{target}"))
        .map_err(|err| format!("bad upstream address {target}: {err}"))?
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true);
    endpoint
        .connect()
        .await
        .map_err(|err| format!("cannot connect to {target}: {err}"))
}

/// One call at a time on the shared channel, until the run ends.
pub async fn worker(channel: Channel, spec: Arc<Spec>, plan: Plan) -> WorkerStats {
    let mut grpc = Grpc::new(channel);
    let mut stats = WorkerStats::new();
    let mut sent = 0u64;
    while plan.may_send(sent) {
        sent += 1;
        let started = Instant::now();
        let outcome = timeout_at(plan.deadline(), call(&mut grpc, &spec)).await;
        match outcome {
            Ok(Ok((messages, bytes))) => stats.success(&plan, started, messages, bytes),
            Ok(Err(err)) => {
                stats.failure(&plan, err);
                // A failing channel must not spin: pause briefly (bounded by the plan).
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(_) => stats.failure(&plan, "timed out".into()),
        }
    }
    stats
}

/// Makes one call; a success is status OK with non-empty messages. Returns the messages received
/// and their total length.
async fn call(grpc: &mut Grpc<Channel>, spec: &Spec) -> Result<(u64, u64), String> {
    grpc.ready()
        .await
        .map_err(|err| format!("channel not ready: {err}"))?;
    let request = tonic::Request::new(spec.request.clone());
    if !spec.stream {
        let response = grpc
            .unary(request, spec.path.clone(), RawCodec)
            .await
            .map_err(|status| format!("status {:?}: {}", status.code(), status.message()))?;
        let body = response.into_inner();
        if body.is_empty() {
            return Err("empty response message".into());
        }
        return Ok((1, body.len() as u64));
    }
    let mut stream = grpc
        .server_streaming(request, spec.path.clone(), RawCodec)
        .await
        .map_err(|status| format!("status {:?}: {}", status.code(), status.message()))?
        .into_inner();
    let (mut messages, mut bytes) = (0u64, 0u64);
    while let Some(item) = stream
        .message()
        .await
        .map_err(|status| format!("stream status {:?}: {}", status.code(), status.message()))?
    {
        if item.is_empty() {
            return Err("empty stream item".into());
        }
        messages += 1;
        bytes += item.len() as u64;
    }
    if messages == 0 {
        return Err("empty stream".into());
    }
    Ok((messages, bytes))
}
