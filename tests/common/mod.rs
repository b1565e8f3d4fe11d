#![allow(dead_code)]

pub mod stripe_stub;
