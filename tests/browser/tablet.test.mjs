// The packing tablet end to end in Debian's headless Chromium: sign in, 300 orders over the
// ingest WebSocket appear as waves without a reload, every line picked, every parcel packed,
// the orders read back `packed`; layout and contrast checks; screenshots for the README.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, eventually, SITE, SELLER_TOKEN } from './lib/server.mjs';
import { orders, ingest, endSession } from './lib/ingest.mjs';
import { checkLayout } from './lib/checks.mjs';
import {
  serviceAndBrowser, openPage, clean, signIn, apiWaves, apiWave, newWaves, queueDrained, openWave, shot,
  takeAll, LANDSCAPE, PORTRAIT,
} from './lib/tablet.mjs';

const env = serviceAndBrowser();

/** Layout/contrast checks and a screenshot at both tablet sizes; ends in landscape. */
async function bothSizes(page, name, prepare = async () => {}) {
  for (const [size, label] of [[LANDSCAPE, '1280x800'], [PORTRAIT, '800x1280']]) {
    await page.setViewportSize(size);
    await prepare();
    await checkLayout(page, assert, `${name} at ${label}`);
    await page.screenshot({ path: shot(`tablet-${name}-${label}`) });
  }
  await page.setViewportSize(LANDSCAPE);
}

async function pickEverything(page) {
  const lines = page.locator('[data-testid="pick-line"]');
  const n = await lines.count();
  assert.ok(n > 0, 'a pick list');
  for (let i = 0; i < n; i++) {
    const l = lines.nth(i);
    if (await l.getByTestId('pick-confirm').isEnabled()) await takeAll(page, await l.getAttribute('data-sku'));
  }
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="pick-line"]')]
    .every((l) => l.dataset.picked === l.dataset.qty));
}

async function packEverything(page) {
  const parcels = page.locator('[data-testid="parcel"]');
  const n = await parcels.count();
  for (let i = 0; i < n; i++) {
    const b = parcels.nth(i).getByTestId('parcel-packed');
    if (await b.isEnabled()) await b.click();
  }
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="parcel"]')]
    .every((p) => p.dataset.status === 'packed'));
}

