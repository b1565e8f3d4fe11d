//! The sign-up flow over real HTTP: the app's redirect in, the plan, the sandbox checkout,
//! the return, and the way back with `success`. Each fault class from the cases that broke
//! similar services (tokens, redirect URLs, the return from checkout) has its tests here.

mod support;

use std::time::Duration;

use aura_signup::{aura_sim::Simulator, domain::CustomerId, store::SignupOutcome};
use reqwest::{Response, StatusCode};
use serde_json::json;
use support::{Backend, TestApp, app_token, fresh_db, spawn_app, valid_token};

async fn app() -> TestApp {
    spawn_app(fresh_db(Backend::Postgres).await, &[]).await
}

fn sim(app: &TestApp) -> &Simulator {
    app.running
        .sim
        .as_ref()
        .expect("embedded simulator")
        .simulator()
}

fn back_url(app: &TestApp, customer: i64) -> String {
    app.sim_url(&format!("/v2/process?customerId={customer}"))
}

fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .expect("a redirect")
        .to_str()
        .unwrap()
        .to_owned()
}

async fn get(app: &TestApp, url: &str) -> Response {
    let url = if url.starts_with("http") {
        url.to_owned()
    } else {
        app.url(url)
    };
    app.http.get(url).send().await.unwrap()
}

async fn entry(app: &TestApp, token: &str, redirect: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .append_pair("redirectUrl", redirect)
        .finish();
    get(app, &format!("/signup?{query}")).await
}

/// Starts a sign-up for a new simulated customer; returns the customer and the signup path.
async fn start(app: &TestApp) -> (i64, String) {
    let customer = sim(app).add_customer("Test Person");
    let response = entry(app, &valid_token(customer), &back_url(app, customer)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    (customer, location(&response))
}

/// Another visit from the app by `customer`; returns the signup path.
async fn signup_for(app: &TestApp, customer: i64) -> String {
    location(&entry(app, &valid_token(customer), &back_url(app, customer)).await)
}

/// Submits the plan form.
async fn post_checkout(app: &TestApp, signup: &str, plan: &str) -> Response {
    app.http
        .post(app.url(&format!("{signup}/checkout")))
        .form(&[("plan", plan)])
        .send()
        .await
        .unwrap()
}

/// Chooses a plan; returns the checkout page's URL.
async fn choose(app: &TestApp, signup: &str, plan: &str) -> String {
    let response = post_checkout(app, signup, plan).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await.unwrap()
    );
    location(&response)
}

async fn pay(app: &TestApp, checkout: &str, card: &str) -> Response {
    app.http
        .post(checkout)
        .form(&[("card", card)])
        .send()
        .await
        .unwrap()
}

fn creates(app: &TestApp) -> usize {
    sim(app)
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path == "/v2/subscriptions")
        .count()
}

#[tokio::test]
async fn paid_family_signup_goes_back_with_success_and_an_active_aura_subscription() {
    let app = app().await;
    let (customer, signup) = start(&app).await;
    assert!(
        signup.starts_with("/signup/") && !signup.contains("token"),
        "the token leaves the address bar: {signup}"
    );

    let page = get(&app, &signup).await.text().await.unwrap();
    assert!(
        page.contains("R149,00") && page.contains("R99,00"),
        "prices in rand: {page}"
    );
    let checkout = choose(&app, &signup, "family").await;
    let paid = pay(&app, &checkout, "4242 4242 4242 4242").await;
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);

    let back = get(&app, &location(&paid)).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&back),
        format!("{}&success=true", back_url(&app, customer))
    );

    let subs = sim(&app).subscriptions_of(customer);
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].type_value, "WEB_SIGNUP_FAMILY");
    let expected = chrono::Utc::now() + chrono::Duration::days(33);
    assert!(
        (subs[0].valid_to - expected).num_minutes().abs() < 5,
        "validTo {}",
        subs[0].valid_to
    );
}

