//! The Stripe gateway, through async-stripe (being written).

use super::{CheckoutRequest, CheckoutSession, CheckoutState, GatewayError, GatewaySubscription};

#[derive(Clone)]
pub struct StripeGateway {}

impl StripeGateway {
    pub fn new(_config: &crate::config::StripeConfig) -> anyhow::Result<Self> {
        Ok(Self {})
    }

    pub async fn create_checkout(
        &self,
        _req: &CheckoutRequest,
    ) -> Result<CheckoutSession, GatewayError> {
        Err(GatewayError::Rejected(
            "the Stripe gateway is not built yet".into(),
        ))
    }

    pub async fn checkout_state(&self, _session_id: &str) -> Result<CheckoutState, GatewayError> {
        Err(GatewayError::Rejected(
            "the Stripe gateway is not built yet".into(),
        ))
    }

    pub async fn subscription(
        &self,
        _subscription_id: &str,
    ) -> Result<GatewaySubscription, GatewayError> {
        Err(GatewayError::Rejected(
            "the Stripe gateway is not built yet".into(),
        ))
    }
}
