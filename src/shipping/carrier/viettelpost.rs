//! Viettel Post partner API (`https://partner.viettelpost.vn/v2`): token login and create order.
//!
//! Sources read to learn the wire format (public documentation and client code; nothing copied):
//! - "Tài liệu kết nối API Viettelpost" (the partner API guide, public copy):
//!   https://docx.com.vn/tai-lieu/tai-lieu-ket-noi-api-tmdt-mon-cong-nghe-thong-tin-truong-dai-hoc-van-h-170574
//!   (errors answer `error: true` + `message`; swagger at
//!   https://partnerdev.viettelpost.vn/v2/swagger-ui.html)
//! - https://github.com/Odoo-Tangerine/delivery_viettelpost_integrate — routes
//!   (`/v2/user/Login`, `/v2/order/createOrder`), `ORDER_PAYMENT` 1–4, create-order fields and
//!   answer (`ORDER_NUMBER`, `MONEY_TOTAL`, …), webhook `DATA` fields, status code table
//!   (`data/viettelpost_status_data.xml`).
//! - https://github.com/tringuyenduc2903/ViettelPost-Laravel — `src/Enums/OrderType.php`
//!   (1 no collection, 2 goods + fee, 3 goods only, 4 fee only).
//! - https://github.com/itvn9online/echbay-viettelpost-woocommerce — `Token` header, re-login
//!   when an answer carries `status: 401`.
//! - A public PHP client's field table (partner API guide transcribed): PRODUCT_* "Long" units
//!   (grams, VND), 150-byte limits on addresses and description, `CHECK_UNIQUE` ("check the
//!   order number for duplicates").
//! - A public Go client (etop.vn backend, `vtpost/client`): `CallbackOrder {DATA, TOKEN}`,
//!   `LOCALION_CURRENTLY` (sic), and a status grouping (cancelled 101/107/201/503, picked 105,
//!   transit 200–400, delivering 500/506–509/550, returning 502/515, returned 504, delivered 501).
//!
//! Addresses also go as ids (`SENDER_/RECEIVER_PROVINCE`, `_DISTRICT`, `_WARD`, see
//! `vtp_category.rs`); the token is the long-lived one (`/user/Login`, then
//! `/user/ownerconnect`); the fee quote is `vtp_quote.rs`.
//!
//! What we send to `POST {base_url}/order/createOrder` (header `Token`):
//! `ORDER_NUMBER` (our parcel id), `SENDER_FULLNAME`, `SENDER_PHONE`, `SENDER_ADDRESS`,
//! `RECEIVER_FULLNAME`, `RECEIVER_PHONE`, `RECEIVER_ADDRESS` (full text "street, ward,
//! province", ≤ 150 bytes), `PRODUCT_NAME`, `PRODUCT_DESCRIPTION`, `PRODUCT_QUANTITY`,
//! `PRODUCT_PRICE` (declared value, VND), `PRODUCT_WEIGHT` (gross grams), `PRODUCT_TYPE` "HH",
//! `ORDER_PAYMENT`, `ORDER_SERVICE`, `ORDER_SERVICE_ADD` "", `ORDER_NOTE`, `MONEY_COLLECTION`,
//! `CHECK_UNIQUE` true, `LIST_ITEM` [{`PRODUCT_NAME`, `PRODUCT_PRICE` (per unit),
//! `PRODUCT_WEIGHT` (per unit, g), `PRODUCT_QUANTITY`}]. Fees (`MONEY_TOTAL`, `MONEY_FEECOD`, …)
//! are computed by Viettel Post and read from the answer, never sent.
//!
//! `ORDER_PAYMENT`: 3 ("collect the goods money only") when there is COD, 1 ("collect nothing")
//! when prepaid. `MONEY_COLLECTION` is exactly the parcel's COD, which already holds whatever
//! the buyer owes (the shipping the platform charged included); Viettel Post bills its own fee to
//! the sender and nets it off the COD remittance. Type 2 would add Viettel Post's fee on top and
//! charge the buyer twice for shipping; a consolidated parcel's fee is not per order anyway.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::vtp_wire::{classify, is_error, message_of, order_body, Attempt};
use super::{Booking, BookingRequest, Carrier, CarrierError};
use crate::config::Secret;

