//! The real `aura-signup` binary as separate processes against one Postgres and one AURA
//! simulator: a process killed (SIGKILL, no shutdown) in the middle of a sync leaves a job
//! that a restarted process completes once, and three replicas sharing the queue make
//! exactly one AURA change per gateway change, wherever each event is delivered.

mod common;
mod reliability_support;
mod support;

use std::time::Duration;

use aura_signup::{aura_sim::Faults, store::Store};
use common::stripe_stub::{StripeStub, now};
use reliability_support::*;
use reqwest::StatusCode;

/// The shared store, read by the test the way the processes write it.
async fn open_store(url: &str) -> Store {
    let config = support::config_with(&[("DATABASE_URL", url)]);
    Store::connect(&config.database_url)
        .await
        .expect("connect to the processes' database")
}

/// Posts `body`, signed now, to one process's webhook endpoint.
async fn deliver_to_process(
    process: &ServiceProcess,
    stub: &StripeStub,
    body: &[u8],
) -> StatusCode {
    let http = reqwest::Client::new();
    let url = process.url("/webhooks/stripe");
    deliver_to(&http, &url, Some(&stub.sign(body)), body)
        .await
        .0
}

#[tokio::test]
async fn a_process_killed_in_the_middle_of_a_sync_leaves_a_job_a_restart_completes_once() {
    let stub = StripeStub::start().await;
    let sim = standalone_simulator().await;
    let db = support::fresh_db(support::Backend::Postgres).await;
    let mut env = process_env(&db.url, &sim, &stub);
    env.push(("SYNC_LEASE".into(), "3s".into()));

    let customer = sim.simulator().add_customer("Crash Test");
    let id = new_subscription_id();
    let period_end = now() + 30 * DAY;
    let sub = gateway_subscription(&stub, &id, customer, "active", period_end);
    // AURA commits the create and never answers: the sync is mid-call when the process dies.
    sim.simulator().set_faults(Faults {
        commit_then_hang_creates: 1,
        ..Default::default()
    });

    let first = ServiceProcess::start(&env).await;
    let event = stub.event("customer.subscription.created", sub);
    assert_eq!(
        deliver_to_process(&first, &stub, &event).await,
        StatusCode::OK
    );
    eventually(WAIT, "the create reaches AURA", || async {
        sim.simulator()
            .calls()
            .iter()
            .any(|c| c.method == "POST" && c.path == "/v2/subscriptions")
    })
    .await;
    first.kill().await;
    assert_eq!(
        sim.simulator().subscriptions_of(customer).len(),
        1,
        "AURA committed it"
    );

    let second = ServiceProcess::start(&env).await;
    let store = open_store(&db.url).await;
    wait_settled(&store, &id).await;

    let subs = sim.simulator().subscriptions_of(customer);
    assert_eq!(subs.len(), 1, "one AURA subscription, not two: {subs:?}");
    assert!(!subs[0].cancelled);
    assert_eq!(subs[0].valid_to.timestamp(), period_end + MARGIN);
    let row = store.subscription(&id).await.unwrap().expect("the mapping");
    assert_eq!(row.aura_subscription_id, Some(subs[0].id));
    let events = store
        .events_for_subscriptions(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert!(
        events.iter().all(|e| e.processed_at.is_some()),
        "{events:?}"
    );
    second.kill().await;
}

#[tokio::test]
async fn three_replicas_make_exactly_one_aura_change_per_gateway_change() {
    let stub = StripeStub::start().await;
    let sim = standalone_simulator().await;
    let db = support::fresh_db(support::Backend::Postgres).await;
    let env = process_env(&db.url, &sim, &stub);
    let replicas = futures::future::join_all((0..3).map(|_| ServiceProcess::start(&env))).await;

    let customers: Vec<(i64, String)> = (0..12)
        .map(|_| {
            (
                sim.simulator().add_customer("Replica Test"),
                new_subscription_id(),
            )
        })
        .collect();
    let first_end = now() + 20 * DAY;
    let renewed_end = first_end + 30 * DAY;

    // Signing up: every event goes to one replica and a duplicate to another.
    for (n, (customer, id)) in customers.iter().enumerate() {
        let sub = gateway_subscription(&stub, id, *customer, "active", first_end);
        let created = stub.event("customer.subscription.created", sub);
        let paid = stub.event("invoice.paid", invoice_for(id));
        for (k, body) in [&created, &paid, &created].into_iter().enumerate() {
            let replica = &replicas[(n + k) % 3];
            assert_eq!(
                deliver_to_process(replica, &stub, body).await,
                StatusCode::OK
            );
        }
    }
    for (customer, _) in &customers {
        wait_for_valid_to(&sim, *customer, first_end + MARGIN).await;
    }

    // A renewal: its two events land on different replicas at once.
    for (n, (customer, id)) in customers.iter().enumerate() {
        let sub = gateway_subscription(&stub, id, *customer, "active", renewed_end);
        let updated = stub.event("customer.subscription.updated", sub);
        let paid = stub.event("invoice.paid", invoice_for(id));
        let (a, b) = tokio::join!(
            deliver_to_process(&replicas[n % 3], &stub, &updated),
            deliver_to_process(&replicas[(n + 1) % 3], &stub, &paid),
        );
        assert_eq!((a, b), (StatusCode::OK, StatusCode::OK));
    }
    let store = open_store(&db.url).await;
    for (customer, id) in &customers {
        wait_for_valid_to(&sim, *customer, renewed_end + MARGIN).await;
        wait_settled(&store, id).await;
    }

    assert_eq!(
        effects(&sim.simulator().calls()),
        Effects {
            creates: customers.len(),
            updates: customers.len(),
            cancels: 0
        },
        "one create at sign-up and one update per renewal"
    );
    for (customer, _) in &customers {
        assert_eq!(sim.simulator().subscriptions_of(*customer).len(), 1);
    }
    for replica in replicas {
        replica.kill().await;
    }
}

async fn wait_for_valid_to(sim: &aura_signup::aura_sim::SimHandle, customer: i64, valid_to: i64) {
    eventually(Duration::from_secs(30), "AURA's validTo", || async {
        sim.simulator()
            .subscriptions_of(customer)
            .iter()
            .any(|s| !s.cancelled && s.valid_to.timestamp() == valid_to)
    })
    .await;
}
