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
/// here just as the extractors would refuse them.
const MAX_BODY: usize = 2 << 20;

fn has_body(req: &Request) -> bool {
    if req.headers().contains_key(header::UPGRADE) {
        return false;
    }
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match length {
        Some(n) => n > 0,
        None => req.headers().contains_key(header::TRANSFER_ENCODING),
    }
}

pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !has_body(&req) {
        return next.run(req).await;
    }
    let secs = state.config.server.request_body_timeout_secs;
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(
        Duration::from_secs(secs),
        axum::body::to_bytes(body, MAX_BODY),
    )
    .await
    {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("request body: larger than {MAX_BODY} bytes or broken off"),
        )
        .into_response(),
        Err(_) => {
            metrics::counter!(names::HTTP_BODY_TIMEOUTS).increment(1);
            let mut resp = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::RequestTimeout,
                format!("request body: not received in full within {secs} s"),
            )
            .into_response();
            resp.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            resp
        }
    }
}
