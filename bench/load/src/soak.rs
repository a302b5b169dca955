//! `bench-load soak`: minutes of mixed traffic against the example proxy (bench/soak.sh starts
//! it), with the proxy's RSS and open file descriptors sampled all along; it prints the
//! requests and errors of each kind, the trend of RSS and fds over the second half of the run,
//! and a verdict against thresholds (exit 1 on failure).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::procfs;
use crate::stats::Plan;

mod traffic;
mod trend;

use traffic::{Count, Ctx, Tally};
use trend::Sample;

/// Mixed traffic against the example proxy with its RSS and fds watched (see bench/README.md).
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// The example proxy's `host:port`; loopback only.
    #[arg(long, value_name = "ADDR")]
    target: SocketAddr,
    /// The proxy's pid: its RSS and open fds are sampled.
    #[arg(long, value_name = "PID")]
    proxy_pid: u32,
    /// The upstream's pid: its RSS is sampled too (reported, not judged).
    #[arg(long, value_name = "PID")]
    upstream_pid: Option<u32>,
    /// Length of the load, in seconds.
    #[arg(long, default_value_t = 600.0)]
    duration: f64,
    /// Seconds between two samples (default: a 60th of the duration, 1 to 5 s; at least 0.5).
    #[arg(long)]
    interval: Option<f64>,
    /// Pause of each client between two operations, in milliseconds.
    #[arg(long, default_value_t = 10)]
    pace_ms: u64,
    /// Books on the shelf every stream reads (one stream message each).
    #[arg(long, default_value_t = 100)]
    stream_books: u64,
    /// Hard cap on operations (all clients together), whatever the duration.
    #[arg(long, default_value_t = 5_000_000)]
    max_requests: u64,
    /// Most RSS growth allowed over the second half of the run, KiB per minute.
    #[arg(long, default_value_t = 64.0)]
    max_rss_slope: f64,
    /// Most change of the open fd count allowed over the second half, fds per minute (either way).
    #[arg(long, default_value_t = 1.0)]
    max_fd_slope: f64,
    /// Most open fds allowed once the load is over and the proxy is idle again, above what it
    /// had before the load (its pool of upstream connections may have grown).
    #[arg(long, default_value_t = 4)]
    max_fd_growth: u64,
    /// Unexpected errors allowed (a deliberate 4xx answered as it should is not one).
    #[arg(long, default_value_t = 0)]
    max_unexpected: u64,
    /// Seconds to wait after the load before the last sample and `/metrics`.
    #[arg(long, default_value_t = 5.0)]
    settle: f64,
    /// Writes every sample here (CSV: t_s, rss_kib, fds, upstream_rss_kib; fds is the least of
    /// five reads 100 ms apart).
    #[arg(long, value_name = "FILE")]
    samples_out: Option<PathBuf>,
    /// Writes the figures here as one JSON object.
    #[arg(long, value_name = "FILE")]
    summary_out: Option<PathBuf>,
    /// Which clients run (comma-separated; all by default), to look into one kind of traffic.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Client::ALL)]
    clients: Vec<Client>,
}

/// The clients: each sends one operation at a time (two of `gets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// Unary GETs over HTTP/1.1 (two clients).
    Gets,
    /// POST, PATCH, PUT and DELETE of a shelf and a book.
    Crud,
    /// Whole NDJSON streams.
    Ndjson,
    /// Whole Server-Sent Events streams.
    Sse,
    /// Unary GETs, whole streams and cancelled streams on one h2c connection.
    H2c,
    /// WebSocket sessions on the streaming route (one in ten for a missing shelf).
    Websocket,
    /// Requests that must fail: 404, 400, 405.
    Errors,
    /// Clients that leave mid-stream, before the reply, or mid-body.
    Disconnects,
    /// Native gRPC passed through: unary calls, server streams, NOT_FOUND.
    Grpc,
    /// gRPC-Web and Connect unary calls.
    Web,
}

impl Client {
    const ALL: [Client; 10] = [
        Client::Gets,
        Client::Crud,
        Client::Ndjson,
        Client::Sse,
        Client::H2c,
        Client::Websocket,
        Client::Errors,
        Client::Disconnects,
        Client::Grpc,
        Client::Web,
    ];
}

pub fn main(args: &SoakArgs) -> ExitCode {
    if let Err(message) = validate(args) {
        eprintln!("bench-load soak: {message}");
        return ExitCode::from(2);
    }
    // One thread, as the benchmark's client: it must cost the machine little.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bench-load soak: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("bench-load soak: {message}");
            ExitCode::FAILURE
        }
    }
}

