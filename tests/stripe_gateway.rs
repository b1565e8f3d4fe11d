//! The real `StripeGateway` (async-stripe underneath) against the local Stripe stand-in:
//! what it sends, how it reads Stripe's answers, and how failures are sorted.

mod common;

use std::time::Duration;

use aura_signup::{
    domain::{CustomerId, PlanKind, SignupId},
    gateway::{CheckoutRequest, GatewayError, StripeGateway, SubscriptionStatus},
    webhooks::{event, signature},
};
use chrono::DateTime;
use common::stripe_stub::{self, StripeStub};

const PRICE: &str = "price_1PgafmB7WZ01zgkW6dKueIc5";
const SUCCESS_URL: &str = "https://pay.example/signup/return?session_id={CHECKOUT_SESSION_ID}";
const CANCEL_URL: &str = "https://pay.example/signup/cancelled";

async fn setup() -> (StripeStub, StripeGateway) {
    let stub = StripeStub::start().await;
    let gateway = StripeGateway::new(&stub.config()).expect("gateway builds");
    (stub, gateway)
}

fn request(idempotency_key: &str) -> CheckoutRequest {
    CheckoutRequest {
        signup_id: SignupId::parse("0123456789abcdef0123456789abcdef").unwrap(),
        customer_id: CustomerId::new(4711).unwrap(),
        plan: PlanKind::Single,
        price_id: PRICE.into(),
        success_url: SUCCESS_URL.into(),
        cancel_url: CANCEL_URL.into(),
        idempotency_key: idempotency_key.into(),
    }
}

#[tokio::test]
async fn checkout_is_created_in_subscription_mode_with_everything_stripe_needs() {
    let (stub, gateway) = setup().await;

    let session = gateway
        .create_checkout(&request("signup-0123-single"))
        .await
        .unwrap();

    assert!(session.id.starts_with("cs_test_"), "{}", session.id);
    assert!(session.url.ends_with(&session.id), "{}", session.url);
    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/checkout/sessions")
    );
    assert_eq!(sent.idempotency_key.as_deref(), Some("signup-0123-single"));
    let field = |name: &str| sent.form.get(name).map(String::as_str);
    assert_eq!(field("mode"), Some("subscription"));
    assert_eq!(field("line_items[0][price]"), Some(PRICE));
    assert_eq!(field("line_items[0][quantity]"), Some("1"));
    assert_eq!(field("line_items[1][price]"), None);
    assert_eq!(field("client_reference_id"), Some("4711"));
    for prefix in ["metadata", "subscription_data[metadata]"] {
        assert_eq!(
            field(&format!("{prefix}[aura_customer_id]")),
            Some("4711"),
            "{prefix}"
        );
        assert_eq!(
            field(&format!("{prefix}[signup_id]")),
            Some("0123456789abcdef0123456789abcdef"),
            "{prefix}"
        );
    }
    assert_eq!(
        field("success_url"),
        Some(SUCCESS_URL),
        "the placeholder must reach Stripe literally"
    );
    assert_eq!(field("cancel_url"), Some(CANCEL_URL));
}

#[tokio::test]
async fn same_idempotency_key_twice_makes_one_session() {
    let (stub, gateway) = setup().await;

    let first = gateway
        .create_checkout(&request("double-tap"))
        .await
        .unwrap();
    let second = gateway
        .create_checkout(&request("double-tap"))
        .await
        .unwrap();

    assert_eq!(first, second);
    assert_eq!(stub.sessions_created(), 1);
    assert_eq!(stub.requests().len(), 2);

    gateway
        .create_checkout(&request("another-signup"))
        .await
        .unwrap();
    assert_eq!(stub.sessions_created(), 2);
}

#[tokio::test]
async fn reused_idempotency_key_with_other_parameters_is_rejected() {
    let (_stub, gateway) = setup().await;
    gateway.create_checkout(&request("reused")).await.unwrap();

    let mut changed = request("reused");
    changed.price_id = "price_family".into();
    let err = gateway.create_checkout(&changed).await.unwrap_err();

    assert!(matches!(err, GatewayError::Rejected(_)), "{err}");
}

