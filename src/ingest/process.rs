//! What one frame does: validate its orders (pure), then store the valid ones in one
//! Redis round trip and build the reply. Nothing is acked before Redis answered.

use crate::metric_names as names;
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;

use chrono::{DateTime, Duration, Utc};

use super::frame::{OrderResult, Reply, SessionState};
use crate::domain::order::{digest, parse_order, peek_order_id, reported_order_id, OrderWire};
use crate::domain::schedule::{due_for_pickup, first_pickup, SiteSchedule};
use crate::domain::{is_order_id, rfc3339};
use crate::store::tombstones::DedupeWindow;
use crate::store::{CancelOutcome, IngestOutcome, Store, StoreError, StoreOrder};

/// Who is sending on this connection, and the settings their frames are judged by.
pub struct Ctx {
    pub store: Store,
    pub site: String,
    pub seller: String,
    pub label: String,
    pub schedule: Arc<SiteSchedule>,
    pub max_skew: Duration,
    /// How old a `placed_at` may be, and where the tombstones of orders that left Redis
    /// are (`retention.dedupe_days`).
    pub dedupe: DedupeWindow,
    pub retry_after_ms: u64,
    /// Orders handed to Redis and not answered yet, across all connections: bounds the
    /// work queued in front of Redis so a timeout means an unhealthy Redis, not a queue.
    pub order_budget: Arc<tokio::sync::Semaphore>,
    /// This seller's share of it (`ingest.seller_inflight_orders`), taken first: a seller
    /// with more orders queued than its share waits behind its own, and the global budget's
    /// queue never holds more of one seller than that (one seller cannot make another wait).
    pub seller_budget: Arc<tokio::sync::Semaphore>,
    /// That share's size (a batch takes at most all of it).
    pub seller_share: u32,
    /// How long a batch may wait for both budgets before its frames are nacked.
    pub budget_wait: std::time::Duration,
    /// This connection's metric handles, looked up once (not per frame or order).
    pub metrics: ConnMetrics,
}

/// Metric handles of one connection (site and seller labels come from configuration).
pub struct ConnMetrics {
    pub frames_orders: metrics::Counter,
    pub ack_latency: metrics::Histogram,
    accepted: metrics::Counter,
    duplicate: metrics::Counter,
    rejected: metrics::Counter,
    duplicate_changed: metrics::Counter,
    /// The budgets' gauges ([`super::Held`]).
    pub inflight_frames: metrics::Gauge,
    pub inflight_orders: metrics::Gauge,
}

impl ConnMetrics {
    pub fn new(site: &str, seller: &str) -> Self {
        let received = |result: &'static str| {
            metrics::counter!(names::ORDERS_RECEIVED,
                "site" => site.to_owned(), "seller" => seller.to_owned(), "result" => result)
        };
        ConnMetrics {
            frames_orders: metrics::counter!(names::INGEST_FRAMES, "type" => "orders"),
            ack_latency: metrics::histogram!(names::INGEST_REPLY_LATENCY_SECONDS, "type" => "ack"),
            accepted: received("accepted"),
            duplicate: received("duplicate"),
            rejected: received("rejected"),
            duplicate_changed: metrics::counter!(names::ORDERS_DUPLICATE_CHANGED,
                "site" => site.to_owned(), "seller" => seller.to_owned()),
            inflight_frames: metrics::gauge!(names::INGEST_INFLIGHT_FRAMES),
            inflight_orders: metrics::gauge!(names::INGEST_INFLIGHT_ORDERS),
        }
    }
}

/// After a Redis failure, frames are nacked without being sent for this long: a nack then
/// certainly stored nothing, and a struggling Redis is not piled on.
const BREAKER_MS: i64 = 250;

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
    /// Rejected, its id checked in Redis at `to_store[n]`: a stored order's id is a
    /// `duplicate` whatever the resend holds (contract §1), else the rejection stands.
    Checked(OrderResult, usize),
}

