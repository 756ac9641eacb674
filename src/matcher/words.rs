//! Word lists and word normalisation shared by the index and the query side.

/// Common English words: never fuzzy-matched, so "taken" is not read as "token", and never
/// enough on their own to make a match.
const COMMON: &[&str] = &[
    "a",
    "about",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "but",
    "by",
    "can",
    "cannot",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "done",
    "for",
    "from",
    "get",
    "gets",
    "getting",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "him",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "just",
    "let",
    "like",
    "me",
    "more",
    "most",
    "my",
    "no",
    "not",
    "now",
    "of",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "out",
    "over",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "taken",
    "token",
    "today",
    "tomorrow",
    "yesterday",
    "thanks",
    "thank",
    "great",
    "good",
    "morning",
    "night",
    "lunch",
    "meeting",
    "friday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "saturday",
    "sunday",
    "please",
    "think",
    "thing",
    "things",
    "still",
    "since",
    "every",
    "never",
    "always",
    "value",
    "values",
    "later",
    "right",
    "wrong",
    "whose",
    "first",
    "second",
    "third",
    "small",
    "large",
    "little",
    "light",
    "sight",
    "times",
    "timed",
    "limit",
    "limits",
    "local",
    "issue",
    "issues",
    "event",
    "events",
    "start",
    "stopped",
    "working",
    "works",
    "worked",
    "data",
    "sync",
    "call",
    "calls",
    "new",
    "old",
    "use",
    "using",
    "used",
    "make",
    "made",
    "want",
    "need",
    "know",
    "see",
    "look",
    "team",
    "people",
    "week",
    "month",
    "year",
    "plan",
    "talk",
    "way",
    "time",
    "day",
    "back",
    "well",
    "even",
    "much",
    "many",
    "each",
    "few",
    "lot",
    "lots",
    "one",
    "two",
    "three",
    "via",
    "per",
    "etc",
    "everyone",
    "someone",
    "anyone",
    "shared",
    "review",
    "demo",
    "doc",
    "docs",
    "next",
    "last",
    "yet",
    "already",
    "really",
    "quite",
    "maybe",
    "sure",
    "okay",
    "yes",
];

/// Words that say a message describes a problem or asks for help. A message with none of
/// them and no error code needs much stronger evidence: people chatting about webhooks or
/// certificates ("the cert renewal PR is merged") are not asking medic anything.
const PROBLEM_WORDS: &[&str] = &[
    "error",
    "errors",
    "err",
    "fail",
    "fails",
    "failed",
    "failing",
    "failure",
    "failures",
    "broken",
    "break",
    "breaks",
    "broke",
    "can",
    "cannot",
    "couldn",
    "won",
    "doesn",
    "don",
    "isn",
    "aren",
    "didn",
    "wasn",
    "not",
    "no",
    "never",
    "stopped",
    "stops",
    "refuses",
    "refused",
    "rejected",
    "rejects",
    "rejecting",
    "missing",
    "wrong",
    "issue",
    "issues",
    "problem",
    "problems",
    "bug",
    "crash",
    "crashes",
    "crashed",
    "timeout",
    "timeouts",
    "help",
    "why",
    "how",
    "what",
    "anyone",
    "keeps",
    "keep",
    "still",
    "only",
    "instead",
    "unable",
    "invalid",
    "expired",
    "expires",
    "denied",
    "down",
    "dies",
    "died",
    "chokes",
    "hangs",
    "hang",
    "stuck",
    "slow",
    "lost",
    "drops",
    "dropped",
    "empty",
    "weird",
    "strange",
    "suddenly",
    "exception",
    "traceback",
    "panic",
    "panicked",
    "warning",
    "blocked",
    "unexpected",
    "twice",
    "duplicate",
    "duplicated",
    "garbled",
    "mismatch",
    "unsupported",
    "exceeded",
    "throttled",
    "unauthorized",
    "unauthorised",
    "forbidden",
    "deprecated",
    "retired",
    "says",
    "getting",
    "returns",
    "returned",
    "throws",
    "thrown",
    "complains",
    "any",
    "should",
    "hit",
    "hitting",
    "blew",
    "burned",
    "ran",
    "out",
    "over",
    "mojibake",
    "limited",
    "limted",
    "stale",
    "late",
    "lag",
    "mangled",
    "mangling",
    "corrupted",
    "lapsed",
];

