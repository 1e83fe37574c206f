//! What every handler shares.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::domain::schedule::SiteSchedule;
use crate::shipping::Shipping;
use crate::store::Store;

pub struct Inner {
    pub config: Arc<Config>,
    pub store: Store,
    /// Cancelled when the service starts shutting down.
    pub shutdown: CancellationToken,
    /// Every task the service spawns (connections, planners): waited for on shutdown.
    pub tasks: TaskTracker,
    /// Frames in flight across all connections.
    pub ingest_slots: Arc<Semaphore>,
    /// Orders sent to Redis and not answered yet, across all connections.
    pub order_budget: Arc<Semaphore>,
    /// Each configured seller's share of it (`ingest.seller_inflight_orders`).
    pub seller_order_budgets: HashMap<String, Arc<Semaphore>>,
    pub connections: AtomicUsize,
    /// Open ingest connections per configured seller (`ingest.max_connections_per_seller`).
    pub seller_connections: HashMap<String, AtomicUsize>,
    /// `server.trusted_proxies`, parsed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Shipping's share: carrier clients, booker wake-ups (with the store and config).
    pub shipping: Shipping,
    schedules: HashMap<String, Arc<SiteSchedule>>,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        config: Config,
        store: Store,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        let schedules = config
            .sites
            .iter()
            .map(|s| (s.id.clone(), Arc::new(s.schedule())))
            .collect();
        let slots = Arc::new(Semaphore::new(config.ingest.global_inflight));
        let order_budget = Arc::new(Semaphore::new(config.ingest.global_inflight_orders));
        let seller_order_budgets = config
            .sellers
            .iter()
            .map(|s| {
                let share = Semaphore::new(config.ingest.seller_share());
                (s.id.clone(), Arc::new(share))
            })
            .collect();
        let trusted_proxies = config.server.trusted_networks();
        let seller_connections = config
            .sellers
            .iter()
            .map(|s| (s.id.clone(), AtomicUsize::new(0)))
            .collect();
        let config = Arc::new(config);
        let shipping = Shipping::new(
            config.clone(),
            store.clone(),
            shutdown.clone(),
            tasks.clone(),
        );
        AppState(Arc::new(Inner {
            trusted_proxies,
            shipping,
            config,
            store,
            shutdown,
            tasks,
            ingest_slots: slots,
            order_budget,
            seller_order_budgets,
            connections: AtomicUsize::new(0),
            seller_connections,
            schedules,
        }))
    }

    /// The schedule of a configured site (sellers only name configured sites).
    pub fn schedule(&self, site: &str) -> Arc<SiteSchedule> {
        self.schedules.get(site).cloned().unwrap_or_else(|| {
            Arc::new(SiteSchedule {
                pickups: vec![],
                sla_hours: 24,
                min_pack_minutes: 30,
                same_day_cutoff: None,
            })
        })
    }
}
