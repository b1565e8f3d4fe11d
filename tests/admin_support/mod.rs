//! Helpers for the console's HTTP and browser tests: an app with operators and API tokens, a
//! cookie-keeping client, logging in, and a customer signed up through the real flow.
#![allow(dead_code)]

use std::time::Duration;

use aura_signup::{
    aura_sim::Simulator,
    store::{AuraState, SYNC_SUBSCRIPTION},
};
use reqwest::{Client, Response, StatusCode};

use crate::support::{Backend, TestApp, fresh_db, spawn_app, valid_token};

/// Read-and-act and read-only API tokens.
pub const OPS_TOKEN: &str = "ops-token-0123456789";
pub const VIEWER_TOKEN: &str = "viewer-token-0123456789";

/// The app with the development demo operator (`admin`/`admin`) and two API tokens.
pub async fn console_app(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let tokens = format!("ops:{OPS_TOKEN},viewer:{VIEWER_TOKEN}:read");
    let mut pairs = vec![("ADMIN_API_TOKENS", tokens.as_str())];
    pairs.extend_from_slice(extra);
    spawn_app(fresh_db(backend).await, &pairs).await
}

pub fn sim(app: &TestApp) -> &Simulator {
    app.running
        .sim
        .as_ref()
        .expect("embedded simulator")
        .simulator()
}

/// A browser-like client: keeps cookies, follows no redirects.
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .expect("a redirect")
        .to_str()
        .unwrap()
        .to_owned()
}

/// The CSRF token of the first form on a page.
pub fn csrf_in(html: &str) -> String {
    let start = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[start..].split('"').next().unwrap().to_owned()
}

/// Opens the login page and submits `name` and `password` with its form token.
pub async fn try_login(app: &TestApp, client: &Client, name: &str, password: &str) -> Response {
    let page = client
        .get(app.url("/admin/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("csrf", csrf_in(&page)),
        ("name", name.into()),
        ("password", password.into()),
    ];
    client
        .post(app.url("/admin/login"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// A client logged in as the demo operator.
pub async fn operator(app: &TestApp) -> Client {
    let client = browser();
    let response = try_login(app, &client, "admin", "admin").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "login succeeds");
    client
}

/// A page's HTML and its CSRF token, as the operator sees it.
pub async fn page(app: &TestApp, client: &Client, path: &str) -> (StatusCode, String) {
    let response = client.get(app.url(path)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// A new simulated customer pays for `plan` in the sandbox; returns the customer and the
/// gateway subscription once AURA covers it.
pub async fn signed_up(app: &TestApp, plan: &str) -> (i64, String) {
    let customer = sim(app).add_customer("Test Person");
    let back = app.sim_url(&format!("/v2/process?customerId={customer}"));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", &valid_token(customer))
        .append_pair("redirectUrl", &back)
        .finish();
    let entry = app
        .http
        .get(app.url(&format!("/signup?{query}")))
        .send()
        .await
        .unwrap();
    let signup = location(&entry);
    let chosen = app
        .http
        .post(app.url(&format!("{signup}/checkout")))
        .form(&[("plan", plan)]);
    let checkout = location(&chosen.send().await.unwrap());
    let paid = app
        .http
        .post(checkout)
        .form(&[("card", "4242424242424242")])
        .send()
        .await
        .unwrap();
    app.http.get(location(&paid)).send().await.unwrap();
    let subscription = wait_covered(app, customer).await;
    (customer, subscription)
}

/// Waits until AURA covers the customer and the sign-up's events are all synced (so a test
/// that then breaks AURA meets only what it causes itself); returns the covering gateway
/// subscription.
pub async fn wait_covered(app: &TestApp, customer: i64) -> String {
    let id = aura_signup::domain::CustomerId::new(customer).unwrap();
    let store = app.store();
    app.eventually(
        Duration::from_secs(15),
        "AURA covers the customer",
        || async {
            store
                .subscriptions_for(id)
                .await
                .unwrap()
                .iter()
                .any(|s| s.aura_state == AuraState::Active)
        },
    )
    .await;
    let subscription = store.subscriptions_for(id).await.unwrap()[0]
        .gateway_subscription_id
        .clone();
    app.eventually(Duration::from_secs(15), "the sync settles", || async {
        let job = store.job_for(SYNC_SUBSCRIPTION, &subscription).await;
        job.unwrap().is_none()
    })
    .await;
    subscription
}
