//! `livepack push --follow`: a livestream tool appends orders to a file (JSON lines or CSV
//! rows) or writes them to our standard input; we send each new order once, as soon as it
//! is whole, and end the session when the stream is over.
//!
//! The input is re-read when it grows (every 250 ms): only whole lines count, and for an
//! export the last order waits until a row of another order follows (its rows may still be
//! coming) or the input has not grown for [`QUIET`]; a row of that order written later is
//! then reported as the order changed (the first version was stored). It stops on the first of: Ctrl-C (SIGINT), a line `{"type":"end_session"}`,
//! `--idle-secs` without growth, the end of standard input. Then it reads the input once
//! more in full, sends what is left and `end_session`. A second Ctrl-C quits at once (the
//! session is not ended; pushing the file again is safe).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use indicatif::ProgressBar;

use crate::client::{ClientConfig, Progress};
use crate::import::{self, Cancelled, Format, ImportError, Mapped, Options, Parsed, Unmappable};

use super::i18n::{reason_text, t, Msg};
use super::push::{
    cancel_rows, client_config, connect, import_error_text, say_interrupted, send, source_name,
};
use super::summary::{bar, Tally};
use super::{PushArgs, EXIT_USAGE};

const POLL: Duration = Duration::from_millis(250);
/// An export's last order is sent once the input has not grown for this long: a tool
/// writes an order's rows together, and a stream's newest buyer must not wait for the next.
const QUIET: Duration = Duration::from_secs(2);

/// Why following stopped.
#[derive(Clone, Copy)]
enum Why {
    CtrlC,
    EndLine,
    Eof,
    Idle,
    Error,
}

enum Source {
    File(PathBuf),
    Stdin {
        buf: Arc<Mutex<Vec<u8>>>,
        eof: Arc<AtomicBool>,
    },
}

impl Source {
    fn open(file: &str) -> Result<Source, ImportError> {
        if file != "-" {
            let path = PathBuf::from(file);
            std::fs::metadata(&path).map_err(|error| ImportError::Io {
                path: file.to_owned(),
                error,
            })?;
            return Ok(Source::File(path));
        }
        let buf = Arc::new(Mutex::new(Vec::new()));
        let eof = Arc::new(AtomicBool::new(false));
        let (b, e) = (buf.clone(), eof.clone());
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin();
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                match stdin.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => match b.lock() {
                        Ok(mut g) => g.extend_from_slice(&chunk[..n]),
                        Err(_) => break,
                    },
                }
            }
            e.store(true, Ordering::SeqCst);
        });
        Ok(Source::Stdin { buf, eof })
    }

    /// The input's current length, and whether it can still grow.
    fn len(&self) -> Result<(u64, bool), ImportError> {
        match self {
            Source::File(p) => std::fs::metadata(p)
                .map(|m| (m.len(), false))
                .map_err(|error| ImportError::Io {
                    path: p.display().to_string(),
                    error,
                }),
            Source::Stdin { buf, eof } => {
                let done = eof.load(Ordering::SeqCst);
                let n = buf.lock().map(|g| g.len() as u64).unwrap_or(0);
                Ok((n, done))
            }
        }
    }

    fn bytes(&self) -> Result<Vec<u8>, ImportError> {
        match self {
            Source::File(p) => import::read_path(p),
            Source::Stdin { buf, .. } => Ok(buf.lock().map(|g| g.clone()).unwrap_or_default()),
        }
    }
}

/// What was already taken from the input: order keys with the JSON sent, and reported rows.
#[derive(Default)]
struct Seen {
    sent: HashMap<String, String>,
    reported: HashSet<(usize, String)>,
    /// Orders whose platform-cancelled row was already acted on.
    cancelled: HashSet<String>,
    /// Platform-cancelled rows not acted on yet.
    to_cancel: Vec<Cancelled>,
}

