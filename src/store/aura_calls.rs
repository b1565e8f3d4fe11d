use sqlx::Row;

use super::{Store, StoreResult};

/// One call made to AURA, as the audit trail keeps it: ids, never personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuraCallRow {
    pub at: i64,
    pub method: String,
    /// The path template, such as `/v2/subscriptions/{id}`.
    pub path: String,
    pub status: Option<i64>,
    pub duration_ms: i64,
    pub aura_customer_id: Option<i64>,
    pub aura_subscription_id: Option<i64>,
    pub error: Option<String>,
}

impl Store {
    pub async fn record_aura_call(&self, call: &AuraCallRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO aura_calls (at, method, path, status, duration_ms, aura_customer_id, aura_subscription_id, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(call.at)
        .bind(&call.method)
        .bind(&call.path)
        .bind(call.status)
        .bind(call.duration_ms)
        .bind(call.aura_customer_id)
        .bind(call.aura_subscription_id)
        .bind(&call.error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn aura_calls_for(&self, customer: i64) -> StoreResult<Vec<AuraCallRow>> {
        let rows = sqlx::query(
            "SELECT at, method, path, status, duration_ms, aura_customer_id, aura_subscription_id, error FROM aura_calls \
             WHERE aura_customer_id = $1 ORDER BY at, id",
        )
        .bind(customer)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuraCallRow {
                    at: row.try_get("at")?,
                    method: row.try_get("method")?,
                    path: row.try_get("path")?,
                    status: row.try_get("status")?,
                    duration_ms: row.try_get("duration_ms")?,
                    aura_customer_id: row.try_get("aura_customer_id")?,
                    aura_subscription_id: row.try_get("aura_subscription_id")?,
                    error: row.try_get("error")?,
                })
            })
            .collect()
    }
}
