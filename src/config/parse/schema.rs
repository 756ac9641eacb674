//! The keys `medic.toml` may hold and what each must be, checked over the parsed tree at once:
//! every unknown key (with the known key it was probably meant to be), every value of the wrong
//! type (in a user's words: `expected a duration like "30s", got the number 30`) and every
//! missing required key, each at its line and column. serde stops at a table's first problem;
//! this walk runs when serde refused something, so a file with five mistakes gets five errors.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::values::{may_be_secret, shown, Ctx};

/// What a key's value must be.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Duration,
    Bool,
    /// A whole number from 0 to `u32::MAX`.
    Count,
    /// A whole number (range checked later, with the key's own bounds).
    Int,
    /// A Discord id: digits, as a number or as text.
    Id,
    Ids,
    /// `200`, `"2xx"` or a list of them.
    Status,
    /// A table of text values (`headers`).
    TextMap,
    TextList,
    Table(&'static [Field]),
    /// `[[endpoints]]`: an array of tables.
    Tables(&'static [Field]),
}

impl Kind {
    fn expected(self) -> &'static str {
        match self {
            Kind::Text => "text in quotes",
            Kind::Duration => "a duration like \"30s\"",
            Kind::Bool => "true or false",
            Kind::Count => "a whole number, 0 or more",
            Kind::Int => "a whole number",
            Kind::Id => "a Discord id (digits, as a number or in quotes)",
            Kind::Ids => "a list of Discord ids, like [123456789012345678]",
            Kind::Status => "a status like 200 or \"2xx\", or a list of them",
            Kind::TextMap => "a table of text values, like { X-Source = \"medic\" }",
            Kind::TextList => "a list of text values, like [\"read\"]",
            Kind::Table(_) => "a table",
            Kind::Tables(_) => "[[endpoints]] tables",
        }
    }
}

struct Field {
    key: &'static str,
    kind: Kind,
    required: bool,
}

const fn opt(key: &'static str, kind: Kind) -> Field {
    Field {
        key,
        kind,
        required: false,
    }
}

const fn req(key: &'static str, kind: Kind) -> Field {
    Field {
        key,
        kind,
        required: true,
    }
}

const ROOT: &[Field] = &[
    opt("endpoints", Kind::Tables(ENDPOINT)),
    opt("discord", Kind::Table(DISCORD)),
    opt("alerts", Kind::Table(ALERTS)),
    opt("checks", Kind::Table(CHECKS)),
];

const DISCORD: &[Field] = &[
    opt("listen_channels", Kind::Ids),
    opt("check_roles", Kind::Ids),
    opt("alert_channel", Kind::Id),
    opt("mention_role", Kind::Id),
    opt("message_content", Kind::Bool),
];

const ALERTS: &[Field] = &[
    opt("failure_threshold", Kind::Count),
    opt("success_threshold", Kind::Count),
    opt("remind_every", Kind::Duration),
    opt("cert_warn_days", Kind::Count),
    opt("retention", Kind::Duration),
];

const CHECKS: &[Field] = &[opt("concurrency", Kind::Int)];

const ENDPOINT: &[Field] = &[
    req("name", Kind::Text),
    req("url", Kind::Text),
    opt("method", Kind::Text),
    opt("headers", Kind::TextMap),
    opt("body", Kind::Text),
    opt("timeout", Kind::Duration),
    opt("expect_status", Kind::Status),
    opt("max_latency", Kind::Duration),
    opt("expect_content_type", Kind::Text),
    opt("expect_json", Kind::Bool),
    opt("expect_json_pointers", Kind::TextList),
    opt("body_contains", Kind::Text),
    opt("resolver", Kind::Text),
    opt("tls_ca", Kind::Text),
    opt("interval", Kind::Duration),
    opt("follow_redirects", Kind::Int),
    opt("allow_private_redirects", Kind::Bool),
    opt("auth", Kind::Table(AUTH)),
    opt("alerts", Kind::Table(ENDPOINT_ALERTS)),
];

