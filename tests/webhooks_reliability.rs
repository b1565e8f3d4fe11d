//! Gateway webhooks against the real service, the Stripe stand-in and the AURA simulator:
//! signatures on the raw body, timestamps, duplicates (in sequence, in parallel, while AURA
//! fails), event types and shapes never seen, failed payments, and a month of one customer's
//! events in random orders. Every check goes through real HTTP and reads the database or
//! AURA's state; waits poll with a deadline.

mod common;
mod reliability_support;
mod support;

use aura_signup::{
    aura::NewSubscription,
    aura_sim::{DownMode, Faults},
    store::SYNC_SUBSCRIPTION,
    webhooks::signature,
};
use common::stripe_stub::{self, WEBHOOK_SECRET, now};
use proptest::{prelude::*, test_runner::TestRunner};
use reliability_support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A customer whose subscription AURA already covers until `period_end` + the margin.
async fn covered_customer(rig: &Rig, period_end: i64) -> (i64, String, Value) {
    let customer = rig.customer();
    let id = new_subscription_id();
    let sub = rig.subscription(&id, customer, "active", period_end);
    let body = rig.stub.event("customer.subscription.created", sub.clone());
    assert_eq!(rig.deliver(&body).await, StatusCode::OK);
    rig.aura_valid_to(customer, period_end + MARGIN).await;
    rig.settled(&id).await;
    (customer, id, sub)
}

/// Stripe's example event around `object`, with the keys in an order and spacing Stripe never
/// uses: a verifier that re-serialises before checking would refuse it.
fn reordered_event(event_type: &str, object: &Value) -> Vec<u8> {
    format!(
        "{{ \"type\" :\"{event_type}\",\n\t\"data\":{{\"object\":{object}}} ,  \"livemode\":false,\
         \"object\":\"event\",\"created\":{},\"id\":\"evt_reordered{}\"   }}\n",
        now(),
        unique()
    )
    .into_bytes()
}

#[tokio::test]
async fn signature_is_checked_on_the_raw_body_and_one_changed_byte_stores_and_calls_nothing() {
    let rig = rig(&[]).await;
    let customer = rig.customer();
    let id = new_subscription_id();
    let sub = rig.subscription(&id, customer, "active", now() + 30 * DAY);

    let body = rig.stub.event("customer.subscription.created", sub.clone());
    let header = rig.stub.sign(&body);
    let mut tampered = body.clone();
    let at = tampered
        .windows(id.len())
        .position(|w| w == id.as_bytes())
        .expect("the body names the subscription");
    tampered[at + id.len() - 1] ^= 0x01;

    let (status, _) = rig.deliver_with(Some(&header), &tampered).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(rig.store().count_events().await.unwrap(), 0);
    assert!(rig.stub.requests().is_empty(), "no gateway fetch");
    assert!(api_calls(&rig.sim().calls()).is_empty(), "no AURA call");

    // The same bytes as signed, pretty-printed, are accepted; so is an unusual key order.
    assert_eq!(rig.deliver(&body).await, StatusCode::OK);
    rig.aura_valid_to(customer, now_end(&sub) + MARGIN).await;
    assert_eq!(
        rig.deliver(&reordered_event("invoice.paid", &invoice_for(&id)))
            .await,
        StatusCode::OK
    );
    assert_eq!(rig.store().count_events().await.unwrap(), 2);
    for secret in [WEBHOOK_SECRET, stripe_stub::SECRET_KEY] {
        assert!(log_lines_with(secret).is_empty(), "a secret was logged");
    }
}

fn now_end(sub: &Value) -> i64 {
    sub["items"]["data"][0]["current_period_end"]
        .as_i64()
        .expect("item period end")
}

#[tokio::test]
async fn webhook_secret_read_from_the_environment_with_a_trailing_newline_still_verifies() {
    let secret = format!("{WEBHOOK_SECRET}\n");
    let rig = rig(&[("STRIPE_WEBHOOK_SECRET", &secret)]).await;
    let customer = rig.customer();
    let id = new_subscription_id();
    let sub = rig.subscription(&id, customer, "active", now() + 30 * DAY);

    let body = rig.stub.event("customer.subscription.created", sub.clone());
    assert_eq!(rig.deliver(&body).await, StatusCode::OK);
    rig.aura_valid_to(customer, now_end(&sub) + MARGIN).await;
}

