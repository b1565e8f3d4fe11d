//! The sign-up pages and redirects.

use std::time::Duration;

use axum::{
    Form,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use tracing::{info, instrument, warn};

use super::{
    redirect::{AllowedRedirect, RedirectError},
    token::TokenError,
};
use crate::{
    app::AppState,
    domain::{PlanKind, SignupId},
    gateway::{CheckoutRequest, CheckoutState, GatewayError},
    http::page::{Page, css_path, format_money, render, see_other},
    store::{AuraState, GatewayFacts, Signup, SignupOutcome, now_ms},
};

/// A sign-up link is good for this long; after it the person starts again from the app.
const SIGNUP_TTL_MS: i64 = 2 * 60 * 60 * 1000;
/// How long the return from checkout waits for AURA before sending the person back anyway
/// (the activation stays queued and is retried).
const ACTIVATION_WAIT: Duration = Duration::from_secs(5);

/// `GET /signup?token=...&redirectUrl=...`: verify, record, and move the token out of the
/// address bar with a 303 to the signup's own page.
#[instrument(skip_all)]
pub async fn entry(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, Page> {
    let query = query.unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let values = |name: &str| {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    let (tokens, redirects) = (values("token"), values("redirectUrl"));

    let redirect = match redirects.as_slice() {
        [raw] => AllowedRedirect::check(raw, &state.config.redirect_allowed),
        [] => Err(RedirectError::Missing),
        _ => Err(RedirectError::Repeated),
    }
    .map_err(|e| {
        warn!(reason = %e, "sign-up refused: redirect URL");
        Page::new(
            StatusCode::BAD_REQUEST,
            "This link cannot be used",
            format!("{e}. Please start again from the app."),
        )
    })?;

    let token = match tokens.as_slice() {
        [token] => *token,
        [] => "",
        _ => {
            return Err(bad_token(
                &redirect,
                TokenError::Invalid("given more than once".into()),
            ));
        }
    };
    let customer = state
        .tokens
        .verify(token)
        .await
        .map_err(|e| bad_token(&redirect, e))?;

    let id = SignupId::generate();
    state
        .store
        .insert_signup(&id, customer, redirect.as_str())
        .await?;
    info!(signup = %id, customer = %customer, "signup started");
    Ok(see_other(&format!("/signup/{id}")))
}

fn bad_token(redirect: &AllowedRedirect, e: TokenError) -> Page {
    warn!(reason = %e, "sign-up refused: token");
    let message = match e {
        TokenError::Expired => {
            "This sign-up link has expired. Please go back to the app and try again."
        }
        _ => "This sign-up link is invalid. Please go back to the app and try again.",
    };
    Page::new(StatusCode::UNAUTHORIZED, "Link invalid or expired", message)
        .with_back(redirect.with_outcome(false), "Back to the app")
}

#[derive(askama::Template)]
#[template(path = "plans.html")]
struct PlansTemplate<'a> {
    css: &'a str,
    signup_id: &'a str,
    plans: Vec<PlanChoice>,
    cancel_url: String,
}

struct PlanChoice {
    kind: &'static str,
    name: &'static str,
    price: String,
    detail: String,
}

/// `GET /signup/{id}`: the plan choice, or, for a customer who is already covered, until when.
pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Page> {
    let (signup, redirect) = load(&state, &id).await?;
    if let Some(page) = covered_page(&state, &signup, &redirect).await? {
        return Ok(page.into_response());
    }
    expired_check(&signup, &redirect)?;

    let plans = state
        .config
        .plans
        .iter()
        .map(|p| PlanChoice {
            kind: p.kind.as_str(),
            name: if p.kind == PlanKind::Family {
                "Family"
            } else {
                "Single"
            },
            price: format_money(p.amount_minor, &p.currency),
            detail: match p.kind {
                PlanKind::Family => format!("You and up to {} dependants", p.dependants),
                PlanKind::Single => "You alone".to_owned(),
            },
        })
        .collect();
    let template = PlansTemplate {
        css: css_path(),
        signup_id: signup.id.as_str(),
        plans,
        cancel_url: format!("/signup/{}/cancelled", signup.id),
    };
    Ok(render(StatusCode::OK, &template))
}

#[derive(Deserialize)]
pub struct CheckoutForm {
    plan: Option<String>,
}

/// `POST /signup/{id}/checkout`: open (or reuse) the gateway's checkout for the chosen plan.
#[instrument(skip_all, fields(signup = %id))]
pub async fn checkout(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<CheckoutForm>,
) -> Result<Response, Page> {
    let (signup, redirect) = load(&state, &id).await?;
    let plan = form
        .plan
        .as_deref()
        .and_then(PlanKind::parse)
        .ok_or_else(|| {
            Page::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Choose a plan",
                "Please choose the single or the family plan.",
            )
            .with_back(format!("/signup/{id}"), "Choose a plan")
        })?;
    if covered_page(&state, &signup, &redirect).await?.is_some()
        || signup.outcome == SignupOutcome::Paid
    {
        return Ok(see_other(&format!("/signup/{id}")));
    }
    expired_check(&signup, &redirect)?;

    if let Some(url) = reusable_checkout(&state, &signup, plan).await {
        return Ok(see_other(&url));
    }
    let base = state.config.public_base_url.as_str();
    let request = CheckoutRequest {
        signup_id: signup.id.clone(),
        customer_id: signup.customer_id,
        plan,
        price_id: state.config.plan(plan).price_id.clone(),
        success_url: format!("{base}signup/{id}/complete?session_id={{CHECKOUT_SESSION_ID}}"),
        cancel_url: format!("{base}signup/{id}/cancelled"),
        idempotency_key: format!("checkout:{id}:{plan}"),
    };
    let session = state
        .gateway
        .create_checkout(&request)
        .await
        .map_err(Page::internal)?;
    state
        .store
        .signup_checkout_opened(&signup.id, plan, &session.id, &session.url)
        .await?;
    info!(checkout = %session.id, plan = %plan, "checkout opened");
    Ok(see_other(&session.url))
}

/// The customer's checkout for the same plan that is still open at the gateway (a double
/// tap, a second tab, the back button): the person is sent back to it instead of a new one.
async fn reusable_checkout(state: &AppState, signup: &Signup, plan: PlanKind) -> Option<String> {
    let open = state
        .store
        .open_checkout_for(signup.customer_id, now_ms() - SIGNUP_TTL_MS)
        .await
        .ok()??;
    if open.plan != Some(plan) {
        return None;
    }
    let (session_id, url) = (open.checkout_session_id?, open.checkout_url?);
    match state.gateway.checkout_state(&session_id).await {
        Ok(CheckoutState { open: true, .. }) => Some(url),
        _ => None,
    }
}

#[derive(Deserialize)]
pub struct CompleteQuery {
    session_id: Option<String>,
}

/// `GET /signup/{id}/complete?session_id=...`: the return from a checkout. The outcome is
/// asked of the gateway, never read from the query.
#[instrument(skip_all, fields(signup = %id))]
pub async fn complete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Page> {
    let (signup, redirect) = load(&state, &id).await?;
    let query: CompleteQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .unwrap_or(CompleteQuery { session_id: None });
    let session_id = query
        .session_id
        .filter(|s| valid_session_id(s))
        .ok_or_else(|| {
            Page::new(
                StatusCode::BAD_REQUEST,
                "Payment not recognised",
                "The return from the payment page did not say which payment it was.",
            )
            .with_back(redirect.with_outcome(false), "Back to the app")
        })?;

    let checkout = match state.gateway.checkout_state(&session_id).await {
        Ok(c) => c,
        Err(GatewayError::Transient(e)) => return Err(Page::internal(e)),
        Err(e) => {
            warn!(error = %e, "return with a session the gateway does not know");
            return Ok(see_other(&redirect.with_outcome(false)));
        }
    };
    if checkout.signup_ref.as_deref() != Some(signup.id.as_str())
        || checkout.customer_ref.as_deref() != Some(&signup.customer_id.to_string())
    {
        warn!(checkout = %checkout.id, "return with a session opened for another signup");
        return Ok(see_other(&redirect.with_outcome(false)));
    }
    if !checkout.paid {
        if !checkout.open {
            state
                .store
                .signup_finished(&signup.id, SignupOutcome::Failed, None)
                .await?;
        }
        return Ok(see_other(&redirect.with_outcome(false)));
    }

    activate(&state, &signup, &checkout).await?;
    Ok(see_other(&redirect.with_outcome(true)))
}

fn valid_session_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Records the payment and runs the same idempotent activation the webhook path runs, then
/// waits a bounded time for AURA. If AURA is slow the job stays queued and is retried.
async fn activate(state: &AppState, signup: &Signup, checkout: &CheckoutState) -> Result<(), Page> {
    let subscription = checkout
        .gateway_subscription
        .as_deref()
        .ok_or_else(|| Page::internal("paid checkout without a subscription"))?;
    let facts = GatewayFacts {
        gateway_subscription_id: subscription,
        customer_id: signup.customer_id,
        gateway_customer_id: checkout.gateway_customer.as_deref(),
        plan: signup.plan.unwrap_or(PlanKind::Single),
        status: "incomplete",
        paid_through: None,
        cancel_at_period_end: false,
    };
    if state.store.record_paid_checkout(&signup.id, &facts).await? {
        state.wake.notify_waiters();
    }
    info!(subscription, "payment confirmed by the gateway");

    let deadline = tokio::time::Instant::now() + ACTIVATION_WAIT;
    while tokio::time::Instant::now() < deadline {
        if let Some(row) = state.store.subscription(subscription).await?
            && row.aura_state == AuraState::Active
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    warn!(
        subscription,
        "AURA activation still pending; the person goes back with success=true and the job keeps retrying"
    );
    Ok(())
}

/// `GET /signup/{id}/cancelled`: back to the app. The outcome is what the store knows: a
/// signup that was paid (in another tab) still goes back with `success=true`.
pub async fn cancelled(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Page> {
    let (signup, redirect) = load(&state, &id).await?;
    if signup.outcome == SignupOutcome::Paid {
        return Ok(see_other(&redirect.with_outcome(true)));
    }
    state
        .store
        .signup_finished(&signup.id, SignupOutcome::Cancelled, None)
        .await?;
    Ok(see_other(&redirect.with_outcome(false)))
}

async fn load(state: &AppState, id: &str) -> Result<(Signup, AllowedRedirect), Page> {
    let id = SignupId::parse(id).ok_or_else(Page::not_found)?;
    let signup = state.store.signup(&id).await?.ok_or_else(Page::not_found)?;
    let redirect = AllowedRedirect::from_stored(&signup.redirect_url)
        .ok_or_else(|| Page::internal("stored redirect URL unreadable"))?;
    Ok((signup, redirect))
}

fn expired_check(signup: &Signup, redirect: &AllowedRedirect) -> Result<(), Page> {
    if now_ms() - signup.created_at > SIGNUP_TTL_MS {
        return Err(Page::new(
            StatusCode::GONE,
            "This link has expired",
            "Please go back to the app and start again.",
        )
        .with_back(redirect.with_outcome(false), "Back to the app"));
    }
    Ok(())
}

/// A customer AURA already covers gets no second checkout: the page says until when.
async fn covered_page(
    state: &AppState,
    signup: &Signup,
    redirect: &AllowedRedirect,
) -> Result<Option<Page>, Page> {
    let now = now_ms();
    let Some(covered) = state
        .store
        .covering_subscription(signup.customer_id, now)
        .await?
    else {
        if signup.outcome == SignupOutcome::Paid {
            let page = Page::new(
                StatusCode::OK,
                "Payment received",
                "Your payment went through and your cover is being switched on.",
            );
            return Ok(Some(
                page.with_back(redirect.with_outcome(true), "Back to the app"),
            ));
        }
        return Ok(None);
    };
    if signup.outcome == SignupOutcome::Started {
        state
            .store
            .signup_finished(&signup.id, SignupOutcome::AlreadyCovered, None)
            .await?;
    }
    let until = crate::store::from_ms(covered.aura_valid_to.unwrap_or(now)).format("%-d %B %Y");
    let page = Page::new(
        StatusCode::OK,
        "You are already covered",
        format!("Your AURA cover runs until {until}. There is nothing to pay now."),
    );
    Ok(Some(
        page.with_back(redirect.with_outcome(true), "Back to the app"),
    ))
}
