//! Embeds every `knowledge/*.toml` file into the binary, so medic runs from any directory.
use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=knowledge");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("knowledge/ directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = String::from("/// (file name, contents) of every built-in knowledge entry.\npub(crate) static BUILTIN: &[(&str, &str)] = &[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_name().unwrap().to_string_lossy();
        out.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            format!("knowledge/{name}"),
            path.display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("builtin_knowledge.rs");
    fs::write(dest, out).expect("write builtin_knowledge.rs");
}
