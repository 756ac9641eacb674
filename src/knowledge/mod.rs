//! The knowledge catalogue: entries parsed from TOML, the embedded built-in set, user overrides.
//!
//! This module owns what an entry *is* and how files become entries (with `file:line` errors);
//! how a message is matched against entries lives in [`crate::matcher`].

mod catalogue;
mod parse;
pub mod placeholders;
mod texts;

use std::path::{Path, PathBuf};

pub use catalogue::{Entry, Example, Knowledge, LoadError, LoadErrors, SourceFile};
pub use parse::{parse_entry, CATEGORIES};
pub use texts::Texts;

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_knowledge.rs"));
}

/// The built-in catalogue and its search index as `build.rs` prepared them (see
/// [`crate::codec`]); empty when the build could not prepare them (a broken built-in file),
/// and then everything is built from the embedded files at run time, with their errors.
pub(crate) fn prepared() -> (&'static [u8], &'static [u8]) {
    (builtin::PREPARED_ENTRIES, builtin::PREPARED_INDEX)
}

impl Knowledge {
    /// The catalogue embedded at compile time: read from its prepared form, so starting costs
    /// no TOML parsing.
    pub fn builtin() -> Result<Knowledge, LoadErrors> {
        match Knowledge::decode(prepared().0) {
            Some(kb) => Ok(kb),
            None => Self::from_layers(&[builtin_files()]),
        }
    }

    /// The built-in catalogue plus, if given, the entries of a user directory (which win by id).
    pub fn load(user_dir: Option<&Path>) -> Result<Knowledge, LoadErrors> {
        match user_dir {
            None => Self::builtin(),
            Some(dir) => Self::builtin()?.with_layer(&read_dir(dir)?),
        }
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
        let lost = |theirs: &Texts, mine: &Texts| -> Vec<String> {
            theirs
                .iter()
                .filter(|t| !mine.iter().any(|m| m.eq_ignore_ascii_case(t)))
                .map(str::to_string)
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
    // One directory: file names compare as bytes (a `Path` sort compares components).
    paths.sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
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
