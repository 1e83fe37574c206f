//! `redis.url = "embedded"`: spawn and supervise a private `redis-server` (AOF on) whose files
//! live in a data directory; tests use the same type for throwaway servers. The pid and port are
//! recorded in `DATA_DIR/livepack-redis.json`, so a later `start` on the same directory adopts a
//! server left running by a previous livepack process instead of starting a second one on the
//! same AOF. Speaks just enough RESP over TCP (PING, CONFIG GET, SHUTDOWN) to need nothing else.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout, Instant};

const POLL: Duration = Duration::from_millis(20);
const START_DEADLINE: Duration = Duration::from_secs(10);
const STOP_DEADLINE: Duration = Duration::from_secs(10);
const KILL_DEADLINE: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(2);
const PORT_ATTEMPTS: usize = 5;
const RECORD: &str = "livepack-redis.json";

#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Created if missing; the AOF (and RDB, redis.log, redis.pid) live here.
    pub data_dir: PathBuf,
    /// Program to run; default `redis-server` (looked up in PATH).
    pub bin: String,
    /// `None`: pick a free port.
    pub port: Option<u16>,
    /// `everysec` (default), `always` or `no`.
    pub appendfsync: String,
    /// Appended after the built-in arguments (so they win), e.g. `["--maxmemory", "1gb"]`.
    pub extra_args: Vec<String>,
}

impl EmbeddedOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            bin: "redis-server".into(),
            port: None,
            appendfsync: "everysec".into(),
            extra_args: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("{bin} not found (redis.url = \"embedded\" runs a private redis-server). Install it: `sudo apt-get install -y redis-server` (Debian/Ubuntu), or point redis.url / LIVEPACK__REDIS__URL at an existing Redis (redis://host:6379/0).")]
    NotInstalled { bin: String },
    #[error("embedded redis: {0}")]
    Io(#[from] io::Error),
    #[error("embedded redis-server on port {port} did not answer PING within 10 s; last lines of redis.log:\n{log_tail}")]
    StartTimeout { port: u16, log_tail: String },
    #[error("embedded redis-server exited during start-up ({status}); last lines of redis.log:\n{log_tail}")]
    Exited { status: String, log_tail: String },
    #[error("a redis-server (pid {pid}) left on the data dir neither answers nor exits; stop it by hand")]
    StaleServer { pid: u32 },
}

