//! `livepack cod --from --to`: the seller's COD statement (contract §7) as a table, or as
//! CSV with `--csv` (one row per parcel, then the totals row), from
//! `GET /v1/sellers/me/cod` with the seller's token.

use std::time::Duration;

use chrono::NaiveDate;
use serde_json::Value;

use super::i18n::{fill, t, Lang, Msg};
use super::{http_base, segment, EXIT_INCOMPLETE, EXIT_OK, EXIT_SERVER, EXIT_USAGE};

/// `livepack cod`: the seller's COD statement for a period.
#[derive(Debug, Clone, clap::Args)]
pub struct CodArgs {
    /// The seller's token (or set LIVEPACK_TOKEN).
    #[arg(long, env = "LIVEPACK_TOKEN", hide_env_values = true, allow_hyphen_values = true, value_parser = super::usage::token_value)]
    pub token: String,
    /// The service's address (http:// or ws://).
    #[arg(long, env = "LIVEPACK_URL", default_value = "http://127.0.0.1:8080", value_parser = super::usage::url_value)]
    pub url: String,
    /// First pickup day, YYYY-MM-DD.
    #[arg(long)]
    pub from: String,
    /// Last pickup day, YYYY-MM-DD (inclusive).
    #[arg(long)]
    pub to: String,
    /// Which seller (the operator's token reads any); default: the token's own.
    #[arg(long, default_value = "me")]
    pub seller: String,
    /// Print CSV (one row per parcel, then TOTAL, RETURNED and NET rows) instead of a
    /// table.
    #[arg(long)]
    pub csv: bool,
    /// Language of the table and messages: vi or en (default: English when LC_ALL,
    /// LC_MESSAGES or LANG names another language, e.g. en_US, else Vietnamese). CSV
    /// columns stay field names.
    #[arg(long, value_enum)]
    pub lang: Option<super::i18n::Lang>,
}

