//! Matches a free-text message against the knowledge catalogue and explains why.
//!
//! The [`Matcher`] indexes a catalogue once ([`index`]): codes, keywords and titles become
//! phrases of word ids; content words become stemmed single-word evidence. A query tokenizes
//! the message, maps each word to a vocabulary id (exactly, plural-folded, or within a small
//! edit distance), reads HTTP statuses in context ([`status`]), walks the phrases starting at
//! each word, and adds rarity-weighted single-word evidence. Results are data ([`Diagnosis`]);
//! renderers turn them into text.

mod arena;
mod fuzzy;
mod index;
mod prepared;
mod score;
mod status;
pub mod text;
mod words;

use std::sync::Arc;

use serde::Serialize;

use crate::knowledge::{Entry, Knowledge};
use index::Index;
use score::Hit;
use text::Token;
use words::Stemmer;

/// Confidence an entry needs before it is shown at all; below it medic stays silent.
pub const MIN_CONFIDENCE: f32 = 0.40;
/// The confidence needed, from codes and phrases alone, when the message shows no code and
/// no problem word: people chatting about webhooks or certificates ask medic nothing.
const MIN_CONFIDENCE_WITHOUT_PROBLEM: f32 = 0.5;
/// Entries far below the best one are noise even when they pass [`MIN_CONFIDENCE`].
const RELATIVE_CUTOFF: f32 = 0.35;
/// Raw score at which confidence reaches 1 − 1/e.
const SCORE_SCALE: f32 = 2.5;
/// An HTTP status read from the message in an error context.
const W_STATUS: f32 = 4.0;
/// A typo-matched phrase counts a little less than an exact one…
const FUZZY_FACTOR: f32 = 0.8;
/// …and a typo-matched short single word much less: it is as likely another real word.
const FUZZY_WORD_FACTOR: f32 = 0.5;
const SHORT_WORD: usize = 8;
/// How many below-the-bar entries a diagnosis without a match describes.
const NEAR_MISSES: usize = 3;

/// Why an entry matched: one code, keyword, title phrase or word found in the message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub kind: ReasonKind,
    /// The code or keyword as the entry spells it.
    pub term: String,
    /// The words of the message that matched, when they differ from `term` (typos, plurals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasonKind {
    Code,
    Keyword,
    Title,
    /// A single word shared with the entry's codes, keywords, title or summary (stemmed).
    Word,
}

/// One entry judged relevant to a message.
#[derive(Debug, Clone, Serialize)]
pub struct Match {
    pub id: String,
    pub title: String,
    /// Confidence in 0..1.
    pub score: f32,
    pub reasons: Vec<Reason>,
    #[serde(skip)]
    pub entry: Arc<Entry>,
}

/// The answer to one message: codes read from it and the entries worth showing, best first.
/// `matches` is empty when the message is not about an integration problem.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub query: String,
    pub codes: Vec<String>,
    pub matches: Vec<Match>,
    /// When nothing matched: the best candidates below the bar, for "closest entries" hints.
    #[serde(skip)]
    pub near_misses: Vec<Match>,
}

impl Diagnosis {
    pub fn best(&self) -> Option<&Match> {
        self.matches.first()
    }
}

/// A catalogue with its search index.
#[derive(Debug)]
pub struct Matcher {
    knowledge: Arc<Knowledge>,
    index: Index,
    stemmer: Stemmer,
}

impl Matcher {
    pub fn new(knowledge: Arc<Knowledge>) -> Matcher {
        let stemmer = Stemmer::new();
        // The embedded catalogue's index was built by `build.rs` with this very code.
        let prepared = knowledge
            .is_builtin()
            .then(|| Index::decode(crate::knowledge::prepared().1, knowledge.len()))
            .flatten();
        let index = prepared.unwrap_or_else(|| Index::build(&knowledge, &stemmer));
        Matcher {
            knowledge,
            index,
            stemmer,
        }
    }

    /// The index in the form `build.rs` embeds for the built-in catalogue.
    pub fn encode_index(&self) -> Vec<u8> {
        self.index.encode()
    }

