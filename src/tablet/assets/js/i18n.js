// Strings in Vietnamese (default) and English; formatting in Vietnam's time zone.

const STR = {
  vi: {
    appTitle: 'Đóng gói', signInTitle: 'Đăng nhập bàn đóng gói', site: 'Mã điểm đóng gói',
    pin: 'Mã PIN', signIn: 'Đăng nhập', signOut: 'Đăng xuất', langSwitch: 'English',
    wrongPin: 'Sai mã điểm hoặc mã PIN.', locked: 'Nhập sai quá nhiều lần: tạm khóa 15 phút.',
    needBoth: 'Nhập mã điểm và mã PIN.', network: 'Không kết nối được máy chủ. Hãy thử lại.',
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
    nothingToUndo: 'Không có gì để hoàn tác: các thao tác đã được gửi lên máy chủ. ' +
      'Nếu lấy nhầm, hãy trả hàng về kệ và báo quản lý.',
    inFlight: 'Thao tác cuối đang được gửi, không hoàn tác được nữa.',
    whatPick: 'lấy {n} × {sku}', whatPack: 'đóng kiện {id}',
    overPick: 'Lấy quá số lượng: {sku} chỉ cần {qty}, đã lấy {picked}; thêm {n} là quá nhiều.',
    overPickServer: 'Lấy quá số lượng, máy chủ từ chối: {msg}',
    refused: 'Máy chủ từ chối: {msg}',
    unknownCode: 'Mã “{code}” không có trong đợt này.',
    alreadyPacked: 'Kiện {id} đã đóng rồi.', cancelledParcel: 'Kiện {id} đã hủy: không đóng.',
    scannedPick: '+1 {sku} ({picked}/{qty})', scannedPack: 'Đã đóng kiện {id}',
    sessionExpired: 'Phiên đăng nhập đã hết. Hãy đăng nhập lại — thao tác đang chờ vẫn được giữ.',
    live: '● Trực tiếp', notLive: '○ Đang kết nối lại…', waveGone: 'Không tìm thấy đợt này.',
    toParcels: 'Đến kiện hàng ↓', dayOther: 'Ngày {d}',
  },
  en: {
    appTitle: 'Packing', signInTitle: 'Sign in to the packing station', site: 'Site code',
    pin: 'PIN', signIn: 'Sign in', signOut: 'Sign out', langSwitch: 'Tiếng Việt',
    wrongPin: 'Wrong site or PIN.', locked: 'Too many wrong PINs: locked for 15 minutes.',
    needBoth: 'Enter the site and the PIN.', network: 'Cannot reach the server. Try again.',
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
    nothingToUndo: 'Nothing to undo: your actions have already reached the server. ' +
      'If you picked by mistake, put the items back and tell the supervisor.',
    inFlight: 'The last action is being sent and can no longer be undone.',
    whatPick: 'pick {n} × {sku}', whatPack: 'pack parcel {id}',
    overPick: 'Over-pick refused: {sku} needs {qty}, {picked} already picked; {n} more is too many.',
    overPickServer: 'Over-pick refused by the server: {msg}',
    refused: 'Refused by the server: {msg}',
    unknownCode: '“{code}” is not in this wave.',
    alreadyPacked: 'Parcel {id} is already packed.', cancelledParcel: 'Parcel {id} is cancelled: do not pack.',
    scannedPick: '+1 {sku} ({picked}/{qty})', scannedPack: 'Packed parcel {id}',
    sessionExpired: 'Signed out. Sign in again — waiting actions are kept.',
    live: '● Live', notLive: '○ Reconnecting…', waveGone: 'Wave not found.',
    toParcels: 'To the parcels ↓', dayOther: '{d}',
  },
};

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
  const s = STR[lang][key] ?? STR.vi[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
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
