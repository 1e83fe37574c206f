// The Node.js peer of livepack's ingest: what a team would otherwise write, kept honest.
//
// - WebSocket server on GET /v1/ingest?session=LABEL, `Authorization: Bearer TOKEN`
//   (401 for an unknown token, 400 for a bad label), one HTTP server for everything.
// - Frames `order`, `orders`, `end_session`, `ping` of livepack's contract; per frame the
//   same Redis script as livepack (src/store/lua/ingest.lua: set-if-absent per order +
//   stream append + session counters, one EVALSHA per frame, with the same keys and
//   arguments: the seller's live tombstone buckets included), then one reply per frame:
//   {"type":"ack","seq":N,"results":[{"order_id":..,"status":"accepted"|"duplicate"}]};
//   when Redis fails: {"type":"nack","seq":N,"retry_after_ms":500,"reason":...}, so the
//   client resends (nothing of the frame was stored: the script is atomic).
// - With --bullmq: each order is `queue.add(name, order, {jobId})` on a BullMQ queue
//   instead (the popular job queue on Redis); a repeated jobId is a duplicate.
// - GET /v1/sessions/LABEL (same bearer token): the session counters, so
//   `livepack-surge ingest` can verify the run (no planner here: `waved` stays 0, so do
//   not pass --end-session to livepack-surge against this peer).
//
// Environment: PORT (8090), REDIS_URL (redis://127.0.0.1:6379/0), SITE (hoa-lu-hub),
// TOKENS ("token=seller,..."; default: livepack's two demo sellers).

"use strict";

const crypto = require("crypto");
const fs = require("fs");
const http = require("http");
const path = require("path");
const Redis = require("ioredis");
const { WebSocketServer } = require("ws");

const BULLMQ = process.argv.includes("--bullmq");
const PORT = Number(process.env.PORT || 8090);
const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379/0";
const SITE = process.env.SITE || "hoa-lu-hub";
const SELLERS = new Map(
  (
    process.env.TOKENS ||
    "demo-seller-mat-ong-tam-diep-token=mat-ong-tam-diep,demo-seller-tra-shan-tuyet-token=tra-shan-tuyet"
  )
    .split(",")
    .map((kv) => kv.split("="))
);
const LABEL = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_FRAME = 256 * 1024;

// The same script livepack runs; a copy ships next to this file for a standalone peer.
const LUA_PATHS = [
  path.join(__dirname, "../../../src/store/lua/ingest.lua"),
  path.join(__dirname, "ingest.lua"),
];
const lua = fs.readFileSync(LUA_PATHS.find((p) => fs.existsSync(p)), "utf8");

const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableAutoPipelining: true });
redis.defineCommand("lpIngest", { lua });

const tag = `lp:{${SITE}}`;
const keys = {
  stream: `${tag}:in`,
  session: (seller, label) => `${tag}:s:${seller}:${label}`,
  sessions: `${tag}:sessions`,
  order: (seller, id) => `${tag}:o:${seller}:${id}`,
  tombstones: (seller, bucketMs) => `${tag}:t:${seller}:${Math.floor(bucketMs / 1000)}`,
};

// The seller's tombstone buckets that can be live (src/store/tombstones.rs, default
// retention: hot 30 days, dedupe window 90 days, 30-day buckets): the script checks them.
const DAY_MS = 86400000;
const PERIOD_MS = 30 * DAY_MS;
const HOT_MS = 30 * DAY_MS;
const DEDUPE_MS = 90 * DAY_MS;
function liveBuckets(now) {
  const first = Math.floor(now / PERIOD_MS);
  const last = Math.floor((now + HOT_MS + DEDUPE_MS + PERIOD_MS) / PERIOD_MS);
  const out = [];
  for (let b = first; b <= last; b++) out.push(b * PERIOD_MS);
  return out;
}

let queue = null;
if (BULLMQ) {
  const { Queue } = require("bullmq");
  queue = new Queue("orders", { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }) });
}

function sellerOf(req) {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization || "");
  return m ? SELLERS.get(m[1]) : undefined;
}

function reject(orderId, code, message) {
  return { order_id: orderId, status: "rejected", error: { code, field: "order_id", message } };
}

