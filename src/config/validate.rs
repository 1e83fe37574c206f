//! Start-up validation: every problem names the key it is about.

use std::collections::HashSet;

use chrono::NaiveTime;

use super::{CarrierKind, Config, ConfigError, SiteConfig};
use crate::domain::address::normalize_province;
use crate::domain::phone::Phone;

/// `1–64 of a-z 0-9 -`: the contract's form for site and seller ids.
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_time(key: String, value: &str) -> Result<(), ConfigError> {
    NaiveTime::parse_from_str(value, "%H:%M")
        .map(|_| ())
        .map_err(|_| ConfigError::invalid(key, format!("`{value}` is not a time of day HH:MM")))
}

/// `sites[n].field`.
fn site_key(n: usize, field: &str) -> String {
    format!("sites[{n}].{field}")
}

/// Pickup times, the same-day cutoff and the SLA of site `n`.
fn check_site_schedule(n: usize, s: &SiteConfig) -> Result<(), ConfigError> {
    if s.pickups.is_empty() {
        return Err(ConfigError::invalid(
            site_key(n, "pickups"),
            "at least one pickup time",
        ));
    }
    for (p, t) in s.pickups.iter().enumerate() {
        check_time(format!("sites[{n}].pickups[{p}]"), t)?;
        if s.pickups[..p].contains(t) {
            return Err(ConfigError::invalid(
                format!("sites[{n}].pickups[{p}]"),
                format!("`{t}` appears twice"),
            ));
        }
    }
    if let Some(c) = &s.same_day_cutoff {
        check_time(site_key(n, "same_day_cutoff"), c)?;
    }
    if s.sla_hours == 0 || s.sla_hours > 24 * 14 {
        return Err(ConfigError::invalid(
            site_key(n, "sla_hours"),
            "must be 1–336",
        ));
    }
    if u64::from(s.min_pack_minutes) >= u64::from(s.sla_hours) * 60 {
        return Err(ConfigError::invalid(
            site_key(n, "min_pack_minutes"),
            format!(
                "must be less than sla_hours × 60 ({} minutes): otherwise every order misses its deadline",
                u64::from(s.sla_hours) * 60
            ),
        ));
    }
    Ok(())
}

/// Packers, minutes per order and per line, and wave sizes of site `n`.
fn check_site_floor(n: usize, s: &SiteConfig) -> Result<(), ConfigError> {
    if s.packers == 0 {
        return Err(ConfigError::invalid(site_key(n, "packers"), "must be > 0"));
    }
    if !(s.minutes_per_order.is_finite() && s.minutes_per_order > 0.0) {
        return Err(ConfigError::invalid(
            site_key(n, "minutes_per_order"),
            "must be > 0",
        ));
    }
    if !(s.minutes_per_line.is_finite() && s.minutes_per_line >= 0.0) {
        return Err(ConfigError::invalid(
            site_key(n, "minutes_per_line"),
            "must be ≥ 0",
        ));
    }
    if s.wave_min == 0 || s.wave_max < s.wave_min {
        return Err(ConfigError::invalid(
            site_key(n, "wave_max"),
            "need 1 ≤ wave_min ≤ wave_max",
        ));
    }
    Ok(())
}

/// The port of a listen address `host:port`: an IP address (`127.0.0.1:8080`, `[::1]:8080`)
/// or a host name (`localhost:8080`, resolved when the service binds). `None` if it is not one.
fn port_of(listen: &str) -> Option<u16> {
    if let Ok(addr) = listen.parse::<std::net::SocketAddr>() {
        return Some(addr.port());
    }
    let (host, port) = listen.rsplit_once(':')?;
    let name = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    name.then(|| port.parse().ok()).flatten()
}

/// `log.level`: a level (`info`) or a tracing filter of `target=level` directives
/// (`info,livepack=debug`). A word that is neither would be taken as a target's name and
/// silence every log line, the address the service listens on included.
fn check_log_level(level: &str) -> Result<(), ConfigError> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let ok = level.split(',').map(str::trim).all(|d| {
        let lvl = d.rsplit_once('=').map_or(d, |(_, l)| l);
        LEVELS.contains(&lvl.to_ascii_lowercase().as_str())
    }) && tracing_subscriber::EnvFilter::try_new(level).is_ok();
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            "log.level",
            format!("`{level}`: one of trace, debug, info, warn, error, off, or a filter such as `info,livepack=debug`"),
        ))
    }
}

/// A PIN as configured: at least 6 digits, or an argon2 PHC string that parses (a mangled
/// hash would lock every tablet of the site out with "wrong PIN").
fn check_pin(pin: &str) -> bool {
    if pin.starts_with("$argon2") {
        argon2::password_hash::PasswordHash::new(pin).is_ok_and(|h| {
            h.salt.is_some() && h.hash.is_some() && argon2::Params::try_from(&h).is_ok()
        })
    } else {
        super::pin::check_plain(pin).is_ok()
    }
}

