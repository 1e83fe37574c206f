//! The client's side of the ingest protocol (contract §1): building frames as text without
//! re-serializing orders, and reading server replies without trusting them.

use serde::Deserialize;

/// Frames a batch of already serialized orders. `single` sends an `order` frame (exactly one
/// order), otherwise an `orders` frame.
pub(crate) fn orders_frame<'a>(
    seq: i64,
    single: bool,
    orders: impl IntoIterator<Item = &'a str>,
    size_hint: usize,
) -> String {
    let mut out = String::with_capacity(size_hint + 48);
    if single {
        out.push_str(r#"{"type":"order","seq":"#);
        out.push_str(&seq.to_string());
        out.push_str(r#","order":"#);
        for o in orders {
            out.push_str(o);
        }
        out.push('}');
    } else {
        out.push_str(r#"{"type":"orders","seq":"#);
        out.push_str(&seq.to_string());
        out.push_str(r#","orders":["#);
        for (n, o) in orders.into_iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(o);
        }
        out.push_str("]}");
    }
    out
}

/// The bytes a frame adds around its orders (for staying under the server's frame limit).
pub(crate) fn frame_overhead(seq: i64) -> usize {
    r#"{"type":"orders","seq":,"orders":[]}"#.len() + seq.to_string().len()
}

pub(crate) fn end_session_frame(seq: i64) -> String {
    format!(r#"{{"type":"end_session","seq":{seq}}}"#)
}

/// The error attached to a rejected order, or to a refused frame.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RejectReason {
    pub code: String,
    /// The JSON path of the offending field, e.g. `buyer.phone`; empty when the server named none.
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub message: String,
}

/// One order's answer in an `ack`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireResult {
    #[serde(default)]
    pub order_id: Option<String>,
    pub status: String,
    #[serde(default)]
    pub error: Option<RejectReason>,
}

#[derive(Debug, Deserialize)]
struct RawReply {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    seq: Option<i64>,
    #[serde(default)]
    results: Option<Vec<WireResult>>,
    #[serde(default)]
    retry_after_ms: Option<u64>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// A server reply that has the shape the contract promises.
#[derive(Debug)]
pub(crate) enum Reply {
    Ack {
        seq: i64,
        results: Vec<WireResult>,
    },
    Nack {
        seq: i64,
        retry_after_ms: u64,
        reason: String,
    },
    Error {
        seq: Option<i64>,
        reason: RejectReason,
    },
    Pong {
        seq: i64,
    },
}

impl Reply {
    pub fn seq(&self) -> Option<i64> {
        match self {
            Reply::Ack { seq, .. } | Reply::Nack { seq, .. } | Reply::Pong { seq } => Some(*seq),
            Reply::Error { seq, .. } => *seq,
        }
    }
}

/// Parses one text reply; anything malformed is a protocol error (the caller reconnects).
pub(crate) fn parse_reply(text: &str) -> Result<Reply, String> {
    let raw: RawReply = serde_json::from_str(text).map_err(|e| format!("unreadable reply: {e}"))?;
    let need_seq =
        |seq: Option<i64>| seq.ok_or_else(|| format!("`{}` reply without seq", raw.kind));
    match raw.kind.as_str() {
        "ack" => Ok(Reply::Ack {
            seq: need_seq(raw.seq)?,
            results: raw.results.unwrap_or_default(),
        }),
        "nack" => Ok(Reply::Nack {
            seq: need_seq(raw.seq)?,
            retry_after_ms: raw.retry_after_ms.unwrap_or(0),
            reason: raw.reason.unwrap_or_default(),
        }),
        "error" => Ok(Reply::Error {
            seq: raw.seq,
            reason: RejectReason {
                code: raw.code.ok_or("`error` reply without code")?,
                field: raw.field.unwrap_or_default(),
                message: raw.message.unwrap_or_default(),
            },
        }),
        "pong" => Ok(Reply::Pong {
            seq: need_seq(raw.seq)?,
        }),
        other => Err(format!("unknown reply type {:?}", truncate(other))),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Frame errors that mean "try again later" rather than "this frame is wrong".
pub(crate) fn is_retryable(code: &str) -> bool {
    matches!(
        code,
        "storage_unavailable"
            | "overloaded"
            | "busy"
            | "rate_limited"
            | "too_many_requests"
            | "unavailable"
            | "internal"
            | "internal_error"
            | "timeout"
            | "try_again"
            | "shutting_down"
    )
}

/// Frame errors that only a broken client causes: the push stops with an error.
pub(crate) fn is_client_bug(code: &str) -> bool {
    matches!(
        code,
        "too_many_orders" | "malformed_frame" | "unknown_type" | "binary_frame"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_valid_json() {
        let one = orders_frame(7, true, [r#"{"order_id":"A"}"#], 0);
        let v: serde_json::Value = serde_json::from_str(&one).unwrap();
        assert_eq!(v["type"], "order");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["order"]["order_id"], "A");
        let many = orders_frame(-3, false, [r#"{"a":1}"#, r#"{"b":2}"#], 0);
        let v: serde_json::Value = serde_json::from_str(&many).unwrap();
        assert_eq!(v["orders"].as_array().unwrap().len(), 2);
        assert_eq!(many.len(), frame_overhead(-3) + 7 + 7 + 1);
        let end: serde_json::Value = serde_json::from_str(&end_session_frame(9)).unwrap();
        assert_eq!(end["type"], "end_session");
    }

    #[test]
    fn replies_parse_or_fail_without_panicking() {
        let ack = r#"{"type":"ack","seq":2,"results":[{"order_id":"TT-3","status":"rejected",
            "error":{"code":"invalid_phone","field":"buyer.phone","message":"x"}}]}"#;
        match parse_reply(ack) {
            Ok(Reply::Ack { seq: 2, results }) => {
                assert_eq!(results[0].error.as_ref().unwrap().field, "buyer.phone")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_reply(r#"{"type":"nack","seq":2,"retry_after_ms":500,"reason":"s"}"#),
            Ok(Reply::Nack {
                seq: 2,
                retry_after_ms: 500,
                ..
            })
        ));
        assert!(matches!(
            parse_reply(r#"{"type":"error","seq":null,"code":"malformed_frame","message":"x"}"#),
            Ok(Reply::Error { seq: None, .. })
        ));
        for garbage in [
            "",
            "null",
            "[]",
            "{}",
            r#"{"type":"ack"}"#,
            r#"{"type":"ack","seq":1.5}"#,
            r#"{"type":"ack","seq":"1"}"#,
            r#"{"type":"ack","seq":1,"results":[{"status":3}]}"#,
            r#"{"type":"error","seq":1}"#,
            r#"{"type":"hello","seq":1}"#,
        ] {
            assert!(parse_reply(garbage).is_err(), "{garbage}");
        }
    }
}
