//! Layered configuration: the built-in `config/default.toml` < the file named by
//! `LIVEPACK_CONFIG` < environment variables `LIVEPACK__SECTION__KEY`.
//!
//! Everything is validated once at start; an invalid value fails with a message that
//! names the key. Secrets are wrapped in [`Secret`] so `Debug` never prints them.

mod demo;
pub mod pin;
mod secret;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveTime;
use figment::providers::{Format, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub use secret::Secret;
pub use validate::is_valid_id;

/// The demo configuration shipped with the service; it is also the base layer.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(Box<figment::Error>),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    /// An unknown value of an enum-typed key (`log.format`, `carriers[n].kind`) reads like a
    /// validation error, naming the key as validation does; other load errors as figment
    /// words them.
    fn from_figment(e: figment::Error) -> Self {
        use figment::error::Kind;
        let key_of = |path: &[String]| {
            path.iter().fold(String::new(), |mut key, part| {
                if part.bytes().all(|b| b.is_ascii_digit()) {
                    key.push_str(&format!("[{part}]"));
                } else {
                    if !key.is_empty() {
                        key.push('.');
                    }
                    key.push_str(part);
                }
                key
            })
        };
        // A wrong type, an unknown or missing key: named as validation names keys, in
        // serde's words, without figment's source location and type paths.
        match &e.kind {
            // (figment's path may already end with the field)
            Kind::UnknownField(field, _) => {
                let mut path = e.path.clone();
                if path.last() != Some(field) {
                    path.push(field.clone());
                }
                return ConfigError::invalid(key_of(&path), "unknown key");
            }
            Kind::MissingField(field) => {
                let mut path = e.path.clone();
                if path.last().map(String::as_str) != Some(field.as_ref()) {
                    path.push(field.to_string());
                }
                return ConfigError::invalid(key_of(&path), "is required");
            }
            Kind::InvalidType(..) | Kind::InvalidValue(..) | Kind::InvalidLength(..)
                if !e.path.is_empty() =>
            {
                return ConfigError::invalid(key_of(&e.path), e.kind.to_string());
            }
            // A type's own refusal (a secret that is not a string, a pickup time that does
            // not read), at a key; never a TOML syntax error (handled below).
            Kind::Message(m) if !e.path.is_empty() && !m.starts_with("TOML parse error") => {
                return ConfigError::invalid(key_of(&e.path), m.clone());
            }
            _ => {}
        }
        if let Kind::UnknownVariant(_, expected) = &e.kind {
            if !e.path.is_empty() {
                let key = key_of(&e.path);
                let quoted: Vec<String> = expected.iter().map(|v| format!("\"{v}\"")).collect();
                let message = match quoted.split_last() {
                    Some((last, rest)) if !rest.is_empty() => {
                        format!("expected {} or {last}", rest.join(", "))
                    }
                    _ => format!("expected {}", quoted.join(", ")),
                };
                return ConfigError::invalid(key, message);
            }
        }
        // A TOML syntax error quotes the line it is on, which may hold a token or a PIN:
        // only its position and what was expected are kept.
        let mut e = e;
        if let figment::error::Kind::Message(m) = &mut e.kind {
            if m.starts_with("TOML parse error") {
                *m = without_source_lines(m);
            }
        }
        ConfigError::Load(Box::new(e))
    }

    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub redis: RedisConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub planner: PlannerConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub sites: Vec<SiteConfig>,
    #[serde(default)]
    pub sellers: Vec<SellerConfig>,
    #[serde(default)]
    pub operator: OperatorConfig,
    #[serde(default)]
    pub carriers: Vec<CarrierConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// "host:port" (an IP address, or a host name such as `localhost`, resolved at start); port 0 picks a free one (the chosen address is logged).
    pub listen: String,
    /// Open WebSocket connections at most; more are refused with 503 before the upgrade.
    pub max_connections: usize,
    /// How long a graceful shutdown waits for in-flight requests and frames (then again
    /// for background work); a request still open after it is dropped.
    pub shutdown_grace_secs: u64,
    /// Optional second "host:port" serving only `/metrics` (and `/healthz`; anything else is
    /// the API's JSON 404/405); empty: off.
    pub admin_listen: String,
    /// Peers (CIDR) whose `X-Forwarded-For` names the client (a reverse proxy in front);
    /// from any other peer the header is ignored. Default: none.
    pub trusted_proxies: Vec<String>,
    /// A request's body must arrive in full within this many seconds, else 408.
    pub request_body_timeout_secs: u64,
}