/// The station PIN, the province and the supervisor PIN of site `n`.
fn check_site_pins_and_province(n: usize, s: &SiteConfig) -> Result<(), ConfigError> {
    if !check_pin(s.station_pin.expose()) {
        return Err(ConfigError::invalid(
            site_key(n, "station_pin"),
            "at least 6 digits (or an argon2 hash from `livepack hash-pin`)",
        ));
    }
    if !s.province.is_empty() && normalize_province(&s.province).is_none() {
        return Err(ConfigError::invalid(
            site_key(n, "province"),
            format!("unknown province `{}`", s.province),
        ));
    }
    if let Some(sup) = &s.supervisor_pin {
        if !check_pin(sup.expose()) {
            return Err(ConfigError::invalid(
                site_key(n, "supervisor_pin"),
                "at least 6 digits (or an argon2 hash from `livepack hash-pin`)",
            ));
        }
        // The same PIN would give every station the supervisor's rights: as the same text,
        // or one written plain and the other as its hash (two hashes of one PIN, salted
        // apart, cannot be told the same).
        let (a, b) = (sup.expose(), s.station_pin.expose());
        let hashed = |p: &str| p.starts_with("$argon2");
        let same = a == b
            || (hashed(a) && !hashed(b) && super::pin::verify(sup, b))
            || (hashed(b) && !hashed(a) && super::pin::verify(&s.station_pin, a));
        if same {
            return Err(ConfigError::invalid(
                site_key(n, "supervisor_pin"),
                "must differ from station_pin (every station would have the supervisor's rights)",
            ));
        }
    }
    Ok(())
}

/// The sender phone of site `n`, if given: a Vietnamese mobile or fixed-line number.
fn check_site_phone(n: usize, s: &SiteConfig) -> Result<(), ConfigError> {
    if !s.phone.is_empty() && !Phone::is_plausible_sender(&s.phone) {
        return Err(ConfigError::invalid(
            site_key(n, "phone"),
            format!(
                "`{}` is not a Vietnamese phone number (a mobile 0xxxxxxxxx, or a fixed line 02x… of 11 digits)",
                s.phone
            ),
        ));
    }
    Ok(())
}