fn validate(args: &SoakArgs) -> Result<(), String> {
    if !args.target.ip().is_loopback() {
        return Err(format!("{} is not a loopback address", args.target));
    }
    if !(args.duration >= 10.0 && args.duration <= 86_400.0) {
        return Err("--duration must be 10..=86400 seconds".into());
    }
    if args.interval.is_some_and(|s| !(0.5..=60.0).contains(&s)) {
        return Err("--interval must be 0.5..=60 seconds".into());
    }
    if args.pace_ms > 10_000 {
        return Err("--pace-ms must be at most 10000".into());
    }
    if !(1..=10_000).contains(&args.stream_books) {
        return Err("--stream-books must be 1..=10000".into());
    }
    if !(0.0..=600.0).contains(&args.settle) {
        return Err("--settle must be 0..=600 seconds".into());
    }
    if procfs::vmrss_kib(args.proxy_pid).is_none() {
        return Err(format!("no process {} to watch", args.proxy_pid));
    }
    Ok(())
}

/// Reads of `/proc/<pid>/fd` per sample, 100 ms apart.
const FD_READS: u32 = 5;

/// One sample: RSS now, and the least of [`FD_READS`] fd counts. Connections come and go all
/// the time under load (a WebSocket session or a leaving client opens one per operation), so a
/// single count is noisy; the least of a few is the floor that leaked descriptors would raise.
async fn take(args: &SoakArgs, t_s: f64) -> Option<Sample> {
    let rss_kib = procfs::vmrss_kib(args.proxy_pid)?;
    let mut fds = procfs::fd_count(args.proxy_pid)?;
    for _ in 1..FD_READS {
        tokio::time::sleep(Duration::from_millis(100)).await;
        fds = fds.min(procfs::fd_count(args.proxy_pid)?);
    }
    Some(Sample {
        t_s,
        rss_kib,
        fds,
        upstream_rss_kib: args.upstream_pid.and_then(procfs::vmrss_kib).unwrap_or(0),
    })
}

/// Runs the load and the sampler; returns whether every check passed.
async fn run(args: &SoakArgs) -> Result<bool, String> {
    let interval = args
        .interval
        .unwrap_or((args.duration / 60.0).clamp(1.0, 5.0))
        .max(0.1 * f64::from(FD_READS));
    eprintln!(
        "soak: making the streamed shelf ({} books) through the proxy",
        args.stream_books
    );
    let shelf = tokio::time::timeout(
        Duration::from_secs(120),
        traffic::setup(args.target, args.stream_books),
    )
    .await
    .map_err(|_| "setting up the shelf took over 120 s".to_string())??;
    let before = take(args, 0.0).await.ok_or("the proxy is gone")?;

    let mut clients: Vec<Client> = Vec::new();
    for client in &args.clients {
        if !clients.contains(client) {
            clients.push(*client);
        }
    }
    let count = clients.len() + usize::from(clients.contains(&Client::Gets));
    let start = Instant::now();
    let plan = Plan::new(
        start,
        0.0,
        args.duration,
        (args.max_requests / count as u64).max(1),
        Duration::from_secs(10),
    );
    let tally = Arc::new(Mutex::new(Tally::default()));
    let ctx = Ctx {
        target: args.target,
        plan,
        pace: Duration::from_millis(args.pace_ms),
        shelf: shelf.into(),
        books: args.stream_books,
        tally: tally.clone(),
    };
    let mut workers = Vec::new();
    for client in &clients {
        let ctx = ctx.clone();
        match client {
            Client::Gets => {
                workers.push(tokio::spawn(traffic::unary_gets(ctx.clone())));
                workers.push(tokio::spawn(traffic::unary_gets(ctx)));
            }
            Client::Crud => workers.push(tokio::spawn(traffic::crud(ctx))),
            Client::Ndjson => workers.push(tokio::spawn(traffic::streams(ctx, false))),
            Client::Sse => workers.push(tokio::spawn(traffic::streams(ctx, true))),
            Client::H2c => workers.push(tokio::spawn(traffic::h2c(ctx))),
            Client::Websocket => workers.push(tokio::spawn(traffic::websocket(ctx))),
            Client::Errors => workers.push(tokio::spawn(traffic::errors(ctx))),
            Client::Disconnects => workers.push(tokio::spawn(traffic::disconnects(ctx))),
            Client::Grpc => workers.push(tokio::spawn(traffic::grpc(ctx))),
            Client::Web => workers.push(tokio::spawn(traffic::web_protocols(ctx))),
        }
    }
    eprintln!(
        "soak: {} clients for {} s against {}, sampling pid {} every {interval} s",
        workers.len(),
        args.duration,
        args.target,
        args.proxy_pid
    );

    let mut samples = vec![before];
    let mut next = start;
    let mut next_progress = start + Duration::from_secs(60);
    let mut proxy_gone = false;
    let step = Duration::from_secs_f64(interval);
    // Every sample is taken while the load runs: its fd reads end before the clients stop.
    let last_start = plan.end - Duration::from_millis(100 * u64::from(FD_READS));
    while next + step <= last_start {
        next += step;
        tokio::time::sleep_until(next).await;
        let t_s = next.duration_since(start).as_secs_f64();
        match take(args, t_s).await {
            Some(sample) => samples.push(sample),
            None => {
                proxy_gone = true;
                break;
            }
        }
        if next >= next_progress {
            next_progress += Duration::from_secs(60);
            let total = tally.lock().unwrap_or_else(PoisonError::into_inner).total();
            if let Some(last) = samples.last() {
                eprintln!(
                    "soak: {:>4.0} s  {:>9} requests  {:>4} unexpected  rss {} KiB  fds {}",
                    t_s,
                    total.requests(),
                    total.unexpected,
                    last.rss_kib,
                    last.fds
                );
            }
        }
    }
    for worker in workers {
        // Every client stops by the plan's hard end; the grace covers a loaded machine.
        if tokio::time::timeout_at(plan.hard_end + Duration::from_secs(5), worker)
            .await
            .is_err()
        {
            return Err("a client did not stop in time".into());
        }
    }

    // Idle again: what is left open, and what the proxy thinks is in flight.
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let after = take(args, start.elapsed().as_secs_f64()).await;
    let metrics = traffic::metrics(args.target).await;

    let tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
    let report = Report::new(
        args, count, &tally, &samples, before, after, metrics, proxy_gone,
    );
    print!("{}", report.text);
    if let Some(path) = &args.samples_out {
        let mut csv = String::from("t_s,rss_kib,fds,upstream_rss_kib\n");
        for s in samples.iter().chain(after.iter()) {
            let _ = writeln!(
                csv,
                "{:.1},{},{},{}",
                s.t_s, s.rss_kib, s.fds, s.upstream_rss_kib
            );
        }
        std::fs::write(path, csv).map_err(|err| format!("writing {}: {err}", path.display()))?;
    }
    if let Some(path) = &args.summary_out {
        std::fs::write(path, format!("{}\n", report.json))
            .map_err(|err| format!("writing {}: {err}", path.display()))?;
    }
    Ok(report.failures.is_empty())
}

