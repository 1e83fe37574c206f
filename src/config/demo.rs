//! Demo settings must not serve real traffic silently: the shipped demo tokens, the demo
//! station PIN, the demo webhook secret and the offline `mock` carrier are listed by
//! `livepack check-config`, and `livepack serve` refuses to listen beyond loopback while any
//! is configured unless `--demo` is given.

use std::net::{IpAddr, SocketAddr};

use super::Config;

/// The station PIN shipped in `config/default.toml`.
pub const DEMO_PIN: &str = "246813";

/// Whether `listen` ("host:port") only accepts connections from this machine.
pub fn is_loopback(listen: &str) -> bool {
    if let Ok(addr) = listen.parse::<SocketAddr>() {
        return addr.ip().is_loopback();
    }
    let host = listen
        .rsplit_once(':')
        .map_or(listen, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The demo PIN as plain text or as an argon2 hash of it.
fn is_demo_pin(stored: &str) -> bool {
    if !stored.starts_with("$argon2") {
        return stored == DEMO_PIN;
    }
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(stored).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(DEMO_PIN.as_bytes(), &hash)
            .is_ok()
    })
}

impl Config {
    /// Settings that start but are probably a mistake, each with its key: a site with no
    /// carrier (its parcels can never be booked or shipped), a carrier no site uses, the
    /// embedded Redis with `appendfsync = "no"` (acked orders of the last seconds may be lost
    /// with the machine). `check-config` prints them, `serve` logs them.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.sites {
            if s.carriers.is_empty() {
                out.push(format!(
                    "sites.{}.carriers is empty: its parcels can never be booked or shipped",
                    s.id
                ));
            }
        }
        for c in &self.carriers {
            if !self.sites.iter().any(|s| s.carriers.contains(&c.id)) {
                out.push(format!("carriers.{} is used by no site", c.id));
            }
        }
        if self.redis.appendfsync == super::Fsync::No {
            out.push(
                "redis.appendfsync = \"no\": orders acked in the last seconds before a machine crash may be lost"
                    .to_owned(),
            );
        }
        out
    }

    /// Every configuration key holding a demo value, with what it is: demo tokens, the demo
    /// station PIN (plain or hashed), demo webhook secrets and `mock` carriers.
    pub fn demo_settings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .demo_credentials()
            .into_iter()
            .map(|k| format!("{k} (a demo token)"))
            .collect();
        for s in &self.sites {
            if is_demo_pin(s.station_pin.expose()) {
                out.push(format!("sites.{}.station_pin (the demo PIN)", s.id));
            }
        }
        for c in &self.carriers {
            if c.webhook_secret.expose().starts_with("demo-") {
                out.push(format!(
                    "carriers.{}.webhook_secret (the demo secret)",
                    c.id
                ));
            }
            if c.kind == super::CarrierKind::Mock {
                out.push(format!(
                    "carriers.{}.kind = \"mock\" (books nothing with a real carrier)",
                    c.id
                ));
            }
        }
        out
    }

    /// `serve`'s check: a listener beyond loopback with demo settings is refused unless
    /// `demo` (`--demo`) says this is a demo. The error names each offending key.
    pub fn check_demo_exposure(&self, demo: bool) -> Result<(), String> {
        if demo || is_loopback(&self.server.listen) {
            return Ok(());
        }
        let keys = self.demo_settings();
        if keys.is_empty() {
            return Ok(());
        }
        let mut msg = format!(
            "refusing to serve on {} (server.listen, not loopback) with demo settings:\n",
            self.server.listen
        );
        for k in &keys {
            msg.push_str(&format!("  - {k}\n"));
        }
        msg.push_str(
            "set real values (see config/default.toml and `livepack check-config`), listen on \
             127.0.0.1, or pass --demo (LIVEPACK_DEMO=1) to run the demo on purpose",
        );
        Err(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_listeners() {
        for l in [
            "127.0.0.1:8080",
            "[::1]:8080",
            "localhost:8080",
            "127.0.0.2:1",
        ] {
            assert!(is_loopback(l), "{l}");
        }
        for l in [
            "0.0.0.0:8080",
            "[::]:8080",
            "10.0.0.5:8080",
            "example.com:80",
            ":8080",
        ] {
            assert!(!is_loopback(l), "{l}");
        }
    }

    #[test]
    fn the_demo_config_lists_each_demo_setting_and_is_refused_beyond_loopback() {
        let mut c = Config::from_toml("").unwrap();
        let keys = c.demo_settings().join("\n");
        for k in [
            "sellers.mat-ong-tam-diep.token",
            "sellers.tra-shan-tuyet.token",
            "operator.token",
            "sites.hoa-lu-hub.station_pin",
            "carriers.viettel-post.webhook_secret",
            "carriers.viettel-post.kind",
        ] {
            assert!(keys.contains(k), "{k} in {keys}");
        }
        assert!(c.check_demo_exposure(false).is_ok(), "loopback is fine");
        c.server.listen = "0.0.0.0:8080".into();
        let err = c.check_demo_exposure(false).unwrap_err();
        assert!(
            err.contains("operator.token") && err.contains("--demo"),
            "{err}"
        );
        assert!(c.check_demo_exposure(true).is_ok());
    }

    #[test]
    fn a_site_without_a_carrier_an_unused_carrier_and_no_fsync_are_warned_of() {
        assert!(
            Config::from_toml("").unwrap().warnings().is_empty(),
            "the demo"
        );
        let c = Config::from_toml(
            "[redis]\nappendfsync = \"no\"\n[[sites]]\nid = \"kim-son\"\nname = \"K\"\n\
             pickups = [\"11:00\"]\nstation_pin = \"123456\"\n\
             [[sellers]]\nid = \"s\"\nname = \"S\"\nsite = \"kim-son\"\ntoken = \"a-real-seller-token-0123456789\"\n\
             [[carriers]]\nid = \"spare\"\nkind = \"mock\"\n",
        )
        .unwrap();
        let w = c.warnings().join("\n");
        for part in [
            "sites.kim-son.carriers is empty",
            "carriers.spare is used by no site",
            "appendfsync",
        ] {
            assert!(w.contains(part), "{part:?} in {w}");
        }
    }

    #[test]
    fn a_hashed_demo_pin_is_still_the_demo_pin() {
        let h = crate::config::pin::hash(DEMO_PIN).unwrap();
        let toml = format!(
            "[server]\nlisten = \"0.0.0.0:1\"\n[operator]\ntoken = \"a-real-operator-token-0123456789\"\n\
             [[sellers]]\nid = \"s\"\nname = \"S\"\nsite = \"hoa-lu-hub\"\ntoken = \"a-real-seller-token-0123456789\"\n\
             [[sites]]\nid = \"hoa-lu-hub\"\nname = \"H\"\npickups = [\"11:00\"]\nstation_pin = \"{h}\"\n\
             [[carriers]]\nid = \"vtp\"\nkind = \"viettelpost\"\nusername = \"u\"\npassword = \"p\"\n\
             webhook_secret = \"a-real-webhook-secret-0123\"\n"
        );
        let c = Config::from_toml(&toml).unwrap();
        assert_eq!(
            c.demo_settings(),
            vec!["sites.hoa-lu-hub.station_pin (the demo PIN)".to_owned()]
        );
        assert!(c.check_demo_exposure(false).is_err());
    }
}
