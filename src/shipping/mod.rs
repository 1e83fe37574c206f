//! Parcels, shipments and carriers.

pub mod booker;
pub mod cancel;
pub mod carrier;
pub mod choice;
pub mod cod;
pub mod consolidate;
pub mod handover;
pub mod label;
pub mod labeling;
pub mod quotes;
pub mod service;

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::store::Store;

/// Carrier price tables and cost rules are plain data and rules: they live in `domain`.
pub use crate::domain::rates;

/// What shipping's tasks and handlers share: the store, the configuration, one client per
/// carrier and the bookers' wake-ups. `AppState` holds one; shipping never sees `AppState`.
#[derive(Clone)]
pub struct Shipping(Arc<ShippingInner>);

pub struct ShippingInner {
    pub config: Arc<Config>,
    pub store: Store,
    /// Carrier clients by `[[carriers]]` id.
    pub carriers: HashMap<String, carrier::CarrierClient>,
    /// Wakes each site's background booker at once after a booking request.
    pub booker_wake: booker::Wakers,
    /// Cancelled when the service starts shutting down.
    pub shutdown: CancellationToken,
    /// The service's tasks (bookers), waited for on shutdown.
    pub tasks: TaskTracker,
}

impl Deref for Shipping {
    type Target = ShippingInner;
    fn deref(&self) -> &ShippingInner {
        &self.0
    }
}

impl Shipping {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        let carriers = config
            .carriers
            .iter()
            .map(|c| (c.id.clone(), carrier::CarrierClient::from_config(c)))
            .collect();
        let booker_wake = booker::Wakers::new(&config);
        Shipping(Arc::new(ShippingInner {
            config,
            store,
            carriers,
            booker_wake,
            shutdown,
            tasks,
        }))
    }
}
