//! The planner's intake from the site stream: batches of entries with their orders read
//! from Redis and parsed, before anything changes (so a batch can be read ahead, off the
//! planner's task, while a plan commits), and the absorbing of batches of orders alone,
//! which the read-ahead also does beside a commit.

use futures_util::stream::{FuturesOrdered, StreamExt};
use tokio_util::sync::CancellationToken;

use super::pending::PendingRecord;
use crate::domain::status::OrderStatus;
use crate::store::stream::{decode, Entry, StreamId};
use crate::store::waves::TakenOrder;
use crate::store::{keys, OrderDataRef, Store, StoreError};

/// Stream entries read per round.
pub(super) const BATCH: usize = 1000;

/// A batch of stream entries with its orders read from Redis and parsed: everything
/// handling it needs before it changes anything (so it can be done off the planner's
/// task, while a plan commits).
pub(super) struct Fetched {
    pub(super) entries: Vec<StreamId>,
    /// The orders its entries name, in stream order (an entry may name several).
    pub(super) orders: Vec<FetchedOrder>,
    /// Every entry names orders (none is a cancel, a session's end or undecodable).
    pub(super) orders_alone: bool,
}

pub(super) struct FetchedOrder {
    /// Index into `entries` (orders of one entry are next to each other).
    pub(super) entry: usize,
    pub(super) record: Readable,
    /// Its pending field (`seller/order_id`) when the record is [`Readable::No`].
    pub(super) unreadable: Option<String>,
}

pub(super) enum Readable {
    /// Its data is missing or cannot be parsed (a poison entry).
    No,
    /// Stored, but no longer `received` (cancelled or waved): acked, not pending.
    NotReceived,
    Received(Box<PendingRecord>),
}

/// Reads the stored data of a batch's orders (one pipeline) and parses it.
pub(super) async fn fetch(
    store: &Store,
    site: &str,
    entries: Vec<StreamId>,
) -> Result<Fetched, StoreError> {
    let mut at = Vec::new();
    let mut refs = Vec::new();
    let mut orders_alone = true;
    for (i, e) in entries.iter().enumerate() {
        match decode(e) {
            Entry::Orders { seller, order_ids } => {
                for order_id in order_ids {
                    at.push(i);
                    refs.push((seller.clone(), order_id));
                }
            }
            _ => orders_alone = false,
        }
    }
    if refs.is_empty() {
        return Ok(Fetched {
            entries,
            orders: Vec::new(),
            orders_alone,
        });
    }
    tracing::debug!(site, orders = refs.len(), "stream entries read");
    let data = store.order_data(site, &refs).await?;
    let orders = at
        .into_iter()
        .zip(refs.iter().zip(data))
        .map(|(entry, ((seller, order_id), (json, status)))| {
            let record = readable(seller, order_id, json.as_deref(), status.as_deref());
            let unreadable =
                matches!(record, Readable::No).then(|| keys::pending_field(seller, order_id));
            FetchedOrder {
                entry,
                record,
                unreadable,
            }
        })
        .collect();
    Ok(Fetched {
        entries,
        orders,
        orders_alone,
    })
}

/// Whether a batch holds orders alone (no cancel, session end or unreadable entry): such
/// batches name other orders and entries than any other batch, so their absorb scripts may
/// run in any order, and beside a commit (whose waves hold only orders already pending).
pub(super) fn orders_only(b: &Fetched) -> bool {
    b.orders_alone && b.orders.iter().all(|o| o.unreadable.is_none())
}

/// Orders an absorb script takes at most (rounded up to a whole entry): a batch of entries
/// naming several orders each is absorbed by several scripts, each short (issue 20: Redis
/// runs one script at a time, other sites' ingest included).
pub(super) const ABSORB_ORDERS: usize = 1000;

/// One absorb script's part of a batch: the entry ids it acks and the orders read as
/// `received` (the script checks each again).
pub(super) type ForAbsorb = (Vec<String>, Vec<PendingRecord>);

