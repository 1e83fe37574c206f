//! The CLI's words in Vietnamese and English: one catalogue, every key in both languages.
//!
//! The language: `--lang vi|en` when given; otherwise the locale, as POSIX reads it (the
//! first non-empty of `LC_ALL`, `LC_MESSAGES`, `LANG`): English when it names another
//! language (e.g. `en_US.UTF-8`), Vietnamese otherwise: `vi_VN.UTF-8`, and also no locale
//! or the language-less `C`/`POSIX` (a fresh server's or container's), since the CLI's users
//! are Vietnamese shops (thirty-eighth session; before, those read English).
//!
//! Texts carry named placeholders `{name}`, filled by [`fill`]; both languages of a key use
//! the same placeholders (checked by a unit test). Clap's `--help` stays English.

use std::sync::OnceLock;

/// A language of the CLI's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Tiếng Việt
    Vi,
    /// English
    En,
}

impl Lang {
    /// `flag` when given, else the locale's language.
    pub fn choose(flag: Option<Lang>) -> Lang {
        flag.unwrap_or_else(|| Lang::from_locale(|k| std::env::var(k).ok()))
    }

    /// The locale's language: the first non-empty of LC_ALL, LC_MESSAGES, LANG; English
    /// only when it names a language other than Vietnamese.
    pub fn from_locale(var: impl Fn(&str) -> Option<String>) -> Lang {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|k| var(k))
            .find(|v| !v.is_empty())
            .unwrap_or_default()
            .to_ascii_lowercase();
        // The language part: before `_`, `.` or `@` (`en_US.UTF-8`, `C.UTF-8`, `vi`).
        let language = locale.split(['_', '.', '@']).next().unwrap_or_default();
        match language {
            "" | "c" | "posix" | "vi" => Lang::Vi,
            _ => Lang::En,
        }
    }
}

static LANG: OnceLock<Lang> = OnceLock::new();

/// Sets the language for this process (the first call wins).
pub fn init(flag: Option<Lang>) -> Lang {
    *LANG.get_or_init(|| Lang::choose(flag))
}

/// The language in use (English until [`init`] ran).
pub fn lang() -> Lang {
    LANG.get().copied().unwrap_or(Lang::En)
}

/// The text of `msg` in the language in use, placeholders filled.
pub fn t(msg: Msg, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    fill(msg.text(lang()), args)
}

