//! Process gauges read from Linux `/proc` (memory, CPU, file descriptors, threads, start
//! time). Elsewhere nothing is reported.

use std::sync::OnceLock;

pub fn refresh() {
    let Some(s) = read_self() else {
        return;
    };
    use metrics::gauge;
    gauge!("livepack_process_resident_memory_bytes").set(s.rss_bytes as f64);
    gauge!("livepack_process_virtual_memory_bytes").set(s.vm_bytes as f64);
    gauge!("livepack_process_threads").set(s.threads as f64);
    gauge!("livepack_process_cpu_seconds").set(s.cpu_seconds);
    gauge!("livepack_process_open_fds").set(s.open_fds as f64);
    if let Some(start) = start_time() {
        gauge!("livepack_process_start_time_seconds").set(start);
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct ProcSelf {
    pub rss_bytes: u64,
    pub vm_bytes: u64,
    pub threads: u64,
    pub cpu_seconds: f64,
    pub open_fds: usize,
}

fn read_self() -> Option<ProcSelf> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let mut s = parse_status(&status);
    s.cpu_seconds = parse_stat(&stat).map(|(ticks, _)| ticks as f64 / clock_ticks())?;
    s.open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0);
    Some(s)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// VmRSS, VmSize (kB) and Threads from `/proc/self/status`.
pub fn parse_status(text: &str) -> ProcSelf {
    let mut s = ProcSelf::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let n = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        match key {
            "VmRSS" => s.rss_bytes = n * 1024,
            "VmSize" => s.vm_bytes = n * 1024,
            "Threads" => s.threads = n,
            _ => {}
        }
    }
    s
}

/// (utime + stime, starttime) in clock ticks from `/proc/self/stat`. The command name
/// (field 2) may hold spaces and parentheses: fields are counted after the last `)`.
pub fn parse_stat(text: &str) -> Option<(u64, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field n is fields[n - 3].
    let num = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some((num(14)? + num(15)?, num(22)?))
}

fn start_time() -> Option<f64> {
    static START: OnceLock<Option<f64>> = OnceLock::new();
    *START.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let (_, start_ticks) = parse_stat(&stat)?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let btime = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse::<f64>()
            .ok()?;
        Some(btime + start_ticks as f64 / clock_ticks())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_give_memory_and_threads() {
        let s =
            parse_status("Name:\tlivepack\nVmSize:\t  2048 kB\nVmRSS:\t  512 kB\nThreads:\t7\n");
        assert_eq!(
            (s.rss_bytes, s.vm_bytes, s.threads),
            (512 * 1024, 2048 * 1024, 7)
        );
    }

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let mut line = String::from("42 (a) b (c) S");
        for n in 4..=30 {
            line.push_str(&format!(" {n}"));
        }
        assert_eq!(parse_stat(&line), Some((14 + 15, 22)));
    }

    #[test]
    fn this_process_has_memory() {
        let s = read_self().expect("/proc is there on Linux");
        assert!(s.rss_bytes > 0 && s.open_fds > 0 && s.cpu_seconds >= 0.0);
        assert!(start_time().is_some_and(|t| t > 1.0e9));
    }
}
