//! Viettel Post's address ids: `createOrder` and `getPrice` key addresses on its own province,
//! district and ward ids. Our normalized names (post-2025 province, ward as typed) are
//! resolved through its category endpoints (no token needed):
//! - new two-level units: `GET {v3}/categories/listProvinceNew` →
//!   `data:[{PROVINCE_ID, PROVINCE_CODE, PROVINCE_NAME}]` and
//!   `GET {v3}/categories/listWardsNew?provinceId=N` → `data:[{WARDS_ID, WARDS_NAME,
//!   DISTRICT_ID}]` (district 0);
//! - old three-level units, for wards that still carry their pre-2025 names:
//!   `GET {v2}/categories/listProvince`, `listDistrict?provinceId=N`, `listWards?districtId=N`.
//!
//! Names often come in CAPITALS, with or without "Tỉnh / Thành phố / Phường / Xã / Thị trấn";
//! they are compared case-, diacritic- and prefix-insensitively ([`province_key`],
//! [`ward_key`]). Lists are cached in memory, refreshed after a day (a failed refresh keeps
//! serving the old list), at most [`MAX_CACHED_LISTS`] lists per kind.
//!
//! An address whose ward matches nothing (or two different wards) is sent with ward id 0 and
//! its full text: Viettel Post decides, and its refusal is the parcel's rejection reason.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::vtp_wire::{is_error, message_of};
use super::{CarrierError, Party, ViettelPost};
use crate::domain::address::{fold, fold_ward};

/// Lists are fetched again after this long.
pub const CATEGORY_TTL: Duration = Duration::from_secs(24 * 3600);
/// At most this many ward (or district) lists are kept per kind; the oldest goes first.
pub const MAX_CACHED_LISTS: usize = 128;

/// Viettel Post's ids for one address; `district` is 0 for the new two-level units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressIds {
    pub province: i64,
    pub district: i64,
    pub ward: i64,
}

/// One category row: id, name key, and (for wards) its district.
#[derive(Debug, Clone)]
struct Row {
    id: i64,
    key: String,
    district: i64,
}

#[derive(Default)]
pub(super) struct CategoryCache {
    lists: HashMap<String, (Instant, Vec<Row>)>,
}

impl CategoryCache {
    fn fresh(&self, path: &str) -> Option<&Vec<Row>> {
        self.lists
            .get(path)
            .filter(|(at, _)| at.elapsed() < CATEGORY_TTL)
            .map(|(_, rows)| rows)
    }

    fn put(&mut self, path: &str, rows: Vec<Row>) {
        if !self.lists.contains_key(path) && self.lists.len() >= MAX_CACHED_LISTS {
            if let Some(oldest) = self
                .lists
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                self.lists.remove(&oldest);
            }
        }
        self.lists.insert(path.to_owned(), (Instant::now(), rows));
    }
}

/// A province name as a key: folded (lower case, no diacritics), no spaces, without a leading
/// "Tỉnh" / "Thành phố" / "TP": "THÀNH PHỐ HÀ NỘI", "Hà Nội" and "ha noi" → "hanoi".
pub fn province_key(name: &str) -> String {
    let compact: String = fold(name).chars().filter(|c| *c != ' ').collect();
    for prefix in ["thanhpho", "tinh", "tp"] {
        if let Some(rest) = compact.strip_prefix(prefix) {
            if !rest.is_empty() {
                return rest.to_owned();
            }
        }
    }
    compact
}

/// A ward name as a key: [`fold_ward`] (type word dropped, numbers trimmed) without spaces.
pub fn ward_key(name: &str) -> String {
    fold_ward(name).chars().filter(|c| *c != ' ').collect()
}

/// A district name as a key (old units): folded, no spaces, no "Quận / Huyện / Thị xã /
/// Thành phố" prefix.
pub fn district_key(name: &str) -> String {
    let compact: String = fold(name).chars().filter(|c| *c != ' ').collect();
    for prefix in ["thanhpho", "thixa", "quan", "huyen", "tp"] {
        if let Some(rest) = compact.strip_prefix(prefix) {
            if !rest.is_empty() {
                return rest.to_owned();
            }
        }
    }
    compact
}

