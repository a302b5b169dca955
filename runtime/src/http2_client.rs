//! The HTTP/2 client of the upstream pool, on the `h2` crate: a call is sent, and its response
//! read, by the task of the request it serves. Only the connection has a task of its own, which
//! writes and reads the frames of every call; hyper's client would add a hand-over to that task
//! and back, and a task per call, to every request.
//!
//! The settings are hyper's client defaults (no server push, its frame and header limits) but
//! for the flow-control windows: 256 KiB per stream and the largest the protocol allows for the
//! connection, so that calls whose clients stop reading hold at most their own window and never
//! stall the others (see [`builder`]). Pings, when asked for, are sent only while calls are in
//! flight, as hyper does.

use std::future::{Future as _, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use http_body::{Body as _, Frame};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

/// HTTP/2 pings on connections with calls in flight: one every `interval`, and the connection
/// is closed (failing its calls) when an answer takes longer than `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct KeepAlive {
    /// Ping this often while calls are in flight.
    pub interval: Duration,
    /// Drop the connection when a ping goes unanswered this long.
    pub timeout: Duration,
}

/// One open HTTP/2 connection: cheap to clone, clones share it.
#[derive(Clone)]
pub struct Client {
    sender: SendRequest<Bytes>,
    /// Calls in flight, counted only when pings need to know.
    calls: Option<Arc<AtomicUsize>>,
    /// Set when the connection's task has ended.
    closed: Arc<AtomicBool>,
}

/// Opens an HTTP/2 connection over `io` and spawns the task that drives it (and pings, if
/// asked). `label` names the connection in logs.
pub async fn handshake<T>(
    io: T,
    keep_alive: Option<KeepAlive>,
    label: String,
) -> Result<Client, h2::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, mut connection) = builder().handshake::<_, Bytes>(io).await?;
    let closed = Arc::new(AtomicBool::new(false));
    let calls = keep_alive.map(|_| Arc::new(AtomicUsize::new(0)));
    let pings = match (keep_alive, &calls) {
        (Some(keep_alive), Some(calls)) => connection
            .ping_pong()
            .map(|ping_pong| (keep_alive, ping_pong, calls.clone())),
        _ => None,
    };
    let ended = closed.clone();
    tokio::spawn(async move {
        let result = match pings {
            None => connection.await.map_err(|e| e.to_string()),
            Some((keep_alive, ping_pong, calls)) => {
                drive_with_pings(connection, keep_alive, ping_pong, calls).await
            }
        };
        ended.store(true, Ordering::Release);
        if let Err(e) = result {
            tracing::debug!(upstream = %label, "upstream connection closed: {e}");
        }
    });
    Ok(Client {
        sender,
        calls,
        closed,
    })
}

/// Each call's flow-control window on the upstream connection: what the proxy holds of a reply
/// its client does not read (hyper's 2 MiB let 100 unread streams of one client hold 200 MiB,
/// and queue that much ahead of every other call on the connection). A window per round trip
/// is still 256 MB/s for one stream at a 1 ms round trip.
const STREAM_WINDOW: u32 = 256 << 10;

/// The largest flow-control window HTTP/2 allows.
const MAX_WINDOW: u32 = (1 << 31) - 1;

/// hyper's HTTP/2 client defaults, but for the connection's window.
///
/// Every client's calls share an upstream connection, and data a call has not read yet keeps
/// the connection's window closed: with a window of a few stream windows, a few clients that
/// stop reading their streams would stall every other call on it. With the largest window, the
/// connection never stops a stream; each stream's own window bounds what it can hold.
fn builder() -> h2::client::Builder {
    let mut builder = h2::client::Builder::new();
    builder
        .initial_max_send_streams(100)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(MAX_WINDOW)
        .max_frame_size(16 << 10)
        .max_header_list_size(16 << 10)
        .max_send_buffer_size(1 << 20)
        .max_local_error_reset_streams(Some(1024))
        .enable_push(false);
    builder
}

