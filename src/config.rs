//! Typed configuration, read once from the environment (and a `.env` file when present) and
//! validated before anything starts. Every variable is documented in the README's table.
//! A bad value stops the process with one line naming the variable and what is wrong.

use std::{collections::HashMap, fmt, net::SocketAddr, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::domain::PlanKind;

/// A secret whose `Debug` and `Display` print `***`, so it cannot leak through a log line.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A configuration problem: which variable, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

fn bad(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Where the database lives; `postgres://` selects Postgres, `sqlite:` a SQLite file.
#[derive(Clone)]
pub struct DatabaseUrl(Secret);

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Url::parse(raw).map_err(|e| format!("not a valid postgres URL ({e})"))?;
        } else if !raw.starts_with("sqlite:") {
            return Err("expected a postgres://... or sqlite:... URL".into());
        }
        Ok(Self(Secret::new(raw)))
    }

    pub fn is_postgres(&self) -> bool {
        !self.0.expose().starts_with("sqlite:")
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        };
        write!(f, "DatabaseUrl({kind}, ***)")
    }
}

/// How sign-up tokens from the app are verified. The algorithm is pinned here, never read
/// from the token.
#[derive(Debug, Clone)]
pub enum JwtKey {
    Hs256(Secret),
    /// RS256 or ES256 with a PEM public key.
    Pem {
        algorithm: jsonwebtoken::Algorithm,
        pem: String,
    },
    Jwks {
        algorithm: jsonwebtoken::Algorithm,
        url: Url,
    },
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub key: JwtKey,
    pub customer_claim: String,
    pub leeway: Duration,
}

/// One plan as the user sees it and as the gateway and AURA know it.
#[derive(Debug, Clone)]
pub struct PlanConfig {
    pub kind: PlanKind,
    pub price_id: String,
    /// In the currency's minor unit (cents).
    pub amount_minor: i64,
    pub currency: String,
    /// The AURA subscription type `value` (its id is looked up at AURA).
    pub aura_type: String,
    pub dependants: u32,
}

#[derive(Debug, Clone)]
pub struct StripeConfig {
    pub secret_key: Secret,
    pub api_base: Option<Url>,
    pub webhook_secrets: Vec<Secret>,
}

