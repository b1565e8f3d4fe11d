//! Queries of the operator console: the mapping of AURA customers to gateway subscriptions
//! (filtered, sorted, paged), what needs attention, the queue's size, the operator actions
//! (taken in one transaction with the change they make) and failed logins.

use sqlx::{Any, Row, Transaction};

use super::{Backend, Store, StoreResult, jobs, now_ms};
use crate::admin::coverage::Coverage;

/// One gateway subscription and what AURA holds for it, as the console's table shows it.
#[derive(Debug, Clone)]
pub struct MappingRow {
    pub gateway_subscription_id: String,
    pub customer_id: i64,
    pub plan: String,
    pub gateway_customer_id: Option<String>,
    pub gateway_status: String,
    pub paid_through: Option<i64>,
    pub aura_subscription_id: Option<i64>,
    pub aura_valid_to: Option<i64>,
    pub aura_state: String,
    pub coverage: Coverage,
    pub job_id: Option<i64>,
    pub job_dead: bool,
    pub job_attempts: Option<i64>,
    pub job_error: Option<String>,
    pub updated_at: i64,
}

/// Columns the table can be sorted by; anything else is refused at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    Customer,
    Status,
    PaidThrough,
    ValidTo,
    Coverage,
    #[default]
    Changed,
}

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::Customer,
        SortKey::Status,
        SortKey::PaidThrough,
        SortKey::ValidTo,
        SortKey::Coverage,
        SortKey::Changed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Customer => "customer",
            SortKey::Status => "status",
            SortKey::PaidThrough => "paid_through",
            SortKey::ValidTo => "valid_to",
            SortKey::Coverage => "coverage",
            SortKey::Changed => "changed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The SQL the rows are ordered by. Coverage sorts by meaning, the worst first (failed,
    /// lapsed, pending, covered), through the same expression the filter uses: an output
    /// alias cannot stand inside an ORDER BY expression on Postgres.
    fn expression(self, now_param: &str) -> String {
        let column = match self {
            SortKey::Customer => "s.aura_customer_id",
            SortKey::Status => "s.gateway_status",
            SortKey::PaidThrough => "s.paid_through",
            SortKey::ValidTo => "s.aura_valid_to",
            SortKey::Changed => "s.updated_at",
            SortKey::Coverage => {
                let ranks: String = Coverage::WORST_FIRST
                    .iter()
                    .enumerate()
                    .map(|(rank, c)| format!("WHEN '{c}' THEN {rank} "))
                    .collect();
                return format!("(CASE {} {ranks}END)", Coverage::sql_case(now_param));
            }
        };
        column.to_owned()
    }
}

/// What the table shows: an id to look for, a coverage, and the order.
#[derive(Debug, Clone, Default)]
pub struct MappingFilter {
    /// Matched exactly against every id the row holds.
    pub search: Option<String>,
    pub coverage: Option<Coverage>,
    pub sort: SortKey,
    pub descending: bool,
}

/// The three lists an operator looks at first.
#[derive(Debug, Clone, Default)]
pub struct Attention {
    pub paying_not_covered: Vec<MappingRow>,
    pub covered_not_paying: Vec<MappingRow>,
    pub dead_jobs: Vec<DeadJob>,
}

