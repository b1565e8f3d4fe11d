//! Logging set-up. Log lines carry ids (request, signup, subscription, AURA ids), never a
//! token, a secret or a customer's personal details.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

pub const DEFAULT_FILTER: &str = "info,sqlx=warn,hyper=warn,tower_http=warn";

/// Installs the subscriber. Lines are written to standard output by a thread of their own,
/// so a request never waits on the terminal or the log collector; the thread blocks rather
/// than drop a line when it falls behind. Keep the returned guard alive until the process
/// ends: dropping it flushes what is still queued.
pub fn init(format: LogFormat) -> WorkerGuard {
    // The writer thread flushes whenever it has emptied its queue, so a burst of lines
    // leaves in one write instead of one write each.
    let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(stdout);
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(fmt::layer().compact().with_writer(writer))
            .try_init(),
    };
    // A second init (tests starting several apps) keeps the first subscriber.
    let _ = result;
    guard
}
