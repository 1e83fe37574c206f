//! The packing floor: a site's waves, a wave's pick list and parcels, picks and packed
//! parcels from tablets, and the planner's outlook (capacity forecast, at-risk orders).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use crate::domain::is_label;
use crate::domain::schedule::business_date;
use crate::planner::outlook::Outlook;
use crate::planner::records::{site_of, ParcelDoc, WaveDoc};
use crate::shipping::service::StoredParcel;
use crate::state::AppState;
use crate::store::waves::PickOutcome;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DateParam {
    /// YYYY-MM-DD (Asia/Ho_Chi_Minh); default today.
    pub date: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaveSummary {
    pub wave_id: String,
    /// picking | packing | done
    pub status: String,
    pub released_at: DateTime<Utc>,
    pub pickup_at: DateTime<Utc>,
    pub order_count: u64,
    pub parcel_count: u64,
    pub qty_total: u64,
    pub qty_picked: u64,
    pub parcels_packed: u64,
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
}

pub use super::parcel_view::ParcelView;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaveView {
    #[serde(flatten)]
    pub summary: WaveSummary,
    pub site: String,
    pub release_reason: String,
    pub pick_list: Vec<PickLineView>,
    pub parcels: Vec<ParcelView>,
}

use crate::store::{field_ms as ms, field_u64 as num};

fn summary(id: &str, h: &HashMap<String, String>) -> WaveSummary {
    WaveSummary {
        wave_id: id.to_owned(),
        status: h.get("status").cloned().unwrap_or_default(),
        released_at: ms(h, "released_ms"),
        pickup_at: ms(h, "pickup_ms"),
        order_count: num(h, "order_count"),
        parcel_count: num(h, "parcel_count"),
        qty_total: num(h, "qty_total"),
        qty_picked: num(h, "qty_picked"),
        parcels_packed: num(h, "parcels_packed"),
    }
}

/// The station of `site`, or the operator.
pub fn check_site(state: &AppState, caller: &Caller, site: &str) -> Result<(), ApiError> {
    if state.config.site(site).is_none() {
        return Err(ApiError::not_found("site"));
    }
    match caller {
        Caller::Operator => Ok(()),
        Caller::Station { site: own } if own == site => Ok(()),
        _ => Err(ApiError::not_found("site")),
    }
}

pub fn parse_date(date: Option<&str>) -> Result<NaiveDate, ApiError> {
    match date {
        None => Ok(business_date(Utc::now())),
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| ApiError::bad_request("invalid_date", "`date` is YYYY-MM-DD")),
    }
}

/// A site's waves of a business day (by pickup day), with progress.
#[utoipa::path(get, path = "/v1/sites/{site}/waves", tag = "waves", params(("site" = String, Path), DateParam),
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
    let hashes = state.store.wave_hashes(&site, &ids).await?;
    let waves = ids
        .iter()
        .zip(&hashes)
        .filter(|(_, h)| !h.is_empty())
        .map(|(id, h)| summary(id, h))
        .collect();
    Ok(Json(WaveList { site, date, waves }))
}

/// The wave's hash and document, checking who asks.
async fn load_wave(
    state: &AppState,
    caller: &Caller,
    wave_id: &str,
) -> Result<(String, HashMap<String, String>, WaveDoc), ApiError> {
    let site = site_of(wave_id, 'W')
        .ok_or_else(|| ApiError::not_found("wave"))?
        .to_owned();
    check_site(state, caller, &site).map_err(|_| ApiError::not_found("wave"))?;
    let h = state.store.wave_hash(&site, wave_id).await?;
    let doc: WaveDoc = h
        .get("data")
        .and_then(|d| serde_json::from_str(d).ok())
        .ok_or_else(|| ApiError::not_found("wave"))?;
    Ok((site, h, doc))
}

fn parcel_view(h: &HashMap<String, String>) -> Option<ParcelView> {
    StoredParcel::from_hash(h).map(|p| ParcelView::of(&p))
}

