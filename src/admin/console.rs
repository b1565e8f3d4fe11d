//! The console's pages (`/admin`): login and logout, the home page (what needs attention, then
//! the mapping table with search, filter, sort, pages and CSV export), a customer's page with
//! its timeline, and the action forms. Server-rendered; no JavaScript.

use std::sync::LazyLock;

use askama::Template;
use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

use super::{
    actions::{self, Action, ActionError},
    auth::OperatorSession,
    query::{MappingQuery, PAGE_SIZE},
    timeline::{self, Entry},
    view::{self, RowView, SubscriptionView},
};
use crate::{
    app::AppState,
    domain::{CustomerId, PlanKind},
    gateway::{Gateway, sandbox::ClockAction},
    http::page::{Page, render, see_other},
    store::{EXPORT_LIMIT, now_ms},
};

pub const CSS: &str = include_str!("../../static/admin.css");

/// The console's stylesheet URL carries a hash of its content, so it can be cached forever.
pub static CSS_PATH: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(CSS.as_bytes());
    format!("/admin/static/admin-{}.css", &hex::encode(digest)[..12])
});

/// Failed logins allowed per name and per address within the window, before 429.
pub const LOGIN_LIMIT: i64 = 5;
pub const LOGIN_WINDOW_MS: i64 = 15 * 60 * 1000;

/// What every console page's frame shows.
pub struct Nav {
    pub css: &'static str,
    pub operator: Option<OperatorSession>,
}

impl Nav {
    fn new(operator: Option<OperatorSession>) -> Self {
        Self {
            css: CSS_PATH.as_str(),
            operator,
        }
    }
}

pub async fn stylesheet(Path(file): Path<String>) -> Response {
    if format!("/admin/static/{file}") != *CSS_PATH {
        return Page::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing at this address.",
        )
        .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        CSS,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "admin_login.html")]
struct LoginTemplate {
    nav: Nav,
    configured: bool,
    csrf: String,
    name: String,
    error: Option<&'static str>,
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    name: &str,
    error: Option<&'static str>,
) -> Response {
    let (cookie, csrf) = state.admin.login_form();
    let template = LoginTemplate {
        nav: Nav::new(None),
        configured: state.admin.has_operators(),
        csrf,
        name: name.to_owned(),
        error,
    };
    let mut response = render(status, &template);
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

pub async fn login_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.admin.session(&headers).is_some() {
        return see_other("/admin");
    }
    login_page(&state, StatusCode::OK, "", None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// Refused before any password is checked: a missing form token (403), or too many attempts
/// for the name or the address (429). Only then is the password compared. Each attempt counts
/// as a failure from before the comparison until it succeeds, so guesses sent in parallel
/// cannot all pass the limit while the comparisons run.
pub async fn login(
    State(state): State<AppState>,
    parts: Parts,
    body: Bytes,
) -> Result<Response, Page> {
    let form: LoginForm = serde_urlencoded::from_bytes(&body).map_err(|_| bad_form())?;
    if !state.admin.login_form_ok(&parts.headers, &form.csrf) {
        return Err(forbidden());
    }
    let name = form.name.trim().chars().take(64).collect::<String>();
    let scopes = [
        format!("name:{}", name.to_lowercase()),
        format!("ip:{}", state.admin.client_ip(&parts)),
    ];
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let since = now_ms() - LOGIN_WINDOW_MS;
    let attempt = state.store.record_login_attempt(&scopes, since).await?;
    if state.store.login_failures(&scopes, since).await? > LOGIN_LIMIT {
        crate::metrics::login("limited");
        let mut response = login_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            &name,
            Some("Too many failed attempts. Please wait 15 minutes before trying again."),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("900"));
        return Ok(response);
    }
    if !state.admin.check_password(&name, &form.password).await {
        crate::metrics::login("refused");
        return Ok(login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            &name,
            Some("Wrong name or password."),
        ));
    }
    state.store.forget_login_attempt(&attempt).await?;
    state.store.clear_login_failures(scopes[0]).await?;
    crate::metrics::login("accepted");
    tracing::info!(operator = %name, "operator logged in");
    let mut response = see_other("/admin");
    if let Some(cookie) = state.admin.start_session(&name) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

pub async fn logout(
    State(state): State<AppState>,
    session: OperatorSession,
    body: Bytes,
) -> Result<Response, Page> {
    let _: CsrfOnly = checked_form(&state, &session, &body)?;
    state
        .store
        .end_session(&session.sid, state.admin.session_expiry())
        .await?;
    let mut response = see_other("/admin/login");
    if let Some(cookie) = state.admin.end_session() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Deserialize)]
