// Parcel cards of the open wave: what matches a card to its box (large parcel id, ward and
// province, platform order ids, prepaid or COD, carrier and service by name), the next
// parcel to pack, overdue / at-risk badges, packing that asks when items are not all picked,
// and reopening (unpack) a packed parcel, with the supervisor PIN once it is booked.

import { api, enc } from './api.js';
import { t, fmtMoney, fmtTime, errText, carrierName, serviceName } from './i18n.js';
import * as Q from './queue.js';
import { S, el, say, setText, unbroken } from './views.js';
import { ask } from './ask.js';
import * as V from './verify.js';

const parcelEls = new Map();
const SHIPPED = new Set(['packed', 'booked', 'handed_over', 'delivered', 'returned']);

export function clear() { parcelEls.clear(); }

/** What the queue holds for the open wave: qty per SKU, parcels being packed. */
export function queued() {
  const picks = new Map();
  const packs = new Set();
  const done = new Set(); // put-backs and pulls confirmed, not yet sent
  for (const a of Q.pending()) {
    if (a.kind === 'pick' && a.wave_id === S.waveId) picks.set(a.sku, (picks.get(a.sku) || 0) + a.qty);
    if (a.kind === 'packed') packs.add(a.parcel_id);
    if (a.kind === 'put_back') done.add(`b:${a.sku}`);
    if (a.kind === 'pulled') done.add(`p:${a.parcel_id}`);
  }
  return { picks, packs, done };
}

export function status(p, q) {
  if (p.status === 'replaced') return 'replaced';
  if (p.status === 'open' && q.packs.has(p.parcel_id)) return 'packed';
  return p.status;
}

/** A parcel to pull (flagged and not yet confirmed): out of every count. */
export function toPull(p) { return !!p.pull && !p.pulled; }

/** Counts on the floor: live parcels, packed ones (a pulled or flagged box is neither). */
export function counts(w, q) {
  const live = w.parcels.filter((p) => !['cancelled', 'replaced'].includes(p.status) && !p.pull);
  return { live: live.length, packed: live.filter((p) => SHIPPED.has(status(p, q))).length };
}

function need(p) {
  const m = new Map();
  for (const i of p.items) m.set(i.sku, (m.get(i.sku) || 0) + i.qty);
  return m;
}

/**
 * Per parcel: are its items covered by units picked and not yet packed (the server's
 * `items_picked`, recomputed here with the taps still in the queue)? {ready, missing[]}
 */
export function readiness(w, q) {
  const free = new Map();
  for (const l of w.pick_list) free.set(l.sku, l.picked + (q.picks.get(l.sku) || 0));
  for (const p of w.parcels) {
    if (p.status === 'cancelled' || p.status === 'replaced' || !SHIPPED.has(status(p, q))) continue;
    for (const [sku, n] of need(p)) free.set(sku, (free.get(sku) || 0) - n);
  }
  const out = new Map();
  for (const p of w.parcels) {
    const missing = [];
    for (const [sku, n] of need(p)) {
      const have = Math.max(0, free.get(sku) || 0);
      if (have < n) missing.push({ sku, need: n, available: have });
    }
    out.set(p.parcel_id, { ready: missing.length === 0, missing });
  }
  return out;
}

const ts = (s) => (s ? Date.parse(s) || Infinity : Infinity);

/** The next parcel to pack: open, not to pull, items covered; earliest deadline, pickup, list order. */
export function nextParcel(w, q, ready) {
  const cands = w.parcels.filter((p) => status(p, q) === 'open' && !p.pull && ready.get(p.parcel_id).ready);
  cands.sort((a, b) => ts(a.deadline) - ts(b.deadline) || ts(a.pickup_at) - ts(b.pickup_at));
  return cands.length ? cands[0].parcel_id : null;
}

function build(p) {
  const b = (testid, cls) => el('button', { type: 'button', class: cls, data: { testid, parcelId: p.parcel_id } });
  return el('article', { class: 'parcel', data: { testid: 'parcel', parcelId: p.parcel_id } },
    el('div', { class: 'p-head' },
      el('div', { class: 'pid-big fit code', data: { testid: 'parcel-id' } }),
      el('span', { class: 'badge st' }),
      el('span', { class: 'next-flag', data: { testid: 'next-parcel' } }),
      el('span', { class: 'risk', data: { testid: 'risk-badge' } })),
    el('div', { class: 'p-buyer' }, el('span', { class: 'buyer' }), ' ', el('span', { class: 'phone' })),
    el('div', { class: 'p-addr', data: { testid: 'parcel-address' } }),
    el('div', { class: 'p-orders', data: { testid: 'parcel-orders' } }),
    el('ul', { class: 'items' }),
    el('div', { class: 'p-cod', data: { testid: 'parcel-cod' } }),
    el('div', { class: 'carrier', data: { testid: 'parcel-carrier' } }),
    el('div', { class: 'warn' }),
    el('div', { class: 'acts' },
      b('verify-open', 'btn secondary'), b('parcel-packed', 'btn ok'), b('parcel-unpack', 'btn secondary')));
}

