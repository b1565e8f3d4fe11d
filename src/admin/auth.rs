//! Who may use the console and the API: operator passwords (argon2), stateless signed session
//! cookies that every replica accepts, CSRF tokens tied to the session, and API bearer tokens
//! compared in constant time. Nothing here is kept in memory between requests except the
//! configuration it was built from.

use std::{net::SocketAddr, sync::LazyLock, time::Duration};

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, HeaderValue, header, request::Parts},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::warn;

use crate::{
    config::{AdminConfig, ApiRole, Config},
    store::now_ms,
};

/// The session cookie, and the short-lived one that protects the login form itself.
pub const SESSION_COOKIE: &str = "aura_admin";
pub const LOGIN_COOKIE: &str = "aura_admin_login";
const LOGIN_FORM_TTL: Duration = Duration::from_secs(1800);

/// The documented development operator, only when `ADMIN_USERS` is unset outside production.
pub const DEMO_OPERATOR: (&str, &str) = ("admin", "admin");

/// Checked for unknown names too, so a wrong name takes as long as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_password("not a real password"));

type HmacSha256 = Hmac<Sha256>;

struct OperatorEntry {
    name: String,
    hash: String,
    /// Changes with the password, so a new password ends the old sessions.
    version: String,
}

struct TokenEntry {
    name: String,
    digest: [u8; 32],
    role: ApiRole,
}

/// The configured operators, keys and tokens.
pub struct Auth {
    key: Vec<u8>,
    operators: Vec<OperatorEntry>,
    tokens: Vec<TokenEntry>,
    session_ttl: Duration,
    secure_cookies: bool,
    client_ip_header: Option<String>,
}

/// A signed-in operator, read from a valid session cookie.
#[derive(Debug, Clone)]
pub struct OperatorSession {
    pub name: String,
    /// Random per login; CSRF tokens are derived from it.
    pub sid: String,
    pub csrf: String,
}

/// A caller of the API, identified by its bearer token.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub name: String,
    pub role: ApiRole,
}

/// Makes an argon2id PHC string for `ADMIN_USERS` (the `hash-password` command).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any input")
        .to_string()
}

fn version_of(hash: &str) -> String {
    hex::encode(&Sha256::digest(hash.as_bytes())[..6])
}

impl Auth {
    pub fn new(config: &Config) -> Self {
        let admin: &AdminConfig = &config.admin;
        let mut operators: Vec<OperatorEntry> = admin
            .users
            .iter()
            .map(|u| OperatorEntry {
                name: u.name.clone(),
                hash: u.password_hash.expose().to_owned(),
                version: version_of(u.password_hash.expose()),
            })
            .collect();
        if admin.demo_operator {
            let hash = hash_password(DEMO_OPERATOR.1);
            warn!(
                "ADMIN_USERS is unset: the console's demo operator admin / admin is enabled (development only)"
            );
            // Its hash is salted afresh in every process; its password never changes, so its
            // sessions carry a fixed version and stay valid on every replica.
            operators.push(OperatorEntry {
                name: DEMO_OPERATOR.0.into(),
                version: "demo".into(),
                hash,
            });
        }
        let tokens = admin
            .api_tokens
            .iter()
            .map(|t| TokenEntry {
                name: t.name.clone(),
                digest: Sha256::digest(t.token.expose().as_bytes()).into(),
                role: t.role,
            })
            .collect();
        Self {
            key: admin.session_key.expose().as_bytes().to_vec(),
            operators,
            tokens,
            session_ttl: admin.session_ttl,
            secure_cookies: config.is_production() || config.public_base_url.scheme() == "https",
            client_ip_header: admin.client_ip_header.clone(),
        }
    }

    pub fn has_operators(&self) -> bool {
        !self.operators.is_empty()
    }

    /// Checks a name and password; the argon2 work runs off the async threads.
    pub async fn check_password(&self, name: &str, password: &str) -> bool {
        let known = self.operators.iter().find(|o| o.name == name);
        let hash = known.map_or_else(|| DUMMY_HASH.clone(), |o| o.hash.clone());
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        matches && known.is_some()
    }

    fn mac(&self, purpose: &str, data: &str) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn mac_matches(&self, purpose: &str, data: &str, presented: &[u8]) -> bool {
        self.mac(purpose, data).ct_eq(presented).into()
    }

