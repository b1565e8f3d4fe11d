use sqlx::Row;

use super::{Store, StoreResult, now_ms};
use crate::domain::{CustomerId, PlanKind, SignupId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupOutcome {
    /// Arrived with a valid token; no plan chosen yet.
    Started,
    /// Sent to the gateway's checkout page.
    Checkout,
    /// The gateway confirmed the payment.
    Paid,
    Cancelled,
    Failed,
    /// Already covered on arrival; sent back without a second checkout.
    AlreadyCovered,
}

impl SignupOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Checkout => "checkout",
            Self::Paid => "paid",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::AlreadyCovered => "already_covered",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "checkout" => Self::Checkout,
            "paid" => Self::Paid,
            "cancelled" => Self::Cancelled,
            "failed" => Self::Failed,
            "already_covered" => Self::AlreadyCovered,
            _ => Self::Started,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Signup {
    pub id: SignupId,
    pub customer_id: CustomerId,
    pub redirect_url: String,
    pub plan: Option<PlanKind>,
    pub checkout_session_id: Option<String>,
    pub checkout_url: Option<String>,
    pub gateway_subscription_id: Option<String>,
    pub outcome: SignupOutcome,
    pub created_at: i64,
    pub updated_at: i64,
}

const SIGNUP_COLUMNS: &str = "id, aura_customer_id, redirect_url, plan, checkout_session_id, checkout_url, \
     gateway_subscription_id, outcome, created_at, updated_at";

fn signup_from_row(row: &sqlx::any::AnyRow) -> StoreResult<Signup> {
    let id: String = row.try_get("id")?;
    let customer: i64 = row.try_get("aura_customer_id")?;
    let plan: Option<String> = row.try_get("plan")?;
    let outcome: String = row.try_get("outcome")?;
    Ok(Signup {
        id: SignupId::parse(&id).ok_or_else(|| sqlx::Error::Decode("bad signup id".into()))?,
        customer_id: CustomerId::new(customer)
            .ok_or_else(|| sqlx::Error::Decode("bad customer id".into()))?,
        redirect_url: row.try_get("redirect_url")?,
        plan: plan.as_deref().and_then(PlanKind::parse),
        checkout_session_id: row.try_get("checkout_session_id")?,
        checkout_url: row.try_get("checkout_url")?,
        gateway_subscription_id: row.try_get("gateway_subscription_id")?,
        outcome: SignupOutcome::parse(&outcome),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// One visit from the app, verified and about to be recorded.
#[derive(Debug, Clone)]
pub struct NewSignup {
    pub id: SignupId,
    pub customer: CustomerId,
    pub redirect_url: String,
}

/// What the sign-up pages need to know of a customer's cover besides the signup itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cover {
    /// When AURA's coverage ends, while it has not ended yet.
    pub covered_until: Option<i64>,
    /// The gateway says a subscription of theirs is paid for (active or in a trial), whether
    /// or not AURA covers it yet.
    pub paying: bool,
}

/// The two facts of [`Cover`] as columns, for a customer id given as `customer` and the
/// current time bound as `now_param`.
fn cover_columns(customer: &str, now_param: &str) -> String {
    format!(
        "(SELECT MAX(c.aura_valid_to) FROM subscriptions c WHERE c.aura_customer_id = {customer} \
         AND c.aura_state = 'active' AND c.aura_valid_to > {now_param}) AS covered_until, \
         (SELECT COUNT(*) FROM subscriptions p WHERE p.aura_customer_id = {customer} \
         AND p.gateway_status IN ('active', 'trialing')) AS paying"
    )
}

fn cover_from_row(row: &sqlx::any::AnyRow) -> StoreResult<Cover> {
    let paying: i64 = row.try_get("paying")?;
    Ok(Cover {
        covered_until: row.try_get("covered_until")?,
        paying: paying > 0,
    })
}

impl Store {
    pub async fn insert_signup(
        &self,
        id: &SignupId,
        customer: CustomerId,
        redirect_url: &str,
    ) -> StoreResult<()> {
        let signup = NewSignup {
            id: id.clone(),
            customer,
            redirect_url: redirect_url.to_owned(),
        };
        self.insert_signups(std::slice::from_ref(&signup)).await
    }

    /// Records several new visits with one multi-row `INSERT` (one commit for all).
    pub async fn insert_signups(&self, signups: &[NewSignup]) -> StoreResult<()> {
        if signups.is_empty() {
            return Ok(());
        }
        let rows: Vec<String> = (0..signups.len())
            .map(|i| {
                format!(
                    "(${}, ${}, ${}, 'started', $1, $1)",
                    3 * i + 2,
                    3 * i + 3,
                    3 * i + 4
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO signups (id, aura_customer_id, redirect_url, outcome, created_at, updated_at) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now_ms());
        for s in signups {
            query = query
                .bind(s.id.as_str())
                .bind(s.customer.get())
                .bind(s.redirect_url.as_str());
        }
        query.execute(&self.pool).await?;
        Ok(())
    }

    pub async fn signup(&self, id: &SignupId) -> StoreResult<Option<Signup>> {
        let sql = format!("SELECT {SIGNUP_COLUMNS} FROM signups WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(signup_from_row).transpose()
    }

    /// A signup and its customer's cover, in one query: what every sign-up page starts from.
    pub async fn signup_with_cover(
        &self,
        id: &SignupId,
        now: i64,
    ) -> StoreResult<Option<(Signup, Cover)>> {
        let cover = cover_columns("signups.aura_customer_id", "$2");
        let sql = format!("SELECT {SIGNUP_COLUMNS}, {cover} FROM signups WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok((signup_from_row(&row)?, cover_from_row(&row)?)))
            .transpose()
    }

    /// A customer's cover now.
    pub async fn cover(&self, customer: CustomerId, now: i64) -> StoreResult<Cover> {
        let sql = format!("SELECT {}", cover_columns("$1", "$2"));
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(customer.get())
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
        cover_from_row(&row)
    }

    /// The customer's newest signup that sent them to a checkout page that may still be open
    /// (a cancelled one too: its page may not have been closed): the one a double tap or a
    /// second tab is sent back to, or that a new checkout must close first.
    pub async fn open_checkout_for(
        &self,
        customer: CustomerId,
        since_ms: i64,
    ) -> StoreResult<Option<Signup>> {
        let sql = format!(
            "SELECT {SIGNUP_COLUMNS} FROM signups WHERE aura_customer_id = $1 AND outcome IN ('checkout', 'cancelled') \
             AND checkout_session_id IS NOT NULL \
             AND updated_at >= $2 ORDER BY updated_at DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(customer.get())
            .bind(since_ms)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(signup_from_row).transpose()
    }

    /// Claims the right to open a checkout for `customer`, for `lease_ms`. False while
    /// another request (a double tap, a second tab) holds an unexpired claim.
    pub async fn claim_checkout(
        &self,
        customer: CustomerId,
        signup: &SignupId,
        lease_ms: i64,
    ) -> StoreResult<bool> {
        let now = now_ms();
        let claimed = sqlx::query(
            "INSERT INTO checkout_claims (aura_customer_id, signup_id, until_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (aura_customer_id) DO UPDATE SET signup_id = EXCLUDED.signup_id, \
             until_ms = EXCLUDED.until_ms WHERE checkout_claims.until_ms < $4",
        )
        .bind(customer.get())
        .bind(signup.as_str())
        .bind(now + lease_ms)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(claimed == 1)
    }

    pub async fn release_checkout(
        &self,
        customer: CustomerId,
        signup: &SignupId,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM checkout_claims WHERE aura_customer_id = $1 AND signup_id = $2")
            .bind(customer.get())
            .bind(signup.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn signup_checkout_opened(
        &self,
        id: &SignupId,
        plan: PlanKind,
        session_id: &str,
        url: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE signups SET plan = $2, checkout_session_id = $3, checkout_url = $4, outcome = 'checkout', \
             updated_at = $5 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(plan.as_str())
        .bind(session_id)
        .bind(url)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records how a signup ended. A paid signup stays paid: a late "cancelled" (the back
    /// button after paying in another tab) cannot overwrite it.
    pub async fn signup_finished(
        &self,
        id: &SignupId,
        outcome: SignupOutcome,
        subscription: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE signups SET outcome = $2, gateway_subscription_id = COALESCE($3, gateway_subscription_id), \
             updated_at = $4 WHERE id = $1 AND outcome <> 'paid'",
        )
        .bind(id.as_str())
        .bind(outcome.as_str())
        .bind(subscription)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn signups_for(&self, customer: CustomerId) -> StoreResult<Vec<Signup>> {
        let sql = format!(
            "SELECT {SIGNUP_COLUMNS} FROM signups WHERE aura_customer_id = $1 ORDER BY created_at"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(customer.get())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(signup_from_row).collect()
    }

    pub async fn count_signups(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM signups")
            .fetch_one(&self.pool)
            .await
    }
}

impl Store {
    /// The gateway confirmed a signup's payment: link the gateway subscription to the
    /// customer, mark the signup paid and enqueue the activation, all in one transaction.
    /// Returns whether a sync was enqueued (not when AURA already covers it: a reload).
    pub async fn record_paid_checkout(
        &self,
        signup: &SignupId,
        facts: &super::GatewayFacts<'_>,
    ) -> StoreResult<bool> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO subscriptions (gateway_subscription_id, aura_customer_id, gateway_customer_id, plan, \
             gateway_status, cancel_at_period_end, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, FALSE, $6, $6) \
             ON CONFLICT (gateway_subscription_id) DO NOTHING",
        )
        .bind(facts.gateway_subscription_id)
        .bind(facts.customer_id.get())
        .bind(facts.gateway_customer_id)
        .bind(facts.plan.as_str())
        .bind(facts.status)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE signups SET outcome = 'paid', gateway_subscription_id = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(signup.as_str())
        .bind(facts.gateway_subscription_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;

        let state: String = sqlx::query_scalar(
            "SELECT aura_state FROM subscriptions WHERE gateway_subscription_id = $1",
        )
        .bind(facts.gateway_subscription_id)
        .fetch_one(&mut *tx)
        .await?;
        let enqueue = state != "active";
        if enqueue {
            super::jobs::enqueue_in(
                &mut tx,
                self.backend,
                super::SYNC_SUBSCRIPTION,
                facts.gateway_subscription_id,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(enqueue)
    }
}