/// Exit codes: 0 the statement has no mismatch, 1 it lists mismatches, 2 bad period or no
/// such seller, 3 server unreachable, token refused or another server error.
pub async fn run_cod(args: CodArgs) -> i32 {
    super::i18n::init(args.lang);
    // Read here, not by clap, so that a bad day is said in `--lang`'s language.
    let (from, to) = match (day(&args.from), day(&args.to)) {
        (Some(from), Some(to)) => (from, to),
        (from, _) => {
            let flag = if from.is_none() { "--from" } else { "--to" };
            eprintln!("livepack cod: {flag}: {}", t(Msg::BadDay, &[]));
            return EXIT_USAGE;
        }
    };
    if to < from {
        eprintln!("livepack cod: {}", t(Msg::CodPeriod, &[]));
        return EXIT_USAGE;
    }
    // The server's limit (`invalid_period`), told before connecting.
    if (to - from).num_days() + 1 > crate::shipping::cod::MAX_PERIOD_DAYS {
        eprintln!("livepack cod: {}", t(Msg::CodPeriodTooLong, &[]));
        return EXIT_USAGE;
    }
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("livepack cod: {e}");
            return EXIT_SERVER;
        }
    };
    let url = format!(
        "{}/v1/sellers/{}/cod?from={}&to={}",
        http_base(&args.url),
        segment(&args.seller),
        from,
        to
    );
    let req = http.get(url).bearer_auth(&args.token);
    let (status, body) = match super::api::call(req, &http_base(&args.url)).await {
        Ok(answer) => answer,
        Err(msg) => {
            eprintln!("livepack cod: {msg}");
            return EXIT_SERVER;
        }
    };
    if status != 200 {
        let message = body["error"]["message"].as_str().unwrap_or("");
        let code = body["error"]["code"].as_str().unwrap_or("");
        let message = super::i18n::api_error_text(code).unwrap_or_else(|| message.to_owned());
        // A path in --url (`…/v1`): livepack answers, but has no such route.
        let no_route = status == 404 && body["error"]["message"] == "no such route";
        let msg = match status {
            401 => t(Msg::TokenRefused, &[("status", &status)]),
            404 if no_route => super::api::not_found("no such route"),
            // "me" with a token that is no seller's: the operator's.
            404 if args.seller == "me" => t(Msg::CodNameTheSeller, &[]),
            404 => super::api::not_found(&message),
            _ => t(
                Msg::ServerError,
                &[("status", &status), ("message", &message)],
            ),
        };
        eprintln!("livepack cod: {msg}");
        // 1 is kept for a statement listing mismatches: a refusal is never that.
        return match status {
            404 if no_route => EXIT_SERVER,
            400 | 404 => EXIT_USAGE,
            _ => EXIT_SERVER,
        };
    }
    if args.csv {
        match csv(&body) {
            Ok(text) => print!("{text}"),
            Err(e) => {
                eprintln!("livepack cod: {e}");
                return EXIT_SERVER;
            }
        }
    } else {
        print!("{}", table(&body, super::i18n::lang()));
    }
    let mismatches = body["parcels"].as_array().map_or(0, |ps| {
        ps.iter().filter(|p| !p["mismatch"].is_null()).count()
    });
    if mismatches > 0 {
        EXIT_INCOMPLETE
    } else {
        EXIT_OK
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Thousands grouped as the language writes money: dots in Vietnamese ("1.234.000"), commas
/// in English ("1,234,000").
fn dong(v: &Value, lang: Lang) -> String {
    let sep = match lang {
        Lang::Vi => '.',
        Lang::En => ',',
    };
    let s = text(v);
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return s;
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// A status or mismatch as the table's language says it (the API's word in English).
fn word(v: &str, lang: Lang) -> &str {
    if lang == Lang::En {
        return v;
    }
    match v {
        "booked" => "đã đặt",
        "handed_over" => "đã giao hãng",
        "delivered" => "đã giao",
        "returned" => "hoàn về",
        "cancelled_by_carrier" => "hãng đã hủy",
        "amount" => "lệch tiền",
        "paid_not_delivered" => "trả khi chưa giao",
        "unpaid_overdue" => "quá hạn chưa trả",
        other => other,
    }
}

const COLUMNS: [&str; 9] = [
    "parcel_id",
    "tracking",
    "carrier",
    "status",
    "cod_amount",
    "collected",
    "fee",
    "transfer_date",
    "mismatch",
];

fn table(s: &Value, lang: Lang) -> String {
    let say = |m: Msg, args: &[(&str, &dyn std::fmt::Display)]| fill(m.text(lang), args);
    let head = say(Msg::CodColumns, &[]);
    let mut rows: Vec<Vec<String>> = vec![head.split('|').map(str::to_owned).collect()];
    for p in s["parcels"].as_array().into_iter().flatten() {
        rows.push(
            COLUMNS
                .iter()
                .map(|c| match *c {
                    "cod_amount" | "collected" | "fee" => dong(&p[*c], lang),
                    "status" | "mismatch" => word(&text(&p[*c]), lang).to_owned(),
                    _ => text(&p[*c]),
                })
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..COLUMNS.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let (seller, from, to) = (text(&s["seller"]), text(&s["from"]), text(&s["to"]));
    let title = say(
        Msg::CodTitle,
        &[("seller", &seller), ("from", &from), ("to", &to)],
    );
    let mut out = format!("{title}\n\n");
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let pad = w - c.chars().count();
                // Money right-aligned.
                if (4..=6).contains(&i) {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push('\n');
    let totals = say(Msg::CodTotals, &[]);
    let names: Vec<&str> = totals.split('|').collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let unit = match lang {
        Lang::Vi => "đ",
        Lang::En => "VND",
    };
    for (k, name) in ["expected", "collected", "fees", "returned", "net"]
        .iter()
        .zip(&names)
    {
        let pad = " ".repeat(width - name.chars().count());
        out.push_str(&format!("{name}{pad} {:>14} {unit}\n", dong(&s[*k], lang)));
    }
    out
}

/// A `--from`/`--to` day: YYYY-MM-DD.
fn day(s: &str) -> Option<NaiveDate> {
    crate::domain::schedule::parse_day(s.trim())
}

fn csv(s: &Value) -> Result<String, String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let err = |e: ::csv::Error| e.to_string();
    w.write_record(COLUMNS).map_err(err)?;
    for p in s["parcels"].as_array().into_iter().flatten() {
        w.write_record(COLUMNS.iter().map(|c| text(&p[*c])))
            .map_err(err)?;
    }
    // The totals under the columns they add up (`parcel_id` names the row): TOTAL has
    // expected under `cod_amount`, collected and fees under theirs; RETURNED its amount under
    // `cod_amount`; NET (collected − fees) under `collected`.
    let row = |label: &str, at: &[(&str, String)]| -> Vec<String> {
        COLUMNS
            .iter()
            .map(|c| match (*c, at.iter().find(|(k, _)| k == c)) {
                ("parcel_id", _) => label.to_owned(),
                (_, Some((_, v))) => v.clone(),
                _ => String::new(),
            })
            .collect()
    };
    let total = row(
        "TOTAL",
        &[
            ("cod_amount", text(&s["expected"])),
            ("collected", text(&s["collected"])),
            ("fee", text(&s["fees"])),
        ],
    );
    let returned = row("RETURNED", &[("cod_amount", text(&s["returned"]))]);
    let net = row("NET", &[("collected", text(&s["net"]))]);
    for r in [total, returned, net] {
        w.write_record(r).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({"seller": "s1", "from": "2026-12-01", "to": "2026-12-07",
        "expected": "985000", "collected": "975000", "fees": "70000", "returned": "215000",
        "net": "905000",
        "parcels": [
            {"parcel_id": "P-1", "tracking": "1700", "carrier": "viettel-post", "status": "delivered",
             "cod_amount": "585000", "collected": "575000", "fee": "22000",
             "transfer_date": "2026-12-05", "mismatch": "amount"},
            {"parcel_id": "P-2", "tracking": "1701", "carrier": "viettel-post", "status": "handed_over",
             "cod_amount": "400000", "collected": null, "fee": null,
             "transfer_date": null, "mismatch": null}
        ]})
    }

    #[test]
    fn money_is_grouped_by_thousands() {
        assert_eq!(dong(&json!("1234000"), Lang::Vi), "1.234.000");
        assert_eq!(dong(&json!("-905000"), Lang::Vi), "-905.000");
        assert_eq!(dong(&json!("0"), Lang::Vi), "0");
        assert_eq!(dong(&Value::Null, Lang::En), "");
        assert_eq!(dong(&json!("1234000"), Lang::En), "1,234,000");
    }

    #[test]
    fn table_lists_parcels_and_totals() {
        let t = table(&sample(), Lang::En);
        assert!(
            t.starts_with("COD statement of s1 from 2026-12-01 to 2026-12-07"),
            "{t}"
        );
        assert!(t.contains("P-1"), "{t}");
        assert!(t.contains("575,000"), "{t}");
        assert!(t.contains("amount"), "{t}");
        let net = t.lines().find(|l| l.starts_with("net")).unwrap();
        assert!(net.ends_with(" 905,000 VND"), "{t}");
        // In Vietnamese: title, columns and totals (the values as they are).
        let v = table(&sample(), Lang::Vi);
        assert!(v.starts_with("Bảng kê tiền thu hộ (COD) của s1"), "{v}");
        assert!(v.contains("mã kiện") && v.contains("P-1"), "{v}");
        assert!(v.contains("đã giao") && v.contains("lệch tiền"), "{v}");
        assert!(!v.contains("delivered"), "{v}");
        let net = v.lines().find(|l| l.starts_with("thực nhận")).unwrap();
        assert!(net.ends_with(" 905.000 đ"), "{v}");
    }

    #[test]
    fn csv_has_a_row_per_parcel_and_totals() {
        let c = csv(&sample()).unwrap();
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines[0], COLUMNS.join(","));
        assert_eq!(
            lines[1],
            "P-1,1700,viettel-post,delivered,585000,575000,22000,2026-12-05,amount"
        );
        assert_eq!(lines[2], "P-2,1701,viettel-post,handed_over,400000,,,,");
        assert_eq!(lines[3], "TOTAL,,,,985000,975000,70000,,");
        assert_eq!(lines[4], "RETURNED,,,,215000,,,,");
        assert_eq!(lines[5], "NET,,,,,905000,,,");
    }
}