/// Replaces each `{name}` of `template` by its value in `args` (one pass: values are never
/// read as templates). An unknown `{name}` stays as written.
pub fn fill(template: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_name(&after[..close]) => {
                let name = &after[..close];
                match args.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(&v.to_string()),
                    None => out.push_str(&rest[open..open + close + 2]),
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// The placeholders of a template, sorted.
#[cfg(test)]
fn placeholders(template: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_name(&after[..close]) => {
                v.push(after[..close].to_owned());
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    v.sort();
    v.dedup();
    v
}

macro_rules! catalogue {
    ($($key:ident => $en:expr, $vi:expr;)*) => {
        /// Every message of the CLI.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Msg { $($key,)* }

        impl Msg {
            pub const ALL: &'static [Msg] = &[$(Msg::$key,)*];

            pub fn text(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((Msg::$key, Lang::En) => $en, (Msg::$key, Lang::Vi) => $vi,)*
                }
            }
        }
    };
}

catalogue! {
    // Usage and input.
    BadSessionLabel => "--session must be 1–64 of A-Z a-z 0-9 . _ -",
        "--session phải gồm 1–64 ký tự A-Z a-z 0-9 . _ -";
    BadLabel => "a session label is 1–64 of A-Z a-z 0-9 . _ -", "tên phiên phải gồm 1–64 ký tự A-Z a-z 0-9 . _ -";
    CannotRead => "cannot read {path}: {error}", "không đọc được {path}: {error}";
    IoNotFound => "no such file (check the name and the folder)", "không có tệp này (kiểm tra tên tệp và thư mục)";
    IoIsDirectory => "this is a folder, not a file", "đây là thư mục, không phải tệp";
    IoDenied => "no permission to read it", "không có quyền đọc tệp này";
    UnknownFormat => "cannot tell the input's format: {why} (pass --format)",
        "không nhận ra định dạng của tệp: {why} (hãy chỉ rõ --format)";
    Unreadable => "the input cannot be read: {why}", "không đọc được dữ liệu: {why}";
    NoRows => "the file has no order rows, only a header: nothing to push (an export of the wrong days, or a cut download?)",
        "tệp không có dòng đơn nào, chỉ có dòng tiêu đề: không có gì để gửi (xuất nhầm ngày, hay tải về bị lỗi?)";
    EmptyInput => "the input is empty: nothing to push (a cut download?)",
        "tệp rỗng: không có đơn nào để gửi (tải về bị lỗi?)";
    NotUtf8 => "the input is not UTF-8 (line {line}, byte {at}): save the export as \"CSV UTF-8\"",
        "tệp không ở dạng UTF-8 (dòng {line}, byte {at}): hãy lưu lại tệp xuất dưới dạng \"CSV UTF-8\"";
    BadXlsx => "the XLSX file cannot be opened (cut, or not an XLSX): {why}",
        "không mở được tệp XLSX: tệp bị cắt, hoặc không phải XLSX (chi tiết kỹ thuật: {why})";
    NotJson => "--format {named}, but this file is not JSON (an export's CSV?): leave out --format, the format is told from the file",
        "--format {named}, nhưng tệp này không phải JSON (tệp xuất CSV?): bỏ --format, livepack tự nhận ra định dạng";
    WrongFormat => "--format {named}, but this file's header is a {found} export's: leave out --format, or name {found}",
        "--format {named}, nhưng dòng tiêu đề của tệp là của tệp xuất {found}: bỏ --format, hoặc chọn {found}";
    MissingColumn => "the header has no {column} column (looked for: {looked_for})",
        "dòng tiêu đề thiếu cột “{column}” (các tên cột được nhận, không kể dấu và chữ hoa: {looked_for})";
    NoExportSheet => "no worksheet of the XLSX file starts with a TikTok Shop or Shopee export header (sheets: {sheets}): keep the platform's header row as the sheet's first row",
        "không trang tính nào của tệp XLSX bắt đầu bằng dòng tiêu đề của tệp xuất TikTok Shop hay Shopee (các trang: {sheets}): hãy giữ dòng tiêu đề của sàn ở dòng đầu của trang";
    IsXlsx => "--format {named}, but this file is an XLSX workbook: leave out --format",
        "--format {named}, nhưng tệp này là bảng tính XLSX: bỏ --format, livepack tự nhận ra định dạng";
    NotAnExport => "neither JSON nor a TikTok Shop or Shopee export header (no column only one of them names): name it with --format tiktok-csv or shopee-csv",
        "không phải JSON, cũng không phải dòng tiêu đề của tệp xuất TikTok Shop hay Shopee (không có cột nào chỉ một trong hai sàn có): hãy chỉ rõ --format tiktok-csv hoặc shopee-csv";
    BadWeight => "{path} line {line}: {why}", "{path} dòng {line}: {why}";
    StandardInput => "standard input", "đầu vào chuẩn (stdin)";
    FollowNeedsText => "--follow reads JSON lines, TikTok Shop JSON or CSV, not {format}",
        "--follow chỉ đọc JSON lines, JSON của TikTok Shop hoặc CSV, không đọc {format}";
    FileShrank => "the file shrank: was it replaced or truncated?",
        "tệp bị ngắn đi: tệp đã bị thay hoặc cắt bớt?";
    OrderChanged => "the order changed after it was sent (rows of one order must be written together); the first version was stored",
        "đơn đã thay đổi sau khi gửi (các dòng của một đơn phải được ghi cùng lúc); bản đầu tiên được lưu";
    // Mistyped commands and flags (clap's own errors, told again: `usage.rs`).
    UsageMissing => "missing: {args}", "thiếu: {args}";
    UsageTokenEnv => "(or set LIVEPACK_TOKEN)", "(hoặc đặt biến môi trường LIVEPACK_TOKEN)";
    UsageUnknownArg => "there is no argument '{arg}' here", "lệnh này không có tham số '{arg}'";
    UsageUnknownCommand => "there is no command '{command}'; the seller's commands are push, cancel, session and cod",
        "không có lệnh '{command}'; các lệnh của người bán là push, cancel, session và cod";
    UsageExtra => "'{arg}' is one word too many: this command takes one file or order id",
        "thừa '{arg}': lệnh này chỉ nhận một tệp hoặc một mã đơn";
    UsageDidYouMean => "did you mean '{suggestion}'?", "có phải ý bạn là '{suggestion}'?";
    UsageDashDash => "a value that starts with '-' goes after '--': -- {arg}",
        "giá trị bắt đầu bằng '-' phải đặt sau '--': -- {arg}";
    UsageNeedsValue => "{arg} needs a value", "{arg} cần một giá trị";
    UsageBadChoice => "'{value}' is not a value of {arg}; one of: {valid}",
        "'{value}' không phải giá trị của {arg}; chọn một trong: {valid}";
    UsageBadValue => "'{value}' is not a value of {arg}: {why}",
        "'{value}' không phải giá trị hợp lệ của {arg}: {why}";
    UsageNotInRange => "{value} is not between {low} and {high}", "{value} không nằm trong khoảng {low}–{high}";
    UsageEmptyToken => "the token (--token or LIVEPACK_TOKEN) is empty: give the token the hub gave you",
        "mã truy cập (--token hoặc LIVEPACK_TOKEN) đang để trống: hãy ghi mã được cấp";
    UsageBadToken => "the token (--token or LIVEPACK_TOKEN) has a space, a line break or a character that is not plain ASCII inside: copy it again exactly as given",
        "mã truy cập (--token hoặc LIVEPACK_TOKEN) có dấu cách, xuống dòng hoặc ký tự lạ ở giữa: hãy chép lại đúng mã được cấp";
    UsageBadUrl => "'{value}' is not a service address: write it as http://127.0.0.1:8080 (http, https, ws or wss, then the host)",
        "'{value}' không phải địa chỉ máy chủ: hãy viết như http://127.0.0.1:8080 (http, https, ws hoặc wss, rồi tên máy)";
    UsageNotANumber => "not a whole number", "không phải số nguyên";
    UsageConflict => "{arg} cannot be used with {other}", "không dùng {arg} cùng với {other} được";
    UsageTwice => "{arg} is given more than once", "{arg} được ghi nhiều lần";
    UsageNotUtf8 => "an argument is not valid UTF-8", "có tham số không phải UTF-8";
    UsageOther => "the command is not right: {why}", "lệnh chưa đúng: {why}";
    UsageLine => "Usage:", "Cách dùng:";
    UsageMore => "More: {help} (in English)", "Xem thêm: {help} (tiếng Anh)";
    // The COD statement (`livepack cod`).
    CodPeriod => "--to is before --from", "--to phải từ ngày --from trở đi";
    CodPeriodTooLong => "the period is longer than 366 days: ask for one year at a time",
        "khoảng thời gian dài hơn 366 ngày: hãy xem từng năm một";
    CodTitle => "COD statement of {seller} from {from} to {to}",
        "Bảng kê tiền thu hộ (COD) của {seller} từ {from} đến {to}";
    CodColumns => "parcel_id|tracking|carrier|status|cod_amount|collected|fee|transfer_date|mismatch",
        "mã kiện|mã vận đơn|hãng|trạng thái|tiền COD|đã thu|phí|ngày chuyển|lệch";
    CodTotals => "expected|collected|fees|returned|net",
        "phải thu|đã thu|phí|hoàn về|thực nhận";
    // Connecting.
    Connecting => "connecting to {url} …", "đang kết nối tới {url} …";
    Unreachable => "cannot reach the service at {url}: {reason}. Is it running, and is --url (LIVEPACK_URL) right?",
        "không kết nối được tới máy chủ {url}: {reason}. Máy chủ có đang chạy không, --url (LIVEPACK_URL) có đúng không?";
    NotLivepack => "{url} answered HTTP {status}, but not as livepack: is --url (LIVEPACK_URL) the livepack service's address?",
        "{url} trả lời HTTP {status} nhưng không phải máy chủ livepack: --url (LIVEPACK_URL) có đúng địa chỉ máy chủ livepack không?";
    NetTimedOut => "no answer in time", "quá thời gian chờ mà không có trả lời";
    NetRefused => "nothing listens on that port (connection refused)", "không có gì chạy ở cổng đó (kết nối bị từ chối)";
    NetNoSuchHost => "no such host name", "không tìm thấy tên máy này";
    NetNoScheme => "the address must start with http:// or ws:// (e.g. http://127.0.0.1:8080)",
        "địa chỉ phải bắt đầu bằng http:// hoặc ws:// (ví dụ http://127.0.0.1:8080)";
    NetBadScheme => "the address must start with http://, https://, ws:// or wss://",
        "địa chỉ phải bắt đầu bằng http://, https://, ws:// hoặc wss://";
    NetNotTls => "the service does not speak TLS there: use http:// or ws://",
        "máy chủ ở đó không dùng TLS: hãy dùng http:// hoặc ws://";
    TokenRefused => "the service refused the token (HTTP {status}): check --token or LIVEPACK_TOKEN",
        "máy chủ từ chối mã truy cập (HTTP {status}): hãy kiểm tra --token hoặc LIVEPACK_TOKEN";
    NotASellerToken => "this token is not a seller's token (HTTP {status}): push, cancel and session need the seller's token",
        "mã truy cập này không phải của người bán (HTTP {status}): push, cancel và session cần mã của người bán";
    ServerRefused => "the service refused the request (HTTP {status}): {message}",
        "máy chủ từ chối yêu cầu (HTTP {status}): {message}";
    NotFound => "not found: {message}", "không tìm thấy: {message}";
    WhatSession => "no such session", "không có phiên này";
    WhatOrder => "no such order", "không có đơn này";
    WhatSeller => "no such seller", "không có người bán này";
    WhatSite => "no such site", "không có điểm đóng gói này";
    WhatRoute => "the service has no such address: --url names the service alone (e.g. ws://127.0.0.1:8080), without a path",
        "máy chủ không có đường dẫn này: --url chỉ ghi địa chỉ máy chủ (ví dụ ws://127.0.0.1:8080), không kèm đường dẫn";
    ServerError => "the service answered HTTP {status}: {message}",
        "máy chủ trả lời HTTP {status}: {message}";
    PushFailed => "push failed: {why}", "gửi đơn thất bại: {why}";
    GaveUp => "gave up with {n} orders unanswered: the service stopped answering",
        "đã dừng, còn {n} đơn chưa được trả lời: máy chủ không còn phản hồi";
    EndSessionUnacked => "the service never confirmed the end of the session",
        "máy chủ không xác nhận việc kết thúc phiên";
    ClientFault => "the push stopped on an error of this program: {why}",
        "việc gửi dừng vì lỗi của chương trình: {why}";
    Unanswered => "unanswered: {id}", "chưa được trả lời: {id}";
    AndMore => "… and {n} more", "… và {n} đơn khác";
    // Interrupted.
    Interrupted => "interrupted (Ctrl-C): {stored} of {total} orders stored, {rejected} rejected, {unanswered} sent with no answer yet; pushing the same file again is safe",
        "đã ngắt (Ctrl-C): đã lưu {stored}/{total} đơn, {rejected} đơn bị từ chối, {unanswered} đơn đã gửi nhưng chưa được trả lời; gửi lại cùng tệp là an toàn";
    InterruptedFollow => "interrupted (Ctrl-C): {stored} orders stored, {rejected} rejected, {unanswered} sent with no answer yet; pushing the same file again is safe",
        "đã ngắt (Ctrl-C): đã lưu {stored} đơn, {rejected} đơn bị từ chối, {unanswered} đơn đã gửi nhưng chưa được trả lời; gửi lại cùng tệp là an toàn";
    FollowStopping => "stopping: sending what was read, then end_session (Ctrl-C again quits at once)",
        "đang dừng: gửi nốt những đơn đã đọc rồi kết thúc phiên (nhấn Ctrl-C lần nữa để thoát ngay)";
    // Summary table.
    SummaryTitle => "livepack push: {what}", "livepack push: {what}";
    SourceFormat => "{source} ({format}) → session {session}", "{source} ({format}) → phiên {session}";
    FollowedUntil => "followed {source} until {why} → session {session}",
        "đã theo dõi {source} cho tới khi {why} → phiên {session}";
    WhyCtrlC => "Ctrl-C", "nhấn Ctrl-C";
    WhyEndLine => "an end_session line", "gặp dòng end_session";
    WhyEof => "the end of standard input", "hết đầu vào chuẩn";
    WhyIdle => "--idle-secs without new input", "--idle-secs trôi qua mà không có đơn mới";
    WhyError => "an error", "gặp lỗi";
    LabelRead => "read", "đọc";
    LabelAccepted => "accepted", "nhận";
    LabelDuplicate => "duplicate", "trùng";
    LabelRejected => "rejected", "từ chối";
    LabelUnmappable => "unmappable", "lỗi dòng";
    LabelCancelled => "cancelled", "đã hủy";
    LabelSkipped => "skipped", "bỏ qua";
    LabelAlready => "already", "đã hủy trước";
    AlreadyNote => "(cancelled here by an earlier push or cancel)",
        "(đã hủy ở đây từ lần gửi hoặc lệnh hủy trước)";
    LabelTooLate => "too-late", "quá muộn";
    LabelUnanswered => "unanswered", "chưa trả lời";
    LabelReconnects => "reconnects", "kết nối lại";
    SkippedNote => "(cancelled on the platform, never stored here)",
        "(đã hủy trên sàn, chưa từng lưu ở đây)";
    ReconnectsNote => "(nacks {nacks}, session ended by this push: {ended})",
        "(bị hoãn {nacks}, lần gửi này kết thúc phiên: {ended})";
    Yes => "yes", "có";
    No => "no", "không";
    RejectedHeading => "rejected (not stored):", "bị từ chối (không lưu):";
    CellCut => "… ({n} characters)", "… ({n} ký tự)";
    ConnectionLost => "lost the connection to the service: retrying (orders with no reply yet are sent again, never stored twice)…",
        "mất kết nối tới máy chủ: đang thử lại (đơn chưa có trả lời sẽ được gửi lại, không bị lưu hai lần)…";
    ConnectionBack => "connected again", "đã kết nối lại";
    StillOffline => "still cannot reach the service ({n} attempts): retrying; Ctrl-C stops, and pushing the same file again later is safe",
        "vẫn chưa kết nối được máy chủ ({n} lần thử): đang thử lại; Ctrl-C để dừng, gửi lại cùng tệp sau là an toàn";
    BadDay => "a day is YYYY-MM-DD, e.g. 2026-12-01, and must exist", "ngày phải có dạng YYYY-MM-DD, ví dụ 2026-12-01, và phải là ngày có thật";
    CodNameTheSeller => "this token is not a seller's: name the seller with --seller <seller id>",
        "mã truy cập này không phải của người bán: hãy chỉ rõ người bán bằng --seller <mã người bán>";
    ApiInvalidReason => "the reason is 1–64 of A-Z a-z 0-9 . _ - (e.g. buyer_cancelled)",
        "lý do chỉ gồm 1–64 ký tự A-Z a-z 0-9 . _ - (ví dụ buyer_cancelled)";
    ApiInvalidPeriod => "the period is wrong: --from must not be after --to, and it spans at most 366 days",
        "khoảng thời gian không hợp lệ: --from không được sau --to, và dài tối đa 366 ngày";
    ApiInvalidOrderId => "an order id is 1–64 of A-Z a-z 0-9 . _ -",
        "mã đơn chỉ gồm 1–64 ký tự A-Z a-z 0-9 . _ -";
    UnmappableHeading => "unmappable rows (not sent):", "dòng không đọc được (không gửi):";
    CancelledHeading => "cancelled on the platform, now cancelled here (not to be packed):",
        "đã hủy trên sàn, nay đã hủy ở đây (không đóng gói):";
    TooLateHeading => "cancelled on the platform but already handed to the carrier (recall it with the carrier):",
        "đã hủy trên sàn nhưng đã giao cho hãng vận chuyển (hãy báo hãng thu hồi):";
    AtLine => "line {line}", "dòng {line}";
    ProgressSent => "sent {sent}  acked {acked}  rejected {rejected}",
        "đã gửi {sent}  đã lưu {acked}  từ chối {rejected}";
    ProgressRetries => "  (reconnects {reconnects}, nacks {nacks})",
        "  (kết nối lại {reconnects}, bị hoãn {nacks})";
    BarSent => "sent", "đã gửi";
    Cancelling => "cancelling {n} orders cancelled on the platform …",
        "đang hủy {n} đơn đã hủy trên sàn …";
    FollowWaiting => "following {source}: waiting for orders (Ctrl-C ends the session)",
        "đang theo dõi {source}: chờ đơn mới (Ctrl-C để kết thúc phiên)";
    FollowProgress => "acked {acked}  rejected {rejected}  unmappable {unmappable}  (following; Ctrl-C ends the session)",
        "đã lưu {acked}  từ chối {rejected}  lỗi dòng {unmappable}  (đang theo dõi; Ctrl-C để kết thúc phiên)";
    UnmappableLine => "unmappable: line {line} {id}: {reason}", "không đọc được: dòng {line} {id}: {reason}";
    DryRunDone => "{mapped} orders mapped, {unmappable} unmappable, {cancelled} cancelled on the platform (dry run: nothing sent)",
        "{mapped} đơn đọc được, {unmappable} dòng lỗi, {cancelled} đơn đã hủy trên sàn (chạy thử: không gửi gì)";
    DryRunCancelled => "cancelled on the platform: line {line} {id} ({status})",
        "đã hủy trên sàn: dòng {line} {id} ({status})";
    // Server rejection codes, said plainly (the server's own message is used for others).
    CodeUnknownProvince => "not a Vietnamese province (old or post-2025 name)",
        "không phải tên tỉnh/thành phố của Việt Nam (tên cũ hoặc sau 2025)";
    CodeInvalidPhone => "not a Vietnamese mobile number", "không phải số di động Việt Nam";
    CodeInvalidWard => "the ward is empty or too long", "phường/xã trống hoặc quá dài";
    CodeInvalidStreet => "the address is empty or too long", "địa chỉ trống hoặc quá dài";
    CodeInvalidName => "the name is empty or too long", "tên trống hoặc quá dài";
    CodeInvalidQty => "the quantity must be 1–999", "số lượng phải từ 1 đến 999";
    CodeInvalidMoney => "not an amount of VND", "không phải số tiền VND";
    CodeNegativeMoney => "an amount must not be negative", "số tiền không được âm";
    CodePlacedAtTooOld => "the order is too old to be taken", "đơn quá cũ, không nhận";
    CodePlacedAtInFuture => "the order time is in the future", "thời gian đặt hàng ở tương lai";
    CodeInvalidWeight => "the weight must be 1 g – 100 kg", "cân nặng phải từ 1 g đến 100 kg";
    CodeMissingField => "is required", "bắt buộc phải có";
    CodeMalformedOrder => "not an ORDER object", "không phải một ORDER";
    CodeInvalidType => "the value has the wrong type (text, number or list)",
        "giá trị sai kiểu (chữ, số hay danh sách)";
    CodeInvalidOrderId => "the order id is empty, longer than 64 or has characters other than letters, digits, '.', '-' and '_'",
        "mã đơn trống, dài quá 64 ký tự hoặc có ký tự ngoài chữ, số, '.', '-' và '_'";
    CodeInvalidPlatform => "the platform must be one of tiktok, shopee, lazada, facebook, zalo, other",
        "sàn phải là một trong tiktok, shopee, lazada, facebook, zalo, other";
    CodeInvalidPlacedAt => "not a date-time with its time zone (RFC 3339)",
        "không phải ngày giờ có múi giờ (RFC 3339)";
    CodeInvalidDistrict => "the district is too long", "quận/huyện quá dài";
    CodeInvalidNote => "the note is too long", "ghi chú quá dài";
    CodeInvalidDiscount => "the discount is more than items + shipping fee",
        "giảm giá lớn hơn tiền hàng + phí ship";
    CodeCodMismatch => "COD is more than the buyer owes (items + shipping fee − discount)",
        "tiền thu hộ (COD) lớn hơn số người mua phải trả (tiền hàng + phí ship − giảm giá)";
    CodeCodMismatchAmounts => "COD {got} is more than the buyer owes: items + shipping fee − discount = {owed} (0 when prepaid); an extra zero?",
        "tiền thu hộ (COD) {got} lớn hơn số người mua phải trả: tiền hàng + phí ship − giảm giá = {owed} (0 nếu đã trả trước); có thừa số 0 không?";
    CodeNoItems => "an order has at least one item", "đơn phải có ít nhất một sản phẩm";
    CodeTooManyItems => "too many items in one order", "một đơn có quá nhiều sản phẩm";
    CodeOrderTooLarge => "the order is too large to send (over the service's frame limit): shorten its longest text (address, note, names)",
        "đơn quá lớn để gửi (vượt giới hạn của máy chủ): hãy rút ngắn phần chữ dài nhất của đơn (địa chỉ, ghi chú, tên)";
    CodeInvalidSku => "the SKU is empty, too long or has spaces", "mã SKU trống, quá dài hoặc có khoảng trắng";
    CodeInvalidItemName => "the item name is empty or too long", "tên sản phẩm trống hoặc quá dài";
    // The importer's reasons for unmappable rows, phrase by phrase (values stay as written).
    ReasonNoOrderId => "no order id", "thiếu mã đơn hàng";
    ReasonIdAsNumber => "the order id was turned into a number by a spreadsheet and lost digits: export again, or format the column as text",
        "mã đơn hàng đã bị bảng tính đổi thành số và mất chữ số: hãy xuất lại, hoặc định dạng cột là văn bản";
    ReasonIdChars => "must be at most 61 of A-Z a-z 0-9 . _ -", "chỉ được tối đa 61 ký tự A-Z a-z 0-9 . _ -";
    ReasonOrderId => "order id", "mã đơn hàng";
    ReasonStatus => "order status is", "trạng thái đơn là";
    ReasonNotToPack => "not to be packed", "không đóng gói";
    ReasonNoTime => "no order time", "thiếu thời gian đặt hàng";
    ReasonNoPhone => "no phone number for the recipient", "thiếu số điện thoại người nhận";
    ReasonMasked => "the phone number is masked (*): export with full recipient data",
        "số điện thoại bị che (*): hãy xuất file có đủ thông tin người nhận";
    ReasonNoItems => "no items", "không có sản phẩm";
    ReasonNoPayment => "no payment method: cannot tell cash on delivery from prepaid (payment method column)",
        "thiếu phương thức thanh toán: không biết đơn thu hộ (COD) hay đã trả trước (cột phương thức thanh toán)";
    ReasonNoSku => "no seller SKU", "thiếu SKU người bán";
    ReasonSetSku => "set it on the platform", "hãy đặt SKU trên sàn";
    ReasonNoWeight => "no weight for SKU", "không có cân nặng cho SKU";
    ReasonWeightHow => "list it in --weights FILE or pass --default-weight-g",
        "hãy ghi vào tệp --weights hoặc dùng --default-weight-g";
    ReasonNoPrice => "no unit price", "thiếu đơn giá";
    ReasonNotVnd => "not a VND amount", "không phải số tiền VND";
    ReasonFraction => "VND has no fractional part", "tiền VND không có phần lẻ";
    ReasonLarge => "implausibly large amount", "số tiền lớn bất thường";
    ReasonQty => "quantity must be a whole number 1–999", "số lượng phải là số nguyên từ 1 đến 999";
    ReasonNotWeight => "not a weight", "không phải cân nặng";
    ReasonWeightRange => "weight out of range (1 g – 100 kg)", "cân nặng ngoài khoảng 1 g – 100 kg";
    ReasonNotTime => "not a date-time", "không phải ngày giờ";
    ReasonExceeds => "exceeds items", "lớn hơn tiền hàng";
    ReasonTotal => "order total", "tổng tiền đơn";
    ReasonFee => "shipping fee", "phí vận chuyển";
    ReasonNotJson => "not valid JSON", "không phải JSON hợp lệ";
    ReasonColumn => "column", "cột";
    ReasonNotObject => "not a JSON object (one ORDER per line)", "không phải đối tượng JSON (mỗi dòng một ORDER)";
    ReasonAllCancelled => "every line item is cancelled", "mọi sản phẩm của đơn đã bị hủy";
    // cancel.
    CancelResult => "{id}: {status}", "{id}: {status}";
    StatusCancelled => "cancelled", "đã hủy";
    StatusTooLate => "too_late", "quá muộn";
    StatusUnknown => "unknown (check the id as pushed: exports get a prefix, TT- TikTok, SP- Shopee)",
        "không có đơn này (kiểm tra mã đơn đúng như khi gửi: đơn từ tệp xuất có tiền tố TT- của TikTok, SP- của Shopee)";
    CancelTooLate => "already handed to the carrier: it cannot be cancelled here",
        "đã giao cho hãng vận chuyển: không hủy được ở đây";
    // session.
    SessionTitle => "session {label} ({state}, seller {seller})", "phiên {label} ({state}, người bán {seller})";
    StateLive => "live", "đang live";
    StateEnded => "ended", "đã kết thúc";
    LabelWaved => "waved", "đã chia đợt";
    OrderReceived => "received", "đã nhận";
    OrderWaved => "waved", "đã chia đợt";
    OrderPicked => "picked", "đã lấy hàng";
    LabelPacked => "packed", "đã đóng";
    LabelAtRisk => "at-risk", "có nguy cơ";
    AtRiskLine => "{id}  {status}  {why}  pickup {pickup}  deadline {deadline}",
        "{id}  {status}  {why}  lấy hàng {pickup}  hạn {deadline}";
    AtRiskUnlisted => "… and {n} more, not listed (the most urgent are listed first)",
        "… và {n} đơn nữa không liệt kê (chỉ liệt kê các đơn gấp nhất)";
    WhyOverdue => "overdue", "quá hạn";
    WhyDeadlineBeforePickup => "no pickup before its deadline", "không kịp chuyến lấy hàng trước hạn";
    WhyNotEnoughCapacity => "not enough packing capacity", "không đủ sức đóng gói";
    PassSite => "pass --site to see orders at risk", "hãy thêm --site để xem đơn có nguy cơ";
    OutlookUnreadable => "the outlook is not readable: {why}", "không đọc được dự báo: {why}";
    WavedRiskUnknown => "this service does not say which waved orders are at risk",
        "máy chủ này không cho biết đơn nào đã chia đợt có nguy cơ";
}

/// Reason phrases, longest first (a phrase inside a longer one is replaced after it).
const REASON_PHRASES: &[Msg] = &[
    Msg::ReasonIdAsNumber,
    Msg::ReasonNoPayment,
    Msg::ReasonMasked,
    Msg::ReasonWeightHow,
    Msg::ReasonQty,
    Msg::ReasonNotObject,
    Msg::ReasonWeightRange,
    Msg::ReasonNoPhone,
    Msg::ReasonAllCancelled,
    Msg::ReasonIdChars,
    Msg::ReasonFraction,
    Msg::ReasonLarge,
    Msg::ReasonSetSku,
    Msg::ReasonNoWeight,
    Msg::ReasonNotVnd,
    Msg::ReasonNotToPack,
    Msg::ReasonStatus,
    Msg::ReasonNoOrderId,
    Msg::ReasonNoTime,
    Msg::ReasonNotTime,
    Msg::ReasonNoSku,
    Msg::ReasonNoPrice,
    Msg::ReasonNotWeight,
    Msg::ReasonExceeds,
    Msg::ReasonTotal,
    Msg::ReasonFee,
    Msg::ReasonNotJson,
    Msg::ReasonColumn,
    Msg::ReasonNoItems,
    Msg::ReasonOrderId,
];

/// An importer's reason (English) in the language in use: its known phrases translated,
/// values and column names (quoted or as written in the file) kept.
pub fn reason_text(reason: &str) -> String {
    reason_in(lang(), reason)
}

fn reason_in(lang: Lang, reason: &str) -> String {
    if lang == Lang::En {
        return reason.to_owned();
    }
    // Quoted values are never translated: cut them out first.
    let mut parts: Vec<(bool, String)> = Vec::new();
    let mut rest = reason;
    while let Some(open) = rest.find('"') {
        let Some(len) = rest[open + 1..].find('"') else {
            break;
        };
        parts.push((true, rest[..open].to_owned()));
        parts.push((false, rest[open..open + len + 2].to_owned()));
        rest = &rest[open + len + 2..];
    }
    parts.push((true, rest.to_owned()));
    let mut out = String::with_capacity(reason.len() + 16);
    for (text, mut part) in parts {
        if text {
            for &m in REASON_PHRASES {
                part = part.replace(m.text(Lang::En), m.text(lang));
            }
        }
        out.push_str(&part);
    }
    out
}

/// A server rejection said plainly in the language in use: the catalogue's words for its
/// code, with the amounts of a `cod_mismatch` kept (the server's message is English).
pub fn rejection_text(code: &str, message: &str) -> Option<String> {
    rejection_in(lang(), code, message)
}

fn rejection_in(lang: Lang, code: &str, message: &str) -> Option<String> {
    if code == "cod_mismatch" {
        // "at most items + shipping_fee - discount = {owed} (0: prepaid); got {got}"
        let number = |after: &str| -> Option<String> {
            let rest = &message[message.find(after)? + after.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            (!digits.is_empty()).then_some(digits)
        };
        if let (Some(owed), Some(got)) = (number("= "), number("got ")) {
            return Some(fill(
                Msg::CodeCodMismatchAmounts.text(lang),
                &[("owed", &owed), ("got", &got)],
            ));
        }
    }
    let base = code_msg(code)?.text(lang);
    // In English the server's message says it all; in Vietnamese the catalogue's words for
    // the code, and the limit, example or value of the message when it has one.
    match (lang, detail_vi(message)) {
        (Lang::Vi, Some(detail)) => Some(format!("{base} ({detail})")),
        _ => Some(base.to_owned()),
    }
}

/// The number that follows `after` in `message`.
fn number_after(message: &str, after: &str) -> Option<String> {
    let rest = &message[message.find(after)? + after.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// A server rejection's detail (its limit, example or value) in Vietnamese, for the
/// messages the order rules give (`domain::order`, `domain::money`); `None` for others.
fn detail_vi(message: &str) -> Option<String> {
    if message == "must not be empty" {
        return Some("đang để trống".into());
    }
    if let Some(n) = message
        .strip_prefix("at most ")
        .and_then(|r| r.strip_suffix(" characters"))
    {
        return Some(format!("tối đa {n} ký tự"));
    }
    if message.starts_with("must not contain control characters") {
        return Some("không được có ký tự điều khiển".into());
    }
    if let Some(rest) = message.strip_prefix("must not contain direction-control characters (") {
        let code = rest.split(':').next().unwrap_or("");
        return Some(format!(
            "không được có ký tự đổi chiều chữ ({code}: chữ sẽ hiện ngược)"
        ));
    }
    if message == "must contain a visible character" {
        return Some("phải có ít nhất một ký tự nhìn thấy được".into());
    }
    if message.starts_with("at most ") && message.contains(" items per order; got ") {
        let max = number_after(message, "at most ")?;
        let got = number_after(message, "got ")?;
        return Some(format!(
            "tối đa {max} sản phẩm một đơn, đơn này có {got}: hãy tách thành nhiều đơn"
        ));
    }
    if message.starts_with("is older than ") {
        return Some(match number_after(message, "older than ") {
            Some(d) if message.contains(" days") => {
                format!("đặt cách đây hơn {d} ngày: quá thời hạn máy chủ nhớ mã đơn để chống trùng")
            }
            _ => "quá thời hạn máy chủ nhớ mã đơn để chống trùng".into(),
        });
    }
    if message.contains("lacks its leading 0") {
        return Some(
            "có 9 chữ số, thiếu số 0 đầu: bảng tính đã bỏ số 0 ở ô kiểu số, hãy định dạng cột là văn bản".into(),
        );
    }
    if message == "is in the future" {
        return Some("kiểm tra đồng hồ và múi giờ của máy xuất đơn".into());
    }
    if message.starts_with("an RFC 3339 time with offset") {
        return Some("ví dụ 2026-11-21T20:15:02+07:00".into());
    }
    if message.starts_with("digits only") {
        return Some(
            "chỉ ghi chữ số, ví dụ \"185000\": không dấu cách, dấu, dấu chấm phân cách hay phần lẻ (\"185.000\" có thể là 185 hay 185.000 đồng)".into(),
        );
    }
    if message.starts_with("expected a decimal string of VND") {
        return Some("cần số tiền VND dạng chuỗi chữ số, ví dụ \"185000\"".into());
    }
    if let Some((_, expected)) = message.split_once("expected ") {
        let want = match expected {
            "an integer" => "một số nguyên",
            "an object" => "một đối tượng JSON {…}",
            "a string" => "một chuỗi chữ trong ngoặc kép",
            "a sequence" => "một danh sách […]",
            "a boolean" => "true hoặc false",
            _ => return None,
        };
        return Some(format!("cần {want}"));
    }
    None
}

/// An HTTP API error code (the `error.code` of a 400) said plainly, when the catalogue has
/// it; the server's own message (English) otherwise.
pub fn api_error_text(code: &str) -> Option<String> {
    let m = match code {
        "invalid_reason" => Msg::ApiInvalidReason,
        "invalid_period" => Msg::ApiInvalidPeriod,
        "invalid_date" => Msg::BadDay,
        "invalid_order_id" => Msg::ApiInvalidOrderId,
        _ => return None,
    };
    Some(t(m, &[]))
}

/// A server rejection code said plainly, when the catalogue has it.
pub fn code_text(code: &str) -> Option<String> {
    code_msg(code).map(|m| t(m, &[]))
}

fn code_msg(code: &str) -> Option<Msg> {
    Some(match code {
        "missing_field" => Msg::CodeMissingField,
        "malformed_order" => Msg::CodeMalformedOrder,
        "invalid_type" => Msg::CodeInvalidType,
        "invalid_order_id" => Msg::CodeInvalidOrderId,
        "invalid_platform" => Msg::CodeInvalidPlatform,
        "invalid_placed_at" => Msg::CodeInvalidPlacedAt,
        "invalid_district" => Msg::CodeInvalidDistrict,
        "invalid_note" => Msg::CodeInvalidNote,
        "invalid_discount" => Msg::CodeInvalidDiscount,
        "cod_mismatch" => Msg::CodeCodMismatch,
        "no_items" => Msg::CodeNoItems,
        "too_many_items" => Msg::CodeTooManyItems,
        "order_too_large" => Msg::CodeOrderTooLarge,
        "invalid_sku" => Msg::CodeInvalidSku,
        "invalid_item_name" => Msg::CodeInvalidItemName,
        "unknown_province" => Msg::CodeUnknownProvince,
        "invalid_phone" => Msg::CodeInvalidPhone,
        "invalid_ward" => Msg::CodeInvalidWard,
        "invalid_street" => Msg::CodeInvalidStreet,
        "invalid_name" => Msg::CodeInvalidName,
        "invalid_qty" => Msg::CodeInvalidQty,
        "invalid_money" => Msg::CodeInvalidMoney,
        "negative_money" => Msg::CodeNegativeMoney,
        "fractional_money" => Msg::ReasonFraction,
        "money_too_large" => Msg::ReasonLarge,
        "placed_at_too_old" => Msg::CodePlacedAtTooOld,
        "placed_at_in_future" => Msg::CodePlacedAtInFuture,
        "invalid_weight" => Msg::CodeInvalidWeight,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_both_languages_with_the_same_placeholders() {
        for &m in Msg::ALL {
            let (en, vi) = (m.text(Lang::En), m.text(Lang::Vi));
            assert!(!en.trim().is_empty(), "{m:?} has no English");
            assert!(!vi.trim().is_empty(), "{m:?} has no Vietnamese");
            assert_eq!(placeholders(en), placeholders(vi), "{m:?}");
        }
        // English table labels are one word each (scripts read "label count" lines).
        for m in [
            Msg::LabelRead,
            Msg::LabelAccepted,
            Msg::LabelDuplicate,
            Msg::LabelRejected,
            Msg::LabelUnmappable,
            Msg::LabelCancelled,
            Msg::LabelSkipped,
            Msg::LabelAlready,
            Msg::LabelTooLate,
            Msg::LabelUnanswered,
            Msg::LabelReconnects,
            Msg::LabelWaved,
            Msg::LabelPacked,
            Msg::LabelAtRisk,
        ] {
            assert!(!m.text(Lang::En).contains(' '), "{m:?}");
        }
    }

    #[test]
    fn importer_reasons_read_in_vietnamese_values_kept() {
        let r = "Giá ưu đãi: not a VND amount: \"no items\"";
        assert_eq!(
            reason_in(Lang::Vi, r),
            "Giá ưu đãi: không phải số tiền VND: \"no items\""
        );
        assert_eq!(reason_in(Lang::En, r), r);
        assert_eq!(
            reason_in(
                Lang::Vi,
                "no weight for SKU \"A\": list it in --weights FILE or pass --default-weight-g"
            ),
            "không có cân nặng cho SKU \"A\": hãy ghi vào tệp --weights hoặc dùng --default-weight-g"
        );
        // Every phrase is in the list, and none hides inside a later, shorter one's text.
        for &m in Msg::ALL {
            if format!("{m:?}").starts_with("Reason") {
                assert!(REASON_PHRASES.contains(&m), "{m:?} not in REASON_PHRASES");
            }
        }
    }

    #[test]
    fn importer_reasons_of_a_broken_export_have_no_english_left() {
        let text = "Order ID,Order Status,Seller SKU,Quantity,SKU Unit Original Price,\
                    Created Time,Recipient,Phone #,Province,Villages,Detail Address,Payment Method\n\
                    1,To ship,A,1,abc,22/11/2026 10:00,Lan,0912345678,Hà Nội,Phường X,x,COD\n\
                    2,To ship,A,1000,1000,22/11/2026 10:00,Lan,0912345678,Hà Nội,Phường X,x,COD\n\
                    3,To ship,A,1,1000,yesterday,Lan,0912345678,Hà Nội,Phường X,x,COD\n\
                    4,To ship,A,1,1000,22/11/2026 10:00,Lan,,Hà Nội,Phường X,x,COD\n\
                    5,To ship,A,1,1000,22/11/2026 10:00,Lan,091****678,Hà Nội,Phường X,x,COD\n\
                    6,To ship,A,1,1000,22/11/2026 10:00,Lan,0912345678,Hà Nội,Phường X,x,\n\
                    7,To ship,,1,1000,22/11/2026 10:00,Lan,0912345678,Hà Nội,Phường X,x,COD\n\
                    8,Unpaid,A,1,1000,22/11/2026 10:00,Lan,0912345678,Hà Nội,Phường X,x,COD\n\
                    9,To ship,A,1,1000,22/11/2026 10:00,Lan,0912345678,Hà Nội,Phường X,x,COD\n";
        let p = crate::import::parse(
            crate::import::Format::TiktokCsv,
            text.as_bytes(),
            &Default::default(),
            true,
        )
        .unwrap();
        assert_eq!(p.unmappable.len(), 9, "{:?}", p.unmappable);
        let english = [
            "not", "no ", "must", "is ", "the ", "for ", "order", "quantity", "weight", "set ",
        ];
        for u in &p.unmappable {
            let vi = reason_in(Lang::Vi, &u.reason);
            // What is left outside quotes and column names is Vietnamese.
            let bare: String = vi.split('"').step_by(2).collect::<Vec<_>>().join(" ");
            let bare = bare
                .replace("Seller SKU", "")
                .replace("Quantity", "")
                .replace("SKU Unit Original Price", "")
                .replace("Created Time", "")
                .replace("Phone #", "")
                .replace("--weights", "")
                .replace("--default-weight-g", "");
            for w in english {
                assert!(
                    !bare.contains(w),
                    "{w:?} left in {vi:?} (from {:?})",
                    u.reason
                );
            }
        }
    }

    /// Every code an order can be rejected with reads in Vietnamese; a `cod_mismatch` keeps
    /// its amounts (the extra zero a seller typed is what they need to see).
    #[test]
    fn every_rejection_code_reads_in_vietnamese() {
        for code in crate::domain::FieldCode::ALL {
            let wire = code.as_str();
            let vi = rejection_in(Lang::Vi, wire, "whatever the server said");
            assert!(vi.is_some(), "{wire} has no words in the catalogue");
        }
        let said = rejection_in(
            Lang::Vi,
            "cod_mismatch",
            "at most items + shipping_fee - discount = 215000 (0: prepaid); got 2150000",
        )
        .unwrap();
        assert!(
            said.contains("215000") && said.contains("2150000"),
            "{said}"
        );
        assert!(said.starts_with("tiền thu hộ"), "{said}");
    }

    /// The limit, example or value of the server's message is said in Vietnamese too, for
    /// the messages the order rules give (not only "too long").
    #[test]
    fn a_rejection_s_limit_and_example_read_in_vietnamese() {
        use crate::domain::money::MoneyError;
        use crate::domain::order::text_problem;
        let long = "x".repeat(1001);
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "invalid_ward",
                text_problem(" ", 200).unwrap(),
                "đang để trống",
            ),
            (
                "invalid_note",
                text_problem(&long, 1000).unwrap(),
                "tối đa 1000 ký tự",
            ),
            (
                "invalid_name",
                text_problem("\u{202e}Lan", 200).unwrap(),
                "U+202E",
            ),
            (
                "invalid_name",
                text_problem("a\u{1}b", 200).unwrap(),
                "ký tự điều khiển",
            ),
            (
                "invalid_name",
                text_problem("\u{200b}", 200).unwrap(),
                "nhìn thấy được",
            ),
            (
                "invalid_money",
                MoneyError::NotDigits.message().into(),
                "\"185000\"",
            ),
            (
                "invalid_money",
                MoneyError::NotANumber.message().into(),
                "\"185000\"",
            ),
            (
                "too_many_items",
                "at most 100 items per order; got 101".into(),
                "tối đa 100 sản phẩm một đơn, đơn này có 101",
            ),
            (
                "placed_at_too_old",
                "is older than 90 days, the window in which order ids are remembered".into(),
                "hơn 90 ngày",
            ),
            (
                "invalid_placed_at",
                "an RFC 3339 time with offset, e.g. 2026-11-21T20:15:02+07:00".into(),
                "ví dụ 2026-11-21T20:15:02+07:00",
            ),
            (
                "invalid_phone",
                crate::domain::phone::PhoneError::LeadingZeroLost.to_string(),
                "thiếu số 0 đầu",
            ),
            (
                "invalid_type",
                "invalid type: string \"2\", expected an integer".into(),
                "cần một số nguyên",
            ),
        ];
        for (code, message, want) in cases {
            let vi = rejection_in(Lang::Vi, code, &message).unwrap();
            assert!(vi.contains(want), "{code} {message:?}: {vi}");
            for english in ["must", "at most", "older than", "expected", "digits only"] {
                assert!(!vi.contains(english), "{code}: English in {vi}");
            }
            // English keeps the catalogue's words (the summary shows the message beside).
            let en = rejection_in(Lang::En, code, &message).unwrap();
            assert_eq!(en, code_msg(code).unwrap().text(Lang::En), "{code}");
        }
    }

    #[test]
    fn placeholders_fill_once() {
        let s = fill("{a} and {b} {c} {", &[("a", &"{b}"), ("b", &2)]);
        assert_eq!(s, "{b} and 2 {c} {");
        assert_eq!(fill("{url} …", &[("url", &"ws://x")]), "ws://x …");
    }

    #[test]
    fn locale_picks_english_only_when_it_names_another_language() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Lang::from_locale(env(&[("LANG", "vi_VN.UTF-8")])), Lang::Vi);
        assert_eq!(Lang::from_locale(env(&[])), Lang::Vi, "no locale");
        assert_eq!(Lang::from_locale(env(&[("LANG", "C.UTF-8")])), Lang::Vi);
        assert_eq!(Lang::from_locale(env(&[("LANG", "POSIX")])), Lang::Vi);
        assert_eq!(Lang::from_locale(env(&[("LANG", "en_US.UTF-8")])), Lang::En);
        assert_eq!(Lang::from_locale(env(&[("LANG", "fr_FR")])), Lang::En);
        assert_eq!(
            Lang::from_locale(env(&[("LC_ALL", "en_US.UTF-8"), ("LANG", "vi_VN")])),
            Lang::En,
            "LC_ALL wins"
        );
        assert_eq!(
            Lang::from_locale(env(&[
                ("LC_ALL", ""),
                ("LC_MESSAGES", "vi"),
                ("LANG", "en")
            ])),
            Lang::Vi,
            "an empty LC_ALL does not count"
        );
    }
}
