//! The upstream side under failure (DESIGN.md §3.10): the upstream process killed and
//! restarted under load (no request hangs, the outage is 503 with a Status body, service resumes
//! by itself), a graceful restart (new calls go on a new connection while the old one drains),
//! a pool of N multiplexed connections, several upstreams balanced with a down one skipped and
//! taken back, keep-alive pings that find a silent connection, and DNS names resolved into one
//! member per address. The proxy is the runtime's `listener::serve` over a
//! `pool::Pool`, as the binary runs them.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protogate_tests::gateway::runtime::{listener, pool};
use protogate_tests::pb::echo_service_server::EchoServiceServer;
use protogate_tests::{EchoUpstream, Reply, echo_upstream_on, echo_upstream_tcp, gateway, send};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The proxy on a free loopback port; dropping it shuts it down.
struct Proxy {
    url: String,
    pool: pool::Pool,
    _stop: oneshot::Sender<()>,
}

async fn proxy(config: &pool::UpstreamConfig) -> Proxy {
    let pool = pool::Pool::new(config).unwrap();
    let listener = listener::Listener::bind("127.0.0.1:0", None).await.unwrap();
    let url = format!("http://{}", listener.local_address());
    let (stop, stopped) = oneshot::channel::<()>();
    let mut options = gateway::options();
    options.upstream_addresses = Some(pool.addresses());
    tokio::spawn(listener::serve(
        listener,
        gateway::router_with_options(pool.clone(), options),
        listener::Front::default(),
        async {
            let _ = stopped.await;
        },
    ));
    Proxy {
        url,
        pool,
        _stop: stop,
    }
}

