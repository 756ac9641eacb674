//! Secret values and their redaction.
//!
//! This module owns how secrets are *held* ([`Secret`], which never prints its value), where
//! they come from ([`SecretSource`]: the process environment in the CLI, a map or closure in
//! tests), and which URL parts are secret ([`redact_url`], [`is_secret_param`]). Finding and
//! masking secrets in text is the gate in [`crate::redact`]; every string a check produces
//! passes it before it leaves [`crate::checks`].

use std::collections::HashMap;
use std::fmt;

use url::Url;

/// Query parameters whose values are treated as secrets even when no auth names them, compared
/// case-insensitively with `-` and `_` ignored (`api-token`, `API_TOKEN` and `apitoken` are one).
pub const SECRET_QUERY_PARAMS: &[&str] = &[
    "access_token",
    "accesstoken",
    "api_key",
    "api_token",
    "api_secret",
    "apikey",
    "app_key",
    "app_secret",
    "auth",
    "auth_token",
    "authorization",
    "bearer",
    "client_secret",
    "code",
    "credential",
    "credentials",
    "id_token",
    "jwt",
    "key",
    "pass",
    "passwd",
    "password",
    "private_key",
    "private_token",
    "pwd",
    "refresh_token",
    "secret",
    "session",
    "session_id",
    "session_token",
    "sessionid",
    "sig",
    "signature",
    "token",
    "x-amz-credential",
    "x-amz-security-token",
    "x-amz-signature",
    "x-goog-credential",
    "x-goog-signature",
];

/// Whether a query parameter name holds a secret: one of [`SECRET_QUERY_PARAMS`] (case, `-`
/// and `_` ignored), or a name ending in one of the unambiguous ones (`stripe_api_key`,
/// `githubToken`, `db_password`).
pub fn is_secret_param(name: &str) -> bool {
    fn squash(s: &str) -> String {
        s.chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect()
    }
    // Squashed once: every URL of every endpoint is checked at start-up.
    static SQUASHED: once_cell::sync::Lazy<rustc_hash::FxHashSet<String>> =
        once_cell::sync::Lazy::new(|| SECRET_QUERY_PARAMS.iter().map(|p| squash(p)).collect());
    let n = squash(name);
    SQUASHED.contains(&n)
        || [
            "token",
            "secret",
            "password",
            "apikey",
            "signature",
            "passwd",
        ]
        .iter()
        .any(|suffix| n.len() > suffix.len() && n.ends_with(suffix))
}

pub use crate::redact::{Redactor, MASK, MIN_MASKED_USER_CHARS};

/// A secret value: usable by code that needs it, invisible to `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for building a request. Never format it into a message.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// Where the values of the environment variables named in `medic.toml` come from.
///
/// The CLI uses [`ProcessEnv`] (after `dotenvy` loaded `.env`); tests pass a map or a closure so
/// they never mutate the process environment.
pub trait SecretSource {
    fn get(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl SecretSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl SecretSource for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl<F: Fn(&str) -> Option<String>> SecretSource for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// A URL fit for output: userinfo masked, values of secret query parameters masked
/// (the well-known names plus `extra_params`, e.g. the parameter an endpoint's auth names).
pub fn redact_url(url: &Url, extra_params: &[&str]) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() {
        let _ = u.set_username(MASK);
    }
    if u.password().is_some() {
        let _ = u.set_password(Some(MASK));
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let secret =
                    is_secret_param(&k) || extra_params.iter().any(|s| k.eq_ignore_ascii_case(s));
                let v = if secret {
                    MASK.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
    }
    // `set_username("***")` percent-encodes nothing, but `append_pair` encodes `*`: undo it so
    // output reads `token=***`.
    u.to_string().replace("%2A%2A%2A", MASK)
}

/// Redacts a URL given as text; text that is not a URL is returned with only `redactor` applied.
pub fn redact_url_str(text: &str, redactor: &Redactor) -> String {
    match Url::parse(text) {
        Ok(u) => redactor.redact(&redact_url(&u, &[])),
        Err(_) => redactor.redact(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_userinfo_and_query() {
        let u = Url::parse("https://bob:hunter2@api.example.com/x?token=abc&page=2&k=v").unwrap();
        let s = redact_url(&u, &["k"]);
        assert!(
            !s.contains("hunter2") && !s.contains("bob") && !s.contains("abc"),
            "{s}"
        );
        assert!(
            s.contains("page=2") && s.contains("token=***") && s.contains("k=***"),
            "{s}"
        );
    }

    #[test]
    fn secret_param_names_in_any_spelling() {
        for name in [
            "private_token",
            "accessToken",
            "AUTH_TOKEN",
            "jwt",
            "api-token",
            "pass",
            "X-Amz-Signature",
            "x-amz-security-token",
            "stripe_api_key",
        ] {
            assert!(is_secret_param(name), "{name}");
        }
        for name in ["page", "limit", "q", "format", "tokens_left"] {
            assert!(!is_secret_param(name), "{name}");
        }
    }

    #[test]
    fn secret_debug_is_masked() {
        assert_eq!(
            format!("{:?} {}", Secret::new("x1"), Secret::new("x1")),
            "Secret(***) ***"
        );
    }
}
