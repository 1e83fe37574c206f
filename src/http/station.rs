//! Station sign-in for packing tablets: site + PIN → a cookie session.
//!
//! Guessing is throttled per client (its address, see `client.rs`) and site, never for a
//! whole site: a client's first [`PIN_POLICY`]`.free_attempts` tries are judged at once,
//! then it must wait 1 s, 2 s, 4 s … (at most 15 min) between tries (429 with
//! `Retry-After`); its right PIN forgets only its own count. A site under many attempts
//! a minute answers every try more slowly (never refusing the right PIN from another
//! client). An operator can forget every count of a site:
//! `DELETE /v1/sites/{site}/pin-failures`.

use crate::metric_names as names;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::{station_token, Caller, STATION_COOKIE};
use super::error::{ApiError, ErrorBody, ErrorCode};
use crate::state::AppState;
use crate::store::waves::PinPolicy;

/// How long a station session lasts (a packing shift and then some).
pub const SESSION_SECS: u64 = 12 * 3600;

/// Per-client back-off of PIN guesses.
pub const PIN_POLICY: PinPolicy = PinPolicy {
    free_attempts: 5,
    backoff_base_ms: 1_000,
    backoff_cap_ms: 15 * 60 * 1_000,
    remember_secs: 24 * 3600,
};
/// Attempts a minute at one site above which every try is slowed down.
const SITE_CALM_PER_MINUTE: u64 = 30;
/// The added delay per attempt over that, and its cap.
const SITE_SLOWDOWN_STEP_MS: u64 = 100;
const SITE_SLOWDOWN_MAX_MS: u64 = 3_000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignIn {
    pub site: String,
    pub pin: String,
    /// Optional name of this tablet (1–32 characters, e.g. "Bàn 1"), shown on the waves it
    /// works and in the floor's audit; default a short random id `T-xxxx`.
    #[serde(default)]
    pub station: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StationSession {
    pub site: String,
    pub expires_at: DateTime<Utc>,
    /// The station's name (as given, or the one chosen for it).
    pub station: String,
}

/// A station name: 1–32 characters, no control characters, trimmed.
pub fn station_name(given: Option<&str>) -> Result<String, ApiError> {
    match given.map(str::trim) {
        None | Some("") => Ok(format!("T-{}", hex::encode(rand::random::<[u8; 2]>()))),
        Some(n)
            if !n.chars().any(char::is_control)
                && crate::domain::order::text_problem(n, 32).is_none() =>
        {
            Ok(n.to_owned())
        }
        Some(_) => Err(ApiError::bad_request(
            ErrorCode::InvalidStation,
            "`station`: 1–32 characters, something visible, no control or direction-control characters",
        )),
    }
}

/// Signs a tablet in with its site's PIN; sets an HttpOnly, SameSite=Strict cookie.
#[utoipa::path(post, path = "/v1/station/session", tag = "station", request_body = SignIn,
    responses((status = 200, body = StationSession), (status = 400, body = ErrorBody, description = "the body is not JSON"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "`cross_origin`: sent from another site's page"),
        (status = 415, body = ErrorBody, description = "not `Content-Type: application/json`"),
        (status = 422, body = ErrorBody, description = "the JSON is not `{site, pin}`"), (status = 429, body = ErrorBody)))]
pub async fn sign_in(
    State(state): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<crate::web::body::ObjectJson<SignIn>, crate::web::error::ApiError>,
) -> Result<Response, ApiError> {
    super::auth::refuse_cross_site(&headers)?;
    let crate::web::body::ObjectJson(body) = body?;
    let station = station_name(body.station.as_deref())?;
    let Some(site) = state.config.site(&body.site) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::WrongPin,
            "wrong site or PIN",
        ));
    };
    let client = super::client::client_addr(
        peer.map(|axum::Extension(ConnectInfo(p))| p),
        &headers,
        &state.trusted_proxies,
    );
    // The attempt is counted before the PIN is judged, atomically, so parallel guesses from
    // one client get no more than its free attempts judged.
    let attempt = state
        .store
        .pin_attempt(&site.id, &client, &PIN_POLICY)
        .await?;
    if attempt.attempts == 0 {
        metrics::counter!(names::STATION_PIN_THROTTLED, "site" => site.id.clone()).increment(1);
        let secs = attempt.wait_ms.div_ceil(1000).max(1);
        tracing::info!(site = %site.id, client = %client, wait_s = secs, "station sign-in throttled");
        let mut resp = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyAttempts,
            format!("too many wrong PINs from this device: try again in {secs} s"),
        )
        .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(resp);
    }
    if attempt.site_minute > SITE_CALM_PER_MINUTE {
        let ms = ((attempt.site_minute - SITE_CALM_PER_MINUTE) * SITE_SLOWDOWN_STEP_MS)
            .min(SITE_SLOWDOWN_MAX_MS);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    // argon2 is deliberately slow: verify off the async workers.
    let (stored, candidate) = (site.station_pin.clone(), body.pin.clone());
    let ok = tokio::task::spawn_blocking(move || crate::http::pin::verify(&stored, &candidate))
        .await
        .unwrap_or(false);
    if !ok {
        metrics::counter!(names::STATION_PIN_FAILURES, "site" => site.id.clone()).increment(1);
        // The client's address (contract §8: the first `X-Forwarded-For` address from a
        // trusted proxy), so that an operator sees who is guessing.
        tracing::warn!(site = %site.id, client = %client, attempts = attempt.attempts, "wrong station PIN");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::WrongPin,
            "wrong site or PIN",
        ));
    }
    state.store.pin_success(&site.id, &client).await?;
    let token = hex::encode(rand::random::<[u8; 32]>());
    state
        .store
        .put_station_session(
            &token,
            &super::auth::session_value(&site.id, &station),
            SESSION_SECS,
        )
        .await?;
    let expires_at = Utc::now() + chrono::Duration::seconds(SESSION_SECS as i64);
    let cookie = format!(
        "{STATION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}"
    );
    let mut resp = Json(StationSession {
        site: site.id.clone(),
        expires_at,
        station,
    })
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie)
            .map_err(|_| ApiError::bad_request(ErrorCode::Invalid, "cookie"))?,
    );
    Ok(resp)
}

/// Signs the tablet out.
#[utoipa::path(delete, path = "/v1/station/session", tag = "station", responses((status = 204),
    (status = 403, body = ErrorBody, description = "`cross_origin`: sent from another site's page")))]
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    super::auth::refuse_cross_site(&headers)?;
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PinUnlock {
    pub site: String,
    /// How many clients' counts were forgotten.
    pub cleared: u64,
}

/// The operator forgets every client's wrong-PIN count at a site (a locked-out tablet
/// can sign in again at once).
#[utoipa::path(delete, path = "/v1/sites/{site}/pin-failures", tag = "station",
    params(("site" = String, Path)), security(("operator_token" = [])),
    responses((status = 200, body = PinUnlock), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unlock(
    State(state): State<AppState>,
    caller: Caller,
    Path(site): Path<String>,
) -> Result<Json<PinUnlock>, ApiError> {
    if !matches!(caller, Caller::Operator) {
        return Err(ApiError::wrong_credentials("the operator's token"));
    }
    let Some(site) = state.config.site(&site) else {
        return Err(ApiError::not_found("site"));
    };
    let cleared = state.store.pin_unlock(&site.id).await?;
    tracing::info!(site = %site.id, cleared, "station sign-in unlocked by the operator");
    Ok(Json(PinUnlock {
        site: site.id.clone(),
        cleared,
    }))
}
