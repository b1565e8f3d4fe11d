use std::collections::HashSet;

use sqlx::{Any, Row, Transaction};

use super::{Store, StoreResult, jobs, now_ms};

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
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let inserted = insert_events_in(&mut tx, events, now).await?;

        let mut seen = HashSet::new();
        let fresh: Vec<bool> = events
            .iter()
            .map(|e| inserted.contains(e.id) && seen.insert(e.id))
            .collect();
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
