//! The pure part of ingest, per order (issue 20): a frame read (`ingest::frame::parse`), each
//! order validated (`OrderWire::validate`), written in canonical form and digested, as the
//! service does before the Redis call. No I/O: the service's own CPU per order that does not
//! depend on Redis or the network, measured steadily on a shared machine.
//!
//! `cargo bench --bench ingest` (criterion; orders from the demo generator,
//! one order a frame and 100 a frame).

use std::hint::black_box;

use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use livepack::client::{order_frame, sample_order};
use livepack::domain::order::{digest, parse_order, OrderWire};
use livepack::ingest::frame::{parse, Frame, FrameOrders};

/// The shipped binary's allocator (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn frames(orders: usize, per_frame: usize) -> Vec<String> {
    (0..orders)
        .step_by(per_frame)
        .enumerate()
        .map(|(seq, first)| {
            let batch: Vec<_> = (first..(first + per_frame).min(orders))
                .map(|k| sample_order(&format!("BENCH-{k}"), k as u64))
                .collect();
            order_frame(seq as i64, &batch)
        })
        .collect()
}

/// What the service does with one order before storing it (less the record's own fields).
fn judge(wire: &OrderWire, now: DateTime<Utc>, out: &mut Vec<u8>) {
    let order = wire
        .validate(now, Duration::minutes(15), Duration::days(90))
        .expect("the generator's orders are valid");
    out.clear();
    wire.write_canonical_json(out);
    black_box((order, digest(out)));
}

fn run(frames: &[String], now: DateTime<Utc>, out: &mut Vec<u8>) {
    for text in frames {
        let Ok(Frame::Orders { orders, .. }) = parse(text, 1000) else {
            panic!("an order frame");
        };
        match orders {
            FrameOrders::Parsed(wires, _) => wires.iter().for_each(|w| judge(w, now, out)),
            FrameOrders::Raw(raws) => {
                for raw in raws {
                    judge(&parse_order(raw.get()).expect("an order"), now, out);
                }
            }
        }
    }
}

fn ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest_pure");
    const ORDERS: usize = 2_000;
    group.throughput(Throughput::Elements(ORDERS as u64));
    for per_frame in [1, 100] {
        let frames = frames(ORDERS, per_frame);
        let now = Utc::now();
        let mut out = Vec::with_capacity(2048);
        group.bench_with_input(
            BenchmarkId::new("orders_per_frame", per_frame),
            &frames,
            |b, f| b.iter(|| run(f, now, &mut out)),
        );
    }
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