fn io_err(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> EmbeddedError {
    move |e| EmbeddedError::Io(io::Error::new(e.kind(), format!("{what}: {e}")))
}

/// A supervised `redis-server`: spawned by us (`child`) or adopted from a previous run.
#[derive(Debug)]
pub struct EmbeddedRedis {
    opts: EmbeddedOptions,
    dir: PathBuf,
    port: u16,
    pid: Option<u32>,
    child: Option<Child>,
}

enum Wait {
    Ready,
    Exited(String),
    NotReady,
}

impl EmbeddedRedis {
    /// Adopts the server recorded in the data dir if it is alive and serves that dir; otherwise
    /// starts one and waits (≤ 10 s) until it answers PING.
    pub async fn start(opts: EmbeddedOptions) -> Result<Self, EmbeddedError> {
        let shown = opts.data_dir.display().to_string();
        std::fs::create_dir_all(&opts.data_dir).map_err(io_err(&shown))?;
        let dir = std::fs::canonicalize(&opts.data_dir).map_err(io_err(&shown))?;
        let mut me = Self {
            opts,
            dir,
            port: 0,
            pid: None,
            child: None,
        };
        if me.adopt_or_clear().await? {
            return Ok(me);
        }
        let mut attempt = 1;
        loop {
            me.port = match me.opts.port {
                Some(p) => p,
                None => free_port().map_err(io_err("pick a free port"))?,
            };
            match me.spawn().await {
                // The free port was taken between our probe and the server's bind: try another.
                Err(EmbeddedError::Exited { log_tail, .. })
                    if me.opts.port.is_none()
                        && attempt < PORT_ATTEMPTS
                        && log_tail.contains("Address already in use") =>
                {
                    attempt += 1
                }
                r => return r.map(|()| me),
            }
        }
    }

    /// `redis://127.0.0.1:PORT/0`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's pid (spawned or adopted); `None` after `stop` or `detach`.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The canonicalized data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Graceful: `SHUTDOWN` (Redis fsyncs the AOF), else SIGTERM; waits ≤ 10 s, then SIGKILL.
    /// Idempotent.
    pub async fn stop(&mut self) {
        if let Some(pid) = self.pid.take().filter(|&pid| pid_alive(pid)) {
            let ours = probe(self.port, &self.dir).await == Probe::Ready;
            if !(ours && shutdown(self.port).await) {
                signal(pid, libc::SIGTERM);
            }
            if !self.wait_exit(pid, STOP_DEADLINE).await {
                tracing::warn!(pid, "redis-server did not stop in 10 s; SIGKILL");
                signal(pid, libc::SIGKILL);
                self.wait_exit(pid, KILL_DEADLINE).await;
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = timeout(KILL_DEADLINE, child.wait()).await;
        }
        let _ = std::fs::remove_file(self.dir.join(RECORD));
    }

    /// SIGKILL now, for fault tests; `start_again` brings it back on the same port and dir.
    pub fn kill(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        } else if let Some(pid) = self.pid {
            signal(pid, libc::SIGKILL);
        }
    }

    /// Starts the server again on the same port and dir (the AOF is reloaded); if it is still
    /// running, stops it gracefully first.
    pub async fn start_again(&mut self) -> Result<(), EmbeddedError> {
        self.stop().await;
        self.spawn().await
    }

    /// Answers PING.
    pub async fn is_alive(&self) -> bool {
        let replies = call(self.port, &[&["PING"]]).await;
        matches!(replies.as_deref(), Ok([Reply::Simple(s)]) if s == "PONG")
    }

    /// Forgets the server without stopping it, as if livepack had crashed (adoption tests).
    pub fn detach(&mut self) {
        if let Some(child) = self.child.take() {
            std::mem::forget(child); // dropping it would kill it (kill_on_drop)
        }
        self.pid = None;
    }

    async fn adopt_or_clear(&mut self) -> Result<bool, EmbeddedError> {
        let record = self.dir.join(RECORD);
        if let Some((pid, port)) = read_record(&record).filter(|&(pid, _)| pid_alive(pid)) {
            self.port = port;
            match self.wait_ready(pid, true).await? {
                Wait::Ready => {
                    self.pid = Some(pid);
                    let dir = self.dir.display();
                    tracing::warn!(pid, port, %dir, "adopted a redis-server left running by a previous livepack run");
                    return Ok(true);
                }
                // Two servers on one AOF dir would corrupt it: the silent one must go first.
                Wait::NotReady if serves_dir(pid, &self.dir) => {
                    tracing::warn!(pid, "stale redis-server does not answer; stopping it");
                    signal(pid, libc::SIGTERM);
                    if !wait_pid_gone(pid, STOP_DEADLINE).await {
                        signal(pid, libc::SIGKILL);
                    }
                    if !wait_pid_gone(pid, KILL_DEADLINE).await {
                        return Err(EmbeddedError::StaleServer { pid });
                    }
                }
                _ => {}
            }
        }
        let _ = std::fs::remove_file(&record);
        Ok(false)
    }

    async fn spawn(&mut self) -> Result<(), EmbeddedError> {
        let log_path = self.dir.join("redis.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_err(log_path.display()))?;
        let offset = log.metadata().map_or(0, |m| m.len());
        let (port, fsync) = (self.port, &self.opts.appendfsync);
        let mut cmd = Command::new(&self.opts.bin);
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"]);
        cmd.arg(&self.dir).args(["--appendonly", "yes"]);
        cmd.args(["--appendfsync", fsync, "--save", "", "--daemonize", "no"]);
        cmd.arg("--pidfile").arg(self.dir.join("redis.pid"));
        cmd.arg("--logfile").arg(&log_path);
        cmd.args(["--protected-mode", "yes"]);
        cmd.args(&self.opts.extra_args);
        // stderr to the log too: config errors are printed before the log file is opened.
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        let bin = &self.opts.bin;
        let child = cmd.kill_on_drop(true).spawn().map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => EmbeddedError::NotInstalled { bin: bin.clone() },
            _ => io_err(format!("spawn {bin}"))(e),
        })?;
        let pid = child.id().unwrap_or(0);
        (self.child, self.pid) = (Some(child), Some(pid));
        let (record, tmp) = (self.dir.join(RECORD), self.dir.join("livepack-redis.tmp"));
        let json = serde_json::json!({ "pid": pid, "port": self.port }).to_string();
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, &record))
            .map_err(io_err(record.display()))?;
        let ready = self.wait_ready(pid, false).await?;
        if let Wait::Ready = ready {
            let dir = self.dir.display();
            tracing::info!(pid, port, %dir, "embedded redis-server started");
            return Ok(());
        }
        if let Wait::NotReady = ready {
            signal(pid, libc::SIGKILL); // hung: not reaped yet, so the pid is still ours
        }
        self.stop().await;
        let log_tail = log_tail(&log_path, offset);
        Err(match ready {
            Wait::Exited(status) => EmbeddedError::Exited { status, log_tail },
            _ => EmbeddedError::StartTimeout { port, log_tail },
        })
    }

    /// Polls until the server answers PING and serves our dir. `adopting`: give up at the first
    /// wrong answer (only `LOADING` is worth waiting for).
    async fn wait_ready(&mut self, pid: u32, adopting: bool) -> io::Result<Wait> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let probe = probe(self.port, &self.dir);
            let probed = match &mut self.child {
                Some(child) => tokio::select! {
                    status = child.wait() => return Ok(Wait::Exited(status?.to_string())),
                    probed = probe => probed,
                },
                None if !pid_alive(pid) => return Ok(Wait::Exited("process gone".into())),
                None => probe.await,
            };
            match probed {
                Probe::Ready => return Ok(Wait::Ready),
                Probe::Other if adopting => return Ok(Wait::NotReady),
                _ if Instant::now() >= deadline => return Ok(Wait::NotReady),
                _ => sleep(POLL).await,
            }
        }
    }

    async fn wait_exit(&mut self, pid: u32, limit: Duration) -> bool {
        match &mut self.child {
            Some(child) => timeout(limit, child.wait()).await.is_ok(),
            None => wait_pid_gone(pid, limit).await,
        }
    }
}