impl ServerConfig {
    /// `trusted_proxies` parsed (validated at load: never fails on a loaded config).
    pub fn trusted_networks(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|s| parse_net(s))
            .collect()
    }
}

/// "10.0.0.0/8", "::1/128" or a bare address (a /32 or /128).
pub fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            max_connections: 10_000,
            shutdown_grace_secs: 10,
            request_body_timeout_secs: 15,
            admin_listen: String::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    Everysec,
    Always,
    No,
}

impl Fsync {
    pub fn as_str(self) -> &'static str {
        match self {
            Fsync::Everysec => "everysec",
            Fsync::Always => "always",
            Fsync::No => "no",
        }
    }
}

/// `redis.url`: the private `redis-server` this process runs ("embedded"), or an external
/// Redis (`redis://…`, `rediss://…`, or a comma-separated list of cluster nodes, checked by
/// validation). Read and written as the string.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "String", into = "String")]
pub enum RedisTarget {
    Embedded,
    Url(String),
}

impl RedisTarget {
    /// The URL of an external Redis; `None` when embedded.
    pub fn url(&self) -> Option<&str> {
        match self {
            RedisTarget::Embedded => None,
            RedisTarget::Url(url) => Some(url),
        }
    }
}

impl From<String> for RedisTarget {
    fn from(s: String) -> Self {
        if s == "embedded" {
            RedisTarget::Embedded
        } else {
            RedisTarget::Url(s)
        }
    }
}

impl From<RedisTarget> for String {
    fn from(t: RedisTarget) -> Self {
        match t {
            RedisTarget::Embedded => "embedded".into(),
            RedisTarget::Url(url) => url,
        }
    }
}

crate::domain::status::wire_enum! {
    /// `log.format`: human-readable lines or one JSON object per line.
    pub enum LogFormat ("log format") {
        Text = "text",
        Json = "json",
    }
}

