//! Prometheus metrics of one router, served at `Options::metrics_path` in the text exposition
//! format (version 0.0.4):
//!
//! - `protogate_http_requests_total{method, route, code}`: requests answered, by HTTP method,
//!   route template (from the generated route table) and HTTP status;
//! - `protogate_http_request_duration_seconds{method, route, code}`: a histogram of the time
//!   from the request's arrival to the end of its response (the whole stream, for streams);
//! - `protogate_upstream_errors_total{method, route, grpc_code}`: upstream calls that failed,
//!   by the gRPC status they ended with (`UNAVAILABLE` when the upstream could not be reached);
//! - `protogate_http_requests_in_flight`: requests being served now.
//!
//! Labels come from the route table, never from the request, so their number is bounded: a
//! request no route matches is `route="unmatched"`, and a method outside the standard ones
//! `method="OTHER"`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use super::binding::Binding;

/// Upper bounds of the latency histogram's buckets, in seconds (Prometheus' defaults).
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What a request is counted under: its route, or the OpenAPI document, or nothing.
#[derive(Debug, Clone, Copy)]
pub enum RouteLabel {
    /// The API route that matched.
    Binding(&'static Binding),
    /// The served OpenAPI document.
    OpenApi,
    /// No route: a 404 or 405, or a refusal before routing.
    Unmatched,
}

/// A series key. Bindings are statics, so their address identifies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    route: usize,
    method: &'static str,
    code: u16,
}

const OPENAPI: usize = 1;
const UNMATCHED: usize = 0;

impl RouteLabel {
    fn key(self) -> usize {
        match self {
            RouteLabel::Binding(b) => std::ptr::from_ref(b) as usize,
            RouteLabel::OpenApi => OPENAPI,
            RouteLabel::Unmatched => UNMATCHED,
        }
    }
}

/// One histogram (and so one request counter): counts per bucket, the sum and the count.
#[derive(Debug, Default)]
struct Series {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// The registry of one router. Recording takes a read lock and a few atomic additions; only
/// the first request of a new label set takes the write lock.
#[derive(Debug)]
pub struct Metrics {
    requests: RwLock<HashMap<Key, (RouteLabel, Series)>>,
    upstream_errors: RwLock<HashMap<Key, (RouteLabel, AtomicU64)>>,
    in_flight: AtomicI64,
    openapi_path: String,
}

impl Metrics {
    /// `openapi_path` labels requests for the OpenAPI document.
    pub fn new(openapi_path: Option<&str>) -> Self {
        Metrics {
            requests: RwLock::new(HashMap::new()),
            upstream_errors: RwLock::new(HashMap::new()),
            in_flight: AtomicI64::new(0),
            openapi_path: openapi_path.unwrap_or_default().to_string(),
        }
    }

    /// A request started being served.
    pub fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A request ended before its response started (its client went away): no longer in
    /// flight, and not counted as served.
    pub fn abandoned(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// A request's response ended after `elapsed`.
    pub fn finished(&self, route: RouteLabel, method: &'static str, code: u16, elapsed: Duration) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let key = Key {
            route: route.key(),
            method,
            code,
        };
        let record = |series: &Series| {
            let seconds = elapsed.as_secs_f64();
            if let Some(i) = BUCKETS.iter().position(|&b| seconds <= b) {
                series.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
            series.count.fetch_add(1, Ordering::Relaxed);
            let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
            series.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        };
        {
            let map = self.requests.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, series)) = map.get(&key) {
                record(series);
                return;
            }
        }
        let mut map = self
            .requests
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let (_, series) = map.entry(key).or_insert_with(|| (route, Series::default()));
        record(series);
    }

    /// An upstream call of a request on `route` failed with `grpc_code`.
    pub fn upstream_error(&self, route: RouteLabel, method: &'static str, grpc_code: i32) {
        let key = Key {
            route: route.key(),
            method,
            code: u16::try_from(grpc_code).unwrap_or(u16::MAX),
        };
        {
            let map = self
                .upstream_errors
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((_, count)) = map.get(&key) {
                count.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut map = self
            .upstream_errors
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let (_, count) = map.entry(key).or_insert_with(|| (route, AtomicU64::new(0)));
        count.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests being served now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn route_label(&self, route: RouteLabel) -> &str {
        match route {
            RouteLabel::Binding(b) => b.template,
            RouteLabel::OpenApi => &self.openapi_path,
            RouteLabel::Unmatched => "unmatched",
        }
    }

    /// The text exposition format, series sorted by their labels so the output is stable.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let requests = self.requests.read().unwrap_or_else(PoisonError::into_inner);
        let mut rows: Vec<(&str, &'static str, u16, &Series)> = requests
            .iter()
            .map(|(key, (route, series))| (self.route_label(*route), key.method, key.code, series))
            .collect();
        rows.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));

        out.push_str("# HELP protogate_http_requests_total HTTP requests answered, by method, route template and status.\n");
        out.push_str("# TYPE protogate_http_requests_total counter\n");
        for (route, method, code, series) in &rows {
            let _ = writeln!(
                out,
                "protogate_http_requests_total{{method=\"{}\",route=\"{}\",code=\"{code}\"}} {}",
                escape(method),
                escape(route),
                series.count.load(Ordering::Relaxed)
            );
        }

        out.push_str("# HELP protogate_http_request_duration_seconds Time from a request's arrival to the end of its response.\n");
        out.push_str("# TYPE protogate_http_request_duration_seconds histogram\n");
        for (route, method, code, series) in &rows {
            let labels = format!(
                "method=\"{}\",route=\"{}\",code=\"{code}\"",
                escape(method),
                escape(route)
            );
            let mut cumulative = 0;
            for (bound, bucket) in BUCKETS.iter().zip(&series.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "protogate_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = series.count.load(Ordering::Relaxed);
            let sum = series.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "protogate_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "protogate_http_request_duration_seconds_sum{{{labels}}} {sum}"
            );
            let _ = writeln!(
                out,
                "protogate_http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        drop(requests);

        let errors = self
            .upstream_errors
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut rows: Vec<(&str, &'static str, u16, u64)> = errors
            .iter()
            .map(|(key, (route, count))| {
                (
                    self.route_label(*route),
                    key.method,
                    key.code,
                    count.load(Ordering::Relaxed),
                )
            })
            .collect();
        rows.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        out.push_str("# HELP protogate_upstream_errors_total Upstream calls that failed, by the gRPC status they ended with.\n");
        out.push_str("# TYPE protogate_upstream_errors_total counter\n");
        for (route, method, code, count) in rows {
            let _ = writeln!(
                out,
                "protogate_upstream_errors_total{{method=\"{}\",route=\"{}\",grpc_code=\"{}\"}} {count}",
                escape(method),
                escape(route),
                code_name(i32::from(code))
            );
        }
        drop(errors);

        out.push_str("# HELP protogate_http_requests_in_flight Requests being served now.\n");
        out.push_str("# TYPE protogate_http_requests_in_flight gauge\n");
        let _ = writeln!(
            out,
            "protogate_http_requests_in_flight {}",
            self.in_flight()
        );
        out
    }
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return value.into();
    }
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .into()
}

/// The canonical name of a gRPC status code (`NOT_FOUND`).
pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}
