//! Embeds every `knowledge/*.toml` file into the binary, so medic runs from any directory, and
//! prepares the built-in catalogue and its search index with medic's own code (the modules
//! below are the crate's, compiled into this script), so a start reads them instead of
//! parsing TOML and building the index.
//!
//! A built-in file that does not load prepares nothing: the binary then loads the embedded
//! files at run time and reports their errors with `file:line`, as for any catalogue.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::{env, fs, path::Path, sync::Arc};

#[path = "src/codec.rs"]
mod codec;
#[path = "src/located.rs"]
mod located;
#[path = "src/text.rs"]
mod text;

mod knowledge {
    #[path = "../src/knowledge/catalogue.rs"]
    mod catalogue;
    #[path = "../src/knowledge/parse.rs"]
    mod parse;
    #[path = "../src/knowledge/placeholders.rs"]
    pub mod placeholders;
    #[path = "../src/knowledge/texts.rs"]
    mod texts;

    pub use catalogue::{Entry, Example, Knowledge, LoadError, LoadErrors, SourceFile};
    pub use parse::{parse_entry, CATEGORIES};
    #[allow(unused_imports)]
    pub use texts::Texts;

    /// Nothing is prepared while preparing.
    pub(crate) fn prepared() -> (&'static [u8], &'static [u8]) {
        (&[], &[])
    }
}

#[path = "src/matcher/mod.rs"]
mod matcher;

fn main() {
    println!("cargo:rerun-if-changed=knowledge");
    for src in [
        "src/codec.rs",
        "src/located.rs",
        "src/text.rs",
        "src/knowledge",
        "src/matcher",
    ] {
        println!("cargo:rerun-if-changed={src}");
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("knowledge/ directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let out_dir = env::var("OUT_DIR").unwrap();
    let out_dir = Path::new(&out_dir);
    let mut out = String::from("/// (file name, contents) of every built-in knowledge entry.\npub(crate) static BUILTIN: &[(&str, &str)] = &[\n");
    let mut sources = Vec::new();
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = format!("knowledge/{}", path.file_name().unwrap().to_string_lossy());
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
        if let Ok(text) = fs::read_to_string(path) {
            sources.push(knowledge::SourceFile { name, text });
        }
    }
    out.push_str("];\n");
    // The same loading the binary does for `Knowledge::from_layers(&[builtin_files()])`.
    let (entries, index) = match knowledge::Knowledge::from_layers(&[sources]) {
        Ok(kb) if kb.len() == files.len() => {
            let entries = kb.encode();
            let index = matcher::Matcher::new(Arc::new(kb)).encode_index();
            (entries, index)
        }
        _ => (Vec::new(), Vec::new()),
    };
    for (file, bytes, name) in [
        ("builtin_entries.bin", &entries, "PREPARED_ENTRIES"),
        ("builtin_index.bin", &index, "PREPARED_INDEX"),
    ] {
        let path = out_dir.join(file);
        fs::write(&path, bytes).expect("write prepared data");
        out.push_str(&format!(
            "/// Prepared by build.rs (see `crate::codec`); empty when it could not be.\n\
             pub(crate) static {name}: &[u8] = include_bytes!({:?});\n",
            path.display().to_string()
        ));
    }
    fs::write(out_dir.join("builtin_knowledge.rs"), out).expect("write builtin_knowledge.rs");
}