#[tokio::test]
async fn checkout_state_is_open_and_unpaid_before_payment_and_paid_after() {
    let (stub, gateway) = setup().await;
    let session = gateway.create_checkout(&request("k1")).await.unwrap();

    let before = gateway.checkout_state(&session.id).await.unwrap();
    assert!(before.open && !before.paid, "{before:?}");
    assert_eq!(before.customer_ref.as_deref(), Some("4711"));
    assert_eq!(
        before.signup_ref.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert_eq!(
        (
            before.gateway_customer.as_deref(),
            before.gateway_subscription.as_deref()
        ),
        (None, None)
    );

    let subscription_id = stub.complete_session(&session.id, true);
    let after = gateway.checkout_state(&session.id).await.unwrap();
    assert!(!after.open && after.paid, "{after:?}");
    assert_eq!(after.id, session.id);
    assert_eq!(
        after.gateway_subscription.as_deref(),
        Some(subscription_id.as_str())
    );
    assert!(
        after
            .gateway_customer
            .as_deref()
            .is_some_and(|c| c.starts_with("cus_")),
        "{after:?}"
    );
}

#[tokio::test]
async fn an_open_session_can_be_expired_once_and_a_paid_one_not_at_all() {
    let (stub, gateway) = setup().await;
    let open = gateway.create_checkout(&request("expire-1")).await.unwrap();
    gateway.expire_checkout(&open.id).await.unwrap();
    let state = gateway.checkout_state(&open.id).await.unwrap();
    assert!(!state.open && !state.paid);
    assert!(matches!(
        gateway.expire_checkout(&open.id).await,
        Err(GatewayError::Rejected(_))
    ));

    let paid = gateway.create_checkout(&request("expire-2")).await.unwrap();
    stub.complete_session(&paid.id, true);
    assert!(matches!(
        gateway.expire_checkout(&paid.id).await,
        Err(GatewayError::Rejected(_))
    ));
    assert!(gateway.checkout_state(&paid.id).await.unwrap().paid);
}

#[tokio::test]
async fn complete_but_unpaid_session_is_neither_open_nor_paid() {
    let (stub, gateway) = setup().await;
    let session = gateway.create_checkout(&request("k2")).await.unwrap();
    stub.complete_session(&session.id, false);

    let state = gateway.checkout_state(&session.id).await.unwrap();

    assert!(!state.open && !state.paid, "{state:?}");
}

#[tokio::test]
async fn unknown_session_is_not_found() {
    let (_stub, gateway) = setup().await;
    let err = gateway
        .checkout_state("cs_test_does_not_exist")
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::NotFound), "{err}");
}

