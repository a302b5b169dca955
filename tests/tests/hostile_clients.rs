#![allow(clippy::unwrap_used)]
//! Clients that attack the front over HTTP/2, built on the `h2` crate: whatever one client
//! does, the others keep being served.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use protogate_tests::{Server, assert_echo_serves, echo_stack, streaming};
use tokio::io::AsyncWriteExt as _;

/// The tests of this file measure this process's memory: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib << 10
}

/// An HTTP/2 client that never opens its stream windows: whatever the proxy has for it stays
/// with the proxy.
async fn never_reading_client(addr: SocketAddr) -> h2::client::SendRequest<bytes::Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, bytes::Bytes>(tcp)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// One client opens 100 server streams of 16 MiB with a zero window and never reads them: the
/// replies it leaves unread must not hold up the upstream connection that every client shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_slow_the_others() {
    let _serial = SERIAL.lock().await;
    let (proxy, _upstream) = echo_stack().await;
    assert_echo_serves(&proxy).await;
    let rss_before = rss();
    let addr = streaming::addr(&proxy);
    let mut hostile = never_reading_client(addr).await;
    let mut responses = Vec::new();
    for _ in 0..100 {
        hostile = hostile.ready().await.unwrap();
        let name = streaming::unique("unread");
        let request = http::Request::get(format!(
            "http://{addr}/v1/download/{name}?size={}",
            16 << 20
        ))
        .body(())
        .unwrap();
        let (response, _) = hostile.send_request(request, true).unwrap();
        responses.push((name, response));
    }
    // Every stream has started producing: the upstream sends until a window stops it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while responses
        .iter()
        .any(|(name, _)| streaming::produced(name) == 0)
    {
        assert!(Instant::now() < deadline, "the streams did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // What the unread replies hold in this process (proxy and upstream both): each stream's
    // upstream window, not its 16 MiB.
    let held = rss().saturating_sub(rss_before);
    eprintln!("memory held by 100 unread streams: {} MiB", held >> 20);
    assert!(
        held < 96 << 20,
        "100 unread streams hold {} MiB",
        held >> 20
    );

    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        assert_echo_serves(&proxy).await;
        slowest = slowest.max(started.elapsed());
    }
    eprintln!("slowest plain GET beside 100 unread streams: {slowest:?}");
    assert!(
        slowest < Duration::from_secs(1),
        "a plain GET took {slowest:?} beside the unread streams"
    );
    drop(responses);
    drop(hostile);
    assert_echo_serves(&proxy).await;
}

/// An HTTP/2 frame: its 9-byte header (length, type, flags, stream) and payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap();
    let mut bytes = len.to_be_bytes()[1..].to_vec();
    bytes.extend([kind, flags]);
    bytes.extend(stream.to_be_bytes());
    bytes.extend(payload);
    bytes
}

const HEADERS: u8 = 1;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const CONTINUATION: u8 = 9;
const END_HEADERS: u8 = 4;

/// An HPACK block of `n` literal fields `x-flood: <100 bytes>`, never indexed.
fn flood_fields(n: usize) -> Vec<u8> {
    let mut block = Vec::new();
    for _ in 0..n {
        block.extend([0x10, 7]);
        block.extend(b"x-flood");
        block.push(100);
        block.extend([b'a'; 100]);
    }
    block
}

/// What an attack came to: the bytes the proxy took before it stopped reading or closed the
/// connection, and whether it closed it.
#[derive(Debug)]
struct Attack {
    bytes: usize,
    closed: bool,
}

