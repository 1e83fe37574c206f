// Shared page state, small DOM helpers, the view switcher and the wave list.

import { t, fmtTime, dayLabel } from './i18n.js';
import { enc } from './api.js';
import * as Q from './queue.js';

/** What the page knows. */
export const S = {
  site: null,      // signed-in site id
  feed: null,      // {site, dates, waves} from the live feed or the REST lists
  waveId: null,    // the open wave
  wave: null,      // its GET /v1/waves/{id}
  waveKey: '',     // progress fingerprint of the loaded wave
  view: 'signin',
  shipId: null,    // the open shipment (shipping screen), null for the list
  ship: null,      // its GET /v1/shipments/{id}
  ships: null,     // the list: each shipment with its parcels
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
  for (const v of ['signin', 'waves', 'wave', 'ship']) $(`view-${v}`).hidden = v !== name;
  $('back').hidden = name !== 'wave' && name !== 'ship';
  $('sign-out').hidden = name === 'signin';
  $('where').textContent = name === 'signin' ? '' : (S.site || '');
  if (name !== 'wave') say('');
  if (name !== 'wave') warn('');
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

/** What a wave still has to follow: units to put back and parcels to pull, each named. */
function todoText(w) {
  const what = [];
  if (w.put_back_count > 0) what.push(t('todoPutBack', { n: w.put_back_count }));
  if (w.pull_count > 0) what.push(t('todoPull', { n: w.pull_count }));
  return t('waveTodo', { what: what.join(', ') });
}

function waveCard(w) {
  const started = !!w.started_at || w.qty_picked > 0 || w.parcels_packed > 0;
  const st = ['picking', 'packing', 'done'].includes(w.status) ? w.status : 'picking';
  const shown = started || st === 'done' ? st : 'not_started';
  const waiting = Q.waitingFor(w.wave_id);
  const todo = (w.put_back_count || 0) + (w.pull_count || 0);
  // Who works it, while it is worked (a done wave names nobody).
  const by = st !== 'done' && w.station;
  return el('button', {
    type: 'button', class: `wave${st === 'done' ? ' done' : ''}`,
    data: { testid: 'wave', waveId: w.wave_id, status: st, started: String(started), queued: waiting },
  },
  el('span', { class: 'wave-top' },
    el('span', { class: 'wave-name', text: t('waveN', { n: waveNumber(w.wave_id) }) }),
    el('span', { class: 'pickup', text: t('pickupAt', { time: fmtTime(w.pickup_at) }) }),
    el('span', { class: `badge st-${shown}`, text: t(`status_${shown}`) })),
  // Put-back and pull cards still to follow (a done wave can have some, after late cancels).
  todo > 0 || by || w.overdue_count > 0 || w.at_risk_count > 0 ? el('span', { class: 'wave-top' },
    by ? el('span', { class: 'station', text: t('stationBy', { s: w.station }) }) : null,
    todo > 0 ? el('span', { class: 'badge risk-at', data: { testid: 'wave-todo' }, text: todoText(w) }) : null,
    w.overdue_count > 0 ? el('span', { class: 'badge risk-overdue', data: { testid: 'wave-risk' }, text: t('waveOverdue', { n: w.overdue_count }) })
      : w.at_risk_count > 0 ? el('span', { class: 'badge risk-at', data: { testid: 'wave-risk' }, text: t('waveAtRisk', { n: w.at_risk_count }) }) : null) : null,
  el('span', { class: 'prog' },
    el('span', { text: t('pickedProg', { a: w.qty_picked, b: w.qty_total }) }),
    progress(w.qty_picked, w.qty_total)),
  el('span', { class: 'prog' },
    el('span', { text: t('packedProg', { a: w.parcels_packed, b: w.parcel_count }) }),
    progress(w.parcels_packed, w.parcel_count)),
  waiting > 0 ? el('span', { class: 'pending', data: { testid: 'wave-queued' }, text: t('queuedN', { n: waiting }) }) : null,
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

let audio = null;

/** A short, unmissable beep (WebAudio; a scan is a key press, so audio may start). */
export function beep() {
  document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    audio = audio || new Ctx();
    if (audio.state === 'suspended') audio.resume();
    const now = audio.currentTime;
    for (const [at, hz] of [[0, 520], [0.18, 380]]) {
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.type = 'square';
      o.frequency.value = hz;
      g.gain.setValueAtTime(0.3, now + at);
      g.gain.exponentialRampToValueAtTime(0.001, now + at + 0.16);
      o.connect(g).connect(audio.destination);
      o.start(now + at);
      o.stop(now + at + 0.17);
    }
  } catch { /* no audio device: the banner still shows */ }
}

/** Text as nodes where codes (SKUs, parcel ids: words joined by hyphens) never wrap. */
export function unbroken(text) {
  const out = [];
  let at = 0;
  for (const m of String(text).matchAll(/[\w.]+(?:-[\w.]+)+/g)) {
    if (m.index > at) out.push(text.slice(at, m.index));
    out.push(el('span', { class: 'code', text: m[0] }));
    at = m.index + m[0].length;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

/** Sets text whose codes never wrap (see `unbroken`), only when it changed. */
export function setCodes(node, text) {
  if (node.codesKey === text) return;
  node.codesKey = text;
  node.replaceChildren(...unbroken(text));
}

/** The big red warning (a wrong scan): stays until dismissed or the next good scan; '' hides. */
export function warn(title, detail = '') {
  const w = $('scan-warn');
  if (!title) { w.hidden = true; return; }
  $('scan-warn-title').replaceChildren(...unbroken(title));
  $('scan-warn-detail').replaceChildren(...unbroken(detail));
  w.hidden = false;
  beep();
}

/** The label PDF of one parcel, a wave or a shipment (opened in a new tab to print). */
export function labelLink(path, text, testid) {
  return el('a', {
    class: 'btn secondary', href: path, target: '_blank', rel: 'noopener', text,
    data: { testid },
  });
}

const built = new Map();

/**
 * The element `build()` makes for `data`, reused while `data` (and the language) stay the
 * same: periodic refreshes must not swap a button out from under a finger.
 */
export function memo(id, data, build) {
  const key = `${document.documentElement.lang}|${JSON.stringify(data)}`;
  const had = built.get(id);
  if (had && had.key === key) return had.e;
  const e = build();
  built.set(id, { key, e });
  if (built.size > 500) built.delete(built.keys().next().value);
  return e;
}

/** A replaced parcel still to repack: its replacement (looked up in `byId`) is not packed yet
 *  (or not listed here). Once it is, the card goes. */
export function toRepack(p, byId) {
  if (p.status !== 'replaced') return false;
  const fresh = p.replaced_by ? byId.get(p.replaced_by) : undefined;
  return !fresh || fresh.status === 'open';
}

/** "Pull P-x, repack as P-y": one per replaced parcel to repack, with the new parcel's label. */
export function repackCard(p, fresh) {
  return memo(`repack:${p.parcel_id}`, [p.replaced_by, fresh && fresh.items], () => repackBuild(p, fresh));
}

function repackBuild(p, fresh) {
  const to = p.replaced_by;
  return el('article', {
    class: 'repack', data: { testid: 'repack', parcelId: p.parcel_id, replacedBy: to || '' },
  },
  el('p', { class: 'repack-title', text: to ? t('repack', { from: p.parcel_id, to }) : t('repackNoNew', { from: p.parcel_id }) }),
  fresh && fresh.items ? el('p', { class: 'repack-items', text: t('repackItems', {
    items: fresh.items.map((i) => `${i.qty} × ${i.name}`).join(', '),
  }) }) : null,
  to ? labelLink(`/v1/parcels/${enc(to)}/label.pdf`, t('printNewLabel', { id: to }), 'repack-label') : null);
}

/**
 * Codes (bins, SKUs) stay on one line: a `.fit` element whose text is wider than its box is
 * shrunk (down to 55 %); only if even that is too wide may it wrap, at its hyphens (never
 * inside a word). Runs after each render and on resize; skips unchanged elements.
 */
export function fitAll(root) {
  requestAnimationFrame(() => { for (const e of root.querySelectorAll('.fit')) fit(e); });
}

function fit(e) {
  if (e.fitKey === `${e.textContent}|${e.clientWidth}`) return;
  e.style.fontSize = '';
  e.classList.remove('fit-wrap');
  const w = e.clientWidth;
  if (w > 0 && e.scrollWidth > w) {
    const base = parseFloat(getComputedStyle(e).fontSize) || 16;
    e.style.fontSize = `${Math.max(base * 0.55, Math.floor(base * w / e.scrollWidth * 0.97))}px`;
    if (e.scrollWidth > e.clientWidth) e.classList.add('fit-wrap');
  }
  e.fitKey = `${e.textContent}|${e.clientWidth}`;
}
