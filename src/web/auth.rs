//! Who is calling: a seller (bearer token), the operator (bearer token), or nobody.
//! Tokens are compared in constant time against every configured token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::error::{ApiError, ErrorCode};
use crate::config::SellerConfig;
use crate::state::AppState;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The seller whose token the request carries. Every seller's token is compared (no
/// early exit), so timing does not reveal which tokens exist.
pub fn seller_from_headers<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
) -> Option<&'a SellerConfig> {
    let token = bearer(headers)?;
    let mut found = None;
    for s in &state.config.sellers {
        if s.token.matches(token) {
            found = Some(s);
        }
    }
    found
}

#[derive(Debug, Clone)]
pub enum Caller {
    Seller {
        id: String,
        site: String,
    },
    /// A packing tablet signed in with its site's PIN (cookie session), under the name
    /// it gave itself at sign-in (who did what, in the floor's audit).
    Station {
        site: String,
        station: String,
    },
    Operator,
}

pub const STATION_COOKIE: &str = "lp_station";

/// The station session token of the request's cookie, if any.
pub fn station_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == STATION_COOKIE)
        .map(|(_, v)| v)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Cookie-authenticated writes must come from our own pages: a cross-site Origin is
/// refused (SameSite=Strict already keeps the cookie off cross-site requests).
fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    let Some(origin) = headers
        .get(axum::http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    else {
        return true;
    };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .map(|(_, rest)| rest == host)
        .unwrap_or(false)
}

/// 403 `cross_origin` for a request from another site's page: station writes, and the
/// station's sign-in and sign-out (which set and clear its cookie).
pub fn refuse_cross_site(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    if same_origin(headers) {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            ErrorCode::CrossOrigin,
            "cross-site request refused",
        ))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(s) = seller_from_headers(state, &parts.headers) {
            return Ok(Caller::Seller {
                id: s.id.clone(),
                site: s.site.clone(),
            });
        }
        match bearer(&parts.headers) {
            Some(t) if state.config.operator.token.matches(t) => return Ok(Caller::Operator),
            Some(_) => return Err(ApiError::unauthorized()),
            None => {}
        }
        let Some(token) = station_token(&parts.headers) else {
            return Err(ApiError::unauthorized());
        };
        if parts.method != axum::http::Method::GET {
            refuse_cross_site(&parts.headers)?;
        }
        match state.store.station_session(token).await? {
            Some(value) => {
                let (site, station) = split_session(&value);
                if state.config.site(site).is_some() {
                    Ok(Caller::Station {
                        site: site.to_owned(),
                        station: station.to_owned(),
                    })
                } else {
                    Err(ApiError::unauthorized())
                }
            }
            _ => Err(ApiError::unauthorized()),
        }
    }
}

/// A station session's stored value: `site` TAB `station name` (sessions made before
/// stations had names hold the site alone: named `tablet`).
pub fn session_value(site: &str, station: &str) -> String {
    format!("{site}\t{station}")
}

fn split_session(value: &str) -> (&str, &str) {
    value.split_once('\t').unwrap_or((value, "tablet"))
}

impl Caller {
    /// Who acts, for the floor's audit: the station's name, or `operator`.
    pub fn actor(&self) -> &str {
        match self {
            Caller::Station { station, .. } => station,
            Caller::Operator => "operator",
            Caller::Seller { id, .. } => id,
        }
    }

    /// The (seller, site) a seller-scoped read is about: a seller reads only its own; the
    /// operator names the seller with `?seller=ID`.
    pub fn seller_scope(
        &self,
        state: &AppState,
        seller: Option<&str>,
    ) -> Result<(String, String), ApiError> {
        match self {
            Caller::Seller { id, site } => Ok((id.clone(), site.clone())),
            Caller::Station { .. } => Err(ApiError::wrong_credentials(
                "a seller's token or the operator's",
            )),
            Caller::Operator => {
                let id = seller.ok_or_else(|| {
                    ApiError::bad_request(
                        ErrorCode::MissingSeller,
                        "the operator names the seller: ?seller=ID",
                    )
                })?;
                let s = state
                    .config
                    .seller(id)
                    .ok_or_else(|| ApiError::not_found("seller"))?;
                Ok((s.id.clone(), s.site.clone()))
            }
        }
    }
}

/// A station's or the operator's route: a seller's token is the wrong kind of credential
/// there (401), before any id is looked at.
pub fn not_for_sellers(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Seller { .. } => Err(ApiError::wrong_credentials(
            "a station's sign-in or the operator's token",
        )),
        _ => Ok(()),
    }
}

/// The station of `site`, or the operator (the HTTP API's and the tablet's event stream's
/// one check): another site's station sees no such site; a seller's token is the wrong
/// kind of credential.
pub fn check_site(state: &AppState, caller: &Caller, site: &str) -> Result<(), ApiError> {
    // A seller's token is of the wrong kind whatever the site: 401 before looking it up (a
    // 404 for unknown ids only would tell a seller which sites exist).
    if matches!(caller, Caller::Seller { .. }) {
        return not_for_sellers(caller);
    }
    if state.config.site(site).is_none() {
        return Err(ApiError::not_found("site"));
    }
    match caller {
        Caller::Operator => Ok(()),
        Caller::Station { site: own, .. } if own == site => Ok(()),
        Caller::Station { .. } => Err(ApiError::not_found("site")),
        Caller::Seller { .. } => not_for_sellers(caller),
    }
}
