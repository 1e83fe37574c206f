//! Redis: the only place state lives. A small pool of multiplexed connections (or a
//! cluster connection), every call bounded by a timeout, every multi-key write one Lua
//! script on one `{site}` slot.

pub mod archive;
pub mod bindings;
pub mod booking;
pub mod cod;
pub mod doc;
pub mod embedded;
pub mod floor;
pub mod handover;
pub mod keys;
pub mod observe;
mod orders;
pub mod persistence;
pub mod records;
pub mod repack;
mod risk;
pub mod shipments;
pub mod stream;
pub mod tombstones;
pub mod waves;

use crate::metric_names as names;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

pub use orders::{
    CancelOutcome, IngestOutcome, Normalized, OrderData, OrderDataRef, OrderRecord, SessionRecord,
    StoreOrder,
};

use crate::config::RedisConfig;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    /// `redis.replicas > 0` and fewer replicas confirmed a write in time: the write is on
    /// the primary only, so it is not acked (a 503 / a nack, not a corrupt store).
    #[error("only {got} of {want} replicas confirmed the write in time")]
    Replicas { got: i64, want: u32 },
    /// The write ran; confirming it to the replicas (`WAIT`) failed: it may be stored.
    #[error("the write ran, then confirming it failed: {0}")]
    AfterWrite(String),
}

impl StoreError {
    /// An error of confirming a write that already ran (`WAIT`): whatever it was, the write
    /// may be stored ([`Self::may_have_run`]).
    pub fn after_write(self) -> StoreError {
        match self {
            e @ StoreError::Replicas { .. } => e,
            other => StoreError::AfterWrite(other.to_string()),
        }
    }

    /// Whether the failed call may still have run in Redis: it was sent and then timed out
    /// or lost its connection, or it ran and too few replicas confirmed it (or its answer
    /// came and could not be read). A reply error, a refused connection: false (it did not
    /// run). Ingest then cannot say "nothing stored" (a nack): it closes the connection
    /// instead, and the client resends what has no reply.
    pub fn may_have_run(&self) -> bool {
        match self {
            StoreError::Timeout(_)
            | StoreError::Replicas { .. }
            | StoreError::AfterWrite(_)
            | StoreError::Corrupt(_) => true,
            StoreError::Redis(e) => {
                !e.is_connection_refusal()
                    && (e.is_io_error() || e.is_connection_dropped() || e.is_timeout())
            }
        }
    }

    /// Whether Redis itself is unreachable or not taking writes (connection refused or
    /// dropped, a timeout, a cluster without a master, a loading or read-only server, too
    /// few replicas): what the ingest breaker trips on. A reply error to one command (a
    /// wrong type, a script error) is that request's failure only and returns false.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Timeout(_) | StoreError::Replicas { .. } | StoreError::AfterWrite(_) => {
                true
            }
            StoreError::Corrupt(_) => false,
            StoreError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    || e.is_cluster_error()
                    || matches!(
                        e.code(),
                        Some(
                            "LOADING"
                                | "MASTERDOWN"
                                | "READONLY"
                                | "NOREPLICAS"
                                | "MISCONF"
                                | "BUSY"
                                | "CLUSTERDOWN"
                                | "TRYAGAIN"
                        )
                    )
            }
        }
    }
}

/// Bulk read pipelines ([`Store::read_hashes`]) in flight at once, across the process.
const BULK_READS: usize = 2;

/// One connection of the pool: a single server or a cluster.
#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

struct Scripts {
    ingest: redis::Script,
    end_session: redis::Script,
    cancel: redis::Script,
    absorb: redis::Script,
    take: redis::Script,
    commit_wave: redis::Script,
    lease: redis::Script,
    pick: redis::Script,
    packed: redis::Script,
    booked: redis::Script,
    carrier_status: redis::Script,
    pin: redis::Script,
    cod_record: redis::Script,
}

