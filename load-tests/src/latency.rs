//! `livepack-surge pick-latency`: read back from the Redis a scenario ran against, per order,
//! the time from its ingest (`received_at`, stamped just before the script that stores it,
//! so a few ms before its ack) to its wave's release (`released_ms`: when its pick list
//! exists). Split by why the wave was released: while the sessions were live, or because a
//! session ended (`end_session` releases everything at once).

use std::collections::HashMap;

use chrono::DateTime;

#[derive(Debug, clap::Args)]
pub struct LatencyArgs {
    /// The Redis the service stored into.
    #[arg(long)]
    pub redis_url: String,
    /// The site whose orders to read.
    #[arg(long, default_value = "hoa-lu-hub")]
    pub site: String,
}

/// Prints one line per group: orders, p50, p99 and max seconds from ingest to pick list.
pub async fn run(a: LatencyArgs) -> Result<(), String> {
    let client = redis::Client::open(a.redis_url.as_str()).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    let pattern = format!("lp:{{{}}}:o:*", a.site);
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    // (received ms, wave id) per waved order.
    let mut orders: Vec<(i64, String)> = Vec::new();
    for chunk in keys.chunks(1000) {
        let mut pipe = redis::pipe();
        for k in chunk {
            pipe.cmd("HMGET").arg(k).arg("data").arg("w").arg("p");
        }
        // (data, `w`, `p`) of each order.
        type Row = (Option<Vec<u8>>, Option<String>, Option<String>);
        let rows: Vec<Row> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        // An order names its parcel, whose `wave` is the order's (builds before issue 20's
        // fifteenth session also stored `w` on the order).
        let mut pipe = redis::pipe();
        for (_, w, p) in &rows {
            if let (None, Some(p)) = (w, p) {
                pipe.hget(format!("lp:{{{}}}:p:{p}", a.site), "wave");
            }
        }
        let mut parcel_waves = if pipe.is_empty() {
            Vec::new()
        } else {
            pipe.query_async::<Vec<Option<String>>>(&mut conn)
                .await
                .map_err(|e| e.to_string())?
        }
        .into_iter();
        let rows = rows.into_iter().map(|(data, w, p)| match (w, p) {
            (Some(w), _) => (data, Some(w)),
            (None, Some(_)) => (data, parcel_waves.next().flatten()),
            (None, None) => (data, None),
        });
        for (data, wave) in rows {
            let (Some(data), Some(wave)) = (data, wave) else {
                continue;
            };
            let data = livepack::store::doc::unpack(data).map_err(|e| e.to_string())?;
            let v: serde_json::Value = serde_json::from_str(&data).map_err(|e| e.to_string())?;
            let at = v["received_at"]
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .ok_or("an order without received_at")?;
            orders.push((at.timestamp_millis(), wave));
        }
    }
    let mut waves: Vec<&str> = orders.iter().map(|(_, w)| w.as_str()).collect();
    waves.sort_unstable();
    waves.dedup();
    // wave id → (released ms, its release reason)
    let mut released: HashMap<String, (i64, String)> = HashMap::new();
    for chunk in waves.chunks(500) {
        let mut pipe = redis::pipe();
        for w in chunk {
            pipe.cmd("HMGET")
                .arg(format!("lp:{{{}}}:w:{w}", a.site))
                .arg("released_ms")
                .arg("data");
        }
        let rows: Vec<(Option<i64>, Option<Vec<u8>>)> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        for (w, (ms, data)) in chunk.iter().zip(rows) {
            let (Some(ms), Some(data)) = (ms, data) else {
                continue;
            };
            // Wave documents are stored packed (`livepack::store::doc`).
            let data = livepack::store::doc::unpack(data).map_err(|e| e.to_string())?;
            let v: serde_json::Value = serde_json::from_str(&data).map_err(|e| e.to_string())?;
            let reason = v["release_reason"].as_str().unwrap_or("unknown").to_owned();
            released.insert((*w).to_owned(), (ms, reason));
        }
    }
    let mut by_reason: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    let mut live = Vec::new();
    let mut ended = Vec::new();
    for (at, w) in &orders {
        if let Some((ms, reason)) = released.get(w) {
            let secs = (ms - at) as f64 / 1000.0;
            by_reason.entry(reason).or_default().push(secs);
            if reason == "SessionEnded" {
                ended.push(secs)
            } else {
                live.push(secs)
            }
        }
    }
    let mut all: Vec<f64> = live.iter().chain(&ended).copied().collect();
    println!(
        "ingest → pick list (wave released), seconds, {} waved orders:",
        all.len()
    );
    line("released while live", &mut live);
    line("released by end_session", &mut ended);
    line("all", &mut all);
    for (reason, v) in &mut by_reason {
        line(&format!("wave release reason {reason}"), v);
    }
    Ok(())
}

fn line(name: &str, v: &mut [f64]) {
    if v.is_empty() {
        println!("  {name}: 0 orders");
        return;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| {
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        v[i]
    };
    println!(
        "  {name}: {} orders, p50 {:.1} s, p99 {:.1} s, max {:.1} s",
        v.len(),
        q(0.50),
        q(0.99),
        q(1.0)
    );
}
