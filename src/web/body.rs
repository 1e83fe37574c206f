//! JSON request bodies that must be objects. serde reads a struct from an array of its
//! fields in order too (`["hoa-lu-hub","246813"]` as `{site, pin}`): no client means that,
//! and a request so written is refused naming the body's shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorCode};

/// 422 `invalid_body` unless the body's first non-blank byte opens a JSON object (a blank
/// body is left to the caller: optional bodies read it as their default).
pub fn object_only(bytes: &[u8]) -> Result<(), ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None | Some(b'{') => Ok(()),
        // Not JSON at all: the parser that follows says so (400), as before.
        Some(_) if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err() => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidBody,
            "the body is a JSON object `{…}`",
        )),
    }
}

/// `Json<T>` for a body that must be a JSON object: 415 without `Content-Type:
/// application/json`, 422 for any other JSON value, then as `Json` (400 for bad JSON, 422
/// naming the field for a wrong shape).
pub struct ObjectJson<T>(pub T);

impl<S, T> FromRequest<S> for ObjectJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|m| {
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::InvalidBody,
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), ErrorCode::InvalidBody, e.body_text()))?;
        object_only(&bytes)?;
        let Json(v) = Json::<T>::from_bytes(&bytes)?;
        Ok(ObjectJson(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_object_or_nothing_passes() {
        for ok in [&b"{}"[..], b"  {\"a\":1}", b"", b" \n"] {
            assert!(object_only(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            &b"[]"[..],
            b"[\"hoa-lu-hub\",\"246813\"]",
            b"1",
            b"\"x\"",
            b"null",
            b" true",
        ] {
            let e = object_only(bad).unwrap_err();
            assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        }
        // Not JSON: left to the parser's 400.
        for not_json in [&b"hello"[..], b"[1,", b"\xef\xbb\xbf{}"] {
            assert!(object_only(not_json).is_ok(), "{not_json:?}");
        }
    }
}