/// The carrier's own label (its printing API): `vtp_print.rs`.
#[path = "vtp_print.rs"]
mod print;

/// TCP + TLS connect limit.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole request limit (connect, send, answer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A Viettel Post partner account. Cheap to clone; clones share the token cache.
#[derive(Clone)]
pub struct ViettelPost {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    base_url: String,
    username: String,
    password: Secret,
    http: Result<reqwest::Client, String>,
    token: tokio::sync::Mutex<TokenState>,
    /// Province/district/ward lists (see `vtp_category.rs`).
    pub(super) categories: tokio::sync::Mutex<super::vtp_category::CategoryCache>,
}

#[derive(Default)]
struct TokenState {
    token: Option<String>,
    /// Bumped at every login, so concurrent callers that all saw the same expired token
    /// log in once between them.
    generation: u64,
}

impl std::fmt::Debug for ViettelPost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViettelPost")
            .field("base_url", &self.inner.base_url)
            .field("username", &self.inner.username)
            .finish_non_exhaustive()
    }
}

impl ViettelPost {
    /// `base_url` as configured, e.g. `https://partner.viettelpost.vn/v2`.
    pub fn new(base_url: &str, username: &str, password: Secret) -> Self {
        Self::with_timeouts(
            base_url,
            username,
            password,
            CONNECT_TIMEOUT,
            REQUEST_TIMEOUT,
        )
    }

    /// As [`ViettelPost::new`] with other time limits (tests use short ones).
    pub fn with_timeouts(
        base_url: &str,
        username: &str,
        password: Secret,
        connect: Duration,
        request: Duration,
    ) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(request)
            .user_agent(concat!("livepack/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client could not be built: {e}"));
        ViettelPost {
            inner: Arc::new(Inner {
                base_url: base_url.trim_end_matches('/').to_owned(),
                username: username.to_owned(),
                password,
                http,
                token: tokio::sync::Mutex::new(TokenState::default()),
                categories: tokio::sync::Mutex::new(Default::default()),
            }),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// Books one parcel: logs in if no token is cached, sends `createOrder`, and on an auth
    /// error logs in again and retries once.
    pub async fn book(&self, req: &BookingRequest) -> Result<Booking, CarrierError> {
        let mut body = order_body(req)?;
        let sender = self.address_ids(&req.sender).await?;
        let receiver = self.address_ids(&req.receiver).await?;
        set_ids(&mut body, "SENDER", sender);
        set_ids(&mut body, "RECEIVER", receiver);
        let (token, generation) = self.token().await?;
        let result = match self.create_order(&token, &body, &req.reference).await {
            Err(Attempt::AuthExpired(first)) => {
                tracing::info!(reference = %req.reference, message = %first, "viettel post token refused; logging in again");
                let token = self.relogin(generation).await?;
                match self.create_order(&token, &body, &req.reference).await {
                    Err(Attempt::AuthExpired(message)) => Err(CarrierError::unavailable(format!(
                        "Viettel Post refused a fresh token: {message}"
                    ))),
                    Err(Attempt::Failed(e)) => Err(e),
                    Ok(b) => Ok(b),
                }
            }
            Err(Attempt::Failed(e)) => Err(e),
            Ok(b) => Ok(b),
        };
        if let Err(e) = &result {
            // No carrier text in logs: it may echo the receiver's address or phone.
            tracing::warn!(reference = %req.reference, retryable = e.retryable(), "viettel post booking failed");
        }
        result
    }

    pub(super) fn http(&self) -> Result<&reqwest::Client, CarrierError> {
        self.inner
            .http
            .as_ref()
            .map_err(|e| CarrierError::unavailable(e.clone()))
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base_url)
    }