/// Drives the connection, pinging every `interval` while calls are in flight; returns (and so
/// drops the connection, which fails its calls) when a ping goes unanswered for `timeout`.
async fn drive_with_pings<T>(
    connection: h2::client::Connection<T, Bytes>,
    keep_alive: KeepAlive,
    mut ping_pong: h2::PingPong,
    calls: Arc<AtomicUsize>,
) -> Result<(), String>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut connection = std::pin::pin!(connection);
    loop {
        tokio::select! {
            result = &mut connection => return result.map_err(|e| e.to_string()),
            () = tokio::time::sleep(keep_alive.interval) => {}
        }
        if calls.load(Ordering::Relaxed) == 0 {
            continue;
        }
        let pong = tokio::time::timeout(keep_alive.timeout, ping_pong.ping(h2::Ping::opaque()));
        tokio::select! {
            result = &mut connection => return result.map_err(|e| e.to_string()),
            answer = pong => match answer {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("ping failed: {e}")),
                Err(_) => {
                    return Err(format!(
                        "no answer to a ping within {:?}",
                        keep_alive.timeout
                    ));
                }
            },
        }
    }
}

impl Client {
    /// Whether the connection has ended; a closed client is not used again.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Makes one call: `request`'s URI is absolute (scheme and authority included). Waits for
    /// the response headers. The body is sent from here as far as it is ready, and by a task of
    /// its own when it has to wait (a request stream), so that the response can come first.
    pub async fn call(
        &self,
        request: http::Request<tonic::body::Body>,
    ) -> Result<http::Response<ResponseBody>, CallError> {
        let mut sender = match self.sender.clone().ready().await {
            Ok(sender) => sender,
            Err(error) => {
                // Closing (a GOAWAY: the upstream is shutting down gracefully, and finishes the
                // calls it has) or closed: no new call goes on this connection.
                self.closed.store(true, Ordering::Release);
                return Err(CallError::NotSent(error, Box::new(request)));
            }
        };
        let (parts, mut body) = request.into_parts();
        let end = body.is_end_stream();
        let (response, mut stream) = sender
            .send_request(http::Request::from_parts(parts, ()), end)
            .map_err(CallError::Failed)?;
        let in_flight = InFlight::new(self.calls.clone());
        let mut cancel = None;
        if !end {
            let mut held = None;
            let sent =
                poll_fn(|cx| Poll::Ready(send_ready(&mut body, &mut stream, &mut held, cx))).await;
            if !sent {
                let (tx, rx) = oneshot::channel();
                tokio::spawn(send_rest(body, stream, held, rx));
                cancel = Some(Cancel(Some(tx)));
            }
        }
        let response = response.await.map_err(CallError::Failed)?;
        Ok(response.map(|recv| ResponseBody {
            recv,
            state: Read::Data,
            in_flight,
            cancel,
        }))
    }
}

/// Why a call failed.
pub enum CallError {
    /// The connection takes no new calls: the call was not sent, and can go on another one.
    NotSent(h2::Error, Box<http::Request<tonic::body::Body>>),
    /// The call was sent, and failed.
    Failed(h2::Error),
}

/// Sends what of a request body is ready now: the whole of a body that is one chunk (every
/// unary call's), else at most its first chunk. True when the body has been sent.
fn send_ready(
    body: &mut tonic::body::Body,
    stream: &mut SendStream<Bytes>,
    held: &mut Option<Bytes>,
    cx: &mut Context<'_>,
) -> bool {
    for _ in 0..2 {
        match Pin::new(&mut *body).poll_frame(cx) {
            Poll::Pending => return false,
            Poll::Ready(frame) => {
                if send_frame(stream, held, frame) == Sent::All {
                    return true;
                }
            }
        }
    }
    false
}

