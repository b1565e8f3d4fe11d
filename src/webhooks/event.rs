//! Reading the few fields this service needs out of a Stripe webhook event.
//!
//! Events are read as loose JSON rather than a closed typed model: Stripe adds event types and
//! enum values, and sends each endpoint its own API version, so a typed parse would start
//! failing on a Stripe release. What matters is the event's identity and which subscription
//! it concerns; everything else is fetched fresh from the gateway by reconciliation.

use serde_json::Value;

/// What the intake stores and acts on for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    pub id: String,
    pub event_type: String,
    pub livemode: bool,
    pub created: i64,
    /// The gateway subscription the event concerns, when it concerns one.
    pub subscription_id: Option<String>,
    /// Whether this service acts on the event type; others are acknowledged and ignored.
    pub handled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not an event at all: answer 400, a retry cannot help.
    #[error("not a Stripe event: {0}")]
    Malformed(String),
    /// An event we act on whose subscription we cannot find. Answer 5xx so Stripe keeps
    /// retrying until a fix is deployed, rather than acknowledging and losing it.
    #[error("event {event_id} ({event_type}) is unreadable: {reason}")]
    Unreadable {
        event_id: String,
        event_type: String,
        reason: String,
    },
}

/// The event types this service acts on, by family.
const CHECKOUT_EVENTS: &[&str] = &[
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
];
const SUBSCRIPTION_EVENTS: &[&str] = &[
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.pending_update_applied",
    "customer.subscription.pending_update_expired",
    "customer.subscription.trial_will_end",
];
const INVOICE_EVENTS: &[&str] = &[
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.upcoming",
    "invoice.finalized",
];

/// Reads an event's identity and subscription from the raw body.
pub fn summarise(raw: &[u8]) -> Result<EventSummary, EventError> {
    let event: Value = serde_json::from_slice(raw)
        .map_err(|e| EventError::Malformed(format!("not JSON ({e})")))?;
    let Some(fields) = event.as_object() else {
        return Err(EventError::Malformed("not a JSON object".into()));
    };
    let id = non_empty_str(fields.get("id"))
        .ok_or_else(|| EventError::Malformed("no string `id`".into()))?;
    let event_type = non_empty_str(fields.get("type"))
        .ok_or_else(|| EventError::Malformed("no string `type`".into()))?;

    for (what, value) in [("id", id), ("type", event_type)] {
        if !is_identifier(value) {
            return Err(EventError::Malformed(format!(
                "`{what}` is not a Stripe identifier"
            )));
        }
    }
    let livemode = match fields.get("livemode") {
        None => false,
        Some(Value::Bool(live)) => *live,
        Some(other) => {
            return Err(EventError::Malformed(format!(
                "`livemode` is {}, not a boolean",
                kind(other)
            )));
        }
    };

    let mut summary = EventSummary {
        id: id.to_owned(),
        event_type: event_type.to_owned(),
        livemode,
        created: fields.get("created").and_then(Value::as_i64).unwrap_or(0),
        subscription_id: None,
        handled: false,
    };

    let object = event.pointer("/data/object");
    let found = match family(event_type) {
        Some(Family::Checkout) => checkout_subscription(event_type, object),
        Some(Family::Subscription) => subscription_object_id(object),
        Some(Family::Invoice) => invoice_subscription(object),
        None => Ok(Found::Ignored(best_effort_subscription(object))),
    };

    if let Ok(Found::Subscription(Some(sub))) = &found
        && !is_identifier(sub)
    {
        return Err(EventError::Malformed(
            "the subscription id is not a Stripe identifier".into(),
        ));
    }
    // An event of a type without effect is acknowledged whatever it names; only a sound
    // id is kept with it.
    let found = match found {
        Ok(Found::Ignored(sub)) => Ok(Found::Ignored(sub.filter(|s| is_identifier(s)))),
        other => other,
    };
    match found {
        Ok(Found::Subscription(sub)) => {
            summary.subscription_id = sub;
            summary.handled = true;
        }
        Ok(Found::Ignored(sub)) => summary.subscription_id = sub,
        Err(reason) => {
            return Err(EventError::Unreadable {
                event_id: summary.id,
                event_type: summary.event_type,
                reason,
            });
        }
    }
    Ok(summary)
}

