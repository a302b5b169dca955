//! What the generated route table tells the layers around it (operations, limits, metrics):
//! each binding's method, template and gRPC method, and the marks a dispatched response
//! carries. The lowest of those layers, so they all depend on it and not on each other.

use std::future::Future;
use std::pin::Pin;

use axum::response::{IntoResponse, Response};
use http::Method;
use tonic::Code;

use super::error::Error;
use super::json::{AnyType, JsonOptions};

/// One HTTP binding, as the route table names it in logs and metrics.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// `GET`, `POST`, … or a custom method.
    pub method: &'static str,
    /// The path template: `/v1/{name=shelves/*}`.
    pub template: &'static str,
    /// The gRPC method: `/library.v1.LibraryService/GetShelf`.
    pub grpc_method: &'static str,
}

/// What the generated route table tells the operations layer.
#[derive(Debug, Clone, Copy)]
pub struct Routes {
    /// The binding that serves `method` on `path`, if any.
    pub find: fn(&Method, &str) -> Option<&'static Binding>,
    /// A binding whose template matches `path` under any method.
    pub claims: fn(&str) -> Option<&'static Binding>,
    /// Every HTTP method the API serves.
    pub methods: &'static [&'static str],
    /// Every gRPC method of the API's services, sorted by gRPC path: what gRPC, gRPC-Web and
    /// Connect clients may call through the proxy.
    pub grpc: &'static [GrpcMethod],
}

/// One gRPC method as clients of the RPC protocols call it, with the JSON form of its
/// messages (for Connect's and gRPC-Web's JSON codecs).
#[derive(Debug)]
pub struct GrpcMethod {
    /// Method `POST`, template and gRPC method the gRPC path: how logs and metrics name it.
    pub binding: Binding,
    /// Which sides stream.
    pub kind: Kind,
    /// `idempotency_level = NO_SIDE_EFFECTS`: Connect clients may call it with `GET`.
    pub no_side_effects: bool,
    /// The request message: JSON in, protobuf out.
    pub request_from_json: JsonToProto,
    /// The reply message: protobuf in, JSON out.
    pub reply_to_json: ProtoToJson,
}

/// A message's JSON to its protobuf encoding, with the router's JSON options and `Any` types.
pub type JsonToProto = fn(&JsonOptions, &'static [AnyType], &[u8]) -> Result<bytes::Bytes, Error>;

/// A message's protobuf encoding to its JSON.
pub type ProtoToJson = fn(&JsonOptions, &'static [AnyType], &[u8]) -> Result<Vec<u8>, Error>;

/// Which sides of a call stream messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One request message, one reply.
    Unary,
    /// One request message, a stream of replies.
    ServerStreaming,
    /// A stream of request messages, one reply.
    ClientStreaming,
    /// Streams both ways.
    Bidi,
}

/// In a response's extensions: the binding that served it.
#[derive(Debug, Clone, Copy)]
pub struct Matched(pub &'static Binding);

/// In a response's extensions: the gRPC code of the error it answers.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub Code);

/// The reply of a dispatched request, marked with its binding and, for an error, its code.
pub fn reply(result: Result<Response, Error>, binding: Option<&'static Binding>) -> Response {
    let mut response = match result {
        Ok(response) => response,
        Err(e) => {
            let code = e.code();
            let mut response = e.into_response();
            response.extensions_mut().insert(ErrorCode(code));
            response
        }
    };
    if let Some(binding) = binding {
        response.extensions_mut().insert(Matched(binding));
    }
    response
}

/// A binding's handler, boxed so the route table's dispatch holds one pointer, not every
/// handler's state.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<Response, Error>> + Send + 'a>>;
