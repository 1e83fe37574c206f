//! `livepack push FILE|-`: read the whole input, map it, check that the service answers
//! and takes the token, stream the orders with the client library (pipelined, resent and
//! reconnected as needed), cancel the orders the platform cancelled since an earlier
//! push, print the summary. `--follow` is in `follow.rs`.

use std::io::Read;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use indicatif::ProgressBar;

use crate::client::{push, ClientConfig, Progress};
use crate::domain::status::OrderStatus;
use crate::import::{self, Cancelled, Format, ImportError, Mapped, Options, Parsed};

use super::api::{call, cancel_one, client, failure, preflight};
use super::i18n::{reason_text, t, Msg};
use super::summary::{bar, progress_message, Tally};
use super::{
    follow, http_base, segment, PushArgs, EXIT_INCOMPLETE, EXIT_INTERRUPTED, EXIT_OK, EXIT_SERVER,
    EXIT_USAGE,
};

/// The reason sent with the cancel of an order the platform cancelled.
const PLATFORM_CANCELLED: &str = "platform_cancelled";
/// Cancels in flight at once.
const CANCEL_CONCURRENCY: usize = 8;

pub async fn run_push(args: PushArgs) -> i32 {
    super::i18n::init(args.lang);
    if !crate::domain::is_label(&args.session) {
        eprintln!("livepack push: {}", t(Msg::BadSessionLabel, &[]));
        return EXIT_USAGE;
    }
    let opts = match options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("livepack push: {}", import_error_text(&e));
            return EXIT_USAGE;
        }
    };
    if args.follow {
        return follow::run(&args, &opts).await;
    }
    let input = read_input(&args.file)
        .and_then(|bytes| resolve_format(&args, &bytes).map(|f| (bytes, f)))
        .and_then(|(bytes, f)| import::parse(f, &bytes, &opts, true).map(|p| (p, f)));
    let (parsed, format) = match input {
        Ok(x) => x,
        Err(e) => {
            eprintln!("livepack push: {}", import_error_text(&e));
            return EXIT_USAGE;
        }
    };
    // A header and no row (an export of the wrong days, a cut download): nothing to push,
    // as an empty file, unless the session is to be ended.
    if parsed.rows == 0 && !parsed.end_marker && !args.end_session {
        eprintln!("livepack push: {}", t(Msg::NoRows, &[]));
        return EXIT_USAGE;
    }
    if args.dry_run {
        return dry_run(&parsed);
    }
    let connected = tokio::select! {
        r = connect(&args) => r,
        _ = tokio::signal::ctrl_c() => {
            Err(say_interrupted(&Progress::default(), Some(parsed.orders.len())))
        }
    };
    if let Err(code) = connected {
        return code;
    }
    let mut tally = Tally {
        unmappable: parsed.unmappable,
        ..Default::default()
    };
    tally.note_orders(&parsed.orders);
    let mut cfg = client_config(&args);
    cfg.end_session = args.end_session;
    let pb = bar(Some(parsed.orders.len() as u64));
    let last = Arc::new(Mutex::new(Progress::default()));
    let total = parsed.orders.len();
    let work = async {
        if !parsed.orders.is_empty() || cfg.end_session {
            send(&cfg, parsed.orders, &mut tally, &pb, &last).await;
        }
        if tally.failure.is_none() && tally.refused.is_none() {
            cancel_rows(&args, parsed.cancelled, &mut tally, &pb).await;
        }
    };
    let interrupted = tokio::select! {
        _ = work => false,
        _ = tokio::signal::ctrl_c() => true,
    };
    pb.finish_and_clear();
    if interrupted {
        let p = last.lock().map(|g| *g).unwrap_or_default();
        return say_interrupted(&p, Some(total));
    }
    let source = source_name(&args.file);
    tally.print(&t(
        Msg::SourceFormat,
        &[
            ("source", &source),
            ("format", &format.name()),
            ("session", &args.session),
        ],
    ));
    tally.exit_code()
}

/// A Ctrl-C: the summary line of what was stored and sent (`p`; of `total` orders, when the input's
/// size is known, not while following a growing one), and the exit code.
pub(crate) fn say_interrupted(p: &Progress, total: Option<usize>) -> i32 {
    // Sent: written to the connection (a slow service may not have read them yet).
    let unanswered = p.unanswered;
    let (stored, rejected) = (&p.acked, &p.rejected);
    let line = match total {
        Some(total) => t(
            Msg::Interrupted,
            &[
                ("stored", stored),
                ("total", &total),
                ("rejected", rejected),
                ("unanswered", &unanswered),
            ],
        ),
        None => t(
            Msg::InterruptedFollow,
            &[
                ("stored", stored),
                ("rejected", rejected),
                ("unanswered", &unanswered),
            ],
        ),
    };
    println!("livepack push: {line}");
    EXIT_INTERRUPTED
}