    pub fn knowledge(&self) -> &Arc<Knowledge> {
        &self.knowledge
    }

    /// Diagnoses one message; at most `top` confident matches are returned.
    // Not inlined: benches/*.sh count its instructions by this symbol.
    #[inline(never)]
    pub fn diagnose(&self, message: &str, top: usize) -> Diagnosis {
        score::with_scratch(|tokens, s| {
            text::tokenize_into(message, tokens);
            let implied = text::implied_words(message);
            for word in &implied {
                tokens.push_word(word);
            }
            let tokens = tokens.list();
            self.diagnose_tokens(message, top, (&tokens, implied.len()), s)
        })
    }

    fn to_match(&self, e: u32, total: f32, all_hits: &[(u32, Hit)], tokens: &[Token]) -> Match {
        let entry = &self.knowledge.entries()[e as usize];
        let confidence = confidence(total);
        let mut hits: Vec<Hit> = all_hits
            .iter()
            .filter(|(h, _)| *h == e)
            .map(|(_, h)| *h)
            .collect();
        hits.sort_by_key(|h| {
            let kind = match h.kind {
                ReasonKind::Code => 0,
                ReasonKind::Title => 1,
                ReasonKind::Keyword => 2,
                ReasonKind::Word => 3,
            };
            (kind, !h.status)
        });
        let reasons = hits
            .iter()
            .map(|h| Reason {
                kind: h.kind,
                term: self.index.terms.get(h.term).to_string(),
                matched: h
                    .differs
                    .then(|| joined(&tokens[h.tokens.0 as usize..h.tokens.1 as usize])),
            })
            .collect();
        Match {
            id: entry.id.clone(),
            title: entry.title.clone(),
            score: (confidence * 100.0).round() / 100.0,
            reasons,
            entry: entry.clone(),
        }
    }
}

fn confidence(raw: f32) -> f32 {
    1.0 - (-raw / SCORE_SCALE).exp()
}

fn joined(tokens: &[Token]) -> String {
    tokens.iter().map(|t| t.text).collect::<Vec<_>>().join(" ")
}

