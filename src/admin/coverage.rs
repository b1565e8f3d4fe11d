//! What "coverage" means in the console, the API and the metrics: one definition in Rust and
//! its SQL mirror (used to filter, sort and count in the database), kept in agreement by the
//! store suite.

use serde::{Deserialize, Serialize};

/// Whether a customer's panic button works for one gateway subscription, and if not, why.
///
/// - `Covered`: AURA holds an active subscription whose `validTo` is still ahead. This is what
///   matters to the customer, so it wins over everything else (a dead job that failed to
///   *extend* coverage still shows in the attention list).
/// - `Failed`: not covered, and the sync job is dead: it will not try again without an
///   operator.
/// - `Pending`: not covered, but the gateway says the customer pays (or is completing the first
///   payment), so a sync is on its way or retrying.
/// - `Lapsed`: not covered, and the gateway says the subscription is not paid (cancelled,
///   unpaid, expired, paused): coverage follows payment, so there is nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Coverage {
    Covered,
    Pending,
    Lapsed,
    Failed,
}

/// Gateway statuses under which the customer is paying, or completing the first payment.
pub const PAYING_STATUSES: [&str; 4] = ["active", "trialing", "past_due", "incomplete"];

impl Coverage {
    pub const ALL: [Coverage; 4] = [
        Coverage::Covered,
        Coverage::Pending,
        Coverage::Lapsed,
        Coverage::Failed,
    ];

    /// The order an operator reads them in when sorting: what needs a person first.
    pub const WORST_FIRST: [Coverage; 4] = [
        Coverage::Failed,
        Coverage::Lapsed,
        Coverage::Pending,
        Coverage::Covered,
    ];

    /// The definition. `aura_active` is the stored AURA state being `active`; `job_dead` is
    /// whether the subscription's sync job is parked as dead.
    pub fn of(
        gateway_status: &str,
        aura_active: bool,
        aura_valid_to: Option<i64>,
        job_dead: bool,
        now_ms: i64,
    ) -> Self {
        if aura_active && aura_valid_to.is_some_and(|v| v > now_ms) {
            Coverage::Covered
        } else if job_dead {
            Coverage::Failed
        } else if PAYING_STATUSES.contains(&gateway_status) {
            Coverage::Pending
        } else {
            Coverage::Lapsed
        }
    }

    /// The same definition as a SQL expression over `subscriptions s` left-joined to its
    /// `sync_jobs j`, with the current time bound as `now_param` (such as `$1`).
    pub fn sql_case(now_param: &str) -> String {
        let paying = PAYING_STATUSES.map(|s| format!("'{s}'")).join(", ");
        format!(
            "(CASE WHEN s.aura_state = 'active' AND s.aura_valid_to > {now_param} THEN 'covered' \
             WHEN j.dead THEN 'failed' \
             WHEN s.gateway_status IN ({paying}) THEN 'pending' ELSE 'lapsed' END)"
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Coverage::Covered => "covered",
            Coverage::Pending => "pending",
            Coverage::Lapsed => "lapsed",
            Coverage::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Coverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    #[test]
    fn active_aura_with_a_future_valid_to_is_covered_even_with_a_dead_job() {
        assert_eq!(
            Coverage::of("canceled", true, Some(NOW + 1), true, NOW),
            Coverage::Covered
        );
    }

    #[test]
    fn an_expired_or_inactive_aura_subscription_is_not_covered() {
        assert_eq!(
            Coverage::of("active", true, Some(NOW), false, NOW),
            Coverage::Pending
        );
        assert_eq!(
            Coverage::of("active", false, Some(NOW + 9), false, NOW),
            Coverage::Pending
        );
        assert_eq!(
            Coverage::of("active", true, None, false, NOW),
            Coverage::Pending
        );
    }

    #[test]
    fn a_dead_job_without_coverage_is_failed_whatever_the_gateway_says() {
        for status in ["active", "canceled", "unpaid"] {
            assert_eq!(
                Coverage::of(status, false, None, true, NOW),
                Coverage::Failed
            );
        }
    }

    #[test]
    fn unpaid_statuses_without_coverage_are_lapsed() {
        for status in [
            "canceled",
            "unpaid",
            "incomplete_expired",
            "paused",
            "new_thing",
        ] {
            assert_eq!(
                Coverage::of(status, false, None, false, NOW),
                Coverage::Lapsed,
                "{status}"
            );
        }
    }

    #[test]
    fn coverage_names_round_trip() {
        for c in Coverage::ALL {
            assert_eq!(Coverage::parse(c.as_str()), Some(c));
        }
        assert_eq!(Coverage::parse("fine"), None);
    }
}
