//! CPU time, RSS and open file descriptors of a process, from `/proc`.

/// CPU time of a process in clock ticks, split because much of the proxy's is kernel work
/// (loopback socket I/O), which the report shows apart from its own code's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTicks {
    /// `utime`: user space.
    pub user: u64,
    /// `stime`: the kernel, on the process's behalf.
    pub system: u64,
}

impl CpuTicks {
    /// `utime + stime`: the process's whole CPU time.
    pub fn total(self) -> u64 {
        self.user + self.system
    }
}

/// `utime` and `stime` of every thread of `pid` (fields 14 and 15 of `/proc/<pid>/stat`), read
/// together so that both parts come from the same instant.
pub fn cpu_ticks(pid: u32) -> Option<CpuTicks> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat)
}

fn parse_cpu_ticks(stat: &str) -> Option<CpuTicks> {
    // The command name (field 2) is in parentheses and may hold spaces or parentheses: the
    // fields after it start after the last `)`, with field 3 (state) first.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user = fields.next()?.parse().ok()?;
    let system = fields.next()?.parse().ok()?;
    Some(CpuTicks { user, system })
}

/// Peak resident set size of `pid` (`VmHWM` of `/proc/<pid>/status`), in KiB.
pub fn vmhwm_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// Resident set size of `pid` now (`VmRSS` of `/proc/<pid>/status`), in KiB.
pub fn vmrss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// Open file descriptors of `pid`: the entries of `/proc/<pid>/fd`.
pub fn fd_count(pid: u32) -> Option<u64> {
    let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(entries.filter(Result::is_ok).count() as u64)
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, field)
}

/// The value of a `Name:  1234 kB` line of `/proc/<pid>/status`.
fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_after_an_odd_command_name() {
        let stat = "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    731 269 0 0 20 0 3 0 12345 123456789 2048 18446744073709551615";
        let ticks = parse_cpu_ticks(stat);
        assert_eq!(
            ticks,
            Some(CpuTicks {
                user: 731,
                system: 269
            })
        );
        assert_eq!(ticks.map(CpuTicks::total), Some(731 + 269));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        // Too few fields after the command name.
        assert_eq!(parse_cpu_ticks("1 (a) S 1 2 3 4 5 6 7 8 9 10 11"), None);
    }

    #[test]
    fn reads_vmhwm_and_vmrss() {
        let status = "Name:\tproxy\nVmPeak:\t  200000 kB\nVmHWM:\t    9876 kB\nVmRSS:\t 9000 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM:"), Some(9876));
        assert_eq!(parse_status_kib(status, "VmRSS:"), Some(9000));
        assert_eq!(parse_status_kib("Name:\tx\n", "VmHWM:"), None);
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(cpu_ticks(pid).is_some());
        assert!(vmhwm_kib(pid).is_some_and(|kib| kib > 0));
        assert!(vmrss_kib(pid).is_some_and(|kib| kib > 0));
        // At least the one reading the directory.
        assert!(fd_count(pid).is_some_and(|fds| fds > 0));
    }
}
