// Strings in Vietnamese (default) and English; formatting in Vietnam's time zone.

import { WORDS, CARRIERS, SERVICES } from './words.js';

const STR = {
  vi: {
    appTitle: 'Đóng gói', signInTitle: 'Đăng nhập bàn đóng gói', site: 'Mã điểm đóng gói',
    pin: 'Mã PIN', signIn: 'Đăng nhập', signOut: 'Đăng xuất', langSwitch: 'English',
    wrongPin: 'Sai mã điểm hoặc mã PIN.', locked: 'Nhập sai quá nhiều lần: chờ một lát rồi thử lại.',
    lockedSecs: 'Nhập sai quá nhiều lần: thử lại sau {n} giây.', lockedMins: 'Nhập sai quá nhiều lần: thử lại sau {n} phút.',
    needBoth: 'Nhập mã điểm và mã PIN.', network: 'Không kết nối được máy chủ. Hãy thử lại.',
    offlineCopy: 'Không có mạng: đợt hiện như lúc đọc trước; các thao tác vẫn được lưu để gửi sau.',
    wavesTitle: 'Các đợt đóng gói', today: 'Hôm nay', tomorrow: 'Ngày mai',
    noWaves: 'Chưa có đợt nào. Đợt mới sẽ tự hiện ra ở đây.',
    waveN: 'Đợt {n}', pickupAt: 'Xe lấy hàng {time}', orders: '{n} đơn',
    status_picking: 'Đang lấy hàng', status_packing: 'Đang đóng gói', status_done: 'Xong',
    pickedProg: 'Đã lấy {a}/{b} sản phẩm', packedProg: 'Đã đóng {a}/{b} kiện',
    back: '← Quay lại', scanLabel: 'Mã quét', scanPh: 'Quét mã SKU hoặc mã kiện rồi Enter',
    undo: '↶ Hoàn tác', pickList: 'Danh sách lấy hàng', parcels: 'Kiện hàng',
    parcelsN: 'Kiện hàng — đã đóng {a}/{b}', bin: 'Kệ', pickAll: 'Lấy đủ {n}',
    pickedAll: '✓ Đã lấy đủ', putBack: 'Trả lại kệ {n} (đơn đã hủy)',
    cod: 'Thu hộ (COD)', carrier: 'Vận chuyển', noCarrier: 'chưa chọn',
    markPacked: 'Xác nhận đã đóng gói', isPacked: '✓ Đã đóng gói',
    pState_open: 'Chờ đóng', pState_packed: 'Đã đóng', pState_cancelled: 'Đã hủy — không đóng',
    pull: 'Rút kiện này ra: có đơn vừa bị hủy', waiting: 'đang chờ gửi',
    offline: 'Mất kết nối — {n} thao tác đang chờ gửi',
    undone: 'Đã hoàn tác: {what}',
    nothingToUndo: 'Không có gì để hoàn tác. Lấy nhầm: bấm “↶ Trả 1 về kệ” trên dòng hàng; ' +
      'đóng nhầm: bấm “Mở lại kiện” trên kiện.',
    inFlight: 'Thao tác cuối đang được gửi, không hoàn tác được nữa.',
    whatPick: 'lấy {n} × {sku}', whatPack: 'đóng kiện {id}',
    overPick: 'Lấy quá số lượng: {sku} chỉ cần {qty}, đã lấy {picked}; thêm {n} là quá nhiều.',
    overPickServer: 'Lấy quá số lượng, máy chủ từ chối: {msg}',
    refused: 'Máy chủ từ chối: {msg}',
    refusedPick: 'Máy chủ không nhận lấy {n} × {sku}: {msg} Trả {n} × {sku} đã lấy về kệ.',
    refusedPack: 'Máy chủ không nhận đóng kiện {id}: {msg}',
    unknownCode: 'Mã “{code}” không có trong đợt này.',
    alreadyPacked: 'Kiện {id} đã đóng rồi.', cancelledParcel: 'Kiện {id} đã hủy: không đóng.',
    scannedPick: '+1 {sku} ({picked}/{qty})', scannedPack: 'Đã đóng kiện {id}',
    sessionExpired: 'Phiên đăng nhập đã hết. Hãy đăng nhập lại — thao tác đang chờ vẫn được giữ.',
    live: '● Trực tiếp', notLive: '○ Đang kết nối lại…', waveGone: 'Không tìm thấy đợt này.',
    toParcels: 'Đến kiện hàng ↓', dayOther: 'Ngày {d}',
    toShip: 'Giao cho xe →', printWaveLabels: 'In nhãn cả đợt', printLabels: 'In nhãn',
    pState_booked: 'Đã đặt xe', pState_handed_over: 'Đã giao xe', pState_delivered: 'Đã giao',
    pState_returned: 'Hoàn về', pState_replaced: 'Đã thay — không gửi',
    replacedBy: 'Đã thay bằng kiện {id}: lấy ra, đóng lại', replacedParcel: 'Kiện {id} đã được thay bằng {to}: lấy ra, đóng lại.',
    repack: 'Lấy ra {from}, đóng lại thành {to}', repackNoNew: 'Lấy ra {from}: không gửi kiện này',
    repackItems: 'Kiện mới gồm: {items}', printNewLabel: 'In nhãn mới {id}',
    verifyOpen: 'Quét kiểm hàng', verifying: '● Đang kiểm', verifyClose: 'Đóng kiểm hàng',
    verifyTitle: 'Kiểm hàng kiện {id} ({name}): quét từng sản phẩm', verifyCount: 'Đã quét {a}/{b}',
    verifiedTick: '✓ {sku}: {n}/{qty}', verifiedPacked: '✓ Đủ hàng — kiện {id} đã đóng gói',
    wrongSku: 'SAI HÀNG! Mã “{code}” không có trong kiện {id}',
    tooMany: 'THỪA HÀNG! Kiện {id} chỉ cần {qty} × {sku}, đã quét đủ',
    wrongSkuHint: 'Đừng cho vào hộp. Để sản phẩm này ra ngoài rồi quét tiếp.',
    warnDismiss: 'Đã hiểu',
    shipGone: 'Không tìm thấy chuyến xe này.', shipTitle: 'Giao hàng cho nhà vận chuyển', shipOneTitle: 'Chuyến xe và giao hàng',
    noShipments: 'Chưa có chuyến xe nào hôm nay và ngày mai.',
    shStatus_open: 'Chưa đặt xe', shStatus_booked: 'Đã đặt xe', shStatus_handed_over: 'Đã giao xe',
    shFacts: '{p} kiện · {o} đơn · {kg} kg', book: 'Đặt xe', allBooked: '✓ Đã đặt đủ',
    bookedN: 'Đã đặt {a}/{b}', pendingN: '{n} đang đặt', retryingN: '{n} đang thử lại',
    rejectedN: '{n} bị từ chối', loadedN: 'Đã lên xe {a}/{b}', handoverOpen: 'Giao cho tài xế →',
    bk_none: 'Chưa đặt', bk_pending: 'Đang đặt với nhà vận chuyển…', bk_booked: '✓ Đã đặt · mã {code}',
    bk_retrying: 'Lỗi tạm thời — thử lại lần {n}, lần tới {time}', bk_rejected: '✗ Bị từ chối: {reason}',
    notPackedYet: 'chưa đóng gói', onTruck: 'đã lên xe', notShipped: 'Không gửi',
    shipParcels: 'Các kiện ({n})', bookSent: 'Đã gửi yêu cầu đặt xe: {what}.',
    bookRes_booked: 'đã đặt', bookRes_failed: 'lỗi (sẽ thử lại)', bookRes_rejected: 'bị từ chối',
    bookRes_skipped: 'bỏ qua', bookRes_pending: 'đang đặt', bookRes_retrying: 'đang thử lại',
    handoverTitle: 'Giao cho tài xế: quét từng nhãn', handoverLabel: 'Mã trên nhãn',
    handoverPh: 'Quét nhãn kiện rồi Enter',
    ho_loaded: '✓ ĐÃ LÊN XE: {id}', ho_loaded_hint: 'Quét kiện tiếp theo.',
    ho_loaded_unpacked: '⚠ ĐÃ LÊN XE: {id} — CHƯA XÁC NHẬN ĐÓNG GÓI',
    ho_loaded_unpacked_hint: 'Chưa quầy nào bấm đóng gói kiện này: kiểm tra hộp đủ hàng.',
    ho_loaded_unbooked: '⚠ ĐÃ LÊN XE: {id} — CHƯA ĐẶT XE',
    ho_loaded_unbooked_hint: 'Hãng vận chuyển chưa có đơn cho kiện này: bấm “Đặt xe” trước khi xe đi.',
    ho_handed_over_unbooked: '✓ ĐÃ GIAO XE — {n} kiện chưa đặt xe', ho_handed_over_unbooked_hint: '{list}: hãng chưa có đơn cho các kiện này, hãy báo hãng.',
    ho_already_loaded: 'Kiện {id} đã quét rồi', ho_already_loaded_hint: 'Không cần quét lại: kiện này đã tính.',
    ho_pull: 'RÚT RA! Kiện {id} không được gửi', ho_pull_hint: 'Có đơn đã bị hủy: để kiện này ra ngoài, không đưa lên xe.',
    ho_not_in_shipment: 'SAI CHUYẾN! {id} không thuộc chuyến này', ho_not_in_shipment_hint: 'Đừng đưa lên xe này. Để riêng ra.',
    ho_unknown: 'MÃ LẠ: “{code}”', ho_unknown_hint: 'Không phải nhãn của kiện nào. Kiểm tra lại nhãn.',
    ho_error: 'CHƯA GHI ĐƯỢC “{code}”', ho_error_hint: '{msg} — hãy quét lại kiện này.',
    ho_handed_over: '✓ ĐÃ GIAO XE', ho_handed_over_hint: 'Chuyến {id} đã giao cho tài xế.',
    ho_refused_missing: 'MÁY CHỦ TỪ CHỐI: còn thiếu kiện', ho_refused_missing_hint: '{list}',
    ho_refused_loaded: 'CHƯA GIAO ĐƯỢC: kiện chọn để lại đã được quét lên xe', ho_refused_loaded_hint: '{list} đang ở trên xe nên sẽ đi cùng chuyến: bấm xác nhận giao lại.',
    ho_refused_repack: 'CHƯA GIAO ĐƯỢC: có đơn vừa huỷ', ho_refused_repack_hint: 'Rút {list} ra, đóng lại kiện thay thế rồi quét lên xe.',
    ho_refused_pull: 'CHƯA GIAO ĐƯỢC: còn kiện phải rút trên xe', ho_refused_pull_hint: 'Lấy {list} xuống khỏi xe rồi bấm “Đã lấy xuống”.',
    ho_pulled_off: 'Đã lấy {id} xuống khỏi xe', ho_pulled_off_hint: 'Kiện này không đi chuyến này.',
    hoPulledOff: 'Đã lấy xuống', hoOnTruck: 'đang trên xe: lấy xuống',
    hoPullFirst: 'Còn {n} kiện phải rút đang trên xe: lấy xuống rồi bấm “Đã lấy xuống”.',
    hoAskTitle: 'Giao chuyến {id} cho tài xế?', hoAskText: '{n} kiện đi với xe này. Không hoàn tác được.',
    hoMissing: 'Còn thiếu ({n})', hoLoaded: 'Đã lên xe {a}/{b}', hoPull: 'Phải rút ra ({n})',
    hoConfirm: 'Xác nhận đã giao xe', hoDone: '✓ Đã giao xe',
    hoNeed: 'Còn {n} kiện chưa lên xe: quét tiếp, hoặc bấm “Để lại” và ghi lý do.',
    hoReady: 'Đủ hàng: {n} kiện để lại có lý do. Có thể xác nhận.',
    hoReadyAll: 'Đủ hàng: mọi kiện đã lên xe. Có thể xác nhận.', hoDoneHint: 'Chuyến này đã đi.',
    notLoaded: 'chưa lên xe', notLoadedLeftBefore: 'chưa lên xe · chuyến trước để lại: {reason}', leftBecause: 'Để lại: {reason}', leaveBehind: 'Để lại', leaveUndo: 'Bỏ để lại',
    leaveTitle: 'Để lại kiện {id}: chọn lý do', leaveText: 'Ghi chú thêm', leaveOk: 'Để lại kiện này',
    cancel: 'Hủy', leaveNeedReason: 'Chọn một lý do.', leaveNeedText: 'Ghi lý do vào ô ghi chú.',
    reason_not_packed: 'Chưa đóng gói xong', reason_damaged: 'Kiện bị hỏng, cần đóng lại',
    reason_not_found: 'Không tìm thấy kiện', reason_truck_full: 'Xe hết chỗ', reason_other: 'Lý do khác…',
  },
  en: {
    appTitle: 'Packing', signInTitle: 'Sign in to the packing station', site: 'Site code',
    pin: 'PIN', signIn: 'Sign in', signOut: 'Sign out', langSwitch: 'Tiếng Việt',
    wrongPin: 'Wrong site or PIN.', locked: 'Too many wrong PINs: wait a moment, then try again.',
    lockedSecs: 'Too many wrong PINs: try again in {n} s.', lockedMins: 'Too many wrong PINs: try again in {n} min.',
    needBoth: 'Enter the site and the PIN.', network: 'Cannot reach the server. Try again.',
    offlineCopy: 'No network: this wave as last read; taps are kept and sent later.',
    wavesTitle: 'Packing waves', today: 'Today', tomorrow: 'Tomorrow',
    noWaves: 'No waves yet. New waves appear here by themselves.',
    waveN: 'Wave {n}', pickupAt: 'Pickup {time}', orders: '{n} orders',
    status_picking: 'Picking', status_packing: 'Packing', status_done: 'Done',
    pickedProg: 'Picked {a}/{b} items', packedProg: 'Packed {a}/{b} parcels',
    back: '← Back', scanLabel: 'Scanned code', scanPh: 'Scan a SKU or parcel code, then Enter',
    undo: '↶ Undo', pickList: 'Pick list', parcels: 'Parcels',
    parcelsN: 'Parcels — {a}/{b} packed', bin: 'Bin', pickAll: 'Pick {n}',
    pickedAll: '✓ All picked', putBack: 'Put back {n} (cancelled orders)',
    cod: 'Collect (COD)', carrier: 'Carrier', noCarrier: 'not chosen yet',
    markPacked: 'Mark packed', isPacked: '✓ Packed',
    pState_open: 'To pack', pState_packed: 'Packed', pState_cancelled: 'Cancelled — do not pack',
    pull: 'Pull this parcel: an order was cancelled', waiting: 'waiting to send',
    offline: 'Offline, {n} actions waiting',
    undone: 'Undone: {what}',
    nothingToUndo: 'Nothing to undo. Picked too many: tap “↶ Put 1 back” on the line; ' +
      'packed by mistake: tap “Reopen parcel” on the parcel.',
    inFlight: 'The last action is being sent and can no longer be undone.',
    whatPick: 'pick {n} × {sku}', whatPack: 'pack parcel {id}',
    overPick: 'Over-pick refused: {sku} needs {qty}, {picked} already picked; {n} more is too many.',
    overPickServer: 'Over-pick refused by the server: {msg}',
    refused: 'Refused by the server: {msg}',
    refusedPick: 'The server did not take the pick of {n} × {sku}: {msg} Put those {n} × {sku} back on the shelf.',
    refusedPack: 'The server did not take parcel {id} as packed: {msg}',
    unknownCode: '“{code}” is not in this wave.',
    alreadyPacked: 'Parcel {id} is already packed.', cancelledParcel: 'Parcel {id} is cancelled: do not pack.',
    scannedPick: '+1 {sku} ({picked}/{qty})', scannedPack: 'Packed parcel {id}',
    sessionExpired: 'Signed out. Sign in again — waiting actions are kept.',
    live: '● Live', notLive: '○ Reconnecting…', waveGone: 'Wave not found.',
    toParcels: 'To the parcels ↓', dayOther: '{d}',
    toShip: 'To the truck →', printWaveLabels: 'Wave labels', printLabels: 'Print labels',
    pState_booked: 'Booked', pState_handed_over: 'Handed over', pState_delivered: 'Delivered',
    pState_returned: 'Returned', pState_replaced: 'Replaced — do not ship',
    replacedBy: 'Replaced by parcel {id}: pull it, repack', replacedParcel: 'Parcel {id} was replaced by {to}: pull it and repack.',
    repack: 'Pull {from}, repack as {to}', repackNoNew: 'Pull {from}: do not ship it',
    repackItems: 'The new parcel holds: {items}', printNewLabel: 'New label {id}',
    verifyOpen: 'Scan to verify', verifying: '● Verifying', verifyClose: 'Stop verifying',
    verifyTitle: 'Verify parcel {id} ({name}): scan every item', verifyCount: 'Scanned {a}/{b}',
    verifiedTick: '✓ {sku}: {n}/{qty}', verifiedPacked: '✓ All there — parcel {id} packed',
    wrongSku: 'WRONG ITEM! “{code}” is not in parcel {id}',
    tooMany: 'TOO MANY! Parcel {id} needs only {qty} × {sku}, all scanned',
    wrongSkuHint: 'Keep it out of the box. Put it aside and scan on.',
    warnDismiss: 'Got it',
    shipGone: 'Shipment not found.', shipTitle: 'Shipping to the carrier', shipOneTitle: 'Shipment and hand-over',
    noShipments: 'No shipments today or tomorrow yet.',
    shStatus_open: 'Not booked', shStatus_booked: 'Booked', shStatus_handed_over: 'Handed over',
    shFacts: '{p} parcels · {o} orders · {kg} kg', book: 'Book', allBooked: '✓ All booked',
    bookedN: 'Booked {a}/{b}', pendingN: '{n} booking', retryingN: '{n} retrying',
    rejectedN: '{n} rejected', loadedN: 'Loaded {a}/{b}', handoverOpen: 'Hand over →',
    bk_none: 'Not booked', bk_pending: 'Booking with the carrier…', bk_booked: '✓ Booked · {code}',
    bk_retrying: 'Carrier error — attempt {n}, next try {time}', bk_rejected: '✗ Rejected: {reason}',
    notPackedYet: 'not packed yet', onTruck: 'on the truck', notShipped: 'Not shipped',
    shipParcels: 'Parcels ({n})', bookSent: 'Booking sent: {what}.',
    bookRes_booked: 'booked', bookRes_failed: 'failed (will retry)', bookRes_rejected: 'rejected',
    bookRes_skipped: 'skipped', bookRes_pending: 'booking', bookRes_retrying: 'retrying',
    handoverTitle: 'Hand-over: scan every label', handoverLabel: 'Label code',
    handoverPh: 'Scan a parcel label, then Enter',
    ho_loaded: '✓ LOADED: {id}', ho_loaded_hint: 'Scan the next parcel.',
    ho_loaded_unpacked: '⚠ LOADED: {id} — NEVER MARKED PACKED',
    ho_loaded_unpacked_hint: 'No station marked this parcel packed: check that its box holds all its items.',
    ho_loaded_unbooked: '⚠ LOADED: {id} — NOT BOOKED',
    ho_loaded_unbooked_hint: 'The carrier has no order for this parcel: tap “Book” before the truck leaves.',
    ho_handed_over_unbooked: '✓ HANDED OVER — {n} not booked', ho_handed_over_unbooked_hint: '{list}: the carrier has no order for these; tell the carrier.',
    ho_already_loaded: '{id} already scanned', ho_already_loaded_hint: 'No need to scan it again: it counts.',
    ho_pull: 'PULL IT! {id} must not ship', ho_pull_hint: 'An order was cancelled: keep this parcel off the truck.',
    ho_not_in_shipment: 'WRONG TRUCK! {id} is not in this shipment', ho_not_in_shipment_hint: 'Keep it off this truck. Put it aside.',
    ho_unknown: 'UNKNOWN CODE: “{code}”', ho_unknown_hint: 'Not a label of any parcel. Check the label.',
    ho_error: 'NOT RECORDED: “{code}”', ho_error_hint: '{msg} — scan this parcel again.',
    ho_handed_over: '✓ HANDED OVER', ho_handed_over_hint: 'Shipment {id} left with the driver.',
    ho_refused_missing: 'REFUSED BY THE SERVER: parcels missing', ho_refused_missing_hint: '{list}',
    ho_refused_loaded: 'NOT HANDED OVER: a parcel chosen to stay was scanned onto the truck', ho_refused_loaded_hint: '{list} is on the truck, so it goes with it: confirm the hand-over again.',
    ho_refused_repack: 'NOT HANDED OVER: an order was just cancelled', ho_refused_repack_hint: 'Pull {list}, repack its replacement and scan that onto the truck.',
    ho_refused_pull: 'NOT HANDED OVER: a parcel to pull is on the truck', ho_refused_pull_hint: 'Take {list} off the truck, then tap “Taken off”.',
    ho_pulled_off: '{id} taken off the truck', ho_pulled_off_hint: 'This parcel does not go with this shipment.',
    hoPulledOff: 'Taken off', hoOnTruck: 'on the truck: take it off',
    hoPullFirst: '{n} parcels to pull are on the truck: take them off, then tap “Taken off”.',
    hoAskTitle: 'Hand shipment {id} to the driver?', hoAskText: '{n} parcels leave with this truck. This cannot be undone.',
    hoMissing: 'Missing ({n})', hoLoaded: 'Loaded {a}/{b}', hoPull: 'To pull ({n})',
    hoConfirm: 'Confirm hand-over', hoDone: '✓ Handed over',
    hoNeed: '{n} parcels not loaded: scan them, or tap “Leave behind” and give a reason.',
    hoReady: 'Complete: {n} left behind with a reason. Ready to confirm.',
    hoReadyAll: 'Complete: every parcel is on the truck. Ready to confirm.', hoDoneHint: 'This shipment has left.',
    notLoaded: 'not loaded', notLoadedLeftBefore: 'not loaded · left behind at the last truck: {reason}', leftBecause: 'Left behind: {reason}', leaveBehind: 'Leave behind', leaveUndo: 'Undo',
    leaveTitle: 'Leave {id} behind: choose a reason', leaveText: 'Note', leaveOk: 'Leave it behind',
    cancel: 'Cancel', leaveNeedReason: 'Choose a reason.', leaveNeedText: 'Write the reason in the note.',
    reason_not_packed: 'Not packed yet', reason_damaged: 'Damaged, must be repacked',
    reason_not_found: 'Parcel not found', reason_truck_full: 'Truck is full', reason_other: 'Other reason…',
  },
};