    /// A new session for `name`: the `Set-Cookie` value.
    pub fn start_session(&self, name: &str) -> Option<HeaderValue> {
        let operator = self.operators.iter().find(|o| o.name == name)?;
        let sid = hex::encode(rand::random::<[u8; 16]>());
        let expires = self.session_expiry();
        let payload = format!("{}|{sid}|{expires}|{}", operator.name, operator.version);
        let value = format!(
            "{}.{}",
            B64.encode(&payload),
            B64.encode(self.mac("session", &payload))
        );
        self.cookie(SESSION_COOKIE, &value, "/admin", self.session_ttl)
    }

    /// The session a request carries, if its cookie is genuine, unexpired, and its operator is
    /// still configured with the same password.
    pub fn session(&self, headers: &HeaderMap) -> Option<OperatorSession> {
        let raw = cookie(headers, SESSION_COOKIE)?;
        let (payload, mac) = raw.split_once('.')?;
        let payload = String::from_utf8(B64.decode(payload).ok()?).ok()?;
        if !self.mac_matches("session", &payload, &B64.decode(mac).ok()?) {
            return None;
        }
        let mut parts = payload.split('|');
        let (name, sid, expires, version) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let current = self.operators.iter().find(|o| o.name == name)?;
        if expires.parse::<i64>().ok()? <= now_ms() || current.version != version {
            return None;
        }
        Some(OperatorSession {
            name: name.to_owned(),
            sid: sid.to_owned(),
            csrf: B64.encode(self.mac("csrf", sid)),
        })
    }

    pub fn csrf_ok(&self, session: &OperatorSession, presented: &str) -> bool {
        B64.decode(presented)
            .is_ok_and(|p| self.mac_matches("csrf", &session.sid, &p))
    }

    /// A fresh nonce for the login form: the cookie to set and the token for the form.
    pub fn login_form(&self) -> (Option<HeaderValue>, String) {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let cookie = self.cookie(LOGIN_COOKIE, &nonce, "/admin/login", LOGIN_FORM_TTL);
        (cookie, B64.encode(self.mac("login", &nonce)))
    }

    pub fn login_form_ok(&self, headers: &HeaderMap, presented: &str) -> bool {
        let (Some(nonce), Ok(token)) = (cookie(headers, LOGIN_COOKIE), B64.decode(presented))
        else {
            return false;
        };
        self.mac_matches("login", nonce, &token)
    }

    /// The latest a session started now can be valid until.
    pub fn session_expiry(&self) -> i64 {
        now_ms() + self.session_ttl.as_millis() as i64
    }

    /// Clears the session cookie in this browser (the store remembers the session as ended).
    pub fn end_session(&self) -> Option<HeaderValue> {
        self.cookie(SESSION_COOKIE, "", "/admin", Duration::ZERO)
    }

