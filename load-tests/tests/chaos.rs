//! The fault soak of issue 16, for CI: `livepack-surge chaos` for 60 s. Two real `livepack`
//! processes (the binary next to this test, built by `cargo test --workspace`) on one real
//! `redis-server` (AOF on), 20 sellers pushing and cancelling, a packing station picking
//! and packing, the operator booking, while instances, Redis and the planner's lease holder
//! are SIGKILLed or SIGSTOPped at random. The checker's verdict is the assertion: every
//! acked order stored once, each live one in exactly one ship-able parcel, no tracking code
//! on two parcels, session counters equal to the acked sets. No timing assertion.

use livepack_surge::chaos::{self, ChaosArgs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_soak_60s_loses_and_doubles_nothing() {
    let secs = std::env::var("LIVEPACK_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let args = ChaosArgs {
        secs,
        sellers: 20,
        max_session_orders: 15,
        livepack: None,
        redis_server: "redis-server".into(),
        fault_every_secs: 4,
        seed: None,
        json: None,
        keep: false,
    };
    let report = chaos::run(args).await.expect("chaos run starts");
    report.print();
    assert!(report.acked > 0, "no order acked");
    assert!(
        report.faults.values().sum::<u64>() > 0,
        "no fault injected: {:?}",
        report.faults
    );
    assert!(
        report.ok(),
        "lost {} doubled {}: {:?}",
        report.lost,
        report.doubled,
        report.violations
    );
}
