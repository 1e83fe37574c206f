//! Turning a computed plan into committed waves: ids, wave and parcel documents, one
//! atomic script per wave.

use crate::metric_names as names;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use futures_util::future::join_all;
use futures_util::stream::{FuturesOrdered, StreamExt};

use super::core::{Plan, WavePlan};
use super::limits::{split, OrderPiece, ParcelLimits};
use super::pending::PendingRecord;
use super::released::Released;
use super::shell::CommitStop;
use crate::config::{Config, SiteConfig};
use crate::domain::address::{normalize_province, Province};
use crate::domain::money::Vnd;
use crate::domain::order::Item;
use crate::domain::rates::{self, shipment_id, ServiceRates};
use crate::domain::schedule::business_date;
use crate::shipping::carrier::{BookingRequest, CarrierClient, Party};
use crate::shipping::choice::{carrier_pickup, choose, CarrierOption};
use crate::shipping::handover::first_open_pickup;
use crate::shipping::quotes::{self, QuoteCache};
use crate::store::keys::pending_field;
use crate::store::records::{
    make_id, IdPrefix, ParcelOrderParts, ParcelParts, PickLineDoc, WaveDoc,
};
use crate::store::waves::{CommitOutcome, ShipmentKey, WaveCommit, WaveOrder};
use crate::store::Store;

/// Wave commits in flight at once (each one atomic script; a bounded window instead of
/// one round trip per wave after another, built while earlier ones run).
const COMMITS_IN_FLIGHT: usize = 16;

/// Commits every wave of `plan`; returns the pending fields that left pending. Stops at
/// the first stale or fenced commit (the caller reloads or steps down).
///
/// Wave and parcel numbers are reserved per business day for [`NUMBERED_AT_ONCE`] waves
/// at a time (two counter calls per day and batch, not two per wave), in plan order, and
/// the waves go in windows of [`COMMITS_IN_FLIGHT`] scripts. Each script checks the fence
/// and that its orders are still pending on its own, so a wave committed beside a stale or
/// fenced one is a valid commit; after either the caller rebuilds its mirror from Redis (or
/// steps down) anyway.
/// A store error ends the plan the same way (the caller retries with its mirror intact:
/// a wave whose script did run is refused as `exists` or stale next time, then reloaded).
#[allow(clippy::too_many_arguments)]
pub async fn commit_plan(
    store: &Store,
    site: &str,
    carrier: Option<&ShipCtx>,
    fence: &str,
    pending: &HashMap<String, PendingRecord>,
    plan: Plan<'_>,
    now: DateTime<Utc>,
    released: &Mutex<Released>,
) -> Result<Vec<String>, CommitStop> {
    let ctx = Ctx {
        store,
        site,
        carrier,
        fence,
        now,
        departed: Default::default(),
        released,
    };
    // Each wave's routes, documents and script are built only when a slot of the window
    // frees up, so building the next waves overlaps the scripts in flight (Redis works
    // while this task serializes documents); the next waves are numbered the same way.
    let mut chunks = plan.waves.chunks(NUMBERED_AT_ONCE);
    let mut queue = std::collections::VecDeque::new();
    let mut in_flight = FuturesOrdered::new();
    let mut committed = Vec::new();
    loop {
        while in_flight.len() < COMMITS_IN_FLIGHT {
            if queue.is_empty() {
                // (Redis runs the scripts already sent meanwhile; the futures in the window,
                // their routes, `WAIT`s and retries included, wait for this.)
                let Some(chunk) = chunks.next() else { break };
                let numbered = number(&ctx, pending, chunk)
                    .await
                    .map_err(CommitStop::Store)?;
                queue.extend(numbered);
            }
            let Some(w) = queue.pop_front() else { break };
            in_flight.push_back(commit_one(&ctx, w));
        }
        let Some((wave, wave_id, fields, parcels, outcome)) = in_flight.next().await else {
            break;
        };
        match outcome.map_err(CommitStop::Store)? {
            CommitOutcome::Committed => {
                let mut r = released.lock().unwrap_or_else(|e| e.into_inner());
                for p in &parcels {
                    r.add(p.pickup_ms, &p.seller, &p.buyer_key, &p.parcel_id);
                }
                drop(r);
                metrics::counter!(names::WAVES_RELEASED, "site" => site.to_owned()).increment(1);
                metrics::histogram!(names::WAVE_ORDERS, "site" => site.to_owned())
                    .record(fields.len() as f64);
                tracing::info!(site, wave = %wave_id, orders = fields.len(), reason = ?wave.release_reason, "wave released");
                committed.extend(fields);
            }
            // The first refusal ends the plan; scripts already in flight may still commit
            // (each checked on its own), which the caller's reload (or stepping down) sees.
            CommitOutcome::Stale | CommitOutcome::Exists => return Err(CommitStop::Stale),
            CommitOutcome::Fenced => return Err(CommitStop::Fenced),
        }
    }
    Ok(committed)
}

