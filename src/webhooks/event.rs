//! Placeholder (replaced by its branch).
pub struct EventSummary {
    pub id: String,
    pub event_type: String,
    pub livemode: bool,
    pub created: i64,
    pub subscription_id: Option<String>,
    pub handled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("malformed")]
    Malformed(String),
    #[error("unreadable")]
    Unreadable(String),
}

pub fn summarise(_raw: &[u8]) -> Result<EventSummary, EventError> {
    Err(EventError::Malformed(String::new()))
}