/// The ids of the first three matches: what the matcher's tests compare.
#[cfg(test)]
fn top_ids(m: &Matcher, text: &str) -> Vec<String> {
    m.diagnose(text, 3)
        .matches
        .into_iter()
        .map(|m| m.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn best(m: &Matcher, text: &str) -> Option<String> {
        m.diagnose(text, 3).best().map(|b| b.id.clone())
    }

    /// What `build.rs` embedded is exactly what loading the embedded files and indexing them
    /// at run time gives, and the prepared form reads back to itself.
    #[test]
    fn the_prepared_builtin_index_is_the_one_a_run_time_build_gives() {
        let (entries, index) = crate::knowledge::prepared();
        assert!(
            !entries.is_empty() && !index.is_empty(),
            "build.rs prepared nothing"
        );
        let parsed = Knowledge::from_layers(&[crate::knowledge::builtin_files()]).unwrap();
        assert!(!parsed.is_builtin());
        assert_eq!(parsed.encode(), entries);
        let built = Matcher::new(Arc::new(parsed));
        assert_eq!(built.encode_index(), index);

        let prepared = Knowledge::builtin().unwrap();
        assert!(prepared.is_builtin());
        assert_eq!(prepared.encode(), entries);
        let m = Matcher::new(Arc::new(prepared));
        assert_eq!(
            m.encode_index(),
            index,
            "decoding then encoding changes nothing"
        );
        for text in [
            "we get 429 from the API",
            "certifcate expired on the gateway",
        ] {
            let (a, b) = (m.diagnose(text, 3), built.diagnose(text, 3));
            assert!(!a.matches.is_empty(), "{text}");
            assert_eq!(format!("{:?}", a.matches), format!("{:?}", b.matches));
        }
    }

    /// A damaged blob reads as nothing (the caller then builds at run time), never a panic.
    #[test]
    fn a_damaged_prepared_form_reads_as_none() {
        let (entries, index) = crate::knowledge::prepared();
        let n = Knowledge::builtin().unwrap().len();
        for cut in [0, 1, 7, index.len() / 3, index.len() - 1] {
            assert!(
                Index::decode(&index[..cut], n).is_none(),
                "index cut at {cut}"
            );
        }
        for cut in [0, 3, entries.len() / 2, entries.len() - 1] {
            assert!(
                Knowledge::decode(&entries[..cut]).is_none(),
                "entries cut at {cut}"
            );
        }
        // An index for a larger catalogue points past this one's entries.
        assert!(Index::decode(index, 1).is_none());
        // Flipped bytes: decoding returns something or nothing, and does not panic.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut bad = index.to_vec();
            let at = (seed % bad.len() as u64) as usize;
            bad[at] ^= (seed >> 32) as u8 | 1;
            let _ = Index::decode(&bad, n);
        }
    }

    /// A generic prefix (curl's "SSL certificate problem", a proxy's 407) leaves the answer to
    /// the specific cause after it; the generic entry stays among the candidates.
    #[test]
    fn the_specific_cause_outranks_a_generic_prefix() {
        let m = Matcher::new(Arc::new(Knowledge::builtin().unwrap()));
        let ids = |text: &str| super::top_ids(&m, text);
        let got = ids("curl: (60) SSL certificate problem: certificate has expired");
        assert_eq!(got[0], "tls-certificate-expired", "{got:?}");
        let got = ids("curl: (60) SSL certificate problem: unable to get local issuer certificate");
        assert_eq!(got[0], "tls-untrusted-certificate", "{got:?}");
        let got = ids("curl: (56) Received HTTP code 407 from proxy after CONNECT");
        assert_eq!(got[0], "http-407", "{got:?}");
        assert!(got.iter().any(|g| g == "firewall-blocked"), "{got:?}");
    }

    #[test]
    fn feature_talk_is_silent_and_real_reports_are_not() {
        let m = Matcher::new(Arc::new(Knowledge::builtin().unwrap()));
        for quiet in [
            "add a custom 404 page",
            "drop Node 14 support in the next major",
            "changelog: added retry with exponential backoff for 429 responses",
            "release notes for 2.1: TLS 1.3 support and a new webhook endpoint",
            "I'm giving a talk on rate limiting at the meetup",
            "room 404",
            "PR #429",
            "v1.4.2",
            "port 8080 is free now",
            // Issue and commit titles name the error they are about.
            "Use 422 for validation errors instead of 400",
            "Handle 429 responses gracefully",
            "Tolerate EMFILE (Too many open files)",
            "fix: drop node14 support",
            "feat(client)!: retry on 503 with backoff",
            "crypto/tls: improve client auth failure alerts",
            "[Docs] Clarify Error 522 timeout wording",
            "Expired tokens should return 401",
            "Return HTTP status code 409 when resource already exists",
            "Release version 3.8.1 with Retry-After support",
            "deprecate(apiv1): Add API v1 deprecation notices",
            "net/http: extend connect timeout for CI",
            "[Feature] HTTP Proxy support",
            "- Resolve connection timeout issue (for real this time)",
            "Correct HTTP status for NotFound error (fixes #5309)",
            "Summary paragraph for HTTP status code 412 refers to If-None-Match",
            // Changelogs, source comments, documentation and maintainers' replies.
            "## v2.1.1 (2023-02-17)\n* Support for custom RateLimit headers",
            "// 409 means the resource already exists, treat it as success",
            "The 401 (Unauthorized) status code indicates that the request lacks valid credentials",
            "`TooManyRequestsException` is thrown when the API answers 429",
            "Thanks for the report - usually `Unexpected token <` errors are an HTML error page",
            "Closing as duplicate of the 502 issue",
        ] {
            assert_eq!(best(&m, quiet), None, "{quiet}");
        }
        for (report, id) in [
            (
                "since the release our webhook calls fail with 401",
                "http-401",
            ),
            ("what does 422 mean", "http-422"),
            ("FYI stripe is returning 503 for every charge", "http-503"),
            ("we get 429 from the API", "http-429"),
            // Title-like openings that are reports after all.
            ("use the new key and still get 401", "http-401"),
            ("changed the api key and now 401 on every call", "http-401"),
            ("fixed the cert, now 526 from cloudflare", "cloudflare-52x"),
            ("the API should return 200 but answers 503", "http-503"),
            ("[ERROR] upstream returned 502 Bad Gateway", "http-502"),
            (
                "curl: (60) SSL certificate problem: certificate has expired",
                "tls-certificate-expired",
            ),
            (
                "return code 429 from the partner api since noon",
                "http-429",
            ),
            ("upgrade-insecure-requests", "mixed-content-hsts"),
            ("The docs say duplicates are rare, yet every webhook event arrives twice", "webhook-duplicate-deliveries"),
            ("CERTIFICATE_VERIFY_FAILED with 2.5.2, works with 2.5.1", "tls-untrusted-certificate"),
            ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1129)", "tls-certificate-expired"),
            ("### Steps to reproduce\n1. POST /login\n2. 500 Internal Server Error", "http-500"),
            ("The following error occurs when we sync: 429 Too Many Requests", "http-429"),
            ("tried everything, thanks for any help: webhook signature verification failed", "webhook-signature-invalid"),
        ] {
            assert_eq!(best(&m, report).as_deref(), Some(id), "{report}");
        }
    }

    /// The words inside a long code are that code's text: "Timeout acquiring a connection" says
    /// nothing of a network timeout, and Python's CERTIFICATE_VERIFY_FAILED prefix belongs to
    /// the specific reason after it when the catalogue knows that reason.
    #[test]
    fn a_long_code_owns_the_words_inside_it() {
        let m = Matcher::new(Arc::new(Knowledge::builtin().unwrap()));
        for (text, id) in [
            ("knex: TimeoutError: Timeout acquiring a connection. The pool is probably full.", "connection-pool-exhausted"),
            ("requests.exceptions.SSLError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not valid for 'api.example.com'", "tls-hostname-mismatch"),
            ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate", "tls-untrusted-certificate"),
        ] {
            assert_eq!(best(&m, text).as_deref(), Some(id), "{text}");
        }
    }

    /// A specific cause found by a code of its own leads the bare status it produced; the
    /// status stays among the matches. A status family (Cloudflare's 52x) and parse errors of
    /// a status's body are not such causes.
    #[test]
    fn the_cause_outranks_the_status_it_produced() {
        let m = Matcher::new(Arc::new(Knowledge::builtin().unwrap()));
        let ids = |text: &str| super::top_ids(&m, text);
        let got = ids("operation error STS: GetCallerIdentity, https response error StatusCode: 403, RequestID: 87fe, api error ExpiredToken: The security token included in the request is expired");
        assert_eq!(got[0], "expired-token", "{got:?}");
        assert!(got.iter().any(|g| g == "http-403"), "{got:?}");
        let got = ids("Error 522 Connection timed out from Cloudflare on our api subdomain");
        assert_eq!(got[0], "cloudflare-52x", "{got:?}");
        let got = ids("invalid character 'T' looking for beginning of value -- the node returned Error Status: 429, Body: Too Many Requests");
        assert_eq!(got[0], "http-429", "{got:?}");
    }

    /// A message that is only a problem term ("timeout") is a lookup of it, as a bare code is;
    /// the same word inside ordinary talk stays silent.
    #[test]
    fn a_bare_problem_term_is_looked_up() {
        let m = Matcher::new(Arc::new(Knowledge::builtin().unwrap()));
        for lookup in ["timeout", "Timeout?", "read timeout", "timeouts"] {
            assert_eq!(
                best(&m, lookup).as_deref(),
                Some("network-timeout"),
                "{lookup}"
            );
        }
        for quiet in ["set a timeout", "timeout config"] {
            assert_eq!(best(&m, quiet), None, "{quiet}");
        }
    }
}
