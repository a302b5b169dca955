//! Runs the `example-upstream` binary: readiness line, both listen forms, clean exit on signals.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use protogate_example_upstream::pb::helloworld::v1::{HelloRequest, greeter_client::GreeterClient};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint, Uri};

const BIN: &str = env!("CARGO_BIN_EXE_example-upstream");

/// Starts the binary and waits for its "listening on" line; returns the address it names.
async fn start(args: &[&str], env: Option<&str>) -> (Child, String) {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("EXAMPLE_UPSTREAM_LISTEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(listen) = env {
        command.env("EXAMPLE_UPSTREAM_LISTEN", listen);
    }
    let mut child = command.spawn().expect("spawn example-upstream");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(stderr).read_line(&mut line),
    )
    .await
    .expect("ready within 10s")
    .expect("read stderr");
    let addr = line
        .trim_end()
        .strip_prefix("example upstream listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, addr)
}

async fn signal_and_wait(mut child: Child, signal: &str) -> ExitStatus {
    let pid = child.id().expect("child is running").to_string();
    let killed = Command::new("kill")
        .args(["-s", signal, &pid])
        .status()
        .await
        .expect("run kill");
    assert!(killed.success());
    tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within 10s of the signal")
        .expect("wait for child")
}

async fn run_to_exit(args: &[&str]) -> ExitStatus {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("EXAMPLE_UPSTREAM_LISTEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn example-upstream");
    tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within 10s")
        .expect("wait for child")
}

async fn hello(channel: Channel) -> String {
    GreeterClient::new(channel)
        .say_hello(HelloRequest {
            name: "binary".to_owned(),
        })
        .await
        .expect("say_hello")
        .into_inner()
        .message
}

async fn unix_channel(path: PathBuf) -> Channel {
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
        .expect("connect over unix socket")
}

#[tokio::test]
async fn serves_tcp_and_exits_cleanly_on_sigterm() {
    let (child, addr) = start(&["--listen", "127.0.0.1:0"], None).await;
    assert!(!addr.ends_with(":0"), "prints the bound port: {addr}");
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect over tcp");
    assert_eq!(hello(channel).await, "Hello binary");

    let status = signal_and_wait(child, "TERM").await;
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn serves_unix_from_env_replacing_a_stale_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("upstream.sock");
    // A socket file nobody listens on, as a crashed server leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind stale socket"));
    assert!(path.exists());

    let listen = format!("unix:{}", path.display());
    let (child, addr) = start(&[], Some(&listen)).await;
    assert_eq!(addr, listen);
    assert_eq!(
        hello(unix_channel(path.clone()).await).await,
        "Hello binary"
    );

    let status = signal_and_wait(child, "INT").await;
    assert!(status.success(), "{status}");
    assert!(!path.exists(), "the socket file is removed on exit");
}

#[tokio::test]
async fn refuses_to_replace_a_file_that_is_not_a_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("not-a-socket");
    std::fs::write(&path, "keep me").expect("write file");
    let status = run_to_exit(&["--listen", &format!("unix:{}", path.display())]).await;
    assert!(!status.success());
    assert_eq!(
        std::fs::read_to_string(Path::new(&path)).expect("file kept"),
        "keep me"
    );
}

#[tokio::test]
async fn refuses_a_socket_another_server_listens_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("busy.sock");
    let _live = std::os::unix::net::UnixListener::bind(&path).expect("bind live socket");
    let status = run_to_exit(&["--listen", &format!("unix:{}", path.display())]).await;
    assert!(!status.success());
    assert!(path.exists(), "a live socket is left alone");
}

#[tokio::test]
async fn fails_on_an_unusable_address() {
    let status = run_to_exit(&["--listen", "not-an-address"]).await;
    assert!(!status.success());
}
