//! The white-label app's side of the sign-up flow: a list of customers, the "Open sign-up"
//! redirect carrying a customer JWT, and the page the sign-up handler sends the customer
//! back to. Plain server-rendered HTML so browser tests need no JavaScript.

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header::HOST},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{Duration, SecondsFormat, Utc};
use jsonwebtoken::{EncodingKey, Header};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::{SimSubscription, Simulator, lock, seed};

/// How long the app's sign-up token stays valid.
const SIGNUP_TOKEN_TTL: Duration = Duration::minutes(15);

pub(crate) fn routes() -> Router<Simulator> {
    Router::new()
        .route("/", get(home))
        .route("/app/customers", post(create_customer))
        .route("/app/signup/{customer_id}", get(open_signup))
        .route("/v2/process", get(process))
}

struct CustomerRow {
    id: i64,
    name: String,
    mobile: String,
    cover: String,
}

#[derive(Template)]
#[template(path = "sim_home.html")]
struct HomePage {
    customers: Vec<CustomerRow>,
    signup_configured: bool,
}

struct CoverView {
    type_value: String,
    valid_to: String,
    dependants: String,
}

#[derive(Template)]
#[template(path = "sim_process.html")]
struct ProcessPage {
    customer_id: i64,
    success: bool,
    cover: Option<CoverView>,
}

#[derive(Template)]
#[template(path = "sim_message.html")]
struct MessagePage {
    title: String,
    message: String,
}

fn render(page: impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("template failed: {e}"),
        )
            .into_response(),
    }
}

fn message(status: StatusCode, title: &str, text: String) -> Response {
    (
        status,
        render(MessagePage {
            title: title.into(),
            message: text,
        }),
    )
        .into_response()
}

