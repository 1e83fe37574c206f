//! What a push did, added up over its batches: the progress bar while it runs (stderr, on
//! a terminal only) and the summary table at the end (stdout).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::client::{ClientError, Progress, RejectReason, Report};
use crate::import::{Mapped, Unmappable};

use super::{EXIT_INCOMPLETE, EXIT_OK, EXIT_SERVER};

#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Orders read from the input (mapped).
    pub read: usize,
    pub accepted: usize,
    pub duplicate: usize,
    pub rejected: Vec<(String, RejectReason)>,
    pub unmappable: Vec<Unmappable>,
    /// Orders the push could not finish (with the error that stopped it).
    pub unfinished: Vec<String>,
    pub failure: Option<String>,
    pub reconnects: u64,
    pub nacks: u64,
    pub session_ended: bool,
    /// Input line of each order id, for the rejected list.
    pub lines: HashMap<String, usize>,
}

impl Tally {
    pub fn note_orders(&mut self, orders: &[Mapped]) {
        self.read += orders.len();
        for m in orders {
            if let Some(id) = m.order_id() {
                self.lines.entry(id.to_owned()).or_insert(m.line);
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
                if let ClientError::GaveUp { unfinished } = &e {
                    self.unfinished.extend(unfinished.iter().cloned());
                }
                self.failure = Some(e.to_string());
            }
        }
    }

    pub fn exit_code(&self) -> i32 {
        if self.failure.is_some() {
            EXIT_SERVER
        } else if !self.rejected.is_empty() || !self.unmappable.is_empty() {
            EXIT_INCOMPLETE
        } else {
            EXIT_OK
        }
    }

    /// The summary table.
    pub fn render(&self, what: &str) -> String {
        let mut s = String::new();
        let mut line = |t: String| {
            s.push_str(&t);
            s.push('\n');
        };
        line(format!("livepack push: {what}"));
        line(format!("  {:<12}{:>8}", "read", self.read));
        line(format!("  {:<12}{:>8}", "accepted", self.accepted));
        line(format!("  {:<12}{:>8}", "duplicate", self.duplicate));
        line(format!("  {:<12}{:>8}", "rejected", self.rejected.len()));
        line(format!(
            "  {:<12}{:>8}",
            "unmappable",
            self.unmappable.len()
        ));
        if !self.unfinished.is_empty() {
            line(format!(
                "  {:<12}{:>8}",
                "unanswered",
                self.unfinished.len()
            ));
        }
        line(format!(
            "  {:<12}{:>8}   (nacks {}, session ended: {})",
            "reconnects",
            self.reconnects,
            self.nacks,
            if self.session_ended { "yes" } else { "no" }
        ));
        if !self.rejected.is_empty() {
            line("rejected by the server (not stored):".into());
            for (id, why) in &self.rejected {
                let at = self
                    .lines
                    .get(id)
                    .map_or(String::new(), |l| format!("line {l}"));
                let field = if why.field.is_empty() {
                    String::new()
                } else {
                    format!(" {}", why.field)
                };
                line(format!(
                    "  {at:<10} {id}  {}{field}: {}",
                    why.code, why.message
                ));
            }
        }
        if !self.unmappable.is_empty() {
            line("unmappable rows (not sent):".into());
            let mut rows: Vec<&Unmappable> = self.unmappable.iter().collect();
            rows.sort_by_key(|u| u.line);
            for u in rows {
                let id = u.order_id.as_deref().unwrap_or("-");
                line(format!("  line {:<5} {id}  {}", u.line, u.reason));
            }
        }
        if let Some(f) = &self.failure {
            line(format!("push failed: {f}"));
            for id in self.unfinished.iter().take(50) {
                line(format!("  unanswered: {id}"));
            }
            if self.unfinished.len() > 50 {
                line(format!("  … and {} more", self.unfinished.len() - 50));
            }
        }
        s
    }

    pub fn print(&self, what: &str) {
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
            if let Ok(style) =
                ProgressStyle::with_template("{bar:30.green/white} {pos}/{len} sent  {msg}")
            {
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
    let mut m = format!(
        "sent {}  acked {}  rejected {}",
        before.0 + p.sent,
        before.1 + p.acked,
        before.2 + p.rejected
    );
    if p.reconnects > 0 || p.nacks > 0 {
        m.push_str(&format!(
            "  (reconnects {}, nacks {})",
            p.reconnects, p.nacks
        ));
    }
    m
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
}