/// Every barcode → SKU entry of site `n`.
fn check_site_barcodes(n: usize, s: &SiteConfig) -> Result<(), ConfigError> {
    for (code, sku) in &s.barcodes {
        if let Err(why) = check_barcode(code, sku) {
            return Err(ConfigError::invalid(
                format!("sites[{n}].barcodes.{code}"),
                why,
            ));
        }
    }
    Ok(())
}

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_server()?;
        self.validate_redis()?;
        self.validate_ingest()?;
        if self.server.request_body_timeout_secs == 0 {
            return Err(ConfigError::invalid(
                "server.request_body_timeout_secs",
                "must be > 0",
            ));
        }
        self.validate_retention()?;
        self.validate_sites()?;
        self.validate_sellers()?;
        let mut carrier_ids = HashSet::new();
        for (n, c) in self.carriers.iter().enumerate() {
            validate_carrier(n, c)?;
            if !carrier_ids.insert(c.id.as_str()) {
                return Err(ConfigError::invalid(
                    format!("carriers[{n}].id"),
                    format!("`{}` appears twice", c.id),
                ));
            }
        }
        check_log_level(&self.log.level)?;
        Ok(())
    }

    /// `server.listen`, `server.admin_listen` and `server.trusted_proxies`.
    fn validate_server(&self) -> Result<(), ConfigError> {
        if port_of(&self.server.listen).is_none() {
            return Err(ConfigError::invalid(
                "server.listen",
                format!("`{}` is not host:port", self.server.listen),
            ));
        }
        let admin = &self.server.admin_listen;
        if !admin.is_empty() && port_of(admin).is_none() {
            return Err(ConfigError::invalid(
                "server.admin_listen",
                format!("`{admin}` is not host:port (or \"\" for none)"),
            ));
        }
        if !admin.is_empty()
            && port_of(admin) == port_of(&self.server.listen)
            && port_of(admin) != Some(0)
        {
            return Err(ConfigError::invalid(
                "server.admin_listen",
                format!("`{admin}` uses server.listen's port: give the admin port its own"),
            ));
        }
        for (i, net) in self.server.trusted_proxies.iter().enumerate() {
            if super::parse_net(net).is_none() {
                return Err(ConfigError::invalid(
                    format!("server.trusted_proxies[{i}]"),
                    format!("`{net}` is not an address or CIDR network"),
                ));
            }
        }
        Ok(())
    }

    /// `[redis]`: the URL (or `embedded`), pool size and command timeout.
    fn validate_redis(&self) -> Result<(), ConfigError> {
        let r = &self.redis;
        let external_ok = |url: &str| {
            url.split(',')
                .all(|u| u.trim().starts_with("redis://") || u.trim().starts_with("rediss://"))
        };
        if !r.url.url().is_none_or(external_ok) {
            return Err(ConfigError::invalid(
                "redis.url",
                "expected \"embedded\", redis://…, rediss://… or a comma-separated list of cluster nodes",
            ));
        }
        if r.pool_size == 0 || r.pool_size > 64 {
            return Err(ConfigError::invalid("redis.pool_size", "must be 1–64"));
        }
        if r.command_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "redis.command_timeout_ms",
                "must be > 0",
            ));
        }
        Ok(())
    }

    /// `[ingest]` limits (and `server.max_connections`): every budget > 0.
    fn validate_ingest(&self) -> Result<(), ConfigError> {
        let i = &self.ingest;
        for (key, value) in [
            ("ingest.max_frame_bytes", i.max_frame_bytes),
            ("ingest.max_orders_per_frame", i.max_orders_per_frame),
            ("ingest.window", i.window),
            ("ingest.global_inflight", i.global_inflight),
            ("ingest.max_inflight_orders", i.max_inflight_orders),
            ("ingest.global_inflight_orders", i.global_inflight_orders),
            (
                "ingest.max_connections_per_seller",
                i.max_connections_per_seller,
            ),
            ("server.max_connections", self.server.max_connections),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be > 0"));
            }
        }
        if i.global_inflight_orders < 2 * i.max_orders_per_frame {
            return Err(ConfigError::invalid(
                "ingest.global_inflight_orders",
                "must be at least twice ingest.max_orders_per_frame",
            ));
        }
        if let Some(share) = i.seller_inflight_orders {
            if share == 0 || share > i.global_inflight_orders {
                return Err(ConfigError::invalid(
                    "ingest.seller_inflight_orders",
                    "must be > 0 and at most ingest.global_inflight_orders",
                ));
            }
        }
        if i.write_timeout_secs == 0 {
            return Err(ConfigError::invalid(
                "ingest.write_timeout_secs",
                "must be > 0",
            ));
        }
        if i.max_orders_per_sec == 0 {
            return Err(ConfigError::invalid(
                "ingest.max_orders_per_sec",
                "must be > 0",
            ));
        }
        Ok(())
    }

    /// `[retention]`: the hot, dedupe, scan, open and archive windows.
    fn validate_retention(&self) -> Result<(), ConfigError> {
        let t = &self.retention;
        if t.hot_days == 0 && t.hot_secs.is_none() {
            return Err(ConfigError::invalid("retention.hot_days", "must be > 0"));
        }
        if t.dedupe_days == 0 && t.dedupe_secs.unwrap_or(0) == 0 {
            return Err(ConfigError::invalid("retention.dedupe_days", "must be > 0"));
        }
        // The seconds overrides (tests, drills): 0 made every order `placed_at_too_old`.
        for (key, secs) in [
            ("retention.hot_secs", t.hot_secs),
            ("retention.dedupe_secs", t.dedupe_secs),
        ] {
            if secs == Some(0) {
                return Err(ConfigError::invalid(key, "must be > 0 when set"));
            }
            if secs.is_some_and(|s| s > 3650 * 86_400) {
                return Err(ConfigError::invalid(key, "must be at most ten years"));
            }
        }
        // Ten years at most: day counts far beyond overflowed date arithmetic (the archiver
        // panicked on every site) or the in-memory windows.
        for (key, days) in [
            ("retention.dedupe_days", t.dedupe_days),
            ("retention.hot_days", t.hot_days),
            ("retention.archive_days", t.archive_days),
            ("retention.max_open_days", t.max_open_days),
        ] {
            if days > 3650 {
                return Err(ConfigError::invalid(
                    key,
                    "must be at most 3650 (ten years)",
                ));
            }
        }
        if t.scan_secs == 0 {
            return Err(ConfigError::invalid("retention.scan_secs", "must be > 0"));
        }
        if t.max_open_days == 0 {
            return Err(ConfigError::invalid(
                "retention.max_open_days",
                "must be > 0",
            ));
        }
        if t.archive_days <= t.max_open_days.saturating_add(1) {
            return Err(ConfigError::invalid(
                "retention.archive_days",
                "must be > retention.max_open_days + 1 (a day's file is written until then)",
            ));
        }
        Ok(())
    }

    fn validate_sites(&self) -> Result<(), ConfigError> {
        let mut ids = HashSet::new();
        for (n, s) in self.sites.iter().enumerate() {
            if !is_valid_id(&s.id) {
                return Err(ConfigError::invalid(site_key(n, "id"), "1–64 of a-z 0-9 -"));
            }
            if !ids.insert(s.id.as_str()) {
                return Err(ConfigError::invalid(
                    site_key(n, "id"),
                    format!("`{}` appears twice", s.id),
                ));
            }
            check_site_schedule(n, s)?;
            check_site_floor(n, s)?;
            check_site_pins_and_province(n, s)?;
            check_site_phone(n, s)?;
            check_site_barcodes(n, s)?;
            self.check_site_carriers(n, s)?;
        }
        Ok(())
    }

    /// The site's carriers exist (each once), its per-carrier pickups and pinned carrier are
    /// among them (a site with none is warned of: [`Config::warnings`]).
    fn check_site_carriers(&self, n: usize, s: &SiteConfig) -> Result<(), ConfigError> {
        for (c, carrier) in s.carriers.iter().enumerate() {
            if s.carriers[..c].contains(carrier) {
                return Err(ConfigError::invalid(
                    format!("sites[{n}].carriers[{c}]"),
                    format!("`{carrier}` appears twice"),
                ));
            }
            if !self.carriers.iter().any(|k| &k.id == carrier) {
                return Err(ConfigError::invalid(
                    format!("sites[{n}].carriers[{c}]"),
                    format!("no [[carriers]] entry with id `{carrier}`"),
                ));
            }
        }
        for (carrier, times) in &s.carrier_pickups {
            if !s.carriers.contains(carrier) {
                return Err(ConfigError::invalid(
                    format!("sites[{n}].carrier_pickups.{carrier}"),
                    format!("`{carrier}` is not one of this site's carriers"),
                ));
            }
            if times.is_empty() {
                return Err(ConfigError::invalid(
                    format!("sites[{n}].carrier_pickups.{carrier}"),
                    "at least one pickup time",
                ));
            }
            for (p, t) in times.iter().enumerate() {
                check_time(format!("sites[{n}].carrier_pickups.{carrier}[{p}]"), t)?;
            }
        }
        if let Some(pin) = &s.pinned_carrier {
            if !s.carriers.contains(pin) {
                return Err(ConfigError::invalid(
                    site_key(n, "pinned_carrier"),
                    format!("`{pin}` is not one of this site's carriers"),
                ));
            }
        }
        Ok(())
    }

    fn validate_sellers(&self) -> Result<(), ConfigError> {
        let mut ids = HashSet::new();
        let mut tokens = HashSet::new();
        for (n, s) in self.sellers.iter().enumerate() {
            let key = |field: &str| format!("sellers[{n}].{field}");
            if !is_valid_id(&s.id) {
                return Err(ConfigError::invalid(key("id"), "1–64 of a-z 0-9 -"));
            }
            if !ids.insert(s.id.as_str()) {
                return Err(ConfigError::invalid(
                    key("id"),
                    format!("`{}` appears twice", s.id),
                ));
            }
            if self.site(&s.site).is_none() {
                // A file that lists its own [[sites]] but no [[sellers]] keeps the built-in
                // demo sellers, whose site it has just replaced: say so, not only "no site".
                let demo = if s.token.expose().starts_with("demo-seller-") {
                    " (a built-in demo seller: a config file with its own [[sites]] needs its own [[sellers]] too, which replace the demo's)"
                } else {
                    ""
                };
                return Err(ConfigError::invalid(
                    key("site"),
                    format!("no [[sites]] entry with id `{}`{demo}", s.site),
                ));
            }
            if s.token.expose().len() < 16 {
                return Err(ConfigError::invalid(key("token"), "at least 16 characters"));
            }
            check_token(&key("token"), s.token.expose())?;
            if !tokens.insert(s.token.expose()) || s.token == self.operator.token {
                return Err(ConfigError::invalid(key("token"), "tokens must be unique"));
            }
        }
        if !self.operator.token.is_empty() && self.operator.token.expose().len() < 16 {
            return Err(ConfigError::invalid(
                "operator.token",
                "at least 16 characters",
            ));
        }
        check_token("operator.token", self.operator.token.expose())
    }
}