impl Drop for EmbeddedRedis {
    fn drop(&mut self) {
        // A spawned child dies by kill_on_drop; an adopted server is killed here.
        if let (None, Some(pid)) = (&self.child, self.pid) {
            if pid_alive(pid) {
                signal(pid, libc::SIGKILL);
            }
        }
    }
}

fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

fn read_record(path: &Path) -> Option<(u32, u16)> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let pid = u32::try_from(v.get("pid")?.as_u64()?).ok()?;
    Some((pid, u16::try_from(v.get("port")?.as_u64()?).ok()?))
}

/// The last lines the log gained since `offset`.
fn log_tail(path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
    let text = String::from_utf8_lossy(&bytes[start.max(bytes.len().saturating_sub(4096))..]);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Signals one process; never 0 or a negative pid (those address process groups).
fn signal(pid: u32, sig: libc::c_int) {
    if let Some(p) = libc::pid_t::try_from(pid).ok().filter(|&p| p > 0) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(p, sig) };
    }
}

/// The process exists and is not a zombie.
fn pid_alive(pid: u32) -> bool {
    let Some(p) = libc::pid_t::try_from(pid).ok().filter(|&p| p > 0) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let exists = unsafe { libc::kill(p, 0) } == 0
        || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('Z'));
    exists && !zombie
}

async fn wait_pid_gone(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while pid_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        sleep(POLL).await;
    }
    true
}

/// Does `pid` work in `dir` (redis-server chdirs to `--dir`)? Guards against signalling a
/// recorded pid now reused by an unrelated process. Without procfs, trusts the record.
fn serves_dir(pid: u32, dir: &Path) -> bool {
    !Path::new("/proc/self").exists()
        || std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir)
}

#[derive(Debug, PartialEq)]
enum Probe {
    Ready,
    Loading,
    Other,
}

/// PING, and `CONFIG GET dir` must be `dir`: another server that took the port is not ours.
async fn probe(port: u16, dir: &Path) -> Probe {
    let same_dir = |d: &[u8]| std::fs::canonicalize(OsStr::from_bytes(d)).is_ok_and(|d| d == dir);
    match call(port, &[&["PING"], &["CONFIG", "GET", "dir"]])
        .await
        .as_deref()
    {
        Ok([Reply::Simple(pong), Reply::Array(kv)])
            if pong == "PONG" && matches!(kv.as_slice(), [_, Reply::Bulk(d)] if same_dir(d)) =>
        {
            Probe::Ready
        }
        Ok([Reply::Error(e), _]) if e.starts_with("LOADING") => Probe::Loading,
        _ => Probe::Other,
    }
}

/// `SHUTDOWN`: success is the server closing the connection without a reply.
async fn shutdown(port: u16) -> bool {
    match call(port, &[&["SHUTDOWN"]]).await {
        Ok(reply) => {
            tracing::warn!(?reply, "redis-server refused SHUTDOWN");
            false
        }
        Err(e) => matches!(
            e.kind(),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
        ),
    }
}

