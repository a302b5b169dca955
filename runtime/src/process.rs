//! The process metrics of the Prometheus client libraries
//! (<https://prometheus.io/docs/instrumenting/writing_clientlibs/#process-metrics>), with their
//! standard names, read from `/proc/self` at scrape time on Linux.
//!
//! A scrape reads three small files (`stat`, `status`, `limits`) and lists `fd/`; the boot
//! time, from the larger `/proc/stat`, is read once. Elsewhere, or when a file cannot be read
//! or parsed, the families that depend on it are left out: the scrape never fails for them.

use std::fmt::{Display, Write as _};
use std::sync::OnceLock;

/// Clock ticks per second of the times in `/proc/self/stat` (`USER_HZ`, what `getconf CLK_TCK`
/// prints). The kernel exposes 100 to user space on every architecture Rust targets (checked
/// on the development machine), and this crate cannot call `sysconf` (it has no libc binding).
const CLOCK_TICKS: u64 = 100;

/// The fields of `/proc/self/stat` these metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    /// User plus system CPU time, in clock ticks.
    cpu_ticks: u64,
    /// Threads in the process.
    threads: u64,
    /// Time the process started after boot, in clock ticks.
    start_ticks: u64,
}

/// Parses `/proc/[pid]/stat`. The second field, `comm`, is the executable's name in
/// parentheses and may itself hold spaces and parentheses, so the fields are counted from
/// after the last `)`: there the third field (`state`) begins.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // Fields numbered from 1 as in proc(5): field 3 is `fields[0]`.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        // utime (14) and stime (15).
        cpu_ticks: field(14)?.checked_add(field(15)?)?,
        // num_threads (20).
        threads: field(20)?,
        // starttime (22).
        start_ticks: field(22)?,
    })
}

/// A `kB` value of `/proc/[pid]/status` (`VmRSS:\t  1924 kB`), in bytes.
fn status_bytes(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        let mut words = value.split_ascii_whitespace();
        let kib = words.next()?.parse::<u64>().ok()?;
        (words.next()? == "kB").then(|| kib.checked_mul(1024))?
    })
}

/// The soft limit on open files in `/proc/[pid]/limits`
/// (`Max open files            1024                 524288               files`); none when
/// unlimited.
fn parse_max_open_files(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("Max open files"))?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The boot time in `/proc/stat` (`btime 1700000000`), in seconds since the Unix epoch.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// The boot time, read once: it does not change, and `/proc/stat` grows with the number of
/// CPUs and interrupts. (Some kernels also round it differently from one read to the next,
/// which would make the start time jitter.)
fn boot_time() -> Option<u64> {
    static BOOT_TIME: OnceLock<Option<u64>> = OnceLock::new();
    *BOOT_TIME.get_or_init(|| parse_boot_time(&std::fs::read_to_string("/proc/stat").ok()?))
}

/// One reading of the process metrics; what could not be read is `None`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Sample {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<u64>,
    virtual_bytes: Option<u64>,
    open_fds: Option<u64>,
    max_fds: Option<u64>,
    start_time_seconds: Option<f64>,
    threads: Option<u64>,
}

impl Sample {
    /// Reads this process's metrics from `/proc/self`; nothing outside Linux.
    fn read() -> Sample {
        if !cfg!(target_os = "linux") {
            return Sample::default();
        }
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let stat = read("/proc/self/stat").as_deref().and_then(parse_stat);
        let status = read("/proc/self/status");
        let status = status.as_deref();
        Sample {
            cpu_seconds: stat.map(|s| s.cpu_ticks as f64 / CLOCK_TICKS as f64),
            resident_bytes: status.and_then(|s| status_bytes(s, "VmRSS")),
            virtual_bytes: status.and_then(|s| status_bytes(s, "VmSize")),
            // As the other client libraries count them, the descriptor of the listing itself
            // included.
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|dir| dir.filter(Result::is_ok).count() as u64),
            max_fds: read("/proc/self/limits")
                .as_deref()
                .and_then(parse_max_open_files),
            start_time_seconds: stat
                .zip(boot_time())
                .map(|(stat, boot)| boot as f64 + stat.start_ticks as f64 / CLOCK_TICKS as f64),
            threads: stat.map(|s| s.threads),
        }
    }

    /// Appends the families that were read, each with its `# HELP` and `# TYPE` lines.
    fn render(&self, out: &mut String) {
        family(
            out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            self.cpu_seconds,
        );
        family(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            self.open_fds,
        );
        family(
            out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            self.max_fds,
        );
        family(
            out,
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            self.virtual_bytes,
        );
        family(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            self.resident_bytes,
        );
        family(
            out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            self.start_time_seconds,
        );
        family(
            out,
            "process_threads",
            "gauge",
            "Number of OS threads in the process.",
            self.threads,
        );
    }
}

