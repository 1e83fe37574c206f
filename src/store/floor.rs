//! Confirming and undoing on the packing floor: put-backs and pulls done, unpicks and
//! unpacks. Each is one script on the site's slot that also appends to the site's audit
//! stream (`keys::audit`, capped), so who did what and when is never lost or half-written.

use std::collections::HashMap;
use std::sync::LazyLock;

use redis::AsyncCommands;

use super::waves::{PinAttempt, PinPolicy};
use super::{keys, Store, StoreError};

static PUT_BACK: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/put_back.lua")));
static UNPICK: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/unpick.lua")));
static UNPACK: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/unpack.lua")));
static PULLED: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/pulled.lua")));

/// A wave-level action (put-back or unpick) as the tablet sent it.
pub struct FloorOp<'a> {
    pub wave_id: &'a str,
    /// The tablet's id of this action (idempotency).
    pub op_id: &'a str,
    pub sku: &'a str,
    pub qty: u32,
    /// Who: the station's name (or `operator`).
    pub station: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutBackOutcome {
    Counted { open: u64 },
    Duplicate { open: u64 },
    Over { open: u64 },
    UnknownSku,
    NoWave,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnpickOutcome {
    Counted {
        picked: u64,
        total: u64,
    },
    Duplicate {
        picked: u64,
        total: u64,
    },
    /// More than was picked.
    Over {
        picked: u64,
        total: u64,
    },
    /// Those units are in packed parcels.
    Packed {
        picked: u64,
        total: u64,
    },
    UnknownSku,
    NoWave,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnpackOutcome {
    Unpacked,
    AlreadyOpen,
    Duplicate,
    Cancelled,
    Replaced,
    HandedOver,
    /// Booked with the carrier: the supervisor's PIN is needed.
    NeedPin,
    NoParcel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullOutcome {
    Pulled,
    Already,
    /// The parcel is not flagged to be pulled.
    Nothing,
    NoParcel,
}

/// One unpack request.
pub struct Unpack<'a> {
    pub parcel_id: &'a str,
    pub wave_id: &'a str,
    pub unpack_id: Option<&'a str>,
    pub station: &'a str,
    /// The supervisor's PIN was checked (or the operator asks).
    pub supervisor_ok: bool,
    /// (seller, order_id, session label) of the parcel's orders.
    pub orders: &'a [(String, String, String)],
    /// The parcel's lines (sku, qty).
    pub lines: &'a [(String, u32)],
}

/// One audit entry as stored.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub fields: HashMap<String, String>,
}

impl Store {
    pub async fn put_back(
        &self,
        site: &str,
        op: &FloorOp<'_>,
    ) -> Result<PutBackOutcome, StoreError> {
        let mut inv = PUT_BACK.prepare_invoke();
        inv.key(keys::wave(site, op.wave_id))
            .key(keys::wave_picks(site, op.wave_id))
            .key(keys::audit(site))
            .arg(op.op_id)
            .arg(op.sku)
            .arg(op.qty)
            .arg(op.station)
            .arg(chrono::Utc::now().timestamp_millis())
            .arg(keys::AUDIT_MAXLEN)
            .arg(op.wave_id);
        let mut conn = self.conn();
        let (code, open): (String, i64) = self
            .bounded("put_back", inv.invoke_async(&mut conn))
            .await?;
        self.wait_replicas(&mut conn, &keys::tag(site)).await?;
        let open = open.max(0) as u64;
        Ok(match code.as_str() {
            "ok" => PutBackOutcome::Counted { open },
            "dup" => PutBackOutcome::Duplicate { open },
            "over" => PutBackOutcome::Over { open },
            "unknown_sku" => PutBackOutcome::UnknownSku,
            _ => PutBackOutcome::NoWave,
        })
    }

    /// `order_refs`: (seller, order_id) of the wave's orders.
    pub async fn unpick(
        &self,
        site: &str,
        op: &FloorOp<'_>,
        order_refs: &[(String, String)],
    ) -> Result<UnpickOutcome, StoreError> {
        let mut inv = UNPICK.prepare_invoke();
        inv.key(keys::wave(site, op.wave_id))
            .key(keys::wave_picks(site, op.wave_id))
            .key(keys::audit(site));
        for (seller, id) in order_refs {
            inv.key(keys::order(site, seller, id));
        }
        inv.arg(op.op_id)
            .arg(op.sku)
            .arg(op.qty)
            .arg(op.station)
            .arg(chrono::Utc::now().timestamp_millis())
            .arg(keys::AUDIT_MAXLEN)
            .arg(op.wave_id);
        let mut conn = self.conn();
        let (code, picked, total): (String, i64, i64) =
            self.bounded("unpick", inv.invoke_async(&mut conn)).await?;
        self.wait_replicas(&mut conn, &keys::tag(site)).await?;
        let (picked, total) = (picked.max(0) as u64, total.max(0) as u64);
        Ok(match code.as_str() {
            "ok" => UnpickOutcome::Counted { picked, total },
            "dup" => UnpickOutcome::Duplicate { picked, total },
            "over" => UnpickOutcome::Over { picked, total },
            "packed" => UnpickOutcome::Packed { picked, total },
            "unknown_sku" => UnpickOutcome::UnknownSku,
            _ => UnpickOutcome::NoWave,
        })
    }

    pub async fn unpack(&self, site: &str, u: &Unpack<'_>) -> Result<UnpackOutcome, StoreError> {
        let mut inv = UNPACK.prepare_invoke();
        inv.key(keys::parcel(site, u.parcel_id))
            .key(keys::wave(site, u.wave_id))
            .key(keys::wave_picks(site, u.wave_id))
            .key(keys::audit(site));
        for (seller, id, _) in u.orders {
            inv.key(keys::order(site, seller, id));
        }
        for (seller, _, label) in u.orders {
            inv.key(keys::session(site, seller, label));
        }
        inv.arg(u.orders.len())
            .arg(chrono::Utc::now().timestamp_millis())
            .arg(u.unpack_id.unwrap_or(""))
            .arg(u.station)
            .arg(if u.supervisor_ok { "1" } else { "0" })
            .arg(keys::AUDIT_MAXLEN)
            .arg(u.lines.len());
        for (sku, qty) in u.lines {
            inv.arg(sku).arg(qty);
        }
        let mut conn = self.conn();
        let out: String = self.bounded("unpack", inv.invoke_async(&mut conn)).await?;
        self.wait_replicas(&mut conn, &keys::tag(site)).await?;
        Ok(match out.as_str() {
            "unpacked" => UnpackOutcome::Unpacked,
            "already_open" => UnpackOutcome::AlreadyOpen,
            "duplicate" => UnpackOutcome::Duplicate,
            "cancelled" => UnpackOutcome::Cancelled,
            "replaced" => UnpackOutcome::Replaced,
            "handed_over" => UnpackOutcome::HandedOver,
            "need_pin" => UnpackOutcome::NeedPin,
            _ => UnpackOutcome::NoParcel,
        })
    }

    pub async fn pulled(
        &self,
        site: &str,
        parcel_id: &str,
        wave_id: &str,
        station: &str,
    ) -> Result<PullOutcome, StoreError> {
        let mut inv = PULLED.prepare_invoke();
        inv.key(keys::parcel(site, parcel_id))
            .key(keys::audit(site))
            .key(keys::wave(site, wave_id))
            .arg(station)
            .arg(chrono::Utc::now().timestamp_millis())
            .arg(keys::AUDIT_MAXLEN);
        let mut conn = self.conn();
        let out: String = self.bounded("pulled", inv.invoke_async(&mut conn)).await?;
        self.wait_replicas(&mut conn, &keys::tag(site)).await?;
        Ok(match out.as_str() {
            "pulled" => PullOutcome::Pulled,
            "already" => PullOutcome::Already,
            "nothing" => PullOutcome::Nothing,
            _ => PullOutcome::NoParcel,
        })
    }

    /// The latest `limit` audit entries of a site, newest first.
    pub async fn audit(&self, site: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut conn = self.conn();
        let reply: redis::streams::StreamRangeReply = self
            .bounded(
                "audit",
                conn.xrevrange_count(keys::audit(site), "+", "-", limit),
            )
            .await?;
        Ok(reply
            .ids
            .into_iter()
            .map(|e| {
                let fields: HashMap<String, String> = e
                    .map
                    .iter()
                    .filter_map(|(k, v)| {
                        redis::from_redis_value::<String>(v.clone())
                            .ok()
                            .map(|v| (k.clone(), v))
                    })
                    .collect();
                AuditEntry {
                    at_ms: fields
                        .get("at")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or_default(),
                    fields,
                }
            })
            .collect())
    }

    /// Counts one supervisor-PIN attempt of `client` at `site` (the station PIN's throttle,
    /// its own counters).
    pub async fn supervisor_pin_attempt(
        &self,
        site: &str,
        client: &str,
        policy: &PinPolicy,
    ) -> Result<PinAttempt, StoreError> {
        self.throttled_attempt(
            keys::supervisor_pin_clients(site),
            keys::supervisor_pin_minute(site),
            client,
            policy,
        )
        .await
    }

    pub async fn supervisor_pin_success(&self, site: &str, client: &str) -> Result<(), StoreError> {
        self.throttle_forget(keys::supervisor_pin_clients(site), client)
            .await
    }
}