/// A batch's orders as absorb scripts take them: each entry's id once, in the part that
/// holds its orders, the parts cut between entries after [`ABSORB_ORDERS`] orders. An
/// entry in `skip` is not acked (it names an unreadable order: retried, then
/// dead-lettered), its readable orders are absorbed all the same.
pub(super) fn for_absorb(
    entries: &[StreamId],
    orders: Vec<FetchedOrder>,
    skip: &[bool],
) -> Vec<ForAbsorb> {
    let mut parts: Vec<ForAbsorb> = Vec::new();
    let mut part: ForAbsorb = (Vec::new(), Vec::new());
    let mut named = 0;
    let mut last = None;
    for order in orders {
        if last != Some(order.entry) {
            if named >= ABSORB_ORDERS {
                if !part.0.is_empty() || !part.1.is_empty() {
                    parts.push(std::mem::take(&mut part));
                }
                named = 0;
            }
            last = Some(order.entry);
            if !skip.get(order.entry).copied().unwrap_or(false) {
                part.0.push(entries[order.entry].id.clone());
            }
        }
        named += 1;
        if let Readable::Received(rec) = order.record {
            part.1.push(*rec);
        }
    }
    if !part.0.is_empty() || !part.1.is_empty() {
        parts.push(part);
    }
    parts
}

/// Runs one absorb script: the flags of the orders still `received` (now in Redis' pending).
pub(super) async fn absorb(
    store: &Store,
    site: &str,
    fence: &str,
    absorbed: &[String],
    records: &[PendingRecord],
) -> Result<Vec<bool>, StoreError> {
    let refs: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.plan.id.seller.as_str(), r.plan.id.order_id.as_str()))
        .collect();
    store.absorb(site, fence, absorbed, &refs).await
}

/// A batch of orders alone, read and absorbed by one `take` script per part (issue 20,
/// thirty-fifth session: the orders were read back by one `HMGET` each, then absorbed by a
/// script that read each again).
pub(super) struct Taken {
    /// Each part's orders found `received` (pending now), or its script's error.
    pub(super) absorbed: Vec<Absorbed>,
    /// Acking the entries of the parts whose scripts answered, apart from `unreadable`
    /// (after an error they are claimed again later and applied again, which changes
    /// nothing).
    pub(super) acked: Result<(), StoreError>,
    /// Entries naming an order whose data is missing or unreadable: not acked (retried,
    /// then dead-lettered); their readable orders are pending all the same.
    pub(super) unreadable: Vec<StreamId>,
}

/// Whether every entry names orders (none is a cancel, a session's end or undecodable):
/// such a batch can be taken ([`take`]) instead of fetched, then applied.
pub(super) fn orders_alone(entries: &[StreamId]) -> bool {
    entries
        .iter()
        .all(|e| matches!(decode(e), Entry::Orders { .. }))
}

/// Takes a batch of orders alone ([`orders_alone`]): one `take` script per
/// [`ABSORB_ORDERS`] orders (cut between entries) reads them and puts those still
/// `received` into Redis' pending, their records are parsed here, an order whose data turns
/// out unreadable is taken out of pending again, and then one absorb script acks the
/// entries whose orders were all readable.
pub(super) async fn take(store: &Store, site: &str, fence: &str, entries: Vec<StreamId>) -> Taken {
    // Per part, its orders as (entry index, seller, order id).
    let mut parts: Vec<Vec<(usize, String, String)>> = Vec::new();
    let mut part = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if let Entry::Orders { seller, order_ids } = decode(e) {
            if part.len() >= ABSORB_ORDERS {
                parts.push(std::mem::take(&mut part));
            }
            part.extend(order_ids.into_iter().map(|o| (i, seller.clone(), o)));
        }
    }
    if !part.is_empty() {
        parts.push(part);
    }
    let mut answered = vec![false; entries.len()];
    let mut unreadable = vec![false; entries.len()];
    let mut unpend = Vec::new();
    let mut absorbed = Vec::with_capacity(parts.len());
    for part in parts {
        let refs: Vec<(&str, &str)> = part
            .iter()
            .map(|(_, s, o)| (s.as_str(), o.as_str()))
            .collect();
        let found = match store.take_orders(site, fence, &refs).await {
            Ok(found) => found,
            Err(e) => {
                absorbed.push(Absorbed {
                    records: Vec::new(),
                    answer: Err(e),
                });
                continue;
            }
        };
        let mut records = Vec::new();
        for ((entry, seller, order_id), order) in part.iter().zip(found) {
            answered[*entry] = true;
            // Pending here too, or unreadable (then out of Redis' pending again, if there).
            let pending = match order {
                TakenOrder::NotReceived => continue,
                TakenOrder::Missing => false,
                TakenOrder::Pending(json) => {
                    match readable(seller, order_id, json.as_deref(), Some("received")) {
                        Readable::Received(rec) => {
                            records.push(*rec);
                            true
                        }
                        Readable::No | Readable::NotReceived => {
                            unpend.push(keys::pending_field(seller, order_id));
                            false
                        }
                    }
                }
            };
            if !pending {
                unreadable[*entry] = true;
            }
        }
        let answer = Ok(vec![true; records.len()]);
        absorbed.push(Absorbed { records, answer });
    }
    if let Err(e) = store.unpend(site, &unpend).await {
        // Taken out on their entries' retries ([`FetchedOrder::unreadable`]); meanwhile a
        // reload skips them (`Store::order_data` reads data it cannot unpack as missing).
        tracing::warn!(site, error = %e, orders = unpend.len(),
            "planner could not take unreadable orders out of pending");
    }
    let ack: Vec<String> = entries
        .iter()
        .zip(answered.iter().zip(&unreadable))
        .filter(|(_, (a, u))| **a && !**u)
        .map(|(e, _)| e.id.clone())
        .collect();
    let acked = if ack.is_empty() {
        Ok(())
    } else {
        store.absorb(site, fence, &ack, &[]).await.map(drop)
    };
    let unreadable = entries
        .into_iter()
        .zip(unreadable)
        .filter_map(|(e, u)| u.then_some(e))
        .collect();
    Taken {
        absorbed,
        acked,
        unreadable,
    }
}

