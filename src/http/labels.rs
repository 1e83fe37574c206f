//! Shipping labels (contract §6): one parcel's label, a wave's and a shipment's labels as
//! PDF (one page per ship-able parcel, pack-list order), A6 or 80×80 mm; `?source=carrier`
//! serves the carrier's own label where it issues one.

use crate::metric_names as names;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::waves::check_site;
use crate::shipping::handover::shipable;
use crate::shipping::label::{self, LabelError, LabelSize};
use crate::shipping::labeling::{in_pack_list_order, labels_for, wave_doc};
use crate::shipping::service::{self, load_parcels, StoredParcel};
use crate::state::AppState;
use crate::store::records::site_of;

/// Which label was served: `carrier` (the carrier's own PDF) or `livepack` (ours).
pub const LABEL_SOURCE: HeaderName = HeaderName::from_static("x-label-source");

/// A carrier label request never holds the answer longer than this.
const CARRIER_LABEL_TIMEOUT: Duration = Duration::from_secs(20);

/// A PDF document (binary).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // a schema only: the body is the bytes
pub struct Pdf(Vec<u8>);

/// The label sizes, for the document (the query is read as text and checked by `size_of`).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // a schema only
enum SizeName {
    #[serde(rename = "a6")]
    A6,
    #[serde(rename = "80x80")]
    Square80,
}

/// Whose label, for the document (checked by the handler).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // a schema only
enum SourceName {
    Livepack,
    Carrier,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SizeParam {
    /// `a6` (100×150 mm, default) or `80x80`.
    #[param(inline, value_type = Option<SizeName>)]
    pub size: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ParcelLabelParams {
    /// `a6` (100×150 mm, default) or `80x80`.
    #[param(inline, value_type = Option<SizeName>)]
    pub size: Option<String>,
    /// `carrier`: the carrier's own label when it issues one (booked Viettel Post parcels),
    /// else ours; `livepack` (default): ours. The `X-Label-Source` header says which.
    #[param(inline, value_type = Option<SourceName>)]
    pub source: Option<String>,
}

fn size_of(raw: Option<&str>) -> Result<LabelSize, ApiError> {
    LabelSize::parse(raw).ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::InvalidSize,
            "`size` is `a6` (default) or `80x80`",
        )
    })
}

fn pdf(body: Vec<u8>, name: &str, size: LabelSize, source: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{name}-{}.pdf\"", size.as_str()),
            ),
            // Receivers' names and phones: not for shared caches.
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
            (LABEL_SOURCE, source.to_owned()),
        ],
        body,
    )
        .into_response()
}

/// Wave and shipment label sheets drawn at once at most; more wait their turn. A
/// 4,000-parcel shipment's sheet takes about 100 MB while it is loaded and drawn: 48 asked
/// at once took the process to 5 GB (reviewer X3), a risk to every seller's ingest.
static SHEETS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// A turn to load and draw a label sheet (see [`SHEETS`]).
async fn sheet_turn() -> Result<tokio::sync::SemaphorePermit<'static>, ApiError> {
    SHEETS.acquire().await.map_err(|_| label_failed())
}

async fn render(
    state: &AppState,
    site: &str,
    parcels: &[StoredParcel],
    size: LabelSize,
    turn: Option<tokio::sync::SemaphorePermit<'static>>,
) -> Result<Vec<u8>, ApiError> {
    let labels = labels_for(&state.shipping, site, parcels).await?;
    // Drawing a few hundred pages is CPU work: off the async workers. A sheet's turn ends
    // with the drawing, not with the request (a caller that gives up does not end it).
    tokio::task::spawn_blocking(move || {
        let pdf = label::render(&labels, size);
        drop(turn);
        pdf
    })
    .await
    .map_err(|_| label_failed())?
    .map_err(|e| match e {
        LabelError::Empty => ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::NothingToShip,
            "no ship-able parcel here: every one is cancelled, replaced or to be pulled",
        ),
        LabelError::Barcode(_) | LabelError::Pdf(_) => {
            tracing::error!(site = %site, error = %e, "label rendering failed");
            label_failed()
        }
    })
}