/// Sends the rest of a request body, each chunk as it comes once the upstream has room for
/// more (HTTP/2 flow control). Stops when the upstream resets the stream, and resets it when
/// the call is cancelled first.
async fn send_rest(
    mut body: tonic::body::Body,
    mut stream: SendStream<Bytes>,
    held: Option<Bytes>,
    mut cancelled: oneshot::Receiver<()>,
) {
    if let Some(data) = held
        && stream.send_data(data, false).is_err()
    {
        return;
    }
    let mut watching = true;
    loop {
        let frame = poll_fn(|cx| {
            if stream.poll_reset(cx).is_ready() {
                return Poll::Ready(None);
            }
            let polled = match has_room(&mut stream, cx) {
                Poll::Ready(true) => Pin::new(&mut body).poll_frame(cx).map(Some),
                Poll::Ready(false) => return Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
            // A body that fails is reset by `send_frame`; one that is only waiting when the call
            // is cancelled, here. (The sender is dropped without a word when the response has
            // ended: then the body goes on.)
            if polled.is_pending() && watching {
                match Pin::new(&mut cancelled).poll(cx) {
                    Poll::Ready(Ok(())) => {
                        stream.send_reset(h2::Reason::CANCEL);
                        return Poll::Ready(None);
                    }
                    Poll::Ready(Err(_)) => watching = false,
                    Poll::Pending => {}
                }
            }
            polled
        })
        .await;
        let Some(frame) = frame else { return };
        let mut held = None;
        let mut sent = send_frame(&mut stream, &mut held, frame);
        if let Some(data) = held
            && stream.send_data(data, false).is_err()
        {
            sent = Sent::All;
        }
        if sent == Sent::All {
            return;
        }
    }
}

#[derive(PartialEq)]
enum Sent {
    /// The body has been sent (or cannot be: the stream is gone).
    All,
    More,
}

/// Sends what a body frame completes: the chunk before it (a chunk is held until the next read
/// shows whether it is the last, which then carries END_STREAM), trailers, or the end.
fn send_frame(
    stream: &mut SendStream<Bytes>,
    held: &mut Option<Bytes>,
    frame: Option<Result<Frame<Bytes>, tonic::Status>>,
) -> Sent {
    let result = match frame {
        None => stream
            .send_data(held.take().unwrap_or_default(), true)
            .map(|()| Sent::All),
        Some(Ok(frame)) => match frame.into_data() {
            // An empty chunk is nothing to send: h2 servers end a connection that receives many
            // empty DATA frames (`too_many_data_frames`), which a client's empty last chunk
            // would otherwise become, one per call.
            Ok(data) if data.is_empty() => Ok(Sent::More),
            Ok(data) => match held.replace(data) {
                Some(previous) => stream.send_data(previous, false).map(|()| Sent::More),
                None => Ok(Sent::More),
            },
            Err(frame) => match frame.into_trailers() {
                Ok(trailers) => held
                    .take()
                    .map_or(Ok(()), |previous| stream.send_data(previous, false))
                    .and_then(|()| stream.send_trailers(trailers))
                    .map(|()| Sent::All),
                Err(_) => Ok(Sent::More),
            },
        },
        Some(Err(status)) => {
            // INTERNAL_ERROR, as hyper's client sends: a server may read CANCEL (or NO_ERROR)
            // as the plain end of the body, and act on a stream that failed.
            tracing::debug!("request body failed: {status}");
            stream.send_reset(h2::Reason::INTERNAL_ERROR);
            Ok(Sent::All)
        }
    };
    result.unwrap_or(Sent::All)
}

/// Whether the upstream's flow-control window has room for more of the body (pending until it
/// has); false when the stream has closed.
fn has_room(stream: &mut SendStream<Bytes>, cx: &mut Context<'_>) -> Poll<bool> {
    stream.reserve_capacity(1);
    if stream.capacity() > 0 {
        return Poll::Ready(true);
    }
    match ready!(stream.poll_capacity(cx)) {
        Some(Ok(n)) if n > 0 => Poll::Ready(true),
        Some(Ok(_)) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(Err(_)) | None => Poll::Ready(false),
    }
}

/// Counts a call in flight for as long as it lives.
struct InFlight(Option<Arc<AtomicUsize>>);

impl InFlight {
    fn new(calls: Option<Arc<AtomicUsize>>) -> Self {
        if let Some(calls) = &calls {
            calls.fetch_add(1, Ordering::Relaxed);
        }
        InFlight(calls)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(calls) = &self.0 {
            calls.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Tells a request body's task to reset the stream when dropped before the response ended.
struct Cancel(Option<oneshot::Sender<()>>);

impl Cancel {
    /// The response ended: the body's task may finish sending.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// The body of an upstream response: its data, then its trailers. Data read is given back to
/// the flow-control windows at once.
pub struct ResponseBody {
    recv: RecvStream,
    state: Read,
    in_flight: InFlight,
    cancel: Option<Cancel>,
}

enum Read {
    Data,
    Trailers,
    Done,
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        let this = self.get_mut();
        if let Read::Data = this.state {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => this.state = Read::Trailers,
            }
        }
        if let Read::Done = this.state {
            return Poll::Ready(None);
        }
        let trailers = ready!(this.recv.poll_trailers(cx));
        // The call is over: its request body may finish, and it no longer counts for pings.
        this.state = Read::Done;
        if let Some(cancel) = &mut this.cancel {
            cancel.disarm();
        }
        this.in_flight = InFlight(None);
        Poll::Ready(match trailers {
            Ok(Some(trailers)) => Some(Ok(Frame::trailers(trailers))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        })
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, Read::Done)
    }
}