struct CsrfOnly {}

fn forbidden() -> Page {
    Page::new(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form is no longer valid. Go back, reload the page and try again.",
    )
    .with_back("/admin".into(), "Back to the console")
}

fn bad_form() -> Page {
    Page::new(
        StatusCode::BAD_REQUEST,
        "Not understood",
        "The form could not be read.",
    )
    .with_back("/admin".into(), "Back to the console")
}

/// Reads a console form: the CSRF token first (403 without a valid one), then the fields.
fn checked_form<T: DeserializeOwned>(
    state: &AppState,
    session: &OperatorSession,
    body: &Bytes,
) -> Result<T, Page> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| bad_form())?;
    let token = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    if !token.is_some_and(|t| state.admin.csrf_ok(session, t)) {
        return Err(forbidden());
    }
    serde_urlencoded::from_bytes(body).map_err(|_| bad_form())
}

#[derive(Template)]
#[template(path = "admin_home.html")]
struct HomeTemplate {
    nav: Nav,
    paying_not_covered: Vec<RowView>,
    covered_not_paying: Vec<RowView>,
    dead_jobs: Vec<view::DeadJobView>,
    rows: Vec<RowView>,
    total: i64,
    q: String,
    coverage_options: Vec<view::Choice>,
    sort_options: Vec<view::Choice>,
    descending: bool,
    page: i64,
    pages: i64,
    prev_url: Option<String>,
    next_url: Option<String>,
    export_url: String,
}

pub async fn home(
    State(state): State<AppState>,
    session: OperatorSession,
    Query(query): Query<MappingQuery>,
) -> Result<Response, Page> {
    let (filter, page) = query.parse().map_err(|e| {
        Page::new(StatusCode::BAD_REQUEST, "Not understood", e)
            .with_back("/admin".into(), "Back to the console")
    })?;
    let now = now_ms();
    let margin = state.config.coverage_margin.as_millis() as i64;
    let attention = state.store.attention(now, margin, 50).await?;
    let (rows, total) = state
        .store
        .mapping(&filter, now, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        .await?;
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    if page > pages {
        // Past the end (the rows shrank, or a hand-edited address): the last page there is.
        return Ok(see_other(&query.url("/admin", Some(pages))));
    }
    let template = HomeTemplate {
        nav: Nav::new(Some(session)),
        paying_not_covered: attention
            .paying_not_covered
            .iter()
            .map(RowView::from)
            .collect(),
        covered_not_paying: attention
            .covered_not_paying
            .iter()
            .map(RowView::from)
            .collect(),
        dead_jobs: attention
            .dead_jobs
            .iter()
            .map(view::DeadJobView::from)
            .collect(),
        rows: rows.iter().map(RowView::from).collect(),
        total,
        q: filter.search.clone().unwrap_or_default(),
        coverage_options: view::coverage_choices(filter.coverage),
        sort_options: view::sort_choices(filter.sort),
        descending: filter.descending,
        page,
        pages,
        prev_url: (page > 1).then(|| query.url("/admin", Some(page - 1))),
        next_url: (page < pages).then(|| query.url("/admin", Some(page + 1))),
        export_url: query.url("/admin/export.csv", None),
    };
    Ok(render(StatusCode::OK, &template))
}

/// Every row the filter shows (not only one page), as CSV.
pub async fn export(
    State(state): State<AppState>,
    _session: OperatorSession,
    Query(query): Query<MappingQuery>,
) -> Result<Response, Page> {
    let (filter, _) = query
        .parse()
        .map_err(|e| Page::new(StatusCode::BAD_REQUEST, "Not understood", e))?;
    let (rows, _) = state
        .store
        .mapping(&filter, now_ms(), EXPORT_LIMIT, 0)
        .await?;
    let body = view::to_csv(&rows).map_err(Page::internal)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"aura-signup-mapping.csv\""),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "admin_customer.html")]
