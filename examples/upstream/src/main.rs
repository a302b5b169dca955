//! `example-upstream`: runs the example gRPC server for the README demo and tests.

use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The example upstream gRPC server (Greeter and LibraryService) behind protogate's demo proxy.
#[derive(Debug, Parser)]
#[command(name = "example-upstream", version, about)]
struct Args {
    /// Where to listen: `host:port`, or `unix:/path/to/socket`.
    #[arg(
        long,
        env = "EXAMPLE_UPSTREAM_LISTEN",
        default_value = "127.0.0.1:50051",
        value_name = "ADDR"
    )]
    listen: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args.listen).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("example-upstream: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(listen: &str) -> Result<(), String> {
    // Install the handlers before announcing readiness, so a signal sent right
    // after the "listening" line shuts down cleanly instead of killing us.
    let interrupt = signal(SignalKind::interrupt())
        .map_err(|err| format!("cannot install SIGINT handler: {err}"))?;
    let terminate = signal(SignalKind::terminate())
        .map_err(|err| format!("cannot install SIGTERM handler: {err}"))?;
    let shutdown = shutdown_signal(interrupt, terminate);

    if let Some(path) = listen.strip_prefix("unix:") {
        let path = PathBuf::from(path);
        remove_stale_socket(&path)?;
        let listener = tokio::net::UnixListener::bind(&path)
            .map_err(|err| format!("cannot listen on unix:{}: {err}", path.display()))?;
        eprintln!("example upstream listening on unix:{}", path.display());
        let served = protogate_example_upstream::serve_unix(listener, shutdown).await;
        // Best effort: the socket is useless once we stop, and a leftover file
        // would only be removed again as stale on the next start.
        let _ = std::fs::remove_file(&path);
        served.map_err(|err| format!("server failed: {err}"))
    } else {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|err| format!("cannot listen on {listen}: {err}"))?;
        let addr = listener
            .local_addr()
            .map_err(|err| format!("cannot read the bound address: {err}"))?;
        eprintln!("example upstream listening on {addr}");
        protogate_example_upstream::serve(listener, shutdown)
            .await
            .map_err(|err| format!("server failed: {err}"))
    }
}

async fn shutdown_signal(mut interrupt: Signal, mut terminate: Signal) {
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// Removes a socket file left behind by a server that died without cleaning up.
/// Refuses to touch a socket someone still listens on, or a file that is not a socket.
fn remove_stale_socket(path: &Path) -> Result<(), String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(format!("cannot inspect {}: {err}", path.display())),
    };
    if !meta.file_type().is_socket() {
        return Err(format!(
            "{} exists and is not a socket; not removing it",
            path.display()
        ));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(format!(
            "another server is already listening on unix:{}",
            path.display()
        ));
    }
    std::fs::remove_file(path)
        .map_err(|err| format!("cannot remove stale socket {}: {err}", path.display()))
}
