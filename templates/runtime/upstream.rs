//! The gRPC side: one [`Gateway`] per router holds the upstream client and the options; the
//! generated handlers call it to read bodies, decode JSON, make the call and write the reply.

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::FutureExt as _;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use tonic::codegen::{Body as HttpBody, StdError};
use tonic::metadata::MetadataMap;

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
    /// Forward only the request headers whose metadata names are listed (`None`: every header
    /// but the hop-by-hop, framing and `grpc-*` ones, which are never forwarded). Names are
    /// lowercase metadata keys, so `x-user` covers `X-User` and `Grpc-Metadata-X-User`; a name
    /// ending in `*` matches a prefix (`x-internal-*`), and `*` alone every name.
    pub forward_headers: Option<Vec<String>>,
    /// Never forward the request headers whose metadata names are listed (same syntax).
    pub drop_headers: Vec<String>,
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

    /// Calls a unary RPC with the request's headers as metadata (see
    /// [`metadata::request_metadata`]) and the deadline from `Grpc-Timeout` or the options.
    ///
    /// The reply's metadata is the upstream's header metadata; its trailer metadata is in the
    /// extensions as [`Trailers`]. A failure keeps both as `Grpc-Metadata-*` and
    /// `Grpc-Trailer-*` headers of the error (the metadata of a trailers-only error reply, what
    /// tonic servers send for `Err(Status)`, is trailer metadata).
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
        let metadata = metadata::request_metadata(
            parts,
            self.options.forward_headers.as_deref(),
            &self.options.drop_headers,
        )?;
        let timeout = metadata::timeout(parts)?.or(self.options.default_timeout);
        let mut request = tonic::Request::from_parts(
            metadata,
            tonic::Extensions::new(),
            tonic::codegen::tokio_stream::once(message),
        );
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
        // tonic panics on some malformed upstream responses (a `grpc-status-details-bin` that
        // is not base64); a broken upstream must cost one request a 502, never the connection.
        let call = std::panic::AssertUnwindSafe(call::<T, Req, Resp>(grpc, path, request))
            .catch_unwind()
            .map(|outcome| {
                outcome.unwrap_or_else(|_| {
                    let status = tonic::Status::internal("the upstream sent a malformed response");
                    Err(Failure::new(status, MetadataMap::new()))
                })
            });
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
        result.map_err(|failure| {
            let status = &failure.status;
            let mut e = Error::from_status(status, self.types);
            // tonic reports its own client-side timeout as CANCELLED; an expired deadline is a 504.
            if status.code() == tonic::Code::Cancelled
                && status.message().contains("Timeout expired")
            {
                e = Error::new(tonic::Code::DeadlineExceeded, "upstream deadline exceeded");
            }
            e.with_headers(metadata::response_headers(&failure.headers))
                .with_headers(metadata::trailer_headers(status.metadata()))
        })
    }

    /// Writes a JSON response; `write` writes the message or the `response_body` field.
    ///
    /// The status is 200, or the one the upstream chose with `x-http-code` header metadata (no
    /// body for 204, 205 and 304). Header metadata becomes `Grpc-Metadata-<key>` headers and
    /// trailer metadata `Grpc-Trailer-<key>` headers, which the router sends as HTTP trailers
    /// when the client accepts them (see [`metadata::trailers_after_body`]).
    pub fn respond<Resp>(
        &self,
        response: &tonic::Response<Resp>,
        write: impl FnOnce(&mut Writer<'_>, &Resp),
    ) -> Response {
        let status = metadata::http_code(response.metadata()).unwrap_or(StatusCode::OK);
        let mut reply = if metadata::has_body(status) {
            let body = json::write(&self.options.json, self.types, |w| {
                write(w, response.get_ref())
            });
            let mut reply = (status, body).into_response();
            reply.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            reply
        } else if status == StatusCode::RESET_CONTENT {
            // 205 may say its empty content is empty (`Content-Length: 0`).
            (status, Body::empty()).into_response()
        } else {
            // 204 and 304 carry no `Content-Length` either (RFC 9110 §8.6). axum sets one for any
            // body of known length, so this empty body does not know its length.
            let empty = http_body_util::StreamBody::new(tonic::codegen::tokio_stream::empty::<
                Result<_, std::convert::Infallible>,
            >());
            (status, Body::new(empty)).into_response()
        };
        let headers = reply.headers_mut();
        headers.extend(metadata::response_headers(response.metadata()));
        if let Some(Trailers(trailers)) = response.extensions().get::<Trailers>() {
            headers.extend(metadata::trailer_headers(trailers));
        }
        reply
    }
}

/// The trailer metadata of a successful upstream reply, in its extensions.
#[derive(Debug, Clone, Default)]
pub struct Trailers(pub MetadataMap);

/// A failed call: the status (its metadata is the trailer metadata) and the header metadata
/// received before it, if any.
struct Failure {
    status: tonic::Status,
    headers: MetadataMap,
}

impl Failure {
    fn new(status: tonic::Status, headers: MetadataMap) -> Self {
        Failure { status, headers }
    }
}

/// Makes a unary call keeping header and trailer metadata apart (tonic's `Grpc::unary` merges
/// them): the response headers, then the one message, then the trailers.
async fn call<T, Req, Resp>(
    mut grpc: tonic::client::Grpc<T>,
    path: &'static str,
    request: tonic::Request<tonic::codegen::tokio_stream::Once<Req>>,
) -> Result<tonic::Response<Resp>, Failure>
where
    T: Upstream,
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
    let path = http::uri::PathAndQuery::from_static(path);
    // An error here is a transport failure or a trailers-only reply, whose metadata is trailers.
    let response = grpc
        .streaming(request, path, codec)
        .await
        .map_err(|status| Failure::new(status, MetadataMap::new()))?;
    let (headers, mut body, mut extensions) = response.into_parts();
    let message = match body.message().await {
        Ok(Some(message)) => message,
        Ok(None) => {
            let mut status = tonic::Status::internal("the upstream sent no response message");
            if let Ok(Some(trailers)) = body.trailers().await {
                *status.metadata_mut() = trailers;
            }
            return Err(Failure::new(status, headers));
        }
        Err(status) => return Err(Failure::new(status, headers)),
    };
    let trailers = match body.trailers().await {
        Ok(trailers) => trailers.unwrap_or_default(),
        Err(status) => return Err(Failure::new(status, headers)),
    };
    extensions.insert(Trailers(trailers));
    Ok(tonic::Response::from_parts(headers, message, extensions))
}