/// A RESP2 reply; arrays hold scalars only (enough for PING, CONFIG GET, SET, GET).
#[derive(Debug, PartialEq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
}

/// One connection to 127.0.0.1:`port`: sends `cmds` pipelined, reads one reply each.
async fn call(port: u16, cmds: &[&[&str]]) -> io::Result<Vec<Reply>> {
    let exchange = async {
        let mut conn = BufReader::new(TcpStream::connect(("127.0.0.1", port)).await?);
        let mut req = Vec::new();
        for args in cmds {
            req.extend(format!("*{}\r\n", args.len()).bytes());
            for a in args.iter() {
                req.extend(format!("${}\r\n{a}\r\n", a.len()).bytes());
            }
        }
        conn.get_mut().write_all(&req).await?;
        let mut replies = Vec::new();
        for _ in cmds {
            let (kind, line) = read_line(&mut conn).await?;
            if kind != b'*' {
                replies.push(scalar(&mut conn, kind, line).await?);
                continue;
            }
            let mut items = Vec::new();
            for _ in 0..num(&line)? {
                let (kind, line) = read_line(&mut conn).await?;
                items.push(scalar(&mut conn, kind, line).await?);
            }
            replies.push(Reply::Array(items));
        }
        Ok(replies)
    };
    timeout(IO_TIMEOUT, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "redis did not reply in time"))?
}

async fn read_line(conn: &mut BufReader<TcpStream>) -> io::Result<(u8, String)> {
    let mut buf = Vec::new();
    conn.read_until(b'\n', &mut buf).await?;
    match buf.strip_suffix(b"\r\n") {
        Some([kind, rest @ ..]) => Ok((*kind, String::from_utf8_lossy(rest).into_owned())),
        _ if buf.is_empty() => Err(io::ErrorKind::UnexpectedEof.into()),
        _ => Err(invalid("bad RESP line")),
    }
}

async fn scalar(conn: &mut BufReader<TcpStream>, kind: u8, line: String) -> io::Result<Reply> {
    match (kind, num(&line)) {
        (b'+', _) => Ok(Reply::Simple(line)),
        (b'-', _) => Ok(Reply::Error(line)),
        (b':', n) => Ok(Reply::Int(n?)),
        (b'$', Ok(n)) if n < 0 => Ok(Reply::Nil),
        (b'$', Ok(n)) if n <= 64 << 20 => {
            let mut bulk = vec![0; n as usize + 2];
            conn.read_exact(&mut bulk).await?;
            bulk.truncate(n as usize);
            Ok(Reply::Bulk(bulk))
        }
        _ => Err(invalid("unsupported RESP reply")),
    }
}