#[derive(Debug, Clone)]
pub enum GatewayConfig {
    Stripe(StripeConfig),
    /// The built-in sandbox: a hosted test checkout and subscriptions billed every `period`.
    Sandbox {
        period: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct AuraConfig {
    pub api_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
}

/// Where AURA is: the real API, or a simulator started inside this process.
#[derive(Debug, Clone)]
pub enum AuraTarget {
    Remote(AuraConfig),
    Embedded {
        bind: SocketAddr,
        client_id: String,
        client_secret: Secret,
    },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub app_env: AppEnv,
    pub database_url: DatabaseUrl,
    pub bind_addr: SocketAddr,
    pub public_base_url: Url,
    pub log_format: LogFormat,
    pub jwt: JwtConfig,
    pub redirect_allowed: Vec<String>,
    pub plans: Vec<PlanConfig>,
    pub gateway: GatewayConfig,
    pub aura: AuraTarget,
    pub coverage_margin: Duration,
    pub sync_max_attempts: u32,
    /// How long a worker holds a claimed job before another process may take it over.
    pub sync_lease: Duration,
    pub sweep_interval: Duration,
    /// Per-request limit of every AURA call, and of opening its connection.
    pub aura_timeout: Duration,
    pub aura_connect_timeout: Duration,
    pub admin: AdminConfig,
}

/// The most dependants a family plan may be configured with.
pub const MAX_DEPENDANTS: u32 = 20;

/// Development defaults that let `cargo run` work offline with nothing configured.
pub const DEV_JWT_SECRET: &str = "dev-only-jwt-secret";
pub const DEV_SIM_CLIENT_ID: &str = "aura-sim-client";
pub const DEV_SIM_CLIENT_SECRET: &str = "aura-sim-secret";
pub const DEV_SIM_BIND: &str = "127.0.0.1:8081";

impl Config {
    /// Reads the process environment, after loading `.env` when one exists.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_map(&std::env::vars().collect())
    }

    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let env = Env(vars);
        let app_env = match env.get("APP_ENV").as_deref() {
            None | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some(other) => {
                return Err(bad(
                    "APP_ENV",
                    format!("{other:?} is not development or production"),
                ));
            }
        };
        let prod = app_env == AppEnv::Production;

        let database_url = match env.get("DATABASE_URL") {
            None => {
                DatabaseUrl::parse("sqlite://aura-signup.db?mode=rwc").expect("default is valid")
            }
            Some(raw) => DatabaseUrl::parse(&raw).map_err(|p| bad("DATABASE_URL", p))?,
        };
        if prod && !database_url.is_postgres() {
            return Err(bad(
                "DATABASE_URL",
                "production needs Postgres (postgres://...); SQLite is for the demo",
            ));
        }
        let bind_addr: SocketAddr = env.parse_or(
            "BIND_ADDR",
            "127.0.0.1:8080",
            "a host:port such as 127.0.0.1:8080",
        )?;
        let public_base_url = match env.get("PUBLIC_BASE_URL") {
            Some(raw) => parse_base_url("PUBLIC_BASE_URL", &raw)?,
            None if prod => return Err(bad("PUBLIC_BASE_URL", "required when APP_ENV=production")),
            None => parse_base_url("PUBLIC_BASE_URL", &format!("http://{bind_addr}"))?,
        };
        if prod && public_base_url.scheme() != "https" {
            return Err(bad(
                "PUBLIC_BASE_URL",
                "must be https when APP_ENV=production",
            ));
        }
        let log_format = match env.get("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(bad(
                    "LOG_FORMAT",
                    format!("{other:?} is not pretty or json"),
                ));
            }
        };

        if let Some(filter) = env.get("RUST_LOG") {
            tracing_subscriber::EnvFilter::try_new(&filter)
                .map_err(|e| bad("RUST_LOG", format!("{filter:?} is not a log filter ({e})")))?;
        }

        let aura = read_aura(&env, prod)?;
        let jwt = read_jwt(&env, prod)?;
        let redirect_allowed = read_redirect_allowed(&env, prod, &aura)?;
        let gateway = read_gateway(&env, prod)?;
        let plans = read_plans(&env, &gateway)?;

        let sync_max_attempts =
            env.parse_or("SYNC_MAX_ATTEMPTS", "12", "a whole number of attempts")?;
        if sync_max_attempts == 0 {
            return Err(bad("SYNC_MAX_ATTEMPTS", "must be at least 1"));
        }

        Ok(Config {
            app_env,
            database_url,
            bind_addr,
            public_base_url,
            log_format,
            jwt,
            redirect_allowed,
            plans,
            gateway,
            aura,
            coverage_margin: env.duration_or("COVERAGE_MARGIN", "3d")?,
            sync_max_attempts,
            sync_lease: env.duration_at_least("SYNC_LEASE", "90s", "1s")?,
            sweep_interval: env.duration_at_least("SWEEP_INTERVAL", "10m", "1s")?,
            aura_timeout: env.duration_at_least("AURA_TIMEOUT", "10s", "100ms")?,
            aura_connect_timeout: env.duration_at_least("AURA_CONNECT_TIMEOUT", "2s", "100ms")?,
            admin: read_admin(&env, prod)?,
        })
    }

    pub fn is_production(&self) -> bool {
        self.app_env == AppEnv::Production
    }

    pub fn plan(&self, kind: PlanKind) -> &PlanConfig {
        self.plans
            .iter()
            .find(|p| p.kind == kind)
            .expect("every plan kind is configured")
    }
}

fn read_aura(env: &Env, prod: bool) -> Result<AuraTarget, ConfigError> {
    let Some(raw) = env.get("AURA_API_URL") else {
        for var in ["AURA_CLIENT_ID", "AURA_CLIENT_SECRET"] {
            if env.get(var).is_some() {
                return Err(bad(
                    var,
                    "set without AURA_API_URL (the embedded simulator would be used)",
                ));
            }
        }
        if prod {
            return Err(bad(
                "AURA_API_URL",
                "required when APP_ENV=production (the simulator is for development)",
            ));
        }
        return Ok(AuraTarget::Embedded {
            bind: env.parse_or(
                "AURA_SIM_BIND",
                DEV_SIM_BIND,
                "a host:port such as 127.0.0.1:8081",
            )?,
            client_id: env
                .get("AURA_SIM_CLIENT_ID")
                .unwrap_or_else(|| DEV_SIM_CLIENT_ID.into()),
            client_secret: Secret::new(
                env.get("AURA_SIM_CLIENT_SECRET")
                    .unwrap_or_else(|| DEV_SIM_CLIENT_SECRET.into()),
            ),
        });
    };
    let api_url = parse_base_url("AURA_API_URL", &raw)?;
    if prod && api_url.scheme() != "https" {
        return Err(bad("AURA_API_URL", "must be https when APP_ENV=production"));
    }
    Ok(AuraTarget::Remote(AuraConfig {
        api_url,
        client_id: env.require("AURA_CLIENT_ID")?,
        client_secret: Secret::new(env.require("AURA_CLIENT_SECRET")?),
    }))
}

