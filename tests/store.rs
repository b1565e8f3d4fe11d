//! The store suite: every query, on Postgres and on SQLite, with the same expectations.

mod support;

use aura_signup::{
    domain::{CustomerId, PlanKind, SignupId},
    store::{
        AuraCallRow, AuraState, Cover, GatewayFacts, NewEvent, SYNC_SUBSCRIPTION, SandboxSession,
        SandboxSubscription, SignupOutcome, Store, now_ms,
    },
};
use support::{Backend, fresh_db, store};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test] async fn $name() { super::$name(super::Backend::Postgres).await } )* }
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name(super::Backend::Sqlite).await } )* }
    };
}

on_both_backends!(
    migrations_apply_and_ready_answers,
    signups_round_trip_and_a_paid_signup_stays_paid,
    open_checkout_is_found_for_the_customer,
    paid_checkout_links_subscription_and_enqueues_once_until_covered,
    events_are_unique_and_enqueue_their_subscription,
    ignored_events_are_kept_without_a_job,
    jobs_claim_complete_retry_and_die,
    a_job_enqueued_while_running_runs_again,
    an_expired_lease_makes_a_job_claimable_again,
    aura_calls_are_kept_per_customer,
    sandbox_sessions_are_idempotent_and_complete_once,
    coverage_and_sweep_queries,
    a_customers_checkout_claim_is_held_by_one_signup_until_released_or_lapsed,
    paying_customers_and_shared_aura_subscriptions_are_found,
    an_end_reason_is_claimed_once_until_released,
);

fn customer(n: i64) -> CustomerId {
    CustomerId::new(n).unwrap()
}

fn facts(sub: &str, c: i64) -> GatewayFacts<'_> {
    GatewayFacts {
        gateway_subscription_id: sub,
        customer_id: customer(c),
        gateway_customer_id: Some("cus_1"),
        plan: PlanKind::Family,
        status: "active",
        paid_through: Some(now_ms() + 1000),
        cancel_at_period_end: false,
    }
}

async fn open(backend: Backend) -> (Store, support::TestDb) {
    let db = fresh_db(backend).await;
    let store = store(&db).await;
    (store, db)
}

async fn migrations_apply_and_ready_answers(backend: Backend) {
    let (store, _db) = open(backend).await;
    store.ready().await.expect("ready after migrate");
    store.migrate().await.expect("migrating twice is a no-op");
}

async fn signups_round_trip_and_a_paid_signup_stays_paid(backend: Backend) {
    let (store, _db) = open(backend).await;
    let id = SignupId::generate();
    store
        .insert_signup(&id, customer(42), "https://app.example/done")
        .await
        .unwrap();

    let s = store.signup(&id).await.unwrap().unwrap();
    assert_eq!(
        (s.customer_id, s.outcome, s.plan),
        (customer(42), SignupOutcome::Started, None)
    );
    assert_eq!(s.redirect_url, "https://app.example/done");

    store
        .signup_checkout_opened(&id, PlanKind::Single, "cs_1", "https://pay.example/cs_1")
        .await
        .unwrap();
    store
        .signup_finished(&id, SignupOutcome::Paid, Some("sub_1"))
        .await
        .unwrap();
    store
        .signup_finished(&id, SignupOutcome::Cancelled, None)
        .await
        .unwrap();
    let s = store.signup(&id).await.unwrap().unwrap();
    assert_eq!(s.outcome, SignupOutcome::Paid);
    assert_eq!(s.gateway_subscription_id.as_deref(), Some("sub_1"));
    assert_eq!(store.signups_for(customer(42)).await.unwrap().len(), 1);
    assert!(store.signup(&SignupId::generate()).await.unwrap().is_none());
}

