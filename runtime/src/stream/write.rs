//! The response writers of streaming RPCs: the upstream's messages as they come, as NDJSON
//! lines, Server-Sent Events or raw `google.api.HttpBody` chunks, then the trailers; an error
//! after the first message ends the stream as an error line or event.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::FutureExt as _;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use http_body::Frame;

use super::codec::Encode;
use super::failure::{Failure, unless_failed};
use crate::error::Error;
use crate::json::{AnyType, JsonOptions};
use crate::metadata;
use crate::upstream::{Gateway, Incoming};

impl Gateway {
    /// Waits for the first message (an error before it is the reply), then streams the rest.
    pub(super) async fn stream_reply(
        &self,
        parts: &Parts,
        mut incoming: Incoming,
        encode: Encode,
        mut failure: Failure,
    ) -> Result<Response, Error> {
        let format = match encode {
            Encode::Raw(_) => Format::Raw,
            Encode::Json(_) if accepts_event_stream(parts) => Format::Sse,
            Encode::Json(_) => Format::Ndjson {
                bare: self.options.bare_stream_messages,
            },
        };
        let keep_alive = match format {
            Format::Sse => self.options.sse_keep_alive,
            _ => None,
        };
        // An idle Server-Sent Events stream gets its headers and keep-alives without waiting.
        let first =
            match unless_idle(keep_alive, unless_failed(&mut failure, incoming.message())).await {
                Some(message) => message??,
                None => None,
            };
        let echoed = metadata::response_headers(&incoming.headers);
        let mut out = Out {
            incoming,
            first: None,
            encode,
            format,
            json: self.reply_json(&parts.extensions).into_owned(),
            types: self.types,
            keep_alive,
            trailers: accepts_trailers(parts),
            failure,
            pending_trailers: None,
            after: None,
            done: false,
        };
        let content_type = match (&out.encode, first) {
            // A raw stream has the content type of its first chunk.
            (Encode::Raw(raw), Some(message)) => {
                let (content_type, data) = raw(&message)?;
                out.first = Some(Bytes::from(data));
                HeaderValue::try_from(content_type)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .unwrap_or(HeaderValue::from_static("application/octet-stream"))
            }
            (Encode::Raw(_), None) => HeaderValue::from_static("application/octet-stream"),
            (Encode::Json(_), first) => {
                out.first = first.map(|m| out.encode(&m)).transpose()?;
                HeaderValue::from_static(if format == Format::Sse {
                    "text/event-stream"
                } else {
                    "application/x-ndjson"
                })
            }
        };
        let mut reply = Response::new(Body::new(http_body_util::StreamBody::new(
            futures_util::stream::unfold(out, Out::next_frame),
        )));
        *reply.status_mut() = StatusCode::OK;
        let headers = reply.headers_mut();
        headers.extend(echoed);
        headers.insert(header::CONTENT_TYPE, content_type);
        if format == Format::Sse {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
        Ok(reply)
    }
}

/// How a response stream is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// One JSON value per line, in a `{"result": …}` envelope unless `bare`.
    Ndjson { bare: bool },
    /// Server-Sent Events: `data: <json>` per message, `event: error` at a failure.
    Sse,
    /// `google.api.HttpBody` chunks, raw.
    Raw,
}

/// The body of a streamed reply: the messages as they come, then the trailers.
struct Out {
    incoming: Incoming,
    /// The first message, already written.
    first: Option<Bytes>,
    encode: Encode,
    format: Format,
    json: JsonOptions,
    types: &'static [AnyType],
    keep_alive: Option<Duration>,
    /// The client accepts trailers: the upstream's trailer metadata is sent as such.
    trailers: bool,
    /// The request stream's failure (bidi).
    failure: Failure,
    pending_trailers: Option<http::HeaderMap>,
    /// What the upstream said after the messages of the last frame (the end, or an error)
    /// when it came while they were gathered.
    after: Option<Result<Option<Bytes>, Error>>,
    done: bool,
}

impl Out {
    /// The next frame of the body; `Err` aborts it (a raw stream cannot carry an error).
    async fn next_frame(mut self) -> Option<(Result<Frame<Bytes>, Error>, Self)> {
        if let Some(data) = self.first.take() {
            return Some((Ok(Frame::data(data)), self));
        }
        if let Some(trailers) = self.pending_trailers.take() {
            return Some((Ok(Frame::trailers(trailers)), self));
        }
        if self.done {
            return None;
        }
        let event = match self.after.take() {
            Some(event) => event,
            None => {
                let next = unless_failed(&mut self.failure, self.incoming.message());
                let Some(event) = unless_idle(self.keep_alive, next).await else {
                    let comment = Bytes::from_static(b": keep-alive\n\n");
                    return Some((Ok(Frame::data(comment)), self));
                };
                event.and_then(|message| message)
            }
        };
        match event {
            Ok(Some(message)) => match self.gather(&message) {
                Ok(data) => Some((Ok(Frame::data(data)), self)),
                Err(error) => {
                    self.done = true;
                    self.fail(error)
                }
            },
            Ok(None) => {
                self.done = true;
                match self.incoming.trailers().await {
                    Ok(trailers) if self.trailers && !trailers.is_empty() => {
                        let trailers = metadata::trailer_headers(&trailers);
                        Some((Ok(Frame::trailers(trailers)), self))
                    }
                    Ok(_) => None,
                    Err(error) => self.fail(error),
                }
            }
            Err(error) => {
                self.done = true;
                self.fail(error)
            }
        }
    }

