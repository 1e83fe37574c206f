// The packing tablet: sign-in, the live wave list, a wave's pick list and parcels.

import { api, enc } from './api.js';
import { t, applyStatic, getLang, setLang, vnDate, errText } from './i18n.js';
import * as Q from './queue.js';
import * as C from './conn.js';
import { S, $, showView, renderWaves, say, warn, fitAll } from './views.js';
import * as A from './ask.js';
import * as W from './wave.js';
import * as SH from './ship.js';

const SITE_KEY = 'lp.site';
const STATION_KEY = 'lp.station';
// A sign-out the server has not heard yet (tapped offline): the tablet stays signed out,
// sends no queued tap, and ends the session on the server as soon as it can.
const SIGNOUT_KEY = 'lp.signout.v1';
let stream = null;
let streamRetry = null;

function store(key, value) {
  try {
    if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value);
  } catch { /* private mode */ }
}

/** The banner (contract §3): only while actions wait to be sent, offline or failing. Being
 *  offline with nothing waiting is the header badge's to say. */
function banner() {
  const b = $('offline');
  const n = Q.waiting();
  const signedIn = S.view !== 'signin';
  const off = signedIn && C.state() === 'offline';
  const show = n > 0 && (off || Q.stalled());
  b.hidden = !show;
  b.dataset.waiting = String(n);
  b.dataset.state = off ? 'offline' : 'stalled';
  if (show) b.textContent = off ? t('offline', { n }) : t('stalled', { n });
}

/** The header badge follows the real connection: browser online flag + the stream's heartbeat. */
function live() {
  const c = $('conn');
  const st = S.view === 'signin' ? 'live' : C.state();
  c.textContent = S.view === 'signin' ? '' : st === 'live' ? t('live') : st === 'offline' ? t('offlineBadge') : t('notLive');
  c.className = st === 'live' ? 'conn' : 'conn bad';
  c.dataset.live = st === 'live' ? '1' : '0';
  c.dataset.state = st;
  c.dataset.testid = 'conn';
  banner();
}

/** Fields the live feed does not carry (risk counts need every parcel read): kept from REST. */
const REST_ONLY = ['at_risk_count', 'overdue_count'];

function applyFeed(feed) {
  if (!feed || feed.site !== S.site) return;
  const had = new Map(((S.feed && S.feed.waves) || []).map((w) => [w.wave_id, w]));
  for (const w of feed.waves || []) {
    const old = had.get(w.wave_id);
    for (const k of REST_ONLY) if (!(k in w) && old && k in old) w[k] = old[k];
  }
  S.feed = feed;
  renderWaves();
  W.feedChanged(feed);
}

/** Reads today's and tomorrow's waves over the REST API (first load, `refresh` events). */
async function refreshList() {
  const now = new Date();
  const dates = [vnDate(now), vnDate(new Date(now.getTime() + 86400000))];
  const lists = await Promise.all(dates.map((d) =>
    api('GET', `/v1/sites/${enc(S.site)}/waves?date=${d}`)));
  const waves = lists.flatMap((l, i) => l.waves.map((w) => ({ ...w, date: dates[i] })));
  waves.sort((a, b) => (a.pickup_at < b.pickup_at ? -1 : a.pickup_at > b.pickup_at ? 1
    : a.released_at < b.released_at ? -1 : 1));
  applyFeed({ site: S.site, dates, waves });
}

let listTimer = null;

/** Overdue and at-risk counts change with the clock alone: re-read the list every minute. */
function listEveryMinute() {
  if (listTimer) clearInterval(listTimer);
  listTimer = setInterval(() => {
    if (S.site && S.view !== 'signin') refreshList().catch(failed);
  }, 60000);
}

let shipSoon = null;

/** The site's waves changed (a pick, a pack, a cancel that replaces a box): an open
 * hand-over re-reads its shipment at once rather than at its next poll, so a box to pull
 * shows while the truck is loading. */
function shipChanged() {
  if (S.view !== 'ship' || !S.shipId || shipSoon) return;
  shipSoon = setTimeout(() => {
    shipSoon = null;
    if (S.view === 'ship' && S.shipId) SH.reload().catch(failed);
  }, 500);
}

function closeStream() {
  if (shipSoon) clearTimeout(shipSoon);
  shipSoon = null;
  if (stream) stream.close();
  stream = null;
  if (streamRetry) clearTimeout(streamRetry);
  streamRetry = null;
}

