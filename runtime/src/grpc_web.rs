//! gRPC-Web's framing, as [`super::passthrough`] translates it to and from gRPC: browsers
//! cannot read HTTP trailers, so the reply's trailers travel as the body's last frame (flag
//! `0x80`, then `name:value\r\n` lines), and `application/grpc-web-text` carries the whole
//! body in base64.
//!
//! The request of a gRPC-Web call is one message (the protocol has unary and server-streaming
//! calls only): it is read whole, base64-decoded for the text form, and checked to be exactly
//! one well-formed frame before the call is made, so that a malformed request gets a clear
//! INVALID_ARGUMENT rather than an upstream's guess. With `+json`, messages are JSON both ways,
//! read and written by the generated ProtoJSON; the upstream is called with protobuf.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, header};
use http_body::Frame;

use super::binding::GrpcMethod;
use super::error::Error;
use super::grpc;
use super::json::{AnyType, JsonOptions};
use super::passthrough::broken_off;
use super::service::ObservedBody;

/// The flag of the frame that carries the trailers.
const TRAILERS_FLAG: u8 = 0x80;

/// The form of a gRPC-Web call: binary or base64 text, its messages protobuf or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Web {
    text: bool,
    json: bool,
}

impl Web {
    /// The form a request's content-type names, if it is gRPC-Web's: `application/grpc-web`,
    /// `application/grpc-web-text`, each alone or with `+proto` or `+json`.
    pub fn of(content_type: &[u8]) -> Option<Web> {
        let base = content_type.split(|&b| b == b';').next()?.trim_ascii();
        let rest = base.strip_prefix(b"application/grpc-web")?;
        let (text, codec) = match rest.strip_prefix(b"-text") {
            Some(codec) => (true, codec),
            None => (false, rest),
        };
        let json = match codec {
            b"" | b"+proto" => false,
            b"+json" => true,
            _ => return None,
        };
        Some(Web { text, json })
    }

    /// The reply's content-type.
    pub(super) fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match (self.text, self.json) {
            (false, false) => "application/grpc-web+proto",
            (false, true) => "application/grpc-web+json",
            (true, false) => "application/grpc-web-text+proto",
            (true, true) => "application/grpc-web-text+json",
        })
    }

    /// Whether messages are JSON (`+json`).
    pub(super) fn json(self) -> bool {
        self.json
    }

    /// Turns the headers of the call into gRPC's.
    pub(super) fn to_grpc_headers(self, headers: &mut HeaderMap) {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.remove("x-grpc-web");
    }

    /// The request's one message as a gRPC frame, from its body (base64 for the text form;
    /// JSON read into `method`'s request message for `+json`).
    pub(super) fn request_message(
        self,
        body: Bytes,
        headers: &HeaderMap,
        method: &GrpcMethod,
        options: &JsonOptions,
        types: &'static [AnyType],
    ) -> Result<Bytes, Error> {
        let frame = if self.text { decode_text(&body)? } else { body };
        let compressed = headers.contains_key("grpc-encoding") && !self.json;
        check_frame(&frame, compressed)?;
        if !self.json {
            return Ok(frame);
        }
        let message = (method.request_from_json)(options, types, &frame[5..])?;
        Ok(grpc::frame(&message))
    }

    /// The reply's body, from the upstream's (or its messages in JSON, [`JsonFrames`]): its
    /// messages, then its trailers as a frame.
    pub(super) fn reply_body<B>(self, body: B) -> WebReply<B> {
        WebReply {
            body,
            text: self.text,
            carry: BytesMut::new(),
            done: false,
        }
    }
}

fn malformed(what: String) -> Error {
    Error::bad_request(format!("malformed gRPC-Web request: {what}"))
}