/// A bearer token a client can send: printable ASCII (`!`–`~`, spaces inside), no
/// surrounding white space. A newline left by a secrets file, or a non-ASCII letter, would
/// make a token no request can ever match.
fn check_token(key: &str, token: &str) -> Result<(), ConfigError> {
    let printable = token.bytes().all(|b| (b' '..=b'~').contains(&b));
    if !printable || token.trim() != token {
        return Err(ConfigError::invalid(
            key,
            "printable ASCII without surrounding white space (a trailing newline from a \
             secrets file?): no client could send it",
        ));
    }
    Ok(())
}

/// A barcode → SKU entry: the code 1–64 of A-Z a-z 0-9 . _ - (what a scanner types), the
/// SKU not empty.
pub fn check_barcode(code: &str, sku: &str) -> Result<(), String> {
    if !crate::domain::is_label(code) {
        return Err(format!(
            "barcode `{code}`: 1–64 of A-Z a-z 0-9 . _ - expected"
        ));
    }
    if sku.trim().is_empty() || sku.chars().count() > 64 {
        return Err(format!("barcode `{code}`: the SKU must be 1–64 characters"));
    }
    Ok(())
}

/// The `barcode,sku` rows of a CSV file (blank lines skipped; a first row whose barcode
/// column reads `barcode`/`ean`/`code` is a header). Errors name the line.
pub fn parse_barcodes_csv(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        let sep = if line.contains(';') && !line.contains(',') {
            ';'
        } else {
            ','
        };
        let mut cols = line.split(sep).map(|c| c.trim().trim_matches('"').trim());
        let (code, sku) = (cols.next().unwrap_or(""), cols.next().unwrap_or(""));
        if i == 0
            && matches!(
                code.to_ascii_lowercase().as_str(),
                "barcode" | "ean" | "code" | "ma_vach"
            )
        {
            continue;
        }
        if sku.is_empty() {
            return Err(format!("line {}: expected `barcode,sku`", i + 1));
        }
        check_barcode(code, sku).map_err(|e| format!("line {}: {e}", i + 1))?;
        out.push((code.to_owned(), sku.to_owned()));
    }
    Ok(out)
}

impl Config {
    /// Reads every site's `barcodes_csv` into its `barcodes` (start-up). A code mapped to two
    /// different SKUs is an error naming the file and line.
    pub(super) fn load_barcode_files(&mut self) -> Result<(), ConfigError> {
        for (n, s) in self.sites.iter_mut().enumerate() {
            let Some(path) = s.barcodes_csv.clone() else {
                continue;
            };
            let key = format!("sites[{n}].barcodes_csv");
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::invalid(key.clone(), format!("{}: {e}", path.display()))
            })?;
            let rows = parse_barcodes_csv(&text).map_err(|e| {
                ConfigError::invalid(key.clone(), format!("{}: {e}", path.display()))
            })?;
            for (code, sku) in rows {
                match s.barcodes.get(&code) {
                    Some(other) if *other != sku => {
                        return Err(ConfigError::invalid(
                            key,
                            format!("barcode `{code}` is both `{other}` and `{sku}`"),
                        ))
                    }
                    _ => {
                        s.barcodes.insert(code, sku);
                    }
                }
            }
        }
        Ok(())
    }
}

