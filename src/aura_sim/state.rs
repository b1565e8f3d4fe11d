//! The simulated AURA's memory (customers, subscriptions and their links, subscription types)
//! and the rules it enforces, in the order the collection's examples imply: dates are checked
//! before an existing subscription is reported, dependants after the main member.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::refusal::Refusal;

pub(crate) struct SimType {
    pub id: i64,
    pub value: &'static str,
    pub description: &'static str,
    pub allowed_dependants: Option<u32>,
    pub recurring_billing: bool,
    pub created_at: &'static str,
}

pub(crate) struct Customer {
    pub id: i64,
    /// The profile exactly as the integrator sent it, field names included.
    pub fields: Map<String, Value>,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Customer {
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).and_then(Value::as_str).unwrap_or("")
    }
}

#[derive(Clone)]
pub(crate) struct Link {
    pub id: i64,
    pub customer_id: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone)]
pub(crate) struct Subscription {
    pub id: i64,
    pub type_id: i64,
    pub main: Link,
    pub dependants: Vec<Link>,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancelled_reason: Option<String>,
}

impl Subscription {
    pub fn is_open(&self) -> bool {
        self.cancelled_at.is_none()
    }

    pub fn covers(&self, customer_id: i64) -> bool {
        self.main.customer_id == customer_id
            || self.dependants.iter().any(|l| l.customer_id == customer_id)
    }
}

/// A subscription as tests and the app pages see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimSubscription {
    pub id: i64,
    pub subscription_type_id: i64,
    pub type_value: String,
    pub customer_id: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub dependants: Vec<i64>,
    pub cancelled: bool,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancelled_reason: Option<String>,
}

/// What a create asks for, already read from the request body.
pub(crate) struct CreateRequest {
    pub customer_id: i64,
    pub type_id: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub dependants: Option<Vec<i64>>,
}

pub(crate) struct State {
    pub types: Vec<SimType>,
    pub customers: BTreeMap<i64, Customer>,
    pub subscriptions: BTreeMap<i64, Subscription>,
    next_customer: i64,
    next_subscription: i64,
    next_link: i64,
}

impl State {
    /// Ids start where no earlier run of the simulator can have reached (ten a second since
    /// 2026 began, past the ids AURA's own examples use). The simulator forgets everything when
    /// it stops while the service's database does not: fresh ids keep a restarted demo from
    /// mistaking a new customer or subscription for one of an earlier run.
    pub fn new(types: Vec<SimType>) -> Self {
        let since_2026 = (Utc::now().timestamp() - 1_767_225_600).max(0);
        let start = since_2026 * 10;
        State {
            types,
            customers: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            next_customer: 181_076 + start,
            next_subscription: 313_241 + start,
            next_link: 202_756 + start,
        }
    }

    pub fn add_customer(&mut self, fields: Map<String, Value>) -> i64 {
        let id = self.next_customer;
        self.next_customer += 1;
        let now = Utc::now();
        let customer = Customer {
            id,
            fields,
            deleted: false,
            created_at: now,
            updated_at: now,
        };
        self.customers.insert(id, customer);
        id
    }

    /// A customer the API may act on: soft-deleted profiles are as good as gone.
    pub fn live_customer(&self, id: i64) -> Option<&Customer> {
        self.customers.get(&id).filter(|c| !c.deleted)
    }

    pub fn find_type(&self, id: i64) -> Option<&SimType> {
        self.types.iter().find(|t| t.id == id)
    }

    /// The open subscription a customer holds as main member, if any.
    pub fn open_main_subscription(&self, customer_id: i64) -> Option<&Subscription> {
        self.subscriptions
            .values()
            .find(|s| s.is_open() && s.main.customer_id == customer_id)
    }

    pub fn create_subscription(&mut self, req: CreateRequest) -> Result<i64, Refusal> {
        let limit = self
            .find_type(req.type_id)
            .ok_or(Refusal::UnknownType)?
            .allowed_dependants;
        if self.live_customer(req.customer_id).is_none() {
            return Err(match req.dependants {
                Some(_) => Refusal::MainCustomerMissing(req.customer_id),
                None => Refusal::CustomerNotFound,
            });
        }
        check_range(req.valid_from, req.valid_to, Refusal::DateRangeInPast)?;

        let dependants = dedup(req.dependants.unwrap_or_default());
        check_dependant_count(limit, dependants.len())?;
        if let Some(existing) = self.open_main_subscription(req.customer_id) {
            let subscription = super::bodies::existing_subscription(existing, self);
            return Err(Refusal::SubscriptionExists {
                customer_id: req.customer_id,
                subscription,
            });
        }
        self.check_dependants(&dependants, req.customer_id, None)?;

        Ok(self.insert_subscription(
            req.customer_id,
            req.type_id,
            req.valid_from,
            req.valid_to,
            &dependants,
        ))
    }

    pub fn insert_subscription(
        &mut self,
        customer_id: i64,
        type_id: i64,
        valid_from: DateTime<Utc>,
        valid_to: DateTime<Utc>,
        dependants: &[i64],
    ) -> i64 {
        let id = self.next_subscription;
        self.next_subscription += 1;
        let now = Utc::now();
        let main = self.new_link(customer_id);
        let dependants = dependants.iter().map(|&c| self.new_link(c)).collect();

        let subscription = Subscription {
            id,
            type_id,
            main,
            dependants,
            valid_from,
            valid_to,
            created_at: now,
            updated_at: now,
            cancelled_at: None,
            cancelled_reason: None,
        };
        self.subscriptions.insert(id, subscription);
        id
    }

