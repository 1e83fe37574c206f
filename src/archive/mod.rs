//! Retention: finished orders (handed over, delivered, returned, cancelled) are written to
//! their business day's archive file — `{archive_dir}/{site}/{YYYY-MM-DD}.jsonl.gz`, one
//! JSON line per order: the order as stored, its final status, wave, parcel, shipment and
//! tracking code — and only then set to expire from Redis `retention.hot_days` after they
//! finished. That expiry is the purge of buyers' names, phones and addresses; the file is
//! what a seller or accountant keeps. An order's business day is the Vietnamese calendar
//! day it was stored on (its entry in the site stream).
//!
//! Days are tracked, not windowed: `lp:{site}:archived_through` holds the last business day
//! whose orders are all archived; every sweep walks the days after it, oldest first, up to
//! today (a service that was down for days catches up on each of them, in order), and moves
//! it forward over each day left with nothing to archive. Archive files are 0600 in 0700
//! directories and are deleted `retention.archive_days` after their day.
//!
//! One archiver per site at a time (a short Redis lock), every `retention.scan_secs`.
//! `livepack export-day` writes a day again from what Redis holds, merged into the file.

pub mod file;
pub mod read;

/// Why this instance cannot archive, if it cannot: checked only where the archiver runs
/// (`retention.enabled`; other instances need no archive volume), see [`dir_problem`].
/// `serve` refuses to start on it, `check-config` reports it.
pub fn startup_problem(cfg: &RetentionConfig) -> Option<String> {
    cfg.enabled.then(|| dir_problem(&cfg.archive_dir)).flatten()
}

/// Why `dir` cannot hold the archive, if it cannot: it (or, while it does not exist yet,
/// its nearest existing parent, where it will be created) must be a directory this process
/// may write. Checked at start without creating anything: a `retention.archive_dir` on a
/// path that cannot be written only showed as a WARN every scan while orders, buyers'
/// personal data with them, stayed in Redis.
pub fn dir_problem(dir: &std::path::Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let mut at = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    loop {
        match std::fs::metadata(at) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => return Some(format!("{} is not a directory", at.display())),
            Err(_) => match at.parent() {
                Some(p) if !p.as_os_str().is_empty() => at = p,
                _ => {
                    at = std::path::Path::new(".");
                    break;
                }
            },
        }
    }
    let c = std::ffi::CString::new(at.as_os_str().as_bytes()).ok()?;
    // SAFETY: access(2) reads a NUL-terminated path; `c` outlives the call.
    let writable = unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } == 0;
    (!writable).then(|| format!("{} cannot be written by this process", at.display()))
}

use crate::metric_names as names;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use crate::config::{Config, RetentionConfig};
use crate::domain::schedule::business_date;
use crate::state::AppState;
use crate::store::{Store, StoreError};

pub use crate::store::archive::ArchiveLine;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("archive file: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Embedded(#[from] crate::store::embedded::EmbeddedError),
    #[error("no [[sites]] entry with id `{0}`")]
    UnknownSite(String),
    #[error("site `{0}`: another archiver holds the lock; try again")]
    Busy(String),
}

/// How long the archiver lock of a site holds without being renewed (renewed before every
/// file written, so two writers never rewrite the same file at once).
const LOCK_TTL: Duration = Duration::from_secs(600);

/// What one sweep of a site did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Orders written to archive files and set to expire.
    pub archived: u64,
    /// Days whose file was written, oldest first.
    pub days: Vec<NaiveDate>,
    /// Days whose archive file was deleted (past `retention.archive_days`).
    pub expired: Vec<NaiveDate>,
}

/// The last business day whose orders are all archived, if any day is.
pub async fn archived_through(store: &Store, site: &str) -> Result<Option<NaiveDate>, StoreError> {
    store.archived_through(site).await
}

/// The business day of the oldest entry in the site stream.
async fn first_stream_day(store: &Store, site: &str) -> Result<Option<NaiveDate>, StoreError> {
    let first = store.first_stream_ms(site).await?;
    Ok(first
        .and_then(DateTime::from_timestamp_millis)
        .map(business_date))
}

