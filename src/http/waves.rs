//! The packing floor: a site's waves, a wave's pick list and parcels, picks and packed
//! parcels from tablets, and the planner's outlook (capacity forecast, at-risk orders).

use crate::metric_names as names;
use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::parcel_view::{FloorCtx, ParcelStatus};
use crate::domain::is_label;
use crate::domain::schedule::business_date;
use crate::domain::status::{FloorStatus, WaveStatus};
use crate::planner::outlook::Outlook;
use crate::shipping::service::StoredParcel;
use crate::state::AppState;
use crate::store::records::{site_of, ParcelDoc, WaveDoc, WaveRow};
use crate::store::waves::{Pack, PackOutcome, PickOutcome};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DateParam {
    /// YYYY-MM-DD (Asia/Ho_Chi_Minh); default today.
    #[param(format = Date)]
    pub date: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaveSummary {
    pub wave_id: String,
    /// picking | packing | done
    pub status: String,
    pub released_at: DateTime<Utc>,
    /// Its truck's pickup; once every parcel of it still to pack was left behind at a
    /// hand-over, the earliest of their (later) pickups.
    pub pickup_at: DateTime<Utc>,
    pub order_count: u64,
    pub parcel_count: u64,
    pub qty_total: u64,
    pub qty_picked: u64,
    pub parcels_packed: u64,
    /// The first counted pick (or pack); null: nobody has started the wave yet.
    #[schema(required = true)]
    pub started_at: Option<DateTime<Utc>>,
    /// The station (its sign-in name) that last picked, packed or undid in this wave.
    #[schema(required = true)]
    pub station: Option<String>,
    /// Parcels not packed yet that are at risk / overdue (see the parcel's flags).
    pub at_risk_count: u64,
    pub overdue_count: u64,
    /// Units still to put back on the shelf (orders cancelled after their units were picked).
    pub put_back_count: u64,
    /// Parcels still to pull off the floor (packed or booked, then an order was cancelled).
    pub pull_count: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaveList {
    pub site: String,
    pub date: NaiveDate,
    pub waves: Vec<WaveSummary>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PickLineView {
    pub sku: String,
    pub name: String,
    pub bin: String,
    pub qty: u64,
    pub picked: u64,
    /// Units picked for orders cancelled since: to put back on the shelf.
    pub put_back: u64,
    /// The configured bin, or null when the SKU has none (`bin` then reads `UNASSIGNED`).
    #[schema(required = true)]
    pub shelf: Option<String>,
    /// Product barcodes of this SKU (the site's `barcodes` map): scanning one picks a unit.
    pub barcodes: Vec<String>,
}

/// Units to put back on the shelf.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PutBackView {
    pub sku: String,
    pub name: String,
    /// Null when the SKU has no configured bin.
    #[schema(required = true)]
    pub bin: Option<String>,
    pub qty: u64,
}

/// A parcel to pull off the floor (packed or booked, then one of its orders was cancelled).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PullView {
    pub parcel_id: String,
    /// The new parcel holding its surviving orders, if any.
    #[schema(required = true)]
    pub replaced_by: Option<String>,
    pub items: Vec<super::parcel_view::ItemView>,
    /// No box was ever made of it (booked, never packed nor loaded): only its label, if
    /// printed, is to be thrown away.
    pub never_packed: bool,
    /// The box's units that stay on the packing table (the wave still counts them picked,
    /// for its other parcels): neither for the shelf nor for the replacement.
    pub to_table: Vec<super::parcel_view::ItemView>,
}

pub use super::parcel_view::ParcelView;

/// Where a pulled box's surviving orders are to be repacked: its replacement, or that
/// one's own replacement when it was replaced in turn (a later cancel), or none when the
/// chain ends in a cancelled parcel (every order cancelled since): then the pull card asks
/// for the box back, not for a repack into a parcel that no longer ships.
fn live_replacement(stored: &[StoredParcel], p: &StoredParcel) -> Option<String> {
    let mut next = p.replaced_by.as_deref()?;
    // Bounded: a chain is as long as the cancels of one buyer's orders in one wave.
    for _ in 0..stored.len() {
        let q = stored.iter().find(|q| q.doc.parcel_id == next)?;
        match (q.floor_status, q.replaced_by.as_deref()) {
            (Some(FloorStatus::Cancelled), _) => return None,
            (Some(FloorStatus::Replaced), Some(after)) => next = after,
            _ => return Some(next.to_owned()),
        }
    }
    Some(next.to_owned())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaveView {
    #[serde(flatten)]
    pub summary: WaveSummary,
    pub site: String,
    pub release_reason: String,
    pub pick_list: Vec<PickLineView>,
    pub parcels: Vec<ParcelView>,
    /// Open put-backs, per SKU.
    pub put_backs: Vec<PutBackView>,
    /// Parcels to pull, not confirmed yet.
    pub pulls: Vec<PullView>,
    /// The next parcel to pack: the first open parcel (not to be pulled) whose items the
    /// picked, not yet packed units cover, by earliest order deadline, then pickup, then
    /// parcel number. Null when none.
    #[schema(required = true)]
    pub next_parcel_id: Option<String>,
    /// Barcode → SKU for the SKUs of this wave (the site's `barcodes` map).
    pub barcodes: std::collections::BTreeMap<String, String>,
}

fn summary(w: &WaveRow) -> WaveSummary {
    WaveSummary {
        wave_id: w.wave_id.clone(),
        status: w.status.clone(),
        released_at: w.released_at,
        pickup_at: w.pickup_at,
        order_count: w.order_count,
        parcel_count: w.parcel_count,
        qty_total: w.qty_total,
        qty_picked: w.qty_picked,
        parcels_packed: w.parcels_packed,
        started_at: w.started_at,
        station: w.station.clone(),
        at_risk_count: 0,
        overdue_count: 0,
        put_back_count: w.put_back_count,
        pull_count: w.pull_count,
    }
}

/// When a wave's packing is due: its pickup, unless every parcel of it still to pack was
/// left behind at a hand-over, and so moved on with a later truck: then the earliest of
/// those parcels' pickups (the wave's own truck has left without them).
fn pickup_to_pack(wave_pickup: DateTime<Utc>, parcels: &[StoredParcel]) -> DateTime<Utc> {
    let mut to_pack = parcels
        .iter()
        .filter(|p| p.ships() && p.floor_status != Some(FloorStatus::Packed))
        .peekable();
    if to_pack.peek().is_none() {
        return wave_pickup;
    }
    let mut moved: Option<DateTime<Utc>> = None;
    for p in to_pack {
        if p.left_behind.is_none() {
            return wave_pickup;
        }
        moved = Some(moved.map_or(p.doc.pickup_at, |m| m.min(p.doc.pickup_at)));
    }
    moved.map_or(wave_pickup, |m| m.max(wave_pickup))
}

/// The unit of a bin that is no bin: the planner's `UNASSIGNED`.
const NO_BIN: &str = "UNASSIGNED";

fn shelf(bin: &str) -> Option<String> {
    (!bin.is_empty() && bin != NO_BIN).then(|| bin.to_owned())
}

/// The number at the end of a parcel id (`P-hub-20261121-12` → 12), for ordering.
fn parcel_number(id: &str) -> u64 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

/// A pulled box's items, each with the units `units(sku, qty in the box, qty its
/// replacement keeps)` says (an item with none is left out). The pull card's shelf units
/// and table units are both read this way:
/// - a box replaced since `px:` (2026-12-07): to the shelf its `px:SKU` (beyond what its
///   put-back cards send back, those the wave no longer counts picked and the replacement
///   does not need), and to the table the rest of what is neither put back nor repacked;
/// - a box replaced by earlier builds: to the shelf its items less those repacked into the
///   parcel that replaces it, less the units its put-back cards already send back.
fn box_items(
    old: &ParcelDoc,
    new: Option<&ParcelDoc>,
    units: impl Fn(&str, u32, u32) -> u32,
) -> Vec<super::parcel_view::ItemView> {
    let kept = new.map(ParcelDoc::items).unwrap_or_default();
    old.items()
        .into_iter()
        .filter_map(|i| {
            let repacked = kept.iter().find(|k| k.sku == i.sku).map_or(0, |k| k.qty);
            let qty = units(&i.sku, i.qty, repacked);
            (qty > 0).then_some(super::parcel_view::ItemView {
                sku: i.sku,
                name: i.name,
                qty,
            })
        })
        .collect()
}

pub use crate::web::auth::{check_site, not_for_sellers};

pub fn parse_date(date: Option<&str>) -> Result<NaiveDate, ApiError> {
    match date {
        None => Ok(business_date(Utc::now())),
        Some(d) => crate::domain::schedule::parse_day(d)
            .ok_or_else(|| ApiError::bad_request(ErrorCode::InvalidDate, "`date` is YYYY-MM-DD")),
    }
}

/// A site's waves of a business day (by pickup day), with progress.
#[utoipa::path(get, path = "/v1/sites/{site}/waves", operation_id = "list_waves", tag = "waves", params(("site" = String, Path), DateParam),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = WaveList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(site): Path<String>,
    Query(q): Query<DateParam>,
) -> Result<Json<WaveList>, ApiError> {
    check_site(&state, &caller, &site)?;
    let date = parse_date(q.date.as_deref())?;
    let ids = state.store.wave_ids_of_day(&site, date).await?;
    let rows = state.store.wave_rows(&site, &ids).await?;
    let floor = FloorCtx::load(&state, &site).await?;
    let mut waves: Vec<WaveSummary> = rows.iter().map(summary).collect();
    // The parcels of the waves not done (a done wave has every parcel packed: nothing at
    // risk), read for many waves at once: a day of thousands of small waves took a round
    // trip each, 15 s under a busy Redis (3,000 one-parcel waves: 0.2 s idle and 0.6 s under
    // a busy Redis before, 0.055 s both after). The parcels of about `PARCELS_PER_READ` (and
    // one wave) are held at a time.
    let mut open: Vec<(usize, Vec<String>)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if row.status.parse().ok() != Some(WaveStatus::Done) {
            if let Some(doc) = row.doc() {
                open.push((i, doc.parcel_ids));
            }
        }
    }
    for group in read_groups(open, PARCELS_PER_READ) {
        let ids: Vec<String> = group
            .iter()
            .flat_map(|(_, ids)| ids.iter().cloned())
            .collect();
        let hashes = state.store.parcel_hashes(&site, &ids).await?;
        let mut hashes = hashes.iter();
        for (i, wave_parcels) in &group {
            let parcels: Vec<StoredParcel> = hashes
                .by_ref()
                .take(wave_parcels.len())
                .filter_map(StoredParcel::from_hash)
                .collect();
            let w = &mut waves[*i];
            for p in &parcels {
                let v = floor.view(p);
                w.at_risk_count += u64::from(v.at_risk);
                w.overdue_count += u64::from(v.overdue);
            }
            w.pickup_at = pickup_to_pack(w.pickup_at, &parcels);
        }
    }
    // By pickup, then by number (`-6` before `-10`).
    waves.sort_by(|a, b| {
        a.pickup_at
            .cmp(&b.pickup_at)
            .then_with(|| crate::domain::id_order(&a.wave_id, &b.wave_id))
    });
    Ok(Json(WaveList { site, date, waves }))
}

