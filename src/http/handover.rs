//! Hand-over at the truck (contract §6): scans of each label onto the driver's truck, and
//! the hand-over that needs every ship-able parcel loaded or left behind with a reason.

use crate::metric_names as names;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody, ErrorCode, ErrorDetail};
use super::shipments::{find, find_site};
use crate::domain::status::ShipmentStatus;
use crate::shipping::handover::{self, ScanResult, MAX_CODE_LEN, MAX_REASON_CHARS};
use crate::state::AppState;
use crate::store::handover::{HandOverOutcome, ScanOutcome};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ScanBody {
    /// A scanned tracking code or parcel id (surrounding whitespace is ignored).
    pub code: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScanAnswer {
    /// The parcel the code names (null when unknown).
    #[schema(required = true)]
    pub parcel_id: Option<String>,
    pub result: ScanResult,
    /// With `loaded`: `not_packed` (no station marked this parcel packed; check that its
    /// box holds all its items), else `not_booked` (the carrier has no order for it yet:
    /// book before the truck leaves). Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<ScanWarning>,
}

/// Something to check about a parcel just loaded.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanWarning {
    /// No station marked it packed: check that its box holds all its items.
    NotPacked,
    /// Packed, but the carrier has no order for it yet (no tracking code): book the
    /// shipment before the truck leaves, or the box travels without a carrier order.
    NotBooked,
}

/// One label scanned at the truck: puts its parcel on the truck (idempotent).
#[utoipa::path(post, path = "/v1/shipments/{shipment_id}/scans", tag = "shipments", params(("shipment_id" = String, Path)),
    request_body = ScanBody, security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = ScanAnswer), (status = 400, body = ErrorBody, description = "`code` is empty or too long"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a cookie-authenticated write from another origin"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "the shipment has left and this parcel was not on it"),
        (status = 415, body = ErrorBody, description = "not `Content-Type: application/json`"),
        (status = 422, body = ErrorBody, description = "the JSON is not `{code}`")))]
pub async fn scan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<crate::web::body::ObjectJson<ScanBody>, crate::web::error::ApiError>,
) -> Result<Json<ScanAnswer>, ApiError> {
    // A seller's token is refused before its body is read (401, not a 422 for a body
    // it had no business sending).
    super::waves::not_for_sellers(&caller)?;
    let crate::web::body::ObjectJson(body) = body?;
    let code = body.code.trim();
    if code.is_empty() || code.len() > MAX_CODE_LEN {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidCode,
            format!("`code`: a tracking code or parcel id, 1–{MAX_CODE_LEN} bytes"),
        ));
    }
    let site = find_site(&state, &caller, &id).await?;
    let (parcel_id, out) = handover::scan(&state.shipping, &site, &id, code).await?;
    let warning = match (out, &parcel_id) {
        (ScanOutcome::LoadedUnpacked, _) => Some(ScanWarning::NotPacked),
        (ScanOutcome::Loaded, Some(pid)) => {
            // The parcel is loaded already: a failed read only loses the warning.
            match state
                .store
                .parcel_hashes(&site, std::slice::from_ref(pid))
                .await
            {
                Ok(h) => {
                    let booked = h.first().is_some_and(|h| h.contains_key("tracking"));
                    (!booked).then_some(ScanWarning::NotBooked)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "scan: could not read the parcel's booking");
                    None
                }
            }
        }
        _ => None,
    };
    let result = match out {
        ScanOutcome::Loaded | ScanOutcome::LoadedUnpacked => ScanResult::Loaded,
        ScanOutcome::AlreadyLoaded => ScanResult::AlreadyLoaded,
        ScanOutcome::Pull => ScanResult::Pull,
        ScanOutcome::NotInShipment => ScanResult::NotInShipment,
        ScanOutcome::Unknown => ScanResult::Unknown,
        ScanOutcome::Closed => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::HandedOver,
                "the shipment has left already",
            ))
        }
    };
    metrics::counter!(names::HANDOVER_SCANS, "site" => site.clone(), "result" => result.as_str())
        .increment(1);
    Ok(Json(ScanAnswer {
        parcel_id,
        result,
        warning,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeftBehind {
    pub parcel_id: String,
    /// Why it stays (1–200 characters).
    pub reason: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandOverBody {
    /// Parcels of the shipment that do not go with this driver, each with its reason.
    #[serde(default)]
    pub left_behind: Vec<LeftBehind>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HandedOver {
    pub shipment_id: String,
    /// handed_over
    pub status: ShipmentStatus,
    pub parcels_handed_over: u64,
    pub left_behind: Vec<String>,
    /// Parcels that left without a carrier booking (no tracking code): the carrier has no
    /// order for them; tell the carrier, or take them back at its depot.
    pub not_booked: Vec<String>,
}

/// A 409 naming the parcels still missing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ParcelsMissing {
    pub error: ErrorDetail,
    /// Ship-able parcels neither loaded nor left behind with a reason.
    pub missing: Vec<String>,
    /// (`repack_pending`, nothing missing) Parcels to go that hold an order cancelled since
    /// they were waved, not yet replaced by their repack.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repack_pending: Vec<String>,
    /// (`pull_pending`, nothing missing) Parcels that no longer ship but were scanned onto
    /// the truck: take each off and confirm it (`POST /v1/parcels/{id}/pulled`) first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to_pull: Vec<String>,
    /// (`left_behind_loaded`, nothing missing) Parcels listed in `left_behind` that were
    /// scanned onto the truck: they go with it (send the hand-over without them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub loaded_left_behind: Vec<String>,
}

impl ParcelsMissing {
    /// A refusal with its code and message, its lists empty (the caller fills its own).
    fn refusal(code: ErrorCode, message: String) -> Self {
        ParcelsMissing {
            error: ErrorDetail { code, message },
            missing: Vec::new(),
            repack_pending: Vec::new(),
            to_pull: Vec::new(),
            loaded_left_behind: Vec::new(),
        }
    }
}

impl IntoResponse for ParcelsMissing {
    fn into_response(self) -> Response {
        (StatusCode::CONFLICT, Json(self)).into_response()
    }
}

fn parse_body(body: &[u8]) -> Result<HandOverBody, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(HandOverBody::default());
    }
    crate::web::body::object_only(body)?;
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            ErrorCode::InvalidBody,
            format!(
                "the body is `{{\"left_behind\":[{{\"parcel_id\",\"reason\"}}]}}` or empty: {e}"
            ),
        )
    })
}

