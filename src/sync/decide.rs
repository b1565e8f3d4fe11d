//! The reconciliation decision: given what the gateway says now and what AURA is known to
//! hold, which single AURA call (if any) converges them. A pure function of its inputs, so
//! duplicates, reordering and replays of the events that triggered it change nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{gateway::SubscriptionStatus, store::AuraState};

/// What the gateway says about one subscription, reduced to what the decision needs.
#[derive(Debug, Clone)]
pub struct GatewayView {
    pub status: SubscriptionStatus,
    pub paid_through: Option<DateTime<Utc>>,
    pub cancellation_reason: Option<String>,
    /// The reason an operator gave when they ended the coverage; it outranks the gateway's.
    pub operator_reason: Option<String>,
}

/// What the store knows AURA holds for that subscription.
#[derive(Debug, Clone)]
pub struct AuraView {
    pub state: AuraState,
    pub subscription_id: Option<i64>,
    pub valid_to: Option<DateTime<Utc>>,
    pub dependants: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// AURA already matches, or the gateway's state asks for no change (with why).
    Nothing(&'static str),
    Create {
        valid_from: DateTime<Utc>,
        valid_to: DateTime<Utc>,
    },
    /// `PUT` a later `validTo` and the whole dependant list.
    Update {
        subscription_id: i64,
        valid_to: DateTime<Utc>,
    },
    Cancel {
        subscription_id: i64,
        reason: String,
    },
}

/// Decides the one AURA call that makes AURA match the gateway.
///
/// Coverage runs to the paid-through date plus `margin`; it only ever moves forward on a
/// payment, and it ends only when the gateway says the subscription is over.
pub fn decide(
    gateway: &GatewayView,
    aura: &AuraView,
    desired_dependants: &[i64],
    margin: Duration,
    now: DateTime<Utc>,
) -> Decision {
    use SubscriptionStatus as S;
    match &gateway.status {
        S::Active | S::Trialing | S::PastDue | S::Paused => {
            cover_until_paid_through(gateway, aura, desired_dependants, margin, now)
        }
        S::Canceled | S::Unpaid | S::IncompleteExpired => end_coverage(gateway, aura),
        S::Incomplete => Decision::Nothing("the first payment is not complete yet"),
        S::Other(_) => Decision::Nothing("unknown gateway status: left as it is"),
    }
}

fn cover_until_paid_through(
    gateway: &GatewayView,
    aura: &AuraView,
    desired_dependants: &[i64],
    margin: Duration,
    now: DateTime<Utc>,
) -> Decision {
    let Some(paid_through) = gateway.paid_through else {
        return Decision::Nothing("the gateway gave no paid-through date");
    };
    let target =
        paid_through + chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::days(3));
    if target <= now {
        return Decision::Nothing("paid-through plus the margin is already past");
    }

    match (aura.state, aura.subscription_id) {
        (AuraState::Active, Some(id)) => {
            let known = aura.valid_to.unwrap_or(target);
            let later = known.max(target);
            if later > known || aura.dependants != desired_dependants {
                Decision::Update {
                    subscription_id: id,
                    valid_to: later,
                }
            } else {
                Decision::Nothing("AURA already covers the paid period")
            }
        }
        _ if matches!(gateway.status, SubscriptionStatus::Paused) => {
            Decision::Nothing("paused: no new coverage")
        }
        _ => Decision::Create {
            valid_from: now,
            valid_to: target,
        },
    }
}

fn end_coverage(gateway: &GatewayView, aura: &AuraView) -> Decision {
    match (aura.state, aura.subscription_id) {
        (AuraState::Active, Some(id)) => Decision::Cancel {
            subscription_id: id,
            reason: cancel_reason(gateway),
        },
        _ => Decision::Nothing("no active AURA subscription to end"),
    }
}

