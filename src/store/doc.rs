//! Documents as stored under a hash's `data` field, packed: a tag byte, the JSON's length
//! (little-endian u32), then an LZ4 block of the JSON. An order's record and a parcel's
//! document are compressed against a fixed dictionary of their own keys (every record repeats
//! the same keys, which a document of about 1 KB cannot compress on its own); a wave's
//! document, hundreds of ids with shared prefixes, needs none. Each takes about half its JSON
//! or less (issue 20: Redis memory per waved order). A value that is JSON (written before,
//! or with `redis.pack_documents = false`) reads as it is: JSON never starts with a tag byte.
//!
//! Packing is the store's business: the planner and ingest hand over JSON and every reader
//! gets JSON back. Lua scripts store what they are given and never look inside a document
//! (`request_booking.lua` only checks that a parcel has one).

use std::collections::HashMap;

use lz4_flex::block::{
    compress_into_with_dict, decompress_into_with_dict, get_maximum_output_size,
};

use super::StoreError;

/// A parcel document packed against [`PARCEL_DICT_V1`]. The dictionary is part of the stored
/// format: never edit it; a new dictionary takes a new tag, and this one stays readable.
const PARCEL_V1: u8 = 0x01;

/// An order's record packed against [`ORDER_DICT_V1`] (never edit it either).
const ORDER_V1: u8 = 0x03;

/// A document packed without a dictionary: a wave's, whose hundreds of parcel ids and
/// (seller, order id) pairs repeat their own prefixes.
const NO_DICT_V1: u8 = 0x02;

/// The keys of a parcel document in the order `ParcelDoc` writes them, with the punctuation
/// around them and the values every site shares (carrier names, `null`, `false`). No buyer's,
/// seller's or product's data: this is the document's shape only.
const PARCEL_DICT_V1: &[u8] = br#"{"parcel_id":"P-","wave_id":"W-","site":"","seller":"","buyer_key":"","first_name":"","phone_masked":"","province":"","ward":"","pickup_at":"","orders":[{"order_id":"","session":"","cod_amount":"","weight_g":0,"deadline":"","lines":[{"sku":"","name":"","qty":1,"unit_price":"","weight_g":0}]},{"order_id":"","lines":[{"sku":"","name":"","qty":2,"unit_price":"000","weight_g":0},{"sku":""}]}],"carrier":"ghn","carrier":"ghtk","carrier":"viettel-post","service":"","shipment_id":"S-","tare_g":150,"split_reason":null,"oversize":false,"quote":"","split_reason":"","oversize":true}"#;

/// The keys of an order's record (`OrderData`, its canonical ORDER inside) in the order they
/// are written, with the values every site shares (platforms, regions, `false`, the
/// "Phường"/"Xã" of a ward). The document's shape only, as for parcels.
const ORDER_DICT_V1: &[u8] = r#"{"seller":"","site":"","session":"","received_at":"","deadline":"","pickup_at":"","at_risk":false,"at_risk":true,"buyer_key":"","weight_g":0,"norm":{"phone":"0","province":"","province_code":"","region":"north","region":"central","region":"south","ward":"Xã "},"order":{"order_id":"","platform":"shopee","platform":"facebook","platform":"tiktok","placed_at":"+07:00","buyer":{"name":"","phone":"0"},"ship_to":{"province":"Tỉnh ","district":"","ward":"Phường ","street":""},"items":[{"sku":"","name":"","qty":1,"unit_price":"000","weight_g":0},{"sku":"","name":"","qty":2,"unit_price":"000","weight_g":0}],"cod_amount":"000","shipping_fee":"000","note":""}}"#.as_bytes();

/// Header: the tag and the JSON's length.
const HEADER: usize = 5;

/// The most a packed document may say it holds: a larger length is corrupt, not allocated.
const MAX_DOC: usize = 1 << 20;

/// A parcel document as it is stored.
pub fn pack_parcel(json: &[u8]) -> Vec<u8> {
    pack(json, PARCEL_V1, PARCEL_DICT_V1)
}

/// An order's record as it is stored.
pub fn pack_order(json: &[u8]) -> Vec<u8> {
    pack(json, ORDER_V1, ORDER_DICT_V1)
}

/// A wave document as it is stored.
pub fn pack_wave(json: &[u8]) -> Vec<u8> {
    pack(json, NO_DICT_V1, b"")
}

fn pack(json: &[u8], tag: u8, dict: &[u8]) -> Vec<u8> {
    let n = json.len();
    if n > MAX_DOC {
        return json.to_vec();
    }
    let mut out = vec![0u8; HEADER + get_maximum_output_size(n)];
    out[0] = tag;
    out[1..HEADER].copy_from_slice(&(n as u32).to_le_bytes());
    match compress_into_with_dict(json, &mut out[HEADER..], dict) {
        Ok(len) => {
            out.truncate(HEADER + len);
            out
        }
        // The output is sized for the worst case, so this does not happen; plain JSON is
        // always readable.
        Err(_) => json.to_vec(),
    }
}

