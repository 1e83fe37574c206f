//! Documents as stored under a hash's `data` field, packed. An order's record and a parcel's
//! document are a tag byte and a zstd frame (without its 4-byte magic number, the same in
//! every frame), compressed against a fixed dictionary of their own keys and of values every
//! site shares: every record repeats the same keys, which a document of about 1 KB cannot
//! compress on its own. A wave's document, hundreds of ids with shared prefixes, is a tag
//! byte, the JSON's length (little-endian u32) and an LZ4 block, with no dictionary. Order
//! records and parcel documents written before this format (LZ4 against the first
//! dictionaries, the wave's layout) still read. A value that is JSON (written before, or
//! with `redis.pack_documents = false`) reads as it is: JSON never starts with a tag byte.
//!
//! Why zstd for the two per-order documents (issue 20: Redis memory per waved order): its
//! entropy coding and the provinces in its dictionaries take a flash order's record from 967
//! bytes of JSON to about 421 (493 with LZ4 and the first dictionary) and a parcel's document
//! from 830 to about 335 (420), for about 1 µs more CPU per record at ingest and 4 µs per
//! parcel in the planner (README, issue 20's sixteenth session). Since the seventeenth, an
//! order's record is packed against a dictionary zstd trained on records of random text
//! ([`ORDER_DICT_V3`]): about 343 bytes in less CPU than before (its entropy tables are not
//! built again for each record; about 438 at the faster level used since issue 20's
//! twenty-eighth session, [`ORDER_LEVEL`]); records packed against the second dictionary
//! still read.
//! Since the eighteenth, a parcel's document likewise ([`PARCEL_DICT_V3`]): about 281 bytes
//! of a surge's 827-byte documents in 2.2 µs, where the second dictionary took 333 in 5.6 µs
//! (about 297, in a quarter fewer instructions, at the faster level used since issue 20's
//! thirty-third session, [`PARCEL_LEVEL`]).
//!
//! Packing is the store's business: the planner and ingest hand over JSON and every reader
//! gets JSON back. Lua scripts store what they are given and never look inside a document
//! (`request_booking.lua` only checks that a parcel has one).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::LazyLock;

use lz4_flex::block::{
    compress_into_with_dict, decompress_into_with_dict, get_maximum_output_size,
};
use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::DecoderDictionary;
use zstd::zstd_safe::{CParameter, ParamSwitch};

use super::StoreError;

/// A parcel document packed (LZ4) against [`PARCEL_DICT_V1`], as written before zstd. The
/// dictionaries are part of the stored format: never edit one; a new dictionary takes a new
/// tag, and the old one stays readable.
const PARCEL_V1: u8 = 0x01;

/// A parcel document as a zstd frame against [`PARCEL_PROVINCES_V2`] then [`PARCEL_DICT_V1`],
/// as written by the sixteenth and seventeenth sessions' builds (read, no longer written).
const PARCEL_V2: u8 = 0x04;

/// A parcel document as a zstd frame against [`PARCEL_DICT_V3`].
const PARCEL_V3: u8 = 0x07;

/// An order's record as a zstd frame against [`ORDER_PROVINCES_V2`] then [`ORDER_DICT_V1`],
/// as written by the sixteenth session's build (read, no longer written).
const ORDER_V2: u8 = 0x05;

/// An order's record as a zstd frame against [`ORDER_DICT_V3`].
const ORDER_V3: u8 = 0x06;

/// An order's record packed (LZ4) against [`ORDER_DICT_V1`], as written before zstd.
const ORDER_V1: u8 = 0x03;

/// A document packed without a dictionary: a wave's, whose hundreds of parcel ids and
/// (seller, order id) pairs repeat their own prefixes.
const NO_DICT_V1: u8 = 0x02;