fn read_jwt(env: &Env, prod: bool) -> Result<JwtConfig, ConfigError> {
    let algorithm = match env.get("AURA_JWT_ALG").as_deref() {
        None => None,
        Some("HS256") => Some(jsonwebtoken::Algorithm::HS256),
        Some("RS256") => Some(jsonwebtoken::Algorithm::RS256),
        Some("ES256") => Some(jsonwebtoken::Algorithm::ES256),
        Some(other) => {
            return Err(bad(
                "AURA_JWT_ALG",
                format!("{other:?} is not HS256, RS256 or ES256"),
            ));
        }
    };
    let secret = env.get("AURA_JWT_SECRET");
    let pem = env.get("AURA_JWT_PUBLIC_KEY");
    let jwks = env.get("AURA_JWT_JWKS_URL");
    let key = match (secret, pem, jwks) {
        (Some(s), None, None) => {
            if let Some(a) = algorithm.filter(|a| *a != jsonwebtoken::Algorithm::HS256) {
                return Err(bad(
                    "AURA_JWT_ALG",
                    format!(
                        "{a:?} needs AURA_JWT_PUBLIC_KEY or AURA_JWT_JWKS_URL; AURA_JWT_SECRET is for HS256"
                    ),
                ));
            }
            if prod && [DEV_JWT_SECRET, "compose-demo-jwt-secret"].contains(&s.as_str()) {
                return Err(bad(
                    "AURA_JWT_SECRET",
                    "is a published development secret; production needs the app's own",
                ));
            }
            if s.len() < 16 && prod {
                return Err(bad(
                    "AURA_JWT_SECRET",
                    "too short for production (16 bytes at least)",
                ));
            }
            JwtKey::Hs256(Secret::new(s))
        }
        (None, Some(pem), None) => {
            let algorithm = asymmetric(algorithm)?;
            let pem = pem.replace("\\n", "\n");
            let check = match algorithm {
                jsonwebtoken::Algorithm::ES256 => {
                    jsonwebtoken::DecodingKey::from_ec_pem(pem.as_bytes()).map(drop)
                }
                _ => jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).map(drop),
            };
            check.map_err(|e| {
                bad(
                    "AURA_JWT_PUBLIC_KEY",
                    format!("not a usable PEM public key ({e})"),
                )
            })?;
            JwtKey::Pem { algorithm, pem }
        }
        (None, None, Some(url)) => JwtKey::Jwks {
            algorithm: asymmetric(algorithm)?,
            url: Url::parse(&url)
                .map_err(|e| bad("AURA_JWT_JWKS_URL", format!("not a URL ({e})")))?,
        },
        (None, None, None) => match algorithm {
            Some(a) if a != jsonwebtoken::Algorithm::HS256 => {
                return Err(bad(
                    "AURA_JWT_ALG",
                    format!("{a:?} needs AURA_JWT_PUBLIC_KEY or AURA_JWT_JWKS_URL"),
                ));
            }
            _ if prod => {
                return Err(bad(
                    "AURA_JWT_SECRET",
                    "set one of AURA_JWT_SECRET, AURA_JWT_PUBLIC_KEY or AURA_JWT_JWKS_URL",
                ));
            }
            _ => JwtKey::Hs256(Secret::new(DEV_JWT_SECRET)),
        },
        (None, Some(_), Some(_)) => {
            return Err(bad(
                "AURA_JWT_PUBLIC_KEY",
                "set either AURA_JWT_PUBLIC_KEY or AURA_JWT_JWKS_URL, not both",
            ));
        }
        _ => {
            return Err(bad(
                "AURA_JWT_SECRET",
                "set only one of AURA_JWT_SECRET, AURA_JWT_PUBLIC_KEY, AURA_JWT_JWKS_URL",
            ));
        }
    };
    Ok(JwtConfig {
        key,
        customer_claim: env
            .get("AURA_JWT_CUSTOMER_CLAIM")
            .unwrap_or_else(|| "customerId".into()),
        leeway: env.duration_or("AURA_JWT_LEEWAY", "30s")?,
    })
}

fn asymmetric(
    algorithm: Option<jsonwebtoken::Algorithm>,
) -> Result<jsonwebtoken::Algorithm, ConfigError> {
    match algorithm {
        Some(a @ (jsonwebtoken::Algorithm::RS256 | jsonwebtoken::Algorithm::ES256)) => Ok(a),
        _ => Err(bad(
            "AURA_JWT_ALG",
            "set RS256 or ES256 to use AURA_JWT_PUBLIC_KEY or AURA_JWT_JWKS_URL",
        )),
    }
}