/// Appends a family of one unlabelled sample, if its value was read.
fn family(out: &mut String, name: &str, kind: &str, help: &str, value: Option<impl Display>) {
    if let Some(value) = value {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    }
}

/// Appends this process's metrics, those that can be read here, to a text exposition.
pub(super) fn render(out: &mut String) {
    Sample::read().render(out);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        // A real line of `cat`, its name changed to hold spaces and parentheses.
        let text = "29168 (my (odd) name) R 29163 29163 28687 0 -1 4194304 96 0 0 0 \
                    7 5 0 0 20 0 3 0 5408661 3133440 361 18446744073709551615 94035772719104 \
                    94035772738985 140727541912736 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 \
                    94035772754992 94035772756608 94036001173504 140727541914329 \
                    140727541914349 140727541914349 140727541915627 0\n";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                cpu_ticks: 12,
                threads: 3,
                start_ticks: 5408661,
            })
        );
        // A name that looks like more fields does not shift them.
        let text = text.replace("(my (odd) name)", "(a) R 1 2 3 4 5 6 7 8 9 10 11 12)");
        assert_eq!(parse_stat(&text).unwrap().cpu_ticks, 12);
        assert_eq!(parse_stat("1 (x) R 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn status_values_are_read_in_kib() {
        let text = "Name:\tcat\nVmPeak:\t    3776 kB\nVmSize:\t    3760 kB\nVmHWM:\t    1924 kB\n\
                    VmRSS:\t    1924 kB\nThreads:\t1\n";
        assert_eq!(status_bytes(text, "VmRSS"), Some(1924 * 1024));
        assert_eq!(status_bytes(text, "VmSize"), Some(3760 * 1024));
        // The key whole, not a prefix of another (`VmHWM` is no `VmH`), nor missing.
        assert_eq!(status_bytes(text, "VmH"), None);
        assert_eq!(status_bytes("Name:\tkthreadd\n", "VmRSS"), None);
        // A value in another unit, or none, is not read.
        assert_eq!(status_bytes("VmRSS:\t 1924 MB\n", "VmRSS"), None);
        assert_eq!(status_bytes("VmRSS:\t 1924\n", "VmRSS"), None);
        assert_eq!(status_bytes("VmRSS:\t x kB\n", "VmRSS"), None);
    }

    #[test]
    fn the_soft_limit_on_open_files_is_the_maximum() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max processes             63304                63304                processes \n\
                    Max open files            1024                 524288               files     \n\
                    Max locked memory         8388608              8388608              bytes     \n";
        assert_eq!(parse_max_open_files(text), Some(1024));
        let unlimited = text.replace("1024 ", "unlimited ");
        assert_eq!(parse_max_open_files(&unlimited), None);
        assert_eq!(parse_max_open_files("Max processes 1 1 processes\n"), None);
    }

    #[test]
    fn the_boot_time_is_read_from_proc_stat() {
        let text = "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 12 0 0\nctxt 42\nbtime 1796606829\n\
                    processes 7\n";
        assert_eq!(parse_boot_time(text), Some(1796606829));
        assert_eq!(parse_boot_time("cpu 1 2 3 4\n"), None);
    }

    #[test]
    fn families_are_left_out_when_unread() {
        let mut out = String::new();
        Sample::default().render(&mut out);
        assert_eq!(out, "");
        let sample = Sample {
            cpu_seconds: Some(0.12),
            threads: Some(4),
            ..Sample::default()
        };
        sample.render(&mut out);
        assert_eq!(
            out,
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
             # TYPE process_cpu_seconds_total counter\n\
             process_cpu_seconds_total 0.12\n\
             # HELP process_threads Number of OS threads in the process.\n\
             # TYPE process_threads gauge\n\
             process_threads 4\n"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_plausibly() {
        let sample = Sample::read();
        assert!(sample.resident_bytes.unwrap() > 0, "{sample:?}");
        assert!(
            sample.virtual_bytes.unwrap() >= sample.resident_bytes.unwrap(),
            "{sample:?}"
        );
        assert!(sample.open_fds.unwrap() > 0, "{sample:?}");
        assert!(
            sample.max_fds.unwrap() >= sample.open_fds.unwrap(),
            "{sample:?}"
        );
        assert!(sample.threads.unwrap() >= 1, "{sample:?}");
        assert!(sample.cpu_seconds.unwrap() >= 0.0, "{sample:?}");
        // Started after 2020 and not in the future.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = sample.start_time_seconds.unwrap();
        assert!(start > 1.5e9 && start <= now + 1.0, "{start} {now}");
    }
}
