//! Support code for the generated routes and handlers: path and query decoding, ProtoJSON,
//! error mapping, metadata, the upstream call and streaming (NDJSON, Server-Sent Events,
//! WebSocket); around them, limits, health, metrics and CORS (ops) and serving (serve). Plain
//! code, emitted with every generated crate so it has no dependency on protogate itself.

pub mod binding;
pub mod connect;
pub mod cors;
pub mod error;
pub mod field;
pub mod field_mask;
mod grpc;
pub mod http2_client;
pub mod json;
pub mod limits;
pub mod metadata;
pub mod metrics;
pub mod ops;
pub mod path;
pub mod query;
pub mod scalar;
pub mod serve;
pub mod service;
pub mod stream;
pub mod system_params;
pub mod tls;
pub mod upstream;
pub mod websocket;
pub mod wkt;

pub use cors::Cors;
pub use error::Error;
pub use serve::ConnLimits;
pub use service::Upstream;
pub use upstream::{Gateway, Options, Unary};