/** The live feed (Server-Sent Events); the browser reconnects by itself after a drop. */
function openStream() {
  closeStream();
  const es = new EventSource(`/v1/sites/${enc(S.site)}/events`);
  stream = es;
  es.addEventListener('open', () => C.heard());
  es.addEventListener('heartbeat', () => C.heard());
  es.addEventListener('waves', (e) => {
    C.heard();
    try { applyFeed(JSON.parse(e.data)); } catch { /* a bad event: the next one fixes it */ }
    shipChanged();
  });
  es.addEventListener('refresh', () => {
    C.heard();
    refreshList().catch(failed);
    if (S.waveId) W.reloadSoon(0);
    if (S.view === 'ship') SH.reload().catch(failed);
  });
  es.addEventListener('error', () => {
    C.lost();
    if (es.readyState === EventSource.CLOSED && stream === es) {
      // Refused (signed out?) rather than dropped: find out, then try again.
      streamRetry = setTimeout(() => {
        refreshList().then(openStream, (e) => { failed(e); if (e.status !== 401) openStream(); });
      }, 3000);
    }
  });
}

function failed(e) {
  if (e && e.status === 401) signedOut(true);
}

function signedOut(expired) {
  closeStream();
  SH.stop();
  S.shipId = null;
  S.ship = null;
  S.ships = null;
  S.feed = null;
  S.waveId = null;
  S.wave = null;
  showView('signin');
  C.reset();
  live();
  $('site').value = S.site || new URLSearchParams(location.search).get('site') || '';
  $('station').value = (() => { try { return localStorage.getItem(STATION_KEY) || ''; } catch { return ''; } })();
  $('pin').value = '';
  signinError(expired ? () => t('sessionExpired') : null);
}

/** The sign-in error, kept as a function of the language so a switch re-words it. */
let signinSays = null;
function signinError(says) {
  const err = $('signin-error');
  signinSays = says;
  err.hidden = !says;
  err.textContent = says ? says() : '';
}

/** The throttle's answer: how long this tablet waits (the server's Retry-After). */
function lockedText(secs) {
  if (!secs) return t('locked');
  return secs < 90 ? t('lockedSecs', { n: Math.ceil(secs) }) : t('lockedMins', { n: Math.ceil(secs / 60) });
}

async function signIn(ev) {
  ev.preventDefault();
  const site = $('site').value.trim();
  const pin = $('pin').value.trim();
  const station = $('station').value.trim();
  signinError(null);
  if (!site || !pin) { signinError(() => t('needBoth')); return; }
  $('sign-in').disabled = true;
  try {
    const r = await api('POST', '/v1/station/session', station ? { site, pin, station } : { site, pin });
    S.site = r.site;
    // A new session replaces the one a pending sign-out was to end.
    store(SIGNOUT_KEY, null);
    store(SITE_KEY, r.site);
    store(STATION_KEY, station || null);
    $('pin').value = '';
    Q.resume();
    await enter();
  } catch (e) {
    signinError(() => (e.status === 401 ? t('wrongPin') : e.status === 429 ? lockedText(e.retryAfter) : errText(e)));
  } finally {
    $('sign-in').disabled = false;
  }
}

function signOutPending() {
  try { return localStorage.getItem(SIGNOUT_KEY) === '1'; } catch { return false; }
}

/** Ends the station's session on the server; kept pending (and retried) while it cannot. */
async function endServerSession() {
  try {
    await api('DELETE', '/v1/station/session');
  } catch (e) {
    // 401: the session had ended already. Anything else: not heard, try again later.
    if (e.status !== 401) return;
  }
  if (signOutPending()) store(SIGNOUT_KEY, null);
}

async function signOut() {
  Q.pause();
  store(SIGNOUT_KEY, '1');
  await endServerSession();
  signedOut(false);
}

/** Signed in: the list, the live feed, then whatever the address asks for. */
async function enter() {
  try {
    await refreshList();
  } catch (e) {
    if (e.status === 401) { signedOut(false); return; }
  }
  openStream();
  listEveryMinute();
  await route();
}

async function route() {
  if (!S.site || S.view === 'signin' && !stream) return;
  const ship = /^#\/ship(?:\/([A-Za-z0-9._-]+))?$/.exec(location.hash);
  if (!ship) SH.stop();
  if (ship) {
    S.waveId = null;
    S.wave = null;
    showView('ship');
    try {
      await SH.open(ship[1] ? decodeURIComponent(ship[1]) : null);
      if (ship[1]) $('handover-scan').focus();
    } catch (e) {
      if (e.status === 401) signedOut(true);
      else {
        const m = $('ship-msg');
        m.textContent = e.status === 404 ? t('shipGone') : t('network');
        m.className = 'msg bad';
        m.hidden = false;
      }
    }
    return;
  }
  const m = /^#\/wave\/([A-Za-z0-9._-]+)$/.exec(location.hash);
  if (!m) {
    S.waveId = null;
    S.wave = null;
    showView('waves');
    renderWaves();
    return;
  }
  showView('wave');
  $('scan').value = '';
  $('scan').focus();
  try {
    await W.load(m[1]);
  } catch (e) {
    if (e.status === 401) signedOut(true);
    else if (e.status === 404) { say(t('waveGone')); }
    else say(t('network'));
  }
}

