//! COD statements and returns (contract §7): settlement uploads (operator), a seller's
//! statement (that seller or the operator), a site's returned parcels for restocking.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::waves::{check_site, parse_date, DateParam};
use crate::import::settlement::{self, SettlementError};
use crate::shipping::cod::{self, ReturnedParcel, SettlementResult, Statement};
use crate::state::AppState;

/// A carrier's settlement export: CSV or XLSX bytes.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // a schema only: the body is the bytes
pub struct SettlementFile(Vec<u8>);

/// Largest settlement file accepted (a month of a busy shop's rows as XLSX is a few MB).
pub const MAX_SETTLEMENT_BYTES: usize = 32 * 1024 * 1024;

/// Imports a carrier's settlement export (CSV or XLSX as downloaded, told by content):
/// rows are matched to parcels by tracking code; uploading the same file again changes
/// nothing. A file with a bad row is refused whole, the error naming each bad line and column.
#[utoipa::path(post, path = "/v1/carriers/{carrier_id}/settlements", tag = "cod", params(("carrier_id" = String, Path)),
    request_body(content(
        (SettlementFile = "application/octet-stream"),
        (SettlementFile = "text/csv")),
        description = "the carrier's CSV or XLSX export as it is (any content type), Vietnamese headers"),
    security(("operator_token" = [])),
    responses((status = 200, body = SettlementResult), (status = 400, body = ErrorBody, description = "unreadable file, missing column, or bad rows (each named by line and column)"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn settlements(
    State(state): State<AppState>,
    caller: Caller,
    Path(carrier_id): Path<String>,
    body: Bytes,
) -> Result<Json<SettlementResult>, ApiError> {
    if !matches!(caller, Caller::Operator) {
        return Err(ApiError::wrong_credentials("the operator's token"));
    }
    let carrier = state
        .config
        .carriers
        .iter()
        .find(|c| c.id == carrier_id)
        .ok_or_else(|| ApiError::not_found("carrier"))?;
    let rows = settlement::parse(&body).map_err(|e| {
        let code = match e {
            SettlementError::Unreadable(_) => ErrorCode::UnreadableFile,
            SettlementError::MissingColumn { .. } => ErrorCode::MissingColumn,
            SettlementError::BadRows(_) => ErrorCode::InvalidRows,
            SettlementError::Empty => ErrorCode::EmptyFile,
        };
        ApiError::bad_request(code, e.to_string())
    })?;
    let out = cod::apply_settlement(&state.shipping, &carrier.id, &rows).await?;
    tracing::info!(carrier = %carrier.id, rows = out.rows, matched = out.matched,
        mismatched = out.mismatched.len(), unknown = out.unknown.len(), "settlement imported");
    Ok(Json(out))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PeriodParams {
    /// First pickup day, YYYY-MM-DD (Asia/Ho_Chi_Minh).
    #[param(required = true, format = Date)]
    pub from: Option<String>,
    /// Last pickup day, YYYY-MM-DD (inclusive; at most 365 days after `from`: 366 days, both counted).
    #[param(required = true, format = Date)]
    pub to: Option<String>,
}

fn day(field: &'static str, v: Option<&str>) -> Result<NaiveDate, ApiError> {
    let v = v.ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::InvalidDate,
            format!("`{field}` is required: YYYY-MM-DD"),
        )
    })?;
    crate::domain::schedule::parse_day(v).ok_or_else(|| {
        ApiError::bad_request(ErrorCode::InvalidDate, format!("`{field}` is YYYY-MM-DD"))
    })
}

/// The (seller, site) the caller may read: `me` or its own id for a seller; any configured
/// seller for the operator; anything else is not found (like another seller's order).
fn seller_of(
    state: &AppState,
    caller: &Caller,
    seller_id: &str,
) -> Result<(String, String), ApiError> {
    match caller {
        Caller::Seller { id, site } if seller_id == id || seller_id == "me" => {
            Ok((id.clone(), site.clone()))
        }
        Caller::Operator => state
            .config
            .seller(seller_id)
            .map(|s| (s.id.clone(), s.site.clone()))
            .ok_or_else(|| ApiError::not_found("seller")),
        Caller::Station { .. } => Err(ApiError::wrong_credentials(
            "the seller's token or the operator's",
        )),
        // Another seller's statement: no such seller, for this one.
        Caller::Seller { .. } => Err(ApiError::not_found("seller")),
    }
}

/// A seller's COD statement: parcels by pickup day in `from..=to`, with expected, collected,
/// fees, returned and net (decimal strings, đồng) and each parcel's mismatch.
#[utoipa::path(get, path = "/v1/sellers/{seller_id}/cod", tag = "cod", params(("seller_id" = String, Path, description = "a seller id, or `me` with a seller token"), PeriodParams),
    security(("seller_token" = []), ("operator_token" = [])),
    responses((status = 200, body = Statement), (status = 400, body = ErrorBody, description = "`from`/`to` missing, not YYYY-MM-DD, reversed, or over 366 days"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn statement(
    State(state): State<AppState>,
    caller: Caller,
    Path(seller_id): Path<String>,
    Query(q): Query<PeriodParams>,
) -> Result<Json<Statement>, ApiError> {
    let (seller, site) = seller_of(&state, &caller, &seller_id)?;
    let from = day("from", q.from.as_deref())?;
    let to = day("to", q.to.as_deref())?;
    if to < from {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidPeriod,
            "`to` is before `from`",
        ));
    }
    // Both days count: 2026-01-01..2026-01-01 is one day.
    if (to - from).num_days() + 1 > cod::MAX_PERIOD_DAYS {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidPeriod,
            format!("`from`..`to` spans more than {} days", cod::MAX_PERIOD_DAYS),
        ));
    }
    Ok(Json(
        cod::seller_statement(&state.shipping, &site, &seller, from, to).await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReturnsView {
    pub site: String,
    #[schema(value_type = String)]
    pub date: NaiveDate,
    /// Parcels the carrier returned that day, each with its orders and items to restock.
    pub parcels: Vec<ReturnedParcel>,
}

/// The parcels returned to a site on a business day (the day the carrier reported the
/// return), with their orders for restocking. Stations of the site and the operator; a
/// seller sees its returned parcels in its statement (status `returned`, with `order_ids`).
#[utoipa::path(get, path = "/v1/sites/{site}/returns", tag = "cod", params(("site" = String, Path), DateParam),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = ReturnsView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn returns(
    State(state): State<AppState>,
    caller: Caller,
    Path(site): Path<String>,
    Query(q): Query<DateParam>,
) -> Result<Json<ReturnsView>, ApiError> {
    check_site(&state, &caller, &site)?;
    let date = parse_date(q.date.as_deref())?;
    let parcels = cod::returns_of_day(&state.shipping, &site, date, None).await?;
    Ok(Json(ReturnsView {
        site,
        date,
        parcels,
    }))
}
