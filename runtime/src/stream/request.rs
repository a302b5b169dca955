//! The request stream: the body of a client- or bidi-streaming request as the messages sent
//! upstream, each decoded and sent as soon as it is complete (JSON values found by
//! [`super::split`], or raw chunks), with the signal of its failure.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use http::header;
use http::request::Parts;
use http_body::Body as _;
use tokio::sync::oneshot;

use super::codec::Decode;
use super::failure::Failure;
use super::split::{Position, Splitter, Value};
use crate::error::Error;
use crate::json::{AnyType, JsonError, JsonOptions};
use crate::upstream::{Gateway, Outbound};

impl Gateway {
    /// The request body as a message stream, and the signal of its failure.
    pub(super) fn requests(
        &self,
        parts: &Parts,
        body: Body,
        decoder: Box<dyn Decode>,
    ) -> (Requests, Failure) {
        let (tx, rx) = oneshot::channel();
        let requests = Requests {
            body,
            splitter: Splitter::default(),
            content_type: content_type(parts),
            decoder,
            json: self.options.json.clone(),
            types: self.types,
            limit: self.options.max_body_bytes,
            failure: Some(tx),
            index: 0,
            ended: false,
            state: State::Reading,
        };
        (requests, Failure::new(rx))
    }
}

/// The request body as messages for the upstream, each sent as soon as it is complete; after a
/// failure (the failure signal is sent first), one [`Outbound::Abort`] resets the call.
pub(super) struct Requests {
    body: Body,
    splitter: Splitter,
    content_type: String,
    decoder: Box<dyn Decode>,
    json: JsonOptions,
    types: &'static [AnyType],
    limit: usize,
    failure: Option<oneshot::Sender<Error>>,
    /// Messages sent so far.
    index: usize,
    /// The body has ended.
    ended: bool,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Aborting,
    Done,
}

impl Requests {
    fn fail(&mut self, error: Error) {
        if let Some(tx) = self.failure.take() {
            let _ = tx.send(error);
        }
        self.state = State::Aborting;
    }

    /// Decodes one JSON value found by the splitter.
    fn decode(&mut self, value: Value) -> Option<Outbound> {
        self.index += 1;
        match self.decoder.decode("", value.data, &self.json, self.types) {
            Ok(message) => Some(Outbound::Message(message)),
            Err(e) => {
                self.fail(decode_error(&e, value.at, self.index));
                None
            }
        }
    }
}

impl futures_util::Stream for Requests {
    type Item = Outbound;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        let this = self.get_mut();
        loop {
            match this.state {
                State::Done => return Poll::Ready(None),
                State::Aborting => {
                    this.state = State::Done;
                    return Poll::Ready(Some(Outbound::Abort));
                }
                State::Reading => {}
            }
            if !this.decoder.is_raw() {
                match this.splitter.next(this.ended, this.limit) {
                    Ok(Some(value)) => match this.decode(value) {
                        Some(message) => return Poll::Ready(Some(message)),
                        None => continue,
                    },
                    Ok(None) => {}
                    Err(too_large) => {
                        this.fail(too_large);
                        continue;
                    }
                }
            }
            if this.ended {
                // A well-ended stream drops its failure signal: the waiters stop waiting.
                this.failure = None;
                this.state = State::Done;
                continue;
            }
            let frame = match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(frame) => frame,
            };
            match frame {
                None => this.ended = true,
                Some(Err(e)) => this.fail(Error::bad_request(format!(
                    "could not read the request body: {e}"
                ))),
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if this.decoder.is_raw() {
                        if data.is_empty() {
                            continue;
                        }
                        this.index += 1;
                        match this
                            .decoder
                            .decode(&this.content_type, data, &this.json, this.types)
                        {
                            Ok(message) => return Poll::Ready(Some(Outbound::Message(message))),
                            Err(e) => this.fail(Error::body(&e)),
                        }
                    } else {
                        this.splitter.push(&data);
                    }
                }
            }
        }
    }
}

/// A request stream's message that does not decode: which one, and where in the body.
pub(crate) fn decode_error(e: &JsonError, at: Position, index: usize) -> Error {
    let line = at.line + e.line() - 1;
    let column = if e.line() == 1 {
        at.column + e.column() - 1
    } else {
        e.column()
    };
    let offset = at.offset + e.offset();
    let path = if e.path().is_empty() {
        String::new()
    } else {
        format!("{}: ", e.path())
    };
    Error::bad_request(format!(
        "invalid JSON in message {index} of the request stream at line {line}, column {column} (byte offset {offset}): {path}{}",
        e.message()
    ))
}

/// The request's Content-Type, for raw (`google.api.HttpBody`) messages.
pub fn content_type(parts: &Parts) -> String {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}