impl Seen {
    /// The orders not sent yet; new unmappable rows go to the tally (and are shown now).
    fn take_new(
        &mut self,
        parsed: Parsed,
        tally: &mut Tally,
        pb: &indicatif::ProgressBar,
    ) -> Vec<Mapped> {
        let mut fresh = Vec::new();
        let mut problems = parsed.unmappable;
        for c in parsed.cancelled {
            if self.cancelled.insert(c.order_id.clone()) {
                self.to_cancel.push(c);
            }
        }
        for m in parsed.orders {
            let json = m.order.to_string();
            match self.sent.get(&m.key) {
                None => {
                    self.sent.insert(m.key.clone(), json);
                    fresh.push(m);
                }
                // Named by its last row: the one written late, as a rule.
                Some(old) if *old != json => problems.push(Unmappable {
                    line: m.last_line,
                    order_id: m.order_id().map(str::to_owned),
                    reason: t(Msg::OrderChanged, &[]),
                }),
                Some(_) => {}
            }
        }
        for u in problems {
            if self.reported.insert((u.line, u.reason.clone())) {
                let msg = t(
                    Msg::UnmappableLine,
                    &[
                        ("line", &u.line),
                        ("id", &u.order_id.as_deref().unwrap_or("-")),
                        ("reason", &reason_text(&u.reason)),
                    ],
                );
                if pb.is_hidden() {
                    eprintln!("{msg}");
                } else {
                    pb.println(msg);
                }
                tally.unmappable.push(u);
            }
        }
        tally.note_orders(&fresh);
        fresh
    }
}

/// The first Ctrl-C asks the follow to stop (sending what was read); the second quits at
/// once, after the summary line of what was sent (`last`).
fn watch_ctrl_c(last: Arc<Mutex<Progress>>) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
            eprintln!("\nlivepack push: {}", t(Msg::FollowStopping, &[]));
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            let p = last.lock().map(|g| *g).unwrap_or_default();
            std::process::exit(say_interrupted(&p, None));
        }
    });
    stop
}

pub(crate) async fn run(args: &PushArgs, opts: &Options) -> i32 {
    let source = match open_source(args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let connected = tokio::select! {
        r = connect(args) => r,
        _ = tokio::signal::ctrl_c() => Err(say_interrupted(&Progress::default(), None)),
    };
    if let Err(code) = connected {
        return code;
    }
    let mut follow = Follow::new(args, opts, source);
    let stop = watch_ctrl_c(follow.last.clone());
    let (why, mut fatal) = follow.watch(&stop).await;
    if follow.healthy() && fatal.is_none() {
        fatal = follow.send_rest().await.err();
    }
    follow.report(why, fatal)
}

/// The source to follow, if `--format` allows following (a usage error otherwise).
fn open_source(args: &PushArgs) -> Result<Source, i32> {
    if !args.format.can_follow() && args.format != Format::Auto {
        eprintln!(
            "livepack push: {}",
            t(Msg::FollowNeedsText, &[("format", &args.format.name())])
        );
        return Err(EXIT_USAGE);
    }
    let refused = |e: ImportError| {
        eprintln!("livepack push: {}", import_error_text(&e));
        EXIT_USAGE
    };
    let source = Source::open(&args.file).map_err(refused)?;
    // A named format that the file's header already contradicts: refused before connecting
    // (as `step` would at its first read).
    if let Source::File(path) = &source {
        let bytes = std::fs::read(path).unwrap_or_default();
        if bytes.contains(&b'\n') {
            import::check_header(args.format, &bytes).map_err(refused)?;
        }
        // A file already told to be one that cannot be followed (an XLSX export): refused
        // before connecting too, with no summary (reviewer Q).
        if args.format == Format::Auto && !bytes.is_empty() {
            if let Ok(f) = import::detect(path.to_str(), &bytes) {
                if !f.can_follow() {
                    eprintln!(
                        "livepack push: {}",
                        t(Msg::FollowNeedsText, &[("format", &f.name())])
                    );
                    return Err(EXIT_USAGE);
                }
            }
        }
    }
    Ok(source)
}

/// One `push --follow` session: the source, what has been seen and sent of it, and the
/// progress shown.
struct Follow<'a> {
    args: &'a PushArgs,
    opts: &'a Options,
    source: Source,
    cfg: ClientConfig,
    pb: ProgressBar,
    last: Arc<Mutex<Progress>>,
    tally: Tally,
    seen: Seen,
    /// The format, once given or detected.
    format: Option<Format>,
}

impl<'a> Follow<'a> {
    fn new(args: &'a PushArgs, opts: &'a Options, source: Source) -> Self {
        let last = Arc::new(Mutex::new(Progress::default()));
        let cfg = client_config(args);
        let pb = bar(None);
        pb.set_message(t(
            Msg::FollowWaiting,
            &[("source", &source_name(&args.file))],
        ));
        Follow {
            args,
            opts,
            source,
            cfg,
            pb,
            last,
            tally: Tally::default(),
            seen: Seen::default(),
            format: (args.format != Format::Auto).then_some(args.format),
        }
    }

    /// Neither a failure nor a refusal so far.
    fn healthy(&self) -> bool {
        self.tally.failure.is_none() && self.tally.refused.is_none()
    }