/// How a site's parcels ship: its pinned carrier, else its first; with several carriers and
/// no pin, each parcel goes with the cheapest that makes its deadline (`CarrierChoice`).
/// Boxes are split by the tightest weight and COD limits among the carriers, so any of them
/// can take any box.
pub fn ship_ctx(config: &Config, site: &SiteConfig) -> Option<ShipCtx> {
    let ctx = |id: &String| -> Option<CarrierCtx> {
        let c = config.carriers.iter().find(|c| &c.id == id)?;
        let service = c.service();
        let rates = c.rates();
        let table = crate::shipping::consolidate::rates_for(&rates, &service)?.clone();
        Some(CarrierCtx {
            carrier: c.id.clone(),
            service,
            pickups: site.carrier_pickup_times(&c.id),
            table,
            client: crate::shipping::carrier::CarrierClient::from_config(c),
        })
    };
    let tare = |id: &str| {
        config
            .carriers
            .iter()
            .find(|c| c.id == id)
            .map_or(0, |c| c.packaging_tare_g)
    };
    let options: Vec<CarrierCtx> = site.carriers.iter().filter_map(ctx).collect();
    let primary_id = site.pinned_carrier.as_ref().or(site.carriers.first())?;
    let primary = options.iter().find(|o| &o.carrier == primary_id)?.clone();
    let mut limits = ParcelLimits::for_service(&primary.table, tare(&primary.carrier));
    let origin = crate::domain::address::normalize_province(&site.province);
    let choice = match origin {
        Some(origin) if site.pinned_carrier.is_none() && options.len() > 1 => {
            for o in &options {
                limits.max_weight_g = limits.max_weight_g.min(u64::from(o.table.max_weight_g));
                limits.max_cod = limits.max_cod.min(o.table.max_cod);
            }
            Some(std::sync::Arc::new(CarrierChoice {
                origin,
                sender: crate::shipping::carrier::Party {
                    name: site.name.clone(),
                    phone: site.phone.clone(),
                    street: site.street.clone(),
                    ward: site.ward.clone(),
                    province: origin.name.to_owned(),
                },
                options,
                quotes: Default::default(),
                quote_timeout: Duration::from_secs(3),
            }))
        }
        _ => None,
    };
    Some(ShipCtx {
        carrier: primary.carrier,
        service: primary.service,
        pickups: primary.pickups,
        limits,
        choice,
    })
}

/// Waves numbered at a time: their parcels are boxed and their numbers reserved together
/// (two counter calls per business day), then they are committed, the next ones numbered
/// once the last of these has been sent. Boxing all of a plan's waves first kept Redis
/// idle for 60–130 ms before each commit of a surge's plan of 70,000–100,000 orders (issue
/// 20).
const NUMBERED_AT_ONCE: usize = 32;