// One frame: validate each order's id, store the valid ones in one script call.
async function storeOrders(seller, label, orders) {
  const results = new Array(orders.length);
  const good = [];
  orders.forEach((o, i) => {
    const id = o && typeof o === "object" ? o.order_id : undefined;
    if (typeof id !== "string" || !LABEL.test(id)) {
      results[i] = reject(typeof id === "string" ? id : undefined, "invalid", "order_id must be a label");
    } else {
      good.push(i);
    }
  });
  const rejected = orders.length - good.length;
  if (BULLMQ) {
    // BullMQ returns the existing job for a known jobId: created before this call means
    // a duplicate.
    const adds = good.map(async (i) => {
      const id = orders[i].order_id;
      const t = Date.now();
      const job = await queue.add("order", { seller, label, order: orders[i] }, { jobId: `${seller}.${id}` });
      results[i] = { order_id: id, status: job.timestamp >= t ? "accepted" : "duplicate" };
    });
    await Promise.all(adds);
    const acc = good.filter((i) => results[i].status === "accepted").length;
    const sk = keys.session(seller, label);
    await redis
      .multi()
      .hsetnx(sk, "state", "live")
      .hincrby(sk, "accepted", acc)
      .hincrby(sk, "duplicate", good.length - acc)
      .hincrby(sk, "rejected", rejected)
      .exec();
    return results;
  }
  const now = Date.now();
  const buckets = liveBuckets(now);
  const k = [keys.stream, keys.session(seller, label), keys.sessions];
  for (const b of buckets) k.push(keys.tombstones(seller, b));
  const argv = [seller, label, String(now), String(rejected), String(buckets.length)];
  for (const i of good) {
    const id = orders[i].order_id;
    const data = JSON.stringify(orders[i]);
    k.push(keys.order(seller, id));
    argv.push(id, data, crypto.createHash("sha256").update(data).digest("hex"));
  }
  const out = await redis.lpIngest(k.length, ...k, ...argv);
  good.forEach((i, n) => {
    results[i] = { order_id: orders[i].order_id, status: out[n] === 1 ? "accepted" : "duplicate" };
  });
  return results;
}

async function handle(seller, label, text) {
  let f;
  try {
    f = JSON.parse(text);
  } catch {
    return { type: "error", code: "malformed_frame", field: "", message: "not JSON" };
  }
  const seq = Number.isInteger(f && f.seq) ? f.seq : undefined;
  if (seq === undefined) {
    return { type: "error", code: "malformed_frame", field: "seq", message: "seq must be an integer" };
  }
  try {
    switch (f.type) {
      case "order":
        return { type: "ack", seq, results: await storeOrders(seller, label, [f.order]) };
      case "orders":
        if (!Array.isArray(f.orders) || f.orders.length === 0 || f.orders.length > 500) {
          return { type: "error", seq, code: "too_many_orders", field: "orders", message: "1-500 orders" };
        }
        return { type: "ack", seq, results: await storeOrders(seller, label, f.orders) };
      case "end_session":
        await redis.hset(keys.session(seller, label), "state", "ended");
        return { type: "ack", seq, results: [], session: { label, state: "ended" } };
      case "ping":
        return { type: "pong", seq };
      default:
        return { type: "error", seq, code: "malformed_frame", field: "type", message: "unknown type" };
    }
  } catch (e) {
    console.error(`frame ${seq}: ${e.message}`);
    return { type: "nack", seq, retry_after_ms: 500, reason: "storage_unavailable" };
  }
}

const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME });
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  const send = (status, body) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (url.pathname === "/readyz") return send(200, { ready: true });
  const m = /^\/v1\/sessions\/([^/]+)$/.exec(url.pathname);
  const seller = sellerOf(req);
  if (!m) return send(404, { error: { code: "not_found" } });
  if (!seller) return send(401, { error: { code: "unauthorized" } });
  const h = await redis.hgetall(keys.session(seller, m[1]));
  if (!h.state) return send(404, { error: { code: "not_found" } });
  const n = (k) => Number(h[k] || 0);
  send(200, {
    label: m[1], seller, site: SITE, state: h.state,
    accepted: n("accepted"), duplicate: n("duplicate"), rejected: n("rejected"), waved: 0, packed: 0,
  });
});

server.on("upgrade", (req, socket, head) => {
  const url = new URL(req.url, "http://x");
  const seller = sellerOf(req);
  const label = url.searchParams.get("session") || "";
  const refuse = (status, text) => {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  };
  if (url.pathname !== "/v1/ingest") return refuse(404, "Not Found");
  if (!seller) return refuse(401, "Unauthorized");
  if (!LABEL.test(label)) return refuse(400, "Bad Request");
  wss.handleUpgrade(req, socket, head, (ws) => {
    // Frames are stored concurrently (ioredis pipelines them on one connection); replies
    // go out in frame order, each once its frame is stored.
    let chain = Promise.resolve();
    ws.on("message", (data) => {
      const pending = handle(seller, label, data.toString());
      chain = chain.then(async () => {
        const reply = await pending;
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(reply));
      });
    });
  });
});

server.listen(PORT, "127.0.0.1", () => {
  console.log(`node peer (${BULLMQ ? "bullmq queue.add" : "ws + ioredis EVALSHA"}) on ws://127.0.0.1:${PORT}`);
});
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
