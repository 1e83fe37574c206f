// The hand-over of one shipment to the carrier's driver: every label is scanned into
// `handover-scan` (a keyboard-wedge scanner types the code and Enter); the answer shows big
// and coloured (pull and wrong codes also beep); what is loaded, what is missing and what
// must be pulled are listed live; a missing parcel may be left behind with a reason; the
// confirmation is possible only when nothing is missing.

import { api, enc } from './api.js';
import { t, tIn, errText } from './i18n.js';
import { S, $, el, setText, sync, beep, unbroken } from './views.js';
import { ask } from './ask.js';

const REASONS = ['not_packed', 'damaged', 'not_found', 'truck_full', 'other'];
const KEY = 'lp.leave.v1';

let left = new Map();       // parcel_id → reason, for the open shipment (kept until confirmed)
let pulled = new Set();     // parcels a scan said to pull, this visit
let chain = Promise.resolve();
let leaving = null;         // the parcel the leave-behind dialog is about
let reason = null;          // the preset chosen in the dialog
let onChanged = () => {};
let onAuth = () => {};
const missEls = new Map();

function readLeft(id) {
  try {
    const all = JSON.parse(localStorage.getItem(KEY) || '{}');
    return new Map(Object.entries((all && all[id]) || {}));
  } catch { return new Map(); }
}

function saveLeft() {
  try {
    const all = JSON.parse(localStorage.getItem(KEY) || '{}') || {};
    if (left.size) all[S.shipId] = Object.fromEntries(left); else delete all[S.shipId];
    localStorage.setItem(KEY, JSON.stringify(all));
  } catch { /* private mode: kept in memory */ }
}

/** A new shipment is open (or none). */
export function reset(id) {
  left = id ? readLeft(id) : new Map();
  pulled = new Set();
  missEls.clear();
  $('ho-missing').replaceChildren();
  $('ho-loaded').replaceChildren();
  $('ho-pull').replaceChildren();
  result(null);
  const d = $('leave-dialog');
  if (d.open) d.close();
}

const RESULTS = {
  loaded: 'good', loaded_unpacked: 'info', loaded_unbooked: 'info', handed_over_unbooked: 'info', already_loaded: 'info', pull: 'bad', not_in_shipment: 'bad', unknown: 'bad', error: 'bad',
  handed_over: 'good', refused_missing: 'bad', refused_repack: 'bad', refused_pull: 'bad', refused_loaded: 'bad', pulled_off: 'good',
};

/** The big answer to the last scan (null hides it). */
function result(kind, vars = {}) {
  const box = $('handover-result');
  if (!kind) { box.hidden = true; box.dataset.result = ''; return; }
  box.hidden = false;
  box.dataset.result = kind;
  box.dataset.code = vars.code || '';
  box.className = `ho-result ho-${RESULTS[kind] || 'bad'}`;
  box.replaceChildren(
    el('strong', { class: 'ho-big' }, ...unbroken(t(`ho_${kind}`, vars))),
    el('span', { class: 'ho-small' }, ...unbroken(t(`ho_${kind}_hint`, vars))));
  if (RESULTS[kind] === 'bad') beep();
}

/** A scanned label (tracking code or parcel id); scans are sent one after another. */
export function scan(code) {
  const c = code.trim();
  if (!c || !S.shipId) return chain;
  const id = S.shipId;
  chain = chain.then(async () => {
    let r;
    try {
      r = await api('POST', `/v1/shipments/${enc(id)}/scans`, { code: c });
    } catch (e) {
      if (e.status === 401) { onAuth(e); return; }
      result('error', { code: c, msg: errText(e) });
      return;
    }
    if (S.shipId !== id) return;
    const pid = r.parcel_id || c;
    if (r.result === 'pull') pulled.add(pid);
    if (r.result === 'loaded' || r.result === 'already_loaded') {
      if (left.delete(pid)) saveLeft();
    }
    let kind = ['loaded', 'already_loaded', 'pull', 'not_in_shipment', 'unknown'].includes(r.result)
      ? r.result : 'unknown';
    if (kind === 'loaded' && r.warning === 'not_packed') kind = 'loaded_unpacked';
    if (kind === 'loaded' && r.warning === 'not_booked') kind = 'loaded_unbooked';
    result(kind, { code: c, id: pid });
    await onChanged();
  });
  return chain;
}