/// Base64 text to bytes. The text may be several padded pieces one after the other (a client
/// that encodes each chunk it sends): each piece ends at a quad with padding.
fn decode_text(text: &[u8]) -> Result<Bytes, Error> {
    let text = text.trim_ascii();
    if !text.len().is_multiple_of(4) {
        return Err(malformed(format!(
            "{} characters of base64 are not whole groups of 4",
            text.len()
        )));
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut start = 0;
    for end in (4..=text.len()).step_by(4) {
        if text[end - 4..end].contains(&b'=') || end == text.len() {
            STANDARD
                .decode_vec(&text[start..end], &mut out)
                .map_err(|e| malformed(format!("the body is not base64: {e}")))?;
            start = end;
        }
    }
    Ok(out.into())
}

/// Checks that `frame` is one message frame: a 5-byte prefix (flag, length) and exactly the
/// bytes it announces.
fn check_frame(frame: &[u8], encoded: bool) -> Result<(), Error> {
    let Some(prefix) = frame.get(..5) else {
        return Err(malformed(format!(
            "a message frame has a 5-byte prefix; the body has {} bytes",
            frame.len()
        )));
    };
    match prefix[0] {
        0 => {}
        1 if encoded => {}
        1 => {
            return Err(malformed(
                "the message is flagged compressed, but no grpc-encoding is given".to_string(),
            ));
        }
        flag => {
            return Err(malformed(format!(
                "frame flag {flag:#04x} is not a message's"
            )));
        }
    }
    let announced = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    let sent = frame.len() - 5;
    if announced != sent {
        return Err(malformed(format!(
            "the frame announces {announced} bytes of message, the body carries {sent} (a call sends exactly one message)"
        )));
    }
    Ok(())
}

/// The trailers frame: flag `0x80`, length, then each field as `name:value\r\n`.
fn trailers_frame(trailers: &HeaderMap) -> Bytes {
    let mut fields = BytesMut::new();
    for (name, value) in trailers {
        fields.put_slice(name.as_str().as_bytes());
        fields.put_u8(b':');
        fields.put_slice(value.as_bytes());
        fields.put_slice(b"\r\n");
    }
    let mut frame = BytesMut::with_capacity(5 + fields.len());
    frame.put_u8(TRAILERS_FLAG);
    frame.put_u32(u32::try_from(fields.len()).unwrap_or(u32::MAX));
    frame.put_slice(&fields);
    frame.freeze()
}

/// A gRPC-Web reply body: the upstream's message frames as they come, then its trailers (or
/// the status of a stream that broke) as the last frame; all in base64 for the text form.
pub(super) struct WebReply<B> {
    body: B,
    text: bool,
    /// Text form: bytes not yet encoded, fewer than 3 until the end, so that base64 is padded
    /// only once, at the end.
    carry: BytesMut,
    done: bool,
}

impl<B> WebReply<B> {
    /// `data` as it goes on the wire; `last` flushes the text form's carry.
    fn encode(&mut self, data: Bytes, last: bool) -> Bytes {
        if !self.text {
            return data;
        }
        self.carry.extend_from_slice(&data);
        let whole = if last {
            self.carry.len()
        } else {
            self.carry.len() / 3 * 3
        };
        let chunk = self.carry.split_to(whole);
        if chunk.is_empty() {
            return Bytes::new();
        }
        STANDARD.encode(&chunk).into()
    }

    /// The last frame: `trailers`, encoded.
    fn end_with(
        &mut self,
        trailers: &HeaderMap,
    ) -> Poll<Option<Result<Frame<Bytes>, std::convert::Infallible>>> {
        self.done = true;
        let frame = trailers_frame(trailers);
        Poll::Ready(Some(Ok(Frame::data(self.encode(frame, true)))))
    }
}

impl<B> http_body::Body for WebReply<B>
where
    B: http_body::Body<Data = Bytes, Error = tonic::Status> + Unpin,
{
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let out = self.encode(data, false);
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(out))));
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            return self.end_with(&trailers);
                        }
                    }
                },
                Some(Err(status)) => {
                    return self.end_with(&broken_off(&status));
                }
                None => {
                    // No trailers: a trailers-only reply, whose status is in its headers.
                    self.done = true;
                    let rest = self.encode(Bytes::new(), true);
                    if !rest.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(rest))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// The upstream's reply frames with each message written as JSON (`+json`): a message in,
/// a JSON message out; trailers and errors pass.
pub(super) struct JsonFrames {
    body: ObservedBody,
    buffer: BytesMut,
    method: &'static GrpcMethod,
    options: JsonOptions,
    types: &'static [AnyType],
    max: usize,
}

