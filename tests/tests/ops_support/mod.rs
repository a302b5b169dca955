//! Helpers shared by the limits, operations and CORS tests: the echo proxy served by the
//! runtime's own front (`runtime::listener::serve`, so the connection limits apply), raw HTTP/1.1
//! over TCP (to send what real clients would not: slow heads, half bodies), and the example
//! proxy binary run with flags, its log lines collected.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protogate_tests::gateway;
use protogate_tests::gateway::runtime::listener;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A router served by `listener::serve` on a free loopback port.
pub struct Front {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Front {
    /// Serves `app` with these connection limits and shutdown grace.
    pub async fn start(
        app: axum::Router,
        limits: protogate_runtime::ConnLimits,
        grace: Option<Duration>,
    ) -> Front {
        let listener = listener::Listener::bind("127.0.0.1:0", None).await.unwrap();
        let addr: SocketAddr = listener.local_address().parse().unwrap();
        let front = listener::Front {
            limits,
            grace_period: grace,
            ..listener::Front::default()
        };
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(listener::serve(listener, app, front, async move {
            let _ = rx.await;
        }));
        Front {
            addr,
            stop: Some(tx),
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts the shutdown; the returned handle resolves when `serve` has returned.
    pub fn shut_down(&mut self) -> &mut JoinHandle<std::io::Result<()>> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        &mut self.task
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The echo proxy with `options` over a fresh echo upstream, served by `Front`.
pub async fn echo_front(
    options: gateway::Options,
    limits: protogate_runtime::ConnLimits,
) -> (Front, protogate_tests::Server) {
    let upstream = protogate_tests::echo_upstream_tcp().await;
    let app = gateway::router_with_options(protogate_tests::pool(&upstream.address), options);
    (
        Front::start(app, limits, Some(Duration::from_secs(5))).await,
        upstream,
    )
}

/// One HTTP/1.1 response read from a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A raw HTTP/1.1 connection.
pub struct Raw {
    pub stream: TcpStream,
    buffer: Vec<u8>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        Raw {
            stream: TcpStream::connect(addr).await.unwrap(),
            buffer: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// A `GET` for `target` that keeps the connection open.
    pub async fn get(&mut self, target: &str) -> RawResponse {
        let request = format!("GET {target} HTTP/1.1\r\nhost: test\r\n\r\n");
        self.send(request.as_bytes()).await.unwrap();
        self.response().await.expect("a response")
    }

    /// Reads one response with a `content-length` body; `None` when the connection closes
    /// first.
    pub async fn response(&mut self) -> Option<RawResponse> {
        let end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end;
            }
            if !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        let mut response = RawResponse {
            status,
            head,
            body: String::new(),
        };
        let length: usize = response
            .header("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        while self.buffer.len() < end + 4 + length {
            if !self.fill().await {
                return None;
            }
        }
        response.body =
            String::from_utf8_lossy(&self.buffer[end + 4..end + 4 + length]).into_owned();
        self.buffer.drain(..end + 4 + length);
        Some(response)
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Whether the server closes the connection within `limit` (reading and discarding
    /// whatever it sends).
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        tokio::time::timeout(limit, async { while self.fill().await {} })
            .await
            .is_ok()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The example proxy binary (`example-proxy`), running; killed when dropped.
pub struct Binary {
    pub child: Child,
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Binary {
    /// Runs the example proxy with `args` (plus `--listen 127.0.0.1:0`) and `RUST_LOG` (`info`
    /// when `None`), until it logs that it is ready. `Err` with its exit code and log when it
    /// exits first.
    pub fn start(args: &[&str], rust_log: Option<&str>) -> Result<Binary, (Option<i32>, String)> {
        Binary::start_with_env(args, rust_log, &[])
    }

    /// [`Binary::start`] with environment variables set for the proxy.
    pub fn start_with_env(
        args: &[&str],
        rust_log: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<Binary, (Option<i32>, String)> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_example-proxy"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", rust_log.unwrap_or("info"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(plain(&line));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains("ready to serve"))
                .cloned();
            if let Some(line) = ready {
                let listen = match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(json) => json["listen"].as_str().unwrap().to_string(),
                    Err(_) => line
                        .split_whitespace()
                        .find_map(|f| f.strip_prefix("listen="))
                        .unwrap()
                        .to_string(),
                };
                return Ok(Binary {
                    child,
                    addr: listen.parse().unwrap(),
                    lines,
                });
            }
            if let Some(status) = child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                return Err((status.code(), lines.lock().unwrap().join("\n")));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the proxy neither got ready nor exited in 30s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every log line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits up to `limit` for a log line that `matches`.
    pub async fn wait_for_line(
        &self,
        limit: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| matches(l)) {
                return Some(line);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM");
    }

    /// Waits up to `limit` for the process to exit; its exit code.
    pub async fn exited_within(&mut self, limit: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code());
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes terminal colour sequences.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// An HTTP/1.1 client that does not pool connections (each request on its own).
pub fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Polls `check` every 10 ms for up to `limit`.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}