#[derive(Debug, Clone)]
pub struct DeadJob {
    pub id: i64,
    pub key: String,
    pub customer_id: Option<i64>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

/// One thing someone did through the console or the API.
#[derive(Debug, Clone)]
pub struct NewAction<'a> {
    /// `operator:NAME`, `api:TOKEN_NAME` or `customer:ID`.
    pub actor: &'a str,
    pub action: &'a str,
    pub customer_id: Option<i64>,
    /// The gateway subscription acted on.
    pub target: &'a str,
    pub detail: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct ActionRow {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: Option<String>,
}

/// The state change an action makes, applied in the transaction that records it.
#[derive(Debug, Clone)]
pub enum Change {
    /// A dead sync job is due again now, attempts from zero.
    ReviveSync,
    /// A sync from the gateway is enqueued (or an existing job is due now).
    Resync,
    /// The whole desired dependant list is replaced, and a sync enqueued to send it.
    SetDependants(Vec<i64>),
    /// One dependant AURA refused comes off the list as it is now (an operator may have set
    /// another list since the sync read it); nothing applies when it is no longer on it.
    DropDependant(i64),
    /// An operator ended the coverage, with this reason (claimed on the subscription first),
    /// after the gateway subscription was cancelled; the sync enqueued with it ends the AURA
    /// subscription.
    EndCoverage(String),
    /// The change happened elsewhere (the sandbox gateway, which emits its own event); only
    /// the record is written.
    RecordOnly,
}

#[derive(Debug, Clone, Copy)]
enum Bind<'a> {
    Int(i64),
    Text(&'a str),
}

const MAPPING_COLUMNS: &str = "s.gateway_subscription_id, s.aura_customer_id, s.plan, s.gateway_customer_id, \
     s.gateway_status, s.paid_through, s.aura_subscription_id, s.aura_valid_to, s.aura_state, s.updated_at, \
     j.id AS job_id, COALESCE(j.dead, FALSE) AS job_dead, j.attempts AS job_attempts, j.last_error AS job_error";

const MAPPING_FROM: &str = "FROM subscriptions s LEFT JOIN sync_jobs j \
     ON j.kind = 'sync_subscription' AND j.job_key = s.gateway_subscription_id";

/// Cap on one CSV export.
pub const EXPORT_LIMIT: i64 = 100_000;

fn mapping_from_row(row: &sqlx::any::AnyRow) -> StoreResult<MappingRow> {
    let coverage: String = row.try_get("coverage")?;
    Ok(MappingRow {
        gateway_subscription_id: row.try_get("gateway_subscription_id")?,
        customer_id: row.try_get("aura_customer_id")?,
        plan: row.try_get("plan")?,
        gateway_customer_id: row.try_get("gateway_customer_id")?,
        gateway_status: row.try_get("gateway_status")?,
        paid_through: row.try_get("paid_through")?,
        aura_subscription_id: row.try_get("aura_subscription_id")?,
        aura_valid_to: row.try_get("aura_valid_to")?,
        aura_state: row.try_get("aura_state")?,
        coverage: Coverage::parse(&coverage)
            .ok_or_else(|| sqlx::Error::Decode("bad coverage".into()))?,
        job_id: row.try_get("job_id")?,
        job_dead: super::get_bool(row, "job_dead")?,
        job_attempts: row.try_get("job_attempts")?,
        job_error: row.try_get("job_error")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The WHERE clause and its values for a filter; `$1` is always the current time.
fn filter_sql(filter: &MappingFilter) -> (String, Vec<Bind<'_>>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    if let Some(q) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
    {
        binds.push(Bind::Text(q));
        let text = binds.len() + 1;
        let mut any =
            format!("s.gateway_subscription_id = ${text} OR s.gateway_customer_id = ${text}");
        if let Ok(n) = q.parse::<i64>() {
            binds.push(Bind::Int(n));
            let int = binds.len() + 1;
            any.push_str(&format!(
                " OR s.aura_customer_id = ${int} OR s.aura_subscription_id = ${int}"
            ));
        }
        clauses.push(format!("({any})"));
    }
    if let Some(c) = filter.coverage {
        binds.push(Bind::Text(c.as_str()));
        clauses.push(format!(
            "{} = ${}",
            Coverage::sql_case("$1"),
            binds.len() + 1
        ));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, binds)
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    binds: &[Bind<'q>],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    for b in binds {
        query = match *b {
            Bind::Int(i) => query.bind(i),
            Bind::Text(t) => query.bind(t),
        };
    }
    query
}

impl Store {
    /// One page of the mapping under `filter`, and how many rows the filter matches in all.
    pub async fn mapping(
        &self,
        filter: &MappingFilter,
        now: i64,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<MappingRow>, i64)> {
        let (where_sql, binds) = filter_sql(filter);
        let column = filter.sort.expression("$1");
        let dir = if filter.descending { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {MAPPING_COLUMNS}, {coverage} AS coverage {MAPPING_FROM} {where_sql} \
             ORDER BY ({column} IS NULL), {column} {dir}, s.gateway_subscription_id LIMIT {limit} OFFSET {offset}",
            coverage = Coverage::sql_case("$1"),
            limit = limit.clamp(0, EXPORT_LIMIT),
            offset = offset.max(0),
        );
        let query = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now), &binds);
        let rows = query.fetch_all(&self.pool).await?;
        let rows = rows
            .iter()
            .map(mapping_from_row)
            .collect::<StoreResult<Vec<_>>>()?;

        let count_sql = format!("SELECT COUNT(*) AS n {MAPPING_FROM} {where_sql}");
        let count = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(count_sql)).bind(now),
            &binds,
        )
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok((rows, count))
    }