/// Archives the site's finished orders of every business day not yet archived, oldest first
/// (orders still open `max_open_days` after their day as they are) and lets them expire;
/// deletes archive files older than `archive_days`. Idempotent; `now` is the clock; `holder`
/// holds the site's archiver lock (renewed before each file is written).
pub async fn sweep(
    store: &Store,
    cfg: &RetentionConfig,
    site: &str,
    now: DateTime<Utc>,
    holder: &str,
) -> Result<SweepReport, ArchiveError> {
    let today = business_date(now);
    let mut report = SweepReport::default();
    let done = store.archived_days(site).await?;
    let through = archived_through(store, site).await?;
    let first = match through {
        Some(d) => d.succ_opt().unwrap_or(d),
        None => first_stream_day(store, site).await?.unwrap_or(today),
    };
    // Moves forward over each complete day while no earlier day is still open.
    let mut contiguous = true;
    let mut date = first;
    while date <= today {
        let next = date.succ_opt().unwrap_or(today + chrono::Duration::days(1));
        if done.contains(&date.to_string()) {
            if contiguous {
                set_through(store, site, date).await?;
            }
            date = next;
            continue;
        }
        let forced = (today - date).num_days() > i64::from(cfg.max_open_days);
        let refs = read::day_orders(store, site, date).await?;
        let states = store.archive_states(site, &refs).await?;
        let mut left = 0;
        let todo: Vec<(String, String)> = refs
            .into_iter()
            .zip(states)
            .filter_map(|(r, (st, ar))| {
                let st = st?;
                if ar.is_some() {
                    return None;
                }
                if forced || read::FINAL.contains(&st.as_str()) {
                    Some(r)
                } else {
                    left += 1;
                    None
                }
            })
            .collect();
        if !todo.is_empty() {
            let loaded = store.load_for_archive(site, date, &todo, now).await?;
            let lines: Vec<ArchiveLine> = loaded.iter().map(|l| l.line.clone()).collect();
            let path = file::day_path(&cfg.archive_dir, site, date);
            let dir = cfg.archive_dir.clone();
            if !relock(store, site, holder).await? {
                return Err(ArchiveError::Busy(site.to_owned()));
            }
            let written = tokio::task::spawn_blocking(move || file::merge_write(&path, &lines))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??;
            // Only once the file is on disk do the orders start to expire.
            let window = crate::store::tombstones::DedupeWindow::from_config(cfg);
            let n = store.retire_archived(site, &loaded, &window, now).await?;
            tracing::info!(site, %date, archived = n, lines = written, dir = %dir.display(), "orders archived");
            metrics::counter!(names::ARCHIVED_ORDERS, "site" => site.to_owned()).increment(n);
            report.archived += n;
            report.days.push(date);
        }
        if left == 0 && date < today {
            store.add_archived_day(site, date).await?;
            if contiguous {
                set_through(store, site, date).await?;
            }
        } else {
            contiguous = false;
        }
        date = next;
    }
    // The stream is what tells the days' orders: never trimmed past a day not yet archived.
    if let Some(through) = archived_through(store, site).await? {
        let keep_ms = cfg
            .hot_ms()
            .saturating_add((i64::from(cfg.max_open_days) + 2) * 86_400_000);
        let unarchived = read::day_bounds_ms(through.succ_opt().unwrap_or(through)).0;
        let before = now
            .timestamp_millis()
            .saturating_sub(keep_ms)
            .min(unarchived);
        store.trim_stream_before(site, before).await?;
    }
    let before = today - chrono::Duration::days(i64::from(cfg.archive_days));
    let (dir, s) = (cfg.archive_dir.clone(), site.to_owned());
    let gone = tokio::task::spawn_blocking(move || file::expire(&dir, &s, before))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    if !gone.is_empty() {
        tracing::info!(site, files = gone.len(), %before, "archive files past retention.archive_days deleted");
        metrics::counter!(names::ARCHIVE_FILES_EXPIRED, "site" => site.to_owned())
            .increment(gone.len() as u64);
        report.expired = gone;
    }
    Ok(report)
}

async fn set_through(store: &Store, site: &str, date: NaiveDate) -> Result<(), StoreError> {
    store.set_archived_through(site, date).await
}

/// Takes the site's archiver lock; false when another instance holds it.
async fn lock(store: &Store, site: &str, holder: &str) -> Result<bool, StoreError> {
    store.archiver_lock(site, holder, LOCK_TTL).await
}

/// Renews the lock while `holder` still holds it.
async fn relock(store: &Store, site: &str, holder: &str) -> Result<bool, StoreError> {
    store.archiver_relock(site, holder, LOCK_TTL).await
}

async fn unlock(store: &Store, site: &str, holder: &str) -> Result<(), StoreError> {
    store.archiver_unlock(site, holder).await
}

/// One archiver task per site, every `retention.scan_secs`, until shutdown.
pub fn spawn(state: &AppState) {
    let holder = format!(
        "archiver-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    for site in &state.config.sites {
        let tasks = state.tasks.clone();
        let (state, site, holder) = (state.clone(), site.id.clone(), holder.clone());
        let task = async move {
            let cfg = state.config.retention.clone();
            let every = Duration::from_secs(cfg.scan_secs);
            loop {
                tokio::select! {
                    _ = state.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                match lock(&state.store, &site, &holder).await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(site = %site, error = %e, "archiver lock failed");
                        continue;
                    }
                }
                if let Err(e) = sweep(&state.store, &cfg, &site, Utc::now(), &holder).await {
                    metrics::counter!(names::ARCHIVE_ERRORS, "site" => site.clone()).increment(1);
                    tracing::warn!(site = %site, error = %e, "archiving failed; retrying later");
                }
                let _ = unlock(&state.store, &site, &holder).await;
            }
        };
        tasks.spawn(task);
    }
}

