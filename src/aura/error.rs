//! The client's one error type, and the reading of AURA's refusals into it.
//!
//! AURA gives no error codes: the same status covers several causes (a 409 is an existing
//! subscription, an unknown dependant or a dependant held elsewhere), and its bodies come in
//! three shapes. The cause is therefore read from the status plus a fragment of the message,
//! and every fragment relied on lives in [`classify`].

use super::types::{AuraSubscription, WireSubscription};

#[derive(Debug, thiserror::Error)]
pub enum AuraError {
    #[error("AURA already holds an active subscription for customer {}", shown(*customer_id))]
    AlreadyExists {
        customer_id: Option<i64>,
        existing: Option<AuraSubscription>,
    },
    #[error("AURA does not know dependant customer {}", shown(*customer_id))]
    DependantNotFound { customer_id: Option<i64> },
    #[error("dependant customer {} belongs to another AURA subscription", shown(*customer_id))]
    DependantTaken { customer_id: Option<i64> },
    #[error("AURA does not know the customer")]
    CustomerNotFound,
    #[error("AURA does not know the subscription, or it was cancelled")]
    SubscriptionNotFound,
    #[error("AURA refused a date in the past")]
    DateInPast,
    /// AURA gives the same answer for a type id it does not offer and for dependants the
    /// type cannot take (the collection documents both with one body).
    #[error("AURA does not offer the subscription type, or not with these dependants")]
    UnknownSubscriptionType,
    #[error("AURA refused the server token after a refresh")]
    Unauthorized,
    #[error("AURA did not accept the client id and secret")]
    BadCredentials,
    #[error("AURA is unavailable: {0}")]
    Transient(String),
    #[error("AURA refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("AURA's answer could not be read: {0}")]
    Malformed(String),
}

/// A customer id AURA named in its message, or a word when it named none.
fn shown(customer_id: Option<i64>) -> String {
    customer_id.map_or_else(|| "(not named)".to_owned(), |id| id.to_string())
}

impl AuraError {
    /// Only failures that say nothing about the request itself are worth repeating.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AuraError::Transient(_))
    }
}

/// The message of an error body, whichever of AURA's three shapes it takes; for a body that
/// is not JSON (`Cannot GET /...`), its first line, shortened.
pub(crate) fn error_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        let line = body.lines().next().unwrap_or("").trim();
        return format!(
            "non-JSON body: {}",
            line.chars().take(120).collect::<String>()
        );
    };
    ["errors", "error", "message"]
        .iter()
        .find_map(|key| value.get(key).and_then(|m| m.as_str()))
        .map(|m| m.trim().to_string())
        .unwrap_or_else(|| "error body without a message".to_string())
}

/// Reads a non-2xx answer (other than the 401 the transport handles) into an error.
pub(crate) fn classify(status: u16, body: &str) -> AuraError {
    if status >= 500 {
        return AuraError::Transient(format!("status {status}: {}", error_message(body)));
    }
    let message = error_message(body);
    let lower = message.to_lowercase();
    let has = |fragment: &str| lower.contains(fragment);

    match status {
        409 if has("subscription for main customer") => AuraError::AlreadyExists {
            customer_id: first_number(&message),
            existing: existing_subscription(body),
        },
        409 if has("dependant customer") && has("not found") => AuraError::DependantNotFound {
            customer_id: first_number(&message),
        },
        409 if has("dependant customer") && has("does not belong") => AuraError::DependantTaken {
            customer_id: first_number(&message),
        },
        400 if has("could not authenticate") => AuraError::BadCredentials,
        400 if has("subscriptiontype does not exist") => AuraError::UnknownSubscriptionType,
        400 if has("in the past") || has("earlier than the current date") => AuraError::DateInPast,
        400 | 404 if has("customer") && (has("does not exist") || has("customer not found")) => {
            AuraError::CustomerNotFound
        }
        404 if has("subscription") && (has("not found") || has("not valid")) => {
            AuraError::SubscriptionNotFound
        }
        _ => AuraError::Rejected { status, message },
    }
}

fn first_number(message: &str) -> Option<i64> {
    message
        .split(|c: char| !c.is_ascii_digit())
        .find(|part| !part.is_empty())
        .and_then(|digits| digits.parse().ok())
}

