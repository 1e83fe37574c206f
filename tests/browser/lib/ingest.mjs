// Orders over the ingest WebSocket (contract §1), as a seller's livestream tool sends them.

import WebSocket from 'ws';
import { SELLER_TOKEN } from './server.mjs';

const PRODUCTS = [
  { sku: 'HONEY-500', name: 'Mật ong rừng ngập mặn 500ml', price: 185000, weight_g: 650 },
  { sku: 'TEA-SHAN-100', name: 'Trà Shan tuyết cổ thụ 100g', price: 120000, weight_g: 150 },
  { sku: 'RICE-ST25-5KG', name: 'Gạo ST25 túi 5kg', price: 210000, weight_g: 5100 },
];
const NAMES = ['Nguyễn Thị Lan', 'Trần Văn Hùng', 'Lê Thị Mai', 'Phạm Minh Tuấn', 'Hoàng Thu Trang',
  'Vũ Đức Anh', 'Đặng Thị Hoa', 'Bùi Quang Huy'];

/** RFC 3339 in Vietnam time, `minutes` ago. */
function vnTimeAgo(minutes) {
  const d = new Date(Date.now() + 7 * 3600000 - minutes * 60000);
  return d.toISOString().replace('Z', '+07:00');
}

/** A valid order; the same `buyer` number gives the same phone and address (one parcel). */
export function order(id, buyer, i = buyer) {
  const p = PRODUCTS[i % PRODUCTS.length];
  const qty = 1 + (i % 3);
  const fee = 30000;
  return {
    order_id: id, platform: 'tiktok', placed_at: vnTimeAgo(5),
    buyer: { name: NAMES[buyer % NAMES.length], phone: `09${String(10000000 + buyer).padStart(8, '0')}` },
    ship_to: { province: 'Ninh Bình', ward: 'Phường Hoa Lư', street: `${buyer % 200 + 1} Trần Hưng Đạo` },
    items: [{ sku: p.sku, name: p.name, qty, unit_price: String(p.price), weight_g: p.weight_g }],
    cod_amount: String(qty * p.price + fee), shipping_fee: String(fee),
  };
}

/** n orders; every tenth buyer orders twice (their orders share a parcel). */
export function orders(prefix, n) {
  return Array.from({ length: n }, (_, i) => order(`${prefix}-${i}`, i % 10 === 1 ? i - 1 : i, i));
}

function connect(base, session) {
  const url = `${base.replace(/^http/, 'ws')}/v1/ingest?session=${encodeURIComponent(session)}`;
  return new Promise((ok, fail) => {
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${SELLER_TOKEN}` } });
    ws.once('open', () => ok(ws));
    ws.once('error', fail);
  });
}

/** Sends frames and resolves with one reply per frame (by seq). */
async function exchange(base, session, frames) {
  const ws = await connect(base, session);
  try {
    return await new Promise((ok, fail) => {
      const replies = new Map();
      const timer = setTimeout(() => fail(new Error(`ingest: ${replies.size}/${frames.length} replies`)), 60000);
      ws.on('message', (data) => {
        const r = JSON.parse(String(data));
        replies.set(r.seq, r);
        if (replies.size === frames.length) { clearTimeout(timer); ok(frames.map((f) => replies.get(f.seq))); }
      });
      ws.on('error', (e) => { clearTimeout(timer); fail(e); });
      for (const f of frames) ws.send(JSON.stringify(f));
    });
  } finally {
    ws.close();
  }
}

/** Ingests orders (frames of 100) and checks every one was accepted. */
export async function ingest(base, session, list) {
  const frames = [];
  for (let i = 0; i < list.length; i += 100) frames.push({ type: 'orders', seq: frames.length + 1, orders: list.slice(i, i + 100) });
  const replies = await exchange(base, session, frames);
  for (const r of replies) {
    if (r.type !== 'ack') throw new Error(`ingest: ${JSON.stringify(r)}`);
    const bad = r.results.filter((x) => x.status !== 'accepted');
    if (bad.length) throw new Error(`ingest: not accepted: ${JSON.stringify(bad.slice(0, 3))}`);
  }
}

export async function endSession(base, session) {
  const [r] = await exchange(base, session, [{ type: 'end_session', seq: 1 }]);
  if (r.type !== 'ack') throw new Error(`end_session: ${JSON.stringify(r)}`);
}
