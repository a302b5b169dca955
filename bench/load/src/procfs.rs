//! CPU time and peak RSS of a process, from `/proc`.

/// `utime + stime` of every thread of `pid`, in clock ticks (fields 14 and 15 of
/// `/proc/<pid>/stat`).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat)
}

fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces or parentheses: the
    // fields after it start after the last `)`, with field 3 (state) first.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Peak resident set size of `pid` (`VmHWM` of `/proc/<pid>/status`), in KiB.
pub fn vmhwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vmhwm(&status)
}

fn parse_vmhwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line["VmHWM:".len()..]
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
        assert_eq!(parse_cpu_ticks(stat), Some(731 + 269));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn reads_vmhwm() {
        let status = "Name:\tproxy\nVmPeak:\t  200000 kB\nVmHWM:\t    9876 kB\nVmRSS:\t 9000 kB\n";
        assert_eq!(parse_vmhwm(status), Some(9876));
        assert_eq!(parse_vmhwm("Name:\tx\n"), None);
    }

    #[test]
    fn reads_this_process() {
        assert!(cpu_ticks(std::process::id()).is_some());
        assert!(vmhwm_kib(std::process::id()).is_some_and(|kib| kib > 0));
    }
}
