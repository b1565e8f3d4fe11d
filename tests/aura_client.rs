//! The AURA client against the simulator over real HTTP (wiremock only where the simulator
//! cannot misbehave the needed way): typed errors, the shared token refresh, retries,
//! the create that timed out after AURA committed it, call records, and no leaked secrets.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use aura_signup::{
    aura::{
        AuraCallRecord, AuraClient, AuraClientOptions, AuraError, CallRecorder, CustomerProfile,
        InitialSubscription, NewCustomer, NewSubscription,
    },
    aura_sim::{DownMode, Faults, SimConfig, SimHandle, Simulator},
    config::Secret,
};
use chrono::{DateTime, Duration as Days, Utc};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

const WEB_SINGLE: i64 = 4;
const WEB_FAMILY: i64 = 14;

struct Setup {
    sim: Simulator,
    handle: SimHandle,
    records: Arc<Mutex<Vec<AuraCallRecord>>>,
}

async fn setup() -> Setup {
    let sim = Simulator::new(SimConfig::default());
    let handle = sim
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts");
    Setup {
        sim,
        handle,
        records: Arc::default(),
    }
}

/// Short timeouts and backoffs so fault tests finish quickly.
fn quick() -> AuraClientOptions {
    AuraClientOptions {
        connect_timeout: Duration::from_secs(1),
        timeout: Duration::from_millis(700),
        max_retries: 2,
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }
}

impl Setup {
    fn client(&self, options: AuraClientOptions) -> AuraClient {
        self.client_with(options, SimConfig::default().client_secret, None)
    }

    fn client_with(
        &self,
        options: AuraClientOptions,
        secret: String,
        extra: Option<CallRecorder>,
    ) -> AuraClient {
        let records = self.records.clone();
        let recorder: CallRecorder = Arc::new(move |record: AuraCallRecord| {
            if let Some(extra) = &extra {
                extra(record.clone());
            }
            records.lock().unwrap().push(record);
        });
        let cfg = SimConfig::default();
        AuraClient::new(
            self.handle.base_url.clone(),
            cfg.client_id,
            Secret::new(secret),
            options,
            Some(recorder),
        )
    }

    fn count(&self, method: &str, path: &str) -> usize {
        self.sim
            .calls()
            .iter()
            .filter(|c| c.method == method && c.path == path)
            .count()
    }

    fn records(&self) -> Vec<AuraCallRecord> {
        self.records.lock().unwrap().clone()
    }
}

fn today() -> DateTime<Utc> {
    Utc::now()
}

fn next_year() -> DateTime<Utc> {
    Utc::now() + Days::days(365)
}

fn single(customer_id: i64) -> NewSubscription {
    NewSubscription {
        customer_id,
        subscription_type_id: WEB_SINGLE,
        valid_from: today(),
        valid_to: next_year(),
        dependant_customer_ids: vec![],
    }
}

fn family(customer_id: i64, dependants: &[i64]) -> NewSubscription {
    NewSubscription {
        subscription_type_id: WEB_FAMILY,
        dependant_customer_ids: dependants.to_vec(),
        ..single(customer_id)
    }
}

#[tokio::test]
async fn create_single_subscription_returns_it_as_the_simulator_holds_it() {
    let s = setup().await;
    let customer = s.sim.add_customer("Ayanda");

    let request = single(customer);

    let created = s
        .client(quick())
        .create_subscription(&request)
        .await
        .unwrap();

    let held = s.sim.subscriptions_of(customer);
    assert_eq!(held.len(), 1);
    assert_eq!(created.id, held[0].id);
    assert_eq!(created.customer_id, Some(customer));
    assert_eq!(held[0].type_value, "WEB_SIGNUP_SINGLE");
    assert_eq!(
        created.valid_to.timestamp_millis(),
        request.valid_to.timestamp_millis()
    );
    assert_eq!(
        held[0].valid_from.timestamp_millis(),
        request.valid_from.timestamp_millis()
    );
    assert!(!created.cancelled && created.dependants.is_empty());
}