/// One order of a frame, as the frame's parse left it.
// Moved once into `validate_one`, never stored: boxing the large variant would only add
// an allocation per order.
#[allow(clippy::large_enum_variant)]
pub enum OrderInput<'t> {
    /// Read with the frame, and about how many bytes of the frame it took.
    Parsed(OrderWire<'t>, usize),
    /// The JSON text of the order, as the frame carried it.
    Raw(&'t str),
}

/// Validates a frame's orders.
pub fn prepare<'t>(
    ctx: &Ctx,
    seq: i64,
    raws: impl ExactSizeIterator<Item = OrderInput<'t>>,
    now: DateTime<Utc>,
) -> Prepared {
    let mut slots = Vec::with_capacity(raws.len());
    let mut to_store = Vec::with_capacity(raws.len());
    let mut rejected = 0;
    let received = Stamp::new(now);
    let pickup = Stamp::new(first_pickup(&ctx.schedule, now));
    for raw in raws {
        match validate_one(ctx, raw, &received, &pickup) {
            Ok(order) => {
                slots.push(Slot::Stored(to_store.len()));
                to_store.push(order);
            }
            Err(result) => match result.order_id.clone().filter(|id| is_order_id(id)) {
                Some(id) => {
                    slots.push(Slot::Checked(result, to_store.len()));
                    to_store.push(StoreOrder::check(id));
                }
                None => {
                    rejected += 1;
                    slots.push(Slot::Rejected(result));
                }
            },
        }
    }
    Prepared {
        seq,
        slots,
        to_store,
        rejected,
    }
}

/// `received`: when the frame arrived; `pickup`: the first pickup an order received then can
/// make (both the same for every order of the frame).
fn validate_one(
    ctx: &Ctx,
    input: OrderInput<'_>,
    received: &Stamp,
    pickup: &Stamp,
) -> Result<StoreOrder, OrderResult> {
    let (wire, text_len, text) = match input {
        OrderInput::Parsed(wire, len) => (wire, len, None),
        OrderInput::Raw(json) => match parse_order(json) {
            Ok(wire) => (wire, json.len(), Some(json)),
            Err(error) => {
                return Err(OrderResult {
                    order_id: peek_order_id(json),
                    status: "rejected",
                    error: Some(error),
                })
            }
        },
    };
    // The id `peek_order_id` finds in the order's text; for an order object read with its
    // frame, that is the id it was read with.
    let reject = |error| OrderResult {
        order_id: match text {
            Some(json) => peek_order_id(json),
            None => reported_order_id(&wire.order_id),
        },
        status: "rejected",
        error: Some(error),
    };
    let max_age = Duration::milliseconds(ctx.dedupe.dedupe_ms);
    let order = wire
        .validate(received.at, ctx.max_skew, max_age)
        .map_err(reject)?;
    let due = due_for_pickup(&ctx.schedule, order.placed_at, pickup.at);
    let norm = NormalizedOut {
        phone: order.phone.as_str(),
        province: order.province.name,
        province_code: order.province.code,
        region: order.province.region,
        ward: wire.ship_to.ward.trim(),
    };
    // The stored record embeds the canonical ORDER: one serialization per order.
    let data = OrderDataOut {
        seller: &ctx.seller,
        site: &ctx.site,
        session: &ctx.label,
        received_at: received,
        deadline: due.deadline,
        pickup_at: pickup,
        at_risk: due.at_risk,
        buyer_key: &order.buyer_key,
        weight_g: order.weight_g,
        norm: &norm,
    };
    let (data, digest) = record(&data, &wire, text_len);
    Ok(StoreOrder {
        digest,
        data: ctx.store.stored_record(data),
        // The one string of the order kept past this point (its text is dropped once the
        // frame's orders are prepared): the validated order borrowed it until here.
        order_id: wire.order_id.into_owned(),
    })
}

