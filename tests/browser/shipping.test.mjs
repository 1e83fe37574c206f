// From packed parcels to the carrier's truck on the tablet (contract §6), against the real
// APIs: the shipping screen lists the shipment, Book books it (each parcel's booking state
// shown), the labels PDF is fetched, every label is scanned at hand-over (one wrong code and
// one duplicate among them; one box never marked packed warns), the one parcel not scanned
// is listed missing, and the hand-over
// is confirmed only after leaving it behind with a reason. Screenshots at both sizes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, eventually, SITE, OPERATOR_TOKEN } from './lib/server.mjs';
import { order, orders, ingest, endSession } from './lib/ingest.mjs';
import { checkLayout } from './lib/checks.mjs';
import {
  serviceAndBrowser, openPage, clean, signIn, apiWave, newWaves, shot, LANDSCAPE, PORTRAIT,
} from './lib/tablet.mjs';

const env = serviceAndBrowser();

function vnDate(offsetDays = 0) {
  return new Date(Date.now() + 7 * 3600000 + offsetDays * 86400000).toISOString().slice(0, 10);
}

async function apiShipment(id) {
  const r = await call(env.srv.base, 'GET', `/v1/shipments/${id}`, OPERATOR_TOKEN);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

/** The shipment holding most of our parcels (all of them: one carrier, one pickup). */
async function ourShipment(parcelIds) {
  const all = [];
  for (const d of [vnDate(0), vnDate(1)]) {
    const r = await call(env.srv.base, 'GET', `/v1/sites/${SITE}/shipments?date=${d}`, OPERATOR_TOKEN);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    all.push(...r.body.shipments);
  }
  const mine = all.map((s) => ({ s, n: s.parcel_ids.filter((id) => parcelIds.has(id)).length }))
    .sort((a, b) => b.n - a.n);
  assert.ok(mine.length && mine[0].n > 2, `a shipment with our parcels: ${JSON.stringify(all)}`);
  return mine[0].s;
}

async function bothSizes(page, name, prepare = async () => {}) {
  for (const [size, label] of [[LANDSCAPE, '1280x800'], [PORTRAIT, '800x1280']]) {
    await page.setViewportSize(size);
    await prepare();
    await checkLayout(page, assert, `${name} at ${label}`);
    await page.screenshot({ path: shot(`tablet-${name}-${label}`) });
  }
  await page.setViewportSize(LANDSCAPE);
}

async function handoverScan(page, code, expect) {
  const input = page.getByTestId('handover-scan');
  await input.fill(code);
  await input.press('Enter');
  await page.waitForFunction(([c, r]) => {
    const box = document.querySelector('[data-testid="handover-result"]');
    return !box.hidden && box.dataset.result === r && box.dataset.code === c;
  }, [code, expect], { timeout: 15000 });
}

test('book, print labels, scan at hand-over, leave one behind, confirm', { timeout: 240000 }, async () => {
  await ingest(env.srv.base, 'browser-ship', orders('SHP', 16));
  await endSession(env.srv.base, 'browser-ship');
  const waves = await newWaves(env.srv.base, new Set(), 16);
  const parcelIds = new Set();
  for (const w of waves) {
    for (const p of (await apiWave(env.srv.base, w.wave_id)).parcels) parcelIds.add(p.parcel_id);
  }
  const sh = await ourShipment(parcelIds);
  const id = sh.shipment_id;
  // Every parcel packed but the second to load: its box goes onto the truck never marked
  // packed, and its scan warns.
  const unpacked = (await apiShipment(id)).parcels
    .filter((p) => parcelIds.has(p.parcel_id) && !['cancelled', 'replaced'].includes(p.status))[1].parcel_id;
  for (const pid of parcelIds) {
    if (pid === unpacked) continue;
    const r = await call(env.srv.base, 'POST', `/v1/parcels/${pid}/packed`, OPERATOR_TOKEN,
      { confirm_unpicked: true });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }

  const { context, page } = await openPage(env.browser);
  try {
    await signIn(page, env.srv.base);
    await page.getByTestId('to-ship').click();
    const view = page.getByTestId('ship-view');
    await view.waitFor({ state: 'visible' });
    const card = view.locator(`[data-testid="shipment"][data-shipment-id="${id}"]`);
    await card.waitFor();
    assert.equal(await card.getAttribute('data-status'), 'open');

    // Book: every parcel ends booked with a tracking code, shown per parcel.
    await card.getByTestId('book').click();
    await eventually('every parcel booked', async () => {
      const s = await apiShipment(id);
      return s.parcels.every((p) => p.booking.state === 'booked' && p.tracking) ? s : null;
    }, { timeout: 60000 });
    await page.waitForFunction((sid) => /\d+\/\d+/.test(document.querySelector(
      `[data-testid="shipment"][data-shipment-id="${sid}"] .bk-booked`)?.textContent || '')
      && document.querySelector(`[data-testid="shipment"][data-shipment-id="${sid}"]`).dataset.status === 'booked',
    id, { timeout: 30000 });
    await bothSizes(page, 'shipping', async () => page.evaluate(() => window.scrollTo(0, 0)));

    // Print its labels: the PDF is fetched (a new tab, the browser's print).
    const pdf = context.waitForEvent('response', (r) => r.url().endsWith(`/v1/shipments/${id}/labels.pdf`));
    await card.getByTestId('print-labels').click();
    const resp = await pdf;
    assert.equal(resp.status(), 200);
    assert.match(resp.headers()['content-type'], /^application\/pdf/);
    for (const p of context.pages()) if (p !== page) await p.close();

    // Hand-over.
    await card.getByTestId('handover-open').click();
    const input = page.getByTestId('handover-scan');
    await input.waitFor({ state: 'visible' });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="ship-parcel"][data-booking="booked"]').length > 0);
    const booked = await apiShipment(id);
    const ship = booked.parcels.filter((p) => !['cancelled', 'replaced'].includes(p.status));
    assert.ok(ship.length >= 4, 'at least four parcels to load');
    assert.equal(await page.locator('[data-testid="ship-parcel"][data-booking="booked"]').count(), ship.length);
    const [first, ...rest] = ship;
    const behind = rest.pop();
    // Another box left unscanned, chosen to stay, then loaded by a colleague meanwhile.
    const extra = rest.pop();
    assert.ok(rest.some((p) => p.parcel_id === unpacked), 'the unpacked parcel is scanned');
    const confirm = page.getByTestId('handover-confirm');
    assert.equal(await confirm.isDisabled(), true, 'nothing loaded yet');

    const before = Number(await page.evaluate(() => document.body.dataset.beeps || 0));
    await handoverScan(page, 'KHONG-PHAI-NHAN-123', 'unknown');
    assert.match(await page.getByTestId('handover-result').textContent(), /MÃ LẠ/);
    assert.equal(Number(await page.evaluate(() => document.body.dataset.beeps)), before + 1, 'a wrong code beeps');
    await handoverScan(page, first.tracking, 'loaded');
    await handoverScan(page, first.tracking, 'already_loaded');
    assert.match(await page.getByTestId('handover-result').textContent(), /đã quét rồi/);
    // The rest by tracking code, one by its parcel id (the label's QR code).
    for (const [k, p] of rest.entries()) {
      const code = k === 0 ? p.parcel_id : p.tracking;
      if (p.parcel_id !== unpacked) {
        await handoverScan(page, code, 'loaded');
        continue;
      }
      await handoverScan(page, code, 'loaded_unpacked');
      assert.match(await page.getByTestId('handover-result').textContent(), /CHƯA XÁC NHẬN ĐÓNG GÓI/);
    }
    const missing = page.locator(`[data-testid="handover-missing"][data-parcel-id="${behind.parcel_id}"]`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="handover-missing"]').length === 2);
    await missing.waitFor();
    assert.equal(await confirm.isDisabled(), true, 'a parcel is missing');
    const s1 = await apiShipment(id);
    assert.deepEqual(new Set(s1.missing), new Set([behind.parcel_id, extra.parcel_id]));
    assert.equal(s1.loaded_count, ship.length - 2);
    await bothSizes(page, 'handover', async () => page.evaluate(() => window.scrollTo(0, 0)));

    // Leave it behind with a reason (a preset and a note), then confirm.
    await missing.getByTestId('leave-behind').click();
    const dialog = page.getByTestId('leave-dialog');
    await dialog.waitFor({ state: 'visible' });
    await page.getByTestId('leave-ok').click();
    assert.equal(await page.locator('#leave-error').isVisible(), true, 'a reason is required');
    await dialog.locator('[data-testid="leave-reason"][data-reason="damaged"]').click();
    await page.getByTestId('leave-text').fill('móp góc hộp');
    await checkLayout(page, assert, 'leave-behind dialog');
    await page.screenshot({ path: shot('tablet-leave-behind-1280x800') });
    await page.getByTestId('leave-ok').click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await missing.getAttribute('data-left-behind'), '1');

    // The other box is chosen to stay too; then, while this tablet's view is stale, a
    // colleague finds it and scans it onto the truck. The hand-over is refused naming it
    // (it is on the truck: it goes with it), the choice is dropped, and the re-read view no
    // longer lists it missing.
    const extraRow = page.locator(`[data-testid="handover-missing"][data-parcel-id="${extra.parcel_id}"]`);
    await extraRow.getByTestId('leave-behind').click();
    await dialog.waitFor({ state: 'visible' });
    await dialog.locator('[data-testid="leave-reason"][data-reason="damaged"]').click();
    await page.getByTestId('leave-ok').click();
    await dialog.waitFor({ state: 'hidden' });
    await page.waitForFunction(() => !document.querySelector('[data-testid="handover-confirm"]').disabled);
    const held = (url) => url.pathname === `/v1/shipments/${id}`;
    await page.route(held, (route) => (route.request().method() === 'GET' ? route.abort() : route.continue()));
    const colleague = await call(env.srv.base, 'POST', `/v1/shipments/${id}/scans`, OPERATOR_TOKEN,
      { code: extra.tracking });
    assert.equal(colleague.body.result, 'loaded', JSON.stringify(colleague.body));
    await confirm.click();
    await page.getByTestId('confirm-ok').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="handover-result"]').dataset.result === 'refused_loaded');
    assert.match(await page.getByTestId('handover-result').textContent(), new RegExp(`quét lên xe.*${extra.parcel_id}`));
    assert.notEqual((await apiShipment(id)).status, 'handed_over', 'not handed over');
    await page.unroute(held);
    await handoverScan(page, first.tracking, 'already_loaded');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="handover-missing"]').length === 1);
    assert.equal(await missing.getAttribute('data-left-behind'), '1', 'the other choice stands');
    await page.waitForFunction(() => !document.querySelector('[data-testid="handover-confirm"]').disabled);

    // Meanwhile a late order joins this pickup while the tablet's view is stale (its reads of
    // the shipment are held back): the server refuses with 409 and the screen lists the parcel.
    const stale = (url) => url.pathname === `/v1/shipments/${id}`;
    await page.route(stale, (route) => (route.request().method() === 'GET' ? route.abort() : route.continue()));
    await ingest(env.srv.base, 'browser-ship-late', [order('SHP-LATE', 77)]);
    await endSession(env.srv.base, 'browser-ship-late');
    const late = await eventually('the late parcel missing', async () => {
      const s = await apiShipment(id);
      return s.missing.find((x) => x !== behind.parcel_id);
    });
    await confirm.click();
    // The hand-over cannot be undone: it is asked once more.
    await page.getByTestId('confirm-ok').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="handover-result"]').dataset.result === 'refused_missing');
    assert.match(await page.getByTestId('handover-result').textContent(), new RegExp(`MÁY CHỦ TỪ CHỐI.*${late}`));
    const lateRow = page.locator(`[data-testid="handover-missing"][data-parcel-id="${late}"]`);
    await lateRow.waitFor();
    assert.equal(await confirm.isDisabled(), true, 'the late parcel is missing');
    assert.notEqual((await apiShipment(id)).status, 'handed_over', 'not handed over');
    await page.unroute(stale);
    await lateRow.getByTestId('leave-behind').click();
    await dialog.locator('[data-testid="leave-reason"][data-reason="not_packed"]').click();
    await page.getByTestId('leave-ok').click();
    await dialog.waitFor({ state: 'hidden' });
    await page.waitForFunction(() => !document.querySelector('[data-testid="handover-confirm"]').disabled);
    await confirm.click();
    // Cancelling the question sends nothing.
    await page.getByTestId('confirm-cancel').click();
    assert.notEqual((await apiShipment(id)).status, 'handed_over', 'not asked: not handed over');
    await confirm.click();
    await page.getByTestId('confirm-ok').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="handover-result"]').dataset.result === 'handed_over');
    const done = await eventually('handed over', async () => {
      const s = await apiShipment(id);
      return s.status === 'handed_over' ? s : null;
    });
    assert.equal(done.status, 'handed_over');
    assert.equal(await input.isDisabled(), true, 'no more scans once it left');
    // Left behind: they go on with the carrier's next pickup, their reasons kept.
    assert.ok(!done.parcel_ids.includes(behind.parcel_id) && !done.parcel_ids.includes(late), 'moved on');
    const next = [];
    for (const d of [vnDate(0), vnDate(1), vnDate(2)]) {
      const r = await call(env.srv.base, 'GET', `/v1/sites/${SITE}/shipments?date=${d}`, OPERATOR_TOKEN);
      for (const sh of r.body.shipments) {
        if (sh.shipment_id !== id && sh.parcel_ids.includes(behind.parcel_id)) next.push(sh.shipment_id);
      }
    }
    assert.equal(next.length, 1, 'one next shipment');
    const moved = await apiShipment(next[0]);
    assert.equal(moved.status, 'open');
    const why = new Map(moved.parcels.map((p) => [p.parcel_id, p.left_behind]));
    assert.equal(why.get(behind.parcel_id), 'Kiện bị hỏng, cần đóng lại — móp góc hộp');
    assert.equal(why.get(late), 'Chưa đóng gói xong');
    assert.ok(moved.missing.includes(behind.parcel_id), 'to be loaded on the next truck');
    // The next truck's hand-over says why each was left behind last time.
    await page.evaluate((sid) => { location.hash = `#/ship/${sid}`; }, next[0]);
    const again = page.locator(`[data-testid="handover-missing"][data-parcel-id="${behind.parcel_id}"]`);
    await again.waitFor();
    assert.equal(await again.getAttribute('data-left-before'), '1');
    assert.match(await again.textContent(), /chuyến trước để lại: Kiện bị hỏng, cần đóng lại — móp góc hộp/);
    assert.equal(await again.getAttribute('data-left-behind'), '0', 'not excused on this truck');
    clean(page, assert);
  } finally {
    await context.close();
  }
});