/// Says where it connects, then checks that the service answers and takes the token:
/// the exit code and a plain sentence when not.
pub(crate) async fn connect(args: &PushArgs) -> Result<(), i32> {
    eprintln!(
        "livepack push: {}",
        t(Msg::Connecting, &[("url", &args.url)])
    );
    preflight(&args.url, &args.token, &args.session)
        .await
        .map_err(|(code, msg)| {
            eprintln!("livepack push: {msg}");
            code
        })
}

/// The import error in the seller's language.
pub(crate) fn import_error_text(e: &ImportError) -> String {
    match e {
        ImportError::Io { path, error } => {
            let error = match error.kind() {
                std::io::ErrorKind::NotFound => t(Msg::IoNotFound, &[]),
                std::io::ErrorKind::IsADirectory => t(Msg::IoIsDirectory, &[]),
                std::io::ErrorKind::PermissionDenied => t(Msg::IoDenied, &[]),
                _ => error.to_string(),
            };
            t(Msg::CannotRead, &[("path", path), ("error", &error)])
        }
        ImportError::UnknownFormat(why) => t(Msg::UnknownFormat, &[("why", why)]),
        ImportError::Unreadable(why) => t(Msg::Unreadable, &[("why", why)]),
        ImportError::Empty => t(Msg::EmptyInput, &[]),
        ImportError::NotUtf8 { at, line } => t(Msg::NotUtf8, &[("at", at), ("line", line)]),
        ImportError::BadXlsx(why) => t(Msg::BadXlsx, &[("why", why)]),
        ImportError::NoExportSheet { sheets } => t(Msg::NoExportSheet, &[("sheets", sheets)]),
        ImportError::IsXlsx { named } => t(Msg::IsXlsx, &[("named", named)]),
        ImportError::NotJson { named } => t(Msg::NotJson, &[("named", named)]),
        ImportError::WrongFormat { named, found } => {
            t(Msg::WrongFormat, &[("named", named), ("found", found)])
        }
        ImportError::MissingColumn {
            column,
            column_vi,
            looked_for,
        } => {
            let column = match super::i18n::lang() {
                super::i18n::Lang::Vi => column_vi,
                super::i18n::Lang::En => column,
            };
            t(
                Msg::MissingColumn,
                &[("column", column), ("looked_for", looked_for)],
            )
        }
        ImportError::NotAnExport => t(Msg::NotAnExport, &[]),
        ImportError::BadWeight { path, line, why } => t(
            Msg::BadWeight,
            &[
                ("path", path),
                ("line", line),
                ("why", &super::i18n::reason_text(why)),
            ],
        ),
    }
}

pub(crate) fn options(args: &PushArgs) -> Result<Options, ImportError> {
    let weights = match &args.weights {
        Some(p) => import::load_weights(p)?,
        None => Default::default(),
    };
    Ok(Options {
        weights,
        default_weight_g: args.default_weight_g,
    })
}

pub(crate) fn client_config(args: &PushArgs) -> ClientConfig {
    let mut cfg = ClientConfig::new(&args.url, &args.token, &args.session);
    cfg.orders_per_frame = usize::from(args.batch);
    cfg
}

pub(crate) fn source_name(file: &str) -> String {
    if file == "-" {
        t(Msg::StandardInput, &[])
    } else {
        file.to_owned()
    }
}

fn read_input(file: &str) -> Result<Vec<u8>, ImportError> {
    if file == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|error| ImportError::Io {
                path: t(Msg::StandardInput, &[]),
                error,
            })?;
        Ok(buf)
    } else {
        import::read_path(std::path::Path::new(file))
    }
}

pub(crate) fn resolve_format(args: &PushArgs, bytes: &[u8]) -> Result<Format, ImportError> {
    let checked = match args.format {
        Format::Auto => {
            let name = (args.file != "-").then_some(args.file.as_str());
            import::detect(name, bytes)
        }
        f => import::check_named(f, bytes).map(|()| f),
    };
    match checked {
        // Nothing to send but the end of the session: that is what was asked.
        Err(ImportError::Empty) if args.end_session => Ok(Format::Jsonl),
        r => r,
    }
}

