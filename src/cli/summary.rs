//! What a push did, added up over its batches: the progress bar while it runs (stderr, on
//! a terminal only) and the summary table at the end (stdout).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::client::{ClientError, Progress, RejectReason, Report};
use crate::import::{CellSource, Mapped, Unmappable};

use super::i18n::{reason_text, rejection_text, t, Msg};
use super::{EXIT_INCOMPLETE, EXIT_OK, EXIT_SERVER};

#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Orders read from the input (mapped).
    pub read: usize,
    pub accepted: usize,
    pub duplicate: usize,
    pub rejected: Vec<(String, RejectReason)>,
    pub unmappable: Vec<Unmappable>,
    /// Platform-cancelled rows of orders stored before: cancelled now (id, line).
    pub cancelled: Vec<(String, usize)>,
    /// Platform-cancelled rows of orders cancelled here before (an earlier push).
    pub already_cancelled: usize,
    /// Platform-cancelled rows of orders never stored here (not an error).
    pub skipped: Vec<(String, usize)>,
    /// Platform-cancelled rows of orders already handed to the carrier.
    pub too_late: Vec<(String, usize)>,
    /// Orders the push could not finish (with the error that stopped it).
    pub unfinished: Vec<String>,
    pub failure: Option<String>,
    /// The server refused us for good (token, label): said in one sentence, no table.
    pub refused: Option<String>,
    pub reconnects: u64,
    pub nacks: u64,
    pub session_ended: bool,
    /// Input line of each order id, for the rejected list.
    pub lines: HashMap<String, usize>,
    /// Spreadsheet cells of each order id, to name a rejected field's column and value.
    pub cells: HashMap<String, Vec<CellSource>>,
}

/// A client error as the seller reads it.
pub(crate) fn client_error_text(e: &ClientError) -> String {
    match e {
        ClientError::GaveUp { unfinished } => t(Msg::GaveUp, &[("n", &unfinished.len())]),
        ClientError::EndSessionUnacked { .. } => t(Msg::EndSessionUnacked, &[]),
        ClientError::Handshake { status, body } => refusal_text(*status, body),
        other => t(Msg::ClientFault, &[("why", other)]),
    }
}

/// A refused ingest handshake (or HTTP call) in one plain sentence.
pub(crate) fn refusal_text(status: u16, body: &str) -> String {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .or_else(|| v["error"]["code"].as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| body.chars().take(200).collect());
    match status {
        401 => t(Msg::TokenRefused, &[("status", &status)]),
        403 => t(Msg::NotASellerToken, &[("status", &status)]),
        404 => super::api::not_found(&message),
        _ => t(
            Msg::ServerRefused,
            &[("status", &status), ("message", &message)],
        ),
    }
}

impl Tally {
    pub fn note_orders(&mut self, orders: &[Mapped]) {
        self.read += orders.len();
        for m in orders {
            if let Some(id) = m.order_id() {
                self.lines.entry(id.to_owned()).or_insert(m.line);
                if !m.cells.is_empty() {
                    self.cells
                        .entry(id.to_owned())
                        .or_insert_with(|| m.cells.clone());
                }
            }
        }
    }

