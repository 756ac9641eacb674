//! Turns one TOML file into an [`Entry`], with every problem located at `file:line`.

use serde::Deserialize;
use toml::Spanned;

use super::{Entry, LoadError, Texts};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: Spanned<String>,
    #[serde(default)]
    extends: Option<Spanned<String>>,
    title: Option<Spanned<String>>,
    #[serde(default)]
    category: Option<Spanned<String>>,
    summary: Option<Spanned<String>>,
    #[serde(default)]
    codes: Vec<Spanned<String>>,
    #[serde(default)]
    keywords: Vec<Spanned<String>>,
    steps: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    related: Vec<Spanned<String>>,
    #[serde(default)]
    examples: Vec<Spanned<String>>,
    #[serde(default)]
    not_examples: Vec<Spanned<String>>,
}

/// The keys an entry may have, for the message about one it may not.
const FIELDS: &[&str] = &[
    "id",
    "extends",
    "title",
    "category",
    "summary",
    "codes",
    "keywords",
    "steps",
    "related",
    "examples",
    "not_examples",
];
/// The keys that hold a list of text; the others hold text.
const LIST_FIELDS: &[&str] = &[
    "codes",
    "keywords",
    "steps",
    "related",
    "examples",
    "not_examples",
];

/// The categories an entry may be filed under (docs/knowledge-format.md).
pub const CATEGORIES: &[&str] = &[
    "api",
    "auth",
    "data",
    "database",
    "dns",
    "email",
    "general",
    "grpc",
    "http",
    "messaging",
    "network",
    "queue",
    "quota",
    "storage",
    "tls",
    "webhook",
];

/// A parsed entry plus the lines the catalogue needs for later cross-file errors.
pub struct Parsed {
    pub entry: Entry,
    pub id_line: Option<usize>,
    pub related_lines: Vec<(String, Option<usize>)>,
    /// `extends = "ID"` and its line: fields this file leaves out (title, summary, steps,
    /// category: left empty in `entry`) come from that entry, lists are added to its lists.
    pub extends: Option<(String, Option<usize>)>,
}

const MAX_TITLE: usize = 200;

fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// `s` without surrounding whitespace, reusing its allocation when there is none to cut
/// (almost always: a large catalogue has hundreds of thousands of these strings).
fn trimmed(s: String) -> String {
    if s.trim().len() == s.len() {
        s
    } else {
        s.trim().to_string()
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

/// Parses and validates one entry file. All problems of the file are returned together.
pub fn parse_entry(file: &str, text: &str) -> Result<Parsed, Vec<LoadError>> {
    let err = |line: Option<usize>, message: String| LoadError {
        file: file.to_string(),
        line,
        column: None,
        message,
    };
    let raw: RawEntry = toml::from_str(text).map_err(|e| {
        // Every key of the file checked at once; serde's own message when that finds nothing.
        let shape = shape_errors(file, text);
        if !shape.is_empty() {
            return shape;
        }
        // toml's message repeats the offending source line; the first line is the reason.
        let message = e.message().lines().next().unwrap_or("invalid TOML").trim();
        // A missing field has no line of its own (toml points at the whole document).
        let line = e
            .span()
            .filter(|_| !message.starts_with("missing field"))
            .map(|s| line_of(text, s.start));
        vec![err(line, format!("invalid entry: {message}"))]
    })?;
    // One pass over the file for all its lines (an entry has dozens of located items).
    let lines = crate::located::LineIndex::new(text);
    let at = |span: std::ops::Range<usize>| Some(lines.line(span.start.min(text.len())));
    let mut errors = Vec::new();

    let id = raw.id.get_ref().trim().to_string();
    let id_line = at(raw.id.span());
    if !valid_id(&id) {
        errors.push(err(
            id_line,
            format!(
                "`id` must be lowercase letters, digits and dashes (got {:?})",
                raw.id.get_ref()
            ),
        ));
    }
    let extends = raw
        .extends
        .as_ref()
        .map(|x| (x.get_ref().trim().to_string(), at(x.span())));
    if let Some((base, line)) = &extends {
        if !valid_id(base) {
            errors.push(err(
                *line,
                format!("`extends` must name an entry id (got {base:?})"),
            ));
        }
    }
    // Without `extends` an entry stands alone and needs every required field.
    if extends.is_none() {
        for (field, given) in [
            ("title", raw.title.is_some()),
            ("summary", raw.summary.is_some()),
            ("steps", raw.steps.is_some()),
        ] {
            if !given {
                errors.push(err(
                    None,
                    format!("missing field `{field}` (or `extends = \"ID\"` to take it from that entry)"),
                ));
            }
        }
    }
    let title = raw
        .title
        .as_ref()
        .map_or(String::new(), |t| t.get_ref().trim().to_string());
    if let Some(t) = &raw.title {
        if title.is_empty() {
            errors.push(err(at(t.span()), "`title` is empty".into()));
        } else if title.chars().count() > MAX_TITLE {
            errors.push(err(
                at(t.span()),
                format!("`title` is longer than {MAX_TITLE} characters"),
            ));
        }
    }
    let summary = raw
        .summary
        .as_ref()
        .map_or(String::new(), |s| s.get_ref().trim().to_string());
    if let Some(s) = &raw.summary {
        if summary.is_empty() {
            errors.push(err(at(s.span()), "`summary` is empty".into()));
        }
    }
    let category = match &raw.category {
        Some(c) => {
            let name = c.get_ref().trim().to_string();
            if !name.is_empty() && !CATEGORIES.contains(&name.as_str()) {
                let near =
                    crate::text::nearest(&name.to_lowercase(), CATEGORIES.iter().copied(), 2);
                let hint = match near {
                    Some(k) => format!("did you mean `{k}`? "),
                    None => String::new(),
                };
                errors.push(err(
                    at(c.span()),
                    format!(
                        "`category` {:?} is not one of the categories; {hint}(one of {})",
                        crate::text::truncate_chars(&name, 40),
                        CATEGORIES.join(", ")
                    ),
                ));
            }
            Some(name).filter(|n| !n.is_empty())
        }
        None => None,
    };
    let steps_given = raw.steps.is_some();
    let steps_span = raw.steps.as_ref().map_or(0..0, Spanned::span);
    let steps: Vec<String> = raw
        .steps
        .map(Spanned::into_inner)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| {
            let line = at(s.span());
            let text = trimmed(s.into_inner());
            if text.is_empty() {
                errors.push(err(line, "a step is empty".into()));
                None
            } else {
                if let Some((typo, meant)) = super::placeholders::misspelled(&text) {
                    errors.push(err(
                        line,
                        format!("step uses `{{{typo}}}`; did you mean the placeholder `{{{meant}}}`? (placeholders: {})", super::placeholders::list()),
                    ));
                }
                Some(text)
            }
        })
        .collect();
    if steps_given && steps.is_empty() && errors.iter().all(|e| e.message != "a step is empty") {
        errors.push(err(
            at(steps_span),
            "`steps` is empty: an entry needs at least one step".into(),
        ));
    }
    let mut list = |items: Vec<Spanned<String>>, field: &str| -> Vec<(String, Option<usize>)> {
        let mut out: Vec<(String, Option<usize>)> = Vec::new();
        for item in items {
            let line = at(item.span());
            let value = trimmed(item.into_inner());
            if value.is_empty() {
                errors.push(err(line, format!("an item of `{field}` is empty")));
            } else if !out.iter().any(|(v, _)| v.eq_ignore_ascii_case(&value)) {
                out.push((value, line));
            }
        }
        out
    };
    let examples: Vec<super::Example> = list(raw.examples, "examples")
        .into_iter()
        .map(|(text, line)| super::Example {
            text,
            matches: true,
            line,
        })
        .chain(
            list(raw.not_examples, "not_examples")
                .into_iter()
                .map(|(text, line)| super::Example {
                    text,
                    matches: false,
                    line,
                }),
        )
        .collect();
    let codes = list(raw.codes, "codes");
    let keywords = list(raw.keywords, "keywords");
    let related = list(raw.related, "related");
    if let Some((_, line)) = related.iter().find(|(r, _)| *r == id) {
        errors.push(err(*line, "an entry cannot be related to itself".into()));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Parsed {
        entry: Entry {
            id,
            title,
            category,
            summary,
            codes: values(codes),
            keywords: values(keywords),
            steps: steps.into(),
            related: related.iter().map(|(r, _)| r).collect(),
            source: file.to_string(),
            examples,
        },
        id_line,
        related_lines: related,
        extends,
    })
}

/// The values of a checked list, without their lines.
fn values(items: Vec<(String, Option<usize>)>) -> Texts {
    let values: Vec<String> = items.into_iter().map(|(v, _)| v).collect();
    Texts::of(&values)
}

/// Every key of the file that is unknown (with the nearest known one) or holds the wrong kind
/// of value, at its line: serde alone stops at the first.
fn shape_errors(file: &str, text: &str) -> Vec<LoadError> {
    use toml::de::{DeTable, DeValue};
    let Ok(doc) = DeTable::parse(text) else {
        return Vec::new();
    };
    // One pass over the file for all its lines (an entry has dozens of located items).
    let lines = crate::located::LineIndex::new(text);
    let at = |span: std::ops::Range<usize>| Some(lines.line(span.start.min(text.len())));
    let mut out = Vec::new();
    for (key, value) in doc.get_ref().iter() {
        let name: &str = key.get_ref();
        let line = at(key.span());
        let message = if !FIELDS.contains(&name) {
            let near = crate::text::nearest(name, FIELDS.iter().copied(), 2);
            let shown = crate::text::truncate_chars(name, 40);
            match near {
                Some(f) => format!("unknown field `{shown}`; did you mean `{f}`?"),
                None => format!(
                    "unknown field `{shown}`; expected one of {}",
                    FIELDS.join(", ")
                ),
            }
        } else if LIST_FIELDS.contains(&name) {
            match value.get_ref() {
                DeValue::Array(items) if items.iter().all(|i| i.get_ref().is_str()) => continue,
                DeValue::Array(_) => format!("`{name}`: every item must be text in quotes"),
                _ => format!("`{name}`: expected a list of text, like [\"…\"]"),
            }
        } else if value.get_ref().is_str() {
            continue;
        } else {
            format!("`{name}`: expected text in quotes")
        };
        out.push(LoadError {
            file: file.to_string(),
            line,
            column: None,
            message,
        });
    }
    out
}
