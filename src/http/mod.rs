//! The HTTP API (contract §2): routes, OpenAPI document, cross-cutting layers.

mod body_timeout;
pub mod client;
mod cod;
mod floor;
mod handover;
pub(crate) mod health;
mod labels;
mod orders;
mod parcel_view;
pub mod serve;
mod sessions;
mod shipments;
mod station;
mod waves;

// The edges' shared plumbing lives in `crate::web` (auth, errors) and `crate::config::pin`;
// re-exported so handlers keep naming them `super::auth` / `super::error`.
pub use crate::config::pin;
pub use crate::web::{auth, error};

use crate::metric_names as names;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "livepack", description = "Livestream order surges packed and shipped the same day"),
    paths(
        health::healthz, health::readyz,
        crate::ingest::handler,
        orders::get_order, orders::cancel_order,
        sessions::get_session,
        station::sign_in, station::sign_out, station::unlock,
        waves::list, waves::get, waves::pick, waves::packed, waves::outlook,
        floor::put_back, floor::pulled, floor::unpick, floor::unpacked, floor::audit,
        shipments::list, shipments::get, shipments::book, handover::handed_over, handover::scan,
        shipments::manifest, shipments::report, shipments::webhook,
        cod::settlements, cod::statement, cod::returns,
        labels::parcel, labels::wave, labels::shipment,
        crate::tablet::events::stream, crate::tablet::index,
        crate::metrics::render, openapi,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail)),
    modifiers(&Security, &CommonErrors)
)]
pub struct ApiDoc;

/// Answers every route of a kind can give whatever its handler says: a path parameter that
/// is not UTF-8 text (`%FF`) is a 400 before any handler runs, a body over the size limit
/// (2 MiB; settlements 32 MiB) is a 413, and one that does not arrive in time a 408.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{path::HttpMethod, RefOr, ResponseBuilder};
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        utoipa::openapi::ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let with_params = path.contains('{');
            let ops = [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Post, &mut item.post),
                (HttpMethod::Delete, &mut item.delete),
            ];
            for (method, op) in ops {
                let Some(op) = op.as_mut() else { continue };
                let responses = &mut op.responses.responses;
                if with_params && !responses.contains_key("400") {
                    responses.insert(
                        "400".into(),
                        error("a path parameter that is not UTF-8 text"),
                    );
                }
                if method == HttpMethod::Post && !responses.contains_key("413") {
                    responses.insert(
                        "413".into(),
                        error("`payload_too_large`: a body over the size limit (2 MiB; settlements 32 MiB)"),
                    );
                }
                if method == HttpMethod::Post && !responses.contains_key("408") {
                    responses.insert(
                        "408".into(),
                        error("`request_timeout`: the body did not arrive in full within `server.request_body_timeout_secs`"),
                    );
                }
                if op.request_body.is_some() && !responses.contains_key("422") {
                    responses.insert(
                        "422".into(),
                        error("`invalid_body`: JSON that is not an object, or not of this shape"),
                    );
                }
            }
        }
    }
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in ["seller_token", "operator_token"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
        components.add_security_scheme(
            "station_cookie",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::new(auth::STATION_COOKIE),
            )),
        );
    }
}

/// This description of the API (no credentials).
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "OpenAPI 3.1 document of every route")))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Request metrics by route template (never the raw path), method and status class.
async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = match *req.method() {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS => req.method().as_str().to_owned(),
        _ => "other".to_owned(),
    };
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let class = format!("{}xx", resp.status().as_u16() / 100);
    metrics::histogram!(names::HTTP_REQUEST_DURATION_SECONDS,
        "route" => route.clone(), "method" => method.clone(), "status" => class.clone())
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(names::HTTP_REQUESTS,
        "route" => route, "method" => method, "status" => class)
    .increment(1);
    resp
}

