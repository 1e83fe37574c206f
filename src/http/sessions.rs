//! `GET /v1/sessions/{label}`.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Serialize;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::orders::SellerParam;
use crate::domain::is_label;
use crate::domain::status::SessionState;
use crate::observe::{session_at_risk, WavedAtRisk};
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub label: String,
    pub seller: String,
    /// The seller's packing site.
    pub site: String,
    pub state: SessionState,
    /// Counts of orders, not frames.
    pub accepted: u64,
    pub duplicate: u64,
    pub rejected: u64,
    pub waved: u64,
    pub packed: u64,
    /// Orders of the session cancelled here (a cancel frame, `POST /v1/orders/{id}/cancel`
    /// or a push's platform-cancelled rows) before they left with the carrier.
    pub cancelled: u64,
    /// How many of the session's waved, not yet packed orders are at risk: overdue, or
    /// their wave's pickup (or their own `at_risk` flag) says they miss their deadline.
    pub at_risk_waved: usize,
    /// Those orders (at most 1,000), earliest deadline first.
    pub at_risk_orders: Vec<WavedAtRisk>,
}

/// A livestream session's progress.
#[utoipa::path(get, path = "/v1/sessions/{label}", tag = "sessions",
    params(("label" = String, Path), SellerParam),
    security(("seller_token" = []), ("operator_token" = [])),
    responses((status = 200, body = SessionView), (status = 400, body = ErrorBody, description = "the operator did not name `?seller=`"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(label): Path<String>,
    Query(q): Query<SellerParam>,
) -> Result<Json<SessionView>, ApiError> {
    if !is_label(&label) {
        return Err(ApiError::not_found("session"));
    }
    let (seller, site) = caller.seller_scope(&state, q.seller.as_deref())?;
    let s = state
        .store
        .session(&site, &seller, &label)
        .await?
        .ok_or_else(|| ApiError::not_found("session"))?;
    let (at_risk_waved, at_risk_orders) =
        session_at_risk(&state, &site, &seller, &label, chrono::Utc::now()).await?;
    Ok(Json(SessionView {
        label,
        seller,
        site,
        state: s.state,
        accepted: s.accepted,
        duplicate: s.duplicate,
        rejected: s.rejected,
        waved: s.waved,
        packed: s.packed,
        cancelled: s.cancelled,
        at_risk_waved,
        at_risk_orders,
    }))
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    #[test]
    fn the_session_schema_describes_its_at_risk_orders() {
        let doc = serde_json::to_value(super::super::ApiDoc::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let props = &schemas["SessionView"]["properties"];
        assert!(props["at_risk_waved"].is_object(), "{props}");
        assert!(props["at_risk_orders"].is_object(), "{props}");
        assert!(schemas["WavedAtRisk"]["properties"]["reason"].is_object());
    }
}
