//! The intake's durable write: verified events that arrive together are stored, with the syncs
//! they call for, in one transaction ([`GroupCommit`]), and each delivery is answered only
//! once it has committed.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::store::{GroupCommit, NewEvent, NotStored, Store};

/// Writers committing at the same time, and the most events one transaction takes. Two
/// writers keep one gathering while the other commits; more only make smaller batches.
const WRITERS: usize = 2;
const MAX_BATCH: usize = 128;

/// A verified event, owned so it can wait in the queue.
#[derive(Debug, Clone)]
pub struct IncomingEvent {
    pub id: String,
    pub gateway: &'static str,
    pub event_type: String,
    pub subscription_id: Option<String>,
    pub payload: String,
    /// `ignored` for events recorded without effect, else `None`.
    pub outcome: Option<&'static str>,
}

/// Cheap to clone.
#[derive(Clone)]
pub struct IntakeWriter {
    commits: GroupCommit<IncomingEvent, bool>,
}

impl IntakeWriter {
    /// `wake` is told when a batch gave a worker something to do.
    pub fn start(store: Store, wake: Arc<Notify>) -> Self {
        let write = move |batch: Vec<IncomingEvent>| {
            let (store, wake) = (store.clone(), wake.clone());
            async move {
                let events: Vec<NewEvent<'_>> = batch.iter().map(IncomingEvent::borrowed).collect();
                let (fresh, jobs_changed) = store.record_events(&events).await?;
                if jobs_changed {
                    wake.notify_one();
                }
                Ok(fresh)
            }
        };
        Self {
            commits: GroupCommit::start("webhook events", WRITERS, MAX_BATCH, write),
        }
    }

    /// Makes `event` durable (with the sync it calls for); true when it was new, false for a
    /// delivery of an event stored before.
    pub async fn record(&self, event: IncomingEvent) -> Result<bool, NotStored> {
        self.commits.submit(event).await
    }
}

impl IncomingEvent {
    fn borrowed(&self) -> NewEvent<'_> {
        NewEvent {
            id: &self.id,
            gateway: self.gateway,
            event_type: &self.event_type,
            subscription_id: self.subscription_id.as_deref(),
            payload: &self.payload,
            outcome: self.outcome,
        }
    }
}