async fn home(State(sim): State<Simulator>) -> Response {
    let rows = {
        let state = lock(&sim.shared.state);
        state
            .customers
            .values()
            .filter(|c| !c.deleted)
            .map(|c| {
                (
                    c.id,
                    format!("{} {}", c.field("name"), c.field("surname")),
                    c.field("mobile").to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let customers = rows
        .into_iter()
        .map(|(id, name, mobile)| CustomerRow {
            id,
            name: name.trim().into(),
            mobile,
            cover: describe(sim.current_cover(id)),
        })
        .collect();
    render(HomePage {
        customers,
        signup_configured: sim.shared.cfg.signup_base_url.is_some(),
    })
}

#[derive(Deserialize)]
struct NewCustomerForm {
    name: String,
    #[serde(default)]
    surname: String,
}

async fn create_customer(
    State(sim): State<Simulator>,
    Form(form): Form<NewCustomerForm>,
) -> Response {
    let name = form.name.trim();
    if name.is_empty() {
        return message(
            StatusCode::BAD_REQUEST,
            "Name required",
            "Give the customer a name.".into(),
        );
    }
    seed::add_named_customer(&mut lock(&sim.shared.state), name, form.surname.trim());
    Redirect::to("/").into_response()
}

/// Sends the customer to the sign-up handler the way AURA's app does: with a short-lived
/// JWT naming them and the URL to come back to.
async fn open_signup(
    State(sim): State<Simulator>,
    Path(customer_id): Path<i64>,
    headers: HeaderMap,
) -> Response {
    let Some(signup_base) = sim.shared.cfg.signup_base_url.clone() else {
        let text = "The simulator was started without a sign-up URL.".to_string();
        return message(StatusCode::SERVICE_UNAVAILABLE, "No sign-up handler", text);
    };
    if lock(&sim.shared.state).live_customer(customer_id).is_none() {
        let text = format!("No customer {customer_id}.");
        return message(StatusCode::NOT_FOUND, "Unknown customer", text);
    }

    let back = sim.public_base(&headers);
    match signup_url(&signup_base, &back, &sim.shared.cfg.jwt_secret, customer_id) {
        Ok(target) => Redirect::to(target.as_str()).into_response(),
        Err(e) => message(StatusCode::INTERNAL_SERVER_ERROR, "No sign-up URL", e),
    }
}

/// `{signup}signup?token=<jwt>&redirectUrl=<sim>v2/process?customerId=N`.
fn signup_url(
    signup_base: &Url,
    sim_base: &Url,
    secret: &str,
    customer_id: i64,
) -> Result<Url, String> {
    let token = mint_signup_token(secret, customer_id).map_err(|e| e.to_string())?;
    let back = sim_base.join(&format!("v2/process?customerId={customer_id}"));
    let target = with_trailing_slash(signup_base.clone()).join("signup");

    let (back, mut target) = back
        .and_then(|b| Ok((b, target?)))
        .map_err(|e| e.to_string())?;
    target
        .query_pairs_mut()
        .append_pair("token", &token)
        .append_pair("redirectUrl", back.as_str());
    Ok(target)
}

fn mint_signup_token(secret: &str, customer_id: i64) -> jsonwebtoken::errors::Result<String> {
    let claims =
        json!({ "customerId": customer_id, "exp": (Utc::now() + SIGNUP_TOKEN_TTL).timestamp() });
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProcessQuery {
    customer_id: i64,
    success: Option<String>,
}

/// Where the sign-up handler returns the customer: the outcome, and what AURA now holds.
async fn process(State(sim): State<Simulator>, Query(q): Query<ProcessQuery>) -> Response {
    let success = q.success.as_deref() == Some("true");
    let cover = sim.current_cover(q.customer_id).map(|s| CoverView {
        type_value: s.type_value,
        valid_to: s.valid_to.to_rfc3339_opts(SecondsFormat::Millis, true),
        dependants: if s.dependants.is_empty() {
            "none".into()
        } else {
            s.dependants
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        },
    });
    render(ProcessPage {
        customer_id: q.customer_id,
        success,
        cover,
    })
}

fn describe(cover: Option<SimSubscription>) -> String {
    match cover {
        Some(s) => format!("{} until {}", s.type_value, s.valid_to.format("%Y-%m-%d")),
        None => "no active subscription".into(),
    }
}

impl Simulator {
    /// The open, unexpired subscription covering a customer, the newest if several.
    fn current_cover(&self, customer_id: i64) -> Option<SimSubscription> {
        let now = Utc::now();
        self.subscriptions_of(customer_id)
            .into_iter()
            .filter(|s| !s.cancelled && s.valid_to > now)
            .max_by_key(|s| s.id)
    }

    /// The simulator's own base URL: the address it was spawned on, unless that is every
    /// interface (`0.0.0.0`), where the Host header the browser sent says how it is reached.
    fn public_base(&self, headers: &HeaderMap) -> Url {
        if let Some(url) = lock(&self.shared.base_url).clone() {
            return url;
        }
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        Url::parse(&format!("http://{host}/"))
            .unwrap_or_else(|_| Url::parse("http://localhost/").expect("valid"))
    }
}

#[cfg(test)]
mod tests {
    use axum::{
        body::{Body, to_bytes},
        http::{Request, header::LOCATION},
    };
    use jsonwebtoken::{DecodingKey, Validation};
    use tower::ServiceExt;

    use super::*;
    use crate::aura_sim::SimConfig;

    fn sim() -> Simulator {
        Simulator::new(SimConfig {
            signup_base_url: Some(Url::parse("https://signup.example/base").unwrap()),
            ..SimConfig::default()
        })
    }

    async fn get(sim: &Simulator, uri: &str) -> (StatusCode, HeaderMap, String) {
        let request = Request::get(uri)
            .header(HOST, "sim.local:8081")
            .body(Body::empty())
            .unwrap();
        let response = sim.router().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let text = String::from_utf8(to_bytes(body, 1 << 20).await.unwrap().to_vec()).unwrap();
        (parts.status, parts.headers, text)
    }

    #[tokio::test]
    async fn home_lists_customers_with_their_signup_buttons() {
        let sim = sim();
        let id = sim.add_customer("Bongani");

        let (status, _, html) = get(&sim, "/").await;

        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains(&format!(r#"id="open-signup-{id}""#)),
            "{html}"
        );
        assert!(html.contains("Bongani"));
    }

    #[tokio::test]
    async fn open_signup_redirects_with_a_customer_jwt_and_the_way_back() {
        let sim = sim();
        let id = sim.add_customer("Bongani");

        let (status, headers, _) = get(&sim, &format!("/app/signup/{id}")).await;

        assert_eq!(status, StatusCode::SEE_OTHER);
        let target = Url::parse(headers[LOCATION].to_str().unwrap()).unwrap();
        assert_eq!(
            target.as_str().split('?').next(),
            Some("https://signup.example/base/signup")
        );
        let query: std::collections::HashMap<_, _> = target.query_pairs().into_owned().collect();
        assert_eq!(
            query["redirectUrl"],
            format!("http://sim.local:8081/v2/process?customerId={id}")
        );
        let key = DecodingKey::from_secret(SimConfig::default().jwt_secret.as_bytes());
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            &query["token"],
            &key,
            &Validation::default(),
        )
        .unwrap()
        .claims;
        assert_eq!(claims["customerId"], serde_json::json!(id));
        let ttl = claims["exp"].as_i64().unwrap() - Utc::now().timestamp();
        assert!((890..=900).contains(&ttl), "exp is {ttl}s away");
    }

    /// In a container the simulator listens on every interface; the way back must be the
    /// address the browser used, not `0.0.0.0`.
    #[tokio::test]
    async fn on_every_interface_the_way_back_follows_the_host_the_browser_used() {
        let sim = sim();
        let id = sim.add_customer("Bongani");
        let handle = sim.spawn("0.0.0.0:0".parse().unwrap()).await.unwrap();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();

        let url = format!("http://127.0.0.1:{}/app/signup/{id}", handle.addr.port());
        let response = client
            .get(url)
            .header(HOST, "localhost:8081")
            .send()
            .await
            .unwrap();

        let target = Url::parse(response.headers()[LOCATION].to_str().unwrap()).unwrap();
        let query: std::collections::HashMap<_, _> = target.query_pairs().into_owned().collect();
        assert_eq!(
            query["redirectUrl"],
            format!("http://localhost:8081/v2/process?customerId={id}")
        );
    }

    #[tokio::test]
    async fn process_page_shows_the_outcome_and_the_current_subscription() {
        let sim = sim();
        let id = sim.add_customer("Bongani");
        let valid_to = Utc::now() + Duration::days(30);
        lock(&sim.shared.state).insert_subscription(id, 14, Utc::now(), valid_to, &[]);

        let (_, _, paid) = get(&sim, &format!("/v2/process?customerId={id}&success=true")).await;
        let (_, _, failed) = get(&sim, "/v2/process?customerId=1&success=false").await;

        assert!(
            paid.contains(r#"id="outcome""#) && paid.contains(">success=true<"),
            "{paid}"
        );
        assert!(paid.contains("WEB_SIGNUP_FAMILY"));
        assert!(paid.contains(&valid_to.to_rfc3339_opts(SecondsFormat::Millis, true)));
        assert!(
            failed.contains(">success=false<") && failed.contains("no active subscription"),
            "{failed}"
        );
    }

    #[tokio::test]
    async fn unknown_paths_get_aura_plain_text_404() {
        let (status, _, text) = get(&sim(), "/v2/subscription/5").await;

        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(text, "Cannot GET /v2/subscription/5");
    }
}