#[tokio::test]
async fn declined_card_then_cancel_goes_back_with_false_and_nothing_at_aura() {
    let app = app().await;
    let (customer, signup) = start(&app).await;
    let checkout = choose(&app, &signup, "single").await;

    let declined = pay(&app, &checkout, "4000 0000 0000 0002").await;
    assert_eq!(declined.status(), StatusCode::PAYMENT_REQUIRED);
    assert!(declined.text().await.unwrap().contains("declined"));

    let back = get(&app, &format!("{signup}/cancelled")).await;
    assert_eq!(
        location(&back),
        format!("{}&success=false", back_url(&app, customer))
    );
    assert!(sim(&app).subscriptions_of(customer).is_empty());
    assert_eq!(creates(&app), 0);
}

#[tokio::test]
async fn unsigned_or_tampered_tokens_get_401_with_a_way_back_and_store_nothing() {
    let app = app().await;
    let customer = sim(&app).add_customer("T");
    let none_token = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        base64_json(json!({"customerId": customer, "exp": 9_999_999_999_i64}))
    );
    let good = valid_token(customer);
    let mut parts: Vec<&str> = good.split('.').collect();
    let tampered_payload =
        base64_json(json!({"customerId": customer + 1, "exp": 9_999_999_999_i64}));
    parts[1] = &tampered_payload;
    let tampered = parts.join(".");

    for token in [none_token.as_str(), tampered.as_str(), "", "not-a-jwt"] {
        let response = entry(&app, token, &back_url(&app, customer)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains("success=false"),
            "a way back to the app: {page}"
        );
    }
    assert_eq!(app.store().count_signups().await.unwrap(), 0);
}