/// The stored record: its own members, then `"order":` and the canonical order written
/// into the same buffer (one serialization, no copy), and the digest of those order bytes.
/// The buffer is reserved for the whole record (`order_len`: the order's text as received,
/// or its frame's bytes per order, about its canonical size; at most `MAX_ORDER_ROOM`):
/// growing it midway copied it (6 % of ingest's CPU in a profile). Both parts are written
/// by hand, byte for byte as serde_json writes them (`crate::domain::json`), and JSON is
/// UTF-8, so the bytes go to Redis as they are (issue 20).
fn record(data: &OrderDataOut<'_>, wire: &OrderWire, order_len: usize) -> (Vec<u8>, String) {
    let mut out = Vec::with_capacity(RECORD_ROOM + order_len.min(MAX_ORDER_ROOM));
    data.write_members(&mut out);
    out.extend_from_slice(b",\"order\":");
    let start = out.len();
    wire.write_canonical_json(&mut out);
    let digest = digest(&out[start..]);
    out.push(b'}');
    (out, digest)
}

/// Bytes reserved for a stored record beyond its canonical order.
const RECORD_ROOM: usize = 640;

/// The most reserved for the order itself (a frame padded with unknown fields must not
/// reserve its size for its one order; a larger order grows the buffer).
const MAX_ORDER_ROOM: usize = 16 * 1024;

/// A time every order of a frame records, and its text as the record writes it (RFC 3339,
/// as chrono's `Serialize` writes it): written once a frame rather than once an order.
struct Stamp {
    at: DateTime<Utc>,
    text: String,
}

impl Stamp {
    fn new(at: DateTime<Utc>) -> Self {
        Stamp {
            at,
            text: rfc3339::text(&at, &mut [0u8; rfc3339::MAX]).into_owned(),
        }
    }
}

impl serde::Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// The write side of [`crate::store::OrderData`] (same JSON), with the order pre-serialized.
#[derive(serde::Serialize)]
struct OrderDataOut<'a> {
    seller: &'a str,
    site: &'a str,
    session: &'a str,
    received_at: &'a Stamp,
    #[serde(serialize_with = "rfc3339::serialize")]
    deadline: DateTime<Utc>,
    pickup_at: &'a Stamp,
    at_risk: bool,
    buyer_key: &'a str,
    weight_g: u64,
    norm: &'a NormalizedOut<'a>,
}

/// The write side of [`crate::store::Normalized`] (same JSON), borrowing from the validated order.
#[derive(serde::Serialize)]
struct NormalizedOut<'a> {
    phone: &'a str,
    province: &'a str,
    province_code: &'a str,
    region: crate::domain::address::Region,
    ward: &'a str,
}

impl OrderDataOut<'_> {
    /// Appends `{` and the members, as serde_json writes this struct but without its
    /// closing brace (the record's `order` follows): written by hand, the same bytes
    /// (`crate::domain::json`; the tests compare them with serde_json's).
    fn write_members(&self, out: &mut Vec<u8>) {
        use crate::domain::json::{write_key, write_member, write_uint};
        out.push(b'{');
        write_member(out, "seller", self.seller);
        out.push(b',');
        write_member(out, "site", self.site);
        out.push(b',');
        write_member(out, "session", self.session);
        out.push(b',');
        write_member(out, "received_at", &self.received_at.text);
        out.push(b',');
        let mut buf = [0u8; rfc3339::MAX];
        write_member(out, "deadline", &rfc3339::text(&self.deadline, &mut buf));
        out.push(b',');
        write_member(out, "pickup_at", &self.pickup_at.text);
        out.extend_from_slice(if self.at_risk {
            b",\"at_risk\":true,"
        } else {
            b",\"at_risk\":false,"
        });
        write_member(out, "buyer_key", self.buyer_key);
        out.push(b',');
        write_key(out, "weight_g");
        write_uint(out, self.weight_g);
        out.extend_from_slice(b",\"norm\":{");
        let norm = self.norm;
        write_member(out, "phone", norm.phone);
        out.push(b',');
        write_member(out, "province", norm.province);
        out.push(b',');
        write_member(out, "province_code", norm.province_code);
        out.push(b',');
        write_member(out, "region", norm.region.as_str());
        out.push(b',');
        write_member(out, "ward", norm.ward);
        out.push(b'}');
    }
}

