//! The planner's intake from the site stream: batches of entries with their orders read
//! from Redis and parsed, before anything changes (so a batch can be read ahead, off the
//! planner's task, while a plan commits).

use tokio_util::sync::CancellationToken;

use super::pending::PendingRecord;
use crate::domain::status::OrderStatus;
use crate::store::stream::{decode, Entry, StreamId};
use crate::store::{Store, StoreError};

/// Stream entries read per round.
pub(super) const BATCH: usize = 1000;

/// A batch of stream entries with its orders read from Redis and parsed: everything
/// handling it needs before it changes anything (so it can be done off the planner's
/// task, while a plan commits).
pub(super) struct Fetched {
    pub(super) entries: Vec<StreamId>,
    /// The batch's order entries, in stream order.
    pub(super) orders: Vec<FetchedOrder>,
}

pub(super) struct FetchedOrder {
    /// Index into `entries`.
    pub(super) entry: usize,
    pub(super) record: Readable,
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
    for (i, e) in entries.iter().enumerate() {
        if let Entry::Order { seller, order_id } = decode(e) {
            at.push(i);
            refs.push((seller, order_id));
        }
    }
    if refs.is_empty() {
        return Ok(Fetched {
            entries,
            orders: Vec::new(),
        });
    }
    tracing::debug!(site, orders = refs.len(), "stream entries read");
    let data = store.order_data(site, &refs).await?;
    let orders = at
        .into_iter()
        .zip(refs.iter().zip(data))
        .map(
            |(entry, ((seller, order_id), (json, status)))| FetchedOrder {
                entry,
                record: readable(seller, order_id, json.as_deref(), status.as_deref()),
            },
        )
        .collect();
    Ok(Fetched { entries, orders })
}

/// Reads and fetches full batches until `stop` (checked between batches: a read is never
/// cut short, or its entries would wait to be claimed), `max` batches, a short batch (the
/// stream is caught up) or an error (the entries read are claimed again later).
pub(super) async fn read_ahead(
    store: &Store,
    site: &str,
    holder: &str,
    max: usize,
    stop: &CancellationToken,
) -> Vec<Fetched> {
    let mut out = Vec::new();
    while out.len() < max && !stop.is_cancelled() {
        let batch = match store.read_new(site, holder, BATCH).await {
            Ok(entries) => fetch(store, site, entries).await,
            Err(e) => Err(e),
        };
        match batch {
            Ok(b) => {
                let full = b.entries.len() == BATCH;
                if !b.entries.is_empty() {
                    out.push(b);
                }
                if !full {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(site, error = %e, "planner could not read ahead");
                break;
            }
        }
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
    let Some(data) = json.and_then(|j| serde_json::from_str(j).ok()) else {
        return Readable::No;
    };
    if status.and_then(|s| s.parse().ok()) != Some(OrderStatus::Received) {
        return Readable::NotReceived;
    }
    Readable::Received(Box::new(PendingRecord::from_order(seller, order_id, &data)))
}
