//! The operator console, the API and `/metrics` over real HTTP, against the real app with a
//! fresh database: access control (sessions, CSRF, rate limits, tokens and roles), what an
//! operator sees after the demo flow and after an AURA outage, and every API endpoint's
//! answers to bad input.

mod admin_support;
mod support;

use std::time::Duration;

use admin_support::{
    OPS_TOKEN, VIEWER_TOKEN, browser, console_app, csrf_in, location, operator, page, signed_up,
    sim, try_login,
};
use aura_signup::{
    aura_sim::{DownMode, Faults},
    domain::CustomerId,
    gateway::Gateway,
    store::SYNC_SUBSCRIPTION,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Backend, TestApp, valid_token};

/// Every API endpoint, with a body where it takes one.
fn api_endpoints() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/subscriptions", None),
        (Method::GET, "/api/v1/customers/1", None),
        (Method::POST, "/api/v1/subscriptions/sub_x/retry", None),
        (Method::POST, "/api/v1/subscriptions/sub_x/resync", None),
        (
            Method::PUT,
            "/api/v1/subscriptions/sub_x/dependants",
            Some(json!({"dependantCustomerIds": []})),
        ),
        (
            Method::POST,
            "/api/v1/subscriptions/sub_x/end-coverage",
            Some(json!({"reason": "test"})),
        ),
        (
            Method::POST,
            "/api/v1/subscriptions/sub_x/sandbox/renew",
            None,
        ),
    ]
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = app.http.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON from {path}: {text}"));
    (status, value)
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, context: &str) {
    assert_eq!(status, want, "{context}: {body}");
    assert!(
        body["error"].is_string(),
        "{context}: one error shape: {body}"
    );
}

#[tokio::test]
async fn console_pages_send_a_visitor_without_a_session_to_the_login() {
    let app = console_app(Backend::Postgres, &[]).await;
    let client = browser();
    for path in ["/admin", "/admin/customers/1", "/admin/export.csv"] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&response), "/admin/login", "{path}");
    }
    let forged = app
        .http
        .get(app.url("/admin"))
        .header("cookie", "aura_admin=YWRtaW58eHwxOTk5OTk5OTk5OTk5fHg.AAAA")
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        StatusCode::SEE_OTHER,
        "a forged cookie is no session"
    );
    let post = client
        .post(app.url("/admin/subscriptions/sub_x/retry"))
        .form(&[("csrf", "x")]);
    assert_eq!(location(&post.send().await.unwrap()), "/admin/login");
}

#[tokio::test]
async fn every_api_endpoint_answers_401_without_a_valid_operator_token() {
    let app = console_app(Backend::Postgres, &[]).await;
    let customer_jwt = valid_token(42);
    for (method, path, body) in api_endpoints() {
        for token in [None, Some("not-a-token"), Some(customer_jwt.as_str())] {
            let (status, value) = call(&app, method.clone(), path, token, body.as_ref()).await;
            assert_error(
                status,
                &value,
                StatusCode::UNAUTHORIZED,
                &format!("{method} {path} {token:?}"),
            );
        }
    }
    let body = json!({"dependantCustomerIds": []});
    for token in [None, Some(OPS_TOKEN)] {
        let (status, value) = call(
            &app,
            Method::PUT,
            "/api/v1/me/dependants",
            token,
            Some(&body),
        )
        .await;
        assert_error(
            status,
            &value,
            StatusCode::UNAUTHORIZED,
            "an operator token is no customer JWT",
        );
    }
}

#[tokio::test]
async fn unknown_api_paths_and_methods_get_the_json_error_shape() {
    let app = console_app(Backend::Sqlite, &[]).await;
    let (status, value) = call(&app, Method::GET, "/api/v1/nothing", Some(OPS_TOKEN), None).await;
    assert_error(status, &value, StatusCode::NOT_FOUND, "unknown API path");
    assert!(value["error"].as_str().unwrap().contains("openapi.json"));

    let response = app
        .http
        .delete(app.url("/api/v1/subscriptions"))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET,HEAD");
    let value: Value = response.json().await.unwrap();
    assert!(
        value["error"].as_str().unwrap().contains("DELETE"),
        "{value}"
    );

    let page = app.http.get(app.url("/nothing")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("There is nothing at this address")
    );
}

