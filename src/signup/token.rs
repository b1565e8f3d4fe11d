//! Verifying the app's sign-up token. The algorithm is pinned by configuration (never read
//! from the token), `exp` is required, and the customer id is parsed exactly from its claim.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::{
    config::{JwtConfig, JwtKey},
    domain::CustomerId,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the sign-up link has no token")]
    Missing,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token does not name a customer")]
    NoCustomer,
    #[error("the token's signing keys could not be fetched")]
    KeysUnavailable,
}

/// How long fetched JWKS keys are trusted, and how often an unknown `kid` may force a refetch.
const JWKS_TTL: Duration = Duration::from_secs(3600);
const JWKS_REFETCH_GAP: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct TokenVerifier {
    config: Arc<JwtConfig>,
    jwks: Arc<Mutex<JwksCache>>,
    http: reqwest::Client,
}

#[derive(Default)]
struct JwksCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

impl TokenVerifier {
    pub fn new(config: JwtConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http client builds");
        Self {
            config: Arc::new(config),
            jwks: Arc::default(),
            http,
        }
    }

    /// Verifies the token and returns the customer it was issued for.
    pub async fn verify(&self, token: &str) -> Result<CustomerId, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        if token.len() > 8192 {
            return Err(TokenError::Invalid("too long".into()));
        }
        let (key, algorithm) = self.key_for(token).await?;

        let mut validation = Validation::new(algorithm);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &validation)
            .map_err(classify)?;

        // `nbf` and `exp` of the wrong type are refused even where the library tolerates them.
        for claim in ["exp", "nbf", "iat"] {
            if data
                .claims
                .get(claim)
                .is_some_and(|v| !v.is_u64() && !v.is_i64())
            {
                return Err(TokenError::Invalid(format!("{claim} is not a number")));
            }
        }
        let claim = data
            .claims
            .get(&self.config.customer_claim)
            .ok_or(TokenError::NoCustomer)?;
        CustomerId::from_json(claim).ok_or(TokenError::NoCustomer)
    }

    async fn key_for(
        &self,
        token: &str,
    ) -> Result<(DecodingKey, jsonwebtoken::Algorithm), TokenError> {
        match &self.config.key {
            JwtKey::Hs256(secret) => Ok((
                DecodingKey::from_secret(secret.expose().as_bytes()),
                jsonwebtoken::Algorithm::HS256,
            )),
            JwtKey::Pem { algorithm, pem } => {
                let key = match algorithm {
                    jsonwebtoken::Algorithm::ES256 => DecodingKey::from_ec_pem(pem.as_bytes()),
                    _ => DecodingKey::from_rsa_pem(pem.as_bytes()),
                };
                Ok((key.map_err(|_| TokenError::KeysUnavailable)?, *algorithm))
            }
            JwtKey::Jwks { algorithm, url } => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|e| TokenError::Invalid(e.to_string()))?;
                let kid = header
                    .kid
                    .ok_or_else(|| TokenError::Invalid("no kid".into()))?;
                Ok((self.jwks_key(url, &kid).await?, *algorithm))
            }
        }
    }

    /// Finds a key by `kid`, refetching the set when it is stale, or when the `kid` is unknown
    /// and the last fetch is more than a minute old (so forged kids cannot hammer the issuer).
    async fn jwks_key(&self, url: &url::Url, kid: &str) -> Result<DecodingKey, TokenError> {
        let mut cache = self.jwks.lock().await;
        let age = cache.fetched_at.map(|t| t.elapsed());
        let stale = age.is_none_or(|a| a > JWKS_TTL);
        let may_refetch = age.is_none_or(|a| a > JWKS_REFETCH_GAP);
        if stale || (!cache.keys.contains_key(kid) && may_refetch) {
            match self.fetch_jwks(url).await {
                Ok(keys) => {
                    *cache = JwksCache {
                        keys,
                        fetched_at: Some(Instant::now()),
                    }
                }
                Err(_) if !cache.keys.is_empty() => cache.fetched_at = Some(Instant::now()),
                Err(e) => return Err(e),
            }
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| TokenError::Invalid("unknown kid".into()))
    }

    async fn fetch_jwks(&self, url: &url::Url) -> Result<HashMap<String, DecodingKey>, TokenError> {
        let set: JwkSet = async {
            self.http
                .get(url.clone())
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
        }
        .await
        .map_err(|_: reqwest::Error| TokenError::KeysUnavailable)?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect())
    }
}

