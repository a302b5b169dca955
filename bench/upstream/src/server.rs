//! The bench service, written as tonic-build would generate it but over [`RawCodec`], so that
//! responses are pre-encoded bytes.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::iter::{Map, RepeatN};
use std::task::{Context, Poll};

use bytes::Bytes;
use prost::Message as _;
use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::{Grpc, NamedService, ServerStreamingService, UnaryService};
use tonic::{Request, Response, Status};

use crate::pb::StreamItemsRequest;
use crate::{RawCodec, fixtures, paths};

/// Items streamed when the request's `count` is 0.
pub const DEFAULT_STREAM_COUNT: usize = 100;
/// The most items one `StreamItems` call sends, whatever it asks for.
pub const MAX_STREAM_COUNT: usize = 100_000;

/// `bench.v1.BenchService` over pre-encoded messages. Cloning shares the encoded item.
#[derive(Debug, Clone)]
pub struct BenchServer {
    item: Bytes,
}

impl BenchServer {
    /// Encodes [`fixtures::item`] once; every `GetItem` and stream item sends these bytes.
    pub fn new() -> Self {
        BenchServer {
            item: Bytes::from(fixtures::item().encode_to_vec()),
        }
    }
}

impl Default for BenchServer {
    fn default() -> Self {
        Self::new()
    }
}

impl NamedService for BenchServer {
    const NAME: &'static str = "bench.v1.BenchService";
}

/// `GetItem`: answers the pre-encoded item, whatever the id.
struct GetItem(Bytes);

impl UnaryService<Bytes> for GetItem {
    type Response = Bytes;
    type Future = Ready<Result<Response<Bytes>, Status>>;

    fn call(&mut self, _request: Request<Bytes>) -> Self::Future {
        ready(Ok(Response::new(self.0.clone())))
    }
}

/// `Echo`: answers the request's own bytes.
struct Echo;

impl UnaryService<Bytes> for Echo {
    type Response = Bytes;
    type Future = Ready<Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        ready(Ok(Response::new(request.into_inner())))
    }
}

/// `StreamItems`: `count` copies of the pre-encoded item.
struct StreamItems(Bytes);

type ItemStream = tokio_stream::Iter<Map<RepeatN<Bytes>, fn(Bytes) -> Result<Bytes, Status>>>;

impl ServerStreamingService<Bytes> for StreamItems {
    type Response = Bytes;
    type ResponseStream = ItemStream;
    type Future = Ready<Result<Response<ItemStream>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let count = match StreamItemsRequest::decode(request.into_inner()) {
            Ok(request) => usize::try_from(request.count).unwrap_or(0),
            Err(err) => return ready(Err(Status::invalid_argument(err.to_string()))),
        };
        let count = match count {
            0 => DEFAULT_STREAM_COUNT,
            n => n.min(MAX_STREAM_COUNT),
        };
        let ok: fn(Bytes) -> Result<Bytes, Status> = Ok;
        let items = std::iter::repeat_n(self.0.clone(), count).map(ok);
        ready(Ok(Response::new(tokio_stream::iter(items))))
    }
}

impl<B> Service<http::Request<B>> for BenchServer
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let item = self.item.clone();
        match req.uri().path() {
            paths::GET_ITEM => {
                Box::pin(async move { Ok(Grpc::new(RawCodec).unary(GetItem(item), req).await) })
            }
            paths::ECHO => Box::pin(async move { Ok(Grpc::new(RawCodec).unary(Echo, req).await) }),
            paths::STREAM_ITEMS => Box::pin(async move {
                Ok(Grpc::new(RawCodec)
                    .server_streaming(StreamItems(item), req)
                    .await)
            }),
            _ => Box::pin(async move { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}