fn base64_json(value: serde_json::Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn missing_or_malformed_time_claims_and_bad_customer_ids_get_401() {
    let app = app().await;
    let later = chrono::Utc::now().timestamp() + 600;
    for claims in [
        json!({"customerId": 5}),
        json!({"customerId": 5, "exp": "9999999999"}),
        json!({"customerId": 5, "exp": later, "nbf": "0"}),
        json!({"customerId": 1.5, "exp": later}),
        json!({"customerId": null, "exp": later}),
        json!({"customerId": "", "exp": later}),
        json!({"customerId": ["a"], "exp": later}),
    ] {
        let response = entry(&app, &app_token(claims.clone()), &back_url(&app, 5)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{claims}");
    }
    assert_eq!(app.store().count_signups().await.unwrap(), 0);
}

#[tokio::test]
async fn customer_id_as_string_or_number_is_the_same_customer() {
    let app = app().await;
    let later = chrono::Utc::now().timestamp() + 600;
    for claim in [json!("12345678901234567"), json!(12345678901234567_i64)] {
        let response = entry(
            &app,
            &app_token(json!({"customerId": claim, "exp": later})),
            &back_url(&app, 1),
        )
        .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let signups = app
        .store()
        .signups_for(aura_signup::domain::CustomerId::new(12345678901234567).unwrap())
        .await
        .unwrap();
    assert_eq!(signups.len(), 2);
}

#[tokio::test]
async fn open_redirect_tricks_get_400_and_store_nothing() {
    let app = app().await;
    let origin = app.sim_url("");
    let host = origin.trim_start_matches("http://").to_owned();
    for redirect in [
        "//evil.example".to_owned(),
        "/\\evil.example".to_owned(),
        "http:evil.example".to_owned(),
        format!("http://{host}@evil.example"),
        format!("http://{host}.evil.example"),
        format!("http://{}", host.replace('.', "\u{ff0e}")),
        format!("\t{origin}/v2/process"),
        "https://evil.example/v2/process".to_owned(),
    ] {
        let response = entry(&app, &valid_token(7), &redirect).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{redirect:?}");
    }
    let two = format!(
        "/signup?token={}&redirectUrl={origin}/a&redirectUrl={origin}/b",
        valid_token(7)
    );
    assert_eq!(get(&app, &two).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.store().count_signups().await.unwrap(), 0);
}

#[tokio::test]
async fn success_is_appended_once_with_the_real_outcome() {
    let app = app().await;
    let customer = sim(&app).add_customer("U");
    let redirect = app.sim_url(&format!(
        "/v2/process?customerId={customer}&success=true#tab"
    ));
    let signup = location(&entry(&app, &valid_token(customer), &redirect).await);

    let back = location(&get(&app, &format!("{signup}/cancelled")).await);
    assert_eq!(
        back,
        app.sim_url(&format!(
            "/v2/process?customerId={customer}&success=false#tab"
        ))
    );
}

#[tokio::test]
async fn the_return_is_decided_by_the_gateway_not_the_query() {
    let app = app().await;
    let (customer, signup) = start(&app).await;
    let checkout = choose(&app, &signup, "single").await;

    let placeholder = get(
        &app,
        &format!("{signup}/complete?session_id={{CHECKOUT_SESSION_ID}}"),
    )
    .await;
    assert_eq!(placeholder.status(), StatusCode::BAD_REQUEST);
    let missing = get(&app, &format!("{signup}/complete")).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);

    let unknown = get(
        &app,
        &format!("{signup}/complete?session_id=cs_sandbox_unknown"),
    )
    .await;
    assert_eq!(
        location(&unknown),
        format!("{}&success=false", back_url(&app, customer))
    );

    let session = checkout.rsplit('/').next().unwrap();
    let unpaid = get(
        &app,
        &format!("{signup}/complete?session_id={session}&success=true"),
    )
    .await;
    assert_eq!(
        location(&unpaid),
        format!("{}&success=false", back_url(&app, customer))
    );
    assert_eq!(creates(&app), 0);
}

#[tokio::test]
async fn another_customers_session_gets_false_and_activates_nothing() {
    let app = app().await;
    let (_, theirs) = start(&app).await;
    let their_checkout = choose(&app, &theirs, "single").await;
    pay(&app, &their_checkout, "4242424242424242").await;
    let their_session = their_checkout.rsplit('/').next().unwrap().to_owned();

    let (me, mine) = start(&app).await;
    let response = get(&app, &format!("{mine}/complete?session_id={their_session}")).await;
    assert_eq!(
        location(&response),
        format!("{}&success=false", back_url(&app, me))
    );
    assert!(sim(&app).subscriptions_of(me).is_empty());
}

#[tokio::test]
async fn reloading_the_completion_activates_nothing_twice() {
    let app = app().await;
    let (customer, signup) = start(&app).await;
    let checkout = choose(&app, &signup, "single").await;
    let complete = location(&pay(&app, &checkout, "4242424242424242").await);

    for _ in 0..3 {
        let back = get(&app, &complete).await;
        assert_eq!(
            location(&back),
            format!("{}&success=true", back_url(&app, customer))
        );
    }
    app.eventually(Duration::from_secs(5), "no job left", || async {
        app.store().jobs(false).await.unwrap().is_empty()
    })
    .await;
    assert_eq!(sim(&app).subscriptions_of(customer).len(), 1);
    assert_eq!(creates(&app), 1);
}

#[tokio::test]
async fn a_double_tap_or_second_tab_reuses_the_open_checkout() {
    let app = app().await;
    let customer = sim(&app).add_customer("D");
    let first = signup_for(&app, customer).await;
    let second = signup_for(&app, customer).await;

    let a = choose(&app, &first, "family").await;
    let b = choose(&app, &first, "family").await;
    let c = choose(&app, &second, "family").await;
    assert_eq!(a, b, "a double tap makes one session");
    assert_eq!(a, c, "a second tab is sent to the open session");
}

#[tokio::test]
async fn two_signups_choosing_at_the_same_moment_get_one_checkout() {
    let app = app().await;
    let customer = sim(&app).add_customer("P");
    let first = signup_for(&app, customer).await;
    let second = signup_for(&app, customer).await;

    let (a, b) = tokio::join!(
        choose(&app, &first, "single"),
        choose(&app, &second, "single")
    );
    assert_eq!(a, b, "one checkout for the customer");
}

#[tokio::test]
async fn the_other_plan_in_a_second_tab_closes_the_first_checkout() {
    let app = app().await;
    let customer = sim(&app).add_customer("T");
    let first = signup_for(&app, customer).await;
    let second = signup_for(&app, customer).await;

    let single = choose(&app, &first, "single").await;
    let family = choose(&app, &second, "family").await;
    assert_ne!(single, family);
    let stale = pay(&app, &single, "4242424242424242").await;
    assert_eq!(
        stale.status(),
        StatusCode::GONE,
        "the first checkout is closed"
    );
    let paid = pay(&app, &family, "4242424242424242").await;
    get(&app, &location(&paid)).await;

    let subs = sim(&app).subscriptions_of(customer);
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0].type_value, "WEB_SIGNUP_FAMILY");
}

