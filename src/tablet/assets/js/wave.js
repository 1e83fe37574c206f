// One wave: its pick list (by bin) then its parcels; taps and scans become queued actions.

import { api, enc } from './api.js';
import { t, fmtMoney, fmtTime, dayLabel } from './i18n.js';
import * as Q from './queue.js';
import { S, $, el, say, progress, waveNumber, setText, sync, labelLink, repackCard, memo, unbroken } from './views.js';
import * as V from './verify.js';

const lineEls = new Map();
const parcelEls = new Map();
let reloadTimer = null;
let loading = null;

/** What the queue still holds for the open wave: qty per SKU, parcel ids being packed. */
function queued() {
  const picks = new Map();
  const packs = new Set();
  for (const a of Q.pending()) {
    if (a.kind === 'pick' && a.wave_id === S.waveId) picks.set(a.sku, (picks.get(a.sku) || 0) + a.qty);
    if (a.kind === 'packed') packs.add(a.parcel_id);
  }
  return { picks, packs };
}

export function progressKey(w) {
  return w ? [w.status, w.qty_total, w.qty_picked, w.parcels_packed, w.order_count, w.parcel_count].join('|') : '';
}

/** Loads the wave (401 and network errors go to the caller). */
export async function load(id) {
  if (id !== S.waveId) {
    V.close();
    lineEls.clear();
    parcelEls.clear();
    $('pick-list').replaceChildren();
    $('parcel-list').replaceChildren();
    $('wave-head').replaceChildren();
    S.wave = null;
  }
  S.waveId = id;
  const p = api('GET', `/v1/waves/${enc(id)}`);
  loading = p;
  const w = await p;
  if (loading !== p || S.waveId !== id) return;
  S.wave = w;
  S.waveKey = progressKey(w);
  render();
}

/** Re-reads the open wave soon (coalesces bursts of changes). */
export function reloadSoon(ms = 300) {
  if (reloadTimer || !S.waveId) return;
  reloadTimer = setTimeout(() => {
    reloadTimer = null;
    if (S.waveId) load(S.waveId).catch(() => {});
  }, ms);
}

/** The live feed changed: re-read the open wave if its progress moved. */
export function feedChanged(feed) {
  if (!S.waveId || !feed) return;
  const row = (feed.waves || []).find((w) => w.wave_id === S.waveId);
  if (row && progressKey(row) !== S.waveKey) reloadSoon();
}

function lineView(l, q) {
  const waiting = q.picks.get(l.sku) || 0;
  const picked = l.picked + waiting;
  const left = Math.max(0, l.qty - picked);
  let e = lineEls.get(l.sku);
  if (!e) {
    e = el('li', { class: 'line', data: { testid: 'pick-line', sku: l.sku } },
      el('span', { class: 'bin' }),
      el('span', { class: 'what' },
        el('span', { class: 'sku' }), el('br'), el('span', { class: 'name' }),
        el('span', { class: 'warn' }), el('span', { class: 'pending' })),
      el('span', { class: 'count' }),
      el('button', { type: 'button', class: 'btn', data: { testid: 'pick-confirm', sku: l.sku } }));
    lineEls.set(l.sku, e);
  }
  e.dataset.qty = l.qty;
  e.dataset.picked = picked;
  e.classList.toggle('full', left === 0);
  setText(e.querySelector('.bin'), l.bin);
  setText(e.querySelector('.sku'), l.sku);
  setText(e.querySelector('.name'), l.name);
  const warn = e.querySelector('.warn');
  setText(warn, l.put_back > 0 ? ` · ${t('putBack', { n: l.put_back })}` : '');
  setText(e.querySelector('.pending'), waiting > 0 ? ` · ${waiting} ${t('waiting')}` : '');
  setText(e.querySelector('.count'), `${picked}/${l.qty}`);
  const b = e.querySelector('button');
  b.disabled = left === 0;
  b.className = left === 0 ? 'btn' : 'btn primary';
  setText(b, left === 0 ? t('pickedAll') : t('pickAll', { n: left }));
  return e;
}

function parcelStatus(p, q) {
  if (p.status === 'replaced') return 'replaced';
  if (p.status === 'open' && q.packs.has(p.parcel_id)) return 'packed';
  return p.status;
}