    /// Sets `validTo` and/or replaces the whole dependant list; dependants left out are
    /// dropped, and every link is made anew, as AURA's answers show.
    pub fn update_subscription(
        &mut self,
        id: i64,
        valid_to: Option<DateTime<Utc>>,
        dependants: Option<Vec<i64>>,
    ) -> Result<(), Refusal> {
        let sub = self
            .subscriptions
            .get(&id)
            .ok_or(Refusal::SubscriptionUnknown)?;
        if !sub.is_open() {
            return Err(Refusal::SubscriptionCancelled);
        }
        if valid_to.is_some_and(|t| t < Utc::now()) {
            return Err(Refusal::ValidToInPast);
        }

        let (main, type_id) = (sub.main.customer_id, sub.type_id);
        let dependants = dependants.map(dedup);
        if let Some(list) = &dependants {
            let limit = self.find_type(type_id).and_then(|t| t.allowed_dependants);
            check_dependant_count(limit, list.len())?;
            self.check_dependants(list, main, Some(id))?;
        }

        let links =
            dependants.map(|list| list.iter().map(|&c| self.new_link(c)).collect::<Vec<_>>());
        let sub = self.subscriptions.get_mut(&id).expect("checked above");
        if let Some(valid_to) = valid_to {
            sub.valid_to = valid_to;
        }
        if let Some(links) = links {
            sub.dependants = links;
        }
        sub.updated_at = Utc::now();
        Ok(())
    }

    /// Cancels for good: a cancelled subscription is never reopened, and its dependants lose
    /// their cover with it.
    pub fn cancel_subscription(&mut self, id: i64, reason: Option<String>) -> Result<(), Refusal> {
        let sub = self
            .subscriptions
            .get_mut(&id)
            .ok_or(Refusal::SubscriptionUnknown)?;
        if !sub.is_open() {
            return Err(Refusal::SubscriptionCancelled);
        }
        let now = Utc::now();
        sub.cancelled_at = Some(now);
        sub.cancelled_reason = reason;
        sub.updated_at = now;
        Ok(())
    }

    /// Masks every profile field and cancels the customer's open subscription.
    pub fn soft_delete(&mut self, id: i64) -> Result<(), Refusal> {
        let customer = self
            .customers
            .get_mut(&id)
            .filter(|c| !c.deleted)
            .ok_or(Refusal::CustomerNotFound)?;
        for value in customer.fields.values_mut() {
            if value.is_string() {
                *value = Value::String("***".into());
            }
        }
        customer.deleted = true;
        customer.updated_at = Utc::now();

        if let Some(open) = self.open_main_subscription(id).map(|s| s.id) {
            self.cancel_subscription(open, Some("User deleted their profile".into()))?;
        }
        Ok(())
    }

    fn check_dependants(&self, list: &[i64], main: i64, own: Option<i64>) -> Result<(), Refusal> {
        for &dependant in list {
            if self.live_customer(dependant).is_none() {
                return Err(Refusal::DependantNotFound(dependant));
            }
            let held_elsewhere = dependant == main
                || self
                    .subscriptions
                    .values()
                    .any(|s| s.is_open() && Some(s.id) != own && s.covers(dependant));
            if held_elsewhere {
                let subscription_id = own.unwrap_or(self.next_subscription);
                return Err(Refusal::DependantTaken {
                    customer_id: dependant,
                    subscription_id,
                });
            }
        }
        Ok(())
    }

    fn new_link(&mut self, customer_id: i64) -> Link {
        let id = self.next_link;
        self.next_link += 1;
        Link {
            id,
            customer_id,
            created_at: Utc::now(),
        }
    }

    pub fn sim_subscription(&self, sub: &Subscription) -> SimSubscription {
        SimSubscription {
            id: sub.id,
            subscription_type_id: sub.type_id,
            type_value: self
                .find_type(sub.type_id)
                .map(|t| t.value.to_string())
                .unwrap_or_default(),
            customer_id: sub.main.customer_id,
            valid_from: sub.valid_from,
            valid_to: sub.valid_to,
            dependants: sub.dependants.iter().map(|l| l.customer_id).collect(),
            cancelled: !sub.is_open(),
            cancelled_at: sub.cancelled_at,
            cancelled_reason: sub.cancelled_reason.clone(),
        }
    }
}

/// AURA's two date rules: a range may not start before today (UTC) nor end in the past.
fn check_range(from: DateTime<Utc>, to: DateTime<Utc>, refusal: Refusal) -> Result<(), Refusal> {
    let now = Utc::now();
    if from.date_naive() < now.date_naive() || to < now {
        return Err(refusal);
    }
    if to < from {
        return Err(Refusal::ValidToBeforeValidFrom);
    }
    Ok(())
}

fn check_dependant_count(limit: Option<u32>, count: usize) -> Result<(), Refusal> {
    match limit {
        None if count > 0 => Err(Refusal::NoDependantsAllowed),
        Some(limit) if count > limit as usize => Err(Refusal::TooManyDependants),
        _ => Ok(()),
    }
}

fn dedup(mut ids: Vec<i64>) -> Vec<i64> {
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
    ids
}
