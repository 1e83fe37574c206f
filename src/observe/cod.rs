//! Delivered COD still unpaid past the carrier's schedule (`cod_schedule_days` after
//! delivery), per site and carrier: how many parcels and how much money. Labels come from
//! the config (site and carrier ids) only.

use crate::metric_names as names;
use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::shipping::cod::{schedule_days, CodRecord};
use crate::state::AppState;
use crate::store::StoreError;

/// The amount gauge reads at most this many overdue records per carrier and refresh.
const MAX_READ: usize = 5_000;

pub async fn refresh(state: &AppState, site: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let Some(site_cfg) = state.config.site(site) else {
        return Ok(());
    };
    for carrier in &site_cfg.carriers {
        let days = i64::from(schedule_days(&state.shipping, carrier));
        let before = (now - chrono::Duration::days(days)).timestamp_millis();
        let ids = state.store.cod_unpaid_before(site, carrier, before).await?;
        let read = &ids[..ids.len().min(MAX_READ)];
        let amount: Decimal = state
            .store
            .cod_records(site, read)
            .await?
            .iter()
            .filter_map(CodRecord::from_hash)
            .map(|r| r.split().0)
            .sum();
        let labels = [("site", site.to_owned()), ("carrier", carrier.clone())];
        metrics::gauge!(names::COD_UNPAID_OVERDUE_PARCELS, &labels).set(ids.len() as f64);
        metrics::gauge!(names::COD_UNPAID_OVERDUE_VND, &labels).set(amount.to_f64().unwrap_or(0.0));
    }
    Ok(())
}
