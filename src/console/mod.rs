//! `medic chat`: the chat commands on stdin/stdout, no Discord and no token needed.
//!
//! Lines are read one by one: `/diagnose TEXT`, `/check NAME`, `/endpoints`, `/help`, `/quit`,
//! or free text (diagnosed like a mention to the bot). Works interactively (a prompt when stdin
//! is a terminal) and piped (`printf '/diagnose 429\n' | medic chat`). It calls the same
//! [`crate::commands`] as the bot and renders with [`crate::render::terminal`].

pub mod sink;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Instant;

use crate::commands::conversation::Key;
use crate::commands::{check, diagnose, endpoints, help, Services};
use crate::render::terminal;
use crate::{Error, Result};

/// A line longer than this is cut before it is read (a pasted log is still diagnosed by its
/// beginning, where error lines are).
const MAX_LINE_BYTES: usize = 64 * 1024;

/// How much of a multi-line message is kept (the matcher analyses its first 8 KiB).
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The console's commands as `/help` lists them.
pub fn help_entries() -> Vec<help::CommandHelp> {
    vec![
        help::CommandHelp {
            usage: "/diagnose TEXT",
            what: "the matching troubleshooting entry, step by step",
        },
        help::CommandHelp {
            usage: "/check NAME",
            what: "checks a configured endpoint stage by stage",
        },
        help::CommandHelp {
            usage: "/endpoints",
            what: "configured endpoints and their last known status",
        },
        help::CommandHelp {
            usage: "/ack NAME",
            what: "acknowledges an endpoint's open incident (stops reminders)",
        },
        help::CommandHelp {
            usage: "/silence NAME DURATION [REASON]",
            what: "holds an endpoint's alerts for a while, e.g. /silence billing 2h deploy",
        },
        help::CommandHelp {
            usage: "/unsilence NAME",
            what: "lifts a silence",
        },
        help::CommandHelp {
            usage: "/help",
            what: "this help",
        },
        help::CommandHelp {
            usage: "/quit",
            what: "leave (or Ctrl-D)",
        },
        help::CommandHelp {
            usage: "TEXT",
            what: "anything else is diagnosed as is",
        },
    ]
}

/// Reads commands from `input` until it ends (or `/quit`), writing answers to `output`.
/// `prompt` is shown before each line (interactive use only).
///
/// A pasted stack trace or multi-line error arrives as several lines at once: lines that
/// continue a message (indented frames, `Caused by:`, the exception line closing a Python
/// traceback) and are already waiting are read with it and answered once.
pub async fn run(
    services: &Services,
    input: impl Read,
    mut output: impl Write,
    prompt: bool,
) -> Result<()> {
    if prompt {
        write(
            &mut output,
            "medic chat — paste an error, or /help. Ctrl-D to leave.\n",
        )?;
        // Bracketed paste: the terminal marks a paste's start and end, so a pasted stack trace
        // is one message however its lines look. Written raw: the output gate drops ESC.
        let _ = output.write_all(BRACKETED_PASTE_ON.as_bytes());
    }
    let result = read_messages(services, input, &mut output, prompt).await;
    if prompt {
        let _ = output.write_all(BRACKETED_PASTE_OFF.as_bytes());
        let _ = output.flush();
    }
    result
}

const BRACKETED_PASTE_ON: &str = "\x1b[?2004h";
const BRACKETED_PASTE_OFF: &str = "\x1b[?2004l";
const PASTE_START: &str = "\x1b[200~";
const PASTE_END: &str = "\x1b[201~";

/// The rest of a bracketed paste that started on `first`: every line up to the end marker,
/// joined (kept to [`MAX_MESSAGE_BYTES`]; the markers removed).
fn bracketed(first: &str, input: &mut impl BufRead) -> Result<String> {
    let mut message = first.replacen(PASTE_START, "", 1);
    if let Some(done) = message.find(PASTE_END) {
        message.replace_range(done..done + PASTE_END.len(), "");
        return Ok(message);
    }
    while let Some(line) = read_line(input)? {
        let (text, done) = match line.find(PASTE_END) {
            Some(i) => (
                format!("{}{}", &line[..i], &line[i + PASTE_END.len()..]),
                true,
            ),
            None => (line, false),
        };
        if message.len() < MAX_MESSAGE_BYTES {
            message.push('\n');
            message.push_str(text.trim_end());
        }
        if done {
            break;
        }
    }
    Ok(message)
}