/// Parcels the wave list reads in one go (a few pipelines of `parcel_hashes`).
const PARCELS_PER_READ: usize = 1024;

/// Waves (each its index and parcel ids) in consecutive groups of at least `max` parcels
/// (the last one fewer), a wave never split: the wave list reads each group's parcels
/// together.
fn read_groups<T>(waves: Vec<(usize, Vec<T>)>, max: usize) -> Vec<Vec<(usize, Vec<T>)>> {
    let mut groups = Vec::new();
    let (mut group, mut n) = (Vec::new(), 0);
    for wave in waves {
        n += wave.1.len();
        group.push(wave);
        if n >= max {
            groups.push(std::mem::take(&mut group));
            n = 0;
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

/// The wave's row and document, checking who asks.
async fn load_wave(
    state: &AppState,
    caller: &Caller,
    wave_id: &str,
) -> Result<(String, WaveRow, WaveDoc), ApiError> {
    not_for_sellers(caller)?;
    let site = site_of(wave_id, 'W')
        .ok_or_else(|| ApiError::not_found("wave"))?
        .to_owned();
    check_site(state, caller, &site).map_err(|_| ApiError::not_found("wave"))?;
    let row = state.store.wave_row(&site, wave_id).await?;
    let (row, doc) = row
        .and_then(|r| r.doc().map(|d| (r, d)))
        .ok_or_else(|| ApiError::not_found("wave"))?;
    Ok((site, row, doc))
}

/// A wave's pick list (sorted by bin) and its parcels.
#[utoipa::path(get, path = "/v1/waves/{wave_id}", operation_id = "get_wave", tag = "waves", params(("wave_id" = String, Path)),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = WaveView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(wave_id): Path<String>,
) -> Result<Json<WaveView>, ApiError> {
    let (site, row, doc) = load_wave(&state, &caller, &wave_id).await?;
    let site_cfg = state.config.site(&site);
    let codes_of = |sku: &str| -> Vec<String> {
        site_cfg
            .map(|c| {
                c.barcodes
                    .iter()
                    .filter(|(_, s)| s.as_str() == sku)
                    .map(|(code, _)| code.clone())
                    .collect()
            })
            .unwrap_or_default()
    };
    let pick_list: Vec<PickLineView> = doc
        .pick_list
        .iter()
        .map(|l| PickLineView {
            sku: l.sku.clone(),
            name: l.name.clone(),
            bin: l.bin.clone(),
            qty: row.sku(&l.sku).qty.max(0) as u64,
            picked: row.sku(&l.sku).picked.max(0) as u64,
            put_back: row.sku(&l.sku).put_back.max(0) as u64,
            shelf: shelf(&l.bin),
            barcodes: codes_of(&l.sku),
        })
        .filter(|l| l.qty > 0 || l.put_back > 0)
        .collect();
    let put_backs = pick_list
        .iter()
        .filter(|l| l.put_back > 0)
        .map(|l| PutBackView {
            sku: l.sku.clone(),
            name: l.name.clone(),
            bin: l.shelf.clone(),
            qty: l.put_back,
        })
        .collect();
    let barcodes = pick_list
        .iter()
        .flat_map(|l| l.barcodes.iter().map(|c| (c.clone(), l.sku.clone())))
        .collect();
    let floor = FloorCtx::load(&state, &site).await?;
    let hashes = state.store.parcel_hashes(&site, &doc.parcel_ids).await?;
    // Each readable parcel with its hash (an unreadable one is left out of both).
    let read: Vec<(&HashMap<String, String>, StoredParcel)> = hashes
        .iter()
        .filter_map(|h| Some((h, StoredParcel::from_hash(h)?)))
        .collect();
    let stored: Vec<StoredParcel> = read.iter().map(|(_, p)| p.clone()).collect();
    // A counter of a parcel's hash (0 when absent).
    let counter = |id: &str, field: &str| -> u32 {
        read.iter()
            .find(|(_, p)| p.doc.parcel_id == id)
            .and_then(|(h, _)| h.get(field)?.parse().ok())
            .unwrap_or(0)
    };
    // The units of a pulled box its put-back cards already send to the shelf: those of the
    // cancel that replaced it (`pb:`), and those of orders cancelled since from the parcel
    // that replaced it, while still open (`pbr:` on that parcel).
    let put_back_of = |id: &str, new: Option<&str>, sku: &str| -> u32 {
        counter(id, &format!("pb:{sku}")) + new.map_or(0, |n| counter(n, &format!("pbr:{sku}")))
    };
    let mut summary = summary(&row);
    let mut parcels = Vec::with_capacity(stored.len());
    let mut pulls = Vec::new();
    let mut candidates = Vec::new();
    for p in &stored {
        let mut v = floor.view(p);
        summary.at_risk_count += u64::from(v.at_risk);
        summary.overdue_count += u64::from(v.overdue);
        if p.pull && !p.pulled {
            let new = p
                .replaced_by
                .as_deref()
                .and_then(|n| stored.iter().find(|q| q.doc.parcel_id == n));
            let id = p.doc.parcel_id.as_str();
            let px = !p.pull_empty && counter(id, "px") == 1;
            let new_doc = new.map(|n| &n.doc);
            let px_of = |sku: &str| counter(id, &format!("px:{sku}"));
            let put_back = |sku: &str| put_back_of(id, p.replaced_by.as_deref(), sku);
            let to_table = if px {
                box_items(&p.doc, new_doc, |sku, qty, repacked| {
                    qty.saturating_sub(put_back(sku))
                        .saturating_sub(px_of(sku))
                        .saturating_sub(repacked)
                })
            } else {
                Vec::new()
            };
            pulls.push(PullView {
                parcel_id: v.parcel_id.clone(),
                replaced_by: live_replacement(&stored, p),
                never_packed: p.pull_empty,
                to_table,
                items: if p.pull_empty {
                    Vec::new()
                } else if px {
                    // Worked out when it was replaced (repack.lua `px:`).
                    box_items(&p.doc, new_doc, |sku, qty, _| px_of(sku).min(qty))
                } else {
                    box_items(&p.doc, new_doc, |sku, qty, repacked| {
                        qty.saturating_sub(repacked).saturating_sub(put_back(sku))
                    })
                },
            });
        }
        if v.status == ParcelStatus::Open && !p.pull {
            let covered = v
                .items
                .iter()
                .all(|i| row.sku(&i.sku).available() >= i64::from(i.qty));
            v.items_picked = Some(covered);
            if covered {
                candidates.push((
                    v.deadline.is_none(),
                    v.deadline,
                    v.pickup_at,
                    parcel_number(&v.parcel_id),
                    v.parcel_id.clone(),
                ));
            }
        }
        parcels.push(v);
    }
    summary.pull_count = pulls.len() as u64;
    summary.pickup_at = pickup_to_pack(summary.pickup_at, &stored);
    candidates.sort();
    Ok(Json(WaveView {
        summary,
        site,
        release_reason: doc.release_reason,
        pick_list,
        parcels,
        put_backs,
        pulls,
        next_parcel_id: candidates.into_iter().next().map(|c| c.4),
        barcodes,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PickBody {
    /// Chosen by the tablet; the same pick sent twice counts once.
    pub pick_id: String,
    pub sku: String,
    pub qty: u32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PickResult {
    pub wave_id: String,
    pub sku: String,
    /// counted | duplicate
    pub result: &'static str,
    pub picked: u64,
    pub qty: u64,
}

/// Confirms picked units of a SKU (idempotent by `pick_id`; over-picks are refused, 409).
/// `sku` may also be a product barcode of the site's `barcodes` map (the answer names the SKU).
#[utoipa::path(post, path = "/v1/waves/{wave_id}/picks", tag = "waves", params(("wave_id" = String, Path)),
    request_body = PickBody, security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = PickResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a cookie-authenticated write from another origin"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "not `Content-Type: application/json`"),
        (status = 422, body = ErrorBody, description = "the JSON is not `{pick_id, sku, qty}`")))]
pub async fn pick(
    State(state): State<AppState>,
    caller: Caller,
    Path(wave_id): Path<String>,
    body: Result<crate::web::body::ObjectJson<PickBody>, crate::web::error::ApiError>,
) -> Result<Json<PickResult>, ApiError> {
    // A seller's token is refused before its body is read (401, not a 422 for a body
    // it had no business sending).
    not_for_sellers(&caller)?;
    let crate::web::body::ObjectJson(mut body) = body?;
    if !is_label(&body.pick_id) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidPickId,
            "`pick_id`: 1–64 of A-Z a-z 0-9 . _ -",
        ));
    }
    if !(1..=999).contains(&body.qty) {
        return Err(ApiError::bad_request(ErrorCode::InvalidQty, "`qty`: 1–999"));
    }
    let (site, row, doc) = load_wave(&state, &caller, &wave_id).await?;
    // A scanned product barcode (the site's `barcodes` map) picks its SKU.
    if !row.sku(&body.sku).listed {
        if let Some(sku) = state
            .config
            .site(&site)
            .and_then(|c| c.barcodes.get(body.sku.trim()))
        {
            body.sku = sku.clone();
        }
    }
    let refs: Vec<(String, String)> = doc
        .orders
        .iter()
        .map(|o| (o.seller.clone(), o.order_id.clone()))
        .collect();
    let outcome = state
        .store
        .pick(
            &site,
            &crate::store::floor::FloorOp {
                wave_id: &wave_id,
                op_id: &body.pick_id,
                sku: &body.sku,
                qty: body.qty,
                station: caller.actor(),
            },
            &refs,
        )
        .await?;
    let (result, picked, total) = match outcome {
        PickOutcome::Counted { picked, total } => {
            metrics::counter!(names::UNITS_PICKED, "site" => site.clone())
                .increment(u64::from(body.qty));
            ("counted", picked, total)
        }
        PickOutcome::Duplicate { picked, total } => ("duplicate", picked, total),
        PickOutcome::Over { picked, total } => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::OverPick,
                format!(
                    "{}: the wave needs {total}, {picked} already picked; {} more is too many",
                    body.sku, body.qty
                ),
            ))
        }
        PickOutcome::UnknownSku => {
            return Err(ApiError::bad_request(
                ErrorCode::UnknownSku,
                "this SKU is not on the wave's pick list",
            ))
        }
        PickOutcome::NoWave => return Err(ApiError::not_found("wave")),
    };
    Ok(Json(PickResult {
        wave_id,
        sku: body.sku,
        result,
        picked,
        qty: total,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PackedResult {
    pub parcel_id: String,
    /// The parcel's status now: `packed` (also when it already was), or where it has gone
    /// since (`booked`, `handed_over`, `delivered`…): packing again changes nothing.
    pub status: ParcelStatus,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PackBody {
    /// The packer was asked and packs although the wave's picked units do not cover this
    /// parcel's items (recorded in the site's audit).
    #[serde(default)]
    pub confirm_unpicked: bool,
    /// The orders the packer boxed, as the parcel showed them (the tablet sends them): when
    /// the parcel's orders are no longer these (one was cancelled meanwhile, a tap queued
    /// offline), the pack is refused 409 `parcel_changed` rather than sealing a cancelled
    /// order's goods into a box that ships.
    #[serde(default)]
    pub order_ids: Option<Vec<String>>,
}

/// A SKU the picked units do not cover.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MissingUnits {
    pub sku: String,
    pub need: u64,
    /// Picked units of the wave not yet in packed parcels.
    pub available: u64,
}

/// An optional JSON body: none (or blank) reads as the default.
pub fn optional_body<T: serde::de::DeserializeOwned + Default>(
    bytes: &[u8],
) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    crate::web::body::object_only(bytes)?;
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidBody, format!("the JSON body: {e}")))
}