const AUTH: &[Field] = &[
    req("kind", Kind::Text),
    opt("token_env", Kind::Text),
    opt("user_env", Kind::Text),
    opt("password_env", Kind::Text),
    opt("name", Kind::Text),
    opt("value_env", Kind::Text),
    opt("param", Kind::Text),
    opt("token_url", Kind::Text),
    opt("client_id_env", Kind::Text),
    opt("client_secret_env", Kind::Text),
    opt("scopes", Kind::TextList),
];

const ENDPOINT_ALERTS: &[Field] = &[
    opt("enabled", Kind::Bool),
    opt("failure_threshold", Kind::Count),
    opt("success_threshold", Kind::Count),
    opt("remind_every", Kind::Duration),
    opt("cert_warn_days", Kind::Count),
    opt("mention_role", Kind::Id),
];

/// What [`check`] found.
pub(super) struct Checked {
    /// Problems reported.
    pub(super) found: usize,
    /// `text` with every unknown or mistyped key-value blanked out (offsets unchanged), so the
    /// rest of the table can still be read and its values checked; `None` when nothing was
    /// blanked.
    pub(super) without_bad_keys: Option<String>,
}

/// Checks a whole document (or the part of it in `text`, whose offsets start at `ctx.base`)
/// and reports every problem to `ctx`.
pub(super) fn check(ctx: &mut Ctx, text: &str) -> Checked {
    let before = ctx.errors.len();
    let bad_before = ctx.bad_keys.len();
    let (doc, syntax) = DeTable::parse_recoverable(text);
    for e in &syntax {
        let message = super::values::scrub_quotes(e.message().trim());
        match e.span() {
            Some(span) => ctx.error(&span, message),
            None => ctx.error(&(0..0), message),
        }
    }
    if syntax.is_empty() {
        table(ctx, "", doc.get_ref(), ROOT);
    }
    let bad: Vec<Range<usize>> = ctx.bad_keys.drain(bad_before..).collect();
    Checked {
        found: ctx.errors.len() - before,
        without_bad_keys: (syntax.is_empty() && !bad.is_empty()).then(|| blank(text, &bad)),
    }
}

