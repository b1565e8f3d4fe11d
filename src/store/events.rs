use std::collections::HashSet;

use sqlx::{Any, Row, Transaction};

use super::{Backend, Store, StoreResult, jobs, now_ms};

/// A verified gateway event, about to be made durable.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub id: &'a str,
    pub gateway: &'a str,
    pub event_type: &'a str,
    /// The gateway subscription the event names, when it names one.
    pub subscription_id: Option<&'a str>,
    pub payload: &'a str,
    /// `ignored` for events recorded without effect (unknown type, other mode), else `None`.
    pub outcome: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: String,
    pub event_type: String,
    pub subscription_id: Option<String>,
    pub received_at: i64,
    pub processed_at: Option<i64>,
    pub outcome: Option<String>,
}

impl Store {
    /// Stores the event and, when it names a subscription and is new, enqueues that
    /// subscription's sync, in one transaction. Returns false for a duplicate delivery.
    pub async fn record_event(&self, event: &NewEvent<'_>) -> StoreResult<bool> {
        let (fresh, _) = self.record_events(std::slice::from_ref(event)).await?;
        Ok(fresh[0])
    }

    /// Stores several events and enqueues the syncs they call for, in one transaction (one
    /// commit for all: what lets concurrent deliveries share the cost of durability).
    /// Returns, for each event in order, whether it was new (a second copy of an event in
    /// the same batch counts as a duplicate), and whether any job changed (worth waking a
    /// worker for).
    pub async fn record_events(&self, events: &[NewEvent<'_>]) -> StoreResult<(Vec<bool>, bool)> {
        if events.is_empty() {
            return Ok((Vec::new(), false));
        }
        if self.backend == Backend::Postgres {
            return self.record_events_in_one_statement(events).await;
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let inserted = insert_events_in(&mut tx, events, now).await?;

        let fresh = fresh_in_order(events, &inserted);
        let mut keys: Vec<&str> = events
            .iter()
            .zip(&fresh)
            .filter(|(e, fresh)| **fresh && e.outcome.is_none())
            .filter_map(|(e, _)| e.subscription_id)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let (kind, hint) = (jobs::SYNC_SUBSCRIPTION, jobs::Enqueue::Hint);
        let changed = jobs::enqueue_many_in(&mut tx, self.backend, kind, &keys, now, hint).await?;
        tx.commit().await?;
        Ok((fresh, changed > 0))
    }

    /// [`Self::record_events`] on Postgres: the events and their jobs in one statement (one
    /// round trip, atomic on its own), the workers notified after it when a job changed.
    async fn record_events_in_one_statement(
        &self,
        events: &[NewEvent<'_>],
    ) -> StoreResult<(Vec<bool>, bool)> {
        let rows: Vec<String> = (0..events.len())
            .map(|i| {
                let p: Vec<String> = (0..6)
                    .map(|k| format!("${}::text", 2 + i * 6 + k))
                    .collect();
                format!("({})", p.join(", "))
            })
            .collect();
        let sql = format!(
            "WITH incoming (id, gateway, event_type, subscription_id, payload, outcome) AS (VALUES {}), \
             inserted AS (INSERT INTO gateway_events (id, gateway, event_type, subscription_id, payload, received_at, outcome) \
             SELECT id, gateway, event_type, subscription_id, payload, $1::bigint, outcome FROM incoming \
             ON CONFLICT (id) DO NOTHING RETURNING id, subscription_id, outcome), \
             woken AS (INSERT INTO sync_jobs (kind, job_key, run_at, created_at, updated_at) \
             SELECT DISTINCT '{}', subscription_id, $1::bigint, $1::bigint, $1::bigint FROM inserted \
             WHERE subscription_id IS NOT NULL AND outcome IS NULL {} RETURNING job_key) \
             SELECT id, (SELECT COUNT(*) FROM woken) AS woken FROM inserted",
            rows.join(", "),
            jobs::SYNC_SUBSCRIPTION,
            jobs::upsert_sql(jobs::Enqueue::Hint),
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now_ms());
        for e in events {
            query = query
                .bind(e.id)
                .bind(e.gateway)
                .bind(e.event_type)
                .bind(e.subscription_id)
                .bind(e.payload)
                .bind(e.outcome);
        }
        let answered = query.fetch_all(&self.pool).await?;
        let mut inserted = HashSet::with_capacity(answered.len());
        let mut woken = 0;
        for row in &answered {
            inserted.insert(row.try_get::<String, _>("id")?);
            woken = row.try_get::<i64, _>("woken")?;
        }
        if woken > 0 {
            jobs::notify(&self.pool).await?;
        }
        Ok((fresh_in_order(events, &inserted), woken > 0))
    }

    /// Marks the events of a subscription received up to `until` as applied by a sync.
    pub async fn mark_events_processed(
        &self,
        subscription_id: &str,
        until: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE gateway_events SET processed_at = $3, outcome = 'applied' \
             WHERE subscription_id = $1 AND processed_at IS NULL AND outcome IS NULL AND received_at <= $2",
        )
        .bind(subscription_id)
        .bind(until)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn events_for_subscriptions(
        &self,
        subscription_ids: &[String],
    ) -> StoreResult<Vec<StoredEvent>> {
        let mut events = Vec::new();
        for id in subscription_ids {
            let rows = sqlx::query(
                "SELECT id, event_type, subscription_id, received_at, processed_at, outcome FROM gateway_events \
                 WHERE subscription_id = $1 ORDER BY received_at",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            for row in rows {
                events.push(StoredEvent {
                    id: row.try_get("id")?,
                    event_type: row.try_get("event_type")?,
                    subscription_id: row.try_get("subscription_id")?,
                    received_at: row.try_get("received_at")?,
                    processed_at: row.try_get("processed_at")?,
                    outcome: row.try_get("outcome")?,
                });
            }
        }
        Ok(events)
    }

    pub async fn count_events(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM gateway_events")
            .fetch_one(&self.pool)
            .await
    }
}

/// One multi-row `INSERT`; returns the ids that were new (the others were stored before).
async fn insert_events_in(
    tx: &mut Transaction<'_, Any>,
    events: &[NewEvent<'_>],
    now: i64,
) -> StoreResult<HashSet<String>> {
    let rows: Vec<String> = (0..events.len())
        .map(|i| {
            let p = i * 7;
            format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO gateway_events (id, gateway, event_type, subscription_id, payload, received_at, outcome) \
         VALUES {} ON CONFLICT (id) DO NOTHING RETURNING id",
        rows.join(", ")
    );
    let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
    for e in events {
        query = query
            .bind(e.id)
            .bind(e.gateway)
            .bind(e.event_type)
            .bind(e.subscription_id)
            .bind(e.payload)
            .bind(now)
            .bind(e.outcome);
    }
    let ids: Vec<String> = query.fetch_all(&mut **tx).await?;
    Ok(ids.into_iter().collect())
}

/// For each event in order, whether it was new; a second copy in the same batch is not.
fn fresh_in_order(events: &[NewEvent<'_>], inserted: &HashSet<String>) -> Vec<bool> {
    let mut seen = HashSet::new();
    events
        .iter()
        .map(|e| inserted.contains(e.id) && seen.insert(e.id))
        .collect()
}
