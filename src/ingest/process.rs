//! What one frame does: validate its orders (pure), then store the valid ones in one
//! Redis round trip and build the reply. Nothing is acked before Redis answered.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::value::RawValue;

use super::frame::{OrderResult, Reply, SessionState};
use crate::domain::order::{digest, parse_order, peek_order_id};
use crate::domain::schedule::{due, SiteSchedule};
use crate::store::{
    CancelOutcome, IngestOutcome, Normalized, OrderData, Store, StoreError, StoreOrder,
};

/// Who is sending on this connection, and the settings their frames are judged by.
pub struct Ctx {
    pub store: Store,
    pub site: String,
    pub seller: String,
    pub label: String,
    pub schedule: Arc<SiteSchedule>,
    pub max_skew: Duration,
    pub retry_after_ms: u64,
}

/// A frame's orders after validation: rejections are final, the rest await Redis.
pub struct Prepared {
    seq: i64,
    slots: Vec<Slot>,
    to_store: Vec<StoreOrder>,
    rejected: usize,
}

enum Slot {
    Rejected(OrderResult),
    Stored(usize),
}

pub fn prepare(ctx: &Ctx, seq: i64, raws: &[&RawValue], now: DateTime<Utc>) -> Prepared {
    let mut slots = Vec::with_capacity(raws.len());
    let mut to_store = Vec::with_capacity(raws.len());
    let mut rejected = 0;
    for raw in raws {
        match validate_one(ctx, raw.get(), now) {
            Ok(order) => {
                slots.push(Slot::Stored(to_store.len()));
                to_store.push(order);
            }
            Err(result) => {
                rejected += 1;
                slots.push(Slot::Rejected(result));
            }
        }
    }
    Prepared {
        seq,
        slots,
        to_store,
        rejected,
    }
}

fn validate_one(ctx: &Ctx, json: &str, now: DateTime<Utc>) -> Result<StoreOrder, OrderResult> {
    let reject = |error| OrderResult {
        order_id: peek_order_id(json),
        status: "rejected",
        error: Some(error),
    };
    let wire = parse_order(json).map_err(reject)?;
    let order = wire.validate(now, ctx.max_skew).map_err(reject)?;
    let canonical = wire.canonical_json();
    let due = due(&ctx.schedule, order.placed_at, now);
    let data = OrderData {
        seller: ctx.seller.clone(),
        site: ctx.site.clone(),
        session: ctx.label.clone(),
        received_at: now,
        deadline: due.deadline,
        pickup_at: due.pickup_at,
        at_risk: due.at_risk,
        buyer_key: order.buyer_key,
        weight_g: order.weight_g,
        norm: Normalized {
            phone: order.phone.as_str().to_owned(),
            province: order.province.name.to_owned(),
            province_code: order.province.code.to_owned(),
            region: order.province.region,
            ward: wire.ship_to.ward.trim().to_owned(),
        },
        order: wire,
    };
    Ok(StoreOrder {
        order_id: order.order_id,
        digest: digest(&canonical),
        data: serde_json::to_string(&data).unwrap_or_default(),
    })
}

fn nack(ctx: &Ctx, seq: i64, err: &StoreError) -> Reply {
    tracing::warn!(site = %ctx.site, seller = %ctx.seller, error = %err, "frame nacked: storage unavailable");
    metrics::counter!("livepack_ingest_nacks_total", "site" => ctx.site.clone()).increment(1);
    Reply::Nack {
        seq,
        retry_after_ms: ctx.retry_after_ms,
        reason: "storage_unavailable",
    }
}

/// Stores what `prepare` accepted and answers the frame.
pub async fn store(ctx: &Ctx, p: Prepared) -> Reply {
    let outcomes = if p.to_store.is_empty() && p.rejected == 0 {
        Vec::new()
    } else {
        match ctx
            .store
            .ingest(&ctx.site, &ctx.seller, &ctx.label, p.rejected, &p.to_store)
            .await
        {
            Ok(o) => o,
            Err(e) => return nack(ctx, p.seq, &e),
        }
    };
    let (mut accepted, mut duplicate, mut changed) = (0u64, 0u64, 0u64);
    let mut ids = p.to_store.into_iter().map(|o| o.order_id);
    let mut results = Vec::with_capacity(p.slots.len());
    for slot in p.slots {
        results.push(match slot {
            Slot::Rejected(r) => r,
            Slot::Stored(n) => {
                let status = match outcomes[n] {
                    IngestOutcome::Accepted => {
                        accepted += 1;
                        "accepted"
                    }
                    IngestOutcome::Duplicate => {
                        duplicate += 1;
                        "duplicate"
                    }
                    IngestOutcome::DuplicateChanged => {
                        duplicate += 1;
                        changed += 1;
                        "duplicate"
                    }
                };
                OrderResult {
                    order_id: ids.next(),
                    status,
                    error: None,
                }
            }
        });
    }
    let labels = |result: &'static str| {
        [
            ("site", ctx.site.clone()),
            ("seller", ctx.seller.clone()),
            ("result", result.to_owned()),
        ]
    };
    metrics::counter!("livepack_orders_received_total", &labels("accepted")).increment(accepted);
    metrics::counter!("livepack_orders_received_total", &labels("duplicate")).increment(duplicate);
    metrics::counter!("livepack_orders_received_total", &labels("rejected"))
        .increment(p.rejected as u64);
    if changed > 0 {
        metrics::counter!("livepack_orders_duplicate_changed_total",
            "site" => ctx.site.clone(), "seller" => ctx.seller.clone())
        .increment(changed);
    }
    Reply::Ack {
        seq: p.seq,
        results,
        session: None,
    }
}

pub async fn end_session(ctx: &Ctx, seq: i64) -> Reply {
    match ctx
        .store
        .end_session(&ctx.site, &ctx.seller, &ctx.label)
        .await
    {
        Ok(_) => Reply::Ack {
            seq,
            results: Vec::new(),
            session: Some(SessionState {
                label: ctx.label.clone(),
                state: "ended",
            }),
        },
        Err(e) => nack(ctx, seq, &e),
    }
}

pub async fn cancel(ctx: &Ctx, seq: i64, order_id: String, reason: String) -> Reply {
    match ctx
        .store
        .cancel(&ctx.site, &ctx.seller, &order_id, &reason)
        .await
    {
        Ok(outcome) => {
            if outcome == CancelOutcome::Cancelled {
                metrics::counter!("livepack_orders_cancelled_total", "site" => ctx.site.clone())
                    .increment(1);
            }
            Reply::Ack {
                seq,
                results: vec![OrderResult {
                    order_id: Some(order_id),
                    status: outcome.as_str(),
                    error: None,
                }],
                session: None,
            }
        }
        Err(e) => nack(ctx, seq, &e),
    }
}
