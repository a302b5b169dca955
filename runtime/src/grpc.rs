//! The gRPC protocol of an upstream call, over the boxed upstream service: the request's
//! headers and length-prefixed message frames, and the reply's frames, status and trailers.
//!
//! It does what tonic's generic client does for the proxy's calls, with the same statuses for
//! every failure, but without its per-call layers: a reply message that arrives in one HTTP/2
//! DATA frame (most do) is handed on as a slice of that frame, without a copy, and a reply that
//! ends well is recognised by its `grpc-status: 0` without building a status.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use futures_util::Stream;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use http_body::{Body as _, Frame};
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use super::compression::Coding;
use super::compression::codec::{decode_whole, encode_whole};
use super::metadata::{GRPC_STATUS, GRPC_TIMEOUT};
use super::service::ObservedBody;
use super::upstream::UpstreamCompression;

const GRPC_STATUS_DETAILS: HeaderName = HeaderName::from_static("grpc-status-details-bin");
const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
const GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");
const GZIP: HeaderValue = HeaderValue::from_static("gzip");

/// What the proxy sends upstream on a call: an encoded message, or `Abort` — the client's side
/// of the stream failed (bad JSON, the client went away), so the call is reset instead of
/// ending as if the client had sent everything.
pub enum Outbound {
    /// A message, encoded.
    Message(Bytes),
    /// The client's side failed: reset the call.
    Abort,
}

/// The request of a call to `path` (`/package.Service/Method`): `metadata` as headers, the
/// deadline as `grpc-timeout`, and `messages` framed as they come, gzipped or not as
/// `compression` says.
pub(super) fn request(
    path: &'static str,
    metadata: MetadataMap,
    timeout: Option<Duration>,
    messages: Pin<Box<dyn Stream<Item = Outbound> + Send>>,
    compression: UpstreamCompression,
) -> http::Request<tonic::body::Body> {
    let mut request = http::Request::new(tonic::body::Body::new(Frames {
        messages,
        gzip: compression.send_gzip,
        done: false,
    }));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = http::Uri::from(http::uri::PathAndQuery::from_static(path));
    *request.version_mut() = http::Version::HTTP_2;
    let headers = request.headers_mut();
    *headers = metadata.into_headers();
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    if let Some(timeout) = timeout {
        headers.insert(GRPC_TIMEOUT, grpc_timeout(timeout));
    }
    if compression.send_gzip {
        headers.insert(GRPC_ENCODING, GZIP);
    }
    if compression.accept_gzip {
        headers.insert(GRPC_ACCEPT_ENCODING, GZIP);
    }
    request
}

/// A message as a frame: flag 0 (uncompressed), its length, the message.
pub(super) fn frame(message: &[u8]) -> Bytes {
    prefixed(
        false,
        u32::try_from(message.len()).unwrap_or(u32::MAX),
        message,
    )
}

/// `message` behind its 5-byte prefix: the compressed flag and `len`, its length.
fn prefixed(compressed: bool, len: u32, message: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(u8::from(compressed));
    frame.put_u32(len);
    frame.put_slice(message);
    frame.freeze()
}

/// A `grpc-timeout` value: the most precise unit that keeps it within 8 digits.
pub(super) fn grpc_timeout(timeout: Duration) -> HeaderValue {
    const MAX: u128 = 99_999_999;
    let units = [
        (timeout.as_nanos(), "n"),
        (timeout.as_micros(), "u"),
        (timeout.as_millis(), "m"),
        (u128::from(timeout.as_secs()), "S"),
        (u128::from(timeout.as_secs() / 60), "M"),
    ];
    let (value, unit) = units
        .into_iter()
        .find(|(value, _)| *value <= MAX)
        .unwrap_or(((u128::from(timeout.as_secs() / 3600)).min(MAX), "H"));
    let mut text = itoa::Buffer::new().format(value).to_string();
    text.push_str(unit);
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("99999999H"))
}