/// Words that say something is failing now. Feature talk with one of them is a report after all
/// ("since the release notes went out our webhooks fail").
const FAILING_NOW: &[&str] = &[
    "fail",
    "fails",
    "failed",
    "failing",
    "failure",
    "failures",
    "error",
    "errors",
    "broken",
    "broke",
    "breaks",
    "refused",
    "refuses",
    "rejected",
    "rejects",
    "denied",
    "expired",
    "cannot",
    "cant",
    "doesn",
    "didn",
    "isn",
    "won",
    "couldn",
    "wasn",
    "aren",
    "timeout",
    "timeouts",
    "timed",
    "exception",
    "down",
    "stopped",
    "stuck",
    "hangs",
    "hanging",
    "crash",
    "crashed",
    "crashes",
    "get",
    "gets",
    "got",
    "getting",
    "returns",
    "returned",
    "returning",
    "throws",
    "threw",
    "seeing",
    "since",
    "again",
    "still",
    "anymore",
    "help",
    "why",
    "unable",
    "outage",
    "incident",
    "suddenly",
    "longer",
    "unsupported",
];

/// Single words of announcements and development talk: changelogs, RFCs, talks, reviews.
const FEATURE_TALK_WORDS: &[&str] = &[
    "fyi",
    "changelog",
    "roadmap",
    "rfc",
    "meetup",
    "slides",
    "refactor",
    "refactoring",
    "illustration",
    "merged",
    "bumped",
    "scheduled",
    "webinar",
    "newsletter",
    "brainstorm",
];

/// Word pairs of the same.
const FEATURE_TALK_PAIRS: &[(&str, &str)] = &[
    ("no", "action"),
    ("release", "notes"),
    ("blog", "post"),
    ("review", "my"),
    ("my", "pr"),
    ("pr", "for"),
    ("pr", "that"),
    ("pull", "request"),
    ("talk", "on"),
    ("talk", "about"),
    ("we", "plan"),
    ("next", "quarter"),
    ("next", "sprint"),
    ("we", "add"),
    ("to", "add"),
    ("add", "support"),
    ("adds", "support"),
    ("feature", "request"),
    ("closing", "the"),
    ("was", "added"),
    ("be", "closed"),
    ("any", "plans"),
    ("plans", "to"),
    ("to", "support"),
];

/// Openers of a development task: "add a custom 404 page", "drop Node 14 support", "let's …".
const TASK_OPENERS: &[&str] = &[
    "add",
    "adds",
    "added",
    "implement",
    "implemented",
    "drop",
    "dropping",
    "remove",
    "rename",
    "document",
    "docs",
    "bump",
    "release",
    "released",
    "let",
    "lets",
    "todo",
    "changelog",
];

/// Imperative openers of issue and commit titles ("Tolerate EMFILE", "Use 422 for validation
/// errors instead of 400", "Handle 429 responses gracefully"): naming an error is their subject,
/// so only a word that something fails now makes one a report. Past tenses are not here:
/// "changed the key and now 401" is how a report begins in chat.
const TITLE_OPENERS: &[&str] = &[
    "use",
    "return",
    "handle",
    "tolerate",
    "provide",
    "clarify",
    "improve",
    "expose",
    "avoid",
    "introduce",
    "enable",
    "disable",
    "deprecate",
    "migrate",
    "respect",
    "honor",
    "honour",
    "prefer",
    "replace",
    "revert",
    "upgrade",
    "surface",
    "propagate",
    "send",
    "retry",
    "include",
    "correct",
    "treat",
    "update",
    "resolve",
];

/// Bracketed tags of feature and documentation issues: `[Feature] HTTP proxy support`.
const TITLE_TAGS: &[&str] = &[
    "feature",
    "feature request",
    "enhancement",
    "proposal",
    "rfc",
    "docs",
    "doc",
    "documentation",
    "chore",
];

/// Verbs that open a commit title after a package path (`net/http: extend …`).
const PREFIX_VERBS: &[&str] = &[
    "extend",
    "reduce",
    "increase",
    "raise",
    "lower",
    "set",
    "make",
    "allow",
    "ensure",
    "skip",
    "split",
    "move",
    "clean",
    "simplify",
    "optimize",
    "fix",
    "support",
    "implement",
    "wrap",
];

/// Prefixes of commit titles (`fix: …`, `feat(api): …`); with one, what follows is a title.
const COMMIT_TYPES: &[&str] = &[
    "feat", "fix", "chore", "docs", "doc", "refactor", "perf", "test", "tests", "build", "ci",
    "style", "revert", "release",
];