crate::domain::status::wire_enum! {
    /// `[[carriers]] kind`: whose partner API a carrier account speaks (contract §7).
    pub enum CarrierKind ("carrier kind") {
        Viettelpost = "viettelpost",
        Ghtk = "ghtk",
        Ghn = "ghn",
        Mock = "mock",
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// "embedded", "redis://…", "rediss://…", or a comma-separated list of cluster nodes
    /// ("redis://a:7000,redis://b:7001").
    pub url: RedisTarget,
    /// Embedded mode: where the AOF and RDB files live.
    pub data_dir: PathBuf,
    /// Embedded mode: the redis-server binary.
    pub bin: String,
    /// Embedded mode: `appendfsync` (everysec | always | no).
    pub appendfsync: Fsync,
    /// Connections in the pool (each one is multiplexed); one more carries bulk reads (a
    /// day's parcels for a waves list, a shipment's for labels), two pipelines at a time.
    pub pool_size: usize,
    /// Bound on one Redis round trip; past it a frame is never acked: its connection closes
    /// with 1011 (outcome unknown: resend), or it is nacked if it never reached Redis.
    pub command_timeout_ms: u64,
    /// After a write, `WAIT replicas replicas_timeout_ms` before acking (0: off).
    pub replicas: u32,
    /// How long that `WAIT` may take; fewer replicas in time: no ack (the write is on the primary only, so no nack either: the connection closes for a resend).
    pub replicas_timeout_ms: u64,
    /// External Redis: start even if it has `appendonly no` (also `serve --allow-volatile`).
    pub allow_volatile: bool,
    /// Store order records and parcel documents zstd-packed (about a third of their JSON;
    /// packing costs the service about 2–3 µs of CPU per record at ingest and 2–3 µs per
    /// parcel in the planner) and wave documents LZ4-packed.
    /// Packed and plain documents always read back, so a rolling upgrade runs every instance
    /// with `false` first, then turns it on.
    pub pack_documents: bool,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: RedisTarget::Embedded,
            data_dir: PathBuf::from("./data"),
            bin: "redis-server".into(),
            appendfsync: Fsync::Everysec,
            pool_size: 4,
            command_timeout_ms: 2_000,
            replicas: 0,
            replicas_timeout_ms: 500,
            allow_volatile: false,
            pack_documents: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// WebSocket message size limit (bytes); over it the connection is closed with 1009.
    pub max_frame_bytes: usize,
    /// Orders in one `orders` frame at most.
    pub max_orders_per_frame: usize,
    /// Frames in flight (read, not yet answered) per connection; when full, reading stops.
    /// Reading also waits while 4 Redis calls of the connection are in flight; frames that
    /// arrived meanwhile are then read together.
    pub window: usize,
    /// Frames in flight across all connections.
    pub global_inflight: usize,
    /// Orders per second one connection may send; faster peers are slowed, not dropped.
    pub max_orders_per_sec: u32,
    /// Orders read but not yet answered, per connection; when reached, reading pauses.
    pub max_inflight_orders: usize,
    /// Orders sent to Redis and not answered yet, across all connections.
    pub global_inflight_orders: usize,
    /// Orders of one seller sent to Redis and not answered yet, all its connections together
    /// (at most `global_inflight_orders`; unset: a quarter of it): a seller pushing more
    /// waits behind its own orders, and up to three sellers at their full share still leave
    /// room in the global budget for everyone else.
    pub seller_inflight_orders: Option<usize>,
    /// No frame for this long: the server pings; twice: it closes the connection.
    pub idle_timeout_secs: u64,
    /// `retry_after_ms` in a nack.
    pub nack_retry_after_ms: u64,
    /// A `placed_at` further in the future than this is rejected.
    pub max_clock_skew_minutes: i64,
    /// A reply that cannot be written for this long (the peer does not read): the
    /// connection is closed.
    pub write_timeout_secs: u64,
    /// Open ingest connections per seller at most; more are refused with 429 before the
    /// upgrade.
    pub max_connections_per_seller: usize,
}

impl IngestConfig {
    /// One seller's share of the global order budget: `seller_inflight_orders`, else a
    /// quarter of `global_inflight_orders` (at least 1).
    pub fn seller_share(&self) -> usize {
        self.seller_inflight_orders
            .unwrap_or(self.global_inflight_orders / 4)
            .max(1)
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_frame_bytes: 256 * 1024,
            max_orders_per_frame: 500,
            window: 64,
            global_inflight: 4096,
            max_orders_per_sec: 100_000,
            max_inflight_orders: 5_000,
            global_inflight_orders: 10_000,
            seller_inflight_orders: None,
            idle_timeout_secs: 120,
            nack_retry_after_ms: 500,
            max_clock_skew_minutes: 15,
            write_timeout_secs: 20,
            max_connections_per_seller: 64,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlannerConfig {
    /// Run the per-site planners in this instance (one instance per site plans at a time,
    /// through a lease in Redis).
    pub enabled: bool,
    /// Names this instance in the lease; empty: host name + process id.
    pub instance_id: String,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            enabled: true,
            instance_id: String::new(),
        }
    }
}

/// How long orders stay in Redis ("hot") and where finished days are archived.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Run the archiver here: finished orders are written to the day's archive file, then
    /// expire from Redis after the hot period (the purge of buyers' personal data).
    pub enabled: bool,
    /// Days an order stays in Redis after it was handed over, delivered, returned or
    /// cancelled (at most 3650, as every day count here).
    pub hot_days: u32,
    /// Overrides `hot_days` in seconds (tests, drills).
    pub hot_secs: Option<u64>,
    /// `{archive_dir}/{site}/{YYYY-MM-DD}.jsonl.gz`, one line per order; shared by every
    /// instance that runs the archiver (a volume), or the archiver runs on one instance.
    /// Checked at start where the archiver runs: a directory the service can write (or one
    /// it can create there).
    pub archive_dir: PathBuf,
    /// How often the archiver looks for newly finished orders.
    pub scan_secs: u64,
    /// Orders still not finished this many days after their business day are archived as
    /// they are (and expire), so no personal data is kept forever.
    pub max_open_days: u32,
    /// Days an order id stays known after the order left Redis (a compact tombstone:
    /// seller, order id, short digest): a resend within them is `duplicate`, never new.
    /// Orders whose `placed_at` is older than this are rejected (`placed_at_too_old`).
    pub dedupe_days: u32,
    /// Overrides `dedupe_days` in seconds (tests, drills). Tombstones are kept in buckets
    /// of 30 days, or of this many seconds when set: changing it loses the tombstones.
    pub dedupe_secs: Option<u64>,
    /// Archive files (buyers' names, phones, addresses) are deleted this many days after
    /// their business day.
    pub archive_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            enabled: true,
            hot_days: 30,
            hot_secs: None,
            archive_dir: PathBuf::from("./archive"),
            scan_secs: 300,
            max_open_days: 7,
            dedupe_days: 90,
            dedupe_secs: None,
            archive_days: 365,
        }
    }
}