fn label_failed() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::LabelFailed,
        "the label could not be drawn",
    )
}

/// One parcel's label.
#[utoipa::path(get, path = "/v1/parcels/{parcel_id}/label.pdf", tag = "labels",
    params(("parcel_id" = String, Path), ParcelLabelParams),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses(
        (status = 200, content_type = "application/pdf", body = Pdf,
            description = "the label (binary PDF, one page); header `X-Label-Source: carrier|livepack`"),
        (status = 400, body = ErrorBody, description = "`size` or `source` is not one of the listed values"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the parcel does not ship (cancelled, replaced or to be pulled)")))]
pub async fn parcel(
    State(state): State<AppState>,
    caller: Caller,
    Path(parcel_id): Path<String>,
    Query(q): Query<ParcelLabelParams>,
) -> Result<Response, ApiError> {
    let size = size_of(q.size.as_deref())?;
    let from_carrier = match q.source.as_deref().map(str::trim) {
        None | Some("livepack") => false,
        Some("carrier") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidSource,
                "`source` is `carrier` or `livepack` (default)",
            ))
        }
    };
    super::waves::not_for_sellers(&caller)?;
    let site = site_of(&parcel_id, 'P')
        .ok_or_else(|| ApiError::not_found("parcel"))?
        .to_owned();
    check_site(&state, &caller, &site).map_err(|_| ApiError::not_found("parcel"))?;
    let p = load_parcels(&state.store, &site, std::slice::from_ref(&parcel_id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("parcel"))?;
    if !shipable(&p) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::ParcelNotShipping,
            not_shipping(&p),
        ));
    }
    if from_carrier {
        if let Some(body) = carrier_label(&state, &site, &p, size).await {
            return Ok(pdf(body, &parcel_id, size, "carrier"));
        }
    }
    let body = render(&state, &site, std::slice::from_ref(&p), size, None).await?;
    Ok(pdf(body, &parcel_id, size, "livepack"))
}

/// The carrier's own label, or `None` (not booked, a carrier without labels, an error: the
/// caller prints ours). The carrier's text is not logged (it may echo the address).
async fn carrier_label(
    state: &AppState,
    site: &str,
    p: &StoredParcel,
    size: LabelSize,
) -> Option<Vec<u8>> {
    let tracking = p.tracking.as_deref()?;
    let carrier_id = p.doc.carrier.as_deref()?;
    let client = state.shipping.carriers.get(carrier_id)?;
    let cfg = state.config.carriers.iter().find(|c| c.id == carrier_id)?;
    let kind = client.kind();
    let outcome = tokio::time::timeout(
        CARRIER_LABEL_TIMEOUT,
        client.label_pdf(tracking, &cfg.print_url, size),
    )
    .await;
    let (result, body) = match outcome {
        Ok(Some(Ok(body))) => ("carrier", Some(body)),
        Ok(None) => ("no_carrier_label", None),
        Ok(Some(Err(e))) => {
            tracing::warn!(site = %site, parcel = %p.doc.parcel_id, retryable = e.retryable(),
                "carrier label unavailable; serving ours");
            ("carrier_error", None)
        }
        Err(_) => {
            tracing::warn!(site = %site, parcel = %p.doc.parcel_id, "carrier label timed out; serving ours");
            ("carrier_timeout", None)
        }
    };
    metrics::counter!(names::CARRIER_LABELS, "carrier" => kind.as_str(), "result" => result)
        .increment(1);
    body
}

/// Every ship-able parcel of a wave, one page each, in pack-list order.
#[utoipa::path(get, path = "/v1/waves/{wave_id}/labels.pdf", tag = "labels",
    params(("wave_id" = String, Path), SizeParam),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses(
        (status = 200, content_type = "application/pdf", body = Pdf, description = "binary PDF, one page per ship-able parcel"),
        (status = 400, body = ErrorBody, description = "`size` is not `a6` or `80x80`"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "no ship-able parcel")))]