struct CustomerTemplate {
    nav: Nav,
    csrf: String,
    customer: i64,
    notice: Option<&'static str>,
    subscriptions: Vec<SubscriptionView>,
    timeline: Vec<Entry>,
    sandbox: bool,
    allowance: u32,
}

#[derive(Deserialize)]
pub struct CustomerQuery {
    done: Option<String>,
}

pub async fn customer(
    State(state): State<AppState>,
    session: OperatorSession,
    Path(raw): Path<String>,
    Query(query): Query<CustomerQuery>,
) -> Result<Response, Page> {
    let customer = CustomerId::parse_digits(&raw).ok_or_else(unknown_customer)?;
    let (subscriptions, entries) = timeline::for_customer(&state.store, customer).await?;
    if subscriptions.is_empty() && entries.is_empty() {
        return Err(unknown_customer());
    }
    let now = now_ms();
    let mut views = Vec::with_capacity(subscriptions.len());
    for sub in &subscriptions {
        let job = state
            .store
            .job_for(
                crate::store::SYNC_SUBSCRIPTION,
                &sub.gateway_subscription_id,
            )
            .await?;
        views.push(SubscriptionView::new(sub, job.as_ref(), now));
    }
    let template = CustomerTemplate {
        csrf: session.csrf.clone(),
        nav: Nav::new(Some(session)),
        customer: customer.get(),
        notice: query.done.as_deref().and_then(view::done_message),
        subscriptions: views,
        timeline: entries,
        sandbox: matches!(state.gateway, Gateway::Sandbox(_)),
        allowance: state.config.plan(PlanKind::Family).dependants,
    };
    Ok(render(StatusCode::OK, &template))
}

fn unknown_customer() -> Page {
    Page::new(
        StatusCode::NOT_FOUND,
        "Not found",
        "No customer with this AURA customer id is known here.",
    )
    .with_back("/admin".into(), "Back to the console")
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    dependants: String,
    #[serde(default)]
    reason: String,
}

/// `POST /admin/subscriptions/{id}/{action}`: every console action, then back to the customer.
pub async fn act(
    State(state): State<AppState>,
    session: OperatorSession,
    Path((subscription, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Page> {
    let form: ActionForm = checked_form(&state, &session, &body)?;
    let action = match name.as_str() {
        "retry" => Action::Retry,
        "resync" => Action::Resync,
        "dependants" => {
            Action::SetDependants(parse_id_list(&form.dependants).map_err(action_page)?)
        }
        "end-coverage" => Action::EndCoverage {
            reason: form.reason,
        },
        "sandbox-renew" => Action::Sandbox(ClockAction::Renew),
        "sandbox-fail-next-renewal" => Action::Sandbox(ClockAction::FailNextRenewal),
        "sandbox-cancel" => Action::Sandbox(ClockAction::Cancel),
        _ => {
            return Err(Page::new(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such action.",
            ));
        }
    };
    let done_name = action.name();
    let actor = format!("operator:{}", session.name);
    let done = actions::perform(&state, &actor, &subscription, action)
        .await
        .map_err(action_page)?;
    Ok(see_other(&format!(
        "/admin/customers/{}?done={done_name}#actions",
        done.customer_id
    )))
}

/// Ids typed into a form: separated by commas or spaces, each a whole AURA customer id.
pub fn parse_id_list(raw: &str) -> Result<Vec<i64>, ActionError> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            CustomerId::parse_digits(s)
                .map(CustomerId::get)
                .ok_or_else(|| ActionError::Invalid(format!("{s:?} is not an AURA customer id")))
        })
        .collect()
}

fn action_page(e: ActionError) -> Page {
    let (status, title) = match &e {
        ActionError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
        ActionError::Conflict(_) => (StatusCode::CONFLICT, "Not done"),
        ActionError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "Not accepted"),
        ActionError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "Not done"),
    };
    Page::new(status, title, e.to_string()).with_back("/admin".into(), "Back to the console")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists_accept_commas_and_spaces_and_refuse_anything_else() {
        assert_eq!(parse_id_list("1, 2 3,,").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_id_list("  ").unwrap(), Vec::<i64>::new());
        for bad in ["1;2", "x", "-3", "0", "1.5"] {
            assert!(parse_id_list(bad).is_err(), "{bad}");
        }
    }
}
