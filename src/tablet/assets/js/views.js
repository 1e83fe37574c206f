// Shared page state, small DOM helpers, the view switcher and the wave list.

import { t, fmtTime, dayLabel } from './i18n.js';

/** What the page knows. */
export const S = {
  site: null,      // signed-in site id
  feed: null,      // {site, dates, waves} from the live feed or the REST lists
  waveId: null,    // the open wave
  wave: null,      // its GET /v1/waves/{id}
  waveKey: '',     // progress fingerprint of the loaded wave
  view: 'signin',
};

export const $ = (id) => document.getElementById(id);

/** el('div', {class: 'x', text: 'y', data: {testid: 'z'}, title: '…'}, child, …) */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k === 'data') for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = String(dv);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

export function showView(name) {
  S.view = name;
  document.body.dataset.view = name;
  for (const v of ['signin', 'waves', 'wave']) $(`view-${v}`).hidden = v !== name;
  $('back').hidden = name !== 'wave';
  $('sign-out').hidden = name === 'signin';
  $('where').textContent = name === 'signin' ? '' : (S.site || '');
  if (name !== 'wave') say('');
}

let msgTimer = null;

/** A message over the wave (kind: bad | good); '' hides it. */
export function say(text, kind = 'bad') {
  const m = $('msg');
  if (msgTimer) clearTimeout(msgTimer);
  msgTimer = null;
  if (!text) { m.hidden = true; m.textContent = ''; return; }
  m.textContent = text;
  m.className = `msg ${kind}`;
  m.hidden = false;
  msgTimer = setTimeout(() => { m.hidden = true; }, kind === 'bad' ? 9000 : 4000);
}

/** "W-hoa-lu-hub-1121-3" → "3". */
export function waveNumber(id) {
  const parts = String(id).split('-');
  return parts[parts.length - 1];
}

export function progress(value, max) {
  return el('progress', { value: Math.min(value, max), max: Math.max(max, 1) });
}

function waveCard(w) {
  const status = ['picking', 'packing', 'done'].includes(w.status) ? w.status : 'picking';
  return el('button', {
    type: 'button', class: `wave${status === 'done' ? ' done' : ''}`,
    data: { testid: 'wave', waveId: w.wave_id, status },
  },
  el('span', { class: 'wave-top' },
    el('span', { class: 'wave-name', text: t('waveN', { n: waveNumber(w.wave_id) }) }),
    el('span', { class: 'pickup', text: t('pickupAt', { time: fmtTime(w.pickup_at) }) }),
    el('span', { class: `badge st-${status}`, text: t(`status_${status}`) })),
  el('span', { class: 'prog' },
    el('span', { text: t('pickedProg', { a: w.qty_picked, b: w.qty_total }) }),
    progress(w.qty_picked, w.qty_total)),
  el('span', { class: 'prog' },
    el('span', { text: t('packedProg', { a: w.parcels_packed, b: w.parcel_count }) }),
    progress(w.parcels_packed, w.parcel_count)),
  el('span', { class: 'small', text: `${t('orders', { n: w.order_count })} · ${w.wave_id}` }));
}

/** The list of waves, grouped by business day (today, tomorrow). */
export function renderWaves() {
  const box = $('wave-groups');
  const waves = (S.feed && S.feed.waves) || [];
  const days = new Map();
  for (const w of waves) {
    if (!days.has(w.date)) days.set(w.date, []);
    days.get(w.date).push(w);
  }
  const groups = [];
  for (const [date, list] of days) {
    groups.push(el('h3', { class: 'day', text: dayLabel(date) }));
    groups.push(el('div', { class: 'waves' }, ...list.map(waveCard)));
  }
  box.replaceChildren(...groups);
  $('no-waves').hidden = waves.length > 0;
}

/** Sets a node's text only when it changed (renders run often; keep the DOM calm). */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** Makes `nodes` the children of `parent`, touching the DOM only if they differ. */
export function sync(parent, nodes) {
  const kids = parent.children;
  if (kids.length === nodes.length && nodes.every((n, i) => kids[i] === n)) return;
  parent.replaceChildren(...nodes);
}
