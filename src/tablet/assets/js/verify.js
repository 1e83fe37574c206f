// Scan-to-verify while packing: with a parcel open, every scanned SKU ticks one unit of that
// parcel; a SKU that is not in it (or one unit too many) raises the big red warning with a
// beep; when every unit is ticked the parcel is marked packed with the same queued action as
// the `parcel-packed` tap. Ticks live in localStorage, so a reload keeps them.

import { t } from './i18n.js';
import { S, $, el, setText, sync, warn } from './views.js';

const KEY = 'lp.verify.v1';
let ticks = readTicks();   // {parcelId: {SKU: n}}
let openId = null;
const lineEls = new Map();

function readTicks() {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) || '{}');
    return v && typeof v === 'object' ? v : {};
  } catch { return {}; }
}

function saveTicks() {
  // Only parcels of the open wave are worth keeping.
  const keep = new Set(((S.wave && S.wave.parcels) || []).map((p) => p.parcel_id));
  for (const id of Object.keys(ticks)) if (!keep.has(id) && id !== openId) delete ticks[id];
  try { localStorage.setItem(KEY, JSON.stringify(ticks)); } catch { /* full: kept in memory */ }
}

function parcel() {
  return openId && S.wave ? S.wave.parcels.find((p) => p.parcel_id === openId) : null;
}

/** The parcel's units per SKU (orders of one buyer may repeat a SKU). */
function needs(p) {
  const m = new Map();
  for (const i of p.items) {
    const k = i.sku.toUpperCase();
    const cur = m.get(k) || { sku: i.sku, name: i.name, qty: 0 };
    cur.qty += i.qty;
    m.set(k, cur);
  }
  return m;
}

export function isOpen() { return openId !== null; }
export function openParcel() { return openId; }

export function open(parcelId) {
  openId = parcelId;
  ticks[parcelId] = ticks[parcelId] || {};
  lineEls.clear();
  warn('');
  render();
  $('verify').scrollIntoView({ block: 'nearest' });
  $('scan').focus();
}

export function close() {
  openId = null;
  lineEls.clear();
  $('verify').hidden = true;
  $('verify-lines').replaceChildren();
  warn('');
}

/** The open parcel is no longer to be packed (packed elsewhere, cancelled, replaced). */
function gone(p) {
  return !p || p.status !== 'open';
}

/**
 * A scanned SKU while a parcel is open. Returns {done} when this tick completed the parcel
 * (the caller packs it).
 */
export function scanSku(code) {
  const p = parcel();
  if (!p) { close(); return {}; }
  const need = needs(p);
  const k = code.toUpperCase();
  const line = need.get(k);
  if (!line) {
    warn(t('wrongSku', { code, id: p.parcel_id }), t('wrongSkuHint'));
    return {};
  }
  const got = ticks[p.parcel_id][line.sku] || 0;
  if (got >= line.qty) {
    warn(t('tooMany', { sku: line.sku, qty: line.qty, id: p.parcel_id }), t('wrongSkuHint'));
    return {};
  }
  ticks[p.parcel_id][line.sku] = got + 1;
  warn('');
  saveTicks();
  render();
  const done = [...need.values()].every((l) => (ticks[p.parcel_id][l.sku] || 0) >= l.qty);
  return { done, sku: line.sku, n: got + 1, qty: line.qty };
}

/** The parcel was packed: forget its ticks and close. */
export function finished(parcelId) {
  delete ticks[parcelId];
  saveTicks();
  if (openId === parcelId) close();
}

export function render() {
  const box = $('verify');
  const p = parcel();
  if (!openId) { box.hidden = true; return; }
  if (gone(p)) {
    const id = openId;
    close();
    if (p && p.status !== 'open') delete ticks[id];
    return;
  }
  box.hidden = false;
  const mine = ticks[p.parcel_id] || {};
  const lines = [...needs(p).values()];
  const units = lines.reduce((s, l) => s + l.qty, 0);
  const done = lines.reduce((s, l) => s + Math.min(l.qty, mine[l.sku] || 0), 0);
  box.dataset.parcelId = p.parcel_id;
  setText($('verify-title'), t('verifyTitle', { id: p.parcel_id, name: p.buyer.first_name || '—' }));
  setText($('verify-count'), t('verifyCount', { a: done, b: units }));
  setText($('verify-close'), t('verifyClose'));
  const nodes = lines.map((l) => {
    let e = lineEls.get(l.sku);
    if (!e) {
      e = el('li', { class: 'vline', data: { testid: 'verify-line', sku: l.sku } },
        el('span', { class: 'vmark' }), el('span', { class: 'vcount' }),
        el('span', { class: 'what' }, el('span', { class: 'sku' }), ' ', el('span', { class: 'name' })));
      lineEls.set(l.sku, e);
    }
    const n = Math.min(l.qty, mine[l.sku] || 0);
    e.dataset.qty = l.qty;
    e.dataset.scanned = n;
    e.classList.toggle('full', n >= l.qty);
    setText(e.querySelector('.vmark'), n >= l.qty ? '✓' : '○');
    setText(e.querySelector('.vcount'), `${n}/${l.qty}`);
    setText(e.querySelector('.sku'), l.sku);
    setText(e.querySelector('.name'), l.name);
    return e;
  });
  sync($('verify-lines'), nodes);
}
