//! `/healthz` (process up) and `/readyz` (Redis reachable and writable).

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::error::{ApiError, ErrorBody, ErrorCode};
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Redis is reachable and takes writes.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::unavailable(
            ErrorCode::ShuttingDown,
            "the service is shutting down",
        ));
    }
    if let Some(why) = state.store.unverified() {
        return Err(ApiError::unavailable(
            ErrorCode::StorageUnavailable,
            format!("orders are not acked until redis is known to persist: {why}"),
        ));
    }
    state.store.ready().await.map_err(|_| {
        ApiError::unavailable(
            ErrorCode::StorageUnavailable,
            "redis is not reachable or not writable",
        )
    })?;
    Ok(Json(Health { status: "ready" }))
}
