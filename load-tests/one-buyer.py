#!/usr/bin/env python3
"""One seller's export whose orders all name one buyer, and two other sellers meanwhile.

Review X1: an export of 20,000 orders that all carry one phone and address (a placeholder
the platform filled in) made every wave read and mark each earlier parcel of that buyer;
wave commits held Redis up to 90 ms and the site's planner stalled for minutes, while
another seller's ended session at the same site waited and one at another site saw slow
acks. This runs the case on demand against a livepack binary it starts itself (its own
temporary data directory and port; two sites, three sellers):

  python3 load-tests/one-buyer.py target/release/livepack --orders 100000 --buyers 1

Seller A pushes `--orders` orders (frames of 500, `--buyers` distinct buyers) and ends its
session with its last frame. Once A's push is answered (or, with `--cancel`, once A's
orders are waved and A starts cancelling them all), sellers B (same site) and C (another
site) each send 40 orders, 25 ms apart, and end their sessions: while A's orders are planned
and committed. Printed: A's push time and the time from its session's end to all of its
orders waved, B's and C's ack latencies and the same time for theirs, Redis' time in
scripts and its longest command. No assertion on time: it exits 1 only when an order is
not waved within 300 s of its session's end or a frame of A's is not acked.
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import redis
import websockets

A = ("mat-ong-tam-diep", "demo-seller-mat-ong-tam-diep-token")
B = ("tra-shan-tuyet", "demo-seller-tra-shan-tuyet-token")
C = ("seller-c", "demo-seller-c-token-one-buyer-bench")
HERE = os.path.dirname(os.path.abspath(__file__))
SKUS = ["HONEY-500", "TEA-SHAN-100", "RICE-ST25-5KG"]

SECOND_SITE = """
[[sites]]
id = "site-two"
name = "Second hub"
pickups = ["11:00", "17:00"]
packers = 4
station_pin = "246813"
carriers = ["viettel-post"]
phone = "02293888999"
province = "Ninh Bình"
ward = "Phường Hoa Lư"
street = "Thôn Văn Lâm"