/// Single words of documentation work: also a title's subject.
const DOC_WORDS: &[&str] = &[
    "wording",
    "paragraph",
    "typo",
    "typos",
    "readme",
    "docstring",
    "translation",
    "translations",
];

/// Words of a specification: "expired tokens should return 401", "the status should default
/// to 1006". A report says what happens instead ("should return 200 but …").
const SHOULD_VERBS: &[&str] = &[
    "return", "default", "contain", "include", "respect", "handle", "retry", "use", "map", "send",
    "expose", "report",
];

/// Word pairs of documentation and maintainers' replies: "the 401 status code indicates
/// that …", "`FooException` is thrown when …", "closing as a duplicate", "has solved our
/// issue". Like titles, naming an error is their subject.
const DOC_PAIRS: &[(&str, &str)] = &[
    ("code", "indicates"),
    ("thrown", "when"),
    ("thrown", "if"),
    ("raised", "when"),
    ("raised", "for"),
    ("closing", "as"),
    ("has", "solved"),
    ("solved", "our"),
    ("we", "now"),
];

/// Nouns and adjectives of the error a title is about: unlike the rest of [`FAILING_NOW`]
/// they do not say that anything is failing now ("Use 422 for validation errors").
const SUBJECT_WORDS: &[&str] = &[
    "error",
    "errors",
    "failure",
    "failures",
    "timeout",
    "timeouts",
    "timed",
    "exception",
    "expired",
    "refused",
    "rejected",
    "denied",
    "unsupported",
    "longer",
    "outage",
    "incident",
    "down",
];

/// A title's marks in the text itself: a commit type (`fix:`, `feat(api)!:`), a Go-style
/// package path followed by a title opener (`crypto/tls: improve …`), a bracketed tag followed
/// by one or naming a feature (`[Support] Clarify …`, `[Feature] …`), a changelog bullet
/// (`- Resolve …`, `* **timeout:** …`, a short `* HTTP/2 support`), a pull-request
/// reference (`(#118)`, `fixes #5309`), a changelog's version heading or a code comment.
/// Log lines (`[ERROR] …`, `curl: (60) …`) are none of these.
fn has_title_prefix(message: &str) -> bool {
    let line = message.trim_start().lines().next().unwrap_or_default();
    let opener = |rest: &str| {
        let rest = rest.trim_start();
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect::<String>()
            .to_ascii_lowercase();
        // Go's "use of closed network connection" is a noun, not the verb.
        let noun = word == "use" && rest[word.len()..].trim_start().starts_with("of ");
        let class = TALK_CLASSES.get(word.as_str()).copied().unwrap_or(0);
        !noun && class & (TITLE_OPENER | TASK_OPENER) != 0
    };
    if refers_to_a_pull_request(message) {
        return true;
    }
    // A changelog's version heading (`## v2.1.1 (2023-02-17)`, `# Unreleased`) or a code
    // comment (`// 409 means …`) opens a changelog or source, not a report. Other headings
    // are an issue template's ("### Steps to reproduce"), whose body is a report.
    let heading = line.trim_start_matches('#');
    let versioned = heading
        .trim_start()
        .trim_start_matches(['v', 'V', '['])
        .split('.')
        .take(2)
        .filter(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        .count()
        == 2;
    let lower = heading.to_ascii_lowercase();
    let release = lower.contains("unreleased") || lower.contains("changelog");
    if (heading.len() < line.len() && heading.starts_with(' ') && (versioned || release))
        || line.starts_with("//")
        || line.starts_with("/*")
    {
        return true;
    }
    if let Some(rest) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
        return rest.starts_with("**") || rest.split_whitespace().count() <= 5 || opener(rest);
    }
    if let Some(rest) = line.strip_prefix('[') {
        return rest.split_once(']').is_some_and(|(tag, rest)| {
            tag.len() <= 20
                && tag.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
                && (TITLE_TAGS.contains(&tag.to_ascii_lowercase().as_str()) || opener(rest))
        });
    }
    let Some((head, rest)) = line.split_once(':') else {
        return false;
    };
    if !rest.starts_with(' ') || head.is_empty() || head.len() > 40 {
        return false;
    }
    let kind = head
        .split('(')
        .next()
        .unwrap_or_default()
        .trim_end_matches('!');
    let scoped = kind.len() == head.len()
        || (head.trim_end_matches('!').ends_with(')') && head.contains('('));
    // `fix: …`, or any type with a scope: `deprecate(apiv1): …`.
    let typed = kind.bytes().all(|b| b.is_ascii_lowercase()) && !kind.is_empty();
    if scoped && (COMMIT_TYPES.contains(&kind) || (typed && kind.len() < head.len())) {
        return true;
    }
    let verb: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_lowercase())
        .collect();
    // "error: use of closed network connection" is a log line's level, not a package.
    let level = matches!(
        head,
        "error" | "err" | "fatal" | "panic" | "warning" | "warn"
    );
    !level
        && head
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"/_.-".contains(&b))
        && (opener(rest) || PREFIX_VERBS.contains(&verb.as_str()))
}

