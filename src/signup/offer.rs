//! Whether AURA offers the subscription type a plan is configured with. A plan whose type AURA
//! does not know would take a payment that no coverage can follow, so it is not sold; a
//! process that starts with such a plan says so in its log straight away.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::{
    aura::{AuraClient, AuraError},
    config::PlanConfig,
    domain::PlanKind,
};

/// How long a checkout waits for AURA's list of types before going ahead without it (AURA
/// being slow is no reason to refuse a payment: the activation is queued and retried).
const CHECKOUT_WAIT: Duration = Duration::from_secs(2);
/// How often the start-up check asks again while AURA does not answer.
const STARTUP_RETRY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    Offered,
    /// AURA answered and has no type with the configured value.
    NotOffered,
    /// AURA did not answer; nothing is known.
    Unknown(String),
}

/// The variable that names a plan's AURA subscription type.
pub fn type_variable(kind: PlanKind) -> &'static str {
    match kind {
        PlanKind::Single => "AURA_TYPE_SINGLE",
        PlanKind::Family => "AURA_TYPE_FAMILY",
    }
}

/// Looks the plan's type up (from the client's cache once it has been fetched).
pub async fn check(aura: &AuraClient, plan: &PlanConfig) -> Offer {
    match tokio::time::timeout(CHECKOUT_WAIT, aura.subscription_type(&plan.aura_type)).await {
        Ok(Ok(found)) => {
            if let Some(allowed) = found.allowed_dependants
                && plan.dependants > allowed
            {
                warn!(
                    plan = plan.kind.as_str(),
                    allowed,
                    configured = plan.dependants,
                    "PLAN_FAMILY_DEPENDANTS is more than AURA's type allows; AURA will refuse the extra dependants"
                );
            }
            Offer::Offered
        }
        Ok(Err(AuraError::UnknownSubscriptionType)) => {
            error!(
                plan = plan.kind.as_str(),
                value = plan.aura_type,
                variable = type_variable(plan.kind),
                "AURA offers no subscription type with this value; the plan is not sold until the variable names one it offers"
            );
            Offer::NotOffered
        }
        Ok(Err(e)) => Offer::Unknown(e.to_string()),
        Err(_) => Offer::Unknown("AURA did not answer in time".into()),
    }
}

/// Checks every plan once AURA answers, asking again every minute until it does.
pub async fn startup_check(aura: AuraClient, plans: Vec<PlanConfig>, stop: CancellationToken) {
    loop {
        let mut offers = Vec::new();
        for plan in &plans {
            offers.push(check(&aura, plan).await);
        }
        let unknown = offers.iter().find_map(|offer| match offer {
            Offer::Unknown(why) => Some(why.clone()),
            _ => None,
        });
        let Some(why) = unknown else {
            if offers.iter().all(|offer| *offer == Offer::Offered) {
                info!("AURA offers the configured subscription types");
            }
            return;
        };
        warn!(error = %why, "could not check the plans' AURA subscription types yet");
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(STARTUP_RETRY) => {}
        }
    }
}
