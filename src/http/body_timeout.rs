//! Whole-request deadline for request bodies: a request's body must arrive in full within
//! `server.request_body_timeout_secs` of its head (which must itself arrive within
//! `serve::HEADER_READ_TIMEOUT`), else the request is answered 408 and its connection closed.
//! A client trickling a body byte by byte thus holds no task, socket or lock past the deadline.
//! Requests without a body (GETs, the WebSocket upgrade, the SSE stream) pass straight through.

use crate::metric_names as names;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Bodies are buffered up to axum's default extractor limit (2 MiB); larger ones are refused
/// here just as the extractors would refuse them. A carrier's settlement file may be larger
/// (its route's own limit, `cod::MAX_SETTLEMENT_BYTES`).
const MAX_BODY: usize = 2 << 20;

/// The body limit of the route a request matched.
fn max_body(req: &Request) -> usize {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str());
    // Only a request with a bearer token may send that much before it is authenticated.
    let bearer = req.headers().contains_key(header::AUTHORIZATION);
    match route {
        Some(super::SETTLEMENTS_ROUTE) if bearer => super::cod::MAX_SETTLEMENT_BYTES,
        _ => MAX_BODY,
    }
}

/// Whether reading a body failed on its length limit (else it was broken off: a connection
/// closed early, a malformed chunk).
fn over_limit(e: &axum::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.to_string().contains("length limit exceeded") {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The body length the head declares (`Content-Length`), if it does.
fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

fn has_body(req: &Request) -> bool {
    if req.headers().contains_key(header::UPGRADE) {
        return false;
    }
    match declared_length(req) {
        Some(n) => n > 0,
        None => req.headers().contains_key(header::TRANSFER_ENCODING),
    }
}

/// 413 for a body over `max`; the connection closes (its body is left unread).
fn too_large(max: usize) -> Response {
    closing(ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
        format!("request body: larger than {max} bytes"),
    ))
}

/// The error's answer, closing the connection (what is left of the body is never read).
fn closing(e: ApiError) -> Response {
    let mut resp = e.into_response();
    resp.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    resp
}

pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !has_body(&req) {
        return next.run(req).await;
    }
    let secs = state.config.server.request_body_timeout_secs;
    let max = max_body(&req);
    // A head that declares more than the limit is answered at once, not after its body.
    if declared_length(&req).is_some_and(|n| n > max as u64) {
        return too_large(max);
    }
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(Duration::from_secs(secs), axum::body::to_bytes(body, max)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) if over_limit(&e) => too_large(max),
        Ok(Err(_)) => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidBody,
            "request body: broken off (shorter than its Content-Length, or a malformed chunk)",
        )
        .into_response(),
        Err(_) => {
            metrics::counter!(names::HTTP_BODY_TIMEOUTS).increment(1);
            closing(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::RequestTimeout,
                format!("request body: not received in full within {secs} s"),
            ))
        }
    }
}