/** A missing parcel; `before`: the reason it was left behind at an earlier truck, if it was. */
function missingRow(id, before) {
  let e = missEls.get(id);
  if (!e) {
    e = el('li', { class: 'ho-item miss', data: { testid: 'handover-missing', parcelId: id } },
      el('span', { class: 'sku', text: id }),
      el('span', { class: 'ho-why' }),
      el('button', { type: 'button', class: 'btn secondary', data: { testid: 'leave-behind', parcelId: id } }));
    missEls.set(id, e);
  }
  const why = left.get(id);
  e.dataset.leftBehind = why ? '1' : '0';
  e.dataset.leftBefore = before ? '1' : '0';
  e.classList.toggle('is-left', !!why);
  setText(e.querySelector('.ho-why'), why ? t('leftBecause', { reason: why })
    : before ? t('notLoadedLeftBefore', { reason: before }) : t('notLoaded'));
  setText(e.querySelector('button'), why ? t('leaveUndo') : t('leaveBehind'));
  return e;
}

function simple(id, testid, cls) {
  return el('li', { class: `ho-item ${cls}`, data: { testid, parcelId: id } }, el('span', { class: 'sku', text: id }));
}

/** A parcel to pull; one still on the truck has a button to confirm it was taken off. */
function pullRow(id, onTruck) {
  const e = simple(id, 'handover-pull', 'bad');
  e.dataset.onTruck = onTruck ? '1' : '0';
  if (onTruck) {
    e.append(el('span', { class: 'ho-why', text: t('hoOnTruck') }),
      el('button', { type: 'button', class: 'btn secondary', text: t('hoPulledOff'), data: { testid: 'handover-pulled', parcelId: id } }));
  }
  return e;
}

/** A parcel to pull confirmed taken off the truck (its `loaded` is cleared). */
async function pulledOff(id) {
  try {
    await api('POST', `/v1/parcels/${enc(id)}/pulled`, {});
  } catch (e) {
    if (e.status === 401) { onAuth(e); return; }
    // Nothing to take off any more (another tablet did): as done; else say why. Either
    // way the list is read again.
    const code = e.body && e.body.error && e.body.error.code;
    if (code !== 'nothing_to_pull') result('error', { code: id, msg: errText(e) });
    await onChanged();
    return;
  }
  result('pulled_off', { id });
  await onChanged();
}