/// `text` with the bytes in `ranges` turned into spaces (newlines kept).
fn blank(text: &str, ranges: &[Range<usize>]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for r in ranges {
        for b in &mut bytes[r.start.min(text.len())..r.end.min(text.len())] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    // Whole key-values (char boundaries) became ASCII spaces: still UTF-8.
    String::from_utf8(bytes).unwrap_or_default()
}

/// The `name` of the one endpoint table in `text`, if it is readable text.
pub(super) fn endpoint_name(text: &str) -> Option<String> {
    let doc = DeTable::parse(text).ok()?;
    let endpoints = doc.get_ref().get("endpoints")?;
    let first = endpoints.get_ref().as_array()?.first()?;
    let name = first.get_ref().as_table()?.get("name")?;
    name.get_ref().as_str().map(|s| s.trim().to_string())
}

fn table(ctx: &mut Ctx, path: &str, t: &DeTable, fields: &[Field]) {
    for (key, value) in t.iter() {
        let name = key.get_ref().as_ref();
        let before = ctx.errors.len();
        let blank_whole = match fields.iter().find(|f| f.key == name) {
            Some(f) => {
                check_value(ctx, &join(path, f.key), value, f.kind);
                // A table's own keys are blanked one by one.
                !matches!(
                    (f.kind, value.get_ref()),
                    (Kind::Table(_), DeValue::Table(_)) | (Kind::Tables(_), DeValue::Array(_))
                )
            }
            None => {
                ctx.error(&key.span(), unknown(path, name, fields));
                true
            }
        };
        // The key-value goes, so that the rest can still be read; a sub-table header
        // (`[endpoints.alerts]`) is not blanked (its span is not one key = value).
        if ctx.errors.len() > before && blank_whole && key.span().end <= value.span().start {
            ctx.bad_keys.push(key.span().start..value.span().end);
        }
    }
}

/// The error for a key no table of this kind has.
fn unknown(path: &str, key: &str, fields: &[Field]) -> String {
    let shown_key = shown(key);
    let place = if path.is_empty() {
        String::new()
    } else {
        format!(" in `{path}`")
    };
    match nearest(key, fields) {
        Some(near) => format!(
            "unknown field {shown_key}{place}; did you mean `{}`?",
            join(path, near)
        ),
        None => {
            let keys: Vec<&str> = fields.iter().map(|f| f.key).collect();
            if keys.len() <= 6 {
                format!(
                    "unknown field {shown_key}{place}; expected one of {}",
                    keys.join(", ")
                )
            } else {
                format!("unknown field {shown_key}{place}; medic.example.toml lists every key")
            }
        }
    }
}

/// The known key `typed` most likely meant: a slip of a letter or two, or a different
/// spelling of the same words (`time_out`, `timeOut`).
fn nearest(typed: &str, fields: &[Field]) -> Option<&'static str> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let t = squash(typed);
    fields
        .iter()
        .map(|f| {
            let k = squash(f.key);
            let distance = strsim::damerau_levenshtein(&t, &k);
            (distance, f.key, k.len())
        })
        .filter(|&(d, _, len)| d == 0 || (d <= 2 && len > 3 && d * 4 <= len))
        .min_by_key(|&(d, _, _)| d)
        .map(|(_, key, _)| key)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn check_value(ctx: &mut Ctx, path: &str, v: &Spanned<DeValue>, kind: Kind) {
    let span = v.span();
    let value = v.get_ref();
    let ok = match (kind, value) {
        (Kind::Text | Kind::Duration, DeValue::String(_)) => true,
        (Kind::Bool, DeValue::Boolean(_)) => true,
        (Kind::Count, DeValue::Integer(n)) => u32::from_str_radix(n.as_str(), n.radix()).is_ok(),
        (Kind::Int, DeValue::Integer(n)) => i64::from_str_radix(n.as_str(), n.radix()).is_ok(),
        (Kind::Id, DeValue::Integer(n)) => u64::from_str_radix(n.as_str(), n.radix()).is_ok(),
        (Kind::Id, DeValue::String(s)) => {
            let s = s.trim();
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
        }
        (Kind::Ids, DeValue::Array(items)) => {
            for item in items.iter() {
                check_value(ctx, path, item, Kind::Id);
            }
            true
        }
        (Kind::Status, DeValue::Integer(_) | DeValue::String(_)) => true,
        (Kind::Status, DeValue::Array(items)) => {
            for item in items.iter() {
                if !matches!(item.get_ref(), DeValue::Integer(_) | DeValue::String(_)) {
                    wrong(ctx, path, item, Kind::Status);
                }
            }
            true
        }
        (Kind::TextMap, DeValue::Table(t)) => {
            for (key, item) in t.iter() {
                // A header name is shown unless it may itself be a pasted credential.
                let key_path = match may_be_secret(key.get_ref()) {
                    true => format!("{path} (a header name that may be a credential)"),
                    false => join(path, key.get_ref()),
                };
                check_value(ctx, &key_path, item, Kind::Text);
            }
            true
        }
        (Kind::TextList, DeValue::Array(items)) => {
            for item in items.iter() {
                check_value(ctx, path, item, Kind::Text);
            }
            true
        }
        (Kind::Table(fields), DeValue::Table(t)) => {
            table(ctx, path, t, fields);
            missing(ctx, path, &span, t, fields);
            true
        }
        (Kind::Tables(fields), DeValue::Array(items)) => {
            for item in items.iter() {
                match item.get_ref() {
                    // An endpoint's own keys are named without the `endpoints.` prefix.
                    DeValue::Table(t) => {
                        table(ctx, "", t, fields);
                        missing(ctx, "", &item.span(), t, fields);
                    }
                    _ => wrong(ctx, path, item, kind),
                }
            }
            true
        }
        _ => false,
    };
    if !ok {
        wrong(ctx, path, v, kind);
    }
}

/// Required keys a table lacks, reported at the table.
fn missing(ctx: &mut Ctx, path: &str, span: &Range<usize>, t: &DeTable, fields: &[Field]) {
    for f in fields.iter().filter(|f| f.required) {
        if t.get(f.key).is_none() {
            let what = if path.is_empty() {
                "this endpoint table".to_string()
            } else {
                format!("`{path}`")
            };
            ctx.error(span, format!("{what} needs `{}`", f.key));
        }
    }
}

fn wrong(ctx: &mut Ctx, path: &str, v: &Spanned<DeValue>, kind: Kind) {
    ctx.error(
        &v.span(),
        format!(
            "{path}: expected {}, got {}",
            kind.expected(),
            got(v.get_ref())
        ),
    );
}

/// A value described for a message, never repeating text that may be a credential.
fn got(v: &DeValue) -> String {
    match v {
        DeValue::String(s) => format!("the text {}", shown(s)),
        DeValue::Integer(n) => match i128::from_str_radix(n.as_str(), n.radix()) {
            Ok(n) => format!("the number {n}"),
            Err(_) => "a number too large".into(),
        },
        DeValue::Float(f) => format!("the number {}", f.as_str()),
        DeValue::Boolean(b) => format!("`{b}`"),
        DeValue::Datetime(_) => "a date".into(),
        DeValue::Array(_) => "a list".into(),
        DeValue::Table(_) => "a table".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        let mut ctx = Ctx::new("medic.toml", text);
        let _ = check(&mut ctx, text).found;
        let mut e = ctx.errors;
        crate::located::sort(&mut e);
        e.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn every_problem_of_one_table_at_once_in_a_users_words() {
        let e = errors(
            "[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\ntimout = \"5s\"\ninterval = 30\nexpect_json = \"yes\"\nauth = { knd = \"bearer\" }\n",
        );
        assert_eq!(
            e,
            [
                "medic.toml:4:1: unknown field `timout`; did you mean `timeout`?",
                "medic.toml:5:12: interval: expected a duration like \"30s\", got the number 30",
                "medic.toml:6:15: expect_json: expected true or false, got the text `yes`",
                "medic.toml:7:8: `auth` needs `kind`",
                "medic.toml:7:10: unknown field `knd` in `auth`; did you mean `auth.kind`?",
            ]
        );
    }

    #[test]
    fn tables_outside_endpoints_and_missing_keys() {
        let e = errors(
            "[alerts]\nremind_evry = \"1h\"\nfailure_threshold = -1\n\n[discord]\nalert_channel = \"general\"\n\n[[endpoints]]\nurl = \"https://a.example\"\n\n[chekcs]\n",
        );
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(e[0].starts_with("medic.toml:2:1: unknown field `remind_evry` in `alerts`; did you mean `alerts.remind_every`?"), "{e:#?}");
        assert!(
            e[1].contains(
                "alerts.failure_threshold: expected a whole number, 0 or more, got the number -1"
            ),
            "{e:#?}"
        );
        assert!(
            e[2].contains("alert_channel: expected a Discord id"),
            "{e:#?}"
        );
        assert!(e[3].contains("this endpoint table needs `name`"), "{e:#?}");
        assert!(e[4].contains("did you mean `checks`?"), "{e:#?}");
    }

    #[test]
    fn suggestions_only_for_near_keys() {
        assert_eq!(nearest("time_out", ENDPOINT), Some("timeout"));
        assert_eq!(nearest("expectStatus", ENDPOINT), Some("expect_status"));
        assert_eq!(nearest("colour", ENDPOINT), None);
        assert_eq!(nearest("x", ENDPOINT), None);
    }

    #[test]
    fn pasted_secrets_are_not_repeated() {
        let e = errors("[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\ntimeout = \"sk_live_4eC39HqLyjWDarjtT1zdp7dc\"\nfollow_redirects = \"sk_live_4eC39HqLyjWDarjtT1zdp7dc\"\n");
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(!e[0].contains("sk_live"), "{e:#?}");
    }
}