/// What a read-ahead brought back.
#[derive(Default)]
pub(super) struct ReadAhead {
    /// Batches of orders alone taken while the plan committed.
    pub(super) taken: Vec<Taken>,
    /// Batches fetched and not absorbed (from the first holding anything but orders on):
    /// applied later, in stream order.
    pub(super) fetched: Vec<Fetched>,
    /// The last read was a full batch: there may be more to read right away.
    pub(super) more: bool,
}

/// A batch absorbed: the orders it found `received`, and its script's answer (one flag per
/// order: now pending).
pub(super) struct Absorbed {
    pub(super) records: Vec<PendingRecord>,
    pub(super) answer: Result<Vec<bool>, StoreError>,
}

/// Batches read ahead whose orders are fetched (or taken) while the next is read.
const FETCHES_IN_FLIGHT: usize = 8;

/// One batch, read and then taken or fetched.
pub(super) enum Got {
    Taken(Taken),
    Fetched(Fetched),
}

/// Given the fencing token, takes a batch of orders alone ([`take`]); fetches any other
/// batch, or without the token.
pub(super) async fn intake(
    store: &Store,
    site: &str,
    entries: Vec<StreamId>,
    absorb_with: Option<&str>,
) -> Result<Got, StoreError> {
    match absorb_with {
        Some(fence) if !entries.is_empty() && orders_alone(&entries) => {
            Ok(Got::Taken(take(store, site, fence, entries).await))
        }
        _ => fetch(store, site, entries).await.map(Got::Fetched),
    }
}