function wire() {
  $('lang').addEventListener('click', () => {
    setLang(getLang() === 'vi' ? 'en' : 'vi');
    applyStatic();
    signinError(signinSays);
    renderWaves();
    W.render();
    SH.render();
    live();
  });
  $('signin-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  $('back').addEventListener('click', () => {
    location.hash = /^#\/ship\/./.test(location.hash) ? '#/ship' : '#/';
  });
  $('scan-warn-dismiss').addEventListener('click', () => {
    warn('');
    if (S.view === 'wave') $('scan').focus();
  });
  $('parcel-list').addEventListener('click', (e) => {
    const b = e.target.closest('[data-testid="verify-open"]');
    if (b) W.toggleVerify(b.dataset.parcelId);
  });
  $('verify-close').addEventListener('click', () => W.toggleVerify(null));
  SH.wire((e) => failed(e));
  window.addEventListener('hashchange', () => { route(); });
  $('wave-groups').addEventListener('click', (e) => {
    const card = e.target.closest('[data-testid="wave"]');
    if (card) location.hash = `#/wave/${card.dataset.waveId}`;
  });
  $('pick-list').addEventListener('click', (e) => {
    const b = e.target.closest('[data-testid="pick-confirm"]');
    if (b && !b.disabled) W.pick(b.dataset.sku);
  });
  $('parcel-list').addEventListener('click', (e) => {
    const b = e.target.closest('[data-testid="parcel-packed"]');
    if (b && !b.disabled) W.pack(b.dataset.parcelId);
    const u = e.target.closest('[data-testid="parcel-unpack"]');
    if (u) W.unpack(u.dataset.parcelId);
  });
  $('pick-list').addEventListener('click', (e) => {
    const b = e.target.closest('[data-testid="unpick"]');
    if (b) W.unpick(b.dataset.sku);
  });
  $('todo').addEventListener('click', (e) => {
    const b = e.target.closest('[data-testid="put-back-confirm"], [data-testid="pull-confirm"]');
    if (!b || b.disabled) return;
    b.disabled = true;
    W.done(b.dataset.testid === 'put-back-confirm' ? 'put_back' : 'pulled', b.dataset);
  });
  A.wire();
  window.addEventListener('resize', () => {
    if (S.view === 'wave') { fitAll($('pick-list')); fitAll($('parcel-list')); }
  });
  $('scan-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const code = $('scan').value;
    $('scan').value = '';
    W.scan(code);
  });
  $('undo').addEventListener('click', W.undo);
  $('wave-head').addEventListener('click', (e) => {
    const b = e.target.closest('[data-jump]');
    if (!b) return;
    const to = b.dataset.jump.startsWith('next:')
      ? document.querySelector(`[data-testid="parcel"][data-parcel-id="${b.dataset.jump.slice(5)}"]`)
      : $(b.dataset.jump);
    if (to) to.scrollIntoView({ behavior: 'smooth', block: 'center' });
  });
  // A barcode scanner types like a keyboard: whatever has focus, its keys go to the scan box.
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const target = S.view === 'wave' ? 'scan' : S.view === 'ship' && S.shipId ? 'handover-scan' : null;
    if (!target || $('leave-dialog').open || A.isOpen()) return;
    const tag = (document.activeElement && document.activeElement.tagName) || '';
    if (tag === 'INPUT' || tag === 'TEXTAREA') return;
    if (e.key.length === 1) $(target).focus();
  });
}

function boot() {
  applyStatic();
  wire();
  Q.onChange(() => {
    banner();
    if (S.view === 'wave') W.render();
    if (S.view === 'waves') renderWaves();
  });
  // Signed out offline before this load: still signed out, nothing sent, the server told
  // once it answers.
  if (signOutPending()) Q.pause();
  const retry = () => { if (signOutPending()) endServerSession(); };
  window.addEventListener('online', retry);
  setInterval(retry, 15000);
  Q.start({ ack: W.acked, refused: W.refused, auth: () => signedOut(true) });
  W.setAuth(() => signedOut(true));
  C.onChange(live);
  C.start();
  live();
  S.site = (() => { try { return localStorage.getItem(SITE_KEY); } catch { return null; } })();
  if (!S.site || signOutPending()) {
    signedOut(false);
    retry();
    return;
  }
  showView('waves');
  enter();
}

boot();
