//! `livepack-surge` as a library: the CLI's commands, callable from tests.

pub mod chaos;
pub mod ingest;
pub mod latency;
pub mod limit;
pub mod procstat;
pub mod report;
pub mod scenario;
pub mod shape;
