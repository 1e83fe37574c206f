//! The packing tablet (contract §3): `GET /tablet/` and its assets, embedded in the
//! binary (vanilla JS modules and one stylesheet, no build step, no CDN), and the live
//! wave feed `GET /v1/sites/{site}/events` (Server-Sent Events, see [`events`]).
//!
//! Every page response carries a strict Content-Security-Policy (same origin only, no
//! inline script or style), `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer` and
//! `X-Content-Type-Options: nosniff`. Assets are revalidated (`no-cache` + a content ETag),
//! so a new binary's page is picked up at the next load.

pub mod events;
pub mod hub;

use std::sync::{Arc, OnceLock};

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use sha2::{Digest, Sha256};

use crate::state::AppState;
use crate::web::error::ApiError;

/// The page's Content-Security-Policy: everything from this origin, nothing inline.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct Asset {
    path: &'static str,
    mime: &'static str,
    body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    Asset {
        path: "index.html",
        mime: "text/html; charset=utf-8",
        body: include_bytes!("assets/index.html"),
    },
    Asset {
        path: "app.css",
        mime: "text/css; charset=utf-8",
        body: include_bytes!("assets/app.css"),
    },
    Asset {
        path: "icon.svg",
        mime: "image/svg+xml",
        body: include_bytes!("assets/icon.svg"),
    },
    Asset {
        path: "js/app.js",
        mime: JS,
        body: include_bytes!("assets/js/app.js"),
    },
    Asset {
        path: "js/api.js",
        mime: JS,
        body: include_bytes!("assets/js/api.js"),
    },
    Asset {
        path: "js/i18n.js",
        mime: JS,
        body: include_bytes!("assets/js/i18n.js"),
    },
    Asset {
        path: "js/queue.js",
        mime: JS,
        body: include_bytes!("assets/js/queue.js"),
    },
    Asset {
        path: "js/views.js",
        mime: JS,
        body: include_bytes!("assets/js/views.js"),
    },
    Asset {
        path: "js/wave.js",
        mime: JS,
        body: include_bytes!("assets/js/wave.js"),
    },
    Asset {
        path: "js/verify.js",
        mime: JS,
        body: include_bytes!("assets/js/verify.js"),
    },
    Asset {
        path: "js/ship.js",
        mime: JS,
        body: include_bytes!("assets/js/ship.js"),
    },
    Asset {
        path: "js/handover.js",
        mime: JS,
        body: include_bytes!("assets/js/handover.js"),
    },
    Asset {
        path: "js/words.js",
        mime: JS,
        body: include_bytes!("assets/js/words.js"),
    },
    Asset {
        path: "js/conn.js",
        mime: JS,
        body: include_bytes!("assets/js/conn.js"),
    },
    Asset {
        path: "js/ask.js",
        mime: JS,
        body: include_bytes!("assets/js/ask.js"),
    },
    Asset {
        path: "js/parcel.js",
        mime: JS,
        body: include_bytes!("assets/js/parcel.js"),
    },
];

/// Content ETags, computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.body))[..20]))
            .collect()
    })
}

fn security_headers(headers: &mut HeaderMap) {
    let set = [
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ];
    for (name, value) in set {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

fn serve(path: &str, req: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        let mut resp = ApiError::not_found("tablet file").into_response();
        security_headers(resp.headers_mut());
        return resp;
    };
    let asset = &ASSETS[i];
    let tag = etags().get(i).map(String::as_str).unwrap_or("\"0\"");
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime))],
            asset.body,
        )
            .into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, v);
    }
    security_headers(h);
    resp
}

/// The packing tablet's page (no credentials: a station signs in on it with its site's PIN).
#[utoipa::path(get, path = "/tablet/", tag = "tablet",
    responses((status = 200, body = String, content_type = "text/html; charset=utf-8",
        description = "the tablet page; its scripts and styles under /tablet/"),
        (status = 304, description = "unchanged since the ETag sent")))]
pub(crate) async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    if file == "index.html" {
        return Redirect::permanent("/tablet/").into_response();
    }
    serve(&file, &headers)
}

async fn script(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&format!("js/{file}"), &headers)
}

async fn to_page() -> Redirect {
    Redirect::permanent("/tablet/")
}

/// The tablet's routes: the page, its assets and the live feed.
pub fn routes() -> Router<AppState> {
    let hub = Arc::new(hub::Hub::new());
    Router::new()
        .route("/tablet", get(to_page))
        .route("/tablet/", get(index))
        .route("/tablet/{file}", get(file))
        .route("/tablet/js/{file}", get(script))
        .route("/v1/sites/{site}/events", get(events::stream))
        .layer(Extension(hub))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_small_and_the_page_loads_only_our_own_files() {
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{}", a.path);
            assert!(a.body.len() < 64 * 1024, "{} stays small", a.path);
            if a.path.ends_with(".js") || a.path.ends_with(".css") {
                let lines = a.body.iter().filter(|b| **b == b'\n').count();
                assert!(lines < 500, "{} has {lines} lines", a.path);
            }
        }
        let html = std::str::from_utf8(ASSETS[0].body).unwrap_or("");
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!html.contains("style="), "no inline style (CSP)");
        assert!(!html.contains("<script>"), "no inline script (CSP)");
        assert_eq!(etags().len(), ASSETS.len());
    }
}
