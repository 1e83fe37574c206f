//! The seller's commands: `livepack push`, `livepack cancel`, `livepack session`.
//! `main.rs` parses the command line into these argument structs and exits with the code
//! the `run` functions return.
//!
//! Exit codes (all three commands):
//! - 0: everything went through (push: every order stored, as `accepted` or `duplicate`);
//! - 1: done, but not everything: push had rejected orders, unmappable rows, or rows
//!   cancelled on the platform whose order was already handed to the carrier; cancel
//!   answered `too_late` or `unknown`; session not found (rows cancelled on the platform
//!   for orders never stored here are counted as `skipped` and do not make it 1);
//! - 2: bad input or usage: unreadable file, unknown format, missing column, bad flag;
//! - 3: the server could not be used: refused the token, unreachable (push checks this
//!   before it sends anything and says "connecting to …" first), or the push gave up
//!   with orders unanswered;
//! - 130: interrupted: Ctrl-C during a push (after saying what was sent), a second
//!   Ctrl-C while following.
//!
//! Messages are in Vietnamese or English (`--lang`, else the locale: see `i18n.rs`).

mod api;
mod cod;
mod follow;
pub mod i18n;
mod push;
mod summary;
pub mod usage;

use std::path::PathBuf;

use crate::import::Format;

pub use api::{run_cancel, run_session};
pub use cod::{run_cod, CodArgs};
pub use i18n::Lang;
pub use push::run_push;

pub const EXIT_OK: i32 = 0;
pub const EXIT_INCOMPLETE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_SERVER: i32 = 3;
pub const EXIT_INTERRUPTED: i32 = 130;

/// `livepack push`: read orders and stream them into a session.
#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// The session (livestream) label: 1–64 of A-Z a-z 0-9 . _ -
    #[arg(long)]
    pub session: String,
    /// The seller's token (or set LIVEPACK_TOKEN, which keeps it out of the process list).
    #[arg(long, env = "LIVEPACK_TOKEN", hide_env_values = true, allow_hyphen_values = true, value_parser = usage::token_value)]
    pub token: String,
    /// The service's address (ws:// or http://).
    #[arg(long, env = "LIVEPACK_URL", default_value = "ws://127.0.0.1:8080", value_parser = usage::url_value)]
    pub url: String,
    /// Input format; `auto` looks at the file name and content.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// Keep reading the growing file (or standard input) and send new orders as they are
    /// written, until Ctrl-C, a line {"type":"end_session"}, --idle-secs without growth, or
    /// the end of standard input; then send what is left and end the session.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: stop after this many seconds without the input growing.
    #[arg(long, value_name = "SECS", requires = "follow")]
    pub idle_secs: Option<u64>,
    /// End the session after the last order (always done at the end of --follow).
    #[arg(long)]
    pub end_session: bool,
    /// CSV of `sku,weight_g`: grams per unit, used before any weight in the input.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Grams per unit for SKUs with no weight in --weights or in the input.
    #[arg(long, value_name = "GRAMS", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub default_weight_g: Option<u32>,
    /// Print the mapped ORDERs as JSON lines on standard output and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Orders per frame (1–500).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub batch: u16,
    /// Language of the messages: vi or en (default: English when LC_ALL, LC_MESSAGES or
    /// LANG names another language, e.g. en_US, else Vietnamese).
    #[arg(long, value_enum)]
    pub lang: Option<Lang>,
    /// The input file, or - for standard input.
    pub file: String,
}

/// `livepack cancel`: cancel one order.
#[derive(Debug, Clone, clap::Args)]
pub struct CancelArgs {
    /// The seller's token (or set LIVEPACK_TOKEN).
    #[arg(long, env = "LIVEPACK_TOKEN", hide_env_values = true, allow_hyphen_values = true, value_parser = usage::token_value)]
    pub token: String,
    /// The service's address (http:// or ws://).
    #[arg(long, env = "LIVEPACK_URL", default_value = "http://127.0.0.1:8080", value_parser = usage::url_value)]
    pub url: String,
    /// Why, e.g. buyer_cancelled (1–64 of A-Z a-z 0-9 . _ -).
    #[arg(long)]
    pub reason: Option<String>,
    /// Language of the messages: vi or en (default: English when LC_ALL, LC_MESSAGES or
    /// LANG names another language, e.g. en_US, else Vietnamese).
    #[arg(long, value_enum)]
    pub lang: Option<Lang>,
    /// The order id as pushed (exports get a prefix: TT-… TikTok, SP-… Shopee).
    pub order_id: String,
}

/// `livepack session`: where a session stands.
#[derive(Debug, Clone, clap::Args)]
pub struct SessionArgs {
    /// The seller's token (or set LIVEPACK_TOKEN).
    #[arg(long, env = "LIVEPACK_TOKEN", hide_env_values = true, allow_hyphen_values = true, value_parser = usage::token_value)]
    pub token: String,
    /// The service's address (http:// or ws://).
    #[arg(long, env = "LIVEPACK_URL", default_value = "http://127.0.0.1:8080", value_parser = usage::url_value)]
    pub url: String,
    /// The seller's packing site, for the at-risk count (read from the session when the
    /// server says it).
    #[arg(long)]
    pub site: Option<String>,
    /// Print the server's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Language of the messages: vi or en (default: English when LC_ALL, LC_MESSAGES or
    /// LANG names another language, e.g. en_US, else Vietnamese).
    #[arg(long, value_enum)]
    pub lang: Option<Lang>,
    /// The session label.
    pub label: String,
}

/// `ws://` ↔ `http://` for the HTTP API.
pub(crate) fn http_base(url: &str) -> String {
    let base = url.trim_end_matches('/');
    if let Some(rest) = base.strip_prefix("ws://") {
        format!("http://{rest}")
    } else if let Some(rest) = base.strip_prefix("wss://") {
        format!("https://{rest}")
    } else {
        base.to_owned()
    }
}

/// Percent-encodes a path segment (anything but A-Z a-z 0-9 . _ -).
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_segments() {
        assert_eq!(http_base("ws://h:1/"), "http://h:1");
        assert_eq!(http_base("wss://h"), "https://h");
        assert_eq!(http_base("http://h"), "http://h");
        assert_eq!(segment("TT-1 /é"), "TT-1%20%2F%C3%A9");
    }
}
