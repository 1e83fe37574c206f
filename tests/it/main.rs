//! livepack's integration tests: one test crate (one binary to build and link), one module
//! per area. Shared helpers: [`common`] (a real `redis-server` per test, on its own port and
//! temp dir with AOF on; the service in-process; a typed HTTP client), [`svc`] (the service
//! as a child process, for kill -9 and shutdown tests), [`fake_vtp`] (a local server speaking
//! Viettel Post's partner API, failures included), [`prometheus`] (a real Prometheus).
//!
//! Run one area: `cargo test --test it shipping::`.

#![allow(dead_code)] // each helper module serves some areas, not all

mod common;
mod fake_carrier;
mod fake_ghn;
mod fake_ghtk;
mod fake_vtp;
mod prometheus;
mod svc;

mod abuse;
mod architecture;
mod booking;
mod carrier;
mod cheapest_carrier;
mod client;
mod cluster;
mod cod;
mod dedupe;
mod demo_safety;
mod durability;
mod faults;
mod fuzz_parsers;
mod ghtk_ghn;
mod handover;
mod http;
mod import;
mod ingest;
mod instances;
mod isolation;
mod labels;
mod observability;
mod planner;
mod push;
mod repack;
mod resilience;
mod retention;
mod security;
mod session_risk;
mod shared_budgets;
mod shipping;
mod slow_body;
mod slow_peers;
mod tablet;
mod vtp;
