//! Server-rendered pages and the one error shape every page handler returns: a fixed,
//! useful message for the person, the cause in the log.

use std::sync::LazyLock;

use askama::Template;
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use sha2::{Digest, Sha256};

pub const CSS: &str = include_str!("../../static/app.css");

/// The stylesheet's URL carries a hash of its content, so it can be cached forever.
pub static CSS_PATH: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(CSS.as_bytes());
    format!("/static/app-{}.css", &hex::encode(digest)[..12])
});

pub fn css_path() -> &'static str {
    CSS_PATH.as_str()
}

/// Renders a template as an HTML response with the given status.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = (status, Html(body)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side.",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessageTemplate<'a> {
    css: &'a str,
    title: &'a str,
    message: &'a str,
    back_url: Option<&'a str>,
    back_label: &'a str,
}

/// A page that tells the person what happened and, where it is safe, offers the way back.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
    pub back_url: Option<String>,
    pub back_label: &'static str,
}

impl Page {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            title,
            message: message.into(),
            back_url: None,
            back_label: "Back to the app",
        }
    }

    pub fn with_back(mut self, url: String, label: &'static str) -> Self {
        self.back_url = Some(url);
        self.back_label = label;
        self
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Link not found",
            "This sign-up link is not known. Please start again from the app.",
        )
    }

    /// For failures of ours: the cause goes to the log, the person gets a fixed text.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "We could not complete this step just now. Please try again in a moment.",
        )
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let template = MessageTemplate {
            css: css_path(),
            title: self.title,
            message: &self.message,
            back_url: self.back_url.as_deref(),
            back_label: self.back_label,
        };
        render(self.status, &template)
    }
}

impl From<sqlx::Error> for Page {
    fn from(e: sqlx::Error) -> Self {
        Page::internal(e)
    }
}

/// A 303 to `location`: after a POST, and wherever the browser must not resubmit.
pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => Page::internal("redirect location is not a valid header value").into_response(),
    }
}

/// Formats an amount the way South Africans write rand (`R1 234,50`); other currencies get
/// their code.
pub fn format_money(amount_minor: i64, currency: &str) -> String {
    let whole = amount_minor / 100;
    let cents = (amount_minor % 100).abs();
    let digits = whole.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    let sign = if amount_minor < 0 { "-" } else { "" };
    match currency {
        "ZAR" => format!("{sign}R{grouped},{cents:02}"),
        other => format!("{sign}{grouped}.{cents:02} {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rand_are_written_the_south_african_way() {
        assert_eq!(format_money(9900, "ZAR"), "R99,00");
        assert_eq!(format_money(123_456, "ZAR"), "R1\u{a0}234,56");
        assert_eq!(format_money(100_000_000, "ZAR"), "R1\u{a0}000\u{a0}000,00");
        assert_eq!(format_money(1999, "USD"), "19.99 USD");
    }
}
