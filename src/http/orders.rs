//! `GET /v1/orders/{order_id}`, `POST /v1/orders/{order_id}/cancel`.

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody, ErrorCode};
use crate::domain::address::Region;
use crate::domain::is_label;
use crate::domain::status::{BookState, CarrierStatus, OrderStatus};
use crate::metric_names as names;
use crate::state::AppState;
use crate::store::CancelOutcome;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SellerParam {
    /// Operator only: whose order.
    pub seller: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NormalizedAddress {
    /// Post-2025 province name.
    pub province: String,
    pub ward: String,
    /// north | central | south
    #[schema(value_type = String)]
    pub region: Region,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    pub order_id: String,
    pub seller: String,
    pub site: String,
    pub session: String,
    pub status: OrderStatus,
    pub received_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    #[schema(required = true)]
    pub pickup_at: Option<DateTime<Utc>>,
    /// Until it is handed over: true when its pickup (its parcel's once waved) is after its
    /// deadline, when it is overdue and not packed, or when its parcel will not ship
    /// (`shipping_problem`). False once handed over, delivered, returned or cancelled.
    pub at_risk: bool,
    /// Why its parcel will not ship as it is, when the carrier rejected it (with the
    /// carrier's reason) or cancelled it: the seller fixes the order (cancels it and sends
    /// it again corrected) or asks the hub. `null` otherwise.
    #[schema(required = true)]
    pub shipping_problem: Option<String>,
    #[schema(required = true)]
    pub wave_id: Option<String>,
    #[schema(required = true)]
    pub parcel_id: Option<String>,
    #[schema(required = true)]
    pub shipment_id: Option<String>,
    /// The ORDER as first accepted.
    #[schema(value_type = crate::domain::order::OrderWire)]
    pub order: serde_json::Value,
    pub ship_to_normalized: NormalizedAddress,
}

fn check_id(order_id: &str) -> Result<(), ApiError> {
    if is_label(order_id) {
        Ok(())
    } else {
        Err(ApiError::not_found("order"))
    }
}

/// One order as stored, with where it is now.
#[utoipa::path(get, path = "/v1/orders/{order_id}", tag = "orders",
    params(("order_id" = String, Path), SellerParam),
    security(("seller_token" = []), ("operator_token" = [])),
    responses((status = 200, body = OrderView), (status = 400, body = ErrorBody, description = "the operator did not name `?seller=`"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    Query(q): Query<SellerParam>,
) -> Result<Json<OrderView>, ApiError> {
    check_id(&order_id)?;
    let (seller, site) = caller.seller_scope(&state, q.seller.as_deref())?;
    let rec = state
        .store
        .order(&site, &seller, &order_id)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    let shipping_problem = match (&rec.parcel_id, rec.status) {
        (
            Some(parcel),
            OrderStatus::Waved | OrderStatus::Picked | OrderStatus::Packed | OrderStatus::Booked,
        ) => shipping_problem(&state, &site, parcel).await?,
        _ => None,
    };
    let d = rec.data;
    // Where it ships: its parcel's pickup once waved, else the first it can make.
    let pickup_at = rec.parcel_pickup.unwrap_or(d.pickup_at);
    // At risk while it has not left: its pickup after its deadline (as planned at ingest, or
    // its parcel's), overdue and not packed, or a shipping problem (the session view lists
    // only those not packed yet). Once handed over, delivered, returned or cancelled: never.
    let at_risk = match rec.status {
        OrderStatus::Received | OrderStatus::Waved | OrderStatus::Picked => {
            d.at_risk || pickup_at > d.deadline || chrono::Utc::now() > d.deadline
        }
        OrderStatus::Packed | OrderStatus::Booked => d.at_risk || pickup_at > d.deadline,
        _ => false,
    } || shipping_problem.is_some();
    Ok(Json(OrderView {
        order_id,
        seller: d.seller,
        site: d.site,
        session: d.session,
        status: rec.status,
        received_at: d.received_at,
        deadline: d.deadline,
        pickup_at: Some(pickup_at),
        at_risk,
        shipping_problem,
        wave_id: rec.wave_id,
        parcel_id: rec.parcel_id,
        shipment_id: rec.shipment_id,
        order: serde_json::to_value(&d.order).unwrap_or_default(),
        ship_to_normalized: NormalizedAddress {
            province: d.norm.province,
            ward: d.norm.ward,
            region: d.norm.region,
        },
    }))
}

/// Why the parcel `parcel_id` will not ship as it is: the carrier rejected its booking
/// (final) or cancelled it.
async fn shipping_problem(
    state: &AppState,
    site: &str,
    parcel_id: &str,
) -> Result<Option<String>, ApiError> {
    let loaded =
        crate::shipping::service::load_parcels(&state.store, site, &[parcel_id.to_owned()]).await?;
    let Some(p) = loaded.first() else {
        return Ok(None);
    };
    Ok(
        if p.book_state == Some(BookState::Rejected) && p.tracking.is_none() {
            Some(format!(
                "the carrier rejected its parcel {parcel_id}: {}",
                p.book_error.as_deref().unwrap_or("no reason given")
            ))
        } else if p.carrier_status == Some(CarrierStatus::CancelledByCarrier) {
            Some(format!("the carrier cancelled its parcel {parcel_id}"))
        } else {
            None
        },
    )
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CancelBody {
    /// e.g. `buyer_cancelled`
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CancelResult {
    pub order_id: String,
    /// cancelled | too_late | unknown
    pub status: String,
}

/// The same as the ingest `cancel` frame.
#[utoipa::path(post, path = "/v1/orders/{order_id}/cancel", tag = "orders",
    params(("order_id" = String, Path)), request_body(content = Option<CancelBody>, description = "optional"),
    security(("seller_token" = [])),
    responses((status = 200, body = CancelResult),
        (status = 400, body = ErrorBody, description = "`invalid_order_id`, `invalid_reason`, or a body that is not JSON"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not a seller's token"),
        (status = 415, body = ErrorBody, description = "a non-empty body that is not `Content-Type: application/json`"),
        (status = 422, body = ErrorBody, description = "a body that is not `{reason}`")))]
pub async fn cancel_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<CancelResult>, ApiError> {
    let Caller::Seller { id: seller, site } = caller else {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            ErrorCode::SellerOnly,
            "orders are cancelled with the seller's token",
        ));
    };
    // As the `cancel` frame: a malformed id is an error naming it, not an `unknown` order.
    if !crate::domain::is_order_id(&order_id) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidOrderId,
            "`order_id`: 1–64 of A-Z a-z 0-9 . _ -, not dots alone",
        ));
    }
    // The body is optional: none, or an empty one whatever its Content-Type, cancels with
    // reason `unspecified`; any other is JSON `{reason}` (415, 400 or 422 as elsewhere).
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let json = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::InvalidBody,
                "a body must be JSON `{\"reason\": …}` with `Content-Type: application/json`",
            ));
        }
        crate::web::body::object_only(&body)?;
        Json::<CancelBody>::from_bytes(&body)?.0.reason
    };
    let reason = reason.unwrap_or_else(|| "unspecified".into());
    if !is_label(&reason) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidReason,
            "`reason`: 1–64 of A-Z a-z 0-9 . _ -",
        ));
    }
    let outcome = state
        .store
        .cancel(
            &site,
            &seller,
            &order_id,
            &reason,
            &crate::store::tombstones::DedupeWindow::from_config(&state.config.retention),
        )
        .await?;
    if outcome == CancelOutcome::Cancelled {
        metrics::counter!(names::ORDERS_CANCELLED, "site" => site).increment(1);
    }
    Ok(Json(CancelResult {
        order_id,
        status: outcome.as_str().into(),
    }))
}