/// The request body: each message behind its 5-byte prefix (compressed or not, length). An
/// [`Outbound::Abort`] fails the body, so that the call is reset rather than half-closed (and an
/// upstream in the same process sees an error rather than the end of the stream).
struct Frames {
    messages: Pin<Box<dyn Stream<Item = Outbound> + Send>>,
    /// Whether messages are gzipped (the call says `grpc-encoding: gzip`).
    gzip: bool,
    done: bool,
}

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let polled = self.messages.as_mut().poll_next(cx);
        Poll::Ready(match ready!(polled) {
            Some(Outbound::Message(mut message)) => {
                if self.gzip {
                    match encode_whole(Coding::Gzip, &message) {
                        Ok(coded) => message = coded,
                        Err(e) => {
                            self.done = true;
                            return Poll::Ready(Some(Err(Status::internal(format!(
                                "could not gzip a request message: {e}"
                            )))));
                        }
                    }
                }
                self.frame(&message)
            }
            Some(Outbound::Abort) => {
                self.done = true;
                // Not CANCELLED, which a tonic server in the same process reads as the plain
                // end of the stream.
                Some(Err(Status::internal("the client's request stream failed")))
            }
            None => {
                self.done = true;
                None
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

impl Frames {
    /// `message` behind its prefix: the compressed flag and its length.
    fn frame(&mut self, message: &[u8]) -> Option<Result<Frame<Bytes>, Status>> {
        let Ok(len) = u32::try_from(message.len()) else {
            self.done = true;
            return Some(Err(Status::resource_exhausted(
                "a request message is larger than 4 GiB",
            )));
        };
        Some(Ok(Frame::data(prefixed(self.gzip, len, message))))
    }
}

/// The reply of a call: its header metadata and its messages (none larger than
/// `max_message_bytes`, decompressed when gzipped and `accept_gzip`), or the error status of a
/// trailers-only reply (whose metadata is the status's) or of a reply that is not gRPC.
pub(super) fn reply(
    response: http::Response<ObservedBody>,
    max_message_bytes: usize,
    accept_gzip: bool,
) -> Result<(MetadataMap, Messages), Status> {
    let (parts, body) = response.into_parts();
    // A `grpc-status` in the headers: a trailers-only reply, nothing more to read.
    let trailers_only = parts.headers.contains_key(GRPC_STATUS);
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes);
    if !trailers_only && !content_type.is_some_and(is_grpc) {
        // An HTTP server that is not gRPC's (a web server, a load balancer's error page): its
        // status says more than its body would.
        return Err(Status::new(
            http_status_code(parts.status),
            format!(
                "the upstream's reply is not gRPC: HTTP status {}, content-type {}",
                parts.status.as_u16(),
                content_type.map_or("missing".into(), String::from_utf8_lossy)
            ),
        ));
    }
    let encoding = parts.headers.get(GRPC_ENCODING).map(HeaderValue::as_bytes);
    let gzip = match encoding {
        None | Some(b"identity") => false,
        Some(b"gzip") if accept_gzip => true,
        Some(name) => {
            let name = String::from_utf8_lossy(name);
            let mut status = Status::unimplemented(format!(
                "Content is compressed with `{name}` which isn't supported"
            ));
            status.metadata_mut().insert(
                "grpc-accept-encoding",
                tonic::metadata::MetadataValue::from_static(if accept_gzip {
                    "gzip,identity"
                } else {
                    "identity"
                }),
            );
            return Err(status);
        }
    };
    if trailers_only && let Some(status) = ended_badly(&parts.headers) {
        return Err(status);
    }
    let messages = Messages {
        body,
        frame: Bytes::new(),
        partial: BytesMut::new(),
        http_status: (!trailers_only).then_some(parts.status),
        max_message_bytes,
        gzip,
        trailers: None,
        state: State::Reading,
    };
    Ok((MetadataMap::from_headers(parts.headers), messages))
}

/// The status a `grpc-status` (in trailers, or headers of a trailers-only reply) reports, when
/// it is not OK.
fn ended_badly(headers: &HeaderMap) -> Option<Status> {
    match headers.get(GRPC_STATUS) {
        // Details are parsed (and refused when malformed) whatever the code, as tonic does.
        Some(code) if code.as_bytes() == b"0" && !headers.contains_key(GRPC_STATUS_DETAILS) => None,
        _ => Status::from_header_map(headers).filter(|status| status.code() != Code::Ok),
    }
}

/// The messages of a reply, then its trailers.
pub(super) struct Messages {
    body: ObservedBody,
    /// What is left of the last DATA frame, while it holds whole messages.
    frame: Bytes,
    /// A message that spans DATA frames, as it is gathered.
    partial: BytesMut,
    /// The reply's HTTP status, which gives a status when the trailers have none; `None` for a
    /// trailers-only reply.
    http_status: Option<StatusCode>,
    max_message_bytes: usize,
    /// Whether the reply says `grpc-encoding: gzip`: messages flagged compressed are gunzipped.
    gzip: bool,
    trailers: Option<HeaderMap>,
    state: State,
}

enum State {
    Reading,
    /// The error to return once, then the end.
    Failed(Option<Status>),
    Ended,
}

impl Messages {
    /// The next message, `None` after the last; the error status the reply ends with is
    /// returned once, then `None`.
    pub(super) async fn message(&mut self) -> Result<Option<Bytes>, Status> {
        poll_fn(|cx| self.poll_message(cx)).await
    }

    /// The trailer metadata, after reading whatever messages are left.
    pub(super) async fn trailers(&mut self) -> Result<Option<MetadataMap>, Status> {
        if let Some(trailers) = self.trailers.take() {
            return Ok(Some(MetadataMap::from_headers(trailers)));
        }
        while self.message().await?.is_some() {}
        Ok(self.trailers.take().map(MetadataMap::from_headers))
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Status>> {
        loop {
            match &mut self.state {
                State::Reading => {}
                State::Failed(status) => {
                    return Poll::Ready(status.take().map_or(Ok(None), Err));
                }
                State::Ended => return Poll::Ready(Ok(None)),
            }
            match self.split() {
                Ok(Some(message)) => return Poll::Ready(Ok(Some(message))),
                Ok(None) => {}
                Err(status) => {
                    self.state = State::Failed(None);
                    return Poll::Ready(Err(status));
                }
            }
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.gather(data),
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            match &mut self.trailers {
                                Some(all) => all.extend(trailers),
                                None => self.trailers = Some(trailers),
                            }
                        }
                    }
                },
                Some(Err(status)) => {
                    self.state = State::Failed(None);
                    return Poll::Ready(Err(status));
                }
                None => self.state = self.end(),
            }
        }
    }

    /// Takes in a DATA frame.
    fn gather(&mut self, data: Bytes) {
        if self.frame.is_empty() && self.partial.is_empty() {
            self.frame = data;
        } else {
            self.partial.extend_from_slice(&self.frame);
            self.frame = Bytes::new();
            self.partial.extend_from_slice(&data);
        }
    }

    /// The next whole message received, if there is one, decompressed.
    fn split(&mut self) -> Result<Option<Bytes>, Status> {
        let Some((compressed, message)) = self.split_frame()? else {
            return Ok(None);
        };
        if !compressed {
            return Ok(Some(message));
        }
        match decode_whole(Coding::Gzip, &message, self.max_message_bytes) {
            Ok(Some(message)) => Ok(Some(Bytes::from(message))),
            Ok(None) => Err(Status::resource_exhausted(format!(
                "the upstream sent a gzipped message larger than the limit of {} bytes once decompressed (--max-upstream-message-bytes)",
                self.max_message_bytes
            ))),
            Err(e) => Err(Status::internal(format!(
                "the upstream sent a message that is {e}"
            ))),
        }
    }

    /// The next whole message received as it came, and whether it is flagged compressed.
    fn split_frame(&mut self) -> Result<Option<(bool, Bytes)>, Status> {
        if self.partial.is_empty() {
            let Some((compressed, len)) = prefix(
                &self.frame,
                self.http_status,
                self.max_message_bytes,
                self.gzip,
            )?
            else {
                return Ok(None);
            };
            if self.frame.len() >= 5 + len {
                let message = self.frame.slice(5..5 + len);
                self.frame.advance(5 + len);
                return Ok(Some((compressed, message)));
            }
            // The rest of the message is in frames still to come.
            self.partial.extend_from_slice(&self.frame);
            self.frame = Bytes::new();
            return Ok(None);
        }
        let Some((compressed, len)) = prefix(
            &self.partial,
            self.http_status,
            self.max_message_bytes,
            self.gzip,
        )?
        else {
            return Ok(None);
        };
        // Gathered as it arrives: room for the claimed length is never reserved ahead, so an
        // upstream that claims much and sends little costs nothing.
        if self.partial.len() < 5 + len {
            return Ok(None);
        }
        self.partial.advance(5);
        Ok(Some((compressed, self.partial.split_to(len).freeze())))
    }

    /// The body has ended: how the reply went, from its trailers or else its HTTP status.
    fn end(&mut self) -> State {
        if !self.frame.is_empty() || !self.partial.is_empty() {
            return State::Failed(Some(Status::internal("Unexpected EOF decoding stream.")));
        }
        let Some(http_status) = self.http_status else {
            return State::Ended;
        };
        if let Some(trailers) = &self.trailers
            && trailers.contains_key(GRPC_STATUS)
        {
            return match ended_badly(trailers) {
                Some(status) => {
                    self.trailers = None;
                    State::Failed(Some(status))
                }
                None => State::Ended,
            };
        }
        if http_status == StatusCode::OK {
            return State::Ended;
        }
        let code = http_status_code(http_status);
        self.trailers = None;
        State::Failed(Some(Status::new(
            code,
            format!(
                "grpc-status header missing, mapped from HTTP status code {}",
                http_status.as_u16()
            ),
        )))
    }
}

