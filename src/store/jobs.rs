use sqlx::{Any, Row, Transaction};

use super::{Backend, Store, StoreResult, now_ms};

/// The one kind of job so far: converge the AURA subscription of one gateway subscription.
pub const SYNC_SUBSCRIPTION: &str = "sync_subscription";

/// The Postgres channel workers listen on; a NOTIFY is sent in the enqueueing transaction.
pub const NOTIFY_CHANNEL: &str = "aura_signup_jobs";

/// A job a worker holds until `locked_until`.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub key: String,
    /// Attempts including this one.
    pub attempts: i64,
    pub generation: i64,
}

#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub run_at: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub dead: bool,
    pub updated_at: i64,
}

/// Why a job is enqueued, which decides what becomes of one already in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueue {
    /// Someone needs it done now (a paid checkout, an operator, the sweep, a resync): it is
    /// due at once, a backoff in progress is cut short, a dead job is revived, and a running
    /// one runs once more after.
    Now,
    /// A gateway event: a running job runs once more after, a dead one is revived (no sooner
    /// than [`REVIVE_AFTER_MS`] after it died), but one already waiting keeps its turn. The
    /// run it waits for reads the gateway after this news; cutting its backoff short would
    /// let a stream of events during an AURA outage multiply the attempts.
    Hint,
}

/// How long after a job died a gateway event may revive it: events keep coming for a
/// subscription whose sync needs a person, and each must not cost a doomed attempt.
pub const REVIVE_AFTER_MS: i64 = 30_000;

/// Enqueues (or re-arms) a job in the caller's transaction, as [`Enqueue::Now`].
pub(crate) async fn enqueue_in(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    kind: &str,
    key: &str,
    run_at: i64,
) -> StoreResult<()> {
    enqueue_many_in(tx, backend, kind, &[key], run_at, Enqueue::Now).await?;
    Ok(())
}

/// What enqueueing does to a row that exists. The generation is bumped so that a running
/// attempt is followed by one more.
const UPSERT_NOW: &str = "ON CONFLICT (kind, job_key) DO UPDATE SET generation = sync_jobs.generation + 1, \
     run_at = CASE WHEN sync_jobs.dead OR EXCLUDED.run_at < sync_jobs.run_at THEN EXCLUDED.run_at ELSE sync_jobs.run_at END, \
     attempts = CASE WHEN sync_jobs.dead THEN 0 ELSE sync_jobs.attempts END, \
     dead = FALSE, updated_at = EXCLUDED.updated_at";
/// `{revive}` stands for [`REVIVE_AFTER_MS`].
const UPSERT_HINT: &str = "ON CONFLICT (kind, job_key) DO UPDATE SET generation = sync_jobs.generation + 1, \
     run_at = CASE WHEN NOT sync_jobs.dead THEN sync_jobs.run_at \
     WHEN EXCLUDED.run_at > sync_jobs.updated_at + {revive} THEN EXCLUDED.run_at ELSE sync_jobs.updated_at + {revive} END, \
     attempts = CASE WHEN sync_jobs.dead THEN 0 ELSE sync_jobs.attempts END, \
     dead = FALSE, updated_at = EXCLUDED.updated_at \
     WHERE sync_jobs.dead OR (sync_jobs.locked_until IS NOT NULL AND sync_jobs.locked_until >= EXCLUDED.updated_at)";

/// [`enqueue_in`] for several distinct keys at once: one statement, one notification. The
/// keys must be distinct (a statement may not update the same row twice).
pub(crate) async fn enqueue_many_in(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    kind: &str,
    keys: &[&str],
    run_at: i64,
    how: Enqueue,
) -> StoreResult<u64> {
    if keys.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let rows: Vec<String> = (0..keys.len())
        .map(|i| format!("($1, ${}, $2, $3, $3)", i + 4))
        .collect();
    let sql = format!(
        "INSERT INTO sync_jobs (kind, job_key, run_at, created_at, updated_at) VALUES {} {}",
        rows.join(", "),
        upsert_sql(how)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(kind)
        .bind(run_at)
        .bind(now);
    for key in keys {
        query = query.bind(*key);
    }
    let changed = query.execute(&mut **tx).await?.rows_affected();
    if changed > 0 && backend == Backend::Postgres {
        notify(&mut **tx).await?;
    }
    Ok(changed)
}

/// The `ON CONFLICT` clause of an enqueue.
pub(crate) fn upsert_sql(how: Enqueue) -> String {
    match how {
        Enqueue::Now => UPSERT_NOW.to_owned(),
        Enqueue::Hint => UPSERT_HINT.replace("{revive}", &REVIVE_AFTER_MS.to_string()),
    }
}

/// Wakes the workers of every replica (Postgres only); delivered when the caller commits.
pub(crate) async fn notify<'e, E>(executor: E) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(NOTIFY_CHANNEL)
        .execute(executor)
        .await?;
    Ok(())
}

