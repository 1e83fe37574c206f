// The floor as the packer lives it (issue 17), in Debian's headless Chromium against the real
// server: bins and SKUs never broken mid-word (rendered line boxes), "Chưa xếp kệ", parcel
// cards that match a box, the next parcel, overdue badges, pack-before-pick asks, take-all
// asks, the undo countdown, put-back and pull confirmed, unpick and unpack (the supervisor
// PIN once booked), barcode scans, the connection badge and banner, queued counts per wave.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, eventually, SITE, PIN, OPERATOR_TOKEN, SELLER_TOKEN } from './lib/server.mjs';
import { ingest, endSession } from './lib/ingest.mjs';
import { checkLayout } from './lib/checks.mjs';
import {
  serviceAndBrowser, openPage, clean, apiWave, newWaves, queueDrained, openWave, shot, answer, answered,
  takeAll, LANDSCAPE, PORTRAIT,
} from './lib/tablet.mjs';

const LONG_BIN = 'KHO-LANH-TANG2-KE14';
const LONG_SKU = 'SOAP-NGHE-TU-NHIEN-HUU-CO-250G';
const EAN_TEA = '8935001234567';
const SUPERVISOR_PIN = '975310';
const SITE_TOML = `
[[sites]]
id = "${SITE}"
name = "HTX Hoa Lư packing hub"
pickups = ["11:00", "17:00"]
station_pin = "${PIN}"
supervisor_pin = "${SUPERVISOR_PIN}"
carriers = ["viettel-post"]
phone = "02293888999"
province = "Ninh Bình"
ward = "Phường Hoa Lư"
street = "Thôn Văn Lâm"

[sites.bins]
"HONEY-500" = "${LONG_BIN}"
"TEA-SHAN-100" = "B-01"

[sites.barcodes]
"${EAN_TEA}" = "TEA-SHAN-100"
`;

const ITEMS = {
  honey: { sku: 'HONEY-500', name: 'Mật ong rừng ngập mặn 500ml', price: 185000, weight_g: 650 },
  tea: { sku: 'TEA-SHAN-100', name: 'Trà Shan tuyết cổ thụ 100g', price: 120000, weight_g: 150 },
  soap: { sku: LONG_SKU, name: 'Xà phòng nghệ hữu cơ thủ công', price: 45000, weight_g: 250 },
};
const NAMES = ['Nguyễn Thị Lan', 'Trần Văn Hùng', 'Lê Thị Mai', 'Phạm Minh Tuấn', 'Hoàng Thu Trang', 'Vũ Đức Anh',
  'Đặng Thị Hoa'];

function vnTimeAgo(minutes) {
  return new Date(Date.now() + 7 * 3600000 - minutes * 60000).toISOString().replace('Z', '+07:00');
}

function order(i, item, qty, { prepaid = false, minutesAgo = 5 } = {}) {
  const p = ITEMS[item];
  return {
    order_id: `FL-${i}`, platform: 'tiktok', placed_at: vnTimeAgo(minutesAgo),
    buyer: { name: NAMES[i], phone: `09${String(20000000 + i).padStart(8, '0')}` },
    ship_to: { province: 'Ninh Bình', ward: 'Phường Hoa Lư', street: `${i + 1} Trần Hưng Đạo` },
    items: [{ sku: p.sku, name: p.name, qty, unit_price: String(p.price), weight_g: p.weight_g }],
    cod_amount: prepaid ? '0' : String(qty * p.price + 30000), shipping_fee: '30000',
  };
}

const env = serviceAndBrowser({ toml: SITE_TOML });

/** Words (letters/digits) of the pick list whose rendered boxes sit on more than one line. */
function brokenWords(selector) {
  const bad = [];
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      for (const m of n.textContent.matchAll(/[\p{L}\p{N}]+/gu)) {
        const r = document.createRange();
        r.setStart(n, m.index);
        r.setEnd(n, m.index + m[0].length);
        const tops = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
        if (tops.size > 1) bad.push(`${m[0]} in "${n.textContent}"`);
      }
    }
  }
  // Codes (bins, SKUs) whole on one line and not clipped.
  for (const e of document.querySelectorAll(`${selector} .fit`)) {
    const r = document.createRange();
    r.selectNodeContents(e);
    const tops = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
    if (tops.size > 1) bad.push(`code on ${tops.size} lines: ${e.textContent}`);
    if (e.scrollWidth > e.clientWidth + 1) bad.push(`code clipped: ${e.textContent}`);
  }
  return bad;
}

