//! `bench-load`: the benchmark's load client (see bench/README.md).
//!
//! One run drives one scenario (`get`, `echo`, `stream`) over one protocol (`http1`: N
//! keep-alive connections; `h2c`: N concurrent streams on one HTTP/2 connection; `grpc`: N
//! concurrent calls on one tonic channel straight to the upstream) for a warm-up and then a fixed
//! measured window, closed loop (each of the N workers sends its next request when the previous
//! one has completed). It prints one JSON line: requests/s, latency percentiles from an HDR
//! histogram, errors, and — when given the proxy's and the upstream's pids — their CPU time per
//! request over exactly the measured window, read from `/proc/<pid>/stat`, with the kernel's part
//! of it, and their peak RSS.
//!
//! `bench-load soak` is the soak test instead (bench/soak.sh runs it): mixed traffic against the
//! example proxy for minutes, with its RSS and open fds sampled and their trend judged.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tokio::time::Instant;

mod grpc;
mod http;
mod procfs;
mod soak;
mod stats;

use stats::{Plan, WorkerStats};

/// Load client of protogate's benchmark: prints one JSON line per run.
#[derive(Debug, Parser)]
#[command(
    name = "bench-load",
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Protocol: HTTP/1.1 keep-alive connections, h2c streams on one connection, or direct gRPC
    /// calls on one tonic channel.
    #[arg(long, value_enum, required = true)]
    mode: Option<Mode>,
    /// What to call.
    #[arg(long, value_enum, required = true)]
    scenario: Option<Scenario>,
    /// Over http1 and h2c, the protocol of the call: REST/JSON (the HTTP binding), Connect
    /// unary JSON, or gRPC-Web binary (both on the gRPC method's path; `get` and `echo` only).
    #[arg(long, value_enum, default_value = "rest")]
    rpc: Rpc,
    /// The server's `host:port` (the proxy for http1/h2c, the upstream for grpc); loopback only.
    #[arg(long, value_name = "ADDR", required = true)]
    target: Option<SocketAddr>,
    /// Concurrency: connections (http1), streams (h2c) or calls in flight (grpc).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Length of the measured window, in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Load before the measured window, not counted, in seconds.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Items one `stream` call asks for.
    #[arg(long, default_value_t = 100)]
    stream_count: u32,
    /// Hard cap on requests per run (all workers together), whatever the duration.
    #[arg(long, default_value_t = 50_000_000)]
    max_requests: u64,
    /// The proxy's pid: its CPU time and peak RSS are reported.
    #[arg(long, value_name = "PID")]
    proxy_pid: Option<u32>,
    /// The upstream's pid: its CPU time and peak RSS are reported.
    #[arg(long, value_name = "PID")]
    upstream_pid: Option<u32>,
    /// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
    /// Round number, copied into the output line.
    #[arg(long, default_value_t = 0)]
    round: u32,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mixed traffic against the example proxy for minutes, with its RSS and open fds sampled:
    /// requests and errors per kind, their trend, and a verdict (exit 1 on failure).
    Soak(soak::SoakArgs),
}

/// One load run: what the flags without a subcommand ask for.
#[derive(Debug, Clone, Copy)]
struct Load {
    mode: Mode,
    scenario: Scenario,
    target: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Http1,
    H2c,
    Grpc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Rpc {
    Rest,
    Connect,
    GrpcWeb,
}

impl Rpc {
    fn name(self) -> &'static str {
        match self {
            Rpc::Rest => "rest",
            Rpc::Connect => "connect",
            Rpc::GrpcWeb => "grpc-web",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Get,
    Echo,
    Stream,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Http1 => "http1",
            Mode::H2c => "h2c",
            Mode::Grpc => "grpc",
        }
    }
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Get => "get",
            Scenario::Echo => "echo",
            Scenario::Stream => "stream",
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Soak(soak)) = &args.command {
        return soak::main(soak);
    }
    // Without a subcommand clap requires all three.
    let (Some(mode), Some(scenario), Some(target)) = (args.mode, args.scenario, args.target) else {
        eprintln!("bench-load: --mode, --scenario and --target are required");
        return ExitCode::from(2);
    };
    let load = Load {
        mode,
        scenario,
        target,
    };
    if let Err(message) = validate(&args, load) {
        eprintln!("bench-load: {message}");
        return ExitCode::from(2);
    }
    // One thread: the client shares its core with the upstream, and must cost it little.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bench-load: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args, load)) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("bench-load: {message}");
            ExitCode::FAILURE
        }
    }
}

fn validate(args: &Args, load: Load) -> Result<(), String> {
    if !load.target.ip().is_loopback() {
        return Err(format!("{} is not a loopback address", load.target));
    }
    if args.connections == 0 || args.connections > 10_000 {
        return Err("--connections must be 1..=10000".into());
    }
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        return Err("--duration must be in (0, 3600] seconds".into());
    }
    if !(args.warmup >= 0.0 && args.warmup <= 600.0) {
        return Err("--warmup must be in [0, 600] seconds".into());
    }
    if args.clk_tck == 0 {
        return Err("--clk-tck must be positive".into());
    }
    Ok(())
}

