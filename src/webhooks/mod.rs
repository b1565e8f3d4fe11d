//! Gateway webhook intake: verify the signature on the raw body, make the event durable
//! together with the sync job it calls for, and only then answer 2xx.

pub mod event;
pub mod intake;
pub mod signature;
pub mod writer;