#[tokio::test]
async fn update_sends_the_whole_dependant_list_and_drops_those_left_out() {
    let s = setup().await;
    let client = s.client(quick());
    let main = s.sim.add_customer("Main");
    let (a, b, c) = (
        s.sim.add_customer("A"),
        s.sim.add_customer("B"),
        s.sim.add_customer("C"),
    );
    let sub = client
        .create_subscription(&family(main, &[a, b]))
        .await
        .unwrap();
    assert_eq!(sub.dependants, vec![a, b]);

    let valid_to = next_year() + Days::days(30);
    let updated = client
        .update_subscription(sub.id, valid_to, Some(&[b, c]))
        .await
        .unwrap();

    assert_eq!(updated.dependants, vec![b, c]);
    assert_eq!(
        updated.valid_to.timestamp_millis(),
        valid_to.timestamp_millis()
    );
    assert_eq!(s.sim.subscriptions_of(main)[0].dependants, vec![b, c]);
    assert!(
        s.sim.subscriptions_of(a).is_empty(),
        "a was left out, so is no longer covered"
    );
}

#[tokio::test]
async fn validity_only_update_of_a_single_plan_reports_its_main_member() {
    let s = setup().await;
    let client = s.client(quick());
    let customer = s.sim.add_customer("Solo");
    let sub = client.create_subscription(&single(customer)).await.unwrap();

    let updated = client
        .update_subscription(sub.id, next_year() + Days::days(1), None)
        .await
        .unwrap();

    assert_eq!(updated.customer_id, Some(customer));
    assert!(updated.dependants.is_empty());
}

#[tokio::test]
async fn an_existing_active_subscription_is_already_exists_carrying_it() {
    let s = setup().await;
    let client = s.client(quick());
    let customer = s.sim.add_customer("Twice");
    let first = client.create_subscription(&single(customer)).await.unwrap();

    let err = client
        .create_subscription(&single(customer))
        .await
        .unwrap_err();

    let AuraError::AlreadyExists {
        customer_id,
        existing,
    } = err
    else {
        panic!("got {err:?}")
    };
    assert_eq!(customer_id, Some(customer));
    assert_eq!(existing.map(|e| e.id), Some(first.id));
}

#[tokio::test]
async fn refusals_about_customers_and_dependants_have_their_own_errors() {
    let s = setup().await;
    let client = s.client(quick());
    let main = s.sim.add_customer("Main");
    let other = s.sim.add_customer("Other");
    let taken = s.sim.add_customer("Taken");
    client
        .create_subscription(&family(other, &[taken]))
        .await
        .unwrap();

    let unknown_main = client
        .create_subscription(&single(987_654))
        .await
        .unwrap_err();
    let unknown_family_main = client
        .create_subscription(&family(987_654, &[taken]))
        .await
        .unwrap_err();
    let unknown_dependant = client
        .create_subscription(&family(main, &[987_655]))
        .await
        .unwrap_err();
    let dependant_taken = client
        .create_subscription(&family(main, &[taken]))
        .await
        .unwrap_err();

    assert!(
        matches!(unknown_main, AuraError::CustomerNotFound),
        "{unknown_main:?}"
    );
    assert!(
        matches!(unknown_family_main, AuraError::CustomerNotFound),
        "{unknown_family_main:?}"
    );
    assert!(
        matches!(
            unknown_dependant,
            AuraError::DependantNotFound {
                customer_id: Some(987_655)
            }
        ),
        "{unknown_dependant:?}"
    );
    assert!(
        matches!(dependant_taken, AuraError::DependantTaken { customer_id: Some(id) } if id == taken),
        "{dependant_taken:?}"
    );
}

