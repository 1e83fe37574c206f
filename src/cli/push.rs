//! `livepack push FILE|-`: read the whole input, map it, stream it with the client library
//! (pipelined, resent and reconnected as needed), print the summary. `--follow` is in
//! `follow.rs`.

use std::io::Read;

use indicatif::ProgressBar;

use crate::client::{push, ClientConfig, Progress};
use crate::import::{self, Format, ImportError, Mapped, Options, Parsed};

use super::summary::{bar, progress_message, Tally};
use super::{follow, PushArgs, EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE};

pub async fn run_push(args: PushArgs) -> i32 {
    if !crate::domain::is_label(&args.session) {
        eprintln!("livepack push: --session must be 1–64 of A-Z a-z 0-9 . _ -");
        return EXIT_USAGE;
    }
    let opts = match options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("livepack push: {e}");
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
            eprintln!("livepack push: {e}");
            return EXIT_USAGE;
        }
    };
    if args.dry_run {
        return dry_run(&parsed);
    }
    let mut tally = Tally {
        unmappable: parsed.unmappable,
        ..Default::default()
    };
    tally.note_orders(&parsed.orders);
    let mut cfg = client_config(&args);
    cfg.end_session = args.end_session;
    let pb = bar(Some(parsed.orders.len() as u64));
    if !parsed.orders.is_empty() || cfg.end_session {
        send(&cfg, parsed.orders, &mut tally, &pb).await;
    }
    pb.finish_and_clear();
    tally.print(&format!(
        "{} ({}) → session {}",
        source_name(&args.file),
        format.name(),
        args.session
    ));
    tally.exit_code()
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
        "standard input".into()
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
                path: "standard input".into(),
                error,
            })?;
        Ok(buf)
    } else {
        import::read_path(std::path::Path::new(file))
    }
}

pub(crate) fn resolve_format(args: &PushArgs, bytes: &[u8]) -> Result<Format, ImportError> {
    match args.format {
        Format::Auto => {
            let name = (args.file != "-").then_some(args.file.as_str());
            import::detect(name, bytes)
        }
        f => Ok(f),
    }
}

/// Pushes one batch and adds its outcome to the tally, moving the progress bar.
pub(crate) async fn send(
    cfg: &ClientConfig,
    orders: Vec<Mapped>,
    tally: &mut Tally,
    pb: &ProgressBar,
) {
    let before = (
        tally.accepted + tally.duplicate + tally.rejected.len(),
        tally.accepted + tally.duplicate,
        tally.rejected.len(),
    );
    let bar = pb.clone();
    let with_len = pb.length().is_some();
    let on_progress = move |p: Progress| {
        if with_len {
            bar.set_position(p.sent as u64);
        }
        bar.set_message(progress_message(&p, before));
    };
    let values = orders.iter().map(|m| m.order.clone()).collect();
    let result = push(cfg, values, Some(&on_progress)).await;
    tally.add(result, &orders);
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
            "unmappable: line {} {}: {}",
            u.line,
            u.order_id.as_deref().unwrap_or("-"),
            u.reason
        );
    }
    eprintln!(
        "{} orders mapped, {} unmappable (dry run: nothing sent)",
        parsed.orders.len(),
        parsed.unmappable.len()
    );
    if parsed.unmappable.is_empty() {
        EXIT_OK
    } else {
        EXIT_INCOMPLETE
    }
}
