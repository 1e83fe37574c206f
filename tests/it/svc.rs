//! The service as a real process (the `livepack` binary) for fault and abuse tests: a fixed
//! free port, a config file named by `LIVEPACK_CONFIG`, SIGKILL, SIGTERM and RSS; and
//! throwaway redis-servers with chosen options.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use livepack::store::embedded::{EmbeddedOptions, EmbeddedRedis};
use tokio::process::{Child, Command};

pub use crate::common::free_port;

/// A redis-server in its own temp dir, `tune` adjusting the options (appendfsync, args).
pub async fn redis_with(
    tune: impl FnOnce(&mut EmbeddedOptions),
) -> (EmbeddedRedis, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = EmbeddedOptions::new(dir.path());
    tune(&mut opts);
    let redis = EmbeddedRedis::start(opts)
        .await
        .expect("redis-server starts (apt-get install -y redis-server)");
    (redis, dir)
}

/// A connection whose replies may take up to 10 s (the crate's default is 500 ms), so a
/// test can issue `DEBUG SLEEP` or wait out a `CLIENT PAUSE`.
pub async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    let cfg =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(10)));
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
        .unwrap()
}

/// Writes `livepack.toml` in `dir`: the listen port, the Redis URL plus `redis_lines`
/// (more `[redis]` keys), then `rest` (other sections).
pub fn write_config(dir: &Path, port: u16, url: &str, redis_lines: &str, rest: &str) -> PathBuf {
    let path = dir.join("livepack.toml");
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nshutdown_grace_secs = 3\n\
         [redis]\nurl = \"{url}\"\n{redis_lines}\n{rest}\n"
    );
    std::fs::write(&path, toml).unwrap();
    path
}

/// One `livepack serve` process. Killed when dropped.
pub struct Service {
    pub child: Child,
    pub port: u16,
    /// Where its stderr goes, if anywhere: quoted when it fails to stop.
    log: Option<PathBuf>,
}

impl Service {
    /// Starts the binary on `config` (whose port is `port`); stderr goes to `log` if given.
    pub fn start(config: &Path, port: u16, log: Option<&Path>, rust_log: &str) -> Service {
        Self::start_with_args(config, port, log, rust_log, &[])
    }

    /// `start` with more arguments after `serve` (e.g. `--allow-volatile`).
    pub fn start_with_args(
        config: &Path,
        port: u16,
        log: Option<&Path>,
        rust_log: &str,
        args: &[&str],
    ) -> Service {
        let stderr = match log {
            Some(p) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .unwrap(),
            ),
            None => Stdio::null(),
        };
        let child = Command::new(env!("CARGO_BIN_EXE_livepack"))
            .arg("serve")
            .args(args)
            .env("LIVEPACK_CONFIG", config)
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("livepack binary starts");
        Service {
            child,
            port,
            log: log.map(Path::to_path_buf),
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn ws(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> i32 {
        self.child.id().expect("running") as i32
    }

    /// Waits (≤ `secs`) until `/healthz` answers; `/readyz` may still be 503.
    pub async fn up(&mut self, secs: u64) {
        self.wait_for("/healthz", secs).await
    }

    /// Waits (≤ `secs`) until `/readyz` is 200 (Redis reachable and writable).
    pub async fn ready(&mut self, secs: u64) {
        self.wait_for("/readyz", secs).await
    }

    async fn wait_for(&mut self, path: &str, secs: u64) {
        let url = format!("{}{path}", self.base());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(r) = http.get(&url).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("livepack exited before {path} turned 200: {status}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} not 200 within {secs} s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL and reap.
    pub async fn kill9(&mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }

    /// SIGTERM and wait (≤ 20 s) for a graceful exit.
    pub async fn terminate(&mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        let exited = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
        if exited.is_err() {
            self.kill9().await;
            let log = self.log.as_ref().map_or_else(String::new, |p| {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(40)..].join("\n")
            });
            panic!("livepack did not exit within 20 s of SIGTERM; its log ends:\n{log}");
        }
    }

    /// Resident set size in KiB (`VmRSS` of /proc/PID/status).
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }
}

pub fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `metric{labels} value` lines of a Prometheus text page: the sum of a metric's samples
/// whose line contains every one of `having`.
pub fn metric_sum(page: &str, name: &str, having: &[&str]) -> f64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| having.iter().all(|h| l.contains(h)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A WebSocket by hand over TCP, for what tungstenite will not send (invalid UTF-8 in a
/// text frame) and for peers that never read: upgrades `/v1/ingest` and returns the socket.
pub async fn raw_ws(addr: &str, token: &str, session: &str) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = ws_handshake(&mut tcp, addr, token, session).await;
    assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
    tcp
}

/// Sends the `/v1/ingest` upgrade request (as `token`) over `tcp` and reads the answer's head.
pub async fn ws_handshake(
    tcp: &mut tokio::net::TcpStream,
    addr: &str,
    token: &str,
    session: &str,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!(
        "GET /v1/ingest?session={session} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut b).await.expect("handshake answer");
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).to_string()
}

/// One masked client frame (RFC 6455): `opcode` 1 text, 2 binary, 8 close.
pub fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    let n = payload.len();
    if n < 126 {
        f.push(0x80 | n as u8);
    } else if n < 65536 {
        f.push(0x80 | 126);
        f.extend((n as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend((n as u64).to_be_bytes());
    }
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    f.extend(mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads and discards until the peer closes (EOF or reset); how long that took, or `None`
/// if it was still open after `limit`.
pub async fn until_closed(tcp: &mut tokio::net::TcpStream, limit: Duration) -> Option<Duration> {
    use tokio::io::AsyncReadExt;
    let t = tokio::time::Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = limit.checked_sub(t.elapsed())?;
        match tokio::time::timeout(left, tcp.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// From a Prometheus histogram: (count, mean, the smallest bucket bound that holds every
/// observation) of the samples whose lines contain every one of `having`.
pub fn histogram_stats(page: &str, name: &str, having: &[&str]) -> (f64, f64, f64) {
    let count = metric_sum(page, &format!("{name}_count"), having);
    let sum = metric_sum(page, &format!("{name}_sum"), having);
    let bucket = format!("{name}_bucket");
    let mut bound = f64::INFINITY;
    for l in page.lines().filter(|l| l.starts_with(&bucket)) {
        if !having.iter().all(|h| l.contains(h)) {
            continue;
        }
        let le = l
            .split("le=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|v| v.parse::<f64>().ok());
        let n = l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let (Some(le), Some(n)) = (le, n) {
            if n >= count && le < bound {
                bound = le;
            }
        }
    }
    (count, if count > 0.0 { sum / count } else { 0.0 }, bound)
}