/// The route of carriers' settlement files, whose bodies may be larger than others'.
pub const SETTLEMENTS_ROUTE: &str = "/v1/carriers/{carrier_id}/settlements";

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(crate::metrics::render))
        .route("/openapi.json", get(openapi))
        .route("/v1/ingest", get(crate::ingest::handler))
        .route("/v1/orders/{order_id}", get(orders::get_order))
        .route("/v1/orders/{order_id}/cancel", post(orders::cancel_order))
        .route("/v1/sessions/{label}", get(sessions::get_session))
        .route(
            "/v1/station/session",
            post(station::sign_in).delete(station::sign_out),
        )
        .route("/v1/sites/{site}/pin-failures", delete(station::unlock))
        .route("/v1/sites/{site}/waves", get(waves::list))
        .route("/v1/sites/{site}/outlook", get(waves::outlook))
        .route("/v1/waves/{wave_id}", get(waves::get))
        .route("/v1/waves/{wave_id}/picks", post(waves::pick))
        .route("/v1/parcels/{parcel_id}/packed", post(waves::packed))
        .route("/v1/waves/{wave_id}/put-backs", post(floor::put_back))
        .route("/v1/waves/{wave_id}/unpicks", post(floor::unpick))
        .route("/v1/parcels/{parcel_id}/pulled", post(floor::pulled))
        .route("/v1/parcels/{parcel_id}/unpacked", post(floor::unpacked))
        .route("/v1/sites/{site}/audit", get(floor::audit))
        .route("/v1/sites/{site}/shipments", get(shipments::list))
        .route("/v1/sites/{site}/report", get(shipments::report))
        .route("/v1/shipments/{shipment_id}", get(shipments::get))
        .route("/v1/shipments/{shipment_id}/book", post(shipments::book))
        .route(
            "/v1/shipments/{shipment_id}/handed-over",
            post(handover::handed_over),
        )
        .route("/v1/shipments/{shipment_id}/scans", post(handover::scan))
        .route(
            "/v1/shipments/{shipment_id}/manifest.csv",
            get(shipments::manifest),
        )
        .route("/v1/parcels/{parcel_id}/label.pdf", get(labels::parcel))
        .route("/v1/waves/{wave_id}/labels.pdf", get(labels::wave))
        .route(
            "/v1/shipments/{shipment_id}/labels.pdf",
            get(labels::shipment),
        )
        .route(
            "/v1/carriers/{carrier_id}/webhook",
            post(shipments::webhook),
        )
        .route(
            SETTLEMENTS_ROUTE,
            post(cod::settlements).layer(axum::extract::DefaultBodyLimit::max(
                cod::MAX_SETTLEMENT_BYTES,
            )),
        )
        .route("/v1/sellers/{seller_id}/cod", get(cod::statement))
        .route("/v1/sites/{site}/returns", get(cod::returns))
        .merge(crate::tablet::routes())
        .fallback(error::fallback)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            body_timeout::limit,
        ))
        .layer(middleware::from_fn(error::json_errors))
        .layer(middleware::from_fn(track))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(
            tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                HeaderName::from_static("x-content-type-options"),
                HeaderValue::from_static("nosniff"),
            ),
        )
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    use crate::web::error::ErrorCode;

    #[test]
    fn the_openapi_document_lists_every_error_code() {
        let doc = serde_json::to_value(super::ApiDoc::openapi()).expect("openapi is JSON");
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["ErrorDetail"]["properties"]["code"]["$ref"],
            "#/components/schemas/ErrorCode"
        );
        let listed = schemas["ErrorCode"]["enum"]
            .as_array()
            .expect("ErrorCode is an enum schema");
        for code in ErrorCode::ALL {
            assert!(listed.iter().any(|v| v == code.as_str()), "{code} listed");
        }
        assert_eq!(listed.len(), ErrorCode::ALL.len());
    }

    /// Client generators name a method per operation: no two share an id.
    #[test]
    fn every_operation_id_is_unique() {
        let doc = serde_json::to_value(super::ApiDoc::openapi()).expect("openapi is JSON");
        let mut seen = std::collections::BTreeMap::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap_or_default().to_owned();
                assert!(!id.is_empty(), "{method} {path}: an operationId");
                if let Some(other) = seen.insert(id.clone(), format!("{method} {path}")) {
                    panic!("operationId `{id}` of {method} {path} and of {other}");
                }
            }
        }
    }

    /// Bodies a route takes without: not required; the settlement file: bytes.
    #[test]
    fn optional_bodies_and_the_settlement_file_are_described_as_they_are() {
        let doc = serde_json::to_value(super::ApiDoc::openapi()).expect("openapi is JSON");
        let paths = &doc["paths"];
        for path in [
            "/v1/orders/{order_id}/cancel",
            "/v1/parcels/{parcel_id}/packed",
            "/v1/parcels/{parcel_id}/unpacked",
            "/v1/shipments/{shipment_id}/handed-over",
        ] {
            let body = &paths[path]["post"]["requestBody"];
            assert!(body.is_object(), "{path}: {body}");
            assert_ne!(body["required"], true, "{path}: {body}");
        }
        // The webhook: a form or JSON body, its secret in the query or a header.
        let hook = &paths["/v1/carriers/{carrier_id}/webhook"]["post"];
        for kind in ["application/json", "application/x-www-form-urlencoded"] {
            assert!(
                hook["requestBody"]["content"][kind].is_object(),
                "{kind}: {hook}"
            );
        }
        let params: Vec<&str> = hook["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(params.contains(&"secret"), "{params:?}");
        let file = &paths["/v1/carriers/{carrier_id}/settlements"]["post"]["requestBody"];
        for kind in ["application/octet-stream", "text/csv"] {
            let schema = &file["content"][kind]["schema"];
            let name = schema["$ref"].as_str().unwrap_or_default();
            let schema = &doc["components"]["schemas"][name.rsplit('/').next().unwrap()];
            assert_eq!(schema["format"], "binary", "{kind}: {file}");
        }
    }

    /// What every route can answer besides its own statuses, and the fields the contract
    /// names in answers, always present (null when unknown), are in the document.
    #[test]
    fn the_openapi_document_declares_common_errors_and_required_fields() {
        let doc = serde_json::to_value(super::ApiDoc::openapi()).expect("openapi is JSON");
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                if path.contains('{') {
                    assert!(responses.contains_key("400"), "{method} {path}: 400");
                }
                if method == "post" {
                    assert!(responses.contains_key("413"), "{method} {path}: 413");
                    assert!(responses.contains_key("408"), "{method} {path}: 408");
                }
                if op.get("requestBody").is_some() {
                    assert!(responses.contains_key("422"), "{method} {path}: 422");
                }
            }
        }
        let schemas = &doc["components"]["schemas"];
        let required = |schema: &str, fields: &[&str]| {
            let listed = schemas[schema]["required"].as_array().unwrap();
            for f in fields {
                assert!(listed.iter().any(|v| v == f), "{schema}.{f} required");
            }
        };
        required(
            "OrderView",
            &["pickup_at", "wave_id", "parcel_id", "shipment_id"],
        );
        required(
            "ParcelView",
            &[
                "carrier",
                "service",
                "tracking",
                "split_reason",
                "replaces",
                "replaced_by",
            ],
        );
        required("BookingView", &["next_try_at", "error"]);
        required("ScanAnswer", &["parcel_id"]);
        required(
            "StatementRow",
            &["collected", "fee", "transfer_date", "mismatch"],
        );
        // Absent unless there is something to say: not required.
        let scan = schemas["ScanAnswer"]["required"].as_array().unwrap();
        assert!(!scan.iter().any(|v| v == "warning"));
    }
}
