//! `bench-upstream`: the benchmark's gRPC server (see bench/README.md).

use std::process::ExitCode;

use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};

/// The gRPC upstream of protogate's benchmark: `bench.v1.BenchService` with pre-encoded
/// responses.
#[derive(Debug, Parser)]
#[command(name = "bench-upstream", version, about)]
struct Args {
    /// Where to listen (`host:port`); the harness uses loopback only.
    #[arg(long, default_value = "127.0.0.1:50151", value_name = "ADDR")]
    listen: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args.listen).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench-upstream: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(listen: &str) -> Result<(), String> {
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|err| format!("cannot install SIGINT handler: {err}"))?;
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|err| format!("cannot install SIGTERM handler: {err}"))?;
    let shutdown = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|err| format!("cannot listen on {listen}: {err}"))?;
    let addr = listener
        .local_addr()
        .map_err(|err| format!("cannot read the bound address: {err}"))?;
    eprintln!("bench upstream listening on {addr}");
    protogate_bench_upstream::serve(listener, shutdown)
        .await
        .map_err(|err| format!("server failed: {err}"))
}
