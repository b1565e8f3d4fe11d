//! How stored rows are shown: times in UTC, blanks as a dash, and the same columns in the
//! table and in the CSV export.

use crate::{
    admin::coverage::Coverage,
    store::{DeadJob, JobRow, MappingRow, SortKey, SubscriptionRow, from_ms},
};

/// A time as operators read it; a dash when there is none.
pub fn when(ms: Option<i64>) -> String {
    ms.map_or_else(
        || "–".into(),
        |ms| from_ms(ms).format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "–".into(), |v| v.to_string())
}

/// One row of the mapping table.
pub struct RowView {
    pub customer: i64,
    pub plan: String,
    pub gateway_customer: String,
    pub subscription: String,
    pub status: String,
    pub paid_through: String,
    pub aura_subscription: String,
    pub valid_to: String,
    pub coverage: Coverage,
    pub changed: String,
}

impl From<&MappingRow> for RowView {
    fn from(r: &MappingRow) -> Self {
        Self {
            customer: r.customer_id,
            plan: r.plan.clone(),
            gateway_customer: or_dash(r.gateway_customer_id.as_ref()),
            subscription: r.gateway_subscription_id.clone(),
            status: r.gateway_status.clone(),
            paid_through: when(r.paid_through),
            aura_subscription: or_dash(r.aura_subscription_id),
            valid_to: when(r.aura_valid_to),
            coverage: r.coverage,
            changed: when(Some(r.updated_at)),
        }
    }
}

pub struct DeadJobView {
    pub key: String,
    pub customer: Option<i64>,
    pub attempts: i64,
    pub error: String,
    pub since: String,
}

impl From<&DeadJob> for DeadJobView {
    fn from(j: &DeadJob) -> Self {
        Self {
            key: j.key.clone(),
            customer: j.customer_id,
            attempts: j.attempts,
            error: j.last_error.clone().unwrap_or_default(),
            since: when(Some(j.updated_at)),
        }
    }
}

/// A subscription on the customer's page, with what the actions need to know.
pub struct SubscriptionView {
    pub id: String,
    pub plan: String,
    pub family: bool,
    pub gateway_customer: String,
    pub status: String,
    pub paid_through: String,
    pub aura_subscription: String,
    pub aura_state: String,
    pub valid_to: String,
    pub coverage: Coverage,
    pub dependants: String,
    pub aura_dependants: String,
    pub last_error: Option<String>,
    pub job: Option<String>,
    pub job_dead: bool,
    /// There is something to end: a gateway subscription not over yet, or AURA coverage.
    pub can_end: bool,
}

impl SubscriptionView {
    pub fn new(s: &SubscriptionRow, job: Option<&JobRow>, now: i64) -> Self {
        let aura_active = s.aura_state == crate::store::AuraState::Active;
        let job_dead = job.is_some_and(|j| j.dead);
        Self {
            id: s.gateway_subscription_id.clone(),
            plan: s.plan.to_string(),
            family: s.plan == crate::domain::PlanKind::Family,
            gateway_customer: or_dash(s.gateway_customer_id.as_ref()),
            status: s.gateway_status.clone(),
            paid_through: when(s.paid_through),
            aura_subscription: or_dash(s.aura_subscription_id),
            aura_state: s.aura_state.as_str().to_owned(),
            valid_to: when(s.aura_valid_to),
            coverage: Coverage::of(
                &s.gateway_status,
                aura_active,
                s.aura_valid_to,
                job_dead,
                now,
            ),
            dependants: ids(&s.dependants),
            aura_dependants: ids(&s.aura_dependants),
            last_error: s.last_error.clone(),
            job: job.map(|j| {
                let state = if j.dead {
                    "failed"
                } else if j.attempts > 0 {
                    "retrying"
                } else {
                    "queued"
                };
                format!(
                    "{state}, {} attempt(s), due {}",
                    j.attempts,
                    when(Some(j.run_at))
                )
            }),
            job_dead,
            can_end: aura_active
                || !["canceled", "incomplete_expired"].contains(&s.gateway_status.as_str()),
        }
    }
}