impl RetentionConfig {
    /// The hot period in milliseconds.
    pub fn hot_ms(&self) -> i64 {
        let secs = self
            .hot_secs
            .unwrap_or(u64::from(self.hot_days) * 24 * 3600);
        i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// The dedupe window (how long an order id stays known after its order left Redis,
    /// and how old a `placed_at` may be) in milliseconds.
    pub fn dedupe_ms(&self) -> i64 {
        let secs = self
            .dedupe_secs
            .unwrap_or(u64::from(self.dedupe_days) * 24 * 3600);
        i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// "text" or "json".
    pub format: LogFormat,
    /// A tracing filter, e.g. "info,livepack=debug"; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// A packing site (a workshop or a cooperative hub): its pickups, capacity, tablet PIN,
/// carriers and sender address.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// 1–64 of a-z 0-9 -; names the site in the API, the tablet sign-in and Redis keys.
    pub id: String,
    /// Shown on labels as the sender.
    pub name: String,
    /// Carrier pickup times "HH:MM", Asia/Ho_Chi_Minh, every day.
    pub pickups: Vec<String>,
    /// An order's deadline is `placed_at` + this many hours (1–336).
    #[serde(default = "default_sla_hours")]
    pub sla_hours: u32,
    /// An order goes to the first pickup at least this many minutes after it arrived (less
    /// than `sla_hours` × 60).
    #[serde(default = "default_min_pack_minutes")]
    pub min_pack_minutes: u32,
    /// People packing at once, for the capacity forecast.
    #[serde(default = "default_packers")]
    pub packers: u32,
    /// Tablet sign-in: at least 6 digits, or an argon2 hash from `livepack hash-pin`.
    pub station_pin: Secret,
    /// Ids of the `[[carriers]]` this site ships with.
    #[serde(default)]
    pub carriers: Vec<String>,
    /// Sender phone, as carriers need it for the pickup.
    #[serde(default)]
    pub phone: String,
    /// Sender province (old or post-2025 name; checked at start).
    #[serde(default)]
    pub province: String,
    /// Sender ward.
    #[serde(default)]
    pub ward: String,
    /// Sender street address.
    #[serde(default)]
    pub street: String,
    /// Packing effort, for capacity planning.
    #[serde(default = "default_minutes_per_order")]
    pub minutes_per_order: f64,
    /// Packing effort per pick-list line, added to `minutes_per_order`.
    #[serde(default = "default_minutes_per_line")]
    pub minutes_per_line: f64,
    /// Fewest orders in a wave: a smaller release that is not urgent waits.
    #[serde(default = "default_wave_min")]
    pub wave_min: usize,
    /// Most orders in a wave.
    #[serde(default = "default_wave_max")]
    pub wave_max: usize,
    /// While a session is live, an order may wait this long for the same buyer's next order.
    #[serde(default = "default_combine_window_secs")]
    pub combine_window_secs: u64,
    /// No order waits longer than this before it is released (a trickle is not held forever).
    #[serde(default = "default_max_hold_secs")]
    pub max_hold_secs: u64,
    /// While a pickup has slack, hold non-urgent orders until they fill whole waves (never
    /// more pick lines than FIFO). `false`: the earlier rule of many small waves early, which
    /// packs more orders by the pickup on a floor short of packers (79.6 % against 44.8 % in
    /// the morning-sale benchmark) at nearly twice the pick lines.
    #[serde(default = "default_true")]
    pub fill_waves: bool,
    /// Optional TikTok Shop VN style cut-off "HH:MM": orders placed before it are due that day.
    #[serde(default)]
    pub same_day_cutoff: Option<String>,
    /// SKU → bin location; unknown SKUs go to bin `UNASSIGNED`, listed last.
    #[serde(default)]
    pub bins: BTreeMap<String, String>,
    /// Carrier id → its own pickup times "HH:MM" at this site, for a carrier that does not
    /// collect at every one of `pickups` (default: `pickups`).
    #[serde(default)]
    pub carrier_pickups: BTreeMap<String, Vec<String>>,
    /// Every parcel of the site goes with this carrier (one of `carriers`): no quote
    /// comparison. Without it, each parcel goes with the cheapest carrier that makes its
    /// deadline.
    #[serde(default)]
    pub pinned_carrier: Option<String>,
    /// The PIN a supervisor types at a tablet to unpack a parcel already booked with the
    /// carrier (at least 6 digits, or an argon2 hash from `livepack hash-pin`; not the
    /// station's PIN, plain or hashed). None: such an unpack is refused at tablets (the
    /// operator token still can).
    #[serde(default)]
    pub supervisor_pin: Option<Secret>,
    /// Product barcode (EAN-13, UPC …) → SKU, so scanning a product picks it.
    #[serde(default)]
    pub barcodes: BTreeMap<String, String>,
    /// The same as a CSV file of `barcode,sku` rows (a header row is skipped); merged into
    /// `barcodes` at start-up.
    #[serde(default)]
    pub barcodes_csv: Option<PathBuf>,
}

fn default_sla_hours() -> u32 {
    24
}
fn default_min_pack_minutes() -> u32 {
    30
}
fn default_packers() -> u32 {
    4
}
fn default_minutes_per_order() -> f64 {
    1.5
}
fn default_minutes_per_line() -> f64 {
    0.5
}
fn default_wave_min() -> usize {
    20
}
fn default_wave_max() -> usize {
    200
}
fn default_combine_window_secs() -> u64 {
    300
}
fn default_true() -> bool {
    true
}

fn default_max_hold_secs() -> u64 {
    1800
}

impl SiteConfig {
    /// What the business-day arithmetic needs to know about this site.
    pub fn schedule(&self) -> crate::domain::schedule::SiteSchedule {
        crate::domain::schedule::SiteSchedule {
            pickups: self.pickup_times(),
            sla_hours: self.sla_hours,
            min_pack_minutes: self.min_pack_minutes,
            same_day_cutoff: self.same_day_cutoff_time(),
        }
    }

    /// The pickup times of `carrier` at this site: its `carrier_pickups`, else `pickups`.
    pub fn carrier_pickup_times(&self, carrier: &str) -> Vec<NaiveTime> {
        let Some(list) = self.carrier_pickups.get(carrier) else {
            return self.pickup_times();
        };
        let mut times: Vec<NaiveTime> = list
            .iter()
            .filter_map(|p| NaiveTime::parse_from_str(p, "%H:%M").ok())
            .collect();
        times.sort();
        times.dedup();
        times
    }

    /// Pickup times parsed; valid after [`Config::validate`].
    pub fn pickup_times(&self) -> Vec<NaiveTime> {
        let mut times: Vec<NaiveTime> = self
            .pickups
            .iter()
            .filter_map(|p| NaiveTime::parse_from_str(p, "%H:%M").ok())
            .collect();
        times.sort();
        times.dedup();
        times
    }

    pub fn same_day_cutoff_time(&self) -> Option<NaiveTime> {
        self.same_day_cutoff
            .as_deref()
            .and_then(|c| NaiveTime::parse_from_str(c, "%H:%M").ok())
    }
}

/// A shop (an OCOP producer) and the site that packs its orders.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SellerConfig {
    /// 1–64 of a-z 0-9 -.
    pub id: String,
    pub name: String,
    /// The `[[sites]]` id that packs this seller's orders.
    pub site: String,
    /// Bearer token for the ingest and the seller's API: at least 16 characters of printable
    /// ASCII, no surrounding white space, unique.
    pub token: Secret,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// Bearer token that reads every site, seller, wave and shipment (at least 16
    /// characters of printable ASCII, no surrounding white space; empty: no operator access).
    #[serde(default)]
    pub token: Secret,
}

/// Viettel Post's partner API, for an entry that names none.
pub const VIETTEL_POST_API: &str = "https://partner.viettelpost.vn/v2";

/// A carrier account: its partner API, status webhook secret, rate tables and booking policy.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierConfig {
    /// 1–64 of a-z 0-9 -; its webhook is `POST /v1/carriers/{id}/webhook`.
    pub id: String,
    /// "viettelpost", "ghtk", "ghn" (their partner APIs) or "mock" (offline demo).
    pub kind: CarrierKind,
    /// The partner API's http(s) URL, e.g. "https://services.giaohangtietkiem.vn" (GHTK) or
    /// "https://online-gateway.ghn.vn" (GHN); Viettel Post's defaults to
    /// "https://partner.viettelpost.vn/v2". Checked at start.
    #[serde(default)]
    pub base_url: String,
    /// Viettel Post: the partner account's login.
    #[serde(default)]
    pub username: String,
    /// Partner API password (Viettel Post).
    #[serde(default)]
    pub password: Secret,
    /// GHTK and GHN: the API token (header `Token`).
    #[serde(default)]
    pub token: Secret,
    /// GHN: the shop id (header `ShopId`), digits.
    #[serde(default)]
    pub shop_id: String,
    /// GHTK: the partner code sent as `X-Client-Source` (partner accounts only).
    #[serde(default)]
    pub client_source: String,
    /// The carrier's status webhook must carry it (Viettel Post: the body's `TOKEN`;
    /// GHTK and GHN: `?secret=` in the registered URL or the `X-Livepack-Secret` header).
    /// Left out, every webhook is refused; set, it must not be empty.
    #[serde(default, deserialize_with = "non_empty_secret")]
    pub webhook_secret: Secret,
    /// The service parcels are booked with (e.g. "VCN"): one of `services`' codes when it
    /// lists any (a Viettel Post carrier without tables may name any of its services, priced
    /// by the demo table); empty: the first table's (GHTK, GHN without tables: `road`,
    /// `ecom`).
    #[serde(default)]
    pub default_service: String,
    /// Rate tables per service; empty: the demo Viettel Post table (not its real tariff).
    #[serde(default)]
    pub services: Vec<crate::domain::rates::ServiceRates>,
    /// Packaging weight added once per parcel (grams).
    #[serde(default = "default_tare_g")]
    pub packaging_tare_g: u64,
    /// Parcels of a pickup are booked on their own this long before it.
    #[serde(default = "default_book_before")]
    pub book_before_pickup_minutes: u32,
    /// Back-off of a failed booking: base × 2^(attempts − 1), capped at `retry_cap_ms`,
    /// with jitter (a random point in its upper half).
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// The longest wait between two booking attempts of a parcel.
    #[serde(default = "default_retry_cap_ms")]
    pub retry_cap_ms: u64,
    /// One booking attempt (login, address ids, createOrder) is given up after this long and
    /// retried; the carrier's duplicate check finds an order a stalled attempt created.
    #[serde(default = "default_attempt_timeout_ms")]
    pub attempt_timeout_ms: u64,
    /// Viettel Post: the page that turns a print code (`POST …/order/printing-code`) into the
    /// carrier's own label PDF, for `label.pdf?source=carrier`.
    #[serde(default = "default_print_url")]
    pub print_url: String,
    /// Days after delivery by which the carrier pays the collected COD (its settlement
    /// schedule): a delivered parcel unpaid for longer is a mismatch in COD statements and
    /// counts in `livepack_cod_unpaid_overdue_parcels`.
    #[serde(default = "default_cod_schedule_days")]
    pub cod_schedule_days: u32,
}

