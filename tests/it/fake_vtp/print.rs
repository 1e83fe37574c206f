//! The fake's label printing: `POST /v2/order/printing-code` (header `Token`, body
//! `{EXPIRY_TIME, ORDER_ARRAY}`) → `{status: 200, error: false, message: <print code>,
//! data: null}`, and the print service `GET /DigitalizePrint/report.do?type=&bill=&showPostage=`
//! → a small real PDF (one page per tracking code, text "VIETTEL POST <code>"), as Viettel
//! Post's partner API guide §9.2 describes. Failures on demand: [`PrintFault`].

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{body_of, envelope_error, lock, token_of, Shared};

/// How the next print calls fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintFault {
    /// printing-code answers HTTP 200 `{error: true, message: "Order does not exist"}`.
    NoCode,
    /// printing-code answers HTTP 500.
    ServerError,
    /// The print page answers an HTML page instead of a PDF.
    Html,
}

#[derive(Default)]
pub struct PrintState {
    pub fault: Option<PrintFault>,
    /// print code → tracking codes.
    codes: HashMap<String, Vec<String>>,
    /// Every print page request: (paper type, tracking codes).
    pub printed: Vec<(String, Vec<String>)>,
}

impl super::FakeVtp {
    /// What `[[carriers]] print_url` should be.
    pub fn print_url(&self) -> String {
        format!("http://{}/DigitalizePrint/report.do", self.served.addr)
    }

    pub fn set_print_fault(&self, fault: Option<PrintFault>) {
        self.lock().print.fault = fault;
    }

    /// Every label the print page served: (paper type, tracking codes).
    pub fn printed(&self) -> Vec<(String, Vec<String>)> {
        self.lock().print.printed.clone()
    }
}

pub async fn printing_code(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let body = body_of(body);
    let token = token_of(&headers);
    let mut s = lock(&state);
    if !s.valid_tokens.contains(token) {
        return Json(envelope_error(401, "Token invalid")).into_response();
    }
    match s.print.fault {
        Some(PrintFault::ServerError) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "upstream error").into_response()
        }
        Some(PrintFault::NoCode) => {
            return Json(envelope_error(400, "Order does not exist")).into_response()
        }
        _ => {}
    }
    let now = chrono::Utc::now().timestamp_millis();
    if body["EXPIRY_TIME"].as_i64().is_none_or(|t| t <= now) {
        return Json(envelope_error(
            400,
            "EXPIRY_TIME phải là thời điểm trong tương lai",
        ))
        .into_response();
    }
    let Some(codes) = body["ORDER_ARRAY"].as_array() else {
        return Json(envelope_error(400, "ORDER_ARRAY là bắt buộc")).into_response();
    };
    let codes: Vec<String> = codes
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    if codes.is_empty() || codes.len() > 100 {
        return Json(envelope_error(400, "ORDER_ARRAY: 1–100 mã vận đơn")).into_response();
    }
    let known: Vec<&String> = s
        .orders
        .values()
        .flat_map(|o| o.iter().map(|x| &x.tracking))
        .collect();
    if let Some(unknown) = codes.iter().find(|c| !known.contains(c)) {
        return Json(envelope_error(
            400,
            &format!("Order does not exist: {unknown}"),
        ))
        .into_response();
    }
    let n = s.print.codes.len() + 1;
    let code = format!("PRT{n:04}aGVsbG8tdmlldHRlbC1wb3N0LWxhYmVs=");
    s.print.codes.insert(code.clone(), codes);
    Json(json!({"status": 200, "error": false, "message": code, "data": null})).into_response()
}

pub async fn report(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = lock(&state);
    if s.print.fault == Some(PrintFault::Html) {
        return (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Phiên in đã hết hạn</body></html>",
        )
            .into_response();
    }
    let paper = q.get("type").cloned().unwrap_or_default();
    let Some(codes) = q.get("bill").and_then(|b| s.print.codes.get(b)).cloned() else {
        return (StatusCode::NOT_FOUND, "no such print code").into_response();
    };
    if !["1", "2", "a6_1", "100", "1001"].contains(&paper.as_str()) {
        return (StatusCode::BAD_REQUEST, "unknown type").into_response();
    }
    s.print.printed.push((paper.clone(), codes.clone()));
    (
        [(header::CONTENT_TYPE, "application/pdf")],
        tiny_pdf(&codes, &paper),
    )
        .into_response()
}

/// A minimal, valid PDF: one page per code with "VIETTEL POST <code> TYPE <paper>" in
/// Helvetica (with a correct cross-reference table, so any reader opens it).
pub fn tiny_pdf(codes: &[String], paper: &str) -> Vec<u8> {
    let mut objects: Vec<String> = Vec::new();
    let n = codes.len();
    // 1 catalog, 2 pages, 3 font, then per page: page, content.
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {n} >>",
        kids.join(" ")
    ));
    objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into());
    for (i, code) in codes.iter().enumerate() {
        let content = format!("BT /F1 14 Tf 20 380 Td (VIETTEL POST {code} TYPE {paper}) Tj ET");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 283 425] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}
