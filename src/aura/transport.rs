//! One HTTP exchange with AURA: the shared server token, the single refresh on 401, bounded
//! retries of transient failures, and the record and log line every attempt leaves.

use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use reqwest::Method;
use serde_json::Value;
use tracing::{info, instrument, warn};

use super::client::{AuraCallRecord, Inner};
use super::error::{AuraError, classify};
use crate::config::Secret;

/// One call to AURA as the client describes it, before any attempt is made.
pub(crate) struct Call {
    pub method: Method,
    /// A template such as `/v2/subscriptions/{id}`, so records group by endpoint.
    pub template: &'static str,
    /// The concrete path, relative to the base URL (no leading slash).
    pub path: String,
    pub body: Option<Value>,
    pub customer_id: Option<i64>,
    pub subscription_id: Option<i64>,
}

impl Call {
    pub fn new(method: Method, template: &'static str, path: String) -> Self {
        Call {
            method,
            template,
            path,
            body: None,
            customer_id: None,
            subscription_id: None,
        }
    }

    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn ids(mut self, customer_id: Option<i64>, subscription_id: Option<i64>) -> Self {
        self.customer_id = customer_id;
        self.subscription_id = subscription_id;
        self
    }
}

/// The cached server token. `generation` counts the tokens fetched so far, so a caller that
/// was refused with generation g refreshes only if nobody has replaced token g yet.
#[derive(Default)]
pub(crate) struct TokenSlot {
    value: Option<Secret>,
    generation: u64,
}

impl Inner {
    /// Sends a call, repeating it on transient failures with exponential backoff and jitter.
    pub(crate) async fn send(&self, call: &Call) -> Result<Value, AuraError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.options.min_backoff)
            .with_max_delay(self.options.max_backoff)
            .with_max_times(self.options.max_retries as usize)
            .with_jitter();

        (|| self.authorized(call))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(AuraError::is_retryable)
            .notify(|err, after| warn!(path = call.template, error = %err, retry_in_ms = after.as_millis() as u64, "retrying AURA call"))
            .await
    }

    /// One attempt with the current token, and one more after a refresh if AURA refuses it.
    async fn authorized(&self, call: &Call) -> Result<Value, AuraError> {
        let (token, generation) = self.token(None).await?;

        match self.attempt(call, Some(&token)).await {
            Err(AuraError::Unauthorized) => {
                let (fresh, _) = self.token(Some(generation)).await?;
                self.attempt(call, Some(&fresh)).await
            }
            other => other,
        }
    }

    /// The token to use. With `refused = Some(g)`, token g was refused: a new one is fetched
    /// unless another caller already replaced it. The lock is held across the fetch so that
    /// concurrent callers wait for the one refresh instead of starting their own.
    async fn token(&self, refused: Option<u64>) -> Result<(Secret, u64), AuraError> {
        let mut slot = self.token.lock().await;
        let stale = refused.is_some_and(|g| g == slot.generation);

        if let (Some(value), false) = (&slot.value, stale) {
            return Ok((value.clone(), slot.generation));
        }

        let fresh = self.fetch_token().await?;
        slot.value = Some(fresh.clone());
        slot.generation += 1;
        Ok((fresh, slot.generation))
    }

    async fn fetch_token(&self) -> Result<Secret, AuraError> {
        let body = serde_json::json!({
            "clientId": self.client_id,
            "clientSecret": self.client_secret.expose(),
        });
        let call = Call::new(Method::POST, "/v2/oauth/token", "v2/oauth/token".into()).body(body);

        let answer = match self.attempt(&call, None).await {
            Err(AuraError::Unauthorized) => return Err(AuraError::BadCredentials),
            other => other?,
        };
        answer
            .get("accessToken")
            .and_then(Value::as_str)
            .map(Secret::new)
            .ok_or_else(|| AuraError::Malformed("token answer without accessToken".into()))
    }

    /// Exactly one HTTP request, recorded and logged whatever its outcome.
    #[instrument(
        name = "aura_call",
        skip_all,
        fields(
            method = call.method.as_str(),
            path = call.template,
            customer_id = call.customer_id,
            subscription_id = call.subscription_id,
        )
    )]
    async fn attempt(&self, call: &Call, token: Option<&Secret>) -> Result<Value, AuraError> {
        let started = Instant::now();
        let (status, outcome) = self.exchange(call, token).await;
        let duration = started.elapsed();

        log_outcome(status, duration, &outcome);
        self.record(call, status, duration, &outcome);
        outcome
    }

    async fn exchange(
        &self,
        call: &Call,
        token: Option<&Secret>,
    ) -> (Option<u16>, Result<Value, AuraError>) {
        let url = match self.base_url.join(&call.path) {
            Ok(url) => url,
            Err(e) => {
                return (
                    None,
                    Err(AuraError::Rejected {
                        status: 0,
                        message: format!("bad path: {e}"),
                    }),
                );
            }
        };
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .header("Accept", "application/json");
        if let Some(token) = token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }

        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return (None, Err(transport_error(e))),
        };
        let status = response.status().as_u16();
        match response.text().await {
            Ok(text) => (Some(status), interpret(status, &text)),
            Err(e) => (Some(status), Err(transport_error(e))),
        }
    }

    fn record(
        &self,
        call: &Call,
        status: Option<u16>,
        duration: Duration,
        outcome: &Result<Value, AuraError>,
    ) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        recorder(AuraCallRecord {
            method: method_name(&call.method),
            path: call.template,
            status,
            duration,
            customer_id: call.customer_id,
            subscription_id: call.subscription_id,
            error: outcome.as_ref().err().map(ToString::to_string),
        });
    }
}

/// Turns a status and body into the call's value or error; never panics on odd bodies.
fn interpret(status: u16, text: &str) -> Result<Value, AuraError> {
    match status {
        200..=299 => serde_json::from_str(text).map_err(|e| {
            AuraError::Malformed(format!(
                "status {status} with a body that is not JSON ({e})"
            ))
        }),
        401 => Err(AuraError::Unauthorized),
        _ => Err(classify(status, text)),
    }
}

/// Connect failures and timeouts; the URL is dropped as it adds nothing the span lacks.
fn transport_error(e: reqwest::Error) -> AuraError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "transport failure"
    };
    AuraError::Transient(format!("{kind}: {}", e.without_url()))
}

fn log_outcome(status: Option<u16>, duration: Duration, outcome: &Result<Value, AuraError>) {
    let elapsed_ms = duration.as_millis() as u64;
    match outcome {
        Ok(_) => info!(status, elapsed_ms, "AURA answered"),
        Err(err) => warn!(status, elapsed_ms, error = %err, "AURA call failed"),
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}
