//! Values that are checked once, at the edge, so the rest of the code never holds an
//! unchecked one: AURA customer ids, plans, signup ids.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An AURA customer id: a positive integer, parsed exactly (never through a float).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(i64);

impl CustomerId {
    pub fn new(raw: i64) -> Option<Self> {
        (raw > 0).then_some(Self(raw))
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// Reads a customer id from a JSON claim: a JSON integer or a string of ASCII digits.
    /// Floats, signs, blanks, `null` and every other shape are refused.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        match value {
            serde_json::Value::Number(n) => n.as_i64().and_then(Self::new),
            serde_json::Value::String(s) => Self::parse_digits(s),
            _ => None,
        }
    }

    pub fn parse_digits(s: &str) -> Option<Self> {
        if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().and_then(Self::new)
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What the user buys. Each plan maps to a gateway price and an AURA subscription type value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanKind {
    Single,
    Family,
}

impl PlanKind {
    pub const ALL: [PlanKind; 2] = [PlanKind::Single, PlanKind::Family];

    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::Single => "single",
            PlanKind::Family => "family",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "single" => Some(PlanKind::Single),
            "family" => Some(PlanKind::Family),
            _ => None,
        }
    }
}

impl fmt::Display for PlanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The id of one visit from the app. 128 random bits, so it can stand in a URL in place of a
/// cookie: whoever holds it is the person who arrived with a valid token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SignupId(String);

impl SignupId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Accepts only the shape `generate` makes, so a path segment cannot smuggle anything.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SignupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn customer_id_from_number_and_string_are_the_same_customer() {
        let a = CustomerId::from_json(&json!(12345678901234567_i64)).unwrap();
        let b = CustomerId::from_json(&json!("12345678901234567")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.get(), 12345678901234567);
    }

    #[test]
    fn customer_id_refuses_every_other_shape() {
        for bad in [
            json!(1.5),
            json!(null),
            json!(""),
            json!(["a"]),
            json!(-3),
            json!(0),
            json!("1e3"),
            json!(" 12"),
            json!("+12"),
            json!({}),
        ] {
            assert_eq!(CustomerId::from_json(&bad), None, "{bad}");
        }
    }

    #[test]
    fn signup_id_round_trips_and_refuses_other_shapes() {
        let id = SignupId::generate();
        assert_eq!(SignupId::parse(id.as_str()), Some(id));
        assert_eq!(SignupId::parse("../etc/passwd"), None);
        assert_eq!(SignupId::parse("ABCDEF0123456789ABCDEF0123456789"), None);
    }
}
