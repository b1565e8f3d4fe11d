//! The sign-up flow: the app's redirect in, a verified customer and an allowed return URL,
//! a plan, the gateway's checkout, the activation, and the way back with `success`.
//! State travels in the URL (an unguessable signup id) and the database, never in cookies:
//! webviews drop them on the way back from the payment page.

pub mod handlers;
pub mod offer;
pub mod redirect;
pub mod token;