/// The reason AURA records for a cancellation, in words an AURA operator understands.
pub fn cancel_reason(gateway: &GatewayView) -> String {
    if let Some(reason) = &gateway.operator_reason {
        return reason.clone();
    }
    let reason = match (&gateway.status, gateway.cancellation_reason.as_deref()) {
        (SubscriptionStatus::Unpaid, _) | (_, Some("payment_failed")) => "Payment failed",
        (SubscriptionStatus::IncompleteExpired, _) => "First payment was never completed",
        (_, Some("payment_disputed")) => "Payment disputed",
        (_, Some("cancellation_requested")) => "Cancelled by the customer",
        _ => "Subscription ended at the payment gateway",
    };
    reason.to_owned()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const MARGIN: Duration = Duration::from_secs(3 * 86_400);

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap()
    }

    fn days(n: i64) -> chrono::Duration {
        chrono::Duration::days(n)
    }

    fn gateway(status: &str, paid_through: Option<DateTime<Utc>>) -> GatewayView {
        GatewayView {
            status: SubscriptionStatus::parse(status),
            paid_through,
            cancellation_reason: None,
            operator_reason: None,
        }
    }

    fn none() -> AuraView {
        AuraView {
            state: AuraState::None,
            subscription_id: None,
            valid_to: None,
            dependants: vec![],
        }
    }

    fn active(valid_to: DateTime<Utc>) -> AuraView {
        AuraView {
            state: AuraState::Active,
            subscription_id: Some(7),
            valid_to: Some(valid_to),
            dependants: vec![],
        }
    }

    fn cancelled() -> AuraView {
        AuraView {
            state: AuraState::Cancelled,
            subscription_id: Some(7),
            valid_to: Some(now() + days(5)),
            dependants: vec![],
        }
    }

    const ALL_STATUSES: [&str; 9] = [
        "incomplete",
        "incomplete_expired",
        "trialing",
        "active",
        "past_due",
        "canceled",
        "unpaid",
        "paused",
        "something_new",
    ];

    /// Every status against every kind of known AURA state: the whole table, written out.
    #[test]
    fn decision_table_over_every_status_and_aura_state() {
        let paid = Some(now() + days(30));
        let target = now() + days(33);
        for status in ALL_STATUSES {
            for (name, aura) in [
                ("none", none()),
                ("active", active(now() + days(2))),
                ("cancelled", cancelled()),
            ] {
                let got = decide(&gateway(status, paid), &aura, &[], MARGIN, now());
                let want = match (status, name) {
                    ("active" | "trialing" | "past_due", "active") => Decision::Update {
                        subscription_id: 7,
                        valid_to: target,
                    },
                    ("active" | "trialing" | "past_due", _) => Decision::Create {
                        valid_from: now(),
                        valid_to: target,
                    },
                    ("paused", "active") => Decision::Update {
                        subscription_id: 7,
                        valid_to: target,
                    },
                    ("canceled" | "unpaid" | "incomplete_expired", "active") => Decision::Cancel {
                        subscription_id: 7,
                        reason: cancel_reason(&gateway(status, paid)),
                    },
                    _ => match got {
                        Decision::Nothing(_) => got.clone(),
                        _ => panic!("{status}/{name}: expected nothing, got {got:?}"),
                    },
                };
                assert_eq!(got, want, "{status} with AURA {name}");
            }
        }
    }

    #[test]
    fn valid_to_never_moves_backwards_on_a_payment_event() {
        let aura = active(now() + days(60));
        let got = decide(
            &gateway("active", Some(now() + days(30))),
            &aura,
            &[],
            MARGIN,
            now(),
        );
        assert!(matches!(got, Decision::Nothing(_)), "{got:?}");
    }

    #[test]
    fn past_due_leaves_coverage_where_it_is() {
        let aura = active(now() + days(33));
        let got = decide(
            &gateway("past_due", Some(now() + days(30))),
            &aura,
            &[],
            MARGIN,
            now(),
        );
        assert!(matches!(got, Decision::Nothing(_)), "{got:?}");
    }

    #[test]
    fn cancel_at_period_end_changes_nothing_until_the_gateway_says_over() {
        let aura = active(now() + days(33));
        let mut g = gateway("active", Some(now() + days(30)));
        g.cancellation_reason = Some("cancellation_requested".into());
        assert!(matches!(
            decide(&g, &aura, &[], MARGIN, now()),
            Decision::Nothing(_)
        ));
    }

    #[test]
    fn changed_dependants_are_sent_even_when_the_date_is_unchanged() {
        let aura = active(now() + days(33));
        let got = decide(
            &gateway("active", Some(now() + days(30))),
            &aura,
            &[11, 12],
            MARGIN,
            now(),
        );
        assert_eq!(
            got,
            Decision::Update {
                subscription_id: 7,
                valid_to: now() + days(33)
            }
        );
    }

    #[test]
    fn a_missing_or_expired_paid_through_never_creates_coverage() {
        assert!(matches!(
            decide(&gateway("active", None), &none(), &[], MARGIN, now()),
            Decision::Nothing(_)
        ));
        let long_ago = Some(now() - days(10));
        assert!(matches!(
            decide(&gateway("active", long_ago), &none(), &[], MARGIN, now()),
            Decision::Nothing(_)
        ));
    }

    #[test]
    fn cancellation_reasons_say_why() {
        let mut g = gateway("canceled", None);
        g.cancellation_reason = Some("cancellation_requested".into());
        assert_eq!(cancel_reason(&g), "Cancelled by the customer");
        g.cancellation_reason = Some("payment_failed".into());
        assert_eq!(cancel_reason(&g), "Payment failed");
        assert_eq!(cancel_reason(&gateway("unpaid", None)), "Payment failed");
        // An operator's "end coverage" cancels at the gateway, which reports a customer's
        // request: the operator's own words are what AURA records.
        g.cancellation_reason = Some("cancellation_requested".into());
        g.operator_reason = Some("Fraud check".into());
        assert_eq!(cancel_reason(&g), "Fraud check");
    }
}
