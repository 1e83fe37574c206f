#!/usr/bin/env python3
"""Samples for the zstd dictionaries of order records (`src/store/order-v3.zdict`) and parcel
documents (`src/store/parcel-v3.zdict`), issue 20.

Reads stored order records (JSON lines: the `data` field of order hashes written with
`redis.pack_documents = false`) and writes them again with every value that carries words or
numbers replaced by random text of the same shape: names, streets, wards, notes, SKUs and
their names, ids, phones, amounts, times. Kept: the keys and the public enumerations
(province, province_code, region, platform). A dictionary trained on these learns the
records' layout and the entropy of Vietnamese text, not any vocabulary of the records it was
made from, nor anything of a buyer.

How `order-v3.zdict` was made (2026-12-04): 6,000 orders of the demo generator
(`livepack-surge ingest`, 2 connections x 50 a frame) stored with pack_documents off, their
records read back in key-scan order; `order-dict-samples.py 7 records.jsonl samples.jsonl 0 3000`;
then zstd's trainer, `zstd::dict::from_samples(samples, 8192)` (the `zdict_builder` feature
of the zstd crate, not enabled in the build). The dictionary is frozen: records packed
against it must read forever (its SHA-256 is pinned in `src/store/doc.rs`); a better one
is a new tag.

How `parcel-v3.zdict` was made (2026-12-04, the same way): 6,750 parcel documents of
`SCENARIOS=peak SCALE=0.15 bash load-tests/bench-surge.sh` run with
`LIVEPACK__REDIS__PACK_DOCUMENTS=false` (the `data` field of every parcel hash, key-scan
order); `order-dict-samples.py 11 parcels.jsonl samples.jsonl 0 3000` (parcels add their ids,
masked phone and the carrier enumerations: carrier, service, split_reason); each sample
written to a file of its own, then `zstd --train -B0 --maxdict=8192 samples/*` (the zstd
1.5 command-line tool).

usage: order-dict-samples.py SEED IN.jsonl OUT.jsonl [FIRST [N]]
"""
import json, random, sys
seed, src, dst = int(sys.argv[1]), sys.argv[2], sys.argv[3]
first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
n = int(sys.argv[5]) if len(sys.argv) > 5 else 10**9
random.seed(seed)
VI = "aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ"
def word(k): return ''.join(random.choice(VI) for _ in range(k))
def text(s):
    out = []
    for w in s.split(' '):
        x = word(random.randint(1, 7))
        if w[:1].isupper(): x = x[:1].upper() + x[1:]
        if w.isdigit(): x = str(random.randint(1, 999))
        out.append(x)
    return ' '.join(out)
def digits(k): return ''.join(random.choice('0123456789') for _ in range(k))
def slug(k): return ''.join(random.choice('abcdefghijklmnopqrstuvwxyz0123456789-') for _ in range(k))
def hexs(k): return ''.join(random.choice('0123456789abcdef') for _ in range(k))
def ts(s): return ''.join(random.choice('0123456789') if c.isdigit() else c for c in s)
def sku(s): return ''.join(random.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789') if c.isalnum() else c for c in s)
def money(s): return str(random.randint(1, 999) * 1000)
def walk(o, key=None):
    if isinstance(o, dict): return {k: walk(v, k) for k, v in o.items()}
    if isinstance(o, list): return [walk(v, key) for v in o]
    if isinstance(o, bool) or o is None: return o
    if isinstance(o, (int, float)): return random.randint(1, 20000) if key == 'weight_g' else random.randint(1, 9)
    if key in ('province', 'province_code', 'region', 'platform', 'carrier', 'service', 'split_reason'): return o
    if key in ('parcel_id', 'wave_id', 'shipment_id'): return o[:2] + slug(len(o) - 2)
    if key == 'phone_masked': return ts(o)
    if key in ('received_at', 'deadline', 'pickup_at', 'placed_at'): return ts(o)
    if key == 'phone': return '0' + digits(9)
    if key == 'buyer_key': return hexs(len(o))
    if key in ('seller', 'site', 'session', 'order_id'): return slug(len(o))
    if key == 'sku': return sku(o)
    if key in ('unit_price', 'cod_amount', 'shipping_fee'): return money(o)
    return text(o)
recs = [json.loads(l) for l in open(src)][first:first + n]
with open(dst, 'w') as f:
    for r in recs:
        f.write(json.dumps(walk(r), ensure_ascii=False, separators=(',', ':')) + '\n')
