//! What the fake carriers ([`crate::fake_ghn`], [`crate::fake_ghtk`], [`crate::fake_vtp`])
//! share: the server on 127.0.0.1 ([`Served`]), the injected failures ([`Fault`]), the record
//! of create calls ([`CreateCall`]) and the booked orders with their knobs ([`Book`],
//! [`Fake`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::ops::DerefMut;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;

/// One injected failure of a create (or fee) call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The carrier's business refusal, in its own wire format.
    Reject,
    /// HTTP 500, nothing created.
    ServerError,
    /// The order is created but the answer comes only after the fake's `HANG`.
    Hang,
    /// HTTP 200 with an HTML body, nothing created.
    Garbage,
}

/// What the fake did with one create call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Booked(String),
    Duplicate(String),
    Rejected(String),
    AuthFailed,
    ServerError,
    Garbage,
}

#[derive(Debug, Clone)]
pub struct CreateCall {
    pub reference: String,
    pub body: Value,
    pub outcome: Outcome,
}

/// How a create call under `fault` fails outright: HTTP 500, an HTML page, or the carrier's
/// refusal `refuse(why)`. `None` when it goes on (no fault, or a hang: created, answered late).
pub fn failed(
    fault: Option<Fault>,
    why: &str,
    refuse: fn(&str) -> Response,
) -> Option<(Outcome, Response)> {
    match fault? {
        Fault::ServerError => {
            let r = (StatusCode::INTERNAL_SERVER_ERROR, "upstream error").into_response();
            Some((Outcome::ServerError, r))
        }
        Fault::Garbage => {
            let r = (StatusCode::OK, "<html><body>502 Bad Gateway</body></html>").into_response();
            Some((Outcome::Garbage, r))
        }
        Fault::Reject => Some((Outcome::Rejected(why.into()), refuse(why))),
        Fault::Hang => None,
    }
}

/// Runs one create call: `decide` answers it (with how long to wait first: a hang), and the
/// call is recorded with its outcome.
pub async fn create<I: DerefMut<Target = Book>>(
    state: &Mutex<I>,
    reference: String,
    body: Value,
    decide: impl FnOnce(&mut Book, &str, &Value) -> (Outcome, Response, Duration),
) -> Response {
    let (answer, wait) = {
        let mut s = lock(state);
        let (outcome, answer, wait) = decide(&mut s, &reference, &body);
        s.calls.push(CreateCall {
            reference,
            body,
            outcome,
        });
        (answer, wait)
    };
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    answer
}

/// Counts a fee call and plays its queued fault: `Err` with the answer when it fails (HTTP
/// 500, an HTML page, the refusal `refuse(why)`); a hang waits `hang`, then goes on.
pub async fn fee_call<I: DerefMut<Target = Book>>(
    state: &Mutex<I>,
    why: &str,
    refuse: fn(&str) -> Response,
    hang: Duration,
) -> Result<(), Response> {
    let fault = {
        let mut s = lock(state);
        s.fee_calls += 1;
        s.fee_faults.pop_front()
    };
    match fault {
        Some(Fault::ServerError) => {
            Err((StatusCode::INTERNAL_SERVER_ERROR, "upstream error").into_response())
        }
        Some(Fault::Garbage) => Err((StatusCode::OK, "<html></html>").into_response()),
        Some(Fault::Reject) => Err(refuse(why)),
        Some(Fault::Hang) => {
            tokio::time::sleep(hang).await;
            Ok(())
        }
        None => Ok(()),
    }
}

