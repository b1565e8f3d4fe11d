//! The sandbox gateway (being written).
use super::{CheckoutRequest, CheckoutSession, CheckoutState, GatewayError, GatewaySubscription};
#[derive(Clone)]
pub struct SandboxGateway {}
impl SandboxGateway {
    pub async fn create_checkout(&self, _req: &CheckoutRequest) -> Result<CheckoutSession, GatewayError> { unimplemented!() }
    pub async fn checkout_state(&self, _session_id: &str) -> Result<CheckoutState, GatewayError> { unimplemented!() }
    pub async fn subscription(&self, _subscription_id: &str) -> Result<GatewaySubscription, GatewayError> { unimplemented!() }
}
