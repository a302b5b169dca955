//! The coded bodies: a response body compressed frame by frame, and a request body decoded as
//! it arrives.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use bytes::{Buf as _, Bytes};
use http_body::{Frame, SizeHint};

use super::codec::{Coding, Decoder, Encoder};

/// A response body compressed as it goes: each data frame is flushed, so that each message of
/// a stream can be decoded as soon as it arrives; a body's last frame ends the coded stream.
pub(super) struct Compressed {
    body: Body,
    encoder: Option<Encoder>,
    /// Trailers held back until the coded stream has ended.
    trailers: Option<Frame<Bytes>>,
}

impl Compressed {
    pub(super) fn new(body: Body, coding: Coding) -> std::io::Result<Self> {
        Ok(Compressed {
            body,
            encoder: Some(Encoder::new(coding)?),
            trailers: None,
        })
    }
}

impl http_body::Body for Compressed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        loop {
            let Some(encoder) = this.encoder.as_mut() else {
                return Poll::Ready(this.trailers.take().map(Ok));
            };
            let coded = match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if this.body.is_end_stream() => {
                        this.encoder.take().map(|e| e.finish(&data))
                    }
                    Ok(data) => Some(encoder.write(&data, true)),
                    Err(frame) => {
                        this.trailers = Some(frame);
                        this.encoder.take().map(|e| e.finish(&[]))
                    }
                },
                Some(Err(e)) => {
                    this.encoder = None;
                    return Poll::Ready(Some(Err(e)));
                }
                None => this.encoder.take().map(|e| e.finish(&[])),
            };
            match coded {
                Some(Ok(bytes)) if bytes.is_empty() => {}
                Some(Ok(bytes)) => return Poll::Ready(Some(Ok(Frame::data(bytes)))),
                Some(Err(e)) => {
                    this.encoder = None;
                    return Poll::Ready(Some(Err(axum::Error::new(e))));
                }
                None => {}
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encoder.is_none() && self.trailers.is_none()
    }
}

/// A request body decoded as it arrives, handing on at most about [`super::codec::CHUNK`]
/// decoded bytes per frame, so that the body limit downstream stops a small body that decodes
/// to a huge one before it is decoded.
pub(super) struct Decoding {
    body: Body,
    decoder: Decoder,
    /// Coded bytes taken from the body and not yet decoded.
    input: Bytes,
    state: DecodeState,
}

impl Decoding {
    pub(super) fn new(body: Body, coding: Coding) -> std::io::Result<Self> {
        Ok(Decoding {
            body,
            decoder: Decoder::new(coding)?,
            input: Bytes::new(),
            state: DecodeState::Reading,
        })
    }

    /// Ends the body with `e`.
    fn fail(&mut self, e: std::io::Error) -> axum::Error {
        self.state = DecodeState::Done;
        axum::Error::new(format!("the request body is {e}"))
    }
}

enum DecodeState {
    Reading,
    /// The body has ended: what is held back is drained, then the stream must be complete.
    Draining,
    Done,
}

impl http_body::Body for Decoding {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        loop {
            let mut out = Vec::new();
            match this.state {
                DecodeState::Done => return Poll::Ready(None),
                DecodeState::Reading if !this.input.is_empty() || this.decoder.has_more() => {
                    match this.decoder.decode(&this.input, &mut out) {
                        Ok(0) if out.is_empty() && !this.decoder.has_more() => {
                            let stuck = std::io::Error::other("not decodable");
                            return Poll::Ready(Some(Err(this.fail(stuck))));
                        }
                        Ok(used) => this.input.advance(used),
                        Err(e) => return Poll::Ready(Some(Err(this.fail(e)))),
                    }
                }
                DecodeState::Reading => match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            this.input = data;
                        }
                        continue;
                    }
                    Some(Err(e)) => {
                        this.state = DecodeState::Done;
                        return Poll::Ready(Some(Err(e)));
                    }
                    None => this.state = DecodeState::Draining,
                },
                DecodeState::Draining if this.decoder.has_more() => {
                    if let Err(e) = this.decoder.decode(&[], &mut out) {
                        return Poll::Ready(Some(Err(this.fail(e))));
                    }
                }
                DecodeState::Draining => {
                    this.state = DecodeState::Done;
                    if let Err(e) = this.decoder.finish(&mut out) {
                        return Poll::Ready(Some(Err(this.fail(e))));
                    }
                }
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, DecodeState::Done)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