struct Report {
    text: String,
    json: serde_json::Value,
    failures: Vec<String>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    fn new(
        args: &SoakArgs,
        clients: usize,
        tally: &Tally,
        samples: &[Sample],
        before: Sample,
        after: Option<Sample>,
        metrics: Result<(f64, f64), String>,
        proxy_gone: bool,
    ) -> Report {
        let mut failures = Vec::new();
        let mut text = String::new();
        let total = tally.total();
        let seconds = args.duration;

        let _ = writeln!(
            text,
            "\n== soak: {seconds} s of mixed traffic, {clients} clients =="
        );
        let _ = writeln!(
            text,
            "{:<24} {:>10} {:>10} {:>11} {:>11} {:>11}",
            "kind", "requests", "ok", "deliberate", "unexpected", "messages"
        );
        let row = |text: &mut String, name: &str, c: &Count| {
            let _ = writeln!(
                text,
                "{:<24} {:>10} {:>10} {:>11} {:>11} {:>11}",
                name,
                c.requests(),
                c.ok,
                c.deliberate,
                c.unexpected,
                c.messages
            );
        };
        for (kind, count) in &tally.kinds {
            row(&mut text, kind, count);
            if count.ok + count.deliberate == 0 {
                failures.push(format!("no {kind} operation went as it should"));
            }
        }
        row(&mut text, "total", &total);
        let _ = writeln!(
            text,
            "{:.0} operations/s; deliberate errors are 4xx (and WebSocket 4005, gRPC NOT_FOUND) answered as the API says",
            total.requests() as f64 / seconds
        );
        if !tally.errors.is_empty() {
            let _ = writeln!(text, "unexpected errors (kind: first words, count):");
            for (error, count) in &tally.errors {
                let _ = writeln!(text, "  {count:>7}  {error}");
            }
        }
        if total.unexpected > args.max_unexpected {
            failures.push(format!(
                "{} unexpected errors (at most {} allowed)",
                total.unexpected, args.max_unexpected
            ));
        }

        let half = seconds / 2.0;
        let rss_slope = trend::slope_per_min(samples, half, |s| s.rss_kib);
        let fd_slope = trend::slope_per_min(samples, half, |s| s.fds);
        let upstream_slope = trend::slope_per_min(samples, half, |s| s.upstream_rss_kib);
        let max = |field: fn(&Sample) -> u64| samples.iter().map(field).max().unwrap_or(0);
        let last = samples.last().copied().unwrap_or(before);
        let fmt_slope =
            |slope: Option<f64>| slope.map_or("n/a".to_string(), |s| format!("{s:+.1}"));
        let _ = writeln!(
            text,
            "\nproxy (pid {}), {} samples:",
            args.proxy_pid,
            samples.len()
        );
        let _ = writeln!(
            text,
            "  RSS  before {} KiB, max {} KiB, at the end {} KiB; slope over the second half {} KiB/min (limit < {})",
            before.rss_kib,
            max(|s| s.rss_kib),
            last.rss_kib,
            fmt_slope(rss_slope),
            args.max_rss_slope
        );
        let _ = writeln!(
            text,
            "  fds  (least of {FD_READS} reads a sample) before {}, max {}, at the end {}; slope over the second half {} /min (limit ±{})",
            before.fds,
            max(|s| s.fds),
            last.fds,
            fmt_slope(fd_slope),
            args.max_fd_slope
        );
        match rss_slope {
            Some(slope) if slope < args.max_rss_slope => {}
            Some(slope) => failures.push(format!(
                "RSS grows {slope:.1} KiB/min over the second half (limit {})",
                args.max_rss_slope
            )),
            None => failures.push("too few samples for the RSS slope".into()),
        }
        match fd_slope {
            Some(slope) if slope.abs() <= args.max_fd_slope => {}
            Some(slope) => failures.push(format!(
                "open fds change {slope:+.2}/min over the second half (limit ±{})",
                args.max_fd_slope
            )),
            None => failures.push("too few samples for the fd slope".into()),
        }
        if proxy_gone {
            failures.push("the proxy exited during the run".into());
        }
        match after {
            Some(after) => {
                let _ = writeln!(
                    text,
                    "  idle {} s after the load: RSS {} KiB, fds {} (before the load {})",
                    args.settle, after.rss_kib, after.fds, before.fds
                );
                if after.fds > before.fds + args.max_fd_growth {
                    failures.push(format!(
                        "{} fds open once idle again, {} before the load (at most {} more allowed)",
                        after.fds, before.fds, args.max_fd_growth
                    ));
                }
            }
            None => failures.push("the proxy is gone after the load".into()),
        }
        let (in_flight, counted) = match &metrics {
            Ok((in_flight, counted)) => {
                let _ = writeln!(
                    text,
                    "  /metrics once idle: {in_flight} requests in flight, {counted} requests counted"
                );
                if *in_flight != 0.0 {
                    failures.push(format!(
                        "/metrics says {in_flight} requests in flight once idle"
                    ));
                }
                (Some(*in_flight), Some(*counted))
            }
            Err(err) => {
                failures.push(format!("/metrics: {err}"));
                (None, None)
            }
        };
        if args.upstream_pid.is_some() {
            let _ = writeln!(
                text,
                "upstream: RSS before {} KiB, max {} KiB, at the end {} KiB; slope over the second half {} KiB/min (not judged)",
                before.upstream_rss_kib,
                max(|s| s.upstream_rss_kib),
                last.upstream_rss_kib,
                fmt_slope(upstream_slope)
            );
        }

        if failures.is_empty() {
            let _ = writeln!(text, "\nverdict: PASS");
        } else {
            let _ = writeln!(text, "\nverdict: FAIL");
            for failure in &failures {
                let _ = writeln!(text, "  - {failure}");
            }
        }

        let kinds: serde_json::Map<String, serde_json::Value> = tally
            .kinds
            .iter()
            .map(|(kind, c)| {
                (
                    (*kind).to_string(),
                    serde_json::json!({
                        "requests": c.requests(), "ok": c.ok, "deliberate": c.deliberate,
                        "unexpected": c.unexpected, "messages": c.messages,
                    }),
                )
            })
            .collect();
        let json = serde_json::json!({
            "duration_s": seconds,
            "clients": clients,
            "pace_ms": args.pace_ms,
            "stream_books": args.stream_books,
            "requests": total.requests(),
            "ok": total.ok,
            "deliberate_errors": total.deliberate,
            "unexpected_errors": total.unexpected,
            "kinds": kinds,
            "errors": tally.errors,
            "samples": samples.len(),
            "rss_kib_before": before.rss_kib,
            "rss_kib_max": max(|s| s.rss_kib),
            "rss_kib_end": last.rss_kib,
            "rss_slope_kib_per_min": rss_slope,
            "fds_before": before.fds,
            "fds_max": max(|s| s.fds),
            "fds_end": last.fds,
            "fd_slope_per_min": fd_slope,
            "fds_idle_after": after.map(|a| a.fds),
            "rss_kib_idle_after": after.map(|a| a.rss_kib),
            "in_flight_after": in_flight,
            "requests_counted_by_proxy": counted,
            "upstream_rss_slope_kib_per_min": upstream_slope,
            "pass": failures.is_empty(),
            "failures": failures,
        });
        Report {
            text,
            json,
            failures,
        }
    }
}
