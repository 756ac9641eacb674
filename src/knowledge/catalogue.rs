//! What an entry *is* and how layers of entry files become one validated catalogue
//! (`extends`, replacement by id, `related` links), plus the compact form the built-in
//! catalogue is embedded in (prepared by `build.rs`, read back by [`Knowledge::decode`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::parse::parse_entry;
use super::texts::Texts;
use crate::codec::{Reader, Writer};

/// One troubleshooting article.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub summary: String,
    pub codes: Texts,
    pub keywords: Texts,
    pub steps: Texts,
    pub related: Texts,
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
    /// Whether this is exactly the embedded catalogue, whose search index was prepared at
    /// build time.
    builtin: bool,
}

/// A knowledge file's name (for messages) and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl Knowledge {
    /// Builds a catalogue from layers of files; a later layer replaces earlier entries by id.
    /// Duplicate ids inside one layer are errors, as are `related` ids unknown to the result.
    pub fn from_layers(layers: &[Vec<SourceFile>]) -> Result<Knowledge, LoadErrors> {
        let empty = Knowledge {
            entries: Vec::new(),
            by_id: HashMap::new(),
            builtin: false,
        };
        empty.layered(&layers.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }

    /// This catalogue with one more layer of files on top (see [`Knowledge::from_layers`]).
    pub fn with_layer(self, layer: &[SourceFile]) -> Result<Knowledge, LoadErrors> {
        self.layered(&[layer])
    }

    fn layered(self, layers: &[&[SourceFile]]) -> Result<Knowledge, LoadErrors> {
        let mut errors = Vec::new();
        let Knowledge {
            mut entries,
            mut by_id,
            builtin,
        } = self;
        let builtin = builtin && layers.iter().all(|l| l.is_empty());
        // Line of each `related` item, to point at it if it names nothing.
        let mut related_lines: HashMap<(String, String), Option<usize>> = HashMap::new();
        for layer in layers {
            let mut seen_in_layer: HashMap<String, (String, Option<usize>)> = HashMap::new();
            for file in layer.iter() {
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
                        .get(&(entry.id.clone(), rel.to_string()))
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
            Ok(Knowledge {
                entries,
                by_id,
                builtin,
            })
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

    /// Whether this is exactly the embedded catalogue (so its prepared index applies).
    pub fn is_builtin(&self) -> bool {
        self.builtin
    }

    /// The entries in the compact form `build.rs` embeds (see [`crate::codec`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.count(self.entries.len());
        for e in &self.entries {
            w.str(&e.id);
            w.str(&e.title);
            match &e.category {
                Some(c) => {
                    w.u8(1);
                    w.str(c);
                }
                None => w.u8(0),
            }
            w.str(&e.summary);
            for list in [&e.codes, &e.keywords, &e.steps, &e.related] {
                w.count(list.len());
                for s in list {
                    w.str(s);
                }
            }
            w.str(&e.source);
            w.count(e.examples.len());
            for x in &e.examples {
                w.str(&x.text);
                w.u8(x.matches as u8);
                w.opt_u32(x.line.map(|l| l as u32));
            }
        }
        w.into_bytes()
    }

    /// The embedded catalogue read back from [`Knowledge::encode`]'s form; `None` when the
    /// bytes are not such a form (empty: the build could not prepare it).
    pub fn decode(bytes: &[u8]) -> Option<Knowledge> {
        let mut r = Reader::new(bytes);
        let n = r.count()?;
        let mut entries = Vec::with_capacity(n);
        let mut by_id = HashMap::with_capacity(n);
        for i in 0..n {
            let id = r.str()?.to_string();
            let title = r.str()?.to_string();
            let category = match r.u8()? {
                0 => None,
                _ => Some(r.str()?.to_string()),
            };
            let summary = r.str()?.to_string();
            let mut list = || -> Option<Texts> { (0..r.count()?).map(|_| r.str()).collect() };
            let (codes, keywords, steps, related) = (list()?, list()?, list()?, list()?);
            let source = r.str()?.to_string();
            let examples = (0..r.count()?)
                .map(|_| {
                    Some(Example {
                        text: r.str()?.to_string(),
                        matches: r.u8()? != 0,
                        line: r.opt_u32()?.map(|l| l as usize),
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            by_id.insert(id.clone(), i);
            entries.push(Arc::new(Entry {
                id,
                title,
                category,
                summary,
                codes,
                keywords,
                steps,
                related,
                source,
                examples,
            }));
        }
        r.is_done().then_some(Knowledge {
            entries,
            by_id,
            builtin: true,
        })
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
    let union = |theirs: &Texts, mine: Texts| -> Vec<String> {
        let mut out = theirs.to_vec();
        for m in &mine {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(m)) {
                out.push(m.to_string());
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
        codes: union(&base.codes, extension.codes).into(),
        keywords: union(&base.keywords, extension.keywords).into(),
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