#[tokio::test]
async fn going_back_to_a_plan_chosen_before_opens_a_checkout_that_can_be_paid() {
    let app = app().await;
    let (customer, signup) = start(&app).await;
    let single = choose(&app, &signup, "single").await;
    let family = choose(&app, &signup, "family").await;
    let single_again = choose(&app, &signup, "single").await;
    assert!(single != family && single_again != single && single_again != family);

    for closed in [&single, &family] {
        let response = pay(&app, closed, "4242424242424242").await;
        assert_eq!(response.status(), StatusCode::GONE, "{closed}");
    }
    let paid = pay(&app, &single_again, "4242424242424242").await;
    let back = get(&app, &location(&paid)).await;
    assert_eq!(
        location(&back),
        format!("{}&success=true", back_url(&app, customer))
    );
    assert_eq!(sim(&app).subscriptions_of(customer).len(), 1);
}

#[tokio::test]
async fn paid_in_one_tab_the_other_tab_offers_no_second_checkout() {
    let app = app().await;
    let customer = sim(&app).add_customer("Two Tabs");
    let first = signup_for(&app, customer).await;
    let second = signup_for(&app, customer).await;
    // AURA is down, so the payment cannot have become coverage yet.
    sim(&app).set_faults(aura_signup::aura_sim::Faults {
        down: Some(aura_signup::aura_sim::DownMode::Unavailable),
        ..Default::default()
    });

    let checkout = choose(&app, &first, "single").await;
    let paid = pay(&app, &checkout, "4242424242424242").await;
    assert_eq!(
        paid.status(),
        StatusCode::SEE_OTHER,
        "paid; the person never came back"
    );

    // Choosing in the other tab asks the gateway about the first checkout: no second one.
    let tapped = app
        .http
        .post(app.url(&format!("{second}/checkout")))
        .form(&[("plan", "family")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&tapped), second, "no second checkout");
    let page = get(&app, &second).await.text().await.unwrap();
    assert!(page.contains("Payment received"), "{page}");
    assert!(page.contains("success=true"), "{page}");
}

#[tokio::test]
async fn cancelling_closes_the_checkout_so_the_back_button_cannot_pay_it() {
    let app = app().await;
    let (customer, signup) = start(&app).await;
    let checkout = choose(&app, &signup, "family").await;

    let back = get(&app, &format!("{signup}/cancelled")).await;
    assert_eq!(
        location(&back),
        format!("{}&success=false", back_url(&app, customer))
    );
    let late = pay(&app, &checkout, "4242424242424242").await;
    assert_eq!(late.status(), StatusCode::GONE);
    assert!(sim(&app).subscriptions_of(customer).is_empty());

    let again = signup_for(&app, customer).await;
    let fresh = choose(&app, &again, "family").await;
    assert_ne!(fresh, checkout, "a new checkout, not the closed one");
}

