//! `redis.url = "embedded"`: spawn and supervise a private `redis-server` (AOF on) whose files
//! live in a data directory; tests use the same type for throwaway servers. The pid and port are
//! recorded in `DATA_DIR/livepack-redis.json`, so a later `start` on the same directory adopts a
//! server left running by a previous livepack process instead of starting a second one on the
//! same AOF. Talks to it (PING, CONFIG GET, SHUTDOWN) with the redis crate, one short connection
//! per check.
//!
//! `private` (what `livepack serve` uses): no TCP port at all; the server listens on the unix
//! socket `DATA_DIR/redis.sock` (mode 0700) inside the data dir (mode 0700), so no other local
//! user can read buyers' data or forge a station session. Tests use the TCP mode (a free port on
//! 127.0.0.1) where they need ports (replicas, clusters).

use std::ffi::OsStr;
use std::future::Future;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout, Instant};

const POLL: Duration = Duration::from_millis(20);
const START_DEADLINE: Duration = Duration::from_secs(10);
/// How long a server that answers `LOADING` (replaying its AOF) is waited for. Loading is
/// progress, not a hang: a 615 MB AOF (what the 300,000-order surge peak writes) loads in about
/// 5.4 s on a 2-core machine, and a site's retained data can take longer. Giving up would kill the
/// server mid-load, and every retry would start the load again.
const LOAD_DEADLINE: Duration = Duration::from_secs(15 * 60);
const STOP_DEADLINE: Duration = Duration::from_secs(10);
const KILL_DEADLINE: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(2);
const PORT_ATTEMPTS: usize = 5;
const RECORD: &str = "livepack-redis.json";
/// The data dir's lock file (see `EmbeddedRedis::lock`).
const LOCK: &str = "livepack.lock";
/// How long a start waits for the data dir's lock before it answers `InUse`: the lock of an
/// instance that has just stopped can outlive it briefly, held by a copy of its descriptor
/// in a child process forked at that moment (closed when the child execs).
const LOCK_WAIT: Duration = Duration::from_secs(2);
/// How often `supervise` checks that the server is still running.
const WATCH: Duration = Duration::from_millis(500);
const MAX_BACK_OFF: Duration = Duration::from_secs(30);
/// A restarted server that lived less than this before dying again doubles the back-off.
const STAYED_UP: Duration = Duration::from_secs(60);
const SOCKET: &str = "redis.sock";
/// `sun_path` holds 108 bytes with the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Redis settings every embedded server runs with (after the fixed ones, before
/// `extra_args`), as `deploy/compose.yaml` sets them for an external Redis and
/// `load-tests/lib.sh` (`EMBEDDED_REDIS_ARGS`) for the benchmarks; a unit test keeps the three
/// equal.
/// - `hash-max-listpack-value 4096`: orders and parcels (a packed document of 300–500 bytes
///   and a few short fields) as listpack hashes, about 20 % less memory per order than Redis'
///   default of 64-byte values (README, issue 20).
/// - `auto-aof-rewrite-min-size 1gb` (Redis' default 64mb): no AOF rewrite before the file
///   reaches a gigabyte. From a small dataset the default rewrites each time the AOF passes
///   64 MB and twice its size after the last rewrite, four or five times during the surge
///   peak: each rewrite is a child process serializing the whole dataset, which took as many
///   of the 2-core machine's CPU samples as the service (issue 20, thirty-sixth session).
///   Once the dataset is large, rewrites still come each time the AOF doubles, as before. The
///   cost: up to a gigabyte of AOF more on disk, and as much more to replay on a restart
///   (about 9 s).
pub const REDIS_TUNING: [&str; 4] = [
    "--hash-max-listpack-value",
    "4096",
    "--auto-aof-rewrite-min-size",
    "1gb",
];

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
    /// How long a start waits for the server to answer at all (default 10 s).
    pub start_deadline: Duration,
    /// How long a start waits while the server answers `LOADING` (default 15 min).
    pub load_deadline: Duration,
    /// No TCP port: listen on `data_dir/redis.sock` (0700) only. `port` is then ignored.
    pub private: bool,
    /// When a running service holds the data dir's lock: use its server (adopt it, never
    /// start one), as `livepack export-day` does beside the service. Otherwise refused.
    pub share_running: bool,
}