    /// The cached token, logging in first if there is none.
    pub(super) async fn token(&self) -> Result<(String, u64), CarrierError> {
        let mut state = self.inner.token.lock().await;
        if let Some(t) = &state.token {
            return Ok((t.clone(), state.generation));
        }
        let t = self.login().await?;
        state.token = Some(t.clone());
        state.generation += 1;
        Ok((t, state.generation))
    }

    /// A new token, unless another caller already replaced the one `stale` refers to.
    pub(super) async fn relogin(&self, stale: u64) -> Result<String, CarrierError> {
        let mut state = self.inner.token.lock().await;
        if state.generation != stale {
            if let Some(t) = &state.token {
                return Ok(t.clone());
            }
        }
        state.token = None;
        let t = self.login().await?;
        state.token = Some(t.clone());
        state.generation += 1;
        Ok(t)
    }

    /// The partner account's long-lived token: `/user/Login` gives a temporary token, which
    /// `/user/ownerconnect` (header `Token`) exchanges for the long-lived one.
    async fn login(&self) -> Result<String, CarrierError> {
        let temporary = self.login_call("/user/Login", None).await?;
        self.login_call("/user/ownerconnect", Some(&temporary))
            .await
    }

    async fn login_call(&self, path: &str, token: Option<&str>) -> Result<String, CarrierError> {
        let body = json!({
            "USERNAME": self.inner.username,
            "PASSWORD": self.inner.password.expose(),
        });
        let mut request = self.http()?.post(self.url(path)).json(&body);
        if let Some(t) = token {
            request = request.header("Token", t);
        }
        let resp = request
            .send()
            .await
            .map_err(|e| transport_error("login", &e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error("login", &e))?;
        if status.is_server_error() {
            return Err(CarrierError::unavailable(format!(
                "Viettel Post login answered HTTP {status}"
            )));
        }
        let env: Value = serde_json::from_slice(&bytes).map_err(|_| {
            CarrierError::unavailable(format!(
                "Viettel Post login answered HTTP {status} without JSON"
            ))
        })?;
        if is_error(&env) || !status.is_success() {
            return Err(CarrierError::unavailable(format!(
                "Viettel Post login refused (check username/password): {}",
                message_of(&env)
            )));
        }
        env.pointer("/data/token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| CarrierError::unavailable("Viettel Post login answered without a token"))
    }

    async fn create_order(
        &self,
        token: &str,
        body: &Value,
        reference: &str,
    ) -> Result<Booking, Attempt> {
        let http = self.http().map_err(Attempt::Failed)?;
        let resp = http
            .post(self.url("/order/createOrder"))
            .header("Token", token)
            .json(body)
            .send()
            .await
            .map_err(|e| Attempt::Failed(transport_error("createOrder", &e)))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Attempt::Failed(transport_error("createOrder", &e)))?;
        classify(status, &bytes, reference)
    }
}

impl Carrier for ViettelPost {
    fn book(
        &self,
        req: &BookingRequest,
    ) -> impl std::future::Future<Output = Result<Booking, CarrierError>> + Send {
        ViettelPost::book(self, req)
    }

    fn cancel(
        &self,
        tracking: &str,
        note: &str,
    ) -> impl std::future::Future<Output = Result<(), CarrierError>> + Send {
        ViettelPost::cancel(self, tracking, note)
    }
}

fn transport_error(call: &str, e: &reqwest::Error) -> CarrierError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    CarrierError::unavailable(format!("Viettel Post {call} {what}: {e}"))
}

// Cancelling a carrier order (`UpdateOrder` TYPE 4): its own file, a child module so it shares
// the token cache.
#[path = "vtp_cancel.rs"]
mod vtp_cancel;
/// Puts an address's ids into a createOrder / getPrice body (`SENDER_PROVINCE`, …).
pub(super) fn set_ids(body: &mut Value, who: &str, ids: super::vtp_category::AddressIds) {
    body[format!("{who}_PROVINCE")] = json!(ids.province);
    body[format!("{who}_DISTRICT")] = json!(ids.district);
    body[format!("{who}_WARD")] = json!(ids.ward);
}
