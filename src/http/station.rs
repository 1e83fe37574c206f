//! Station sign-in for packing tablets: site + PIN → a cookie session.
//! Five wrong PINs in a row lock the site's sign-in for 15 minutes.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::{station_token, STATION_COOKIE};
use super::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// How long a station session lasts (a packing shift and then some).
pub const SESSION_SECS: u64 = 12 * 3600;
const MAX_FAILURES: u64 = 5;
const LOCKOUT_SECS: u64 = 15 * 60;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignIn {
    pub site: String,
    pub pin: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StationSession {
    pub site: String,
    pub expires_at: DateTime<Utc>,
}

/// Signs a tablet in with its site's PIN; sets an HttpOnly, SameSite=Strict cookie.
#[utoipa::path(post, path = "/v1/station/session", tag = "station", request_body = SignIn,
    responses((status = 200, body = StationSession), (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody), (status = 415, body = ErrorBody, description = "not `Content-Type: application/json`"),
        (status = 422, body = ErrorBody, description = "the JSON is not `{site, pin}`"), (status = 429, body = ErrorBody)))]
pub async fn sign_in(
    State(state): State<AppState>,
    body: Result<Json<SignIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let Some(site) = state.config.site(&body.site) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong_pin",
            "wrong site or PIN",
        ));
    };
    // The attempt is counted before the PIN is judged (a right PIN resets the count), so
    // at most MAX_FAILURES guesses are ever judged per window, however many run in parallel.
    if state
        .store
        .pin_attempt(&site.id, MAX_FAILURES, LOCKOUT_SECS)
        .await?
        > MAX_FAILURES
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "locked",
            "too many wrong PINs: sign-in is locked for 15 minutes",
        ));
    }
    // argon2 is deliberately slow: verify off the async workers.
    let (stored, candidate) = (site.station_pin.clone(), body.pin.clone());
    let ok = tokio::task::spawn_blocking(move || crate::http::pin::verify(&stored, &candidate))
        .await
        .unwrap_or(false);
    if !ok {
        tracing::warn!(site = %site.id, "wrong station PIN");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong_pin",
            "wrong site or PIN",
        ));
    }
    state.store.pin_reset(&site.id).await?;
    let token = hex::encode(rand::random::<[u8; 32]>());
    state
        .store
        .put_station_session(&token, &site.id, SESSION_SECS)
        .await?;
    let expires_at = Utc::now() + chrono::Duration::seconds(SESSION_SECS as i64);
    let cookie = format!(
        "{STATION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}"
    );
    let mut resp = Json(StationSession {
        site: site.id.clone(),
        expires_at,
    })
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|_| ApiError::bad_request("invalid", "cookie"))?,
    );
    Ok(resp)
}

/// Signs the tablet out.
#[utoipa::path(delete, path = "/v1/station/session", tag = "station", responses((status = 204)))]
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = station_token(&headers) {
        state.store.drop_station_session(token).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("lp_station=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(resp)
}