test('the page and its files are served with security headers', async () => {
  const r = await fetch(`${env.srv.base}/tablet/`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
  assert.equal(r.headers.get('x-frame-options'), 'DENY');
  assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  const js = await fetch(`${env.srv.base}/tablet/js/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /javascript/);
});

test('a wrong PIN shows sign-in-error and does not sign in', async () => {
  const { context, page } = await openPage(env.browser);
  try {
    await signIn(page, env.srv.base, '0000');
    const err = page.getByTestId('sign-in-error');
    await err.waitFor({ state: 'visible' });
    assert.match(await err.textContent(), /Sai mã điểm hoặc mã PIN/);
    assert.equal(await page.locator('#view-waves').isHidden(), true);
    // Switching the language re-words it.
    await page.getByTestId('lang').click();
    assert.doesNotMatch(await err.textContent(), /Sai mã/);
    await page.getByTestId('lang').click();
    assert.match(await err.textContent(), /Sai mã điểm hoặc mã PIN/);
    await checkLayout(page, assert, 'sign-in with error');
    await page.screenshot({ path: shot('tablet-sign-in-error-1280x800') });
    clean(page, assert);
  } finally {
    await context.close();
  }
});

test('a sign-out tapped offline holds after a reload, and the server hears it once online', async () => {
  const { context, page } = await openPage(env.browser);
  try {
    await signIn(page, env.srv.base);
    const session = (await context.cookies()).find((c) => c.name === 'lp_station');
    assert.ok(session, 'signed in with a session cookie');
    const reads = async () => (await fetch(`${env.srv.base}/v1/sites/${SITE}/waves`, {
      headers: { cookie: `lp_station=${session.value}` },
    })).status;
    assert.equal(await reads(), 200);
    // The sign-out does not reach the server (the network drops it).
    const signOut = (url) => url.pathname === '/v1/station/session';
    await page.route(signOut, (r) => (r.request().method() === 'DELETE' ? r.abort() : r.continue()));
    await page.locator('#sign-out').click();
    await page.locator('#view-signin').waitFor();
    assert.equal(await reads(), 200, 'the server did not hear it');
    await page.unroute(signOut);
    // The browser still holds the cookie the server could not end; the tablet is still
    // signed out after a reload, and ends that session on the server.
    await page.reload();
    await page.locator('#view-signin').waitFor();
    assert.equal(await page.locator('#view-waves').isHidden(), true, 'no PIN-less way back in');
    await eventually('the server ends the session', async () => (await reads()) === 401);
    // A new sign-in works as before.
    await signIn(page, env.srv.base);
    clean(page, assert);
  } finally {
    await context.close();
  }
});

test('300 orders appear live, every line is picked and every parcel packed', { timeout: 300000 }, async () => {
  const { context, page } = await openPage(env.browser);
  try {
    await signIn(page, env.srv.base);
    await page.evaluate(() => { window.sameDocument = true; });
    const before = new Set((await apiWaves(env.srv.base)).map((w) => w.wave_id));
    const list = orders('SAT', 300);
    await ingest(env.srv.base, 'browser-sat', list);
    await endSession(env.srv.base, 'browser-sat');
    const waves = await newWaves(env.srv.base, before, 300);
    // The tablet shows them through its live feed: no reload, no navigation.
    await page.waitForFunction((ids) => ids.every((id) =>
      document.querySelector(`[data-testid="wave"][data-wave-id="${id}"]`)),
    waves.map((w) => w.wave_id), { timeout: 15000 });
    assert.equal(await page.evaluate(() => window.sameDocument), true, 'the page was not reloaded');
    await bothSizes(page, 'waves');

    for (const [i, w] of waves.entries()) {
      await openWave(page, w.wave_id);
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'scan-input');
      if (i === 0) {
        // A first tap so the screenshot shows a picked line next to open ones.
        await takeAll(page, await page.locator('[data-testid="pick-line"]').first().getAttribute('data-sku'));
        await bothSizes(page, 'picks', async () => page.evaluate(() => window.scrollTo(0, 0)));
      }
      await pickEverything(page);
      const parcels = page.locator('[data-testid="parcel"]');
      assert.equal(await parcels.count(), w.parcel_count, 'one card per parcel');
      if (i === 0) {
        for (let k = 0; k < 2; k++) await parcels.nth(k).getByTestId('parcel-packed').click();
        await bothSizes(page, 'parcels', async () => page.evaluate(() =>
          document.getElementById('parcel-title').scrollIntoView()));
      }
      await packEverything(page);
      await page.getByTestId('back').click();
      await page.locator('#view-waves').waitFor();
    }

    await queueDrained(page);
    assert.equal(await page.getByTestId('offline-banner').isHidden(), true);
    for (const w of waves) {
      const view = await apiWave(env.srv.base, w.wave_id);
      assert.equal(view.status, 'done', `${w.wave_id} is done`);
      for (const l of view.pick_list) assert.equal(l.picked, l.qty, `${w.wave_id} ${l.sku} picked once`);
    }
    const ids = list.map((o) => o.order_id);
    for (let k = 0; k < ids.length; k += 25) {
      const got = await Promise.all(ids.slice(k, k + 25).map((id) =>
        call(env.srv.base, 'GET', `/v1/orders/${id}`, SELLER_TOKEN)));
      for (const [j, r] of got.entries()) {
        assert.equal(r.status, 200);
        assert.equal(r.body.status, 'packed', `${ids[k + j]} is packed`);
      }
    }
    // The list follows: every wave shows done without a reload.
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="wave"]')]
      .every((c) => c.dataset.status === 'done'), null, { timeout: 15000 });
    assert.equal(await page.evaluate(() => window.sameDocument), true);
    clean(page, assert);
  } finally {
    await context.close();
  }
});