fn read_redirect_allowed(
    env: &Env,
    prod: bool,
    aura: &AuraTarget,
) -> Result<Vec<String>, ConfigError> {
    let raw = match (env.get("REDIRECT_ALLOWED_ORIGINS"), aura) {
        (Some(raw), _) => raw,
        (None, AuraTarget::Embedded { bind, .. }) if !prod => format!("http://{bind}"),
        (None, _) => {
            return Err(bad(
                "REDIRECT_ALLOWED_ORIGINS",
                "required: the app's origins or custom schemes",
            ));
        }
    };
    let mut origins = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let origin = crate::signup::redirect::normalise_allowed(entry)
            .map_err(|p| bad("REDIRECT_ALLOWED_ORIGINS", format!("{entry:?}: {p}")))?;
        if prod && origin.starts_with("http://") {
            return Err(bad(
                "REDIRECT_ALLOWED_ORIGINS",
                format!("{entry:?}: http is not allowed in production"),
            ));
        }
        origins.push(origin);
    }
    if origins.is_empty() {
        return Err(bad("REDIRECT_ALLOWED_ORIGINS", "lists no origin"));
    }
    Ok(origins)
}

fn read_gateway(env: &Env, prod: bool) -> Result<GatewayConfig, ConfigError> {
    let Some(secret_key) = env.get("STRIPE_SECRET_KEY") else {
        if prod {
            return Err(bad(
                "STRIPE_SECRET_KEY",
                "required when APP_ENV=production (the sandbox is for development)",
            ));
        }
        for var in ["STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE"] {
            if env.get(var).is_some() {
                return Err(bad(
                    var,
                    "set without STRIPE_SECRET_KEY (the sandbox gateway would be used)",
                ));
            }
        }
        return Ok(GatewayConfig::Sandbox {
            period: env.duration_at_least("SANDBOX_PERIOD", "30d", "1m")?,
        });
    };
    if !(secret_key.starts_with("sk_") || secret_key.starts_with("rk_")) {
        return Err(bad(
            "STRIPE_SECRET_KEY",
            "expected a secret or restricted key (sk_... or rk_...)",
        ));
    }
    let api_base = env
        .get("STRIPE_API_BASE")
        .map(|raw| parse_base_url("STRIPE_API_BASE", &raw))
        .transpose()?;
    let webhook_secrets: Vec<Secret> = env
        .get("STRIPE_WEBHOOK_SECRET")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .collect();
    if webhook_secrets.is_empty()
        || webhook_secrets
            .iter()
            .any(|s| !s.expose().starts_with("whsec_"))
    {
        return Err(bad(
            "STRIPE_WEBHOOK_SECRET",
            "required with STRIPE_SECRET_KEY: signing secrets whsec_..., comma-separated",
        ));
    }
    Ok(GatewayConfig::Stripe(StripeConfig {
        secret_key: Secret::new(secret_key),
        api_base,
        webhook_secrets,
    }))
}

fn read_plans(env: &Env, gateway: &GatewayConfig) -> Result<Vec<PlanConfig>, ConfigError> {
    let currency = env
        .get("PLAN_CURRENCY")
        .unwrap_or_else(|| "ZAR".into())
        .to_ascii_uppercase();
    match iso_currency::Currency::from_code(&currency).map(|c| c.exponent()) {
        Some(Some(2)) => {}
        Some(_) => {
            return Err(bad(
                "PLAN_CURRENCY",
                format!("{currency} has no cents, and the plan amounts are in cents"),
            ));
        }
        None => {
            return Err(bad(
                "PLAN_CURRENCY",
                format!("{currency:?} is not an ISO 4217 currency code such as ZAR"),
            ));
        }
    }
    let stripe = matches!(gateway, GatewayConfig::Stripe(_));
    let single_price = match env.get("STRIPE_PRICE_SINGLE") {
        Some(p) => stripe_price("STRIPE_PRICE_SINGLE", p, stripe)?,
        None if stripe => {
            return Err(bad(
                "STRIPE_PRICE_SINGLE",
                "required with STRIPE_SECRET_KEY",
            ));
        }
        None => "sandbox_price_single".into(),
    };
    let family_price = match env.get("STRIPE_PRICE_FAMILY") {
        Some(p) => stripe_price("STRIPE_PRICE_FAMILY", p, stripe)?,
        None if stripe => {
            return Err(bad(
                "STRIPE_PRICE_FAMILY",
                "required with STRIPE_SECRET_KEY",
            ));
        }
        None => "sandbox_price_family".into(),
    };
    Ok(vec![
        PlanConfig {
            kind: PlanKind::Single,
            price_id: single_price,
            amount_minor: env.amount_or("PLAN_SINGLE_AMOUNT", "9900")?,
            currency: currency.clone(),
            aura_type: env
                .get("AURA_TYPE_SINGLE")
                .unwrap_or_else(|| "WEB_SIGNUP_SINGLE".into()),
            dependants: 0,
        },
        PlanConfig {
            kind: PlanKind::Family,
            price_id: family_price,
            amount_minor: env.amount_or("PLAN_FAMILY_AMOUNT", "14900")?,
            currency,
            aura_type: env
                .get("AURA_TYPE_FAMILY")
                .unwrap_or_else(|| "WEB_SIGNUP_FAMILY".into()),
            dependants: family_dependants(env)?,
        },
    ])
}