/// The reply to a frame whose Redis call failed: a nack when nothing of it was stored, else
/// none (the connection closes: [`Reply::Unknown`]).
fn failed(ctx: &Ctx, seq: i64, err: &StoreError) -> Reply {
    if err.may_have_run() {
        tracing::warn!(site = %ctx.site, seller = %ctx.seller, error = %err, "frame's outcome unknown (redis may have stored it): closing the connection for a resend");
        Reply::Unknown { seq }
    } else {
        nack(ctx, seq, err)
    }
}

fn nack(ctx: &Ctx, seq: i64, err: &StoreError) -> Reply {
    tracing::warn!(site = %ctx.site, seller = %ctx.seller, error = %err, "frame nacked: storage unavailable");
    metrics::counter!(names::INGEST_NACKS, "site" => ctx.site.clone()).increment(1);
    Reply::Nack {
        seq,
        retry_after_ms: ctx.retry_after_ms,
        reason: "storage_unavailable",
    }
}

/// Stores the orders `prepare` accepted, of one or more frames, in ONE Redis call, and
/// answers each frame. If Redis fails, every frame of the batch is nacked.
/// Takes `n` orders of the seller's share (`share` its size: a batch bigger than the share
/// takes all of it), then of the global budget. A seller's batches wait in its share's queue,
/// so the global budget's queue (first come, first served) holds at most a share of each
/// seller: another seller's batch never waits behind the whole of one seller's backlog.
async fn take_budgets(
    seller: Arc<tokio::sync::Semaphore>,
    share: u32,
    global: Arc<tokio::sync::Semaphore>,
    n: u32,
) -> Result<(OwnedSemaphorePermit, OwnedSemaphorePermit), tokio::sync::AcquireError> {
    let mine = seller.acquire_many_owned(n.min(share)).await?;
    let all = global.acquire_many_owned(n).await?;
    Ok((mine, all))
}

