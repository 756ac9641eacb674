//! The redaction gate: the one place that decides whether a text may leave medic.
//!
//! A [`Redactor`] knows the secrets of an endpoint (its auth values, the base64 of a basic
//! pair, secret query values, an issued OAuth token) plus the process-wide ones registered with
//! [`remember`] (`DISCORD_TOKEN`). [`Redactor::redact`] is the gate every server-supplied or
//! error string passes before it is shown, logged or stored. It
//!
//! 1. drops control characters and neutralises bidi overrides ([`crate::text::printable`]);
//! 2. looks for every secret in every decoded layer of the text (percent-encoding in any case,
//!    partial or with `+` for space; JSON/C escapes; HTML entities; up to three rounds), compared
//!    ASCII-case-insensitively, and in the decoded form of every base64/base64url run;
//! 3. counts any run of [`MIN_FRAGMENT`] or more characters of a secret as the secret (a cut-off
//!    echo), and a secret shorter than that when it appears whole;
//! 4. replaces each original span that decodes to a secret by [`MASK`] (a whole base64 run when
//!    its decoding holds one), then checks the result again: text that still holds a secret is
//!    withheld whole as [`WITHHELD`].

mod view;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rustc_hash::FxHashMap;

use base64::Engine;

use view::{fold, View};

/// What replaces a secret in any output.
pub const MASK: &str = "***";

/// What replaces a whole text that masking could not make safe.
pub const WITHHELD: &str = "[withheld: it contained a credential]";

/// This many characters of a secret, anywhere in a text, count as the secret.
pub const MIN_FRAGMENT: usize = 8;

/// Basic-auth user names shorter than this are not masked (the password always is).
pub const MIN_MASKED_USER_CHARS: usize = 6;

/// Base64 runs shorter than this are not decoded: too short to hold a secret worth masking
/// (the base64 of `ab:cdef` is already 12 characters).
const MIN_BASE64_RUN: usize = 8;

/// How deep base64 is followed: the decoding of a run is searched in all its layers, but not
/// for base64 again (nobody double-base64s a credential by accident, and each level costs).
const MAX_BASE64_DEPTH: usize = 1;

/// Secrets every gate knows, whatever endpoint it was built for (the Discord bot token).
static PROCESS_SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());
/// Bumped whenever [`PROCESS_SECRETS`] grows, so cached indexes know they are stale.
static PROCESS_GENERATION: AtomicUsize = AtomicUsize::new(0);

/// Makes every [`Redactor`] of this process mask `value` too.
pub fn remember(value: &str) {
    if value.is_empty() {
        return;
    }
    let mut all = PROCESS_SECRETS.write().unwrap_or_else(|p| p.into_inner());
    if !all.iter().any(|v| v == value) {
        all.push(value.to_string());
        PROCESS_GENERATION.fetch_add(1, Ordering::SeqCst);
    }
}

/// A gate that knows only the process-wide secrets: for errors and logs that belong to no
/// endpoint.
pub fn process() -> Redactor {
    Redactor::new()
}

/// Finds and masks secrets in text; see the module documentation for what it catches.
#[derive(Default)]
pub struct Redactor {
    secrets: Vec<String>,
    /// The index of `secrets` plus the process secrets, built on first use and rebuilt when
    /// either changes (tagged with the process generation it saw).
    index: Mutex<Option<(usize, Arc<Needles>)>>,
}

impl Clone for Redactor {
    fn clone(&self) -> Redactor {
        Redactor {
            secrets: self.secrets.clone(),
            index: Mutex::new(None),
        }
    }
}

