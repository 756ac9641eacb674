//! The knowledge catalogue: entries parsed from TOML, the embedded built-in set, user overrides.
//!
//! This module owns what an entry *is* and how files become entries (with `file:line` errors);
//! how a message is matched against entries lives in [`crate::matcher`].

mod parse;
pub mod placeholders;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

pub use parse::{parse_entry, CATEGORIES};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_knowledge.rs"));
}

/// One troubleshooting article.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub summary: String,
    pub codes: Vec<String>,
    pub keywords: Vec<String>,
    pub steps: Vec<String>,
    pub related: Vec<String>,
    /// Where the entry came from: `knowledge/<id>.toml` for built-ins, the file path otherwise.
    pub source: String,
    /// Messages that must be answered with this entry first (`examples`), or must not get it
    /// at all (`not_examples`); `kb lint` runs them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Example>,
}

/// One of an entry's `examples` or `not_examples`, with its line for lint messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Example {
    pub text: String,
    /// `true` for `examples`, `false` for `not_examples`.
    pub matches: bool,
    #[serde(skip)]
    pub line: Option<usize>,
}

/// A problem in a knowledge file.
pub type LoadError = crate::located::Located;

/// Every problem found while loading a catalogue; loading fails if there is at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::located::write_lines(f, &self.0)
    }
}

impl std::error::Error for LoadErrors {}

/// A validated set of entries with unique ids and resolvable `related` links.
#[derive(Debug, Clone)]
pub struct Knowledge {
    entries: Vec<Arc<Entry>>,
    by_id: HashMap<String, usize>,
}