/// The parcel (hash and document) at `parcel_id`, checking who asks.
pub async fn load_parcel(
    state: &AppState,
    caller: &Caller,
    parcel_id: &str,
) -> Result<(String, HashMap<String, String>, ParcelDoc), ApiError> {
    not_for_sellers(caller)?;
    let site = site_of(parcel_id, 'P')
        .ok_or_else(|| ApiError::not_found("parcel"))?
        .to_owned();
    check_site(state, caller, &site).map_err(|_| ApiError::not_found("parcel"))?;
    let h = state
        .store
        .parcel_hashes(&site, &[parcel_id.to_owned()])
        .await?
        .into_iter()
        .next()
        .unwrap_or_default();
    let doc: ParcelDoc = h
        .get("data")
        .and_then(|d| serde_json::from_str(d).ok())
        .ok_or_else(|| ApiError::not_found("parcel"))?;
    Ok((site, h, doc))
}

/// Marks a parcel packed (idempotent). Refused (409 `items_not_picked`, naming the SKUs in
/// `error.message` and `error.missing`) while the wave's picked units not yet packed do not
/// cover the parcel's items, unless the body says `{"confirm_unpicked": true}`.
#[utoipa::path(post, path = "/v1/parcels/{parcel_id}/packed", tag = "waves", params(("parcel_id" = String, Path)),
    request_body(content = Option<PackBody>, description = "optional"),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = PackedResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a cookie-authenticated write from another origin"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`items_not_picked` (with `error.missing`: [{sku, need, available}]), `parcel_cancelled`, `parcel_replaced`, `parcel_changed` (the body's `order_ids` are no longer the parcel's)")))]