#[tokio::test]
async fn refusals_about_plans_and_dates_have_their_own_errors() {
    let s = setup().await;
    let client = s.client(quick());
    let ids: Vec<i64> = (0..6)
        .map(|n| s.sim.add_customer(&format!("C{n}")))
        .collect();
    let yesterday = Utc::now() - Days::days(1);

    let past_start = client
        .create_subscription(&NewSubscription {
            valid_from: yesterday,
            ..single(ids[0])
        })
        .await;
    let unknown_type = client
        .create_subscription(&NewSubscription {
            subscription_type_id: 6842,
            ..single(ids[0])
        })
        .await;
    let deps_on_single = client
        .create_subscription(&NewSubscription {
            dependant_customer_ids: vec![ids[1]],
            ..single(ids[0])
        })
        .await;
    let too_many = client
        .create_subscription(&family(ids[0], &ids[1..6]))
        .await;

    assert!(
        matches!(past_start, Err(AuraError::DateInPast)),
        "{past_start:?}"
    );
    assert!(
        matches!(unknown_type, Err(AuraError::UnknownSubscriptionType)),
        "{unknown_type:?}"
    );
    // AURA answers dependants a type cannot take as it answers a type it does not offer.
    for refused in [&deps_on_single, &too_many] {
        assert!(
            matches!(refused, Err(AuraError::UnknownSubscriptionType)),
            "{refused:?}"
        );
    }
    assert_eq!(
        s.sim.subscriptions_of(ids[0]).len(),
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn a_cancelled_subscription_cannot_be_updated_or_recovered() {
    let s = setup().await;
    let client = s.client(quick());
    let customer = s.sim.add_customer("Leaver");
    let sub = client.create_subscription(&single(customer)).await.unwrap();
    client
        .cancel_subscription(sub.id, "Payment failed")
        .await
        .unwrap();

    let update = client.update_subscription(sub.id, next_year(), None).await;
    let past_update = client
        .update_subscription(sub.id, Utc::now() - Days::days(1), None)
        .await;
    let again = client.create_subscription(&single(customer)).await.unwrap();

    assert!(
        matches!(update, Err(AuraError::SubscriptionNotFound)),
        "{update:?}"
    );
    assert!(
        matches!(past_update, Err(AuraError::SubscriptionNotFound)),
        "{past_update:?}"
    );
    assert_ne!(
        again.id, sub.id,
        "subscribing again gets a new subscription"
    );
    let held = s.sim.subscriptions_of(customer);
    assert_eq!(held[0].cancelled_reason.as_deref(), Some("Payment failed"));
}

#[tokio::test]
async fn a_validity_end_in_the_past_is_date_in_past_and_unknown_ids_are_not_found() {
    let s = setup().await;
    let client = s.client(quick());
    let sub = client
        .create_subscription(&single(s.sim.add_customer("X")))
        .await
        .unwrap();

    let past = client
        .update_subscription(sub.id, Utc::now() - Days::days(1), None)
        .await;
    let unknown = client.update_subscription(55, next_year(), None).await;
    let unknown_cancel = client.cancel_subscription(55, "x").await;

    assert!(matches!(past, Err(AuraError::DateInPast)), "{past:?}");
    assert!(
        matches!(unknown, Err(AuraError::SubscriptionNotFound)),
        "{unknown:?}"
    );
    assert!(
        matches!(unknown_cancel, Err(AuraError::SubscriptionNotFound)),
        "{unknown_cancel:?}"
    );
}

#[tokio::test]
async fn cancelling_a_main_member_ends_the_dependants_cover() {
    let s = setup().await;
    let client = s.client(quick());
    let (main, kid) = (s.sim.add_customer("Parent"), s.sim.add_customer("Kid"));
    let sub = client
        .create_subscription(&family(main, &[kid]))
        .await
        .unwrap();

    client
        .cancel_subscription(sub.id, "Customer no longer active")
        .await
        .unwrap();

    let kid_cover = s.sim.subscriptions_of(kid);
    assert!(kid_cover.iter().all(|s| s.cancelled), "{kid_cover:?}");
    let elsewhere = client
        .create_subscription(&family(s.sim.add_customer("New parent"), &[kid]))
        .await;
    assert!(
        elsewhere.is_ok(),
        "the kid is free to join another plan: {elsewhere:?}"
    );
}

#[tokio::test]
async fn subscription_types_resolve_by_value_from_a_cache() {
    let s = setup().await;
    let client = s.client(quick());

    let family = client.subscription_type("WEB_SIGNUP_FAMILY").await.unwrap();
    let single = client.subscription_type("WEB_SIGNUP_SINGLE").await.unwrap();
    let missing = client.subscription_type("NO_SUCH_PLAN").await;

    assert_eq!(
        (family.id, family.allowed_dependants),
        (WEB_FAMILY, Some(4))
    );
    assert_eq!((single.id, single.allowed_dependants), (WEB_SINGLE, None));
    assert!(
        matches!(missing, Err(AuraError::UnknownSubscriptionType)),
        "{missing:?}"
    );
    assert_eq!(
        s.count("GET", "/v2/subscriptions/subscriptionTypes"),
        2,
        "one fill, one refetch for the miss"
    );
}

#[tokio::test]
async fn register_edit_and_soft_delete_a_customer() {
    let s = setup().await;
    let client = s.client(quick());
    let profile = CustomerProfile {
        name: Some("Naledi".into()),
        mobile: Some("+27820001111".into()),
        ..Default::default()
    };
    let subscription = InitialSubscription {
        subscription_type_id: WEB_SINGLE,
        valid_from: today(),
        valid_to: next_year(),
    };

    let registered = client
        .register_customer(&NewCustomer {
            profile,
            subscription: Some(subscription),
        })
        .await
        .unwrap();
    let edit = CustomerProfile {
        email: Some("naledi@example.org".into()),
        ..Default::default()
    };
    let edited = client.edit_customer(registered.id, &edit).await.unwrap();
    client.delete_customer(registered.id).await.unwrap();

    assert_eq!(registered.subscriptions.len(), 1);
    assert_eq!(edited.id, registered.id);
    let held = s.sim.subscriptions_of(registered.id);
    assert_eq!(
        held[0].cancelled_reason.as_deref(),
        Some("User deleted their profile")
    );
    let again = client.delete_customer(registered.id).await;
    assert!(
        matches!(again, Err(AuraError::CustomerNotFound)),
        "{again:?}"
    );
}

#[tokio::test]
async fn five_concurrent_callers_share_one_token_refresh_after_a_401() {
    let s = setup().await;
    let client = s.client(quick());
    client.subscription_types().await.unwrap();
    s.sim.revoke_tokens();
    s.sim.reset_calls();

    let calls = (0..5).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.subscription_types().await })
    });
    let results = futures::future::join_all(calls).await;

    assert!(results.into_iter().all(|r| r.unwrap().is_ok()));
    assert_eq!(s.count("POST", "/v2/oauth/token"), 1);
    assert!(
        s.sim.calls().iter().any(|c| c.status == Some(401)),
        "the old token was refused"
    );
}