/// Pushes one batch and adds its outcome to the tally, moving the progress bar; `last`
/// keeps the latest progress (what a Ctrl-C reports).
pub(crate) async fn send(
    cfg: &ClientConfig,
    orders: Vec<Mapped>,
    tally: &mut Tally,
    pb: &ProgressBar,
    last: &Arc<Mutex<Progress>>,
) {
    let before = (
        tally.accepted + tally.duplicate + tally.rejected.len(),
        tally.accepted + tally.duplicate,
        tally.rejected.len(),
    );
    let bar = pb.clone();
    let with_len = pb.length().is_some();
    let keep = last.clone();
    // Failed attempts in a row while the service is out of reach (0: connected), to say so
    // once when it happens, every tenth attempt, and when it is back: a progress bar is not
    // drawn when stderr is no terminal, and a quiet wait of minutes looks hung.
    let out_of_reach = std::sync::atomic::AtomicU32::new(0);
    let on_progress = move |p: Progress| {
        use std::sync::atomic::Ordering::Relaxed;
        let was = out_of_reach.load(Relaxed);
        let now = p.offline.map_or(0, |n| n.max(1));
        if now != was {
            out_of_reach.store(now, Relaxed);
            let said = match (was, now) {
                (0, _) => Some(t(Msg::ConnectionLost, &[])),
                (_, 0) => Some(t(Msg::ConnectionBack, &[])),
                (_, n) if n % 10 == 0 => Some(t(Msg::StillOffline, &[("n", &n)])),
                _ => None,
            };
            if let Some(said) = said {
                bar.suspend(|| eprintln!("livepack push: {said}"));
            }
        }
        if with_len {
            bar.set_position(p.sent as u64);
        }
        bar.set_message(progress_message(&p, before));
        if let Ok(mut g) = keep.lock() {
            *g = Progress {
                sent: before.0 + p.sent,
                acked: before.1 + p.acked,
                rejected: before.2 + p.rejected,
                ..p
            };
        }
    };
    let values = orders.iter().map(|m| m.order.clone()).collect();
    let result = push(cfg, values, Some(&on_progress)).await;
    tally.add(result, &orders);
}

/// Cancels the orders of rows the platform marked cancelled: `cancelled` when stored
/// before, `skipped` when never stored here, `too_late` when already with the carrier.
/// Stops at the first error that makes the service unusable (unreachable, token).
pub(crate) async fn cancel_rows(
    args: &PushArgs,
    rows: Vec<Cancelled>,
    tally: &mut Tally,
    pb: &ProgressBar,
) {
    if rows.is_empty() {
        return;
    }
    pb.set_message(t(Msg::Cancelling, &[("n", &rows.len())]));
    let http = match client() {
        Ok(c) => c,
        Err(e) => {
            tally.failure = Some(e);
            return;
        }
    };
    let base = http_base(&args.url);
    let (http, base, token) = (&http, base.as_str(), args.token.as_str());
    let mut answers = futures_util::stream::iter(rows)
        .map(|row| async move {
            let r = cancel_if_live(http, base, token, &row.order_id).await;
            (row, r)
        })
        .buffer_unordered(CANCEL_CONCURRENCY);
    let mut done = Vec::new();
    while let Some((row, r)) = answers.next().await {
        match r {
            Ok(status) => done.push((row, status)),
            Err((code, msg)) if code == EXIT_SERVER => {
                tally.failure = Some(msg);
                break;
            }
            Err((_, msg)) => tally.unmappable.push(import::Unmappable {
                line: row.line,
                order_id: Some(row.order_id),
                reason: msg,
            }),
        }
    }
    done.sort_by_key(|(row, _)| row.line);
    for (row, status) in done {
        let entry = (row.order_id, row.line);
        match status.as_str() {
            "cancelled" => tally.cancelled.push(entry),
            "already_cancelled" => tally.already_cancelled += 1,
            "too_late" => tally.too_late.push(entry),
            _ => tally.skipped.push(entry),
        }
    }
}

/// Cancels a stored order that is not cancelled yet: `cancelled`, `too_late`, `unknown`
/// (never stored here), or `already_cancelled` (an earlier push or `livepack cancel` did).
async fn cancel_if_live(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    order_id: &str,
) -> Result<String, (i32, String)> {
    let url = format!("{base}/v1/orders/{}", segment(order_id));
    match call(http.get(url).bearer_auth(token), base).await {
        Err(e) => return Err((EXIT_SERVER, e)),
        Ok((404, _)) => return Ok("unknown".into()),
        Ok((200, order))
            if order["status"].as_str().and_then(|s| s.parse().ok())
                == Some(OrderStatus::Cancelled) =>
        {
            return Ok("already_cancelled".into())
        }
        Ok((200, _)) => {}
        Ok((status, body)) => return Err(failure(status, &body)),
    }
    cancel_one(http, base, token, order_id, Some(PLATFORM_CANCELLED)).await
}

fn dry_run(parsed: &Parsed) -> i32 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for m in &parsed.orders {
        let _ = writeln!(out, "{}", m.order);
    }
    let _ = out.flush();
    for u in &parsed.unmappable {
        eprintln!(
            "{}",
            t(
                Msg::UnmappableLine,
                &[
                    ("line", &u.line),
                    ("id", &u.order_id.as_deref().unwrap_or("-")),
                    ("reason", &reason_text(&u.reason)),
                ]
            )
        );
    }
    for c in &parsed.cancelled {
        eprintln!(
            "{}",
            t(
                Msg::DryRunCancelled,
                &[
                    ("line", &c.line),
                    ("id", &c.order_id),
                    ("status", &c.status)
                ]
            )
        );
    }
    eprintln!(
        "{}",
        t(
            Msg::DryRunDone,
            &[
                ("mapped", &parsed.orders.len()),
                ("unmappable", &parsed.unmappable.len()),
                ("cancelled", &parsed.cancelled.len()),
            ]
        )
    );
    if parsed.unmappable.is_empty() {
        EXIT_OK
    } else {
        EXIT_INCOMPLETE
    }
}