/// `… (#118)`, `… [#118](…)`, `fixes #5309`, `closes #12`, `resolves #7`: a reference after
/// the title, its number closed by the bracket it opened with (log ids such as `(#2635 …`
/// and a message that starts with one are not references).
fn refers_to_a_pull_request(message: &str) -> bool {
    // Byte-wise and case-blind in place: this runs on every answer, so no lowered copy.
    let text = message.trim().as_bytes();
    let ends_with = |before: &[u8], word: &str| {
        before.len() >= word.len()
            && before[before.len() - word.len()..].eq_ignore_ascii_case(word.as_bytes())
    };
    text.iter().enumerate().any(|(i, &b)| {
        if b != b'#' {
            return false;
        }
        let before = &text[..i];
        let digits = text[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let after = text.get(i + 1 + digits).copied();
        let bracketed = (before.ends_with(b"(") && after == Some(b')'))
            || (before.ends_with(b"[") && after == Some(b']'));
        let closing = ["fixes ", "fix ", "closes ", "resolves ", "fixed in "]
            .iter()
            .any(|w| ends_with(before, w));
        digits > 0 && i > 1 && (bracketed || closing)
    })
}

/// Whether the message is feature or announcement talk rather than a failure report: a
/// development task, a changelog or release note, a talk or review request, a scheduled
/// change, with no word that something is failing now. Codes in it ("retry for 429
/// responses", "a custom 404 page") name features, not errors. Issue and commit titles
/// ([`TITLE_OPENERS`], [`has_title_prefix`], [`DOC_WORDS`], "should return") are the same
/// even when they name an error, unless something fails now.
pub(crate) fn is_feature_talk<'a>(message: &str, words: impl Iterator<Item = &'a str>) -> bool {
    let mut prev = "";
    let mut prev_class = 0u16;
    let mut first = true;
    let mut talk = false;
    let mut title = has_title_prefix(message);
    let mut subject = false;
    let mut spec = false;
    let mut second = false;
    // "upgrade-insecure-requests" is a name, not the verb "upgrade".
    let trimmed = message.trim_start();
    let alone = trimmed
        .trim_start_matches(|c: char| c.is_alphabetic())
        .chars()
        .next()
        .is_none_or(char::is_whitespace);
    for w in words {
        // One lookup per word instead of a scan of every list (this runs on every answer).
        let class = TALK_CLASSES.get(w).copied().unwrap_or(0);
        if prev == "can" && w == "t" {
            return false;
        }
        if class & FAILING != 0 {
            if class & SUBJECT == 0 {
                return false;
            }
            subject = true;
        }
        if w == "but" && spec {
            return false;
        }
        spec = spec || (prev == "should" && class & SHOULD_VERB != 0);
        talk = talk
            || class & TALK_WORD != 0
            || (class & PAIR_END != 0 && FEATURE_TALK_PAIRS.contains(&(prev, w)))
            || (first && class & TASK_OPENER != 0);
        // The opener counts from the second word: "return code 35" and "use of closed network
        // connection" are a report's nouns.
        let opened = second
            && alone
            && prev_class & TITLE_OPENER != 0
            && !(prev == "return" && (w == "code" || w == "value"))
            && !(prev == "use" && w == "of");
        let documented = class & DOC_PAIR_END != 0 && DOC_PAIRS.contains(&(prev, w));
        // "Thanks for the report" opens a maintainer's reply; a report ends with its thanks.
        let thanked = second && prev == "thanks" && w == "for";
        title = title || class & DOC_WORD != 0 || opened || spec || documented || thanked;
        second = first;
        first = false;
        prev = w;
        prev_class = class;
    }
    title || (talk && !subject)
}

const FAILING: u16 = 1;
const SUBJECT: u16 = 2;
const TALK_WORD: u16 = 4;
const PAIR_END: u16 = 8;
const TASK_OPENER: u16 = 16;
const TITLE_OPENER: u16 = 32;
const DOC_WORD: u16 = 64;
const SHOULD_VERB: u16 = 128;
const DOC_PAIR_END: u16 = 256;