fn job_from_row(row: &sqlx::any::AnyRow) -> StoreResult<JobRow> {
    Ok(JobRow {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        key: row.try_get("job_key")?,
        run_at: row.try_get("run_at")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        dead: super::get_bool(row, "dead")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn enqueue_job(&self, kind: &str, key: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        enqueue_in(&mut tx, self.backend, kind, key, now_ms()).await?;
        tx.commit().await
    }

    /// Claims the job that has waited longest, holding it for `lease_ms`. On Postgres the row
    /// is taken with `FOR UPDATE SKIP LOCKED`, so concurrent workers never wait on each other;
    /// SQLite serialises writers by itself. A job whose holder died is claimable once its
    /// lease has run out.
    pub async fn claim_job(&self, worker: &str, lease_ms: i64) -> StoreResult<Option<ClaimedJob>> {
        let now = now_ms();
        let sql = match self.backend {
            Backend::Postgres => {
                "UPDATE sync_jobs SET locked_until = $1, locked_by = $2, attempts = attempts + 1, updated_at = $3 \
                 WHERE id = (SELECT id FROM sync_jobs WHERE NOT dead AND run_at <= $3 \
                 AND (locked_until IS NULL OR locked_until < $3) ORDER BY run_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, kind, job_key, attempts, generation"
            }
            Backend::Sqlite => {
                "UPDATE sync_jobs SET locked_until = $1, locked_by = $2, attempts = attempts + 1, updated_at = $3 \
                 WHERE id = (SELECT id FROM sync_jobs WHERE NOT dead AND run_at <= $3 \
                 AND (locked_until IS NULL OR locked_until < $3) ORDER BY run_at LIMIT 1) \
                 RETURNING id, kind, job_key, attempts, generation"
            }
        };
        let row = sqlx::query(sql)
            .bind(now + lease_ms)
            .bind(worker)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(ClaimedJob {
                id: row.try_get("id")?,
                kind: row.try_get("kind")?,
                key: row.try_get("job_key")?,
                attempts: row.try_get("attempts")?,
                generation: row.try_get("generation")?,
            })
        })
        .transpose()
    }

    /// Done: the row goes, unless the job was enqueued again meanwhile; then it runs once more.
    pub async fn complete_job(&self, job: &ClaimedJob, worker: &str) -> StoreResult<()> {
        let deleted = sqlx::query(
            "DELETE FROM sync_jobs WHERE id = $1 AND generation = $2 AND locked_by = $3",
        )
        .bind(job.id)
        .bind(job.generation)
        .bind(worker)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if deleted == 0 {
            sqlx::query(
                "UPDATE sync_jobs SET locked_until = NULL, locked_by = NULL, attempts = 0, last_error = NULL, \
                 updated_at = $2 WHERE id = $1 AND locked_by = $3",
            )
            .bind(job.id)
            .bind(now_ms())
            .bind(worker)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Failed: try again at `retry_at`, or, when `retry_at` is `None`, park it as dead for an
    /// operator. A job enqueued again meanwhile is never parked (the new hint deserves a run,
    /// as an event reviving it would have), but its backoff stands: events arriving during an outage do not
    /// multiply the attempts. The error is also shown on the subscription the job syncs, in
    /// the same transaction.
    pub async fn fail_job(
        &self,
        job: &ClaimedJob,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        if job.kind == SYNC_SUBSCRIPTION {
            sqlx::query(
                "UPDATE subscriptions SET last_error = $2, updated_at = $3 WHERE gateway_subscription_id = $1",
            )
            .bind(&job.key)
            .bind(error)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE sync_jobs SET locked_until = NULL, locked_by = NULL, last_error = $2, updated_at = $3, \
             run_at = COALESCE($5, CASE WHEN generation <> $4 THEN $3 + $8 ELSE run_at END), \
             dead = CASE WHEN generation <> $4 THEN FALSE ELSE $6 END \
             WHERE id = $1 AND locked_by = $7",
        )
        .bind(job.id)
        .bind(error)
        .bind(now)
        .bind(job.generation)
        .bind(retry_at)
        .bind(retry_at.is_none())
        .bind(worker)
        .bind(REVIVE_AFTER_MS)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// An operator's retry of a dead job: due now, attempts from zero.
    pub async fn revive_job(&self, id: i64) -> StoreResult<bool> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let revived = sqlx::query(
            "UPDATE sync_jobs SET dead = FALSE, attempts = 0, run_at = $2, updated_at = $2, generation = generation + 1 \
             WHERE id = $1 AND dead",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if revived && self.backend == Backend::Postgres {
            notify(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(revived)
    }

    pub async fn jobs(&self, dead_only: bool) -> StoreResult<Vec<JobRow>> {
        let sql = if dead_only {
            "SELECT id, kind, job_key, run_at, attempts, last_error, dead, updated_at FROM sync_jobs WHERE dead ORDER BY updated_at"
        } else {
            "SELECT id, kind, job_key, run_at, attempts, last_error, dead, updated_at FROM sync_jobs ORDER BY run_at"
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(job_from_row).collect()
    }

    pub async fn job_for(&self, kind: &str, key: &str) -> StoreResult<Option<JobRow>> {
        let row = sqlx::query(
            "SELECT id, kind, job_key, run_at, attempts, last_error, dead, updated_at FROM sync_jobs \
             WHERE kind = $1 AND job_key = $2",
        )
        .bind(kind)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The time the next job becomes due, so an idle worker knows how long it may sleep.
    pub async fn next_job_due(&self) -> StoreResult<Option<i64>> {
        sqlx::query_scalar("SELECT MIN(CASE WHEN locked_until IS NOT NULL AND locked_until > run_at THEN locked_until ELSE run_at END) FROM sync_jobs WHERE NOT dead")
            .fetch_one(&self.pool)
            .await
    }
}