/// Boxes `waves`, finds each one's pickup (its planned one, or the carrier's next whose
/// truck has not left) and reserves their wave and parcel numbers, per business day (waves
/// are listed under their pickup's business day: the day staff pack them for; a wave moved
/// past a truck that left early goes under its new pickup's day), in plan order.
async fn number<'a, 'p>(
    ctx: &Ctx<'_>,
    pending: &'p HashMap<String, PendingRecord>,
    waves: &'a [WavePlan<'p>],
) -> Result<Vec<Numbered<'a, 'p>>, crate::store::StoreError> {
    let mut at = Vec::with_capacity(waves.len());
    for w in waves {
        at.push(pickups(ctx, w.pickup_at).await?);
    }
    let dates: Vec<NaiveDate> = at.iter().map(|p| business_date(p.wave)).collect();
    let boxes: Vec<Vec<Box<'p>>> = waves
        .iter()
        .map(|w| boxes(ctx.carrier, w, pending))
        .collect();
    // Per day: (waves, parcels) needed, then the first number of each reserved.
    let mut need: BTreeMap<NaiveDate, (u64, u64)> = BTreeMap::new();
    for (date, b) in dates.iter().zip(&boxes) {
        let e = need.entry(*date).or_default();
        e.0 += 1;
        e.1 += b.len() as u64;
    }
    let mut next: BTreeMap<NaiveDate, (u64, u64)> = BTreeMap::new();
    for (date, (waves, parcels)) in need {
        let w = ctx.store.next_number(ctx.site, "wave", date, waves).await?;
        let p = if parcels > 0 {
            ctx.store
                .next_number(ctx.site, "parcel", date, parcels)
                .await?
        } else {
            1
        };
        next.insert(date, (w, p));
    }
    let mut numbered = Vec::with_capacity(waves.len());
    for (((wave, date), boxes), at) in waves.iter().zip(dates).zip(boxes).zip(at) {
        let (n_wave, first_parcel) = next.get(&date).copied().unwrap_or((1, 1));
        if let Some(e) = next.get_mut(&date) {
            *e = (n_wave + 1, first_parcel + boxes.len() as u64);
        }
        numbered.push(Numbered {
            wave,
            date,
            boxes,
            wave_id: make_id('W', ctx.site, date, n_wave),
            first_parcel,
            at,
        });
    }
    Ok(numbered)
}

/// What every wave commit of one plan shares.
struct Ctx<'a> {
    store: &'a Store,
    site: &'a str,
    carrier: Option<&'a ShipCtx>,
    fence: &'a str,
    now: DateTime<Utc>,
    /// Whether a shipment has left (handed over), as asked once per plan (one that leaves
    /// meanwhile is refused by the wave commit, and the next plan asks again).
    departed: Mutex<HashMap<String, bool>>,
    /// The buyers' parcels already released per pickup (the site planner's).
    released: &'a Mutex<Released>,
}

/// A parcel a wave commit releases: its buyer at its pickup.
struct ReleasedParcel {
    pickup_ms: i64,
    seller: String,
    buyer_key: String,
    parcel_id: String,
}

/// A planned wave with its id and first parcel number.
struct Numbered<'a, 'p> {
    wave: &'a WavePlan<'p>,
    date: NaiveDate,
    boxes: Vec<Box<'p>>,
    wave_id: String,
    first_parcel: u64,
    /// Its pickups (`pickups`).
    at: Pickups,
}

/// Routes, builds and commits one wave; returns it with its pending fields and the
/// script's outcome.
async fn commit_one<'a, 'p>(
    ctx: &Ctx<'_>,
    mut w: Numbered<'a, 'p>,
) -> (
    &'a WavePlan<'p>,
    String,
    Vec<String>,
    Vec<ReleasedParcel>,
    Result<CommitOutcome, crate::store::StoreError>,
) {
    let fields = || {
        w.wave
            .orders()
            .map(|o| pending_field(&o.seller, &o.order_id))
    };
    let at = w.at;
    let routes = route(ctx.site, ctx.carrier, &w.boxes, &at).await;
    let parcel_prefix = IdPrefix::new('P', ctx.site, w.date);
    let new_parcels: Vec<ReleasedParcel> = w
        .boxes
        .iter()
        .enumerate()
        .filter_map(|(n, b)| {
            let first = b.recs.first()?;
            let pickup = routes.get(n).and_then(Option::as_ref);
            Some(ReleasedParcel {
                pickup_ms: pickup.map_or(at.wave, |r| r.pickup_at).timestamp_millis(),
                seller: first.plan.id.seller.clone(),
                buyer_key: first.plan.buyer_key.clone(),
                parcel_id: parcel_prefix.id(w.first_parcel + n as u64),
            })
        })
        .collect();
    let marks = match after_release(ctx, &mut w.boxes, &new_parcels).await {
        Ok(marks) => marks,
        Err(e) => return (w.wave, w.wave_id, fields().collect(), Vec::new(), Err(e)),
    };
    let mut built = build(
        ctx.site,
        ctx.carrier,
        &w.wave_id,
        w.first_parcel,
        w.date,
        w.wave,
        at.wave,
        &w.boxes,
        &routes,
        ctx.now,
    );
    let fields: Vec<String> = fields().collect();
    let commit = WaveCommit {
        wave_id: &w.wave_id,
        date: w.date,
        released_ms: ctx.now.timestamp_millis(),
        pickup_ms: at.wave.timestamp_millis(),
        doc: serde_json::to_string(&built.doc).unwrap_or_default(),
        qty_total: built.sku_qty.iter().map(|(_, q)| u64::from(*q)).sum(),
        sku_qty: std::mem::take(&mut built.sku_qty),
        orders: std::mem::take(&mut built.orders),
        parcels: std::mem::take(&mut built.parcels),
        shipments: std::mem::take(&mut built.shipments),
        parcel_shipment: std::mem::take(&mut built.parcel_shipment),
        marks,
    };
    let outcome = ctx.store.commit_wave(ctx.site, ctx.fence, &commit).await;
    (w.wave, w.wave_id, fields, new_parcels, outcome)
}