#[tokio::test]
async fn a_token_refused_again_after_the_refresh_is_unauthorized() {
    let aura = MockServer::start().await;
    let token = serde_json::json!({ "accessToken": "t", "expiresIn": 2_147_483_647, "tokenType": "Bearer" });
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token))
        .expect(2)
        .mount(&aura)
        .await;
    let refused = serde_json::json!({ "errors": "invalid signature" });
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(refused))
        .expect(2)
        .mount(&aura)
        .await;
    let client = AuraClient::new(
        aura.uri().parse().unwrap(),
        "id".into(),
        Secret::new("s"),
        quick(),
        None,
    );

    let result = client.subscription_types().await;

    assert!(matches!(result, Err(AuraError::Unauthorized)), "{result:?}");
}

#[tokio::test]
async fn bad_credentials_are_reported_and_never_retried() {
    let s = setup().await;
    let client = s.client_with(quick(), "wrong-secret".into(), None);

    let result = client.subscription_types().await;

    assert!(
        matches!(result, Err(AuraError::BadCredentials)),
        "{result:?}"
    );
    assert_eq!(s.count("POST", "/v2/oauth/token"), 1);
    assert_eq!(s.count("GET", "/v2/subscriptions/subscriptionTypes"), 0);
}

#[tokio::test]
async fn a_4xx_is_returned_at_once_without_retry() {
    let s = setup().await;
    let client = s.client(quick());

    let result = client.create_subscription(&single(424_242)).await;

    assert!(
        matches!(result, Err(AuraError::CustomerNotFound)),
        "{result:?}"
    );
    assert_eq!(s.count("POST", "/v2/subscriptions"), 1);
}

