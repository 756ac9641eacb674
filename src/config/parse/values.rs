//! Checks shared by every table: durations and their bounds, status sets, and the error
//! collector [`Ctx`], which never repeats a value that may be a credential.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::config::{
    ConfigError, MAX_TIMEOUT, MIN_INTERVAL, MIN_REMIND_EVERY, MIN_RETENTION, MIN_TIMEOUT,
};
use crate::located::LineIndex;

/// What a duration setting accepts, for the check and for the message that refuses it.
pub(super) struct Bounds {
    pub(super) min: Duration,
    pub(super) max: Duration,
    /// What zero (`"0"`, `"never"`) means where it is allowed.
    pub(super) zero: Option<&'static str>,
}

impl Bounds {
    fn describe(&self) -> String {
        let range = format!(
            "{} to {}",
            humantime::format_duration(self.min),
            humantime::format_duration(self.max)
        );
        match self.zero {
            Some(off) => format!("0 or \"never\" ({off}), or {range}"),
            None => range,
        }
    }
}

pub(super) const TIMEOUT_BOUNDS: Bounds = Bounds {
    min: MIN_TIMEOUT,
    max: MAX_TIMEOUT,
    zero: None,
};
pub(super) const INTERVAL_BOUNDS: Bounds = Bounds {
    min: MIN_INTERVAL,
    max: MAX_DURATION,
    zero: Some("not scheduled"),
};
pub(super) const REMIND_BOUNDS: Bounds = Bounds {
    min: MIN_REMIND_EVERY,
    max: MAX_DURATION,
    zero: Some("no reminders"),
};
pub(super) const RETENTION_BOUNDS: Bounds = Bounds {
    min: MIN_RETENTION,
    max: MAX_DURATION,
    zero: None,
};

/// Which HTTP statuses count as success: e.g. `200`, `"2xx"`, `[200, 204, "3xx"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(pub Vec<(u16, u16)>);

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet(vec![(200, 299)])
    }
}

impl StatusSet {
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&status))
    }

    pub(super) fn parse(value: &toml::Value) -> Result<StatusSet, String> {
        fn one(v: &toml::Value) -> Result<(u16, u16), String> {
            match v {
                toml::Value::Integer(n) if (100..=599).contains(n) => Ok((*n as u16, *n as u16)),
                toml::Value::String(s) => {
                    let s = s.trim().to_ascii_lowercase();
                    if let Some(d) = s.strip_suffix("xx") {
                        if let Ok(d @ 1..=5) = d.parse::<u16>() {
                            return Ok((d * 100, d * 100 + 99));
                        }
                    }
                    match s.parse::<u16>() {
                        Ok(n @ 100..=599) => Ok((n, n)),
                        _ => Err(format!(
                            "{} is not a status (expected e.g. 200 or \"2xx\")",
                            shown(&s)
                        )),
                    }
                }
                other => Err(format!(
                    "{} is not a status (expected e.g. 200 or \"2xx\")",
                    shown(&other.to_string())
                )),
            }
        }
        match value {
            toml::Value::Array(items) if !items.is_empty() => {
                Ok(StatusSet(items.iter().map(one).collect::<Result<_, _>>()?))
            }
            toml::Value::Array(_) => Err("expect_status is empty".into()),
            v => Ok(StatusSet(vec![one(v)?])),
        }
    }
}

impl std::fmt::Display for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else if lo % 100 == 0 && hi == lo + 99 {
                    format!("{}xx", lo / 100)
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// `"5s"`, `"1m 30s"`, `"1h"`; `"0"` and `"never"` are zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t == "0" || t.eq_ignore_ascii_case("never") {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(t).map_err(|e| {
        format!("`{t}` is not a duration ({e}); expected e.g. \"500ms\", \"10s\", \"5m\", \"1h\"")
    })
}

/// The longest duration any setting accepts.
pub(super) const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `^[A-Z_][A-Z0-9_]{0,63}$`: what `*_env` keys must hold. Only such text is ever echoed.
pub(super) fn is_env_name(text: &str) -> bool {
    let b = text.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_uppercase() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// Upper-case text that is still most likely a pasted secret: an AWS access key id, or a long
/// run of letters mixed with digits between `_` (words of a variable name are short).
pub(super) fn looks_like_secret(text: &str) -> bool {
    let aws = text.len() == 20
        && [
            "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA",
        ]
        .iter()
        .any(|p| text.starts_with(p));
    aws || text
        .split('_')
        .any(|word| word.len() >= 12 && word.bytes().filter(u8::is_ascii_digit).count() >= 3)
}

pub(super) struct Ctx<'a> {
    pub(super) file: &'a str,
    text: &'a str,
    pub(super) lines: LineIndex,
    pub(super) errors: Vec<ConfigError>,
    /// Where in the file the spans being checked start: an endpoint table read by itself
    /// has spans from its own start.
    pub(super) base: usize,
    /// Spans (relative to the text being checked) of key-values the schema refused.
    pub(super) bad_keys: Vec<Range<usize>>,
}

