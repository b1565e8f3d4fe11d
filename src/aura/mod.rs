//! The one client for AURA's API: server token handling, timeouts, retries and the typed
//! reading of AURA's answers and refusals. Nothing else in the service talks to AURA.

mod client;
mod error;
mod transport;
mod types;

pub use client::{AuraCallRecord, AuraClient, AuraClientOptions, CallRecorder};
pub use error::AuraError;
pub use types::{
    AuraCustomer, AuraSubscription, CustomerEdit, CustomerProfile, InitialSubscription,
    NewCustomer, NewSubscription, SubscriptionType,
};
