//! The sandbox's hosted checkout page: what Stripe Checkout is in production.

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::PayOutcome;
use crate::{
    app::AppState,
    domain::PlanKind,
    gateway::Gateway,
    http::page::{Page, css_path, format_money, render, see_other},
};

#[derive(askama::Template)]
#[template(path = "sandbox_checkout.html")]
struct CheckoutTemplate<'a> {
    css: &'a str,
    session_id: &'a str,
    plan_name: &'a str,
    price: String,
    cancel_url: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct PayForm {
    card: String,
}

pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Page> {
    render_checkout(&state, &id, StatusCode::OK, None).await
}

pub async fn pay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<PayForm>,
) -> Result<Response, Page> {
    let Gateway::Sandbox(sandbox) = &state.gateway else {
        return Err(Page::not_found());
    };
    match sandbox.pay(&id, &form.card).await? {
        PayOutcome::Paid { success_url } => {
            state.wake.notify_waiters();
            Ok(see_other(&success_url))
        }
        PayOutcome::Declined => {
            render_checkout(
                &state,
                &id,
                StatusCode::PAYMENT_REQUIRED,
                Some("Your card was declined. Try another card, or cancel."),
            )
            .await
        }
        PayOutcome::InvalidCard => {
            render_checkout(
                &state,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("That is not a test card number this sandbox knows."),
            )
            .await
        }
        PayOutcome::Closed => Err(closed()),
        PayOutcome::Unknown => Err(Page::not_found()),
    }
}

async fn render_checkout(
    state: &AppState,
    id: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, Page> {
    let Gateway::Sandbox(sandbox) = &state.gateway else {
        return Err(Page::not_found());
    };
    let session = sandbox.session(id).await?.ok_or_else(Page::not_found)?;
    if session.paid {
        return Ok(see_other(
            &session
                .success_url
                .replace("{CHECKOUT_SESSION_ID}", &session.id),
        ));
    }
    if session.status != "open" {
        return Err(closed());
    }
    let plan = state
        .config
        .plan(PlanKind::parse(&session.plan).unwrap_or(PlanKind::Single));
    let template = CheckoutTemplate {
        css: css_path(),
        session_id: &session.id,
        plan_name: if plan.kind == PlanKind::Family {
            "AURA family cover"
        } else {
            "AURA single cover"
        },
        price: format_money(plan.amount_minor, &plan.currency),
        cancel_url: &session.cancel_url,
        error,
    };
    Ok(render(status, &template).into_response())
}

fn closed() -> Page {
    Page::new(
        StatusCode::GONE,
        "Checkout closed",
        "This checkout is no longer open. Please start again from the app.",
    )
}
