//! Stripe webhook signature verification: the `Stripe-Signature` header checked against the
//! raw request body with every configured endpoint secret.
//!
//! The scheme: the header carries `t=<unix seconds>` and one or more `v1=<hex>` entries; each
//! `v1` is HMAC-SHA256, keyed with an endpoint secret, over `"{t}.{body}"`. Several `v1`
//! entries and several secrets exist so a secret can be rotated without dropping events.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook was refused. The messages name the problem, never a secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing or empty")]
    MissingHeader,
    #[error("the Stripe-Signature header has no timestamp (t=)")]
    MissingTimestamp,
    #[error("the Stripe-Signature timestamp is not a whole number of seconds")]
    InvalidTimestamp,
    #[error(
        "the Stripe-Signature timestamp is {skew_secs} s away from now, beyond the {tolerance_secs} s tolerance"
    )]
    OutsideTolerance { skew_secs: i64, tolerance_secs: u64 },
    #[error("the Stripe-Signature header has no v1 signature")]
    NoV1Signature,
    #[error("no webhook secret is configured")]
    NoSecret,
    #[error("no v1 signature matches any configured webhook secret")]
    NoMatch,
}

/// Checks a `Stripe-Signature` header against the body exactly as it was received.
///
/// `now` is passed in (unix seconds) so the clock is the caller's choice and tests are exact.
/// The timestamp must lie within `tolerance` on either side of `now`: an old one is a replay,
/// a future one is a clock problem or a forgery, and neither is accepted.
pub fn verify(
    header: &str,
    raw_body: &[u8],
    secrets: &[Secret],
    tolerance: Duration,
    now: i64,
) -> Result<(), SignatureError> {
    let parsed = parse_header(header)?;

    let tolerance_secs = tolerance.as_secs();
    let skew_secs = parsed.timestamp.saturating_sub(now);
    if skew_secs.unsigned_abs() > tolerance_secs {
        return Err(SignatureError::OutsideTolerance {
            skew_secs,
            tolerance_secs,
        });
    }

    let keys: Vec<&str> = secrets
        .iter()
        .map(|s| s.expose().trim())
        .filter(|s| !s.is_empty())
        .collect();
    if keys.is_empty() {
        return Err(SignatureError::NoSecret);
    }

    for key in keys {
        let expected = mac(key, parsed.timestamp_text, raw_body);
        let matched = parsed
            .v1
            .iter()
            .any(|candidate| bool::from(candidate.as_slice().ct_eq(&expected)));
        if matched {
            return Ok(());
        }
    }
    Err(SignatureError::NoMatch)
}

/// Builds a header value for `body` signed at `t`, as Stripe would send it.
/// Used by tests, the benchmark and local tooling that plays the gateway.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let t = t.to_string();
    let signature = mac(secret.trim(), &t, body);
    format!("t={t},v1={}", hex::encode(signature))
}

/// The parts of the header that matter. `timestamp_text` is kept exactly as sent because the
/// signed payload is built from the header's own digits, not from a re-formatted integer.
struct ParsedHeader<'a> {
    timestamp: i64,
    timestamp_text: &'a str,
    v1: Vec<Vec<u8>>,
}

/// Splits `t=...,v1=...,v0=...` into its parts. Unknown schemes (`v0`, future ones) are
/// ignored; a `v1` value that is not hex can never match, so it is dropped.
fn parse_header(header: &str) -> Result<ParsedHeader<'_>, SignatureError> {
    if header.trim().is_empty() {
        return Err(SignatureError::MissingHeader);
    }

    let mut timestamp_text = None;
    let mut v1_seen = false;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.split_once('=') else {
            continue;
        };
        match key.trim() {
            "t" if timestamp_text.is_none() => timestamp_text = Some(value.trim()),
            "v1" => {
                v1_seen = true;
                v1.extend(hex::decode(value.trim()).ok());
            }
            _ => {}
        }
    }

    let timestamp_text = timestamp_text.ok_or(SignatureError::MissingTimestamp)?;
    let all_digits =
        !timestamp_text.is_empty() && timestamp_text.bytes().all(|b| b.is_ascii_digit());
    let timestamp = all_digits
        .then(|| timestamp_text.parse::<i64>().ok())
        .flatten()
        .ok_or(SignatureError::InvalidTimestamp)?;
    if !v1_seen {
        return Err(SignatureError::NoV1Signature);
    }
    Ok(ParsedHeader {
        timestamp,
        timestamp_text,
        v1,
    })
}

