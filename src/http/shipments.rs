//! Shipments (contract §2): a site's shipments of a day with costs and savings, booking,
//! hand-over, the driver's manifest, the day report, and the carriers' status webhook.

use crate::metric_names as names;
use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::parcel_view::ParcelView;
use super::waves::{check_site, parse_date, DateParam};
use crate::domain::money::Vnd;
use crate::domain::status::ShipmentStatus;
use crate::shipping::carrier::{parse_webhook_request, WebhookError};
use crate::shipping::consolidate::{day_report, DayReport};
use crate::shipping::handover;
use crate::shipping::service::{self, ParcelBooking, Shipment};
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShipmentView {
    pub shipment_id: String,
    pub site: String,
    pub carrier: String,
    pub service: String,
    /// The carrier and service by name, as its parcels and labels say them ("Viettel
    /// Post", "VCN · Chuyển phát nhanh"); null for a carrier no longer configured.
    #[schema(required = true)]
    pub carrier_name: Option<String>,
    #[schema(required = true)]
    pub service_name: Option<String>,
    pub pickup_at: DateTime<Utc>,
    pub parcel_ids: Vec<String>,
    pub parcel_count: usize,
    pub order_count: usize,
    pub weight_g: u64,
    #[schema(value_type = String)]
    pub cod_total: Vnd,
    /// COD the carrier collects, per seller (seller id → VND).
    #[schema(value_type = BTreeMap<String, String>)]
    pub cod_by_seller: BTreeMap<String, Vnd>,
    #[schema(value_type = String)]
    pub estimated_cost: Vnd,
    /// The same orders shipped one order a box, each its own pickup.
    #[schema(value_type = String)]
    pub unconsolidated_cost: Vnd,
    #[schema(value_type = String)]
    pub savings: Vnd,
    /// The carrier's own fee quotes of the ship-able parcels quoted so far, summed (Viettel
    /// Post `getPrice`, taken when a parcel is booked); null before any quote.
    #[schema(value_type = Option<String>, required = true)]
    pub quoted_cost: Option<Vnd>,
    pub status: ShipmentStatus,
    pub parcels_booked: usize,
    /// Parcels not shipped: every order cancelled, or flagged to be pulled.
    pub parcels_held_back: Vec<String>,
    /// Ship-able parcels scanned onto the truck.
    pub loaded_count: usize,
    /// Ship-able parcels neither loaded nor left behind.
    pub missing: Vec<String>,
    /// Every parcel of the shipment (held-back ones too); only in `GET /v1/shipments/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parcels: Option<Vec<ParcelView>>,
}

