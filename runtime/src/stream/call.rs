//! The streaming calls: server-, client- and bidirectional-streaming RPCs over plain HTTP, each
//! calling the upstream with the request stream ([`super::request`]) and answering with the
//! response writer ([`super::write`]).

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;

use super::codec::{Decode, Decoder, Encode, Encoder};
use super::failure::{Failure, unless_failed};
use crate::error::Error;
use crate::upstream::{Gateway, Outbound};

impl Gateway {
    /// Calls a server-streaming RPC with its `request` message encoded, and streams its
    /// messages to the client (see [`crate::stream`] for the formats). Errors before the first
    /// message are returned as an ordinary error reply.
    pub async fn server_stream<Resp>(
        &self,
        path: &'static str,
        parts: &Parts,
        request: Bytes,
        encoder: Encoder<Resp>,
    ) -> Result<Response, Error>
    where
        Resp: prost::Message + Default + 'static,
    {
        self.server_stream_encoded(path, parts, request, encoder.erase())
            .await
    }

    async fn server_stream_encoded(
        &self,
        path: &'static str,
        parts: &Parts,
        request: Bytes,
        encode: Encode,
    ) -> Result<Response, Error> {
        let request = tonic::codegen::tokio_stream::once(Outbound::Message(request));
        let incoming = self.outgoing(parts)?.open(path, request).await?;
        self.stream_reply(parts, incoming, encode, Failure::none())
            .await
    }

    /// Calls a client-streaming RPC with the request body as its message stream, each message
    /// sent as soon as it is complete, and returns the one reply. A message that does not
    /// decode cancels the call; its error names the message and where it is in the body.
    pub async fn client_stream<Req>(
        &self,
        path: &'static str,
        parts: &Parts,
        body: Body,
        decoder: Decoder<Req>,
    ) -> Result<tonic::Response<Bytes>, Error>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
    {
        self.client_stream_encoded(path, parts, body, Box::new(decoder))
            .await
    }

    async fn client_stream_encoded(
        &self,
        path: &'static str,
        parts: &Parts,
        body: Body,
        decoder: Box<dyn Decode>,
    ) -> Result<tonic::Response<Bytes>, Error> {
        let outgoing = self.outgoing(parts)?;
        let (requests, mut failure) = self.requests(parts, body, decoder);
        let call = async move { outgoing.open(path, requests).await?.into_unary().await };
        unless_failed(&mut failure, call).await?
    }

    /// Calls a bidirectional-streaming RPC: the request body is its message stream and its
    /// messages are streamed back as they come, both at once (full duplex over HTTP/2). A
    /// request message that does not decode cancels the call and ends the reply with an error.
    pub async fn bidi_stream<Req, Resp>(
        &self,
        path: &'static str,
        parts: &Parts,
        body: Body,
        decoder: Decoder<Req>,
        encoder: Encoder<Resp>,
    ) -> Result<Response, Error>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
        Resp: prost::Message + Default + 'static,
    {
        self.bidi_stream_encoded(path, parts, body, Box::new(decoder), encoder.erase())
            .await
    }

    async fn bidi_stream_encoded(
        &self,
        path: &'static str,
        parts: &Parts,
        body: Body,
        decoder: Box<dyn Decode>,
        encode: Encode,
    ) -> Result<Response, Error> {
        let outgoing = self.outgoing(parts)?;
        let (requests, mut failure) = self.requests(parts, body, decoder);
        let incoming = unless_failed(&mut failure, outgoing.open(path, requests)).await??;
        self.stream_reply(parts, incoming, encode, failure).await
    }
}
