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
    mut input: impl BufRead,
    mut output: impl Write,
) -> Result<()> {
    let mut buf = Vec::new();
    for n in 0.. {
        let Some(fits) = read_line_capped(&mut input, &mut buf, MAX_BATCH_LINE)
            .map_err(|e| Error::io("reading stdin", e))?
        else {
            break;
        };
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim();
        if line.is_empty() && fits {
            continue;
        }
        let out = if !fits {
            json::line(&serde_json::json!({
                "error": format!("line {}: longer than {} KiB; not read", n + 1, MAX_BATCH_LINE / 1024)
            }))
        } else {
            match serde_json::from_str::<BatchLine>(line) {
                Ok(b) => json::line(&matcher.diagnose(&b.text, top)),
                Err(e) => json::line(&serde_json::json!({
                    "error": format!("line {}: expected a JSON object with a string \"text\" field ({e})", n + 1)
                })),
            }
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

/// The longest line `--batch` reads (1 MiB); a longer one gets an error object, its rest is
/// skipped unread into memory, and the stream goes on.
pub const MAX_BATCH_LINE: usize = 1024 * 1024;

/// Reads one line (without its `\n`) into `buf`, keeping at most `cap` bytes: `None` at the
/// end of input, `Some(false)` when the line was longer (the rest is consumed, not kept), so
/// memory stays bounded whatever the input.
fn read_line_capped(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut fits = true;
    let mut read_any = false;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(read_any.then_some(fits));
        }
        read_any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if fits && buf.len() + part.len() <= cap {
            buf.extend_from_slice(part);
        } else {
            fits = false;
            buf.clear();
        }
        let used = done.unwrap_or(part.len());
        input.consume(used);
        if done.is_some() {
            return Ok(Some(fits));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_cap_are_skipped_in_bounded_memory() {
        let data = b"short\nxxxxxxxxxx\nlast".to_vec();
        let mut input = std::io::BufReader::with_capacity(3, data.as_slice());
        let mut buf = Vec::new();
        let mut got = Vec::new();
        while let Some(fits) = read_line_capped(&mut input, &mut buf, 5).unwrap() {
            got.push((fits, String::from_utf8(buf.clone()).unwrap()));
            assert!(buf.capacity() <= 16, "memory stays bounded");
        }
        assert_eq!(
            got,
            [
                (true, "short".into()),
                (false, String::new()),
                (true, "last".into())
            ]
        );
    }
}