/// A secret that, when written at all, is not empty: `webhook_secret = ""` would refuse every
/// webhook while looking configured.
fn non_empty_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    let secret = Secret::deserialize(d)?;
    if secret.expose().trim().is_empty() {
        return Err(serde::de::Error::custom(
            "is empty: every webhook would be refused (set a long random secret, or leave the key out)",
        ));
    }
    Ok(secret)
}

fn default_cod_schedule_days() -> u32 {
    15
}

fn default_print_url() -> String {
    "https://digitalize.viettelpost.vn/DigitalizePrint/report.do".into()
}

fn default_tare_g() -> u64 {
    150
}
fn default_book_before() -> u32 {
    60
}
fn default_retry_base_ms() -> u64 {
    1_000
}
fn default_retry_cap_ms() -> u64 {
    60_000
}
fn default_attempt_timeout_ms() -> u64 {
    8_000
}

impl CarrierConfig {
    /// The configured rate tables, or the demo table.
    pub fn rates(&self) -> Vec<crate::domain::rates::ServiceRates> {
        if self.services.is_empty() {
            crate::domain::rates::default_viettel_post_rates()
        } else {
            self.services.clone()
        }
    }

    /// The service parcels are booked with: `default_service`, else the first table's.
    pub fn service(&self) -> String {
        if !self.default_service.is_empty() {
            return self.default_service.clone();
        }
        self.implied_service()
    }