/// Every word of the lists above, with the lists it is on.
static TALK_CLASSES: once_cell::sync::Lazy<rustc_hash::FxHashMap<&'static str, u16>> =
    once_cell::sync::Lazy::new(|| {
        let mut classes = rustc_hash::FxHashMap::default();
        let pairs: Vec<&'static str> = FEATURE_TALK_PAIRS.iter().map(|p| p.1).collect();
        let doc_pairs: Vec<&'static str> = DOC_PAIRS.iter().map(|p| p.1).collect();
        for (list, class) in [
            (FAILING_NOW, FAILING),
            (SUBJECT_WORDS, SUBJECT),
            (FEATURE_TALK_WORDS, TALK_WORD),
            (&pairs[..], PAIR_END),
            (TASK_OPENERS, TASK_OPENER),
            (TITLE_OPENERS, TITLE_OPENER),
            (DOC_WORDS, DOC_WORD),
            (SHOULD_VERBS, SHOULD_VERB),
            (&doc_pairs[..], DOC_PAIR_END),
        ] {
            for &w in list {
                *classes.entry(w).or_insert(0) |= class;
            }
        }
        classes
    });

static COMMON_SET: once_cell::sync::Lazy<rustc_hash::FxHashSet<&'static str>> =
    once_cell::sync::Lazy::new(|| COMMON.iter().copied().collect());
static PROBLEM_SET: once_cell::sync::Lazy<rustc_hash::FxHashSet<&'static str>> =
    once_cell::sync::Lazy::new(|| PROBLEM_WORDS.iter().copied().collect());

pub(super) fn is_common(w: &str) -> bool {
    COMMON_SET.contains(w)
}

pub(super) fn is_problem_word(w: &str) -> bool {
    PROBLEM_SET.contains(w)
}

/// Folds a plural to its singular for exact lookups on both sides ("issues" ~ "issue",
/// "webhooks" ~ "webhook"). Crude on purpose: the catalogue and messages both go through it,
/// so only distinct words that collide would matter. Words with digits stay as they are.
pub(super) fn fold_plural(word: &str) -> &str {
    let keep = word.len() < 4
        || !word.ends_with('s')
        || word.ends_with("ss")
        || word.ends_with("us")
        || word.ends_with("is")
        || word.bytes().any(|b| b.is_ascii_digit());
    if keep {
        word
    } else {
        &word[..word.len() - 1]
    }
}

/// Words that carry evidence on their own: not common English, not numbers, not one letter.
pub(super) fn is_content_word(w: &str) -> bool {
    w.len() >= 3 && !w.bytes().all(|b| b.is_ascii_digit()) && !is_common(w)
}

/// Snowball English stemmer, so "paginating" meets "pagination" and "retired" meets "retire".
pub(super) struct Stemmer(rust_stemmers::Stemmer);

impl Stemmer {
    pub(super) fn new() -> Stemmer {
        Stemmer(rust_stemmers::Stemmer::create(
            rust_stemmers::Algorithm::English,
        ))
    }

    pub(super) fn stem<'a>(&self, word: &'a str) -> std::borrow::Cow<'a, str> {
        self.0.stem(word)
    }
}

impl Default for Stemmer {
    fn default() -> Self {
        Stemmer::new()
    }
}

impl std::fmt::Debug for Stemmer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stemmer(English)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn talk(message: &str) -> bool {
        let lower = message.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        is_feature_talk(message, words.into_iter())
    }

    #[test]
    fn nouns_and_log_levels_are_no_title_openers() {
        assert!(talk("Use 422 for validation errors instead of 400"));
        assert!(talk("net/http: extend connect timeout for CI"));
        assert!(!talk("use of closed network connection"));
        assert!(!talk("error: use of closed network connection"));
        assert!(!talk(
            "warning: handle leak in the pool, too many open files"
        ));
    }

    #[test]
    fn plurals_fold_but_not_words_that_only_end_in_s() {
        assert_eq!(fold_plural("webhooks"), "webhook");
        assert_eq!(fold_plural("status"), "status");
        assert_eq!(fold_plural("access"), "access");
        assert_eq!(fold_plural("analysis"), "analysis");
        assert_eq!(fold_plural("429s"), "429s");
        assert_eq!(fold_plural("dns"), "dns");
    }
}