async fn read_messages(
    services: &Services,
    input: impl Read,
    mut output: impl Write,
    prompt: bool,
) -> Result<()> {
    let mut input = BufReader::with_capacity(MAX_LINE_BYTES, input);
    let mut pending: Option<String> = None;
    // Whether the last message answered was free text (or /diagnose), which a paste continues.
    let mut answered_text = false;
    loop {
        if prompt && pending.is_none() {
            write(&mut output, "medic> ")?;
        }
        let line = match pending.take() {
            Some(line) => line,
            None => match read_line(&mut input)? {
                Some(line) => line,
                None => return Ok(()),
            },
        };
        // A bracketed paste is one message, whatever its lines look like.
        let pasted = line.contains(PASTE_START);
        let line = match pasted {
            true => bracketed(&line, &mut input)?,
            false => line,
        };
        if line.trim().is_empty() {
            continue;
        }
        // The rest of a paste that arrived after its first lines were answered (a terminal
        // delivers a paste line by line): part of that message, not a new one.
        if !pasted && answered_text && frame_line(&line) {
            continue;
        }
        let mut message = line.trim().to_string();
        let is_command = message.starts_with('/') && !message.starts_with("/diagnose");
        let mut last = line;
        // Only what has already arrived: an interactive user's next line is never waited for.
        while !is_command && !input.buffer().is_empty() {
            let Some(next) = read_line(&mut input)? else {
                break;
            };
            if continues(&last, &next) {
                // The matcher reads a message's beginning; the rest of a huge paste is
                // consumed, not kept.
                if message.len() < MAX_MESSAGE_BYTES {
                    message.push('\n');
                    message.push_str(next.trim_end());
                }
                last = next;
            } else {
                pending = Some(next);
                break;
            }
        }
        answered_text = !is_command;
        // A check can take up to its timeout: say at once that it started.
        if let Some(name) = message
            .strip_prefix("/check ")
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            write(
                &mut output,
                &format!(
                    "checking {}…\n",
                    crate::text::truncate_chars(&crate::commands::clean_input(name), 100)
                ),
            )?;
        }
        let Some(answer) = answer(services, &message).await else {
            return Ok(());
        };
        write(&mut output, &answer)?;
        if !answer.ends_with('\n') {
            write(&mut output, "\n")?;
        }
        if prompt {
            write(&mut output, "\n")?;
        }
    }
}

/// One line of input, cut at [`MAX_LINE_BYTES`]; `None` at the end of input.
fn read_line(input: &mut impl BufRead) -> Result<Option<String>> {
    let mut buf = Vec::new();
    let n = Read::take(&mut *input, MAX_LINE_BYTES as u64)
        .read_until(b'\n', &mut buf)
        .map_err(|e| Error::io("reading stdin", e))?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') && n == MAX_LINE_BYTES {
        skip_line(input).map_err(|e| Error::io("reading stdin", e))?;
    }
    let line = String::from_utf8_lossy(&buf);
    Ok(Some(line.trim_end_matches(['\n', '\r']).to_string()))
}

/// Whether `next` continues the message whose last line was `prev`: a stack frame, a
/// `Caused by:`, an indented or closing line, or the exception line after indented frames.
fn continues(prev: &str, next: &str) -> bool {
    let t = next.trim();
    if t.is_empty() || t.starts_with('/') {
        return false;
    }
    if frame_line(next) {
        return true;
    }
    let p = prev.trim_end();
    if p.ends_with([':', '{', '[', ',', '\\']) {
        return true;
    }
    // `requests.exceptions.SSLError: …` closes a Python traceback whose frames are indented.
    prev.starts_with([' ', '\t'])
        && t.split_once(':').is_some_and(|(head, _)| {
            !head.is_empty()
                && head
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '$'))
        })
}

