//! Archive files: gzip-compressed JSON lines, one line per order. Written whole to a
//! temporary file, synced, then renamed over the old one, so a crash never leaves half a
//! file; lines already in the file are kept (an order that expired from Redis stays
//! archived), a newer line for the same order replaces the old one.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
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
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let written = (|| {
        let mut gz = GzEncoder::new(BufWriter::new(File::create(&tmp)?), Compression::default());
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
