// Flaky Wi-Fi and mistakes: the offline queue (nothing lost, nothing counted twice even when
// an answer is lost), undo of a tap not yet sent, scanning, over-picks, the language toggle.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, sleep, eventually, OPERATOR_TOKEN } from './lib/server.mjs';
import { orders, ingest, endSession } from './lib/ingest.mjs';
import { checkLayout } from './lib/checks.mjs';
import {
  serviceAndBrowser, openPage, clean, signIn, apiWave, newWaves, queueDrained, queueLength, openWave, shot,
  takeAll, packParcel, answer, answered, PORTRAIT,
} from './lib/tablet.mjs';

const HOLD_MS = 3000;
const env = serviceAndBrowser();

const picked = async (waveId, sku) =>
  (await apiWave(env.srv.base, waveId)).pick_list.find((l) => l.sku === sku).picked;
const parcelStatus = async (waveId, id) =>
  (await apiWave(env.srv.base, waveId)).parcels.find((p) => p.parcel_id === id).status;
const line = (page, sku) => page.locator(`[data-testid="pick-line"][data-sku="${sku}"]`);
const parcel = (page, id) => page.locator(`[data-testid="parcel"][data-parcel-id="${id}"]`);

async function scan(page, code) {
  const input = page.getByTestId('scan-input');
  await input.fill(code);
  await input.press('Enter');
}

async function message(page, pattern) {
  await page.waitForFunction((src) => {
    const m = document.getElementById('msg');
    return !m.hidden && new RegExp(src).test(m.textContent);
  }, pattern.source, { timeout: 15000 });
}

