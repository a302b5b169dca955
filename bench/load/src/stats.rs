//! The run's clock and what each worker counts.

use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

/// When a run measures and stops; shared by value with every worker.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Completions from here on are counted (the warm-up ends).
    pub measure_start: Instant,
    /// Workers send nothing after this; completions after it are not counted.
    pub end: Instant,
    /// No request waits past this, whatever happens.
    pub hard_end: Instant,
    /// Most requests one worker sends.
    pub max_per_worker: u64,
    /// Longest wait for one request (capped by `hard_end`).
    pub request_timeout: Duration,
}

impl Plan {
    pub fn new(
        start: Instant,
        warmup_s: f64,
        duration_s: f64,
        max_per_worker: u64,
        request_timeout: Duration,
    ) -> Plan {
        let measure_start = start + Duration::from_secs_f64(warmup_s);
        let end = measure_start + Duration::from_secs_f64(duration_s);
        Plan {
            measure_start,
            end,
            hard_end: end + request_timeout,
            max_per_worker,
            request_timeout,
        }
    }

    /// Whether a worker that has sent `sent` requests may send another.
    pub fn may_send(&self, sent: u64) -> bool {
        sent < self.max_per_worker && Instant::now() < self.end
    }

    /// The deadline of a request sent now.
    pub fn deadline(&self) -> Instant {
        (Instant::now() + self.request_timeout).min(self.hard_end)
    }

    fn in_window(&self, at: Instant) -> bool {
        at >= self.measure_start && at <= self.end
    }
}

/// Latencies in microseconds, 1 µs to 1 hour, 3 significant digits.
fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that `new_with_bounds` accepts.
    #[allow(clippy::unwrap_used)]
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap()
}

/// What one worker (or, merged, the whole run) counted in the measured window.
#[derive(Debug, Clone)]
pub struct WorkerStats {
    /// Successful requests completed in the window.
    pub requests: u64,
    /// Failed requests (transport error, timeout, bad status, empty body) in the window.
    pub errors: u64,
    /// Stream items received by the counted requests (1 per unary request).
    pub messages: u64,
    /// Response body bytes of the counted requests.
    pub bytes: u64,
    /// Latency of each counted request, µs.
    pub histogram: Histogram<u64>,
    /// The first failure seen, in or out of the window.
    pub first_error: Option<String>,
}

impl WorkerStats {
    pub fn new() -> WorkerStats {
        WorkerStats {
            requests: 0,
            errors: 0,
            messages: 0,
            bytes: 0,
            histogram: new_histogram(),
            first_error: None,
        }
    }

    /// Counts a success that started at `started` and completes now.
    pub fn success(&mut self, plan: &Plan, started: Instant, messages: u64, bytes: u64) {
        let done = Instant::now();
        if plan.in_window(done) {
            self.requests += 1;
            self.messages += messages;
            self.bytes += bytes;
            let micros =
                u64::try_from(done.duration_since(started).as_micros()).unwrap_or(u64::MAX);
            self.histogram.saturating_record(micros.max(1));
        }
    }

    /// Counts a failure completing now.
    pub fn failure(&mut self, plan: &Plan, error: String) {
        if plan.in_window(Instant::now()) {
            self.errors += 1;
        }
        self.note_error(error);
    }

    /// Keeps the first error message.
    pub fn note_error(&mut self, error: String) {
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
    }

    pub fn merge(&mut self, other: WorkerStats) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.messages += other.messages;
        self.bytes += other.bytes;
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}