/// Runs the workers and the /proc sampler, and returns the JSON line.
async fn run(args: &Args, load: Load) -> Result<String, String> {
    let Load {
        mode,
        scenario,
        target,
    } = load;
    let connections = args.connections;
    let max_per_worker = (args.max_requests / connections as u64).max(1);
    let request_timeout = Duration::from_secs(10);

    // Connections are set up before the clock starts.
    let setup = match mode {
        Mode::Http1 => Setup::Http1(Arc::new(http::Spec::new(
            scenario,
            args.rpc,
            target,
            args.stream_count,
        )?)),
        Mode::H2c => Setup::H2c(
            Arc::new(http::Spec::new(
                scenario,
                args.rpc,
                target,
                args.stream_count,
            )?),
            http::h2c_connect(target).await?,
        ),
        Mode::Grpc => Setup::Grpc(
            Arc::new(grpc::Spec::new(scenario, args.stream_count)),
            grpc::connect(target).await?,
        ),
    };
    let plan = Plan::new(
        Instant::now(),
        args.warmup,
        args.duration,
        max_per_worker,
        request_timeout,
    );
    let workers: Vec<tokio::task::JoinHandle<WorkerStats>> = match setup {
        Setup::Http1(spec) => (0..connections)
            .map(|_| tokio::spawn(http::http1_worker(target, spec.clone(), plan)))
            .collect(),
        // The h2 connection task ends once every worker has dropped its sender.
        Setup::H2c(spec, sender) => (0..connections)
            .map(|_| tokio::spawn(http::h2c_worker(sender.clone(), spec.clone(), plan)))
            .collect(),
        Setup::Grpc(spec, channel) => (0..connections)
            .map(|_| tokio::spawn(grpc::worker(channel.clone(), spec.clone(), plan)))
            .collect(),
    };

    // CPU time of each process over exactly the measured window.
    let pids = [args.proxy_pid, args.upstream_pid, Some(std::process::id())];
    tokio::time::sleep_until(plan.measure_start).await;
    let before = pids.map(|pid| pid.and_then(procfs::cpu_ticks));
    tokio::time::sleep_until(plan.end).await;
    let after = pids.map(|pid| pid.and_then(procfs::cpu_ticks));

    let mut total = WorkerStats::new();
    for worker in workers {
        // Every worker stops by `plan.hard_end`; the grace covers a loaded machine.
        let joined = tokio::time::timeout_at(plan.hard_end + Duration::from_secs(5), worker).await;
        match joined {
            Ok(Ok(stats)) => total.merge(stats),
            Ok(Err(err)) => total.note_error(format!("worker failed: {err}")),
            Err(_) => total.note_error("worker did not stop in time".into()),
        }
    }

    let requests = total.requests;
    // `part` picks the whole CPU time or the kernel's part of it.
    let us_per_req = |index: usize, part: fn(procfs::CpuTicks) -> u64| -> serde_json::Value {
        match (before[index], after[index]) {
            (Some(b), Some(a)) if requests > 0 => {
                let us = part(a).saturating_sub(part(b)) as f64 * 1e6 / args.clk_tck as f64;
                serde_json::json!(round2(us / requests as f64))
            }
            _ => serde_json::Value::Null,
        }
    };
    let vmhwm = |pid: Option<u32>| -> serde_json::Value {
        pid.and_then(procfs::vmhwm_kib)
            .map_or(serde_json::Value::Null, |kib| serde_json::json!(kib))
    };
    let seconds = args.duration;
    let line = serde_json::json!({
        "scenario": scenario.name(),
        "mode": mode.name(),
        "rpc": args.rpc.name(),
        "round": args.round,
        "connections": connections,
        "warmup_s": args.warmup,
        "duration_s": seconds,
        "requests": requests,
        "errors": total.errors,
        "rps": round2(requests as f64 / seconds),
        "p50_us": total.histogram.value_at_quantile(0.50),
        "p90_us": total.histogram.value_at_quantile(0.90),
        "p99_us": total.histogram.value_at_quantile(0.99),
        "p999_us": total.histogram.value_at_quantile(0.999),
        "max_us": total.histogram.max(),
        "messages": total.messages,
        "messages_per_s": round2(total.messages as f64 / seconds),
        "response_bytes_per_req": total.bytes.checked_div(requests).unwrap_or(0),
        "proxy_cpu_us_per_req": us_per_req(0, procfs::CpuTicks::total),
        "upstream_cpu_us_per_req": us_per_req(1, procfs::CpuTicks::total),
        "load_cpu_us_per_req": us_per_req(2, procfs::CpuTicks::total),
        "proxy_sys_us_per_req": us_per_req(0, |ticks| ticks.system),
        "upstream_sys_us_per_req": us_per_req(1, |ticks| ticks.system),
        "proxy_vmhwm_kib": vmhwm(args.proxy_pid),
        "upstream_vmhwm_kib": vmhwm(args.upstream_pid),
        "first_error": total.first_error,
    });
    if requests == 0 {
        // Still print the line, so the harness records why.
        println!("{line}");
        return Err("no request succeeded in the measured window".into());
    }
    Ok(line.to_string())
}

/// What a run's workers share, made before the clock starts.
enum Setup {
    Http1(Arc<http::Spec>),
    H2c(Arc<http::Spec>, http::H2Sender),
    Grpc(Arc<grpc::Spec>, tonic::transport::Channel),
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}