/// A line that can only be part of a trace or a multi-line error: indented, a frame (`at …`,
/// `File "…"`), `Caused by:`, a closing bracket.
fn frame_line(line: &str) -> bool {
    let t = line.trim();
    if t.is_empty() || t.starts_with('/') {
        return false;
    }
    if line.starts_with([' ', '\t']) {
        return true;
    }
    const OPENERS: &[&str] = &[
        "at ",
        "caused by",
        "suppressed:",
        "...",
        "file \"",
        "traceback",
        "during handling of the above",
        "the above exception",
        "goroutine ",
        "stack backtrace",
        "note: run with",
        "}",
        "]",
        ")",
    ];
    let lower = t.to_ascii_lowercase();
    OPENERS.iter().any(|o| lower.starts_with(o))
}

/// Discards input up to and including the next newline, one buffer at a time, so the rest of
/// an over-long line (a multi-gigabyte paste) is never held in memory.
fn skip_line(input: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let (found, used) = {
            let chunk = match input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(());
            }
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (true, i + 1),
                None => (false, chunk.len()),
            }
        };
        input.consume(used);
        if found {
            return Ok(());
        }
    }
}

/// The answer to one line; `None` means leave.
pub async fn answer(services: &Services, line: &str) -> Option<String> {
    let kb = services.matcher.knowledge();
    let (command, rest) = match line.strip_prefix('/') {
        Some(cmd) => {
            let (c, r) = cmd.split_once(char::is_whitespace).unwrap_or((cmd, ""));
            (Some(c.to_ascii_lowercase()), r.trim())
        }
        None => (None, line),
    };
    Some(match command.as_deref() {
        // One console session is one conversation.
        None | Some("diagnose") => {
            let outcome = services.conversations.diagnose(
                &services.matcher,
                Key { place: 0, user: 0 },
                Instant::now(),
                rest,
            );
            // "payments-api is failing again": what medic knows of it, and how to check it.
            let named = matches!(
                outcome,
                diagnose::Outcome::NoMatch(_) | diagnose::Outcome::Ask(_)
            )
            .then(|| endpoints::named_in(services.checker(), &services.statuses, rest))
            .flatten()
            .map(|line| {
                let mut lines = [line];
                if let Some(Ok(stored)) = services
                    .state_db
                    .as_ref()
                    .map(|db| stored_statuses(db, &lines))
                {
                    endpoints::add_stored(&mut lines, &stored);
                }
                let [line] = lines;
                line
            });
            match named {
                Some(line) => terminal::console::named_endpoint(&line),
                None => terminal::outcome(&outcome, kb),
            }
        }
        Some("help") => terminal::help(&help::run(kb.len(), help_entries())),
        Some("check") if rest.is_empty() => terminal::console::check_usage(),
        Some("check") => terminal::console::check_outcome(
            &check::run(services.checker(), &services.statuses, rest).await,
            kb,
        ),
        Some("endpoints") => {
            let mut lines = endpoints::run(services.checker(), &services.statuses);
            if let Some(db) = services.state_db.as_ref() {
                match stored_statuses(db, &lines) {
                    Ok(stored) => endpoints::add_stored(&mut lines, &stored),
                    // The list without history is still the list.
                    Err(e) => tracing::debug!(error = %e, "state database not read"),
                }
            }
            terminal::console::endpoints(&lines)
        }
        Some(kind @ ("ack" | "silence" | "unsilence")) => alert_command(services, kind, rest).await,
        Some("quit") | Some("exit") => return None,
        Some(other) => terminal::console::unknown_command(&crate::commands::clean_input(other)),
    })
}