async fn open_checkout_is_found_for_the_customer(backend: Backend) {
    let (store, _db) = open(backend).await;
    let id = SignupId::generate();
    store
        .insert_signup(&id, customer(7), "https://app.example")
        .await
        .unwrap();
    assert!(
        store
            .open_checkout_for(customer(7), 0)
            .await
            .unwrap()
            .is_none()
    );

    store
        .signup_checkout_opened(&id, PlanKind::Family, "cs_7", "https://pay.example/cs_7")
        .await
        .unwrap();
    let open = store
        .open_checkout_for(customer(7), 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(open.checkout_session_id.as_deref(), Some("cs_7"));
    assert_eq!(open.plan, Some(PlanKind::Family));
    assert!(
        store
            .open_checkout_for(customer(8), 0)
            .await
            .unwrap()
            .is_none()
    );

    // Cancelled, its page may still be open; a later visit without a checkout changes nothing.
    store
        .signup_finished(&id, SignupOutcome::Cancelled, None)
        .await
        .unwrap();
    let later = SignupId::generate();
    store
        .insert_signup(&later, customer(7), "https://app.example")
        .await
        .unwrap();
    store
        .signup_finished(&later, SignupOutcome::Cancelled, None)
        .await
        .unwrap();
    let still = store.open_checkout_for(customer(7), 0).await.unwrap();
    assert_eq!(still.map(|s| s.id), Some(id));
}

async fn paid_checkout_links_subscription_and_enqueues_once_until_covered(backend: Backend) {
    let (store, _db) = open(backend).await;
    let id = SignupId::generate();
    store
        .insert_signup(&id, customer(5), "https://app.example")
        .await
        .unwrap();

    assert!(
        store
            .record_paid_checkout(&id, &facts("sub_5", 5))
            .await
            .unwrap()
    );
    let job = store
        .job_for(SYNC_SUBSCRIPTION, "sub_5")
        .await
        .unwrap()
        .expect("sync enqueued");
    assert_eq!(job.attempts, 0);
    assert_eq!(
        store.signup(&id).await.unwrap().unwrap().outcome,
        SignupOutcome::Paid
    );

    store
        .record_aura_state(
            "sub_5",
            Some(99),
            Some(now_ms() + 10_000),
            AuraState::Active,
            &[1, 2],
        )
        .await
        .unwrap();
    assert!(
        !store
            .record_paid_checkout(&id, &facts("sub_5", 5))
            .await
            .unwrap(),
        "a reload after activation enqueues nothing"
    );
    let row = store.subscription("sub_5").await.unwrap().unwrap();
    assert_eq!(
        (
            row.aura_subscription_id,
            row.aura_state,
            row.aura_dependants.clone()
        ),
        (Some(99), AuraState::Active, vec![1, 2])
    );
    assert_eq!(row.customer_id, customer(5));
}

async fn events_are_unique_and_enqueue_their_subscription(backend: Backend) {
    let (store, _db) = open(backend).await;
    let event = NewEvent {
        id: "evt_1",
        gateway: "stripe",
        event_type: "invoice.paid",
        subscription_id: Some("sub_9"),
        payload: "{}",
        outcome: None,
    };
    assert!(store.record_event(&event).await.unwrap());
    assert!(
        !store.record_event(&event).await.unwrap(),
        "the second delivery is a duplicate"
    );
    assert_eq!(store.count_events().await.unwrap(), 1);
    assert!(
        store
            .job_for(SYNC_SUBSCRIPTION, "sub_9")
            .await
            .unwrap()
            .is_some()
    );

    store
        .mark_events_processed("sub_9", now_ms())
        .await
        .unwrap();
    let events = store
        .events_for_subscriptions(&["sub_9".into()])
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].outcome.as_deref(), Some("applied"));
    assert!(events[0].processed_at.is_some());
}

async fn ignored_events_are_kept_without_a_job(backend: Backend) {
    let (store, _db) = open(backend).await;
    let event = NewEvent {
        id: "evt_2",
        gateway: "stripe",
        event_type: "charge.refunded",
        subscription_id: Some("sub_3"),
        payload: "{}",
        outcome: Some("ignored"),
    };
    assert!(store.record_event(&event).await.unwrap());
    assert!(
        store
            .job_for(SYNC_SUBSCRIPTION, "sub_3")
            .await
            .unwrap()
            .is_none()
    );
}