/** Draws the hand-over part of the open shipment. */
export function render(sh) {
  const done = sh.status === 'handed_over';
  const missing = Array.isArray(sh.missing) ? sh.missing : [];
  for (const id of [...left.keys()]) if (!missing.includes(id) && !done) left.delete(id);
  const parcels = sh.parcels || [];
  // Goes with the truck (the server's `shipable`): not cancelled or replaced, not to pull,
  // not refused by the carrier; delivered and returned ones went.
  const goes = (p) => !p.pull && !['cancelled', 'replaced'].includes(p.status)
    && !(p.booking && p.booking.state === 'rejected' && !p.tracking);
  // On the truck and going: a box scanned, then replaced or pulled, is listed to pull only.
  const loaded = parcels.filter((p) => p.loaded && goes(p)).map((p) => p.parcel_id);
  const loadedN = typeof sh.loaded_count === 'number' ? sh.loaded_count : loaded.length;
  // Left behind at an earlier truck and moved on to this one: the supervisor sees why
  // (a damaged box to redo, one not packed then) before it is missed again.
  const before = new Map(parcels.filter((p) => p.left_behind).map((p) => [p.parcel_id, p.left_behind]));
  sync($('ho-missing'), missing.map((id) => missingRow(id, before.get(id))));
  sync($('ho-loaded'), loaded.map((id) => simple(id, 'handover-loaded', 'ok')));
  // Once the truck has left, nothing is left to pull off it (the hand-over refused while
  // any such box was still on it).
  const pull = done ? [] : parcels.filter((p) => !goes(p) && (p.loaded || pulled.has(p.parcel_id)))
    .map((p) => p.parcel_id);
  if (!done) for (const id of pulled) if (!pull.includes(id)) pull.push(id);
  // Still on the truck: the server refuses the hand-over until each is confirmed taken off.
  const onTruck = new Set(parcels.filter((p) => !goes(p) && p.loaded).map((p) => p.parcel_id));
  sync($('ho-pull'), pull.map((id) => pullRow(id, onTruck.has(id))));
  $('ho-pull-box').hidden = pull.length === 0;
  setText($('ho-missing-title'), t('hoMissing', { n: missing.filter((id) => !left.has(id)).length }));
  setText($('ho-loaded-title'), t('hoLoaded', { a: loadedN, b: loadedN + missing.length }));
  setText($('ho-pull-title'), t('hoPull', { n: pull.length }));
  const open = missing.filter((id) => !left.has(id));
  const c = $('handover-confirm');
  // Without the server's `missing` list nothing can be known to be complete.
  c.disabled = done || open.length > 0 || onTruck.size > 0 || !Array.isArray(sh.missing);
  c.dataset.missing = String(open.length);
  c.dataset.toPull = String(onTruck.size);
  setText(c, done ? t('hoDone') : t('hoConfirm'));
  $('handover-scan').disabled = done;
  setText($('ho-hint'), done ? t('hoDoneHint') : !Array.isArray(sh.missing) ? ''
    : open.length ? t('hoNeed', { n: open.length })
      : onTruck.size ? t('hoPullFirst', { n: onTruck.size })
      : left.size ? t('hoReady', { n: left.size }) : t('hoReadyAll'));
  $('handover').classList.toggle('is-done', done);
}

function openDialog(id) {
  leaving = id;
  reason = null;
  setText($('leave-title'), t('leaveTitle', { id }));
  $('leave-reasons').replaceChildren(...REASONS.map((r) => el('button', {
    type: 'button', class: 'btn secondary reason', text: t(`reason_${r}`),
    data: { testid: 'leave-reason', reason: r }, 'aria-pressed': 'false',
  })));
  $('leave-text').value = '';
  $('leave-error').hidden = true;
  $('leave-dialog').showModal();
}

function chooseReason(r) {
  reason = r;
  for (const b of $('leave-reasons').children) {
    b.setAttribute('aria-pressed', String(b.dataset.reason === r));
    b.className = b.dataset.reason === r ? 'btn primary reason' : 'btn secondary reason';
  }
  $('leave-error').hidden = true;
  if (r === 'other') $('leave-text').focus();
}

function confirmLeave(ev) {
  ev.preventDefault();
  const text = $('leave-text').value.trim();
  const err = $('leave-error');
  if (!reason || (reason === 'other' && !text)) {
    err.textContent = reason ? t('leaveNeedText') : t('leaveNeedReason');
    err.hidden = false;
    return;
  }
  // Stored in Vietnamese (the site's language) whatever the screen shows.
  const preset = reason === 'other' ? '' : tIn('vi', `reason_${reason}`);
  left.set(leaving, [preset, text].filter(Boolean).join(' — ').slice(0, 200));
  saveLeft();
  $('leave-dialog').close();
  if (S.ship) render(S.ship);
  $('handover-scan').focus();
}