#[tokio::test]
async fn signed_timestamps_outside_five_minutes_or_unreadable_are_refused_with_400_never_500() {
    let rig = rig(&[]).await;
    let customer = rig.customer();
    let id = new_subscription_id();
    let sub = rig.subscription(&id, customer, "active", now() + 30 * DAY);

    let signed_at = |offset: i64| {
        let body = rig.stub.event("customer.subscription.updated", sub.clone());
        let header = signature::sign(WEBHOOK_SECRET, now() + offset, &body);
        (header, body)
    };
    // Each is signed as it is sent, and sent again should the clock's second change on the
    // way (301 s ahead would then be 300 s ahead when checked).
    let mut stored = 0;
    for (name, offset, want) in [
        ("301 s old", -301, StatusCode::BAD_REQUEST),
        ("301 s ahead", 301, StatusCode::BAD_REQUEST),
        ("299 s old", -299, StatusCode::OK),
    ] {
        loop {
            let before = now();
            let (header, body) = signed_at(offset);
            let (status, answer) = rig.deliver_with(Some(&header), &body).await;
            stored += usize::from(status == StatusCode::OK);
            if now() != before && status != want {
                continue;
            }
            assert_eq!(status, want, "{name}: {answer}");
            break;
        }
    }
    let mut cases: Vec<(&str, Option<String>, Vec<u8>, StatusCode)> = Vec::new();
    let (good, body) = signed_at(0);
    let v1 = good.split(',').find(|p| p.starts_with("v1=")).unwrap();
    let bad = StatusCode::BAD_REQUEST;
    cases.push(("t=abc", Some(format!("t=abc,{v1}")), body.clone(), bad));
    cases.push(("no t", Some(v1.to_owned()), body.clone(), bad));
    cases.push(("empty header", Some(String::new()), body.clone(), bad));
    cases.push(("no header", None, body, bad));

    for (name, header, body, want) in &cases {
        let (status, answer) = rig.deliver_with(header.as_deref(), body).await;
        assert_eq!(status, *want, "{name}: {answer}");
    }
    assert_eq!(
        rig.store().count_events().await.unwrap(),
        stored as i64,
        "only what was answered 2xx (299 s old)"
    );
}

#[tokio::test]
async fn same_event_twice_in_sequence_then_in_parallel_is_stored_once_with_one_aura_effect() {
    let rig = rig(&[]).await;
    let customer = rig.customer();
    let id = new_subscription_id();
    let sub = rig.subscription(&id, customer, "active", now() + 30 * DAY);
    let body = rig.stub.event("customer.subscription.created", sub.clone());

    let first = rig.deliver_with(Some(&rig.stub.sign(&body)), &body).await;
    let second = rig.deliver_with(Some(&rig.stub.sign(&body)), &body).await;
    assert_eq!(
        (first.0, first.1["duplicate"].clone()),
        (StatusCode::OK, json!(false))
    );
    assert_eq!(
        (second.0, second.1["duplicate"].clone()),
        (StatusCode::OK, json!(true))
    );

    let parallel = futures::future::join_all((0..10).map(|_| rig.deliver(&body))).await;
    assert!(
        parallel.iter().all(|s| *s == StatusCode::OK),
        "{parallel:?}"
    );

    rig.aura_valid_to(customer, now_end(&sub) + MARGIN).await;
    rig.settled(&id).await;
    assert_eq!(rig.store().count_events().await.unwrap(), 1);
    rig.only_aura_subscription(customer);
    let effects = effects(&rig.sim().calls());
    assert_eq!(
        effects,
        Effects {
            creates: 1,
            ..Effects::default()
        }
    );
}

#[tokio::test]
async fn fifty_deliveries_of_one_event_twenty_five_at_once_make_one_aura_effect() {
    let rig = rig(&[]).await;
    let customer = rig.customer();
    let id = new_subscription_id();
    let sub = rig.subscription(&id, customer, "active", now() + 30 * DAY);
    let body = rig.stub.event("invoice.paid", invoice_for(&id));

    let burst = futures::future::join_all((0..25).map(|_| rig.deliver(&body))).await;
    let mut statuses = burst;
    for _ in 0..25 {
        statuses.push(rig.deliver(&body).await);
    }
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );

    rig.aura_valid_to(customer, now_end(&sub) + MARGIN).await;
    rig.settled(&id).await;
    let stored = rig
        .store()
        .events_for_subscriptions(std::slice::from_ref(&id))
        .await;
    assert_eq!(stored.unwrap().len(), 1);
    rig.only_aura_subscription(customer);
    assert_eq!(
        effects(&rig.sim().calls()),
        Effects {
            creates: 1,
            ..Effects::default()
        }
    );
}

#[tokio::test]
async fn same_event_while_aura_fails_is_acknowledged_kept_unprocessed_and_retried_until_applied() {
    let rig = rig(&[]).await;
    let customer = rig.customer();
    let id = new_subscription_id();
    let sub = rig.subscription(&id, customer, "active", now() + 30 * DAY);
    rig.sim().set_faults(Faults {
        down: Some(DownMode::Unavailable),
        ..Faults::default()
    });

    let body = rig.stub.event("customer.subscription.created", sub.clone());
    assert_eq!(rig.deliver(&body).await, StatusCode::OK);
    let store = rig.store().clone();
    let key = id.clone();
    eventually(WAIT, "a failed sync attempt", || {
        let (store, key) = (store.clone(), key.clone());
        async move {
            let job = store.job_for(SYNC_SUBSCRIPTION, &key).await.unwrap();
            job.is_some_and(|j| j.attempts >= 1 && j.last_error.is_some())
        }
    })
    .await;
    assert_eq!(rig.deliver(&body).await, StatusCode::OK);

    let events = rig
        .store()
        .events_for_subscriptions(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].processed_at, None,
        "failed processing is not done"
    );
    assert!(rig.sim().subscriptions_of(customer).is_empty());

    rig.sim().set_faults(Faults::default());
    rig.aura_valid_to(customer, now_end(&sub) + MARGIN).await;
    rig.settled(&id).await;
    let events = rig
        .store()
        .events_for_subscriptions(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert!(events[0].processed_at.is_some(), "{:?}", events[0]);
    assert_eq!(events[0].outcome.as_deref(), Some("applied"));
    rig.only_aura_subscription(customer);
    assert_eq!(effects(&rig.sim().calls()).creates, 1);
}