impl EmbeddedOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            bin: "redis-server".into(),
            port: None,
            appendfsync: "everysec".into(),
            extra_args: Vec::new(),
            start_deadline: START_DEADLINE,
            load_deadline: LOAD_DEADLINE,
            private: false,
            share_running: false,
        }
    }

    /// What `redis.url = "embedded"` runs: unix socket only, in a 0700 data dir.
    pub fn private(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            private: true,
            ..Self::new(data_dir)
        }
    }
}

/// Where the server listens.
#[derive(Debug, Clone, PartialEq)]
enum Endpoint {
    Tcp(u16),
    Unix(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("{bin} not found (redis.url = \"embedded\" runs a private redis-server). Install it: `sudo apt-get install -y redis-server` (Debian/Ubuntu), or point redis.url / LIVEPACK__REDIS__URL at an existing Redis (redis://host:6379/0).")]
    NotInstalled { bin: String },
    #[error("embedded redis: {0}")]
    Io(#[from] io::Error),
    #[error("embedded redis-server on port {port} did not become ready (by default it has 10 s to answer PING, 15 min to load its data); last lines of redis.log:\n{log_tail}")]
    StartTimeout { port: u16, log_tail: String },
    #[error("embedded redis-server exited during start-up ({status}); last lines of redis.log:\n{log_tail}")]
    Exited { status: String, log_tail: String },
    #[error("a redis-server (pid {pid}) left on the data dir neither answers nor exits; stop it by hand")]
    StaleServer { pid: u32 },
    #[error("redis.data_dir `{dir}` is too long for the embedded server's unix socket (`{SOCKET}` in it must fit in {MAX_SOCKET_PATH} bytes); choose a shorter redis.data_dir")]
    SocketPathTooLong { dir: String },
    #[error("redis.data_dir `{dir}` is in use by another running livepack (it holds `{LOCK}`): one instance per data dir in embedded mode; give this one another redis.data_dir, or point both at one Redis with redis.url")]
    InUse { dir: String },
}

/// What `serve` would refuse about an embedded Redis, checked without starting or creating
/// anything (`livepack check-config`): `redis.data_dir` is a directory or can be made one
/// (it is not a file, nor under one), and `redis.bin` is a program that exists (a path, or
/// a name found in `PATH`). Err: the message, naming the key.
pub fn check_setup(data_dir: &Path, bin: &str) -> Result<(), String> {
    let mut at = Some(data_dir);
    while let Some(p) = at {
        if p.as_os_str().is_empty() {
            break;
        }
        if p.exists() {
            if !p.is_dir() {
                return Err(format!(
                    "redis.data_dir: {} is not a directory ({} is a file)",
                    data_dir.display(),
                    p.display()
                ));
            }
            break;
        }
        at = p.parent();
    }
    let found = if bin.contains('/') {
        Path::new(bin).is_file()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(bin).is_file()))
    };
    if !found {
        return Err(format!(
            "redis.bin: {}",
            EmbeddedError::NotInstalled {
                bin: bin.to_owned()
            }
        ));
    }
    Ok(())
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
    /// `Some` in private mode: the unix socket.
    socket: Option<PathBuf>,
    pid: Option<u32>,
    child: Option<Child>,
    /// The data dir's lock file, held (`flock`) while this instance runs its server: a second
    /// livepack on the same dir is refused instead of adopting (and later stopping) the
    /// server under the first. The kernel releases it when the process dies.
    lock: Option<std::fs::File>,
}

enum Wait {
    Ready,
    Exited(String),
    NotReady,
}

impl EmbeddedRedis {
    /// Adopts the server recorded in the data dir if it is alive and serves that dir; otherwise
    /// starts one and waits until it answers PING (10 s by default, 15 min while it loads its
    /// data).
    pub async fn start(opts: EmbeddedOptions) -> Result<Self, EmbeddedError> {
        let mut me = Self::prepare(opts).await?;
        me.bring_up().await.map(|()| me)
    }