Object.assign(STR.vi, WORDS.vi);
Object.assign(STR.en, WORDS.en);

const KEY = 'lp.lang';
let lang = readLang();

function readLang() {
  try { return localStorage.getItem(KEY) === 'en' ? 'en' : 'vi'; } catch { return 'vi'; }
}

export function getLang() { return lang; }

export function setLang(l) {
  lang = l === 'en' ? 'en' : 'vi';
  try { localStorage.setItem(KEY, lang); } catch { /* private mode: not persisted */ }
  document.documentElement.lang = lang;
}

export function t(key, vars = {}) {
  return tIn(lang, key, vars);
}

/** A string in a given language (stored reasons are in Vietnamese whatever the screen shows). */
export function tIn(l, key, vars = {}) {
  const s = (STR[l] || STR.vi)[key] ?? STR.vi[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

/**
 * A server refusal in the page's language: the API's error code mapped to our own words.
 * The server's English `message` is shown only on the English screen, and only for a code we
 * do not know; the Vietnamese screen names the code instead.
 */
export function errText(e) {
  if (!e) return '';
  if (e.status === 0) return t('network');
  const code = e.code || '';
  const key = `err_${code}`;
  if (code && (key in STR[lang] || key in STR.vi)) return t(key);
  if (lang === 'en' && e.message) return e.message;
  return t('err_generic', { code: code || `HTTP ${e.status}` });
}

/** "viettel-post" → "Viettel Post" (the server's `carrier_name` wins when sent). */
export function carrierName(p) {
  if (p.carrier_name) return p.carrier_name;
  if (!p.carrier) return '';
  return CARRIERS[p.carrier] || CARRIERS[p.carrier.toLowerCase()] || p.carrier;
}

/** "VCN" → "Chuyển phát nhanh" (the server's `service_name` wins when sent). */
export function serviceName(p) {
  if (p.service_name) return p.service_name;
  if (!p.service) return '';
  return (SERVICES[lang] || SERVICES.vi)[p.service] || p.service;
}

/** Fills every [data-i18n] (text) and [data-i18n-ph] (placeholder) under root. */
export function applyStatic(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-ph]')) el.placeholder = t(el.dataset.i18nPh);
  const b = document.getElementById('lang');
  if (b) {
    b.textContent = t('langSwitch');
    b.lang = lang === 'vi' ? 'en' : 'vi';
  }
  document.documentElement.lang = lang;
  document.title = `livepack — ${t('appTitle')}`;
}

const TZ = 'Asia/Ho_Chi_Minh';

/** "370000" → "370.000 ₫" (VND has no fractional part). */
export function fmtMoney(s) {
  const digits = String(s ?? '0').replace(/[^0-9-]/g, '');
  const neg = digits.startsWith('-');
  const body = digits.replace('-', '').replace(/\B(?=(\d{3})+(?!\d))/g, '.');
  return `${neg ? '-' : ''}${body || '0'} ₫`;
}

export function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '--:--';
  return new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', hour12: false }).format(d);
}

/** HH:MM:SS in Vietnam (a retry's next try). */
export function fmtClock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '--:--:--';
  return new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }).format(d);
}

/** YYYY-MM-DD of an instant in Vietnam. */
export function vnDate(d = new Date()) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
}

/** "Hôm nay" / "Ngày mai" / "Ngày 21/11" for a YYYY-MM-DD business day. */
export function dayLabel(date) {
  const now = new Date();
  if (date === vnDate(now)) return t('today');
  if (date === vnDate(new Date(now.getTime() + 86400000))) return t('tomorrow');
  const [, m, d] = String(date).split('-');
  return t('dayOther', { d: `${d}/${m}` });
}