pub async fn packed(
    State(state): State<AppState>,
    caller: Caller,
    Path(parcel_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, ApiError> {
    // A seller's token is refused before its body is read (401, not a 422 for a body
    // it had no business sending).
    not_for_sellers(&caller)?;
    use axum::response::IntoResponse;
    let body: PackBody = optional_body(&body)?;
    let (site, h, doc) = load_parcel(&state, &caller, &parcel_id).await?;
    let orders: Vec<(String, String, String)> = doc
        .orders
        .iter()
        .map(|o| (doc.seller.clone(), o.order_id.clone(), o.session.clone()))
        .collect();
    let lines: Vec<(String, u32)> = doc.items().into_iter().map(|i| (i.sku, i.qty)).collect();
    // The parcel's order ids now (sorted, as its document lists them by id).
    let mut now: Vec<&str> = orders.iter().map(|(_, id, _)| id.as_str()).collect();
    now.sort_unstable();
    let changed = || {
        ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::ParcelChanged,
            format!(
                "the parcel's orders changed since it was shown (an order cancelled): it ships \
                 {} now; open the box, put back what is no longer in it, then pack again",
                now.join(", ")
            ),
        )
    };
    // The view the packer packed from: its orders then, and (when they are still the
    // parcel's) the version they were read at, checked again in the script.
    let seen_ver = match &body.order_ids {
        Some(seen) => {
            let mut seen: Vec<&str> = seen.iter().map(String::as_str).collect();
            seen.sort_unstable();
            seen.dedup();
            if seen != now && h.get("status").map(String::as_str) == Some("open") {
                return Err(changed());
            }
            Some(h.get("ver").map_or("0", String::as_str))
        }
        None => None,
    };
    let outcome = state
        .store
        .packed(
            &site,
            &Pack {
                parcel_id: &parcel_id,
                wave_id: &doc.wave_id,
                orders: &orders,
                lines: &lines,
                confirm_unpicked: body.confirm_unpicked,
                station: caller.actor(),
                seen_ver,
            },
        )
        .await?;
    match outcome {
        PackOutcome::Packed => {
            metrics::counter!(names::PARCELS_PACKED, "site" => site.clone()).increment(1);
            metrics::counter!(names::ORDERS_PACKED, "site" => site).increment(orders.len() as u64);
        }
        PackOutcome::Duplicate => {}
        PackOutcome::NotPicked(missing) => {
            let list: Vec<String> = missing
                .iter()
                .map(|(sku, need, avail)| format!("{sku} (need {need}, picked {avail})"))
                .collect();
            let body = serde_json::json!({"error": {
                "code": ErrorCode::ItemsNotPicked,
                "message": format!(
                    "not picked yet: {}; pack anyway with {{\"confirm_unpicked\": true}}",
                    list.join(", ")
                ),
                "missing": missing.iter().map(|(sku, need, avail)| MissingUnits {
                    sku: sku.clone(), need: *need, available: *avail,
                }).collect::<Vec<_>>(),
            }});
            return Ok((StatusCode::CONFLICT, Json(body)).into_response());
        }
        PackOutcome::Cancelled => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::ParcelCancelled,
                "every order of this parcel was cancelled",
            ))
        }
        PackOutcome::Replaced => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::ParcelReplaced,
                format!(
                    "an order of this parcel was cancelled: pull it and repack as {}",
                    h.get("replaced_by")
                        .map_or("its replacement", String::as_str)
                ),
            ))
        }
        PackOutcome::Changed => return Err(changed()),
        PackOutcome::NoParcel => return Err(ApiError::not_found("parcel")),
    }
    // The parcel's status as its views show it: packed, or what the carrier made of it
    // since (booked; handed over when its box went on the truck before its tap).
    let status = StoredParcel::from_hash(&h).map_or(ParcelStatus::Packed, |mut p| {
        p.floor_status = Some(FloorStatus::Packed);
        super::parcel_view::parcel_status(&p)
    });
    Ok(Json(PackedResult { parcel_id, status }).into_response())
}

