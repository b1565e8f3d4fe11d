//! What a fresh simulator holds: the subscription types AURA's collection lists (staging ids)
//! and a few demo customers to open the sign-up flow with.

use serde_json::{Map, Value};

use super::state::{SimType, State};

/// AURA's type list as the collection shows it (staging ids), so code resolving types by
/// `value` meets the same ids and quirks (`"4"` as a string, a misspelt `M-PESA_FAMILLY`).
pub(crate) fn subscription_types() -> Vec<SimType> {
    vec![
        kind(
            1,
            "COUPON_SINGLE",
            "Coupon-Code single subscription",
            None,
            false,
            "2019-03-05T13:06:51.235Z",
        ),
        kind(
            2,
            "API_SINGLE",
            "API single subscription",
            None,
            false,
            "2019-04-04T08:03:29.253Z",
        ),
        kind(
            3,
            "SMS_SINGLE",
            "SMS single subscription",
            None,
            false,
            "2019-07-23T12:00:51.859Z",
        ),
        kind(
            4,
            "WEB_SIGNUP_SINGLE",
            "Web-signup single subscription",
            None,
            false,
            "2019-07-30T11:15:14.237Z",
        ),
        kind(
            5,
            "WHATSAPP_SINGLE",
            "WhatsApp single subscription",
            None,
            true,
            "2020-06-29T07:53:31.538Z",
        ),
        kind(
            6,
            "CALL_CENTRE_SINGLE",
            "Call-Centre single subscription",
            None,
            false,
            "2020-12-21T11:58:08.732Z",
        ),
        kind(
            7,
            "STRIPE_SINGLE",
            "Stripe single subscription",
            None,
            true,
            "2021-03-30T09:30:08.120Z",
        ),
        kind(
            8,
            "STRIPE_FAMILY",
            "Stripe family subscription",
            Some(4),
            true,
            "2021-03-30T09:30:08.120Z",
        ),
        kind(
            11,
            "COUPON_FAMILY",
            "Coupon-Code family subscription",
            Some(4),
            false,
            "2021-04-28T06:20:57.877Z",
        ),
        kind(
            12,
            "API_FAMILY",
            "API family subscription",
            Some(4),
            false,
            "2021-04-28T06:20:57.877Z",
        ),
        kind(
            13,
            "SMS_FAMILY",
            "SMS family subscription",
            Some(4),
            false,
            "2021-04-28T06:20:57.877Z",
        ),
        kind(
            14,
            "WEB_SIGNUP_FAMILY",
            "Web-Signup family subscription",
            Some(4),
            false,
            "2021-04-28T06:20:57.877Z",
        ),
        kind(
            10,
            "WHATSAPP_FAMILY",
            "WhatsApp family subscription",
            Some(4),
            false,
            "2021-04-08T10:07:23.000Z",
        ),
        kind(
            16,
            "CALL_CENTRE_FAMILY",
            "Call-Centre family subscription",
            Some(4),
            false,
            "2021-04-28T06:20:57.877Z",
        ),
        kind(
            17,
            "TRACKER_CG_SINGLE",
            "Tracker CareGuard for Me",
            None,
            true,
            "2021-05-05T11:25:08.000Z",
        ),
        kind(
            18,
            "TRACKER_CG_DUAL",
            "Tracker CareGuard for Me + One",
            Some(1),
            true,
            "2021-05-05T11:25:37.000Z",
        ),
        kind(
            19,
            "TRACKER_CG_FAMILY",
            "Tracker CareGuard Family",
            Some(4),
            true,
            "2021-05-05T11:26:08.000Z",
        ),
        kind(
            20,
            "TRACKER_BUSINESS_MULTI",
            "Tracker Careguard Fleet Subscription",
            Some(1000),
            true,
            "2021-11-29T14:51:10.577Z",
        ),
        kind(
            21,
            "M-PESA_SINGLE",
            "M-PESA Single Subscription",
            None,
            true,
            "2022-04-05T10:18:53.948Z",
        ),
        kind(
            22,
            "M-PESA_FAMILLY",
            "M-PESA Family Subscription",
            Some(4),
            true,
            "2022-04-05T10:18:53.948Z",
        ),
        kind(
            23,
            "PAYFAST_SINGLE",
            "Payfast single Subscription",
            None,
            true,
            "2022-06-01T13:18:07.609Z",
        ),
        kind(
            24,
            "PAYFAST_FAMILY",
            "Payfast Family Subscription",
            Some(4),
            true,
            "2022-06-01T13:18:07.609Z",
        ),
        kind(
            25,
            "TFG_DUAL",
            "API dual subscription",
            Some(1),
            false,
            "2022-05-30T13:04:16.000Z",
        ),
        kind(
            26,
            "PRE_DEFINED_LOCATION",
            "Pre-Defined Location Subscription",
            None,
            false,
            "2022-06-09T10:31:07.904Z",
        ),
        kind(
            27,
            "TRACKER_CG_BUSINESS_SINGLE",
            "Tracker CareGuard Business Single Subscription",
            None,
            true,
            "2022-06-08T13:12:26.000Z",
        ),
    ]
}

const fn kind(
    id: i64,
    value: &'static str,
    description: &'static str,
    allowed_dependants: Option<u32>,
    recurring_billing: bool,
    created_at: &'static str,
) -> SimType {
    SimType {
        id,
        value,
        description,
        allowed_dependants,
        recurring_billing,
        created_at,
    }
}

pub(crate) fn demo_customers(state: &mut State) {
    for (name, surname) in [
        ("Thandi", "Nkosi"),
        ("Pieter", "van Wyk"),
        ("Lerato", "Mokoena"),
        ("Sipho", "Dlamini"),
    ] {
        add_named_customer(state, name, surname);
    }
}

/// Adds a customer whose mobile number is derived from the next id, so it is unique.
pub(crate) fn add_named_customer(state: &mut State, name: &str, surname: &str) -> i64 {
    let serial = state.customers.len() + 1;
    let mut fields = Map::new();
    fields.insert("name".into(), Value::String(name.into()));
    fields.insert("surname".into(), Value::String(surname.into()));
    fields.insert(
        "mobile".into(),
        Value::String(format!("+2782{:07}", 5_550_000 + serial)),
    );
    state.add_customer(fields)
}