#[tokio::test]
async fn a_503_is_retried_until_aura_recovers() {
    let s = setup().await;
    s.sim.set_faults(Faults {
        down: Some(DownMode::Unavailable),
        ..Faults::default()
    });
    let sim = s.sim.clone();
    let heal: CallRecorder = Arc::new(move |r: AuraCallRecord| {
        if r.status == Some(503) {
            sim.set_faults(Faults::default());
        }
    });
    let client = s.client_with(quick(), SimConfig::default().client_secret, Some(heal));

    let result = client.subscription_types().await;

    assert!(result.is_ok(), "{result:?}");
    let statuses: Vec<_> = s.records().iter().map(|r| (r.path, r.status)).collect();
    assert_eq!(
        statuses,
        vec![
            ("/v2/oauth/token", Some(503)),
            ("/v2/oauth/token", Some(200)),
            ("/v2/subscriptions/subscriptionTypes", Some(200))
        ]
    );
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let s = setup().await;
    let sim = s.sim.clone();
    let heal: CallRecorder = Arc::new(move |r: AuraCallRecord| {
        if r.status.is_none() {
            sim.set_faults(Faults::default());
        }
    });
    let client = s.client_with(quick(), SimConfig::default().client_secret, Some(heal));
    client.subscription_types().await.unwrap();
    s.sim.set_faults(Faults {
        latency_ms: 5_000,
        ..Faults::default()
    });

    let result = client.subscription_types().await;

    assert!(result.is_ok(), "{result:?}");
    let types_attempts: Vec<_> = s
        .records()
        .into_iter()
        .filter(|r| r.path == "/v2/subscriptions/subscriptionTypes")
        .map(|r| (r.status, r.error.is_some()))
        .collect();
    assert_eq!(
        types_attempts,
        vec![(Some(200), false), (None, true), (Some(200), false)]
    );
}

#[tokio::test]
async fn retries_stop_after_max_retries_with_a_transient_error() {
    let s = setup().await;
    let client = s.client(quick());
    client.subscription_types().await.unwrap();
    s.sim.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    s.sim.reset_calls();

    let result = client.subscription_types().await;

    assert!(matches!(&result, Err(e) if e.is_retryable()), "{result:?}");
    assert_eq!(
        s.count("GET", "/v2/subscriptions/subscriptionTypes"),
        3,
        "one attempt and two retries"
    );
    let once = s.client(AuraClientOptions {
        max_retries: 0,
        ..quick()
    });
    s.sim.reset_calls();
    assert!(once.subscription_types().await.is_err());
    assert_eq!(
        s.sim.calls().len(),
        1,
        "max_retries 0 means one attempt (here, of the token fetch)"
    );
}

#[tokio::test]
async fn create_that_timed_out_after_commit_yields_the_existing_subscription() {
    let s = setup().await;
    let client = s.client(quick());
    let customer = s.sim.add_customer("Unlucky");
    s.sim.set_faults(Faults {
        commit_then_hang_creates: 1,
        ..Faults::default()
    });

    let result = client.create_subscription(&single(customer)).await;

    let held = s.sim.subscriptions_of(customer);
    assert_eq!(held.len(), 1, "AURA holds exactly one subscription");
    let Err(AuraError::AlreadyExists {
        existing: Some(existing),
        ..
    }) = result
    else {
        panic!("got {result:?}")
    };
    assert_eq!(existing.id, held[0].id);
    let creates: Vec<_> = s
        .records()
        .into_iter()
        .filter(|r| r.path == "/v2/subscriptions")
        .map(|r| r.status)
        .collect();
    assert_eq!(creates, vec![None, Some(409)]);
}