fn num(s: &str) -> io::Result<i64> {
    s.parse().map_err(|_| invalid("bad RESP number"))
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn start(dir: &Path) -> EmbeddedRedis {
        EmbeddedRedis::start(EmbeddedOptions::new(dir))
            .await
            .unwrap()
    }

    fn opts(dir: &Path, edit: impl FnOnce(&mut EmbeddedOptions)) -> EmbeddedOptions {
        let mut opts = EmbeddedOptions::new(dir);
        edit(&mut opts);
        opts
    }

    async fn cmd(r: &EmbeddedRedis, args: &[&str]) -> Reply {
        call(r.port(), &[args]).await.unwrap().remove(0)
    }

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn stop_then_start_reloads_the_aof() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data dir"); // created; the space survives Redis' arg quoting
        let mut r = start(&dir).await;
        assert!(r.is_alive().await);
        assert_eq!(r.url(), format!("redis://127.0.0.1:{}/0", r.port()));
        assert_eq!(r.data_dir(), std::fs::canonicalize(&dir).unwrap());
        assert_eq!(
            cmd(&r, &["SET", "k", "v1"]).await,
            Reply::Simple("OK".into())
        );
        let pid = r.pid().unwrap();
        assert_eq!(read_record(&dir.join(RECORD)), Some((pid, r.port())));
        r.stop().await;
        r.stop().await; // idempotent
        assert!(!pid_alive(pid) && r.pid().is_none() && !r.is_alive().await);
        assert!(!dir.join(RECORD).exists());
        let mut r = start(&dir).await;
        assert_ne!(r.pid(), Some(pid));
        assert_eq!(cmd(&r, &["GET", "k"]).await, bulk("v1"));
        r.stop().await;
    }

    #[tokio::test]
    async fn kill_then_start_again_keeps_acknowledged_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let always = opts(tmp.path(), |o| o.appendfsync = "always".into());
        let mut r = EmbeddedRedis::start(always).await.unwrap();
        let (port, pid) = (r.port(), r.pid().unwrap());
        for i in 0..100 {
            cmd(&r, &["SET", &format!("k{i}"), &format!("v{i}")]).await;
        }
        r.kill();
        r.start_again().await.unwrap();
        assert_eq!(r.port(), port);
        assert_ne!(r.pid(), Some(pid));
        assert_eq!(cmd(&r, &["DBSIZE"]).await, Reply::Int(100));
        assert_eq!(cmd(&r, &["GET", "k99"]).await, bulk("v99"));
        r.start_again().await.unwrap(); // while running: a graceful restart
        assert_eq!(cmd(&r, &["GET", "k0"]).await, bulk("v0"));
        r.stop().await;
    }

    #[tokio::test]
    async fn adopts_a_server_left_by_a_previous_run() {
        let tmp = tempfile::tempdir().unwrap();
        let mut a = start(tmp.path()).await;
        cmd(&a, &["SET", "k", "adopted"]).await;
        let (pid, port) = (a.pid().unwrap(), a.port());
        a.detach();
        drop(a);
        assert!(pid_alive(pid));
        let mut b = start(tmp.path()).await;
        assert_eq!((b.pid(), b.port()), (Some(pid), port));
        assert_eq!(cmd(&b, &["GET", "k"]).await, bulk("adopted"));
        b.stop().await;
        assert!(!pid_alive(pid) && !tmp.path().join(RECORD).exists());
        // SAFETY: reaps the detached child's zombie; nothing else waits for it.
        unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0) };
    }

    #[tokio::test]
    async fn stale_records_are_handled_safely() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(tmp.path()).unwrap();
        let record = |pid: u32| {
            let json = format!(r#"{{"pid":{pid},"port":{}}}"#, free_port().unwrap());
            std::fs::write(dir.join(RECORD), json).unwrap()
        };
        // A pid reused by an unrelated process (this test runner): left alone.
        record(std::process::id());
        start(&dir).await.stop().await;
        // A silent process working in the data dir: terminated before a new server starts.
        let mut silent = Command::new("sleep");
        let mut silent = silent
            .arg("60")
            .current_dir(&dir)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        record(silent.id().unwrap());
        let mut r = start(&dir).await;
        let status = timeout(Duration::from_secs(1), silent.wait())
            .await
            .unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status.unwrap()),
            Some(15)
        );
        assert!(r.is_alive().await);
        r.stop().await;
        std::fs::write(dir.join(RECORD), "garbage").unwrap();
        start(&dir).await.stop().await;
    }

    #[tokio::test]
    async fn start_errors_say_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        for bin in ["/nonexistent/redis-server", "no-such-redis-server"] {
            let missing = opts(tmp.path(), |o| o.bin = bin.into());
            let err = EmbeddedRedis::start(missing).await.unwrap_err();
            assert!(matches!(err, EmbeddedError::NotInstalled { .. }), "{err:?}");
            assert!(
                err.to_string().contains("apt-get install -y redis-server"),
                "{err}"
            );
        }
        let bad = opts(tmp.path(), |o| o.appendfsync = "sometimes".into());
        let err = EmbeddedRedis::start(bad).await.unwrap_err();
        assert!(matches!(err, EmbeddedError::Exited { .. }), "{err:?}");
        assert!(err.to_string().contains("appendfsync"), "{err}");
        let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = Some(taken.local_addr().unwrap().port());
        let err = EmbeddedRedis::start(opts(tmp.path(), |o| o.port = port)).await;
        let err = err.unwrap_err().to_string();
        assert!(err.contains("Address already in use"), "{err}");
        assert!(
            !err.contains("sometimes"),
            "only this start's log lines: {err}"
        );
    }

    #[tokio::test]
    async fn two_instances_with_free_ports_run_side_by_side() {
        let (t1, t2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (mut a, mut b) = tokio::join!(start(t1.path()), start(t2.path()));
        assert_ne!(a.port(), b.port());
        cmd(&a, &["SET", "only", "a"]).await;
        assert_eq!(cmd(&b, &["GET", "only"]).await, Reply::Nil);
        a.stop().await;
        assert!(b.is_alive().await);
        b.stop().await;
    }
}