struct Inner {
    /// When a Redis call last found Redis unavailable (ms since the epoch; 0: never).
    last_failure_ms: std::sync::atomic::AtomicI64,
    /// When a seller's ingest at a site last found Redis unavailable (site → seller → ms):
    /// the ingest breaker is per site and seller (on a cluster one master down must not
    /// stop the sites whose slots live on the others; one seller's flood timing out must
    /// not nack another's frames, contract §8) and only trips on unavailability, never on
    /// another request's reply error. A Redis that is down trips each seller's breaker at
    /// its own first timeout.
    site_failures:
        std::sync::Mutex<std::collections::HashMap<String, std::collections::HashMap<String, i64>>>,
    conns: Vec<RedisConn>,
    next: AtomicUsize,
    /// The connection of bulk reads ([`Store::read_hashes`]: a day's parcels for a waves
    /// list, a shipment's for a label's `k/n`), apart from `conns`, and the turns they take.
    /// A station's reads of a big day (20,000 parcels of 100 lines each, megabytes a
    /// pipeline) shared the pool with every site's ingest and planner: replies queued behind
    /// them on the multiplexed connections past the command time limit, and another site's
    /// seller saw its connection closed (1011) and its planner lose its lease (review Z).
    bulk: RedisConn,
    bulk_turns: tokio::sync::Semaphore,
    timeout: Duration,
    replicas: u32,
    replicas_timeout_ms: u64,
    /// `redis.pack_documents`: order records, parcel and wave documents are written packed
    /// (`doc`).
    pack_documents: bool,
    scripts: Scripts,
    /// An external Redis not yet known to persist (it was not reachable at start, or it has
    /// AOF off): why. Ingest nacks and `/readyz` is 503 while set (`persistence.rs`).
    unverified: std::sync::RwLock<Option<String>>,
    /// The config's sellers and sites not yet checked against Redis (`bindings.rs`): why.
    /// Ingest nacks and `/readyz` is 503 while set, as for `unverified`.
    bindings_unchecked: std::sync::RwLock<Option<String>>,
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// The per-order ingest script, for tools that drive it directly (the benchmark).
pub const INGEST_LUA: &str = include_str!("lua/ingest.lua");

impl Store {
    /// What is written for a document: packed by `pack` (`doc`) when `redis.pack_documents`
    /// is on, its JSON as it is otherwise.
    fn document<'a>(
        &self,
        json: &'a [u8],
        pack: fn(&[u8]) -> Vec<u8>,
    ) -> std::borrow::Cow<'a, [u8]> {
        if self.inner.pack_documents {
            std::borrow::Cow::Owned(pack(json))
        } else {
            std::borrow::Cow::Borrowed(json)
        }
    }

    /// An order's record (JSON) as the ingest script stores it: packed when
    /// `redis.pack_documents` is on. Ingest asks for it as soon as it built the record, so an
    /// order waiting for its turn at Redis holds the packed bytes (about 420) rather than the
    /// JSON's buffer (about 1.6 KB): less memory, and fewer fresh pages to fault in, while a
    /// surge is in flight (issue 20).
    pub fn stored_record(&self, json: Vec<u8>) -> Vec<u8> {
        match self.document(&json, doc::pack_order) {
            std::borrow::Cow::Owned(packed) => packed,
            std::borrow::Cow::Borrowed(_) => json,
        }
    }

    /// Connects lazily: the service starts even while Redis is down, and `/readyz` says so.
    pub async fn connect(cfg: &RedisConfig, url: &str) -> Result<Store, StoreError> {
        let timeout = Duration::from_millis(cfg.command_timeout_ms);
        let nodes: Vec<&str> = url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let mut conns = Vec::with_capacity(cfg.pool_size + 1);
        if nodes.len() > 1 {
            let client = redis::cluster::ClusterClient::builder(nodes)
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .build()?;
            let conn = tokio::time::timeout(timeout * 3, client.get_async_connection())
                .await
                .map_err(|_| StoreError::Timeout(timeout * 3))??;
            conns.push(RedisConn::Cluster(conn));
        } else {
            let client = redis::Client::open(url)?;
            // The pool, then the bulk reads' connection.
            for _ in 0..=cfg.pool_size {
                let mcfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                let cm = ConnectionManager::new_lazy_with_config(client.clone(), mcfg)?;
                conns.push(RedisConn::Single(cm));
            }
        }
        // A cluster connection routes each command to its node: bulk reads share it.
        let bulk = match conns.last() {
            Some(RedisConn::Single(_)) if conns.len() > 1 => conns.pop(),
            other => other.cloned(),
        }
        .expect("at least one connection");
        Ok(Store {
            inner: Arc::new(Inner {
                last_failure_ms: std::sync::atomic::AtomicI64::new(0),
                site_failures: Default::default(),
                conns,
                bulk,
                bulk_turns: tokio::sync::Semaphore::new(BULK_READS),
                next: AtomicUsize::new(0),
                timeout,
                replicas: cfg.replicas,
                replicas_timeout_ms: cfg.replicas_timeout_ms,
                pack_documents: cfg.pack_documents,
                scripts: Scripts {
                    ingest: redis::Script::new(INGEST_LUA),
                    end_session: redis::Script::new(include_str!("lua/end_session.lua")),
                    cancel: redis::Script::new(include_str!("lua/cancel.lua")),
                    absorb: redis::Script::new(include_str!("lua/absorb.lua")),
                    take: redis::Script::new(include_str!("lua/take.lua")),
                    commit_wave: redis::Script::new(include_str!("lua/commit_wave.lua")),
                    lease: redis::Script::new(include_str!("lua/lease.lua")),
                    pick: redis::Script::new(include_str!("lua/pick.lua")),
                    packed: redis::Script::new(include_str!("lua/packed.lua")),
                    booked: redis::Script::new(include_str!("lua/booked.lua")),
                    carrier_status: redis::Script::new(include_str!("lua/carrier_status.lua")),
                    pin: redis::Script::new(include_str!("lua/pin.lua")),
                    cod_record: redis::Script::new(include_str!("lua/cod_record.lua")),
                },
                unverified: Default::default(),
                bindings_unchecked: Default::default(),
            }),
        })
    }

    /// A connection from the pool, round robin.
    pub fn conn(&self) -> RedisConn {
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.inner.conns.len();
        self.inner.conns[n].clone()
    }

    /// `EVALSHA script` with `keys` keys, room made for `args` more arguments (keys
    /// included) of `bytes` in all: add the keys, then the arguments, and run it with
    /// [`Store::run_script`]. A `ScriptInvocation` would copy every argument into a vector
    /// of its own before copying it into the command, and a command grown one argument at a
    /// time copies itself each time it doubles: for an ingest call of 1,000 orders, a
    /// megabyte each (issue 20).
    pub fn evalsha(script: &redis::Script, keys: usize, args: usize, bytes: usize) -> Cmd {
        let mut cmd = Cmd::with_capacity(3 + args, 64 + bytes);
        cmd.arg("EVALSHA").arg(script.get_hash()).arg(keys);
        cmd
    }

    /// Runs an [`Store::evalsha`] command; if Redis does not know the script (a restart,
    /// `SCRIPT FLUSH`), loads it and runs the command again, as `invoke_async` does.
    pub async fn run_script<T: redis::FromRedisValue>(
        conn: &mut RedisConn,
        script: &redis::Script,
        cmd: &Cmd,
    ) -> redis::RedisResult<T> {
        match cmd.query_async(conn).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                script.prepare_invoke().load_async(conn).await?;
                cmd.query_async(conn).await
            }
            other => other,
        }
    }

    /// Runs a pipeline of reads (one reply per command) under the time bound. No commands,
    /// no replies: redis-rs answers an empty pipeline with a client error ("empty
    /// command"), which callers given an empty list of ids must not see.
    pub async fn read_pipe<T: redis::FromRedisValue>(
        &self,
        op: &'static str,
        pipe: &redis::Pipeline,
    ) -> Result<Vec<T>, StoreError> {
        self.read_pipe_on(self.conn(), op, pipe).await
    }

    /// [`Store::read_pipe`] on the connection given.
    async fn read_pipe_on<T: redis::FromRedisValue>(
        &self,
        mut conn: RedisConn,
        op: &'static str,
        pipe: &redis::Pipeline,
    ) -> Result<Vec<T>, StoreError> {
        if pipe.is_empty() {
            return Ok(Vec::new());
        }
        self.bounded(op, pipe.query_async(&mut conn)).await
    }

    /// A pipeline of `HGETALL`s: each hash with its `data` unpacked ([`doc::hash_text`]).
    /// Bulk reads: on their own connection, [`BULK_READS`] pipelines at a time (each read
    /// and unpacked in its turn), so that many of them wait for each other, not ingest.
    pub async fn read_hashes(
        &self,
        op: &'static str,
        pipe: &redis::Pipeline,
    ) -> Result<Vec<std::collections::HashMap<String, String>>, StoreError> {
        // (The semaphore is never closed.)
        let _turn = self.inner.bulk_turns.acquire().await.ok();
        let raw: Vec<std::collections::HashMap<String, Vec<u8>>> =
            self.read_pipe_on(self.inner.bulk.clone(), op, pipe).await?;
        raw.into_iter().map(doc::hash_text).collect()
    }

    /// Runs one Redis operation under the configured time bound, counting failures.
    pub async fn bounded<T, F>(&self, op: &'static str, fut: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let result = match tokio::time::timeout(self.inner.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(StoreError::Redis(e)),
            Err(_) => Err(StoreError::Timeout(self.inner.timeout)),
        };
        // BUSYGROUP / NOGROUP (creating the consumer group) and FENCED (a planner that lost
        // its site steps down) are answers the callers expect and handle, not an unhealthy
        // Redis: they neither trip the breaker nor count.
        if let Err(e) = &result {
            let expected = matches!(e, StoreError::Redis(e)
                if matches!(e.code(), Some("BUSYGROUP") | Some("NOGROUP") | Some("FENCED")));
            if !expected {
                let kind = if e.is_unavailable() {
                    self.inner
                        .last_failure_ms
                        .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
                    "unavailable"
                } else {
                    "reply"
                };
                metrics::counter!(names::REDIS_ERRORS, "op" => op, "kind" => kind).increment(1);
            }
        }
        result
    }

    /// With `redis.replicas > 0`: waits until that many replicas have every write this
    /// connection made so far. Fails (so the caller nacks) when fewer confirm in time.
    /// `key` is a key the write touched: on a cluster, `WAIT` goes to the master of its slot
    /// (the cluster client would otherwise send it to every master and fail while any one
    /// of them is down).
    async fn wait_replicas(&self, conn: &mut RedisConn, key: &str) -> Result<(), StoreError> {
        let n = self.inner.replicas;
        if n == 0 {
            return Ok(());
        }
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(n).arg(self.inner.replicas_timeout_ms);
        let got: i64 = match conn {
            RedisConn::Single(c) => self.bounded("wait", cmd.query_async(c)).await?,
            RedisConn::Cluster(c) => {
                use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                    Route::with_key(key, SlotAddr::Master),
                ));
                let v = self.bounded("wait", c.route_command(cmd, route)).await?;
                redis::from_redis_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))?
            }
        };
        if got < i64::from(n) {
            return Err(StoreError::Replicas { got, want: n });
        }
        Ok(())
    }

    /// Whether a Redis call failed in the last `ms` milliseconds.
    pub fn failed_within(&self, ms: i64) -> bool {
        let last = self.inner.last_failure_ms.load(Ordering::Relaxed);
        last > 0 && chrono::Utc::now().timestamp_millis() - last < ms
    }

    /// Why no order may be acked yet: an external Redis not yet known to persist (see
    /// `persistence.rs`), or the config's sellers and sites not yet checked against it
    /// (`bindings.rs`); `None` once both are checked.
    pub fn unverified(&self) -> Option<String> {
        let read = |l: &std::sync::RwLock<Option<String>>| {
            l.read().unwrap_or_else(|e| e.into_inner()).clone()
        };
        read(&self.inner.unverified).or_else(|| read(&self.inner.bindings_unchecked))
    }

    pub fn set_bindings_unchecked(&self, why: Option<String>) {
        *self
            .inner
            .bindings_unchecked
            .write()
            .unwrap_or_else(|e| e.into_inner()) = why;
    }

    pub fn set_unverified(&self, why: Option<String>) {
        *self
            .inner
            .unverified
            .write()
            .unwrap_or_else(|e| e.into_inner()) = why;
    }

    /// Whether an ingest of `seller` at `site` found Redis unavailable in the last `ms`
    /// milliseconds (the ingest breaker: another seller's or request's error never trips it).
    pub fn ingest_failed_within(&self, site: &str, seller: &str, ms: i64) -> bool {
        let failures = self.inner.site_failures.lock();
        let last = failures
            .map(|f| {
                f.get(site)
                    .and_then(|s| s.get(seller))
                    .copied()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        last > 0 && chrono::Utc::now().timestamp_millis() - last < ms
    }

    /// Records a failed ingest of `seller` at `site` (see [`Store::ingest_failed_within`]);
    /// only unavailability counts.
    pub fn ingest_failed(&self, site: &str, seller: &str, err: &StoreError) {
        if !err.is_unavailable() {
            return;
        }
        if let Ok(mut f) = self.inner.site_failures.lock() {
            let now = chrono::Utc::now().timestamp_millis();
            f.entry(site.to_owned())
                .or_default()
                .insert(seller.to_owned(), now);
        }
    }

    /// `/readyz`: Redis reachable and taking writes; with `redis.replicas > 0`, writes that
    /// enough replicas confirm (else every frame would be nacked while this says ready).
    pub async fn ready(&self) -> Result<(), StoreError> {
        let mut c = self.conn();
        let _: () = self
            .bounded(
                "readyz",
                redis::cmd("SET")
                    .arg(keys::readyz())
                    .arg(chrono::Utc::now().timestamp_millis())
                    .arg("PX")
                    .arg(60_000)
                    .query_async(&mut c),
            )
            .await?;
        self.wait_replicas(&mut c, keys::readyz()).await
    }
}

/// A counter field of a Redis hash (missing or negative: 0).
pub fn field_u64(h: &std::collections::HashMap<String, String>, k: &str) -> u64 {
    h.get(k)
        .and_then(|v| v.parse::<i64>().ok())
        .map(|v| v.max(0) as u64)
        .unwrap_or(0)
}

/// A millisecond-timestamp field of a Redis hash (missing: the epoch).
pub fn field_ms(
    h: &std::collections::HashMap<String, String>,
    k: &str,
) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    h.get(k)
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(|v| chrono::Utc.timestamp_millis_opt(v).single())
        .unwrap_or_default()
}