#[tokio::test]
async fn every_attempt_is_recorded_with_its_endpoint_status_and_ids() {
    let s = setup().await;
    let client = s.client(quick());
    let customer = s.sim.add_customer("Recorded");
    let sub = client.create_subscription(&single(customer)).await.unwrap();
    client
        .update_subscription(sub.id, next_year(), None)
        .await
        .unwrap();
    client.cancel_subscription(sub.id, "done").await.unwrap();

    let records = s.records();
    let summary: Vec<_> = records
        .iter()
        .map(|r| (r.method, r.path, r.status, r.customer_id, r.subscription_id))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("POST", "/v2/oauth/token", Some(200), None, None),
            ("POST", "/v2/subscriptions", Some(200), Some(customer), None),
            (
                "PUT",
                "/v2/subscriptions/{id}",
                Some(200),
                None,
                Some(sub.id)
            ),
            (
                "DELETE",
                "/v2/subscriptions/{id}",
                Some(200),
                None,
                Some(sub.id)
            ),
        ]
    );
    assert!(
        records
            .iter()
            .all(|r| r.error.is_none() && r.duration > Duration::ZERO)
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_clear_error() {
    let s = setup().await;
    let mut wrong_base = s.handle.base_url.clone();
    wrong_base.set_path("/panic-api/");
    let client = AuraClient::new(wrong_base, "id".into(), Secret::new("s"), quick(), None);
    let aura = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>ok</html>"))
        .mount(&aura)
        .await;
    let garbled = AuraClient::new(
        aura.uri().parse().unwrap(),
        "id".into(),
        Secret::new("s"),
        quick(),
        None,
    );

    let not_found = client.subscription_types().await.unwrap_err();
    let malformed = garbled.subscription_types().await.unwrap_err();

    assert!(
        matches!(&not_found, AuraError::Rejected { status: 404, message } if message.contains("Cannot GET /panic-api/v2/oauth/token")),
        "{not_found:?}"
    );
    assert!(
        matches!(malformed, AuraError::Malformed(_)),
        "{malformed:?}"
    );
}

#[tokio::test]
async fn debug_output_of_the_client_shows_no_secret_or_token() {
    let s = setup().await;
    let client = s.client_with(quick(), SimConfig::default().client_secret, None);
    client.subscription_types().await.unwrap();

    let shown = format!("{client:?}");

    assert!(
        !shown.contains(&SimConfig::default().client_secret),
        "{shown}"
    );
    assert!(!shown.contains("eyJ"), "a JWT appears in {shown}");
    assert!(shown.contains("base_url"), "{shown}");
}

/// Collects formatted log output in memory.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_endpoints_and_ids_but_no_secret_token_or_customer_detail() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("aura_signup=trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let s = setup().await;
    let client = s.client(quick());
    let profile = CustomerProfile {
        name: Some("Zanele".into()),
        mobile: Some("+27825550199".into()),
        medical_conditions: Some("Asthma".into()),
        ..Default::default()
    };

    let customer = client
        .register_customer(&NewCustomer {
            profile: profile.clone(),
            subscription: None,
        })
        .await
        .unwrap();
    let _conflict = client
        .register_customer(&NewCustomer {
            profile,
            subscription: None,
        })
        .await
        .unwrap_err();
    s.sim.revoke_tokens();
    client
        .create_subscription(&single(customer.id))
        .await
        .unwrap();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("/v2/customers") && text.contains(&customer.id.to_string()),
        "{text}"
    );
    for leak in [
        SimConfig::default().client_secret.as_str(),
        "eyJ",
        "Zanele",
        "27825550199",
        "Asthma",
    ] {
        assert!(!text.contains(leak), "{leak} appears in the logs:\n{text}");
    }
}