#[tokio::test]
async fn session_id_with_path_characters_never_reaches_stripe() {
    let (stub, gateway) = setup().await;
    let err = gateway
        .checkout_state("cs_1/../../v1/subscriptions/sub_1")
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::NotFound), "{err}");
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn subscription_after_checkout_takes_its_period_end_from_the_item() {
    let (stub, gateway) = setup().await;
    let session = gateway.create_checkout(&request("k3")).await.unwrap();
    let id = stub.complete_session(&session.id, true);
    let item_end = stub.subscription(&id).unwrap()["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();

    let sub = gateway.subscription(&id).await.unwrap();

    assert_eq!(sub.id, id);
    assert_eq!(sub.status, SubscriptionStatus::Active);
    assert_eq!(sub.paid_through, DateTime::from_timestamp(item_end, 0));
    assert!(sub.paid_through.unwrap() > chrono::Utc::now() + chrono::Duration::days(29));
    assert!(!sub.cancel_at_period_end);
    assert_eq!(sub.cancellation_reason, None);
    assert_eq!(sub.price_id.as_deref(), Some(PRICE));
    assert_eq!(sub.aura_customer_id, CustomerId::new(4711));
    assert_eq!(
        sub.signup_id.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    let sent = stub.requests().pop().unwrap();
    assert_eq!(
        (sent.method.as_str(), sent.path),
        ("GET", format!("/v1/subscriptions/{id}"))
    );
}

#[tokio::test]
async fn subscription_in_the_older_api_shape_takes_its_period_end_from_the_subscription() {
    let (stub, gateway) = setup().await;
    let period_end = stripe_stub::now() + 12 * 86_400;
    stub.set_subscription("sub_legacy", "past_due", period_end, false, None);
    stub.use_legacy_period_shape("sub_legacy");
    assert!(
        stub.subscription("sub_legacy").unwrap()["items"]["data"][0]
            .get("current_period_end")
            .is_none()
    );

    let sub = gateway.subscription("sub_legacy").await.unwrap();

    assert_eq!(sub.status, SubscriptionStatus::PastDue);
    assert_eq!(
        sub.paid_through,
        DateTime::from_timestamp(period_end - 30 * 86_400, 0),
        "past due: paid through the start of the running period"
    );

    stub.set_subscription("sub_legacy", "active", period_end, false, None);
    stub.use_legacy_period_shape("sub_legacy");
    let sub = gateway.subscription("sub_legacy").await.unwrap();
    assert_eq!(sub.paid_through, DateTime::from_timestamp(period_end, 0));
}

#[tokio::test]
async fn the_latest_invoice_is_asked_for_and_a_renewal_still_owed_is_not_paid_for() {
    let (stub, gateway) = setup().await;
    let period_end = stripe_stub::now() + 30 * 86_400;
    stub.set_subscription("sub_billed", "active", period_end, false, None);
    stub.set_latest_invoice("sub_billed", "draft");

    let sub = gateway.subscription("sub_billed").await.unwrap();
    assert_eq!(
        sub.paid_through,
        DateTime::from_timestamp(period_end - 30 * 86_400, 0)
    );

    stub.set_latest_invoice("sub_billed", "paid");
    let sub = gateway.subscription("sub_billed").await.unwrap();
    assert_eq!(sub.paid_through, DateTime::from_timestamp(period_end, 0));
}

#[tokio::test]
async fn cancelling_a_subscription_stops_it_now_with_the_operators_comment() {
    let (stub, gateway) = setup().await;
    let period_end = stripe_stub::now() + 20 * 86_400;
    stub.set_subscription("sub_to_end", "active", period_end, false, None);

    gateway
        .cancel_subscription("sub_to_end", "Fraud check")
        .await
        .unwrap();

    let request = stub.requests().pop().unwrap();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("DELETE", "/v1/subscriptions/sub_to_end")
    );
    assert_eq!(request.form["cancellation_details[comment]"], "Fraud check");
    let sub = gateway.subscription("sub_to_end").await.unwrap();
    assert_eq!(sub.status, SubscriptionStatus::Canceled);
    assert_eq!(
        sub.cancellation_reason.as_deref(),
        Some("cancellation_requested")
    );
    assert!(matches!(
        gateway.cancel_subscription("sub_to_end", "again").await,
        Err(GatewayError::NotFound)
    ));
    assert!(matches!(
        gateway.cancel_subscription("sub_1/../x", "x").await,
        Err(GatewayError::NotFound)
    ));
}

#[tokio::test]
async fn canceled_subscription_reports_its_reason_and_period() {
    let (stub, gateway) = setup().await;
    let period_end = stripe_stub::now() + 3 * 86_400;
    stub.set_subscription(
        "sub_ended",
        "canceled",
        period_end,
        false,
        Some("payment_failed"),
    );

    let sub = gateway.subscription("sub_ended").await.unwrap();

    assert_eq!(sub.status, SubscriptionStatus::Canceled);
    assert_eq!(sub.cancellation_reason.as_deref(), Some("payment_failed"));
    assert_eq!(sub.paid_through, DateTime::from_timestamp(period_end, 0));
}

#[tokio::test]
async fn subscription_set_to_cancel_at_period_end_says_so() {
    let (stub, gateway) = setup().await;
    stub.set_subscription(
        "sub_leaving",
        "active",
        stripe_stub::now() + 86_400,
        true,
        Some("cancellation_requested"),
    );

    let sub = gateway.subscription("sub_leaving").await.unwrap();

    assert!(sub.cancel_at_period_end);
    assert_eq!(sub.status, SubscriptionStatus::Active);
}

#[tokio::test]
async fn active_subscription_without_a_period_end_is_a_retryable_error() {
    let (stub, gateway) = setup().await;
    stub.set_subscription(
        "sub_odd",
        "active",
        stripe_stub::now() + 86_400,
        false,
        None,
    );
    stub.use_legacy_period_shape("sub_odd");
    let mut body = stub.subscription("sub_odd").unwrap();
    body["current_period_end"] = serde_json::Value::Null;
    stub.put_subscription(body);

    let err = gateway.subscription("sub_odd").await.unwrap_err();

    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn unknown_subscription_is_not_found() {
    let (_stub, gateway) = setup().await;
    let err = gateway.subscription("sub_nobody").await.unwrap_err();
    assert!(matches!(err, GatewayError::NotFound), "{err}");
}

#[tokio::test]
async fn server_error_is_transient_on_every_call_and_passes() {
    let (stub, gateway) = setup().await;
    stub.set_subscription("sub_1", "active", stripe_stub::now() + 86_400, false, None);

    stub.fail_next(1, 500);
    let err = gateway.create_checkout(&request("k4")).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    stub.fail_next(1, 500);
    let err = gateway.subscription("sub_1").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    stub.fail_next(1, 500);
    let err = gateway.checkout_state("cs_test_any").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");

    assert!(
        gateway.subscription("sub_1").await.is_ok(),
        "the fault lasts one request"
    );
    assert!(
        gateway.create_checkout(&request("k4")).await.is_ok(),
        "a retry with the same key succeeds"
    );
}

#[tokio::test]
async fn rate_limit_is_transient() {
    let (stub, gateway) = setup().await;
    stub.fail_next(2, 429);
    assert!(
        gateway
            .create_checkout(&request("k5"))
            .await
            .unwrap_err()
            .is_retryable()
    );
    assert!(
        gateway
            .subscription("sub_1")
            .await
            .unwrap_err()
            .is_retryable()
    );
}

#[tokio::test]
async fn proxy_error_page_instead_of_stripe_json_is_transient() {
    let (stub, gateway) = setup().await;
    stub.fail_next_with_body(2, 502, "<html><body>502 Bad Gateway</body></html>");
    assert!(
        gateway
            .create_checkout(&request("k6"))
            .await
            .unwrap_err()
            .is_retryable()
    );
    assert!(
        gateway
            .subscription("sub_1")
            .await
            .unwrap_err()
            .is_retryable()
    );
}

#[tokio::test]
async fn slow_answer_times_out_as_transient() {
    let (stub, gateway) = setup().await;
    let gateway = gateway.with_timeout(Duration::from_millis(200));
    stub.stall_next(3, Duration::from_secs(2));

    for err in [
        gateway.create_checkout(&request("k7")).await.unwrap_err(),
        gateway.checkout_state("cs_test_slow").await.unwrap_err(),
        gateway.subscription("sub_slow").await.unwrap_err(),
    ] {
        assert!(
            err.is_retryable() && err.to_string().contains("timed out"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn unreachable_stripe_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = StripeStub::start().await.config();
    config.api_base = Some(
        format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap(),
    );
    drop(listener);
    let gateway = StripeGateway::new(&config).unwrap();

    assert!(
        gateway
            .create_checkout(&request("k8"))
            .await
            .unwrap_err()
            .is_retryable()
    );
    assert!(
        gateway
            .subscription("sub_1")
            .await
            .unwrap_err()
            .is_retryable()
    );
}

#[tokio::test]
async fn wrong_secret_key_is_rejected() {
    let (stub, _) = setup().await;
    let mut config = stub.config();
    config.secret_key = aura_signup::config::Secret::new("sk_test_wrong");
    let gateway = StripeGateway::new(&config).unwrap();

    let err = gateway.create_checkout(&request("k9")).await.unwrap_err();
    assert!(matches!(err, GatewayError::Rejected(_)), "{err}");
    let err = gateway.subscription("sub_1").await.unwrap_err();
    assert!(matches!(err, GatewayError::Rejected(_)), "{err}");
    assert!(!err.to_string().contains("sk_test_wrong"), "{err}");
}

#[tokio::test]
async fn stand_in_event_for_a_completed_checkout_verifies_and_names_the_subscription() {
    let (stub, gateway) = setup().await;
    let session = gateway.create_checkout(&request("k10")).await.unwrap();
    let subscription_id = stub.complete_session(&session.id, true);

    let body = stub.event(
        "checkout.session.completed",
        stub.session(&session.id).unwrap(),
    );
    let header = stub.sign(&body);

    let secrets = stub.config().webhook_secrets;
    signature::verify(
        &header,
        &body,
        &secrets,
        Duration::from_secs(300),
        stripe_stub::now(),
    )
    .unwrap();
    let summary = event::summarise(&body).unwrap();
    assert!(
        summary.handled && summary.id.starts_with("evt_"),
        "{summary:?}"
    );
    assert_eq!(summary.subscription_id, Some(subscription_id.clone()));

    let updated = stub.event(
        "customer.subscription.updated",
        stub.subscription(&subscription_id).unwrap(),
    );
    assert_eq!(
        event::summarise(&updated).unwrap().subscription_id,
        Some(subscription_id)
    );
    assert_ne!(
        event::summarise(&updated).unwrap().id,
        summary.id,
        "event ids are unique"
    );
}
