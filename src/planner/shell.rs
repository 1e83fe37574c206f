//! The imperative shell around the pure planner: one task per site. It holds the site's
//! lease, feeds stream entries into the pending set, calls [`core::plan`] with the clock's
//! time and commits each wave atomically. Crashing anywhere is safe: entries are acked
//! only after their effect is committed, and a wave commit moves orders out of pending in
//! the same script that creates the wave.

use crate::metric_names as names;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use super::commit::{commit_plan, ship_ctx, ShipCtx};
use super::core::{self, PlanConfig};
use super::intake::{
    absorb, fetch, for_absorb, intake, orders_alone, orders_only, read_ahead, readable, Absorbed,
    Fetched, Got, Readable, Taken, BATCH,
};
use super::pending::PendingRecord;
use super::released::Released;
use crate::config::{Config, SiteConfig};
use crate::store::stream::{decode, Entry, StreamId};
use crate::store::waves::is_fenced;
use crate::store::{keys, Store, StoreError};

/// Lease time-to-live: a dead holder's site is taken over within this.
const LEASE_TTL_MS: u64 = 5_000;
/// After this many deliveries an undecodable entry goes to the dead-letter stream.
pub const MAX_DELIVERIES: usize = 5;
/// An entry delivered but not acked for this long is claimed again.
const CLAIM_IDLE_MS: u64 = 2_000;
/// Absorb scripts in flight at once (each about 6 ms of Redis for 1,000 orders: never one
/// long script that would hold up other sites' ingest, nor a queue of them), and batches
/// of orders alone read ahead that are applied together.
const ABSORBS_IN_FLIGHT: usize = 8;
/// Batches read ahead while a plan commits, at most, and the orders they name at most:
/// orders that would be pending in memory a moment later anyway (a batch of 1,000
/// entries names up to 10,000 orders).
const MAX_AHEAD: usize = 100;
const MAX_AHEAD_ORDERS: usize = 100_000;

pub struct SitePlanner {
    pub store: Store,
    pub site: SiteConfig,
    pub cfg: PlanConfig,
    pub holder: String,
    /// The carrier parcels are booked with, and its limits.
    pub carrier: Option<ShipCtx>,
    fence: Option<String>,
    pending: HashMap<String, PendingRecord>,
    ended: HashSet<(String, String)>,
    /// Something changed since the last plan (else plan only when [`Self::plan_due`]: time
    /// alone can release held orders).
    dirty: bool,
    last_plan: Option<tokio::time::Instant>,
    /// The last plan's commit waved at least half of the orders it planned: a backlog is
    /// being worked off, so the next plan may follow sooner ([`Self::plan_due`]).
    draining: bool,
    /// The published outlook lists orders (no plan runs on an empty queue, so once the queue
    /// empties, the outlook of no orders is published once instead).
    outlook_listed: bool,
    /// The next batches of a backlog, read (and their orders fetched) while the previous
    /// one was handled or while a plan committed; handled in stream order.
    ahead: VecDeque<Fetched>,
    /// The read-ahead during the last commit ended on a full batch (what it absorbed is not
    /// in `ahead`): there may be more to read right away.
    read_more: bool,
    /// The buyers' parcels already released per pickup (`released.rs`).
    released: std::sync::Mutex<Released>,
}

impl SitePlanner {
    pub fn new(store: Store, config: &Config, site: &SiteConfig, holder: String) -> Self {
        let carrier = ship_ctx(config, site);
        SitePlanner {
            store,
            cfg: PlanConfig::from_site(site),
            site: site.clone(),
            holder,
            carrier,
            fence: None,
            pending: HashMap::new(),
            ended: HashSet::new(),
            dirty: true,
            last_plan: None,
            draining: false,
            read_more: false,
            outlook_listed: true,
            ahead: VecDeque::new(),
            released: Default::default(),
        }
    }

    fn id(&self) -> &str {
        &self.site.id
    }

