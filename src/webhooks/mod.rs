//! Gateway webhook intake (being written).

pub mod event;
pub mod signature;