    /// Paying but not covered; covered but not paying (beyond `margin_ms` plus a day of
    /// slack for AURA's own rounding); dead sync jobs. At most `limit` of each.
    pub async fn attention(&self, now: i64, margin_ms: i64, limit: i64) -> StoreResult<Attention> {
        let paying = "s.gateway_status IN ('active', 'trialing', 'past_due') \
             AND NOT (s.aura_state = 'active' AND COALESCE(s.aura_valid_to, 0) > $1)";
        let not_paying = "s.aura_state = 'active' AND s.aura_valid_to > $1 \
             AND (s.gateway_status IN ('canceled', 'unpaid', 'incomplete_expired') \
             OR s.paid_through IS NULL OR s.aura_valid_to > s.paid_through + $2)";
        let slack = margin_ms + 86_400_000;
        Ok(Attention {
            paying_not_covered: self.mapping_where(paying, now, None, limit).await?,
            covered_not_paying: self
                .mapping_where(not_paying, now, Some(slack), limit)
                .await?,
            dead_jobs: self.dead_jobs(limit).await?,
        })
    }

    async fn mapping_where(
        &self,
        condition: &str,
        now: i64,
        second: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<MappingRow>> {
        let sql = format!(
            "SELECT {MAPPING_COLUMNS}, {coverage} AS coverage {MAPPING_FROM} WHERE {condition} \
             ORDER BY s.updated_at DESC LIMIT {limit}",
            coverage = Coverage::sql_case("$1"),
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
        if let Some(second) = second {
            query = query.bind(second);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(mapping_from_row).collect()
    }

    pub async fn dead_jobs(&self, limit: i64) -> StoreResult<Vec<DeadJob>> {
        let sql = format!(
            "SELECT j.id, j.job_key, j.attempts, j.last_error, j.updated_at, s.aura_customer_id \
             FROM sync_jobs j LEFT JOIN subscriptions s ON s.gateway_subscription_id = j.job_key \
             WHERE j.dead ORDER BY j.updated_at DESC LIMIT {limit}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(DeadJob {
                    id: row.try_get("id")?,
                    key: row.try_get("job_key")?,
                    customer_id: row.try_get("aura_customer_id")?,
                    attempts: row.try_get("attempts")?,
                    last_error: row.try_get("last_error")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// Jobs waiting or running, and jobs parked as dead.
    pub async fn queue_sizes(&self) -> StoreResult<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(CASE WHEN dead THEN 0 ELSE 1 END), 0) AS waiting, \
             COALESCE(SUM(CASE WHEN dead THEN 1 ELSE 0 END), 0) AS dead FROM sync_jobs",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("waiting")?, row.try_get("dead")?))
    }

    /// Customers by coverage: a customer counts once, under the best coverage any of their
    /// subscriptions has (covered, then failed, pending, lapsed).
    pub async fn customers_by_coverage(&self, now: i64) -> StoreResult<Vec<(Coverage, i64)>> {
        let order = [
            Coverage::Covered,
            Coverage::Failed,
            Coverage::Pending,
            Coverage::Lapsed,
        ];
        let ranks: String = order
            .iter()
            .enumerate()
            .map(|(i, c)| format!("WHEN '{c}' THEN {i} "))
            .collect();
        let sql = format!(
            "SELECT CAST(r AS BIGINT) AS r, COUNT(*) AS n FROM (SELECT s.aura_customer_id, \
             MIN(CASE {coverage} {ranks} END) AS r {MAPPING_FROM} GROUP BY s.aura_customer_id) t GROUP BY r",
            coverage = Coverage::sql_case("$1"),
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        let mut counts: Vec<(Coverage, i64)> = order.iter().map(|c| (*c, 0)).collect();
        for row in rows {
            let rank: i64 = row.try_get("r")?;
            if let Some(slot) = counts.get_mut(rank as usize) {
                slot.1 = row.try_get("n")?;
            }
        }
        Ok(counts)
    }

    /// The one shape of every action: the change and its record in one transaction, with the
    /// follow-up sync enqueued in it. Returns false, changing nothing, when the change does not
    /// apply (no dead job to revive, no such subscription).
    pub async fn act(&self, action: &NewAction<'_>, change: &Change) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let applied = match change {
            Change::ReviveSync => revive_in(&mut tx, action.target).await?,
            Change::Resync => true,
            Change::SetDependants(ids) => set_dependants_in(&mut tx, action.target, ids).await?,
            Change::DropDependant(id) => drop_dependant_in(&mut tx, action.target, *id).await?,
            Change::EndCoverage(reason) => end_reason_in(&mut tx, action.target, reason).await?,
            Change::RecordOnly => true,
        };
        if !applied {
            tx.rollback().await?;
            return Ok(false);
        }
        match change {
            Change::ReviveSync => notify_in(&mut tx, self.backend).await?,
            Change::Resync
            | Change::SetDependants(_)
            | Change::DropDependant(_)
            | Change::EndCoverage(_) => {
                let kind = jobs::SYNC_SUBSCRIPTION;
                jobs::enqueue_in(&mut tx, self.backend, kind, action.target, now_ms()).await?;
            }
            Change::RecordOnly => {}
        }
        record_action_in(&mut tx, action).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The AURA calls about a customer: those naming them, and those naming one of their AURA
    /// subscriptions (updates and cancellations name only the subscription).
    pub async fn aura_calls_about(
        &self,
        customer: i64,
        aura_subscriptions: &[i64],
    ) -> StoreResult<Vec<super::AuraCallRow>> {
        let placeholders: Vec<String> = (0..aura_subscriptions.len())
            .map(|i| format!("${}", i + 2))
            .collect();
        let by_subscription = if placeholders.is_empty() {
            String::new()
        } else {
            format!(" OR aura_subscription_id IN ({})", placeholders.join(", "))
        };
        let sql = format!(
            "SELECT at, method, path, status, duration_ms, aura_customer_id, aura_subscription_id, error \
             FROM aura_calls WHERE aura_customer_id = $1{by_subscription} ORDER BY at, id"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(customer);
        for id in aura_subscriptions {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(super::AuraCallRow {
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

    pub async fn actions_for(&self, customer: i64) -> StoreResult<Vec<ActionRow>> {
        let rows = sqlx::query(
            "SELECT at, actor, action, target, detail FROM operator_actions \
             WHERE aura_customer_id = $1 ORDER BY at, id",
        )
        .bind(customer)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ActionRow {
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    /// The most failed logins any of `scopes` has had since `since`.
    pub async fn login_failures(&self, scopes: &[&str], since: i64) -> StoreResult<i64> {
        let mut worst = 0;
        for scope in scopes {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM login_failures WHERE scope = $1 AND at > $2",
            )
            .bind(*scope)
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
            worst = worst.max(n);
        }
        Ok(worst)
    }

    /// Records a login attempt under each scope as a failure until it proves otherwise, and
    /// forgets failures older than `forget_before`. Recording before the password is checked
    /// is what keeps parallel guesses from all slipping under the limit. Returns the rows, so
    /// an attempt that succeeds can take its own back.
    pub async fn record_login_attempt(
        &self,
        scopes: &[&str],
        forget_before: i64,
    ) -> StoreResult<Vec<i64>> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM login_failures WHERE at < $1")
            .bind(forget_before)
            .execute(&mut *tx)
            .await?;
        let mut ids = Vec::with_capacity(scopes.len());
        for scope in scopes {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO login_failures (scope, at) VALUES ($1, $2) RETURNING id",
            )
            .bind(*scope)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Takes back the rows of an attempt that turned out to be a good login.
    pub async fn forget_login_attempt(&self, ids: &[i64]) -> StoreResult<()> {
        for id in ids {
            sqlx::query("DELETE FROM login_failures WHERE id = $1")
                .bind(*id)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Ends a console session for good (its cookie could otherwise be replayed until it
    /// expires at `until`), forgetting ended sessions that have expired anyway.
    pub async fn end_session(&self, sid: &str, until: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM ended_sessions WHERE until_ms < $1")
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO ended_sessions (sid, until_ms) VALUES ($1, $2) ON CONFLICT (sid) DO NOTHING",
        )
        .bind(sid)
        .bind(until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    pub async fn session_ended(&self, sid: &str) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ended_sessions WHERE sid = $1")
            .bind(sid)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    pub async fn clear_login_failures(&self, scope: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM login_failures WHERE scope = $1")
            .bind(scope)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

async fn revive_in(tx: &mut Transaction<'_, Any>, subscription: &str) -> StoreResult<bool> {
    let now = now_ms();
    let revived = sqlx::query(
        "UPDATE sync_jobs SET dead = FALSE, attempts = 0, run_at = $3, updated_at = $3, \
         generation = generation + 1 WHERE kind = $1 AND job_key = $2 AND dead",
    )
    .bind(jobs::SYNC_SUBSCRIPTION)
    .bind(subscription)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(revived == 1)
}

async fn set_dependants_in(
    tx: &mut Transaction<'_, Any>,
    subscription: &str,
    ids: &[i64],
) -> StoreResult<bool> {
    let list = serde_json::to_string(ids).expect("ids serialise");
    let changed = sqlx::query(
        "UPDATE subscriptions SET dependants = $2, updated_at = $3 WHERE gateway_subscription_id = $1",
    )
    .bind(subscription)
    .bind(list)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Takes `refused` off the stored list by compare-and-swap, so a list written meanwhile is
/// never overwritten with an older one.
async fn drop_dependant_in(
    tx: &mut Transaction<'_, Any>,
    subscription: &str,
    refused: i64,
) -> StoreResult<bool> {
    let current: Option<String> = sqlx::query_scalar(
        "SELECT dependants FROM subscriptions WHERE gateway_subscription_id = $1",
    )
    .bind(subscription)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(current) = current else {
        return Ok(false);
    };
    let ids: Vec<i64> =
        serde_json::from_str(&current).map_err(|e| sqlx::Error::Decode(e.into()))?;
    if !ids.contains(&refused) {
        return Ok(false);
    }
    let kept: Vec<i64> = ids.into_iter().filter(|d| *d != refused).collect();
    let changed = sqlx::query(
        "UPDATE subscriptions SET dependants = $2, updated_at = $3 \
         WHERE gateway_subscription_id = $1 AND dependants = $4",
    )
    .bind(subscription)
    .bind(serde_json::to_string(&kept).expect("ids serialise"))
    .bind(now_ms())
    .bind(current)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// The end applies when its reason is the one claimed on the subscription (the action claimed
/// it with `claim_end_reason` before the gateway was asked); the reason is not written twice.
async fn end_reason_in(
    tx: &mut Transaction<'_, Any>,
    subscription: &str,
    reason: &str,
) -> StoreResult<bool> {
    let claimed: Option<String> = sqlx::query_scalar(
        "SELECT gateway_subscription_id FROM subscriptions \
         WHERE gateway_subscription_id = $1 AND end_reason = $2",
    )
    .bind(subscription)
    .bind(reason)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(claimed.is_some())
}

async fn notify_in(tx: &mut Transaction<'_, Any>, backend: Backend) -> StoreResult<()> {
    if backend == Backend::Postgres {
        jobs::notify(&mut **tx).await?;
    }
    Ok(())
}

async fn record_action_in(
    tx: &mut Transaction<'_, Any>,
    action: &NewAction<'_>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO operator_actions (at, actor, action, aura_customer_id, target, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now_ms())
    .bind(action.actor)
    .bind(action.action)
    .bind(action.customer_id)
    .bind(action.target)
    .bind(action.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
