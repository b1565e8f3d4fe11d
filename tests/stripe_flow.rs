//! The Stripe path end to end: the real async-stripe client against the local Stripe
//! stand-in, the service's own pages, the AURA simulator, and a late webhook.

mod common;
mod support;

use std::time::Duration;

use common::stripe_stub::{StripeStub, WEBHOOK_SECRET};
use reqwest::StatusCode;
use support::{Backend, TestApp, fresh_db, spawn_app, valid_token};

async fn app_with_stripe() -> (TestApp, StripeStub) {
    let stub = StripeStub::start().await;
    let config = stub.config();
    let base = stub.base_url().to_string();
    let app = spawn_app(
        fresh_db(Backend::Postgres).await,
        &[
            ("STRIPE_SECRET_KEY", config.secret_key.expose()),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("STRIPE_PRICE_SINGLE", "price_stub_single"),
            ("STRIPE_PRICE_FAMILY", "price_stub_family"),
            ("STRIPE_API_BASE", &base),
        ],
    )
    .await;
    (app, stub)
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .expect("a redirect")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn stripe_checkout_returns_before_the_webhook_and_the_late_webhook_changes_nothing() {
    let (app, stub) = app_with_stripe().await;
    let sim = app.running.sim.as_ref().unwrap().simulator();
    let customer = sim.add_customer("Stripe Person");
    let back = app.sim_url(&format!("/v2/process?customerId={customer}"));

    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", &valid_token(customer))
        .append_pair("redirectUrl", &back)
        .finish();
    let signup = location(
        &app.http
            .get(app.url(&format!("/signup?{query}")))
            .send()
            .await
            .unwrap(),
    );
    let to_stripe = app
        .http
        .post(app.url(&format!("{signup}/checkout")))
        .form(&[("plan", "family")])
        .send()
        .await
        .unwrap();
    assert_eq!(to_stripe.status(), StatusCode::SEE_OTHER);

    let created = stub
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/checkout/sessions")
        .expect("a session was created");
    assert_eq!(
        created.form.get("mode").map(String::as_str),
        Some("subscription")
    );
    assert_eq!(
        created.form.get("client_reference_id"),
        Some(&customer.to_string())
    );
    assert_eq!(
        created.form.get("line_items[0][price]").map(String::as_str),
        Some("price_stub_family")
    );
    let success_url = created.form.get("success_url").unwrap();
    assert!(
        success_url.ends_with("/complete?session_id={CHECKOUT_SESSION_ID}"),
        "{success_url}"
    );

    let signup_id =
        aura_signup::domain::SignupId::parse(signup.trim_start_matches("/signup/")).unwrap();
    let session_id = app
        .store()
        .signup(&signup_id)
        .await
        .unwrap()
        .unwrap()
        .checkout_session_id
        .expect("session recorded");
    assert_eq!(
        location(&to_stripe),
        stub.session(&session_id).unwrap()["url"].as_str().unwrap(),
        "the person is sent to Stripe's page"
    );
    let subscription = stub.complete_session(&session_id, true);

    let complete = success_url.replace("{CHECKOUT_SESSION_ID}", &session_id);
    let returned = app.http.get(&complete).send().await.unwrap();
    assert_eq!(location(&returned), format!("{back}&success=true"));
    let subs = sim.subscriptions_of(customer);
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].type_value, "WEB_SIGNUP_FAMILY");
    let calls_before = sim.calls().len();

    let object = stub.subscription(&subscription).unwrap();
    let body = stub.event("customer.subscription.created", object);
    let webhook = app
        .http
        .post(app.url("/webhooks/stripe"))
        .header("stripe-signature", stub.sign(&body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.status(), StatusCode::OK);
    app.eventually(Duration::from_secs(5), "the webhook's sync ran", || async {
        app.store().jobs(false).await.unwrap().is_empty()
    })
    .await;

    let writes = sim.calls()[calls_before..]
        .iter()
        .filter(|c| c.method != "GET" && !c.path.contains("oauth"))
        .count();
    assert_eq!(writes, 0, "the late webhook changed nothing at AURA");
    assert_eq!(sim.subscriptions_of(customer).len(), 1);
}