/// Reads full batches until `stop` (checked between reads: a read is never cut short, or
/// its entries would wait to be claimed), `max.0` batches or `max.1` orders named (the batch
/// that reaches it is kept), a short batch (the stream is caught up) or an error, and
/// fetches their orders, [`FETCHES_IN_FLIGHT`] batches at a time while the next is read.
/// After a failed read or fetch nothing more is read, and the batches fetched after a
/// failed one are let go unless absorbed: what was held stays contiguous in stream order,
/// and the entries let go are claimed again later, in order.
///
/// With `absorb_with` (the fencing token), batches of orders alone are taken ([`take`]) as
/// they are read, beside the commit (issue 20: in the waving tail a commit and the
/// absorbing of what was read meanwhile took turns). Their order does not matter; what does
/// is kept: no batch is taken after one holding a cancel, a session's end or an
/// undecodable entry (known from its entries when it is read). An entry naming an
/// unreadable order is handed back in [`Taken::unreadable`], not acked.
pub(super) async fn read_ahead(
    store: &Store,
    site: &str,
    holder: &str,
    max: (usize, usize),
    mut absorb_with: Option<&str>,
    stop: &CancellationToken,
) -> ReadAhead {
    let mut out = ReadAhead::default();
    let mut in_flight = FuturesOrdered::new();
    let mut failed = false;
    let take = |got: Result<Got, StoreError>, out: &mut ReadAhead, failed: &mut bool| match got {
        Ok(Got::Taken(t)) => out.taken.push(t),
        Ok(Got::Fetched(b)) if !*failed => out.fetched.push(b),
        Ok(Got::Fetched(_)) => {} // after a failed batch: claimed again later, in order
        Err(e) => {
            tracing::warn!(site, error = %e, "planner could not fetch a batch read ahead");
            *failed = true;
        }
    };
    let (mut read, mut named) = (0, 0);
    while read < max.0 && named < max.1 && !stop.is_cancelled() && !failed {
        // The batches in flight go on (and are taken as they finish) while the next is read.
        let next = store.read_new(site, holder, BATCH);
        tokio::pin!(next);
        let entries = loop {
            tokio::select! {
                entries = &mut next => break entries,
                Some(got) = in_flight.next(), if !in_flight.is_empty() => {
                    take(got, &mut out, &mut failed)
                }
            }
        };
        let entries = match entries {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(site, error = %e, "planner could not read ahead");
                out.more = false;
                break;
            }
        };
        out.more = entries.len() == BATCH;
        if entries.is_empty() {
            break;
        }
        read += 1;
        for e in &entries {
            match decode(e) {
                Entry::Orders { order_ids, .. } => named += order_ids.len(),
                _ => absorb_with = None,
            }
        }
        in_flight.push_back(intake(store, site, entries, absorb_with));
        while in_flight.len() >= FETCHES_IN_FLIGHT {
            if let Some(got) = in_flight.next().await {
                take(got, &mut out, &mut failed);
            }
        }
        if !out.more {
            break;
        }
    }
    while let Some(got) = in_flight.next().await {
        take(got, &mut out, &mut failed);
    }
    out
}

