//! `livepack cancel` and `livepack session` over the HTTP API (contract §2).

use std::time::Duration;

use serde_json::Value;

use super::{
    http_base, segment, CancelArgs, SessionArgs, EXIT_INCOMPLETE, EXIT_OK, EXIT_SERVER, EXIT_USAGE,
};

fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| e.to_string())
}

/// A failed request as an exit code and a message.
fn failure(status: u16, body: &Value) -> (i32, String) {
    let msg = body["error"]["message"]
        .as_str()
        .or_else(|| body["error"]["code"].as_str())
        .unwrap_or("")
        .to_owned();
    match status {
        401 => (EXIT_SERVER, "the server refused the token (401)".into()),
        400 | 422 => (EXIT_USAGE, format!("refused ({status}): {msg}")),
        404 => (EXIT_INCOMPLETE, format!("not found: {msg}")),
        _ => (EXIT_SERVER, format!("HTTP {status}: {msg}")),
    }
}

async fn call(req: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
    let resp = req
        .send()
        .await
        .map_err(|e| format!("cannot reach the service: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, body))
}

pub async fn run_cancel(args: CancelArgs) -> i32 {
    let http = match client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("livepack cancel: {e}");
            return EXIT_SERVER;
        }
    };
    let url = format!(
        "{}/v1/orders/{}/cancel",
        http_base(&args.url),
        segment(&args.order_id)
    );
    let mut req = http.post(url).bearer_auth(&args.token);
    req = match &args.reason {
        Some(r) => req.json(&serde_json::json!({ "reason": r })),
        None => req.json(&serde_json::json!({})),
    };
    match call(req).await {
        Err(e) => {
            eprintln!("livepack cancel: {e}");
            EXIT_SERVER
        }
        Ok((200, body)) => {
            let status = body["status"].as_str().unwrap_or("?");
            println!("{}: {status}", args.order_id);
            match status {
                "cancelled" => EXIT_OK,
                "too_late" => {
                    eprintln!("already handed to the carrier: it cannot be cancelled here");
                    EXIT_INCOMPLETE
                }
                _ => EXIT_INCOMPLETE,
            }
        }
        Ok((status, body)) => {
            let (code, msg) = failure(status, &body);
            eprintln!("livepack cancel: {msg}");
            code
        }
    }
}

pub async fn run_session(args: SessionArgs) -> i32 {
    let http = match client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("livepack session: {e}");
            return EXIT_SERVER;
        }
    };
    let base = http_base(&args.url);
    let url = format!("{base}/v1/sessions/{}", segment(&args.label));
    let session = match call(http.get(url).bearer_auth(&args.token)).await {
        Err(e) => {
            eprintln!("livepack session: {e}");
            return EXIT_SERVER;
        }
        Ok((200, body)) => body,
        Ok((status, body)) => {
            let (code, msg) = failure(status, &body);
            eprintln!("livepack session {}: {msg}", args.label);
            return code;
        }
    };
    let site = args
        .site
        .clone()
        .or_else(|| session["site"].as_str().map(str::to_owned));
    let at_risk = match &site {
        None => Err("pass --site to see orders at risk".to_owned()),
        Some(site) => {
            let url = format!("{base}/v1/sites/{}/outlook", segment(site));
            match call(http.get(url).bearer_auth(&args.token)).await {
                Ok((200, outlook)) => Ok(at_risk_of(&outlook, session["seller"].as_str())),
                Ok((status, body)) => Err(format!(
                    "outlook not readable: {}",
                    failure(status, &body).1
                )),
                Err(e) => Err(e),
            }
        }
    };
    if args.json {
        let mut out = session.clone();
        if let Ok(list) = &at_risk {
            out["at_risk"] = Value::Array(list.clone());
        }
        println!("{out}");
        return EXIT_OK;
    }
    print!("{}", render(&session, &at_risk));
    EXIT_OK
}

/// The seller's entries of the site's at-risk list (the outlook covers the whole site).
fn at_risk_of(outlook: &Value, seller: Option<&str>) -> Vec<Value> {
    outlook["at_risk"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| seller.is_none() || r["id"]["seller"].as_str() == seller)
        .cloned()
        .collect()
}

fn render(session: &Value, at_risk: &Result<Vec<Value>, String>) -> String {
    let n = |k: &str| session[k].as_u64().unwrap_or(0);
    let mut s = format!(
        "session {} ({}, seller {})\n",
        session["label"].as_str().unwrap_or("?"),
        session["state"].as_str().unwrap_or("?"),
        session["seller"].as_str().unwrap_or("?")
    );
    for k in ["accepted", "duplicate", "rejected", "waved", "packed"] {
        s.push_str(&format!("  {k:<10}{:>8}\n", n(k)));
    }
    match at_risk {
        Ok(list) => {
            s.push_str(&format!("  {:<10}{:>8}\n", "at risk", list.len()));
            for r in list {
                s.push_str(&format!(
                    "    {}  {}  pickup {}  deadline {}\n",
                    r["id"]["order_id"].as_str().unwrap_or("?"),
                    r["reason"].as_str().unwrap_or("?"),
                    r["pickup_at"].as_str().unwrap_or("?"),
                    r["deadline"].as_str().unwrap_or("?")
                ));
            }
        }
        Err(why) => s.push_str(&format!("  {:<10}{:>8}   ({why})\n", "at risk", "?")),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn session_table_with_the_sellers_at_risk_orders() {
        let session = json!({"label":"live-1","seller":"a","state":"live","accepted":3,
            "duplicate":1,"rejected":0,"waved":2,"packed":1});
        let outlook = json!({"at_risk":[
            {"id":{"seller":"a","order_id":"TT-1"},"reason":"not_enough_capacity",
             "pickup_at":"2026-11-22T10:00:00Z","deadline":"2026-11-22T13:00:00Z"},
            {"id":{"seller":"b","order_id":"X"},"reason":"x","pickup_at":"","deadline":""}]});
        let list = at_risk_of(&outlook, Some("a"));
        assert_eq!(list.len(), 1);
        let s = render(&session, &Ok(list));
        assert!(s.contains("accepted         3"), "{s}");
        assert!(s.contains("at risk          1"), "{s}");
        assert!(s.contains("TT-1  not_enough_capacity"), "{s}");
        let s = render(&session, &Err("pass --site".into()));
        assert!(s.contains("(pass --site"), "{s}");
    }
}
