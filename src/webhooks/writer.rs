//! Group commit for the intake: deliveries that arrive together are made durable in one
//! transaction, and each is answered only once that transaction has committed. One commit per
//! delivery is what bounds a webhook endpoint's throughput; sharing it keeps the rule
//! "nothing is acknowledged before it is durable" without paying for it once per event.
//!
//! A few writer tasks take turns draining one queue: while one commits, the next gathers what
//! arrived meanwhile. A lone delivery is written at once; nothing waits to fill a batch.

use std::sync::Arc;

use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use tracing::error;

use crate::store::{NewEvent, Store};

/// Writers committing at the same time, and the most events one transaction takes.
const WRITERS: usize = 4;
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

/// The store could not make the event durable; the sender should deliver it again.
#[derive(Debug, thiserror::Error)]
#[error("the event could not be stored")]
pub struct NotStored;

type Reply = oneshot::Sender<Result<bool, NotStored>>;

/// Cheap to clone; the writers stop when the last clone is dropped.
#[derive(Clone)]
pub struct IntakeWriter {
    queue: mpsc::Sender<(IncomingEvent, Reply)>,
}

impl IntakeWriter {
    /// `wake` is told when a batch gave a worker something to do.
    pub fn start(store: Store, wake: Arc<Notify>) -> Self {
        let (queue, receiver) = mpsc::channel(WRITERS * MAX_BATCH);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(store.clone(), receiver.clone(), wake.clone()));
        }
        Self { queue }
    }

    /// Makes `event` durable (with the sync it calls for); true when it was new, false for a
    /// delivery of an event stored before.
    pub async fn record(&self, event: IncomingEvent) -> Result<bool, NotStored> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((event, reply))
            .await
            .map_err(|_| NotStored)?;
        answer.await.map_err(|_| NotStored)?
    }
}

type Receiver = Arc<Mutex<mpsc::Receiver<(IncomingEvent, Reply)>>>;

async fn write_batches(store: Store, receiver: Receiver, wake: Arc<Notify>) {
    while let Some(batch) = next_batch(&receiver).await {
        let events: Vec<NewEvent<'_>> = batch
            .iter()
            .map(|(e, _)| NewEvent {
                id: &e.id,
                gateway: e.gateway,
                event_type: &e.event_type,
                subscription_id: e.subscription_id.as_deref(),
                payload: &e.payload,
                outcome: e.outcome,
            })
            .collect();
        let result = store.record_events(&events).await;
        drop(events);
        match result {
            Ok((fresh, jobs_changed)) => {
                if jobs_changed {
                    wake.notify_one();
                }
                for ((_, reply), fresh) in batch.into_iter().zip(fresh) {
                    let _ = reply.send(Ok(fresh));
                }
            }
            Err(e) => {
                error!(error = %e, events = batch.len(), "webhook events could not be stored");
                for (_, reply) in batch {
                    let _ = reply.send(Err(NotStored));
                }
            }
        }
    }
}

/// Waits for one delivery, then takes whatever else is already queued, up to the batch size.
async fn next_batch(receiver: &Receiver) -> Option<Vec<(IncomingEvent, Reply)>> {
    let mut receiver = receiver.lock().await;
    let first = receiver.recv().await?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match receiver.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    Some(batch)
}