/// What an order's stored data and status make of it: the planner's record while it is
/// still `received` (only those enter pending; the absorb script checks again).
pub(super) fn readable(
    seller: &str,
    order_id: &str,
    json: Option<&str>,
    status: Option<&str>,
) -> Readable {
    let Some(data) = json.and_then(|j| serde_json::from_str::<OrderDataRef<'_>>(j).ok()) else {
        return Readable::No;
    };
    if status.and_then(|s| s.parse().ok()) != Some(OrderStatus::Received) {
        return Readable::NotReceived;
    }
    Readable::Received(Box::new(PendingRecord::from_order(seller, order_id, &data)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Vnd;

    /// A stored record with JSON escapes in its strings (read as owned `Cow`s) and amounts
    /// both as JSON strings and as integers.
    const RECORD: &str = concat!(
        r#"{"seller":"mat-ong-tam-diep","site":"hoa-lu-hub","session":"s1","#,
        r#""received_at":"2026-12-06T01:31:05.071958637Z","#,
        r#""deadline":"2026-12-07T01:22:04Z","pickup_at":"2026-12-06T04:00:00Z","#,
        r#""at_risk":false,"buyer_key":"a3e8ad6d","weight_g":2500,"#,
        r#""norm":{"phone":"0900002448","province":"Ninh B\u00ecnh","#,
        r#""province_code":"ninh-binh","region":"north","#,
        r#""ward":"Ph\u01b0\u1eddng Hoa L\u01b0"},"order":{"order_id":"o-1","#,
        r#""platform":"tiktok","placed_at":"2026-12-06T08:22:04+07:00","#,
        r#""buyer":{"name":"Nguy\u1ec5n Minh H\u01b0\u01a1ng","phone":"0900002448"},"#,
        r#""ship_to":{"province":"Ninh B\u00ecnh","ward":"Ph\u01b0\u1eddng Hoa L\u01b0","#,
        r#""street":"61 Tr\u1ea7n H\u01b0ng \u0110\u1ea1o"},"items":[{"sku":"HONEY-1000","#,
        r#""name":" M\u1eadt ong 1 l\u00edt ","qty":1,"unit_price":340000,"#,
        r#""weight_g":1250},{"sku":"HONEY-1000","name":"M\u1eadt ong 1 l\u00edt","qty":1,"#,
        r#""unit_price":"340000","weight_g":1250}],"cod_amount":710000,"#,
        r#""shipping_fee":"30000"}}"#,
    );

    #[test]
    fn a_stored_record_is_read_borrowed_into_the_planners_record() {
        let Readable::Received(r) = readable("seller-a", "o-1", Some(RECORD), Some("received"))
        else {
            panic!("a whole record is readable");
        };
        assert_eq!(r.plan.id.seller, "seller-a");
        assert_eq!(r.plan.id.order_id, "o-1");
        assert_eq!(r.plan.session, "s1");
        assert_eq!(r.plan.buyer_key, "a3e8ad6d");
        assert_eq!(r.plan.weight_g, 2500);
        assert_eq!(
            r.plan.received_at.to_rfc3339(),
            "2026-12-06T01:31:05.071958637+00:00"
        );
        assert_eq!(r.plan.lines.len(), 1, "one line per SKU");
        assert_eq!(
            (r.plan.lines[0].name.as_str(), r.plan.lines[0].qty),
            ("Mật ong 1 lít", 2)
        );
        assert_eq!(r.first_name, "Hương");
        assert_eq!(
            r.phone_masked,
            super::super::pending::mask_phone("0900002448")
        );
        assert_eq!(r.cod_amount, Vnd::from_i64(710_000));
        assert_eq!(
            (r.province.as_str(), r.ward.as_str()),
            ("Ninh Bình", "Phường Hoa Lư")
        );
        assert_eq!(r.items.len(), 2);
        assert!(r
            .items
            .iter()
            .all(|i| i.unit_price == Vnd::from_i64(340_000)));
    }

    #[test]
    fn a_damaged_record_stays_unreadable_even_in_fields_the_planner_skips() {
        assert!(matches!(
            readable("s", "o-1", Some(RECORD), Some("waved")),
            Readable::NotReceived
        ));
        let damaged = [
            RECORD.replace(r#""site":"hoa-lu-hub","#, ""),
            RECORD.replace(r#""seller":"mat-ong-tam-diep","#, ""),
            RECORD.replace(r#""at_risk":false"#, r#""at_risk":"no""#),
            RECORD.replace(r#""region":"north""#, r#""region":"mars""#),
            RECORD.replace(r#""province_code":"ninh-binh","#, ""),
            RECORD.replace(r#""weight_g":2500"#, r#""weight_g":-1"#),
            RECORD[..RECORD.len() - 1].to_owned(),
        ];
        for (i, json) in damaged.iter().enumerate() {
            assert_ne!(json, RECORD, "case {i} changes the record");
            assert!(
                matches!(
                    readable("s", "o-1", Some(json), Some("received")),
                    Readable::No
                ),
                "case {i} is a poison entry"
            );
        }
        assert!(matches!(
            readable("s", "o-1", None, Some("received")),
            Readable::No
        ));
    }

    fn batch(entries: usize, per_entry: usize) -> (Vec<StreamId>, Vec<FetchedOrder>) {
        let ids = (0..entries)
            .map(|i| StreamId {
                id: format!("{i}-0"),
                ..Default::default()
            })
            .collect();
        let orders = (0..entries * per_entry)
            .map(|k| FetchedOrder {
                entry: k / per_entry,
                record: Readable::NotReceived,
                unreadable: None,
            })
            .collect();
        (ids, orders)
    }

    fn acked(parts: &[ForAbsorb]) -> Vec<Vec<String>> {
        parts.iter().map(|p| p.0.clone()).collect()
    }

    #[test]
    fn a_batch_is_absorbed_in_parts_of_whole_entries_each_acked_once() {
        let (entries, orders) = batch(250, 10);
        let parts = acked(&for_absorb(&entries, orders, &[]));
        let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
        assert_eq!(sizes, [100, 100, 50], "1,000 orders a part, whole entries");
        let all: Vec<String> = parts.concat();
        let expected: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        assert_eq!(all, expected, "each entry once, in stream order");

        let (entries, orders) = batch(1_500, 1);
        let sizes: Vec<usize> = acked(&for_absorb(&entries, orders, &[]))
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [1_000, 500]);

        // A part is cut only between entries: 7 a entry, the part after 1,001 orders.
        let (entries, orders) = batch(300, 7);
        let sizes: Vec<usize> = acked(&for_absorb(&entries, orders, &[]))
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [143, 143, 14]);
    }

    #[test]
    fn an_entry_to_skip_is_not_acked_and_the_rest_are() {
        let (entries, orders) = batch(3, 10);
        let parts = acked(&for_absorb(&entries, orders, &[false, true, false]));
        assert_eq!(parts, [vec!["0-0".to_owned(), "2-0".to_owned()]]);
        let (entries, orders) = batch(1, 10);
        assert!(
            for_absorb(&entries, orders, &[true]).is_empty(),
            "nothing to ack and no order read as received: no script"
        );
    }
}
