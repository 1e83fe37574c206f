//! Confirming and undoing on the packing floor, from tablets: a put-back done, a pull done,
//! an unpick, an unpack (a parcel already booked with the carrier needs the supervisor's
//! PIN, throttled like the station PIN), and the site's audit of all of these.

use crate::metric_names as names;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::station::PIN_POLICY;
use super::waves::{check_site, load_parcel, optional_body, PickResult};
use crate::domain::is_label;
use crate::domain::status::{CarrierStatus, FloorStatus, ParcelStatus};
use crate::state::AppState;
use crate::store::floor::{
    FloorOp, PullOutcome, PutBackOutcome, Unpack, UnpackOutcome, UnpickOutcome,
};
use crate::store::records::{site_of, WaveDoc};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PutBackBody {
    /// Chosen by the tablet; the same put-back sent twice counts once.
    pub put_back_id: String,
    pub sku: String,
    pub qty: u32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PutBackResult {
    pub wave_id: String,
    pub sku: String,
    /// counted | duplicate
    pub result: &'static str,
    /// Units of this SKU still to put back.
    pub put_back: u64,
}

fn check_qty(qty: u32) -> Result<(), ApiError> {
    if (1..=999).contains(&qty) {
        Ok(())
    } else {
        Err(ApiError::bad_request(ErrorCode::InvalidQty, "`qty`: 1–999"))
    }
}

fn check_id(id: &str, code: ErrorCode, field: &str) -> Result<(), ApiError> {
    if is_label(id) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            code,
            format!("`{field}`: 1–64 of A-Z a-z 0-9 . _ -"),
        ))
    }
}

/// The wave's site and document, checking who asks.
async fn wave_of(
    state: &AppState,
    caller: &Caller,
    wave_id: &str,
) -> Result<(String, WaveDoc), ApiError> {
    super::waves::not_for_sellers(caller)?;
    let site = site_of(wave_id, 'W')
        .ok_or_else(|| ApiError::not_found("wave"))?
        .to_owned();
    check_site(state, caller, &site).map_err(|_| ApiError::not_found("wave"))?;
    let doc: WaveDoc = state
        .store
        .wave_row(&site, wave_id)
        .await?
        .and_then(|w| w.doc())
        .ok_or_else(|| ApiError::not_found("wave"))?;
    Ok((site, doc))
}