/// `livepack export-day`: a business day of a site, written again from Redis.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportDayArgs {
    /// Site id (`[[sites]]` id).
    #[arg(long)]
    pub site: String,
    /// Business day, YYYY-MM-DD (Asia/Ho_Chi_Minh).
    #[arg(long)]
    pub date: NaiveDate,
    /// Output file (gzip JSON lines); default: the day's file under `retention.archive_dir`.
    /// Lines already in the file are kept; orders still in Redis are written as they are now.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Writes every order of the day still in Redis (whatever its status) into `out`, merged
/// with what the file holds. Returns (orders read from Redis, lines in the file, path).
pub async fn export_day(
    store: &Store,
    config: &Config,
    args: &ExportDayArgs,
) -> Result<(usize, usize, PathBuf), ArchiveError> {
    if config.site(&args.site).is_none() {
        return Err(ArchiveError::UnknownSite(args.site.clone()));
    }
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| file::day_path(&config.retention.archive_dir, &args.site, args.date));
    // The service's archiver may write the same file: take its lock (wait up to 30 s).
    // Unique: two exports in two containers both run as pid 1, and a lock already the
    // holder's is taken again (`Store::archiver_lock`).
    let holder = format!(
        "export-day-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !lock(store, &args.site, &holder).await? {
        if tokio::time::Instant::now() > deadline {
            return Err(ArchiveError::Busy(args.site.clone()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let result = async {
        let refs = read::day_orders(store, &args.site, args.date).await?;
        let loaded = store
            .load_for_archive(&args.site, args.date, &refs, Utc::now())
            .await?;
        let lines: Vec<ArchiveLine> = loaded.into_iter().map(|l| l.line).collect();
        let n = lines.len();
        if n == 0 && !path.exists() {
            return Ok((0, 0, path));
        }
        let p = path.clone();
        let total = tokio::task::spawn_blocking(move || file::merge_write(&p, &lines))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok((n, total, path))
    }
    .await;
    unlock(store, &args.site, &holder).await?;
    result
}

/// The CLI command: connects (adopting the embedded Redis of a running service, or starting
/// it on its data dir for the time of the export), exports, prints, returns the exit code.
pub async fn run_export_day(config: &Config, args: &ExportDayArgs) -> i32 {
    match export_day_cli(config, args).await {
        // Nothing to write and no file before: none is made (an empty day has no file).
        Ok((0, 0, path)) if !path.exists() => {
            println!(
                "no orders of {} on {} in Redis: no file written ({} does not exist)",
                args.site,
                args.date,
                path.display()
            );
            0
        }
        Ok((n, total, path)) => {
            println!(
                "exported {n} order(s) of {} on {} to {} ({total} line(s) in the file)",
                args.site,
                args.date,
                path.display()
            );
            0
        }
        Err(e) => {
            eprintln!("livepack export-day: {e}");
            1
        }
    }
}

async fn export_day_cli(
    config: &Config,
    args: &ExportDayArgs,
) -> Result<(usize, usize, PathBuf), ArchiveError> {
    use crate::store::embedded::{EmbeddedOptions, EmbeddedRedis};
    let mut embedded = None;
    let url = if let Some(url) = config.redis.url.url() {
        url.to_owned()
    } else {
        let record = config.redis.data_dir.join("livepack-redis.json");
        let running_before = std::fs::read_to_string(&record)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["pid"].as_u64());
        let mut opts = EmbeddedOptions::private(config.redis.data_dir.clone());
        opts.bin = config.redis.bin.clone();
        // Beside a running service: its server.
        opts.share_running = true;
        let e = EmbeddedRedis::start(opts).await?;
        let url = e.url();
        let adopted = running_before.is_some() && running_before == e.pid().map(u64::from);
        embedded = Some((e, adopted));
        url
    };
    let result = match crate::store::Store::connect(&config.redis, &url).await {
        Ok(store) => export_day(&store, config, args).await,
        Err(e) => Err(e.into()),
    };
    if let Some((mut e, adopted)) = embedded {
        if adopted {
            e.detach(); // the running service's server: leave it be
        } else {
            e.stop().await;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_dir_must_be_a_directory_that_can_be_written() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(dir_problem(tmp.path()), None);
        // Not there yet: created at the first archive, under a writable parent.
        assert_eq!(dir_problem(&tmp.path().join("a/b")), None);
        assert_eq!(dir_problem(std::path::Path::new("")), None);
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let p = dir_problem(&file.join("archive")).unwrap();
        assert!(p.contains("is not a directory"), "{p}");
        // procfs refuses even root.
        let p = dir_problem(std::path::Path::new("/proc/self/nope")).unwrap();
        assert!(p.contains("cannot be written"), "{p}");
    }
}