    /// Runs until `shutdown`; errors are logged and retried, never fatal.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let site = self.site.id.clone();
        let mut last_lease = tokio::time::Instant::now() - Duration::from_secs(10);
        let mut last_claim = last_lease;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let now = tokio::time::Instant::now();
            if now - last_lease >= Duration::from_millis(1_000) {
                last_lease = now;
                if let Err(e) = self.keep_lease().await {
                    tracing::warn!(site = %site, error = %e, "planner lease check failed");
                    self.step_down();
                }
            }
            let mut busy = false;
            if self.fence.is_some() && now - last_claim >= Duration::from_millis(CLAIM_IDLE_MS) {
                last_claim = now;
                if let Err(e) = self.reclaim().await {
                    tracing::warn!(site = %site, error = %e, "planner could not claim stale entries");
                }
            }
            // Said as soon as it is known, before a round (a new leader's first round can
            // take a while: the backlog its predecessor left), and again after it.
            metrics::gauge!(names::PLANNER_LEADER, "site" => site.clone())
                .set(if self.fence.is_some() { 1.0 } else { 0.0 });
            // (Again: the claim may have found the lease gone.)
            if self.fence.is_some() {
                match self.round().await {
                    Ok(b) => busy = b,
                    Err(e) => {
                        tracing::warn!(site = %site, error = %e, "planner round failed; retrying")
                    }
                }
            }
            metrics::gauge!(names::PLANNER_LEADER, "site" => site.clone())
                .set(if self.fence.is_some() { 1.0 } else { 0.0 });
            if self.fence.is_none() {
                // Only the leader's view of the queue counts; a former leader shows none.
                self.queue_gauges(0, None);
            }
            if !busy {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
        if self.fence.is_some() {
            let _ = self.store.release_lease(&site, &self.holder).await;
        }
    }

    /// Takes or renews the lease; a newly taken site is loaded from Redis.
    async fn keep_lease(&mut self) -> Result<(), StoreError> {
        let token = self
            .store
            .lease(self.id(), &self.holder, LEASE_TTL_MS)
            .await?;
        let fresh = token.is_some() && token != self.fence;
        self.fence = token;
        if self.fence.is_none() || fresh {
            // Read under another lease: claimed again below (or by the new holder).
            self.ahead.clear();
            // Another holder may have released waves meanwhile.
            self.forget_released();
        }
        if fresh {
            tracing::info!(site = %self.site.id, holder = %self.holder, "planner took the site's lease");
            self.store.ensure_group(self.id()).await?;
            self.reload().await?;
            if self.fence.is_none() {
                return Ok(()); // lost during the reload
            }
            let claimed = self
                .store
                .claim_stale(self.id(), &self.holder.clone(), 0)
                .await?;
            self.handle(claimed).await?;
        }
        Ok(())
    }

    /// Rebuilds the in-memory mirror of pending orders and ended sessions from Redis.
    async fn reload(&mut self) -> Result<(), StoreError> {
        // Another instance may have published since: what is stored is not known.
        self.outlook_listed = true;
        let fields = self.store.pending(self.id()).await?;
        let refs: Vec<(String, String)> = fields
            .iter()
            .filter_map(|f| f.split_once('/'))
            .map(|(s, o)| (s.to_owned(), o.to_owned()))
            .collect();
        // Built aside and swapped in whole: a read failing half-way keeps the old mirror,
        // whose next stale commit asks for a reload again (never a partial mirror).
        let mut pending = HashMap::with_capacity(refs.len());
        let mut renewed = tokio::time::Instant::now();
        for chunk in refs.chunks(BATCH) {
            if !self.still_held(&mut renewed).await? {
                return Ok(());
            }
            let data = self.store.order_data(self.id(), chunk).await?;
            for ((seller, order_id), (json, status)) in chunk.iter().zip(data) {
                if let Readable::Received(rec) =
                    readable(seller, order_id, json.as_deref(), status.as_deref())
                {
                    pending.insert(keys::pending_field(seller, order_id), *rec);
                }
            }
        }
        self.pending = pending;
        self.ended = self
            .store
            .ended_sessions(self.id())
            .await?
            .into_iter()
            .filter_map(|s| s.split_once('/').map(|(a, b)| (a.to_owned(), b.to_owned())))
            .collect();
        self.dirty = true;
        Ok(())
    }