async function confirm() {
  const asked = S.ship;
  if (!asked) return;
  // The truck leaves for good: asked once more, as every step that cannot be undone.
  const going = typeof asked.loaded_count === 'number' ? asked.loaded_count : 0;
  const yes = await ask({
    title: t('hoAskTitle', { id: asked.shipment_id }),
    text: t('hoAskText', { n: going }),
    ok: t('hoConfirm'),
    kind: 'warn',
  });
  // (The shipment may have been read again meanwhile: the same one, its latest view.)
  const sh = S.ship;
  if (!yes.ok || !sh || sh.shipment_id !== asked.shipment_id) return;
  const missing = Array.isArray(sh.missing) ? sh.missing : [];
  const body = { left_behind: missing.filter((id) => left.has(id)).map((id) => ({ parcel_id: id, reason: left.get(id) })) };
  $('handover-confirm').disabled = true;
  try {
    const done = await api('POST', `/v1/shipments/${enc(sh.shipment_id)}/handed-over`, body);
    left.clear();
    saveLeft();
    const unbooked = done && Array.isArray(done.not_booked) ? done.not_booked : [];
    if (unbooked.length) result('handed_over_unbooked', { n: unbooked.length, list: unbooked.join(', ') });
    else result('handed_over', { id: sh.shipment_id });
  } catch (e) {
    if (e.status === 401) { onAuth(e); return; }
    const b = e.body || {};
    const miss = b.missing || (b.error && b.error.missing) || [];
    const repack = Array.isArray(b.repack_pending) ? b.repack_pending : [];
    const toPull = Array.isArray(b.to_pull) ? b.to_pull : [];
    const loadedLeft = Array.isArray(b.loaded_left_behind) ? b.loaded_left_behind : [];
    if (e.status === 409 && loadedLeft.length) {
      // Chosen to stay, then scanned onto the truck by someone: the box is on the truck, so
      // the choice is dropped; confirming again hands it over with the rest.
      for (const id of loadedLeft) left.delete(id);
      saveLeft();
      result('refused_loaded', { list: loadedLeft.join(', ') });
    } else if (e.status === 409 && toPull.length) {
      result('refused_pull', { list: toPull.join(', ') });
    } else if (e.status === 409 && repack.length) {
      // Parcels holding an order cancelled meanwhile: their repack replaces them in a moment
      // (the re-read below shows the replacement to scan, and the old parcel to pull).
      result('refused_repack', { list: repack.join(', ') });
    } else if (e.status === 409 && miss.length) {
      result('refused_missing', { list: miss.join(', ') });
      if (S.ship) {
        // Shown at once, even if the re-read below fails. The server's `missing` leaves out
        // what was sent as left behind: those stay listed, with their reasons.
        S.ship.missing = [...new Set([...miss, ...body.left_behind.map((x) => x.parcel_id)])];
        render(S.ship);
      }
    } else {
      result('error', { code: '', msg: errText(e) });
    }
  }
  await onChanged();
}

export function wire(changed, auth) {
  onChanged = changed;
  onAuth = auth;
  $('handover-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const code = $('handover-scan').value;
    $('handover-scan').value = '';
    scan(code);
  });
  $('ho-missing').addEventListener('click', (e) => {
    const b = e.target.closest('[data-testid="leave-behind"]');
    if (!b) return;
    const id = b.dataset.parcelId;
    if (left.has(id)) {
      left.delete(id);
      saveLeft();
      if (S.ship) render(S.ship);
    } else {
      openDialog(id);
    }
  });
  $('leave-reasons').addEventListener('click', (e) => {
    const b = e.target.closest('[data-reason]');
    if (b) chooseReason(b.dataset.reason);
  });
  $('ho-pull').addEventListener('click', (e) => {
    const b = e.target.closest('[data-testid="handover-pulled"]');
    if (b) { b.disabled = true; pulledOff(b.dataset.parcelId); }
  });
  $('leave-form').addEventListener('submit', confirmLeave);
  $('leave-cancel').addEventListener('click', () => $('leave-dialog').close());
  $('handover-confirm').addEventListener('click', confirm);
}