/// Confirms units put back on the shelf (idempotent by `put_back_id`; more than is open to
/// put back is refused, 409 `over_put_back`).
#[utoipa::path(post, path = "/v1/waves/{wave_id}/put-backs", tag = "floor", params(("wave_id" = String, Path)),
    request_body = PutBackBody, security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = PutBackResult), (status = 400, body = ErrorBody, description = "`invalid_put_back_id`, `invalid_qty`, `unknown_sku`"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`over_put_back`"), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_back(
    State(state): State<AppState>,
    caller: Caller,
    Path(wave_id): Path<String>,
    body: Result<crate::web::body::ObjectJson<PutBackBody>, crate::web::error::ApiError>,
) -> Result<Json<PutBackResult>, ApiError> {
    // A seller's token is refused before its body is read (401, not a 422 for a body
    // it had no business sending).
    super::waves::not_for_sellers(&caller)?;
    let crate::web::body::ObjectJson(body) = body?;
    check_id(
        &body.put_back_id,
        ErrorCode::InvalidPutBackId,
        "put_back_id",
    )?;
    check_qty(body.qty)?;
    let (site, _) = wave_of(&state, &caller, &wave_id).await?;
    let op = FloorOp {
        wave_id: &wave_id,
        op_id: &body.put_back_id,
        sku: &body.sku,
        qty: body.qty,
        station: caller.actor(),
    };
    let (result, open) = match state.store.put_back(&site, &op).await? {
        PutBackOutcome::Counted { open } => ("counted", open),
        PutBackOutcome::Duplicate { open } => ("duplicate", open),
        PutBackOutcome::Over { open } => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::OverPutBack,
                format!("{}: {open} to put back, {} is too many", body.sku, body.qty),
            ))
        }
        PutBackOutcome::UnknownSku => {
            return Err(ApiError::bad_request(
                ErrorCode::UnknownSku,
                "this SKU is not on the wave's pick list",
            ))
        }
        PutBackOutcome::NoWave => return Err(ApiError::not_found("wave")),
    };
    Ok(Json(PutBackResult {
        wave_id,
        sku: body.sku,
        result,
        put_back: open,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PullResult {
    pub parcel_id: String,
    /// pulled | already_pulled
    pub result: &'static str,
}

/// Confirms a parcel flagged `pull` was taken off the floor (or off the truck), or that a
/// parcel scanned onto the truck that no longer ships (cancelled or refused by the carrier
/// since) was taken off it, or that a parcel still to go was taken off the truck before it
/// left (so the hand-over can leave it behind): `loaded` is cleared (idempotent; 409
/// `nothing_to_pull` for a parcel that is none of these).
#[utoipa::path(post, path = "/v1/parcels/{parcel_id}/pulled", tag = "floor", params(("parcel_id" = String, Path)),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = PullResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`nothing_to_pull`")))]
pub async fn pulled(
    State(state): State<AppState>,
    caller: Caller,
    Path(parcel_id): Path<String>,
) -> Result<Json<PullResult>, ApiError> {
    let (site, _, doc) = load_parcel(&state, &caller, &parcel_id).await?;
    let result = match state
        .store
        .pulled(&site, &parcel_id, &doc.wave_id, caller.actor())
        .await?
    {
        PullOutcome::Pulled => "pulled",
        PullOutcome::Already => "already_pulled",
        PullOutcome::Nothing => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::NothingToPull,
                "this parcel is not to be pulled",
            ))
        }
        PullOutcome::NoParcel => return Err(ApiError::not_found("parcel")),
    };
    Ok(Json(PullResult { parcel_id, result }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UnpickBody {
    /// Chosen by the tablet; the same unpick sent twice counts once.
    pub unpick_id: String,
    pub sku: String,
    pub qty: u32,
}

/// Takes back picked units of a SKU (a wrong tap). Idempotent by `unpick_id`; never below
/// zero (409 `over_unpick`) nor below the units already packed (409 `units_packed`).
#[utoipa::path(post, path = "/v1/waves/{wave_id}/unpicks", tag = "floor", params(("wave_id" = String, Path)),
    request_body = UnpickBody, security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = PickResult), (status = 400, body = ErrorBody, description = "`invalid_unpick_id`, `invalid_qty`, `unknown_sku`"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`over_unpick`, `units_packed`"), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn unpick(
    State(state): State<AppState>,
    caller: Caller,
    Path(wave_id): Path<String>,
    body: Result<crate::web::body::ObjectJson<UnpickBody>, crate::web::error::ApiError>,
) -> Result<Json<PickResult>, ApiError> {
    // A seller's token is refused before its body is read (401, not a 422 for a body
    // it had no business sending).
    super::waves::not_for_sellers(&caller)?;
    let crate::web::body::ObjectJson(body) = body?;
    check_id(&body.unpick_id, ErrorCode::InvalidUnpickId, "unpick_id")?;
    check_qty(body.qty)?;
    let (site, doc) = wave_of(&state, &caller, &wave_id).await?;
    let refs: Vec<(String, String)> = doc
        .orders
        .iter()
        .map(|o| (o.seller.clone(), o.order_id.clone()))
        .collect();
    let op = FloorOp {
        wave_id: &wave_id,
        op_id: &body.unpick_id,
        sku: &body.sku,
        qty: body.qty,
        station: caller.actor(),
    };
    let (result, picked, total) = match state.store.unpick(&site, &op, &refs).await? {
        UnpickOutcome::Counted { picked, total } => ("counted", picked, total),
        UnpickOutcome::Duplicate { picked, total } => ("duplicate", picked, total),
        UnpickOutcome::Over { picked, .. } => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::OverUnpick,
                format!(
                    "{}: {picked} picked, cannot take back {}",
                    body.sku, body.qty
                ),
            ))
        }
        UnpickOutcome::Packed { picked, .. } => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::UnitsPacked,
                format!(
                    "{}: of {picked} picked, some are in packed parcels; unpack the parcel first",
                    body.sku
                ),
            ))
        }
        UnpickOutcome::UnknownSku => {
            return Err(ApiError::bad_request(
                ErrorCode::UnknownSku,
                "this SKU is not on the wave's pick list",
            ))
        }
        UnpickOutcome::NoWave => return Err(ApiError::not_found("wave")),
    };
    Ok(Json(PickResult {
        wave_id,
        sku: body.sku,
        result,
        picked,
        qty: total,
    }))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct UnpackBody {
    /// Chosen by the tablet: the same unpack sent twice counts once (even after the parcel
    /// was packed again meanwhile).
    #[serde(default)]
    pub unpack_id: Option<String>,
    /// Needed when the parcel is already booked with the carrier (the site's
    /// `supervisor_pin`); the operator token needs none.
    #[serde(default)]
    pub supervisor_pin: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnpackResult {
    pub parcel_id: String,
    /// open
    pub status: ParcelStatus,
    /// unpacked | already_open | duplicate
    pub result: &'static str,
}

fn pin_refused(code: ErrorCode, message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

/// Checks the supervisor's PIN of `site` for a client, throttled like the station PIN.
/// Err: the answer to send (403, or 429 with Retry-After).
async fn check_supervisor(
    state: &AppState,
    site: &str,
    client: &str,
    pin: Option<&str>,
) -> Result<(), Response> {
    let Some(cfg) = state.config.site(site) else {
        return Err(ApiError::not_found("site").into_response());
    };
    let Some(stored) = cfg.supervisor_pin.clone() else {
        return Err(pin_refused(
            ErrorCode::SupervisorPinNotConfigured,
            "this parcel is booked with the carrier: unpacking it needs a supervisor PIN, and this site has none configured",
        )
        .into_response());
    };
    let Some(pin) = pin.filter(|p| !p.is_empty()) else {
        return Err(pin_refused(
            ErrorCode::SupervisorPinRequired,
            "this parcel is booked with the carrier: a supervisor must enter the PIN to unpack it",
        )
        .into_response());
    };
    let attempt = state
        .store
        .supervisor_pin_attempt(site, client, &PIN_POLICY)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    if attempt.attempts == 0 {
        let secs = attempt.wait_ms.div_ceil(1000).max(1);
        let mut resp = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyAttempts,
            format!("too many wrong supervisor PINs from this device: try again in {secs} s"),
        )
        .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Err(resp);
    }
    if attempt.site_minute > 30 {
        let ms = ((attempt.site_minute - 30) * 100).min(3_000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let candidate = pin.to_owned();
    let ok = tokio::task::spawn_blocking(move || crate::http::pin::verify(&stored, &candidate))
        .await
        .unwrap_or(false);
    if !ok {
        metrics::counter!(names::SUPERVISOR_PIN_FAILURES, "site" => site.to_owned()).increment(1);
        tracing::warn!(site, attempts = attempt.attempts, "wrong supervisor PIN");
        return Err(
            pin_refused(ErrorCode::WrongSupervisorPin, "wrong supervisor PIN").into_response(),
        );
    }
    state
        .store
        .supervisor_pin_success(site, client)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok(())
}

/// Undoes a packed parcel: back to `open`, its orders back to `picked`, out of the packed
/// counts. A parcel booked with the carrier needs `supervisor_pin` (403
/// `supervisor_pin_required` / `wrong_supervisor_pin` / `supervisor_pin_not_configured`,
/// 429 `too_many_attempts`); handed-over, cancelled and replaced parcels cannot (409).
#[utoipa::path(post, path = "/v1/parcels/{parcel_id}/unpacked", tag = "floor", params(("parcel_id" = String, Path)),
    request_body(content = Option<UnpackBody>, description = "optional"),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = UnpackResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "supervisor PIN missing, wrong or not configured; or a cross-origin write"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`parcel_cancelled`, `parcel_replaced`, `parcel_handed_over`"),
        (status = 429, body = ErrorBody)))]
