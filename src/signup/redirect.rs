//! The app's `redirectUrl`: checked against the allow-list once, at the edge, and carried as
//! an [`AllowedRedirect`] afterwards, so nothing can send a user to an unchecked address.

use url::Url;

/// Turns an allow-list entry into its canonical form: `scheme://host[:port]` for web origins
/// (default ports dropped), `scheme:` for an app's custom scheme.
pub fn normalise_allowed(entry: &str) -> Result<String, String> {
    if let Some(scheme) = entry
        .strip_suffix("://")
        .or_else(|| entry.strip_suffix(':'))
        && is_custom_scheme(scheme)
    {
        return Ok(format!("{}:", scheme.to_ascii_lowercase()));
    }
    let url = Url::parse(entry).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("expected scheme://host[:port] or a custom scheme such as myapp:".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user information".into());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be an origin only (no path, query or fragment)".into());
    }
    Ok(url.origin().ascii_serialization())
}

fn is_custom_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !matches!(
            scheme.to_ascii_lowercase().as_str(),
            "http" | "https" | "javascript" | "data" | "file" | "vbscript"
        )
}

/// A redirect URL that matched the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedRedirect(Url);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    #[error("the redirect URL is missing")]
    Missing,
    #[error("the redirect URL is given more than once")]
    Repeated,
    #[error("the redirect URL is not a valid absolute URL")]
    Malformed,
    #[error("the redirect URL is not one this service may return to")]
    NotAllowed,
}

impl AllowedRedirect {
    /// Checks a raw `redirectUrl` against the canonical allow-list.
    ///
    /// The raw text is checked before parsing because the URL parser forgives things a browser
    /// would also forgive (leading tabs, backslashes, full-width dots in hosts) and an attacker
    /// relies on exactly that.
    pub fn check(raw: &str, allowed: &[String]) -> Result<Self, RedirectError> {
        if raw.is_empty() {
            return Err(RedirectError::Missing);
        }
        if raw.len() > 2048 || !raw.bytes().all(|b| b.is_ascii_graphic()) || raw.contains('\\') {
            return Err(RedirectError::Malformed);
        }
        let url = Url::parse(raw).map_err(|_| RedirectError::Malformed)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectError::NotAllowed);
        }

        let key = match url.scheme() {
            "http" | "https" => {
                let lower = raw.to_ascii_lowercase();
                if !lower.starts_with("http://") && !lower.starts_with("https://") {
                    return Err(RedirectError::Malformed);
                }
                url.origin().ascii_serialization()
            }
            scheme if is_custom_scheme(scheme) => format!("{scheme}:"),
            _ => return Err(RedirectError::NotAllowed),
        };
        if allowed.contains(&key) {
            Ok(Self(url))
        } else {
            Err(RedirectError::NotAllowed)
        }
    }

    /// Trusts a URL that was checked before it was stored.
    pub fn from_stored(raw: &str) -> Option<Self> {
        Url::parse(raw).ok().map(Self)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The URL with exactly one `success` parameter carrying the real outcome. Everything else
    /// the app put in it (path, other parameters as written, fragment) comes back unchanged.
    pub fn with_outcome(&self, success: bool) -> String {
        let mut url = self.0.clone();
        let mut query: Vec<&str> = self
            .0
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty() && !names_success(pair))
            .collect();
        query.push(if success {
            "success=true"
        } else {
            "success=false"
        });
        url.set_query(Some(&query.join("&")));
        url.into()
    }
}

/// Whether one `name=value` pair of a query is a `success` parameter, however it is encoded.
fn names_success(pair: &str) -> bool {
    url::form_urlencoded::parse(pair.as_bytes())
        .next()
        .is_some_and(|(name, _)| name == "success")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        ["https://app.example", "myapp:"]
            .iter()
            .map(|e| normalise_allowed(e).unwrap())
            .collect()
    }

    #[test]
    fn open_redirect_tricks_are_refused() {
        for raw in [
            "//evil.example",
            "/\\evil.example",
            "https:evil.example",
            "https://app.example@evil.example",
            "https://app.example.evil.example",
            "https://app\u{ff0e}example",
            "\thttps://app.example",
            "https://app.example:8443",
            "http://app.example",
            "javascript:alert(1)",
            "https://app.example\\@evil.example",
            " https://app.example",
            "",
        ] {
            assert!(
                AllowedRedirect::check(raw, &allowed()).is_err(),
                "{raw:?} was allowed"
            );
        }
    }

    #[test]
    fn allowed_origins_and_custom_schemes_pass() {
        for raw in [
            "https://app.example",
            "https://APP.example:443/done?x=1#tab",
            "myapp://callback?x=1",
        ] {
            assert!(
                AllowedRedirect::check(raw, &allowed()).is_ok(),
                "{raw:?} was refused"
            );
        }
    }

    #[test]
    fn success_is_appended_keeping_query_and_fragment() {
        let r = AllowedRedirect::check("https://app.example/done?x=1#tab", &allowed()).unwrap();
        assert_eq!(
            r.with_outcome(true),
            "https://app.example/done?x=1&success=true#tab"
        );
    }

    #[test]
    fn an_existing_success_is_replaced_by_the_real_outcome() {
        let r = AllowedRedirect::check("https://app.example/done?success=true&y=2", &allowed())
            .unwrap();
        assert_eq!(
            r.with_outcome(false),
            "https://app.example/done?y=2&success=false"
        );
    }

    #[test]
    fn the_apps_own_url_comes_back_as_written() {
        for (raw, back) in [
            ("myapp://done?x=1", "myapp://done?x=1&success=true"),
            ("myapp://done", "myapp://done?success=true"),
            ("myapp:done", "myapp:done?success=true"),
            (
                "https://app.example/done?flag&q=a%20b+c&succ%65ss=false#t",
                "https://app.example/done?flag&q=a%20b+c&success=true#t",
            ),
        ] {
            let r = AllowedRedirect::check(raw, &allowed()).unwrap();
            assert_eq!(r.with_outcome(true), back, "from {raw}");
        }
    }

    #[test]
    fn allow_list_entries_must_be_origins() {
        assert_eq!(
            normalise_allowed("https://App.Example:443").unwrap(),
            "https://app.example"
        );
        assert_eq!(
            normalise_allowed("http://127.0.0.1:8081").unwrap(),
            "http://127.0.0.1:8081"
        );
        assert!(normalise_allowed("https://app.example/path").is_err());
        assert!(normalise_allowed("https://u:p@app.example").is_err());
    }
}