/// Capacity forecast per pickup and orders at risk, as the site's planner last saw them.
#[utoipa::path(get, path = "/v1/sites/{site}/outlook", tag = "waves", params(("site" = String, Path)),
    security(("station_cookie" = []), ("operator_token" = []), ("seller_token" = [])),
    responses((status = 200, body = Outlook), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn outlook(
    State(state): State<AppState>,
    caller: Caller,
    Path(site): Path<String>,
) -> Result<Json<Outlook>, ApiError> {
    let allowed = match &caller {
        Caller::Seller { site: own, .. } => own == &site,
        _ => check_site(&state, &caller, &site).is_ok(),
    };
    if !allowed || state.config.site(&site).is_none() {
        return Err(ApiError::not_found("site"));
    }
    let mut out = state
        .store
        .outlook(&site)
        .await?
        .and_then(|j| serde_json::from_str::<Outlook>(&j).ok())
        .unwrap_or_else(|| Outlook {
            site: site.clone(),
            ..Default::default()
        });
    // A seller sees only its own orders at risk (contract §2: a seller's token reaches its
    // own orders); the site's counts and forecast stay whole.
    // An outlook of a build before `at_risk_count` lists them all.
    out.at_risk_count = out.at_risk_count.max(out.at_risk.len());
    if let Caller::Seller { id, .. } = &caller {
        out.at_risk.retain(|r| r.id.seller == *id);
        // Its own count, and no other seller's.
        let own = out.at_risk_by_seller.get(id).copied().unwrap_or(0);
        out.at_risk_count = own.max(out.at_risk.len());
        out.at_risk_by_seller.retain(|s, _| s == id);
        out.at_risk_by_session.retain(|s, _| s == id);
    }
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::read_groups;

    #[test]
    fn the_wave_list_reads_parcels_in_groups_that_never_split_a_wave() {
        let waves: Vec<(usize, Vec<u32>)> = vec![
            (0, vec![1, 2]),
            (2, vec![3]),
            (3, vec![]),
            (5, vec![4, 5, 6]),
            (6, vec![7]),
        ];
        let groups = read_groups(waves.clone(), 3);
        let shape: Vec<Vec<usize>> = groups
            .iter()
            .map(|g| g.iter().map(|(i, _)| *i).collect())
            .collect();
        assert_eq!(shape, vec![vec![0, 2], vec![3, 5], vec![6]]);
        // Every wave once, in order, with its own parcels.
        assert_eq!(groups.into_iter().flatten().collect::<Vec<_>>(), waves);
        assert!(read_groups(Vec::<(usize, Vec<u32>)>::new(), 3).is_empty());
        assert_eq!(read_groups(waves.clone(), 1000).len(), 1);
    }
}
