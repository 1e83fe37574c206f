// Starts the real `livepack serve` binary on a free port with an embedded Redis in a
// temporary directory, waits for /readyz, and stops it (SIGTERM, then SIGKILL).

import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '..', '..', '..');

export const SITE = 'hoa-lu-hub';
export const PIN = '246813';
export const SELLER = 'mat-ong-tam-diep';
export const SELLER_TOKEN = 'demo-seller-mat-ong-tam-diep-token';
export const OPERATOR_TOKEN = 'demo-operator-token-change-me';

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `toml`: more configuration appended to the test's file (e.g. a whole `[[sites]]`). */
export async function startServer({ toml = '' } = {}) {
  const bin = process.env.LIVEPACK_BIN || join(ROOT, 'target', 'debug', 'livepack');
  if (!existsSync(bin)) throw new Error(`no livepack binary at ${bin}: run cargo build --bin livepack`);
  const dir = mkdtempSync(join(tmpdir(), 'livepack-browser-'));
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LIVEPACK')));
  // The demo carrier books on its own an hour before each pickup; the tests check the
  // floor statuses (`packed`), so auto-booking stays off whatever the time of day.
  const config = join(dir, 'livepack.toml');
  writeFileSync(config, [
    '[[carriers]]', 'id = "viettel-post"', 'kind = "mock"', 'webhook_secret = "demo-webhook-secret"',
    'default_service = "VCN"', 'book_before_pickup_minutes = 0', '',
  ].join('\n') + toml);
  Object.assign(env, {
    LIVEPACK_CONFIG: config,
    LIVEPACK__SERVER__LISTEN: `127.0.0.1:${port}`,
    LIVEPACK__REDIS__URL: 'embedded',
    LIVEPACK__REDIS__DATA_DIR: join(dir, 'data'),
    RUST_LOG: process.env.RUST_LOG || 'info',
  });
  const logPath = join(dir, 'livepack.log');
  const log = openSync(logPath, 'a');
  const child = spawn(bin, ['serve'], { cwd: dir, env, stdio: ['ignore', log, log] });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60000;
  for (;;) {
    if (exited) throw new Error(`livepack exited (${JSON.stringify(exited)}):\n${readFileSync(logPath, 'utf8')}`);
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) break;
    } catch { /* not yet listening */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`livepack not ready within 60 s:\n${readFileSync(logPath, 'utf8')}`);
    }
    await sleep(100);
  }
  return {
    base,
    port,
    log: () => readFileSync(logPath, 'utf8'),
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        for (let i = 0; i < 200 && !exited; i++) await sleep(100);
        if (!exited) child.kill('SIGKILL');
        for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      }
      if (!process.env.KEEP_TMP) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** JSON over HTTP with a bearer token: {status, body}. */
export async function call(base, method, path, token, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: r.status, body: json };
}

export async function eventually(what, check, { timeout = 30000, every = 200 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await sleep(every);
  }
}

export { sleep };