/// A stored document as JSON text: a packed one unpacked, anything else as it is.
pub fn unpack(stored: Vec<u8>) -> Result<String, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("stored document: {what}"));
    let dict = match stored.first() {
        Some(&PARCEL_V1) => Some(PARCEL_DICT_V1),
        Some(&ORDER_V1) => Some(ORDER_DICT_V1),
        Some(&NO_DICT_V1) => Some(&b""[..]),
        _ => None,
    };
    let json = match dict {
        Some(dict) => {
            let len: [u8; 4] = stored
                .get(1..HEADER)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| corrupt("packed header cut short"))?;
            let len = u32::from_le_bytes(len) as usize;
            if len > MAX_DOC {
                return Err(corrupt("packed length too large"));
            }
            let mut out = vec![0u8; len];
            match decompress_into_with_dict(&stored[HEADER..], &mut out, dict) {
                Ok(n) if n == len => out,
                _ => return Err(corrupt("packed body does not unpack to its length")),
            }
        }
        None => stored,
    };
    String::from_utf8(json).map_err(|_| corrupt("not UTF-8"))
}

/// A hash read as bytes (`HGETALL`), its `data` unpacked and its other values as text.
pub fn hash_text(raw: HashMap<String, Vec<u8>>) -> Result<HashMap<String, String>, StoreError> {
    raw.into_iter()
        .map(|(k, v)| {
            let v = if k == "data" {
                unpack(v)?
            } else {
                String::from_utf8(v)
                    .map_err(|_| StoreError::Corrupt(format!("hash field {k}: not UTF-8")))?
            };
            Ok((k, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARCEL: &str = r#"{"parcel_id":"P-hoa-lu-hub-20261205-489","wave_id":"W-hoa-lu-hub-20261205-3","site":"hoa-lu-hub","seller":"mat-ong-tam-diep","buyer_key":"5eb6696cf4d7b8b0f5d5faa0","first_name":"Nam","phone_masked":"090****503","province":"Cần Thơ","ward":"Phường Ninh Kiều","pickup_at":"2026-12-05T04:00:00Z","orders":[{"order_id":"s1-1d4smlyyxab6-c0-503","session":"s1-1d4smlyyxab6-c0","cod_amount":"2090000","weight_g":7350,"deadline":"2026-12-05T12:30:23Z","lines":[{"sku":"FISH-DRIED-500","name":"Cá cơm khô 500g","qty":3,"unit_price":"160000","weight_g":550},{"sku":"HONEY-500","name":"Mật ong rừng Tam Điệp 500ml","qty":3,"unit_price":"185000","weight_g":650},{"sku":"HONEY-1000","name":"Mật ong rừng Tam Điệp 1 lít","qty":3,"unit_price":"340000","weight_g":1250}]}],"carrier":"viettel-post","service":"VCN","shipment_id":"S-hoa-lu-hub-20261205-1100-viettel-post-VCN","tare_g":150,"split_reason":null,"oversize":false}"#;

    #[test]
    fn a_packed_parcel_unpacks_to_its_json_in_about_half_the_bytes() {
        let packed = pack_parcel(PARCEL.as_bytes());
        assert_eq!(packed[0], PARCEL_V1);
        assert!(
            packed.len() * 10 < PARCEL.len() * 6,
            "{} bytes packed of {}",
            packed.len(),
            PARCEL.len()
        );
        assert_eq!(unpack(packed).unwrap(), PARCEL);
        assert_eq!(unpack(pack_parcel(b"")).unwrap(), "");
        assert_eq!(unpack(pack_parcel(b"{}")).unwrap(), "{}");
    }

    #[test]
    fn a_packed_wave_unpacks_to_its_json() {
        let ids: Vec<String> = (1..=200)
            .map(|i| format!("\"P-hoa-lu-hub-20261205-{i}\""))
            .collect();
        let wave = format!(
            "{{\"wave_id\":\"W-hoa-lu-hub-20261205-3\",\"parcel_ids\":[{}]}}",
            ids.join(",")
        );
        let packed = pack_wave(wave.as_bytes());
        assert_eq!(packed[0], NO_DICT_V1);
        assert!(
            packed.len() * 2 < wave.len(),
            "{} bytes packed of {}",
            packed.len(),
            wave.len()
        );
        assert_eq!(unpack(packed).unwrap(), wave);
        let packed = hex::decode(PACKED_WAVE_V1).unwrap();
        assert_eq!(
            unpack(packed).unwrap(),
            r#"{"parcel_ids":["P-a-1","P-a-2","P-a-3"]}"#
        );
    }

    const ORDER: &str = r#"{"seller":"mat-ong-tam-diep","site":"hoa-lu-hub","session":"s1-1d4smlyyxab6-c0","received_at":"2026-12-04T12:34:23.117213958Z","deadline":"2026-12-05T12:30:23Z","pickup_at":"2026-12-05T04:00:00Z","at_risk":false,"buyer_key":"73bc33418e87e0f33e07c82a","weight_g":5650,"norm":{"phone":"0900000703","province":"Hồ Chí Minh","province_code":"ho-chi-minh","region":"south","ward":"Phường Bến Thành"},"order":{"order_id":"s1-1d4smlyyxab6-c0-703","platform":"tiktok","placed_at":"2026-12-04T19:30:23+07:00","buyer":{"name":"Bùi Ngọc Dũng","phone":"0900000703"},"ship_to":{"province":"Hồ Chí Minh","ward":"Phường Bến Thành","street":"107 Lê Lợi"},"items":[{"sku":"RICE-ST25-5KG","name":"Gạo ST25 túi 5kg","qty":1,"unit_price":"195000","weight_g":5100},{"sku":"FISH-DRIED-500","name":"Cá cơm khô 500g","qty":1,"unit_price":"160000","weight_g":550}],"cod_amount":"380000","shipping_fee":"25000","note":"Giao giờ hành chính"}}"#;

    #[test]
    fn a_packed_order_unpacks_to_its_record_in_about_half_the_bytes() {
        let packed = pack_order(ORDER.as_bytes());
        assert_eq!(packed[0], ORDER_V1);
        assert!(
            packed.len() * 10 < ORDER.len() * 6,
            "{} bytes packed of {}",
            packed.len(),
            ORDER.len()
        );
        assert_eq!(unpack(packed).unwrap(), ORDER);
        let packed = hex::decode(PACKED_ORDER_V1).unwrap();
        assert_eq!(
            unpack(packed).unwrap(),
            r#"{"seller":"a","norm":{"region":"south"},"order":{"platform":"tiktok"}}"#
        );
    }

    const PACKED_ORDER_V1: &str =
        "034600000007960226612217020bc60108b8010796019074696b746f6b227d7d";

    const PACKED_WAVE_V1: &str =
        "0228000000f1087b2270617263656c5f696473223a5b22502d612d31222c0800c032222c22502d612d33225d7d";

    #[test]
    fn plain_json_reads_as_it_is() {
        assert_eq!(unpack(PARCEL.as_bytes().to_vec()).unwrap(), PARCEL);
        assert_eq!(unpack(Vec::new()).unwrap(), "");
        assert!(unpack(vec![b'{', 0xff]).is_err());
    }

    /// The dictionary is part of what Redis holds: bytes packed before must read the same
    /// forever. This value was packed with the first dictionary; editing it fails here.
    #[test]
    fn the_dictionary_never_changes() {
        let doc = r#"{"parcel_id":"P-a-20261205-1","carrier":"ghn","split_reason":null,"oversize":false}"#;
        let packed = hex::decode(PACKED_V1).unwrap();
        assert_eq!(unpack(packed).unwrap(), doc);
    }

    const PACKED_V1: &str =
        "01530000000c4102c9612d32303236313230352d31b60002d7000a50000c80006066616c73657d";

    /// Every byte of each dictionary is pinned, not only those the vectors above use.
    #[test]
    fn the_dictionaries_are_the_first_ones() {
        use sha2::{Digest, Sha256};
        let pin = |d: &[u8]| hex::encode(Sha256::digest(d));
        assert_eq!(pin(PARCEL_DICT_V1), PARCEL_DICT_V1_SHA256);
        assert_eq!(pin(ORDER_DICT_V1), ORDER_DICT_V1_SHA256);
    }

    const PARCEL_DICT_V1_SHA256: &str =
        "3b76407d0b47a58996c234537d97a33b15292b8f9efce21614f516b0741c509a";
    const ORDER_DICT_V1_SHA256: &str =
        "ca4e959d2ec7f0c8ec15f4d097ff6f712133f5d5c92fda6db58bf8baa30af4b4";

    #[test]
    fn a_damaged_packed_value_is_an_error_not_a_panic() {
        let packed = pack_parcel(PARCEL.as_bytes());
        for cut in 0..packed.len() {
            let _ = unpack(packed[..cut].to_vec());
        }
        let mut huge = packed.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(unpack(huge).is_err());
        let mut longer = packed.clone();
        let n = u32::from_le_bytes(longer[1..5].try_into().unwrap()) + 1;
        longer[1..5].copy_from_slice(&n.to_le_bytes());
        assert!(unpack(longer).is_err());
        for i in HEADER..packed.len() {
            let mut bad = packed.clone();
            bad[i] ^= 0x5a;
            let _ = unpack(bad);
        }
        assert!(unpack(packed[..packed.len() - 1].to_vec()).is_err());
    }

    #[test]
    fn a_hash_reads_with_its_document_unpacked() {
        let raw: HashMap<String, Vec<u8>> = [
            ("data".to_owned(), pack_parcel(PARCEL.as_bytes())),
            ("status".to_owned(), b"open".to_vec()),
        ]
        .into_iter()
        .collect();
        let h = hash_text(raw).unwrap();
        assert_eq!(h["data"], PARCEL);
        assert_eq!(h["status"], "open");
        let bad: HashMap<String, Vec<u8>> = [("status".to_owned(), vec![0xff])].into();
        assert!(hash_text(bad).is_err());
    }
}