    fn cookie(&self, name: &str, value: &str, path: &str, ttl: Duration) -> Option<HeaderValue> {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
            ttl.as_secs()
        ))
        .ok()
    }

    /// The API caller whose token this is. Every configured token is compared, in constant
    /// time, so the answer's timing says nothing about which one came close.
    pub fn api_caller(&self, presented: &str) -> Option<ApiCaller> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for entry in &self.tokens {
            if bool::from(entry.digest.ct_eq(&digest)) {
                found = Some(ApiCaller {
                    name: entry.name.clone(),
                    role: entry.role,
                });
            }
        }
        found
    }

    /// The address failed logins are counted against: the peer, or the last entry of the
    /// configured proxy header (the one the trusted proxy itself appended).
    pub fn client_ip(&self, parts: &Parts) -> String {
        if let Some(header) = &self.client_ip_header
            && let Some(last) = parts
                .headers
                .get(header.as_str())
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        {
            return last.to_owned();
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// The value of one cookie, from every `Cookie` header of the request.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<crate::app::AppState> for OperatorSession {
    type Rejection = axum::response::Response;

    /// Pages behind the login send the browser to it: without a genuine, unexpired cookie,
    /// and for a session its operator logged out of (or when that cannot be checked).
    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::app::AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || crate::http::page::see_other("/admin/login");
        let session = state.admin.session(&parts.headers).ok_or_else(to_login)?;
        match state.store.session_ended(&session.sid).await {
            Ok(false) => Ok(session),
            Ok(true) => Err(to_login()),
            Err(e) => {
                tracing::warn!(error = %e, "could not check the console session; asking for a login");
                Err(to_login())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn auth(pairs: &[(&str, &str)]) -> Auth {
        let vars = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Auth::new(&Config::from_map(&vars).unwrap())
    }

    fn with_cookie(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(pair).unwrap());
        headers
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[tokio::test]
    async fn demo_operator_logs_in_with_its_documented_password_only() {
        let a = auth(&[]);
        assert!(a.check_password("admin", "admin").await);
        assert!(!a.check_password("admin", "wrong").await);
        assert!(!a.check_password("nobody", "admin").await);
    }

    #[test]
    fn a_session_cookie_round_trips_and_carries_a_csrf_token() {
        let a = auth(&[("ADMIN_SESSION_KEY", KEY)]);
        let headers = with_cookie(&a.start_session("admin").unwrap());
        let session = a.session(&headers).expect("valid session");
        assert_eq!(session.name, "admin");
        assert!(a.csrf_ok(&session, &session.csrf));
        assert!(!a.csrf_ok(&session, "AAAA"));
    }

    /// Replicas sharing `ADMIN_SESSION_KEY` each hash the demo password anew.
    #[test]
    fn a_demo_operator_session_is_valid_on_every_replica() {
        let one = auth(&[("ADMIN_SESSION_KEY", KEY)]);
        let two = auth(&[("ADMIN_SESSION_KEY", KEY)]);
        let headers = with_cookie(&one.start_session("admin").unwrap());
        assert!(two.session(&headers).is_some());
    }

    #[test]
    fn a_tampered_or_foreign_cookie_is_no_session() {
        let a = auth(&[("ADMIN_SESSION_KEY", KEY)]);
        let set = a.start_session("admin").unwrap();
        let value = set.to_str().unwrap().split(';').next().unwrap().to_owned();
        let forged = value.replacen("aura_admin=", "aura_admin=x", 1);
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&forged).unwrap());
        assert!(a.session(&headers).is_none());

        let other = auth(&[("ADMIN_SESSION_KEY", "another-key-another-key-another-key")]);
        assert!(other.session(&with_cookie(&set)).is_none());
    }

    #[test]
    fn an_expired_session_is_refused() {
        let mut a = auth(&[("ADMIN_SESSION_KEY", KEY)]);
        a.session_ttl = Duration::ZERO;
        let headers = with_cookie(&a.start_session("admin").unwrap());
        assert!(a.session(&headers).is_none());
    }

    #[test]
    fn cookies_are_http_only_and_lax_and_secure_over_https() {
        let a = auth(&[]);
        let set = a.start_session("admin").unwrap();
        let set = set.to_str().unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax") && !set.contains("Secure")
        );
        let b = auth(&[("PUBLIC_BASE_URL", "https://pay.example")]);
        assert!(
            b.start_session("admin")
                .unwrap()
                .to_str()
                .unwrap()
                .contains("; Secure")
        );
    }

    #[test]
    fn the_login_form_token_needs_its_cookie() {
        let a = auth(&[]);
        let (set, token) = a.login_form();
        assert!(a.login_form_ok(&with_cookie(&set.unwrap()), &token));
        assert!(!a.login_form_ok(&HeaderMap::new(), &token));
        let (other, _) = a.login_form();
        assert!(!a.login_form_ok(&with_cookie(&other.unwrap()), &token));
    }

    #[test]
    fn api_tokens_are_found_with_their_role() {
        let a = auth(&[("ADMIN_API_TOKENS", "ops:secret-one,dash:secret-two:read")]);
        let ops = a.api_caller("secret-one").unwrap();
        assert_eq!((ops.name.as_str(), ops.role), ("ops", ApiRole::Write));
        assert_eq!(a.api_caller("secret-two").unwrap().role, ApiRole::Read);
        assert!(a.api_caller("secret").is_none());
    }

    #[test]
    fn bearer_reads_the_authorization_header() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn hashed_passwords_are_accepted_as_operators() {
        let hash = hash_password("correct horse");
        let users = format!("alice:{hash},bob:{}", hash_password("x"));
        let config =
            Config::from_map(&[("ADMIN_USERS".to_string(), users)].into_iter().collect()).unwrap();
        assert_eq!(config.admin.users.len(), 2);
        assert!(!config.admin.demo_operator);
        assert_eq!(config.admin.users[0].name, "alice");
    }
}