/// The driver leaves with the shipment: every ship-able parcel must be scanned onto the
/// truck or left behind with a reason (409 with `missing` otherwise).
#[utoipa::path(post, path = "/v1/shipments/{shipment_id}/handed-over", tag = "shipments", params(("shipment_id" = String, Path)),
    request_body(content = Option<HandOverBody>, description = "optional: parcels left behind, each with its reason"),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = HandedOver), (status = 400, body = ErrorBody, description = "a malformed body, a parcel not in the shipment, or a missing or too long reason"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a cookie-authenticated write from another origin"), (status = 404, body = ErrorBody),
        (status = 409, body = ParcelsMissing, description = "ship-able parcels neither loaded nor left behind (`parcels_missing`, `missing`), or, with none missing, parcels that no longer ship still scanned onto the truck (`pull_pending`, in `to_pull`), or parcels holding an order cancelled meanwhile whose repack has not replaced them yet (`repack_pending`, in `repack_pending`), or parcels listed as left behind that were scanned onto the truck (`left_behind_loaded`, in `loaded_left_behind`)")))]
pub async fn handed_over(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    // A seller's token is refused before its body is read (401, not a 422 for a body
    // it had no business sending).
    super::waves::not_for_sellers(&caller)?;
    let body = parse_body(&body)?;
    let mut sh = find(&state, &caller, &id).await?;
    let mut left: Vec<(String, String)> = Vec::with_capacity(body.left_behind.len());
    // A repeat (a tablet's retry after a lost answer) is answered as the first was, whatever
    // its list: the parcels it left behind have moved on to another shipment meanwhile.
    let repeat = sh.status == ShipmentStatus::HandedOver;
    for (i, lb) in body.left_behind.iter().enumerate().filter(|_| !repeat) {
        let field = format!("left_behind[{i}]");
        if !sh.parcels.iter().any(|p| p.doc.parcel_id == lb.parcel_id) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidLeftBehind,
                format!("`{field}.parcel_id`: not a parcel of this shipment"),
            ));
        }
        if left.iter().any(|(p, _)| *p == lb.parcel_id) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidLeftBehind,
                format!("`{field}.parcel_id`: listed twice"),
            ));
        }
        let reason = lb.reason.trim();
        if let Some(problem) = crate::domain::order::text_problem(reason, MAX_REASON_CHARS) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidLeftBehind,
                format!("`{field}.reason`: 1–{MAX_REASON_CHARS} characters; {problem}"),
            ));
        }
        left.push((lb.parcel_id.clone(), reason.to_owned()));
    }
    let mut tries = 0;
    let (handed_over, left_behind) = loop {
        match handover::hand_over(&state.shipping, &sh, &left).await? {
            HandOverOutcome::Done {
                handed_over,
                left_behind,
            } => {
                metrics::counter!(names::SHIPMENTS_HANDED_OVER, "site" => sh.site.clone())
                    .increment(1);
                break (handed_over, left_behind);
            }
            // A repeat answers as the first hand-over did (and counts no second one).
            HandOverOutcome::AlreadyHandedOver(Some(first)) => {
                break (first.handed_over, first.left_behind)
            }
            // Handed over by a build that kept no answer: what the parcels still say.
            HandOverOutcome::AlreadyHandedOver(None) => {
                let left = sh
                    .parcels
                    .iter()
                    .filter(|p| p.left_behind.is_some())
                    .map(|p| p.doc.parcel_id.clone())
                    .collect();
                break (0, left);
            }
            HandOverOutcome::Missing(missing) => {
                let message = format!(
                    "{} parcel(s) neither loaded nor left behind with a reason",
                    missing.len()
                );
                return Ok(ParcelsMissing {
                    missing,
                    ..ParcelsMissing::refusal(ErrorCode::ParcelsMissing, message)
                }
                .into_response());
            }
            HandOverOutcome::LoadedLeftBehind(parcels) => {
                let message = format!(
                    "{} parcel(s) listed as left behind were scanned onto the truck: \
                     hand them over with it (leave them out of left_behind), or take each \
                     off the truck and confirm it (POST /v1/parcels/{{id}}/pulled) first",
                    parcels.len()
                );
                return Ok(ParcelsMissing {
                    loaded_left_behind: parcels,
                    ..ParcelsMissing::refusal(ErrorCode::LeftBehindLoaded, message)
                }
                .into_response());
            }
            HandOverOutcome::Repacking(parcels) => {
                let message = format!(
                    "{} parcel(s) hold an order cancelled meanwhile and are being replaced: \
                     pull them, repack and scan their replacements, then hand over",
                    parcels.len()
                );
                return Ok(ParcelsMissing {
                    repack_pending: parcels,
                    ..ParcelsMissing::refusal(ErrorCode::RepackPending, message)
                }
                .into_response());
            }
            HandOverOutcome::PullFirst(parcels) => {
                let message = format!(
                    "{} parcel(s) that no longer ship are on the truck: take them off \
                     and confirm each pulled, then hand over",
                    parcels.len()
                );
                return Ok(ParcelsMissing {
                    to_pull: parcels,
                    ..ParcelsMissing::refusal(ErrorCode::PullPending, message)
                }
                .into_response());
            }
            HandOverOutcome::Stale if tries < 3 => {
                tries += 1;
                sh = find(&state, &caller, &id).await?;
            }
            HandOverOutcome::Stale => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorCode::ShipmentChanged,
                    "the shipment's parcels keep changing; try again",
                ))
            }
        }
    };
    // Sorted (by number), so a repeat answers exactly as the first did.
    let mut left_behind = left_behind;
    left_behind.sort_by(|a, b| crate::domain::id_order(a, b));
    // (`sh` as read before this hand-over, or after the first one for a repeat.)
    let mut not_booked: Vec<String> = sh
        .parcels
        .iter()
        .filter(|p| p.tracking.is_none())
        .filter(|p| {
            p.carrier_status == Some(crate::domain::status::CarrierStatus::HandedOver)
                || (p.ships() && p.loaded && !left_behind.contains(&p.doc.parcel_id))
        })
        .map(|p| p.doc.parcel_id.clone())
        .collect();
    not_booked.sort_by(|a, b| crate::domain::id_order(a, b));
    Ok(Json(HandedOver {
        shipment_id: id,
        status: ShipmentStatus::HandedOver,
        parcels_handed_over: handed_over,
        left_behind,
        not_booked,
    })
    .into_response())
}