/// The earlier parcels a buyer's new parcel names ("ordered after P-… was released"), at
/// most: the latest of them still shipping (a repack's parcel in the place of the one it
/// replaced), among the latest [`LOOKED_AT_EARLIER`]; and the new parcels one wave's mark
/// on an earlier parcel names, at most. A buyer with hundreds of parcels at one pickup (an
/// export whose orders all carry one phone and address) made each wave read and mark every
/// earlier parcel: wave commits grew to 90 ms of Redis each and the site's planner stalled
/// for minutes (review X1). Each parcel is now read, and marked, a bounded number of times.
const NAMED_EARLIER: usize = 3;
const LOOKED_AT_EARLIER: usize = 12;

/// Boxes of buyers who already have a parcel released for the same pickup (they ordered
/// again after its wave was released): each such box says why the buyer's orders span
/// parcels, and so does each earlier parcel it names (the returned marks: parcel id,
/// note). `parcels` are the boxes' parcels, in box order (a box without orders has none).
async fn after_release(
    ctx: &Ctx<'_>,
    boxes: &mut [Box<'_>],
    parcels: &[ReleasedParcel],
) -> Result<Vec<(String, String, String)>, crate::store::StoreError> {
    let mut unknown: Vec<i64> = {
        let r = ctx.released.lock().unwrap_or_else(|e| e.into_inner());
        parcels
            .iter()
            .map(|p| p.pickup_ms)
            .filter(|ms| !r.knows(*ms))
            .collect()
    };
    unknown.sort_unstable();
    unknown.dedup();
    for ms in unknown {
        let Some(pickup) = DateTime::from_timestamp_millis(ms) else {
            continue;
        };
        let buyers = super::released::load(ctx.store, ctx.site, pickup).await?;
        ctx.released
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert_loaded(ms, buyers);
    }
    let earlier: Vec<Vec<String>> = {
        let r = ctx.released.lock().unwrap_or_else(|e| e.into_inner());
        parcels
            .iter()
            .map(|p| {
                let all = r.earlier(p.pickup_ms, &p.seller, &p.buyer_key);
                all[all.len().saturating_sub(LOOKED_AT_EARLIER)..].to_vec()
            })
            .collect()
    };
    // Earlier parcel → the new parcels of its buyer (at most NAMED_EARLIER a wave: a buyer's
    // orders fill many boxes of one wave, each naming the same earlier parcels).
    let mut notes: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let with_orders = boxes.iter_mut().filter(|b| !b.recs.is_empty());
    for ((b, p), earlier) in with_orders.zip(parcels).zip(earlier) {
        if earlier.is_empty() {
            continue;
        }
        let mut now = super::released::shipping_now(ctx.store, ctx.site, &earlier).await?;
        if now.is_empty() {
            continue; // every earlier order of the buyer was cancelled
        }
        now.drain(..now.len().saturating_sub(NAMED_EARLIER));
        let verb = if now.len() == 1 { "was" } else { "were" };
        let why = format!("{SPLIT_AFTER_RELEASE} {} {verb} released", now.join(", "));
        b.reason = Some(match b.reason.take() {
            Some(r) => format!("{r}, {why}"),
            None => why,
        });
        for id in now {
            let named = notes.entry(id).or_default();
            if named.len() < NAMED_EARLIER {
                named.push(&p.parcel_id);
            }
        }
    }
    Ok(notes
        .into_iter()
        .map(|(id, new)| {
            let ids = new.join(", ");
            (id, format!("{AGAIN_AFTER_RELEASE} {ids}"), ids)
        })
        .collect())
}

/// A parcel's `split_reason` when its buyer ordered after an earlier parcel of theirs for
/// the same pickup was released (followed by that parcel's id and "was released").
pub const SPLIT_AFTER_RELEASE: &str = "ordered after";
/// The earlier parcel's (followed by the later parcels' ids).
pub const AGAIN_AFTER_RELEASE: &str = "ordered again after release:";

/// The carrier a site's parcels go with, and its limits.
#[derive(Debug, Clone)]
pub struct ShipCtx {
    pub carrier: String,
    pub service: String,
    /// `carrier`'s pickup times at the site.
    pub pickups: Vec<NaiveTime>,
    pub limits: ParcelLimits,
    /// When the site lists several carriers and pins none: each parcel goes with the
    /// cheapest of them that makes its deadline (else every parcel goes with `carrier`).
    pub choice: Option<Arc<CarrierChoice>>,
}

/// A site's carriers to choose from, and the quote cache.
#[derive(Debug)]
pub struct CarrierChoice {
    /// The site's province (zones are counted from it).
    pub origin: &'static Province,
    /// The site as the sender of a quote request.
    pub sender: Party,
    pub options: Vec<CarrierCtx>,
    pub quotes: QuoteCache,
    /// One quote call is given up after this long (the rate table prices instead).
    pub quote_timeout: Duration,
}

/// One carrier a site's parcels may go with.
#[derive(Debug, Clone)]
pub struct CarrierCtx {
    pub carrier: String,
    pub service: String,
    /// Its pickup times at the site.
    pub pickups: Vec<NaiveTime>,
    /// The rate table of `service` (the fallback price and the COD fee).
    pub table: ServiceRates,
    pub client: CarrierClient,
}

/// Where one box goes: its carrier, service and pickup, and what the carrier asks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    carrier: String,
    service: String,
    pickup_at: DateTime<Utc>,
    quote: Option<Vnd>,
}