    /// Claims entries delivered but left unacked (a dead consumer's, or this planner's after
    /// a failed read or apply). While batches read ahead are held, only entries before them:
    /// the held ones look idle too, and would be handled twice.
    async fn reclaim(&mut self) -> Result<(), StoreError> {
        let holder = self.holder.clone();
        let first_held = self
            .ahead
            .front()
            .and_then(|b| b.entries.first())
            .map(|e| e.id.clone());
        let claimed = match first_held {
            Some(before) => {
                self.store
                    .claim_stale_before(self.id(), &holder, CLAIM_IDLE_MS, &before)
                    .await?
            }
            None => {
                self.store
                    .claim_stale(self.id(), &holder, CLAIM_IDLE_MS)
                    .await?
            }
        };
        self.handle(claimed).await
    }

    /// Reads new entries, applies them, plans and commits. Returns true when there may be
    /// more to read right away.
    ///
    /// While a backlog is read, the next batch is read during the handling of this one, and
    /// further batches while a plan commits (their entries wait in the group's pending list
    /// until handled: a crash or a lost lease leaves them to be claimed again).
    async fn round(&mut self) -> Result<bool, StoreError> {
        let run = self.orders_only_run();
        if !run.is_empty() {
            let full = run.last().is_some_and(|b| b.entries.len() == BATCH);
            self.apply_orders_only(run).await?;
            let more = full || !self.ahead.is_empty();
            if !more || self.plan_due_now() {
                self.plan_and_commit().await?;
            }
            return Ok(more || !self.ahead.is_empty() || std::mem::take(&mut self.read_more));
        }
        let batch = match self.ahead.pop_front() {
            Some(b) => Next::Held(b),
            None => Next::Read(self.store.read_new(self.id(), &self.holder, BATCH).await?),
        };
        let full = batch.len() == BATCH;
        if full && self.ahead.is_empty() {
            // The next batch is read while this one is handled, and taken too when this one
            // holds orders alone (the order of the two then does not matter).
            let absorb_next = self.fence.clone().filter(|_| batch.orders_alone());
            let store = self.store.clone();
            let (site, holder) = (self.site.id.clone(), self.holder.clone());
            let (next, handled) = tokio::join!(
                async {
                    let entries = store.read_new(&site, &holder, BATCH).await?;
                    intake(&store, &site, entries, absorb_next.as_deref()).await
                },
                self.handle_next(batch)
            );
            let taken = match next {
                // Its orders are in Redis' pending: taken in whatever became of this batch.
                Ok(Got::Taken(t)) => self.take_in(vec![t]).await,
                // One read by a planner that has just stepped down is left to the lease's
                // holder.
                Ok(Got::Fetched(b)) if !b.entries.is_empty() && self.fence.is_some() => {
                    self.ahead.push_back(b);
                    Ok(())
                }
                Ok(Got::Fetched(_)) => Ok(()),
                // A failed read-ahead is read again (or claimed) later.
                Err(e) => {
                    tracing::warn!(site = %self.site.id, error = %e, "planner could not read ahead");
                    Ok(())
                }
            };
            if let (Err(_), Err(e)) = (&handled, &taken) {
                tracing::warn!(site = %self.site.id, error = %e, "planner could not take in the batch read ahead");
            }
            handled?;
            taken?;
        } else {
            self.handle_next(batch).await?;
        }
        let more = full || !self.ahead.is_empty();
        if !more || self.plan_due_now() {
            self.plan_and_commit().await?;
        }
        Ok(more || !self.ahead.is_empty() || std::mem::take(&mut self.read_more))
    }

    /// The read-ahead batches at the front that hold orders alone (no cancel, session end
    /// or unreadable entry), [`ABSORBS_IN_FLIGHT`] at most, taken out of `ahead`; none
    /// unless there are two or more (one batch goes the usual way).
    fn orders_only_run(&mut self) -> Vec<Fetched> {
        let n = self
            .ahead
            .iter()
            .take(ABSORBS_IN_FLIGHT)
            .take_while(|b| orders_only(b))
            .count();
        if n < 2 {
            return Vec::new();
        }
        self.ahead.drain(..n).collect()
    }

    /// Applies batches of orders alone ([`Self::orders_only_run`]) with their absorb scripts
    /// in flight together: a backlog read ahead during a commit is absorbed at the pace
    /// Redis runs the scripts, not one round trip after another. Their order does not
    /// matter (each names other orders and entries; there is nothing else in them), so the
    /// scripts may run in any order, on any connection.
    async fn apply_orders_only(&mut self, run: Vec<Fetched>) -> Result<(), StoreError> {
        let Some(fence) = self.fence.clone() else {
            return Ok(());
        };
        let prepared = run
            .into_iter()
            .flat_map(|b| for_absorb(&b.entries, b.orders, &[]))
            .collect();
        self.absorb_all(&fence, prepared).await
    }