/** One parcel card (kept across renders: a refresh never swaps a button under a finger). */
export function view(p, q, r, next) {
  const st = status(p, q);
  let e = parcelEls.get(p.parcel_id);
  if (!e) { e = build(p); parcelEls.set(p.parcel_id, e); }
  const pull = toPull(p);
  const isNext = next === p.parcel_id;
  e.dataset.status = st;
  e.dataset.next = String(isNext);
  e.dataset.ready = String(r.ready);
  e.dataset.risk = p.overdue ? 'overdue' : p.at_risk ? 'at_risk' : '';
  e.className = `parcel is-${pull ? 'pull' : p.pulled ? 'pulled' : st}${isNext ? ' is-next' : ''}`;
  setText(e.querySelector('.pid-big'), p.parcel_id);
  const badge = e.querySelector('.st');
  badge.className = `badge st st-${st}`;
  setText(badge, (p.pulled ? t('pState_pulled') : t(`pState_${st}`)) +
    (st === 'packed' && p.status === 'open' ? ` (${t('waiting')})` : ''));
  const nf = e.querySelector('.next-flag');
  nf.hidden = !isNext;
  setText(nf, t('nextParcel'));
  const risk = e.querySelector('.risk');
  risk.hidden = !p.overdue && !p.at_risk;
  risk.className = `risk badge ${p.overdue ? 'risk-overdue' : 'risk-at'}`;
  setText(risk, `${p.overdue ? t('overdue') : t('atRisk')}${p.deadline ? ` · ${t('dueBy', { time: fmtTime(p.deadline) })}` : ''}`);
  setText(e.querySelector('.buyer'), (p.buyer && p.buyer.first_name) || '—');
  setText(e.querySelector('.phone'), (p.buyer && p.buyer.phone_masked) || '');
  setText(e.querySelector('.p-addr'), [p.ward, p.province].filter(Boolean).join(', '));
  const ids = (p.platform_order_ids && p.platform_order_ids.length ? p.platform_order_ids : p.order_ids) || [];
  const ordersText = t('ordersOf', { ids: ids.join(', ') });
  const po = e.querySelector('.p-orders');
  if (po.key !== ordersText) { po.key = ordersText; po.replaceChildren(...unbroken(ordersText)); }
  const itemsKey = p.items.map((i) => `${i.qty}|${i.name}|${i.sku}`).join('\n');
  if (e.itemsKey !== itemsKey) {
    // The SKU on a line of its own, whole (shrunk to fit, never broken inside a word).
    e.itemsKey = itemsKey;
    e.querySelector('.items').replaceChildren(...p.items.map((i) => el('li', {},
      `${i.qty} × ${i.name}`, el('span', { class: 'item-sku fit code', text: i.sku }))));
  }
  const prepaid = p.prepaid === true || (p.prepaid === undefined && /^0*$/.test(String(p.cod_amount ?? '0')));
  const cod = e.querySelector('.p-cod');
  // A parcel that no longer ships has no money to collect (its orders are cancelled, or its
  // replacement carries them).
  cod.hidden = st === 'cancelled' || st === 'replaced';
  cod.dataset.prepaid = String(prepaid);
  cod.className = `p-cod ${prepaid ? 'prepaid' : 'collect'}`;
  const codKey = `${prepaid}|${p.cod_amount}|${document.documentElement.lang}`;
  if (cod.key !== codKey) {
    cod.key = codKey;
    cod.replaceChildren(...(prepaid ? [t('prepaid')]
      : [el('span', { class: 'cod-label', text: `${t('codCollect')}: ` }), el('span', { class: 'cod', text: fmtMoney(p.cod_amount) })]));
  }
  setText(e.querySelector('.carrier'), p.carrier
    ? [carrierName(p), serviceName(p)].filter(Boolean).join(' · ') : `${t('carrier')}: ${t('noCarrier')}`);
  const warnText = st === 'replaced' ? t('replacedBy', { id: p.replaced_by || '?' })
    : pull ? t('pull') : st === 'open' && !r.ready ? `${t('notReady')}: ${r.missing.map((m) => `${m.sku} ${m.available}/${m.need}`).join(', ')}` : '';
  const warnEl = e.querySelector('.warn');
  if (warnEl.key !== warnText) { warnEl.key = warnText; warnEl.replaceChildren(...unbroken(warnText)); }
  const v = e.querySelector('[data-testid="verify-open"]');
  v.hidden = st !== 'open';
  v.classList.toggle('on', V.openParcel() === p.parcel_id);
  setText(v, V.openParcel() === p.parcel_id ? t('verifying') : t('verifyOpen'));
  const b = e.querySelector('[data-testid="parcel-packed"]');
  b.hidden = st === 'cancelled' || st === 'replaced' || pull;
  b.disabled = st !== 'open';
  b.className = st === 'open' ? 'btn ok' : 'btn';
  setText(b, st === 'open' ? t('markPacked') : t('isPacked'));
  const u = e.querySelector('[data-testid="parcel-unpack"]');
  u.hidden = !(st === 'packed' || st === 'booked') || pull;
  setText(u, t('unpack'));
  return e;
}

