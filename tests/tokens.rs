//! The app's sign-up tokens verified with a public key (ES256, RS256) or a JWKS endpoint, as
//! configured from the environment: the pinned algorithm is the only one accepted, a token
//! signed with the public key as an HMAC secret is refused, and unknown key ids cannot make
//! the service hammer the issuer.

mod support;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use aura_signup::{
    aura_sim::{SimConfig, Simulator},
    config::{Config, DEV_SIM_CLIENT_ID, DEV_SIM_CLIENT_SECRET},
    signup::token::{TokenError, TokenVerifier},
};
use axum::{Json, Router, routing::get};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, jwk::Jwk};
use serde_json::{Value, json};

const ES_PRIVATE: &str = include_str!("fixtures/jwt/es256-private.pem");
const ES_PUBLIC: &str = include_str!("fixtures/jwt/es256-public.pem");
const RS_PRIVATE: &str = include_str!("fixtures/jwt/rs256-private.pem");
const RS_PUBLIC: &str = include_str!("fixtures/jwt/rs256-public.pem");

fn verifier(vars: &[(&str, &str)]) -> TokenVerifier {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = Config::from_map(&vars).expect("the configuration is valid");
    TokenVerifier::new(config.jwt)
}

fn claims(customer: i64) -> Value {
    json!({"customerId": customer, "exp": chrono::Utc::now().timestamp() + 600})
}

fn sign(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, customer: i64) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, &claims(customer), key).unwrap()
}

fn es_key() -> EncodingKey {
    EncodingKey::from_ec_pem(ES_PRIVATE.as_bytes()).unwrap()
}

fn rs_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(RS_PRIVATE.as_bytes()).unwrap()
}

/// A PEM as a single environment line, with `\n` escapes as secret stores keep it.
fn one_line(pem: &str) -> String {
    pem.trim().replace('\n', "\\n")
}

#[tokio::test]
async fn an_es256_public_key_verifies_es256_tokens_and_nothing_else() {
    let pem = one_line(ES_PUBLIC);
    let tokens = verifier(&[("AURA_JWT_PUBLIC_KEY", &pem), ("AURA_JWT_ALG", "ES256")]);

    let good = sign(Algorithm::ES256, &es_key(), None, 4242);
    assert_eq!(tokens.verify(&good).await.unwrap().get(), 4242);

    let rsa = sign(Algorithm::RS256, &rs_key(), None, 4242);
    let confused = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(ES_PUBLIC.as_bytes()),
        None,
        4242,
    );
    for refused in [rsa, confused] {
        assert!(
            matches!(tokens.verify(&refused).await, Err(TokenError::Invalid(_))),
            "{refused}"
        );
    }
}

#[tokio::test]
async fn an_rs256_public_key_verifies_rs256_tokens_and_refuses_the_key_as_an_hmac_secret() {
    let pem = one_line(RS_PUBLIC);
    let tokens = verifier(&[("AURA_JWT_PUBLIC_KEY", &pem), ("AURA_JWT_ALG", "RS256")]);

    let good = sign(Algorithm::RS256, &rs_key(), None, 77);
    assert_eq!(tokens.verify(&good).await.unwrap().get(), 77);

    let confused = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(RS_PUBLIC.as_bytes()),
        None,
        77,
    );
    assert!(tokens.verify(&confused).await.is_err());
    let es = sign(Algorithm::ES256, &es_key(), None, 77);
    assert!(tokens.verify(&es).await.is_err());
}

#[test]
fn a_public_key_needs_its_algorithm_pinned_and_must_be_a_key() {
    for (vars, var) in [
        (vec![("AURA_JWT_PUBLIC_KEY", ES_PUBLIC)], "AURA_JWT_ALG"),
        (
            vec![
                ("AURA_JWT_PUBLIC_KEY", ES_PUBLIC),
                ("AURA_JWT_ALG", "HS256"),
            ],
            "AURA_JWT_ALG",
        ),
        (
            vec![
                ("AURA_JWT_PUBLIC_KEY", "not a key"),
                ("AURA_JWT_ALG", "ES256"),
            ],
            "AURA_JWT_PUBLIC_KEY",
        ),
        (
            vec![("AURA_JWT_JWKS_URL", "http://127.0.0.1:9/jwks")],
            "AURA_JWT_ALG",
        ),
    ] {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let err = Config::from_map(&vars).unwrap_err();
        assert_eq!(err.var, var, "{err}");
    }
}

