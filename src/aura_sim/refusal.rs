//! Every refusal the simulated AURA can give, with the status and body shape the collection
//! documents for it (three shapes: `errors`, `error`, and `message` + `subscription`).

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refusal {
    BadJson(String),
    BadToken(&'static str),
    BadCredentials,
    DateRangeInPast,
    ValidFromInPast,
    ValidToInPast,
    ValidToBeforeValidFrom,
    UnknownType,
    NoDependantsAllowed,
    TooManyDependants,
    CustomerNotFound,
    MainCustomerMissing(i64),
    SubscriptionExists {
        customer_id: i64,
        subscription: Value,
    },
    DependantNotFound(i64),
    DependantTaken {
        customer_id: i64,
        subscription_id: i64,
    },
    SubscriptionUnknown,
    SubscriptionCancelled,
    CustomerExists {
        message: &'static str,
        customer: Value,
    },
    MobileRequired,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        use Refusal::*;
        match self {
            BadToken(_) => StatusCode::UNAUTHORIZED,
            CustomerNotFound | SubscriptionUnknown | SubscriptionCancelled => StatusCode::NOT_FOUND,
            SubscriptionExists { .. }
            | DependantNotFound(_)
            | DependantTaken { .. }
            | CustomerExists { .. } => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn body(self) -> Value {
        use Refusal::*;
        let errors = |text: String| json!({ "errors": text });
        match self {
            BadJson(detail) => errors(format!("Malformed JSON body: {detail}")),
            BadToken(text) => errors(text.into()),
            BadCredentials => json!({ "error": "Could not authenticate clientId" }),
            DateRangeInPast => errors("Date ranges cannot be in the past. Please enter a valid date range.".into()),
            ValidFromInPast => errors("ValidFrom date cannot be earlier than the current date".into()),
            ValidToInPast => errors("ValidTo date cannot be earlier than the current date".into()),
            ValidToBeforeValidFrom => errors("ValidTo date cannot be earlier than the ValidFrom date".into()),
            // The collection documents this one body for an unknown type and for dependants on
            // a type that takes none; it documents nothing for too many, so they share it too.
            UnknownType | NoDependantsAllowed | TooManyDependants => {
                errors("The subscriptionType does not exist for the SubscriptionTypeId in the request".into())
            }
            CustomerNotFound => errors("Customer not found.".into()),
            MainCustomerMissing(id) => errors(format!("Customer with id {id}, does not exist")),
            SubscriptionExists { customer_id, subscription } => json!({
                "message": format!("Subscription for main customer with id {customer_id} already exists"),
                "subscription": subscription,
            }),
            DependantNotFound(id) => json!({
                "message": format!("Dependant Customer with id {id} not found, please check request."),
                "subscription": null,
            }),
            DependantTaken { customer_id, subscription_id } => json!({
                "message": format!("Subscription for dependant customer with id {customer_id} does not belong to subscription {subscription_id} "),
                "subscription": null,
            }),
            SubscriptionUnknown => errors("All customers linked to the subscription are not valid, please check customers linked to the subscription ".into()),
            SubscriptionCancelled => errors("Subscription not found for this customer".into()),
            CustomerExists { message, customer } => json!({ "message": message, "customer": customer }),
            MobileRequired => errors("A valid mobile number is required".into()),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}
