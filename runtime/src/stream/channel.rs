//! The request stream of a WebSocket session: its messages, fed by a channel as the session's
//! frames are decoded.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::upstream::Outbound;

/// A stream of encoded messages fed by a channel (the WebSocket frames of a session): ends when every
/// sender is gone, with [`Outbound::Abort`] first when the feeder aborted.
pub(crate) struct Channel {
    rx: mpsc::Receiver<Bytes>,
    aborted: Arc<AtomicBool>,
    done: bool,
}

/// The feeding end of a [`Channel`].
pub(crate) struct Feeder {
    pub(crate) tx: Option<mpsc::Sender<Bytes>>,
    aborted: Arc<AtomicBool>,
}

/// A channel of `capacity` messages.
pub(crate) fn channel(capacity: usize) -> (Feeder, Channel) {
    let (tx, rx) = mpsc::channel(capacity);
    let aborted = Arc::new(AtomicBool::new(false));
    (
        Feeder {
            tx: Some(tx),
            aborted: aborted.clone(),
        },
        Channel {
            rx,
            aborted,
            done: false,
        },
    )
}

impl Feeder {
    /// Ends the stream well: the upstream sees the client's half-close.
    pub(crate) fn close(&mut self) {
        self.tx = None;
    }

    /// Resets the call instead of ending it well.
    pub(crate) fn abort(&mut self) {
        self.aborted.store(true, Ordering::SeqCst);
        self.tx = None;
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        // Dropped without `close`: the session ended early, so the call must not look complete.
        if self.tx.is_some() {
            self.abort();
        }
    }
}

impl futures_util::Stream for Channel {
    type Item = Outbound;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        if self.done {
            return Poll::Ready(None);
        }
        let aborted = |this: &mut Self| {
            this.done = true;
            Poll::Ready(Some(Outbound::Abort))
        };
        if self.aborted.load(Ordering::SeqCst) {
            return aborted(&mut self);
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) if self.aborted.load(Ordering::SeqCst) => aborted(&mut self),
            Poll::Ready(Some(message)) => Poll::Ready(Some(Outbound::Message(message))),
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
        }
    }
}