#[tokio::test]
async fn a_covered_customer_goes_back_with_success_and_gets_no_second_checkout() {
    let app = app().await;
    let (customer, signup) = start(&app).await;
    let checkout = choose(&app, &signup, "single").await;
    let complete = location(&pay(&app, &checkout, "4242424242424242").await);
    get(&app, &complete).await;

    let again = signup_for(&app, customer).await;
    let page = get(&app, &again).await.text().await.unwrap();
    assert!(page.contains("already covered"), "{page}");
    assert!(page.contains("success=true"));
    let tapped = app
        .http
        .post(app.url(&format!("{again}/checkout")))
        .form(&[("plan", "single")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&tapped), again, "no second checkout");
}

#[tokio::test]
async fn with_aura_down_the_payment_stands_and_the_activation_stays_queued() {
    let app = app().await;
    let (customer, signup) = start(&app).await;
    let checkout = choose(&app, &signup, "single").await;
    sim(&app).set_faults(aura_signup::aura_sim::Faults {
        down: Some(aura_signup::aura_sim::DownMode::Unavailable),
        ..Default::default()
    });

    let complete = location(&pay(&app, &checkout, "4242424242424242").await);
    let back = get(&app, &complete).await;
    assert_eq!(
        location(&back),
        format!("{}&success=true", back_url(&app, customer))
    );
    let id = aura_signup::domain::SignupId::parse(signup.trim_start_matches("/signup/")).unwrap();
    let stored = app.store().signup(&id).await.unwrap().unwrap();
    assert_eq!(stored.outcome, SignupOutcome::Paid);
    let pending = app.store().jobs(false).await.unwrap();
    assert_eq!(
        pending.len(),
        1,
        "the activation is visible as a pending job"
    );

    sim(&app).set_faults(Default::default());
    app.eventually(
        Duration::from_secs(10),
        "AURA covers the customer once it is back",
        || async { sim(&app).subscriptions_of(customer).len() == 1 },
    )
    .await;
}