/// HMAC-SHA256 over `"{t}.{body}"`, fed in pieces so the body is never copied or re-encoded.
fn mac(secret: &str, t: &str, body: &[u8]) -> Vec<u8> {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_primary";
    const NOW: i64 = 1_767_225_600;
    const TOLERANCE: Duration = Duration::from_secs(300);

    fn secrets(values: &[&str]) -> Vec<Secret> {
        values.iter().map(|v| Secret::new(*v)).collect()
    }

    fn check(header: &str, body: &[u8]) -> Result<(), SignatureError> {
        verify(header, body, &secrets(&[SECRET]), TOLERANCE, NOW)
    }

    const PRETTY_BODY: &[u8] =
        b"{\n  \"id\": \"evt_1\",\n  \"object\": \"event\",\n  \"type\": \"invoice.paid\"\n}\n";

    #[test]
    fn pretty_printed_body_with_valid_signature_verifies() {
        let header = sign(SECRET, NOW, PRETTY_BODY);
        assert_eq!(check(&header, PRETTY_BODY), Ok(()));
    }

    #[test]
    fn body_with_unusual_key_order_and_spacing_verifies_as_received() {
        let body = br#"{"type":"invoice.paid" ,"data":{"object":{"id":"in_1"}},"id":"evt_2"}"#;
        let header = sign(SECRET, NOW, body);
        assert_eq!(check(&header, body), Ok(()));
    }

    #[test]
    fn one_changed_byte_fails_to_verify() {
        let header = sign(SECRET, NOW, PRETTY_BODY);
        let mut tampered = PRETTY_BODY.to_vec();
        tampered[10] ^= 0x01;
        assert_eq!(check(&header, &tampered), Err(SignatureError::NoMatch));
    }

    #[test]
    fn reserialised_body_fails_to_verify() {
        let header = sign(SECRET, NOW, PRETTY_BODY);
        let value: serde_json::Value = serde_json::from_slice(PRETTY_BODY).unwrap();
        let compact = serde_json::to_vec(&value).unwrap();
        assert_eq!(check(&header, &compact), Err(SignatureError::NoMatch));
    }

    #[test]
    fn timestamp_301_seconds_old_is_refused() {
        let header = sign(SECRET, NOW - 301, PRETTY_BODY);
        let err = check(&header, PRETTY_BODY).unwrap_err();
        assert_eq!(
            err,
            SignatureError::OutsideTolerance {
                skew_secs: -301,
                tolerance_secs: 300
            }
        );
    }

    #[test]
    fn timestamp_301_seconds_in_the_future_is_refused() {
        let header = sign(SECRET, NOW + 301, PRETTY_BODY);
        let err = check(&header, PRETTY_BODY).unwrap_err();
        assert_eq!(
            err,
            SignatureError::OutsideTolerance {
                skew_secs: 301,
                tolerance_secs: 300
            }
        );
    }

    #[test]
    fn timestamp_299_seconds_old_verifies() {
        let header = sign(SECRET, NOW - 299, PRETTY_BODY);
        assert_eq!(check(&header, PRETTY_BODY), Ok(()));
    }

    #[test]
    fn non_numeric_timestamp_is_refused() {
        let good = sign(SECRET, NOW, PRETTY_BODY);
        let header = good.replacen(&format!("t={NOW}"), "t=abc", 1);
        assert_eq!(
            check(&header, PRETTY_BODY),
            Err(SignatureError::InvalidTimestamp)
        );
    }

    #[test]
    fn signed_timestamp_with_sign_or_spaces_inside_is_refused() {
        for t in ["-5", "+1767225600", "17672 25600", ""] {
            let header = format!("t={t},v1=00");
            assert_eq!(
                check(&header, PRETTY_BODY),
                Err(SignatureError::InvalidTimestamp),
                "{t:?}"
            );
        }
    }

    #[test]
    fn header_without_timestamp_is_refused() {
        let good = sign(SECRET, NOW, PRETTY_BODY);
        let header = good
            .split(',')
            .filter(|p| !p.starts_with("t="))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            check(&header, PRETTY_BODY),
            Err(SignatureError::MissingTimestamp)
        );
    }

    #[test]
    fn empty_header_is_refused() {
        assert_eq!(check("", PRETTY_BODY), Err(SignatureError::MissingHeader));
        assert_eq!(check("  ", PRETTY_BODY), Err(SignatureError::MissingHeader));
    }

    #[test]
    fn header_with_only_v0_signatures_is_refused() {
        let good = sign(SECRET, NOW, PRETTY_BODY);
        let header = good.replace("v1=", "v0=");
        assert_eq!(
            check(&header, PRETTY_BODY),
            Err(SignatureError::NoV1Signature)
        );
    }

    #[test]
    fn v0_and_garbage_entries_beside_a_good_v1_are_ignored() {
        let good = sign(SECRET, NOW, PRETTY_BODY);
        let header = format!("v0=deadbeef,{good},v1=not-hex,scheme-without-value");
        assert_eq!(check(&header, PRETTY_BODY), Ok(()));
    }

    #[test]
    fn wrong_secret_does_not_verify() {
        let header = sign("whsec_someone_else", NOW, PRETTY_BODY);
        assert_eq!(check(&header, PRETTY_BODY), Err(SignatureError::NoMatch));
    }

    #[test]
    fn secret_with_trailing_newline_verifies_after_config_trimming() {
        let vars = std::collections::HashMap::from([
            ("STRIPE_SECRET_KEY".to_owned(), "sk_test_x".to_owned()),
            ("STRIPE_WEBHOOK_SECRET".to_owned(), format!("{SECRET}\n")),
            ("STRIPE_PRICE_SINGLE".to_owned(), "price_s".to_owned()),
            ("STRIPE_PRICE_FAMILY".to_owned(), "price_f".to_owned()),
        ]);
        let config = crate::config::Config::from_map(&vars).unwrap();
        let crate::config::GatewayConfig::Stripe(stripe) = config.gateway else {
            panic!("stripe expected")
        };

        let header = sign(SECRET, NOW, PRETTY_BODY);
        assert_eq!(
            verify(
                &header,
                PRETTY_BODY,
                &stripe.webhook_secrets,
                TOLERANCE,
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn untrimmed_secret_passed_directly_still_verifies() {
        let header = sign(SECRET, NOW, PRETTY_BODY);
        let result = verify(
            &header,
            PRETTY_BODY,
            &secrets(&[&format!("{SECRET}\n")]),
            TOLERANCE,
            NOW,
        );
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn signature_made_with_the_rotated_second_secret_verifies() {
        let header = sign("whsec_test_rotated", NOW, PRETTY_BODY);
        let configured = secrets(&[SECRET, "whsec_test_rotated"]);
        assert_eq!(
            verify(&header, PRETTY_BODY, &configured, TOLERANCE, NOW),
            Ok(())
        );
    }

    #[test]
    fn header_carrying_old_and_new_signatures_verifies_with_either_secret() {
        let old = sign("whsec_old", NOW, PRETTY_BODY);
        let new = sign("whsec_new", NOW, PRETTY_BODY);
        let new_v1 = new.split(',').find(|p| p.starts_with("v1=")).unwrap();
        let header = format!("{old},{new_v1}");
        for secret in ["whsec_old", "whsec_new"] {
            assert_eq!(
                verify(&header, PRETTY_BODY, &secrets(&[secret]), TOLERANCE, NOW),
                Ok(()),
                "{secret}"
            );
        }
    }

    #[test]
    fn no_configured_secret_refuses_everything() {
        let header = sign(SECRET, NOW, PRETTY_BODY);
        assert_eq!(
            verify(&header, PRETTY_BODY, &[], TOLERANCE, NOW),
            Err(SignatureError::NoSecret)
        );
    }
}
