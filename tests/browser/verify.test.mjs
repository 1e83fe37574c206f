// Scan-to-verify while packing: with a parcel open, scanned SKUs tick its units; a SKU that
// is not in the parcel (or one unit too many) raises the loud red warning with a beep and
// ticks nothing; the last unit marks the parcel packed through the offline queue as a tap
// does. Screenshots of the verify panel and of the warning at both tablet sizes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orders, ingest, endSession } from './lib/ingest.mjs';
import { checkLayout } from './lib/checks.mjs';
import {
  serviceAndBrowser, openPage, clean, signIn, apiWave, newWaves, queueDrained, openWave, shot,
  packParcel, answer, answered, LANDSCAPE, PORTRAIT,
} from './lib/tablet.mjs';

const env = serviceAndBrowser();

async function scan(page, code) {
  const input = page.getByTestId('scan-input');
  await input.fill(code);
  await input.press('Enter');
}

const vline = (page, sku) => page.locator(`[data-testid="verify-line"][data-sku="${sku}"]`);
const beeps = (page) => page.evaluate(() => Number(document.body.dataset.beeps || 0));

test('scan-to-verify a parcel, with a wrong SKU and one unit too many', { timeout: 180000 }, async () => {
  const { context, page } = await openPage(env.browser);
  try {
    await signIn(page, env.srv.base);
    // Buyer 0 orders twice (orders VER-0 and VER-1): one parcel, two SKUs.
    await ingest(env.srv.base, 'browser-verify', orders('VER', 12));
    await endSession(env.srv.base, 'browser-verify');
    const waves = await newWaves(env.srv.base, new Set(), 12);
    let wave = null;
    let target = null;
    for (const w of waves) {
      const view = await apiWave(env.srv.base, w.wave_id);
      const p = view.parcels.find((x) => x.order_ids.includes('VER-0'));
      if (p) { wave = view; target = p; }
    }
    assert.ok(target, 'the parcel of buyer 0');
    const units = new Map();
    for (const i of target.items) units.set(i.sku, (units.get(i.sku) || 0) + i.qty);
    assert.ok(units.size >= 2, `two SKUs in ${JSON.stringify(target.items)}`);
    // `two` has the most units: its last one completes the parcel.
    const [[one, oneQty], [two, twoQty]] = [...units.entries()].sort((x, y) => x[1] - y[1]);
    assert.ok(twoQty >= 2, `a line of 2+ units: ${JSON.stringify(target.items)}`);
    const stranger = wave.pick_list.map((l) => l.sku).find((s) => !units.has(s)) || 'RICE-ST25-5KG';
    const pickedBefore = (await apiWave(env.srv.base, wave.wave_id)).pick_list;

    await page.locator(`[data-testid="wave"][data-wave-id="${wave.wave_id}"]`).waitFor();
    await openWave(page, wave.wave_id);
    const card = page.locator(`[data-testid="parcel"][data-parcel-id="${target.parcel_id}"]`);
    await card.getByTestId('verify-open').click();
    const panel = page.getByTestId('verify');
    await panel.waitFor({ state: 'visible' });
    assert.equal(await panel.getAttribute('data-parcel-id'), target.parcel_id);
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'scan-input');
    assert.equal(await vline(page, one).getAttribute('data-qty'), String(oneQty));

    // Every unit of the first SKU ticks once (lower case as some scanners type it).
    for (let k = 1; k <= oneQty; k++) {
      await scan(page, k === 1 ? one.toLowerCase() : one);
      assert.equal(await vline(page, one).getAttribute('data-scanned'), String(k));
    }
    const warning = page.getByTestId('scan-warning');
    assert.equal(await warning.isHidden(), true);
    assert.equal(await beeps(page), 0);

    // A SKU of this wave that is not in this parcel: loud, in Vietnamese, nothing ticked or picked.
    await scan(page, stranger);
    await warning.waitFor({ state: 'visible' });
    assert.match(await warning.textContent(), new RegExp(`SAI HÀNG! Mã “${stranger}” không có trong kiện ${target.parcel_id}`));
    assert.match(await warning.textContent(), /Đừng cho vào hộp/);
    assert.equal(await beeps(page), 1, 'one beep');
    assert.equal(await card.getAttribute('data-status'), 'open');
    await page.evaluate(() => window.scrollTo(0, 0));
    for (const [size, label] of [[LANDSCAPE, '1280x800'], [PORTRAIT, '800x1280']]) {
      await page.setViewportSize(size);
      await checkLayout(page, assert, `wrong SKU warning at ${label}`);
      await page.screenshot({ path: shot(`tablet-verify-wrong-${label}`) });
    }
    await page.setViewportSize(LANDSCAPE);
    // It stays until the next good scan.
    await scan(page, two);
    await warning.waitFor({ state: 'hidden' });
    assert.equal(await vline(page, two).getAttribute('data-scanned'), '1');

    // One unit too many of a complete line: loud too, and dismissed by its button.
    await scan(page, one);
    await warning.waitFor({ state: 'visible' });
    assert.match(await warning.textContent(), /THỪA HÀNG!/);
    assert.equal(await beeps(page), 2);
    assert.equal(await vline(page, one).getAttribute('data-scanned'), String(oneQty));
    await page.getByTestId('scan-warning-dismiss').click();
    await warning.waitFor({ state: 'hidden' });

    for (const [size, label] of [[LANDSCAPE, '1280x800'], [PORTRAIT, '800x1280']]) {
      await page.setViewportSize(size);
      await page.evaluate(() => window.scrollTo(0, 0));
      await checkLayout(page, assert, `verify panel at ${label}`);
      await page.screenshot({ path: shot(`tablet-verify-${label}`) });
    }
    await page.setViewportSize(LANDSCAPE);

    // The last unit packs the parcel, offline as well: it waits in the queue like a tap.
    await context.setOffline(true);
    for (let k = 2; k <= twoQty; k++) await scan(page, two);
    // Nothing of it was picked (verify scans are not picks): the tablet asks before packing.
    await answer(page, { title: /chưa lấy đủ hàng/ });
    await answered(page);
    await page.waitForFunction((id) => document.querySelector(
      `[data-testid="parcel"][data-parcel-id="${id}"]`).dataset.status === 'packed', target.parcel_id);
    assert.equal(await panel.isHidden(), true, 'the verify panel closes');
    await page.getByTestId('offline-banner').waitFor({ state: 'visible', timeout: 15000 });
    await context.setOffline(false);
    await queueDrained(page, 30000);
    const after = await apiWave(env.srv.base, wave.wave_id);
    assert.equal(after.parcels.find((p) => p.parcel_id === target.parcel_id).status, 'packed');
    assert.deepEqual(after.pick_list.map((l) => l.picked), pickedBefore.map((l) => l.picked),
      'verify scans never count as picks');

    // The tap still works on another parcel, and a verify panel can be closed unfinished.
    const other = after.parcels.find((p) => p.status === 'open');
    assert.ok(other, 'another open parcel');
    const otherCard = page.locator(`[data-testid="parcel"][data-parcel-id="${other.parcel_id}"]`);
    await otherCard.getByTestId('verify-open').click();
    await panel.waitFor({ state: 'visible' });
    await page.getByTestId('verify-close').click();
    await panel.waitFor({ state: 'hidden' });
    await packParcel(page, other.parcel_id);
    await queueDrained(page, 30000);
    assert.equal((await apiWave(env.srv.base, wave.wave_id)).parcels
      .find((p) => p.parcel_id === other.parcel_id).status, 'packed');

    // English on the toggle.
    await page.getByTestId('lang').click();
    const third = (await apiWave(env.srv.base, wave.wave_id)).parcels.find((p) => p.status === 'open');
    if (third) {
      await page.locator(`[data-testid="parcel"][data-parcel-id="${third.parcel_id}"]`).getByTestId('verify-open').click();
      await scan(page, 'NOT-A-SKU');
      await warning.waitFor({ state: 'visible' });
      assert.match(await warning.textContent(), /WRONG ITEM!/);
      await page.getByTestId('scan-warning-dismiss').click();
    }
    await page.getByTestId('lang').click();
    clean(page, assert);
  } finally {
    await context.close();
  }
});