/// The route of every box: the site's one carrier at its pickup (`at`: past departed
/// shipments), or (several carriers) the cheapest that makes the box's deadline, from
/// quotes fetched here.
async fn route(
    site: &str,
    ship: Option<&ShipCtx>,
    boxes: &[Box<'_>],
    at: &Pickups,
) -> Vec<Option<Route>> {
    let Some(ship) = ship else {
        return vec![None; boxes.len()];
    };
    let primary = Route {
        carrier: ship.carrier.clone(),
        service: ship.service.clone(),
        pickup_at: at.primary,
        quote: None,
    };
    let Some(choice) = ship.choice.as_deref() else {
        return vec![Some(primary); boxes.len()];
    };
    let mut out = Vec::with_capacity(boxes.len());
    for b in boxes {
        let Some(first) = b.recs.first() else {
            out.push(Some(primary.clone()));
            continue;
        };
        let Some(to) = normalize_province(&first.province) else {
            out.push(Some(primary.clone()));
            continue;
        };
        let zone = rates::zone(choice.origin, to);
        let weight_g: u64 =
            b.recs.iter().map(|r| r.plan.weight_g).sum::<u64>() + ship.limits.tare_g;
        let cod = Vnd(b.recs.iter().map(|r| r.cod_amount.0).sum());
        let deadline = b
            .recs
            .iter()
            .map(|r| r.plan.deadline)
            .min()
            .unwrap_or(at.wave);
        let priced = join_all(choice.options.iter().map(|o| {
            let template = BookingRequest {
                reference: String::new(),
                sender: choice.sender.clone(),
                receiver: Party {
                    name: String::new(),
                    phone: String::new(),
                    street: String::new(),
                    ward: first.ward.clone(),
                    province: to.name.to_owned(),
                },
                weight_g,
                value: rust_decimal::Decimal::ZERO,
                cod: cod.0,
                service: o.service.clone(),
                items: Vec::new(),
                note: None,
            };
            async move {
                quotes::price(
                    &choice.quotes,
                    site,
                    &o.carrier,
                    &o.client,
                    &o.table,
                    zone,
                    weight_g,
                    cod,
                    &template,
                    choice.quote_timeout,
                )
                .await
            }
        }))
        .await;
        let options: Vec<CarrierOption> = choice
            .options
            .iter()
            .zip(&priced)
            .enumerate()
            .map(|(i, (o, p))| CarrierOption {
                carrier: o.carrier.clone(),
                pickup_at: at.options.get(i).copied().unwrap_or(at.wave),
                cost: p.cost,
                quoted: p.quoted,
            })
            .collect();
        let chosen = choose(&options, deadline, None).and_then(|i| {
            let o = options.get(i)?;
            Some(Route {
                carrier: o.carrier.clone(),
                service: choice.options.get(i)?.service.clone(),
                pickup_at: o.pickup_at,
                quote: Some(o.cost),
            })
        });
        if let Some(r) = &chosen {
            metrics::counter!(names::PARCELS_ROUTED, "site" => site.to_owned(), "carrier" => r.carrier.clone())
                .increment(1);
        }
        out.push(Some(chosen.unwrap_or_else(|| primary.clone())));
    }
    out
}

/// Where a wave's parcels can still go: pickups moved past shipments already handed over
/// (the truck left, perhaps before its time). A parcel never joins a departed shipment: it
/// could not be loaded, and its orders would never ship.
struct Pickups {
    /// The wave's: moved with its carrier at a single-carrier site (with several carriers,
    /// each option moves on its own and the cheapest in time is chosen as before).
    wave: DateTime<Utc>,
    /// The site's carrier's (every box's route at a single-carrier site, else the fallback).
    primary: DateTime<Utc>,
    /// Each of `CarrierChoice::options`'.
    options: Vec<DateTime<Utc>>,
}

async fn pickups(ctx: &Ctx<'_>, at: DateTime<Utc>) -> Result<Pickups, crate::store::StoreError> {
    let Some(ship) = ctx.carrier else {
        return Ok(Pickups {
            wave: at,
            primary: at,
            options: Vec::new(),
        });
    };
    let primary = next_open(ctx, &ship.carrier, &ship.service, &ship.pickups, at).await?;
    let Some(choice) = ship.choice.as_deref() else {
        return Ok(Pickups {
            wave: primary,
            primary,
            options: Vec::new(),
        });
    };
    let mut options = Vec::with_capacity(choice.options.len());
    for o in &choice.options {
        let first = carrier_pickup(&o.pickups, at);
        options.push(next_open(ctx, &o.carrier, &o.service, &o.pickups, first).await?);
    }
    Ok(Pickups {
        wave: at,
        primary,
        options,
    })
}

/// `at`, or else the carrier's first pickup after it whose shipment has not left (with none
/// within reach, `at`: the wave commit refuses the departed shipment and the planner tries
/// again).
async fn next_open(
    ctx: &Ctx<'_>,
    carrier: &str,
    service: &str,
    times: &[NaiveTime],
    at: DateTime<Utc>,
) -> Result<DateTime<Utc>, crate::store::StoreError> {
    let known = Some(&ctx.departed);
    let open = first_open_pickup(ctx.store, ctx.site, carrier, service, times, at, known).await?;
    Ok(open.unwrap_or(at))
}

/// One box: a buyer's orders (or part of them, split by the carrier's limits).
struct Box<'a> {
    recs: Vec<&'a PendingRecord>,
    reason: Option<String>,
    oversize: bool,
}

