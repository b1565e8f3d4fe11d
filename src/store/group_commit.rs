//! Group commit: rows that callers want stored at the same moment are written in one
//! transaction, and each caller is answered only once that transaction has committed. One
//! commit per request is what bounds an endpoint that must not answer before its write is
//! durable; sharing the commit keeps that rule without paying for it once per request.
//!
//! A few writer tasks take turns draining one queue: while one commits, the next gathers what
//! arrived meanwhile. A lone request is written at once; nothing waits to fill a batch.

use std::{future::Future, sync::Arc};

use tokio::sync::{Mutex, mpsc, oneshot};
use tracing::{error, warn};

/// The batch could not be made durable; the caller should answer with a retryable error.
#[derive(Debug, thiserror::Error)]
#[error("not stored")]
pub struct NotStored;

type Reply<R> = oneshot::Sender<Result<R, NotStored>>;
type Receiver<T, R> = Arc<Mutex<mpsc::Receiver<(T, Reply<R>)>>>;

/// Cheap to clone; the writers stop when the last clone is dropped.
pub struct GroupCommit<T, R> {
    queue: mpsc::Sender<(T, Reply<R>)>,
}

impl<T, R> Clone for GroupCommit<T, R> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Clone + Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// `write` stores one batch in one transaction and returns one result per item, in order.
    /// A batch that fails is written again item by item, so one item the database refuses
    /// fails only its own caller.
    pub fn start<F, Fut>(name: &'static str, writers: usize, max_batch: usize, write: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<R>, sqlx::Error>> + Send + 'static,
    {
        let (queue, receiver) = mpsc::channel(writers * max_batch);
        let receiver: Receiver<T, R> = Arc::new(Mutex::new(receiver));
        for _ in 0..writers {
            let (receiver, write) = (receiver.clone(), write.clone());
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&receiver, max_batch).await {
                    let (items, replies): (Vec<T>, Vec<Reply<R>>) = batch.into_iter().unzip();
                    let count = items.len();
                    let spare = (count > 1).then(|| items.clone());
                    let result = write(items).await;
                    // Only a refusal by the database may be about one item; a database that
                    // does not answer fails the lot, with no round trip per item.
                    let refused = matches!(&result, Err(sqlx::Error::Database(_)));
                    match (result, spare.filter(|_| refused)) {
                        (Ok(results), _) => {
                            for (reply, result) in replies.into_iter().zip(results) {
                                let _ = reply.send(Ok(result));
                            }
                        }
                        (Err(e), Some(items)) => {
                            warn!(error = %e, rows = count, what = name, "a batch could not be stored; storing it item by item");
                            for (item, reply) in items.into_iter().zip(replies) {
                                let _ = reply.send(write_one(&write, item, name).await);
                            }
                        }
                        (Err(e), None) => {
                            error!(error = %e, what = name, "an item could not be stored");
                            for reply in replies {
                                let _ = reply.send(Err(NotStored));
                            }
                        }
                    }
                }
            });
        }
        Self { queue }
    }

    /// Stores `item` with whatever else is being stored at the moment; returns its result
    /// once the transaction holding it has committed.
    pub async fn submit(&self, item: T) -> Result<R, NotStored> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((item, reply))
            .await
            .map_err(|_| NotStored)?;
        answer.await.map_err(|_| NotStored)?
    }
}

async fn write_one<T, R, F, Fut>(write: &F, item: T, name: &'static str) -> Result<R, NotStored>
where
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = Result<Vec<R>, sqlx::Error>>,
{
    match write(vec![item]).await {
        Ok(mut results) => results.pop().ok_or(NotStored),
        Err(e) => {
            error!(error = %e, what = name, "an item could not be stored");
            Err(NotStored)
        }
    }
}

/// Waits for one item, then takes whatever else is already queued, up to `max`.
async fn next_batch<T, R>(receiver: &Receiver<T, R>, max: usize) -> Option<Vec<(T, Reply<R>)>> {
    let mut receiver = receiver.lock().await;
    let first = receiver.recv().await?;
    let mut batch = vec![first];
    while batch.len() < max {
        match receiver.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_items_share_batches_and_each_gets_its_own_result() {
        let batches = Arc::new(AtomicUsize::new(0));
        let counted = batches.clone();
        let doubler = GroupCommit::start("test", 1, 8, move |items: Vec<u32>| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok(items.into_iter().map(|n| n * 2).collect())
            }
        });
        let answers = futures::future::join_all((0..20).map(|n| doubler.submit(n))).await;
        let answers: Vec<u32> = answers.into_iter().map(Result::unwrap).collect();
        assert_eq!(answers, (0..20).map(|n| n * 2).collect::<Vec<_>>());
        let batches = batches.load(Ordering::SeqCst);
        assert!(
            (3..20).contains(&batches),
            "{batches} batches for 20 items of at most 8"
        );
    }

    /// What Postgres says of a value it will not store.
    #[derive(Debug, thiserror::Error)]
    #[error("invalid byte sequence for encoding \"UTF8\": 0x00")]
    struct Refused;

    impl sqlx::error::DatabaseError for Refused {
        fn message(&self) -> &str {
            "invalid byte sequence for encoding \"UTF8\": 0x00"
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    #[tokio::test]
    async fn a_database_that_fails_fails_every_item() {
        let failing = GroupCommit::start("test", 1, 8, |_: Vec<u32>| async {
            Err::<Vec<u32>, _>(sqlx::Error::PoolClosed)
        });
        let answers = futures::future::join_all((0..5).map(|n| failing.submit(n))).await;
        assert!(answers.iter().all(Result::is_err));
    }

    /// One item the database refuses (a NUL byte Postgres will not store, say) fails alone;
    /// the others that shared its batch are stored.
    #[tokio::test]
    async fn an_item_the_database_refuses_fails_only_its_own_caller() {
        let picky = GroupCommit::start("test", 1, 8, |items: Vec<u32>| async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            if items.contains(&13) {
                return Err(sqlx::Error::Database(Box::new(Refused)));
            }
            Ok(items)
        });
        let answers = futures::future::join_all((10..20).map(|n| picky.submit(n))).await;
        for (n, answer) in (10..20).zip(answers) {
            assert_eq!(answer.is_ok(), n != 13, "item {n}");
        }
    }
}
