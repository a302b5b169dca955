//! Support code for the generated routes and handlers: path and query decoding, ProtoJSON,
//! error mapping, metadata, the upstream call and streaming (NDJSON, Server-Sent Events,
//! WebSocket). Plain code, emitted with every generated crate
//! so it has no dependency on protogate itself.

pub mod error;
pub mod field;
pub mod field_mask;
pub mod json;
pub mod metadata;
pub mod path;
pub mod query;
pub mod scalar;
pub mod stream;
pub mod upstream;
pub mod websocket;
pub mod wkt;

pub use error::Error;
pub use upstream::{Gateway, Options, Upstream};
