//! JSON lines: one ORDER (contract §1) per line, passed through as written (the server
//! validates it). Blank lines are skipped; a line `{"type":"end_session"}` marks the end of
//! a followed stream; anything that is not a JSON object is unmappable.

use serde_json::Value;

use super::{Mapped, Parsed, Unmappable};

pub(crate) fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        out.rows += 1;
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(map)) => {
                if map.get("type").and_then(Value::as_str) == Some("end_session") {
                    out.end_marker = true;
                    break;
                }
                out.orders.push(Mapped {
                    line: line_no,
                    last_line: line_no,
                    key: format!("L{line_no}"),
                    order: Value::Object(map),
                    cells: Vec::new(),
                });
            }
            Ok(_) => out.unmappable.push(Unmappable {
                line: line_no,
                order_id: None,
                reason: "not a JSON object (one ORDER per line)".into(),
            }),
            Err(e) => out.unmappable.push(Unmappable {
                line: line_no,
                order_id: crate::domain::order::peek_order_id(line),
                reason: format!("not valid JSON (column {})", e.column()),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_blank_bad_and_end_marker() {
        let text = "{\"order_id\":\"A\"}\r\n\r\n[1]\n{oops\n{\"type\":\"end_session\"}\n{\"order_id\":\"B\"}\n";
        let p = parse(text);
        assert_eq!(p.orders.len(), 1);
        assert_eq!(p.orders[0].line, 1);
        assert_eq!(p.unmappable.len(), 2);
        assert_eq!(p.unmappable[0].line, 3);
        assert_eq!(p.unmappable[1].line, 4);
        assert!(p.end_marker);
    }
}
