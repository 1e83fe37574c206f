//! Same-day packing waves: the pure planning core ([`core`]) and, around it, the
//! per-site planner task that keeps pending state in Redis ([`shell`]).

mod commit;
pub mod core;
mod intake;
pub mod limits;
pub mod outlook;
pub mod pending;
mod released;
pub mod repack;
pub mod shell;

use crate::state::AppState;

/// Starts one planner task per configured site, tracked for shutdown.
pub fn spawn_all(state: &AppState, holder: &str) {
    for site in &state.config.sites {
        let planner =
            shell::SitePlanner::new(state.store.clone(), &state.config, site, holder.to_owned());
        let shutdown = state.shutdown.clone();
        state.tasks.spawn(planner.run(shutdown));
    }
}