/// The keys of a parcel document in the order `ParcelParts` writes them, with the punctuation
/// around them and the values every site shares (carrier names, `null`, `false`). No buyer's,
/// seller's or product's data: this is the document's shape only.
const PARCEL_DICT_V1: &[u8] = br#"{"parcel_id":"P-","wave_id":"W-","site":"","seller":"","buyer_key":"","first_name":"","phone_masked":"","province":"","ward":"","pickup_at":"","orders":[{"order_id":"","session":"","cod_amount":"","weight_g":0,"deadline":"","lines":[{"sku":"","name":"","qty":1,"unit_price":"","weight_g":0}]},{"order_id":"","lines":[{"sku":"","name":"","qty":2,"unit_price":"000","weight_g":0},{"sku":""}]}],"carrier":"ghn","carrier":"ghtk","carrier":"viettel-post","service":"","shipment_id":"S-","tare_g":150,"split_reason":null,"oversize":false,"quote":"","split_reason":"","oversize":true}"#;

/// The keys of an order's record (`OrderData`, its canonical ORDER inside) in the order they
/// are written, with the values every site shares (platforms, regions, `false`, the
/// "Phường"/"Xã" of a ward). The document's shape only, as for parcels.
const ORDER_DICT_V1: &[u8] = r#"{"seller":"","site":"","session":"","received_at":"","deadline":"","pickup_at":"","at_risk":false,"at_risk":true,"buyer_key":"","weight_g":0,"norm":{"phone":"0","province":"","province_code":"","region":"north","region":"central","region":"south","ward":"Xã "},"order":{"order_id":"","platform":"shopee","platform":"facebook","platform":"tiktok","placed_at":"+07:00","buyer":{"name":"","phone":"0"},"ship_to":{"province":"Tỉnh ","district":"","ward":"Phường ","street":""},"items":[{"sku":"","name":"","qty":1,"unit_price":"000","weight_g":0},{"sku":"","name":"","qty":2,"unit_price":"000","weight_g":0}],"cod_amount":"000","shipping_fee":"000","note":""}}"#.as_bytes();

/// The second dictionaries put the 34 provinces (`domain::address`, July 2025) before the
/// first ones, as a record writes them: a province's name, code and region, which its first
/// mention in a record would otherwise spell out (public reference data, no site's own).
/// Frozen like the first: a future province list takes new tags.
const ORDER_PROVINCES_V2: &str = concat!(
    r#""province":"Hà Nội","province_code":"ha-noi","region":"north","#,
    r#""province":"Cao Bằng","province_code":"cao-bang","region":"north","#,
    r#""province":"Tuyên Quang","province_code":"tuyen-quang","region":"north","#,
    r#""province":"Điện Biên","province_code":"dien-bien","region":"north","#,
    r#""province":"Lai Châu","province_code":"lai-chau","region":"north","#,
    r#""province":"Sơn La","province_code":"son-la","region":"north","#,
    r#""province":"Lào Cai","province_code":"lao-cai","region":"north","#,
    r#""province":"Thái Nguyên","province_code":"thai-nguyen","region":"north","#,
    r#""province":"Lạng Sơn","province_code":"lang-son","region":"north","#,
    r#""province":"Quảng Ninh","province_code":"quang-ninh","region":"north","#,
    r#""province":"Bắc Ninh","province_code":"bac-ninh","region":"north","#,
    r#""province":"Phú Thọ","province_code":"phu-tho","region":"north","#,
    r#""province":"Hải Phòng","province_code":"hai-phong","region":"north","#,
    r#""province":"Hưng Yên","province_code":"hung-yen","region":"north","#,
    r#""province":"Ninh Bình","province_code":"ninh-binh","region":"north","#,
    r#""province":"Thanh Hóa","province_code":"thanh-hoa","region":"central","#,
    r#""province":"Nghệ An","province_code":"nghe-an","region":"central","#,
    r#""province":"Hà Tĩnh","province_code":"ha-tinh","region":"central","#,
    r#""province":"Quảng Trị","province_code":"quang-tri","region":"central","#,
    r#""province":"Huế","province_code":"hue","region":"central","#,
    r#""province":"Đà Nẵng","province_code":"da-nang","region":"central","#,
    r#""province":"Quảng Ngãi","province_code":"quang-ngai","region":"central","#,
    r#""province":"Gia Lai","province_code":"gia-lai","region":"central","#,
    r#""province":"Khánh Hòa","province_code":"khanh-hoa","region":"central","#,
    r#""province":"Đắk Lắk","province_code":"dak-lak","region":"central","#,
    r#""province":"Lâm Đồng","province_code":"lam-dong","region":"central","#,
    r#""province":"Đồng Nai","province_code":"dong-nai","region":"south","#,
    r#""province":"Hồ Chí Minh","province_code":"ho-chi-minh","region":"south","#,
    r#""province":"Tây Ninh","province_code":"tay-ninh","region":"south","#,
    r#""province":"Đồng Tháp","province_code":"dong-thap","region":"south","#,
    r#""province":"Vĩnh Long","province_code":"vinh-long","region":"south","#,
    r#""province":"An Giang","province_code":"an-giang","region":"south","#,
    r#""province":"Cần Thơ","province_code":"can-tho","region":"south","#,
    r#""province":"Cà Mau","province_code":"ca-mau","region":"south","#,
);