    /// `start`, given up if `stop` resolves first (a SIGTERM while a large AOF loads, which
    /// may take minutes): the server this start spawned is stopped as `stop` does (`SHUTDOWN`,
    /// else SIGTERM, then SIGKILL after 10 s) and the answer is `None`. A server being adopted
    /// (one a killed livepack left loading) is left running with its record, as a crash
    /// would leave it; the next start adopts it.
    pub async fn start_until(
        opts: EmbeddedOptions,
        stop: impl Future<Output = ()>,
    ) -> Result<Option<Self>, EmbeddedError> {
        let mut me = Self::prepare(opts).await?;
        let up = tokio::select! {
            up = me.bring_up() => Some(up),
            () = stop => None,
        };
        match up {
            Some(up) => up.map(|()| Some(me)),
            // Only a server this start owns by now is stopped (and its record removed): one
            // still being adopted, or a stale one being stopped, keeps its record, so that
            // the next start finds it rather than starting a second server on the same AOF.
            None if me.pid.is_some() => {
                me.stop().await;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// The data dir made (mode 0700) and checked; nothing started yet.
    async fn prepare(opts: EmbeddedOptions) -> Result<Self, EmbeddedError> {
        let shown = format!("{} (redis.data_dir)", opts.data_dir.display());
        std::fs::create_dir_all(&opts.data_dir).map_err(io_err(&shown))?;
        let dir = std::fs::canonicalize(&opts.data_dir).map_err(io_err(&shown))?;
        // The AOF holds buyers' names, phones and addresses: only this user may enter.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err(format!("chmod 0700 {shown}")))?;
        let socket = opts.private.then(|| dir.join(SOCKET));
        if let Some(s) = socket
            .as_ref()
            .filter(|s| s.as_os_str().len() > MAX_SOCKET_PATH)
        {
            return Err(EmbeddedError::SocketPathTooLong {
                dir: s.display().to_string(),
            });
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK))
            .map_err(io_err(format!("open {shown}/{LOCK}")))?;
        let waited = Instant::now();
        let lock = loop {
            match lock.try_lock() {
                Ok(()) => break Some(lock),
                Err(std::fs::TryLockError::WouldBlock) if opts.share_running => break None,
                Err(std::fs::TryLockError::WouldBlock) if waited.elapsed() < LOCK_WAIT => {
                    sleep(POLL).await; // the poll interval of a bounded wait
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(EmbeddedError::InUse {
                        dir: dir.display().to_string(),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(io_err(format!("lock {shown}/{LOCK}"))(e));
                }
            }
        };
        Ok(Self {
            opts,
            dir,
            port: 0,
            socket,
            pid: None,
            child: None,
            lock,
        })
    }

    /// Adopts the recorded server or spawns one, and waits until it is ready.
    async fn bring_up(&mut self) -> Result<(), EmbeddedError> {
        if self.adopt_or_clear().await? {
            return Ok(());
        }
        if self.lock.is_none() {
            // Sharing a running service's dir (`share_running`): its server, or nothing.
            return Err(EmbeddedError::InUse {
                dir: self.dir.display().to_string(),
            });
        }
        if self.socket.is_some() {
            return self.spawn().await;
        }
        let mut attempt = 1;
        loop {
            self.port = match self.opts.port {
                Some(p) => p,
                None => free_port().map_err(io_err("pick a free port"))?,
            };
            match self.spawn().await {
                // The free port was taken between our probe and the server's bind: try another.
                Err(EmbeddedError::Exited { log_tail, .. })
                    if self.opts.port.is_none()
                        && attempt < PORT_ATTEMPTS
                        && log_tail.contains("Address already in use") =>
                {
                    attempt += 1
                }
                r => return r,
            }
        }
    }

    /// `redis://127.0.0.1:PORT/0`, or `redis+unix:///DATA_DIR/redis.sock?db=0` when private.
    pub fn url(&self) -> String {
        match &self.socket {
            Some(s) => format!("redis+unix://{}?db=0", s.display()),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// The TCP port; 0 when private (no TCP listener).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The unix socket when private.
    pub fn socket(&self) -> Option<&Path> {
        self.socket.as_deref()
    }

    fn endpoint(&self) -> Endpoint {
        match &self.socket {
            Some(s) => Endpoint::Unix(s.clone()),
            None => Endpoint::Tcp(self.port),
        }
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
    /// Idempotent. The data dir's lock is released: another instance may start on it.
    pub async fn stop(&mut self) {
        if self.sharing() {
            // A running service's server (`share_running`): it is not ours to stop.
            self.detach();
            return;
        }
        self.halt().await;
        self.lock = None;
    }

    /// Using a running service's server (`share_running`, its lock held by the service).
    fn sharing(&self) -> bool {
        self.opts.share_running && self.lock.is_none()
    }

    /// `stop`, keeping the data dir's lock (the server is started again right after).
    async fn halt(&mut self) {
        if let Some(pid) = self.pid.take().filter(|&pid| pid_alive(pid)) {
            let ep = self.endpoint();
            let ours = probe(&ep, &self.dir).await == Probe::Ready;
            if !(ours && shutdown(&ep).await) {
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
        self.halt().await;
        self.spawn().await
    }

    /// Answers PING.
    pub async fn is_alive(&self) -> bool {
        let Ok(mut c) = connect(&self.endpoint()).await else {
            return false;
        };
        let pong: redis::RedisResult<String> =
            bounded(redis::cmd("PING").query_async(&mut c)).await;
        pong.is_ok_and(|p| p == "PONG")
    }

    /// Forgets the server without stopping it, as if livepack had crashed (adoption tests):
    /// the data dir's lock is released too.
    pub fn detach(&mut self) {
        if let Some(child) = self.child.take() {
            std::mem::forget(child); // dropping it would kill it (kill_on_drop)
        }
        self.pid = None;
        self.lock = None;
    }

    /// The server this instance ran (spawned or adopted) is gone: it exited or was killed.
    pub fn exited(&self) -> bool {
        self.pid.is_some_and(|pid| !pid_alive(pid))
    }

    /// Keeps the server running until `stop`: one that exits (killed, crashed, out of
    /// memory) is started again on its data dir, its AOF reloaded, with back-off while it
    /// fails to start. Nothing else would restart a server livepack spawned itself. Returns
    /// it, for [`Self::stop`] once every task that uses it has finished.
    pub async fn supervise(mut self, stop: tokio_util::sync::CancellationToken) -> Self {
        let mut back_off = WATCH;
        let mut up_since: Option<Instant> = None;
        loop {
            tokio::select! {
                () = stop.cancelled() => return self,
                () = sleep(back_off) => {}
            }
            if self.pid.is_some() && !self.exited() {
                continue;
            }
            tracing::error!(
                data_dir = %self.dir.display(),
                "the embedded redis-server is gone (killed or crashed): starting it again on its data"
            );
            let started = tokio::select! {
                r = self.start_again() => Some(r),
                () = stop.cancelled() => None,
            };
            match started {
                None => return self,
                Some(Ok(())) => {
                    tracing::warn!(pid = ?self.pid, "the embedded redis-server runs again");
                    // One that dies again at once is not restarted every half second.
                    if up_since.is_some_and(|t| t.elapsed() < STAYED_UP) {
                        back_off = (back_off * 2).min(MAX_BACK_OFF);
                    } else {
                        back_off = WATCH;
                    }
                    up_since = Some(Instant::now());
                }
                Some(Err(e)) => {
                    tracing::error!(error = %e, retry_in = ?back_off, "could not start the embedded redis-server again");
                    tokio::select! {
                        () = stop.cancelled() => return self,
                        () = sleep(back_off) => {}
                    }
                    back_off = (back_off * 2).min(MAX_BACK_OFF);
                }
            }
        }
    }

    async fn adopt_or_clear(&mut self) -> Result<bool, EmbeddedError> {
        let record = self.dir.join(RECORD);
        if let Some((pid, ep)) = read_record(&record).filter(|(pid, _)| pid_alive(*pid)) {
            let wanted = self.socket.clone();
            let recorded_socket = match &ep {
                Endpoint::Unix(s) => Some(s.clone()),
                Endpoint::Tcp(_) => None,
            };
            if let Endpoint::Tcp(port) = ep {
                self.port = port;
            }
            self.socket = recorded_socket;
            let ready = self.wait_ready(pid, true).await?;
            if self.lock.is_none() {
                // Sharing a running service's server: use it as it is, or not at all (its
                // owner decides whether it is stopped or restarted).
                if matches!(ready, Wait::Ready) && self.socket == wanted {
                    self.pid = Some(pid);
                    return Ok(true);
                }
                return Err(EmbeddedError::InUse {
                    dir: self.dir.display().to_string(),
                });
            }
            match ready {
                Wait::Ready if self.socket == wanted => {
                    self.pid = Some(pid);
                    let dir = self.dir.display();
                    tracing::warn!(pid, port = self.port, %dir, "adopted a redis-server left running by a previous livepack run");
                    return Ok(true);
                }
                // Left by a run in the other mode (e.g. TCP before private mode existed): stop
                // it gracefully (AOF flushed) and start one listening as configured.
                Wait::Ready => {
                    tracing::warn!(
                        pid,
                        "redis-server left on the data dir listens differently; restarting it"
                    );
                    self.pid = Some(pid);
                    self.halt().await;
                    if pid_alive(pid) {
                        return Err(EmbeddedError::StaleServer { pid });
                    }
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
            (self.socket, self.port) = (wanted, 0);
        }
        if self.lock.is_some() {
            let _ = std::fs::remove_file(&record);
        }
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
        match &self.socket {
            Some(socket) => {
                let _ = std::fs::remove_file(socket); // left by a killed server
                cmd.args(["--port", "0", "--unixsocket"]).arg(socket);
                cmd.args(["--unixsocketperm", "700"]);
            }
            None => {
                cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"]);
            }
        }
        cmd.arg("--dir")
            .arg(&self.dir)
            .args(["--appendonly", "yes"]);
        cmd.args(["--appendfsync", fsync, "--save", "", "--daemonize", "no"]);
        cmd.arg("--pidfile").arg(self.dir.join("redis.pid"));
        cmd.arg("--logfile").arg(&log_path);
        cmd.args(["--protected-mode", "yes"]);
        cmd.args(REDIS_TUNING);
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
        let json = match &self.socket {
            Some(s) => serde_json::json!({ "pid": pid, "port": 0, "socket": s }),
            None => serde_json::json!({ "pid": pid, "port": self.port }),
        }
        .to_string();
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
        self.halt().await;
        let log_tail = log_tail(&log_path, offset);
        Err(match ready {
            Wait::Exited(status) => EmbeddedError::Exited { status, log_tail },
            _ => EmbeddedError::StartTimeout { port, log_tail },
        })
    }

    /// Polls until the server answers PING and serves our dir. `adopting`: give up at the first
    /// wrong answer (only `LOADING` is worth waiting for). A server loading its data is waited
    /// for up to `load_deadline`; anything else up to `start_deadline`.
    async fn wait_ready(&mut self, pid: u32, adopting: bool) -> io::Result<Wait> {
        let started = Instant::now();
        // (Capped: an `Instant` plus a huge duration panics.)
        let (deadline, load_deadline) = (
            started + self.opts.start_deadline.min(LOAD_DEADLINE * 4),
            started + self.opts.load_deadline.min(LOAD_DEADLINE * 4),
        );
        let mut said_loading = false;
        loop {
            let ep = self.endpoint();
            let probe = probe(&ep, &self.dir);
            let probed = match &mut self.child {
                Some(child) => tokio::select! {
                    status = child.wait() => return Ok(Wait::Exited(status?.to_string())),
                    probed = probe => probed,
                },
                None if !pid_alive(pid) => return Ok(Wait::Exited("process gone".into())),
                None => probe.await,
            };
            let loading = Instant::now() < load_deadline;
            match probed {
                Probe::Ready => {
                    if said_loading {
                        let took = started.elapsed();
                        tracing::info!(pid, ?took, "embedded redis-server loaded its data");
                    }
                    return Ok(Wait::Ready);
                }
                Probe::Loading if loading => {
                    if !said_loading {
                        said_loading = true;
                        let limit = self.opts.load_deadline;
                        tracing::info!(
                            pid,
                            ?limit,
                            "embedded redis-server is loading its data; waiting for it"
                        );
                    }
                    sleep(POLL).await;
                }
                // A loading server answers only between batches of its AOF: a probe it missed
                // (its process still alive, checked above) is not a hang.
                Probe::Other if said_loading && loading => sleep(POLL).await,
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
        if self.sharing() {
            return; // a running service's server
        }
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

fn read_record(path: &Path) -> Option<(u32, Endpoint)> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let pid = u32::try_from(v.get("pid")?.as_u64()?).ok()?;
    if let Some(s) = v.get("socket").and_then(|s| s.as_str()) {
        return Some((pid, Endpoint::Unix(PathBuf::from(s))));
    }
    Some((
        pid,
        Endpoint::Tcp(u16::try_from(v.get("port")?.as_u64()?).ok()?),
    ))
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
async fn probe(ep: &Endpoint, dir: &Path) -> Probe {
    let same_dir = |d: &[u8]| std::fs::canonicalize(OsStr::from_bytes(d)).is_ok_and(|d| d == dir);
    let Ok(mut c) = connect(ep).await else {
        return Probe::Other;
    };
    let mut pipe = redis::pipe();
    pipe.cmd("PING").cmd("CONFIG").arg("GET").arg("dir");
    let replies: redis::RedisResult<(String, Vec<Vec<u8>>)> =
        bounded(pipe.query_async(&mut c)).await;
    match replies {
        Ok((pong, kv)) if pong == "PONG" && matches!(kv.as_slice(), [_, d] if same_dir(d)) => {
            Probe::Ready
        }
        Err(e) if e.code() == Some("LOADING") => Probe::Loading,
        _ => Probe::Other,
    }
}

/// `SHUTDOWN`: success is the server closing the connection without a reply.
async fn shutdown(ep: &Endpoint) -> bool {
    let Ok(mut c) = connect(ep).await else {
        return false;
    };
    let reply: redis::RedisResult<redis::Value> =
        bounded(redis::cmd("SHUTDOWN").query_async(&mut c)).await;
    match reply {
        Err(e) if e.is_connection_dropped() => true,
        reply => {
            tracing::warn!(?reply, "redis-server refused SHUTDOWN");
            false
        }
    }
}

/// A fresh connection to the server (RESP2, db 0, no `CLIENT SETINFO`), within `IO_TIMEOUT`.
async fn connect(ep: &Endpoint) -> redis::RedisResult<MultiplexedConnection> {
    let addr = match ep {
        Endpoint::Tcp(port) => ConnectionAddr::Tcp("127.0.0.1".into(), *port),
        Endpoint::Unix(path) => ConnectionAddr::Unix(path.clone()),
    };
    let info = addr
        .into_connection_info()?
        .set_redis_settings(RedisConnectionInfo::default().set_skip_set_lib_name());
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(IO_TIMEOUT))
        .set_response_timeout(Some(IO_TIMEOUT));
    let client = redis::Client::open(info)?;
    bounded(client.get_multiplexed_async_connection_with_config(&config)).await
}

/// A call to the server under `IO_TIMEOUT` (the connection's own timeouts bound each step;
/// this bounds the whole).
async fn bounded<T>(
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    timeout(IO_TIMEOUT, call).await.unwrap_or_else(|_| {
        Err(io::Error::new(io::ErrorKind::TimedOut, "redis did not reply in time").into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    #[test]
    fn check_setup_names_the_key_serve_would_refuse() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("afile");
        std::fs::write(&file, b"x").unwrap();
        let e = check_setup(&file, "sh").unwrap_err();
        assert!(e.starts_with("redis.data_dir:"), "{e}");
        let e = check_setup(&file.join("data"), "sh").unwrap_err();
        assert!(e.starts_with("redis.data_dir:"), "{e}");
        let e = check_setup(tmp.path(), "/nonexistent/redis-server").unwrap_err();
        assert!(e.starts_with("redis.bin:"), "{e}");
        let e = check_setup(tmp.path(), "no-such-redis-server-here").unwrap_err();
        assert!(e.starts_with("redis.bin:"), "{e}");
        // A directory still to be made, and a program in PATH: fine.
        check_setup(&tmp.path().join("new/data"), "sh").unwrap();
    }

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

    async fn cmd(r: &EmbeddedRedis, args: &[&str]) -> Value {
        let mut c = connect(&r.endpoint()).await.unwrap();
        redis::cmd(args[0])
            .arg(&args[1..])
            .query_async(&mut c)
            .await
            .unwrap()
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn stop_then_start_reloads_the_aof() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data dir"); // created; the space survives Redis' arg quoting
        let mut r = start(&dir).await;
        assert!(r.is_alive().await);
        assert_eq!(r.url(), format!("redis://127.0.0.1:{}/0", r.port()));
        assert_eq!(r.data_dir(), std::fs::canonicalize(&dir).unwrap());
        assert_eq!(cmd(&r, &["SET", "k", "v1"]).await, Value::Okay);
        // A hash with a 1 KB value stays a listpack (Redis' default would make it a table).
        let kb = "x".repeat(1024);
        cmd(&r, &["HSET", "h", "data", &kb, "st", "waved"]).await;
        assert_eq!(
            cmd(&r, &["OBJECT", "ENCODING", "h"]).await,
            bulk("listpack")
        );
        let pid = r.pid().unwrap();
        assert_eq!(
            read_record(&dir.join(RECORD)),
            Some((pid, Endpoint::Tcp(r.port())))
        );
        r.stop().await;
        r.stop().await; // idempotent
        assert!(!pid_alive(pid) && r.pid().is_none() && !r.is_alive().await);
        assert!(!dir.join(RECORD).exists());
        let mut r = start(&dir).await;
        assert_ne!(r.pid(), Some(pid));
        assert_eq!(cmd(&r, &["GET", "k"]).await, bulk("v1"));
        r.stop().await;
    }

    /// The data dir's lock still held a moment after its instance stopped (by a copy of the
    /// descriptor in a child forked then, say) is waited for; one held on answers `InUse`.
    #[tokio::test]
    async fn a_start_waits_briefly_for_the_data_dirs_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let hold = || {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(tmp.path().join(LOCK))
                .unwrap();
            f.try_lock().unwrap();
            f
        };
        let held = hold();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let release = tokio::spawn(async move {
            let _ = rx.await;
            drop(held);
        });
        let start = EmbeddedRedis::start(EmbeddedOptions::new(tmp.path()));
        let (r, ()) = tokio::join!(start, async {
            sleep(Duration::from_millis(300)).await; // the lock outlives its instance a while
            tx.send(()).unwrap();
        });
        release.await.unwrap();
        let mut r = r.unwrap();
        assert!(r.is_alive().await);
        r.stop().await;
        let _held = hold();
        let err = EmbeddedRedis::start(EmbeddedOptions::new(tmp.path()))
            .await
            .unwrap_err();
        assert!(matches!(err, EmbeddedError::InUse { .. }), "{err}");
    }

    /// A server replaying its AOF answers `LOADING`: a start waits for it past the start
    /// deadline instead of killing it mid-load (a large site's AOF takes longer than 10 s).
    #[tokio::test]
    async fn a_start_waits_for_a_server_loading_its_data() {
        let tmp = tempfile::tempdir().unwrap();
        let mut r = start(tmp.path()).await;
        let mut c = connect(&r.endpoint()).await.unwrap();
        let mut pipe = redis::pipe();
        for i in 0..20_000 {
            pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
        }
        let () = pipe.query_async(&mut c).await.unwrap();
        r.stop().await;
        // Redis' `key-load-delay` (µs a key): the 20,000 keys load in at least 3 s, three times
        // the start deadline. (A loading server answers between batches of 1,024 commands
        // of its AOF, here every 150 ms or more.)
        let slow = opts(tmp.path(), |o| {
            o.extra_args = vec!["--key-load-delay".into(), "150".into()];
            o.start_deadline = Duration::from_secs(1);
        });
        let began = Instant::now();
        let mut r = EmbeddedRedis::start(slow).await.unwrap();
        // Not a speed check: the load (≥ 3 s) outlived the start deadline, so the start waited
        // on `LOADING`.
        assert!(began.elapsed() >= Duration::from_secs(3));
        assert_eq!(cmd(&r, &["DBSIZE"]).await, Value::Int(20_000));
        r.stop().await;
    }

    /// The settings an embedded server runs with are the ones `deploy/compose.yaml` gives an
    /// external Redis and the benchmarks give theirs (`load-tests/lib.sh`).
    #[test]
    fn compose_and_the_benchmarks_tune_redis_as_the_embedded_server() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let lib = std::fs::read_to_string(root.join("load-tests/lib.sh")).unwrap();
        let want = format!("EMBEDDED_REDIS_ARGS=\"{}\"", REDIS_TUNING.join(" "));
        assert!(
            lib.lines().any(|l| l == want),
            "load-tests/lib.sh lacks {want}"
        );
        let compose = std::fs::read_to_string(root.join("deploy/compose.yaml")).unwrap();
        // The list under `services:` → `redis:` → `command:`, up to the next key.
        let args: Vec<&str> = compose
            .lines()
            .skip_while(|l| *l != "services:")
            .skip_while(|l| *l != "  redis:")
            .skip_while(|l| *l != "    command:")
            .skip(1)
            .filter(|l| !l.trim_start().starts_with('#'))
            .map_while(|l| l.trim().strip_prefix("- "))
            .map(|a| a.trim_matches('"'))
            .collect();
        assert!(
            args.first() == Some(&"redis-server"),
            "no redis command list in deploy/compose.yaml: {args:?}"
        );
        for pair in REDIS_TUNING.chunks(2) {
            assert!(
                args.windows(2).any(|w| w == pair),
                "deploy/compose.yaml lacks {pair:?}"
            );
        }
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
        assert_eq!(cmd(&r, &["DBSIZE"]).await, Value::Int(100));
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

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn private_mode_listens_on_a_0700_socket_only_and_is_adopted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A TCP server left by an older run on the same dir is restarted in private mode.
        let mut old = start(&dir).await;
        cmd(&old, &["SET", "k", "kept"]).await;
        let (old_pid, old_port) = (old.pid().unwrap(), old.port());
        old.detach();
        drop(old);
        let mut a = EmbeddedRedis::start(EmbeddedOptions::private(&dir))
            .await
            .unwrap();
        assert!(!pid_alive(old_pid));
        assert!(connect(&Endpoint::Tcp(old_port)).await.is_err());
        let dir = std::fs::canonicalize(&dir).unwrap();
        let socket = dir.join(SOCKET);
        assert_eq!(a.socket(), Some(socket.as_path()));
        assert_eq!(a.port(), 0);
        assert_eq!(a.url(), format!("redis+unix://{}?db=0", socket.display()));
        assert_eq!(mode(&dir), 0o700, "data dir");
        assert_eq!(mode(&socket), 0o700, "socket");
        assert_eq!(cmd(&a, &["GET", "k"]).await, bulk("kept"));
        let no_tcp = vec![bulk("port"), bulk("0")];
        assert_eq!(
            cmd(&a, &["CONFIG", "GET", "port"]).await,
            Value::Array(no_tcp)
        );
        // The redis crate speaks the URL.
        let client = redis::Client::open(a.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let got: String = redis::cmd("GET")
            .arg("k")
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(got, "kept");
        // Killed livepack: the next start adopts the server on its socket.
        let pid = a.pid().unwrap();
        a.detach();
        drop(a);
        let mut b = EmbeddedRedis::start(EmbeddedOptions::private(&dir))
            .await
            .unwrap();
        assert_eq!(b.pid(), Some(pid));
        // Killed redis: started again on the same socket, AOF reloaded.
        b.kill();
        b.start_again().await.unwrap();
        assert_eq!(cmd(&b, &["GET", "k"]).await, bulk("kept"));
        b.stop().await;
        assert!(!pid_alive(pid) && !dir.join(RECORD).exists());
        // SAFETY: reaps the detached children's zombies; nothing else waits for them.
        unsafe {
            libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
            libc::waitpid(old_pid as libc::pid_t, std::ptr::null_mut(), 0);
        };
    }

    #[tokio::test]
    async fn private_mode_refuses_a_socket_path_too_long() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d".repeat(110));
        let err = EmbeddedRedis::start(EmbeddedOptions::private(&dir))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("redis.data_dir"), "{err}");
    }

    #[tokio::test]
    async fn probe_knows_its_server_and_shutdown_stops_it() {
        let tmp = tempfile::tempdir().unwrap();
        let mut r = start(tmp.path()).await;
        let (ep, pid) = (r.endpoint(), r.pid().unwrap());
        assert_eq!(probe(&ep, r.data_dir()).await, Probe::Ready);
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(probe(&ep, elsewhere.path()).await, Probe::Other);
        assert!(shutdown(&ep).await, "SHUTDOWN closes the connection");
        assert!(r.wait_exit(pid, STOP_DEADLINE).await);
        assert_eq!(probe(&ep, r.data_dir()).await, Probe::Other);
        assert!(!shutdown(&ep).await, "nobody to shut down");
        r.stop().await;
    }

    #[tokio::test]
    async fn two_instances_with_free_ports_run_side_by_side() {
        let (t1, t2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (mut a, mut b) = tokio::join!(start(t1.path()), start(t2.path()));
        assert_ne!(a.port(), b.port());
        cmd(&a, &["SET", "only", "a"]).await;
        assert_eq!(cmd(&b, &["GET", "only"]).await, Value::Nil);
        a.stop().await;
        assert!(b.is_alive().await);
        b.stop().await;
    }
}