#[tokio::test]
async fn a_customer_jwt_that_does_not_verify_is_told_why() {
    let app = console_app(Backend::Sqlite, &[]).await;
    let body = json!({"dependantCustomerIds": []});
    let path = "/api/v1/me/dependants";
    let (status, value) = call(&app, Method::PUT, path, None, Some(&body)).await;
    assert_error(status, &value, StatusCode::UNAUTHORIZED, "no token");
    assert!(
        value["error"].as_str().unwrap().contains("AURA JWT"),
        "{value}"
    );
    let (status, value) = call(&app, Method::PUT, path, Some(OPS_TOKEN), Some(&body)).await;
    assert_error(status, &value, StatusCode::UNAUTHORIZED, "not a JWT");
    assert!(
        value["error"]
            .as_str()
            .unwrap()
            .contains("not a valid AURA customer JWT"),
        "{value}"
    );
}

#[tokio::test]
async fn a_read_only_token_reads_but_every_action_is_403() {
    let app = console_app(Backend::Postgres, &[]).await;
    let (status, value) = call(
        &app,
        Method::GET,
        "/api/v1/subscriptions",
        Some(VIEWER_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    for (method, path, body) in api_endpoints()
        .into_iter()
        .filter(|(m, ..)| *m != Method::GET)
    {
        let (status, value) = call(
            &app,
            method.clone(),
            path,
            Some(VIEWER_TOKEN),
            body.as_ref(),
        )
        .await;
        assert_error(
            status,
            &value,
            StatusCode::FORBIDDEN,
            &format!("{method} {path}"),
        );
    }
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused_with_403_and_change_nothing() {
    let app = console_app(Backend::Postgres, &[]).await;
    let (customer, subscription) = signed_up(&app, "single").await;
    let client = browser();
    let login = client
        .post(app.url("/admin/login"))
        .form(&[("name", "admin"), ("password", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status(),
        StatusCode::FORBIDDEN,
        "login without its form token"
    );

    let client = operator(&app).await;
    let action = app.url(&format!("/admin/subscriptions/{subscription}/resync"));
    let none = client
        .post(&action)
        .form(&[("reason", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::FORBIDDEN);
    let wrong = client
        .post(&action)
        .form(&[("csrf", "AAAA")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let logout = client.post(app.url("/admin/logout")).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::FORBIDDEN);

    assert!(app.store().actions_for(customer).await.unwrap().is_empty());
    assert!(
        app.store()
            .job_for(SYNC_SUBSCRIPTION, &subscription)
            .await
            .unwrap()
            .is_none()
    );
}

async fn wrong_passwords_get_429_after_five_failures(backend: Backend) {
    let app = console_app(backend, &[]).await;
    let client = browser();
    for attempt in 1..=5 {
        let response = try_login(&app, &client, "admin", "guess").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let limited = try_login(&app, &client, "admin", "admin").await;
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert_eq!(limited.headers()["retry-after"], "900");
    let other_name = try_login(&app, &client, "someone", "else").await;
    assert_eq!(
        other_name.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the address is limited too"
    );
}

#[tokio::test]
async fn wrong_passwords_get_429_after_five_failures_on_postgres() {
    wrong_passwords_get_429_after_five_failures(Backend::Postgres).await;
}

#[tokio::test]
async fn wrong_passwords_get_429_after_five_failures_on_sqlite() {
    wrong_passwords_get_429_after_five_failures(Backend::Sqlite).await;
}

#[tokio::test]
async fn wrong_passwords_sent_in_parallel_get_no_more_than_five_tries() {
    let app = console_app(Backend::Postgres, &[]).await;
    let guesses = (0..12).map(|n| {
        let app = &app;
        async move {
            let client = browser();
            try_login(app, &client, "admin", &format!("guess {n}"))
                .await
                .status()
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let tried = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(tried <= 5, "{statuses:?}");
    assert_eq!(tried + limited, 12, "{statuses:?}");
}

async fn an_operator_sees_the_customer_covered_with_the_whole_timeline(backend: Backend) {
    let app = console_app(backend, &[]).await;
    let (customer, subscription) = signed_up(&app, "family").await;
    let client = operator(&app).await;

    let (status, home) = page(&app, &client, "/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        home.contains("id=\"attention-none\""),
        "nothing needs attention: {home}"
    );
    assert!(
        home.contains(&format!(">{customer}</a>")) && home.contains("cov-covered"),
        "{home}"
    );

    let (_, found) = page(&app, &client, &format!("/admin?q={subscription}")).await;
    assert!(
        found.contains("<span id=\"total\">1</span>"),
        "search by subscription id"
    );
    let (_, none) = page(&app, &client, "/admin?coverage=failed").await;
    assert!(
        none.contains("<span id=\"total\">0</span>"),
        "filter by coverage"
    );
    let past = client
        .get(app.url("/admin?coverage=covered&page=5"))
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), StatusCode::SEE_OTHER, "past the last page");
    let last = past.headers()["location"].to_str().unwrap();
    assert!(
        last.contains("page=1") && last.contains("coverage=covered"),
        "{last}"
    );

    let (status, detail) = page(&app, &client, &format!("/admin/customers/{customer}")).await;
    assert_eq!(status, StatusCode::OK);
    let timeline = &detail[detail.find("id=\"timeline\"").unwrap()..];
    let order = [
        "Sign-up",
        "Gateway event checkout.session.completed",
        "AURA POST /v2/subscriptions → 20",
    ];
    let mut at = 0;
    for step in order {
        let found = timeline[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step} after {at}: {timeline}"));
        at += found;
    }
    assert!(timeline.contains(&format!("Gateway subscription {subscription} linked")));

    let logout = client
        .post(app.url("/admin/logout"))
        .form(&[("csrf", csrf_in(&detail))])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&logout), "/admin/login");
    let after = client.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "logged out");
}

#[tokio::test]
async fn a_session_cookie_replayed_after_logout_is_refused() {
    let app = console_app(Backend::Sqlite, &[]).await;
    let client = browser();
    let login = try_login(&app, &client, "admin", "admin").await;
    let session = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("aura_admin="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let replay = |cookie: String| {
        app.http
            .get(app.url("/admin"))
            .header("cookie", cookie)
            .send()
    };
    assert_eq!(
        replay(session.clone()).await.unwrap().status(),
        StatusCode::OK
    );

    let (_, home) = page(&app, &client, "/admin").await;
    let logout = client
        .post(app.url("/admin/logout"))
        .form(&[("csrf", csrf_in(&home))])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&logout), "/admin/login");
    let replayed = replay(session).await.unwrap();
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&replayed), "/admin/login");
}

#[tokio::test]
async fn an_operator_sees_the_customer_covered_with_the_whole_timeline_on_postgres() {
    an_operator_sees_the_customer_covered_with_the_whole_timeline(Backend::Postgres).await;
}

#[tokio::test]
async fn an_operator_sees_the_customer_covered_with_the_whole_timeline_on_sqlite() {
    an_operator_sees_the_customer_covered_with_the_whole_timeline(Backend::Sqlite).await;
}

#[tokio::test]
async fn after_an_aura_outage_the_failed_sync_is_visible_and_a_retry_fixes_it() {
    let app = console_app(Backend::Postgres, &[("SYNC_MAX_ATTEMPTS", "1")]).await;
    let (customer, subscription) = signed_up(&app, "single").await;
    let before = app
        .store()
        .subscription(&subscription)
        .await
        .unwrap()
        .unwrap()
        .aura_valid_to;
    let client = operator(&app).await;
    let (_, detail) = page(&app, &client, &format!("/admin/customers/{customer}")).await;
    let csrf = csrf_in(&detail);

    sim(&app).set_faults(Faults {
        down: Some(DownMode::Unavailable),
        ..Default::default()
    });
    let renew = app.url(&format!(
        "/admin/subscriptions/{subscription}/sandbox-renew"
    ));
    let renewed = client
        .post(renew)
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), StatusCode::SEE_OTHER);
    let store = app.store();
    app.eventually(
        Duration::from_secs(20),
        "the renewal's sync fails for good",
        || async {
            store
                .job_for(SYNC_SUBSCRIPTION, &subscription)
                .await
                .unwrap()
                .is_some_and(|j| j.dead)
        },
    )
    .await;

    let (_, home) = page(&app, &client, "/admin").await;
    let dead = &home[home
        .find("id=\"dead-jobs\"")
        .expect("failed syncs are listed")..];
    assert!(dead.contains(&subscription), "{dead}");

    sim(&app).set_faults(Faults::default());
    let retry = app.url(&format!("/admin/subscriptions/{subscription}/retry"));
    let retried = client
        .post(retry)
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&retried),
        format!("/admin/customers/{customer}?done=retry_sync#actions")
    );
    app.eventually(
        Duration::from_secs(15),
        "the retried sync extends coverage",
        || async {
            let row = store.subscription(&subscription).await.unwrap().unwrap();
            let job = store
                .job_for(SYNC_SUBSCRIPTION, &subscription)
                .await
                .unwrap();
            job.is_none() && row.aura_valid_to > before
        },
    )
    .await;
    let (_, detail) = page(
        &app,
        &client,
        &format!("/admin/customers/{customer}?done=retry_sync"),
    )
    .await;
    assert!(detail.contains("id=\"notice\""), "the operator is told");
    assert!(
        detail.contains("retry sync by operator:admin"),
        "recorded in the timeline"
    );
    assert!(detail.contains("sandbox renew by operator:admin"));
}

