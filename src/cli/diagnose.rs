//! `medic diagnose`: one message from the arguments, or a stream of JSON lines with `--batch`.

use std::io::{BufRead, Write};
use std::path::Path;

use serde::Deserialize;

use crate::matcher::Matcher;
use crate::render::{json, terminal};
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Read JSON lines (`{"text": "..."}`) from stdin and write one JSON result per line.
    #[arg(long, requires = "json", conflicts_with = "text")]
    pub batch: bool,
    /// How many matches to return at most.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub top: u16,
    /// The message to diagnose (words are joined with spaces).
    #[arg(required_unless_present = "batch")]
    pub text: Vec<String>,
}

pub fn run(args: Args, knowledge_dir: Option<&Path>) -> Result<()> {
    let matcher = super::load_matcher(knowledge_dir)?;
    let top = args.top as usize;
    if args.batch {
        return batch(
            &matcher,
            top,
            std::io::stdin().lock(),
            std::io::stdout().lock(),
        );
    }
    let text = args.text.join(" ");
    let diagnosis = matcher.diagnose(&text, top);
    if args.json {
        super::print(&(json::line(&diagnosis) + "\n"))
    } else {
        super::print(&terminal::diagnosis(&diagnosis, matcher.knowledge()))
    }
}

#[derive(Deserialize)]
struct BatchLine {
    text: String,
}

/// One output line per input line, written as soon as it is ready (callers stream into it).
/// A line that is not a JSON object with a string `text` gets an `{"error": ...}` line so the
/// output stays aligned with the input.
pub fn batch(
    matcher: &Matcher,
    top: usize,
    input: impl BufRead,
    mut output: impl Write,
) -> Result<()> {
    for (n, line) in input.split(b'\n').enumerate() {
        let line = line.map_err(|e| Error::io("reading stdin", e))?;
        let line = String::from_utf8_lossy(&line);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let out = match serde_json::from_str::<BatchLine>(line) {
            Ok(b) => json::line(&matcher.diagnose(&b.text, top)),
            Err(e) => json::line(&serde_json::json!({
                "error": format!("line {}: expected a JSON object with a string \"text\" field ({e})", n + 1)
            })),
        };
        let written = writeln!(output, "{out}").and_then(|_| output.flush());
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(Error::io("writing stdout", e)),
        }
    }
    Ok(())
}
