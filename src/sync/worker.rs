//! The job worker: claims due jobs from the store, runs them, and records the outcome:
//! done (row deleted), retry later (capped exponential backoff with jitter), or dead (kept,
//! visible to operators, retryable by them). Nothing is held in memory between jobs.

use std::{sync::Arc, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::{SyncContext, SyncError, sync_subscription};
use crate::store::{Backend, ClaimedJob, NOTIFY_CHANNEL, SYNC_SUBSCRIPTION, now_ms};

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Concurrent jobs per process.
    pub concurrency: usize,
    /// How long a claimed job is held; a job whose worker died is claimable after this.
    pub lease: Duration,
    /// A job running longer than this is abandoned (and retried); shorter than the lease.
    pub job_timeout: Duration,
    /// How often an idle worker looks for due jobs without being woken.
    pub poll: Duration,
    pub max_attempts: u32,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            lease: Duration::from_secs(90),
            job_timeout: Duration::from_secs(60),
            poll: Duration::from_millis(500),
            max_attempts: 12,
            min_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(600),
        }
    }
}

#[derive(Clone)]
pub struct Worker {
    ctx: SyncContext,
    options: WorkerOptions,
    wake: Arc<Notify>,
    id: String,
}

impl Worker {
    pub fn new(ctx: SyncContext, options: WorkerOptions, wake: Arc<Notify>) -> Self {
        let id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Self {
            ctx,
            options,
            wake,
            id,
        }
    }

    /// Runs until `shutdown` is cancelled; a job in progress is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        if self.ctx.store.backend() == Backend::Postgres {
            tokio::spawn(listen_for_jobs(
                self.ctx.store.clone(),
                self.wake.clone(),
                shutdown.clone(),
            ));
        }
        let mut tasks = tokio::task::JoinSet::new();
        for slot in 0..self.options.concurrency {
            let worker = Worker {
                id: format!("{}-{slot}", self.id),
                ..self.clone()
            };
            tasks.spawn(worker.run_slot(shutdown.clone()));
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn run_slot(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            match self
                .ctx
                .store
                .claim_job(&self.id, self.options.lease.as_millis() as i64)
                .await
            {
                Ok(Some(job)) => {
                    // There may be more: pass the wake-up on to one idle slot (rather than
                    // waking them all for every job).
                    self.wake.notify_one();
                    self.run_job(job).await
                }
                Ok(None) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(self.options.poll) => {}
                        _ = shutdown.cancelled() => {}
                    }
                }
                Err(e) => {
                    error!(error = %e, "could not claim a job");
                    tokio::time::sleep(self.options.poll).await;
                }
            }
        }
    }

    /// Runs one claimed job to one of its three ends. Public so tests and the CLI can drive
    /// the queue step by step.
    pub async fn run_job(&self, job: ClaimedJob) {
        let result = match job.kind.as_str() {
            SYNC_SUBSCRIPTION => match tokio::time::timeout(
                self.options.job_timeout,
                sync_subscription(&self.ctx, &job.key),
            )
            .await
            {
                Ok(result) => result.map(drop),
                Err(_) => Err(SyncError::Retryable("timed out".into())),
            },
            other => Err(SyncError::Permanent(format!("unknown job kind {other}"))),
        };
        if let Err(e) = self.finish(&job, result).await {
            error!(job = job.id, error = %e, "could not record a job's outcome; its lease will run out and it will run again");
        }
    }

    async fn finish(
        &self,
        job: &ClaimedJob,
        result: Result<(), SyncError>,
    ) -> Result<(), sqlx::Error> {
        let store = &self.ctx.store;
        match result {
            Ok(()) => {
                crate::metrics::sync_job("done");
                store.complete_job(job, &self.id).await
            }
            Err(SyncError::Retryable(why)) if (job.attempts as u32) < self.options.max_attempts => {
                let delay = self.backoff(job.attempts as usize);
                warn!(job = job.id, attempts = job.attempts, retry_in_ms = delay.as_millis() as u64, error = %why, "sync failed; will retry");
                crate::metrics::sync_job("retry");
                store
                    .fail_job(
                        job,
                        &self.id,
                        &why,
                        Some(now_ms() + delay.as_millis() as i64),
                    )
                    .await
            }
            Err(e) => {
                error!(job = job.id, attempts = job.attempts, error = %e, "sync failed; parked as dead for an operator");
                crate::metrics::sync_job("dead");
                store.fail_job(job, &self.id, &e.to_string(), None).await
            }
        }
    }

    /// The delay before attempt `attempts + 1`: exponential from `min_backoff`, capped at
    /// `max_backoff`, with jitter so a recovering AURA is not hit by every job at once.
    fn backoff(&self, attempts: usize) -> Duration {
        ExponentialBuilder::default()
            .with_min_delay(self.options.min_backoff)
            .with_max_delay(self.options.max_backoff)
            .with_jitter()
            .without_max_times()
            .build()
            .nth(attempts.saturating_sub(1))
            .unwrap_or(self.options.max_backoff)
    }
}

/// Wakes idle workers as soon as a job is enqueued anywhere (any replica), via Postgres
/// `LISTEN/NOTIFY`. Polling stays as the fallback, so a lost connection only slows things.
async fn listen_for_jobs(
    store: crate::store::Store,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        let mut listener = match store.listener().await {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, "LISTEN failed; polling only, retrying in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(NOTIFY_CHANNEL).await {
            warn!(error = %e, "LISTEN failed");
            continue;
        }
        info!("listening for new jobs");
        loop {
            tokio::select! {
                n = listener.recv() => match n {
                    Ok(_) => wake.notify_one(),
                    Err(e) => { warn!(error = %e, "job notifications lost; reconnecting"); break; }
                },
                _ = shutdown.cancelled() => return,
            }
        }
    }
}