    /// The services `default_service` may name: the rate tables' codes and the service
    /// booked when it is empty.
    pub fn service_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = self.rates().into_iter().map(|r| r.code).collect();
        let implied = self.implied_service();
        if !codes.contains(&implied) {
            codes.push(implied);
        }
        codes
    }

    /// The service booked without a `default_service`.
    fn implied_service(&self) -> String {
        if self.services.is_empty() {
            // GHTK and GHN book one service (road; e-commerce): name it so, whatever table
            // prices it.
            match self.kind {
                CarrierKind::Ghtk => return "road".into(),
                CarrierKind::Ghn => return "ecom".into(),
                CarrierKind::Viettelpost | CarrierKind::Mock => {}
            }
        }
        self.rates()
            .first()
            .map(|r| r.code.clone())
            .unwrap_or_default()
    }
}

impl Config {
    /// Loads the layers the contract names and validates the result.
    pub fn load() -> Result<Config, ConfigError> {
        let mut figment = Figment::new().merge(Toml::string(DEFAULT_TOML));
        if let Ok(path) = std::env::var("LIVEPACK_CONFIG") {
            let p = std::path::Path::new(&path);
            if !p.is_file() {
                return Err(ConfigError::invalid(
                    "LIVEPACK_CONFIG",
                    if path.is_empty() {
                        // (`LIVEPACK_CONFIG=$UNSET`: the demo would start instead of the site.)
                        "set but empty: name a TOML file, or unset it for the built-in defaults"
                            .to_owned()
                    } else if p.is_dir() {
                        format!("{path} is a directory, not a TOML file")
                    } else {
                        format!("no such file: {path}")
                    },
                ));
            }
            figment = figment.merge(Toml::file(path));
        }
        // (`vars_os`: a variable that is not Unicode, ours or not, is skipped, never a panic.)
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Self::from_figment(with_env(figment, vars))
    }