    /// The final frame of a failed stream: an error line (or event), then the status's trailer
    /// metadata as trailers when the client accepts them; a raw stream is aborted instead.
    fn fail(mut self, error: Error) -> Option<(Result<Frame<Bytes>, Error>, Self)> {
        tracing::debug!(%error, "stream failed after its first message");
        let line = match self.format {
            Format::Raw => return Some((Err(error), self)),
            Format::Sse => [
                b"event: error\ndata: ".as_slice(),
                &error.body_json(),
                b"\n\n",
            ]
            .concat(),
            Format::Ndjson { .. } => {
                [b"{\"error\":".as_slice(), &error.body_json(), b"}\n"].concat()
            }
        };
        let failed = self.incoming.failed_trailers();
        if self.trailers && !failed.is_empty() {
            self.pending_trailers = Some(metadata::trailer_headers(failed));
        }
        Some((Ok(Frame::data(Bytes::from(line))), self))
    }

    /// `message` and the messages that have already arrived behind it (up to [`GATHER_BYTES`]),
    /// as one frame: each message is still sent as soon as it arrives, but a fast upstream's
    /// messages share frames and writes instead of costing one each. What ends the gathering
    /// early (the end of the stream, an error) is kept for the next frame.
    fn gather(&mut self, message: &[u8]) -> Result<Bytes, Error> {
        let mut buf = Vec::new();
        self.encode_into(message, &mut buf)?;
        while buf.len() < GATHER_BYTES {
            let next = unless_failed(&mut self.failure, self.incoming.message()).now_or_never();
            let message = match next.map(|event| event.and_then(|message| message)) {
                None => break,
                Some(Ok(Some(message))) => message,
                Some(other) => {
                    self.after = Some(other);
                    break;
                }
            };
            let len = buf.len();
            if let Err(error) = self.encode_into(&message, &mut buf) {
                buf.truncate(len);
                self.after = Some(Err(error));
                break;
            }
        }
        Ok(Bytes::from(buf))
    }

    /// One message as its line, event or chunk.
    fn encode(&self, message: &[u8]) -> Result<Bytes, Error> {
        let mut buf = Vec::new();
        self.encode_into(message, &mut buf)?;
        Ok(Bytes::from(buf))
    }

    /// Appends one message to `buf` as its line, event or chunk.
    fn encode_into(&self, message: &[u8], buf: &mut Vec<u8>) -> Result<(), Error> {
        let envelope: (&[u8], &[u8]) = match self.format {
            Format::Ndjson { bare: false } => (b"{\"result\":", b"}\n"),
            Format::Ndjson { bare: true } | Format::Raw => (b"", b"\n"),
            Format::Sse => (b"data: ", b"\n\n"),
        };
        self.encode
            .append(message, envelope, &self.json, self.types, buf)
    }
}

/// Most bytes of already-received messages that one frame of a streamed reply gathers.
const GATHER_BYTES: usize = 16 * 1024;

/// Runs `future` for at most `idle` (if set); `None` when that passes first.
async fn unless_idle<F: Future>(idle: Option<Duration>, future: F) -> Option<F::Output> {
    match idle {
        Some(idle) => tokio::time::timeout(idle, future).await.ok(),
        None => Some(future.await),
    }
}

/// Whether the client asks for Server-Sent Events (`Accept: text/event-stream`).
fn accepts_event_stream(parts: &Parts) -> bool {
    parts
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut params = range.split(';');
            let media = params.next().unwrap_or_default().trim();
            let refused = params.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case("text/event-stream") && !refused
        })
}

/// Whether a streamed reply may end with HTTP trailers (see
/// [`metadata::accepts_trailers`]). HTTP/1.1 sends only trailers declared up front, so there
/// they are dropped; HTTP/2 sends them.
fn accepts_trailers(parts: &Parts) -> bool {
    let mut request = http::Request::new(());
    *request.method_mut() = parts.method.clone();
    *request.version_mut() = parts.version;
    if let Some(te) = parts.headers.get(header::TE) {
        request.headers_mut().insert(header::TE, te.clone());
    }
    metadata::accepts_trailers(&request)
}
