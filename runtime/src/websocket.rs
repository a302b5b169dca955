//! WebSocket sessions on streaming routes (DESIGN.md §3.8): an upgrade request (`GET` with
//! `Upgrade: websocket`, or an HTTP/2 extended `CONNECT`) on any streaming binding carries one
//! message per frame each way.
//!
//! - Client → proxy: one JSON message per text (or binary) frame, decoded like one value of a
//!   request stream; a `google.api.HttpBody` request takes each frame's bytes. An empty frame
//!   (for JSON also a blank one, or the text `EOF` as tmc/grpc-websocket-proxy clients send)
//!   ends the client's stream while the replies keep coming. On a server-streaming route the first frame is the request
//!   body (when the binding has one); otherwise the request comes from the path and query alone.
//! - Proxy → client: one text frame per message, `{"result": <message>}` (bare with the option),
//!   or a binary frame of raw `google.api.HttpBody` data.
//! - The end: a close frame with code 1000 when the call succeeds; otherwise a text frame
//!   `{"error": <Status>}` and a close frame with code 4000 + the gRPC code (4003 for
//!   INVALID_ARGUMENT, 4014 for UNAVAILABLE, …) and the message as the reason. A close frame or
//!   a disconnect from the client cancels the call.
//!
//! Errors found before the upgrade (a bad query parameter, a bad `Grpc-Timeout`) are ordinary
//! HTTP error replies.

use axum::extract::FromRequestParts as _;
pub use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use http::{Method, header};

use super::error::Error;
use super::json::{AnyType, JsonOptions};
use super::stream::{self, Decode, Decoder, Encode, Encoder, Feeder, Position};
use super::upstream::{self, Gateway, Incoming, Outgoing};

/// Close code of a successful call.
const NORMAL: u16 = 1000;

/// Close codes of failed calls: this plus the gRPC status code.
const STATUS_BASE: u16 = 4000;

/// Longest close reason a close frame can carry, in bytes.
const MAX_REASON: usize = 123;

/// Where a session's request messages come from.
pub enum Inbound<M> {
    /// The request is complete (server streaming without a body binding); data frames are an
    /// error.
    Ready(M),
    /// The first frame is the request body (server streaming); more data frames are an error.
    One(Decoder<M>),
    /// Every frame is one message until an empty frame (client and bidirectional streaming).
    Many(Decoder<M>),
}

/// [`Inbound`] with its message type erased: requests encoded for the upstream.
enum Requests {
    Ready(Bytes),
    One(Box<dyn Decode>),
    Many(Box<dyn Decode>),
}

impl<M: prost::Message + Clone + Send + Sync + 'static> Inbound<M> {
    fn erase(self) -> Requests {
        match self {
            Inbound::Ready(request) => Requests::Ready(upstream::encode(&request)),
            Inbound::One(decoder) => Requests::One(Box::new(decoder)),
            Inbound::Many(decoder) => Requests::Many(Box::new(decoder)),
        }
    }
}

