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

pub(super) fn run(args: Args, knowledge_dir: Option<&Path>) -> Result<()> {
    // The process ends with this command: freeing a large catalogue's index one allocation
    // at a time would only delay the exit, so the matcher is left to the OS.
    let matcher: &Matcher = Box::leak(Box::new(super::load_matcher(knowledge_dir)?));
    let top = args.top as usize;
    if args.batch {
        // A larger buffer than stdin's own: a pipe or file is read in bigger chunks.
        let input = std::io::BufReader::with_capacity(64 * 1024, std::io::stdin().lock());
        return batch(matcher, top, input, std::io::stdout().lock());
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

/// One output line per input line. Answers are buffered and written together whenever the
/// input read so far is used up, just before a read that may wait: callers that stream (a line
/// in, then wait for its answer) still get each answer at once, while a file or a busy pipe
/// costs one `write(2)` per chunk of input rather than per line.
/// A line that is not a JSON object with a string `text` gets an `{"error": ...}` line so the
/// output stays aligned with the input.
pub(super) fn batch(
    matcher: &Matcher,
    top: usize,
    input: impl BufRead,
    output: impl Write,
) -> Result<()> {
    batch_capped(matcher, top, input, output, MAX_BATCH_LINE)
}

/// The longest line `--batch` reads (1 MiB); a longer one gets an error object, its rest is
/// skipped without being kept, and the stream goes on.
pub(super) const MAX_BATCH_LINE: usize = 1024 * 1024;

/// [`batch`] with lines cut off at `cap` bytes: memory stays bounded whatever the input.
fn batch_capped(
    matcher: &Matcher,
    top: usize,
    mut input: impl BufRead,
    output: impl Write,
    cap: usize,
) -> Result<()> {
    let mut output = std::io::BufWriter::with_capacity(64 * 1024, output);
    // The start of a line whose end has not been read yet.
    let mut partial: Vec<u8> = Vec::new();
    // The current line passed `cap`: its bytes are dropped until its end.
    let mut overflow = false;
    let mut n = 0;
    loop {
        match output.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(Error::io("writing stdout", e)),
        }
        let chunk = input
            .fill_buf()
            .map_err(|e| Error::io("reading stdin", e))?;
        if chunk.is_empty() {
            if overflow || !partial.is_empty() {
                n += 1;
                finish_line(matcher, top, &partial, overflow, cap, n, &mut output)?;
            }
            return flushed(output);
        }
        let len = chunk.len();
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            n += 1;
            let too_long = overflow || partial.len() + end > cap;
            if partial.is_empty() || too_long {
                finish_line(matcher, top, &rest[..end], too_long, cap, n, &mut output)?;
            } else {
                partial.extend_from_slice(&rest[..end]);
                finish_line(matcher, top, &partial, false, cap, n, &mut output)?;
            }
            partial.clear();
            overflow = false;
            rest = &rest[end + 1..];
        }
        if !overflow && partial.len() + rest.len() > cap {
            overflow = true;
            partial = Vec::new();
        }
        if !overflow {
            partial.extend_from_slice(rest);
        }
        input.consume(len);
    }
}

/// Answers input line `n`, or says it was longer than `cap` and not read.
fn finish_line(
    matcher: &Matcher,
    top: usize,
    line: &[u8],
    too_long: bool,
    cap: usize,
    n: usize,
    output: &mut impl Write,
) -> Result<()> {
    if !too_long {
        return answer(matcher, top, line, n, output);
    }
    let out = json::line(&serde_json::json!({
        "error": format!("line {n}: longer than {} KiB; not read", cap / 1024)
    }));
    write_line(output, &out)
}

/// Flushes what is left; a closed pipe is a normal end.
fn flushed(mut output: impl Write) -> Result<()> {
    match output.flush() {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("writing stdout", e)),
    }
}

/// Writes the answer to input line `n` (1-based) into `output`.
fn answer(
    matcher: &Matcher,
    top: usize,
    line: &[u8],
    n: usize,
    output: &mut impl Write,
) -> Result<()> {
    let line = String::from_utf8_lossy(line);
    let line = line.trim();
    if line.is_empty() {
        return Ok(());
    }
    let out = match serde_json::from_str::<BatchLine>(line) {
        Ok(b) => json::line(&matcher.diagnose(&b.text, top)),
        Err(e) => json::line(&serde_json::json!({
            "error": format!("line {n}: expected a JSON object with a string \"text\" field ({e})")
        })),
    };
    write_line(output, &out)
}

fn write_line(output: &mut impl Write, out: &str) -> Result<()> {
    match writeln!(output, "{out}") {
        Ok(()) => Ok(()),
        // The reader is gone; the flush before the next read ends the loop quietly.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("writing stdout", e)),
    }
}

#[cfg(test)]
mod cap_tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn lines_past_the_cap_get_an_error_and_the_stream_goes_on() {
        let matcher = Matcher::new(Arc::new(crate::knowledge::Knowledge::builtin().unwrap()));
        let long = format!("{{\"text\": \"{}\"}}", "x".repeat(5000));
        let data = format!("{{\"text\": \"HTTP 429\"}}\n{long}\n{{\"text\": \"HTTP 503\"}}");
        // A small read buffer, so the long line spans many reads.
        let input = std::io::BufReader::with_capacity(7, data.as_bytes());
        let mut out = Vec::new();
        batch_capped(&matcher, 1, input, &mut out, 1024).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["matches"][0]["id"], "http-429");
        assert!(lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("line 2: longer than 1 KiB"));
        assert_eq!(lines[2]["matches"][0]["id"], "http-503");
    }
}