const PARCEL_PROVINCES_V2: &str = concat!(
    r#""province":"Hà Nội","#,
    r#""province":"Cao Bằng","#,
    r#""province":"Tuyên Quang","#,
    r#""province":"Điện Biên","#,
    r#""province":"Lai Châu","#,
    r#""province":"Sơn La","#,
    r#""province":"Lào Cai","#,
    r#""province":"Thái Nguyên","#,
    r#""province":"Lạng Sơn","#,
    r#""province":"Quảng Ninh","#,
    r#""province":"Bắc Ninh","#,
    r#""province":"Phú Thọ","#,
    r#""province":"Hải Phòng","#,
    r#""province":"Hưng Yên","#,
    r#""province":"Ninh Bình","#,
    r#""province":"Thanh Hóa","#,
    r#""province":"Nghệ An","#,
    r#""province":"Hà Tĩnh","#,
    r#""province":"Quảng Trị","#,
    r#""province":"Huế","#,
    r#""province":"Đà Nẵng","#,
    r#""province":"Quảng Ngãi","#,
    r#""province":"Gia Lai","#,
    r#""province":"Khánh Hòa","#,
    r#""province":"Đắk Lắk","#,
    r#""province":"Lâm Đồng","#,
    r#""province":"Đồng Nai","#,
    r#""province":"Hồ Chí Minh","#,
    r#""province":"Tây Ninh","#,
    r#""province":"Đồng Tháp","#,
    r#""province":"Vĩnh Long","#,
    r#""province":"An Giang","#,
    r#""province":"Cần Thơ","#,
    r#""province":"Cà Mau","#,
);

/// The order records' dictionary since the seventeenth session: a zstd dictionary (its
/// content and its entropy tables) trained by zstd on 3,000 records of the demo generator
/// whose every value that carries words or numbers was replaced by random text of the same
/// shape (`scripts/order-dict-samples.py`): it holds the records' keys, layout and the
/// public enumerations (provinces, regions, platforms), no generator vocabulary and nothing
/// of any buyer. Frozen like the others: pinned by its SHA-256 below.
const ORDER_DICT_V3: &[u8] = include_bytes!("order-v3.zdict");

/// The parcel documents' dictionary since the eighteenth session, made the same way as
/// [`ORDER_DICT_V3`]: trained by zstd on 3,000 parcel documents of the surge scenario whose
/// every value that carries words or numbers was replaced by random text of the same shape
/// (`scripts/order-dict-samples.py`); it holds the documents' keys, layout and the public
/// enumerations (provinces, carriers, services), nothing of any buyer. Frozen: pinned by its
/// SHA-256 below.
const PARCEL_DICT_V3: &[u8] = include_bytes!("parcel-v3.zdict");

