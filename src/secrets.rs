//! Secret values and their redaction.
//!
//! This module owns how secrets are *held* ([`Secret`], which never prints its value), where
//! they come from ([`SecretSource`]: the process environment in the CLI, a map or closure in
//! tests), and how they are removed from text ([`Redactor`], [`redact_url`]). Every string a
//! check produces passes through a [`Redactor`] before it leaves [`crate::checks`].

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use url::Url;

/// Query parameters whose values are treated as secrets even when no auth names them.
pub const SECRET_QUERY_PARAMS: &[&str] = &[
    "access_token",
    "api_key",
    "apikey",
    "api-key",
    "auth",
    "client_secret",
    "code",
    "key",
    "password",
    "secret",
    "sig",
    "signature",
    "token",
];

/// What replaces a secret in any output.
pub const MASK: &str = "***";

/// Basic-auth user names shorter than this are not masked (the password always is).
pub const MIN_MASKED_USER_CHARS: usize = 6;

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

/// Replaces every known secret value in a text by [`MASK`].
///
/// Besides each value verbatim it also masks the forms a value takes on the wire: percent-encoded
/// (query strings, form bodies) and, for user/password pairs, the base64 of `user:password`.
#[derive(Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

/// Only a count: the needles are the secrets themselves.
impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("needles", &self.needles.len())
            .finish()
    }
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Adds a secret value (empty values are ignored: they would match everywhere).
    pub fn add(&mut self, value: &str) {
        if value.is_empty() {
            return;
        }
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        let percent = percent_encode_all(value);
        for needle in [value.to_string(), encoded, percent] {
            if !self.needles.contains(&needle) {
                self.needles.push(needle);
            }
        }
        // Longest first, so a secret that contains another is masked whole.
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    pub fn add_secret(&mut self, secret: &Secret) {
        self.add(secret.expose());
    }

    /// Adds a basic-auth pair: the password, the base64 credentials header value, and the user
    /// name when it is long enough to be told apart from ordinary words (masking `api` or
    /// `admin` would garble every host and path that contains them).
    pub fn add_basic(&mut self, user: &str, password: &str) {
        if user.chars().count() >= MIN_MASKED_USER_CHARS {
            self.add(user);
        }
        self.add(password);
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.add(&b64);
    }

    pub fn extend(&mut self, other: &Redactor) {
        for n in &other.needles {
            if !self.needles.contains(n) {
                self.needles.push(n.clone());
            }
        }
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// At most `max_chars` characters of `text`, masked *before* it is cut, so a secret that
    /// straddles the cut cannot leave a fragment behind. Whitespace runs become one space (and
    /// the result is masked again, in case squeezing joined a secret back together).
    pub fn excerpt(&self, text: &str, max_chars: usize) -> String {
        let masked = self.redact(text);
        let squeezed = self.redact(&masked.split_whitespace().collect::<Vec<_>>().join(" "));
        match squeezed.char_indices().nth(max_chars) {
            Some((cut, _)) => format!("{}…", &squeezed[..cut]),
            None => squeezed,
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), MASK);
            }
        }
        out
    }
}

fn percent_encode_all(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
                let secret = SECRET_QUERY_PARAMS
                    .iter()
                    .any(|s| k.eq_ignore_ascii_case(s))
                    || extra_params.iter().any(|s| k.eq_ignore_ascii_case(s));
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
    fn masks_values_and_encodings() {
        let mut r = Redactor::new();
        r.add("s3cr3t/+=");
        let text = "a s3cr3t/+= b s3cr3t%2F%2B%3D c";
        assert_eq!(r.redact(text), "a *** b *** c");
    }

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
    fn excerpt_masks_before_cutting() {
        let mut r = Redactor::new();
        r.add("sk_live_ABCDEFGHIJKLMNOP");
        // The secret starts 5 characters before the cut: cutting first would leave a fragment.
        let text = format!("{}sk_live_ABCDEFGHIJKLMNOP tail", "x".repeat(15));
        let e = r.excerpt(&text, 20);
        assert!(!e.contains("sk_live"), "{e}");
        assert!(e.starts_with("xxxxxxxxxxxxxxx***"), "{e}");
        // Whitespace inside a secret survives until it is masked.
        let mut r = Redactor::new();
        r.add("two  spaces-secret");
        assert_eq!(r.excerpt("a two  spaces-secret\n b", 60), "a *** b");
    }

    #[test]
    fn short_basic_user_names_are_not_masked() {
        let mut r = Redactor::new();
        r.add_basic("api", "pw-123456");
        assert_eq!(
            r.redact("https://api.example.com/api pw-123456"),
            "https://api.example.com/api ***"
        );
        let mut r = Redactor::new();
        r.add_basic("service-user", "pw");
        assert_eq!(r.redact("service-user"), "***");
    }

    #[test]
    fn redactor_debug_shows_no_secret() {
        let mut r = Redactor::new();
        r.add("hunter2-secret");
        let d = format!("{r:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert_eq!(d, "Redactor { needles: 1 }");
    }

    #[test]
    fn secret_debug_is_masked() {
        assert_eq!(
            format!("{:?} {}", Secret::new("x1"), Secret::new("x1")),
            "Secret(***) ***"
        );
    }
}
