use sqlx::Row;

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
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO gateway_events (id, gateway, event_type, subscription_id, payload, received_at, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(event.id)
        .bind(event.gateway)
        .bind(event.event_type)
        .bind(event.subscription_id)
        .bind(event.payload)
        .bind(now)
        .bind(event.outcome)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;

        if let Some(subscription) = event.subscription_id
            && inserted
            && event.outcome.is_none()
        {
            jobs::enqueue_in(
                &mut tx,
                self.backend,
                jobs::SYNC_SUBSCRIPTION,
                subscription,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(inserted)
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