/// zstd levels. An order's record is packed on the ack path. With the trained dictionary
/// its entropy tables are reused instead of built for every record, so level 1 packs a
/// generator record to 343 bytes in 2.3 µs, where the second dictionary's fast mode (-1)
/// took 416 in 2.9 µs and its level 1 390 in 5.9 µs (and records of random text: 461 in
/// 3.4 µs against 638 in 3.6 µs); 3,000 records, one core of this machine. Since issue 20's
/// twenty-fourth session records are packed at level -2 (zstd's fast mode, which skips ahead
/// faster through text that does not match): about a quarter less of zstd's work on the ack
/// path (nineteenth session, callgrind, before the shortest match below: 39.1k → 29.2k
/// instructions a surge record) for about 100 bytes more of Redis per waved order (1,352 →
/// 1,455 with the deploy setting, within issue 20's 1,500). Since the twenty-eighth session,
/// level -4 with a shortest match of 7 (below): 17 % fewer of zstd's instructions a record
/// (callgrind, this crate's zstd, 3,000 records of an ingest run: 28.4k → 23.5k; -3 with 6:
/// 25.0k; -6 with 7: 21.3k for 41 bytes more a record), zstd about 28 % of the service's CPU at 10
/// connections × 100 orders a frame; for about 25 bytes more of Redis per waved order
/// (`bench-memory.sh`, two runs each: 1,421–1,436 → 1,452–1,458 with the deploy setting). A
/// parcel's document is packed by the planner, off that path: at level 1 until issue 20's
/// thirty-third session, now at -3 with its literals compressed ([`PARCEL_LITERALS`]).
const ORDER_LEVEL: i32 = -4;
const PARCEL_LEVEL: i32 = -3;

/// Whether the text no match covers (the literals) is Huffman-coded at a level below 1,
/// where zstd stores it as it is. Records: no (3,000 records of a surge run at -4: 446.3
/// bytes and 23.2k instructions a record as they are, 373.8 and 25.9k coded, and reading them
/// back would decode them too; the ack path keeps the cheaper). Parcel documents: yes, since
/// issue 20's thirty-third session. A parcel's document was packed at level 1 (32.4k
/// instructions and 280.4 bytes a document, 3,000 documents of a surge run, callgrind): at -3
/// with its literals coded it takes 23.7k and 297.2 bytes (-2: 26.1k and 285.1; -4: 22.5k and
/// 306.5; -1 as level 1; -3 as it is: 55 bytes or more larger, as the twenty-ninth session
/// found). The planner packs a document per parcel while the surge's orders arrive: a
/// quarter less of that work for about 17 bytes more of Redis per waved order. Reading is
/// unchanged (an ordinary zstd frame).
const ORDER_LITERALS: bool = false;
const PARCEL_LITERALS: bool = true;

/// The shortest match the order level looks for in a record: 7 bytes, since issue 20's
/// twenty-eighth session, with level -4 (3,000 records of an ingest run: at -4, 6 took 24.1k
/// instructions and 440.5 bytes a record, 7 23.5k and 438.1; 7 is the longest zstd takes at
/// this level). From the twentieth session it was 6 instead of zstd's 5 (measured at level 1
/// and kept at -2 without measuring again: 3,000 records of a surge run, packed against
/// [`ORDER_DICT_V3`] and counted by callgrind: 40,037 → 38,948 instructions a record and
/// 352.2 → 348.9 bytes; 4 took 43,055 and 361.9, 7 38,779 and 349.5). A frame packed so is
/// an ordinary zstd frame: reading it is unchanged.
const ORDER_MIN_MATCH: Option<u32> = Some(7);

/// The shortest match the parcel level looks for: 7 bytes instead of zstd's 5, since issue
/// 20's twenty-ninth session (callgrind of this crate's zstd on 3,000 parcel documents of a
/// flash run, level 1: 34.2k → 33.4k instructions a document and 282.3 → 279.0 bytes; 6 took
/// 279.4 bytes; levels below 1 were faster but 55 bytes or more larger). Kept at -3 with
/// coded literals (6 there: 302.5 bytes against 297.2). Reading is unchanged.
const PARCEL_MIN_MATCH: Option<u32> = Some(7);

/// The magic number that opens every zstd frame, left out of what is stored.
const ZSTD_MAGIC: [u8; 4] = 0xFD2F_B528u32.to_le_bytes();

/// A zstd dictionary, prepared once per process: for both directions, or (a format no
/// longer written) for reading only.
struct ZstdDict {
    tag: u8,
    encoder: Option<Encoder>,
    decoder: DecoderDictionary<'static>,
}

/// How documents are packed against a dictionary: its bytes, loaded into each thread's
/// context (which digests them once, with the context's parameters), and the tuning.
struct Encoder {
    dict: Vec<u8>,
    tuning: Tuning,
}

/// The level, where measured better the shortest match the level's search looks for, and
/// whether literals are coded below level 1.
#[derive(Clone, Copy)]
struct Tuning {
    level: i32,
    min_match: Option<u32>,
    literals: bool,
}

