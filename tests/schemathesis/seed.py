"""Seeds a fresh livepack with orders, waits until they are waved, and writes the ids it
finds into a schemathesis.toml, so the fuzzer reaches real orders, sessions, waves, parcels
and shipments instead of 404s.

usage: seed.py BASE_URL LIVEPACK_BIN OUT_DIR
"""

import json
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone

OPERATOR = "demo-operator-token-change-me"
SELLER = "mat-ong-tam-diep"
SELLER_TOKEN = "demo-seller-mat-ong-tam-diep-token"
SITE = "hoa-lu-hub"
SESSION = "st-seed"


def get(base, path):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {OPERATOR}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def orders(n):
    vn = timezone(timedelta(hours=7))
    placed = (datetime.now(vn) - timedelta(minutes=5)).isoformat(timespec="seconds")
    for i in range(n):
        qty = 1 + i % 3
        yield {
            "order_id": f"ST-{i}", "platform": "tiktok", "placed_at": placed,
            "buyer": {"name": "Nguyễn Thị Lan", "phone": f"09{i % 7:08d}"},
            "ship_to": {"province": "Ninh Bình", "ward": "Phường Hoa Lư",
                        "street": f"{i % 7} Trần Hưng Đạo"},
            "items": [{"sku": "HONEY-500", "name": "Mật ong rừng 500ml", "qty": qty,
                       "unit_price": "185000", "weight_g": 650}],
            "cod_amount": str(qty * 185000 + 30000), "shipping_fee": "30000",
        }


def main():
    base, binary, out = sys.argv[1], sys.argv[2], sys.argv[3]
    path = f"{out}/orders.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for o in orders(40):
            f.write(json.dumps(o, ensure_ascii=False) + "\n")
    ws = base.replace("http://", "ws://")
    subprocess.run([binary, "push", "--url", ws, "--session", SESSION, "--end-session", path],
                   env={"LIVEPACK_TOKEN": SELLER_TOKEN, "PATH": "/usr/bin:/bin"},
                   check=True, stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    waves, days = [], []
    while time.time() < deadline and not waves:
        for d in range(3):
            day = (datetime.now(timezone(timedelta(hours=7))) + timedelta(days=d)).strftime("%Y-%m-%d")
            found = get(base, f"/v1/sites/{SITE}/waves?date={day}")["waves"]
            if found:
                waves, days = found, days + [day]
        time.sleep(0.5)
    if not waves:
        sys.exit("seed: no wave was released within 60 s")
    wave_ids = [w["wave_id"] for w in waves]
    parcels = [p["parcel_id"] for w in wave_ids for p in get(base, f"/v1/waves/{w}")["parcels"]]
    shipments = [s["shipment_id"] for d in days
                 for s in get(base, f"/v1/sites/{SITE}/shipments?date={d}")["shipments"]]
    dicts = {
        "orders": ["ST-0", "ST-1", "ST-39"], "sessions": [SESSION], "sellers": [SELLER],
        "sites": [SITE], "waves": wave_ids, "parcels": parcels[:20],
        "shipments": shipments or ["none"], "dates": days, "carriers": ["viettel-post"],
    }
    params = {
        "path.order_id": "orders", "path.label": "sessions", "query.seller": "sellers",
        "path.site": "sites", "path.wave_id": "waves", "path.parcel_id": "parcels",
        "path.shipment_id": "shipments", "query.date": "dates", "path.carrier_id": "carriers",
    }
    with open(f"{out}/schemathesis.toml", "w", encoding="utf-8") as f:
        for name, values in dicts.items():
            f.write(f"[dictionaries.{name}]\nvalues = {json.dumps(values, ensure_ascii=False)}\n\n")
        f.write("[parameters]\n")
        for key, name in params.items():
            # Real ids most of the time, generated values the rest.
            f.write(f'"{key}" = {{ dictionary = "{name}", probability = 0.7 }}\n')
    print(f"seed: {len(wave_ids)} waves, {len(parcels)} parcels, {len(shipments)} shipments")


if __name__ == "__main__":
    main()