/// Sends the connection preface, then frames from `next` for up to `limit`, while another client
/// keeps asking the proxy for a plain GET: the attack's outcome, and the slowest GET.
async fn attack(
    proxy: &Server,
    limit: Duration,
    mut next: impl FnMut(usize) -> Vec<u8>,
) -> (Attack, Duration) {
    let addr = streaming::addr(proxy);
    let done = Arc::new(AtomicBool::new(false));
    let bystander = {
        let (done, url) = (done.clone(), proxy.url());
        tokio::spawn(async move {
            let client = protogate_tests::http1();
            let mut slowest = Duration::ZERO;
            while !done.load(Ordering::SeqCst) {
                let started = Instant::now();
                let reply =
                    protogate_tests::send(client.get(format!("{url}/v1/echo/bystander?name=b")))
                        .await;
                assert_eq!(reply.status, 200, "a bystander's GET: {reply:?}");
                slowest = slowest.max(started.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            slowest
        })
    };
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let deadline = Instant::now() + limit;
    let mut bytes = 0;
    let mut closed = false;
    let mut preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    preface.extend(frame(SETTINGS, 0, 0, &[]));
    let mut chunk = preface;
    for i in 0.. {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match tokio::time::timeout(left, tcp.write_all(&chunk)).await {
            Ok(Ok(())) => bytes += chunk.len(),
            Ok(Err(_)) => {
                closed = true;
                break;
            }
            // The proxy stopped reading: the attack is held by TCP's flow control.
            Err(_) => break,
        }
        chunk = next(i);
    }
    done.store(true, Ordering::SeqCst);
    let slowest = bystander.await.unwrap();
    (Attack { bytes, closed }, slowest)
}

/// The frames of a flood, by their index.
type Flood = Box<dyn FnMut(usize) -> Vec<u8>>;

/// Each flood against the front is cut off or held back, memory stays bounded, and a bystander
/// is served throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_are_cut_off_and_others_are_served() {
    let _serial = SERIAL.lock().await;
    let (proxy, _upstream) = echo_stack().await;
    assert_echo_serves(&proxy).await;
    let rss_before = rss();
    let fields = flood_fields(140);
    let floods: [(&str, Flood); 4] = [
        // A header block that never ends (CVE-2024-27316's kind).
        (
            "CONTINUATION",
            Box::new(move |i| {
                let kind = if i == 0 { HEADERS } else { CONTINUATION };
                frame(kind, 0, 1, &fields)
            }),
        ),
        // One header block past the header limit.
        (
            "header list",
            Box::new(|_| frame(HEADERS, END_HEADERS, 1, &flood_fields(140 * 8))),
        ),
        // SETTINGS and PINGs whose acknowledgements are never read (CVE-2019-9515, -9512).
        (
            "SETTINGS",
            Box::new(|_| frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100])),
        ),
        ("PING", Box::new(|_| frame(PING, 0, 0, &[7; 8]))),
    ];
    for (name, next) in floods {
        let (outcome, slowest) = attack(&proxy, Duration::from_secs(2), next).await;
        let held = rss().saturating_sub(rss_before);
        eprintln!(
            "{name} flood: {outcome:?}, slowest bystander GET {slowest:?}, memory held {} MiB",
            held >> 20
        );
        assert!(
            slowest < Duration::from_secs(1),
            "{name}: a bystander's GET took {slowest:?}"
        );
        // A malformed header block ends the connection; frames the proxy must answer are held
        // back by its not reading them while its answers go unread.
        let ends = matches!(name, "CONTINUATION" | "header list");
        assert_eq!(outcome.closed, ends, "{name}: {outcome:?}");
        assert!(outcome.bytes < 64 << 20, "{name}: {outcome:?}");
        assert!(
            held < 64 << 20,
            "{name}: the proxy holds {} MiB",
            held >> 20
        );
        assert_echo_serves(&proxy).await;
    }
}

/// Streams opened and reset at once, over and over (CVE-2023-44487): the proxy ends the
/// connection, and serves others meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reset_is_cut_off() {
    let _serial = SERIAL.lock().await;
    let (proxy, _upstream) = echo_stack().await;
    let addr = streaming::addr(&proxy);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(connection);
    let started = Instant::now();
    let mut opened = 0;
    while opened < 100_000 && started.elapsed() < Duration::from_secs(5) {
        let Ok(ready) = client.ready().await else {
            break;
        };
        client = ready;
        let request = http::Request::get(format!("http://{addr}/v1/sleep/1000"))
            .body(())
            .unwrap();
        let Ok((_, mut stream)) = client.send_request(request, false) else {
            break;
        };
        stream.send_reset(h2::Reason::CANCEL);
        opened += 1;
    }
    let cut_off = started.elapsed();
    eprintln!("rapid reset: {opened} streams opened and reset before the cut-off, in {cut_off:?}");
    assert!(opened < 100_000, "the proxy let 100,000 resets through");
    let _ = tokio::time::timeout(Duration::from_secs(5), driver).await;
    assert_echo_serves(&proxy).await;
}
