//! What the proxy's two sides share: a byte stream over any transport ([`Io`], [`BoxIo`]), be it
//! a connection the front accepted ([`super::listener`]) or one the upstream pool dialed
//! ([`super::pool`]), and the error of a transport that cannot be set up ([`SetupError`]).

use std::fmt;

use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream over any transport: TCP or a Unix socket, in cleartext or under TLS.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A connection of either side.
pub type BoxIo = Box<dyn Io>;

/// A transport that cannot be set up: a malformed address, a socket that cannot be bound, a TLS
/// file that cannot be loaded. The message says which and why.
#[derive(Debug)]
pub struct SetupError(String);

impl SetupError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        SetupError(message.into())
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

#[cfg(feature = "tls")]
impl From<super::tls::TlsError> for SetupError {
    fn from(e: super::tls::TlsError) -> Self {
        SetupError(e.to_string())
    }
}
