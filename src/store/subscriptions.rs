use sqlx::{Any, Row, Transaction};

use super::{Store, StoreResult, now_ms};
use crate::domain::{CustomerId, PlanKind};

/// What the store knows of the AURA subscription that mirrors a gateway subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuraState {
    /// Not created at AURA (yet).
    None,
    Active,
    /// Deleted at AURA; AURA cannot restore it.
    Cancelled,
}

impl AuraState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Active => "active",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            "cancelled" => Self::Cancelled,
            _ => Self::None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SubscriptionRow {
    pub gateway_subscription_id: String,
    pub customer_id: CustomerId,
    pub gateway_customer_id: Option<String>,
    pub plan: PlanKind,
    pub gateway_status: String,
    pub paid_through: Option<i64>,
    pub cancel_at_period_end: bool,
    pub aura_subscription_id: Option<i64>,
    pub aura_valid_to: Option<i64>,
    pub aura_state: AuraState,
    /// The whole dependant list the customer (or an operator) wants.
    pub dependants: Vec<i64>,
    /// The dependant list AURA was last sent successfully.
    pub aura_dependants: Vec<i64>,
    pub last_error: Option<String>,
    /// Why an operator ended the coverage; sent to AURA with the cancellation.
    pub end_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "gateway_subscription_id, aura_customer_id, gateway_customer_id, plan, gateway_status, \
     paid_through, cancel_at_period_end, aura_subscription_id, aura_valid_to, aura_state, dependants, aura_dependants, \
     last_error, end_reason, created_at, updated_at";

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<SubscriptionRow> {
    let customer: i64 = row.try_get("aura_customer_id")?;
    let plan: String = row.try_get("plan")?;
    let state: String = row.try_get("aura_state")?;
    let dependants: String = row.try_get("dependants")?;
    let aura_dependants: String = row.try_get("aura_dependants")?;
    Ok(SubscriptionRow {
        gateway_subscription_id: row.try_get("gateway_subscription_id")?,
        customer_id: CustomerId::new(customer)
            .ok_or_else(|| sqlx::Error::Decode("bad customer id".into()))?,
        gateway_customer_id: row.try_get("gateway_customer_id")?,
        plan: PlanKind::parse(&plan).unwrap_or(PlanKind::Single),
        gateway_status: row.try_get("gateway_status")?,
        paid_through: row.try_get("paid_through")?,
        cancel_at_period_end: super::get_bool(row, "cancel_at_period_end")?,
        aura_subscription_id: row.try_get("aura_subscription_id")?,
        aura_valid_to: row.try_get("aura_valid_to")?,
        aura_state: AuraState::parse(&state),
        dependants: serde_json::from_str(&dependants).map_err(|e| sqlx::Error::Decode(e.into()))?,
        aura_dependants: serde_json::from_str(&aura_dependants)
            .map_err(|e| sqlx::Error::Decode(e.into()))?,
        last_error: row.try_get("last_error")?,
        end_reason: row.try_get("end_reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The gateway's view of a subscription, as last fetched.
#[derive(Debug, Clone)]
pub struct GatewayFacts<'a> {
    pub gateway_subscription_id: &'a str,
    pub customer_id: CustomerId,
    pub gateway_customer_id: Option<&'a str>,
    pub plan: PlanKind,
    pub status: &'a str,
    pub paid_through: Option<i64>,
    pub cancel_at_period_end: bool,
}

/// Records which gateway customer pays for an AURA customer. One gateway customer can pay
/// for several AURA customers over time (a parent paying for a child, a card reused after a
/// move): the link follows the latest payment, and another customer's older link is let go
/// rather than refused, so a subscription's sync is never blocked by this bookkeeping.
async fn link_gateway_customer(
    tx: &mut Transaction<'_, Any>,
    customer: i64,
    gateway_customer: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE customers SET gateway_customer_id = NULL, updated_at = $3 \
         WHERE gateway_customer_id = $2 AND aura_customer_id <> $1",
    )
    .bind(customer)
    .bind(gateway_customer)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO customers (aura_customer_id, gateway_customer_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $3) ON CONFLICT (aura_customer_id) DO UPDATE SET \
         gateway_customer_id = EXCLUDED.gateway_customer_id, updated_at = EXCLUDED.updated_at",
    )
    .bind(customer)
    .bind(gateway_customer)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Creates or refreshes the link between a gateway subscription and its AURA customer, in
    /// the caller's transaction. What is known of AURA is left alone.
    pub async fn upsert_subscription(
        tx: &mut Transaction<'_, Any>,
        facts: &GatewayFacts<'_>,
    ) -> StoreResult<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO subscriptions (gateway_subscription_id, aura_customer_id, gateway_customer_id, plan, \
             gateway_status, paid_through, cancel_at_period_end, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
             ON CONFLICT (gateway_subscription_id) DO UPDATE SET \
             gateway_customer_id = COALESCE(EXCLUDED.gateway_customer_id, subscriptions.gateway_customer_id), \
             plan = EXCLUDED.plan, gateway_status = EXCLUDED.gateway_status, \
             paid_through = COALESCE(EXCLUDED.paid_through, subscriptions.paid_through), \
             cancel_at_period_end = EXCLUDED.cancel_at_period_end, updated_at = EXCLUDED.updated_at",
        )
        .bind(facts.gateway_subscription_id)
        .bind(facts.customer_id.get())
        .bind(facts.gateway_customer_id)
        .bind(facts.plan.as_str())
        .bind(facts.status)
        .bind(facts.paid_through)
        .bind(facts.cancel_at_period_end)
        .bind(now)
        .execute(&mut **tx)
        .await?;

        if let Some(gateway_customer) = facts.gateway_customer_id {
            link_gateway_customer(tx, facts.customer_id.get(), gateway_customer, now).await?;
        }
        Ok(())
    }

    pub async fn subscription(
        &self,
        gateway_subscription_id: &str,
    ) -> StoreResult<Option<SubscriptionRow>> {
        let sql = format!("SELECT {COLUMNS} FROM subscriptions WHERE gateway_subscription_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(gateway_subscription_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn subscriptions_for(
        &self,
        customer: CustomerId,
    ) -> StoreResult<Vec<SubscriptionRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE aura_customer_id = $1 ORDER BY created_at"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(customer.get())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// The gateway subscriptions whose coverage is the AURA subscription `aura_id`. Usually
    /// one; two when a re-subscription adopted the AURA subscription of one not yet ended.
    pub async fn subscriptions_on_aura(&self, aura_id: i64) -> StoreResult<Vec<SubscriptionRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE aura_subscription_id = $1 AND aura_state = 'active' \
             ORDER BY created_at"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(aura_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn record_gateway_state(&self, facts: &GatewayFacts<'_>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        Self::upsert_subscription(&mut tx, facts).await?;
        tx.commit().await
    }

    /// Records what AURA now holds for a gateway subscription, after a successful call.
    pub async fn record_aura_state(
        &self,
        gateway_subscription_id: &str,
        aura_subscription_id: Option<i64>,
        valid_to: Option<i64>,
        state: AuraState,
        dependants: &[i64],
    ) -> StoreResult<()> {
        let dependants = serde_json::to_string(dependants).expect("ids serialise");
        sqlx::query(
            "UPDATE subscriptions SET aura_subscription_id = $2, aura_valid_to = $3, aura_state = $4, \
             aura_dependants = $5, last_error = NULL, updated_at = $6 WHERE gateway_subscription_id = $1",
        )
        .bind(gateway_subscription_id)
        .bind(aura_subscription_id)
        .bind(valid_to)
        .bind(state.as_str())
        .bind(dependants)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records the reason an operator gives for ending the coverage, unless another reason is
    /// already recorded (an end under way, or done): true when this one was recorded.
    pub async fn claim_end_reason(
        &self,
        gateway_subscription_id: &str,
        reason: &str,
    ) -> StoreResult<bool> {
        let claimed = sqlx::query(
            "UPDATE subscriptions SET end_reason = $2, updated_at = $3 \
             WHERE gateway_subscription_id = $1 AND end_reason IS NULL",
        )
        .bind(gateway_subscription_id)
        .bind(reason)
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(claimed == 1)
    }

    /// Forgets a claimed reason whose end did not happen (the gateway refused).
    pub async fn release_end_reason(
        &self,
        gateway_subscription_id: &str,
        reason: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE subscriptions SET end_reason = NULL, updated_at = $3 \
             WHERE gateway_subscription_id = $1 AND end_reason = $2",
        )
        .bind(gateway_subscription_id)
        .bind(reason)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets the whole desired dependant list; the caller enqueues the sync that sends it.
    pub async fn set_dependants(
        &self,
        gateway_subscription_id: &str,
        dependants: &[i64],
    ) -> StoreResult<bool> {
        let dependants = serde_json::to_string(dependants).expect("ids serialise");
        let changed = sqlx::query("UPDATE subscriptions SET dependants = $2, updated_at = $3 WHERE gateway_subscription_id = $1")
            .bind(gateway_subscription_id)
            .bind(dependants)
            .bind(now_ms())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(changed == 1)
    }

    /// Gateway subscriptions whose AURA coverage ends before `horizon`: the periodic sweep
    /// re-checks them so a missed webhook cannot let a paid customer lapse.
    pub async fn subscriptions_ending_before(&self, horizon: i64) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT gateway_subscription_id FROM subscriptions WHERE aura_state = 'active' AND aura_valid_to < $1",
        )
        .bind(horizon)
        .fetch_all(&self.pool)
        .await
    }

    /// Whether any subscription is stored at all (one row is enough to know).
    pub async fn holds_subscriptions(&self) -> StoreResult<bool> {
        let one: Option<String> =
            sqlx::query_scalar("SELECT gateway_subscription_id FROM subscriptions LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(one.is_some())
    }

    pub async fn all_subscription_ids(
        &self,
        customer: Option<CustomerId>,
    ) -> StoreResult<Vec<String>> {
        match customer {
            Some(c) => {
                sqlx::query_scalar(
                    "SELECT gateway_subscription_id FROM subscriptions WHERE aura_customer_id = $1",
                )
                .bind(c.get())
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_scalar("SELECT gateway_subscription_id FROM subscriptions")
                    .fetch_all(&self.pool)
                    .await
            }
        }
    }
}