/// A poisoned lock still hands out its state: a panicking handler must not hide the record.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A router served on 127.0.0.1 (a free port); the server stops when this is dropped.
pub struct Served {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app` on 127.0.0.1; `name` is for the panic message.
pub async fn serve(app: Router, name: &str) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind {name}: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{name} address: {e}"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Served { addr, task }
}

/// The orders a fake carrier has booked, its queued faults, prices and calls.
#[derive(Default)]
pub struct Book {
    /// Reference → (tracking code, create body) of every order created for it.
    pub orders: HashMap<String, Vec<(String, Value)>>,
    pub next: u64,
    pub faults_by_ref: HashMap<String, VecDeque<Fault>>,
    pub faults_next: VecDeque<Fault>,
    pub fee_faults: VecDeque<Fault>,
    pub calls: Vec<CreateCall>,
    pub fee_calls: usize,
    /// Province (trimmed, lower case) → (first 500 g, each further started 500 g).
    pub prices: HashMap<String, (i64, i64)>,
    pub picked: HashSet<String>,
    pub cancelled: HashSet<String>,
}

impl Book {
    /// The fault queued for the next create call of `reference`, if any.
    pub fn take_fault(&mut self, reference: &str) -> Option<Fault> {
        self.faults_by_ref
            .get_mut(reference)
            .and_then(VecDeque::pop_front)
            .or_else(|| self.faults_next.pop_front())
    }

    /// Whether an order with this tracking code was created.
    pub fn knows(&self, code: &str) -> bool {
        self.orders.values().flatten().any(|(c, _)| c == code)
    }

    /// The fee of `grams` to `province`: 30 000 + 5 000 a further 500 g unless priced.
    pub fn price(&self, province: &str, grams: i64) -> i64 {
        let (first, step) = self
            .prices
            .get(&province.trim().to_lowercase())
            .copied()
            .unwrap_or((30_000, 5_000));
        first + step * (((grams - 500).max(0) + 499) / 500)
    }
}

/// A fake carrier's server and state `I` (its [`Book`] and whatever else it keeps), with the
/// knobs every fake has. A fake wraps it and dereferences to it.
pub struct Fake<I> {
    served: Served,
    state: Arc<Mutex<I>>,
}

impl<I> Fake<I>
where
    I: DerefMut<Target = Book> + Default + Send + 'static,
{
    /// Serves `routes` (with a fresh state) on 127.0.0.1.
    pub async fn start(routes: Router<Arc<Mutex<I>>>, name: &str) -> Fake<I> {
        let state = Arc::new(Mutex::new(I::default()));
        let served = serve(routes.with_state(state.clone()), name).await;
        Fake { served, state }
    }

    pub fn addr(&self) -> SocketAddr {
        self.served.addr
    }

    pub fn lock(&self) -> MutexGuard<'_, I> {
        lock(&self.state)
    }

    /// Parcels to `province` cost `first` for 500 g and `step` per further 500 g.
    pub fn set_price(&self, province: &str, first: i64, step: i64) {
        self.lock()
            .prices
            .insert(province.trim().to_lowercase(), (first, step));
    }

    /// The first `n` create calls for `reference` fail with `fault`.
    pub fn fault_first(&self, reference: &str, fault: Fault, n: usize) {
        let mut s = self.lock();
        let q = s.faults_by_ref.entry(reference.to_owned()).or_default();
        q.extend(std::iter::repeat_n(fault, n));
    }

    /// The next `n` create calls (whatever their reference) fail with `fault`.
    pub fn fault_next(&self, fault: Fault, n: usize) {
        self.lock()
            .faults_next
            .extend(std::iter::repeat_n(fault, n));
    }

    /// The next `n` fee calls fail with `fault`.
    pub fn fail_fees(&self, fault: Fault, n: usize) {
        self.lock().fee_faults.extend(std::iter::repeat_n(fault, n));
    }

    /// The order `code` has been picked up: the carrier no longer cancels it.
    pub fn mark_picked(&self, code: &str) {
        self.lock().picked.insert(code.to_owned());
    }

    pub fn calls(&self) -> Vec<CreateCall> {
        self.lock().calls.clone()
    }

    pub fn fee_calls(&self) -> usize {
        self.lock().fee_calls
    }

    pub fn is_cancelled(&self, code: &str) -> bool {
        self.lock().cancelled.contains(code)
    }

    /// Orders created for `reference`: 1 when booked exactly once.
    pub fn created_count(&self, reference: &str) -> usize {
        self.lock().orders.get(reference).map_or(0, Vec::len)
    }

    /// Reference → orders created.
    pub fn created_counts(&self) -> HashMap<String, usize> {
        let s = self.lock();
        s.orders.iter().map(|(r, o)| (r.clone(), o.len())).collect()
    }

    /// The tracking code of the (first) order created for `reference`.
    pub fn tracking_code(&self, reference: &str) -> Option<String> {
        self.lock()
            .orders
            .get(reference)?
            .first()
            .map(|o| o.0.clone())
    }

    /// The create body of the (first) order created for `reference`.
    pub fn order_body(&self, reference: &str) -> Option<Value> {
        self.lock()
            .orders
            .get(reference)?
            .first()
            .map(|o| o.1.clone())
    }
}

/// For a fake `$fake(Fake<$inner>)` whose state `$inner` has a field `book: Book`: the fake
/// dereferences to its [`Fake`] (the shared knobs), the state to its [`Book`].
macro_rules! fake_deref {
    ($fake:ident, $inner:ident) => {
        impl std::ops::Deref for $inner {
            type Target = $crate::fake_carrier::Book;
            fn deref(&self) -> &$crate::fake_carrier::Book {
                &self.book
            }
        }

        impl std::ops::DerefMut for $inner {
            fn deref_mut(&mut self) -> &mut $crate::fake_carrier::Book {
                &mut self.book
            }
        }

        impl std::ops::Deref for $fake {
            type Target = $crate::fake_carrier::Fake<$inner>;
            fn deref(&self) -> &$crate::fake_carrier::Fake<$inner> {
                &self.0
            }
        }
    };
}
pub(crate) use fake_deref;