impl Ctx<'_> {
    pub(super) fn new<'a>(file: &'a str, text: &'a str) -> Ctx<'a> {
        Ctx {
            file,
            text,
            lines: LineIndex::new(text),
            errors: Vec::new(),
            base: 0,
            bad_keys: Vec::new(),
        }
    }

    pub(super) fn line(&self, span: &Range<usize>) -> usize {
        self.lines.line(self.base + span.start)
    }

    pub(super) fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let (line, column) = self.lines.position(self.text, self.base + span.start);
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        });
    }

    /// An alert threshold: zero would open (or resolve) alerts without any check.
    pub(super) fn threshold(&mut self, key: &str, v: &Option<Spanned<u32>>) -> Option<u32> {
        let v = v.as_ref()?;
        if *v.get_ref() == 0 {
            self.error(&v.span(), format!("{key} must be at least 1"));
            return None;
        }
        Some(*v.get_ref())
    }

    pub(super) fn duration(&mut self, key: &str, v: &Option<Spanned<String>>) -> Option<Duration> {
        let v = v.as_ref()?;
        match parse_duration(v.get_ref()) {
            // Durations are added to clocks; one past what a clock holds would panic there.
            Ok(d) if d > MAX_DURATION => {
                self.error(
                    &v.span(),
                    format!("{key}: {} is longer than 100 years", shown(v.get_ref())),
                );
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                self.error(&v.span(), format!("{key}: {} is not a duration; expected e.g. \"500ms\", \"10s\", \"5m\", \"1h\"", shown(v.get_ref())));
                None
            }
        }
    }

    /// A duration within `bounds`; outside them an error naming the allowed range.
    pub(super) fn bounded(
        &mut self,
        key: &str,
        v: &Option<Spanned<String>>,
        bounds: &Bounds,
    ) -> Option<Duration> {
        let d = self.duration(key, v)?;
        let ok = if d.is_zero() {
            bounds.zero.is_some()
        } else {
            (bounds.min..=bounds.max).contains(&d)
        };
        if !ok {
            let span = v.as_ref().map(Spanned::span).unwrap_or_default();
            let what = if d < bounds.min {
                "too short"
            } else {
                "too long"
            };
            self.error(
                &span,
                format!(
                    "{key}: {} is {what}; allowed: {}",
                    shown(v.as_ref().map_or("", |v| v.get_ref())),
                    bounds.describe()
                ),
            );
            return None;
        }
        Some(d)
    }

    /// An integer within `min..=max`; outside it an error naming the range.
    pub(super) fn bounded_int(
        &mut self,
        key: &str,
        v: &Option<Spanned<i64>>,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let v = v.as_ref()?;
        let n = *v.get_ref();
        if !(min..=max).contains(&n) {
            self.error(
                &v.span(),
                format!("{key}: {n} is out of range; allowed: {min} to {max}"),
            );
            return None;
        }
        Some(n)
    }
}

/// Upper bound of how much of a refused value a message repeats.
pub(super) const SHOWN_CHARS: usize = 40;

/// A value for an error message: quoted when it cannot be a credential, otherwise described
/// without repeating it (a token pasted into the wrong field must not end up in a log).
pub(super) fn shown(value: &str) -> String {
    let v = value.trim();
    if v.chars().count() <= SHOWN_CHARS && !may_be_secret(v) {
        format!("`{}`", crate::text::printable(v))
    } else {
        format!(
            "the value ({} characters, not repeated: it may be a credential)",
            v.chars().count()
        )
    }
}

/// Text that may hold a credential: a well-known key prefix, a `Name: value` header line, or
/// a long run of token characters that mixes letters and digits.
pub(super) fn may_be_secret(text: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "sk_",
        "pk_",
        "rk_",
        "sk-",
        "ghp_",
        "gho_",
        "ghs_",
        "ghu_",
        "github_pat_",
        "glpat-",
        "xox",
        "akia",
        "asia",
        "eyj",
        "bearer ",
        "basic ",
        "token ",
        "bot ",
    ];
    let lower = text.to_ascii_lowercase();
    // A prefix at the start or after a space ("Authorization: bearer eyJ…"), without
    // allocating: every endpoint name and value goes through here.
    let at_word = |p: &str| {
        lower
            .match_indices(p)
            .any(|(i, _)| i == 0 || lower.as_bytes()[i - 1] == b' ')
    };
    if PREFIXES.iter().any(|p| at_word(p)) {
        return true;
    }
    if text.contains(':')
        && text
            .split_once(':')
            .is_some_and(|(k, v)| !k.contains("//") && v.trim().len() >= 8)
    {
        return true;
    }
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "-_+/=.~".contains(c)))
        .any(|run| {
            run.len() >= 16
                && run.bytes().any(|b| b.is_ascii_digit())
                && run.bytes().any(|b| b.is_ascii_alphabetic())
        })
        // Only upper-case text is judged like an environment variable name: "endpoint-100" is a name.
        || (is_env_name(text) && looks_like_secret(text))
}

/// A TOML/serde message without the values it quotes (`invalid type: string "sk_live_…",
/// expected u32`): the quoted text is whatever the user typed there.
pub(super) fn scrub_quotes(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut parts = message.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    let rest: Vec<&str> = parts.collect();
    for (i, part) in rest.iter().enumerate() {
        if i % 2 == 0 && i + 1 < rest.len() {
            out.push_str(&shown(part));
        } else if i % 2 == 1 {
            out.push_str(part);
        } else {
            out.push('"');
            out.push_str(part);
        }
    }
    out
}
