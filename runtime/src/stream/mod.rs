//! Streaming RPCs over plain HTTP (DESIGN.md §3.8 and §3.9).
//!
//! - Responses: newline-delimited JSON (`application/x-ndjson`), one `{"result": <message>}`
//!   line per message (bare with [`Options::bare_stream_messages`]), or Server-Sent Events
//!   (`data: <message>`) when the client accepts `text/event-stream`; a `google.api.HttpBody`
//!   stream is written raw, chunk after chunk. Each message is sent as it arrives. The first
//!   message decides the status: an error before it is an ordinary error reply, an error after
//!   it a final `{"error": <Status>}` line (an `error` event in SSE).
//! - Requests: the body is a sequence of JSON values (NDJSON, or values one after another with
//!   any whitespace between), each decoded and sent upstream as soon as it is complete; a
//!   `google.api.HttpBody` request stream sends the body's chunks as they arrive. A decode
//!   error resets the upstream call and is reported to the client.
//! - Backpressure: nothing is read from one side faster than the other side takes it, so a slow
//!   client slows the upstream and memory stays bounded; dropping the reply (the client went
//!   away) cancels the upstream call.
//!
//! Its parts: the codecs of an RPC's messages (`codec`), the streaming calls (`call`), the
//! response writers (`write`), the request stream (`request`) and its JSON splitter (`split`),
//! the request stream's failure (`failure`), and the channel that feeds a WebSocket session's
//! messages to the upstream (`channel`).
//!
//! [`Options::bare_stream_messages`]: crate::Options::bare_stream_messages

mod call;
mod channel;
mod codec;
mod failure;
mod request;
mod split;
mod write;

pub(crate) use channel::{Feeder, channel};
pub(crate) use codec::{Decode, Encode};
pub use codec::{Decoder, Encoder};
pub use request::content_type;
pub(crate) use request::decode_error;
pub(crate) use split::Position;