/// A Stripe price id (`price_...`, or a plan's `plan_...`); only with `STRIPE_SECRET_KEY`.
fn stripe_price(var: &'static str, price: String, stripe: bool) -> Result<String, ConfigError> {
    if !stripe {
        return Err(bad(
            var,
            "set without STRIPE_SECRET_KEY (the sandbox gateway would be used)",
        ));
    }
    if !(price.starts_with("price_") || price.starts_with("plan_")) {
        return Err(bad(
            var,
            format!("{price:?} is not a Stripe price id (price_...)"),
        ));
    }
    Ok(price)
}

fn family_dependants(env: &Env) -> Result<u32, ConfigError> {
    let dependants = env.parse_or(
        "PLAN_FAMILY_DEPENDANTS",
        "4",
        "a whole number of dependants",
    )?;
    if !(1..=MAX_DEPENDANTS).contains(&dependants) {
        return Err(bad(
            "PLAN_FAMILY_DEPENDANTS",
            format!("must be 1 to {MAX_DEPENDANTS}"),
        ));
    }
    Ok(dependants)
}

/// An operator of the console: a name and the argon2 PHC string of their password.
#[derive(Clone)]
pub struct OperatorLogin {
    pub name: String,
    pub password_hash: Secret,
}

impl fmt::Debug for OperatorLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OperatorLogin({}, ***)", self.name)
    }
}

/// What an API token may do: read only, or read and act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiRole {
    Read,
    Write,
}

#[derive(Debug, Clone)]
pub struct ApiToken {
    pub name: String,
    pub token: Secret,
    pub role: ApiRole,
}

/// The operator console, its API and `/metrics`.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub users: Vec<OperatorLogin>,
    /// No `ADMIN_USERS` in development: the documented demo operator `admin`/`admin` exists.
    pub demo_operator: bool,
    /// Signs session cookies and CSRF tokens; every replica needs the same one.
    pub session_key: Secret,
    pub session_ttl: Duration,
    pub api_tokens: Vec<ApiToken>,
    /// The header a trusted reverse proxy puts the client address in (its last entry is used).
    pub client_ip_header: Option<String>,
    /// When set, `/metrics` wants `Authorization: Bearer` with it.
    pub metrics_token: Option<Secret>,
}

fn read_admin(env: &Env, prod: bool) -> Result<AdminConfig, ConfigError> {
    let users = match env.get("ADMIN_USERS") {
        Some(raw) => parse_admin_users(&raw).map_err(|p| bad("ADMIN_USERS", p))?,
        None => Vec::new(),
    };
    let session_key = match env.get("ADMIN_SESSION_KEY") {
        Some(key) if key.len() < 32 => {
            return Err(bad(
                "ADMIN_SESSION_KEY",
                "too short (32 characters at least)",
            ));
        }
        Some(key) => Secret::new(key),
        None if prod && !users.is_empty() => {
            return Err(bad(
                "ADMIN_SESSION_KEY",
                "required with ADMIN_USERS when APP_ENV=production (the same on every replica)",
            ));
        }
        None => Secret::new(hex::encode(rand::random::<[u8; 32]>())),
    };
    let api_tokens = match env.get("ADMIN_API_TOKENS") {
        Some(raw) => parse_api_tokens(&raw, prod).map_err(|p| bad("ADMIN_API_TOKENS", p))?,
        None => Vec::new(),
    };
    Ok(AdminConfig {
        demo_operator: users.is_empty() && !prod,
        users,
        session_key,
        session_ttl: env.duration_at_least("ADMIN_SESSION_TTL", "8h", "1m")?,
        api_tokens,
        client_ip_header: env
            .get("ADMIN_CLIENT_IP_HEADER")
            .map(|h| {
                axum::http::HeaderName::from_bytes(h.as_bytes())
                    .map(|name| name.as_str().to_owned())
                    .map_err(|_| {
                        bad(
                            "ADMIN_CLIENT_IP_HEADER",
                            format!("{h:?} is not a header name"),
                        )
                    })
            })
            .transpose()?,
        metrics_token: env
            .get("METRICS_TOKEN")
            .map(|token| {
                if token.bytes().all(|b| b.is_ascii_graphic()) {
                    Ok(Secret::new(token))
                } else {
                    Err(bad(
                        "METRICS_TOKEN",
                        "must be printable ASCII without spaces (it is sent as a bearer token)",
                    ))
                }
            })
            .transpose()?,
    })
}