/// A knowledge file's name (for messages) and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl Knowledge {
    /// The catalogue embedded at compile time.
    pub fn builtin() -> Result<Knowledge, LoadErrors> {
        Self::from_layers(&[builtin_files()])
    }

    /// The built-in catalogue plus, if given, the entries of a user directory (which win by id).
    pub fn load(user_dir: Option<&Path>) -> Result<Knowledge, LoadErrors> {
        match user_dir {
            None => Self::builtin(),
            Some(dir) => Self::from_layers(&[builtin_files(), read_dir(dir)?]),
        }
    }

    /// Builds a catalogue from layers of files; a later layer replaces earlier entries by id.
    /// Duplicate ids inside one layer are errors, as are `related` ids unknown to the result.
    pub fn from_layers(layers: &[Vec<SourceFile>]) -> Result<Knowledge, LoadErrors> {
        let mut errors = Vec::new();
        let mut entries: Vec<Arc<Entry>> = Vec::new();
        let mut by_id: HashMap<String, usize> = HashMap::new();
        // Line of each `related` item, to point at it if it names nothing.
        let mut related_lines: HashMap<(String, String), Option<usize>> = HashMap::new();
        for layer in layers {
            let mut seen_in_layer: HashMap<String, (String, Option<usize>)> = HashMap::new();
            for file in layer {
                let parsed = match parse_entry(&file.name, &file.text) {
                    Ok(p) => p,
                    Err(mut errs) => {
                        errors.append(&mut errs);
                        continue;
                    }
                };
                let id = parsed.entry.id.clone();
                if let Some((first, _)) = seen_in_layer.get(&id) {
                    errors.push(LoadError {
                        file: file.name.clone(),
                        line: parsed.id_line,
                        column: None,
                        message: format!("duplicate id `{id}` (already defined in {first})"),
                    });
                    continue;
                }
                seen_in_layer.insert(id.clone(), (file.name.clone(), parsed.id_line));
                for (rel, line) in &parsed.related_lines {
                    related_lines.insert((id.clone(), rel.clone()), *line);
                }
                let mut entry = parsed.entry;
                if let Some((base_id, line)) = &parsed.extends {
                    // Only what earlier layers (the built-ins, for a user's directory) define.
                    match by_id.get(base_id) {
                        Some(&i) => entry = merged(&entries[i], entry),
                        None => {
                            errors.push(LoadError {
                                file: file.name.clone(),
                                line: *line,
                                column: None,
                                message: format!(
                                    "`extends` names `{base_id}`, which no earlier catalogue defines"
                                ),
                            });
                            continue;
                        }
                    }
                }
                let entry = Arc::new(entry);
                match by_id.get(&id) {
                    Some(&i) => entries[i] = entry,
                    None => {
                        by_id.insert(id, entries.len());
                        entries.push(entry);
                    }
                }
            }
        }
        for entry in &entries {
            for rel in &entry.related {
                if !by_id.contains_key(rel) {
                    let line = related_lines
                        .get(&(entry.id.clone(), rel.clone()))
                        .copied()
                        .flatten();
                    errors.push(LoadError {
                        file: entry.source.clone(),
                        line,
                        column: None,
                        message: format!("`related` names unknown entry id `{rel}`"),
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(Knowledge { entries, by_id })
        } else {
            Err(LoadErrors(errors))
        }
    }

    pub fn entries(&self) -> &[Arc<Entry>] {
        &self.entries
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Entry>> {
        self.by_id.get(id).map(|&i| &self.entries[i])
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `extension` on top of `base`: fields it leaves out (empty) come from `base`; codes,
/// keywords and related ids are added to `base`'s.
fn merged(base: &Entry, extension: Entry) -> Entry {
    let or = |mine: String, theirs: &String| {
        if mine.is_empty() {
            theirs.clone()
        } else {
            mine
        }
    };
    let union = |theirs: &[String], mine: Vec<String>| {
        let mut out = theirs.to_vec();
        for m in mine {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(&m)) {
                out.push(m);
            }
        }
        out
    };
    Entry {
        title: or(extension.title, &base.title),
        summary: or(extension.summary, &base.summary),
        steps: if extension.steps.is_empty() {
            base.steps.clone()
        } else {
            extension.steps
        },
        category: extension.category.or_else(|| base.category.clone()),
        codes: union(&base.codes, extension.codes),
        keywords: union(&base.keywords, extension.keywords),
        related: union(&base.related, extension.related)
            .into_iter()
            .filter(|r| *r != extension.id)
            .collect(),
        examples: base
            .examples
            .iter()
            .cloned()
            .chain(extension.examples)
            .collect(),
        id: extension.id,
        source: extension.source,
    }
}

/// What a user's entry that replaces a built-in one (same id, no `extends`) takes away from
/// it: a replacement without `codes` no longer answers `diagnose 429`. One warning per such
/// entry, `file:line: …`; empty when nothing is lost.
pub fn replacement_warnings(dir: &Path) -> Vec<LoadError> {
    let Ok(files) = read_dir(dir) else {
        return Vec::new();
    };
    let Ok(builtin) = Knowledge::builtin() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for file in &files {
        let Ok(parsed) = parse_entry(&file.name, &file.text) else {
            continue;
        };
        let Some(base) = builtin
            .get(&parsed.entry.id)
            .filter(|_| parsed.extends.is_none())
        else {
            continue;
        };
        let lost = |theirs: &[String], mine: &[String]| -> Vec<String> {
            theirs
                .iter()
                .filter(|t| !mine.iter().any(|m| m.eq_ignore_ascii_case(t)))
                .cloned()
                .collect()
        };
        let codes = lost(&base.codes, &parsed.entry.codes);
        let keywords = lost(&base.keywords, &parsed.entry.keywords);
        if codes.is_empty() && keywords.is_empty() {
            continue;
        }
        let mut what = Vec::new();
        if !codes.is_empty() {
            what.push(format!("{} code(s) ({})", codes.len(), shortlist(&codes)));
        }
        if !keywords.is_empty() {
            what.push(format!(
                "{} keyword(s) ({})",
                keywords.len(),
                shortlist(&keywords)
            ));
        }
        out.push(LoadError {
            file: file.name.clone(),
            line: parsed.id_line,
            column: None,
            message: format!(
                "replaces the built-in `{}` and drops its {}; write `extends = \"{}\"` to add to it instead",
                base.id,
                what.join(" and "),
                base.id
            ),
        });
    }
    out
}

fn shortlist(items: &[String]) -> String {
    let mut s: Vec<&str> = items.iter().take(4).map(String::as_str).collect();
    if items.len() > 4 {
        s.push("…");
    }
    s.join(", ")
}

/// The embedded files, in file-name order.
pub fn builtin_files() -> Vec<SourceFile> {
    builtin::BUILTIN
        .iter()
        .map(|(name, text)| SourceFile {
            name: (*name).to_string(),
            text: (*text).to_string(),
        })
        .collect()
}

/// Reads every `*.toml` file of a directory (not recursive), sorted by name.
pub fn read_dir(dir: &Path) -> Result<Vec<SourceFile>, LoadErrors> {
    let fail = |message: String| {
        LoadErrors(vec![LoadError {
            file: dir.display().to_string(),
            line: None,
            column: None,
            message,
        }])
    };
    let rd = std::fs::read_dir(dir).map_err(|e| fail(format!("cannot read directory: {e}")))?;
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    paths.sort();
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        match std::fs::read(&path) {
            Ok(bytes) => match crate::located::utf8_text(&name, bytes) {
                Ok(text) => files.push(SourceFile { name, text }),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(LoadError {
                file: name,
                line: None,
                column: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(LoadErrors(errors))
    }
}

/// Every problem in a directory of entries, checked against the built-ins it would join.
/// An empty list means the directory is fine.
pub fn lint_dir(dir: &Path) -> Vec<LoadError> {
    match read_dir(dir) {
        Err(LoadErrors(errs)) => errs,
        Ok(files) => match Knowledge::from_layers(&[builtin_files(), files]) {
            Ok(_) => Vec::new(),
            Err(LoadErrors(errs)) => errs,
        },
    }
}

/// Every problem in a directory that is a whole catalogue on its own (the built-in
/// `knowledge/` before it is embedded): no built-ins fill its gaps, and every file must be
/// named `<id>.toml`.
pub fn lint_catalogue(dir: &Path) -> Vec<LoadError> {
    let files = match read_dir(dir) {
        Err(LoadErrors(errs)) => return errs,
        Ok(files) => files,
    };
    let mut problems = match Knowledge::from_layers(std::slice::from_ref(&files)) {
        Ok(kb) => kb
            .entries()
            .iter()
            .filter(|e| {
                !e.source
                    .ends_with(&format!("{}{}.toml", std::path::MAIN_SEPARATOR, e.id))
            })
            .map(|e| LoadError {
                file: e.source.clone(),
                line: None,
                column: None,
                message: format!("the file of entry `{}` must be named `{}.toml`", e.id, e.id),
            })
            .collect(),
        Err(LoadErrors(errs)) => errs,
    };
    if files.is_empty() {
        problems.push(LoadError {
            file: dir.display().to_string(),
            line: None,
            column: None,
            message: "no *.toml entries: a catalogue needs at least one".into(),
        });
    }
    problems
}