/// Whether a reply's content-type is gRPC's: `application/grpc`, alone or with a `+codec` or
/// parameters.
pub(super) fn is_grpc(content_type: &[u8]) -> bool {
    content_type
        .strip_prefix(b"application/grpc")
        .is_some_and(|rest| rest.is_empty() || rest[0] == b'+' || rest[0] == b';')
}

/// The status of a reply without `grpc-status`, from its HTTP status (the gRPC spec's table).
fn http_status_code(status: StatusCode) -> Code {
    match status {
        StatusCode::BAD_REQUEST => Code::Internal,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::NOT_FOUND => Code::Unimplemented,
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// Whether the message whose 5-byte prefix starts `bytes` is compressed, and its length, once
/// the prefix is all there. `http_status` is the reply's, for the error text; `gzip`, whether
/// the reply says its messages may be.
fn prefix(
    bytes: &[u8],
    http_status: Option<StatusCode>,
    max_message_bytes: usize,
    gzip: bool,
) -> Result<Option<(bool, usize)>, Status> {
    let Some(prefix) = bytes.get(..5) else {
        return Ok(None);
    };
    match prefix[0] {
        0 => {}
        1 if gzip => {}
        1 => {
            return Err(Status::internal(
                "protocol error: received message with compressed-flag but no grpc-encoding was specified",
            ));
        }
        flag => {
            let status = http_status.unwrap_or(StatusCode::OK);
            return Err(Status::internal(format!(
                "protocol error: received message with invalid compression flag: {flag} (valid flags are 0 and 1) while receiving response with status: {status}"
            )));
        }
    }
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    if len > max_message_bytes {
        // RESOURCE_EXHAUSTED, as grpc-go's client says it.
        return Err(Status::resource_exhausted(format!(
            "the upstream sent a message of {len} bytes, larger than the limit of {max_message_bytes} bytes (--max-upstream-message-bytes)"
        )));
    }
    Ok(Some((prefix[0] == 1, len)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn grpc_content_types_are_recognised() {
        for yes in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc;charset=utf-8",
        ] {
            assert!(is_grpc(yes.as_bytes()), "{yes}");
        }
        for no in ["text/html", "application/grpcx", "application/json", ""] {
            assert!(!is_grpc(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn a_compressed_flag_needs_an_agreed_encoding() {
        let status = prefix(&[1, 0, 0, 0, 7], None, 7, false).unwrap_err();
        assert_eq!(status.code(), Code::Internal);
        assert!(status.message().contains("no grpc-encoding"), "{status:?}");
        assert_eq!(
            prefix(&[1, 0, 0, 0, 7], None, 7, true).unwrap(),
            Some((true, 7))
        );
        assert_eq!(
            prefix(&[2, 0, 0, 0, 7], None, 7, true).unwrap_err().code(),
            Code::Internal
        );
    }

    #[test]
    fn a_length_prefix_past_the_limit_is_resource_exhausted() {
        let frame = [0, 0x40, 0, 0, 0];
        let status = prefix(&frame, None, 4 << 20, false).unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("1073741824 bytes"), "{status:?}");
        assert_eq!(
            prefix(&[0, 0, 0, 0, 7], None, 7, false).unwrap(),
            Some((false, 7))
        );
        assert_eq!(prefix(&[0, 0, 0], None, 7, false).unwrap(), None);
    }
}