const card = (page, id) => page.locator(`[data-testid="parcel"][data-parcel-id="${id}"]`);
const line = (page, sku) => page.locator(`[data-testid="pick-line"][data-sku="${sku}"]`);
const parcelOf = (w, orderId) => w.parcels.find((p) => p.order_ids.includes(orderId));

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

/** Waits for a condition in the page; on timeout says what the page showed. */
async function until(page, what, fn, arg, timeout = 60000) {
  try {
    await page.waitForFunction(fn, arg, { timeout });
  } catch (e) {
    const seen = await page.evaluate(() => ({
      conn: document.getElementById('conn').dataset.state, online: navigator.onLine,
      banner: document.querySelector('[data-testid="offline-banner"]').textContent,
      queue: localStorage.getItem('lp.queue.v1'), msg: document.getElementById('msg').textContent,
      dialog: document.getElementById('ask').open,
    }));
    throw new Error(`${what}: ${e.message}\npage: ${JSON.stringify(seen)}`);
  }
}

async function reopenWave(page, id) {
  await page.getByTestId('back').click();
  await page.locator('#view-waves').waitFor();
  await openWave(page, id);
}

test('the floor: instructions as actions, next parcel, badges, unpick and unpack', { timeout: 300000 }, async (t) => {
  const list = [
    order(0, 'honey', 2), order(1, 'tea', 1, { prepaid: true }), order(2, 'soap', 1, { minutesAgo: 30 * 60 }),
    order(3, 'honey', 1), order(4, 'tea', 2), order(5, 'honey', 5),
    // A fresh order of the bin-less SKU too: the overdue one may leave in a wave of its own.
    order(6, 'soap', 1),
  ];
  await ingest(env.srv.base, 'browser-floor', list);
  await endSession(env.srv.base, 'browser-floor');
  await newWaves(env.srv.base, new Set(), list.length);
  const record = async (id) => (await call(env.srv.base, 'GET', `/v1/orders/${id}`, SELLER_TOKEN)).body;
  // The overdue order may leave in a wave of its own (released at once, at risk).
  const waveId = (await record('FL-0')).wave_id;
  const oldWaveId = (await record('FL-2')).wave_id;
  for (const id of ['FL-1', 'FL-3', 'FL-4', 'FL-5', 'FL-6']) assert.equal((await record(id)).wave_id, waveId, id);
  let w = await apiWave(env.srv.base, waveId);
  const oldParcel = parcelOf(await apiWave(env.srv.base, oldWaveId), 'FL-2').parcel_id;

  const { context, page } = await openPage(env.browser, PORTRAIT);
  await page.goto(`${env.srv.base}/tablet/`);
  await page.getByTestId('site').fill(SITE);
  await page.getByTestId('pin').fill(PIN);
  await page.getByTestId('station').fill('Bàn 1');
  await page.getByTestId('sign-in').click();
  const waveCard = page.locator(`[data-testid="wave"][data-wave-id="${waveId}"]`);
  await waveCard.waitFor();

  await t.test('a wave nobody started says so, and badges its overdue order', async () => {
    assert.equal(await waveCard.getAttribute('data-started'), 'false');
    assert.match(await waveCard.textContent(), /Chưa bắt đầu/);
    assert.doesNotMatch(await waveCard.textContent(), /Đang lấy hàng/);
    const oldCard = page.locator(`[data-testid="wave"][data-wave-id="${oldWaveId}"]`);
    await oldCard.getByTestId('wave-risk').waitFor();
    assert.match(await oldCard.getByTestId('wave-risk').textContent(), /1 kiện quá hạn/);
    await page.getByTestId('conn').waitFor();
    await until(page, 'badge live', () => document.getElementById('conn').dataset.state === 'live');
    await checkLayout(page, assert, 'wave list (not started) at 800x1280');
    await page.screenshot({ path: shot('tablet-floor-waves-not-started-800x1280') });
  });

  await openWave(page, waveId);

  await t.test('bins on their own line, "Chưa xếp kệ", no word broken mid-word at 800x1280', async () => {
    const honey = line(page, 'HONEY-500');
    assert.equal((await honey.getByTestId('pick-bin').textContent()).trim(), `Kệ ${LONG_BIN}`);
    assert.equal((await line(page, LONG_SKU).getByTestId('pick-bin').textContent()).trim(), 'Chưa xếp kệ');
    assert.doesNotMatch(await page.locator('#pick-list').textContent(), /UNASSIGNED/);
    for (const [size, label] of [[PORTRAIT, '800x1280'], [LANDSCAPE, '1280x800']]) {
      await page.setViewportSize(size);
      // The page shrinks codes to fit after each render and resize (a frame later): wait for it.
      await page.waitForFunction(() => [...document.querySelectorAll('.fit')]
        .every((e) => e.clientWidth === 0 || e.scrollWidth <= e.clientWidth + 1), null, { timeout: 15000 });
      assert.deepEqual(await page.evaluate(brokenWords, '#pick-list'), [], `pick list at ${label}`);
      assert.deepEqual(await page.evaluate(brokenWords, '#parcel-list'), [], `parcel cards at ${label}`);
      // The bin is on its own line: above the SKU, not beside it.
      const [b, s] = await Promise.all([honey.getByTestId('pick-bin').boundingBox(), honey.locator('.sku').boundingBox()]);
      assert.ok(b.y + b.height <= s.y + 1, `bin above SKU at ${label}: ${JSON.stringify([b, s])}`);
      await page.evaluate(() => window.scrollTo(0, 0));
      await checkLayout(page, assert, `pick list at ${label}`);
      await page.screenshot({ path: shot(`tablet-floor-picks-${label}`) });
    }
    await page.setViewportSize(PORTRAIT);
  });

  await t.test('parcel cards match their box; prepaid says so; overdue is badged', async () => {
    const prepaid = card(page, parcelOf(w, 'FL-1').parcel_id);
    assert.equal(await prepaid.getByTestId('parcel-cod').getAttribute('data-prepaid'), 'true');
    assert.equal((await prepaid.getByTestId('parcel-cod').textContent()).trim(), 'ĐÃ THANH TOÁN — KHÔNG THU TIỀN');
    assert.match(await prepaid.getByTestId('parcel-orders').textContent(), /Đơn sàn: FL-1/);
    assert.equal((await prepaid.getByTestId('parcel-address').textContent()).trim(), 'Phường Hoa Lư, Ninh Bình');
    assert.equal((await prepaid.getByTestId('parcel-id').textContent()).trim(), parcelOf(w, 'FL-1').parcel_id);
    const carrier = await prepaid.getByTestId('parcel-carrier').textContent();
    assert.doesNotMatch(carrier, /viettel-post/, 'the carrier by name, not its config id');
    const cod = card(page, parcelOf(w, 'FL-0').parcel_id).getByTestId('parcel-cod');
    assert.match(await cod.textContent(), /THU HỘ \(COD\): 400\.000/);
    if (oldWaveId !== waveId) await reopenWave(page, oldWaveId);
    const old = card(page, oldParcel);
    await old.waitFor();
    assert.equal(await old.getAttribute('data-risk'), 'overdue');
    assert.match(await old.getByTestId('risk-badge').textContent(), /QUÁ HẠN/);
    assert.equal(await old.getByTestId('risk-badge').isVisible(), true);
    await old.scrollIntoViewIfNeeded();
    await checkLayout(page, assert, 'parcel cards at 800x1280');
    await page.screenshot({ path: shot('tablet-floor-overdue-800x1280') });
    if (oldWaveId !== waveId) await reopenWave(page, waveId);
    assert.equal(await card(page, parcelOf(w, 'FL-0').parcel_id).getByTestId('risk-badge').isHidden(), true);
    await prepaid.scrollIntoViewIfNeeded();
    await checkLayout(page, assert, 'parcel cards at 800x1280');
    await page.screenshot({ path: shot('tablet-floor-parcels-800x1280') });
  });

  const p0 = parcelOf(w, 'FL-0').parcel_id;
  await t.test('packing a parcel whose items are not picked asks first; no means no', async () => {
    assert.equal(await card(page, p0).getAttribute('data-ready'), 'false');
    await card(page, p0).getByTestId('parcel-packed').click();
    await answer(page, { ok: false, title: /chưa lấy đủ hàng/ });
    await answered(page);
    assert.equal(await card(page, p0).getAttribute('data-status'), 'open');
    await card(page, p0).getByTestId('parcel-packed').click();
    await page.getByTestId('confirm-dialog').waitFor();
    assert.match(await page.getByTestId('confirm-dialog').textContent(), /HONEY-500 \(0\/2\)/);
    // A barcode scanner's next code and Enter land on "cancel", never on "pack anyway".
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'confirm-cancel');
    await page.keyboard.type('HONEY-500');
    await page.keyboard.press('Enter');
    await answered(page);
    assert.equal(await card(page, p0).getAttribute('data-status'), 'open');
    await card(page, p0).getByTestId('parcel-packed').click();
    await page.getByTestId('confirm-dialog').waitFor();
    await checkLayout(page, assert, 'pack-before-pick question');
    await page.screenshot({ path: shot('tablet-floor-pack-before-pick-800x1280') });
    await answer(page, { ok: false });
    await answered(page);
    // Over the API too: refused without the confirm flag.
    const r = await call(env.srv.base, 'POST', `/v1/parcels/${p0}/packed`, OPERATOR_TOKEN);
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'items_not_picked');
    assert.equal((await apiWave(env.srv.base, waveId)).parcels.find((p) => p.parcel_id === p0).status, 'open');
  });

  await t.test('take all asks above 3 units; undo counts down; the next parcel is shown', async () => {
    await line(page, 'HONEY-500').getByTestId('pick-confirm').click();
    await answer(page, { title: /Lấy 8 × HONEY-500\?/ });
    await answered(page);
    const undo = page.getByTestId('undo');
    assert.match(await undo.textContent(), /Hoàn tác \([1-3] s\)/);
    assert.ok(Number(await undo.getAttribute('data-countdown')) > 0);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: shot('tablet-floor-undo-countdown-800x1280') });
    await queueDrained(page, 30000);
    await page.waitForFunction(() => !/\(\d s\)/.test(document.querySelector('[data-testid="undo"]').textContent));
    w = await apiWave(env.srv.base, waveId);
    assert.equal(w.pick_list.find((l) => l.sku === 'HONEY-500').picked, 8);
    assert.ok(w.next_parcel_id, 'the server names a next parcel');
    await page.waitForFunction((id) => document.querySelector(`[data-testid="parcel"][data-next="true"]`)?.dataset.parcelId === id,
      w.next_parcel_id, { timeout: 15000 });
    assert.equal(await page.locator('[data-testid="parcel"][data-next="true"]').count(), 1);
    const next = card(page, w.next_parcel_id);
    assert.equal(await next.getByTestId('next-parcel').isVisible(), true);
    assert.match(await next.getByTestId('next-parcel').textContent(), /ĐÓNG TIẾP KIỆN NÀY/);
    await page.getByTestId('to-next').click();
    await next.scrollIntoViewIfNeeded();
    for (const [size, label] of [[PORTRAIT, '800x1280'], [LANDSCAPE, '1280x800']]) {
      await page.setViewportSize(size);
      await next.scrollIntoViewIfNeeded();
      await checkLayout(page, assert, `next parcel at ${label}`);
      await page.screenshot({ path: shot(`tablet-floor-next-parcel-${label}`) });
    }
    await page.setViewportSize(PORTRAIT);
  });

  const p4 = parcelOf(w, 'FL-4').parcel_id;
  await t.test('a cancelled order leaves a put-back to confirm, a packed one a pull', async () => {
    // FL-4 (2 tea, none picked) packed anyway after the question: the confirm flag is sent.
    await card(page, p4).getByTestId('parcel-packed').click();
    await answer(page, { title: /chưa lấy đủ hàng/ });
    await answered(page);
    await queueDrained(page, 30000);
    assert.equal((await apiWave(env.srv.base, waveId)).parcels.find((p) => p.parcel_id === p4).status, 'packed');
    const audit = await call(env.srv.base, 'GET', `/v1/sites/${SITE}/audit`, OPERATOR_TOKEN);
    assert.ok(audit.body.entries.some((e) => e.action === 'pack_unpicked' && e.parcel_id === p4 && e.station === 'Bàn 1'),
      JSON.stringify(audit.body.entries.slice(0, 5)));
    for (const id of ['FL-3', 'FL-4']) {
      const c = await call(env.srv.base, 'POST', `/v1/orders/${id}/cancel`, SELLER_TOKEN, { reason: 'buyer_cancelled' });
      assert.equal(c.status, 200, JSON.stringify(c.body));
    }
    const putBack = page.locator('[data-testid="put-back"][data-sku="HONEY-500"]');
    const pull = page.locator(`[data-testid="pull"][data-parcel-id="${p4}"]`);
    await putBack.waitFor({ timeout: 30000 });
    await pull.waitFor({ timeout: 30000 });
    // FL-3's open parcel, its one order cancelled: not packed, and no COD shown to collect.
    const p3 = parcelOf(w, 'FL-3').parcel_id;
    assert.equal((await apiWave(env.srv.base, waveId)).parcels.find((p) => p.parcel_id === p3).status, 'cancelled');
    await card(page, p3).getByTestId('parcel-cod').waitFor({ state: 'hidden', timeout: 30000 });
    assert.equal((await putBack.locator('.todo-text').textContent()).trim(), `Trả 1 × HONEY-500 về kệ ${LONG_BIN}`);
    assert.equal((await putBack.getByTestId('put-back-confirm').textContent()).trim(), 'Đã trả về kệ');
    assert.equal((await pull.locator('.todo-text').textContent()).trim(), `Rút kiện ${p4}, trả 2 × TEA-SHAN-100 về kệ B-01`);
    assert.deepEqual(await page.evaluate(brokenWords, '#todo'), [], 'no word broken in the instructions');
    assert.deepEqual(await page.evaluate(() => [...document.querySelectorAll('#todo .code')].filter((e) => {
      const r = document.createRange();
      r.selectNodeContents(e);
      return new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size > 1;
    }).map((e) => e.textContent)), [], 'bins, SKUs and parcel ids whole in the instructions');
    assert.equal(await page.locator('#parcel-title').getAttribute('data-packed'), '0', 'a parcel to pull is not packed');
    await page.evaluate(() => window.scrollTo(0, 0));
    for (const [size, label] of [[PORTRAIT, '800x1280'], [LANDSCAPE, '1280x800']]) {
      await page.setViewportSize(size);
      await checkLayout(page, assert, `instructions at ${label}`);
      await page.screenshot({ path: shot(`tablet-floor-instructions-${label}`) });
    }
    await page.setViewportSize(PORTRAIT);
    // The wave list (drawn from the live feed behind this view) says the wave has cards to
    // follow (a done wave can have some too).
    await page.waitForFunction((id) => /Chưa xong: trả kệ 1 sp, rút 1 kiện/.test(document.querySelector(
      `[data-testid="wave"][data-wave-id="${id}"] [data-testid="wave-todo"]`)?.textContent || ''), waveId, { timeout: 30000 });
    await putBack.getByTestId('put-back-confirm').click();
    await pull.getByTestId('pull-confirm').click();
    await putBack.waitFor({ state: 'detached' });
    await pull.waitFor({ state: 'detached' });
    await queueDrained(page, 30000);
    w = await apiWave(env.srv.base, waveId);
    assert.deepEqual(w.put_backs, [], 'put-back done on the server');
    assert.deepEqual(w.pulls, [], 'pull done on the server');
    assert.equal(w.parcels.find((p) => p.parcel_id === p4).pulled, true);
  });

  await t.test('unpick one unit and unpack a packed parcel from the tablet', async () => {
    const before = (await apiWave(env.srv.base, waveId)).pick_list.find((l) => l.sku === 'HONEY-500').picked;
    await line(page, 'HONEY-500').getByTestId('unpick').click();
    await answer(page, { title: /Trả 1 × HONEY-500 về kệ/ });
    await answered(page);
    await message(page, /Đã bớt 1 × HONEY-500/);
    assert.equal((await apiWave(env.srv.base, waveId)).pick_list.find((l) => l.sku === 'HONEY-500').picked, before - 1);
    // Pack FL-0's parcel (its units are picked), then reopen it.
    await page.waitForFunction((id) => document.querySelector(`[data-testid="parcel"][data-parcel-id="${id}"]`).dataset.ready === 'true', p0);
    await card(page, p0).getByTestId('parcel-packed').click();
    await queueDrained(page, 30000);
    assert.equal((await apiWave(env.srv.base, waveId)).parcels.find((p) => p.parcel_id === p0).status, 'packed');
    await card(page, p0).getByTestId('parcel-unpack').waitFor();
    await card(page, p0).getByTestId('parcel-unpack').click();
    await answer(page, { title: new RegExp(`Mở lại kiện ${p0}`) });
    await answered(page);
    await message(page, /đã mở lại/);
    assert.equal((await apiWave(env.srv.base, waveId)).parcels.find((p) => p.parcel_id === p0).status, 'open');
    await page.waitForFunction((id) => document.querySelector(`[data-testid="parcel"][data-parcel-id="${id}"]`).dataset.status === 'open', p0);
  });

  await t.test('unpack after booking asks for the supervisor PIN', async () => {
    await card(page, p0).getByTestId('parcel-packed').click();
    await queueDrained(page, 30000);
    const day = (d) => new Date(Date.now() + 7 * 3600000 + d * 86400000).toISOString().slice(0, 10);
    const sh = await eventually('the parcel in a shipment', async () => {
      for (const d of [day(0), day(1)]) {
        const r = await call(env.srv.base, 'GET', `/v1/sites/${SITE}/shipments?date=${d}`, OPERATOR_TOKEN);
        const hit = (r.body.shipments || []).find((s) => (s.parcel_ids || []).includes(p0));
        if (hit) return hit;
      }
      return null;
    });
    const booked = await call(env.srv.base, 'POST', `/v1/shipments/${sh.shipment_id}/book`, OPERATOR_TOKEN);
    assert.equal(booked.status, 200, JSON.stringify(booked.body));
    await eventually('booked', async () => (await apiWave(env.srv.base, waveId)).parcels.find((p) => p.parcel_id === p0).tracking);
    // The screen is not reopened: it still shows the parcel packed, not booked, so the
    // question comes without the PIN field; the server asks for the PIN, and the question
    // comes back with it (before, it said so and stayed without the field).
    await card(page, p0).getByTestId('parcel-unpack').click();
    await page.getByTestId('confirm-dialog').waitFor();
    assert.equal(await page.getByTestId('confirm-pin').isHidden(), true, 'the screen still says packed');
    await answer(page, {});
    await page.getByTestId('confirm-pin').waitFor();
    await answer(page, { pin: '000000' });
    await page.getByTestId('confirm-error').waitFor();
    assert.equal((await page.getByTestId('confirm-error').textContent()).trim(), 'Sai mã PIN quản lý.');
    await checkLayout(page, assert, 'supervisor PIN question');
    await page.screenshot({ path: shot('tablet-floor-unpack-pin-800x1280') });
    await answer(page, { pin: SUPERVISOR_PIN });
    await answered(page);
    assert.equal((await apiWave(env.srv.base, waveId)).parcels.find((p) => p.parcel_id === p0).status, 'open');
  });

  await t.test("a product's EAN barcode picks its SKU", async () => {
    const before = Number(await line(page, 'TEA-SHAN-100').getAttribute('data-picked'));
    await scan(page, EAN_TEA);
    await message(page, new RegExp(`Mã vạch ${EAN_TEA} = TEA-SHAN-100`));
    assert.equal(await line(page, 'TEA-SHAN-100').getAttribute('data-picked'), String(before + 1));
    await queueDrained(page, 30000);
  });

  await t.test('offline: the badge says so, the banner once a tap waits; the wave list counts queued taps', async () => {
    const conn = page.getByTestId('conn');
    const banner = page.getByTestId('offline-banner');
    await context.setOffline(true);
    await until(page, 'badge offline', () => document.getElementById('conn').dataset.state === 'offline');
    assert.equal(await banner.isHidden(), true, 'no banner while nothing waits (contract §3)');
    assert.doesNotMatch(await conn.textContent(), /Trực tiếp/);
    await scan(page, LONG_SKU);
    await banner.waitFor({ state: 'visible' });
    await until(page, 'banner counts the tap', () => /1 thao tác đang chờ gửi/.test(document.querySelector('[data-testid="offline-banner"]').textContent));
    await page.getByTestId('back').click();
    await page.locator('#view-waves').waitFor();
    assert.equal(await waveCard.getAttribute('data-queued'), '1');
    assert.match(await waveCard.getByTestId('wave-queued').textContent(), /1 thao tác đang chờ gửi/);
    assert.equal(await waveCard.getAttribute('data-started'), 'true');
    assert.match(await waveCard.textContent(), /Đang làm: Bàn 1/);
    await checkLayout(page, assert, 'offline wave list');
    await page.screenshot({ path: shot('tablet-floor-offline-waves-800x1280') });
    // The wave opens again without network, as it was last read (before, an empty page and
    // "cannot reach the server"); its queued tap still counts.
    const held = (url) => url.pathname === `/v1/waves/${waveId}`;
    await page.route(held, (r) => r.abort());
    await waveCard.click();
    await page.locator('#view-wave').waitFor();
    await until(page, 'the pick list as last read', () => document.querySelectorAll('[data-testid="pick-line"]').length > 0);
    await message(page, /đợt hiện như lúc đọc trước/);
    await page.unroute(held);
    await page.getByTestId('back').click();
    await page.locator('#view-waves').waitFor();
    await context.setOffline(false);
    await queueDrained(page, 30000);
    await banner.waitFor({ state: 'hidden', timeout: 60000 });
    await until(page, 'badge live again', () => document.getElementById('conn').dataset.state === 'live');
    assert.match(await conn.textContent(), /Trực tiếp/);
  });

  clean(page, assert);
  await context.close();
});