impl JsonFrames {
    pub(super) fn new(
        body: ObservedBody,
        method: &'static GrpcMethod,
        options: JsonOptions,
        types: &'static [AnyType],
        max: usize,
    ) -> Self {
        JsonFrames {
            body,
            buffer: BytesMut::new(),
            method,
            options,
            types,
            max,
        }
    }

    /// The next whole message gathered, as a JSON frame.
    fn next_message(&mut self) -> Result<Option<Bytes>, tonic::Status> {
        let Some(prefix) = self.buffer.get(..5) else {
            return Ok(None);
        };
        if prefix[0] != 0 {
            return Err(tonic::Status::internal(
                "the upstream sent a compressed message, which cannot be written as JSON",
            ));
        }
        let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
        if len > self.max {
            return Err(tonic::Status::resource_exhausted(format!(
                "the upstream sent a message of {len} bytes, larger than the limit of {} bytes (--max-upstream-message-bytes)",
                self.max
            )));
        }
        if self.buffer.len() < 5 + len {
            return Ok(None);
        }
        self.buffer.advance(5);
        let message = self.buffer.split_to(len);
        let json = (self.method.reply_to_json)(&self.options, self.types, &message)
            .map_err(|e| tonic::Status::new(e.code(), e.message()))?;
        Ok(Some(grpc::frame(&json)))
    }
}

impl http_body::Body for JsonFrames {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        loop {
            if let Some(message) = self.next_message()? {
                return Poll::Ready(Some(Ok(Frame::data(message))));
            }
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.buffer.extend_from_slice(&data),
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Some(Err(status)) => return Poll::Ready(Some(Err(status))),
                None if self.buffer.is_empty() => return Poll::Ready(None),
                None => {
                    self.buffer.clear();
                    let status = tonic::Status::internal("Unexpected EOF decoding stream.");
                    return Poll::Ready(Some(Err(status)));
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn content_types_name_the_form() {
        let web = |t: &str| Web::of(t.as_bytes());
        assert_eq!(
            web("application/grpc-web"),
            Some(Web {
                text: false,
                json: false
            })
        );
        assert_eq!(
            web("application/grpc-web+proto"),
            Some(Web {
                text: false,
                json: false
            })
        );
        assert_eq!(
            web("application/grpc-web+json"),
            Some(Web {
                text: false,
                json: true
            })
        );
        assert_eq!(
            web("application/grpc-web-text"),
            Some(Web {
                text: true,
                json: false
            })
        );
        assert_eq!(
            web("application/grpc-web-text+proto; charset=utf-8"),
            Some(Web {
                text: true,
                json: false
            })
        );
        for no in [
            "application/grpc",
            "application/grpc-webx",
            "application/grpc-web+xml",
        ] {
            assert_eq!(web(no), None, "{no}");
        }
    }

    #[test]
    fn text_may_be_several_padded_pieces() {
        let one = STANDARD.encode([0, 0, 0, 0, 1, 7]);
        assert_eq!(
            &decode_text(one.as_bytes()).unwrap()[..],
            [0, 0, 0, 0, 1, 7]
        );
        let two = format!("{}{}", STANDARD.encode([1]), STANDARD.encode([2, 3]));
        assert_eq!(&decode_text(two.as_bytes()).unwrap()[..], [1, 2, 3]);
        assert!(decode_text(b"abc").is_err());
        assert!(decode_text(b"ab!d").is_err());
    }

    #[test]
    fn a_request_is_exactly_one_message_frame() {
        assert!(check_frame(&[0, 0, 0, 0, 2, 8, 1], false).is_ok());
        assert!(check_frame(&[0, 0, 0, 0], false).is_err());
        assert!(check_frame(&[0, 0, 0, 0, 3, 8, 1], false).is_err());
        assert!(check_frame(&[0, 0, 0, 0, 1, 8, 1], false).is_err());
        assert!(check_frame(&[1, 0, 0, 0, 0], false).is_err());
        assert!(check_frame(&[1, 0, 0, 0, 0], true).is_ok());
        assert!(check_frame(&[0x80, 0, 0, 0, 0], false).is_err());
    }

    #[test]
    fn trailers_are_the_last_frame() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        assert_eq!(
            &trailers_frame(&trailers)[..],
            b"\x80\x00\x00\x00\x0fgrpc-status:0\r\n"
        );
    }
}
