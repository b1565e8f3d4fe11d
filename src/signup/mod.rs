//! (being written)
pub mod redirect;