/// Whether a request asks for a WebSocket: `GET` with `Upgrade: websocket`, or an HTTP/2
/// `CONNECT` (RFC 8441, checked by [`upgrade`]).
pub fn is_upgrade(parts: &Parts) -> bool {
    let upgrade = || {
        parts
            .headers
            .get_all(header::UPGRADE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
    };
    (parts.method == Method::GET && upgrade()) || parts.method == Method::CONNECT
}

/// Takes the upgrade out of the request; a malformed one (no `Sec-WebSocket-Key`, a version
/// other than 13) is a 400.
pub async fn upgrade(parts: &mut Parts) -> Result<WebSocketUpgrade, Error> {
    WebSocketUpgrade::from_request_parts(parts, &())
        .await
        .map_err(|rejection| {
            Error::bad_request(format!(
                "invalid WebSocket upgrade: {}",
                rejection.body_text()
            ))
        })
}

impl Gateway {
    /// Accepts the upgrade and runs the session: the call to `path` with the frames as its
    /// request messages and its replies as frames (see the module docs).
    pub fn websocket<Req, Resp>(
        &self,
        upgrade: WebSocketUpgrade,
        path: &'static str,
        parts: &Parts,
        inbound: Inbound<Req>,
        encoder: Encoder<Resp>,
    ) -> Result<Response, Error>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
        Resp: prost::Message + Default + 'static,
    {
        self.websocket_encoded(upgrade, path, parts, inbound.erase(), encoder.erase())
    }

    fn websocket_encoded(
        &self,
        upgrade: WebSocketUpgrade,
        path: &'static str,
        parts: &Parts,
        inbound: Requests,
        encode: Encode,
    ) -> Result<Response, Error> {
        let outgoing = self.outgoing(&handshake_removed(parts))?;
        let session = Session {
            json: self.options.json.clone(),
            types: self.types,
            bare: self.options.bare_stream_messages,
            content_type: stream::content_type(parts),
            encode,
        };
        let limit = self.options.max_body_bytes;
        Ok(upgrade
            .max_message_size(limit)
            .on_upgrade(move |socket| session.run(socket, outgoing, path, inbound)))
    }
}

/// The request without its WebSocket handshake headers (`Sec-WebSocket-*`), which describe
/// this hop and are not metadata for the upstream.
fn handshake_removed(parts: &Parts) -> Parts {
    let (mut request, ()) = http::Request::new(()).into_parts();
    request.method = parts.method.clone();
    request.uri = parts.uri.clone();
    request.version = parts.version;
    request.headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !name.as_str().starts_with("sec-websocket-"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    if let Some(peer) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        request.extensions.insert(*peer);
    }
    request
}

/// What a session needs besides the socket and the call.
struct Session {
    json: JsonOptions,
    types: &'static [AnyType],
    bare: bool,
    content_type: String,
    encode: Encode,
}

/// What happened next in a session.
enum Event {
    /// The call started (its response headers came), or failed to.
    Opened(Result<Box<Incoming>, Error>),
    /// A reply message, the end of the replies, or the call's failure.
    Reply(Result<Option<Bytes>, Error>),
    /// Room in the channel to the call for the pending message (`None`: the call stopped
    /// reading its requests).
    Room(Option<tokio::sync::mpsc::OwnedPermit<Bytes>>),
    /// A frame from the client, or its leaving.
    Frame(Option<Result<Message, axum::Error>>),
}

/// Why a session ends.
enum End {
    /// The call succeeded: close with 1000.
    Done,
    /// The call failed, or a frame was bad: an error frame and a status close code.
    Failed(Error),
    /// The client closed or went away: nothing more to send.
    Gone,
}

impl Session {
    async fn run(
        self,
        mut socket: WebSocket,
        outgoing: Outgoing,
        path: &'static str,
        inbound: Requests,
    ) {
        let (mut feeder, requests) = stream::channel(8);
        let end = self
            .exchange(
                &mut socket,
                &mut feeder,
                outgoing.open(path, requests),
                inbound,
            )
            .await;
        match end {
            End::Done => {
                feeder.close();
                close(&mut socket, NORMAL, "").await;
            }
            End::Failed(error) => {
                feeder.abort();
                let frame = [b"{\"error\":".as_slice(), &error.body_json(), b"}"].concat();
                let text = String::from_utf8_lossy(&frame).into_owned();
                if socket.send(Message::Text(text.into())).await.is_ok() {
                    let code = STATUS_BASE + error.code() as u16;
                    close(&mut socket, code, error.message()).await;
                }
            }
            End::Gone => feeder.abort(),
        }
    }

    /// Moves frames to the call and replies to frames until the call ends or the client leaves.
    async fn exchange<F>(
        &self,
        socket: &mut WebSocket,
        feeder: &mut Feeder,
        open: F,
        inbound: Requests,
    ) -> End
    where
        F: std::future::Future<Output = Result<Incoming, Error>>,
    {
        let mut open = std::pin::pin!(open);
        let mut opened = false;
        let mut incoming: Option<Box<Incoming>> = None;
        // A decoded message waiting for room in the channel, and whether it is the last one.
        let mut pending: Option<(Bytes, bool)> = None;
        let (decoder, one) = match inbound {
            Requests::Ready(request) => {
                pending = Some((request, true));
                (None, false)
            }
            Requests::One(decoder) => (Some(decoder), true),
            Requests::Many(decoder) => (Some(decoder), false),
        };
        // Frames expected: the client has not ended its stream.
        let mut expecting = decoder.is_some();
        let mut index = 0usize;
        loop {
            let event = tokio::select! {
                opened_call = &mut open, if !opened => Event::Opened(opened_call.map(Box::new)),
                reply = next_message(&mut incoming) => Event::Reply(reply),
                room = reserve(&feeder.tx), if pending.is_some() => Event::Room(room),
                frame = socket.recv(), if pending.is_none() => Event::Frame(frame),
            };
            match event {
                Event::Opened(result) => {
                    opened = true;
                    match result {
                        Ok(call) => incoming = Some(call),
                        Err(error) => return End::Failed(error),
                    }
                }
                Event::Reply(Ok(Some(message))) => {
                    let frame = match self.frame(&message) {
                        Ok(frame) => frame,
                        Err(error) => return End::Failed(error),
                    };
                    if socket.send(frame).await.is_err() {
                        return End::Gone;
                    }
                }
                Event::Reply(Ok(None)) => return End::Done,
                Event::Reply(Err(error)) => return End::Failed(error),
                Event::Room(room) => {
                    let Some((message, last)) = pending.take() else {
                        continue;
                    };
                    match room {
                        Some(permit) => {
                            permit.send(message);
                            if last {
                                feeder.close();
                            }
                        }
                        // The call no longer reads its requests: it is ending.
                        None => feeder.close(),
                    }
                }
                Event::Frame(frame) => {
                    let data = match frame {
                        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return End::Gone,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(message)) => message.into_data(),
                    };
                    let Some(decoder) = decoder.as_ref().filter(|_| expecting) else {
                        return End::Failed(Error::bad_request(if decoder.is_some() {
                            "unexpected frame: the client already ended its stream"
                        } else {
                            "unexpected frame: this route takes its request from the path and query, not from frames"
                        }));
                    };
                    // Raw chunks end with an empty frame; JSON messages with a blank one or `EOF`.
                    let end_of_stream = if decoder.is_raw() {
                        data.is_empty()
                    } else {
                        data.iter().all(u8::is_ascii_whitespace) || data.as_ref() == b"EOF"
                    };
                    if end_of_stream {
                        expecting = false;
                        if one {
                            pending = Some((decoder.base(), true));
                        } else {
                            feeder.close();
                        }
                        continue;
                    }
                    index += 1;
                    match decoder.decode(&self.content_type, data, &self.json, self.types) {
                        Ok(message) => {
                            pending = Some((message, one));
                            expecting = !one;
                        }
                        Err(e) => {
                            return End::Failed(stream::decode_error(&e, Position::START, index));
                        }
                    }
                }
            }
        }
    }

    /// One reply message as a frame.
    fn frame(&self, message: &[u8]) -> Result<Message, Error> {
        let envelope: (&[u8], &[u8]) = if self.bare {
            (b"", b"")
        } else {
            (b"{\"result\":", b"}")
        };
        let mut buf = Vec::new();
        self.encode
            .append(message, envelope, &self.json, self.types, &mut buf)?;
        Ok(match self.encode {
            Encode::Raw(_) => Message::Binary(Bytes::from(buf)),
            Encode::Json(_) => Message::Text(String::from_utf8_lossy(&buf).into_owned().into()),
        })
    }
}

/// The next reply message, once the call has started.
async fn next_message(incoming: &mut Option<Box<Incoming>>) -> Result<Option<Bytes>, Error> {
    match incoming {
        Some(incoming) => incoming.message().await,
        None => std::future::pending().await,
    }
}

/// Room for one message in the channel to the call; `None` when the call stopped reading.
async fn reserve(
    tx: &Option<tokio::sync::mpsc::Sender<Bytes>>,
) -> Option<tokio::sync::mpsc::OwnedPermit<Bytes>> {
    match tx {
        Some(tx) => tx.clone().reserve_owned().await.ok(),
        None => std::future::pending().await,
    }
}

/// Sends a close frame and waits briefly for the client's, so the close handshake completes.
async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame {
        code,
        reason: reason[..end].to_string().into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let drain = async { while let Some(Ok(_)) = socket.recv().await {} };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drain).await;
}