#[tokio::test]
async fn the_api_reads_the_mapping_and_a_customer_with_the_timeline() {
    let app = console_app(Backend::Postgres, &[]).await;
    let (customer, subscription) = signed_up(&app, "family").await;
    let token = Some(OPS_TOKEN);

    let path = format!("/api/v1/subscriptions?q={customer}&coverage=covered&sort=customer&dir=asc");
    let (status, list) = call(&app, Method::GET, &path, token, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 1);
    assert_eq!(
        list["items"][0]["gatewaySubscriptionId"],
        subscription.as_str()
    );
    assert_eq!(list["items"][0]["coverage"], "covered");

    for bad in [
        "coverage=fine",
        "sort=name",
        "dir=up",
        "page=0",
        "perPage=0",
        "page=x",
        "q=%00",
    ] {
        let (status, value) = call(
            &app,
            Method::GET,
            &format!("/api/v1/subscriptions?{bad}"),
            token,
            None,
        )
        .await;
        assert_error(status, &value, StatusCode::BAD_REQUEST, bad);
    }

    let (status, view) = call(
        &app,
        Method::GET,
        &format!("/api/v1/customers/{customer}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["subscriptions"][0]["coverage"], "covered");
    let kinds: Vec<&str> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["signup", "subscription", "gateway", "aura"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let (status, value) = call(&app, Method::GET, "/api/v1/customers/999999", token, None).await;
    assert_error(status, &value, StatusCode::NOT_FOUND, "unknown customer");
    let (status, value) = call(&app, Method::GET, "/api/v1/customers/abc", token, None).await;
    assert_error(status, &value, StatusCode::BAD_REQUEST, "not a customer id");
}

#[tokio::test]
async fn api_actions_refuse_bad_input_and_change_nothing() {
    let app = console_app(Backend::Postgres, &[]).await;
    let (customer, family) = signed_up(&app, "family").await;
    let (_, single) = signed_up(&app, "single").await;
    let token = Some(OPS_TOKEN);
    let deps = |sub: &str| format!("/api/v1/subscriptions/{sub}/dependants");

    let over = json!({"dependantCustomerIds": [11, 12, 13, 14, 15]});
    let (status, value) = call(&app, Method::PUT, &deps(&family), token, Some(&over)).await;
    assert_error(
        status,
        &value,
        StatusCode::UNPROCESSABLE_ENTITY,
        "over the allowance",
    );
    for body in [
        json!({"dependantCustomerIds": [1.5]}),
        json!({"ids": [1]}),
        json!({"dependantCustomerIds": [0]}),
    ] {
        let (status, value) = call(&app, Method::PUT, &deps(&family), token, Some(&body)).await;
        assert_error(
            status,
            &value,
            StatusCode::UNPROCESSABLE_ENTITY,
            &body.to_string(),
        );
    }
    let raw = app
        .http
        .put(app.url(&deps(&family)))
        .bearer_auth(OPS_TOKEN)
        .header("content-type", "application/json");
    let response = raw.body("{not json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());

    let row = app.store().subscription(&family).await.unwrap().unwrap();
    assert!(row.dependants.is_empty(), "nothing changed");
    assert!(
        app.store().actions_for(customer).await.unwrap().is_empty(),
        "nothing recorded"
    );

    let one = json!({"dependantCustomerIds": [7]});
    let (status, value) = call(&app, Method::PUT, &deps(&single), token, Some(&one)).await;
    assert_error(
        status,
        &value,
        StatusCode::CONFLICT,
        "a single plan has no dependants",
    );
    let (status, value) = call(&app, Method::PUT, &deps("sub_unknown"), token, Some(&one)).await;
    assert_error(
        status,
        &value,
        StatusCode::NOT_FOUND,
        "unknown subscription",
    );
    let retry = format!("/api/v1/subscriptions/{family}/retry");
    let (status, value) = call(&app, Method::POST, &retry, token, None).await;
    assert_error(
        status,
        &value,
        StatusCode::CONFLICT,
        "no failed sync to retry",
    );
    let end = format!("/api/v1/subscriptions/{family}/end-coverage");
    let (status, value) = call(
        &app,
        Method::POST,
        &end,
        token,
        Some(&json!({"reason": "  "})),
    )
    .await;
    assert_error(
        status,
        &value,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no reason",
    );
    let clock = format!("/api/v1/subscriptions/{family}/sandbox/rewind");
    let (status, value) = call(&app, Method::POST, &clock, token, None).await;
    assert_error(
        status,
        &value,
        StatusCode::NOT_FOUND,
        "unknown sandbox action",
    );
}

/// Two operators (or a double click) ending the same coverage at once: one end happens, with
/// one reason, and the other is told it is already under way.
#[tokio::test]
async fn ending_one_coverage_several_times_at_once_ends_it_once() {
    let app = console_app(Backend::Postgres, &[]).await;
    let (customer, single) = signed_up(&app, "single").await;
    let end = format!("/api/v1/subscriptions/{single}/end-coverage");
    let ends = (0..6).map(|n| {
        let body = json!({"reason": format!("End number {n}")});
        let (app, end) = (&app, &end);
        async move { call(app, Method::POST, end, Some(OPS_TOKEN), Some(&body)).await }
    });
    let answers = futures::future::join_all(ends).await;

    let ok: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .collect();
    assert_eq!(ok.len(), 1, "{answers:?}");
    for (status, value) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_error(*status, value, StatusCode::CONFLICT, "a second end");
    }
    let actions = app.store().actions_for(customer).await.unwrap();
    let recorded: Vec<_> = actions
        .iter()
        .filter(|a| a.action == "end_coverage")
        .collect();
    assert_eq!(recorded.len(), 1);
    let reason = recorded[0].detail.clone().unwrap();
    app.eventually(
        Duration::from_secs(10),
        "AURA ends it with the one reason recorded",
        || async {
            let subs = sim(&app).subscriptions_of(customer);
            subs.len() == 1 && subs[0].cancelled_reason.as_deref() == Some(reason.as_str())
        },
    )
    .await;
}

#[tokio::test]
async fn api_actions_set_dependants_then_end_coverage_by_stopping_the_payments() {
    let app = console_app(Backend::Postgres, &[]).await;
    let (customer, family) = signed_up(&app, "family").await;
    let dependant = sim(&app).add_customer("Dependant Person");
    let token = Some(OPS_TOKEN);

    let body = json!({"dependantCustomerIds": [dependant]});
    let path = format!("/api/v1/subscriptions/{family}/dependants");
    let (status, value) = call(&app, Method::PUT, &path, token, Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    app.eventually(
        Duration::from_secs(10),
        "AURA has the dependant",
        || async { sim(&app).subscriptions_of(dependant).len() == 1 },
    )
    .await;

    let end = format!("/api/v1/subscriptions/{family}/end-coverage");
    let (status, value) = call(
        &app,
        Method::POST,
        &end,
        token,
        Some(&json!({"reason": "Fraud check"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    let Gateway::Sandbox(sandbox) = &app.running.state.gateway else {
        panic!("the console tests run on the sandbox gateway")
    };
    let at_gateway = sandbox.subscription(&family).await.unwrap();
    assert_eq!(at_gateway.status.as_str(), "canceled", "the payments stop");
    app.eventually(
        Duration::from_secs(10),
        "AURA ends the subscription with the operator's reason",
        || async {
            let subs = sim(&app).subscriptions_of(customer);
            subs.len() == 1
                && subs[0].cancelled
                && subs[0].cancelled_reason.as_deref() == Some("Fraud check")
        },
    )
    .await;
    assert!(sim(&app).subscriptions_of(dependant)[0].cancelled);

    let (status, value) = call(
        &app,
        Method::POST,
        &end,
        token,
        Some(&json!({"reason": "again"})),
    )
    .await;
    assert_error(status, &value, StatusCode::CONFLICT, "nothing left to end");
    let renew = format!("/api/v1/subscriptions/{family}/sandbox/renew");
    let (status, value) = call(&app, Method::POST, &renew, token, None).await;
    assert_error(status, &value, StatusCode::CONFLICT, "has ended");

    let actions = app.store().actions_for(customer).await.unwrap();
    let names: Vec<(&str, &str)> = actions
        .iter()
        .map(|a| (a.actor.as_str(), a.action.as_str()))
        .collect();
    assert_eq!(
        names,
        [("api:ops", "set_dependants"), ("api:ops", "end_coverage")]
    );
}

#[tokio::test]
async fn the_app_sets_its_family_dependants_with_the_customers_jwt() {
    let app = console_app(Backend::Postgres, &[]).await;
    let (customer, family) = signed_up(&app, "family").await;
    let (single_customer, _) = signed_up(&app, "single").await;
    let dependant = sim(&app).add_customer("Dependant Person");
    let path = "/api/v1/me/dependants";

    let body = json!({"dependantCustomerIds": [dependant]});
    let jwt = valid_token(single_customer);
    let (status, value) = call(&app, Method::PUT, path, Some(&jwt), Some(&body)).await;
    assert_error(status, &value, StatusCode::NOT_FOUND, "no family plan");

    let jwt = valid_token(customer);
    let over = json!({"dependantCustomerIds": [1, 2, 3, 4, 5]});
    let (status, value) = call(&app, Method::PUT, path, Some(&jwt), Some(&over)).await;
    assert_error(
        status,
        &value,
        StatusCode::UNPROCESSABLE_ENTITY,
        "over the allowance",
    );
    let (status, value) = call(&app, Method::PUT, path, Some(&jwt), Some(&json!({}))).await;
    assert_error(status, &value, StatusCode::UNPROCESSABLE_ENTITY, "no list");
    assert!(
        app.store()
            .subscription(&family)
            .await
            .unwrap()
            .unwrap()
            .dependants
            .is_empty()
    );

    let (status, value) = call(&app, Method::PUT, path, Some(&jwt), Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(
        app.store()
            .subscription(&family)
            .await
            .unwrap()
            .unwrap()
            .dependants,
        [dependant]
    );
    let actions = app.store().actions_for(customer).await.unwrap();
    assert_eq!(actions[0].actor, format!("customer:{customer}"));
    let id = CustomerId::new(customer).unwrap();
    assert_eq!(app.store().subscriptions_for(id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_openapi_document_describes_every_api_route() {
    let app = console_app(Backend::Sqlite, &[]).await;
    let doc: Value = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (method, path, _) in api_endpoints() {
        let template = path
            .replace("sub_x", "{id}")
            .replace("customers/1", "customers/{customer_id}");
        let template = template.replace("sandbox/renew", "sandbox/{action}");
        let op = &paths[&template][method.as_str().to_lowercase()];
        assert!(op.is_object(), "{method} {template} documented");
        assert!(
            op["security"][0]["operator_token"].is_array(),
            "{template} needs a token"
        );
        assert!(
            op["responses"]["401"].is_object(),
            "{template} documents 401"
        );
    }
    assert!(paths["/api/v1/me/dependants"]["put"]["security"][0]["customer_jwt"].is_array());
    assert!(doc["components"]["schemas"]["ApiError"].is_object());
}

#[tokio::test]
async fn metrics_report_requests_by_route_the_queue_and_coverage() {
    let app = console_app(Backend::Postgres, &[("METRICS_TOKEN", "scrape-me")]).await;
    signed_up(&app, "single").await;
    app.http.get(app.url("/healthz")).send().await.unwrap();

    let refused = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let scrape = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), StatusCode::OK);
    let text = scrape.text().await.unwrap();
    for line in [
        "http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}",
        "route=\"/signup/{id}/checkout\"",
        "sync_jobs_total{outcome=\"done\"}",
        "sync_queue_depth ",
        "sync_jobs_dead 0",
        "customers_by_coverage{coverage=\"covered\"} 1",
        "aura_calls_total{method=\"POST\",path=\"/v2/subscriptions\"",
        "aura_call_duration_seconds_bucket",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
}

#[tokio::test]
async fn csv_export_holds_every_row_the_filter_shows() {
    let app = console_app(Backend::Sqlite, &[]).await;
    let (customer, subscription) = signed_up(&app, "single").await;
    let client = operator(&app).await;
    let response = client
        .get(app.url("/admin/export.csv?coverage=covered"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("aura_customer_id,plan,"), "{text}");
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].starts_with(&format!("{customer},single,")) && lines[1].contains(&subscription)
    );
    let (_, lapsed) = page(&app, &client, "/admin/export.csv?coverage=lapsed").await;
    assert_eq!(lapsed.lines().count(), 1, "only the header");
}