pub async fn store_batch(ctx: &Ctx, frames: Vec<Prepared>) -> Vec<Reply> {
    let rejected: usize = frames.iter().map(|p| p.rejected).sum();
    let to_store: Vec<&StoreOrder> = frames.iter().flat_map(|p| &p.to_store).collect();
    let outcomes = if to_store.is_empty() && rejected == 0 {
        Vec::new()
    } else {
        // Not yet known to persist (an external Redis unreachable at start), or known not
        // to: nothing is sent, so the nack is true.
        if ctx.store.unverified().is_some()
            || ctx
                .store
                .ingest_failed_within(&ctx.site, &ctx.seller, BREAKER_MS)
        {
            let e = StoreError::Timeout(std::time::Duration::from_millis(BREAKER_MS as u64));
            return frames.iter().map(|p| nack(ctx, p.seq, &e)).collect();
        }
        // Waiting for the budget is bounded too: past the bound the frames are nacked
        // without having been sent (so certainly nothing of them was stored).
        let n = u32::try_from(to_store.len().max(1)).unwrap_or(u32::MAX);
        // Held (and shown in the in-flight gauge) until Redis answered: the replies are
        // then computed here, before any connection writes them. The seller's share first
        // (a batch bigger than the whole share takes all of it).
        let budgets = take_budgets(
            ctx.seller_budget.clone(),
            ctx.seller_share,
            ctx.order_budget.clone(),
            n,
        );
        let Ok(Ok(_permits)) = tokio::time::timeout(ctx.budget_wait, budgets)
            .await
            .map(|r| {
                r.map(|(mine, all)| (mine, super::Held::new(all, &ctx.metrics.inflight_orders)))
            })
        else {
            let e = StoreError::Timeout(ctx.budget_wait);
            return frames.iter().map(|p| nack(ctx, p.seq, &e)).collect();
        };
        match ctx
            .store
            .ingest(
                &ctx.site,
                &ctx.seller,
                &ctx.label,
                rejected,
                &to_store,
                &ctx.dedupe,
            )
            .await
        {
            Ok(o) => o,
            Err(e) => return frames.iter().map(|p| failed(ctx, p.seq, &e)).collect(),
        }
    };
    let (mut accepted, mut duplicate, mut changed) = (0u64, 0u64, 0u64);
    let mut rejected = rejected as u64;
    let mut outcomes = outcomes.into_iter();
    let mut replies = Vec::with_capacity(frames.len());
    for p in frames {
        let mine: Vec<IngestOutcome> = outcomes.by_ref().take(p.to_store.len()).collect();
        let mut ids: Vec<Option<String>> =
            p.to_store.into_iter().map(|o| Some(o.order_id)).collect();
        let mut results = Vec::with_capacity(p.slots.len());
        for slot in p.slots {
            results.push(match slot {
                Slot::Rejected(r) => r,
                Slot::Checked(r, n) => match mine.get(n) {
                    Some(IngestOutcome::Duplicate | IngestOutcome::DuplicateChanged) => {
                        duplicate += 1;
                        changed += 1;
                        OrderResult {
                            order_id: r.order_id,
                            status: "duplicate",
                            error: None,
                        }
                    }
                    _ => {
                        rejected += 1;
                        r
                    }
                },
                Slot::Stored(n) => {
                    let status = match mine.get(n) {
                        Some(IngestOutcome::Accepted) => {
                            accepted += 1;
                            "accepted"
                        }
                        Some(IngestOutcome::DuplicateChanged) => {
                            duplicate += 1;
                            changed += 1;
                            "duplicate"
                        }
                        _ => {
                            duplicate += 1;
                            "duplicate"
                        }
                    };
                    OrderResult {
                        order_id: ids.get_mut(n).and_then(Option::take),
                        status,
                        error: None,
                    }
                }
            });
        }
        replies.push(Reply::Ack {
            seq: p.seq,
            results,
            session: None,
        });
    }
    let m = &ctx.metrics;
    m.accepted.increment(accepted);
    m.duplicate.increment(duplicate);
    m.rejected.increment(rejected);
    if changed > 0 {
        m.duplicate_changed.increment(changed);
    }
    replies
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
        Err(e) => failed(ctx, seq, &e),
    }
}

