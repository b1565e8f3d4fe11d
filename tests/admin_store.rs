//! The console's store queries, on Postgres and on SQLite: the coverage SQL agrees with its
//! Rust definition, the mapping filters, sorts and pages, the attention lists, actions in one
//! transaction, and failed-login counting.

mod support;

use aura_signup::{
    admin::coverage::Coverage,
    domain::{CustomerId, PlanKind},
    store::{
        AuraCallRow, AuraState, Change, GatewayFacts, MappingFilter, NewAction, SYNC_SUBSCRIPTION,
        SortKey, Store, now_ms,
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
    coverage_in_sql_agrees_with_its_definition,
    mapping_finds_rows_by_any_id,
    mapping_filters_by_coverage_sorts_and_pages,
    every_sort_key_orders_the_mapping_and_coverage_sorts_worst_first,
    attention_lists_paying_uncovered_and_covered_unpaid_and_dead_jobs,
    reviving_a_dead_job_makes_it_due_and_is_recorded,
    an_action_that_does_not_apply_changes_and_records_nothing,
    setting_dependants_enqueues_the_sync_and_records_who,
    a_refused_dependant_comes_off_the_list_as_it_is_now,
    login_failures_are_counted_per_scope_within_the_window,
    an_ended_session_is_remembered_until_it_would_have_expired,
    customers_are_counted_once_under_their_best_coverage,
    aura_calls_about_a_customer_include_those_naming_only_their_subscription,
);

const DAY: i64 = 86_400_000;

async fn open(backend: Backend) -> (Store, support::TestDb) {
    let db = fresh_db(backend).await;
    let store = store(&db).await;
    (store, db)
}

/// A subscription as a sync would leave it.
async fn subscription(
    store: &Store,
    id: &str,
    customer: i64,
    status: &str,
    aura: Option<(AuraState, i64)>,
) {
    store
        .record_gateway_state(&GatewayFacts {
            gateway_subscription_id: id,
            customer_id: CustomerId::new(customer).unwrap(),
            gateway_customer_id: Some(&format!("cus_{customer}")),
            plan: PlanKind::Family,
            status,
            paid_through: Some(now_ms() + 30 * DAY),
            cancel_at_period_end: false,
        })
        .await
        .unwrap();
    if let Some((state, valid_to)) = aura {
        store
            .record_aura_state(id, Some(customer * 10), Some(valid_to), state, &[])
            .await
            .unwrap();
    }
}

/// Parks the sync job of `id` as dead, as the worker does after its last attempt.
async fn kill_job(store: &Store, id: &str) {
    store.enqueue_job(SYNC_SUBSCRIPTION, id).await.unwrap();
    let job = store
        .claim_job("w", 60_000)
        .await
        .unwrap()
        .expect("a due job");
    assert_eq!(job.key, id);
    store.fail_job(&job, "w", "AURA: down", None).await.unwrap();
}

fn filter(coverage: Option<Coverage>) -> MappingFilter {
    MappingFilter {
        coverage,
        ..Default::default()
    }
}

async fn coverage_in_sql_agrees_with_its_definition(backend: Backend) {
    let (store, _db) = open(backend).await;
    let now = now_ms();
    let statuses = [
        "active",
        "past_due",
        "incomplete",
        "canceled",
        "unpaid",
        "paused",
    ];
    let auras = [
        None,
        Some((AuraState::Active, now + DAY)),
        Some((AuraState::Active, now - DAY)),
        Some((AuraState::Cancelled, now + DAY)),
    ];
    let mut expected = Vec::new();
    let mut n = 0;
    for status in statuses {
        for aura in auras {
            for dead in [false, true] {
                n += 1;
                let id = format!("sub_{n}");
                subscription(&store, &id, n, status, aura).await;
                if dead {
                    kill_job(&store, &id).await;
                }
                let active = matches!(aura, Some((AuraState::Active, _)));
                let want = Coverage::of(status, active, aura.map(|a| a.1), dead, now);
                expected.push((id, want));
            }
        }
    }
    let (rows, total) = store.mapping(&filter(None), now, 500, 0).await.unwrap();
    assert_eq!(total as usize, expected.len());
    for (id, want) in &expected {
        let row = rows
            .iter()
            .find(|r| &r.gateway_subscription_id == id)
            .unwrap();
        assert_eq!(row.coverage, *want, "{id}: {row:?}");
    }
    for c in Coverage::ALL {
        let (rows, total) = store.mapping(&filter(Some(c)), now, 500, 0).await.unwrap();
        let want = expected.iter().filter(|(_, w)| *w == c).count();
        assert_eq!((rows.len(), total as usize), (want, want), "{c}");
    }
}

async fn mapping_finds_rows_by_any_id(backend: Backend) {
    let (store, _db) = open(backend).await;
    subscription(
        &store,
        "sub_a",
        7,
        "active",
        Some((AuraState::Active, now_ms() + DAY)),
    )
    .await;
    subscription(&store, "sub_b", 8, "active", None).await;
    for q in ["7", "sub_a", "cus_7", "70"] {
        let f = MappingFilter {
            search: Some(q.into()),
            ..Default::default()
        };
        let (rows, total) = store.mapping(&f, now_ms(), 50, 0).await.unwrap();
        assert_eq!(total, 1, "{q}");
        assert_eq!(rows[0].gateway_subscription_id, "sub_a", "{q}");
    }
    let f = MappingFilter {
        search: Some("nothing".into()),
        ..Default::default()
    };
    assert_eq!(store.mapping(&f, now_ms(), 50, 0).await.unwrap().1, 0);
}

async fn mapping_filters_by_coverage_sorts_and_pages(backend: Backend) {
    let (store, _db) = open(backend).await;
    for n in 1..=7 {
        subscription(&store, &format!("sub_{n}"), n, "active", None).await;
    }
    subscription(&store, "sub_gone", 99, "canceled", None).await;
    let f = MappingFilter {
        coverage: Some(Coverage::Pending),
        sort: SortKey::Customer,
        descending: false,
        ..Default::default()
    };
    let (page1, total) = store.mapping(&f, now_ms(), 3, 0).await.unwrap();
    let (page3, _) = store.mapping(&f, now_ms(), 3, 6).await.unwrap();
    assert_eq!(total, 7);
    let ids = |rows: &[aura_signup::store::MappingRow]| -> Vec<i64> {
        rows.iter().map(|r| r.customer_id).collect()
    };
    assert_eq!(ids(&page1), [1, 2, 3]);
    assert_eq!(ids(&page3), [7]);
    let desc = MappingFilter {
        descending: true,
        ..f
    };
    assert_eq!(
        ids(&store.mapping(&desc, now_ms(), 2, 0).await.unwrap().0),
        [7, 6]
    );
}

async fn every_sort_key_orders_the_mapping_and_coverage_sorts_worst_first(backend: Backend) {
    let (store, _db) = open(backend).await;
    let now = now_ms();
    subscription(
        &store,
        "sub_covered",
        1,
        "active",
        Some((AuraState::Active, now + DAY)),
    )
    .await;
    subscription(&store, "sub_pending", 2, "active", None).await;
    subscription(&store, "sub_lapsed", 3, "canceled", None).await;
    subscription(&store, "sub_failed", 4, "active", None).await;
    kill_job(&store, "sub_failed").await;

    for sort in SortKey::ALL {
        for descending in [false, true] {
            let f = MappingFilter {
                sort,
                descending,
                ..Default::default()
            };
            let (rows, total) = store.mapping(&f, now, 50, 0).await.unwrap();
            assert_eq!((rows.len(), total), (4, 4), "{sort:?} {descending}");
        }
    }
    let by_coverage = |descending| MappingFilter {
        sort: SortKey::Coverage,
        descending,
        ..Default::default()
    };
    let order = |rows: Vec<aura_signup::store::MappingRow>| -> Vec<Coverage> {
        rows.iter().map(|r| r.coverage).collect()
    };
    let (rows, _) = store
        .mapping(&by_coverage(false), now, 50, 0)
        .await
        .unwrap();
    assert_eq!(order(rows), Coverage::WORST_FIRST);
    let (rows, _) = store.mapping(&by_coverage(true), now, 50, 0).await.unwrap();
    let mut best_first = Coverage::WORST_FIRST;
    best_first.reverse();
    assert_eq!(order(rows), best_first);
}

async fn attention_lists_paying_uncovered_and_covered_unpaid_and_dead_jobs(backend: Backend) {
    let (store, _db) = open(backend).await;
    let now = now_ms();
    let margin = 3 * DAY;
    subscription(
        &store,
        "sub_fine",
        1,
        "active",
        Some((AuraState::Active, now + 33 * DAY)),
    )
    .await;
    subscription(&store, "sub_unpaid_cover", 2, "active", None).await;
    subscription(
        &store,
        "sub_expired",
        3,
        "past_due",
        Some((AuraState::Active, now - DAY)),
    )
    .await;
    subscription(
        &store,
        "sub_free_ride",
        4,
        "canceled",
        Some((AuraState::Active, now + DAY)),
    )
    .await;
    subscription(
        &store,
        "sub_overlong",
        5,
        "active",
        Some((AuraState::Active, now + 60 * DAY)),
    )
    .await;
    subscription(&store, "sub_dead", 6, "canceled", None).await;
    kill_job(&store, "sub_dead").await;

    let a = store.attention(now, margin, 50).await.unwrap();
    let ids = |rows: &[aura_signup::store::MappingRow]| {
        let mut v: Vec<String> = rows
            .iter()
            .map(|r| r.gateway_subscription_id.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        ids(&a.paying_not_covered),
        ["sub_expired", "sub_unpaid_cover"]
    );
    assert_eq!(
        ids(&a.covered_not_paying),
        ["sub_free_ride", "sub_overlong"]
    );
    assert_eq!(a.dead_jobs.len(), 1);
    assert_eq!(
        (a.dead_jobs[0].key.as_str(), a.dead_jobs[0].customer_id),
        ("sub_dead", Some(6))
    );
}

fn action<'a>(name: &'a str, target: &'a str) -> NewAction<'a> {
    NewAction {
        actor: "operator:alice",
        action: name,
        customer_id: Some(6),
        target,
        detail: None,
    }
}

async fn reviving_a_dead_job_makes_it_due_and_is_recorded(backend: Backend) {
    let (store, _db) = open(backend).await;
    subscription(&store, "sub_dead", 6, "active", None).await;
    kill_job(&store, "sub_dead").await;
    assert!(
        store.claim_job("w", 60_000).await.unwrap().is_none(),
        "dead jobs are not claimed"
    );

    let applied = store
        .act(&action("retry_sync", "sub_dead"), &Change::ReviveSync)
        .await
        .unwrap();
    assert!(applied);
    let job = store
        .job_for(SYNC_SUBSCRIPTION, "sub_dead")
        .await
        .unwrap()
        .unwrap();
    assert!(!job.dead && job.attempts == 0 && job.run_at <= now_ms());
    assert_eq!(
        store.claim_job("w", 60_000).await.unwrap().unwrap().key,
        "sub_dead"
    );

    let recorded = store.actions_for(6).await.unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (recorded[0].actor.as_str(), recorded[0].action.as_str()),
        ("operator:alice", "retry_sync")
    );
}

async fn an_action_that_does_not_apply_changes_and_records_nothing(backend: Backend) {
    let (store, _db) = open(backend).await;
    subscription(&store, "sub_ok", 6, "active", None).await;
    assert!(
        !store
            .act(&action("retry_sync", "sub_ok"), &Change::ReviveSync)
            .await
            .unwrap()
    );
    let deps = Change::SetDependants(vec![1, 2]);
    assert!(
        !store
            .act(&action("set_dependants", "sub_missing"), &deps)
            .await
            .unwrap()
    );
    assert!(
        !store
            .act(
                &action("end_coverage", "sub_missing"),
                &Change::EndCoverage("Fraud".into())
            )
            .await
            .unwrap()
    );
    assert!(store.actions_for(6).await.unwrap().is_empty());
    assert!(
        store
            .job_for(SYNC_SUBSCRIPTION, "sub_missing")
            .await
            .unwrap()
            .is_none()
    );
}

async fn setting_dependants_enqueues_the_sync_and_records_who(backend: Backend) {
    let (store, _db) = open(backend).await;
    subscription(&store, "sub_fam", 6, "active", None).await;
    let deps = Change::SetDependants(vec![11, 12]);
    let record = NewAction {
        detail: Some("[11,12]"),
        ..action("set_dependants", "sub_fam")
    };
    assert!(store.act(&record, &deps).await.unwrap());
    let row = store.subscription("sub_fam").await.unwrap().unwrap();
    assert_eq!(row.dependants, [11, 12]);
    assert!(
        store
            .job_for(SYNC_SUBSCRIPTION, "sub_fam")
            .await
            .unwrap()
            .is_some()
    );
    let recorded = store.actions_for(6).await.unwrap();
    assert_eq!(recorded[0].detail.as_deref(), Some("[11,12]"));
}

/// The sync read the list before an operator replaced it: dropping the dependant AURA refused
/// must not bring the old list back.
async fn a_refused_dependant_comes_off_the_list_as_it_is_now(backend: Backend) {
    let (store, _db) = open(backend).await;
    subscription(&store, "sub_fam", 6, "active", None).await;
    let set = |ids: Vec<i64>| Change::SetDependants(ids);
    let operator = action("set_dependants", "sub_fam");
    let sync = NewAction {
        actor: "sync",
        ..action("drop_dependant", "sub_fam")
    };
    store.act(&operator, &set(vec![11, 12])).await.unwrap();
    store.act(&operator, &set(vec![13, 12])).await.unwrap();

    let dropped = store.act(&sync, &Change::DropDependant(11)).await.unwrap();
    assert!(!dropped, "11 is no longer on the list");
    assert!(store.act(&sync, &Change::DropDependant(12)).await.unwrap());
    let row = store.subscription("sub_fam").await.unwrap().unwrap();
    assert_eq!(row.dependants, [13]);
    let recorded = store.actions_for(6).await.unwrap();
    let drops = recorded
        .iter()
        .filter(|a| a.action == "drop_dependant")
        .count();
    assert_eq!(drops, 1, "only the drop that applied is recorded");
}

async fn login_failures_are_counted_per_scope_within_the_window(backend: Backend) {
    let (store, _db) = open(backend).await;
    let long_ago = now_ms() - DAY;
    for _ in 0..3 {
        store
            .record_login_attempt(&["name:alice", "ip:1.2.3.4"], long_ago)
            .await
            .unwrap();
    }
    store
        .record_login_attempt(&["name:bob", "ip:1.2.3.4"], long_ago)
        .await
        .unwrap();
    let since = now_ms() - 60_000;
    assert_eq!(
        store.login_failures(&["name:alice"], since).await.unwrap(),
        3
    );
    assert_eq!(
        store
            .login_failures(&["name:carol", "ip:1.2.3.4"], since)
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        store
            .login_failures(&["name:alice"], now_ms() + 1)
            .await
            .unwrap(),
        0
    );
    let good = store
        .record_login_attempt(&["name:dave", "ip:1.2.3.4"], long_ago)
        .await
        .unwrap();
    store.forget_login_attempt(&good).await.unwrap();
    assert_eq!(
        store
            .login_failures(&["name:dave", "ip:1.2.3.4"], since)
            .await
            .unwrap(),
        4,
        "a good login takes its own attempt back"
    );
    store.clear_login_failures("name:alice").await.unwrap();
    assert_eq!(
        store.login_failures(&["name:alice"], since).await.unwrap(),
        0
    );
    assert_eq!(
        store.login_failures(&["ip:1.2.3.4"], since).await.unwrap(),
        4
    );
}

async fn customers_are_counted_once_under_their_best_coverage(backend: Backend) {
    let (store, _db) = open(backend).await;
    let now = now_ms();
    subscription(&store, "sub_old", 1, "canceled", None).await;
    subscription(
        &store,
        "sub_new",
        1,
        "active",
        Some((AuraState::Active, now + DAY)),
    )
    .await;
    subscription(&store, "sub_wait", 2, "active", None).await;
    subscription(&store, "sub_dead", 3, "active", None).await;
    kill_job(&store, "sub_dead").await;
    let counts = store.customers_by_coverage(now).await.unwrap();
    let get = |c: Coverage| counts.iter().find(|(k, _)| *k == c).unwrap().1;
    assert_eq!(
        [
            get(Coverage::Covered),
            get(Coverage::Pending),
            get(Coverage::Failed),
            get(Coverage::Lapsed)
        ],
        [1, 1, 1, 0]
    );
    assert_eq!(store.queue_sizes().await.unwrap(), (0, 1));
}

async fn aura_calls_about_a_customer_include_those_naming_only_their_subscription(
    backend: Backend,
) {
    let (store, _db) = open(backend).await;
    let call = |customer: Option<i64>, subscription: Option<i64>, at: i64| AuraCallRow {
        at,
        method: "PUT".into(),
        path: "/v2/subscriptions/{id}".into(),
        status: Some(503),
        duration_ms: 3,
        aura_customer_id: customer,
        aura_subscription_id: subscription,
        error: None,
    };
    for row in [
        call(Some(6), None, 1),
        call(None, Some(60), 2),
        call(None, Some(70), 3),
        call(Some(7), None, 4),
    ] {
        store.record_aura_call(&row).await.unwrap();
    }
    let about: Vec<i64> = store
        .aura_calls_about(6, &[60])
        .await
        .unwrap()
        .iter()
        .map(|c| c.at)
        .collect();
    assert_eq!(about, [1, 2]);
    assert_eq!(store.aura_calls_about(6, &[]).await.unwrap().len(), 1);
}

async fn an_ended_session_is_remembered_until_it_would_have_expired(backend: Backend) {
    let (store, _db) = open(backend).await;
    assert!(!store.session_ended("sid-1").await.unwrap());
    store.end_session("sid-1", now_ms() + DAY).await.unwrap();
    store.end_session("sid-1", now_ms() + DAY).await.unwrap();
    store.end_session("sid-old", now_ms() - 1).await.unwrap();
    assert!(store.session_ended("sid-1").await.unwrap());
    assert!(!store.session_ended("sid-2").await.unwrap());

    // Ending another prunes what has expired anyway.
    store.end_session("sid-3", now_ms() + DAY).await.unwrap();
    assert!(!store.session_ended("sid-old").await.unwrap());
    assert!(store.session_ended("sid-1").await.unwrap());
}