/// `name:$argon2id$...` pairs separated by commas. A PHC string has commas of its own
/// (`m=19456,t=2,p=1`), so a new pair starts only where a piece reads `name:$`.
fn parse_admin_users(raw: &str) -> Result<Vec<OperatorLogin>, String> {
    let mut entries: Vec<String> = Vec::new();
    for piece in raw.split(',').map(str::trim) {
        let starts_entry = piece
            .split_once(':')
            .is_some_and(|(name, rest)| is_name(name) && rest.starts_with('$'));
        match entries.last_mut() {
            Some(last) if !starts_entry => {
                last.push(',');
                last.push_str(piece);
            }
            _ => entries.push(piece.to_owned()),
        }
    }
    let mut users: Vec<OperatorLogin> = Vec::new();
    for entry in entries.iter().filter(|e| !e.is_empty()) {
        let Some((name, hash)) = entry.split_once(':').filter(|(n, _)| is_name(n)) else {
            return Err("expected name:argon2-hash pairs, comma-separated".into());
        };
        if argon2::PasswordHash::new(hash).is_err() {
            return Err(format!(
                "the hash of {name:?} is not an argon2 PHC string (make one with `aura-signup hash-password`)"
            ));
        }
        if users.iter().any(|u| u.name == name) {
            return Err(format!("{name:?} is listed twice"));
        }
        users.push(OperatorLogin {
            name: name.to_owned(),
            password_hash: Secret::new(hash),
        });
    }
    Ok(users)
}

/// `name:token` or `name:token:read` pairs, comma-separated; without `:read` a token may act.
fn parse_api_tokens(raw: &str, prod: bool) -> Result<Vec<ApiToken>, String> {
    let mut tokens: Vec<ApiToken> = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut parts = entry.split(':');
        let (Some(name), Some(token)) = (parts.next(), parts.next()) else {
            return Err("expected name:token pairs, comma-separated".into());
        };
        let role = match parts.next() {
            None | Some("write") => ApiRole::Write,
            Some("read") => ApiRole::Read,
            Some(_) => return Err(format!("{name:?}: the role is read or write")),
        };
        if !is_name(name) || token.is_empty() || parts.next().is_some() {
            return Err("expected name:token pairs, comma-separated".into());
        }
        if prod && token.len() < 32 {
            return Err(format!(
                "{name:?}: token too short for production (32 characters at least)"
            ));
        }
        if tokens.iter().any(|t| t.name == name) {
            return Err(format!("{name:?} is listed twice"));
        }
        tokens.push(ApiToken {
            name: name.to_owned(),
            token: Secret::new(token),
            role,
        });
    }
    Ok(tokens)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn parse_base_url(var: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url =
        Url::parse(raw.trim()).map_err(|e| bad(var, format!("{raw:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad(
            var,
            format!("{raw:?} must be an http(s) URL with a host"),
        ));
    }
    Ok(url)
}

/// Reads variables, trimming the whitespace (such as a trailing newline) that secret stores add.
struct Env<'a>(&'a HashMap<String, String>);