/// Only a count: the values are the secrets themselves.
impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Adds a secret value (empty values are ignored: they would match everywhere).
    pub fn add(&mut self, value: &str) {
        if !value.is_empty() && !self.secrets.iter().any(|s| s == value) {
            self.secrets.push(value.to_string());
            *self.index.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }

    pub fn add_secret(&mut self, secret: &crate::secrets::Secret) {
        self.add(secret.expose());
    }

    /// Adds a basic-auth pair: the password, `user:password` (whose base64 is the header), and
    /// the user name when it is long enough to be told apart from ordinary words (masking
    /// `api` or `admin` would garble every host and path that contains them).
    pub fn add_basic(&mut self, user: &str, password: &str) {
        if user.chars().count() >= MIN_MASKED_USER_CHARS {
            self.add(user);
        }
        self.add(password);
        let pair = format!("{user}:{password}");
        self.add(&base64::engine::general_purpose::STANDARD.encode(&pair));
        self.add(&pair);
    }

    pub fn extend(&mut self, other: &Redactor) {
        for s in &other.secrets {
            self.add(s);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The gate: `text` without control characters, every secret in any form masked; or
    /// [`WITHHELD`] when masking could not make it safe.
    pub fn redact(&self, text: &str) -> String {
        let needles = self.needles();
        let mut out = crate::text::printable(text).into_owned();
        // Masking can join what surrounded a secret into a new match: mask until nothing is
        // left, a bounded number of times.
        for _ in 0..3 {
            let spans = needles.spans(&out, 0);
            if spans.is_empty() {
                return out;
            }
            out = mask(&out, &spans);
        }
        if needles.spans(&out, 0).is_empty() {
            out
        } else {
            WITHHELD.to_string()
        }
    }

    /// Whether `text` holds any secret in any form the gate knows.
    pub fn finds_secret_in(&self, text: &str) -> bool {
        !self.needles().spans(text, 0).is_empty()
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

    fn needles(&self) -> Arc<Needles> {
        let generation = PROCESS_GENERATION.load(Ordering::SeqCst);
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        match &*index {
            Some((g, n)) if *g == generation => n.clone(),
            _ => {
                let process = PROCESS_SECRETS.read().unwrap_or_else(|p| p.into_inner());
                let n = Arc::new(Needles::new(self.secrets.iter().chain(process.iter())));
                *index = Some((generation, n.clone()));
                n
            }
        }
    }
}

/// The secrets in comparison form, indexed by their [`MIN_FRAGMENT`]-grams.
struct Needles {
    /// Folded secrets shorter than a fragment: matched whole.
    short: Vec<Vec<u8>>,
    long: Vec<Vec<u8>>,
    grams: FxHashMap<u64, Vec<(usize, usize)>>,
    /// Which bytes start a gram: most positions of a text are rejected without hashing.
    starts: [bool; 256],
}

impl Needles {
    fn new<'a>(secrets: impl Iterator<Item = &'a String>) -> Needles {
        let mut n = Needles {
            short: Vec::new(),
            long: Vec::new(),
            grams: FxHashMap::default(),
            starts: [false; 256],
        };
        for s in secrets {
            let folded: Vec<u8> = s.bytes().map(fold).collect();
            if folded.len() < MIN_FRAGMENT {
                n.short.push(folded);
                continue;
            }
            let idx = n.long.len();
            for (off, w) in folded.windows(MIN_FRAGMENT).enumerate() {
                n.grams.entry(gram(w)).or_default().push((idx, off));
                n.starts[usize::from(w[0])] = true;
            }
            n.long.push(folded);
        }
        n
    }

    fn is_empty(&self) -> bool {
        self.short.is_empty() && self.long.is_empty()
    }

    /// Original byte ranges of `text` that hold a secret, in any layer.
    fn spans(&self, text: &str, depth: usize) -> Vec<(usize, usize)> {
        if self.is_empty() || text.is_empty() {
            return Vec::new();
        }
        let mut found = Vec::new();
        for layer in View::layers(text) {
            let folded: Vec<u8> = layer.bytes.iter().map(|b| fold(*b)).collect();
            for (from, to) in self.matches(&folded) {
                found.push(layer.original(from, to));
            }
            if depth < MAX_BASE64_DEPTH {
                for (from, to) in base64_runs(&layer.bytes) {
                    if self.base64_holds_secret(&layer.bytes[from..to], depth) {
                        found.push(layer.original(from, to));
                    }
                }
            }
        }
        found
    }

    /// Ranges of `hay` (folded) that are a secret or a long enough piece of one.
    fn matches(&self, hay: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for s in &self.short {
            let mut p = 0;
            while p + s.len() <= hay.len() {
                if hay[p..].starts_with(s) {
                    out.push((p, p + s.len()));
                    p += s.len();
                } else {
                    p += 1;
                }
            }
        }
        if self.long.is_empty() || hay.len() < MIN_FRAGMENT {
            return out;
        }
        // Positions already inside a found match need no second look from the same secret.
        let mut reach = 0;
        for p in 0..=hay.len() - MIN_FRAGMENT {
            if !self.starts[usize::from(hay[p])] {
                continue;
            }
            let Some(hits) = self.grams.get(&gram(&hay[p..p + MIN_FRAGMENT])) else {
                continue;
            };
            for &(idx, off) in hits {
                let s = &self.long[idx];
                let mut k = MIN_FRAGMENT;
                while p + k < hay.len() && off + k < s.len() && hay[p + k] == s[off + k] {
                    k += 1;
                }
                if p + k > reach {
                    reach = p + k;
                    out.push((p, p + k));
                }
            }
        }
        out
    }

    /// Whether some decoding of a base64 run (any of the four alignments, either alphabet)
    /// holds a secret.
    fn base64_holds_secret(&self, run: &[u8], depth: usize) -> bool {
        (0..4).any(|skip| {
            run.len() >= skip + MIN_BASE64_RUN && {
                let decoded = decode_base64(&run[skip..]);
                // An ordinary word decodes to noise; the base64 of a credential (or of
                // `user:password`) to mostly printable text. Only that is searched.
                let printable = decoded
                    .iter()
                    .filter(|b| b.is_ascii_graphic() || **b == b' ')
                    .count();
                printable * 4 >= decoded.len() * 3 && {
                    let text = String::from_utf8_lossy(&decoded);
                    !self.spans(&text, depth + 1).is_empty()
                }
            }
        })
    }
}

/// A [`MIN_FRAGMENT`]-byte window as one integer key.
fn gram(w: &[u8]) -> u64 {
    let mut b = [0u8; MIN_FRAGMENT];
    b.copy_from_slice(&w[..MIN_FRAGMENT]);
    u64::from_le_bytes(b)
}

/// Maximal runs of base64/base64url characters (with trailing `=`), at least
/// [`MIN_BASE64_RUN`] long.
fn base64_runs(b: &[u8]) -> Vec<(usize, usize)> {
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_');
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !is_b64(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_b64(b[i]) {
            i += 1;
        }
        let body_end = i;
        while i < b.len() && b[i] == b'=' {
            i += 1;
        }
        if body_end - start >= MIN_BASE64_RUN {
            out.push((start, i));
        }
    }
    out
}

/// Lenient base64 of either alphabet: padding ignored, a trailing partial group dropped.
fn decode_base64(run: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(run.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in run {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// `text` with the given byte ranges (widened to character boundaries, merged) replaced by
/// [`MASK`].
fn mask(text: &str, spans: &[(usize, usize)]) -> String {
    let mut spans: Vec<(usize, usize)> = spans
        .iter()
        .map(|&(mut a, mut b)| {
            while !text.is_char_boundary(a) {
                a -= 1;
            }
            while b < text.len() && !text.is_char_boundary(b) {
                b += 1;
            }
            (a, b.min(text.len()))
        })
        .collect();
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    // `at`: how far `text` is copied or masked; a span starting at or before it extends the
    // mask already written instead of adding another.
    let mut at = 0;
    let mut masked_to = None;
    for (a, b) in spans {
        if b <= at {
            continue;
        }
        if masked_to != Some(at) || a > at {
            out.push_str(&text[at..a.max(at)]);
            out.push_str(MASK);
        }
        at = b;
        masked_to = Some(b);
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(secrets: &[&str]) -> Redactor {
        let mut r = Redactor::new();
        for s in secrets {
            r.add(s);
        }
        r
    }

    #[test]
    fn masks_values_and_encodings() {
        let r = gate(&["s3cr3t/+="]);
        assert_eq!(
            r.redact("a s3cr3t/+= b s3cr3t%2F%2B%3D c s3cr3t%2f%2b%3d d"),
            "a *** b *** c *** d"
        );
    }

    #[test]
    fn every_form_is_found() {
        let secret = "tok-AbCdEfGh/1234+xyz";
        let r = gate(&[secret]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
        for form in [
            secret.to_uppercase(),
            secret.to_lowercase(),
            "tok-AbCdEfGh%2f1234%2Bxyz".into(),
            "%74%6F%6B-AbCdEfGh/1234+xyz".into(),
            "tok-AbCdEfGh%252F1234%252Bxyz".into(),
            r"tok-AbCdEfGh\/1234\u002bxyz".into(),
            "tok-AbCdEfGh&#47;1234&#x2B;xyz".into(),
            "tok-AbCdEfGh&sol;1234&plus;xyz".into(),
            "tok-AbCdEfGh/1234 xyz".into(),
            b64.clone(),
            b64url,
            b64[..b64.len() - 6].to_string(),
            secret[..MIN_FRAGMENT].to_string(),
            "tok-AbCd\u{200B}EfGh/1234+xyz".into(),
        ] {
            let text = format!("before {form} after");
            let out = r.redact(&text);
            assert!(out.contains(MASK), "{form}: {out}");
            assert!(!r.finds_secret_in(&out), "{form}: {out}");
            assert!(
                out.starts_with("before ") && out.ends_with(" after"),
                "{out}"
            );
        }
        // Seven characters are not a fragment.
        assert_eq!(r.redact("tok-AbC"), "tok-AbC");
    }

    #[test]
    fn basic_pairs_are_found_in_base64() {
        let mut r = Redactor::new();
        r.add_basic("api", "pw-123456");
        let header = base64::engine::general_purpose::STANDARD.encode("api:pw-123456");
        assert_eq!(r.redact(&format!("Basic {header}")), "Basic ***");
        assert_eq!(
            r.redact("https://api.example.com/api pw-123456"),
            "https://api.example.com/api ***"
        );
        let mut r = Redactor::new();
        r.add_basic("service-user", "pw");
        assert_eq!(r.redact("service-user"), "***");
    }

    #[test]
    fn control_characters_are_dropped_before_matching() {
        let r = gate(&["tok-12345678"]);
        assert_eq!(r.redact("a\u{1b}[2Jtok-1234\u{8}5678\u{7}"), "a[2J***");
    }

    #[test]
    fn excerpt_masks_before_cutting() {
        let r = gate(&["sk_live_ABCDEFGHIJKLMNOP"]);
        // The secret starts 5 characters before the cut: cutting first would leave a fragment.
        let text = format!("{}sk_live_ABCDEFGHIJKLMNOP tail", "x".repeat(15));
        let e = r.excerpt(&text, 20);
        assert!(!e.contains("sk_live"), "{e}");
        assert!(e.starts_with("xxxxxxxxxxxxxxx***"), "{e}");
        // Whitespace inside a secret survives until it is masked.
        let r = gate(&["two  spaces-secret"]);
        assert_eq!(r.excerpt("a two  spaces-secret\n b", 60), "a *** b");
    }

    #[test]
    fn process_secrets_reach_every_gate() {
        remember("discord-TOKEN-for-the-gate-test");
        assert_eq!(
            process().redact("Authorization: Bot discord-token-for-the-gate-test"),
            "Authorization: Bot ***"
        );
        assert!(Redactor::new().finds_secret_in("DISCORD-TOKEN-FOR"));
    }

    #[test]
    fn redactor_debug_shows_no_secret() {
        let r = gate(&["hunter2-secret"]);
        let d = format!("{r:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert_eq!(d, "Redactor { secrets: 1 }");
    }
}
