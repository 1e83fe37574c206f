//! CPU time and peak memory of a process, from `/proc` (Linux only).

use serde::{Deserialize, Serialize};

/// What one process spent during a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcUsage {
    pub pid: u32,
    /// utime + stime during the run, in seconds.
    pub cpu_s: f64,
    /// `cpu_s` per 1,000 orders of the run.
    pub cpu_s_per_1k_orders: f64,
    /// VmHWM at the end of the run (reset at its start when the kernel allows it), KiB.
    pub peak_rss_kib: Option<u64>,
    /// Whether `peak_rss_kib` covers only this run (the reset worked) or the process's life.
    pub peak_is_per_run: bool,
}

/// The whole machine during a run, in cores (1.0 = one core fully busy).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MachineUsage {
    pub cores: usize,
    /// All processes: busy time over wall time.
    pub busy_cores: f64,
    /// The processes this report watched (server, redis, client).
    pub ours_cores: f64,
    /// Everything else (other work on a shared machine): `busy_cores - ours_cores`.
    pub others_cores: f64,
}

/// Busy and total jiffies of all CPUs, from the first line of `/proc/stat`.
fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is included in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Watches the whole machine over a run.
pub struct MachineWatch {
    busy0: u64,
    at: std::time::Instant,
}

impl MachineWatch {
    pub fn start() -> Option<MachineWatch> {
        let (busy0, _) = machine_jiffies()?;
        Some(MachineWatch {
            busy0,
            at: std::time::Instant::now(),
        })
    }

    /// `ours_cpu_s`: CPU seconds of the watched processes over the same interval.
    pub fn finish(&self, ours_cpu_s: f64) -> MachineUsage {
        let wall = self.at.elapsed().as_secs_f64().max(1e-9);
        let busy = machine_jiffies().map_or(0, |(b, _)| b.saturating_sub(self.busy0));
        let busy_cores = busy as f64 / clk_tck() / wall;
        let ours_cores = ours_cpu_s / wall;
        MachineUsage {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            busy_cores,
            ours_cores,
            others_cores: (busy_cores - ours_cores).max(0.0),
        }
    }
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if tck > 0 {
        tck as f64
    } else {
        100.0
    }
}

/// utime + stime of `pid` in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: fields are counted after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clk_tck())
}

/// A `/proc/PID/status` value in KiB (e.g. `VmHWM`, `VmRSS`).
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(':')?;
        v.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Resets the peak RSS (VmHWM) of `pid` to its current RSS; false if not allowed.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Watches one process over a run.
pub struct Watch {
    pid: u32,
    cpu0: f64,
    reset: bool,
}

impl Watch {
    /// Starts watching; with `reset_rss`, the peak RSS is reset so it covers this run only.
    pub fn start(pid: u32, reset_rss: bool) -> Result<Watch, String> {
        let cpu0 = cpu_seconds(pid).ok_or_else(|| format!("cannot read /proc/{pid}/stat"))?;
        let reset = reset_rss && reset_peak(pid);
        Ok(Watch { pid, cpu0, reset })
    }

    pub fn finish(&self, orders: u64) -> ProcUsage {
        let cpu_s = (cpu_seconds(self.pid).unwrap_or(self.cpu0) - self.cpu0).max(0.0);
        ProcUsage {
            pid: self.pid,
            cpu_s,
            cpu_s_per_1k_orders: if orders == 0 {
                0.0
            } else {
                cpu_s * 1000.0 / orders as f64
            },
            peak_rss_kib: status_kib(self.pid, "VmHWM"),
            peak_is_per_run: self.reset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_some());
        assert!(status_kib(pid, "VmHWM").unwrap() > 0);
        let w = Watch::start(pid, false).unwrap();
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        let u = w.finish(1000);
        assert!(u.cpu_s >= 0.0);
        let m = MachineWatch::start().unwrap().finish(0.0);
        assert!(m.cores >= 1 && m.busy_cores >= 0.0);
    }
}