/// `/ack NAME`, `/silence NAME DURATION [REASON]`, `/unsilence NAME`: queued in the state
/// database for the running `watch`/`serve` (or applied here when none runs), as `medic ack`
/// and friends do; the author is the OS user.
async fn alert_command(services: &Services, kind: &str, rest: &str) -> String {
    use crate::store::model::RequestKind;
    let mut words = rest.split_whitespace();
    let name = crate::commands::clean_input(words.next().unwrap_or(""));
    let usage = match kind {
        "silence" => "Usage: /silence NAME DURATION [REASON], e.g. /silence billing 2h deploy\n",
        "ack" => "Usage: /ack NAME\n",
        _ => "Usage: /unsilence NAME\n",
    };
    let (Some(db), Some(checker)) = (services.state_db.clone(), services.checker()) else {
        return "Alert commands need a state database and a medic.toml with endpoints.\n".into();
    };
    if name.is_empty() {
        return usage.into();
    }
    if checker.config().endpoint(&name).is_none() {
        return format!(
            "No endpoint named `{}`. /endpoints lists them all.\n",
            crate::text::truncate_chars(&name, 80)
        );
    }
    let (kind, duration, reason) = match kind {
        "silence" => {
            let Some(d) = words
                .next()
                .and_then(|w| crate::config::parse_duration(w).ok())
            else {
                return usage.into();
            };
            if d.is_zero() {
                return usage.into();
            }
            let reason: Vec<&str> = words.collect();
            (
                RequestKind::Silence,
                d,
                crate::commands::clean_input(&reason.join(" ")),
            )
        }
        "ack" => (RequestKind::Ack, std::time::Duration::ZERO, String::new()),
        _ => (
            RequestKind::Unsilence,
            std::time::Duration::ZERO,
            String::new(),
        ),
    };
    let author = crate::alerts::requests::os_author();
    let req = crate::alerts::requests::request(kind, &name, &author, &reason, duration);
    let config = checker.config().clone();
    let done =
        tokio::task::spawn_blocking(move || crate::alerts::requests::submit_to(&db, &config, req))
            .await;
    match done {
        Ok(Ok(r)) => format!("{}\n", r.message),
        Ok(Err(e)) => format!("Could not do that: {e}\n"),
        Err(e) => format!("Could not do that: {e}\n"),
    }
}

/// What the state database at `db` knows of the listed endpoints; nothing if it does not exist.
fn stored_statuses(
    db: &crate::store::Location,
    lines: &[endpoints::Line],
) -> Result<Vec<crate::alerts::monitor::EndpointStatus>> {
    use crate::alerts::Clock;
    let Some(store) = crate::store::open_for_reading(db)? else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = lines.iter().map(|l| l.name.clone()).collect();
    crate::alerts::monitor::status(&*store, &names, crate::alerts::SystemClock.now_ms())
}