/// The planner's buyer parcels, split further where the carrier's weight or COD limit
/// requires (every order in exactly one box).
fn boxes<'a>(
    ship: Option<&ShipCtx>,
    wave: &WavePlan<'_>,
    pending: &'a HashMap<String, PendingRecord>,
) -> Vec<Box<'a>> {
    let mut out = Vec::new();
    for p in &wave.parcels {
        let recs: Vec<&PendingRecord> = p
            .orders
            .iter()
            .filter_map(|o| pending.get(&pending_field(&o.seller, &o.order_id)))
            .collect();
        // Why the planner split this buyer's orders (more than a parcel holds, the wave's
        // size, a deadline), if it did: every box of the buyer says so.
        let planned = split_notes(wave, p.seller, p.buyer_key);
        let Some(ship) = ship else {
            out.push(Box {
                recs,
                reason: planned,
                oversize: false,
            });
            continue;
        };
        let pieces: Vec<OrderPiece> = recs
            .iter()
            .map(|r| OrderPiece {
                order_id: r.plan.id.order_id.clone(),
                weight_g: r.plan.weight_g,
                cod: r.cod_amount,
            })
            .collect();
        for sp in split(&ship.limits, &pieces) {
            out.push(Box {
                recs: sp
                    .orders
                    .iter()
                    .filter_map(|i| recs.get(*i).copied())
                    .collect(),
                reason: match (&planned, sp.reason) {
                    (Some(a), Some(b)) => Some(format!("{a}, {b}")),
                    (a, b) => b.or_else(|| a.clone()),
                },
                oversize: sp.oversize,
            });
        }
    }
    out.retain(|b| !b.recs.is_empty());
    // A box lists its orders as people read ids (`A-1, A-2, A-3`), not in the planner's
    // order: pack lists, labels and manifests show them so.
    for b in &mut out {
        b.recs
            .sort_by(|x, y| crate::domain::id_order(&x.plan.id.order_id, &y.plan.id.order_id));
    }
    out
}