#[tokio::test]
async fn unknown_and_malformed_signup_ids_get_404() {
    let app = app().await;
    for path in [
        "/signup/00000000000000000000000000000000",
        "/signup/..%2F..%2Fetc",
        "/signup/abc/complete?session_id=x",
    ] {
        assert_eq!(
            get(&app, path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let paid = app
        .http
        .post(app.url("/sandbox/checkout/cs_sandbox_unknown"))
        .form(&[("card", "4242424242424242")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        paid.status(),
        StatusCode::NOT_FOUND,
        "no such checkout to pay"
    );
}

#[tokio::test]
async fn choosing_no_plan_or_an_unknown_plan_changes_nothing() {
    let app = app().await;
    let (_, signup) = start(&app).await;
    for form in [vec![("plan", "gold")], vec![]] {
        let response = app
            .http
            .post(app.url(&format!("{signup}/checkout")))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let id = aura_signup::domain::SignupId::parse(signup.trim_start_matches("/signup/")).unwrap();
    assert_eq!(
        app.store().signup(&id).await.unwrap().unwrap().outcome,
        SignupOutcome::Started
    );
}

async fn app_with_an_unoffered_family_type() -> TestApp {
    let unoffered = [("AURA_TYPE_FAMILY", "WEB_SIGNUP_GOLD")];
    spawn_app(fresh_db(Backend::Postgres).await, &unoffered).await
}

/// A plan whose AURA type value AURA does not offer would take money that no coverage can
/// follow: it is refused before any checkout, with the way back to the app.
#[tokio::test]
async fn a_plan_whose_aura_type_aura_does_not_offer_takes_no_payment() {
    let app = app_with_an_unoffered_family_type().await;
    let (customer, signup) = start(&app).await;

    let refused = post_checkout(&app, &signup, "family").await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = refused.text().await.unwrap();
    assert!(page.contains("not available"), "{page}");
    let back = format!("{}&#38;success=false", back_url(&app, customer));
    assert!(page.contains(&back), "{page}");
    let id = aura_signup::domain::SignupId::parse(signup.trim_start_matches("/signup/")).unwrap();
    let stored = app.store().signup(&id).await.unwrap().unwrap();
    assert_eq!(stored.checkout_session_id, None, "no checkout was opened");

    let checkout = choose(&app, &signup, "single").await;
    assert!(checkout.contains("/sandbox/checkout/"), "{checkout}");
}

/// AURA not answering says nothing about the plan: the checkout opens, and the activation
/// waits in the queue as it would after the payment. (The type is one the start-up check
/// cannot have cached, so the checkout really asks AURA.)
#[tokio::test]
async fn when_aura_cannot_say_whether_it_offers_the_type_the_checkout_opens() {
    let app = app_with_an_unoffered_family_type().await;
    let (_, signup) = start(&app).await;
    sim(&app).set_faults(aura_signup::aura_sim::Faults {
        down: Some(aura_signup::aura_sim::DownMode::Unavailable),
        ..Default::default()
    });

    let checkout = choose(&app, &signup, "family").await;
    assert!(checkout.contains("/sandbox/checkout/"), "{checkout}");
}

/// The return from a checkout this signup replaced (a stale tab) tells the truth about the
/// signup: once the other checkout paid, it is success=true, and it closes nothing.
#[tokio::test]
async fn the_return_from_a_replaced_checkout_of_a_paid_signup_says_success() {
    let app = app().await;
    let (customer, signup) = start(&app).await;
    let single = choose(&app, &signup, "single").await;
    let family = choose(&app, &signup, "family").await;
    let paid = pay(&app, &family, "4242424242424242").await;
    get(&app, &location(&paid)).await;

    let replaced = single.rsplit('/').next().unwrap();
    let stale = get(&app, &format!("{signup}/complete?session_id={replaced}")).await;
    assert_eq!(
        location(&stale),
        format!("{}&success=true", back_url(&app, customer))
    );
    let id = aura_signup::domain::SignupId::parse(signup.trim_start_matches("/signup/")).unwrap();
    let stored = app.store().signup(&id).await.unwrap().unwrap();
    assert_eq!(stored.outcome, SignupOutcome::Paid);
}

/// Covered once through the gateway's events alone (the person never came back through the
/// return URL), then cancelled: their next visit opens a new checkout at the first tap, and
/// the old payment is not taken for a new one.
#[tokio::test]
async fn after_a_cancelled_subscription_paid_only_through_events_the_next_checkout_opens() {
    use aura_signup::gateway::{Gateway, sandbox::ClockAction};
    let app = app().await;
    let (customer, signup) = start(&app).await;
    let checkout = choose(&app, &signup, "single").await;
    let paid = pay(&app, &checkout, "4242424242424242").await;
    assert_eq!(
        paid.status(),
        StatusCode::SEE_OTHER,
        "paid, return not followed"
    );
    app.eventually(Duration::from_secs(10), "covered by the events", || async {
        sim(&app)
            .subscriptions_of(customer)
            .iter()
            .any(|s| !s.cancelled)
    })
    .await;
    let Gateway::Sandbox(sandbox) = &app.running.state.gateway else {
        panic!("the sandbox gateway")
    };
    let id = CustomerId::new(customer).unwrap();
    let old = app.store().subscriptions_for(id).await.unwrap()[0]
        .gateway_subscription_id
        .clone();
    sandbox.clock(&old, ClockAction::Cancel).await.unwrap();
    app.eventually(Duration::from_secs(10), "AURA ends it", || async {
        sim(&app)
            .subscriptions_of(customer)
            .iter()
            .all(|s| s.cancelled)
    })
    .await;

    let again = signup_for(&app, customer).await;
    let next = choose(&app, &again, "single").await;
    assert!(next.contains("/sandbox/checkout/"), "{next}");
    assert_ne!(next, checkout);
    let subscriptions = app.store().subscriptions_for(id).await.unwrap();
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(
        subscriptions[0].gateway_status, "canceled",
        "the old one stays ended"
    );
}