function parcelView(p, q) {
  const status = parcelStatus(p, q);
  let e = parcelEls.get(p.parcel_id);
  if (!e) {
    e = el('article', { class: 'parcel', data: { testid: 'parcel', parcelId: p.parcel_id } },
      el('div', { class: 'wave-top' },
        el('span', { class: 'buyer' }), el('span', { class: 'phone' }), el('span', { class: 'badge' })),
      el('ul', { class: 'items' }),
      el('div', {}, el('span', { class: 'cod-label' }), ' ', el('span', { class: 'cod' })),
      el('div', { class: 'carrier' }),
      el('div', { class: 'warn' }),
      el('div', { class: 'pid' }),
      el('div', { class: 'acts' },
        el('button', { type: 'button', class: 'btn secondary', data: { testid: 'verify-open', parcelId: p.parcel_id } }),
        el('button', { type: 'button', class: 'btn ok', data: { testid: 'parcel-packed', parcelId: p.parcel_id } })));
    parcelEls.set(p.parcel_id, e);
  }
  e.dataset.status = status;
  e.className = `parcel is-${status}`;
  setText(e.querySelector('.buyer'), p.buyer.first_name || '—');
  setText(e.querySelector('.phone'), p.buyer.phone_masked);
  const badge = e.querySelector('.badge');
  badge.className = `badge st-${status}`;
  setText(badge, t(`pState_${status}`) +
    (status === 'packed' && p.status === 'open' ? ` (${t('waiting')})` : ''));
  const items = p.items.map((i) => `${i.qty} × ${i.name} (${i.sku})`);
  if (e.itemsKey !== items.join('\n')) {
    e.itemsKey = items.join('\n');
    e.querySelector('.items').replaceChildren(...items.map((text) => el('li', {}, ...unbroken(text))));
  }
  setText(e.querySelector('.cod-label'), `${t('cod')}:`);
  setText(e.querySelector('.cod'), fmtMoney(p.cod_amount));
  setText(e.querySelector('.carrier'), `${t('carrier')}: ${p.carrier || t('noCarrier')}` +
    (p.service ? ` · ${p.service}` : ''));
  setText(e.querySelector('.warn'), status === 'replaced' ? t('replacedBy', { id: p.replaced_by || '?' })
    : p.pull ? t('pull') : '');
  setText(e.querySelector('.pid'), p.parcel_id);
  const v = e.querySelector('[data-testid="verify-open"]');
  v.hidden = status !== 'open';
  v.classList.toggle('on', V.openParcel() === p.parcel_id);
  setText(v, V.openParcel() === p.parcel_id ? t('verifying') : t('verifyOpen'));
  const b = e.querySelector('[data-testid="parcel-packed"]');
  b.hidden = status === 'cancelled' || status === 'replaced';
  b.disabled = status !== 'open';
  b.className = status === 'open' ? 'btn ok' : 'btn';
  setText(b, status === 'open' ? t('markPacked') : t('isPacked'));
  return e;
}