    /// Adds one push's result. `batch`: the orders it carried (to name `#index` stand-ins).
    pub fn add(&mut self, result: Result<Report, ClientError>, batch: &[Mapped]) {
        match result {
            Ok(r) => {
                self.accepted += r.accepted.len();
                self.duplicate += r.duplicate.len();
                self.reconnects += r.reconnects;
                self.nacks += r.nacks;
                self.session_ended |= r.session_ended;
                for (id, why) in r.rejected {
                    let id = match id.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) {
                        Some(n) => batch
                            .get(n)
                            .map_or(id.clone(), |m| format!("(line {})", m.line)),
                        None => id,
                    };
                    self.rejected.push((id, why));
                }
            }
            Err(e) => {
                if let ClientError::Handshake { .. } = &e {
                    self.refused = Some(client_error_text(&e));
                    return;
                }
                if let ClientError::GaveUp { unfinished } = &e {
                    self.unfinished.extend(unfinished.iter().cloned());
                }
                self.failure = Some(client_error_text(&e));
            }
        }
    }

    pub fn exit_code(&self) -> i32 {
        if self.failure.is_some() || self.refused.is_some() {
            EXIT_SERVER
        } else if !self.rejected.is_empty()
            || !self.unmappable.is_empty()
            || !self.too_late.is_empty()
        {
            EXIT_INCOMPLETE
        } else {
            EXIT_OK
        }
    }

    /// One rejected order's line: the spreadsheet column and cell when the field came
    /// from one, else the field and the server's code.
    fn rejected_line(&self, id: &str, why: &RejectReason) -> String {
        let cell = self
            .cells
            .get(id)
            .and_then(|cells| cells.iter().find(|c| c.field == why.field));
        if let Some(c) = cell {
            let at = t(Msg::AtLine, &[("line", &c.line)]);
            let plain =
                rejection_text(&why.code, &why.message).unwrap_or_else(|| why.message.clone());
            return format!(
                "  {at:<10} {id}  {}: '{}' — {plain}",
                c.column,
                shorten(&c.value)
            );
        }
        let at = self
            .lines
            .get(id)
            .map_or(String::new(), |l| t(Msg::AtLine, &[("line", l)]));
        let field = if why.field.is_empty() {
            String::new()
        } else {
            format!(" {}", why.field)
        };
        // In Vietnamese the catalogue's words for the code (the server's message is English).
        let said = match super::i18n::lang() {
            super::i18n::Lang::Vi => {
                rejection_text(&why.code, &why.message).unwrap_or_else(|| why.message.clone())
            }
            super::i18n::Lang::En => why.message.clone(),
        };
        format!("  {at:<10} {id}  {}{field}: {said}", why.code)
    }

    /// The summary table (or, when the server refused us, the one sentence saying so).
    pub fn render(&self, what: &str) -> String {
        if let Some(r) = &self.refused {
            return format!("livepack push: {r}\n");
        }
        let mut s = String::new();
        let mut line = |t: String| {
            s.push_str(&t);
            s.push('\n');
        };
        let row = |label: Msg, n: usize| format!("  {:<12}{:>8}", t(label, &[]), n);
        line(t(Msg::SummaryTitle, &[("what", &what)]));
        line(row(Msg::LabelRead, self.read));
        line(row(Msg::LabelAccepted, self.accepted));
        line(row(Msg::LabelDuplicate, self.duplicate));
        line(row(Msg::LabelRejected, self.rejected.len()));
        line(row(Msg::LabelUnmappable, self.unmappable.len()));
        if !self.cancelled.is_empty()
            || !self.skipped.is_empty()
            || !self.too_late.is_empty()
            || self.already_cancelled > 0
        {
            line(row(Msg::LabelCancelled, self.cancelled.len()));
            if self.already_cancelled > 0 {
                line(format!(
                    "{}   {}",
                    row(Msg::LabelAlready, self.already_cancelled),
                    t(Msg::AlreadyNote, &[])
                ));
            }
            line(format!(
                "{}   {}",
                row(Msg::LabelSkipped, self.skipped.len()),
                t(Msg::SkippedNote, &[])
            ));
        }
        if !self.too_late.is_empty() {
            line(row(Msg::LabelTooLate, self.too_late.len()));
        }
        if !self.unfinished.is_empty() {
            line(row(Msg::LabelUnanswered, self.unfinished.len()));
        }
        let yes_no = t(
            if self.session_ended {
                Msg::Yes
            } else {
                Msg::No
            },
            &[],
        );
        line(format!(
            "{}   {}",
            row(Msg::LabelReconnects, self.reconnects as usize),
            t(
                Msg::ReconnectsNote,
                &[("nacks", &self.nacks), ("ended", &yes_no)]
            )
        ));
        if !self.rejected.is_empty() {
            line(t(Msg::RejectedHeading, &[]));
            for (id, why) in &self.rejected {
                line(self.rejected_line(id, why));
            }
        }
        if !self.unmappable.is_empty() {
            line(t(Msg::UnmappableHeading, &[]));
            let mut rows: Vec<&Unmappable> = self.unmappable.iter().collect();
            rows.sort_by_key(|u| u.line);
            for u in rows {
                let id = u.order_id.as_deref().unwrap_or("-");
                let at = t(Msg::AtLine, &[("line", &u.line)]);
                line(format!("  {at:<10} {id}  {}", reason_text(&u.reason)));
            }
        }
        for (heading, list) in [
            (Msg::CancelledHeading, &self.cancelled),
            (Msg::TooLateHeading, &self.too_late),
        ] {
            if list.is_empty() {
                continue;
            }
            line(t(heading, &[]));
            for (id, l) in list {
                let at = t(Msg::AtLine, &[("line", l)]);
                line(format!("  {at:<10} {id}"));
            }
        }
        if let Some(f) = &self.failure {
            line(t(Msg::PushFailed, &[("why", f)]));
            for id in self.unfinished.iter().take(50) {
                line(format!("  {}", t(Msg::Unanswered, &[("id", id)])));
            }
            if self.unfinished.len() > 50 {
                line(format!(
                    "  {}",
                    t(Msg::AndMore, &[("n", &(self.unfinished.len() - 50))])
                ));
            }
        }
        s
    }

    pub fn print(&self, what: &str) {
        if self.refused.is_some() {
            eprint!("{}", self.render(what));
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(self.render(what).as_bytes());
        let _ = out.flush();
    }
}