/// The `protogate_upstream_up` series of the proxy's metrics: each address and its value.
async fn upstream_up(proxy: &Proxy, client: &reqwest::Client) -> Vec<(String, u8)> {
    let text = client
        .get(format!("{}/metrics", proxy.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("protogate_upstream_up{address=\""))
        .map(|rest| {
            let (address, value) = rest.split_once("\"} ").unwrap();
            (address.to_string(), value.parse().unwrap())
        })
        .collect()
}

/// A client that gives up after `timeout`: a request that takes longer has hung.
fn client(http2: bool, timeout: Duration) -> reqwest::Client {
    let builder = reqwest::Client::builder().timeout(timeout);
    let builder = if http2 {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    };
    builder.build().unwrap()
}

/// A free loopback port (bound, then released).
async fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Binds `addr` again, retrying briefly while the previous owner's socket goes away.
async fn rebind(addr: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(listener) = TcpListener::bind(addr).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot bind {addr} again");
}

/// Waits until `done()` holds, polling, for at most `limit`.
async fn eventually(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Kill and restart under load
// ---------------------------------------------------------------------------------------------

const CHILD_ADDRESS: &str = "PROTOGATE_TEST_CHILD_UPSTREAM";
const CHILD_READY: &str = "child upstream ready";

/// Not a test of its own: the upstream process that `upstream_restart_under_load` kills and
/// starts again (this test binary, run for this function alone). Without the variable that
/// test sets, it returns at once.
#[tokio::test]
#[ignore = "the upstream process of upstream_restart_under_load"]
async fn child_upstream() {
    let Ok(address) = std::env::var(CHILD_ADDRESS) else {
        return;
    };
    let _server = echo_upstream_on(rebind(address.parse().unwrap()).await);
    println!("{CHILD_READY}");
    std::future::pending::<()>().await;
}

/// Starts the echo upstream in a process of its own on `addr`, once it accepts connections.
async fn upstream_process(addr: SocketAddr) -> tokio::process::Child {
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["child_upstream", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_ADDRESS, addr.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(CHILD_READY) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "the upstream process did not start");
    child
}

/// One request of the load: when it was sent (in which phase) and how it ended.
struct Outcome {
    sent: Instant,
    done: Instant,
    phase: u8,
    result: Result<Reply, String>,
}

const RUNNING: u8 = 0;
const KILLED: u8 = 1;
const RESTARTED: u8 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_restart_under_load() {
    let addr = free_port().await;
    let mut upstream = upstream_process(addr).await;
    let mut config = pool::UpstreamConfig::new([format!("http://{addr}")]);
    config.pool_size = 2;
    config.backoff.max = Duration::from_millis(500);
    let proxy = proxy(&config).await;

    let phase = Arc::new(AtomicU8::new(RUNNING));
    let stop = Arc::new(AtomicBool::new(false));
    let successes = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let mut workers = Vec::new();
    // Four clients of quick calls (h2c and HTTP/1.1), and one of slow calls that are in
    // flight when the upstream dies. Bounded: at most 3000 requests each.
    for worker in 0..5 {
        let (phase, stop, successes, outcomes) = (
            phase.clone(),
            stop.clone(),
            successes.clone(),
            outcomes.clone(),
        );
        let client = client(worker % 2 == 0, Duration::from_secs(10));
        let path = if worker == 4 {
            "/v1/sleep/250".to_string()
        } else {
            format!("/v1/echo/w{worker}")
        };
        let url = format!("{}{path}", proxy.url);
        workers.push(tokio::spawn(async move {
            for _ in 0..3000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let sent = Instant::now();
                let at = phase.load(Ordering::SeqCst);
                let result = match client.get(&url).send().await {
                    Ok(response) => Ok(Reply::from(response).await),
                    Err(e) => Err(format!("{e:?}")),
                };
                if matches!(&result, Ok(r) if r.status == 200) {
                    successes.fetch_add(1, Ordering::SeqCst);
                }
                outcomes.lock().unwrap().push(Outcome {
                    sent,
                    done: Instant::now(),
                    phase: at,
                    result,
                });
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }

    eventually("calls before the kill", Duration::from_secs(20), || {
        successes.load(Ordering::SeqCst) >= 50
    })
    .await;
    upstream.kill().await.unwrap();
    phase.store(KILLED, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let _restarted = upstream_process(addr).await;
    let restarted_at = Instant::now();
    phase.store(RESTARTED, Ordering::SeqCst);
    eventually(
        "a successful call after the restart",
        Duration::from_secs(10),
        || {
            outcomes
                .lock()
                .unwrap()
                .iter()
                .any(|o| o.phase == RESTARTED && matches!(&o.result, Ok(r) if r.status == 200))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }

    let outcomes = outcomes.lock().unwrap();
    let mut unavailable = 0;
    for o in outcomes.iter() {
        // No request hung or lost its connection: the proxy answered every one.
        let reply = o
            .result
            .as_ref()
            .unwrap_or_else(|e| panic!("a request failed: {e}"));
        if reply.status != 200 {
            // The outage: 503 with a google.rpc.Status body (UNAVAILABLE).
            reply.assert_error(503, 14, "unavailable");
            unavailable += 1;
        }
    }
    assert!(
        outcomes
            .iter()
            .any(|o| o.phase == KILLED && o.result.as_ref().is_ok_and(|r| r.status == 503)),
        "no 503 during the outage"
    );
    let recovered = outcomes
        .iter()
        .filter(|o| o.phase == RESTARTED && o.result.as_ref().is_ok_and(|r| r.status == 200))
        .map(|o| o.done)
        .min()
        .unwrap();
    // Requests dial a down upstream themselves (rate-limited), so the first ones after the
    // restart are served whatever the backoff timer's phase (up to 500 ms here).
    assert!(
        recovered - restarted_at < Duration::from_millis(100),
        "service resumed {:?} after the restart",
        recovered - restarted_at
    );
    let after: Vec<&Outcome> = outcomes.iter().filter(|o| o.sent > recovered).collect();
    assert!(
        after.len() >= 20,
        "only {} calls after recovery",
        after.len()
    );
    for o in &after {
        let reply = o.result.as_ref().unwrap();
        assert_eq!(reply.status, 200, "a call after recovery: {reply:?}");
    }
    eprintln!(
        "{} calls, {unavailable} answered 503, service resumed {:?} after the restart",
        outcomes.len(),
        recovered - restarted_at
    );
}

// ---------------------------------------------------------------------------------------------
// Pool and balancing
// ---------------------------------------------------------------------------------------------

/// An echo upstream that counts the connections it accepts and the calls it answers.
struct Counted {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
    task: JoinHandle<()>,
    stop: Option<oneshot::Sender<()>>,
}

impl Counted {
    async fn start(listener: TcpListener) -> Counted {
        Counted::start_counting(listener, Arc::default(), Arc::default())
    }

    fn start_counting(
        listener: TcpListener,
        connections: Arc<AtomicUsize>,
        calls: Arc<AtomicUsize>,
    ) -> Counted {
        use futures_util::FutureExt as _;
        let addr = listener.local_addr().unwrap();
        let accepted = connections.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = stopped.shared();
        // Accepts until stopped, then closes the listener at once, as a stopping process does,
        // while the server drains its connections.
        let (conns, incoming) = tokio::sync::mpsc::channel::<std::io::Result<TcpStream>>(16);
        let accept_until = stopped.clone();
        tokio::spawn(async move {
            let mut stopped = std::pin::pin!(accept_until);
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    accept = listener.accept() => {
                        let Ok((stream, _)) = accept else { return };
                        accepted.fetch_add(1, Ordering::SeqCst);
                        if conns.send(Ok(stream)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let incoming = tokio_stream::wrappers::ReceiverStream::new(incoming);
        let counter = calls.clone();
        let service = EchoServiceServer::with_interceptor(EchoUpstream, move |request| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(request)
        });
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await;
        });
        Counted {
            addr,
            connections,
            calls,
            task,
            stop: Some(stop),
        }
    }

    /// Stops it as on SIGTERM (the proxy's connections get GOAWAY and close) and waits until
    /// its listener is closed; returns its counters.
    async fn stop(mut self) -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
        self.stop.take();
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the upstream stops")
            .unwrap();
        (self.connections, self.calls)
    }
}

async fn get(client: &reqwest::Client, url: String) -> Reply {
    send(client.get(url)).await
}

#[tokio::test]
async fn a_pool_of_n_connections_multiplexes_calls() {
    for size in [1, 3] {
        let upstream = Counted::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
        let mut config = pool::UpstreamConfig::new([format!("http://{}", upstream.addr)]);
        config.pool_size = size;
        let proxy = proxy(&config).await;
        let client = client(true, Duration::from_secs(10));
        // Concurrent calls, more than connections.
        let calls = (0..30).map(|i| {
            let client = client.clone();
            let url = format!("{}/v1/echo/p{i}", proxy.url);
            tokio::spawn(async move { get(&client, url).await })
        });
        for call in calls.collect::<Vec<_>>() {
            let reply = call.await.unwrap();
            assert_eq!(reply.status, 200, "{reply:?}");
        }
        assert_eq!(upstream.calls.load(Ordering::SeqCst), 30);
        assert_eq!(
            upstream.connections.load(Ordering::SeqCst),
            size,
            "connections of a pool of {size}"
        );
        assert_eq!(proxy.pool.members().len(), size);
    }
}

#[tokio::test]
async fn several_upstreams_are_balanced_and_a_down_one_is_skipped_then_taken_back() {
    let a = Counted::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    let b = Counted::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    let b_addr = b.addr;
    let mut config =
        pool::UpstreamConfig::new([format!("http://{}", a.addr), format!("http://{b_addr}")]);
    config.backoff.max = Duration::from_millis(200);
    let proxy = proxy(&config).await;
    let client = client(false, Duration::from_secs(10));
    let url = |i: usize| format!("{}/v1/echo/b{i}", proxy.url);

    for i in 0..40 {
        let reply = get(&client, url(i)).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    assert_eq!(a.calls.load(Ordering::SeqCst), 20, "round-robin");
    assert_eq!(b.calls.load(Ordering::SeqCst), 20, "round-robin");

    // B goes down: at most the call that finds it so fails; the others go to A.
    let (b_connections, b_calls) = b.stop().await;
    let mut failed = 0;
    for i in 0..40 {
        let reply = get(&client, url(i)).await;
        if reply.status != 200 {
            reply.assert_error(503, 14, &b_addr.to_string());
            failed += 1;
        }
    }
    assert!(
        failed <= 1,
        "{failed} calls failed while one upstream of two was down"
    );
    assert!(
        proxy.pool.members().iter().any(|(_, up)| !up),
        "{:?}",
        proxy.pool
    );
    assert_eq!(a.calls.load(Ordering::SeqCst), 60 - failed);
    let a_addr = a.addr;
    let mut expected = vec![
        (format!("http://{a_addr}"), 1),
        (format!("http://{b_addr}"), 0),
    ];
    expected.sort();
    assert_eq!(
        upstream_up(&proxy, &client).await,
        expected,
        "the metrics say which address is down"
    );

    // B comes back on its address: the pool takes it back by itself.
    let b = Counted::start_counting(rebind(b_addr).await, b_connections, b_calls);
    eventually("B back in the pool", Duration::from_secs(5), || {
        proxy.pool.members().iter().all(|(_, up)| *up)
    })
    .await;
    let mut expected = vec![
        (format!("http://{a_addr}"), 1),
        (format!("http://{b_addr}"), 1),
    ];
    expected.sort();
    assert_eq!(upstream_up(&proxy, &client).await, expected);
    let before = b.calls.load(Ordering::SeqCst);
    for i in 0..20 {
        let reply = get(&client, url(i)).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    assert_eq!(
        b.calls.load(Ordering::SeqCst) - before,
        10,
        "B serves again"
    );
}

/// A graceful restart: the old upstream sends GOAWAY and finishes the call it has while the new
/// one already listens on the same port. The calls made meanwhile are not refused with 503 on the
/// closing connection: they go on a new one at once.
#[tokio::test]
async fn calls_during_a_graceful_restart_go_on_a_new_connection() {
    const MILLIS: u32 = 1_517;
    let addr = free_port().await;
    let mut old = Counted::start(rebind(addr).await).await;
    let proxy = proxy(&pool::UpstreamConfig::new([format!("http://{addr}")])).await;
    let client = client(true, Duration::from_secs(10));
    let reply = get(&client, format!("{}/v1/echo/before", proxy.url)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let slow = tokio::spawn({
        let client = client.clone();
        let url = format!("{}/v1/sleep/{MILLIS}", proxy.url);
        async move { get(&client, url).await }
    });
    eventually(
        "the slow call reaches the upstream",
        Duration::from_secs(5),
        || protogate_tests::sleeping(MILLIS) == 1,
    )
    .await;

    // The old server stops gracefully: GOAWAY, its listener closed, the slow call still served.
    old.stop.take();
    let new = Counted::start(rebind(addr).await).await;
    let start = Instant::now();
    for i in 0..5 {
        let reply = get(&client, format!("{}/v1/echo/during{i}", proxy.url)).await;
        assert_eq!(reply.status, 200, "call {i} during the restart: {reply:?}");
    }
    assert!(
        start.elapsed() < Duration::from_millis(u64::from(MILLIS) / 2),
        "the calls did not wait for the old connection to drain: {:?}",
        start.elapsed()
    );
    assert_eq!(
        protogate_tests::sleeping(MILLIS),
        1,
        "the old call is still running"
    );
    assert_eq!(new.connections.load(Ordering::SeqCst), 1);
    assert_eq!(new.calls.load(Ordering::SeqCst), 5);

    let reply = slow.await.unwrap();
    assert_eq!(
        reply.status, 200,
        "the call in flight finished on the old upstream: {reply:?}"
    );
    let (_, old_calls) = old.stop().await;
    assert_eq!(old_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn every_upstream_down_fails_fast_with_503() {
    let dead = free_port().await;
    let mut config = pool::UpstreamConfig::new([format!("http://{dead}")]);
    config.backoff.max = Duration::from_secs(30);
    let proxy = proxy(&config).await;
    let client = client(true, Duration::from_secs(10));
    let start = Instant::now();
    for i in 0..20 {
        get(&client, format!("{}/v1/echo/d{i}", proxy.url))
            .await
            .assert_error(503, 14, &dead.to_string());
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Keep-alive pings
// ---------------------------------------------------------------------------------------------

/// A TCP relay to an upstream whose open connections can be frozen: they stay open and carry
/// nothing more, as when the upstream's host vanished without closing them.
struct Relay {
    addr: SocketAddr,
    frozen: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
    task: JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let frozen = Arc::new(Mutex::new(Vec::<Arc<AtomicBool>>::new()));
        let flags = frozen.clone();
        let task = tokio::spawn(async move {
            let mut pipes = tokio::task::JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                let flag = Arc::new(AtomicBool::new(false));
                flags.lock().unwrap().push(flag.clone());
                let (from_client, to_client) = inbound.into_split();
                let (from_upstream, to_upstream) = outbound.into_split();
                pipes.spawn(pipe(from_client, to_upstream, flag.clone()));
                pipes.spawn(pipe(from_upstream, to_client, flag));
            }
        });
        Relay { addr, frozen, task }
    }

    fn freeze(&self) {
        for flag in self.frozen.lock().unwrap().iter() {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            // Open, silent, forever.
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn keep_alive_pings_find_a_silent_connection() {
    let upstream = echo_upstream_tcp().await;
    let protogate_tests::Address::Tcp(upstream_addr) = upstream.address.clone() else {
        unreachable!()
    };
    let relay = Relay::start(upstream_addr).await;
    let mut config = pool::UpstreamConfig::new([format!("http://{}", relay.addr)]);
    config.keep_alive = Some(Duration::from_millis(200));
    config.keep_alive_timeout = Duration::from_millis(300);
    let proxy = proxy(&config).await;
    let client = client(true, Duration::from_secs(20));

    let reply = get(&client, format!("{}/v1/echo/before", proxy.url)).await;
    assert_eq!(reply.status, 200, "{reply:?}");

    // A call of 10 s is in flight when its connection goes silent: the unanswered ping ends it
    // with 503 long before.
    let slow = tokio::spawn({
        let client = client.clone();
        let url = format!("{}/v1/sleep/10000", proxy.url);
        async move {
            let start = Instant::now();
            (get(&client, url).await, start.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    relay.freeze();
    let (reply, took) = slow.await.unwrap();
    reply.assert_error(503, 14, "unavailable");
    assert!(
        took < Duration::from_secs(5),
        "the silent connection was found after {took:?}"
    );

    // A new connection serves the next calls.
    let reply = get(&client, format!("{}/v1/echo/after", proxy.url)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

// ---------------------------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn dns_names_are_resolved_into_one_member_per_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let v4 = Counted::start(listener).await;
    // `localhost` may resolve to ::1 too: serve there as well when the machine has IPv6.
    let v6 = match TcpListener::bind(("::1", port)).await {
        Ok(listener) => Some(Counted::start(listener).await),
        Err(_) => None,
    };
    let mut config = pool::UpstreamConfig::new([format!("http://localhost:{port}")]);
    config.resolve_interval = Some(Duration::from_millis(100));
    let proxy = proxy(&config).await;
    let resolved = format!("(127.0.0.1:{port})");
    eventually("localhost resolved", Duration::from_secs(10), || {
        proxy
            .pool
            .members()
            .iter()
            .any(|(name, _)| name.contains(&resolved))
    })
    .await;
    let members = proxy.pool.members();
    assert!(
        members
            .iter()
            .all(|(name, _)| name.starts_with(&format!("http://localhost:{port} ("))),
        "{members:?}"
    );

    let client = client(true, Duration::from_secs(10));
    let mut failed = 0;
    for i in 0..20 {
        let reply = get(&client, format!("{}/v1/echo/n{i}", proxy.url)).await;
        if reply.status != 200 {
            // Only an address nothing listens on (::1 without IPv6 here).
            assert!(v6.is_none(), "{reply:?}");
            reply.assert_error(503, 14, "::1");
            failed += 1;
        }
    }
    assert!(failed <= 1);
    let served =
        v4.calls.load(Ordering::SeqCst) + v6.as_ref().map_or(0, |u| u.calls.load(Ordering::SeqCst));
    assert_eq!(served, 20 - failed);
    if let Some(v6) = &v6
        && members.len() == 2
    {
        assert_eq!(
            v6.calls.load(Ordering::SeqCst),
            10,
            "balanced over both addresses"
        );
    }
}