/// `carriers[n]`: id, rate tables, kind, and the API settings its kind needs.
fn validate_carrier(n: usize, c: &super::CarrierConfig) -> Result<(), ConfigError> {
    if !is_valid_id(&c.id) {
        return Err(ConfigError::invalid(
            format!("carriers[{n}].id"),
            "1–64 of a-z 0-9 -",
        ));
    }
    for (r, rates) in c.services.iter().enumerate() {
        if let Some(problem) = rates.problems().first() {
            return Err(ConfigError::invalid(
                format!("carriers[{n}].services[{r}]"),
                problem.clone(),
            ));
        }
    }
    // Every real carrier's API address (a Viettel Post entry without one passed and then
    // retried every booking for ever with "builder error").
    if c.kind != CarrierKind::Mock {
        let url = c.base_url.trim();
        let parsed = reqwest::Url::parse(url).ok();
        if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) {
            return Err(ConfigError::invalid(
                format!("carriers[{n}].base_url"),
                format!(
                    "the {} API's http(s) URL, e.g. {}",
                    c.kind,
                    match c.kind {
                        CarrierKind::Ghtk => "https://services.giaohangtietkiem.vn",
                        CarrierKind::Ghn => "https://online-gateway.ghn.vn",
                        _ => "https://partner.viettelpost.vn/v2",
                    }
                ),
            ));
        }
    }
    if matches!(c.kind, CarrierKind::Ghtk | CarrierKind::Ghn) && c.token.expose().trim().is_empty()
    {
        return Err(ConfigError::invalid(
            format!("carriers[{n}].token"),
            format!("the {} API token is required", c.kind),
        ));
    }
    if c.kind == CarrierKind::Ghn
        && (c.shop_id.is_empty() || !c.shop_id.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ConfigError::invalid(
            format!("carriers[{n}].shop_id"),
            "the GHN shop id (digits) is required",
        ));
    }
    if c.kind == CarrierKind::Viettelpost {
        if c.username.trim().is_empty() {
            return Err(ConfigError::invalid(
                format!("carriers[{n}].username"),
                "the Viettel Post partner account's login is required",
            ));
        }
        if c.password.expose().trim().is_empty() {
            return Err(ConfigError::invalid(
                format!("carriers[{n}].password"),
                "the Viettel Post partner account's password is required",
            ));
        }
    }
    validate_carrier_policy(n, c)
}