    /// Runs one absorb script per (entry ids to ack, orders read as `received`), up to
    /// [`ABSORBS_IN_FLIGHT`] in flight together, and takes their answers
    /// ([`Self::take_absorbed`]): an order read ahead seconds ago may have been cancelled
    /// since (its cancel entry comes later; planning it now would only make its wave's
    /// commit stale and reload the site).
    async fn absorb_all(
        &mut self,
        fence: &str,
        prepared: Vec<(Vec<String>, Vec<PendingRecord>)>,
    ) -> Result<(), StoreError> {
        let (store, site) = (&self.store, self.site.id.as_str());
        let mut answers = Vec::with_capacity(prepared.len());
        for chunk in prepared.chunks(ABSORBS_IN_FLIGHT) {
            answers.extend(
                join_all(
                    chunk
                        .iter()
                        .map(|(absorbed, records)| absorb(store, site, fence, absorbed, records)),
                )
                .await,
            );
        }
        let done = prepared
            .into_iter()
            .zip(answers)
            .map(|((_, records), answer)| Absorbed { records, answer })
            .collect();
        self.take_absorbed(done).await
    }

    /// After an absorb script failed without an answer (a timeout: it may still have run,
    /// leaving its orders in Redis' pending and not here) or the read-ahead task failed:
    /// the mirror is read again from Redis; if that fails too, the site is given up (the
    /// next lease reloads it).
    async fn reload_mirror(&mut self) {
        if self.fence.is_none() {
            return;
        }
        if let Err(e) = self.reload().await {
            tracing::warn!(site = %self.site.id, error = %e, "planner could not reload the site");
            self.step_down();
        }
    }