/// A JWKS endpoint holding the ES256 test key as `kid` "k1", counting its fetches.
async fn jwks_server() -> (String, Arc<AtomicUsize>) {
    let mut jwk = Jwk::from_encoding_key(&es_key(), Algorithm::ES256).unwrap();
    jwk.common.key_id = Some("k1".into());
    let set = json!({ "keys": [jwk] });
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let app = Router::new().route(
        "/jwks",
        get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let set = set.clone();
            async move { Json(set) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fetches)
}

#[tokio::test]
async fn jwks_keys_are_found_by_kid_and_forged_kids_do_not_hammer_the_issuer() {
    let (url, fetches) = jwks_server().await;
    let tokens = verifier(&[("AURA_JWT_JWKS_URL", &url), ("AURA_JWT_ALG", "ES256")]);

    let good = sign(Algorithm::ES256, &es_key(), Some("k1"), 9);
    assert_eq!(tokens.verify(&good).await.unwrap().get(), 9);
    assert_eq!(tokens.verify(&good).await.unwrap().get(), 9);
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "the set is cached");

    for n in 0..10 {
        let forged = sign(Algorithm::ES256, &es_key(), Some(&format!("forged-{n}")), 9);
        assert!(tokens.verify(&forged).await.is_err());
    }
    let no_kid = sign(Algorithm::ES256, &es_key(), None, 9);
    assert!(tokens.verify(&no_kid).await.is_err());
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "unknown kids refetch at most once a minute"
    );
}

#[tokio::test]
async fn an_unreachable_jwks_endpoint_refuses_tokens_without_a_panic() {
    let tokens = verifier(&[
        ("AURA_JWT_JWKS_URL", "http://127.0.0.1:9/jwks"),
        ("AURA_JWT_ALG", "ES256"),
    ]);
    let token = sign(Algorithm::ES256, &es_key(), Some("k1"), 9);
    assert_eq!(
        tokens.verify(&token).await,
        Err(TokenError::KeysUnavailable)
    );
}

#[tokio::test]
async fn the_entry_accepts_a_key_signed_token_and_stores_the_signup() {
    let sim = Simulator::new(SimConfig::default())
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let pem = one_line(ES_PUBLIC);
    let aura = sim.base_url.to_string();
    let app = support::spawn_app(
        support::fresh_db(support::Backend::Sqlite).await,
        &[
            ("AURA_JWT_SECRET", ""),
            ("AURA_JWT_PUBLIC_KEY", &pem),
            ("AURA_JWT_ALG", "ES256"),
            ("AURA_API_URL", &aura),
            ("AURA_CLIENT_ID", DEV_SIM_CLIENT_ID),
            ("AURA_CLIENT_SECRET", DEV_SIM_CLIENT_SECRET),
            ("REDIRECT_ALLOWED_ORIGINS", "https://app.example"),
        ],
    )
    .await;
    let entry = |token: String| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", &token)
            .append_pair("redirectUrl", "https://app.example/done")
            .finish();
        app.http.get(app.url(&format!("/signup?{query}"))).send()
    };

    let good = entry(sign(Algorithm::ES256, &es_key(), None, 5150))
        .await
        .unwrap();
    assert_eq!(good.status(), reqwest::StatusCode::SEE_OTHER);
    let forged = entry(sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(ES_PUBLIC.as_bytes()),
        None,
        5150,
    ))
    .await
    .unwrap();
    assert_eq!(forged.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(app.store().count_signups().await.unwrap(), 1);
}