/// `carriers[n]`: its default service and booking back-off.
fn validate_carrier_policy(n: usize, c: &super::CarrierConfig) -> Result<(), ConfigError> {
    // Checked against the configured tables, or the one service GHTK and GHN book. A
    // Viettel Post carrier without tables may name any of its services (LCOD, NCOD, VHT, …:
    // the demo table prices them).
    let tables = !c.services.is_empty()
        || matches!(c.kind, super::CarrierKind::Ghtk | super::CarrierKind::Ghn);
    if !c.default_service.is_empty() && tables {
        let codes = c.service_codes();
        if !codes.contains(&c.default_service) {
            return Err(ConfigError::invalid(
                format!("carriers[{n}].default_service"),
                format!(
                    "`{}` is not one of this carrier's services: {}",
                    c.default_service,
                    codes.join(", ")
                ),
            ));
        }
    }
    if c.attempt_timeout_ms == 0 {
        return Err(ConfigError::invalid(
            format!("carriers[{n}].attempt_timeout_ms"),
            "must be > 0",
        ));
    }
    if c.retry_cap_ms < c.retry_base_ms {
        return Err(ConfigError::invalid(
            format!("carriers[{n}].retry_cap_ms"),
            "must be at least retry_base_ms",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(toml: &str) -> String {
        Config::from_toml(toml).unwrap_err().to_string()
    }

    #[test]
    fn shipped_default_is_valid() {
        let c = Config::from_toml("").expect("default.toml must be valid");
        assert!(!c.sites.is_empty());
        assert!(c.sellers.len() >= 2);
        assert!(!c.demo_credentials().is_empty());
    }

    #[test]
    fn ghtk_and_ghn_entries_name_the_missing_field() {
        let site = |extra: &str| {
            format!(
                "[[sites]]\nid = \"s1\"\nname = \"S\"\npickups = [\"11:00\"]\nstation_pin = \"123456\"\ncarriers = [\"vtp\", \"g\"]\n{extra}\n[[sellers]]\nid = \"x\"\nname = \"X\"\nsite = \"s1\"\ntoken = \"0123456789abcdef0\"\n[[carriers]]\nid = \"vtp\"\nkind = \"mock\"\n"
            )
        };
        let carrier = |body: &str| format!("{}[[carriers]]\nid = \"g\"\n{body}\n", site(""));
        let ok = carrier("kind = \"ghn\"\nbase_url = \"https://online-gateway.ghn.vn\"\ntoken = \"t\"\nshop_id = \"885\"");
        Config::from_toml(&ok).expect("a complete GHN entry");
        let ghtk = carrier(
            "kind = \"ghtk\"\nbase_url = \"https://services.giaohangtietkiem.vn\"\ntoken = \"t\"",
        );
        Config::from_toml(&ghtk).expect("a complete GHTK entry");
        assert!(
            err(&carrier("kind = \"ghtk\"\nbase_url = \"https://x.vn\""))
                .contains("carriers[1].token")
        );
        assert!(err(&carrier("kind = \"ghtk\"\ntoken = \"t\"")).contains("carriers[1].base_url"));
        assert!(err(&carrier(
            "kind = \"ghn\"\nbase_url = \"https://x.vn\"\ntoken = \"t\""
        ))
        .contains("carriers[1].shop_id"));
        assert!(err(&carrier(
            "kind = \"ghn\"\nbase_url = \"https://x.vn\"\ntoken = \"t\"\nshop_id = \"12a\""
        ))
        .contains("carriers[1].shop_id"));
        assert!(err(&carrier("kind = \"jnt\"")).contains("carriers[1].kind"));
        assert_eq!(
            err(&carrier("kind = \"jnt\"")),
            "configuration key `carriers[1].kind`: expected \"viettelpost\", \"ghtk\", \"ghn\" or \"mock\""
        );
        assert_eq!(
            err("[log]\nformat = \"xml\""),
            "configuration key `log.format`: expected \"text\" or \"json\""
        );
        // Site-level carrier choice settings.
        let pinned = format!(
            "{}[[carriers]]\nid = \"g\"\nkind = \"mock\"\n",
            site("pinned_carrier = \"nope\"")
        );
        assert!(err(&pinned).contains("sites[0].pinned_carrier"));
        let pickups = format!(
            "{}[[carriers]]\nid = \"g\"\nkind = \"mock\"\n",
            site("carrier_pickups = { g = [\"9:7x\"] }")
        );
        assert!(err(&pickups).contains("sites[0].carrier_pickups.g[0]"));
        let stranger = format!(
            "{}[[carriers]]\nid = \"g\"\nkind = \"mock\"\n",
            site("carrier_pickups = { other = [\"09:00\"] }")
        );
        assert!(err(&stranger).contains("sites[0].carrier_pickups.other"));
    }

    #[test]
    fn supervisor_pin_and_barcodes_are_checked_at_start_up() {
        let site = |extra: &str| {
            format!(
                "[[sites]]\nid = \"hoa-lu-hub\"\nname = \"S\"\npickups = [\"11:00\"]\nstation_pin = \"123456\"\n{extra}"
            )
        };
        assert!(Config::from_toml(&site("supervisor_pin = \"135790\"\n")).is_ok());
        assert!(err(&site("supervisor_pin = \"1234\"\n")).contains("sites[0].supervisor_pin"));
        assert!(
            err(&site("supervisor_pin = \"123456\"\n")).contains("must differ from station_pin")
        );
        // The station's PIN hashed as the supervisor's, and the other way round.
        let hashed = crate::config::pin::hash("123456").unwrap();
        assert!(err(&site(&format!("supervisor_pin = \"{hashed}\"\n")))
            .contains("must differ from station_pin"));
        let other = crate::config::pin::hash("135790").unwrap();
        assert!(Config::from_toml(&site(&format!("supervisor_pin = \"{other}\"\n"))).is_ok());
        let plain_sup = format!(
            "[[sites]]\nid = \"hoa-lu-hub\"\nname = \"S\"\npickups = [\"11:00\"]\nstation_pin = \"{hashed}\"\nsupervisor_pin = \"123456\"\n"
        );
        assert!(err(&plain_sup).contains("must differ from station_pin"));
        // A pickup time twice, a carrier twice.
        let twice = "[[sites]]\nid = \"hoa-lu-hub\"\nname = \"S\"\npickups = [\"11:00\", \"11:00\"]\nstation_pin = \"123456\"\n";
        assert!(err(twice).contains("sites[0].pickups[1]"));
        assert!(
            err(&site("carriers = [\"viettel-post\", \"viettel-post\"]\n"))
                .contains("sites[0].carriers[1]")
        );
        assert!(err(&site("[sites.barcodes]\n\"89 35\" = \"HONEY-500\"\n"))
            .contains("sites[0].barcodes.89 35"));
        assert!(err(&site("[sites.barcodes]\n\"8935\" = \" \"\n")).contains("SKU"));

        let dir = std::env::temp_dir().join(format!("lp-barcodes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p.display().to_string()
        };
        let good = file(
            "good.csv",
            "barcode,sku\n8935000000017,HONEY-500\n\n\"8935000000024\",TEA-100\n",
        );
        let c = Config::from_toml(&site(&format!(
            "barcodes_csv = \"{good}\"\n[sites.barcodes]\n\"0001\" = \"SOAP-1\"\n"
        )))
        .unwrap();
        let map = &c.sites[0].barcodes;
        assert_eq!(
            map.get("8935000000017").map(String::as_str),
            Some("HONEY-500")
        );
        assert_eq!(
            map.get("8935000000024").map(String::as_str),
            Some("TEA-100")
        );
        assert_eq!(map.get("0001").map(String::as_str), Some("SOAP-1"));
        let bad = file("bad.csv", "8935000000017,HONEY-500\n8935000000024\n");
        let e = err(&site(&format!("barcodes_csv = \"{bad}\"\n")));
        assert!(
            e.contains("sites[0].barcodes_csv") && e.contains("line 2"),
            "{e}"
        );
        let e = err(&site(&format!(
            "barcodes_csv = \"{good}\"\n[sites.barcodes]\n\"8935000000017\" = \"SOAP-1\"\n"
        )));
        assert!(
            e.contains("sites[0].barcodes_csv") && e.contains("both"),
            "{e}"
        );
        let e = err(&site("barcodes_csv = \"/no/such/file.csv\"\n"));
        assert!(e.contains("sites[0].barcodes_csv"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn retention_windows_and_carrier_addresses_are_bounded() {
        for (toml, key) in [
            ("[retention]\ndedupe_secs = 0", "retention.dedupe_secs"),
            ("[retention]\nhot_secs = 0", "retention.hot_secs"),
            ("[retention]\nhot_days = 4294967295", "retention.hot_days"),
            (
                "[retention]\narchive_days = 100000000",
                "retention.archive_days",
            ),
        ] {
            assert!(err(toml).contains(key), "{toml}: {}", err(toml));
        }
        let vtp = |url: &str| {
            format!(
                "[[carriers]]\nid = \"viettel-post\"\nkind = \"viettelpost\"\nusername = \"u\"\npassword = \"p\"\n{url}"
            )
        };
        assert!(err(&vtp("base_url = \"not a url\"\n")).contains("carriers[0].base_url"));
        assert!(err(&vtp("base_url = \"ftp://x.vn\"\n")).contains("carriers[0].base_url"));
        // Left out: Viettel Post's one partner API.
        let c = Config::from_toml(&vtp("")).unwrap();
        assert_eq!(c.carriers[0].base_url, super::super::VIETTEL_POST_API);
    }

    #[test]
    fn errors_name_the_key() {
        assert!(err("[server]\nlisten = \"nope\"").contains("server.listen"));
        assert!(err("[server]\nlisten = \"local host:80\"").contains("server.listen"));
        assert!(err("[server]\nlisten = \"localhost:99999\"").contains("server.listen"));
        // A host name is host:port too (resolved when the service binds).
        assert!(Config::from_toml("[server]\nlisten = \"localhost:18080\"").is_ok());
        assert!(err("[redis]\nurl = \"http://x\"").contains("redis.url"));
        assert!(err("[redis]\npool_size = \"many\"").contains("pool_size"));
        let bad_seller = r#"
[[sellers]]
id = "shop"
name = "Shop"
site = "nowhere"
token = "0123456789abcdef0"
"#;
        assert!(err(bad_seller).contains("sellers[0].site"));
        for token in [
            "0123456789abcdef0\\n",
            "tók-séller-0123456789",
            " 0123456789abcdef0",
        ] {
            let bad = format!(
                "[[sellers]]\nid = \"shop\"\nname = \"Shop\"\nsite = \"hoa-lu-hub\"\ntoken = \"{token}\"\n"
            );
            assert!(err(&bad).contains("sellers[0].token"), "{token:?}");
        }
        assert!(
            err("[operator]\ntoken = \"tok-operator-0123456789\\n\"").contains("operator.token")
        );
        let bad_pickup = r#"
[[sites]]
id = "s1"
name = "S"
pickups = ["25:00"]
station_pin = "123456"
"#;
        assert!(err(bad_pickup).contains("sites[0].pickups[0]"));
        // Only [[sites]] in a file: the demo sellers it keeps are named as such.
        let only_sites = "[[sites]]\nid = \"s1\"\nname = \"S\"\npickups = [\"11:00\"]\nstation_pin = \"135792\"\n";
        assert!(err(only_sites).contains("built-in demo seller"));
        // A pack time as long as the SLA: every order would be at risk the moment it arrives.
        let site = |extra: &str| {
            format!("[[sites]]\nid = \"hoa-lu-hub\"\nname = \"S\"\npickups = [\"11:00\"]\nstation_pin = \"135792\"\nsla_hours = 2\n{extra}")
        };
        assert!(err(&site("min_pack_minutes = 120")).contains("sites[0].min_pack_minutes"));
        assert!(Config::from_toml(&site("min_pack_minutes = 119")).is_ok());
        for pin in ["2468", "12345", "abcdef", "12 456"] {
            let short = format!(
                "[[sites]]\nid = \"s1\"\nname = \"S\"\npickups = [\"11:00\"]\nstation_pin = \"{pin}\"\n"
            );
            assert!(err(&short).contains("sites[0].station_pin"), "{pin}");
        }
        assert!(err("[server]\ntrusted_proxies = [\"10.0.0.0/33\"]")
            .contains("server.trusted_proxies[0]"));
        // A mangled argon2 hash would lock every tablet out; a real one passes.
        let hashed = |pin: &str| {
            format!(
                "[[sites]]\nid = \"hoa-lu-hub\"\nname = \"S\"\npickups = [\"11:00\"]\nstation_pin = '{pin}'\n"
            )
        };
        assert!(err(&hashed("$argon2id$garbage")).contains("sites[0].station_pin"));
        let good = crate::config::pin::hash("246813").unwrap();
        assert!(Config::from_toml(&hashed(&good)).is_ok());
        // A log level that is no level would silence every line (taken as a target's name).
        for level in ["information", "debg", "info,livepack=loud"] {
            let e = err(&format!("[log]\nlevel = \"{level}\""));
            assert!(e.contains("log.level"), "{level}: {e}");
        }
        for level in ["warn", "INFO", "info,livepack=debug", "off"] {
            assert!(
                Config::from_toml(&format!("[log]\nlevel = \"{level}\"")).is_ok(),
                "{level}"
            );
        }
        // The admin port is its own.
        assert!(
            err("[server]\nlisten = \"127.0.0.1:8080\"\nadmin_listen = \"127.0.0.1:8080\"")
                .contains("server.admin_listen")
        );
        // Two carriers with one id: the second would be silently ignored.
        let twice = "[[carriers]]\nid = \"viettel-post\"\nkind = \"mock\"\n[[carriers]]\nid = \"viettel-post\"\nkind = \"mock\"\n";
        assert!(err(twice).contains("carriers[1].id"), "{}", err(twice));

        // Settings that would pass here and fail silently later.
        let carrier = |kind: &str, body: &str| {
            format!("[[carriers]]\nid = \"viettel-post\"\nkind = \"{kind}\"\n{body}\n")
        };
        let vtp = |body: &str| {
            carrier(
                "viettelpost",
                &format!("username = \"u\"\npassword = \"p\"\n{body}"),
            )
        };
        Config::from_toml(&vtp("")).expect("a complete Viettel Post entry");
        for (toml, key) in [
            (carrier("viettelpost", "password = \"p\""), "carriers[0].username"),
            (
                carrier("viettelpost", "username = \" \"\npassword = \"p\""),
                "carriers[0].username",
            ),
            (carrier("viettelpost", "username = \"u\""), "carriers[0].password"),
            (vtp("webhook_secret = \"\""), "carriers[0].webhook_secret"),
            (
                carrier("mock", "webhook_secret = \"\""),
                "carriers[0].webhook_secret",
            ),
            (vtp("attempt_timeout_ms = 0"), "carriers[0].attempt_timeout_ms"),
            (
                vtp("retry_base_ms = 5000\nretry_cap_ms = 1000"),
                "carriers[0].retry_cap_ms",
            ),
            (
                vtp("default_service = \"VTK\"\n[[carriers.services]]\ncode = \"X1\"\nfirst_weight_g = 500\nstep_g = 500\nsame_province = { first = 1, step = 1 }\nsame_region = { first = 1, step = 1 }\nother_region = { first = 1, step = 1 }\nmax_weight_g = 30000\nmax_cod = 1000000"),
                "carriers[0].default_service",
            ),
            (
                carrier(
                    "ghtk",
                    "base_url = \"https://x.vn\"\ntoken = \"t\"\ndefault_service = \"ecom\"",
                ),
                "carriers[0].default_service",
            ),
        ] {
            let e = Config::from_toml(&toml).err().map(|e| e.to_string());
            assert!(e.as_ref().is_some_and(|e| e.contains(&format!("`{key}`"))), "{key}: {e:?}");
        }
        // An unset webhook secret is allowed (webhooks refused); so is the service a kind
        // books by default, or any of the table's codes.
        for ok in [
            vtp("default_service = \"VTK\"\nretry_base_ms = 1000\nretry_cap_ms = 1000"),
            vtp("default_service = \"LCOD\""),
            carrier(
                "ghtk",
                "base_url = \"https://x.vn\"\ntoken = \"t\"\ndefault_service = \"road\"",
            ),
            carrier(
                "ghn",
                "base_url = \"https://x.vn\"\ntoken = \"t\"\nshop_id = \"1\"\ndefault_service = \"ecom\"",
            ),
        ] {
            Config::from_toml(&ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let site = |phone: &str| {
            format!(
                "[[sites]]\nid = \"hoa-lu-hub\"\nname = \"S\"\npickups = [\"11:00\"]\nstation_pin = \"123456\"\nphone = \"{phone}\"\n"
            )
        };
        for phone in ["12", "0212345678", "phone", "+1 415 555 0100"] {
            let e = Config::from_toml(&site(phone)).err().map(|e| e.to_string());
            assert!(
                e.as_ref().is_some_and(|e| e.contains("`sites[0].phone`")),
                "{phone}: {e:?}"
            );
        }
        for phone in ["", "0912 345 678", "02293888999", "+84 24 3812 3456"] {
            Config::from_toml(&site(phone)).unwrap_or_else(|e| panic!("{phone}: {e}"));
        }
    }

    #[test]
    fn redis_url_is_embedded_or_a_url() {
        use crate::config::RedisTarget;
        assert_eq!(
            Config::from_toml("").unwrap().redis.url,
            RedisTarget::Embedded
        );
        let url = "redis://127.0.0.1:6379/0";
        let c = Config::from_toml(&format!("[redis]\nurl = \"{url}\"")).unwrap();
        assert_eq!(c.redis.url.url(), Some(url));
        assert_eq!(String::from(c.redis.url), url);
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(err("[server]\nlisten_addr = \"127.0.0.1:1\"").contains("listen_addr"));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Config::from_toml("").unwrap();
        let dump = format!("{c:?}");
        for s in &c.sellers {
            assert!(!dump.contains(s.token.expose()));
        }
        assert!(!dump.contains(c.sites[0].station_pin.expose()));
    }
}