test('offline queue, undo, scanning and over-picks on one wave', { timeout: 180000 }, async (t) => {
  const { context, page } = await openPage(env.browser, PORTRAIT);
  await signIn(page, env.srv.base);
  await ingest(env.srv.base, 'browser-offline', orders('OFF', 40));
  await endSession(env.srv.base, 'browser-offline');
  const [wave] = await newWaves(env.srv.base, new Set(), 40);
  await page.locator(`[data-testid="wave"][data-wave-id="${wave.wave_id}"]`).waitFor();
  await openWave(page, wave.wave_id);
  const view = await apiWave(env.srv.base, wave.wave_id);
  const [a, b] = view.pick_list.filter((l) => l.qty >= 3);
  assert.ok(a && b, `two lines of 3+ units: ${JSON.stringify(view.pick_list)}`);
  const [p1, p2, p3] = view.parcels.map((p) => p.parcel_id);
  const banner = page.getByTestId('offline-banner');

  await t.test('offline: taps wait, the banner counts them, each counts once after reconnect', async () => {
    assert.equal(await banner.isHidden(), true);
    await context.setOffline(true);
    await scan(page, a.sku); // one unit
    await banner.waitFor({ state: 'visible' });
    assert.equal(await banner.textContent(), 'Mất kết nối — 1 thao tác đang chờ gửi');
    await packParcel(page, p1);
    await page.waitForFunction(() => document.querySelector('[data-testid="offline-banner"]')
      .textContent.includes('2 thao tác'));
    assert.equal(await line(page, a.sku).getAttribute('data-picked'), '1');
    assert.equal(await parcel(page, p1).getAttribute('data-status'), 'packed');
    await checkLayout(page, assert, 'offline banner at 800x1280');
    await page.screenshot({ path: shot('tablet-offline-800x1280') });
    await sleep(HOLD_MS + 1500);
    assert.equal(await banner.isVisible(), true, 'still waiting');
    assert.equal(await picked(wave.wave_id, a.sku), 0, 'nothing reached the server');
    assert.equal(await parcelStatus(wave.wave_id, p1), 'open');
    // The first pick reaches the server but its answer is lost: the page must resend it,
    // and the server must count it once.
    const lost = [];
    const answers = [];
    await page.route('**/v1/waves/*/picks', async (route) => {
      lost.push((await (await route.fetch()).json()).result);
      await route.abort('connectionreset');
    }, { times: 1 });
    page.on('response', async (r) => {
      if (r.url().endsWith('/picks') && r.status() === 200) answers.push((await r.json()).result);
    });
    await context.setOffline(false);
    await queueDrained(page, 30000);
    // The response handler reads the body asynchronously: wait for it, not for the queue.
    await eventually('the resend answered', () => answers.length > 0, { timeout: 15000 });
    assert.deepEqual(lost, ['counted'], 'the first send was counted, its answer lost');
    assert.deepEqual(answers, ['duplicate'], 'the resend was recognised');
    assert.equal(await banner.isHidden(), true, 'the banner goes once everything is sent');
    assert.equal(await picked(wave.wave_id, a.sku), 1, 'the pick counted exactly once');
    assert.equal(await parcelStatus(wave.wave_id, p1), 'packed');
  });

  await t.test('undo removes a tap that was not sent yet, and says so when it was', async () => {
    const before = Number(await line(page, b.sku).getAttribute('data-picked'));
    await takeAll(page, b.sku);
    assert.equal(await line(page, b.sku).getAttribute('data-picked'), String(b.qty));
    await page.getByTestId('undo').click();
    await message(page, /Đã hoàn tác: lấy/);
    assert.equal(await line(page, b.sku).getAttribute('data-picked'), String(before));
    assert.equal(await queueLength(page), 0);
    await sleep(HOLD_MS + 1000);
    assert.equal(await picked(wave.wave_id, b.sku), before, 'the undone pick never reached the server');
    // A parcel tap, undone too.
    await packParcel(page, p2);
    await page.getByTestId('undo').click();
    assert.equal(await parcel(page, p2).getAttribute('data-status'), 'open');
    // Once sent, undo asks and takes the pick back on the server (unpick).
    await takeAll(page, b.sku);
    await queueDrained(page, 20000);
    assert.equal(await picked(wave.wave_id, b.sku), b.qty);
    await page.getByTestId('undo').click();
    await answer(page, { title: new RegExp(`Hoàn tác: lấy ${b.qty - before} × ${b.sku}`) });
    await answered(page);
    await message(page, /Đã hoàn tác: lấy/);
    assert.equal(await picked(wave.wave_id, b.sku), before, 'the sent pick was taken back');
    await page.waitForFunction(([sku, n]) => document.querySelector(
      `[data-testid="pick-line"][data-sku="${sku}"]`).dataset.picked === String(n), [b.sku, before]);
    // Nothing older to undo: said so.
    await page.getByTestId('undo').click();
    await message(page, /Không có gì để hoàn tác/);
    await takeAll(page, b.sku);
    await queueDrained(page, 20000);
    assert.equal(await picked(wave.wave_id, b.sku), b.qty);
  });

  await t.test('scanning a parcel id packs it; scanning a full SKU is refused as an over-pick', async () => {
    await page.getByTestId('scan-input').focus();
    const p3ready = (await parcel(page, p3).getAttribute('data-ready')) === 'true';
    await scan(page, p3.toLowerCase());
    if (!p3ready) { await answer(page); await answered(page); }
    assert.equal(await parcel(page, p3).getAttribute('data-status'), 'packed');
    await scan(page, b.sku);
    await message(page, /Lấy quá số lượng/);
    await scan(page, 'NOT-IN-THIS-WAVE');
    await message(page, /không có trong đợt này/);
    // Keys typed while a button has focus still land in the scan box (a scanner is a keyboard).
    await line(page, a.sku).getByTestId('pick-confirm').focus();
    await page.keyboard.type(a.sku);
    await page.keyboard.press('Enter');
    await page.waitForFunction((sku) => document.querySelector(
      `[data-testid="pick-line"][data-sku="${sku}"]`).dataset.picked === '2', a.sku);
    await queueDrained(page, 20000);
    assert.equal(await parcelStatus(wave.wave_id, p3), 'packed');
    assert.equal(await picked(wave.wave_id, a.sku), 2);
  });

  await t.test("the server's over-pick refusal is shown with its message", async () => {
    // Offline, the tablet queues "the rest" of line a; meanwhile another tablet picks it all.
    await context.setOffline(true);
    await takeAll(page, a.sku);
    const other = await call(env.srv.base, 'POST', `/v1/waves/${wave.wave_id}/picks`, OPERATOR_TOKEN,
      { pick_id: 'other-tablet-1', sku: a.sku, qty: a.qty - 2 });
    assert.equal(other.status, 200, JSON.stringify(other.body));
    await context.setOffline(false);
    // Said with what was refused, and what to do with the units in hand.
    await message(page, new RegExp(`Máy chủ không nhận lấy ${a.qty - 2} × ${a.sku}: Lấy quá số lượng cần của đợt.*Trả ${a.qty - 2} × ${a.sku} đã lấy về kệ`));
    assert.doesNotMatch(await page.locator('#msg').textContent(), /too many|over/i, 'no English in the Vietnamese UI');
    await queueDrained(page, 20000);
    await page.waitForFunction(([sku, qty]) => document.querySelector(
      `[data-testid="pick-line"][data-sku="${sku}"]`).dataset.picked === String(qty), [a.sku, a.qty]);
    assert.equal(await picked(wave.wave_id, a.sku), a.qty, 'never more than the wave needs');
  });

  clean(page, assert);
  await context.close();
});

test('Vietnamese by default, English on the lang toggle, remembered after a reload', async () => {
  const { context, page } = await openPage(env.browser);
  try {
    await page.goto(`${env.srv.base}/tablet/`);
    assert.equal(await page.getAttribute('html', 'lang'), 'vi');
    assert.equal(await page.getByTestId('sign-in').textContent(), 'Đăng nhập');
    await page.getByTestId('lang').click();
    assert.equal(await page.getByTestId('sign-in').textContent(), 'Sign in');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    await page.reload();
    assert.equal(await page.getByTestId('sign-in').textContent(), 'Sign in');
    await signIn(page, env.srv.base);
    await page.locator('[data-testid="wave"]').first().waitFor();
    assert.match(await page.locator('#view-waves h2').textContent(), /Packing waves/);
    await checkLayout(page, assert, 'English wave list');
    await page.getByTestId('lang').click();
    assert.match(await page.locator('#view-waves h2').textContent(), /Các đợt đóng gói/);
    clean(page, assert);
  } finally {
    await context.close();
  }
});
