//! REST/JSON load through the proxy: HTTP/1.1 keep-alive connections, or streams on one h2c
//! connection (HTTP/2 with prior knowledge).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use protogate_bench_upstream::{fixtures, paths};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::stats::{Plan, WorkerStats};
use crate::{Rpc, Scenario};

/// The sending half of the shared h2c connection.
pub type H2Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

/// The one request a run sends, over and over.
#[derive(Debug)]
pub struct Spec {
    method: Method,
    /// Origin form (`/v1/...`), for HTTP/1.1.
    path: Uri,
    /// Absolute form (`http://host:port/v1/...`), for HTTP/2's `:scheme` and `:authority`.
    absolute: Uri,
    host: http::HeaderValue,
    body: Bytes,
    content_type: &'static str,
    /// `Connect-Protocol-Version: 1`, as Connect clients send it.
    connect: bool,
    /// Stream responses count their newline-delimited items.
    stream: bool,
}

/// A message as a gRPC-Web frame.
fn web_frame(message: &impl prost::Message) -> Bytes {
    let message = message.encode_to_vec();
    let mut frame = vec![0];
    frame.extend(
        u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend(message);
    frame.into()
}

impl Spec {
    pub fn new(
        scenario: Scenario,
        rpc: Rpc,
        target: SocketAddr,
        stream_count: u32,
    ) -> Result<Spec, String> {
        let (method, path, body, content_type) = match (rpc, scenario) {
            (Rpc::Connect | Rpc::GrpcWeb, Scenario::Stream) => {
                return Err("--rpc connect and grpc-web run the get and echo scenarios".into());
            }
            (Rpc::Connect, Scenario::Get) => (
                Method::POST,
                paths::GET_ITEM.to_string(),
                Bytes::from(format!(r#"{{"id":"{}"}}"#, fixtures::GET_ID)),
                "application/json",
            ),
            (Rpc::Connect, Scenario::Echo) => (
                Method::POST,
                paths::ECHO.to_string(),
                Bytes::from_static(fixtures::ECHO_JSON.as_bytes()),
                "application/json",
            ),
            (Rpc::GrpcWeb, Scenario::Get) => (
                Method::POST,
                paths::GET_ITEM.to_string(),
                web_frame(&fixtures::get_item_request()),
                "application/grpc-web+proto",
            ),
            (Rpc::GrpcWeb, Scenario::Echo) => (
                Method::POST,
                paths::ECHO.to_string(),
                web_frame(&fixtures::echo_item()),
                "application/grpc-web+proto",
            ),
            (Rpc::Rest, Scenario::Get) => (
                Method::GET,
                format!("/v1/items/{}", fixtures::GET_ID),
                Bytes::new(),
                "application/json",
            ),
            (Rpc::Rest, Scenario::Echo) => (
                Method::POST,
                "/v1/echo".to_string(),
                Bytes::from_static(fixtures::ECHO_JSON.as_bytes()),
                "application/json",
            ),
            (Rpc::Rest, Scenario::Stream) => (
                Method::GET,
                format!("/v1/items:stream?count={stream_count}"),
                Bytes::new(),
                "application/json",
            ),
        };
        // Built from an address and fixed paths, so these always parse.
        #[allow(clippy::unwrap_used)]
        Ok(Spec {
            method,
            absolute: format!("http://{target}{path}").parse().unwrap(),
            path: path.parse().unwrap(),
            host: target.to_string().parse().unwrap(),
            body,
            content_type,
            connect: rpc == Rpc::Connect,
            stream: scenario == Scenario::Stream,
        })
    }

    fn request(&self, absolute: bool) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        if absolute {
            *request.uri_mut() = self.absolute.clone();
        } else {
            *request.uri_mut() = self.path.clone();
            request
                .headers_mut()
                .insert(header::HOST, self.host.clone());
        }
        if !self.body.is_empty() {
            request.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static(self.content_type),
            );
        }
        if self.connect {
            request.headers_mut().insert(
                "connect-protocol-version",
                http::HeaderValue::from_static("1"),
            );
        }
        request
    }

    /// Reads the whole response; a success is a 200 with a non-empty body. Returns the items
    /// received (1, or the non-empty lines of a stream) and the body's length.
    async fn check(&self, response: http::Response<Incoming>) -> Result<(u64, u64), Failure> {
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| Failure::Transport(format!("reading the body: {err}")))?
            .to_bytes();
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(Failure::Response(format!("status {status}: {text}")));
        }
        if body.is_empty() {
            return Err(Failure::Response("empty body".into()));
        }
        let messages = if self.stream {
            body.split(|&b| b == b'\n')
                .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
                .count() as u64
        } else {
            1
        };
        Ok((messages, body.len() as u64))
    }
}