impl Env<'_> {
    fn get(&self, var: &str) -> Option<String> {
        self.0
            .get(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn require(&self, var: &'static str) -> Result<String, ConfigError> {
        self.get(var).ok_or_else(|| bad(var, "required"))
    }

    fn parse_or<T: std::str::FromStr>(
        &self,
        var: &'static str,
        default: &str,
        expected: &str,
    ) -> Result<T, ConfigError> {
        let raw = self.get(var).unwrap_or_else(|| default.to_owned());
        raw.parse()
            .map_err(|_| bad(var, format!("{raw:?} is not {expected}")))
    }

    /// An amount in the currency's minor unit: positive, and within what Stripe accepts.
    fn amount_or(&self, var: &'static str, default: &str) -> Result<i64, ConfigError> {
        let amount: i64 = self.parse_or(var, default, "an amount in cents")?;
        if !(1..=99_999_999).contains(&amount) {
            return Err(bad(var, format!("{amount} is not 1 to 99999999 cents")));
        }
        Ok(amount)
    }

    fn duration_at_least(
        &self,
        var: &'static str,
        default: &str,
        least: &str,
    ) -> Result<Duration, ConfigError> {
        let value = self.duration_or(var, default)?;
        if value < humantime::parse_duration(least).expect("a valid bound") {
            return Err(bad(var, format!("must be at least {least}")));
        }
        Ok(value)
    }

    fn duration_or(&self, var: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let raw = self.get(var).unwrap_or_else(|| default.to_owned());
        humantime::parse_duration(&raw).map_err(|_| {
            bad(
                var,
                format!("{raw:?} is not a duration such as 3d, 90s or 5m"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_map(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn empty_environment_gives_the_embedded_default() {
        let c = config(&[]).unwrap();
        assert!(!c.database_url.is_postgres());
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_base_url.as_str(), "http://127.0.0.1:8080/");
        assert!(matches!(c.gateway, GatewayConfig::Sandbox { .. }));
        assert!(matches!(c.aura, AuraTarget::Embedded { .. }));
        assert_eq!(c.coverage_margin, Duration::from_secs(3 * 86400));
    }

    #[test]
    fn malformed_values_name_their_variable() {
        for (var, value) in [
            ("DATABASE_URL", "mysql://x"),
            ("DATABASE_URL", "postgres://[bad"),
            ("BIND_ADDR", "localhost"),
            ("BIND_ADDR", "127.0.0.1:99999"),
            ("APP_ENV", "staging"),
            ("LOG_FORMAT", "xml"),
            ("COVERAGE_MARGIN", "three days"),
            ("REDIRECT_ALLOWED_ORIGINS", "https://app.example/path"),
            ("RUST_LOG", "aura_signup=loud"),
            ("AURA_JWT_ALG", "RS256"),
            ("AURA_JWT_ALG", "ES256"),
            ("PLAN_SINGLE_AMOUNT", "0"),
            ("PLAN_FAMILY_AMOUNT", "-500"),
            ("PLAN_FAMILY_DEPENDANTS", "0"),
            ("PLAN_CURRENCY", "RAND"),
            ("PLAN_CURRENCY", "R1"),
            ("SANDBOX_PERIOD", "10s"),
            ("AURA_TIMEOUT", "0s"),
            ("AURA_CONNECT_TIMEOUT", "1ms"),
            ("SWEEP_INTERVAL", "0s"),
            ("SYNC_LEASE", "0s"),
            ("SYNC_MAX_ATTEMPTS", "0"),
            ("ADMIN_SESSION_TTL", "1s"),
            ("ADMIN_CLIENT_IP_HEADER", "x forwarded for"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_1"),
            ("STRIPE_API_BASE", "http://127.0.0.1:12111"),
            ("STRIPE_PRICE_SINGLE", "price_1"),
            ("AURA_CLIENT_ID", "id"),
            ("PLAN_CURRENCY", "XYZ"),
            ("PLAN_CURRENCY", "JPY"),
            ("METRICS_TOKEN", "a b"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}: {err}");
        }
    }

    #[test]
    fn stripe_keys_and_jwt_keys_are_checked_for_what_they_are() {
        let stripe = |key: &str, webhook: &str| {
            config(&[
                ("STRIPE_SECRET_KEY", key),
                ("STRIPE_WEBHOOK_SECRET", webhook),
                ("STRIPE_PRICE_SINGLE", "price_1"),
                ("STRIPE_PRICE_FAMILY", "price_2"),
            ])
        };
        assert!(stripe("rk_test_1", "whsec_1, whsec_2").is_ok());
        let err = stripe("pk_test_1", "whsec_1").unwrap_err();
        assert_eq!(err.var, "STRIPE_SECRET_KEY");
        let err = stripe("sk_test_1", "whsec_1,secret").unwrap_err();
        assert_eq!(err.var, "STRIPE_WEBHOOK_SECRET");
        let err = config(&[
            ("STRIPE_SECRET_KEY", "sk_test_1"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_1"),
            ("STRIPE_PRICE_SINGLE", "nope"),
            ("STRIPE_PRICE_FAMILY", "price_2"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "STRIPE_PRICE_SINGLE");

        let err = config(&[
            ("AURA_JWT_PUBLIC_KEY", "pem"),
            ("AURA_JWT_JWKS_URL", "https://keys.example/jwks.json"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "AURA_JWT_PUBLIC_KEY");
        let err = config(&[("AURA_JWT_ALG", "ES256"), ("AURA_JWT_SECRET", "s")]).unwrap_err();
        assert_eq!(err.var, "AURA_JWT_ALG");
        assert!(err.problem.contains("AURA_JWT_PUBLIC_KEY"), "{err}");
    }

    #[test]
    fn production_refuses_the_sandbox_and_the_simulator() {
        let err = config(&[
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://aura@db.example/aura"),
            ("PUBLIC_BASE_URL", "https://pay.example"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "AURA_API_URL");
        let err = config(&[
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://aura@db.example/aura"),
            ("PUBLIC_BASE_URL", "https://pay.example"),
            ("AURA_API_URL", "https://aura.example"),
            ("AURA_CLIENT_ID", "id"),
            ("AURA_CLIENT_SECRET", "secret"),
            ("AURA_JWT_SECRET", "0123456789abcdef0123"),
            ("REDIRECT_ALLOWED_ORIGINS", "https://app.example"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "STRIPE_SECRET_KEY");
    }

    #[test]
    fn production_refuses_demo_secrets_and_sqlite() {
        let prod = |db: &str, secret: &str| {
            config(&[
                ("APP_ENV", "production"),
                ("DATABASE_URL", db),
                ("PUBLIC_BASE_URL", "https://pay.example"),
                ("AURA_API_URL", "https://aura.example"),
                ("AURA_CLIENT_ID", "id"),
                ("AURA_CLIENT_SECRET", "secret"),
                ("AURA_JWT_SECRET", secret),
                ("REDIRECT_ALLOWED_ORIGINS", "myapp:"),
                ("STRIPE_SECRET_KEY", "sk_live_1"),
                ("STRIPE_WEBHOOK_SECRET", "whsec_1"),
                ("STRIPE_PRICE_SINGLE", "price_1"),
                ("STRIPE_PRICE_FAMILY", "price_2"),
            ])
        };
        let postgres = "postgres://aura@db.example/aura";
        assert!(prod(postgres, "0123456789abcdef0123").is_ok());
        let err = prod(postgres, DEV_JWT_SECRET).unwrap_err();
        assert_eq!(err.var, "AURA_JWT_SECRET");
        let err = prod("sqlite://aura-signup.db?mode=rwc", "0123456789abcdef0123").unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
    }

    #[test]
    fn production_requires_https_base_url() {
        let err = config(&[
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://aura@db.example/aura"),
            ("PUBLIC_BASE_URL", "http://pay.example"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "PUBLIC_BASE_URL");
    }

    #[test]
    fn admin_users_keep_the_commas_inside_their_hashes() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$qx6Q1bWQxZ3mWbK7nHJ5Qd6rYm0n0rUGJ6x3mM8o0uI";
        let c = config(&[("ADMIN_USERS", &format!("alice:{hash}, bob:{hash}"))]).unwrap();
        let names: Vec<&str> = c.admin.users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
        assert_eq!(c.admin.users[1].password_hash.expose(), hash);
        assert!(!c.admin.demo_operator);
        assert!(!format!("{c:?}").contains("argon2id"));
    }

    #[test]
    fn malformed_admin_settings_name_their_variable() {
        for (var, value) in [
            ("ADMIN_USERS", "alice"),
            ("ADMIN_USERS", "alice:plaintext"),
            ("ADMIN_SESSION_KEY", "short"),
            ("ADMIN_SESSION_TTL", "forever"),
            ("ADMIN_API_TOKENS", "ops"),
            ("ADMIN_API_TOKENS", "ops:t:admin"),
            ("ADMIN_API_TOKENS", "ops:a,ops:b"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}: {err}");
        }
    }

    #[test]
    fn the_demo_operator_exists_only_in_development_without_admin_users() {
        assert!(config(&[]).unwrap().admin.demo_operator);
        let prod = [
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://aura@db.example/aura"),
            ("PUBLIC_BASE_URL", "https://pay.example"),
            ("AURA_API_URL", "https://aura.example"),
            ("AURA_CLIENT_ID", "id"),
            ("AURA_CLIENT_SECRET", "secret"),
            ("AURA_JWT_SECRET", "0123456789abcdef0123"),
            ("REDIRECT_ALLOWED_ORIGINS", "https://app.example"),
            ("STRIPE_SECRET_KEY", "sk_test_1"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_1"),
            ("STRIPE_PRICE_SINGLE", "price_1"),
            ("STRIPE_PRICE_FAMILY", "price_2"),
        ];
        let c = config(&prod).unwrap();
        assert!(!c.admin.demo_operator && c.admin.users.is_empty());
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$qx6Q1bWQxZ3mWbK7nHJ5Qd6rYm0n0rUGJ6x3mM8o0uI";
        let users = format!("alice:{hash}");
        let mut with_users = prod.to_vec();
        with_users.push(("ADMIN_USERS", &users));
        assert_eq!(config(&with_users).unwrap_err().var, "ADMIN_SESSION_KEY");
        with_users.push(("ADMIN_API_TOKENS", "ops:short"));
        with_users.push(("ADMIN_SESSION_KEY", "0123456789abcdef0123456789abcdef"));
        assert_eq!(config(&with_users).unwrap_err().var, "ADMIN_API_TOKENS");
    }

    #[test]
    fn secrets_never_print() {
        let c = config(&[
            ("STRIPE_SECRET_KEY", "sk_test_123"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_abc\n"),
            ("STRIPE_PRICE_SINGLE", "price_1"),
            ("STRIPE_PRICE_FAMILY", "price_2"),
        ])
        .unwrap();
        let printed = format!("{c:?}");
        assert!(
            !printed.contains("sk_test_123") && !printed.contains("whsec_abc"),
            "{printed}"
        );
        let GatewayConfig::Stripe(s) = &c.gateway else {
            panic!("stripe expected")
        };
        assert_eq!(s.webhook_secrets[0].expose(), "whsec_abc");
    }
}
