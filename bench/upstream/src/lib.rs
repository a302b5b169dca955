//! The benchmark's gRPC upstream (bench/proto/bench/v1/bench.proto), and what the load client
//! shares with it: the prost messages, the fixed messages every scenario sends and returns, and
//! a codec that moves already-encoded protobuf bytes.
//!
//! The server is as cheap as a tonic server can be, so that it is the reference the proxy is
//! compared with: responses are encoded once at start-up and written from shared [`Bytes`]
//! (no per-request message building, encoding or allocation beyond what tonic itself does), and
//! `Echo` returns the request's bytes without decoding them.

use std::future::Future;

use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

mod codec;
pub mod fixtures;
mod server;

pub use bytes::Bytes;
pub use codec::RawCodec;
pub use server::BenchServer;

/// The prost messages of `bench.v1`.
pub mod pb {
    #![allow(missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/bench.v1.rs"));
}

/// Full gRPC paths of the bench service's methods.
pub mod paths {
    /// `rpc GetItem(GetItemRequest) returns (Item)`.
    pub const GET_ITEM: &str = "/bench.v1.BenchService/GetItem";
    /// `rpc Echo(Item) returns (Item)`.
    pub const ECHO: &str = "/bench.v1.BenchService/Echo";
    /// `rpc StreamItems(StreamItemsRequest) returns (stream Item)`.
    pub const STREAM_ITEMS: &str = "/bench.v1.BenchService/StreamItems";
}

/// Serves the bench service on a bound TCP listener until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        conn.inspect(|stream| {
            // Small gRPC frames must not wait on delayed ACKs; failing only costs latency.
            let _ = stream.set_nodelay(true);
        })
    });
    Server::builder()
        .add_service(BenchServer::new())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
