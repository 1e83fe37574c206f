//! Arrival shapes and the end-of-run wave check.
//!
//! - `flash`: every order of a connection handed to the client at once.
//! - `live`: the stream pitches products one after another; after each pitch a burst of
//!   orders arrives (the first pitch draws the most), and some buyers order again in a
//!   later burst (same name, phone and address: the planner may pack them together). The
//!   stream's real length (`--live-minutes`) is compressed into `--duration-secs`.

use std::time::{Duration, Instant};

use livepack::client::{sample_order, Report};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    Flash,
    Live,
}

/// How a `live` stream unfolds.
#[derive(Debug, Clone, Copy)]
pub struct LivePlan {
    /// Product pitches, each followed by a burst.
    pub pitches: usize,
    /// Percent of orders placed by a buyer who already ordered earlier in the stream.
    pub repeat_pct: u64,
    /// Wall time the whole stream is compressed into.
    pub compressed: Duration,
}

/// Orders of one connection, split into bursts sent at `offset` after the start.
pub struct Burst {
    pub offset: Duration,
    pub orders: Vec<serde_json::Value>,
}

/// The order ids and the bursts of one connection. `n0` makes buyers distinct across
/// connections; in `live`, a repeat buyer reuses the `n` of an earlier order of the stream.
pub fn plan(
    shape: Shape,
    live: &LivePlan,
    session: &str,
    count: usize,
    n0: u64,
) -> (Vec<String>, Vec<Burst>) {
    let ids: Vec<String> = (0..count).map(|i| format!("{session}-{i}")).collect();
    match shape {
        Shape::Flash => {
            let orders = ids
                .iter()
                .enumerate()
                .map(|(i, id)| sample_order(id, n0 + i as u64))
                .collect();
            let b = Burst {
                offset: Duration::ZERO,
                orders,
            };
            (ids, vec![b])
        }
        Shape::Live => {
            let pitches = live.pitches.clamp(1, count);
            // Burst k gets a weight 1/(k+1) share, plus a floor: early pitches draw crowds.
            let weights: Vec<f64> = (0..pitches).map(|k| 1.0 / (k as f64 + 1.0) + 0.2).collect();
            let total: f64 = weights.iter().sum();
            let mut sizes: Vec<usize> = weights
                .iter()
                .map(|w| ((w / total) * count as f64).floor() as usize)
                .collect();
            let assigned: usize = sizes.iter().sum();
            sizes[0] += count - assigned;
            let step = live.compressed.as_secs_f64() / pitches as f64;
            let mut bursts = Vec::with_capacity(pitches);
            let mut i = 0usize;
            // A cheap deterministic generator: same plan for the same inputs.
            let mut rng = n0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            for (k, size) in sizes.into_iter().enumerate() {
                let mut orders = Vec::with_capacity(size);
                for _ in 0..size {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let repeat = i > 0 && (rng >> 33) % 100 < live.repeat_pct;
                    let buyer = if repeat {
                        n0 + (rng >> 17) % i as u64
                    } else {
                        n0 + i as u64
                    };
                    orders.push(sample_order(&ids[i], buyer));
                    i += 1;
                }
                bursts.push(Burst {
                    offset: Duration::from_secs_f64(step * k as f64),
                    orders,
                });
            }
            (ids, bursts)
        }
    }
}

/// Adds one burst's report to the connection's.
pub fn merge(all: &mut Report, r: Report) {
    all.accepted.extend(r.accepted);
    all.duplicate.extend(r.duplicate);
    all.rejected.extend(r.rejected);
    all.frames_sent += r.frames_sent;
    all.nacks += r.nacks;
    all.reconnects += r.reconnects;
    all.ack_latencies_us.extend(r.ack_latencies_us);
    all.session_ended |= r.session_ended;
    all.frame_errors.extend(r.frame_errors);
}

