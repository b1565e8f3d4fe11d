//! Tables of the built-in sandbox gateway. It keeps its state in the service's own database so
//! that, like a real gateway, it survives restarts and is shared by replicas.

use sqlx::Row;

use super::{Store, StoreResult, now_ms};

#[derive(Debug, Clone)]
pub struct SandboxSession {
    pub id: String,
    pub signup_id: String,
    pub customer_ref: String,
    pub plan: String,
    pub price_id: String,
    pub success_url: String,
    pub cancel_url: String,
    pub status: String,
    pub paid: bool,
    pub gateway_customer: Option<String>,
    pub gateway_subscription: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct SandboxSubscription {
    pub id: String,
    pub customer: String,
    pub status: String,
    pub current_period_end: i64,
    pub cancel_at_period_end: bool,
    pub cancellation_reason: Option<String>,
    pub price_id: String,
    pub aura_customer_id: i64,
    pub signup_id: String,
    pub fail_next_renewal: bool,
}

const SESSION_COLUMNS: &str = "id, signup_id, customer_ref, plan, price_id, success_url, cancel_url, status, paid, \
     gateway_customer, gateway_subscription, created_at";

fn session_from_row(row: &sqlx::any::AnyRow) -> StoreResult<SandboxSession> {
    Ok(SandboxSession {
        id: row.try_get("id")?,
        signup_id: row.try_get("signup_id")?,
        customer_ref: row.try_get("customer_ref")?,
        plan: row.try_get("plan")?,
        price_id: row.try_get("price_id")?,
        success_url: row.try_get("success_url")?,
        cancel_url: row.try_get("cancel_url")?,
        status: row.try_get("status")?,
        paid: super::get_bool(row, "paid")?,
        gateway_customer: row.try_get("gateway_customer")?,
        gateway_subscription: row.try_get("gateway_subscription")?,
        created_at: row.try_get("created_at")?,
    })
}

const SUBSCRIPTION_COLUMNS: &str = "id, customer, status, current_period_end, cancel_at_period_end, \
     cancellation_reason, price_id, aura_customer_id, signup_id, fail_next_renewal";

fn subscription_from_row(row: &sqlx::any::AnyRow) -> StoreResult<SandboxSubscription> {
    Ok(SandboxSubscription {
        id: row.try_get("id")?,
        customer: row.try_get("customer")?,
        status: row.try_get("status")?,
        current_period_end: row.try_get("current_period_end")?,
        cancel_at_period_end: super::get_bool(row, "cancel_at_period_end")?,
        cancellation_reason: row.try_get("cancellation_reason")?,
        price_id: row.try_get("price_id")?,
        aura_customer_id: row.try_get("aura_customer_id")?,
        signup_id: row.try_get("signup_id")?,
        fail_next_renewal: super::get_bool(row, "fail_next_renewal")?,
    })
}

impl Store {
    /// Inserts the session unless one with the same idempotency key exists; returns the one
    /// that is stored either way.
    pub async fn sandbox_open_session(
        &self,
        session: &SandboxSession,
        idempotency_key: &str,
    ) -> StoreResult<SandboxSession> {
        sqlx::query(
            "INSERT INTO sandbox_sessions (id, signup_id, customer_ref, plan, price_id, idempotency_key, success_url, \
             cancel_url, status, paid, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', FALSE, $9) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&session.id)
        .bind(&session.signup_id)
        .bind(&session.customer_ref)
        .bind(&session.plan)
        .bind(&session.price_id)
        .bind(idempotency_key)
        .bind(&session.success_url)
        .bind(&session.cancel_url)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        let sql =
            format!("SELECT {SESSION_COLUMNS} FROM sandbox_sessions WHERE idempotency_key = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(idempotency_key)
            .fetch_one(&self.pool)
            .await?;
        session_from_row(&row)
    }

    pub async fn sandbox_session(&self, id: &str) -> StoreResult<Option<SandboxSession>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sandbox_sessions WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// Closes an open session; false when it was not open (paid, or expired already).
    pub async fn sandbox_expire_session(&self, id: &str) -> StoreResult<bool> {
        let expired = sqlx::query(
            "UPDATE sandbox_sessions SET status = 'expired' WHERE id = $1 AND status = 'open'",
        )
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(expired == 1)
    }

    /// Completes an open session with its new subscription, in one transaction. Returns false
    /// when the session was no longer open (paid twice, in two tabs).
    pub async fn sandbox_complete_session(
        &self,
        session_id: &str,
        subscription: &SandboxSubscription,
    ) -> StoreResult<bool> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let completed = sqlx::query(
            "UPDATE sandbox_sessions SET status = 'complete', paid = TRUE, gateway_customer = $2, \
             gateway_subscription = $3 WHERE id = $1 AND status = 'open'",
        )
        .bind(session_id)
        .bind(&subscription.customer)
        .bind(&subscription.id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !completed {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO sandbox_subscriptions (id, customer, status, current_period_end, cancel_at_period_end, \
             price_id, aura_customer_id, signup_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, FALSE, $5, $6, $7, $8, $8)",
        )
        .bind(&subscription.id)
        .bind(&subscription.customer)
        .bind(&subscription.status)
        .bind(subscription.current_period_end)
        .bind(&subscription.price_id)
        .bind(subscription.aura_customer_id)
        .bind(&subscription.signup_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn sandbox_subscription(&self, id: &str) -> StoreResult<Option<SandboxSubscription>> {
        let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM sandbox_subscriptions WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    pub async fn sandbox_update_subscription(&self, sub: &SandboxSubscription) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sandbox_subscriptions SET status = $2, current_period_end = $3, cancel_at_period_end = $4, \
             cancellation_reason = $5, fail_next_renewal = $6, updated_at = $7 WHERE id = $1",
        )
        .bind(&sub.id)
        .bind(&sub.status)
        .bind(sub.current_period_end)
        .bind(sub.cancel_at_period_end)
        .bind(&sub.cancellation_reason)
        .bind(sub.fail_next_renewal)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