/// A wave's pick list (sorted by bin) and its parcels.
#[utoipa::path(get, path = "/v1/waves/{wave_id}", tag = "waves", params(("wave_id" = String, Path)),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = WaveView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(wave_id): Path<String>,
) -> Result<Json<WaveView>, ApiError> {
    let (site, h, doc) = load_wave(&state, &caller, &wave_id).await?;
    let pick_list = doc
        .pick_list
        .iter()
        .map(|l| PickLineView {
            sku: l.sku.clone(),
            name: l.name.clone(),
            bin: l.bin.clone(),
            qty: num(&h, &format!("q:{}", l.sku)),
            picked: num(&h, &format!("p:{}", l.sku)),
            put_back: num(&h, &format!("b:{}", l.sku)),
        })
        .filter(|l| l.qty > 0 || l.put_back > 0)
        .collect();
    let parcels = state.store.parcel_hashes(&site, &doc.parcel_ids).await?;
    Ok(Json(WaveView {
        summary: summary(&wave_id, &h),
        site,
        release_reason: doc.release_reason,
        pick_list,
        parcels: parcels.iter().filter_map(parcel_view).collect(),
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
    body: Result<Json<PickBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<PickResult>, ApiError> {
    let Json(body) = body?;
    if !is_label(&body.pick_id) {
        return Err(ApiError::bad_request(
            "invalid_pick_id",
            "`pick_id`: 1–64 of A-Z a-z 0-9 . _ -",
        ));
    }
    if !(1..=999).contains(&body.qty) {
        return Err(ApiError::bad_request("invalid_qty", "`qty`: 1–999"));
    }
    let (site, _, doc) = load_wave(&state, &caller, &wave_id).await?;
    let refs: Vec<(String, String)> = doc
        .orders
        .iter()
        .map(|o| (o.seller.clone(), o.order_id.clone()))
        .collect();
    let outcome = state
        .store
        .pick(&site, &wave_id, &body.pick_id, &body.sku, body.qty, &refs)
        .await?;
    let (result, picked, total) = match outcome {
        PickOutcome::Counted { picked, total } => {
            metrics::counter!("livepack_units_picked_total", "site" => site.clone())
                .increment(u64::from(body.qty));
            ("counted", picked, total)
        }
        PickOutcome::Duplicate { picked, total } => ("duplicate", picked, total),
        PickOutcome::Over { picked, total } => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "over_pick",
                format!(
                    "{}: the wave needs {total}, {picked} already picked; {} more is too many",
                    body.sku, body.qty
                ),
            ))
        }
        PickOutcome::UnknownSku => {
            return Err(ApiError::bad_request(
                "unknown_sku",
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
    /// packed (also when it already was)
    pub status: &'static str,
}

/// Marks a parcel packed (idempotent).
#[utoipa::path(post, path = "/v1/parcels/{parcel_id}/packed", tag = "waves", params(("parcel_id" = String, Path)),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = PackedResult), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a cookie-authenticated write from another origin"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn packed(
    State(state): State<AppState>,
    caller: Caller,
    Path(parcel_id): Path<String>,
) -> Result<Json<PackedResult>, ApiError> {
    let site = site_of(&parcel_id, 'P')
        .ok_or_else(|| ApiError::not_found("parcel"))?
        .to_owned();
    check_site(&state, &caller, &site).map_err(|_| ApiError::not_found("parcel"))?;
    let h = state
        .store
        .parcel_hashes(&site, std::slice::from_ref(&parcel_id))
        .await?
        .into_iter()
        .next()
        .unwrap_or_default();
    let doc: ParcelDoc = h
        .get("data")
        .and_then(|d| serde_json::from_str(d).ok())
        .ok_or_else(|| ApiError::not_found("parcel"))?;
    let orders: Vec<(String, String, String)> = doc
        .orders
        .iter()
        .map(|o| (doc.seller.clone(), o.order_id.clone(), o.session.clone()))
        .collect();
    match state
        .store
        .packed(&site, &parcel_id, &doc.wave_id, &orders)
        .await?
        .as_str()
    {
        "ok" => {
            metrics::counter!("livepack_parcels_packed_total", "site" => site.clone()).increment(1);
            metrics::counter!("livepack_orders_packed_total", "site" => site)
                .increment(orders.len() as u64);
        }
        "dup" => {}
        "cancelled" => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "parcel_cancelled",
                "every order of this parcel was cancelled",
            ))
        }
        "replaced" => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "parcel_replaced",
                format!(
                    "an order of this parcel was cancelled: pull it and repack as {}",
                    h.get("replaced_by")
                        .map_or("its replacement", String::as_str)
                ),
            ))
        }
        _ => return Err(ApiError::not_found("parcel")),
    }
    Ok(Json(PackedResult {
        parcel_id,
        status: "packed",
    }))
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
    let out = state
        .store
        .outlook(&site)
        .await?
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_else(|| Outlook {
            site: site.clone(),
            ..Default::default()
        });
    Ok(Json(out))
}