/// The 409 for an existing subscription carries it, without its customer id or dependants.
fn existing_subscription(body: &str) -> Option<AuraSubscription> {
    #[derive(serde::Deserialize)]
    struct Conflict {
        subscription: Option<WireSubscription>,
    }
    let conflict: Conflict = serde_json::from_str(body).ok()?;
    let customer_id = first_number(&error_message(body));
    conflict
        .subscription
        .map(|s| s.into_subscription(customer_id, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// These texts reach the operator's timeline: ids as numbers, no Rust debug output.
    #[test]
    fn messages_name_customers_plainly() {
        let e = AuraError::DependantNotFound {
            customer_id: Some(999_999),
        };
        assert_eq!(
            e.to_string(),
            "AURA does not know dependant customer 999999"
        );
        let e = AuraError::DependantTaken { customer_id: None };
        assert_eq!(
            e.to_string(),
            "dependant customer (not named) belongs to another AURA subscription"
        );
    }

    #[test]
    fn each_documented_refusal_has_its_own_variant() {
        let cases = [
            (
                409,
                r#"{"message":"Dependant Customer with id 99999 not found, please check request.","subscription":null}"#,
                "DependantNotFound { customer_id: Some(99999) }",
            ),
            (
                409,
                r#"{"message":"Subscription for dependant customer with id 164651 does not belong to subscription 280764 ","subscription":null}"#,
                "DependantTaken { customer_id: Some(164651) }",
            ),
            (
                400,
                r#"{"error":"Could not authenticate clientId"}"#,
                "BadCredentials",
            ),
            (
                400,
                r#"{"errors":"The subscriptionType does not exist for the SubscriptionTypeId in the request"}"#,
                "UnknownSubscriptionType",
            ),
            (
                400,
                r#"{"errors":"Date ranges cannot be in the past. Please enter a valid date range."}"#,
                "DateInPast",
            ),
            (
                400,
                r#"{"errors":"ValidTo date cannot be earlier than the current date"}"#,
                "DateInPast",
            ),
            (
                400,
                r#"{"errors":"Customer with id 1438999, does not exist"}"#,
                "CustomerNotFound",
            ),
            (
                404,
                r#"{"errors":"Customer not found."}"#,
                "CustomerNotFound",
            ),
            (
                404,
                r#"{"errors":"All customers linked to the subscription are not valid, please check customers linked to the subscription "}"#,
                "SubscriptionNotFound",
            ),
            (
                404,
                r#"{"errors":"Subscription not found for this customer"}"#,
                "SubscriptionNotFound",
            ),
            (
                503,
                "Service Unavailable",
                "Transient(\"status 503: non-JSON body: Service Unavailable\")",
            ),
        ];
        for (status, body, expected) in cases {
            assert_eq!(format!("{:?}", classify(status, body)), expected, "{body}");
        }
    }

    #[test]
    fn a_plain_text_404_is_a_clear_rejection() {
        let err = classify(404, "Cannot GET /v2/subscription/152284\n");
        assert_eq!(
            err.to_string(),
            "AURA refused the request (404): non-JSON body: Cannot GET /v2/subscription/152284"
        );
    }

    #[test]
    fn the_409_for_an_existing_subscription_carries_it() {
        let body = r#"{"message":"Subscription for main customer with id 143905 already exists","subscription":{"id":152285,"subscriptionTypeId":2,"validFrom":"2022-08-08T06:00:17.995Z","validTo":"2123-08-05T06:00:00.000Z","CancelledDate":null}}"#;
        let AuraError::AlreadyExists {
            customer_id,
            existing,
        } = classify(409, body)
        else {
            panic!("not AlreadyExists")
        };
        assert_eq!(customer_id, Some(143905));
        let existing = existing.expect("the existing subscription");
        assert_eq!(
            (existing.id, existing.customer_id, existing.cancelled),
            (152285, Some(143905), false)
        );
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        assert!(AuraError::Transient("x".into()).is_retryable());
        assert!(!AuraError::BadCredentials.is_retryable());
        assert!(
            !AuraError::Rejected {
                status: 400,
                message: "x".into()
            }
            .is_retryable()
        );
    }
}
