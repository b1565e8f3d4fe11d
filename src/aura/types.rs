//! The values the service exchanges with AURA, and their JSON shapes on the wire.
//!
//! Public types are what the rest of the service works with; the `Wire*` types mirror AURA's
//! bodies (camelCase, `CancelledDate`, a string `numberOfAllowedDependents`) and stay private
//! to the client.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A subscription as AURA holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuraSubscription {
    pub id: i64,
    pub subscription_type_id: i64,
    /// AURA leaves the main member out of some answers (a family update only lists the
    /// dependant links), so it is not always known.
    pub customer_id: Option<i64>,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub cancelled: bool,
    pub dependants: Vec<i64>,
}

/// What a subscription type allows, as listed by AURA for this integrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionType {
    pub id: i64,
    pub value: String,
    pub description: String,
    /// `None` for single plans, which take no dependants at all.
    pub allowed_dependants: Option<u32>,
}

/// A request to subscribe a main member (and, for family plans, their dependants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub customer_id: i64,
    pub subscription_type_id: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub dependant_customer_ids: Vec<i64>,
}

/// A customer's profile fields as AURA names them; every field is optional because an edit
/// may send only some, and registration only requires `mobile`.
///
/// `Debug` prints no field: these are personal and medical details that must never reach a log.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerProfile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duress_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vehicle_make: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vehicle_model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vehicle_colour: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vehicle_license_plate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medical_conditions: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medications: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allergies: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medical_aid_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medical_aid_scheme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_of_kin_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_of_kin_number: Option<String>,
    /// AURA's request field is all lower case, unlike the rest.
    #[serde(rename = "bloodtype", skip_serializing_if = "Option::is_none")]
    pub blood_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_doctor_phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medical_other: Option<String>,
}

impl fmt::Debug for CustomerProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomerProfile { .. }")
    }
}

/// An edit sends the same profile object as registration, with only the fields to change.
pub type CustomerEdit = CustomerProfile;

/// The optional subscription AURA can open in the same call that registers a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialSubscription {
    pub subscription_type_id: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
}

/// A customer to register, with or without a subscription.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewCustomer {
    pub profile: CustomerProfile,
    pub subscription: Option<InitialSubscription>,
}

/// What the service keeps of a customer AURA answered with: the id and their active
/// subscriptions. The personal fields are deliberately dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuraCustomer {
    pub id: i64,
    pub subscriptions: Vec<AuraSubscription>,
}

/// AURA's timestamps: UTC, RFC 3339, always three fractional digits.
pub(crate) fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) mod millis {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_time(t))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireNewSubscription {
    pub customer_id: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependant_customer_ids: Vec<i64>,
    pub subscription_type_id: i64,
    #[serde(with = "millis")]
    pub valid_from: DateTime<Utc>,
    #[serde(with = "millis")]
    pub valid_to: DateTime<Utc>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireSubscriptionEdit<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependant_customer_ids: Option<&'a [i64]>,
    #[serde(with = "millis")]
    pub valid_to: DateTime<Utc>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireInitialSubscription {
    pub subscription_type_id: i64,
    #[serde(with = "millis")]
    pub valid_from: DateTime<Utc>,
    #[serde(with = "millis")]
    pub valid_to: DateTime<Utc>,
}

#[derive(Serialize)]
pub(crate) struct WireCustomerRequest<'a> {
    pub customer: &'a CustomerProfile,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<WireInitialSubscription>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireSubscription {
    pub id: i64,
    pub subscription_type_id: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    #[serde(rename = "CancelledDate", default)]
    pub cancelled_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub customer_id: Option<i64>,
}

impl WireSubscription {
    pub fn into_subscription(
        self,
        customer_id: Option<i64>,
        dependants: Vec<i64>,
    ) -> AuraSubscription {
        AuraSubscription {
            id: self.id,
            subscription_type_id: self.subscription_type_id,
            customer_id: self.customer_id.or(customer_id),
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            cancelled: self.cancelled_date.is_some(),
            dependants,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireLink {
    pub customer_id: i64,
    pub relationship: String,
}

/// Splits a subscription's links into its main member and its dependants.
pub(crate) fn split_links(links: &[WireLink]) -> (Option<i64>, Vec<i64>) {
    let main = links
        .iter()
        .find(|l| l.relationship == "MAIN")
        .map(|l| l.customer_id);
    let dependants = links
        .iter()
        .filter(|l| l.relationship == "DEPENDANT")
        .map(|l| l.customer_id)
        .collect();
    (main, dependants)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireCreated {
    pub subscription: WireSubscription,
    #[serde(default)]
    pub dependant_links: Vec<WireLink>,
}

/// The update answer lists the subscription as a one-element array next to its links.
#[derive(Deserialize)]
pub(crate) struct WireUpdated {
    pub subscription: Vec<WireSubscription>,
    #[serde(default)]
    pub links: Vec<WireLink>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireType {
    pub id: i64,
    pub value: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, deserialize_with = "allowed_dependants")]
    pub number_of_allowed_dependents: Option<u32>,
}

impl From<WireType> for SubscriptionType {
    fn from(w: WireType) -> Self {
        SubscriptionType {
            id: w.id,
            value: w.value,
            description: w.description,
            allowed_dependants: w.number_of_allowed_dependents,
        }
    }
}

/// AURA sends the limit as a string (`"4"`), sometimes as null; a number is accepted too.
fn allowed_dependants<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Limit {
        Text(String),
        Number(u32),
    }
    match Option::<Limit>::deserialize(d)? {
        None => Ok(None),
        Some(Limit::Number(n)) => Ok(Some(n)),
        Some(Limit::Text(s)) => s.trim().parse().map(Some).map_err(serde::de::Error::custom),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireTypes {
    pub subscription_types: Vec<WireType>,
}

#[derive(Deserialize)]
pub(crate) struct WireCustomerEnvelope {
    pub customer: WireCustomer,
}

#[derive(Deserialize)]
pub(crate) struct WireCustomer {
    pub id: i64,
    #[serde(default)]
    pub subscriptions: Vec<WireSubscription>,
}

impl From<WireCustomer> for AuraCustomer {
    fn from(w: WireCustomer) -> Self {
        let id = w.id;
        AuraCustomer {
            id,
            subscriptions: w
                .subscriptions
                .into_iter()
                .map(|s| s.into_subscription(Some(id), Vec::new()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_sent_with_milliseconds_and_z() {
        let t = DateTime::parse_from_rfc3339("2024-03-19T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(format_time(&t), "2024-03-19T00:00:00.000Z");
    }

    #[test]
    fn allowed_dependants_reads_string_number_and_null() {
        let parse = |v: &str| {
            let json = format!(r#"{{"id":1,"value":"X","numberOfAllowedDependents":{v}}}"#);
            serde_json::from_str::<WireType>(&json)
                .unwrap()
                .number_of_allowed_dependents
        };
        assert_eq!(parse(r#""4""#), Some(4));
        assert_eq!(parse("1000"), Some(1000));
        assert_eq!(parse("null"), None);
    }

    #[test]
    fn profile_debug_shows_no_personal_detail() {
        let p = CustomerProfile {
            mobile: Some("+27821231232".into()),
            ..Default::default()
        };
        assert!(!format!("{p:?}").contains("2782"));
    }
}