/// The one row whose key is `key`; none if no row or two different ids match.
fn unique(rows: &[Row], key: &str) -> Option<Row> {
    let mut found: Option<&Row> = None;
    for r in rows.iter().filter(|r| r.key == key) {
        match found {
            Some(f) if f.id != r.id => return None,
            _ => found = Some(r),
        }
    }
    found.cloned()
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn rows(env: &Value, id: &str, name: &str, key: fn(&str) -> String) -> Vec<Row> {
    env.get("data")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    Some(Row {
                        id: int(r.get(id)?)?,
                        key: key(r.get(name)?.as_str()?),
                        district: r.get("DISTRICT_ID").and_then(int).unwrap_or(0),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Clone, Copy)]
enum List {
    ProvincesNew,
    WardsNew,
    ProvincesOld,
    Districts,
    WardsOld,
}

impl ViettelPost {
    /// The `/v3` base beside the configured `/v2` one.
    fn v3_url(&self, path: &str) -> String {
        let base = self.base_url();
        let root = base.strip_suffix("/v2").unwrap_or(base);
        format!("{root}/v3{path}")
    }

    async fn list(&self, kind: List, arg: i64) -> Result<Vec<Row>, CarrierError> {
        let (url, id, name, key): (String, &str, &str, fn(&str) -> String) = match kind {
            List::ProvincesNew => (
                self.v3_url("/categories/listProvinceNew"),
                "PROVINCE_ID",
                "PROVINCE_NAME",
                province_key,
            ),
            List::WardsNew => (
                self.v3_url(&format!("/categories/listWardsNew?provinceId={arg}")),
                "WARDS_ID",
                "WARDS_NAME",
                ward_key,
            ),
            List::ProvincesOld => (
                format!("{}/categories/listProvince", self.base_url()),
                "PROVINCE_ID",
                "PROVINCE_NAME",
                province_key,
            ),
            List::Districts => (
                format!(
                    "{}/categories/listDistrict?provinceId={arg}",
                    self.base_url()
                ),
                "DISTRICT_ID",
                "DISTRICT_NAME",
                district_key,
            ),
            List::WardsOld => (
                format!("{}/categories/listWards?districtId={arg}", self.base_url()),
                "WARDS_ID",
                "WARDS_NAME",
                ward_key,
            ),
        };
        if let Some(rows) = self.inner.categories.lock().await.fresh(&url) {
            return Ok(rows.clone());
        }
        match self.fetch(&url, id, name, key).await {
            Ok(rows) => {
                self.inner.categories.lock().await.put(&url, rows.clone());
                Ok(rows)
            }
            Err(e) => {
                // A stale list beats none while the carrier is down.
                let cache = self.inner.categories.lock().await;
                match cache.lists.get(&url) {
                    Some((_, rows)) => Ok(rows.clone()),
                    None => Err(e),
                }
            }
        }
    }

    async fn fetch(
        &self,
        url: &str,
        id: &str,
        name: &str,
        key: fn(&str) -> String,
    ) -> Result<Vec<Row>, CarrierError> {
        let what = "Viettel Post categories";
        let resp = self
            .http()?
            .get(url)
            .send()
            .await
            .map_err(|e| CarrierError::unavailable(format!("{what}: {e}")))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CarrierError::unavailable(format!("{what}: {e}")))?;
        let env: Value = serde_json::from_slice(&bytes).map_err(|_| {
            CarrierError::unavailable(format!("{what} answered HTTP {status} without JSON"))
        })?;
        if !status.is_success() || is_error(&env) {
            return Err(CarrierError::unavailable(format!(
                "{what} answered HTTP {status}: {}",
                message_of(&env)
            )));
        }
        Ok(rows(&env, id, name, key))
    }

    /// Viettel Post's ids for `party`: the new two-level units first; a ward not found there
    /// is looked up among the old three-level units of the province of that name. Fails
    /// (retryably) only when a list cannot be fetched; an unknown name gives id 0.
    pub async fn address_ids(&self, party: &Party) -> Result<AddressIds, CarrierError> {
        let pkey = province_key(&party.province);
        let wkey = ward_key(&party.ward);
        let mut ids = AddressIds::default();
        if let Some(p) = unique(&self.list(List::ProvincesNew, 0).await?, &pkey) {
            ids.province = p.id;
            if let Some(w) = unique(&self.list(List::WardsNew, p.id).await?, &wkey) {
                ids.ward = w.id;
                ids.district = w.district.max(0);
                return Ok(ids);
            }
        }
        // Old units: the ward's old province may differ from the new one (provinces were
        // merged), so every old province that maps to the same new one is searched.
        let new_code = crate::domain::address::normalize_province(&party.province).map(|p| p.code);
        let old_provinces: Vec<Row> = self
            .list(List::ProvincesOld, 0)
            .await?
            .into_iter()
            .filter(|r| {
                r.key == pkey
                    || new_code.is_some_and(|c| {
                        crate::domain::address::normalize_province(&r.key).map(|p| p.code)
                            == Some(c)
                    })
            })
            .collect();
        let mut found: Option<AddressIds> = None;
        for p in old_provinces {
            for d in self.list(List::Districts, p.id).await? {
                if let Some(w) = unique(&self.list(List::WardsOld, d.id).await?, &wkey) {
                    let hit = AddressIds {
                        province: p.id,
                        district: d.id,
                        ward: w.id,
                    };
                    if found.is_some_and(|f| f != hit) {
                        // The same ward name in two old districts: ambiguous.
                        return Ok(AddressIds {
                            ward: 0,
                            district: 0,
                            ..ids
                        });
                    }
                    found = Some(hit);
                }
            }
        }
        Ok(found.unwrap_or(ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn province_names_match_whatever_their_case_and_prefix() {
        for n in [
            "THÀNH PHỐ HÀ NỘI",
            "Hà Nội",
            "ha noi",
            "TP. Hà Nội",
            "Thành phố Hà Nội",
        ] {
            assert_eq!(province_key(n), "hanoi", "{n}");
        }
        for n in ["TỈNH NINH BÌNH", "Ninh Bình", "NINH BINH", "tinh ninh binh"] {
            assert_eq!(province_key(n), "ninhbinh", "{n}");
        }
        assert_eq!(
            province_key("THÀNH PHỐ HỒ CHÍ MINH"),
            province_key("Hồ Chí Minh")
        );
        assert_ne!(province_key("Hà Nam"), province_key("Hà Nội"));
    }

    #[test]
    fn ward_names_match_whatever_their_case_and_prefix() {
        for n in [
            "PHƯỜNG HOA LƯ",
            "Phường Hoa Lư",
            "hoa lu",
            "P. Hoa Lư",
            "phuong hoa lu",
        ] {
            assert_eq!(ward_key(n), "hoalu", "{n}");
        }
        assert_eq!(ward_key("XÃ GIA VIỄN"), ward_key("Xã Gia Viễn"));
        assert_eq!(
            ward_key("THỊ TRẤN THIÊN TÔN"),
            ward_key("thi tran Thiên Tôn")
        );
        assert_eq!(ward_key("PHƯỜNG 01"), ward_key("P1"));
        assert_ne!(ward_key("Phường Hoa Lư"), ward_key("Phường Hoa Lộc"));
        assert_eq!(district_key("HUYỆN HOA LƯ"), "hoalu");
        assert_eq!(district_key("Thành phố Phủ Lý"), "phuly");
    }

    #[test]
    fn ambiguous_or_missing_names_match_nothing() {
        let r = |id, key: &str| Row {
            id,
            key: key.into(),
            district: 0,
        };
        let rows = vec![r(1, "hoalu"), r(2, "giavien"), r(3, "giavien")];
        assert_eq!(unique(&rows, "hoalu").map(|r| r.id), Some(1));
        assert!(unique(&rows, "giavien").is_none());
        assert!(unique(&rows, "tamdiep").is_none());
    }

    #[test]
    fn the_cache_is_bounded_and_expires() {
        let mut c = CategoryCache::default();
        for n in 0..(MAX_CACHED_LISTS + 10) {
            c.put(&format!("/w?{n}"), Vec::new());
        }
        assert_eq!(c.lists.len(), MAX_CACHED_LISTS);
        assert!(c.fresh(&format!("/w?{}", MAX_CACHED_LISTS + 9)).is_some());
        assert!(c.fresh("/w?0").is_none(), "the oldest went first");
    }
}
