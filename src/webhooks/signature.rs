//! Placeholder (replaced by its branch).
use std::time::Duration;

use crate::config::Secret;

#[derive(Debug, thiserror::Error)]
#[error("bad signature")]
pub struct SignatureError;

pub fn verify(
    _header: &str,
    _raw_body: &[u8],
    _secrets: &[Secret],
    _tolerance: Duration,
    _now: i64,
) -> Result<(), SignatureError> {
    Err(SignatureError)
}