/// `ws://` → `http://`, `wss://` → `https://`.
pub fn http_base(url: &str) -> String {
    let base = url.trim_end_matches('/');
    if let Some(rest) = base.strip_prefix("ws://") {
        format!("http://{rest}")
    } else if let Some(rest) = base.strip_prefix("wss://") {
        format!("https://{rest}")
    } else {
        base.to_owned()
    }
}

/// Polls `GET /v1/sessions/{label}` until every session reports `state` `ended` and
/// `waved` equal to its order count, or the deadline passes. Returns the problems left
/// and the time since `since` (the run's last ack: the sessions end right after it, so the
/// time the checks between take counts too), which the deadline counts from as well.
pub async fn wait_waved(
    base: &str,
    sessions: &[(String, String, u64)],
    since: Instant,
    deadline: Duration,
) -> (Vec<String>, Duration) {
    let t0 = since;
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => return (vec![format!("http client: {e}")], t0.elapsed()),
    };
    let mut pending: Vec<&(String, String, u64)> = sessions.iter().collect();
    let mut last: Vec<String> = Vec::new();
    loop {
        let mut still = Vec::new();
        last.clear();
        for s in pending {
            let (label, token, count) = s;
            let url = format!("{base}/v1/sessions/{label}");
            let got = async {
                http.get(&url)
                    .bearer_auth(token)
                    .send()
                    .await?
                    .error_for_status()?
                    .json::<serde_json::Value>()
                    .await
            }
            .await;
            match got {
                Ok(v) if v["waved"].as_u64() == Some(*count) && v["state"] == "ended" => {}
                Ok(v) => {
                    last.push(format!(
                        "session {label}: state {} waved {} of {count}",
                        v["state"], v["waved"]
                    ));
                    if v["waved"].as_u64().is_some_and(|w| w > *count) {
                        // More waved than sent: an order in two waves. Final, no retry.
                        return (last, t0.elapsed());
                    }
                    still.push(s);
                }
                Err(e) => {
                    last.push(format!("GET {url}: {e}"));
                    still.push(s);
                }
            }
        }
        if still.is_empty() {
            return (Vec::new(), t0.elapsed());
        }
        if t0.elapsed() >= deadline {
            last.push(format!(
                "{} sessions not fully waved within {deadline:?}",
                still.len()
            ));
            return (last, t0.elapsed());
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(o: &serde_json::Value) -> String {
        o["buyer"]["phone"].to_string()
    }

    #[test]
    fn live_plan_keeps_every_order_once_in_timed_bursts_with_repeat_buyers() {
        let live = LivePlan {
            pitches: 10,
            repeat_pct: 20,
            compressed: Duration::from_secs(60),
        };
        let (ids, bursts) = plan(Shape::Live, &live, "s", 2500, 0);
        assert_eq!(ids.len(), 2500);
        assert_eq!(bursts.len(), 10);
        let sent: Vec<&str> = bursts
            .iter()
            .flat_map(|b| b.orders.iter().map(|o| o["order_id"].as_str().unwrap()))
            .collect();
        assert_eq!(sent, ids.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(bursts.windows(2).all(|w| w[0].offset < w[1].offset));
        assert!(bursts[0].orders.len() > bursts[9].orders.len());
        let phones: std::collections::HashSet<String> = bursts
            .iter()
            .flat_map(|b| b.orders.iter().map(phone))
            .collect();
        assert!(phones.len() < 2400, "{} distinct buyers", phones.len());
    }

    #[test]
    fn flash_plan_is_one_burst_now() {
        let live = LivePlan {
            pitches: 10,
            repeat_pct: 20,
            compressed: Duration::from_secs(60),
        };
        let (ids, bursts) = plan(Shape::Flash, &live, "s", 300, 0);
        assert_eq!((ids.len(), bursts.len()), (300, 1));
        assert_eq!(bursts[0].offset, Duration::ZERO);
        assert_eq!(bursts[0].orders.len(), 300);
    }
}
