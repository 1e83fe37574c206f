//! Archive files: gzip-compressed JSON lines, one line per order. Written whole to a
//! temporary file, synced, then renamed over the old one, so a crash never leaves half a
//! file; lines already in the file are kept (an order that expired from Redis stays
//! archived), a newer line for the same order replaces the old one.
//!
//! The files hold buyers' names, phones and addresses: they are created 0600 in directories
//! created 0700 (the site's directory is set to 0700 on every write), and `expire` deletes the
//! files of days past `retention.archive_days`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::ArchiveLine;

/// `{dir}/{site}/{YYYY-MM-DD}.jsonl.gz`
pub fn day_path(dir: &Path, site: &str, date: NaiveDate) -> PathBuf {
    dir.join(site)
        .join(format!("{}.jsonl.gz", date.format("%Y-%m-%d")))
}

/// Every line of an archive file; an absent file has none.
pub fn read_lines(path: &Path) -> io::Result<Vec<ArchiveLine>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for (n, line) in BufReader::new(MultiGzDecoder::new(file))
        .lines()
        .enumerate()
    {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str(&line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} line {}: {e}", path.display(), n + 1),
            )
        })?;
        out.push(parsed);
    }
    Ok(out)
}

/// Merges `lines` into the file at `path` (created with its directory if missing).
/// Returns the number of lines the file holds now.
pub fn merge_write(path: &Path, lines: &[ArchiveLine]) -> io::Result<usize> {
    let mut all = read_lines(path)?;
    let mut at: HashMap<(String, String), usize> = all
        .iter()
        .enumerate()
        .map(|(i, l)| ((l.seller.clone(), l.order_id.clone()), i))
        .collect();
    for l in lines {
        match at.get(&(l.seller.clone(), l.order_id.clone())) {
            Some(&i) => all[i] = l.clone(),
            None => {
                at.insert((l.seller.clone(), l.order_id.clone()), all.len());
                all.push(l.clone());
            }
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let tmp = path.with_extension(format!(
        "tmp-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let written = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // A tmp file left by a crash keeps its old mode through `create`: set it again.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        let mut gz = GzEncoder::new(BufWriter::new(file), Compression::default());
        for l in &all {
            serde_json::to_writer(&mut gz, l)?;
            gz.write_all(b"\n")?;
        }
        let file = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(all.len())
}

/// Deletes the site's archive files of days before `before` (and temporary files a crash left
/// beside them). Returns the days deleted, oldest first.
pub fn expire(dir: &Path, site: &str, before: NaiveDate) -> io::Result<Vec<NaiveDate>> {
    let site_dir = dir.join(site);
    let entries = match std::fs::read_dir(&site_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut gone = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(day) = name
            .get(..10)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        let rest = &name[10..];
        let ours = rest == ".jsonl.gz" || rest.starts_with(".jsonl.tmp-");
        if ours && day < before {
            std::fs::remove_file(entry.path())?;
            if rest == ".jsonl.gz" {
                gone.push(day);
            }
        }
    }
    gone.sort();
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn line(id: &str, date: NaiveDate) -> ArchiveLine {
        ArchiveLine {
            site: "s".into(),
            business_date: date,
            seller: "x".into(),
            order_id: id.into(),
            status: "handed_over".into(),
            status_at: None,
            wave_id: None,
            parcel_id: None,
            shipment_id: None,
            tracking_code: None,
            carrier_status: None,
            cancel_reason: None,
            archived_at: chrono::Utc::now(),
            data: serde_json::json!({}),
        }
    }

    #[test]
    fn files_are_0600_in_0700_dirs_and_expire() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("archive");
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        for day in ["2026-01-01", "2026-01-02", "2026-01-03"] {
            let path = day_path(&root, "s", d(day));
            assert_eq!(merge_write(&path, &[line("A", d(day))]).unwrap(), 1);
            assert_eq!(mode(&path), 0o600, "{day}");
        }
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("s")), 0o700);
        // A site dir made readable by hand is closed again on the next write.
        std::fs::set_permissions(root.join("s"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(root.join("s/2026-01-01.jsonl.tmp-1"), b"left by a crash").unwrap();
        std::fs::write(root.join("s/notes.txt"), b"not ours").unwrap();
        merge_write(
            &day_path(&root, "s", d("2026-01-03")),
            &[line("B", d("2026-01-03"))],
        )
        .unwrap();
        assert_eq!(mode(&root.join("s")), 0o700);
        let gone = expire(&root, "s", d("2026-01-03")).unwrap();
        assert_eq!(gone, vec![d("2026-01-01"), d("2026-01-02")]);
        assert!(!day_path(&root, "s", d("2026-01-02")).exists());
        assert!(!root.join("s/2026-01-01.jsonl.tmp-1").exists());
        assert!(root.join("s/notes.txt").exists());
        assert_eq!(
            read_lines(&day_path(&root, "s", d("2026-01-03")))
                .unwrap()
                .len(),
            2
        );
        assert_eq!(expire(&root, "nowhere", d("2026-01-03")).unwrap(), vec![]);
    }
}