    /// The built-in defaults, `toml` over them, then these `LIVEPACK__…` variables (tests).
    pub fn from_toml_and_env<'a>(
        toml: &str,
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Config, ConfigError> {
        let figment = Figment::new()
            .merge(Toml::string(DEFAULT_TOML))
            .merge(Toml::string(toml));
        let vars = vars.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned()));
        Self::from_figment(with_env(figment, vars))
    }

    /// The built-in defaults with `toml` merged over them (used by tests and tools).
    pub fn from_toml(toml: &str) -> Result<Config, ConfigError> {
        Self::from_figment(
            Figment::new()
                .merge(Toml::string(DEFAULT_TOML))
                .merge(Toml::string(toml)),
        )
    }

    fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        // Lossy: a number or a boolean is also read from its text (an environment variable's
        // value is text, see `with_env`).
        let mut config: Config = figment.extract_lossy().map_err(ConfigError::from_figment)?;
        // Viettel Post has one partner API: an entry may leave its address out.
        for c in &mut config.carriers {
            if c.kind == CarrierKind::Viettelpost && c.base_url.trim().is_empty() {
                c.base_url = VIETTEL_POST_API.to_owned();
            }
        }
        config.load_barcode_files()?;
        config.validate()?;
        Ok(config)
    }

    pub fn site(&self, id: &str) -> Option<&SiteConfig> {
        self.sites.iter().find(|s| s.id == id)
    }

    pub fn seller(&self, id: &str) -> Option<&SellerConfig> {
        self.sellers.iter().find(|s| s.id == id)
    }

    /// Sellers, sites or the operator still using the shipped demo tokens.
    pub fn demo_credentials(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.sellers {
            if s.token.expose().starts_with("demo-") {
                out.push(format!("sellers.{}.token", s.id));
            }
        }
        if self.operator.token.expose().starts_with("demo-") {
            out.push("operator.token".into());
        }
        out
    }
}

/// A TOML parser's message without the quoted source (`2 | token = …` and the `|` lines).
fn without_source_lines(message: &str) -> String {
    let quoted = |l: &str| {
        let l = l.trim_start();
        l.starts_with('|')
            || l.split_once(" |")
                .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let kept: Vec<&str> = message.lines().filter(|l| !quoted(l)).collect();
    kept.join(" ")
}

/// `LIVEPACK__SECTION__KEY` variables merged over `figment` (`__` between the parts of a key,
/// any case). A value stays the text it is, so a token, PIN or id made of digits (or `true`)
/// is read as the string it is; numbers and booleans are read from that text where a setting
/// wants one (`extract_lossy`). Only a value written as an array or a table (`[…]`, `{…}`) is
/// parsed as one.
fn with_env(mut figment: Figment, vars: impl IntoIterator<Item = (String, String)>) -> Figment {
    use figment::value::Value;
    const PREFIX: &str = "LIVEPACK__";
    for (name, raw) in vars {
        let Some(rest) = name
            .get(..PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(PREFIX))
            .and_then(|_| name.get(PREFIX.len()..))
        else {
            continue;
        };
        let key = rest
            .split("__")
            .collect::<Vec<_>>()
            .join(".")
            .to_lowercase();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            continue;
        }
        let value = match raw.parse::<Value>() {
            Ok(v @ (Value::Array(..) | Value::Dict(..))) => v,
            // A value written in double quotes (`"0123"`) is the text inside them.
            Ok(Value::String(_, text)) if raw.trim_start().starts_with('"') => Value::from(text),
            _ => Value::from(raw),
        };
        figment = figment.merge(figment::providers::Serialized::default(&key, value));
    }
    figment
}

