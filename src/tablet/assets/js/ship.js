// The shipping screen: the site's shipments of today and tomorrow by pickup; book, each
// parcel's booking state (refreshed while any is pending or retrying), label PDFs; one
// shipment's page adds the hand-over (handover.js).

import { api, enc } from './api.js';
import { t, fmtMoney, fmtTime, fmtClock, dayLabel, vnDate, errText, carrierName, serviceName } from './i18n.js';
import { S, $, el, setText, sync, labelLink, repackCard, toRepack, memo } from './views.js';
import * as H from './handover.js';

const FAST_MS = 3000;   // while a booking is pending or retrying
const SLOW_MS = 20000;  // otherwise (other tablets scan too)
let timer = null;
let loading = null;
const rowEls = new Map();

const BOOKING = ['none', 'pending', 'retrying', 'booked', 'rejected'];

/** A parcel's §6 booking state (falls back to its tracking code when the object is absent). */
export function booking(p) {
  const b = p.booking || {};
  const state = BOOKING.includes(b.state) ? b.state : p.tracking ? 'booked' : 'none';
  return { state, attempts: b.attempts || 0, next: b.next_try_at || null, error: b.error || null };
}

const shipsOut = (p) => !['cancelled', 'replaced'].includes(p.status);

function counts(sh) {
  const parcels = (sh.parcels || []).filter(shipsOut);
  const by = { none: 0, pending: 0, retrying: 0, booked: 0, rejected: 0 };
  for (const p of parcels) by[booking(p).state] += 1;
  const total = sh.parcels ? parcels.length
    : sh.parcel_count - ((sh.parcels_held_back || []).length);
  if (!sh.parcels) by.booked = sh.parcels_booked || 0;
  return { ...by, total };
}

function busy(sh) {
  const c = counts(sh);
  return c.pending + c.retrying > 0;
}

export function stop() {
  if (timer) clearTimeout(timer);
  timer = null;
}

function schedule() {
  stop();
  const list = S.shipId ? [S.ship].filter(Boolean) : S.ships || [];
  const ms = list.some(busy) ? FAST_MS : SLOW_MS;
  timer = setTimeout(() => { timer = null; if (S.view === 'ship') reload().catch(() => {}); }, ms);
}

function say(text, kind = 'bad') {
  const m = $('ship-msg');
  m.hidden = !text;
  m.textContent = text || '';
  m.className = `msg ${kind}`;
}

/** Opens the list (id null) or one shipment. */
export async function open(id) {
  if (id !== S.shipId) {
    rowEls.clear();
    $('ship-parcels').replaceChildren();
    S.ship = null;
    H.reset(id);
    say('');
  }
  S.shipId = id;
  $('ship-list').hidden = !!id;
  $('ship-detail').hidden = !id;
  $('no-shipments').hidden = true;
  if (!id) $('ship-head').replaceChildren();
  else $('ship-list').replaceChildren();
  await reload();
}

/** Re-reads what is on screen (the list with each shipment's parcels, or one shipment). */
export async function reload() {
  const id = S.shipId;
  const p = id ? api('GET', `/v1/shipments/${enc(id)}`) : readList();
  loading = p;
  try {
    const got = await p;
    if (loading !== p || S.shipId !== id) return;
    if (id) S.ship = got; else S.ships = got;
    render();
  } finally {
    if (loading === p) schedule();
  }
}

async function readList() {
  const now = new Date();
  const dates = [vnDate(now), vnDate(new Date(now.getTime() + 86400000))];
  const lists = await Promise.all(dates.map((d) =>
    api('GET', `/v1/sites/${enc(S.site)}/shipments?date=${d}`)));
  const all = lists.flatMap((l) => l.shipments);
  // Each shipment's parcels (booking states) come with the shipment itself.
  const full = await Promise.all(all.map((sh) =>
    api('GET', `/v1/shipments/${enc(sh.shipment_id)}`).catch(() => sh)));
  full.sort((a, b) => (a.pickup_at < b.pickup_at ? -1 : a.pickup_at > b.pickup_at ? 1
    : a.shipment_id < b.shipment_id ? -1 : 1));
  return full;
}

function pickupDay(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : dayLabel(vnDate(d));
}

function statusBadge(sh) {
  const st = ['open', 'booked', 'handed_over'].includes(sh.status) ? sh.status : 'open';
  return el('span', { class: `badge sh-${st}`, text: t(`shStatus_${st}`) });
}

/** The summary card of one shipment, with its actions (rebuilt only when it changed). */
function card(sh, inDetail) {
  return memo(`ship:${inDetail ? 'one' : 'list'}:${sh.shipment_id}`, sh, () => cardBuild(sh, inDetail));
}

