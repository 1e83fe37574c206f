// The action queue: every tap (a pick, a packed parcel, a put-back or a pull done) is stored in localStorage with a
// client-made id and sent in order until the server acknowledges it. Picks are idempotent
// by that id (`pick_id`) and "packed" is idempotent by itself, so resending after a lost
// answer never counts twice. An action is held HOLD_MS before it is sent: until then (and
// for as long as the tablet is offline) "undo" simply removes it.

import { api, enc } from './api.js';

const KEY = 'lp.queue.v1';
export const HOLD_MS = 3000;
const MAX_BACKOFF_MS = 15000;

let items = load();
let inflight = null;     // id of the action being sent
let failing = false;     // the last attempt got no usable answer
let paused = false;      // signed out: wait for a new sign-in
let backoff = 1000;
let timer = null;
let pumping = false;
let handlers = { ack() {}, refused() {}, auth() {} };
const listeners = new Set();

function load() {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) || '[]');
    return Array.isArray(v) ? v.filter((a) => a && a.id && a.kind) : [];
  } catch { return []; }
}

function save() {
  try { localStorage.setItem(KEY, JSON.stringify(items)); } catch { /* full: kept in memory */ }
}

function notify() { for (const f of listeners) f(); }

/** A pick id: 1–64 of A-Z a-z 0-9 . _ - (getRandomValues works on plain-http LAN pages too). */
export function newId() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return `tb-${Date.now().toString(36)}-${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
}

export function onChange(f) { listeners.add(f); }

/** Actions not yet acknowledged (a copy, oldest first). */
export function pending() { return items.slice(); }
export function waiting() { return items.length; }

/** Offline: actions wait and the last attempt failed, or the browser knows it is offline. */
export function stalled() { return items.length > 0 && (failing || !navigator.onLine); }

export function enqueue(action) {
  const now = Date.now();
  const a = { ...action, id: action.id || newId(), at: now, sendAfter: now + HOLD_MS, tries: 0 };
  items.push(a);
  save();
  notify();
  schedule(HOLD_MS);
  return a;
}

/** Removes the unsent actions matching `pred` (never the one in flight); how many went. */
export function removeWhere(pred) {
  const before = items.length;
  items = items.filter((a) => a.id === inflight || !pred(a));
  if (items.length === before) return 0;
  save();
  notify();
  return before - items.length;
}

/** ms until the newest action leaves (its undo window), 0 when none is held. */
export function heldLeft() {
  const last = items[items.length - 1];
  if (!last || last.id === inflight) return 0;
  return Math.max(0, last.sendAfter - Date.now());
}

/** Unsent actions of a wave (picks and packs), for the wave list. */
export function waitingFor(waveId) {
  return items.filter((a) => a.wave_id === waveId).length;
}

/** Removes the newest action if it was not sent yet. {action} | {inFlight: true} | {} */
export function undoLast() {
  const last = items[items.length - 1];
  if (!last) return {};
  if (last.id === inflight) return { inFlight: true };
  items.pop();
  save();
  notify();
  return { action: last };
}

function schedule(ms) {
  if (timer) clearTimeout(timer);
  timer = setTimeout(() => { timer = null; pump(); }, Math.max(0, ms));
}

function send(a) {
  if (a.kind === 'pick') {
    return api('POST', `/v1/waves/${enc(a.wave_id)}/picks`, { pick_id: a.id, sku: a.sku, qty: a.qty });
  }
  if (a.kind === 'put_back') {
    return api('POST', `/v1/waves/${enc(a.wave_id)}/put-backs`, { put_back_id: a.id, sku: a.sku, qty: a.qty });
  }
  if (a.kind === 'pulled') return api('POST', `/v1/parcels/${enc(a.parcel_id)}/pulled`, {});
  const body = {};
  if (a.confirm_unpicked) body.confirm_unpicked = true;
  if (Array.isArray(a.order_ids)) body.order_ids = a.order_ids;
  return api('POST', `/v1/parcels/${enc(a.parcel_id)}/packed`, Object.keys(body).length ? body : undefined);
}

function drop(id) {
  items = items.filter((x) => x.id !== id);
  save();
}

/** Sends due actions in order; stops at the first one that must wait or be retried. */
export async function pump() {
  if (pumping || paused) return;
  pumping = true;
  try {
    while (items.length) {
      const a = items[0];
      const wait = a.sendAfter - Date.now();
      if (wait > 0) { schedule(wait); break; }
      if (!navigator.onLine) { failing = true; break; }
      inflight = a.id;
      notify();
      let result = null;
      let error = null;
      try { result = await send(a); } catch (e) { error = e; }
      inflight = null;
      if (!error) {
        drop(a.id);
        failing = false;
        backoff = 1000;
        handlers.ack(a, result);
        continue;
      }
      if (error.status === 401) {
        paused = true;
        failing = true;
        handlers.auth(a, error);
        break;
      }
      if (!error.retryable) {
        // The server understood and refused (over-pick, cancelled parcel, unknown SKU):
        // resending cannot help.
        drop(a.id);
        handlers.refused(a, error);
        continue;
      }
      a.tries = (a.tries || 0) + 1;
      save();
      failing = true;
      schedule(backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      break;
    }
  } finally {
    pumping = false;
    inflight = null;
    notify();
  }
}

/** Starts sending; `h`: {ack(action, result), refused(action, error), auth(action, error)}. */
export function start(h) {
  handlers = { ...handlers, ...h };
  window.addEventListener('online', () => { backoff = 1000; pump(); });
  window.addEventListener('offline', notify);
  window.addEventListener('storage', (e) => {
    if (e.key === KEY) { items = load(); notify(); }
  });
  pump();
}

/** Signed out: nothing is sent until the next sign-in. */
export function pause() {
  paused = true;
}

/** After a new sign-in: send what waited. */
export function resume() {
  paused = false;
  backoff = 1000;
  pump();
}