pub async fn unpacked(
    State(state): State<AppState>,
    caller: Caller,
    Path(parcel_id): Path<String>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // A seller's token is refused before its body is read (401, not a 422 for a body
    // it had no business sending).
    super::waves::not_for_sellers(&caller)?;
    let body: UnpackBody = optional_body(&body)?;
    if let Some(id) = &body.unpack_id {
        check_id(id, ErrorCode::InvalidUnpackId, "unpack_id")?;
    }
    let (site, h, doc) = load_parcel(&state, &caller, &parcel_id).await?;
    let booked = h.contains_key("tracking")
        || h.get("cstatus").and_then(|s| s.parse().ok()) == Some(CarrierStatus::Booked);
    let open = h.get("status").and_then(|s| s.parse().ok()) == Some(FloorStatus::Open);
    let mut supervisor_ok = matches!(caller, Caller::Operator);
    if booked && !open && !supervisor_ok {
        let client = super::client::client_addr(
            peer.map(|axum::Extension(ConnectInfo(p))| p),
            &headers,
            &state.trusted_proxies,
        );
        if let Err(resp) =
            check_supervisor(&state, &site, &client, body.supervisor_pin.as_deref()).await
        {
            return Ok(resp);
        }
        supervisor_ok = true;
    }
    let orders: Vec<(String, String, String)> = doc
        .orders
        .iter()
        .map(|o| (doc.seller.clone(), o.order_id.clone(), o.session.clone()))
        .collect();
    let lines: Vec<(String, u32)> = doc.items().into_iter().map(|i| (i.sku, i.qty)).collect();
    let outcome = state
        .store
        .unpack(
            &site,
            &Unpack {
                parcel_id: &parcel_id,
                wave_id: &doc.wave_id,
                unpack_id: body.unpack_id.as_deref(),
                station: caller.actor(),
                supervisor_ok,
                orders: &orders,
                lines: &lines,
            },
        )
        .await?;
    let result = match outcome {
        UnpackOutcome::Unpacked => "unpacked",
        UnpackOutcome::AlreadyOpen => "already_open",
        UnpackOutcome::Duplicate => "duplicate",
        UnpackOutcome::Cancelled => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::ParcelCancelled,
                "every order of this parcel was cancelled",
            ))
        }
        UnpackOutcome::Replaced => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::ParcelReplaced,
                "this parcel was replaced after a cancellation: pull it",
            ))
        }
        UnpackOutcome::HandedOver => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::ParcelHandedOver,
                "this parcel is already with the carrier",
            ))
        }
        // Booked between our read and the script: ask for the PIN.
        UnpackOutcome::NeedPin => return Err(pin_refused(
            ErrorCode::SupervisorPinRequired,
            "this parcel is booked with the carrier: a supervisor must enter the PIN to unpack it",
        )),
        UnpackOutcome::NoParcel => return Err(ApiError::not_found("parcel")),
    };
    Ok(Json(UnpackResult {
        parcel_id,
        status: ParcelStatus::Open,
        result,
    })
    .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditParams {
    /// Newest entries, at most 500 (default 100).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    pub at: DateTime<Utc>,
    /// The station's name, or `operator`.
    pub station: String,
    /// unpick | unpack | put_back | pull | unload | pack_unpicked
    pub action: String,
    #[schema(required = true)]
    pub wave_id: Option<String>,
    #[schema(required = true)]
    pub parcel_id: Option<String>,
    #[schema(required = true)]
    pub sku: Option<String>,
    #[schema(required = true)]
    pub qty: Option<u64>,
    /// The tablet's id of the action, if any.
    #[schema(required = true)]
    pub id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditList {
    pub site: String,
    pub entries: Vec<AuditEntryView>,
}

/// Who undid or confirmed what on the floor, newest first (the site keeps the latest 10 000).
#[utoipa::path(get, path = "/v1/sites/{site}/audit", tag = "floor", params(("site" = String, Path), AuditParams),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = AuditList),
        (status = 400, body = ErrorBody, description = "a `limit` that is not a whole number (it is then kept within 1–500)"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Path(site): Path<String>,
    Query(q): Query<AuditParams>,
) -> Result<Json<AuditList>, ApiError> {
    check_site(&state, &caller, &site)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let entries = state
        .store
        .audit(&site, limit)
        .await?
        .into_iter()
        .map(|e| {
            let get = |k: &str| e.fields.get(k).filter(|v| !v.is_empty()).cloned();
            AuditEntryView {
                at: Utc
                    .timestamp_millis_opt(e.at_ms)
                    .single()
                    .unwrap_or_default(),
                station: get("station").unwrap_or_default(),
                action: get("action").unwrap_or_default(),
                wave_id: get("wave"),
                parcel_id: get("parcel"),
                sku: get("sku"),
                qty: get("qty").and_then(|v| v.parse().ok()),
                id: get("id"),
            }
        })
        .collect();
    Ok(Json(AuditList { site, entries }))
}
