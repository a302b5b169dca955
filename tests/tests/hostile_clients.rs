#![allow(clippy::unwrap_used)]
//! Clients that attack the front over HTTP/2, built on the `h2` crate: whatever one client
//! does, the others keep being served.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use protogate_tests::{assert_echo_serves, echo_stack, streaming};

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