enum Family {
    Checkout,
    Subscription,
    Invoice,
}

fn family(event_type: &str) -> Option<Family> {
    if CHECKOUT_EVENTS.contains(&event_type) {
        Some(Family::Checkout)
    } else if SUBSCRIPTION_EVENTS.contains(&event_type) {
        Some(Family::Subscription)
    } else if INVOICE_EVENTS.contains(&event_type) {
        Some(Family::Invoice)
    } else {
        None
    }
}

/// The outcome for a handled type: either it is ours (with its subscription, which some
/// checkout events legitimately lack), or on inspection it is not a subscription object of
/// ours at all (a one-off payment session or invoice sharing the Stripe account).
enum Found {
    Subscription(Option<String>),
    Ignored(Option<String>),
}

/// Sessions in subscription mode carry the subscription once it exists. An expired or failed
/// session may never have created one; a completed or succeeded one always has.
fn checkout_subscription(event_type: &str, object: Option<&Value>) -> Result<Found, String> {
    let object = object.filter(|o| o.is_object()).ok_or("no data.object")?;
    let subscription = expandable_id(object.get("subscription"))
        .map_err(|e| format!("data.object.subscription {e}"))?;

    let mode = object.get("mode").and_then(Value::as_str);
    if subscription.is_none() && mode.is_some_and(|m| m != "subscription") {
        return Ok(Found::Ignored(None));
    }

    let must_have_one = matches!(
        event_type,
        "checkout.session.completed" | "checkout.session.async_payment_succeeded"
    );
    if must_have_one && subscription.is_none() {
        return Err(
            "a completed subscription-mode session without data.object.subscription".into(),
        );
    }
    Ok(Found::Subscription(subscription))
}

/// `customer.subscription.*` events carry the subscription itself as the object.
fn subscription_object_id(object: Option<&Value>) -> Result<Found, String> {
    match object.and_then(|o| non_empty_str(o.get("id"))) {
        Some(id) => Ok(Found::Subscription(Some(id.to_owned()))),
        None => Err("no data.object.id".into()),
    }
}

/// Invoices name their subscription in a place that depends on the API version: the top-level
/// `subscription` in older versions, `parent.subscription_details.subscription` in newer ones,
/// and, per line, `parent.subscription_item_details.subscription` or `subscription`.
fn invoice_subscription(object: Option<&Value>) -> Result<Found, String> {
    let object = object.filter(|o| o.is_object()).ok_or("no data.object")?;

    let mut candidates = vec![
        ("subscription", object.get("subscription")),
        (
            "parent.subscription_details.subscription",
            object.pointer("/parent/subscription_details/subscription"),
        ),
    ];
    let lines = object
        .pointer("/lines/data")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for line in lines {
        candidates.push((
            "lines.parent.subscription_item_details.subscription",
            line.pointer("/parent/subscription_item_details/subscription"),
        ));
        candidates.push(("lines.subscription", line.get("subscription")));
    }

    for (path, value) in candidates {
        if let Some(id) = expandable_id(value).map_err(|e| format!("data.object.{path} {e}"))? {
            return Ok(Found::Subscription(Some(id)));
        }
    }

    // Only subscription invoices are ours. One that says it bills a subscription (by its
    // billing reason or its parent) but names none is a shape we do not understand; any other
    // (a one-off `manual` invoice, a quote, pending items, a reason Stripe adds later) belongs
    // to no subscription and is acknowledged without effect.
    let reason = object.get("billing_reason").and_then(Value::as_str);
    let parent = object.pointer("/parent/type").and_then(Value::as_str);
    let bills_a_subscription = reason.is_none_or(|r| r.starts_with("subscription"))
        || parent == Some("subscription_details");
    if bills_a_subscription {
        return Err(
            "no subscription under subscription, parent.subscription_details or lines".into(),
        );
    }
    Ok(Found::Ignored(None))
}

/// For event types we do not act on: whatever subscription is plainly visible, for the log.
fn best_effort_subscription(object: Option<&Value>) -> Option<String> {
    let object = object?;
    if object.get("object").and_then(Value::as_str) == Some("subscription") {
        return non_empty_str(object.get("id")).map(str::to_owned);
    }
    expandable_id(object.get("subscription")).ok().flatten()
}