/// The progress bar: drawn on stderr when it is a terminal, hidden otherwise.
pub(crate) fn bar(total: Option<u64>) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    match total {
        Some(n) => {
            let pb = ProgressBar::with_draw_target(Some(n), target);
            if let Ok(style) = ProgressStyle::with_template(&format!(
                "{{bar:30.green/white}} {{pos}}/{{len}} {}  {{msg}}",
                t(Msg::BarSent, &[])
            )) {
                pb.set_style(style.progress_chars("=> "));
            }
            pb
        }
        None => {
            let pb = ProgressBar::with_draw_target(None, target);
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                pb.set_style(style);
            }
            pb.enable_steady_tick(std::time::Duration::from_millis(200));
            pb
        }
    }
}

/// The bar's message for a progress report, with counts of earlier batches added.
pub(crate) fn progress_message(p: &Progress, before: (usize, usize, usize)) -> String {
    let mut m = t(
        Msg::ProgressSent,
        &[
            ("sent", &(before.0 + p.sent)),
            ("acked", &(before.1 + p.acked)),
            ("rejected", &(before.2 + p.rejected)),
        ],
    );
    if p.reconnects > 0 || p.nacks > 0 {
        m.push_str(&t(
            Msg::ProgressRetries,
            &[("reconnects", &p.reconnects), ("nacks", &p.nacks)],
        ));
    }
    m
}

/// A cell as shown in a rejection: whole up to 80 characters, else its first 60 and its
/// length (a 10,000-character address cell would fill the terminal).
fn shorten(value: &str) -> String {
    let n = value.chars().count();
    if n <= 80 {
        return value.to_owned();
    }
    let head: String = value.chars().take(60).collect();
    format!("{head}{}", t(Msg::CellCut, &[("n", &n)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_rejections_and_unmappable_rows_with_lines() {
        let mut t = Tally::default();
        t.lines.insert("TT-2".into(), 7);
        t.add(
            Ok(Report {
                accepted: vec!["TT-1".into()],
                rejected: vec![(
                    "TT-2".into(),
                    RejectReason {
                        code: "invalid_phone".into(),
                        field: "buyer.phone".into(),
                        message: "bad".into(),
                    },
                )],
                ..Default::default()
            }),
            &[],
        );
        t.unmappable.push(Unmappable {
            line: 9,
            order_id: Some("TT-3".into()),
            reason: "no phone number for the recipient".into(),
        });
        let s = t.render("x");
        assert!(s.contains("line 7"), "{s}");
        assert!(s.contains("invalid_phone buyer.phone: bad"), "{s}");
        assert!(s.contains("line 9     TT-3  no phone"), "{s}");
        assert_eq!(t.exit_code(), EXIT_INCOMPLETE);
    }

    #[test]
    fn a_rejected_spreadsheet_field_names_its_column_and_cell() {
        let mut t = Tally::default();
        t.cells.insert(
            "SP-1".into(),
            vec![CellSource {
                field: "ship_to.province".into(),
                column: "Tỉnh/Thành phố".into(),
                value: "Ha Noi Capital".into(),
                line: 4,
            }],
        );
        t.rejected.push((
            "SP-1".into(),
            RejectReason {
                code: "unknown_province".into(),
                field: "ship_to.province".into(),
                message: "not a Vietnamese province (old or post-2025 name)".into(),
            },
        ));
        let s = t.render("x");
        assert!(
            s.contains("line 4     SP-1  Tỉnh/Thành phố: 'Ha Noi Capital' — not a Vietnamese"),
            "{s}"
        );
        assert!(!s.contains("ship_to.province"), "{s}");
        assert!(!s.contains("unknown_province"), "{s}");
        // A huge cell is cut, with its length.
        t.cells.get_mut("SP-1").unwrap()[0].value = "x".repeat(10_000);
        let s = t.render("x");
        assert!(s.lines().all(|l| l.chars().count() < 300), "{s}");
        assert!(
            s.contains(&format!("'{}… (10000 characters)'", "x".repeat(60))),
            "{s}"
        );
    }

    #[test]
    fn cancelled_rows_never_stored_do_not_fail_the_push_but_too_late_ones_do() {
        let mut t = Tally::default();
        t.skipped.push(("TT-9".into(), 3));
        t.cancelled.push(("TT-1".into(), 2));
        assert_eq!(t.exit_code(), EXIT_OK);
        let s = t.render("x");
        assert!(s.contains("cancelled          1"), "{s}");
        assert!(s.contains("skipped            1"), "{s}");
        t.too_late.push(("TT-2".into(), 5));
        assert_eq!(t.exit_code(), EXIT_INCOMPLETE);
    }

    #[test]
    fn a_refused_token_is_one_sentence_without_table_or_json() {
        let mut t = Tally::default();
        t.add(
            Err(ClientError::Handshake {
                status: 401,
                body: r#"{"error":{"code":"unauthorized","message":"x"}}"#.into(),
            }),
            &[],
        );
        let s = t.render("x");
        assert_eq!(s.lines().count(), 1, "{s}");
        assert!(s.contains("refused the token"), "{s}");
        assert!(!s.contains('{'), "{s}");
        assert_eq!(t.exit_code(), EXIT_SERVER);
    }
}
