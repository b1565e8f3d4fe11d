//! The sign-up pages and redirects.

use std::time::Duration;

use axum::{
    Form,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use tracing::{error, info, instrument, warn};

use super::{
    offer::{self, Offer},
    redirect::{AllowedRedirect, RedirectError},
    token::TokenError,
};
use crate::{
    app::AppState,
    domain::{PlanKind, SignupId},
    gateway::{CheckoutRequest, CheckoutState, GatewayError},
    http::page::{Page, css_path, format_money, render, see_other},
    store::{
        AuraState, Cover, GatewayFacts, NewSignup, SYNC_SUBSCRIPTION, Signup, SignupOutcome, now_ms,
    },
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
    let visit = NewSignup {
        id: id.clone(),
        customer,
        redirect_url: redirect.as_str().to_owned(),
    };
    state.signups.submit(visit).await.map_err(Page::internal)?;
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
    let (signup, redirect, cover) = load_with_cover(&state, &id).await?;
    if let Some(page) = covered_page(&state, &signup, &redirect, cover).await? {
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
/// A customer has at most one checkout that can be paid: requests for the same customer (a
/// double tap, a second tab) take turns, and each reuses or replaces the one before.
#[instrument(skip_all, fields(signup = %id))]
pub async fn checkout(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<CheckoutForm>,
) -> Result<Response, Page> {
    let (signup, redirect, cover) = load_with_cover(&state, &id).await?;
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
    if covered_page(&state, &signup, &redirect, cover)
        .await?
        .is_some()
    {
        return Ok(see_other(&format!("/signup/{id}")));
    }
    expired_check(&signup, &redirect)?;
    if offer::check(&state.aura, state.config.plan(plan)).await == Offer::NotOffered {
        return Err(Page::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "This plan is not available",
            "This plan cannot be taken out at the moment. Nothing was charged.",
        )
        .with_back(redirect.with_outcome(false), "Back to the app"));
    }

    wait_for_claim(&state, &signup).await?;
    let opened = open_one_checkout(&state, &signup, &redirect, plan).await;
    if let Err(e) = state
        .store
        .release_checkout(signup.customer_id, &signup.id)
        .await
    {
        warn!(error = %e, "checkout claim not released; it lapses by itself");
    }
    Ok(see_other(&opened?))
}

/// How long a request may hold its customer's checkout claim (longer than a gateway call
/// can take), and how long another waits for it before giving up.
const CLAIM_LEASE_MS: i64 = 30_000;
const CLAIM_WAIT: Duration = Duration::from_secs(10);

async fn wait_for_claim(state: &AppState, signup: &Signup) -> Result<(), Page> {
    let deadline = tokio::time::Instant::now() + CLAIM_WAIT;
    let customer = signup.customer_id;
    while !state
        .store
        .claim_checkout(customer, &signup.id, CLAIM_LEASE_MS)
        .await?
    {
        if tokio::time::Instant::now() >= deadline {
            return Err(Page::internal(
                "another checkout for the customer is still opening",
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// With the customer's claim held: the open checkout for this plan is reused; one for the
/// other plan is expired first; one paid meanwhile (in another tab) is recorded, and the
/// person goes to this signup's page, which says the payment was received. Returns where
/// the person goes next.
async fn open_one_checkout(
    state: &AppState,
    signup: &Signup,
    redirect: &AllowedRedirect,
    plan: PlanKind,
) -> Result<String, Page> {
    // Read again with the claim held: another tab may have paid meanwhile.
    let here = format!("/signup/{}", signup.id);
    let cover = state.store.cover(signup.customer_id, now_ms()).await?;
    if covered_page(state, signup, redirect, cover)
        .await?
        .is_some()
    {
        return Ok(here);
    }
    // The session this one replaces, if any, is part of the idempotency key: going back to a
    // plan chosen before must not be answered with the session expired since.
    let mut replaces = "none".to_owned();
    if let Some((earlier, at_gateway)) = latest_checkout(state, signup).await? {
        if at_gateway.paid {
            if !payment_known(state, &at_gateway).await? {
                record_payment(state, &earlier, &at_gateway).await?;
                return Ok(here);
            }
            // Its payment reached the store already (through the gateway's webhook) and no
            // longer covers the customer (checked above): history, not a payment made in
            // another tab. Its signup is marked paid, and a new checkout opens.
            let paid_by = at_gateway.gateway_subscription.as_deref();
            state
                .store
                .signup_finished(&earlier.id, SignupOutcome::Paid, paid_by)
                .await?;
        }
        if at_gateway.open && !at_gateway.paid && earlier.plan == Some(plan) {
            return Ok(earlier.checkout_url.unwrap_or(here));
        }
        if at_gateway.open && !close_checkout(state, &earlier, &at_gateway.id).await? {
            return Ok(here);
        }
        replaces = at_gateway.id;
    }

    let base = state.config.public_base_url.as_str();
    let id = &signup.id;
    let request = CheckoutRequest {
        signup_id: id.clone(),
        customer_id: signup.customer_id,
        plan,
        price_id: state.config.plan(plan).price_id.clone(),
        success_url: format!("{base}signup/{id}/complete?session_id={{CHECKOUT_SESSION_ID}}"),
        cancel_url: format!("{base}signup/{id}/cancelled"),
        idempotency_key: format!("checkout:{id}:{plan}:{replaces}"),
    };
    let session = state
        .gateway
        .create_checkout(&request)
        .await
        .map_err(Page::internal)?;
    state
        .store
        .signup_checkout_opened(id, plan, &session.id, &session.url)
        .await?;
    info!(checkout = %session.id, plan = %plan, "checkout opened");
    Ok(session.url)
}

/// Whether the store already holds the subscription a paid checkout started.
async fn payment_known(state: &AppState, checkout: &CheckoutState) -> Result<bool, Page> {
    let Some(subscription) = checkout.gateway_subscription.as_deref() else {
        return Ok(false);
    };
    Ok(state.store.subscription(subscription).await?.is_some())
}

/// The customer's newest checkout and what the gateway says of it now.
async fn latest_checkout(
    state: &AppState,
    signup: &Signup,
) -> Result<Option<(Signup, CheckoutState)>, Page> {
    let since = now_ms() - SIGNUP_TTL_MS;
    let Some(earlier) = state
        .store
        .open_checkout_for(signup.customer_id, since)
        .await?
    else {
        return Ok(None);
    };
    let Some(session_id) = earlier.checkout_session_id.clone() else {
        return Ok(None);
    };
    match state.gateway.checkout_state(&session_id).await {
        Ok(at_gateway) => Ok(Some((earlier, at_gateway))),
        Err(GatewayError::Transient(e)) => Err(Page::internal(e)),
        Err(_) => Ok(None),
    }
}

/// Expires the customer's earlier checkout so that it can no longer be paid. False when the
/// gateway refused because it was paid a moment ago: that payment is recorded instead.
async fn close_checkout(
    state: &AppState,
    earlier: &Signup,
    session_id: &str,
) -> Result<bool, Page> {
    match state.gateway.expire_checkout(session_id).await {
        Ok(()) | Err(GatewayError::NotFound) => {}
        Err(GatewayError::Rejected(_)) => {
            let now = state
                .gateway
                .checkout_state(session_id)
                .await
                .map_err(Page::internal)?;
            if now.paid {
                record_payment(state, earlier, &now).await?;
                return Ok(false);
            }
        }
        Err(e) => return Err(Page::internal(e)),
    }
    state
        .store
        .signup_finished(&earlier.id, SignupOutcome::Cancelled, None)
        .await?;
    info!(checkout = %session_id, "earlier checkout expired for a new one");
    Ok(true)
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

    // A return naming a session that did not pay (a stale tab, a replaced checkout) still
    // tells the truth about this signup: paid by another of its sessions is success=true.
    let not_paid_here = see_other(&redirect.with_outcome(signup.outcome == SignupOutcome::Paid));
    let checkout = match state.gateway.checkout_state(&session_id).await {
        Ok(c) => c,
        Err(GatewayError::Transient(e)) => return Err(Page::internal(e)),
        Err(e) => {
            warn!(error = %e, "return with a session the gateway does not know");
            return Ok(not_paid_here);
        }
    };
    if checkout.signup_ref.as_deref() != Some(signup.id.as_str())
        || checkout.customer_ref.as_deref() != Some(&signup.customer_id.to_string())
    {
        warn!(checkout = %checkout.id, "return with a session opened for another signup");
        return Ok(not_paid_here);
    }
    if !checkout.paid {
        if !checkout.open && signup.outcome != SignupOutcome::Paid {
            state
                .store
                .signup_finished(&signup.id, SignupOutcome::Failed, None)
                .await?;
        }
        return Ok(not_paid_here);
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
    let subscription = record_payment(state, signup, checkout).await?;

    let deadline = tokio::time::Instant::now() + ACTIVATION_WAIT;
    while tokio::time::Instant::now() < deadline {
        if let Some(row) = state.store.subscription(&subscription).await?
            && row.aura_state == AuraState::Active
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let job = state
        .store
        .job_for(SYNC_SUBSCRIPTION, &subscription)
        .await?;
    let last_error = job.as_ref().and_then(|j| j.last_error.clone());
    if job.is_some_and(|j| j.dead) {
        error!(
            subscription,
            last_error,
            "AURA activation failed for good; the person goes back with success=true and the dead job waits for an operator"
        );
    } else {
        warn!(
            subscription,
            last_error,
            "AURA activation still pending; the person goes back with success=true and the job is retried"
        );
    }
    Ok(())
}

/// The gateway confirmed `checkout` paid: the signup is marked paid, its subscription linked
/// to the customer and its activation enqueued, in one transaction. Returns the subscription.
async fn record_payment(
    state: &AppState,
    signup: &Signup,
    checkout: &CheckoutState,
) -> Result<String, Page> {
    let subscription = checkout
        .gateway_subscription
        .clone()
        .ok_or_else(|| Page::internal("paid checkout without a subscription"))?;
    let facts = GatewayFacts {
        gateway_subscription_id: &subscription,
        customer_id: signup.customer_id,
        gateway_customer_id: checkout.gateway_customer.as_deref(),
        plan: signup.plan.unwrap_or(PlanKind::Single),
        // Provisional until the sync reads it: a paid checkout leaves the subscription active.
        status: "active",
        paid_through: None,
        cancel_at_period_end: false,
    };
    if state.store.record_paid_checkout(&signup.id, &facts).await? {
        state.wake.notify_waiters();
    }
    info!(subscription, "payment confirmed by the gateway");
    Ok(subscription)
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
    // The checkout left behind is closed, so the back button cannot pay it after all; if it
    // was paid meanwhile, that is a payment and the person goes back with success=true. A
    // gateway that does not answer now leaves it to the customer's next checkout to close.
    if let Some(session) = signup.checkout_session_id.as_deref() {
        match close_checkout(&state, &signup, session).await {
            Ok(false) => return Ok(see_other(&redirect.with_outcome(true))),
            Ok(true) => {}
            Err(_) => warn!("the cancelled checkout could not be closed now"),
        }
    }
    state
        .store
        .signup_finished(&signup.id, SignupOutcome::Cancelled, None)
        .await?;
    Ok(see_other(&redirect.with_outcome(false)))
}

async fn load(state: &AppState, id: &str) -> Result<(Signup, AllowedRedirect), Page> {
    let (signup, redirect, _) = load_with_cover(state, id).await?;
    Ok((signup, redirect))
}

/// The signup, where it returns to, and its customer's cover, read in one query.
async fn load_with_cover(
    state: &AppState,
    id: &str,
) -> Result<(Signup, AllowedRedirect, Cover), Page> {
    let id = SignupId::parse(id).ok_or_else(Page::not_found)?;
    let (signup, cover) = state
        .store
        .signup_with_cover(&id, now_ms())
        .await?
        .ok_or_else(Page::not_found)?;
    let redirect = AllowedRedirect::from_stored(&signup.redirect_url)
        .ok_or_else(|| Page::internal("stored redirect URL unreadable"))?;
    Ok((signup, redirect, cover))
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

/// A customer AURA already covers gets no second checkout: the page says until when. One
/// whose payment the gateway confirmed (this signup's, or one in another tab) is told it was
/// received; both go back with `success=true`.
async fn covered_page(
    state: &AppState,
    signup: &Signup,
    redirect: &AllowedRedirect,
    cover: Cover,
) -> Result<Option<Page>, Page> {
    let Some(until) = cover.covered_until else {
        if signup.outcome == SignupOutcome::Paid || cover.paying {
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
    let until = crate::store::from_ms(until).format("%-d %B %Y");
    let page = Page::new(
        StatusCode::OK,
        "You are already covered",
        format!("Your AURA cover runs until {until}. There is nothing to pay now."),
    );
    Ok(Some(
        page.with_back(redirect.with_outcome(true), "Back to the app"),
    ))
}