impl ZstdDict {
    fn new(tag: u8, tuning: Tuning, parts: &[&[u8]]) -> ZstdDict {
        let dict = parts.concat();
        ZstdDict {
            tag,
            decoder: DecoderDictionary::copy(&dict),
            encoder: Some(Encoder { dict, tuning }),
        }
    }

    fn read_only(tag: u8, parts: &[&[u8]]) -> ZstdDict {
        ZstdDict {
            tag,
            encoder: None,
            decoder: DecoderDictionary::copy(&parts.concat()),
        }
    }
}

const ORDER_TUNING: Tuning = Tuning {
    level: ORDER_LEVEL,
    min_match: ORDER_MIN_MATCH,
    literals: ORDER_LITERALS,
};
const PARCEL_TUNING: Tuning = Tuning {
    level: PARCEL_LEVEL,
    min_match: PARCEL_MIN_MATCH,
    literals: PARCEL_LITERALS,
};

static ORDER_ZSTD: LazyLock<ZstdDict> =
    LazyLock::new(|| ZstdDict::new(ORDER_V3, ORDER_TUNING, &[ORDER_DICT_V3]));
/// Read only: records the sixteenth session's build wrote.
static ORDER_V2_ZSTD: LazyLock<ZstdDict> = LazyLock::new(|| {
    ZstdDict::read_only(ORDER_V2, &[ORDER_PROVINCES_V2.as_bytes(), ORDER_DICT_V1])
});
static PARCEL_ZSTD: LazyLock<ZstdDict> =
    LazyLock::new(|| ZstdDict::new(PARCEL_V3, PARCEL_TUNING, &[PARCEL_DICT_V3]));
/// Read only: documents the sixteenth and seventeenth sessions' builds wrote.
static PARCEL_V2_ZSTD: LazyLock<ZstdDict> = LazyLock::new(|| {
    ZstdDict::read_only(PARCEL_V2, &[PARCEL_PROVINCES_V2.as_bytes(), PARCEL_DICT_V1])
});

/// Which zstd dictionary: the index of a thread's contexts below.
#[derive(Clone, Copy)]
enum Zkind {
    Order = 0,
    Parcel = 1,
    OrderV2 = 2,
    ParcelV2 = 3,
}

impl Zkind {
    fn dict(self) -> &'static ZstdDict {
        match self {
            Zkind::Order => &ORDER_ZSTD,
            Zkind::Parcel => &PARCEL_ZSTD,
            Zkind::OrderV2 => &ORDER_V2_ZSTD,
            Zkind::ParcelV2 => &PARCEL_V2_ZSTD,
        }
    }
}

