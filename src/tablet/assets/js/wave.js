// One wave: what to do first (put-backs, pulls), its pick list (bin on its own line, SKU
// whole), then its parcels; taps and scans become queued actions, undo counts down.

import { api, enc } from './api.js';
import { t, fmtTime, dayLabel, errText } from './i18n.js';
import * as Q from './queue.js';
import { S, $, el, say, progress, waveNumber, setText, sync, labelLink, repackCard, toRepack, memo, unbroken, fitAll } from './views.js';
import * as V from './verify.js';
import * as P from './parcel.js';
import { ask } from './ask.js';

/** "Take all" of more than this many units asks to confirm the count first. */
export const TAKE_ALL_CONFIRM_ABOVE = 3;

const lineEls = new Map();
const todoEls = new Map();
let reloadTimer = null;
let loading = null;
let onAuth = () => {};
let lastSent = null; // the newest acknowledged tap: undo after its hold goes through the server

export function setAuth(f) { onAuth = f; }

export function progressKey(w) {
  return w ? [w.status, w.qty_total, w.qty_picked, w.parcels_packed, w.order_count, w.parcel_count,
    w.started_at, w.put_back_count, w.pull_count, w.at_risk_count, w.overdue_count].join('|') : '';
}

/** The waves read last (at most KEEP_READ), to reopen one without network. */
const KEEP_READ = 5;
const lastRead = new Map();

/** Loads the wave (401 errors, and network errors without a copy read before, go to the
 *  caller). */