function cardBuild(sh, inDetail) {
  const c = counts(sh);
  const left = sh.status === 'handed_over';
  const kg = (Number(sh.weight_g || 0) / 1000).toLocaleString('vi-VN', { maximumFractionDigits: 1 });
  const bookBtn = el('button', {
    type: 'button', class: 'btn primary', data: { testid: 'book', shipmentId: sh.shipment_id },
    text: c.booked >= c.total && c.total > 0 ? t('allBooked') : t('book'),
  });
  bookBtn.disabled = left || (c.booked >= c.total && c.total > 0) || c.pending > 0;
  const facts = [
    t('shFacts', { p: c.total, o: sh.order_count, kg }),
    `${t('cod')}: ${fmtMoney(sh.cod_total)}`,
  ];
  const state = [el('span', { class: 'bk bk-booked', text: t('bookedN', { a: c.booked, b: c.total }) })];
  if (c.pending) state.push(el('span', { class: 'bk bk-pending', text: t('pendingN', { n: c.pending }) }));
  if (c.retrying) state.push(el('span', { class: 'bk bk-retrying', text: t('retryingN', { n: c.retrying }) }));
  if (c.rejected) state.push(el('span', { class: 'bk bk-rejected', text: t('rejectedN', { n: c.rejected }) }));
  if (typeof sh.loaded_count === 'number') {
    state.push(el('span', { class: 'bk', text: t('loadedN', { a: sh.loaded_count, b: c.total }) }));
  }
  return el('article', {
    class: `shipment${left ? ' done' : ''}`,
    data: { testid: 'shipment', shipmentId: sh.shipment_id, status: sh.status },
  },
  el('div', { class: 'wave-top' },
    el('span', { class: 'wave-name', text: [carrierName(sh), serviceName(sh)].filter(Boolean).join(' · ') }),
    el('span', { class: 'pickup', text: `${t('pickupAt', { time: fmtTime(sh.pickup_at) })} · ${pickupDay(sh.pickup_at)}` }),
    statusBadge(sh)),
  el('div', { class: 'facts', text: facts.join(' · ') }),
  el('div', { class: 'bks' }, ...state),
  el('div', { class: 'small', text: sh.shipment_id }),
  el('div', { class: 'acts' },
    bookBtn,
    labelLink(`/v1/shipments/${enc(sh.shipment_id)}/labels.pdf`, t('printLabels'), 'print-labels'),
    inDetail ? null : el('a', {
      class: 'btn ok', href: `#/ship/${enc(sh.shipment_id)}`, text: t('handoverOpen'),
      data: { testid: 'handover-open', shipmentId: sh.shipment_id },
    })));
}

function bookingText(p) {
  const b = booking(p);
  if (b.state === 'booked') return t('bk_booked', { code: p.tracking || '—' });
  if (b.state === 'retrying') {
    return t('bk_retrying', { n: b.attempts, time: b.next ? fmtClock(b.next) : '—' }) +
      (b.error ? ` (${b.error})` : '');
  }
  if (b.state === 'rejected') return t('bk_rejected', { reason: b.error || '?' });
  return t(`bk_${b.state}`);
}

function row(p) {
  let e = rowEls.get(p.parcel_id);
  if (!e) {
    e = el('li', { class: 'srow', data: { testid: 'ship-parcel', parcelId: p.parcel_id } },
      el('span', { class: 'what' }, el('span', { class: 'sku' }), el('br'), el('span', { class: 'name' })),
      el('span', { class: 'bkt' }));
    rowEls.set(p.parcel_id, e);
  }
  const b = booking(p);
  const out = !shipsOut(p);
  e.dataset.booking = b.state;
  e.dataset.status = p.status;
  e.dataset.loaded = p.loaded ? '1' : '0';
  e.className = `srow bk-row-${out ? 'out' : b.state}`;
  setText(e.querySelector('.sku'), p.parcel_id);
  const who = p.buyer ? `${p.buyer.first_name || '—'} · ${p.buyer.phone_masked || ''}` : '';
  const st = !p.status ? '' : out ? t(`pState_${p.status}`) : p.status === 'open' ? t('notPackedYet') : '';
  setText(e.querySelector('.name'), [who, st, p.loaded ? t('onTruck') : ''].filter(Boolean).join(' · '));
  setText(e.querySelector('.bkt'), out ? t('notShipped') : bookingText(p));
  return e;
}

export function render() {
  if (S.view !== 'ship') return;
  setText($('ship-title'), S.shipId ? t('shipOneTitle') : t('shipTitle'));
  if (!S.shipId) {
    const list = S.ships || [];
    sync($('ship-list'), list.map((sh) => card(sh, false)));
    $('no-shipments').hidden = list.length > 0;
    return;
  }
  const sh = S.ship;
  if (!sh) return;
  sync($('ship-head'), [card(sh, true)]);
  const parcels = sh.parcels || sh.parcel_ids.map((id) => ({ parcel_id: id, status: null }));
  const byId = new Map(parcels.map((p) => [p.parcel_id, p]));
  sync($('ship-repack'), parcels.filter((p) => toRepack(p, byId))
    .map((p) => repackCard(p, byId.get(p.replaced_by))));
  sync($('ship-parcels'), parcels.map(row));
  setText($('ship-parcels-title'), t('shipParcels', { n: parcels.filter(shipsOut).length }));
  H.render(sh);
}

/** Book every not-yet-booked parcel; the answer per parcel, then the states as they move. */
export async function book(id, button) {
  button.disabled = true;
  try {
    const r = await api('POST', `/v1/shipments/${enc(id)}/book`);
    const by = {};
    for (const p of r.parcels || []) by[p.status] = (by[p.status] || 0) + 1;
    const parts = Object.entries(by).map(([k, n]) => `${n} ${t(`bookRes_${k}`)}`);
    say(t('bookSent', { what: parts.join(', ') || '0' }), by.rejected || by.failed ? 'bad' : 'good');
  } catch (e) {
    say(e.status === 0 ? t('network') : t('refused', { msg: errText(e) }));
    if (e.status === 401) throw e;
  } finally {
    button.disabled = false; // the reloaded card decides
    await reload().catch(() => {});
  }
}

export function wire(onAuth) {
  $('view-ship').addEventListener('click', (e) => {
    const b = e.target.closest('[data-testid="book"]');
    if (b && !b.disabled) book(b.dataset.shipmentId, b).catch(onAuth);
  });
  H.wire(() => reload().catch(() => {}), onAuth);
}