fn write(out: &mut impl Write, text: &str) -> Result<()> {
    // `medic chat | head`: a closed pipe is a normal end.
    terminal::write_out(out, text)
        .map(|_| ())
        .map_err(|e| Error::io("writing stdout", e))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::checks::Checker;
    use crate::config::Config;
    use crate::knowledge::Knowledge;
    use crate::matcher::Matcher;

    fn services(config: Option<&str>) -> Services {
        let matcher = Arc::new(Matcher::new(Arc::new(Knowledge::builtin().unwrap())));
        let checker = config.map(|text| {
            let env = std::collections::HashMap::<String, String>::new();
            let c = Config::parse("medic.toml", text, std::path::Path::new("."), &env).unwrap();
            Arc::new(Checker::new(Arc::new(c)))
        });
        Services::new(matcher, checker)
    }

    async fn chat(services: &Services, input: &str) -> String {
        let mut out = Vec::new();
        run(services, input.as_bytes(), &mut out, false)
            .await
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn commands_and_free_text() {
        let s = services(None);
        let out = chat(
            &s,
            "/diagnose 429\n/DIAGNOSE http-503\n/help\n/check x\n/check\n",
        )
        .await;
        assert!(out.contains("429 · Too Many Requests"), "{out}");
        assert!(
            out.contains("[http-503]"),
            "an entry id opens the entry: {out}"
        );
        assert!(out.contains("/endpoints"), "{out}");
        assert!(out.contains("No endpoints are configured"), "{out}");
        assert!(out.contains("Usage: /check NAME"), "{out}");
    }

    #[tokio::test]
    async fn a_follow_up_and_a_question_about_a_code() {
        let s = services(None);
        let out = chat(&s, "/diagnose 429\nwhat about 503?\nwhat does 422 mean\n").await;
        let answers: Vec<&str> = out.split("Steps:").collect();
        assert_eq!(answers.len(), 4, "three answers: {out}");
        assert!(answers[0].contains("[http-429]"), "{out}");
        assert!(answers[1].contains("[http-503]"), "{out}");
        assert!(answers[2].contains("[http-422]"), "{out}");
    }

    #[tokio::test]
    async fn a_pasted_stack_trace_gets_one_answer() {
        let s = services(None);
        let trace = "javax.net.ssl.SSLHandshakeException: PKIX path building failed: unable to find valid certification path to requested target\n\tat sun.security.ssl.Alert.createSSLException(Alert.java:131)\n\tat sun.security.ssl.TransportContext.fatal(TransportContext.java:353)\n\tat sun.security.ssl.CertificateMessage$T13CertificateConsumer.consume(CertificateMessage.java:1187)\nCaused by: sun.security.validator.ValidatorException: PKIX path building failed\n";
        let out = chat(&s, trace).await;
        assert_eq!(out.matches("Steps:").count(), 1, "{out}");
        assert!(!out.contains("No confident answer"), "{out}");
        let py = "Traceback (most recent call last):\n  File \"sync.py\", line 12, in <module>\n    r = requests.get(url)\nrequests.exceptions.SSLError: HTTPSConnectionPool(host='api.partner.example', port=443): certificate verify failed: certificate has expired\n/help\n";
        let out = chat(&s, py).await;
        assert_eq!(out.matches("Steps:").count(), 1, "{out}");
        assert!(
            out.contains("/endpoints"),
            "the command after the trace is its own: {out}"
        );
    }

    #[tokio::test]
    async fn didnt_help_offers_other_causes() {
        let s = services(None);
        let out = chat(
            &s,
            "ECONNREFUSED when calling the partner api\nstill failing\n",
        )
        .await;
        assert!(out.contains("Other causes to rule out after"), "{out}");
    }

    #[tokio::test]
    async fn a_vague_complaint_is_asked_about() {
        let s = services(None);
        let out = chat(&s, "it's broken again, nothing works\n").await;
        assert!(out.contains("tell me a bit more"), "{out}");
        assert!(out.contains("What error or HTTP status"), "{out}");
    }

    #[tokio::test]
    async fn a_huge_indented_paste_is_one_bounded_message() {
        let s = services(None);
        let mut paste =
            String::from("javax.net.ssl.SSLHandshakeException: PKIX path building failed\n");
        for i in 0..200_000 {
            paste.push_str(&format!("\tat com.example.Frame{i}.call(Frame.java:{i})\n"));
        }
        let out = chat(&s, &paste).await;
        assert_eq!(out.matches("Steps:").count(), 1, "one answer");
    }

    #[tokio::test]
    async fn frames_arriving_after_the_answer_are_not_answered_again() {
        let s = services(None);
        let mut out = Vec::new();
        // One line per read, as a terminal delivers a paste.
        struct LineByLine(Vec<&'static [u8]>);
        impl std::io::Read for LineByLine {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Ok(0);
                }
                let line = self.0.remove(0);
                buf[..line.len()].copy_from_slice(line);
                Ok(line.len())
            }
        }
        let input = LineByLine(vec![
            b"javax.net.ssl.SSLHandshakeException: PKIX path building failed\n",
            b"\tat sun.security.ssl.Alert.createSSLException(Alert.java:131)\n",
            b"Caused by: sun.security.validator.ValidatorException: PKIX path building failed\n",
            b"what does 422 mean\n",
        ]);
        run(&s, input, &mut out, false).await.unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.matches("Steps:").count(), 2, "{out}");
        assert!(out.contains("[http-422]"), "{out}");
    }

    #[tokio::test]
    async fn a_message_naming_an_endpoint_gets_its_state_and_the_check_to_run() {
        let s = services(Some(
            "[[endpoints]]\nname = \"payments-api\"\nurl = \"http://127.0.0.1:9/health\"\n",
        ));
        let out = chat(&s, "payments-api is failing again\n").await;
        assert!(out.contains("payments-api"), "{out}");
        assert!(out.contains("not checked yet"), "{out}");
        assert!(out.contains("/check payments-api"), "{out}");
        // A name inside another word is no mention of it.
        let out = chat(&s, "old-payments-api-v0 is failing again\n").await;
        assert!(!out.contains("/check payments-api"), "{out}");
    }

    #[test]
    fn continuation_lines() {
        assert!(continues("Error: x", "    at f (a.js:1:2)"));
        assert!(continues("Exception: x", "Caused by: y"));
        assert!(continues("  File \"a.py\", line 1", "ssl.SSLError: bad"));
        assert!(!continues("what does 422 mean", "what about 503?"));
        assert!(!continues("Error: x", "/help"));
        assert!(!continues("429 from stripe", "ECONNREFUSED now too"));
    }

    /// A 1 GiB line of spaces followed by `tail`, served from one static chunk: reading the
    /// line into memory would need 1 GiB, skipping it needs none. (Spaces: the first 64 KiB are
    /// then an empty line, which keeps the matcher out of the test's time.)
    struct HugeLine {
        left: u64,
        tail: &'static [u8],
    }

    static CHUNK: [u8; 64 * 1024] = [b' '; 64 * 1024];

    impl std::io::Read for HugeLine {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let chunk = self.fill_buf()?;
            let n = chunk.len().min(out.len());
            out[..n].copy_from_slice(&chunk[..n]);
            self.consume(n);
            Ok(n)
        }
    }

    impl BufRead for HugeLine {
        fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
            if self.left > 0 {
                let n = CHUNK
                    .len()
                    .min(usize::try_from(self.left).unwrap_or(usize::MAX));
                return Ok(&CHUNK[..n]);
            }
            Ok(self.tail)
        }

        fn consume(&mut self, amt: usize) {
            if self.left > 0 {
                self.left -= amt as u64;
            } else {
                self.tail = &self.tail[amt..];
            }
        }
    }

    #[tokio::test]
    async fn an_over_long_line_is_skipped_without_being_read_into_memory() {
        let input = HugeLine {
            left: 1 << 30,
            tail: b"\n/diagnose 429\n",
        };
        let mut out = Vec::new();
        run(&services(None), input, &mut out, false).await.unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("429 · Too Many Requests"), "{out}");
    }

    #[tokio::test]
    async fn check_then_endpoints_shows_the_last_status() {
        // A port nothing listens on: the TCP stage fails at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let s = services(Some(&format!(
            "[[endpoints]]\nname = \"search\"\nurl = \"http://127.0.0.1:{port}/\"\ntimeout = \"2s\"\n"
        )));
        let before = chat(&s, "/endpoints\n").await;
        assert!(
            before.contains("search") && before.contains("not checked yet"),
            "{before}"
        );
        let out = chat(&s, "/check search\n/check serch\n/endpoints\n").await;
        assert!(out.contains("TCP"), "{out}");
        assert!(out.contains("Did you mean search?"), "{out}");
        assert!(out.contains("fail"), "{out}");
        assert!(!out.contains("not checked yet"), "{out}");
    }

    #[tokio::test]
    async fn a_bracketed_paste_is_one_message_whatever_its_lines() {
        let s = services(None);
        let input = "\x1b[200~javax.net.ssl.SSLHandshakeException: PKIX path building failed\nwe deployed on friday and nobody touched it\nsecond unrelated remark here\x1b[201~\n/quit\n";
        let out = chat(&s, input).await;
        assert_eq!(
            out.matches("[tls-untrusted-certificate]").count(),
            1,
            "{out}"
        );
        assert!(!out.contains("No confident answer"), "{out}");
        // Without the markers the same lines are three messages.
        let out = chat(&s, &input.replace("\x1b[200~", "").replace("\x1b[201~", "")).await;
        assert!(
            out.matches("[tls-untrusted-certificate]").count() >= 1,
            "{out}"
        );
        let with_prompt = {
            let mut out = Vec::new();
            run(&s, "/quit\n".as_bytes(), &mut out, true).await.unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(with_prompt.starts_with("medic chat"), "{with_prompt:?}");
        assert!(
            with_prompt.contains("\x1b[?2004h") && with_prompt.ends_with("\x1b[?2004l"),
            "{with_prompt:?}"
        );
    }
}