#[tokio::test]
async fn unknown_event_types_are_acknowledged_logged_and_change_nothing() {
    let rig = rig(&[]).await;
    let customer = rig.customer();
    let id = new_subscription_id();
    let sub = rig.subscription(&id, customer, "active", now() + 30 * DAY);

    for event_type in [
        "customer.subscription.reticulated",
        "radar.early_fraud_warning.created",
    ] {
        let body = rig.stub.event(event_type, sub.clone());
        let event_id = serde_json::from_slice::<Value>(&body).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(rig.deliver(&body).await, StatusCode::OK, "{event_type}");
        let logged = log_lines_with(&event_id);
        assert!(
            logged.iter().any(|l| l.contains("without effect")),
            "{event_type}: {logged:?}"
        );
    }
    let events = rig
        .store()
        .events_for_subscriptions(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.outcome.as_deref() == Some("ignored"))
    );
    assert!(
        rig.store()
            .job_for(SYNC_SUBSCRIPTION, &id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(rig.stub.requests().is_empty());
    assert!(api_calls(&rig.sim().calls()).is_empty());
}

/// A signed event naming a subscription the gateway never had (a test fired from the
/// dashboard, another integration's object): acknowledged, and its sync ends without a dead
/// job an operator could never clear.
#[tokio::test]
async fn an_event_for_a_subscription_the_gateway_never_had_leaves_no_dead_job() {
    let rig = rig(&[]).await;
    let id = new_subscription_id();
    let body = rig.stub.event(
        "customer.subscription.updated",
        json!({"id": id, "object": "subscription"}),
    );
    assert_eq!(rig.deliver(&body).await, StatusCode::OK);
    rig.settled(&id).await;
    assert!(
        rig.store().jobs(true).await.unwrap().is_empty(),
        "no dead job"
    );
    assert!(rig.store().subscription(&id).await.unwrap().is_none());
    assert!(api_calls(&rig.sim().calls()).is_empty());
}

#[tokio::test]
async fn handled_event_whose_payload_cannot_be_read_gets_a_5xx_after_verification_never_a_2xx() {
    let rig = rig(&[]).await;
    let mut no_id = stripe_stub::fixture("subscription");
    no_id.as_object_mut().unwrap().remove("id");
    let mut odd_invoice = invoice_for("sub_x");
    odd_invoice["parent"]["subscription_details"]["subscription"] = json!(42);

    for (event_type, object) in [
        ("customer.subscription.updated", no_id),
        ("invoice.paid", odd_invoice),
    ] {
        let body = rig.stub.event(event_type, object);
        let (unsigned, _) = rig.deliver_with(Some("t=1,v1=00"), &body).await;
        assert_eq!(
            unsigned,
            StatusCode::BAD_REQUEST,
            "{event_type}: verified first"
        );
        let signed = rig.deliver(&body).await;
        assert!(signed.is_server_error(), "{event_type}: {signed}");
    }
    assert_eq!(rig.store().count_events().await.unwrap(), 0);
}

#[tokio::test]
async fn invoice_outside_any_subscription_with_an_unfamiliar_billing_reason_is_acknowledged() {
    let rig = rig(&[]).await;
    for reason in [
        "quote_accept",
        "automatic_pending_invoice_item_invoice",
        "a_reason_from_2031",
    ] {
        let mut invoice = stripe_stub::fixture("invoice");
        invoice["billing_reason"] = json!(reason);
        invoice["parent"] = json!({ "type": "quote_details", "quote_details": { "quote": "qt_1" },
            "subscription_details": null });
        invoice["lines"]["data"][0]["parent"] = json!(null);
        let body = rig.stub.event("invoice.paid", invoice);
        assert_eq!(rig.deliver(&body).await, StatusCode::OK, "{reason}");
    }
    assert_eq!(rig.store().count_events().await.unwrap(), 3);
    assert!(api_calls(&rig.sim().calls()).is_empty());
}

#[tokio::test]
async fn period_end_on_the_item_or_the_subscription_gives_the_same_valid_to_and_never_1970() {
    let rig = rig(&[]).await;
    let period_end = now() + 20 * DAY;

    let (current, legacy) = (rig.customer(), rig.customer());
    let current_id = new_subscription_id();
    let sub = rig.subscription(&current_id, current, "active", period_end);
    rig.deliver(&rig.stub.event("customer.subscription.created", sub))
        .await;
    let legacy_id = new_subscription_id();
    rig.subscription(&legacy_id, legacy, "active", period_end);
    rig.stub.use_legacy_period_shape(&legacy_id);
    let sub = rig.stub.subscription(&legacy_id).unwrap();
    rig.deliver(&rig.stub.event("customer.subscription.created", sub))
        .await;

    rig.aura_valid_to(current, period_end + MARGIN).await;
    rig.aura_valid_to(legacy, period_end + MARGIN).await;

    // Neither place holds a period end: the sync waits and retries, AURA gets nothing.
    let (lost, lost_id) = (rig.customer(), new_subscription_id());
    let mut sub = rig.subscription(&lost_id, lost, "active", period_end);
    sub["items"]["data"][0]
        .as_object_mut()
        .unwrap()
        .remove("current_period_end");
    rig.stub.put_subscription(sub.clone());
    let status = rig
        .deliver(&rig.stub.event("customer.subscription.created", sub))
        .await;
    assert_eq!(status, StatusCode::OK);
    let store = rig.store().clone();
    eventually(WAIT, "the unreadable subscription's sync failing", || {
        let (store, key) = (store.clone(), lost_id.clone());
        async move {
            let job = store.job_for(SYNC_SUBSCRIPTION, &key).await.unwrap();
            job.is_some_and(|j| !j.dead && j.last_error.is_some())
        }
    })
    .await;
    assert!(rig.sim().subscriptions_of(lost).is_empty());
    for s in rig.sim().subscriptions_of(current) {
        assert!(s.valid_to.timestamp() > now(), "{s:?}");
    }
}

#[tokio::test]
async fn status_value_never_seen_leaves_aura_as_it_is() {
    let rig = rig(&[]).await;
    let period_end = now() + 20 * DAY;
    let (customer, id, _) = covered_customer(&rig, period_end).await;

    let mut sub = rig.stub.subscription(&id).unwrap();
    sub["status"] = json!("suspended_for_review");
    rig.stub.put_subscription(sub.clone());
    let status = rig
        .deliver(&rig.stub.event("customer.subscription.updated", sub))
        .await;
    assert_eq!(status, StatusCode::OK);
    rig.settled(&id).await;

    let aura = rig.only_aura_subscription(customer);
    assert!(!aura.cancelled);
    assert_eq!(aura.valid_to.timestamp(), period_end + MARGIN);
    assert_eq!(
        effects(&rig.sim().calls()),
        Effects {
            creates: 1,
            ..Effects::default()
        }
    );
}

#[tokio::test]
async fn one_gateway_customer_paying_for_two_aura_customers_gets_both_covered() {
    let rig = rig(&[]).await;
    let period_end = now() + 20 * DAY;
    for customer in [rig.customer(), rig.customer()] {
        let id = new_subscription_id();
        let mut sub = rig.subscription(&id, customer, "active", period_end);
        sub["customer"] = json!("cus_the_same_card_holder");
        rig.stub.put_subscription(sub.clone());
        let body = rig.stub.event("customer.subscription.created", sub);
        assert_eq!(rig.deliver(&body).await, StatusCode::OK);
        rig.aura_valid_to(customer, period_end + MARGIN).await;
        rig.settled(&id).await;
    }
}

/// The invoice Stripe sends when a renewal charge fails and another attempt is scheduled.
fn failed_invoice(subscription: &str) -> Value {
    let mut invoice = invoice_for(subscription);
    invoice["status"] = json!("open");
    invoice["attempted"] = json!(true);
    invoice["attempt_count"] = json!(1);
    invoice["next_payment_attempt"] = json!(now() + 3 * DAY);
    invoice
}

#[tokio::test]
async fn failed_payment_then_past_due_keeps_valid_to_and_a_later_payment_extends_it() {
    let rig = rig(&[]).await;
    let paid_end = now() + 5 * DAY;
    let (customer, id, _) = covered_customer(&rig, paid_end).await;

    // Stripe rolls the period forward when it bills the renewal, an hour before it charges.
    let next_end = paid_end + 30 * DAY;
    let sub = gateway_subscription(&rig.stub, &id, customer, "active", next_end);
    rig.stub.set_latest_invoice(&id, "draft");
    rig.deliver(&rig.stub.event("customer.subscription.updated", sub))
        .await;
    rig.settled(&id).await;
    let aura = rig.only_aura_subscription(customer);
    assert_eq!(
        aura.valid_to.timestamp(),
        paid_end + MARGIN,
        "a renewal not yet charged extends nothing"
    );

    // The charge fails and another attempt is scheduled.
    gateway_subscription(&rig.stub, &id, customer, "past_due", next_end);
    rig.stub.set_latest_invoice(&id, "open");
    rig.deliver(
        &rig.stub
            .event("invoice.payment_failed", failed_invoice(&id)),
    )
    .await;
    let sub = rig.stub.subscription(&id).unwrap();
    rig.deliver(&rig.stub.event("customer.subscription.updated", sub))
        .await;
    rig.settled(&id).await;

    let aura = rig.only_aura_subscription(customer);
    assert!(!aura.cancelled, "a failed payment is not a cancellation");
    assert_eq!(aura.valid_to.timestamp(), paid_end + MARGIN, "validTo held");
    assert_eq!(effects(&rig.sim().calls()).cancels, 0);

    gateway_subscription(&rig.stub, &id, customer, "active", next_end);
    let paid = rig.stub.set_latest_invoice(&id, "paid");
    rig.deliver(&rig.stub.event("invoice.paid", paid)).await;
    rig.aura_valid_to(customer, next_end + MARGIN).await;
    assert_eq!(
        effects(&rig.sim().calls()),
        Effects {
            creates: 1,
            updates: 1,
            cancels: 0
        }
    );
}

#[tokio::test]
async fn coverage_ends_only_when_the_gateway_says_canceled_unpaid_or_incomplete_expired() {
    let rig = rig(&[]).await;
    for ending in ["canceled", "unpaid", "incomplete_expired"] {
        let paid_end = now() + 5 * DAY;
        let (customer, id, _) = covered_customer(&rig, paid_end).await;
        gateway_subscription(&rig.stub, &id, customer, "past_due", paid_end + 30 * DAY);
        rig.deliver(
            &rig.stub
                .event("invoice.payment_failed", failed_invoice(&id)),
        )
        .await;
        rig.settled(&id).await;
        assert!(!rig.only_aura_subscription(customer).cancelled, "{ending}");

        gateway_subscription(&rig.stub, &id, customer, ending, paid_end + 30 * DAY);
        let sub = rig.stub.subscription(&id).unwrap();
        rig.deliver(&rig.stub.event("customer.subscription.deleted", sub))
            .await;
        rig.settled(&id).await;
        assert!(rig.only_aura_subscription(customer).cancelled, "{ending}");
    }
    assert_eq!(effects(&rig.sim().calls()).cancels, 3);
}

/// One step of a customer's month: the gateway's state after it, and the event it sends.
struct Step {
    status: &'static str,
    /// The item's `current_period_end`, in periods after the first.
    period: i64,
    event: &'static str,
}

const MONTH: [Step; 6] = [
    Step {
        status: "active",
        period: 0,
        event: "customer.subscription.created",
    },
    Step {
        status: "active",
        period: 0,
        event: "invoice.paid",
    },
    Step {
        status: "active",
        period: 0,
        event: "customer.subscription.updated",
    },
    Step {
        status: "past_due",
        period: 1,
        event: "invoice.payment_failed",
    },
    Step {
        status: "active",
        period: 1,
        event: "invoice.paid",
    },
    Step {
        status: "canceled",
        period: 1,
        event: "customer.subscription.deleted",
    },
];

/// How far into the month the gateway got, and when each copy of each event is delivered:
/// `(event, after step, order key)`; a copy never arrives before its event happened.
#[derive(Debug, Clone)]
struct Schedule {
    steps: usize,
    deliveries: Vec<(usize, usize, u32)>,
}

fn schedules() -> impl Strategy<Value = Schedule> {
    (1..=MONTH.len()).prop_flat_map(|steps| {
        let copies = prop::collection::vec(
            prop::collection::vec((0..steps, any::<u32>()), 1..=3),
            steps,
        );
        copies.prop_map(move |per_event| {
            let mut deliveries = Vec::new();
            for (event, copies) in per_event.into_iter().enumerate() {
                for (slot, key) in copies {
                    deliveries.push((event, slot.max(event), key));
                }
            }
            Schedule { steps, deliveries }
        })
    })
}

/// The AURA `validTo` the gateway's state after `steps` calls for; `None` for no coverage.
fn expected_valid_to(steps: usize, first_end: i64) -> Option<i64> {
    let last = &MONTH[steps - 1];
    let paid_periods = MONTH[..steps]
        .iter()
        .filter(|s| s.status == "active")
        .map(|s| s.period)
        .max()
        .unwrap_or(0);
    (last.status != "canceled").then_some(first_end + paid_periods * 30 * DAY + MARGIN)
}

async fn run_month(rig: &Rig, schedule: &Schedule) -> Result<(), String> {
    let customer = rig.customer();
    let id = new_subscription_id();
    let first_end = now() + 10 * DAY;
    let mut bodies: Vec<Option<Vec<u8>>> = vec![None; schedule.steps];
    for (index, step) in MONTH[..schedule.steps].iter().enumerate() {
        let end = first_end + step.period * 30 * DAY;
        let sub = gateway_subscription(&rig.stub, &id, customer, step.status, end);
        let object = match step.event.starts_with("invoice.") {
            true => invoice_for(&id),
            false => sub,
        };
        bodies[index] = Some(rig.stub.event(step.event, object));
        let mut due: Vec<_> = schedule
            .deliveries
            .iter()
            .filter(|d| d.1 == index)
            .collect();
        due.sort_by_key(|d| d.2);
        for (event, _, _) in due {
            let body = bodies[*event].as_ref().expect("event happened");
            let status = rig.deliver(body).await;
            if status != StatusCode::OK {
                return Err(format!("delivery answered {status}"));
            }
        }
    }
    rig.settled(&id).await;
    check_month(rig, customer, expected_valid_to(schedule.steps, first_end))
}

fn check_month(rig: &Rig, customer: i64, want: Option<i64>) -> Result<(), String> {
    let subs = rig.sim().subscriptions_of(customer);
    if subs.len() > 1 {
        return Err(format!("more than one AURA subscription: {subs:?}"));
    }
    let open: Vec<_> = subs.iter().filter(|s| !s.cancelled).collect();
    match (want, open.as_slice()) {
        (None, []) => Ok(()),
        (Some(valid_to), [sub]) if sub.valid_to.timestamp() == valid_to => Ok(()),
        _ => Err(format!(
            "AURA holds {subs:?}, the gateway calls for validTo {want:?}"
        )),
    }
}

#[test]
fn a_month_of_events_in_any_order_with_duplicates_leaves_aura_matching_the_gateway() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let rig = runtime.block_on(rig(&[]));
    let config = proptest::test_runner::Config {
        cases: 16,
        max_shrink_iters: 16,
        failure_persistence: None,
        ..Default::default()
    };
    let result = TestRunner::new(config).run(&schedules(), |schedule| {
        runtime
            .block_on(run_month(&rig, &schedule))
            .map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Creates an AURA subscription of type `value` for `customer` directly at AURA, as another
/// channel (a coupon, the call centre, an earlier sign-up) would have.
async fn aura_subscription_of(
    rig: &Rig,
    customer: i64,
    value: &str,
    valid_to: i64,
    dependants: Vec<i64>,
) -> i64 {
    let aura = &rig.app.running.state.aura;
    let kind = aura.subscription_type(value).await.unwrap();
    let request = NewSubscription {
        customer_id: customer,
        subscription_type_id: kind.id,
        valid_from: chrono::Utc::now(),
        valid_to: at(valid_to),
        dependant_customer_ids: dependants,
    };
    aura.create_subscription(&request).await.unwrap().id
}

#[tokio::test]
async fn an_aura_subscription_of_another_type_is_neither_extended_nor_ended_by_us() {
    let rig = rig(&[("SYNC_MAX_ATTEMPTS", "1")]).await;
    let customer = rig.customer();
    let coupon_end = now() + 90 * DAY;
    let coupon = aura_subscription_of(&rig, customer, "COUPON_SINGLE", coupon_end, vec![]).await;
    rig.sim().reset_calls();

    let id = new_subscription_id();
    let sub = rig.subscription(&id, customer, "active", now() + 30 * DAY);
    rig.deliver(&rig.stub.event("customer.subscription.created", sub))
        .await;
    eventually(WAIT, "the sync waits for an operator", || async {
        let job = rig.store().job_for(SYNC_SUBSCRIPTION, &id).await.unwrap();
        job.is_some_and(|j| j.dead && j.last_error.is_some_and(|e| e.contains("another type")))
    })
    .await;

    let held = rig.only_aura_subscription(customer);
    assert_eq!((held.id, held.cancelled), (coupon, false));
    assert_eq!(held.valid_to.timestamp(), coupon_end, "not extended");
    assert_eq!(effects(&rig.sim().calls()).updates, 0);
}

#[tokio::test]
async fn an_adopted_family_subscription_gets_the_whole_dependant_list() {
    let rig = rig(&[]).await;
    let customer = rig.customer();
    let stranger = rig.customer();
    let period_end = now() + 30 * DAY;
    let held_to = period_end + 10 * DAY;
    aura_subscription_of(&rig, customer, "WEB_SIGNUP_FAMILY", held_to, vec![stranger]).await;

    let id = new_subscription_id();
    let mut sub = rig.subscription(&id, customer, "active", period_end);
    sub["items"]["data"][0]["price"]["id"] = json!(PRICE_FAMILY);
    rig.stub.put_subscription(sub.clone());
    rig.deliver(&rig.stub.event("customer.subscription.created", sub))
        .await;
    rig.settled(&id).await;

    let held = rig.only_aura_subscription(customer);
    assert_eq!(
        held.valid_to.timestamp(),
        held_to,
        "validTo never moves back"
    );
    assert!(held.dependants.is_empty(), "AURA holds {held:?}");
    assert!(rig.sim().subscriptions_of(stranger).is_empty());
}

#[tokio::test]
async fn a_resubscription_seen_before_the_old_cancellation_keeps_the_customer_covered() {
    let rig = rig(&[]).await;
    let first_end = now() + 5 * DAY;
    let (customer, old, _) = covered_customer(&rig, first_end).await;

    // The customer cancels and subscribes again; the new subscription's event arrives first.
    let new = new_subscription_id();
    let new_end = now() + 30 * DAY;
    let sub = rig.subscription(&new, customer, "active", new_end);
    rig.deliver(&rig.stub.event("customer.subscription.created", sub))
        .await;
    rig.aura_valid_to(customer, new_end + MARGIN).await;
    rig.settled(&new).await;

    let ended = rig.subscription(&old, customer, "canceled", first_end);
    rig.deliver(&rig.stub.event("customer.subscription.deleted", ended))
        .await;
    rig.settled(&old).await;

    let held = rig.only_aura_subscription(customer);
    assert!(!held.cancelled, "the paid subscription keeps its cover");
    assert_eq!(held.valid_to.timestamp(), new_end + MARGIN);
    assert_eq!(effects(&rig.sim().calls()).cancels, 0);

    // When the new one ends too, AURA's subscription goes.
    let ended = rig.subscription(&new, customer, "canceled", new_end);
    rig.deliver(&rig.stub.event("customer.subscription.deleted", ended))
        .await;
    rig.settled(&new).await;
    assert!(rig.only_aura_subscription(customer).cancelled);
}

/// The most attempts a job can make in `window` when each wait is at least the worker's
/// nominal backoff (exponential from `min`, capped at `max`; jitter only lengthens it).
fn attempts_within(
    window: std::time::Duration,
    min: std::time::Duration,
    max: std::time::Duration,
) -> usize {
    let (mut waited, mut delay, mut attempts) = (std::time::Duration::ZERO, min, 1);
    while waited + delay <= window {
        waited += delay;
        delay = (delay * 2).min(max);
        attempts += 1;
    }
    attempts
}

#[tokio::test]
async fn aura_down_while_200_events_arrive_every_one_is_acknowledged_and_all_converge() {
    let worker = support::fast_worker();
    let rig = rig_with(&[], worker.clone()).await;
    // A first customer warms the client up (token, subscription types), as in a running service.
    covered_customer(&rig, now() + 10 * DAY).await;
    let subscriptions = 50;
    let customers: Vec<(i64, String, i64)> = (0..subscriptions)
        .map(|n| {
            (
                rig.customer(),
                new_subscription_id(),
                now() + (20 + n) * DAY,
            )
        })
        .collect();

    rig.sim().set_faults(Faults {
        down: Some(DownMode::Unavailable),
        ..Default::default()
    });
    rig.sim().reset_calls();
    let outage = std::time::Instant::now();
    let mut deliveries = Vec::new();
    for (customer, id, period_end) in &customers {
        let sub = rig.subscription(id, *customer, "active", *period_end);
        deliveries.push(rig.stub.event("customer.subscription.created", sub.clone()));
        deliveries.push(rig.stub.event("invoice.paid", invoice_for(id)));
        deliveries.push(rig.stub.event("customer.subscription.updated", sub));
    }
    let repeats: Vec<Vec<u8>> = deliveries.iter().step_by(3).take(50).cloned().collect();
    deliveries.extend(repeats);
    assert_eq!(deliveries.len(), 200);
    let rig = &rig;
    let answers = futures::future::join_all(deliveries.chunks(20).map(|chunk| async move {
        let mut statuses = Vec::new();
        for body in chunk {
            statuses.push(rig.deliver(body).await);
        }
        statuses
    }))
    .await;
    assert!(
        answers.iter().flatten().all(|s| *s == StatusCode::OK),
        "every delivery is acknowledged once stored: {answers:?}"
    );
    assert_eq!(
        rig.store().count_events().await.unwrap(),
        1 + 150,
        "repeats stored once"
    );

    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    rig.sim().set_faults(Faults::default());
    let down_for = outage.elapsed();
    let during = api_calls(&rig.sim().calls()).len();
    let per_attempt = 1 + aura_signup::aura::AuraClientOptions::default().max_retries as usize;
    let bound = subscriptions as usize
        * per_attempt
        * attempts_within(down_for, worker.min_backoff, worker.max_backoff);
    assert!(
        during <= bound,
        "{during} calls reached AURA in {down_for:?} for {subscriptions} subscriptions (bound {bound})"
    );

    for (customer, id, period_end) in &customers {
        rig.aura_valid_to(*customer, period_end + MARGIN).await;
        rig.settled(id).await;
    }
    let effects = effects(&rig.sim().calls());
    assert_eq!(
        effects,
        Effects {
            creates: subscriptions as usize,
            updates: 0,
            cancels: 0
        },
        "one create per customer, however many events and retries"
    );
}

/// A family gateway subscription for `customer` at the stand-in, ending at `period_end`.
fn family_subscription(rig: &Rig, id: &str, customer: i64, period_end: i64) -> Value {
    let mut sub = rig.subscription(id, customer, "active", period_end);
    sub["items"]["data"][0]["price"]["id"] = json!(PRICE_FAMILY);
    rig.stub.put_subscription(sub.clone());
    sub
}

#[tokio::test]
async fn a_dependant_aura_no_longer_knows_never_holds_up_the_main_members_renewal() {
    let rig = rig(&[]).await;
    let (main, gone, stays) = (rig.customer(), rig.customer(), rig.customer());
    let id = new_subscription_id();
    let first_end = now() + 10 * DAY;
    let sub = family_subscription(&rig, &id, main, first_end);
    rig.deliver(&rig.stub.event("customer.subscription.created", sub))
        .await;
    rig.aura_valid_to(main, first_end + MARGIN).await;
    rig.settled(&id).await;
    rig.store()
        .set_dependants(&id, &[gone, stays])
        .await
        .unwrap();
    rig.store()
        .enqueue_job(SYNC_SUBSCRIPTION, &id)
        .await
        .unwrap();
    rig.settled(&id).await;
    assert_eq!(rig.only_aura_subscription(main).dependants, [gone, stays]);

    // One dependant deletes their AURA profile; then the renewal is paid.
    rig.app
        .running
        .state
        .aura
        .delete_customer(gone)
        .await
        .unwrap();
    let renewed_end = first_end + 30 * DAY;
    let sub = family_subscription(&rig, &id, main, renewed_end);
    rig.deliver(&rig.stub.event("customer.subscription.updated", sub))
        .await;
    rig.aura_valid_to(main, renewed_end + MARGIN).await;
    rig.settled(&id).await;

    assert_eq!(rig.only_aura_subscription(main).dependants, [stays]);
    assert_eq!(
        rig.store()
            .subscription(&id)
            .await
            .unwrap()
            .unwrap()
            .dependants,
        [stays]
    );
    let actions = rig.store().actions_for(main).await.unwrap();
    assert!(
        actions.iter().any(|a| a.action == "drop_dependant"
            && a.detail
                .as_deref()
                .is_some_and(|d| d.contains(&gone.to_string()))),
        "the change is in the customer's history: {actions:?}"
    );
}

#[tokio::test]
async fn a_family_created_with_a_dependant_aura_refuses_still_covers_the_others() {
    let rig = rig(&[]).await;
    let (main, stays) = (rig.customer(), rig.customer());
    let unknown = 990_000_123;
    let id = new_subscription_id();
    let period_end = now() + 30 * DAY;
    rig.sim().set_faults(Faults {
        down: Some(DownMode::Unavailable),
        ..Default::default()
    });
    let sub = family_subscription(&rig, &id, main, period_end);
    rig.deliver(&rig.stub.event("customer.subscription.created", sub))
        .await;
    eventually(WAIT, "the row is known", || async {
        rig.store().subscription(&id).await.unwrap().is_some()
    })
    .await;
    rig.store()
        .set_dependants(&id, &[unknown, stays])
        .await
        .unwrap();
    rig.sim().set_faults(Faults::default());
    rig.store()
        .enqueue_job(SYNC_SUBSCRIPTION, &id)
        .await
        .unwrap();

    rig.aura_valid_to(main, period_end + MARGIN).await;
    rig.settled(&id).await;
    let held = rig.only_aura_subscription(main);
    assert_eq!(held.dependants, [stays], "{held:?}");
    assert_eq!(effects(&rig.sim().calls()).creates, 1);
}

#[tokio::test]
async fn events_that_keep_coming_during_an_outage_do_not_cut_the_backoff_short() {
    let worker = aura_signup::sync::WorkerOptions {
        min_backoff: std::time::Duration::from_secs(1),
        max_backoff: std::time::Duration::from_secs(2),
        ..support::fast_worker()
    };
    let rig = rig_with(&[], worker.clone()).await;
    covered_customer(&rig, now() + 10 * DAY).await;
    let customer = rig.customer();
    let id = new_subscription_id();
    let period_end = now() + 30 * DAY;
    let sub = rig.subscription(&id, customer, "active", period_end);

    rig.sim().set_faults(Faults {
        down: Some(DownMode::Unavailable),
        ..Default::default()
    });
    rig.sim().reset_calls();
    let outage = std::time::Instant::now();
    for _ in 0..40 {
        let body = rig.stub.event("customer.subscription.updated", sub.clone());
        assert_eq!(rig.deliver(&body).await, StatusCode::OK);
        tokio::time::sleep(std::time::Duration::from_millis(75)).await;
    }
    rig.sim().set_faults(Faults::default());
    let down_for = outage.elapsed();

    // The calls AURA refused: an attempt under way as it recovers may succeed on its retry.
    let calls = rig.sim().calls();
    let during = api_calls(&calls)
        .iter()
        .filter(|c| c.status == Some(503))
        .count();
    let per_attempt = 1 + aura_signup::aura::AuraClientOptions::default().max_retries as usize;
    let bound = per_attempt * attempts_within(down_for, worker.min_backoff, worker.max_backoff);
    assert!(
        during <= bound,
        "{during} calls reached AURA in {down_for:?} while 40 events came (bound {bound})"
    );
    rig.aura_valid_to(customer, period_end + MARGIN).await;
}