pub async fn wave(
    State(state): State<AppState>,
    caller: Caller,
    Path(wave_id): Path<String>,
    Query(q): Query<SizeParam>,
) -> Result<Response, ApiError> {
    let size = size_of(q.size.as_deref())?;
    super::waves::not_for_sellers(&caller)?;
    let site = site_of(&wave_id, 'W')
        .ok_or_else(|| ApiError::not_found("wave"))?
        .to_owned();
    check_site(&state, &caller, &site).map_err(|_| ApiError::not_found("wave"))?;
    let turn = sheet_turn().await?;
    let doc = wave_doc(&state.store, &site, &wave_id)
        .await?
        .ok_or_else(|| ApiError::not_found("wave"))?;
    let parcels = load_parcels(&state.store, &site, &doc.parcel_ids).await?;
    let body = render(&state, &site, &parcels, size, Some(turn)).await?;
    Ok(pdf(body, &wave_id, size, "livepack"))
}

/// Every ship-able parcel of a shipment, one page each, in pack-list order (waves by
/// release, each wave's parcel order).
#[utoipa::path(get, path = "/v1/shipments/{shipment_id}/labels.pdf", tag = "labels",
    params(("shipment_id" = String, Path), SizeParam),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses(
        (status = 200, content_type = "application/pdf", body = Pdf, description = "binary PDF, one page per ship-able parcel"),
        (status = 400, body = ErrorBody, description = "`size` is not `a6` or `80x80`"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "no ship-able parcel")))]
pub async fn shipment(
    State(state): State<AppState>,
    caller: Caller,
    Path(shipment_id): Path<String>,
    Query(q): Query<SizeParam>,
) -> Result<Response, ApiError> {
    let size = size_of(q.size.as_deref())?;
    super::waves::not_for_sellers(&caller)?;
    let mut turn = Some(sheet_turn().await?);
    for site in service::site_of_prefixed(&state.shipping, &shipment_id, "S-") {
        if check_site(&state, &caller, site).is_err() {
            continue;
        }
        let Some(sh) = service::load_shipment(&state.shipping, site, &shipment_id).await? else {
            continue;
        };
        let mut parcels = sh.parcels;
        in_pack_list_order(&state.store, site, &mut parcels).await?;
        let body = render(&state, site, &parcels, size, turn.take()).await?;
        return Ok(pdf(body, &shipment_id, size, "livepack"));
    }
    Err(ApiError::not_found("shipment"))
}

/// Why a parcel gets no label, and what to print instead.
fn not_shipping(p: &StoredParcel) -> String {
    if let Some(new) = &p.replaced_by {
        return format!("this parcel was replaced by {new}: print that parcel's label");
    }
    if p.rejected() {
        let why = p.book_error.as_deref().unwrap_or("no reason given");
        return format!("the carrier rejected this parcel ({why}): set it aside, it gets no label");
    }
    if p.pull {
        return "this parcel is to be pulled: it gets no label".to_owned();
    }
    "this parcel does not ship (cancelled): it gets no label".to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn openapi_describes_labels_as_binary_pdf() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(super::super::ApiDoc::openapi()).unwrap();
        let paths = &doc["paths"];
        for p in [
            "/v1/parcels/{parcel_id}/label.pdf",
            "/v1/waves/{wave_id}/labels.pdf",
            "/v1/shipments/{shipment_id}/labels.pdf",
        ] {
            let ok = &paths[p]["get"]["responses"]["200"]["content"]["application/pdf"]["schema"];
            let ok = if let Some(r) = ok["$ref"].as_str() {
                &doc["components"]["schemas"][r.rsplit('/').next().unwrap()]
            } else {
                ok
            };
            assert_eq!(ok["type"], "string", "{p}: {ok}");
            assert_eq!(ok["format"], "binary", "{p}: {ok}");
            let params: Vec<&str> = paths[p]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["name"].as_str().unwrap())
                .collect();
            assert!(params.contains(&"size"), "{p}: {params:?}");
            let size = paths[p]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == "size")
                .unwrap();
            let text = size["schema"].to_string();
            assert!(
                text.contains("\"a6\"") && text.contains("\"80x80\""),
                "{p}: {text}"
            );
        }
    }
}
