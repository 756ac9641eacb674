//! Placeholders in knowledge steps: `{host}`, `{port}`, `{url}`, … stand for the endpoint a
//! step is about. A failed check fills them with that endpoint's real, masked facts, so every
//! command is ready to paste; `/diagnose` (no endpoint) shows the documented defaults, which
//! read like the example hosts the steps used before.
//!
//! Only the names in [`NAMES`] are placeholders, and never after `%` or `$`: curl's
//! `-w '%{http_code}'`, shell `${VAR}` and JSON such as `{"id": 1}` stay as written.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// Every placeholder: name, default (for `/diagnose`), what a check puts there.
pub const NAMES: &[(&str, &str, &str)] = &[
    (
        "host",
        "api.partner.com",
        "the endpoint's host name (or IP)",
    ),
    ("port", "443", "the endpoint's port"),
    (
        "url",
        "https://api.partner.com/",
        "the endpoint's URL, secrets masked",
    ),
    ("method", "GET", "the request method"),
    ("path", "/", "the URL's path"),
    (
        "endpoint",
        "payments-api",
        "the endpoint's name in medic.toml",
    ),
    (
        "auth_header",
        "Authorization: Bearer $TOKEN",
        "the auth header, with the secret's environment variable (never its value)",
    ),
    (
        "secret_env",
        "TOKEN",
        "the environment variable holding the endpoint's secret",
    ),
    (
        "retry_after",
        "the Retry-After value",
        "seconds the server asked to wait",
    ),
    (
        "cert_not_after",
        "the expiry date",
        "when the served certificate expires (RFC 3339)",
    ),
    ("status", "the status", "the HTTP status the check got"),
];

/// Values for some placeholders; the others keep their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values(BTreeMap<&'static str, String>);

impl Values {
    /// Sets `name` (one of [`NAMES`]; others are ignored).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        if let Some((known, _, _)) = NAMES.iter().find(|(n, _, _)| *n == name) {
            self.0.insert(known, value.into());
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `step` with every placeholder replaced.
    pub fn fill<'a>(&self, step: &'a str) -> Cow<'a, str> {
        fill(step, |name| self.get(name))
    }
}

/// `step` with every placeholder replaced by the defaults.
pub fn with_defaults(step: &str) -> Cow<'_, str> {
    fill(step, |_| None)
}

/// The first `{word}` in `step` that is not a placeholder but looks like a misspelled one
/// (`{hots}`), with the name it probably meant.
pub fn misspelled(step: &str) -> Option<(String, &'static str)> {
    let mut rest = step;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        let word = &after[..len];
        if after[len..].starts_with('}') && len >= 3 && NAMES.iter().all(|(n, _, _)| *n != word) {
            // `word` is no name, so the nearest within one edit is exactly one edit away.
            if let Some(n) = crate::text::nearest(word, NAMES.iter().map(|(n, _, _)| *n), 1) {
                return Some((word.to_string(), n));
            }
        }
        rest = after;
    }
    None
}

/// The placeholder names, for messages: `{host}, {port}, …`.
pub fn list() -> String {
    NAMES
        .iter()
        .map(|(n, _, _)| format!("{{{n}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The placeholder names a step uses.
pub fn used(step: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    scan(step, |name| {
        out.push(name);
        None
    });
    out
}

fn fill<'a, 'v>(step: &'a str, value: impl Fn(&str) -> Option<&'v str>) -> Cow<'a, str> {
    if !step.contains('{') {
        return Cow::Borrowed(step);
    }
    scan(step, |name| {
        Some(
            value(name)
                .map(str::to_string)
                .unwrap_or_else(|| default(name).to_string()),
        )
    })
}

fn default(name: &str) -> &'static str {
    NAMES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or("", |(_, d, _)| d)
}

/// Walks `step`, calling `replace` with each placeholder; builds the text with what it returns
/// (`None` keeps the placeholder as written).
fn scan<'a>(
    step: &'a str,
    mut replace: impl FnMut(&'static str) -> Option<String>,
) -> Cow<'a, str> {
    let mut out = String::with_capacity(step.len());
    let mut changed = false;
    let mut rest = step;
    let mut prev: Option<char> = None;
    while let Some(open) = rest.find('{') {
        let before = &rest[..open];
        let last = before.chars().last().or(prev);
        out.push_str(before);
        let after = &rest[open + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        let closes = after[name_len..].starts_with('}');
        let known = NAMES
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(n, _, _)| *n);
        match known {
            Some(known) if closes && !matches!(last, Some('%' | '$')) => {
                match replace(known) {
                    Some(v) => {
                        out.push_str(&v);
                        changed = true;
                    }
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[name_len + 1..];
                prev = Some('}');
            }
            _ => {
                out.push('{');
                rest = after;
                prev = Some('{');
            }
        }
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_known_names_and_leaves_everything_else() {
        let mut v = Values::default();
        v.set("host", "127.0.0.1");
        v.set("port", "8443");
        let step = "`openssl s_client -connect {host}:{port} -servername {host}`; `curl -w '%{http_code}' -d '{\"id\":1}' {url}` ${HOME} {id} {nothost}";
        assert_eq!(
            v.fill(step),
            "`openssl s_client -connect 127.0.0.1:8443 -servername 127.0.0.1`; `curl -w '%{http_code}' -d '{\"id\":1}' https://api.partner.com/` ${HOME} {id} {nothost}"
        );
        assert_eq!(
            with_defaults("nc -vz {host} {port}"),
            "nc -vz api.partner.com 443"
        );
        assert!(matches!(with_defaults("no braces"), Cow::Borrowed(_)));
        assert_eq!(used("{host}:{port} %{url} {x}"), ["host", "port"]);
        assert_eq!(
            misspelled("curl {ulr} {id} {http_code}"),
            Some(("ulr".into(), "url"))
        );
        assert_eq!(misspelled("curl -w '%{http_code}' {id}"), None);
        // Unicode before a brace is kept whole.
        assert_eq!(with_defaults("é{host}é{"), "éapi.partner.comé{");
    }
}