    /// Polls the source and sends what it grows by, until Ctrl-C, the end line, the end
    /// of a pipe, the idle time, or an error (with its text when the source is at fault).
    async fn watch(&mut self, stop: &AtomicBool) -> (Why, Option<String>) {
        let idle = self.args.idle_secs.map(Duration::from_secs);
        let mut last_len: Option<u64> = None;
        let mut last_growth = Instant::now();
        // Whether the export's last order was read since the input last grew.
        let mut quiet_read = true;
        loop {
            if stop.load(Ordering::SeqCst) {
                return (Why::CtrlC, None);
            }
            let (len, eof) = match self.source.len() {
                Ok(x) => x,
                Err(e) => return (Why::Error, Some(import_error_text(&e))),
            };
            if last_len.is_some_and(|l| len < l) {
                return (Why::Error, Some(t(Msg::FileShrank, &[])));
            }
            let grew = last_len != Some(len);
            let quiet = !grew && !quiet_read && last_growth.elapsed() >= QUIET;
            if grew {
                last_len = Some(len);
                last_growth = Instant::now();
                quiet_read = false;
            }
            quiet_read |= quiet;
            if grew || quiet {
                match self.on_growth(eof, quiet).await {
                    Err(e) => return (Why::Error, Some(import_error_text(&e))),
                    Ok(Some(why)) => return (why, None),
                    Ok(None) => {}
                }
            }
            if eof {
                return (Why::Eof, None);
            }
            if idle.is_some_and(|d| last_growth.elapsed() >= d) {
                return (Why::Idle, None);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The source grew (or went `quiet`: an export's last order is read too): parse what
    /// is new, send its orders and cancellations. Some(why) when following ends here (the
    /// end line, or the server failed or refused).
    async fn on_growth(&mut self, eof: bool, quiet: bool) -> Result<Option<Why>, ImportError> {
        let (fresh, end_marker) = step(
            &self.source,
            &mut self.format,
            self.opts,
            (eof, quiet),
            &mut self.seen,
            &mut self.tally,
            &self.pb,
        )?;
        let cancels = std::mem::take(&mut self.seen.to_cancel);
        if !fresh.is_empty() || !cancels.is_empty() {
            if !fresh.is_empty() {
                send(&self.cfg, fresh, &mut self.tally, &self.pb, &self.last).await;
            }
            if self.healthy() {
                cancel_rows(self.args, cancels, &mut self.tally, &self.pb).await;
            }
            if !self.healthy() {
                return Ok(Some(Why::Error));
            }
            self.show_progress();
        }
        Ok(end_marker.then_some(Why::EndLine))
    }

    fn show_progress(&self) {
        self.pb.set_message(t(
            Msg::FollowProgress,
            &[
                ("acked", &(self.tally.accepted + self.tally.duplicate)),
                ("rejected", &self.tally.rejected.len()),
                ("unmappable", &self.tally.unmappable.len()),
            ],
        ));
    }

    /// Everything that is left, the last order and an unterminated last line included,
    /// sent with the end of the session; the error text if the rest cannot be read.
    async fn send_rest(&mut self) -> Result<(), String> {
        let rest = self.source.bytes().and_then(|bytes| {
            let f = match self.format {
                Some(f) => f,
                None if bytes.iter().all(u8::is_ascii_whitespace) => return Ok(Vec::new()),
                None => resolve(self.args, &bytes)?,
            };
            Ok(self.seen.take_new(
                import::parse(f, &bytes, self.opts, true)?,
                &mut self.tally,
                &self.pb,
            ))
        });
        let fresh = rest.map_err(|e| import_error_text(&e))?;
        let mut end = self.cfg.clone();
        end.end_session = true;
        send(&end, fresh, &mut self.tally, &self.pb, &self.last).await;
        let cancels = std::mem::take(&mut self.seen.to_cancel);
        if self.healthy() {
            cancel_rows(self.args, cancels, &mut self.tally, &self.pb).await;
        }
        Ok(())
    }

    /// Prints the summary and why following stopped; the exit code.
    fn report(self, why: Why, fatal: Option<String>) -> i32 {
        self.pb.finish_and_clear();
        let why = t(
            match why {
                Why::CtrlC => Msg::WhyCtrlC,
                Why::EndLine => Msg::WhyEndLine,
                Why::Eof => Msg::WhyEof,
                Why::Idle => Msg::WhyIdle,
                Why::Error => Msg::WhyError,
            },
            &[],
        );
        self.tally.print(&t(
            Msg::FollowedUntil,
            &[
                ("source", &source_name(&self.args.file)),
                ("why", &why),
                ("session", &self.args.session),
            ],
        ));
        if let Some(f) = fatal {
            eprintln!("livepack push: {f}");
            return EXIT_USAGE;
        }
        self.tally.exit_code()
    }
}

fn resolve(args: &PushArgs, bytes: &[u8]) -> Result<Format, ImportError> {
    let name = (args.file != "-").then_some(args.file.as_str());
    let f = import::detect(name, bytes)?;
    if !f.can_follow() {
        return Err(ImportError::Unreadable(t(
            Msg::FollowNeedsText,
            &[("format", &f.name())],
        )));
    }
    Ok(f)
}

/// Reads the grown input: the new whole orders (`quiet`: an export's last one too), and
/// whether the end marker was seen.
fn step(
    source: &Source,
    format: &mut Option<Format>,
    opts: &Options,
    (eof, quiet): (bool, bool),
    seen: &mut Seen,
    tally: &mut Tally,
    pb: &indicatif::ProgressBar,
) -> Result<(Vec<Mapped>, bool), ImportError> {
    let bytes = source.bytes()?;
    let f = match *format {
        // A named format: its header must not be the other platform's (checked once the
        // header line is whole; a few bytes each time).
        Some(f) if bytes.contains(&b'\n') => {
            import::check_header(f, &bytes)?;
            f
        }
        Some(f) => f,
        None if !bytes.contains(&b'\n') && !eof => return Ok((Vec::new(), false)),
        None if bytes.iter().all(u8::is_ascii_whitespace) => return Ok((Vec::new(), false)),
        None => {
            let name = match source {
                Source::File(p) => p.to_str().map(str::to_owned),
                Source::Stdin { .. } => None,
            };
            let f = import::detect(name.as_deref(), &bytes)?;
            if !f.can_follow() {
                return Err(ImportError::Unreadable(t(
                    Msg::FollowNeedsText,
                    &[("format", &f.name())],
                )));
            }
            *format = Some(f);
            f
        }
    };
    let lines = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(&[][..], |n| &bytes[..=n]);
    // An export's whole lines whose quotes are all closed (a line break inside a quoted
    // note is no row's end; CSV doubles a quote inside quotes, keeping the count even).
    let settled = matches!(f, Format::TiktokCsv | Format::ShopeeCsv)
        && lines.iter().filter(|&&b| b == b'"').count() % 2 == 0;
    let parsed = if quiet && settled {
        // The last order among them is whole by now.
        import::parse(f, lines, opts, true)?
    } else {
        import::parse(f, &bytes, opts, false)?
    };
    let end = parsed.end_marker;
    Ok((seen.take_new(parsed, tally, pb), end))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "Order ID,Order Status,Seller SKU,Product Name,Quantity,\
        SKU Unit Original Price,Shipping Fee After Discount,Order Amount,Created Time,\
        Recipient,Phone #,Province,District,Villages,Detail Address,Payment Method,Weight(kg)\n";

    fn row(id: &str, sku: &str) -> String {
        format!(
            "{id},To ship,{sku},Mật ong,1,185000,30000,215000,01/12/2026 20:15:02,Nguyễn Thị Lan,\
             0912345678,Ninh Bình,,Phường Hoa Lư,12 Trần Hưng Đạo,Cash on delivery,0.65\n"
        )
    }

    /// A row of an order written after the order was sent is reported by its own line, not
    /// by the line where the order starts (review W).
    #[test]
    fn a_late_row_is_named_by_its_own_line() {
        let opts = Options::default();
        let (pb, mut seen, mut tally) = (ProgressBar::hidden(), Seen::default(), Tally::default());
        let first = format!("{HEAD}{}{}", row("5001", "HONEY-500"), row("5002", "TEA-1"));
        let parsed = import::parse(Format::TiktokCsv, first.as_bytes(), &opts, true).unwrap();
        assert_eq!(seen.take_new(parsed, &mut tally, &pb).len(), 2);
        assert!(tally.unmappable.is_empty());
        // Line 4: a second SKU of the order that starts on line 2.
        let grown = format!("{first}{}", row("5001", "RICE-5KG"));
        let parsed = import::parse(Format::TiktokCsv, grown.as_bytes(), &opts, true).unwrap();
        assert!(seen.take_new(parsed, &mut tally, &pb).is_empty());
        let lines: Vec<usize> = tally.unmappable.iter().map(|u| u.line).collect();
        assert_eq!(lines, [4], "{:?}", tally.unmappable);
    }
}