async fn jobs_claim_complete_retry_and_die(backend: Backend) {
    let (store, _db) = open(backend).await;
    store.enqueue_job(SYNC_SUBSCRIPTION, "sub_a").await.unwrap();
    let job = store
        .claim_job("w1", 60_000)
        .await
        .unwrap()
        .expect("due job");
    assert_eq!((job.key.as_str(), job.attempts), ("sub_a", 1));
    assert!(
        store.claim_job("w2", 60_000).await.unwrap().is_none(),
        "a held job is not claimed twice"
    );

    store
        .fail_job(&job, "w1", "AURA down", Some(now_ms() + 60_000))
        .await
        .unwrap();
    assert!(
        store.claim_job("w2", 60_000).await.unwrap().is_none(),
        "not due before its retry time"
    );
    let row = store
        .job_for(SYNC_SUBSCRIPTION, "sub_a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.last_error.as_deref(), row.dead),
        (Some("AURA down"), false)
    );

    store.enqueue_job(SYNC_SUBSCRIPTION, "sub_b").await.unwrap();
    let b = store.claim_job("w1", 60_000).await.unwrap().unwrap();
    store.fail_job(&b, "w1", "refused", None).await.unwrap();
    let dead = store.jobs(true).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key, "sub_b");

    assert!(store.revive_job(dead[0].id).await.unwrap());
    let b = store
        .claim_job("w1", 60_000)
        .await
        .unwrap()
        .expect("revived job is due");
    assert_eq!(b.attempts, 1, "a revived job starts its attempts again");
    store.complete_job(&b, "w1").await.unwrap();
    assert!(
        store
            .job_for(SYNC_SUBSCRIPTION, "sub_b")
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_job_enqueued_while_running_runs_again(backend: Backend) {
    let (store, _db) = open(backend).await;
    store.enqueue_job(SYNC_SUBSCRIPTION, "sub_r").await.unwrap();
    let job = store.claim_job("w1", 60_000).await.unwrap().unwrap();
    store.enqueue_job(SYNC_SUBSCRIPTION, "sub_r").await.unwrap();
    assert!(
        store.claim_job("w2", 60_000).await.unwrap().is_none(),
        "still one running per subscription"
    );

    store.complete_job(&job, "w1").await.unwrap();
    let again = store
        .claim_job("w2", 60_000)
        .await
        .unwrap()
        .expect("the second hint runs once more");
    store.complete_job(&again, "w2").await.unwrap();
    assert!(
        store
            .job_for(SYNC_SUBSCRIPTION, "sub_r")
            .await
            .unwrap()
            .is_none()
    );
}

async fn an_expired_lease_makes_a_job_claimable_again(backend: Backend) {
    let (store, _db) = open(backend).await;
    store.enqueue_job(SYNC_SUBSCRIPTION, "sub_l").await.unwrap();
    let first = store.claim_job("dead-worker", -1).await.unwrap().unwrap();
    let second = store
        .claim_job("w2", 60_000)
        .await
        .unwrap()
        .expect("lease ran out");
    assert_eq!(first.id, second.id);
    assert_eq!(second.attempts, 2);
    store.complete_job(&first, "dead-worker").await.unwrap();
    assert!(
        store
            .job_for(SYNC_SUBSCRIPTION, "sub_l")
            .await
            .unwrap()
            .is_some(),
        "the old holder cannot finish it"
    );
    store.complete_job(&second, "w2").await.unwrap();
    assert!(
        store
            .job_for(SYNC_SUBSCRIPTION, "sub_l")
            .await
            .unwrap()
            .is_none()
    );
}

async fn aura_calls_are_kept_per_customer(backend: Backend) {
    let (store, _db) = open(backend).await;
    let call = AuraCallRow {
        at: now_ms(),
        method: "POST".into(),
        path: "/v2/subscriptions".into(),
        status: Some(200),
        duration_ms: 12,
        aura_customer_id: Some(77),
        aura_subscription_id: Some(5),
        error: None,
    };
    store.record_aura_call(&call).await.unwrap();
    assert_eq!(store.aura_calls_for(77).await.unwrap(), vec![call]);
    assert!(store.aura_calls_for(78).await.unwrap().is_empty());
}

async fn sandbox_sessions_are_idempotent_and_complete_once(backend: Backend) {
    let (store, _db) = open(backend).await;
    let session = |id: &str| SandboxSession {
        id: id.into(),
        signup_id: "s".into(),
        customer_ref: "12".into(),
        plan: "single".into(),
        price_id: "p".into(),
        success_url: "http://x/ok".into(),
        cancel_url: "http://x/no".into(),
        status: "open".into(),
        paid: false,
        gateway_customer: None,
        gateway_subscription: None,
        created_at: 0,
    };
    let a = store
        .sandbox_open_session(&session("cs_a"), "key")
        .await
        .unwrap();
    let b = store
        .sandbox_open_session(&session("cs_b"), "key")
        .await
        .unwrap();
    assert_eq!((a.id.as_str(), b.id.as_str()), ("cs_a", "cs_a"));

    let sub = SandboxSubscription {
        id: "sub_x".into(),
        customer: "cus_x".into(),
        status: "active".into(),
        current_period_end: now_ms() + 1000,
        cancel_at_period_end: false,
        cancellation_reason: None,
        price_id: "p".into(),
        aura_customer_id: 12,
        signup_id: "s".into(),
        fail_next_renewal: false,
    };
    assert!(store.sandbox_complete_session("cs_a", &sub).await.unwrap());
    assert!(
        !store.sandbox_complete_session("cs_a", &sub).await.unwrap(),
        "paid once only"
    );
    assert!(
        !store.sandbox_expire_session("cs_a").await.unwrap(),
        "a paid session cannot expire"
    );
    store
        .sandbox_open_session(&session("cs_c"), "other key")
        .await
        .unwrap();
    assert!(store.sandbox_expire_session("cs_c").await.unwrap());
    assert!(!store.sandbox_expire_session("cs_c").await.unwrap());
    let expired = store.sandbox_session("cs_c").await.unwrap().unwrap();
    assert_eq!(expired.status, "expired");
    let stored = store.sandbox_session("cs_a").await.unwrap().unwrap();
    assert!(stored.paid);
    assert_eq!(stored.gateway_subscription.as_deref(), Some("sub_x"));

    let mut s = store.sandbox_subscription("sub_x").await.unwrap().unwrap();
    s.status = "past_due".into();
    s.fail_next_renewal = true;
    store.sandbox_update_subscription(&s).await.unwrap();
    let s = store.sandbox_subscription("sub_x").await.unwrap().unwrap();
    assert_eq!((s.status.as_str(), s.fail_next_renewal), ("past_due", true));
}

async fn coverage_and_sweep_queries(backend: Backend) {
    let (store, _db) = open(backend).await;
    store
        .record_gateway_state(&facts("sub_c", 3))
        .await
        .unwrap();
    let cover = store.cover(customer(3), now_ms()).await.unwrap();
    assert_eq!(
        cover,
        Cover {
            covered_until: None,
            paying: true
        }
    );

    let soon = now_ms() + 60_000;
    store
        .record_aura_state("sub_c", Some(1), Some(soon), AuraState::Active, &[])
        .await
        .unwrap();
    assert_eq!(
        store
            .cover(customer(3), now_ms())
            .await
            .unwrap()
            .covered_until,
        Some(soon)
    );
    assert_eq!(
        store.cover(customer(3), soon).await.unwrap().covered_until,
        None,
        "coverage that has run out covers nothing"
    );
    let id = SignupId::generate();
    store
        .insert_signup(&id, customer(3), "https://app.example")
        .await
        .unwrap();
    let (signup, cover) = store
        .signup_with_cover(&id, now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((signup.id, cover.covered_until), (id, Some(soon)));
    assert!(
        store
            .signup_with_cover(&SignupId::generate(), now_ms())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.subscriptions_ending_before(soon + 1).await.unwrap(),
        vec!["sub_c".to_string()]
    );
    assert!(
        store
            .subscriptions_ending_before(soon - 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.all_subscription_ids(Some(customer(3))).await.unwrap(),
        vec!["sub_c".to_string()]
    );

    assert!(store.set_dependants("sub_c", &[4, 5]).await.unwrap());
    assert_eq!(
        store
            .subscription("sub_c")
            .await
            .unwrap()
            .unwrap()
            .dependants,
        vec![4, 5]
    );
}

async fn a_customers_checkout_claim_is_held_by_one_signup_until_released_or_lapsed(
    backend: Backend,
) {
    let (store, _db) = open(backend).await;
    let (a, b) = (SignupId::generate(), SignupId::generate());
    assert!(store.claim_checkout(customer(7), &a, 60_000).await.unwrap());
    assert!(!store.claim_checkout(customer(7), &b, 60_000).await.unwrap());
    assert!(
        !store.claim_checkout(customer(7), &a, 60_000).await.unwrap(),
        "a double tap waits"
    );
    assert!(
        store.claim_checkout(customer(8), &b, 60_000).await.unwrap(),
        "per customer"
    );

    store.release_checkout(customer(7), &b).await.unwrap();
    assert!(
        !store.claim_checkout(customer(7), &b, 60_000).await.unwrap(),
        "only its holder releases it"
    );
    store.release_checkout(customer(7), &a).await.unwrap();
    assert!(store.claim_checkout(customer(7), &b, -1).await.unwrap());
    assert!(
        store.claim_checkout(customer(7), &a, 60_000).await.unwrap(),
        "a lapsed claim is taken over"
    );
}

async fn paying_customers_and_shared_aura_subscriptions_are_found(backend: Backend) {
    let (store, _db) = open(backend).await;
    let paying =
        |store: Store| async move { store.cover(customer(9), now_ms()).await.unwrap().paying };
    assert!(!paying(store.clone()).await);
    let mut old = facts("sub_old", 9);
    old.status = "canceled";
    store.record_gateway_state(&old).await.unwrap();
    assert!(
        !paying(store.clone()).await,
        "an ended subscription pays nothing"
    );
    store
        .record_gateway_state(&facts("sub_new", 9))
        .await
        .unwrap();
    assert!(paying(store.clone()).await);

    for id in ["sub_old", "sub_new"] {
        store
            .record_aura_state(id, Some(77), Some(now_ms() + 1000), AuraState::Active, &[])
            .await
            .unwrap();
    }
    let on = store.subscriptions_on_aura(77).await.unwrap();
    assert_eq!(on.len(), 2);
    store
        .record_aura_state("sub_old", None, None, AuraState::None, &[])
        .await
        .unwrap();
    let on = store.subscriptions_on_aura(77).await.unwrap();
    assert_eq!(on.len(), 1);
    assert_eq!(on[0].gateway_subscription_id, "sub_new");
}

async fn an_end_reason_is_claimed_once_until_released(backend: Backend) {
    let (store, _db) = open(backend).await;
    assert!(!store.holds_subscriptions().await.unwrap());
    store
        .record_gateway_state(&facts("sub_end", 3))
        .await
        .unwrap();
    let reason = |store: Store| async move {
        store
            .subscription("sub_end")
            .await
            .unwrap()
            .unwrap()
            .end_reason
    };
    assert_eq!(reason(store.clone()).await, None);
    assert!(store.holds_subscriptions().await.unwrap());
    assert!(
        store
            .claim_end_reason("sub_end", "Moved abroad")
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_end_reason("sub_end", "Fraud check")
            .await
            .unwrap(),
        "one end at a time"
    );
    assert_eq!(reason(store.clone()).await.as_deref(), Some("Moved abroad"));
    store
        .release_end_reason("sub_end", "Fraud check")
        .await
        .unwrap();
    assert_eq!(
        reason(store.clone()).await.as_deref(),
        Some("Moved abroad"),
        "only the claim's own reason is released"
    );
    store
        .release_end_reason("sub_end", "Moved abroad")
        .await
        .unwrap();
    assert_eq!(reason(store.clone()).await, None);
}