/// Why a request failed: the connection is unusable, or the answer was wrong.
enum Failure {
    Transport(String),
    Response(String),
}

/// One HTTP/1.1 keep-alive connection sending requests one after the other until the run ends;
/// reconnects after a transport error.
pub async fn http1_worker(target: SocketAddr, spec: Arc<Spec>, plan: Plan) -> WorkerStats {
    let mut stats = WorkerStats::new();
    let mut sent = 0u64;
    'connection: while plan.may_send(sent) {
        let mut sender = match http1_connect(target, &plan).await {
            Ok(sender) => sender,
            Err(err) => {
                sent += 1;
                stats.failure(&plan, err);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while plan.may_send(sent) {
            sent += 1;
            let started = Instant::now();
            let outcome = timeout_at(plan.deadline(), async {
                sender
                    .ready()
                    .await
                    .map_err(|err| Failure::Transport(format!("connection: {err}")))?;
                let response = sender
                    .send_request(spec.request(false))
                    .await
                    .map_err(|err| Failure::Transport(format!("request: {err}")))?;
                spec.check(response).await
            })
            .await;
            match outcome {
                Ok(Ok((messages, bytes))) => stats.success(&plan, started, messages, bytes),
                Ok(Err(Failure::Response(err))) => stats.failure(&plan, err),
                Ok(Err(Failure::Transport(err))) => {
                    stats.failure(&plan, err);
                    continue 'connection;
                }
                Err(_) => {
                    stats.failure(&plan, "timed out".into());
                    continue 'connection;
                }
            }
        }
    }
    stats
}

async fn http1_connect(
    target: SocketAddr,
    plan: &Plan,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, String> {
    let connect = async {
        let stream = TcpStream::connect(target)
            .await
            .map_err(|err| format!("connect: {err}"))?;
        stream
            .set_nodelay(true)
            .map_err(|err| format!("nodelay: {err}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|err| format!("handshake: {err}"))?;
        // Ends when the sender is dropped or the server closes the connection.
        tokio::spawn(connection);
        Ok(sender)
    };
    timeout_at(plan.deadline(), connect)
        .await
        .unwrap_or_else(|_| Err("connect: timed out".into()))
}

/// Opens the h2c connection (HTTP/2 prior knowledge) all h2c workers share.
pub async fn h2c_connect(target: SocketAddr) -> Result<H2Sender, String> {
    let connect = async {
        let stream = TcpStream::connect(target)
            .await
            .map_err(|err| format!("cannot connect to {target}: {err}"))?;
        stream
            .set_nodelay(true)
            .map_err(|err| format!("nodelay: {err}"))?;
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(|err| format!("h2c handshake with {target}: {err}"))?;
        tokio::spawn(connection);
        Ok(sender)
    };
    tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .unwrap_or_else(|_| Err(format!("h2c connection to {target} timed out")))
}

/// One stream at a time on the shared h2c connection, until the run ends.
pub async fn h2c_worker(mut sender: H2Sender, spec: Arc<Spec>, plan: Plan) -> WorkerStats {
    let mut stats = WorkerStats::new();
    let mut sent = 0u64;
    while plan.may_send(sent) {
        sent += 1;
        let started = Instant::now();
        let outcome = timeout_at(plan.deadline(), async {
            sender
                .ready()
                .await
                .map_err(|err| Failure::Transport(format!("connection: {err}")))?;
            let response = sender
                .send_request(spec.request(true))
                .await
                .map_err(|err| Failure::Transport(format!("request: {err}")))?;
            spec.check(response).await
        })
        .await;
        match outcome {
            Ok(Ok((messages, bytes))) => stats.success(&plan, started, messages, bytes),
            Ok(Err(Failure::Response(err))) => stats.failure(&plan, err),
            Ok(Err(Failure::Transport(err))) => {
                // The shared connection is gone: count the failure, pause, try again (each
                // attempt is bounded by the plan).
                stats.failure(&plan, err);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(_) => stats.failure(&plan, "timed out".into()),
        }
    }
    stats
}