thread_local! {
    /// Each thread's zstd contexts, per dictionary, made on first use and reused (a context
    /// holds the match tables; making one per document would cost more than packing it).
    static COMPRESSORS: RefCell<([Option<Compressor<'static>>; 4], Vec<u8>)> =
        const { RefCell::new(([None, None, None, None], Vec::new())) };
    static DECOMPRESSORS: RefCell<[Option<Decompressor<'static>>; 4]> =
        const { RefCell::new([None, None, None, None]) };
}

/// A document as a tag and a zstd frame without its magic number. `None` for a document over
/// [`MAX_DOC`] (what `unpack` refuses to allocate; it is then stored as JSON) and for an error
/// zstd reports (not seen: it panics rather than return when it cannot allocate a context);
/// the caller then packs it as before.
fn pack_zstd(json: &[u8], kind: Zkind) -> Option<Vec<u8>> {
    if json.len() > MAX_DOC {
        return None;
    }
    let dict = kind.dict();
    COMPRESSORS.with(|c| {
        let (contexts, scratch) = &mut *c.borrow_mut();
        let slot = &mut contexts[kind as usize];
        if slot.is_none() {
            let encoder = dict.encoder.as_ref()?;
            let t = encoder.tuning;
            let mut z = Compressor::with_dictionary(t.level, &encoder.dict).ok()?;
            if let Some(n) = t.min_match {
                z.set_parameter(CParameter::MinMatch(n)).ok()?;
            }
            if t.literals {
                z.set_parameter(CParameter::LiteralCompressionMode(ParamSwitch::Enable))
                    .ok()?;
            }
            // The frame keeps its content size (what `unpack` allocates) and drops the
            // checksum and dictionary id (the tag names the dictionary).
            z.include_checksum(false).ok()?;
            z.include_dictid(false).ok()?;
            z.include_contentsize(true).ok()?;
            *slot = Some(z);
        }
        // Compressed into the thread's scratch buffer, then copied into a buffer of exactly
        // its size: ingest holds packed records until Redis answers them.
        scratch.clear();
        scratch.reserve(zstd::zstd_safe::compress_bound(json.len()));
        let out = slot
            .as_mut()?
            .compress_to_buffer(json, scratch)
            .ok()
            .and_then(|_| {
                let body = scratch.strip_prefix(&ZSTD_MAGIC[..])?;
                let mut out = Vec::with_capacity(1 + body.len());
                out.push(dict.tag);
                out.extend_from_slice(body);
                Some(out)
            });
        if scratch.capacity() > SCRATCH_KEPT {
            *scratch = Vec::new();
        }
        out
    })
}

/// The most scratch space a thread keeps between documents (a larger one is let go).
const SCRATCH_KEPT: usize = 64 * 1024;

/// The JSON of a tag and a zstd frame without its magic number.
fn unpack_zstd(stored: &[u8], kind: Zkind) -> Result<Vec<u8>, &'static str> {
    let body = stored.get(1..).unwrap_or_default();
    let mut frame = Vec::with_capacity(ZSTD_MAGIC.len() + body.len());
    frame.extend_from_slice(&ZSTD_MAGIC);
    frame.extend_from_slice(body);
    let len = match zstd::zstd_safe::get_frame_content_size(&frame) {
        Ok(Some(len)) if len <= MAX_DOC as u64 => len as usize,
        Ok(Some(_)) => return Err("packed length too large"),
        _ => return Err("packed frame header damaged"),
    };
    DECOMPRESSORS.with(|d| {
        let mut d = d.borrow_mut();
        let slot = &mut d[kind as usize];
        if slot.is_none() {
            let z = Decompressor::with_prepared_dictionary(&kind.dict().decoder)
                .map_err(|_| "zstd could not set up")?;
            *slot = Some(z);
        }
        let z = slot.as_mut().ok_or("zstd could not set up")?;
        match z.decompress(&frame, len) {
            Ok(json) if json.len() == len => Ok(json),
            _ => Err("packed body does not unpack to its length"),
        }
    })
}

/// Header: the tag and the JSON's length.
const HEADER: usize = 5;

/// The most a packed document may say it holds: a larger length is corrupt, not allocated.
const MAX_DOC: usize = 1 << 20;

/// A parcel document as it is stored.
pub fn pack_parcel(json: &[u8]) -> Vec<u8> {
    pack_zstd(json, Zkind::Parcel).unwrap_or_else(|| pack(json, PARCEL_V1, PARCEL_DICT_V1))
}

/// An order's record as it is stored.
pub fn pack_order(json: &[u8]) -> Vec<u8> {
    pack_zstd(json, Zkind::Order).unwrap_or_else(|| pack(json, ORDER_V1, ORDER_DICT_V1))
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
    let zstd = match stored.first() {
        Some(&ORDER_V3) => Some(Zkind::Order),
        Some(&PARCEL_V3) => Some(Zkind::Parcel),
        Some(&ORDER_V2) => Some(Zkind::OrderV2),
        Some(&PARCEL_V2) => Some(Zkind::ParcelV2),
        _ => None,
    };
    if let Some(kind) = zstd {
        let json = unpack_zstd(&stored, kind).map_err(corrupt)?;
        return utf8(json).ok_or_else(|| corrupt("not UTF-8"));
    }
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
    utf8(json).ok_or_else(|| corrupt("not UTF-8"))
}

/// Bytes as a string if they are UTF-8, checked by `simdutf8` (issue 20: std's check of these
/// mostly Vietnamese documents was 1.7 % of the service's CPU in the surge peak, where every
/// record is read back once).
pub(crate) fn utf8(bytes: Vec<u8>) -> Option<String> {
    simdutf8::basic::from_utf8(&bytes).ok()?;
    // SAFETY: the bytes were just checked to be UTF-8, and are not changed since.
    Some(unsafe { String::from_utf8_unchecked(bytes) })
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
    fn a_packed_parcel_unpacks_to_its_json_in_less_than_half_the_bytes() {
        let packed = pack_parcel(PARCEL.as_bytes());
        assert_eq!(packed[0], PARCEL_V3);
        assert!(
            packed.len() * 2 < PARCEL.len(),
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
    fn a_packed_order_unpacks_to_its_record_in_less_than_half_the_bytes() {
        let packed = pack_order(ORDER.as_bytes());
        assert_eq!(packed[0], ORDER_V3);
        // Ingest holds packed records until Redis answers: no slack kept with them.
        assert_eq!(packed.capacity(), packed.len());
        assert!(
            packed.len() * 2 < ORDER.len(),
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

    /// zstd output may change with the library's version; what it reads may not. These were
    /// packed when each format was made and must read the same forever.
    #[test]
    fn zstd_packed_documents_read_the_same_forever() {
        let small =
            r#"{"seller":"a","norm":{"province":"Huế","province_code":"hue","region":"central"}}"#;
        for (vector, tag) in [(PACKED_ORDER_V2, ORDER_V2), (PACKED_ORDER_V3, ORDER_V3)] {
            let order = hex::decode(vector).unwrap();
            assert_eq!(order[0], tag);
            assert_eq!(unpack(order).unwrap(), small);
        }
        for (vector, tag) in [(PACKED_PARCEL_V2, PARCEL_V2), (PACKED_PARCEL_V3, PARCEL_V3)] {
            let parcel = hex::decode(vector).unwrap();
            assert_eq!(parcel[0], tag);
            assert_eq!(
                unpack(parcel).unwrap(),
                r#"{"parcel_id":"P-a-20261205-1","province":"Cà Mau","carrier":"ghn"}"#
            );
        }
    }

    const PACKED_ORDER_V2: &str = "052053ad000018617d7d0500e79a230010193488049eed32c52208";
    const PACKED_ORDER_V3: &str =
        "06205335010068223a224875e1babf6875657d7d07fc7b090dfaf641a067b286cb1bade7db863c3329e39428";
    const PACKED_PARCEL_V2: &str =
        "042043ed000068612d32303236313230352d317d04006fd3e18e280049212711440001";
    const PACKED_PARCEL_V3: &str =
        "0720432501009341053c0801976d42004e372423e58b3a33b5555b6ae71403dc0c70372d15771ffa4a84";

    /// Records and documents an earlier build packed with LZ4 read as before.
    #[test]
    fn the_first_format_still_reads() {
        let parcel = pack(PARCEL.as_bytes(), PARCEL_V1, PARCEL_DICT_V1);
        assert_eq!(parcel[0], PARCEL_V1);
        assert_eq!(unpack(parcel).unwrap(), PARCEL);
        let order = pack(ORDER.as_bytes(), ORDER_V1, ORDER_DICT_V1);
        assert_eq!(order[0], ORDER_V1);
        assert_eq!(unpack(order).unwrap(), ORDER);
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
        let order_v2 = [ORDER_PROVINCES_V2.as_bytes(), ORDER_DICT_V1].concat();
        let parcel_v2 = [PARCEL_PROVINCES_V2.as_bytes(), PARCEL_DICT_V1].concat();
        assert_eq!(pin(&order_v2), ORDER_DICT_V2_SHA256);
        assert_eq!(pin(&parcel_v2), PARCEL_DICT_V2_SHA256);
        assert_eq!(pin(ORDER_DICT_V3), ORDER_DICT_V3_SHA256);
        assert_eq!(pin(PARCEL_DICT_V3), PARCEL_DICT_V3_SHA256);
    }

    const PARCEL_DICT_V3_SHA256: &str =
        "b11099f2850b9d3faf8d7b4f5dd2940a07b58e34e1473bdd671012ad69de17b8";

    const ORDER_DICT_V3_SHA256: &str =
        "a350324cee8245d09937290e5835966dc2137954c397e4e4834a550023cceac3";

    const ORDER_DICT_V2_SHA256: &str =
        "5ba767ee2a77935a1a5047d2a0e52f807b245a298a48a51edc856464e41bb7b8";
    const PARCEL_DICT_V2_SHA256: &str =
        "751dd209295f744dbc85133cd19a9d594f4b735d500f458739cf31c63668a30c";

    const PARCEL_DICT_V1_SHA256: &str =
        "3b76407d0b47a58996c234537d97a33b15292b8f9efce21614f516b0741c509a";
    const ORDER_DICT_V1_SHA256: &str =
        "ca4e959d2ec7f0c8ec15f4d097ff6f712133f5d5c92fda6db58bf8baa30af4b4";

    /// UTF-8 as std reads it: whole text yes; a lone continuation byte, a character cut short
    /// (at the end of a 64-byte block or not) or an encoded surrogate no.
    #[test]
    fn text_is_utf8_as_std_reads_it() {
        let long = "Mật ong rừng Tam Điệp, giao giờ hành chính. ".repeat(5);
        for bytes in [
            b"".to_vec(),
            ORDER.as_bytes().to_vec(),
            long.clone().into_bytes(),
            vec![0x80],
            vec![b'a', 0xe1, 0xba],
            [&long.as_bytes()[..63], &[0xc3][..]].concat(),
            [&long.as_bytes()[..64], &[0xed, 0xa0, 0x80][..], b"tail"].concat(),
            [long.as_bytes(), &[0xff][..]].concat(),
        ] {
            let want = String::from_utf8(bytes.clone()).ok();
            assert_eq!(utf8(bytes), want);
        }
    }

    #[test]
    fn a_damaged_packed_value_is_an_error_not_a_panic() {
        // The first format: a length header, then an LZ4 block.
        let packed = pack(PARCEL.as_bytes(), PARCEL_V1, PARCEL_DICT_V1);
        assert_eq!(unpack(packed.clone()).unwrap(), PARCEL);
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

        // zstd frames: cut anywhere, any byte flipped, never a panic; cut short is an error.
        for packed in [pack_parcel(PARCEL.as_bytes()), pack_order(ORDER.as_bytes())] {
            for cut in 1..packed.len() {
                let cut_short = unpack(packed[..cut].to_vec());
                assert!(cut_short.is_err(), "cut at {cut} of {}", packed.len());
            }
            for i in 1..packed.len() {
                for flip in [0x01, 0x5a, 0xff] {
                    let mut bad = packed.clone();
                    bad[i] ^= flip;
                    let _ = unpack(bad);
                }
            }
        }
        // A frame that says it holds more than a document may is refused before allocating:
        // single segment, an 8-byte content size of 4 GiB, then one empty raw block.
        for tag in [ORDER_V2, ORDER_V3, PARCEL_V2, PARCEL_V3] {
            let mut huge = vec![tag, 0xe0];
            huge.extend_from_slice(&(1u64 << 32).to_le_bytes());
            huge.extend_from_slice(&[0x01, 0x00, 0x00]);
            let refused = unpack(huge).unwrap_err().to_string();
            assert!(refused.contains("too large"), "{refused}");
        }
    }

    /// A document of several zstd blocks (128 KiB each) packs and reads back; one over
    /// `MAX_DOC`, which `unpack` would refuse to allocate, is stored as JSON instead.
    #[test]
    fn large_documents_read_back() {
        let lines: Vec<String> = (0..6_000)
            .map(|i| format!(r#"{{"sku":"SKU-{i}","name":"Mật ong rừng {i}","qty":{i}}}"#))
            .collect();
        let big = format!(r#"{{"order_id":"big","lines":[{}]}}"#, lines.join(","));
        assert!(big.len() > 2 * 128 * 1024, "{} bytes", big.len());
        for packed in [pack_order(big.as_bytes()), pack_parcel(big.as_bytes())] {
            assert!(matches!(packed[0], ORDER_V3 | PARCEL_V3));
            assert_eq!(unpack(packed).unwrap(), big);
        }
        let over = format!(r#"{{"note":"{}"}}"#, "x".repeat(MAX_DOC));
        for packed in [pack_order(over.as_bytes()), pack_parcel(over.as_bytes())] {
            assert_eq!(packed[0], b'{', "stored as JSON");
            assert_eq!(unpack(packed).unwrap(), over);
        }
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
