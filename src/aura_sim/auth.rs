//! Server tokens: issued for the configured client id and secret, signed with a key the
//! simulator can replace to make AURA refuse every token it issued before.

use axum::http::{HeaderMap, header::AUTHORIZATION};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use super::{Simulator, lock, refusal::Refusal};

/// The lifetime AURA advertises for its tokens, in seconds.
pub(crate) const EXPIRES_IN: i64 = 2_147_483_647;

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
}

pub(crate) fn new_key() -> Vec<u8> {
    rand::random::<[u8; 32]>().to_vec()
}

impl Simulator {
    pub(crate) fn issue_token(
        &self,
        client_id: &str,
        client_secret: &str,
    ) -> Result<String, Refusal> {
        let cfg = &self.shared.cfg;
        if client_id != cfg.client_id || client_secret != cfg.client_secret {
            return Err(Refusal::BadCredentials);
        }
        let claims = Claims {
            sub: client_id.into(),
            exp: chrono::Utc::now().timestamp() + EXPIRES_IN,
        };
        let key = EncodingKey::from_secret(&lock(&self.shared.token_key));
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
            .map_err(|e| Refusal::BadJson(format!("token could not be signed: {e}")))
    }

    /// Checks the bearer token; a missing one is refused like a forged one, as AURA does.
    pub(crate) fn authorize(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let token = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(Refusal::BadToken("invalid signature"))?;

        let key = DecodingKey::from_secret(&lock(&self.shared.token_key));
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        match jsonwebtoken::decode::<Claims>(token.trim(), &key, &validation) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
                Err(Refusal::BadToken("invalid signature"))
            }
            Err(_) => Err(Refusal::BadToken("Malformed Json Web Token")),
        }
    }
}
