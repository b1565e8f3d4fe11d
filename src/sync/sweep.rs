//! The periodic sweep: re-checks every subscription whose AURA coverage ends within the
//! margin, so a webhook that never arrived cannot switch a paid customer's panic button off.

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::SyncContext;
use crate::store::{SYNC_SUBSCRIPTION, now_ms};

pub async fn run(
    ctx: SyncContext,
    every: Duration,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        match sweep_once(&ctx).await {
            Ok(0) => {}
            Ok(n) => {
                info!(
                    subscriptions = n,
                    "sweep enqueued syncs for coverage ending soon"
                );
                wake.notify_waiters();
            }
            Err(e) => warn!(error = %e, "sweep failed; next one in {every:?}"),
        }
    }
}

/// Enqueues a sync for each subscription whose coverage ends within the margin.
pub async fn sweep_once(ctx: &SyncContext) -> Result<usize, sqlx::Error> {
    let horizon = now_ms() + ctx.coverage_margin.as_millis() as i64;
    let due = ctx.store.subscriptions_ending_before(horizon).await?;
    for id in &due {
        ctx.store.enqueue_job(SYNC_SUBSCRIPTION, id).await?;
    }
    Ok(due.len())
}