/// The planner's split notes of one buyer in a wave, joined (`wave.splits` is sorted).
fn split_notes(wave: &WavePlan<'_>, seller: &str, buyer_key: &str) -> Option<String> {
    fn key(n: &super::core::SplitNote) -> (&str, &str) {
        (&n.seller, &n.buyer_key)
    }
    let from = wave
        .splits
        .partition_point(|n| key(n) < (seller, buyer_key));
    let notes: Vec<&str> = wave.splits[from..]
        .iter()
        .take_while(|n| key(n) == (seller, buyer_key))
        .map(|n| n.reason.as_str())
        .collect();
    (!notes.is_empty()).then(|| notes.join(", "))
}

struct Built {
    doc: WaveDoc,
    sku_qty: Vec<(String, u32)>,
    orders: Vec<WaveOrder>,
    parcels: Vec<(String, String)>,
    shipments: Vec<ShipmentKey>,
    parcel_shipment: Vec<usize>,
}

fn parcel_order(r: &PendingRecord) -> ParcelOrderParts<'_, impl Iterator<Item = Item<'_>>> {
    ParcelOrderParts {
        order_id: &r.plan.id.order_id,
        session: &r.plan.session,
        cod_amount: r.cod_amount,
        weight_g: r.plan.weight_g,
        deadline: Some(r.plan.deadline),
        lines: r.plan.lines.iter().map(|l| {
            let info = r.items.iter().find(|i| i.sku == l.sku);
            Item {
                sku: &l.sku,
                name: &l.name,
                qty: l.qty,
                unit_price: info.map(|i| i.unit_price).unwrap_or_default(),
                weight_g: info.map(|i| i.weight_g).unwrap_or(0),
            }
        }),
    }
}

/// From when a waved order counts as at risk ([`crate::store::keys::session_risk`]): at
/// once when its wave's pickup (or, as its own `at_risk` flag says, every pickup it could
/// make) is after its deadline, else from its deadline (overdue).
fn risk_from(r: &PendingRecord, wave_pickup: DateTime<Utc>) -> DateTime<Utc> {
    let deadline = r.plan.deadline;
    if wave_pickup > deadline || r.plan.pickup_at > deadline {
        DateTime::UNIX_EPOCH
    } else {
        deadline
    }
}