/** Draws the open wave with what the queue still holds on top of the server's numbers. */
export function render() {
  const w = S.wave;
  if (!w) return;
  const q = queued();
  const lines = w.pick_list.map((l) => lineView(l, q));
  sync($('pick-list'), lines);
  const parcels = w.parcels.map((p) => parcelView(p, q));
  sync($('parcel-list'), parcels);
  const picked = w.pick_list.reduce((s, l) => s + Math.min(l.qty, l.picked + (q.picks.get(l.sku) || 0)), 0);
  const total = w.pick_list.reduce((s, l) => s + l.qty, 0);
  const live = w.parcels.filter((p) => p.status !== 'cancelled' && p.status !== 'replaced');
  const byId = new Map(w.parcels.map((p) => [p.parcel_id, p]));
  sync($('repack-list'), w.parcels.filter((p) => p.status === 'replaced')
    .map((p) => repackCard(p, byId.get(p.replaced_by))));
  const packed = live.filter((p) => parcelStatus(p, q) === 'packed').length;
  const status = ['picking', 'packing', 'done'].includes(w.status) ? w.status : 'picking';
  const day = w.pickup_at ? dayLabel(new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Ho_Chi_Minh' }).format(new Date(w.pickup_at))) : '';
  $('wave-head').replaceChildren(
    el('span', { class: 'wave-name', text: t('waveN', { n: waveNumber(w.wave_id) }) }),
    el('span', { class: 'pickup', text: `${t('pickupAt', { time: fmtTime(w.pickup_at) })} · ${day}` }),
    el('span', { class: `badge st-${status}`, text: t(`status_${status}`) }),
    el('span', { class: 'prog' }, el('span', { text: t('pickedProg', { a: picked, b: total }) }), progress(picked, total)),
    el('span', { class: 'small', text: w.wave_id }),
    memo(`wave-labels:${w.wave_id}`, w.wave_id, () =>
      labelLink(`/v1/waves/${enc(w.wave_id)}/labels.pdf`, t('printWaveLabels'), 'print-labels')),
    el('button', { type: 'button', class: 'btn secondary jump', data: { jump: 'parcel-title' }, text: t('toParcels') }));
  setText($('parcel-title'), t('parcelsN', { a: packed, b: live.length }));
  V.render();
}

function findLine(sku) {
  return S.wave && S.wave.pick_list.find((l) => l.sku.toUpperCase() === sku.toUpperCase());
}

/** Picks n units of a SKU (the whole rest when n is null); refuses over-picks. */
export function pick(sku, n = null) {
  const l = findLine(sku);
  if (!l) return false;
  const picked = l.picked + (queued().picks.get(l.sku) || 0);
  const left = l.qty - picked;
  const qty = n === null ? left : n;
  if (qty <= 0 || qty > left) {
    say(t('overPick', { sku: l.sku, qty: l.qty, picked, n: Math.max(qty, 1) }));
    return true;
  }
  for (let rest = qty; rest > 0; rest -= 999) {
    Q.enqueue({ kind: 'pick', site: S.site, wave_id: S.waveId, sku: l.sku, qty: Math.min(rest, 999) });
  }
  if (n !== null) say(t('scannedPick', { sku: l.sku, picked: picked + qty, qty: l.qty }), 'good');
  return true;
}

/** Marks a parcel packed. */
export function pack(parcelId, fromScan = false) {
  const p = S.wave && S.wave.parcels.find((x) => x.parcel_id.toUpperCase() === parcelId.toUpperCase());
  if (!p) return false;
  const status = parcelStatus(p, queued());
  if (status === 'cancelled') say(t('cancelledParcel', { id: p.parcel_id }));
  else if (status === 'replaced') say(t('replacedParcel', { id: p.parcel_id, to: p.replaced_by || '?' }));
  else if (status !== 'open') say(t('alreadyPacked', { id: p.parcel_id }), 'good');
  else {
    Q.enqueue({ kind: 'packed', site: S.site, wave_id: S.waveId, parcel_id: p.parcel_id });
    if (fromScan) say(t('scannedPack', { id: p.parcel_id }), 'good');
    V.finished(p.parcel_id);
  }
  return true;
}

/** A scanned code: a parcel id packs that parcel, a SKU picks one unit. */
export function scan(code) {
  const c = code.trim();
  if (!c || !S.wave) return;
  if (pack(c, true)) return;
  if (V.isOpen()) {
    // Scan-to-verify: the SKU is checked against the open parcel, not picked.
    const id = V.openParcel();
    const r = V.scanSku(c);
    if (r.done) {
      pack(id);
      say(t('verifiedPacked', { id }), 'good');
    } else if (r.sku) {
      say(t('verifiedTick', { sku: r.sku, n: r.n, qty: r.qty }), 'good');
    }
    return;
  }
  if (pick(c, 1)) return;
  say(t('unknownCode', { code: c }));
}

/** Opens (or closes, when it is open) a parcel for scan-to-verify. */
export function toggleVerify(parcelId) {
  if (!parcelId || V.openParcel() === parcelId) V.close(); else V.open(parcelId);
  render();
}

function describe(a) {
  return a.kind === 'pick' ? t('whatPick', { n: a.qty, sku: a.sku }) : t('whatPack', { id: a.parcel_id });
}

/** Undo of the last tap: possible while it has not been sent (held or offline). */
export function undo() {
  const r = Q.undoLast();
  if (r.action) say(t('undone', { what: describe(r.action) }), 'good');
  else if (r.inFlight) say(t('inFlight'));
  else say(t('nothingToUndo'));
}

/** The server counted an action: fold its answer into the loaded wave. */
export function acked(a, res) {
  if (!S.wave || a.wave_id !== S.waveId) return;
  if (a.kind === 'pick' && res) {
    const l = S.wave.pick_list.find((x) => x.sku === a.sku);
    if (l && typeof res.picked === 'number') l.picked = res.picked;
  } else if (a.kind === 'packed') {
    const p = S.wave.parcels.find((x) => x.parcel_id === a.parcel_id);
    if (p && p.status === 'open') p.status = 'packed';
  }
  render();
  reloadSoon(1500);
}

/** The server refused an action: say why (the API's own message) and re-read the wave. */
export function refused(a, err) {
  say(err.code === 'over_pick' ? t('overPickServer', { msg: err.message }) : t('refused', { msg: err.message }));
  if (a.wave_id === S.waveId) reloadSoon(0);
}
