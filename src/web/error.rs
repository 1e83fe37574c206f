//! One error shape for every HTTP answer: `{"error":{"code","message"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::store::StoreError;

/// Every stable machine-readable error code this service answers with, in HTTP error
/// bodies (`{"error":{"code"}}`) and ingest `error` frames. The serde name is the wire string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    BinaryFrame,
    CrossOrigin,
    EmptyFile,
    Error,
    HandedOver,
    Invalid,
    InvalidBody,
    InvalidCode,
    InvalidDate,
    InvalidLeftBehind,
    InvalidOrderId,
    InvalidPath,
    InvalidPeriod,
    InvalidPickId,
    InvalidPutBackId,
    InvalidQty,
    InvalidQuery,
    InvalidReason,
    InvalidRows,
    InvalidSession,
    InvalidSize,
    InvalidSource,
    InvalidStation,
    InvalidType,
    InvalidUnpackId,
    InvalidUnpickId,
    ItemsNotPicked,
    LabelFailed,
    LeftBehindLoaded,
    MalformedFrame,
    MalformedWebhook,
    Manifest,
    MethodNotAllowed,
    MissingColumn,
    MissingField,
    MissingSeller,
    NotFound,
    NotWebsocket,
    NothingToPull,
    NothingToShip,
    OverPick,
    OverPutBack,
    OverUnpick,
    ParcelCancelled,
    ParcelHandedOver,
    ParcelChanged,
    ParcelNotShipping,
    ParcelReplaced,
    ParcelsMissing,
    PayloadTooLarge,
    PullPending,
    RepackPending,
    RequestTimeout,
    SellerOnly,
    ShipmentChanged,
    ShuttingDown,
    StorageCorrupt,
    StorageError,
    StorageUnavailable,
    SupervisorPinNotConfigured,
    SupervisorPinRequired,
    TooLarge,
    TooManyAttempts,
    TooManyConnections,
    TooManyOrders,
    TooManySellerConnections,
    Unauthorized,
    UnitsPacked,
    UnknownSku,
    UnknownType,
    UnreadableFile,
    WrongPin,
    WrongSupervisorPin,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 74] = [
        ErrorCode::BadRequest,
        ErrorCode::BinaryFrame,
        ErrorCode::CrossOrigin,
        ErrorCode::EmptyFile,
        ErrorCode::Error,
        ErrorCode::HandedOver,
        ErrorCode::Invalid,
        ErrorCode::InvalidBody,
        ErrorCode::InvalidCode,
        ErrorCode::InvalidDate,
        ErrorCode::InvalidLeftBehind,
        ErrorCode::InvalidOrderId,
        ErrorCode::InvalidPath,
        ErrorCode::InvalidPeriod,
        ErrorCode::InvalidPickId,
        ErrorCode::InvalidPutBackId,
        ErrorCode::InvalidQty,
        ErrorCode::InvalidQuery,
        ErrorCode::InvalidReason,
        ErrorCode::InvalidRows,
        ErrorCode::InvalidSession,
        ErrorCode::InvalidSize,
        ErrorCode::InvalidSource,
        ErrorCode::InvalidStation,
        ErrorCode::InvalidType,
        ErrorCode::InvalidUnpackId,
        ErrorCode::InvalidUnpickId,
        ErrorCode::ItemsNotPicked,
        ErrorCode::LabelFailed,
        ErrorCode::LeftBehindLoaded,
        ErrorCode::MalformedFrame,
        ErrorCode::MalformedWebhook,
        ErrorCode::Manifest,
        ErrorCode::MethodNotAllowed,
        ErrorCode::MissingColumn,
        ErrorCode::MissingField,
        ErrorCode::MissingSeller,
        ErrorCode::NotFound,
        ErrorCode::NotWebsocket,
        ErrorCode::NothingToPull,
        ErrorCode::NothingToShip,
        ErrorCode::OverPick,
        ErrorCode::OverPutBack,
        ErrorCode::OverUnpick,
        ErrorCode::ParcelCancelled,
        ErrorCode::ParcelHandedOver,
        ErrorCode::ParcelChanged,
        ErrorCode::ParcelNotShipping,
        ErrorCode::ParcelReplaced,
        ErrorCode::ParcelsMissing,
        ErrorCode::PayloadTooLarge,
        ErrorCode::PullPending,
        ErrorCode::RepackPending,
        ErrorCode::RequestTimeout,
        ErrorCode::SellerOnly,
        ErrorCode::ShipmentChanged,
        ErrorCode::ShuttingDown,
        ErrorCode::StorageCorrupt,
        ErrorCode::StorageError,
        ErrorCode::StorageUnavailable,
        ErrorCode::SupervisorPinNotConfigured,
        ErrorCode::SupervisorPinRequired,
        ErrorCode::TooLarge,
        ErrorCode::TooManyAttempts,
        ErrorCode::TooManyConnections,
        ErrorCode::TooManyOrders,
        ErrorCode::TooManySellerConnections,
        ErrorCode::Unauthorized,
        ErrorCode::UnitsPacked,
        ErrorCode::UnknownSku,
        ErrorCode::UnknownType,
        ErrorCode::UnreadableFile,
        ErrorCode::WrongPin,
        ErrorCode::WrongSupervisorPin,
    ];

    /// The wire string (equal to the serde name).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::BinaryFrame => "binary_frame",
            ErrorCode::CrossOrigin => "cross_origin",
            ErrorCode::EmptyFile => "empty_file",
            ErrorCode::Error => "error",
            ErrorCode::HandedOver => "handed_over",
            ErrorCode::Invalid => "invalid",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::InvalidCode => "invalid_code",
            ErrorCode::InvalidDate => "invalid_date",
            ErrorCode::InvalidLeftBehind => "invalid_left_behind",
            ErrorCode::InvalidOrderId => "invalid_order_id",
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::InvalidPeriod => "invalid_period",
            ErrorCode::InvalidPickId => "invalid_pick_id",
            ErrorCode::InvalidPutBackId => "invalid_put_back_id",
            ErrorCode::InvalidQty => "invalid_qty",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::InvalidReason => "invalid_reason",
            ErrorCode::InvalidRows => "invalid_rows",
            ErrorCode::InvalidSession => "invalid_session",
            ErrorCode::InvalidSize => "invalid_size",
            ErrorCode::InvalidSource => "invalid_source",
            ErrorCode::InvalidStation => "invalid_station",
            ErrorCode::InvalidType => "invalid_type",
            ErrorCode::InvalidUnpackId => "invalid_unpack_id",
            ErrorCode::InvalidUnpickId => "invalid_unpick_id",
            ErrorCode::ItemsNotPicked => "items_not_picked",
            ErrorCode::LabelFailed => "label_failed",
            ErrorCode::LeftBehindLoaded => "left_behind_loaded",
            ErrorCode::MalformedFrame => "malformed_frame",
            ErrorCode::MalformedWebhook => "malformed_webhook",
            ErrorCode::Manifest => "manifest",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::MissingColumn => "missing_column",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::MissingSeller => "missing_seller",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NotWebsocket => "not_websocket",
            ErrorCode::NothingToPull => "nothing_to_pull",
            ErrorCode::NothingToShip => "nothing_to_ship",
            ErrorCode::OverPick => "over_pick",
            ErrorCode::OverPutBack => "over_put_back",
            ErrorCode::OverUnpick => "over_unpick",
            ErrorCode::ParcelCancelled => "parcel_cancelled",
            ErrorCode::ParcelHandedOver => "parcel_handed_over",
            ErrorCode::ParcelChanged => "parcel_changed",
            ErrorCode::ParcelNotShipping => "parcel_not_shipping",
            ErrorCode::ParcelReplaced => "parcel_replaced",
            ErrorCode::ParcelsMissing => "parcels_missing",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::PullPending => "pull_pending",
            ErrorCode::RepackPending => "repack_pending",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::SellerOnly => "seller_only",
            ErrorCode::ShipmentChanged => "shipment_changed",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::StorageCorrupt => "storage_corrupt",
            ErrorCode::StorageError => "storage_error",
            ErrorCode::StorageUnavailable => "storage_unavailable",
            ErrorCode::SupervisorPinNotConfigured => "supervisor_pin_not_configured",
            ErrorCode::SupervisorPinRequired => "supervisor_pin_required",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::TooManyAttempts => "too_many_attempts",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::TooManyOrders => "too_many_orders",
            ErrorCode::TooManySellerConnections => "too_many_seller_connections",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::UnitsPacked => "units_packed",
            ErrorCode::UnknownSku => "unknown_sku",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::UnreadableFile => "unreadable_file",
            ErrorCode::WrongPin => "wrong_pin",
            ErrorCode::WrongSupervisorPin => "wrong_supervisor_pin",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `unauthorized`.
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// A 401 of a route that takes a bearer token (or a station's cookie): it says so in
    /// `WWW-Authenticate`. Not the webhook's secret nor a wrong PIN.
    pub bearer: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            bearer: false,
        }
    }
    pub fn unauthorized() -> Self {
        Self {
            bearer: true,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "missing or wrong credentials",
            )
        }
    }
    /// Credentials of a kind this route does not take (a station's sign-in on a seller's
    /// route, a seller's token on a station's): 401 as the contract says for wrong
    /// credentials, naming the kinds it takes.
    pub fn wrong_credentials(takes: &str) -> Self {
        Self {
            bearer: true,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                format!("wrong credentials: this route takes {takes}"),
            )
        }
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("no such {what}"),
        )
    }
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unavailable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        // RFC 9110: a 401 names the scheme it takes (a bearer token; a station's cookie is
        // got by signing in). Not `Basic`, which would make a browser ask for a password.
        if self.bearer {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"livepack\""),
            );
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "storage error answering a request");
        match e {
            StoreError::Corrupt(_) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::StorageCorrupt,
                "stored data could not be read",
            ),
            // A reply error to this request's own command (a wrong type, a script error):
            // this request's 500, never a sign that storage is down for everyone.
            ref e if !e.is_unavailable() => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::StorageError,
                "this request could not be answered from storage",
            ),
            _ => Self::unavailable(
                ErrorCode::StorageUnavailable,
                "storage is unavailable; retry shortly",
            ),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request(ErrorCode::InvalidQuery, e.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        Self::bad_request(ErrorCode::InvalidPath, e.body_text())
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        Self::new(e.status(), ErrorCode::InvalidBody, e.body_text())
    }
}

/// JSON 404 for every unknown route.
pub async fn fallback() -> ApiError {
    ApiError::not_found("route")
}

/// Extractor rejections and axum's own answers (a 405 for a wrong method, a 422 from an
/// optional JSON body) come as plain text or empty; this middleware turns every error
/// answer that is not JSON into the one error shape, keeping its status and headers.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::TooLarge,
        StatusCode::BAD_REQUEST => ErrorCode::BadRequest,
        StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::UNPROCESSABLE_ENTITY => {
            ErrorCode::InvalidBody
        }
        _ => ErrorCode::Error,
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let body = ErrorBody {
        error: ErrorDetail { code, message },
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.insert(
        CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(json))
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use std::collections::HashSet;

    #[test]
    fn every_code_serializes_to_its_as_str_and_is_unique() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).expect("serialize");
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
            assert!(seen.insert(code.as_str()), "duplicate code {code}");
        }
        assert_eq!(seen.len(), ErrorCode::ALL.len());
    }
}