#[allow(clippy::too_many_arguments)]
fn build(
    site: &str,
    ship: Option<&ShipCtx>,
    wave_id: &str,
    first_parcel: u64,
    date: chrono::NaiveDate,
    wave: &WavePlan<'_>,
    pickup: DateTime<Utc>,
    boxes: &[Box<'_>],
    routes: &[Option<Route>],
    now: DateTime<Utc>,
) -> Built {
    let mut shipments = Shipments::default();
    let mut parcel_shipment = Vec::new();
    let mut orders = Vec::new();
    let mut parcels = Vec::new();
    let mut parcel_ids = Vec::new();
    let parcel_prefix = IdPrefix::new('P', site, date);
    for (n, b) in boxes.iter().enumerate() {
        let parcel_id = parcel_prefix.id(first_parcel + n as u64);
        let Some(first) = b.recs.first() else {
            continue;
        };
        let route = routes.get(n).and_then(Option::as_ref);
        let shipment = route.map(|r| shipments.of(site, r));
        parcel_shipment.push(shipment.map_or(0, |at| at + 1));
        let parts = ParcelParts {
            parcel_id: &parcel_id,
            wave_id,
            site,
            seller: &first.plan.id.seller,
            buyer_key: &first.plan.buyer_key,
            first_name: &first.first_name,
            phone_masked: &first.phone_masked,
            province: &first.province,
            ward: &first.ward,
            pickup_at: route.map_or(pickup, |r| r.pickup_at),
            carrier: route.map(|r| r.carrier.as_str()),
            service: route.map(|r| r.service.as_str()),
            shipment_id: shipment.map(|at| shipments.keys[at].id.as_str()),
            tare_g: ship.map(|s| s.limits.tare_g).unwrap_or(0),
            split_reason: b.reason.as_deref(),
            oversize: b.oversize,
            quote: route.and_then(|r| r.quote),
        };
        let json = parts.to_json(b.recs.iter().map(|r| parcel_order(r)));
        for r in &b.recs {
            orders.push(WaveOrder {
                seller: r.plan.id.seller.clone(),
                order_id: r.plan.id.order_id.clone(),
                session: r.plan.session.clone(),
                parcel_id: parcel_id.clone(),
                risk_from_ms: risk_from(r, pickup).timestamp_millis(),
            });
        }
        parcels.push((parcel_id.clone(), json));
        parcel_ids.push(parcel_id);
    }
    let mut sku_qty: BTreeMap<String, u32> = BTreeMap::new();
    for line in &wave.pick_list {
        *sku_qty.entry(line.sku.clone()).or_default() += line.qty;
    }
    Built {
        doc: WaveDoc {
            wave_id: wave_id.to_owned(),
            site: site.to_owned(),
            date,
            released_at: now,
            pickup_at: pickup,
            release_reason: format!("{:?}", wave.release_reason),
            pick_list: wave
                .pick_list
                .iter()
                .map(|l| PickLineDoc {
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    bin: l.bin.clone(),
                })
                .collect(),
            parcel_ids,
            orders: wave.orders().cloned().collect(),
            splits: wave
                .splits
                .iter()
                .map(|s| format!("{}: {}", s.buyer_key, s.reason))
                .collect(),
        },
        sku_qty: sku_qty.into_iter().collect(),
        orders,
        parcels,
        shipments: shipments.keys,
        parcel_shipment,
    }
}

/// A wave's shipments, one per distinct shipment id of its parcels' routes, in the order
/// first seen.
#[derive(Default)]
struct Shipments<'r> {
    keys: Vec<ShipmentKey>,
    /// Each distinct route met so far and its shipment (index into `keys`).
    seen: Vec<(&'r Route, usize)>,
}

impl<'r> Shipments<'r> {
    /// The shipment (index into `keys`) of a parcel on route `r`, added if new. Each
    /// distinct route's shipment id is formatted once per wave, not per parcel
    /// (`shipment_id` was 1.5 % of the service's samples in issue 20's peak). Routes whose
    /// ids are the same (pickups in one minute, or services that differ only in characters
    /// `shipment_id` replaces) share the first one's shipment.
    fn of(&mut self, site: &str, r: &'r Route) -> usize {
        let seen = self.seen.iter().find(|(s, _)| {
            s.pickup_at == r.pickup_at && s.carrier == r.carrier && s.service == r.service
        });
        if let Some(&(_, at)) = seen {
            return at;
        }
        let id = shipment_id(site, r.pickup_at, &r.carrier, &r.service);
        let at = match self.keys.iter().position(|s| s.id == id) {
            Some(i) => i,
            None => {
                self.keys.push(ShipmentKey {
                    id,
                    carrier: r.carrier.clone(),
                    service: r.service.clone(),
                    pickup_ms: r.pickup_at.timestamp_millis(),
                });
                self.keys.len() - 1
            }
        };
        self.seen.push((r, at));
        at
    }
}

#[cfg(test)]
mod tests;
