//! The gRPC side: one [`Gateway`] per router holds the upstream client and the options; the
//! generated handlers call it to read bodies, decode JSON, make the call and write the reply.

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, header};
use tonic::codegen::{Body as HttpBody, StdError};

use super::error::Error;
use super::json::{self, AnyType, JsonError, JsonOptions, ProtoJson, Reader, Writer};
use super::metadata;

/// Any tonic gRPC service can be the upstream: a `Channel` to a remote server, or a tonic server
/// (`Routes`, a generated `…Server`) called in-process with no network hop.
pub trait Upstream:
    tonic::client::GrpcService<
        tonic::body::Body,
        ResponseBody: HttpBody<Data = Bytes, Error: Into<StdError>> + Send + 'static,
        Future: Send,
        Error: Into<StdError>,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> Upstream for T where
    T: tonic::client::GrpcService<
            tonic::body::Body,
            ResponseBody: HttpBody<Data = Bytes, Error: Into<StdError>> + Send + 'static,
            Future: Send,
            Error: Into<StdError>,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// What a router does at run time; the generated `options()` gives the defaults chosen at
/// generation time, and the binary's flags override them.
#[derive(Debug, Clone)]
pub struct Options {
    pub json: JsonOptions,
    /// Ignore query parameters that match no field instead of answering 400.
    pub ignore_unknown_query_parameters: bool,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Deadline for upstream calls when the client sends no `Grpc-Timeout`.
    pub default_timeout: Option<Duration>,
}

/// The upstream client and options shared by every request of one router.
pub struct Gateway<T> {
    grpc: tonic::client::Grpc<T>,
    options: Options,
    types: &'static [AnyType],
}

impl<T: Upstream> Gateway<T> {
    /// `types` lists the message types `google.protobuf.Any` values may hold.
    pub fn new(upstream: T, options: Options, types: &'static [AnyType]) -> Self {
        Gateway {
            grpc: tonic::client::Grpc::new(upstream),
            options,
            types,
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Reads the whole request body, refusing more than the configured limit.
    pub async fn read_body(&self, body: Body) -> Result<Bytes, Error> {
        let limit = self.options.max_body_bytes;
        axum::body::to_bytes(body, limit).await.map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                Error::payload_too_large(limit)
            } else {
                Error::bad_request(format!("could not read the request body: {e}"))
            }
        })
    }

    /// Merges a JSON body into the whole request message; an empty body leaves it empty.
    pub fn merge_json<M: ProtoJson>(&self, message: &mut M, body: &[u8]) -> Result<(), Error> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        json::merge(message, body, &self.options.json, self.types).map_err(|e| Error::body(&e))
    }

    /// Reads a JSON body into one field, with `read` doing what the field's type needs.
    pub fn read_json(
        &self,
        body: &[u8],
        read: impl FnOnce(&mut Reader<'_>) -> Result<(), JsonError>,
    ) -> Result<(), Error> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        json::read(body, &self.options.json, self.types, read).map_err(|e| Error::body(&e))
    }

    /// Calls a unary RPC with the request's headers as metadata.
    pub async fn unary<Req, Resp>(
        &self,
        path: &'static str,
        parts: &Parts,
        message: Req,
    ) -> Result<tonic::Response<Resp>, Error>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let metadata = metadata::request_metadata(parts)?;
        let timeout = metadata::timeout(parts)?.or(self.options.default_timeout);
        let mut request = tonic::Request::from_parts(metadata, tonic::Extensions::new(), message);
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        let mut grpc = self.grpc.clone();
        grpc.ready().await.map_err(|e| {
            Error::new(
                tonic::Code::Unavailable,
                format!("upstream unavailable: {}", e.into()),
            )
        })?;
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let path = http::uri::PathAndQuery::from_static(path);
        let call = grpc.unary(request, path, codec);
        let result = match timeout {
            // The deadline is enforced here too, so an upstream that ignores `grpc-timeout`
            // still answers 504 in time.
            Some(t) => match tokio::time::timeout(t, call).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(Error::new(
                        tonic::Code::DeadlineExceeded,
                        "upstream deadline exceeded",
                    ));
                }
            },
            None => call.await,
        };
        result.map_err(|status| {
            let mut e = Error::from_status(&status, self.types);
            // tonic reports its own client-side timeout as CANCELLED; an expired deadline is a 504.
            if status.code() == tonic::Code::Cancelled && status.message().contains("Timeout expired")
            {
                e = Error::new(tonic::Code::DeadlineExceeded, "upstream deadline exceeded");
            }
            e.with_headers(metadata::response_headers(status.metadata()))
        })
    }

    /// Writes a JSON response; `write` writes the message or the `response_body` field.
    pub fn respond<Resp>(
        &self,
        response: &tonic::Response<Resp>,
        write: impl FnOnce(&mut Writer<'_>, &Resp),
    ) -> Response {
        let body = json::write(&self.options.json, self.types, |w| {
            write(w, response.get_ref())
        });
        let mut reply = body.into_response();
        let headers = reply.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.extend(metadata::response_headers(response.metadata()));
        reply
    }
}
