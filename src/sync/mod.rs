//! Converging AURA to the gateway: the durable job worker ([`worker`]), the one job it runs
//! ([`subscription`]) and the pure decision inside it ([`decide`]).

pub mod decide;
pub mod subscription;
pub mod sweep;
pub mod worker;

use std::{sync::Arc, time::Duration};

use crate::{aura::AuraClient, config::PlanConfig, gateway::Gateway, store::Store};

pub use subscription::{SyncError, sync_subscription};
pub use worker::{Worker, WorkerOptions};

/// Everything a sync needs; cheap to clone.
#[derive(Clone)]
pub struct SyncContext {
    pub store: Store,
    pub gateway: Gateway,
    pub aura: AuraClient,
    pub plans: Arc<Vec<PlanConfig>>,
    pub coverage_margin: Duration,
}