export async function load(id) {
  if (id !== S.waveId) {
    V.close();
    lineEls.clear();
    todoEls.clear();
    P.clear();
    lastSent = null;
    for (const x of ['pick-list', 'parcel-list', 'wave-head', 'todo']) $(x).replaceChildren();
    S.wave = null;
  }
  S.waveId = id;
  const p = api('GET', `/v1/waves/${enc(id)}`);
  loading = p;
  let w;
  try {
    w = await p;
    lastRead.delete(id);
    lastRead.set(id, w);
    if (lastRead.size > KEEP_READ) lastRead.delete(lastRead.keys().next().value);
  } catch (e) {
    // No network (not a refusal): the copy read last, if any; taps still queue.
    const copy = lastRead.get(id);
    if (e.status !== 0 || !copy) throw e;
    if (loading !== p || S.waveId !== id) return;
    if (!S.wave) say(t('offlineCopy'), 'info');
    w = copy;
  }
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

/** A bin as a place in a sentence ("về {bin}"): "kệ A-01", or where an unshelved SKU
 *  lives ("chỗ để hàng (chưa xếp kệ)"; before, "về kệ Chưa xếp kệ"). */
export function binText(bin) {
  return !bin || bin === 'UNASSIGNED' ? t('binNonePlace') : t('binPlace', { bin });
}

function binOf(sku) {
  const l = S.wave && S.wave.pick_list.find((x) => x.sku === sku);
  return l ? l.bin : null;
}

function lineView(l, q) {
  const waiting = q.picks.get(l.sku) || 0;
  const picked = l.picked + waiting;
  const left = Math.max(0, l.qty - picked);
  let e = lineEls.get(l.sku);
  if (!e) {
    e = el('li', { class: 'line', data: { testid: 'pick-line', sku: l.sku } },
      el('div', { class: 'bin fit', data: { testid: 'pick-bin' } }),
      el('div', { class: 'count' }),
      el('div', { class: 'what' },
        el('div', { class: 'sku fit code' }),
        el('div', { class: 'name' }),
        el('div', { class: 'warn' }), el('div', { class: 'pending' })),
      el('div', { class: 'line-acts' },
        el('button', { type: 'button', class: 'btn', data: { testid: 'pick-confirm', sku: l.sku } }),
        el('button', { type: 'button', class: 'btn secondary', data: { testid: 'unpick', sku: l.sku } })));
    lineEls.set(l.sku, e);
  }
  e.dataset.qty = l.qty;
  e.dataset.picked = picked;
  e.classList.toggle('full', left === 0);
  const bin = e.querySelector('.bin');
  bin.classList.toggle('none', !l.bin || l.bin === 'UNASSIGNED');
  setText(bin, l.bin && l.bin !== 'UNASSIGNED' ? `${t('binLabel')} ${l.bin}` : t('binNone'));
  setText(e.querySelector('.sku'), l.sku);
  setText(e.querySelector('.name'), l.name);
  setText(e.querySelector('.warn'), l.put_back > 0 && !q.done.has(`b:${l.sku}`) ? t('putBackMark', { n: l.put_back }) : '');
  setText(e.querySelector('.pending'), waiting > 0 ? `${waiting} ${t('waiting')}` : '');
  setText(e.querySelector('.count'), `${picked}/${l.qty}`);
  const b = e.querySelector('[data-testid="pick-confirm"]');
  b.disabled = left === 0;
  b.className = left === 0 ? 'btn' : 'btn primary';
  setText(b, left === 0 ? t('pickedAll') : t('pickAll', { n: left }));
  const u = e.querySelector('[data-testid="unpick"]');
  u.hidden = l.picked === 0 || waiting > 0;
  setText(u, t('unpick'));
  return e;
}

/** Put-backs and pulls: each an instruction with its own "done" button. */
function todos(w, q) {
  const out = [];
  const backs = w.put_backs || w.pick_list.filter((l) => l.put_back > 0)
    .map((l) => ({ sku: l.sku, name: l.name, bin: l.bin, qty: l.put_back }));
  for (const b of backs) {
    if (q.done.has(`b:${b.sku}`) || b.qty <= 0) continue;
    const text = t('putBackDo', { n: b.qty, sku: b.sku, bin: binText(b.bin) });
    out.push(memo(`pb:${S.waveId}:${b.sku}`, [text], () => el('article',
      { class: 'todo-item', data: { testid: 'put-back', sku: b.sku, qty: b.qty } },
      el('p', { class: 'todo-text' }, ...unbroken(text)),
      el('button', { type: 'button', class: 'btn ok', data: { testid: 'put-back-confirm', sku: b.sku, qty: b.qty }, text: t('putBackBtn') }))));
  }
  const pulls = w.pulls || w.parcels.filter(P.toPull)
    .map((p) => ({ parcel_id: p.parcel_id, replaced_by: p.replaced_by, items: p.items, never_packed: false }));
  for (const p of pulls) {
    if (q.done.has(`p:${p.parcel_id}`)) continue;
    const items = (p.items || []).map((i) => t('itemToBin', { n: i.qty, sku: i.sku, bin: binText(i.bin || binOf(i.sku)) }));
    // A replaced box: what leaves it (its put-back cards aside), then repacked as the new one.
    // Never packed (booked before packing): no box, only a label to throw away.
    const base = p.never_packed
      ? (p.replaced_by ? t('pullNoBoxRepack', { id: p.parcel_id, new: p.replaced_by }) : t('pullNoBox', { id: p.parcel_id }))
      : p.replaced_by
      ? (items.length ? t('pullRepackItems', { id: p.parcel_id, items: items.join(', '), new: p.replaced_by })
        : t('pullRepack', { id: p.parcel_id, new: p.replaced_by }))
      : items.length ? t('pullDo', { id: p.parcel_id, items: items.join(', ') })
        : t('pullDoNoItems', { id: p.parcel_id });
    // Units the wave still counts picked for its other parcels: they stay on the table.
    const keep = (p.to_table || []).map((i) => t('itemKeep', { n: i.qty, sku: i.sku }));
    const text = keep.length ? `${base}; ${t('pullKeep', { items: keep.join(', ') })}` : base;
    out.push(memo(`pl:${p.parcel_id}`, [text], () => el('article',
      { class: 'todo-item pull', data: { testid: 'pull', parcelId: p.parcel_id } },
      el('p', { class: 'todo-text' }, ...unbroken(text)),
      el('button', { type: 'button', class: 'btn ok', data: { testid: 'pull-confirm', parcelId: p.parcel_id }, text: t('pullBtn') }))));
  }
  // A card shown is one still to do (those confirmed and not yet sent are left out above):
  // its button is live, also when the card is one kept from an earlier, confirmed one of the
  // same text (a second put-back of the same SKU and quantity).
  for (const card of out) {
    const b = card.querySelector('button');
    if (b) b.disabled = false;
  }
  return out;
}

/** Draws the open wave with what the queue still holds on top of the server's numbers. */
export function render() {
  const w = S.wave;
  if (!w) return;
  const q = P.queued();
  sync($('todo'), todos(w, q));
  sync($('pick-list'), w.pick_list.map((l) => lineView(l, q)));
  const ready = P.readiness(w, q);
  const next = P.nextParcel(w, q, ready);
  sync($('parcel-list'), w.parcels.map((p) => P.view(p, q, ready.get(p.parcel_id), next)));
  const picked = w.pick_list.reduce((s, l) => s + Math.min(l.qty, l.picked + (q.picks.get(l.sku) || 0)), 0);
  const total = w.pick_list.reduce((s, l) => s + l.qty, 0);
  const byId = new Map(w.parcels.map((p) => [p.parcel_id, p]));
  sync($('repack-list'), w.parcels.filter((p) => toRepack(p, byId))
    .map((p) => repackCard(p, byId.get(p.replaced_by))));
  const c = P.counts(w, q);
  const started = !!w.started_at || picked > 0 || c.packed > 0;
  const status = !started ? 'not_started' : ['picking', 'packing', 'done'].includes(w.status) ? w.status : 'picking';
  const day = w.pickup_at ? dayLabel(new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Ho_Chi_Minh' }).format(new Date(w.pickup_at))) : '';
  $('wave-head').replaceChildren(...[
    el('span', { class: 'wave-name', text: t('waveN', { n: waveNumber(w.wave_id) }) }),
    el('span', { class: 'pickup', text: `${t('pickupAt', { time: fmtTime(w.pickup_at) })} · ${day}` }),
    el('span', { class: `badge st-${status}`, data: { testid: 'wave-status', status }, text: t(`status_${status}`) }),
    w.station ? el('span', { class: 'station', text: t('stationBy', { s: w.station }) }) : null,
    el('span', { class: 'prog' }, el('span', { text: t('pickedProg', { a: picked, b: total }) }), progress(picked, total)),
    el('span', { class: 'small', text: w.wave_id }),
    memo(`wave-labels:${w.wave_id}`, w.wave_id, () =>
      labelLink(`/v1/waves/${enc(w.wave_id)}/labels.pdf`, t('printWaveLabels'), 'print-labels')),
    next ? el('button', { type: 'button', class: 'btn secondary jump', data: { jump: `next:${next}`, testid: 'to-next' }, text: t('toNext') })
      : el('button', { type: 'button', class: 'btn secondary jump', data: { jump: 'parcel-title' }, text: t('toParcels') }),
  ].filter(Boolean));
  setText($('parcel-title'), t('parcelsN', { a: c.packed, b: c.live }));
  $('parcel-title').dataset.packed = c.packed;
  $('parcel-title').dataset.live = c.live;
  V.render();
  fitAll($('pick-list'));
  fitAll($('parcel-list'));
  undoButton();
}

function findLine(sku) {
  return S.wave && S.wave.pick_list.find((l) => l.sku.toUpperCase() === sku.toUpperCase());
}

function enqueuePicks(l, qty) {
  for (let rest = qty; rest > 0; rest -= 999) {
    Q.enqueue({ kind: 'pick', site: S.site, wave_id: S.waveId, sku: l.sku, qty: Math.min(rest, 999) });
  }
}

/** Picks n units of a SKU (the whole rest when n is null); refuses over-picks. */
export function pick(sku, n = null) {
  const l = findLine(sku);
  if (!l) return false;
  const picked = l.picked + (P.queued().picks.get(l.sku) || 0);
  const left = l.qty - picked;
  const qty = n === null ? left : n;
  if (qty <= 0 || qty > left) {
    say(t('overPick', { sku: l.sku, qty: l.qty, picked, n: Math.max(qty, 1) }));
    return true;
  }
  if (n === null && qty > TAKE_ALL_CONFIRM_ABOVE) {
    ask({
      title: t('confirmTakeTitle', { n: qty, sku: l.sku }),
      text: t('confirmTakeText', { n: qty, bin: binText(l.bin) }), ok: t('confirmTakeOk', { n: qty }),
    }).then((r) => {
      if (!r.ok) return;
      const now = l.qty - l.picked - (P.queued().picks.get(l.sku) || 0);
      if (now > 0) enqueuePicks(l, Math.min(now, qty));
    });
    return true;
  }
  enqueuePicks(l, qty);
  if (n !== null) say(t('scannedPick', { sku: l.sku, picked: picked + qty, qty: l.qty }), 'good');
  return true;
}

const hooks = { changed: () => render(), reload: () => reloadSoon(0), auth: (e) => onAuth(e) };

export function pack(parcelId, fromScan = false) { return P.pack(parcelId, fromScan, hooks); }
export function unpack(parcelId) { return P.unpack(parcelId, hooks); }

/** Put-back or pull done: a queued action (idempotent by its id), undoable like a tap. */
export function done(kind, data) {
  if (kind === 'put_back') {
    Q.enqueue({ kind, site: S.site, wave_id: S.waveId, sku: data.sku, qty: Number(data.qty) });
    say(t('putBackDone', { n: data.qty, sku: data.sku, bin: binText(binOf(data.sku)) }), 'good');
  } else {
    Q.enqueue({ kind: 'pulled', site: S.site, wave_id: S.waveId, parcel_id: data.parcelId });
    say(t('pullDone', { id: data.parcelId }), 'good');
  }
}

/** Takes one picked unit back off the count (the server's unpick, asked first). */
export async function unpick(sku) {
  const l = findLine(sku);
  if (!l) return;
  const id = Q.newId();
  const r = await ask({
    title: t('unpickTitle', { sku: l.sku, bin: binText(l.bin) }), text: t('unpickText'), ok: t('unpickOk'),
    check: async () => {
      try {
        const res = await api('POST', `/v1/waves/${enc(S.waveId)}/unpicks`, { unpick_id: id, sku: l.sku, qty: 1 });
        if (res && typeof res.picked === 'number') l.picked = res.picked;
        return '';
      } catch (e) { return errText(e); }
    },
  });
  if (!r.ok) return;
  say(t('unpicked', { sku: l.sku, picked: l.picked, qty: l.qty }), 'good');
  render();
  reloadSoon(0);
}

/** A scanned code: a parcel id packs that parcel, a SKU (or its barcode) picks one unit. */
export function scan(code) {
  let c = code.trim();
  if (!c || !S.wave) return;
  if (pack(c, true)) return;
  const map = S.wave.barcodes || {};
  const viaBarcode = map[c] || (S.wave.pick_list.find((l) => (l.barcodes || []).includes(c)) || {}).sku;
  if (viaBarcode && !findLine(c)) c = viaBarcode;
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
  if (viaBarcode && c === viaBarcode) {
    const l = findLine(c);
    const count = () => l.picked + (P.queued().picks.get(l.sku) || 0);
    const before = count();
    pick(c, 1);
    if (count() > before) say(`${t('scannedEan', { code: code.trim(), sku: c })} · +1 (${count()}/${l.qty})`, 'good');
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
  if (a.kind === 'pick') return t('whatPick', { n: a.qty, sku: a.sku });
  if (a.kind === 'put_back') return t('putBackDo', { n: a.qty, sku: a.sku, bin: binText(binOf(a.sku)) });
  if (a.kind === 'pulled') return t('pullBtn');
  return t('whatPack', { id: a.parcel_id });
}

let undoTimer = null;

/** The undo button counts the newest tap's hold down: "↶ Hoàn tác (2 s)". */
export function undoButton() {
  const b = $('undo');
  const left = Q.heldLeft();
  b.dataset.countdown = String(Math.ceil(left / 1000));
  setText(b, left > 0 ? t('undoIn', { s: Math.ceil(left / 1000) }) : t('undo'));
  b.classList.toggle('counting', left > 0);
  if (undoTimer) clearTimeout(undoTimer);
  undoTimer = left > 0 ? setTimeout(undoButton, Math.min(250, left)) : null;
}

/** Undo of the last tap: dropped while held or offline; once sent, taken back on the server. */
export async function undo() {
  const r = Q.undoLast();
  if (r.action) { say(t('undone', { what: describe(r.action) }), 'good'); undoButton(); return; }
  if (r.inFlight) { say(t('inFlight')); return; }
  const a = lastSent;
  if (!a || a.wave_id !== S.waveId) { say(t('nothingToUndo')); return; }
  if (a.kind === 'packed') { lastSent = null; await unpack(a.parcel_id); return; }
  const id = Q.newId();
  const ok = await ask({
    title: t('undoSentTitle', { what: describe(a) }), text: t('undoSentText'), ok: t('undoSentOk'),
    check: async () => {
      try {
        await api('POST', `/v1/waves/${enc(a.wave_id)}/unpicks`, { unpick_id: id, sku: a.sku, qty: a.qty });
        return '';
      } catch (e) { return errText(e); }
    },
  });
  if (!ok.ok) return;
  lastSent = null;
  say(t('undone', { what: describe(a) }), 'good');
  reloadSoon(0);
}

/** The server counted an action: fold its answer into the loaded wave. */
export function acked(a, res) {
  lastSent = a.kind === 'pick' || a.kind === 'packed' ? a : null;
  if (!S.wave || a.wave_id !== S.waveId) return;
  if (a.kind === 'pick' && res) {
    const l = S.wave.pick_list.find((x) => x.sku === a.sku);
    if (l && typeof res.picked === 'number') l.picked = res.picked;
  } else if (a.kind === 'packed') {
    const p = S.wave.parcels.find((x) => x.parcel_id === a.parcel_id);
    if (p && p.status === 'open') p.status = 'packed';
  }
  render();
  reloadSoon(a.kind === 'pick' || a.kind === 'packed' ? 1500 : 0);
}

/** Refusals said in the last few seconds, shown together. */
let recentRefusals = [];

/** The server refused an action: say why in the page's language and re-read the wave. */
export function refused(a, err) {
  if (a.kind === 'packed' && err.code === 'items_not_picked' && a.wave_id === S.waveId) {
    const p = S.wave && S.wave.parcels.find((x) => x.parcel_id === a.parcel_id);
    const missing = (err.body && err.body.error && err.body.error.missing) || [];
    if (p) P.askUnpicked(p, missing, false, hooks);
  } else {
    // Each refused tap said with what it was (several can come back at once after the
    // network returns: the recent ones stay listed together).
    const msg = errText(err);
    const line = a.kind === 'pick' ? t('refusedPick', { n: a.qty, sku: a.sku, msg })
      : a.kind === 'packed' ? t('refusedPack', { id: a.parcel_id, msg })
        : t('refused', { msg });
    const now = Date.now();
    recentRefusals = recentRefusals.filter((r) => now - r.at < 9000);
    recentRefusals.push({ at: now, line });
    say(recentRefusals.map((r) => r.line).join(' · '));
  }
  if (a.wave_id === S.waveId) reloadSoon(0);
}