pub async fn cancel(ctx: &Ctx, seq: i64, order_id: String, reason: String) -> Reply {
    match ctx
        .store
        .cancel(&ctx.site, &ctx.seller, &order_id, &reason, &ctx.dedupe)
        .await
    {
        Ok(outcome) => {
            // Counted once: a repeated cancel answers `cancelled` again, uncounted.
            if outcome == CancelOutcome::Cancelled {
                metrics::counter!(names::ORDERS_CANCELLED, "site" => ctx.site.clone()).increment(1);
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
        Err(e) => failed(ctx, seq, &e),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    /// Seller B's backlog (ten batches of 500 against a share of 500 and a global budget of
    /// 1,000) leaves room in the global budget: seller A's one order is granted at once.
    /// (Before shares, B's batches queued on the global budget, and A's waited behind them
    /// all: a reviewer saw another seller's acks go from 1 ms to seconds, and nacks.)
    #[tokio::test(flavor = "current_thread")]
    async fn one_seller_s_backlog_never_makes_another_wait() {
        use futures_util::FutureExt;
        use tokio::sync::Semaphore;
        let global = Arc::new(Semaphore::new(1_000));
        let (a, b) = (Arc::new(Semaphore::new(500)), Arc::new(Semaphore::new(500)));
        let held = take_budgets(b.clone(), 500, global.clone(), 500)
            .await
            .unwrap();
        let waiting: Vec<_> = (0..9)
            .map(|_| tokio::spawn(take_budgets(b.clone(), 500, global.clone(), 500)))
            .collect();
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        let granted = take_budgets(a, 500, global.clone(), 1).now_or_never();
        assert!(matches!(granted, Some(Ok(_))), "A waited behind B");
        // B's next batch goes on once B's first is answered.
        drop((held, granted));
        for w in waiting {
            w.abort();
            let _ = w.await;
        }
        // A batch bigger than the whole share takes all of it rather than waiting forever.
        let big = take_budgets(Arc::new(Semaphore::new(500)), 500, global, 700).now_or_never();
        assert!(matches!(big, Some(Ok(_))));
    }

    #[test]
    fn the_record_is_its_members_then_the_canonical_order() {
        let json = r#"{ "order_id": "TT-1", "platform": "tiktok", "extra": 1,
            "placed_at": "2026-11-21T20:15:02+07:00",
            "buyer": { "name": "Nguyễn Thị Lan", "phone": "0912345678" },
            "ship_to": { "province": "Ninh Bình", "ward": "Phường Hoa Lư", "street": "12 \u0110ạo" },
            "items": [ { "sku": "HONEY-500", "name": "Mật ong", "qty": 2,
                         "unit_price": "185000", "weight_g": 650 } ],
            "cod_amount": "400000", "note": "Giao giờ \"hành chính\"" }"#;
        let wire = parse_order(json).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 12, 5, 19, 30, 0).unwrap();
        let norm = NormalizedOut {
            phone: "+84912345678",
            province: "Ninh Bình",
            province_code: "ninh-binh",
            region: crate::domain::address::Region::North,
            ward: "Phường Hoa Lư",
        };
        let data = OrderDataOut {
            seller: "mat-ong",
            site: "hoa-lu-hub",
            session: "evening",
            received_at: &Stamp::new(t),
            deadline: t,
            pickup_at: &Stamp::new(t),
            at_risk: false,
            buyer_key: "k",
            weight_g: 1300,
            norm: &norm,
        };
        // What the record was before it was written in one buffer: the members' JSON with
        // the canonical order (serde_json's own string of it) spliced in last.
        let canonical = serde_json::to_string(&wire).unwrap();
        let members = serde_json::to_string(&data).unwrap();
        let want = format!(
            "{},\"order\":{canonical}}}",
            members.strip_suffix('}').unwrap()
        );
        for room in [0, json.len()] {
            let (bytes, dg) = record(&data, &wire, room);
            assert_eq!(String::from_utf8(bytes).unwrap(), want);
            assert_eq!(dg, digest(canonical.as_bytes()));
        }
        let stored: serde_json::Value = serde_json::from_str(&want).unwrap();
        assert_eq!(stored["order"]["ship_to"]["street"], "12 Đạo");
        assert!(stored["order"].get("extra").is_none());
    }

    proptest! {
        /// The record's members are written by hand: byte for byte serde_json's of the
        /// struct, whatever the text, the flag and the times.
        #[test]
        fn the_members_are_what_serde_json_writes(
            text in proptest::collection::vec(any::<String>(), 8),
            at_risk in any::<bool>(),
            weight_g in any::<u64>(),
            secs in proptest::collection::vec(-70_000_000_000i64..260_000_000_000, 3),
            nanos in 0u32..1_000_000_000,
        ) {
            let t = |i: usize| Utc.timestamp_opt(secs[i], nanos).unwrap();
            let norm = NormalizedOut {
                phone: &text[4],
                province: &text[5],
                province_code: &text[6],
                region: crate::domain::address::Region::Central,
                ward: &text[7],
            };
            let (received, pickup) = (Stamp::new(t(0)), Stamp::new(t(2)));
            let data = OrderDataOut {
                seller: &text[0],
                site: &text[1],
                session: &text[2],
                received_at: &received,
                deadline: t(1),
                pickup_at: &pickup,
                at_risk,
                buyer_key: &text[3],
                weight_g,
                norm: &norm,
            };
            let mut out = Vec::new();
            data.write_members(&mut out);
            out.push(b'}');
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&data).unwrap());
            // A frame's times are written once, as chrono writes them.
            for i in [0, 2] {
                prop_assert_eq!(
                    serde_json::to_string(&Stamp::new(t(i))).unwrap(),
                    serde_json::to_string(&t(i)).unwrap()
                );
            }
        }
    }
}
