//! Process metrics under the standard Prometheus names (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`,
//! `process_max_fds`, `process_threads`, `process_start_time_seconds`), collected by the
//! `metrics-process` crate at each refresh (each scrape: `metrics::render`).

use std::sync::OnceLock;

fn collector() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

/// Registers the descriptions (HELP/TYPE lines); call once after the recorder is installed.
pub fn describe() {
    collector().describe();
}

/// Reads the process's current figures into the gauges and counter.
pub fn refresh() {
    collector().collect();
}