[[sellers]]
id = "%s"
name = "Seller C"
site = "site-two"
token = "%s"
""" % C


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(tmp, port):
    text = open(os.path.join(HERE, "..", "config", "default.toml"), encoding="utf-8").read()
    for old, new in [
        ('listen = "127.0.0.1:8080"', 'listen = "127.0.0.1:%d"' % port),
        ('data_dir = "./data"', 'data_dir = "%s/data"' % tmp),
        ('archive_dir = "./archive"', 'archive_dir = "%s/archive"' % tmp),
        ("[operator]", SECOND_SITE + "\n[operator]"),
    ]:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = os.path.join(tmp, "config.toml")
    open(path, "w", encoding="utf-8").write(text)
    return path


def order(order_id, buyer):
    now = datetime.now(timezone(timedelta(hours=7))).isoformat(timespec="seconds")
    return {
        "order_id": order_id, "platform": "tiktok", "placed_at": now,
        "buyer": {"name": "Nguyễn Thị Lan", "phone": "09%08d" % buyer},
        "ship_to": {"province": "Ninh Bình", "ward": "Phường Hoa Lư",
                    "street": "%d Trần Hưng Đạo" % buyer},
        "items": [{"sku": random.choice(SKUS),
                   "name": "x", "qty": 1, "unit_price": "185000", "weight_g": 650}],
        "cod_amount": "185000", "shipping_fee": "30000",
    }


class Run:
    def __init__(self, port, orders, buyers, cancel):
        self.base = "127.0.0.1:%d" % port
        self.cancel = cancel
        self.orders, self.buyers = orders, buyers

    def connect(self, seller, session):
        return websockets.connect(
            "ws://%s/v1/ingest?session=%s" % (self.base, session),
            additional_headers={"Authorization": "Bearer " + seller[1]}, max_size=None)

    def session(self, seller, label):
        req = urllib.request.Request(
            "http://%s/v1/sessions/%s" % (self.base, label),
            headers={"Authorization": "Bearer " + seller[1]})
        return json.loads(urllib.request.urlopen(req, timeout=30).read())

    async def wait_waved(self, seller, label, want, since, who):
        """Polls the session until `want` orders are waved (300 s at most)."""
        while True:
            waved = (await asyncio.to_thread(self.session, seller, label))["waved"]
            if waved >= want:
                print("%s: all %d waved %.1f s after its session ended"
                      % (who, want, time.time() - since), flush=True)
                return True
            if time.time() - since > 300:
                print("%s: %d of %d waved 300 s after its session ended" % (who, waved, want))
                return False
            await asyncio.sleep(0.05)

    async def big(self):
        """A's push (every frame answered; a nack is reported, not resent), its session
        ended with its last frame; then the wait until all its accepted orders are waved."""
        nacked = 0
        async with self.connect(A, "big") as ws:
            frames = (self.orders + 499) // 500
            started = time.time()

            async def replies():
                nonlocal nacked
                for _ in range(frames + 1):
                    reply = json.loads(await ws.recv())
                    if reply["type"] != "ack":
                        nacked += 1
                        print("A:", reply)

            reading = asyncio.create_task(replies())
            for f in range(frames):
                ids = range(f * 500, min((f + 1) * 500, self.orders))
                batch = [order("BIG-%d" % i, i % self.buyers) for i in ids]
                await ws.send(json.dumps({"type": "orders", "seq": f + 1, "orders": batch}))
            await ws.send(json.dumps({"type": "end_session", "seq": frames + 1}))
            await reading
        ended = time.time()
        print("A: %d orders for %d buyer(s) answered in %.1f s (%d frames not acked)"
              % (self.orders, self.buyers, ended - started, nacked), flush=True)
        if not self.cancel:
            self.others_go.set()
        accepted = (await asyncio.to_thread(self.session, A, "big"))["accepted"]
        ok = await self.wait_waved(A, "big", accepted, ended, "A")
        return ok and nacked == 0

    async def small(self, seller, name):
        """40 orders one a frame, 25 ms apart, once A's push is answered (their end comes
        while A's orders are planned and committed), then the session's end."""
        await self.others_go.wait()
        latencies = []
        async with self.connect(seller, name) as ws:
            for i in range(40):
                sent = time.time()
                await ws.send(json.dumps(
                    {"type": "order", "seq": i + 1, "order": order("%s-%d" % (name, i), 5 * 10**7 + i)}))
                reply = json.loads(await ws.recv())
                latencies.append(time.time() - sent)
                if reply["type"] != "ack":
                    print(name, reply)
                await asyncio.sleep(0.025)
            await ws.send(json.dumps({"type": "end_session", "seq": 41}))
            await ws.recv()
        ended = time.time()
        latencies.sort()
        print("%s: acks p50 %.1f ms, max %.1f ms"
              % (name, latencies[20] * 1e3, latencies[-1] * 1e3), flush=True)
        return await self.wait_waved(seller, name, 40, ended, name)

    async def cancel_all(self):
        """A's orders all cancelled, pipelined one a frame, once they are waved; B and C
        start with the cancels."""
        async with self.connect(A, "big") as ws:
            started = time.time()
            self.others_go.set()

            async def replies():
                for _ in range(self.orders):
                    reply = json.loads(await ws.recv())
                    if reply["type"] != "ack":
                        print("A cancel:", reply)

            reading = asyncio.create_task(replies())
            for i in range(self.orders):
                await ws.send(json.dumps({"type": "cancel", "seq": i + 1, "order_id": "BIG-%d" % i,
                                          "reason": "buyer_cancelled"}))
            await reading
            print("A: %d cancels answered in %.1f s" % (self.orders, time.time() - started), flush=True)
        return True

    async def main(self):
        self.others_go = asyncio.Event()

        async def a_side():
            ok = await self.big()
            if self.cancel and ok:
                ok = await self.cancel_all()
            return ok

        ok = await asyncio.gather(a_side(), self.small(B, "B-same-site"),
                                  self.small(C, "C-other-site"))
        return all(ok)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--buyers", type=int, default=1)
    ap.add_argument("--skus", type=int, default=3, help="distinct SKUs (3: the demo's)")
    ap.add_argument("--cancel", action="store_true",
                    help="then A cancels all its orders once waved, while B and C run")
    args = ap.parse_args()
    if args.skus != 3:
        SKUS[:] = ["SKU-%d" % i for i in range(args.skus)]
    tmp = tempfile.mkdtemp(prefix="lp-one-buyer-")
    port = free_port()
    env = dict(os.environ, LIVEPACK_CONFIG=config(tmp, port))
    log = open(os.path.join(tmp, "serve.log"), "w")
    server = subprocess.Popen([args.binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=1)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    sys.exit("livepack did not start: see %s/serve.log" % tmp)
                time.sleep(0.2)
        sock = os.path.join(tmp, "data", "redis.sock")
        subprocess.run(["redis-cli", "-s", sock, "config", "set", "slowlog-log-slower-than", "10000"],
                       capture_output=True)
        ok = asyncio.run(Run(port, args.orders, args.buyers, args.cancel).main())
        r = redis.Redis(unix_socket_path=sock)
        f = r.info("commandstats").get("cmdstat_evalsha", {})
        print("Redis in scripts (ingest, absorb, wave commits, cancels): %s calls, %.0f ms"
              % (f.get("calls", 0), f.get("usec", 0) / 1e3))
        slow = [e["duration"] for e in r.slowlog_get(128)]
        print("Redis' longest command: %s" % ("%.1f ms" % (max(slow) / 1e3) if slow else "under 10 ms"))
        print("(an order not waved, or a frame not acked: exit 1)" if not ok else "", end="")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
