//! The failure of a request stream (a message that does not decode, a body that cannot be read),
//! signalled to whoever waits for the call or writes the reply: its error wins.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::error::Error;

/// The failure of a request stream, signalled to whoever waits for the call.
pub(super) struct Failure(Option<oneshot::Receiver<Error>>);

impl Failure {
    /// Waits on `rx`, the request stream's failure signal.
    pub(super) fn new(rx: oneshot::Receiver<Error>) -> Self {
        Failure(Some(rx))
    }

    /// No request stream to fail.
    pub(super) fn none() -> Self {
        Failure(None)
    }

    /// Polls for the error: ready once the request stream fails, never if it ends well.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Error> {
        let Some(rx) = &mut self.0 else {
            return Poll::Pending;
        };
        match Pin::new(rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                // Received or closed: the receiver must not be polled again.
                self.0 = None;
                match result {
                    Ok(error) => Poll::Ready(error),
                    Err(_) => Poll::Pending,
                }
            }
        }
    }

    /// The error, if the request stream has failed by now.
    pub(super) fn try_recv(&mut self) -> Option<Error> {
        match self.0.as_mut()?.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => None,
            result => {
                // Received or closed: the receiver must not be polled again.
                self.0 = None;
                result.ok()
            }
        }
    }
}

/// Runs `future` unless the request stream fails first: its error wins, also when both happen
/// at once (in-process, the request stream can fail and the call end in the same poll).
pub(super) async fn unless_failed<F: Future>(
    failure: &mut Failure,
    future: F,
) -> Result<F::Output, Error> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(error) = failure.poll_recv(cx) {
            return Poll::Ready(Err(error));
        }
        let output = std::task::ready!(future.as_mut().poll(cx));
        Poll::Ready(failure.try_recv().map_or(Ok(output), Err))
    })
    .await
}
