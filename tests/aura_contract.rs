//! Replays every exchange AURA's Postman collection documents (as captured in
//! `fixtures/aura_contract.json`) against the simulator, with the state each one needs, and
//! checks the status and the shape of the answer.

use std::collections::{BTreeSet, HashMap};

use aura_signup::aura_sim::{SimConfig, SimHandle, Simulator};
use chrono::{Duration, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Exchange {
    folder: String,
    scenario: String,
    method: String,
    path: String,
    request: Option<Value>,
    request_raw: Option<String>,
    status: u16,
    shape: Shape,
    /// The documented error text, where the collection shows one; compared with every run
    /// of digits (ids) set aside, because callers classify AURA's refusals by their words.
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Shape {
    Json {
        keys: BTreeSet<String>,
        nested: HashMap<String, BTreeSet<String>>,
    },
    Text {
        prefix: String,
    },
}

const UNKNOWN_ID: i64 = 990_000_000;

fn exchanges() -> Vec<Exchange> {
    serde_json::from_str(include_str!("fixtures/aura_contract.json")).expect("the fixture parses")
}

/// A simulator, a valid server token for it, and the ids and dates an exchange refers to.
struct Stage {
    sim: Simulator,
    handle: SimHandle,
    http: reqwest::Client,
    token: String,
    values: HashMap<String, Value>,
}

impl Stage {
    async fn new() -> Stage {
        let sim = Simulator::new(SimConfig::default());
        let handle = sim
            .spawn("127.0.0.1:0".parse().unwrap())
            .await
            .expect("simulator starts");
        let values = placeholder_values(&sim);
        let http = reqwest::Client::new();

        let mut stage = Stage {
            sim,
            handle,
            http,
            token: String::new(),
            values,
        };
        stage.token = stage.fresh_token().await;
        stage
    }

    async fn fresh_token(&self) -> String {
        let cfg = SimConfig::default();
        let body = json!({ "clientId": cfg.client_id, "clientSecret": cfg.client_secret });
        let answer: Value = self
            .send("POST", "/v2/oauth/token", Some(body), None)
            .await
            .1;
        answer["accessToken"].as_str().expect("a token").to_string()
    }

    fn id(&self, name: &str) -> i64 {
        self.values[name].as_i64().expect("an id")
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        raw: Option<String>,
    ) -> (u16, Value) {
        let (status, text) = self.send_text(method, path, body, raw).await;
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn send_text(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        raw: Option<String>,
    ) -> (u16, String) {
        let url = self
            .handle
            .base_url
            .join(path.trim_start_matches('/'))
            .unwrap();
        let mut request = self
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(raw) = raw {
            request = request.header("Content-Type", "application/json").body(raw);
        }
        let response = request.send().await.expect("the simulator answers");
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Opens a subscription through the API, as the integrator would; returns its id.
    async fn subscribe(&self, customer: i64, type_id: i64, dependants: &[i64]) -> i64 {
        let body = json!({
            "customerId": customer,
            "subscriptionTypeId": type_id,
            "dependantCustomerIds": dependants,
            "validFrom": self.values["today"],
            "validTo": self.values["future"],
        });
        let (status, answer) = self
            .send("POST", "/v2/subscriptions", Some(body), None)
            .await;
        assert_eq!(status, 200, "setup subscription: {answer}");
        answer["subscription"]["id"].as_i64().unwrap()
    }

    /// Registers the customer the exchange's body describes, so a second registration
    /// conflicts with a customer holding the same fields.
    async fn register_first(&self, exchange: &Exchange, with_subscription: bool) {
        let customer = fill(
            &exchange.request.as_ref().expect("a body")["customer"],
            &self.values,
        );
        let mut body = json!({ "customer": customer });
        if with_subscription {
            let (from, to) = (&self.values["today"], &self.values["future"]);
            body["subscription"] =
                json!({ "subscriptionTypeId": 4, "validFrom": from, "validTo": to });
        }
        let (status, answer) = self.send("POST", "/v2/customers", Some(body), None).await;
        assert_eq!(status, 200, "setup registration: {answer}");
    }

    /// Puts the simulator in the state the documented answer presupposes.
    async fn prepare(&mut self, exchange: &Exchange) {
        let customer = self.id("customerId");
        let scenario = exchange.scenario.as_str();
        match scenario {
            "create.already_exists" => {
                self.subscribe(customer, 4, &[]).await;
            }
            "update.valid_to"
            | "update.valid_to_in_past"
            | "update.add_dependant"
            | "update.remove_dependant"
            | "update.unknown_dependant"
            | "update.bad_token"
            | "wrong_path" => {
                let id = self.subscribe(customer, 14, &[]).await;
                self.values.insert("subscriptionId".into(), json!(id));
            }
            "cancel.single" => {
                let id = self.subscribe(customer, 4, &[]).await;
                self.values.insert("subscriptionId".into(), json!(id));
            }
            "cancel.family" => {
                let deps = [self.id("dependant1"), self.id("dependant2")];
                let id = self.subscribe(customer, 14, &deps).await;
                self.values.insert("subscriptionId".into(), json!(id));
            }
            "update.dependant_taken" => {
                let id = self.subscribe(customer, 14, &[]).await;
                let other = self.sim.add_customer("Other main");
                self.subscribe(other, 14, &[self.id("dependant1")]).await;
                self.values.insert("subscriptionId".into(), json!(id));
            }
            "update.cancelled_subscription" => {
                let id = self.subscribe(customer, 14, &[]).await;
                let (status, _) = self
                    .send("DELETE", &format!("/v2/subscriptions/{id}"), None, None)
                    .await;
                assert_eq!(status, 200);
                self.values.insert("subscriptionId".into(), json!(id));
            }
            "register.exists_with_subscription" => self.register_first(exchange, true).await,
            "register.exists_without_subscription" => self.register_first(exchange, false).await,
            "customer.unknown" => {
                self.values.insert("customerId".into(), json!(UNKNOWN_ID));
            }
            _ => {}
        }
        if scenario == "update.bad_token" {
            self.sim.revoke_tokens();
        }
    }
}

/// The ids, dates and credentials the fixture's `{placeholders}` stand for, with a main
/// customer and four possible dependants created in the simulator.
fn placeholder_values(sim: &Simulator) -> HashMap<String, Value> {
    let cfg = SimConfig::default();
    let mut values: HashMap<String, Value> = HashMap::from([
        ("customerId".into(), json!(sim.add_customer("Main"))),
        ("unknownCustomerId".into(), json!(UNKNOWN_ID)),
        ("subscriptionId".into(), json!(UNKNOWN_ID)),
        ("singleTypeId".into(), json!(4)),
        ("familyTypeId".into(), json!(14)),
        (
            "today".into(),
            json!(rfc3339(Utc::now() + Duration::minutes(1))),
        ),
        (
            "future".into(),
            json!(rfc3339(Utc::now() + Duration::days(365))),
        ),
        ("mobile".into(), json!("+27829990001")),
        ("clientId".into(), json!(cfg.client_id)),
        ("clientSecret".into(), json!(cfg.client_secret)),
    ]);
    for n in 1..=4 {
        let dependant = sim.add_customer(&format!("Dependant {n}"));
        values.insert(format!("dependant{n}"), json!(dependant));
        values.insert(format!("unknownDependant{n}"), json!(UNKNOWN_ID + n));
    }
    values
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Replaces every `"{name}"` string in a request body with the stage's value for `name`.
fn fill(value: &Value, values: &HashMap<String, Value>) -> Value {
    match value {
        Value::String(s) if s.starts_with('{') && s.ends_with('}') => values
            .get(&s[1..s.len() - 1])
            .cloned()
            .unwrap_or_else(|| panic!("no value for {s}")),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(v, values)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill(v, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn fill_path(path: &str, values: &HashMap<String, Value>) -> String {
    values.iter().fold(path.to_string(), |path, (name, value)| {
        path.replace(&format!("{{{name}}}"), &value.to_string().replace('"', ""))
    })
}

/// Top-level keys must match exactly; nested objects must have at least the documented keys.
fn shape_problem(shape: &Shape, answer: &Value) -> Option<String> {
    match shape {
        Shape::Text { prefix } => {
            let text = answer.as_str().unwrap_or_default();
            (!text.starts_with(prefix.as_str()))
                .then(|| format!("expected text starting {prefix:?}, got {answer}"))
        }
        Shape::Json { keys, nested } => {
            let Some(object) = answer.as_object() else {
                return Some(format!("expected a JSON object, got {answer}"));
            };
            let actual: BTreeSet<String> = object.keys().cloned().collect();
            if &actual != keys {
                return Some(format!("keys {actual:?}, documented {keys:?}"));
            }
            nested
                .iter()
                .find_map(|(key, documented)| nested_problem(key, documented, &object[key]))
        }
    }
}

fn nested_problem(key: &str, documented: &BTreeSet<String>, value: &Value) -> Option<String> {
    let inner = match value {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let actual: BTreeSet<String> = inner.as_object()?.keys().cloned().collect();
    let missing: Vec<_> = documented.difference(&actual).collect();
    (!missing.is_empty()).then(|| format!("{key} lacks {missing:?}"))
}

async fn replay(exchange: &Exchange) -> Option<String> {
    let mut stage = Stage::new().await;
    stage.prepare(exchange).await;

    let path = fill_path(&exchange.path, &stage.values);
    let body = exchange.request.as_ref().map(|b| fill(b, &stage.values));
    let (status, answer) = stage
        .send(&exchange.method, &path, body, exchange.request_raw.clone())
        .await;
    stage.handle.shutdown().await;

    if status != exchange.status {
        return Some(format!(
            "status {status}, documented {}: {answer}",
            exchange.status
        ));
    }
    shape_problem(&exchange.shape, &answer).or_else(|| message_problem(exchange, &answer))
}

/// The error text, with ids (runs of digits) replaced so that only the words are compared.
fn message_problem(exchange: &Exchange, answer: &Value) -> Option<String> {
    let documented = exchange.message.as_deref()?;
    let text = ["errors", "error", "message"]
        .iter()
        .find_map(|key| answer.get(key).and_then(Value::as_str))
        .unwrap_or_default();
    let words = |s: &str| {
        let mut out = String::new();
        for c in s.trim().chars() {
            if !c.is_ascii_digit() {
                out.push(c);
            } else if !out.ends_with('#') {
                out.push('#');
            }
        }
        out
    };
    (words(text) != words(documented))
        .then(|| format!("message {text:?}, documented {documented:?}"))
}

#[tokio::test]
async fn every_documented_exchange_gets_the_documented_status_and_shape() {
    let all = exchanges();
    let mut problems = Vec::new();
    for exchange in &all {
        if let Some(problem) = replay(exchange).await {
            problems.push(format!(
                "{} {} ({} {}): {problem}",
                exchange.folder, exchange.scenario, exchange.method, exchange.path
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} exchanges differ:\n{}",
        problems.len(),
        all.len(),
        problems.join("\n")
    );
}

#[test]
fn the_fixture_covers_the_three_folders_and_every_error_shape() {
    let all = exchanges();
    let folders: BTreeSet<&str> = all.iter().map(|e| e.folder.as_str()).collect();
    assert_eq!(
        folders,
        BTreeSet::from(["payment-gateway", "registration", "subscription-management"])
    );

    let error_keys: BTreeSet<String> = all
        .iter()
        .filter(|e| e.status >= 400)
        .map(|e| match &e.shape {
            Shape::Json { keys, .. } => keys.iter().cloned().collect::<Vec<_>>().join("+"),
            Shape::Text { .. } => "text".into(),
        })
        .collect();
    for shape in ["errors", "error", "message+subscription", "text"] {
        assert!(
            error_keys.contains(shape),
            "no exchange with the {shape} error shape"
        );
    }
}

#[tokio::test]
async fn the_register_example_with_a_missing_comma_is_a_clear_400() {
    let exchange = exchanges()
        .into_iter()
        .find(|e| e.request_raw.is_some())
        .expect("the invalid example");
    let stage = Stage::new().await;

    let (status, answer) = stage
        .send("POST", &exchange.path, None, exchange.request_raw)
        .await;

    assert_eq!(status, 400);
    let message = answer["errors"].as_str().expect("an errors message");
    assert!(message.starts_with("Malformed JSON body"), "{message}");
}