fn classify(e: jsonwebtoken::errors::Error) -> TokenError {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        other => TokenError::Invalid(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    use super::*;
    use crate::config::Secret;

    const SECRET: &str = "test-secret";

    fn verifier() -> TokenVerifier {
        TokenVerifier::new(JwtConfig {
            key: JwtKey::Hs256(Secret::new(SECRET)),
            customer_claim: "customerId".into(),
            leeway: Duration::from_secs(30),
        })
    }

    fn sign(claims: Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn exp() -> i64 {
        chrono::Utc::now().timestamp() + 600
    }

    #[tokio::test]
    async fn customer_id_as_number_or_string_is_the_same_customer() {
        let a = verifier()
            .verify(&sign(
                json!({"customerId": 12345678901234567_i64, "exp": exp()}),
            ))
            .await
            .unwrap();
        let b = verifier()
            .verify(&sign(
                json!({"customerId": "12345678901234567", "exp": exp()}),
            ))
            .await
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.get(), 12345678901234567);
    }

    #[tokio::test]
    async fn customer_ids_of_other_shapes_are_refused() {
        for bad in [json!(1.5), json!(null), json!(""), json!(["a"])] {
            let err = verifier()
                .verify(&sign(json!({"customerId": bad, "exp": exp()})))
                .await
                .unwrap_err();
            assert_eq!(err, TokenError::NoCustomer, "{bad}");
        }
    }

    #[tokio::test]
    async fn missing_or_malformed_time_claims_are_refused() {
        for claims in [
            json!({"customerId": 1}),
            json!({"customerId": 1, "exp": "9999999999"}),
            json!({"customerId": 1, "exp": exp(), "nbf": "0"}),
            json!({"customerId": 1, "exp": chrono::Utc::now().timestamp() - 3600}),
        ] {
            assert!(
                verifier().verify(&sign(claims.clone())).await.is_err(),
                "{claims}"
            );
        }
    }

    #[tokio::test]
    async fn unsigned_and_tampered_tokens_are_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(json!({"customerId": 1, "exp": exp()}).to_string());
        assert!(
            verifier()
                .verify(&format!("{header}.{payload}."))
                .await
                .is_err()
        );

        let good = sign(json!({"customerId": 1, "exp": exp()}));
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let tampered = URL_SAFE_NO_PAD.encode(json!({"customerId": 2, "exp": exp()}).to_string());
        parts[1] = tampered;
        assert!(verifier().verify(&parts.join(".")).await.is_err());
    }

    /// A JWKS endpoint whose set gains the key `k2` when `rotated` is set.
    async fn rotating_jwks(rotated: Arc<std::sync::atomic::AtomicBool>) -> url::Url {
        use jsonwebtoken::jwk::Jwk;
        let key = EncodingKey::from_ec_pem(ES_PRIVATE.as_bytes()).unwrap();
        let jwk = |kid: &str| {
            let mut jwk = Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::ES256).unwrap();
            jwk.common.key_id = Some(kid.into());
            jwk
        };
        let (before, after) = (
            json!({"keys": [jwk("k1")]}),
            json!({"keys": [jwk("k1"), jwk("k2")]}),
        );
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let set = if rotated.load(std::sync::atomic::Ordering::SeqCst) {
                    after.clone()
                } else {
                    before.clone()
                };
                async move { axum::Json(set) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url::Url::parse(&url).unwrap()
    }

    const ES_PRIVATE: &str = include_str!("../../tests/fixtures/jwt/es256-private.pem");

    #[tokio::test]
    async fn a_rotated_in_key_is_fetched_once_a_minute_has_passed_since_the_last_fetch() {
        let rotated = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let url = rotating_jwks(rotated.clone()).await;
        let tokens = TokenVerifier::new(JwtConfig {
            key: JwtKey::Jwks {
                algorithm: jsonwebtoken::Algorithm::ES256,
                url,
            },
            customer_claim: "customerId".into(),
            leeway: Duration::from_secs(30),
        });
        let key = EncodingKey::from_ec_pem(ES_PRIVATE.as_bytes()).unwrap();
        let signed = |kid: &str| {
            let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
            header.kid = Some(kid.into());
            encode(&header, &json!({"customerId": 3, "exp": exp()}), &key).unwrap()
        };

        assert!(tokens.verify(&signed("k1")).await.is_ok());
        rotated.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(
            tokens.verify(&signed("k2")).await.is_err(),
            "within a minute of the last fetch"
        );
        let a_minute_ago = Instant::now() - JWKS_REFETCH_GAP - Duration::from_secs(1);
        tokens.jwks.lock().await.fetched_at = Some(a_minute_ago);
        assert_eq!(tokens.verify(&signed("k2")).await.unwrap().get(), 3);
    }

    #[tokio::test]
    async fn a_token_signed_with_another_algorithm_is_refused() {
        let token = encode(
            &Header::new(jsonwebtoken::Algorithm::HS384),
            &json!({"customerId": 1, "exp": exp()}),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert!(verifier().verify(&token).await.is_err());
    }
}
