// The real connection state, for the header badge and the offline banner: the browser's
// online flag plus the live event stream, which carries a `heartbeat` event every 10 s
// (src/tablet/events.rs). No event for LOST_MS means the stream is dead even when the
// browser still believes it is online (Wi-Fi up, server or access point gone).

export const LOST_MS = 25000;   // 2.5 heartbeats
const GRACE_MS = 6000;           // a fresh page or a reconnect gets this long before "offline"

let lastEvent = 0;
let open = false;
let downSince = Date.now();
let timer = null;
const listeners = new Set();

function notify() { for (const f of listeners) f(); }

export function onChange(f) { listeners.add(f); }

/** Any event on the stream (open, waves, heartbeat, refresh). */
export function heard() {
  const was = state();
  lastEvent = Date.now();
  open = true;
  downSince = 0;
  if (state() !== was) notify();
}

/** The stream errored or was closed. */
export function lost() {
  const was = state();
  if (open || !downSince) downSince = Date.now();
  open = false;
  if (state() !== was) notify();
}

/** 'live' | 'connecting' (briefly, after a drop) | 'offline'. */
export function state() {
  if (!navigator.onLine) return 'offline';
  const now = Date.now();
  if (open && now - lastEvent <= LOST_MS) return 'live';
  const since = open ? lastEvent + LOST_MS : downSince || now;
  return now - since < GRACE_MS ? 'connecting' : 'offline';
}

/** Age of the last event in ms (Infinity before the first). */
export function age() { return lastEvent ? Date.now() - lastEvent : Infinity; }

let last = null;

/** Checks once a second: the state changes by time alone when heartbeats stop. */
export function start() {
  if (timer) return;
  window.addEventListener('online', notify);
  window.addEventListener('offline', () => { lost(); notify(); });
  last = state();
  timer = setInterval(() => {
    const s = state();
    if (s !== last) { last = s; notify(); }
  }, 1000);
}

/** Signed out: nothing to be connected to. */
export function reset() {
  open = false;
  lastEvent = 0;
  downSince = Date.now();
}