fn view(
    sh: &Shipment,
    config: &crate::config::Config,
    floor: Option<&super::parcel_view::FloorCtx<'_>>,
) -> ShipmentView {
    let p = &sh.plan;
    let (carrier_name, service_name) =
        super::parcel_view::carrier_names(config, &sh.carrier, Some(&sh.service));
    ShipmentView {
        shipment_id: sh.id.clone(),
        site: sh.site.clone(),
        carrier: sh.carrier.clone(),
        service: sh.service.clone(),
        carrier_name,
        service_name,
        pickup_at: sh.pickup_at,
        parcel_ids: p.parcel_ids.clone(),
        parcel_count: p.parcel_count,
        order_count: p.order_count,
        weight_g: p.weight_g,
        cod_total: p.cod_total,
        cod_by_seller: p.cod_by_seller.clone(),
        estimated_cost: p.estimated_cost,
        unconsolidated_cost: p.unconsolidated_cost,
        savings: p.savings,
        quoted_cost: sh
            .parcels
            .iter()
            .filter(|x| handover::shipable(x))
            .filter_map(|x| x.quote)
            .reduce(|a, b| Vnd(a.0 + b.0)),
        status: sh.status,
        parcels_booked: sh
            .parcels
            .iter()
            .filter(|x| handover::shipable(x) && x.tracking.is_some())
            .count(),
        parcels_held_back: sh
            .parcels
            .iter()
            .filter(|x| !handover::shipable(x))
            .map(|x| x.doc.parcel_id.clone())
            .collect(),
        loaded_count: handover::loaded_count(sh),
        missing: handover::missing(sh),
        parcels: floor.map(|f| sh.parcels.iter().map(|p| f.view(p)).collect()),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShipmentList {
    pub site: String,
    pub date: NaiveDate,
    pub shipments: Vec<ShipmentView>,
}

async fn shipments_of(
    state: &AppState,
    site: &str,
    date: NaiveDate,
) -> Result<Vec<Shipment>, ApiError> {
    let mut out = Vec::new();
    for id in state.store.shipment_ids_of_day(site, date).await? {
        if let Some(sh) = service::load_shipment(&state.shipping, site, &id).await? {
            out.push(sh);
        }
    }
    // By pickup, then by number (`-6` before `-10`).
    out.sort_by(|a, b| {
        a.pickup_at
            .cmp(&b.pickup_at)
            .then_with(|| crate::domain::id_order(&a.id, &b.id))
    });
    Ok(out)
}

/// A site's shipments of a business day (by pickup), with costs.
#[utoipa::path(get, path = "/v1/sites/{site}/shipments", operation_id = "list_shipments", tag = "shipments", params(("site" = String, Path), DateParam),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = ShipmentList), (status = 400, body = ErrorBody, description = "`date` is not YYYY-MM-DD"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(site): Path<String>,
    Query(q): Query<DateParam>,
) -> Result<Json<ShipmentList>, ApiError> {
    check_site(&state, &caller, &site)?;
    let date = parse_date(q.date.as_deref())?;
    let shipments = shipments_of(&state, &site, date)
        .await?
        .iter()
        .map(|sh| view(sh, &state.config, None))
        .collect();
    Ok(Json(ShipmentList {
        site,
        date,
        shipments,
    }))
}

/// The site of a shipment the caller may see, without reading its parcels.
pub(super) async fn find_site(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<String, ApiError> {
    super::waves::not_for_sellers(caller)?;
    for site in service::site_of_prefixed(&state.shipping, id, "S-") {
        if check_site(state, caller, site).is_err() {
            continue;
        }
        if state.store.shipment_exists(site, id).await? {
            return Ok(site.to_owned());
        }
    }
    Err(ApiError::not_found("shipment"))
}

pub(super) async fn find(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Shipment, ApiError> {
    super::waves::not_for_sellers(caller)?;
    for site in service::site_of_prefixed(&state.shipping, id, "S-") {
        if check_site(state, caller, site).is_err() {
            continue;
        }
        if let Some(sh) = service::load_shipment(&state.shipping, site, id).await? {
            return Ok(sh);
        }
    }
    Err(ApiError::not_found("shipment"))
}

/// One shipment: parcels, weight, COD, consolidated and one-box-each cost.
#[utoipa::path(get, path = "/v1/shipments/{shipment_id}", operation_id = "get_shipment", tag = "shipments", params(("shipment_id" = String, Path)),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = ShipmentView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ShipmentView>, ApiError> {
    let sh = find(&state, &caller, &id).await?;
    let floor = super::parcel_view::FloorCtx::load(&state, &sh.site).await?;
    Ok(Json(view(&sh, &state.config, Some(&floor))))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BookResult {
    pub shipment_id: String,
    pub parcels: Vec<ParcelBooking>,
}

/// Books every not-yet-booked parcel with the carrier; answers per parcel.
#[utoipa::path(post, path = "/v1/shipments/{shipment_id}/book", tag = "shipments", params(("shipment_id" = String, Path)),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = BookResult), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a cookie-authenticated write from another origin"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "shutting_down: the service stopped while booking; book again")))]
pub async fn book(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<BookResult>, ApiError> {
    let sh = find(&state, &caller, &id).await?;
    if sh.status == ShipmentStatus::HandedOver {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::HandedOver,
            "the shipment has left already",
        ));
    }
    let Some(parcels) = service::book_shipment(&state.shipping, sh, false).await? else {
        // Stopped by a graceful shutdown: the parcels not reached are booked after the
        // next start (or by another instance), and booking again is safe.
        return Err(ApiError::unavailable(
            ErrorCode::ShuttingDown,
            "the service is shutting down: book again in a moment",
        ));
    };
    Ok(Json(BookResult {
        shipment_id: id,
        parcels,
    }))
}

/// One row per parcel, for the carrier's driver, in the order of the shipment's labels.
#[utoipa::path(get, path = "/v1/shipments/{shipment_id}/manifest.csv", tag = "shipments", params(("shipment_id" = String, Path)),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn manifest(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut sh = find(&state, &caller, &id).await?;
    // In the labels' order (`labels.pdf`): the driver reads both side by side.
    crate::shipping::labeling::in_pack_list_order(&state.store, &sh.site, &mut sh.parcels).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "parcel_id",
        "tracking_code",
        "seller",
        "buyer",
        "phone",
        "ward",
        "province",
        "weight_g",
        "cod_amount",
        "order_ids",
        "status",
    ];
    let csv_err = |_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Manifest,
            "could not write the manifest",
        )
    };
    w.write_record(header).map_err(csv_err)?;
    // Text cells as text in a spreadsheet (a buyer's name or ward can be a formula); the
    // two numbers as numbers.
    use crate::domain::sheet_text;
    for p in sh.parcels.iter().filter(|p| handover::shipable(p)) {
        let d = &p.doc;
        w.write_record([
            &*sheet_text(&d.parcel_id),
            &sheet_text(p.tracking.as_deref().unwrap_or("")),
            &sheet_text(&d.seller),
            &sheet_text(&d.first_name),
            &sheet_text(&d.phone_masked),
            &sheet_text(&d.ward),
            &sheet_text(&d.province),
            &d.weight_g().to_string(),
            &d.cod_amount().to_string(),
            &sheet_text(
                &d.orders
                    .iter()
                    .map(|o| o.order_id.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            // The parcel's status as the API shows it (a parcel booked before it is packed
            // is still `open`).
            super::parcel_view::parcel_status(p).as_str(),
        ])
        .map_err(csv_err)?;
    }
    let body = w.into_inner().map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Manifest,
            "could not write the manifest",
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DayReportView {
    pub site: String,
    pub date: NaiveDate,
    #[serde(flatten)]
    pub report: DayReport,
}

/// A day's orders, parcels, shipments, cost vs one-box-each cost, savings, COD per seller.
#[utoipa::path(get, path = "/v1/sites/{site}/report", tag = "shipments", params(("site" = String, Path), DateParam),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses((status = 200, body = DayReportView), (status = 400, body = ErrorBody, description = "`date` is not YYYY-MM-DD"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(site): Path<String>,
    Query(q): Query<DateParam>,
) -> Result<Json<DayReportView>, ApiError> {
    check_site(&state, &caller, &site)?;
    let date = parse_date(q.date.as_deref())?;
    let plans: Vec<_> = shipments_of(&state, &site, date)
        .await?
        .into_iter()
        .map(|s| s.plan)
        .collect();
    Ok(Json(DayReportView {
        site,
        date,
        report: day_report(&plans),
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookAck {
    /// applied | unchanged | informational | unknown_parcel | tracking_mismatch | ignored
    pub result: &'static str,
}

/// A carrier's status webhook: checks the shared secret, applies the event idempotently,
/// answers fast.
#[utoipa::path(post, path = "/v1/carriers/{carrier_id}/webhook", tag = "shipments",
    params(("carrier_id" = String, Path),
        ("secret" = Option<String>, Query, description = "GHTK and GHN: the webhook secret (or the X-Livepack-Secret header)"),
        ("X-Livepack-Secret" = Option<String>, Header, description = "GHTK and GHN: the webhook secret (or the `secret` query parameter)")),
    request_body(content(
        (Object = "application/json"),
        (Object = "application/x-www-form-urlencoded")),
        description = "the carrier's own body (Viettel Post: {DATA:{…}, TOKEN}; GHTK: form or JSON with label_id, partner_id, status_id…; GHN: JSON with OrderCode, Status…). GHTK and GHN: the webhook secret in the `secret` query parameter or the X-Livepack-Secret header"),
    responses((status = 200, body = WebhookAck), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn webhook(
    State(state): State<AppState>,
    Path(carrier_id): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAck>, ApiError> {
    let cfg = state
        .config
        .carriers
        .iter()
        .find(|c| c.id == carrier_id)
        .ok_or_else(|| ApiError::not_found("carrier"))?;
    // GHTK and GHN sign nothing: the secret comes in the registered URL or a header.
    let from_query = query.as_deref().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "secret")
            .map(|(_, v)| v.into_owned())
    });
    let presented = headers
        .get("x-livepack-secret")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(from_query);
    let update = parse_webhook_request(cfg.kind, &body, presented.as_deref(), &cfg.webhook_secret)
        .map_err(|e| match e {
            WebhookError::BadSecret => ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "missing or wrong webhook secret",
            ),
            WebhookError::Malformed(m) => ApiError::bad_request(ErrorCode::MalformedWebhook, m),
        })?;
    let result = service::apply_status(&state.shipping, &cfg.id, &update).await?;
    // What the event says about the money (COD statements), after the status is applied
    // so the record carries the parcel's status; a failure answers 503 and the carrier
    // retries (both steps are idempotent).
    crate::shipping::cod::record_webhook(&state.shipping, &cfg.id, &update).await?;
    metrics::counter!(names::CARRIER_WEBHOOKS, "carrier" => carrier_id, "result" => result)
        .increment(1);
    Ok(Json(WebhookAck { result }))
}