    /// Puts into pending the orders each absorb script found still `received`. A failed
    /// script's entries stay unacked, to be claimed again, and the first error is returned
    /// once the rest are taken and the mirror reloaded (a script that timed out may still
    /// have run); `FENCED` steps down.
    async fn take_absorbed(&mut self, done: Vec<Absorbed>) -> Result<(), StoreError> {
        if !done.is_empty() {
            self.dirty = true;
        }
        let mut first_error = None;
        for Absorbed { records, answer } in done {
            let now_pending = match answer {
                Ok(p) => p,
                Err(e) if is_fenced(&e) => {
                    tracing::warn!(site = %self.site.id, "planner lost its lease: another instance plans this site now");
                    self.step_down();
                    return Ok(());
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            debug_assert_eq!(now_pending.len(), records.len(), "one flag per order");
            for (rec, pending) in records.into_iter().zip(now_pending) {
                if pending {
                    let field = keys::pending_field(&rec.plan.id.seller, &rec.plan.id.order_id);
                    self.pending.insert(field, rec);
                }
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => {
                self.reload_mirror().await;
                Err(e)
            }
        }
    }

    /// Handles a batch held (fetched) or just read: a batch of orders alone read just now
    /// is taken ([`intake`]: one script reads and absorbs its orders), any other is fetched
    /// and applied in stream order ([`Self::apply`]).
    async fn handle_next(&mut self, batch: Next) -> Result<(), StoreError> {
        let entries = match batch {
            Next::Held(b) => return self.apply(b).await,
            Next::Read(entries) => entries,
        };
        let fence = self.fence.clone();
        match intake(&self.store, self.id(), entries, fence.as_deref()).await? {
            Got::Taken(taken) => self.take_in(vec![taken]).await,
            Got::Fetched(b) => self.apply(b).await,
        }
    }

    /// Takes in batches taken ([`super::intake::take`]): their orders found `received` enter
    /// pending here as they did in Redis ([`Self::take_absorbed`]); an entry naming an
    /// unreadable order counts toward its dead-lettering ([`Self::poison`]); entries whose
    /// ack failed are claimed again later (and applied again, which changes nothing), and an
    /// ack refused as `FENCED` steps down.
    async fn take_in(&mut self, taken: Vec<Taken>) -> Result<(), StoreError> {
        let (mut absorbed, mut unreadable, mut fenced) = (Vec::new(), Vec::new(), false);
        for t in taken {
            absorbed.extend(t.absorbed);
            unreadable.extend(t.unreadable);
            match t.acked {
                Ok(()) => {}
                Err(e) if is_fenced(&e) => fenced = true,
                Err(e) => {
                    tracing::warn!(site = %self.site.id, error = %e, "planner could not ack a batch it took; claimed again later")
                }
            }
        }
        let result = self.take_absorbed(absorbed).await;
        if fenced && self.fence.is_some() {
            tracing::warn!(site = %self.site.id, "planner lost its lease: another instance plans this site now");
            self.step_down();
        }
        // After a failed script the mirror was reloaded and its entries are claimed again
        // later: the unreadable ones are counted then.
        result?;
        // Counted like any delivery (a batch just read is on its first: dead-lettered only
        // on a later one, through the claims).
        for e in &unreadable {
            if self.fence.is_none() {
                break; // stepped down: the entry is the new holder's
            }
            self.poison(e, "order data missing or unreadable").await?;
        }
        Ok(())
    }

    /// Whether a plan is due by time: a second since the last plan (or none yet), or a
    /// quarter of a second while the plans drain a backlog (each waves at least half of
    /// what it plans, so planning stays linear in the orders waved): the next plan then
    /// follows its commit instead of waiting out the second (issue 20: the waving tail).
    fn plan_due(&self) -> bool {
        let every = if self.draining {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        };
        self.last_plan.is_none_or(|t| t.elapsed() >= every)
    }

    /// While a backlog is read: plan only when [`Self::plan_due`] (every plan covers all
    /// pending orders, so planning after each batch of 1,000 made catching up with a surge
    /// quadratic: 300 plans of up to 300,000 orders), and not before the batches read
    /// ahead during the last commit are absorbed (a commit of seconds was followed by a
    /// plan of its first batch alone). One batch may wait: the one each round reads while
    /// it applies the last.
    fn plan_due_now(&self) -> bool {
        self.plan_due() && self.ahead.len() <= 1
    }

    /// Handles entries in batches of [`BATCH`], in stream order (a claim can return tens of
    /// thousands: one script over them all would exceed Lua's limits), renewing the lease
    /// every second meanwhile. Stops when the lease is found gone (the rest stays unacked,
    /// for the lease's holder to claim).
    async fn handle(&mut self, entries: Vec<StreamId>) -> Result<(), StoreError> {
        let mut entries = entries.into_iter();
        let mut renewed = tokio::time::Instant::now();
        loop {
            let chunk: Vec<StreamId> = entries.by_ref().take(BATCH).collect();
            if chunk.is_empty() {
                return Ok(());
            }
            if !self.still_held(&mut renewed).await? {
                return Ok(());
            }
            let batch = fetch(&self.store, self.id(), chunk).await?;
            self.apply(batch).await?;
        }
    }

    /// For long loops under the lease (a takeover's reload and claim): renews it once a
    /// second since `renewed`; false (and no fence) when it is found gone.
    async fn still_held(&mut self, renewed: &mut tokio::time::Instant) -> Result<bool, StoreError> {
        if renewed.elapsed() < Duration::from_millis(1_000) {
            return Ok(true);
        }
        *renewed = tokio::time::Instant::now();
        let token = self
            .store
            .lease(self.id(), &self.holder, LEASE_TTL_MS)
            .await?;
        if token != self.fence {
            // Gone, or lapsed and taken again here with a new token: either way the next
            // lease check starts over (a new holder claims what this one held).
            self.step_down();
            return Ok(false);
        }
        Ok(true)
    }

    /// No longer the site's planner: what was read ahead is left to the lease's holder.
    fn step_down(&mut self) {
        self.fence = None;
        self.ahead.clear();
        self.forget_released();
    }

    fn forget_released(&mut self) {
        self.released
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Applies a fetched batch in stream order: cancels and session ends first, then its
    /// orders enter pending. Absorb scripts (one per
    /// [`ABSORB_ORDERS`](super::intake::ABSORB_ORDERS) orders) ack them all, checking the
    /// fencing token and that each order is still `received`.
    async fn apply(&mut self, batch: Fetched) -> Result<(), StoreError> {
        let Fetched {
            entries, orders, ..
        } = batch;
        let Some(fence) = self.fence.clone() else {
            return Ok(()); // not the holder: its entries are claimed by the one who is
        };
        if entries.is_empty() {
            return Ok(());
        }
        self.dirty = true;
        let mut done = Vec::new();
        for e in &entries {
            match decode(e) {
                Entry::Orders { .. } => {}
                Entry::Cancel { seller, order_id } => {
                    self.pending
                        .remove(&keys::pending_field(&seller, &order_id));
                    self.unwave(&seller, &order_id).await?;
                    done.push(e.id.clone());
                }
                Entry::SessionEnded { seller, label } => {
                    self.ended.insert((seller, label));
                    done.push(e.id.clone());
                }
                Entry::Poison => self.poison(e, "undecodable entry").await?,
            }
        }
        // An entry naming an unreadable order stays unacked (retried, then dead-lettered);
        // its other orders are absorbed (absorbing again on a retry changes nothing). An
        // unreadable order leaves Redis' pending, where a take may have put it.
        let mut unreadable = vec![false; entries.len()];
        let mut unpend = Vec::new();
        for order in &orders {
            if let Some(field) = &order.unreadable {
                unreadable[order.entry] = true;
                unpend.push(field.clone());
            }
        }
        self.store.unpend(&self.site.id, &unpend).await?;
        let mut prepared = for_absorb(&entries, orders, &unreadable);
        if !done.is_empty() {
            match prepared.first_mut() {
                Some(first) => first.0.extend(done),
                None => prepared.push((done, Vec::new())),
            }
        }
        if !prepared.is_empty() {
            self.absorb_all(&fence, prepared).await?;
        }
        // Dead-lettering acks the entry: only once its readable orders are pending (after a
        // failed absorb the entry is delivered again, and they are absorbed then).
        for (e, _) in entries.iter().zip(&unreadable).filter(|(_, u)| **u) {
            if self.fence.is_none() {
                break; // stepped down: the entry is the new holder's
            }
            self.poison(e, "order data missing or unreadable").await?;
        }
        Ok(())
    }

    /// An undecodable entry: left for redelivery until its 5th delivery, then moved to the
    /// dead-letter stream (and counted) so it never stalls the site.
    async fn poison(&mut self, e: &StreamId, why: &str) -> Result<(), StoreError> {
        let site = self.site.id.clone();
        let n = self.store.deliveries(&site, &e.id).await?;
        if n >= MAX_DELIVERIES {
            tracing::error!(site = %site, entry = %e.id, why, "stream entry moved to the dead-letter stream");
            metrics::counter!(names::PLANNER_DEAD_LETTERS, "site" => site.clone()).increment(1);
            self.store.dead_letter(&site, e, why).await?;
        }
        Ok(())
    }

    /// A cancelled order that was already in a wave leaves its pick list and parcel; a
    /// packed or booked parcel is replaced by a new one (see [`super::repack`]).
    async fn unwave(&mut self, seller: &str, order_id: &str) -> Result<(), StoreError> {
        let site = self.site.id.clone();
        let Some(rec) = self.store.order(&site, seller, order_id).await? else {
            return Ok(());
        };
        let (Some(wave_id), Some(parcel_id)) = (rec.wave_id, rec.parcel_id) else {
            return Ok(());
        };
        super::repack::unwave(
            &self.store,
            &site,
            seller,
            order_id,
            &rec.data.session,
            &wave_id,
            &parcel_id,
        )
        .await?;
        Ok(())
    }

    /// Queue lag: orders not yet waved and the age of the oldest.
    fn queue_gauges(&self, pending: usize, oldest: Option<chrono::DateTime<Utc>>) {
        let age = oldest.map_or(0.0, |t| {
            (Utc::now() - t).num_milliseconds().max(0) as f64 / 1e3
        });
        metrics::gauge!(names::PLANNER_PENDING_ORDERS, "site" => self.site.id.clone())
            .set(pending as f64);
        metrics::gauge!(names::PLANNER_OLDEST_PENDING_AGE_SECONDS, "site" => self.site.id.clone())
            .set(age);
        if pending == 0 {
            // No plan runs on an empty queue: the last plan's at-risk count is stale.
            metrics::gauge!(names::ORDERS_AT_RISK, "site" => self.site.id.clone()).set(0.0);
        }
    }

    async fn plan_and_commit(&mut self) -> Result<(), StoreError> {
        let oldest = self.pending.values().map(|r| r.plan.received_at).min();
        self.queue_gauges(self.pending.len(), oldest);
        let Some(fence) = self.fence.clone() else {
            return Ok(());
        };
        if self.pending.is_empty() {
            if self.outlook_listed {
                // What a plan of nothing says: the last plan's waved, cancelled or
                // unwaved orders are no longer ahead.
                let now = Utc::now();
                let plan = core::plan_refs(&self.cfg, [], &self.ended, now);
                self.outlook_listed =
                    !super::outlook::publish(&self.store, &self.site.id, &plan, now).await;
            }
            return Ok(());
        }
        if !self.dirty && !self.plan_due() {
            return Ok(());
        }
        self.dirty = false;
        self.last_plan = Some(tokio::time::Instant::now());
        // While this plan is made and committed (seconds after a surge), another task keeps
        // the lease (a plan outlasting it would be fenced, and the site reloaded) and reads
        // the next batches: reading and committing overlap instead of taking turns.
        let stop = CancellationToken::new();
        let room = MAX_AHEAD.saturating_sub(self.ahead.len());
        let held: usize = self.ahead.iter().map(|b| b.orders.len()).sum();
        let room_orders = MAX_AHEAD_ORDERS.saturating_sub(held);
        // Batches read meanwhile are absorbed as they come while everything held before
        // them is orders alone too (their order then does not matter); otherwise they wait
        // for their turn behind what is held.
        let absorb_with = self.ahead.iter().all(orders_only).then(|| fence.clone());
        let (store, site, holder) = (
            self.store.clone(),
            self.site.id.clone(),
            self.holder.clone(),
        );
        let meanwhile = tokio::spawn({
            let (stop, fence) = (stop.clone(), fence.clone());
            async move {
                // The lease is renewed until the read-ahead has finished what it has in
                // flight, not only until the commit is.
                let read_done = CancellationToken::new();
                tokio::join!(
                    async {
                        let limit = (room, room_orders);
                        let read = read_ahead(
                            &store,
                            &site,
                            &holder,
                            limit,
                            absorb_with.as_deref(),
                            &stop,
                        )
                        .await;
                        read_done.cancel();
                        read
                    },
                    renew_lease(&store, &site, &holder, &fence, &read_done, &stop)
                )
            }
        });
        // Stopped when the plan is committed, or if this future is dropped: the task then ends
        // after its current read and the fetches (and absorbs) in flight; entries read and not
        // absorbed are claimed again later, and what was absorbed is in Redis' pending (read
        // again by whoever reloads the site).
        let stopping = stop.drop_guard();
        let result = self.plan_and_commit_now(&fence).await;
        drop(stopping);
        match meanwhile.await {
            Ok((_, Held::Lost)) => {
                // Read under a lease that is gone: claimed again by whoever holds it now.
                tracing::warn!(site = %self.site.id, "planner lost its lease while planning");
                self.step_down();
            }
            Ok((read, Held::Kept)) => {
                if read.taken.len() + read.fetched.len() > 0 {
                    tracing::debug!(site = %self.site.id, taken = read.taken.len(),
                        held = read.fetched.len(), "read ahead while planning");
                }
                self.read_more = read.more;
                // The orders taken are pending now, before anything held is applied; a
                // failed script's entries are claimed again later.
                if let Err(e) = self.take_in(read.taken).await {
                    tracing::warn!(site = %self.site.id, error = %e, "planner could not absorb a batch read ahead");
                }
                if self.fence.is_some() {
                    self.ahead.extend(read.fetched);
                }
            }
            // Its entries are claimed again later; what it may have absorbed is in Redis'
            // pending, so the mirror is read again from there.
            Err(e) => {
                tracing::warn!(site = %self.site.id, error = %e, "planner read-ahead failed");
                self.reload_mirror().await;
            }
        }
        if self.fence.is_none() {
            self.step_down(); // fenced while committing, or lost during a reload
        }
        result
    }

    async fn plan_and_commit_now(&mut self, fence: &str) -> Result<(), StoreError> {
        let now = Utc::now();
        self.released
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .prune(now);
        let started = std::time::Instant::now();
        // Planned in place: no copy of the pending orders.
        let plan = cpu_bound(|| {
            core::plan_refs(
                &self.cfg,
                self.pending.values().map(|r| &r.plan),
                &self.ended,
                now,
            )
        });
        tracing::debug!(site = %self.site.id, pending = self.pending.len(), waves = plan.waves.len(),
            ms = started.elapsed().as_millis() as u64, "planned");
        self.outlook_listed = true;
        self.draining = false;
        if plan.waves.is_empty() {
            super::outlook::publish(&self.store, &self.site.id, &plan, now).await;
            return Ok(());
        }
        // The outlook is written beside the commit, not before it: behind the read-ahead's
        // work on its connection, its write took up to 70 ms of each plan in the waving
        // tail (issue 20). A failed write is retried by the next plan, as before.
        let outlook = super::outlook::prepare(&self.site.id, &plan, now);
        let planned = self.pending.len();
        let (_, result) = tokio::join!(
            async {
                if let Some(json) = &outlook {
                    let _ = self.store.put_outlook(&self.site.id, json).await;
                }
            },
            commit_plan(
                &self.store,
                &self.site.id,
                self.carrier.as_ref(),
                fence,
                &self.pending,
                plan,
                now,
                &self.released,
            )
        );
        match result {
            Ok(committed) => {
                self.draining = committed.len() * 2 >= planned;
                for field in committed {
                    self.pending.remove(&field);
                }
                Ok(())
            }
            // A plan that stopped may have left waves committed whose parcels the released
            // map never heard of: it is read again from the shipments.
            Err(CommitStop::Stale) => {
                self.forget_released();
                self.reload().await
            }
            Err(CommitStop::Fenced) => {
                tracing::warn!(site = %self.site.id, "planner lost its lease: another instance plans this site now");
                self.fence = None;
                Ok(())
            }
            Err(CommitStop::Store(e)) => {
                self.forget_released();
                Err(e)
            }
        }
    }
}

enum Held {
    Kept,
    Lost,
}

/// The batch a round handles: one read ahead and fetched before, or one read just now.
enum Next {
    Held(Fetched),
    Read(Vec<StreamId>),
}

impl Next {
    fn len(&self) -> usize {
        match self {
            Next::Held(b) => b.entries.len(),
            Next::Read(entries) => entries.len(),
        }
    }

    /// Every entry names orders (an unreadable one is dead-lettered in any order).
    fn orders_alone(&self) -> bool {
        match self {
            Next::Held(b) => b.orders_alone,
            Next::Read(entries) => orders_alone(entries),
        }
    }
}

/// Renews the planner's lease every second until `until`. Safety never rests on this: each
/// commit checks the fencing token. When the lease is found gone (another holder, or it
/// lapsed and was taken again with a new token), the read-ahead is stopped (`stop`) and
/// `Lost` returned; the plan's remaining commits are refused as fenced.
async fn renew_lease(
    store: &Store,
    site: &str,
    holder: &str,
    fence: &str,
    until: &CancellationToken,
    stop: &CancellationToken,
) -> Held {
    loop {
        tokio::select! {
            _ = until.cancelled() => return Held::Kept,
            _ = tokio::time::sleep(Duration::from_millis(1_000)) => {}
        }
        match store.lease(site, holder, LEASE_TTL_MS).await {
            Ok(token) if token.as_deref() == Some(fence) => {}
            Ok(_) => {
                stop.cancel();
                return Held::Lost;
            }
            Err(e) => {
                tracing::warn!(site, error = %e, "planner could not renew its lease while planning")
            }
        }
    }
}

/// Runs `f`, CPU-bound for up to a second or more (a plan of 300,000 orders), without
/// holding up the tasks queued on this worker thread (the ingest connections): on the
/// multi-thread runtime they move to another thread meanwhile (`block_in_place`). On a
/// current-thread runtime (most `#[tokio::test]`s) it runs inline: `block_in_place` would
/// panic there.
fn cpu_bound<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

pub enum CommitStop {
    Stale,
    Fenced,
    Store(StoreError),
}
