// Browser and page helpers shared by the tablet tests.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';
import { ROOT, SITE, PIN, OPERATOR_TOKEN, call, eventually, startServer } from './server.mjs';

export const LANDSCAPE = { width: 1280, height: 800 };
export const PORTRAIT = { width: 800, height: 1280 };
export const QUEUE_KEY = 'lp.queue.v1';

/** Debian's Chromium, never a downloaded browser. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * One service (`startServer(options)`) and one Chromium for a test file: started before its
 * tests, stopped after them. Returns `{ srv, browser }`, filled in once `before` ran.
 */
export function serviceAndBrowser(options) {
  const env = {};
  before(async () => {
    env.srv = await startServer(options);
    env.browser = await launch();
  });
  after(async () => {
    await env.browser?.close();
    await env.srv?.stop();
  });
  return env;
}

/** A page that records uncaught errors and CSP violations (asserted empty by `clean`). */
export async function openPage(browser, viewport = LANDSCAPE) {
  const context = await browser.newContext({ viewport, locale: 'vi-VN', timezoneId: 'Asia/Ho_Chi_Minh' });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) page.problems.push(`console: ${m.text()}`);
  });
  return { context, page };
}

export function clean(page, assert) {
  assert.deepEqual(page.problems, [], 'no script errors, no CSP violations');
}

export async function signIn(page, base, pin = PIN) {
  await page.goto(`${base}/tablet/`);
  await page.getByTestId('site').fill(SITE);
  await page.getByTestId('pin').fill(pin);
  await page.getByTestId('sign-in').click();
  if (pin === PIN) await page.locator('#view-waves').waitFor();
}

function vnDate(offsetDays = 0) {
  return new Date(Date.now() + 7 * 3600000 + offsetDays * 86400000).toISOString().slice(0, 10);
}

/** Every wave of the site today and tomorrow (what the tablet lists), from the API. */
export async function apiWaves(base) {
  const out = [];
  for (const d of [vnDate(0), vnDate(1)]) {
    const r = await call(base, 'GET', `/v1/sites/${SITE}/waves?date=${d}`, OPERATOR_TOKEN);
    if (r.status !== 200) throw new Error(`waves: ${r.status} ${JSON.stringify(r.body)}`);
    out.push(...r.body.waves);
  }
  return out;
}

export async function apiWave(base, id) {
  const r = await call(base, 'GET', `/v1/waves/${id}`, OPERATOR_TOKEN);
  if (r.status !== 200) throw new Error(`wave ${id}: ${r.status}`);
  return r.body;
}

/** Waits until waves not in `before` hold `orders` orders; returns them. */
export async function newWaves(base, before, orders) {
  return eventually(`${orders} orders released into new waves`, async () => {
    const fresh = (await apiWaves(base)).filter((w) => !before.has(w.wave_id));
    return fresh.reduce((s, w) => s + w.order_count, 0) === orders ? fresh : null;
  }, { timeout: 30000 });
}

export async function queueLength(page) {
  return page.evaluate((k) => JSON.parse(localStorage.getItem(k) || '[]').length, QUEUE_KEY);
}

export async function queueDrained(page, timeout = 60000) {
  await page.waitForFunction((k) => JSON.parse(localStorage.getItem(k) || '[]').length === 0,
    QUEUE_KEY, { timeout });
}

export async function openWave(page, id) {
  await page.locator(`[data-testid="wave"][data-wave-id="${id}"]`).click();
  await page.locator('#view-wave').waitFor();
  await page.locator('[data-testid="pick-line"]').first().waitFor();
}

export function shot(name) {
  const dir = join(ROOT, 'docs', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}.png`);
}

/** The question dialog (confirm-dialog) is open; answers it with confirm-ok (or cancel). */
export async function answer(page, { ok = true, pin, title } = {}) {
  const d = page.getByTestId('confirm-dialog');
  await d.waitFor({ state: 'visible', timeout: 15000 });
  if (title) {
    const text = await d.locator('#ask-title').textContent();
    if (!title.test(text)) throw new Error(`question "${text}" does not match ${title}`);
  }
  if (pin !== undefined) await page.getByTestId('confirm-pin').fill(pin);
  await page.getByTestId(ok ? 'confirm-ok' : 'confirm-cancel').click();
}

/** Waits until the question dialog is closed. */
export async function answered(page) {
  await page.getByTestId('confirm-dialog').waitFor({ state: 'hidden', timeout: 15000 });
}

/** Above this many units, "take all" asks to confirm the count (wave.js TAKE_ALL_CONFIRM_ABOVE). */
export const TAKE_ALL_CONFIRM_ABOVE = 3;

/** Taps a line's pick-confirm ("take all") and confirms the count when the tablet asks. */
export async function takeAll(page, sku) {
  const line = page.locator(`[data-testid="pick-line"][data-sku="${sku}"]`);
  const left = Number(await line.getAttribute('data-qty')) - Number(await line.getAttribute('data-picked'));
  await line.getByTestId('pick-confirm').click();
  if (left > TAKE_ALL_CONFIRM_ABOVE) {
    await answer(page, { title: new RegExp(`(Lấy|Take) ${left} × ${sku}`) });
    await answered(page);
  }
}

/** Taps a parcel's parcel-packed, confirming "pack anyway" when its items are not all picked. */
export async function packParcel(page, id) {
  const card = page.locator(`[data-testid="parcel"][data-parcel-id="${id}"]`);
  const ready = (await card.getAttribute('data-ready')) === 'true';
  await card.getByTestId('parcel-packed').click();
  if (!ready) {
    await answer(page, { title: /chưa lấy đủ hàng|not all picked/ });
    await answered(page);
  }
}