/// An expandable reference: absent or `null` (none), an id string, or an expanded object with
/// an `id`. Any other shape is an error, never silently "none".
fn expandable_id(value: Option<&Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if !id.is_empty() => Ok(Some(id.clone())),
        Some(Value::Object(obj)) => match non_empty_str(obj.get("id")) {
            Some(id) => Ok(Some(id.to_owned())),
            None => Err("is an object without an id".into()),
        },
        Some(other) => Err(format!("is neither an id nor an object ({})", kind(other))),
    }
}

/// What Stripe's ids and event types are made of: letters, digits, `_`, `-`, `.` and `:`,
/// at most 255 of them. Anything else (a NUL byte Postgres cannot store, a path, a space) is
/// no Stripe id, and is refused before it reaches the store.
fn is_identifier(s: &str) -> bool {
    s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

fn non_empty_str(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "an empty string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const EVENT: &str = include_str!("../../tests/fixtures/stripe/event.json");
    const INVOICE: &str = include_str!("../../tests/fixtures/stripe/invoice.json");
    const SUBSCRIPTION: &str = include_str!("../../tests/fixtures/stripe/subscription.json");
    const SESSION: &str = include_str!("../../tests/fixtures/stripe/checkout_session.json");

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// Stripe's example event with its type and object replaced, serialised pretty like Stripe.
    fn event(event_type: &str, object: Value) -> Vec<u8> {
        let mut event = fixture(EVENT);
        event["type"] = json!(event_type);
        event["data"]["object"] = object;
        serde_json::to_vec_pretty(&event).unwrap()
    }

    /// The invoice fixture as an older API version sends it: subscription at the top level only.
    fn old_invoice(subscription: Value) -> Value {
        let mut invoice = fixture(INVOICE);
        invoice["subscription"] = subscription;
        invoice["billing_reason"] = json!("subscription_cycle");
        invoice.as_object_mut().unwrap().remove("parent");
        invoice["lines"]["data"][0]
            .as_object_mut()
            .unwrap()
            .remove("parent");
        invoice
    }

    /// The invoice fixture as a newer API version sends it: under `parent.subscription_details`.
    fn new_invoice(subscription: &str) -> Value {
        let mut invoice = fixture(INVOICE);
        invoice["billing_reason"] = json!("subscription_cycle");
        invoice["parent"] = json!({
            "quote_details": null,
            "subscription_details": { "metadata": {}, "subscription": subscription },
            "type": "subscription_details"
        });
        invoice["lines"]["data"][0]["parent"]["subscription_item_details"]["subscription"] =
            json!(subscription);
        invoice
    }

    fn session(mode: &str, subscription: Value) -> Value {
        let mut session = fixture(SESSION);
        session["mode"] = json!(mode);
        session["subscription"] = subscription;
        session
    }

    /// Ids and types Postgres cannot store (a NUL byte) or that are no Stripe id at all are
    /// malformed events: a 400, not a 503 the gateway retries forever.
    #[test]
    fn ids_types_and_subscriptions_that_are_not_stripe_identifiers_are_malformed() {
        let mut subscription = fixture(SUBSCRIPTION);
        subscription["id"] = json!("sub_../../v1/checkout/sessions");
        let bad_subscription = event("customer.subscription.updated", subscription);
        let mut nul_id = fixture(EVENT);
        nul_id["id"] = json!("evt_\u{0}bad");
        let mut spaced_type = fixture(EVENT);
        spaced_type["type"] = json!("plan created");
        let mut string_livemode = fixture(EVENT);
        string_livemode["livemode"] = json!("true");
        for raw in [
            bad_subscription,
            serde_json::to_vec(&nul_id).unwrap(),
            serde_json::to_vec(&spaced_type).unwrap(),
            serde_json::to_vec(&string_livemode).unwrap(),
        ] {
            assert!(
                matches!(summarise(&raw), Err(EventError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(&raw)
            );
        }
    }

    #[test]
    fn canonical_fixture_event_of_an_unhandled_type_is_read_but_not_handled() {
        let summary = summarise(EVENT.as_bytes()).unwrap();
        assert_eq!(
            summary,
            EventSummary {
                id: "evt_1Pgc76B7WZ01zgkWwyRHS12y".into(),
                event_type: "plan.created".into(),
                livemode: false,
                created: 1234567890,
                subscription_id: None,
                handled: false,
            }
        );
    }

    #[test]
    fn unknown_event_type_is_unhandled_and_keeps_any_visible_subscription() {
        let mut sub = fixture(SUBSCRIPTION);
        sub["id"] = json!("sub_future");
        let summary = summarise(&event("customer.subscription.reticulated", sub)).unwrap();
        assert!(!summary.handled);
        assert_eq!(summary.subscription_id.as_deref(), Some("sub_future"));
    }

    #[test]
    fn every_subscription_event_reads_the_object_id() {
        for event_type in SUBSCRIPTION_EVENTS {
            let summary = summarise(&event(event_type, fixture(SUBSCRIPTION))).unwrap();
            assert!(summary.handled, "{event_type}");
            assert_eq!(
                summary.subscription_id.as_deref(),
                Some("sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"),
                "{event_type}"
            );
        }
    }

    #[test]
    fn subscription_event_without_object_id_is_unreadable() {
        let mut sub = fixture(SUBSCRIPTION);
        sub.as_object_mut().unwrap().remove("id");
        let err = summarise(&event("customer.subscription.updated", sub)).unwrap_err();
        assert!(matches!(err, EventError::Unreadable { .. }), "{err}");
    }

    #[test]
    fn invoice_from_an_older_api_version_reads_the_top_level_subscription() {
        for event_type in INVOICE_EVENTS {
            let summary = summarise(&event(event_type, old_invoice(json!("sub_old")))).unwrap();
            assert!(summary.handled, "{event_type}");
            assert_eq!(
                summary.subscription_id.as_deref(),
                Some("sub_old"),
                "{event_type}"
            );
        }
    }

    #[test]
    fn invoice_from_a_newer_api_version_reads_parent_subscription_details() {
        let mut invoice = new_invoice("sub_new");
        invoice["lines"]["data"][0]["parent"]["subscription_item_details"]["subscription"] =
            json!(null);
        let summary = summarise(&event("invoice.paid", invoice)).unwrap();
        assert!(summary.handled);
        assert_eq!(summary.subscription_id.as_deref(), Some("sub_new"));
    }

    #[test]
    fn invoice_with_the_subscription_only_on_a_line_item_is_read() {
        let mut invoice = new_invoice("sub_on_line");
        invoice["parent"] = json!(null);
        let summary = summarise(&event("invoice.payment_failed", invoice)).unwrap();
        assert_eq!(summary.subscription_id.as_deref(), Some("sub_on_line"));

        let mut invoice = old_invoice(json!(null));
        invoice["lines"]["data"][0]["subscription"] = json!("sub_line_legacy");
        let summary = summarise(&event("invoice.payment_failed", invoice)).unwrap();
        assert_eq!(summary.subscription_id.as_deref(), Some("sub_line_legacy"));
    }

    #[test]
    fn expanded_subscription_object_yields_its_id() {
        let mut expanded = fixture(SUBSCRIPTION);
        expanded["id"] = json!("sub_expanded");
        let summary = summarise(&event("invoice.paid", old_invoice(expanded.clone()))).unwrap();
        assert_eq!(summary.subscription_id.as_deref(), Some("sub_expanded"));

        let summary = summarise(&event(
            "checkout.session.completed",
            session("subscription", expanded),
        ))
        .unwrap();
        assert_eq!(summary.subscription_id.as_deref(), Some("sub_expanded"));
    }

    #[test]
    fn subscription_invoice_without_any_readable_subscription_is_unreadable() {
        let invoice = old_invoice(json!(null));
        let err = summarise(&event("invoice.paid", invoice)).unwrap_err();
        let EventError::Unreadable {
            event_id,
            event_type,
            ..
        } = err
        else {
            panic!("unreadable expected")
        };
        assert_eq!(
            (event_id.as_str(), event_type.as_str()),
            ("evt_1Pgc76B7WZ01zgkWwyRHS12y", "invoice.paid")
        );
    }

    #[test]
    fn subscription_field_of_an_unexpected_shape_is_unreadable_not_absent() {
        for weird in [
            json!(42),
            json!(""),
            json!({"object": "subscription"}),
            json!(["sub_1"]),
        ] {
            let err = summarise(&event("invoice.paid", old_invoice(weird.clone()))).unwrap_err();
            assert!(matches!(err, EventError::Unreadable { .. }), "{weird}");
        }
    }

    #[test]
    fn invoices_billing_something_other_than_a_subscription_are_not_handled() {
        for reason in [
            "quote_accept",
            "automatic_pending_invoice_item_invoice",
            "new_in_2031",
        ] {
            let mut invoice = old_invoice(json!(null));
            invoice["billing_reason"] = json!(reason);
            let summary = summarise(&event("invoice.paid", invoice)).unwrap();
            assert!(!summary.handled, "{reason}");
        }
    }

    #[test]
    fn an_invoice_without_a_billing_reason_or_with_a_subscription_parent_must_name_it() {
        let mut invoice = old_invoice(json!(null));
        invoice.as_object_mut().unwrap().remove("billing_reason");
        assert!(summarise(&event("invoice.paid", invoice)).is_err());

        let mut invoice = new_invoice("sub_x");
        invoice["billing_reason"] = json!("manual");
        invoice["parent"]["subscription_details"]["subscription"] = json!(null);
        invoice["lines"]["data"][0]["parent"] = json!(null);
        assert!(summarise(&event("invoice.paid", invoice)).is_err());
    }

    #[test]
    fn one_off_manual_invoice_is_not_handled() {
        let mut invoice = old_invoice(json!(null));
        invoice["billing_reason"] = json!("manual");
        let summary = summarise(&event("invoice.paid", invoice)).unwrap();
        assert!(!summary.handled);
        assert_eq!(summary.subscription_id, None);
    }

    #[test]
    fn completed_checkout_session_reads_its_subscription() {
        for event_type in [
            "checkout.session.completed",
            "checkout.session.async_payment_succeeded",
        ] {
            let summary = summarise(&event(
                event_type,
                session("subscription", json!("sub_from_checkout")),
            ))
            .unwrap();
            assert!(summary.handled, "{event_type}");
            assert_eq!(
                summary.subscription_id.as_deref(),
                Some("sub_from_checkout")
            );
        }
    }

    #[test]
    fn completed_subscription_session_without_subscription_is_unreadable() {
        let err = summarise(&event(
            "checkout.session.completed",
            session("subscription", json!(null)),
        ))
        .unwrap_err();
        assert!(matches!(err, EventError::Unreadable { .. }), "{err}");
    }

    #[test]
    fn expired_session_without_subscription_is_handled_with_none() {
        for event_type in [
            "checkout.session.expired",
            "checkout.session.async_payment_failed",
        ] {
            let summary =
                summarise(&event(event_type, session("subscription", json!(null)))).unwrap();
            assert!(summary.handled, "{event_type}");
            assert_eq!(summary.subscription_id, None);
        }
    }

    #[test]
    fn payment_mode_session_is_not_handled() {
        let summary = summarise(&event(
            "checkout.session.completed",
            session("payment", json!(null)),
        ))
        .unwrap();
        assert!(!summary.handled);
    }

    #[test]
    fn livemode_and_created_are_read() {
        let mut raw = fixture(EVENT);
        raw["livemode"] = json!(true);
        raw["created"] = json!(1767225600);
        let summary = summarise(&serde_json::to_vec(&raw).unwrap()).unwrap();
        assert!(summary.livemode);
        assert_eq!(summary.created, 1767225600);
    }

    #[test]
    fn bodies_that_are_not_events_are_malformed() {
        let bodies: [&[u8]; 6] = [
            b"",
            b"not json",
            b"[1, 2]",
            br#"{"type": "invoice.paid"}"#,
            br#"{"id": 7, "type": "invoice.paid"}"#,
            br#"{"id": "evt_1", "type": null}"#,
        ];
        for body in bodies {
            let err = summarise(body).unwrap_err();
            assert!(
                matches!(err, EventError::Malformed(_)),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