#[cfg(test)]
mod env_tests {
    use super::*;

    /// A wrong type, an unknown key, a missing one, or a type's own refusal names the key
    /// as validation does, without figment's source location or type paths.
    #[test]
    fn load_errors_name_the_key_plainly() {
        let cases = [
            (
                "[server]\nmax_connections = \"abc\"",
                "configuration key `server.max_connections`: invalid type: found string \"abc\", expected usize",
            ),
            ("[server]\nnope = 1", "configuration key `server.nope`: unknown key"),
            ("[[sites]]\nid = \"x\"", "configuration key `sites[0].name`: is required"),
        ];
        for (toml, want) in cases {
            let e = Config::from_toml(toml).unwrap_err().to_string();
            assert_eq!(e, want, "{toml}");
        }
        let e = Config::from_toml_and_env("", [("LIVEPACK__OPERATOR__TOKEN", "[1]")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("configuration key `operator.token`: "), "{e}");
        assert!(!e.contains("src/") && !e.contains("figment"), "{e}");
    }

    /// Environment values are text: a setting that is a string keeps digits and words as
    /// they are; numbers, booleans and lists are read where a setting wants one.
    #[test]
    fn environment_overrides_keep_strings_and_read_numbers_lists_and_booleans() {
        let c = Config::from_toml_and_env(
            "",
            [
                ("LIVEPACK__PLANNER__INSTANCE_ID", "2"),
                ("LIVEPACK__OPERATOR__TOKEN", "1234567890123456"),
                ("LIVEPACK__LOG__LEVEL", "debug"),
                ("livepack__server__listen", "127.0.0.1:0"),
                ("LIVEPACK__INGEST__WINDOW", "32"),
                ("LIVEPACK__PLANNER__ENABLED", "false"),
                ("LIVEPACK__SERVER__TRUSTED_PROXIES", "[\"127.0.0.1/32\"]"),
                ("OTHER__PLANNER__INSTANCE_ID", "ignored"),
            ],
        )
        .unwrap();
        assert_eq!(c.planner.instance_id, "2");
        assert!(c.operator.token.matches("1234567890123456"));
        assert_eq!(c.log.level, "debug");
        assert_eq!(c.server.listen, "127.0.0.1:0");
        assert_eq!(c.ingest.window, 32);
        assert!(!c.planner.enabled);
        assert_eq!(c.server.trusted_proxies.len(), 1);
    }

    /// A TOML syntax error says where, never the line (it may hold a secret).
    #[test]
    fn a_toml_syntax_error_does_not_quote_the_line() {
        let e = Config::from_toml("[operator]\ntoken = 0123456789abcdef\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(!e.contains("0123456789abcdef"), "{e}");
    }

    /// A quoted value is the text inside the quotes.
    #[test]
    fn a_quoted_environment_value_is_its_text() {
        let c =
            Config::from_toml_and_env("", [("LIVEPACK__OPERATOR__TOKEN", "\"0123456789012345\"")])
                .unwrap();
        assert!(c.operator.token.matches("0123456789012345"));
    }

    /// A bad value is refused naming its key, never showing a secret's value.
    #[test]
    fn a_bad_environment_value_names_its_key() {
        let e = Config::from_toml_and_env("", [("LIVEPACK__INGEST__WINDOW", "many")])
            .unwrap_err()
            .to_string();
        assert!(e.to_lowercase().contains("window"), "{e}");
        let e = Config::from_toml_and_env("", [("LIVEPACK__NOPE__KEY", "1")])
            .unwrap_err()
            .to_string();
        assert!(e.to_lowercase().contains("nope"), "{e}");
    }
}
