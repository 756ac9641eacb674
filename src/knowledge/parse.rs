//! Turns one TOML file into an [`Entry`], with every problem located at `file:line`.

use serde::Deserialize;
use toml::Spanned;

use super::{Entry, LoadError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: Spanned<String>,
    title: Spanned<String>,
    #[serde(default)]
    category: Option<String>,
    summary: Spanned<String>,
    #[serde(default)]
    codes: Vec<Spanned<String>>,
    #[serde(default)]
    keywords: Vec<Spanned<String>>,
    steps: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    related: Vec<Spanned<String>>,
}

/// A parsed entry plus the lines the catalogue needs for later cross-file errors.
pub struct Parsed {
    pub entry: Entry,
    pub id_line: Option<usize>,
    pub related_lines: Vec<(String, Option<usize>)>,
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
        // toml's message repeats the offending source line; the first line is the reason.
        let message = e.message().lines().next().unwrap_or("invalid TOML").trim();
        // A missing field has no line of its own (toml points at the whole document).
        let line = e
            .span()
            .filter(|_| !message.starts_with("missing field"))
            .map(|s| line_of(text, s.start));
        vec![err(line, format!("invalid entry: {message}"))]
    })?;
    let at = |span: std::ops::Range<usize>| Some(line_of(text, span.start));
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
    let title = raw.title.get_ref().trim().to_string();
    if title.is_empty() {
        errors.push(err(at(raw.title.span()), "`title` is empty".into()));
    } else if title.chars().count() > MAX_TITLE {
        errors.push(err(
            at(raw.title.span()),
            format!("`title` is longer than {MAX_TITLE} characters"),
        ));
    }
    let summary = raw.summary.get_ref().trim().to_string();
    if summary.is_empty() {
        errors.push(err(at(raw.summary.span()), "`summary` is empty".into()));
    }
    let steps_span = raw.steps.span();
    let steps: Vec<String> = raw
        .steps
        .into_inner()
        .into_iter()
        .filter_map(|s| {
            let line = at(s.span());
            let text = s.into_inner().trim().to_string();
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
    if steps.is_empty() && errors.iter().all(|e| e.message != "a step is empty") {
        errors.push(err(
            at(steps_span),
            "`steps` is empty: an entry needs at least one step".into(),
        ));
    }
    let mut list = |items: Vec<Spanned<String>>, field: &str| -> Vec<(String, Option<usize>)> {
        let mut out: Vec<(String, Option<usize>)> = Vec::new();
        for item in items {
            let line = at(item.span());
            let value = item.into_inner().trim().to_string();
            if value.is_empty() {
                errors.push(err(line, format!("an item of `{field}` is empty")));
            } else if !out.iter().any(|(v, _)| v.eq_ignore_ascii_case(&value)) {
                out.push((value, line));
            }
        }
        out
    };
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
            category: raw
                .category
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty()),
            summary,
            codes: codes.into_iter().map(|(c, _)| c).collect(),
            keywords: keywords.into_iter().map(|(k, _)| k).collect(),
            steps,
            related: related.iter().map(|(r, _)| r.clone()).collect(),
            source: file.to_string(),
        },
        id_line,
        related_lines: related,
    })
}
