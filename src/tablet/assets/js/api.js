// JSON over fetch with the station cookie (same origin). Errors carry the API's code.

export class ApiError extends Error {
  /** status 0: no answer (offline, timeout). */
  constructor(status, code, message, body = null) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
    this.body = body; // the whole JSON answer (a 409 hand-over carries `missing`)
  }
  /** Worth sending again later: no answer, overload, or a server-side failure. */
  get retryable() {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

const TIMEOUT_MS = 10000;

export async function api(method, path, body) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  let resp;
  try {
    resp = await fetch(path, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: body === undefined ? { Accept: 'application/json' }
        : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: ctl.signal,
    });
  } catch (e) {
    throw new ApiError(0, 'network', String(e && e.message || e));
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  const text = await resp.text().catch(() => '');
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) {
    const err = data && data.error;
    const e = new ApiError(resp.status, err && err.code, err && err.message, data);
    // Seconds to wait (429: the sign-in throttle), when the server says.
    const after = Number(resp.headers.get('Retry-After'));
    e.retryAfter = Number.isFinite(after) && after > 0 ? after : null;
    throw e;
  }
  return data;
}

export const enc = encodeURIComponent;