function find(id) {
  return S.wave && S.wave.parcels.find((x) => x.parcel_id.toUpperCase() === id.toUpperCase());
}

/** Marks a parcel packed; asks first when its items are not all picked. False: no such parcel. */
export function pack(parcelId, fromScan, hooks) {
  const p = find(parcelId);
  if (!p) return false;
  const q = queued();
  const st = status(p, q);
  if (st === 'cancelled') say(t('cancelledParcel', { id: p.parcel_id }));
  else if (st === 'replaced') say(t('replacedParcel', { id: p.parcel_id, to: p.replaced_by || '?' }));
  else if (toPull(p)) say(t('pull'));
  else if (st !== 'open') say(t('alreadyPacked', { id: p.parcel_id }), 'good');
  else {
    const r = readiness(S.wave, q).get(p.parcel_id);
    if (r.ready) enqueuePack(p, false, fromScan, hooks);
    else askUnpicked(p, r.missing, fromScan, hooks);
  }
  return true;
}

function enqueuePack(p, confirmed, fromScan, hooks) {
  // The orders the packer boxed: a cancel that lands before the tap is sent (offline) makes
  // the server refuse it, rather than seal the cancelled order's goods into the box.
  Q.enqueue({
    kind: 'packed', site: S.site, wave_id: S.waveId, parcel_id: p.parcel_id,
    confirm_unpicked: confirmed || undefined, order_ids: Array.isArray(p.order_ids) ? [...p.order_ids] : undefined,
  });
  if (fromScan) say(t('scannedPack', { id: p.parcel_id }), 'good');
  V.finished(p.parcel_id);
  hooks.changed();
}

/** "Parcel P-x: items not all picked — pack anyway?" Yes sends the confirm flag. */
export async function askUnpicked(p, missing, fromScan, hooks) {
  const list = missing.map((m) => `${m.sku} (${m.available}/${m.need})`).join(', ');
  const r = await ask({
    title: t('packUnpickedTitle', { id: p.parcel_id }), text: t('packUnpickedText', { missing: list }),
    ok: t('packUnpickedOk'), kind: 'warn',
  });
  if (!r.ok) return;
  const now = find(p.parcel_id);
  if (now && status(now, queued()) === 'open') enqueuePack(now, true, fromScan, hooks);
}

/** Reopens a packed parcel: an unsent tap is just dropped; else the server, with a PIN once booked. */
export async function unpack(parcelId, hooks) {
  const p = find(parcelId);
  if (!p) return;
  if (Q.removeWhere((a) => a.kind === 'packed' && a.parcel_id === p.parcel_id)) {
    say(t('undone', { what: t('whatPack', { id: p.parcel_id }) }), 'good');
    hooks.changed();
    return;
  }
  const booked = p.status === 'booked' || !!p.tracking;
  const id = Q.newId();
  // Booked meanwhile (the booking ran elsewhere, this screen not yet refreshed): the server
  // asks for the supervisor PIN, so the question is asked again with it.
  let needPin = false;
  const r = await ask({
    title: t('unpackTitle', { id: p.parcel_id }),
    text: booked ? t('unpackBookedText', { code: p.tracking || '—' }) : t('unpackText'),
    ok: t('unpackOk'), pin: booked, kind: booked ? 'warn' : 'info',
    check: async (pin) => {
      try {
        await api('POST', `/v1/parcels/${enc(p.parcel_id)}/unpacked`,
          booked ? { unpack_id: id, supervisor_pin: pin } : { unpack_id: id });
        return '';
      } catch (e) {
        if (!booked && e.code === 'supervisor_pin_required') {
          needPin = true;
          return '';
        }
        return errText(e);
      }
    },
  });
  if (!r.ok) return;
  if (needPin) {
    p.status = 'booked';
    hooks.reload();
    await unpack(parcelId, hooks);
    return;
  }
  p.status = 'open';
  say(t('unpacked', { id: p.parcel_id }), 'good');
  hooks.changed();
  hooks.reload();
}
