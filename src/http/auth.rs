//! Who is calling: a seller (bearer token), the operator (bearer token), or nobody.
//! Tokens are compared in constant time against every configured token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::error::ApiError;
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
    Seller { id: String, site: String },
    Operator,
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
            Some(t) if state.config.operator.token.matches(t) => Ok(Caller::Operator),
            _ => Err(ApiError::unauthorized()),
        }
    }
}

impl Caller {
    /// The (seller, site) a seller-scoped read is about: a seller reads only its own; the
    /// operator names the seller with `?seller=ID`.
    pub fn seller_scope(
        &self,
        state: &AppState,
        seller: Option<&str>,
    ) -> Result<(String, String), ApiError> {
        match self {
            Caller::Seller { id, site } => Ok((id.clone(), site.clone())),
            Caller::Operator => {
                let id = seller.ok_or_else(|| {
                    ApiError::bad_request(
                        "missing_seller",
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