fn ids(list: &[i64]) -> String {
    list.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An option of a `<select>`.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub fn coverage_choices(current: Option<Coverage>) -> Vec<Choice> {
    let mut choices = vec![Choice {
        value: "",
        label: "any coverage",
        selected: current.is_none(),
    }];
    choices.extend(Coverage::ALL.into_iter().map(|c| Choice {
        value: c.as_str(),
        label: c.as_str(),
        selected: current == Some(c),
    }));
    choices
}

pub fn sort_choices(current: SortKey) -> Vec<Choice> {
    SortKey::ALL
        .into_iter()
        .map(|k| Choice {
            value: k.as_str(),
            label: match k {
                SortKey::Customer => "AURA customer",
                SortKey::Status => "gateway status",
                SortKey::PaidThrough => "paid through",
                SortKey::ValidTo => "AURA validTo",
                SortKey::Coverage => "coverage",
                SortKey::Changed => "last change",
            },
            selected: k == current,
        })
        .collect()
}

/// The line shown after an action, by the action's recorded name.
pub fn done_message(action: &str) -> Option<&'static str> {
    Some(match action {
        "retry_sync" => "Retry queued: the failed sync runs again now.",
        "resync" => "Resync queued: the gateway's state will be fetched and applied.",
        "set_dependants" => "Dependants saved; the sync sends the whole list to AURA.",
        "end_coverage" => {
            "Payments stopped at the gateway; the sync ends the AURA subscription with your reason."
        }
        "sandbox_renew" => "The sandbox gateway renewed the subscription; its event is on the way.",
        "sandbox_fail_next_renewal" => "The next sandbox renewal will fail.",
        "sandbox_cancel" => {
            "The sandbox gateway cancelled the subscription; its event is on the way."
        }
        _ => return None,
    })
}

pub const CSV_HEADER: [&str; 10] = [
    "aura_customer_id",
    "plan",
    "gateway_customer_id",
    "gateway_subscription_id",
    "gateway_status",
    "paid_through",
    "aura_subscription_id",
    "aura_valid_to",
    "coverage",
    "last_change",
];

/// The rows as CSV, times in RFC 3339 so spreadsheets and scripts read them alike.
/// Text that a spreadsheet would take for a formula (it starts with `=`, `+`, `-`, `@`, a
/// tab or a carriage return) gets a leading apostrophe, so opening the export runs nothing.
fn inert_in_a_spreadsheet(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

pub fn to_csv(rows: &[MappingRow]) -> Result<Vec<u8>, csv::Error> {
    let time = |ms: Option<i64>| ms.map(super::timeline::rfc3339).unwrap_or_default();
    let text = |s: &str| inert_in_a_spreadsheet(s);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    for r in rows {
        w.write_record([
            r.customer_id.to_string(),
            text(&r.plan),
            text(r.gateway_customer_id.as_deref().unwrap_or_default()),
            text(&r.gateway_subscription_id),
            text(&r.gateway_status),
            time(r.paid_through),
            r.aura_subscription_id
                .map(|i| i.to_string())
                .unwrap_or_default(),
            time(r.aura_valid_to),
            r.coverage.to_string(),
            time(Some(r.updated_at)),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_a_spreadsheet_would_run_is_made_inert_and_ids_are_kept() {
        for (raw, written) in [
            (
                "=HYPERLINK(\"http://evil.example\")",
                "'=HYPERLINK(\"http://evil.example\")",
            ),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("sub_1Pgc6rB7WZ01zgkW", "sub_1Pgc6rB7WZ01zgkW"),
            ("", ""),
        ] {
            assert_eq!(inert_in_a_spreadsheet(raw), written, "{raw:?}");
        }
    }
}
