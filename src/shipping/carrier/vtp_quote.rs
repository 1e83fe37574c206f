//! Viettel Post's fee quote for one parcel: `POST {base_url}/order/getPrice` (header `Token`)
//! with the sender's and receiver's province/district ids, `PRODUCT_TYPE` "HH",
//! `ORDER_SERVICE`, `ORDER_SERVICE_ADD` "", `PRODUCT_WEIGHT` (g), `PRODUCT_PRICE` (declared
//! value), `MONEY_COLLECTION` (COD), `PRODUCT_QUANTITY` 1, `NATIONAL_TYPE` 1 (domestic) →
//! `data.MONEY_TOTAL` (VND, VAT included). Errors arrive as HTTP 200 with `"error": true`.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::viettelpost::set_ids;
use super::vtp_wire::{clip, is_error, message_of, MAX_TEXT_BYTES};
use super::{BookingRequest, CarrierError, ViettelPost};

impl ViettelPost {
    /// The carrier's total fee for `req` in VND.
    pub async fn quote(&self, req: &BookingRequest) -> Result<Decimal, CarrierError> {
        let whole = |d: Decimal| d.round().max(Decimal::ZERO);
        let mut body = json!({
            "PRODUCT_TYPE": "HH",
            "ORDER_SERVICE": clip(&req.service, MAX_TEXT_BYTES),
            "ORDER_SERVICE_ADD": "",
            "PRODUCT_WEIGHT": req.weight_g,
            "PRODUCT_PRICE": whole(req.value),
            "MONEY_COLLECTION": whole(req.cod),
            "PRODUCT_QUANTITY": 1,
            "NATIONAL_TYPE": 1,
        });
        // Whole numbers on the wire, not decimal strings.
        for k in ["PRODUCT_PRICE", "MONEY_COLLECTION"] {
            let n: i64 = body[k].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
            body[k] = json!(n);
        }
        set_ids(&mut body, "SENDER", self.address_ids(&req.sender).await?);
        set_ids(
            &mut body,
            "RECEIVER",
            self.address_ids(&req.receiver).await?,
        );
        let (token, generation) = self.token().await?;
        match self.get_price(&token, &body).await {
            Err(Auth) => {
                let token = self.relogin(generation).await?;
                self.get_price(&token, &body)
                    .await
                    .map_err(|_| CarrierError::unavailable("Viettel Post refused a fresh token"))?
            }
            Ok(r) => r,
        }
    }

    async fn get_price(
        &self,
        token: &str,
        body: &Value,
    ) -> Result<Result<Decimal, CarrierError>, Auth> {
        let what = "Viettel Post getPrice";
        let http = match self.http() {
            Ok(h) => h,
            Err(e) => return Ok(Err(e)),
        };
        let resp = match http
            .post(self.url("/order/getPrice"))
            .header("Token", token)
            .json(body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Ok(Err(CarrierError::unavailable(format!("{what}: {e}")))),
        };
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(Auth);
        }
        let Ok(bytes) = resp.bytes().await else {
            return Ok(Err(CarrierError::unavailable(format!("{what}: body lost"))));
        };
        let Ok(env) = serde_json::from_slice::<Value>(&bytes) else {
            return Ok(Err(CarrierError::unavailable(format!(
                "{what} answered HTTP {status} without JSON"
            ))));
        };
        if env.get("status").and_then(Value::as_i64) == Some(401) {
            return Err(Auth);
        }
        if !status.is_success() || is_error(&env) {
            let message = message_of(&env);
            return Ok(Err(if status.is_server_error() {
                CarrierError::unavailable(format!("{what} answered HTTP {status}"))
            } else {
                CarrierError::rejected(message)
            }));
        }
        let total = match env.pointer("/data/MONEY_TOTAL") {
            Some(Value::Number(n)) => n.to_string().parse().ok(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        Ok(total.ok_or_else(|| CarrierError::unavailable(format!("{what}: no MONEY_TOTAL"))))
    }
}

/// The token was refused: log in again once.
struct Auth;
