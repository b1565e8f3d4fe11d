//! The JSON the simulated AURA answers with, shaped like the collection's example responses
//! (including their quirks: `CancelledDate` capitalised, the update answer's subscription
//! wrapped in an array, the conflict's subscription carrying its type but no customer id).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::state::{Customer, Link, SimType, State, Subscription};

pub(crate) fn time(t: &DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

pub(crate) fn subscription_type(t: &SimType) -> Value {
    json!({
        "id": t.id,
        "description": t.description,
        "value": t.value,
        "createdAt": t.created_at,
        "updatedAt": t.created_at,
        "numberOfAllowedDependents": t.allowed_dependants.map(|n| n.to_string()),
        "recurringBilling": t.recurring_billing,
    })
}

pub(crate) fn subscription(sub: &Subscription, with_customer_id: bool) -> Value {
    let mut body = json!({
        "id": sub.id,
        "subscriptionTypeId": sub.type_id,
        "validFrom": time(&sub.valid_from),
        "validTo": time(&sub.valid_to),
        "updatedAt": time(&sub.updated_at),
        "createdAt": time(&sub.created_at),
        "CancelledDate": sub.cancelled_at.as_ref().map(time),
        "CancelledReason": sub.cancelled_reason,
        "subscriptionToken": null,
    });
    if with_customer_id {
        body["customerId"] = json!(sub.main.customer_id);
    }
    body
}

/// The subscription a 409 reports: without its customer id, with its type spelled out.
pub(crate) fn existing_subscription(sub: &Subscription, state: &State) -> Value {
    let mut body = subscription(sub, false);
    body["subscriptionType"] = state
        .find_type(sub.type_id)
        .map(subscription_type)
        .unwrap_or(Value::Null);
    body
}

fn link(link: &Link, subscription_id: i64, relationship: &str) -> Value {
    json!({
        "id": link.id,
        "customerId": link.customer_id,
        "subscriptionId": subscription_id,
        "relationship": relationship,
        "updatedAt": time(&link.created_at),
        "createdAt": time(&link.created_at),
    })
}

fn dependant_links(sub: &Subscription) -> Vec<Value> {
    sub.dependants
        .iter()
        .map(|l| link(l, sub.id, "DEPENDANT"))
        .collect()
}

pub(crate) fn created(sub: &Subscription) -> Value {
    json!({
        "message": "Successfully activated customer subscription",
        "subscription": subscription(sub, true),
        "dependantLinks": dependant_links(sub),
    })
}

/// An update lists only the dependant links when dependants were sent, and the main link
/// alone when only `validTo` was: the two example answers in the collection differ so.
pub(crate) fn updated(sub: &Subscription, dependants_sent: bool) -> Value {
    let links = if dependants_sent {
        dependant_links(sub)
    } else {
        let mut all = vec![link(&sub.main, sub.id, "MAIN")];
        all.extend(dependant_links(sub));
        all
    };
    json!({ "links": links, "subscription": [subscription(sub, false)] })
}

pub(crate) fn cancelled() -> Value {
    json!({ "message": "Successfully deleted subscription", "subscriptionToken": null })
}

/// How much of a customer an answer shows: registration lists open subscriptions, an edit
/// none, and the "already exists" conflict every link with its subscription.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum CustomerView {
    Registered,
    Edited,
    Conflict,
}

pub(crate) fn customer(c: &Customer, state: &State, view: CustomerView) -> Value {
    let mut body = profile_with_record_fields(c);
    let open: Vec<Value> = state
        .subscriptions
        .values()
        .filter(|s| s.is_open() && s.main.customer_id == c.id)
        .map(|s| subscription(s, true))
        .collect();

    match view {
        CustomerView::Registered => {
            body.insert("_search".into(), Value::Null);
            body.insert("subscriptions".into(), Value::Array(open));
        }
        CustomerView::Edited => {
            body.insert("_search".into(), Value::Null);
        }
        CustomerView::Conflict => {
            body.insert(
                "customersSubscriptionLinks".into(),
                Value::Array(main_links(c.id, state)),
            );
            if !open.is_empty() {
                body.insert("subscriptions".into(), Value::Array(open));
            }
        }
    }
    Value::Object(body)
}

/// The profile as sent, plus the bookkeeping fields AURA adds; AURA ignores the request's
/// lower-case `bloodtype` and answers `bloodType: null`, as its examples show.
fn profile_with_record_fields(c: &Customer) -> Map<String, Value> {
    let mut body = c.fields.clone();
    body.remove("bloodtype");
    let unset = [
        "imageId",
        "customerTypeId",
        "referredByCodeId",
        "referredByCustomerId",
        "authOtp",
        "authOtpValidUntil",
        "stripeCustomerId",
        "bloodType",
    ];
    for key in unset {
        body.insert(key.into(), Value::Null);
    }
    body.insert("id".into(), json!(c.id));
    body.insert("customerSourceId".into(), json!(249));
    body.insert("auth0UserId".into(), json!(format!("sim-{:08x}", c.id)));
    body.insert("createdAt".into(), time(&c.created_at));
    body.insert("updatedAt".into(), time(&c.updated_at));
    body
}

fn main_links(customer_id: i64, state: &State) -> Vec<Value> {
    state
        .subscriptions
        .values()
        .filter(|s| s.main.customer_id == customer_id)
        .map(|s| {
            let mut l = link(&s.main, s.id, "MAIN");
            l["subscription"] = subscription(s, false);
            l
        })
        .collect()
}
