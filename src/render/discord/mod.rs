//! Discord rendering: every result becomes a [`Reply`] (content, embeds, buttons) that fits
//! Discord's limits, so Discord never rejects an answer with a 400.
//!
//! Limits are enforced here, not by serenity (which checks none of the per-field ones): titles
//! 256, descriptions 4096, fields 1024 (name 256, at most 25), footers 2048, everything in all
//! embeds 6000, content 2000, button labels 80, custom ids 100, five buttons per row.
//! Long guidance is cut at a line break with a pointer to the full entry.

use serenity::all::{
    CreateActionRow, CreateAllowedMentions, CreateButton, CreateEmbed, CreateEmbedFooter,
};

use crate::checks::{format_time, CheckReport, Overall, StageStatus};
use crate::commands::check::{Outcome as CheckOutcome, HOW_TO_CONFIGURE};
use crate::commands::diagnose::Others;
use crate::commands::diagnose::Outcome;
use crate::commands::endpoints::Line;
use crate::commands::help::Help;
use crate::knowledge::{Entry, Knowledge};
use crate::matcher::{Diagnosis, Match};
use crate::render::terminal;
use crate::text::truncate_chars;

pub mod alert;

pub const MAX_CONTENT: usize = 2000;
pub const MAX_TITLE: usize = 256;
pub const MAX_DESCRIPTION: usize = 4096;
pub const MAX_FIELDS: usize = 25;
pub const MAX_FIELD_NAME: usize = 256;
pub const MAX_FIELD_VALUE: usize = 1024;
pub const MAX_FOOTER: usize = 2048;
pub const MAX_EMBEDS_TOTAL: usize = 6000;
pub const MAX_BUTTON_LABEL: usize = 80;
pub const MAX_CUSTOM_ID: usize = 100;
const MAX_BUTTONS: usize = 5;

/// Prefix of the custom id of every component medic sends; the bot routes component
/// interactions by what follows it (`entry:<id>` opens an entry).
pub const CUSTOM_ID_PREFIX: &str = "medic:";
/// Custom id prefix of "open this entry" buttons.
pub const OPEN_ENTRY: &str = "medic:entry:";
/// Custom id prefix of a DOWN alert's "Re-run check" button; the alert id follows.
pub const ALERT_RERUN: &str = "medic:alert-rerun:";
/// Custom id prefix of a DOWN alert's "Acknowledge" button; the alert id follows.
pub const ALERT_ACK: &str = "medic:alert-ack:";
/// "Check now" under a message that names a configured endpoint: `medic:check:<name>`.
pub const CHECK_ENDPOINT: &str = "medic:check:";
/// "Helpful" under an answer: `medic:fb-yes:<entry id>`.
pub const FEEDBACK_YES: &str = "medic:fb-yes:";
/// "Not this" under an answer: `medic:fb-no:<entry id>`.
pub const FEEDBACK_NO: &str = "medic:fb-no:";

const COLOR_ANSWER: u32 = 0x2b_8a_3e;
const COLOR_UNSURE: u32 = 0xe6_77_00;
const COLOR_INFO: u32 = 0x1c_7e_d6;
const TRUNCATED: &str = "\n… (cut to fit Discord: run `medic diagnose` for the full entry)";

/// One embed, already within Discord's limits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Embed {
    pub title: String,
    pub description: String,
    pub fields: Vec<(String, String)>,
    pub footer: Option<String>,
    pub color: u32,
    /// Shown by Discord in the reader's time zone (milliseconds since the epoch).
    pub timestamp: Option<crate::alerts::Millis>,
}

/// How a button looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ButtonStyle {
    Primary,
    #[default]
    Secondary,
}

/// A button: opens a knowledge entry, re-runs a check, acknowledges an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub custom_id: String,
    pub label: String,
    pub style: ButtonStyle,
    pub disabled: bool,
}

/// Everything one answer needs; the bot turns it into an interaction response or a message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub content: Option<String>,
    pub embeds: Vec<Embed>,
    pub buttons: Vec<Button>,
    /// Only the asking user sees it (interactions only).
    pub ephemeral: bool,
    /// The entry an answer shows: "Helpful" / "Not this" buttons on a row of their own.
    pub feedback: Option<String>,
}

impl Reply {
    pub fn text(content: impl AsRef<str>) -> Reply {
        Reply {
            content: Some(truncate_chars(content.as_ref(), MAX_CONTENT)),
            ..Reply::default()
        }
    }

    /// One embed, fitted to Discord's limits, and nothing else.
    pub fn embed(embed: Embed) -> Reply {
        Reply {
            embeds: vec![embed.fit()],
            ..Reply::default()
        }
    }

    /// Button labels and ids cut to Discord's limits, at most five buttons.
    pub fn fit_buttons(mut self) -> Reply {
        self.buttons.truncate(MAX_BUTTONS);
        for b in &mut self.buttons {
            b.label = truncate_chars(&b.label, MAX_BUTTON_LABEL);
            b.custom_id = truncate_chars(&b.custom_id, MAX_CUSTOM_ID);
        }
        self
    }

    pub fn ephemeral(mut self) -> Reply {
        self.ephemeral = true;
        self
    }

    pub fn serenity_embeds(&self) -> Vec<CreateEmbed> {
        self.embeds.iter().map(Embed::to_serenity).collect()
    }

    /// The buttons as action rows (empty when there are none).
    pub fn serenity_components(&self) -> Vec<CreateActionRow> {
        let mut rows = self.button_row();
        if let Some(id) = self
            .feedback
            .as_ref()
            .filter(|id| FEEDBACK_YES.len() + id.chars().count() <= MAX_CUSTOM_ID)
        {
            rows.push(CreateActionRow::Buttons(vec![
                CreateButton::new(format!("{FEEDBACK_YES}{id}"))
                    .label("Helpful")
                    .style(serenity::all::ButtonStyle::Success),
                CreateButton::new(format!("{FEEDBACK_NO}{id}"))
                    .label("Not this")
                    .style(serenity::all::ButtonStyle::Secondary),
            ]));
        }
        rows
    }

    fn button_row(&self) -> Vec<CreateActionRow> {
        if self.buttons.is_empty() {
            return Vec::new();
        }
        let buttons = self
            .buttons
            .iter()
            .map(|b| {
                CreateButton::new(b.custom_id.clone())
                    .label(b.label.clone())
                    .style(match b.style {
                        self::ButtonStyle::Primary => serenity::all::ButtonStyle::Primary,
                        self::ButtonStyle::Secondary => serenity::all::ButtonStyle::Secondary,
                    })
                    .disabled(b.disabled)
            })
            .collect();
        vec![CreateActionRow::Buttons(buttons)]
    }
}

/// No pings, ever: not `@everyone`, not roles, not users, not the author of a replied message.
pub fn no_mentions() -> CreateAllowedMentions {
    CreateAllowedMentions::new().replied_user(false)
}

impl Embed {
    /// Total characters as Discord counts them against the 6000 limit.
    pub fn len(&self) -> usize {
        self.title.chars().count()
            + self.description.chars().count()
            + self.footer.as_deref().map_or(0, |f| f.chars().count())
            + self
                .fields
                .iter()
                .map(|(n, v)| n.chars().count() + v.chars().count())
                .sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cuts every part to its limit, then the description until the whole fits in 6000.
    fn fit(mut self) -> Embed {
        self.title = truncate_chars(&self.title, MAX_TITLE);
        self.description = cut_at_line(&self.description, MAX_DESCRIPTION);
        // Discord refuses a field with an empty name or value (an entry without steps).
        self.fields
            .retain(|(name, value)| !name.trim().is_empty() && !value.trim().is_empty());
        self.fields.truncate(MAX_FIELDS);
        for (name, value) in &mut self.fields {
            *name = truncate_chars(name, MAX_FIELD_NAME);
            *value = cut_at_line(value, MAX_FIELD_VALUE);
        }
        self.footer = self.footer.map(|f| truncate_chars(&f, MAX_FOOTER));
        let over = self.len().saturating_sub(MAX_EMBEDS_TOTAL);
        if over > 0 {
            let keep = self.description.chars().count().saturating_sub(over);
            self.description = cut_at_line(&self.description, keep);
        }
        // Still over (many long fields): drop fields from the end.
        while self.len() > MAX_EMBEDS_TOTAL && !self.fields.is_empty() {
            self.fields.pop();
        }
        self
    }

    pub fn to_serenity(&self) -> CreateEmbed {
        let mut e = CreateEmbed::new().color(self.color);
        if !self.title.is_empty() {
            e = e.title(self.title.clone());
        }
        if !self.description.is_empty() {
            e = e.description(self.description.clone());
        }
        for (name, value) in &self.fields {
            e = e.field(name.clone(), value.clone(), false);
        }
        if let Some(footer) = &self.footer {
            e = e.footer(CreateEmbedFooter::new(footer.clone()));
        }
        if let Some(ts) = self
            .timestamp
            .and_then(|ms| serenity::all::Timestamp::from_unix_timestamp(ms.div_euclid(1000)).ok())
        {
            e = e.timestamp(ts);
        }
        e
    }
}

/// `text` in at most `max` characters; when cut, it ends at the last line break that keeps
/// most of the text, followed by a note that it was cut.
pub fn cut_at_line(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let note_len = TRUNCATED.chars().count();
    if max <= note_len + 16 {
        return truncate_chars(text, max);
    }
    let budget = max - note_len;
    let head: String = text.chars().take(budget).collect();
    let cut = match head.rfind('\n') {
        Some(i) if i > head.len() / 2 => &head[..i],
        _ => head.as_str(),
    };
    format!("{}{TRUNCATED}", cut.trim_end())
}

/// Hides Discord markdown and mention syntax in text medic did not write (entry titles from a
/// user's knowledge directory, endpoint names), so it shows as typed.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '[' | ']' | '(' | ')' | '#' | '-'
        ) {
            out.push('\\');
        }
        out.push(c);
        if c == '@' {
            // A zero-width space keeps `@everyone` from reading as a mention even in clients
            // that ignore allowed_mentions when rendering.
            out.push('\u{200b}');
        }
    }
    out
}

/// `text` as an inline code span. Markdown is not parsed inside one, so escaping would show
/// its backslashes; only a backtick could end the span early, so those become `'`.
pub fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'"))
}

/// A `/diagnose` (or free-text) outcome.
pub fn outcome(outcome: &Outcome, kb: &Knowledge) -> Reply {
    match outcome {
        Outcome::Answer(d) => diagnosis(d, kb),
        Outcome::Entry(e) => entry_reply(e, kb, "You picked this entry.".to_string(), &[]),
        Outcome::NoMatch(d) => no_match(d),
        Outcome::Others(o) => others(o, kb),
        Outcome::Ask(questions) => {
            let mut text = format!("{}\n", super::text::ASK_INTRO);
            for (i, q) in questions.iter().enumerate() {
                text.push_str(&format!("{}. {q}\n", i + 1));
            }
            Reply::text(text)
        }
        Outcome::Empty => Reply::text(
            "Tell me what is failing: paste the error line or the HTTP status, e.g. `/diagnose query: 429 Too Many Requests`.",
        )
        .ephemeral(),
    }
}

/// The best match in full, why it matched, and the other candidates.
pub fn diagnosis(d: &Diagnosis, kb: &Knowledge) -> Reply {
    let Some(best) = d.best() else {
        return no_match(d);
    };
    let why = format!(
        "Matched {} · confidence {:.0}%",
        terminal::reasons(&best.reasons),
        best.score * 100.0
    );
    let mut reply = entry_reply(&best.entry, kb, why, &d.matches[1..]);
    reply.feedback = Some(best.id.clone());
    reply
}

/// An entry as an embed: title, summary, numbered steps, related entries (also as buttons).
pub fn entry_reply(entry: &Entry, kb: &Knowledge, why: String, others: &[Match]) -> Reply {
    let also = others
        .iter()
        .map(|m| {
            format!(
                "{} ({}, {:.0}%)",
                escape(&m.title),
                code(&m.id),
                m.score * 100.0
            )
        })
        .collect();
    let entries: Vec<&Entry> = others.iter().map(|m| &*m.entry).collect();
    entry_with(entry, kb, why, ("Also possible", also), &entries)
}

/// A follow-up's "didn't help": the next candidate in full, the others to rule out listed.
pub fn others(o: &Others, kb: &Knowledge) -> Reply {
    let Some((first, rest)) = o.entries.split_first() else {
        return Reply::text("I have nothing else to suggest for that one.").ephemeral();
    };
    let why = super::text::others_heading(&o.after);
    let also = rest
        .iter()
        .map(|e| format!("{} ({})", escape(&e.title), code(&e.id)))
        .collect();
    let entries: Vec<&Entry> = rest.iter().map(|e| &**e).collect();
    entry_with(first, kb, why, ("Also rule out", also), &entries)
}

/// An entry with a footer saying why it is shown, and a field listing other entries (each
/// also a button).
fn entry_with(
    entry: &Entry,
    kb: &Knowledge,
    why: String,
    (also_title, also): (&str, Vec<String>),
    others: &[&Entry],
) -> Reply {
    let mut description = format!("{}\n\n**Steps**\n", entry.summary.trim());
    for (i, step) in entry.steps.iter().enumerate() {
        let step = crate::knowledge::placeholders::with_defaults(step);
        description.push_str(&format!("{}. {}\n", i + 1, step.trim()));
    }
    let mut fields = Vec::new();
    let related: Vec<&Entry> = entry
        .related
        .iter()
        .filter_map(|id| kb.get(id))
        .map(|e| &**e)
        .collect();
    if !related.is_empty() {
        let list: Vec<String> = related
            .iter()
            .map(|e| format!("{} ({})", escape(&e.title), code(&e.id)))
            .collect();
        fields.push(("Related".to_string(), list.join("\n")));
    }
    if !also.is_empty() {
        fields.push((also_title.to_string(), also.join("\n")));
    }
    let embed = Embed {
        title: entry.title.clone(),
        description,
        fields,
        footer: Some(format!("{why} · entry {}", entry.id)),
        color: COLOR_ANSWER,
        timestamp: None,
    }
    .fit();
    let buttons = unique_buttons(related.iter().copied().chain(others.iter().copied()));
    Reply {
        content: None,
        embeds: vec![embed],
        buttons,
        ephemeral: false,
        feedback: None,
    }
}

/// "Open this entry" buttons, at most [`MAX_BUTTONS`]. An entry can be both related and "also
/// possible"; Discord rejects a message whose custom ids repeat, so each entry gets one button.
fn unique_buttons<'a>(entries: impl Iterator<Item = &'a Entry>) -> Vec<Button> {
    let mut seen = std::collections::HashSet::new();
    entries
        .map(open_button)
        .filter(|b| b.custom_id.chars().count() <= MAX_CUSTOM_ID)
        .filter(|b| seen.insert(b.custom_id.clone()))
        .take(MAX_BUTTONS)
        .collect()
}

fn open_button(entry: &Entry) -> Button {
    Button {
        custom_id: format!("{OPEN_ENTRY}{}", entry.id),
        label: truncate_chars(&entry.title, MAX_BUTTON_LABEL),
        style: ButtonStyle::Secondary,
        disabled: false,
    }
}

/// Nothing confident: the closest entries with a hint, shown only to the asker.
pub fn no_match(d: &Diagnosis) -> Reply {
    let mut description = String::from(
        "I have no confident answer for that. Paste the exact error line or the HTTP status \
         (e.g. `429`, `ECONNREFUSED`, `certificate has expired`), or pick an entry from the \
         list `/diagnose` shows as you type.",
    );
    let near: Vec<&Match> = d.near_misses.iter().take(3).collect();
    if !near.is_empty() {
        description.push_str("\n\n**Closest entries**\n");
        for m in &near {
            description.push_str(&format!("• {} ({})\n", escape(&m.title), code(&m.id)));
        }
    }
    let embed = Embed {
        title: "No confident match".to_string(),
        description,
        fields: Vec::new(),
        footer: None,
        color: COLOR_UNSURE,
        timestamp: None,
    }
    .fit();
    Reply {
        content: None,
        embeds: vec![embed],
        buttons: unique_buttons(near.iter().map(|m| &*m.entry)),
        ephemeral: true,
        feedback: None,
    }
}

/// `/help`.
pub fn help(h: &Help) -> Reply {
    let commands: Vec<String> = h
        .commands
        .iter()
        .map(|c| format!("`{}` — {}", c.usage, c.what))
        .collect();
    let embed = Embed {
        title: "medic".to_string(),
        description: h.intro.to_string(),
        fields: vec![
            ("Commands".to_string(), commands.join("\n")),
            (
                "How to ask".to_string(),
                h.how_to_ask
                    .iter()
                    .map(|l| format!("• {l}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ],
        footer: Some(format!("{} knowledge entries loaded", h.entries)),
        color: COLOR_INFO,
        timestamp: None,
    };
    Reply::embed(embed).ephemeral()
}

// ---- /check and /endpoints ----

const COLOR_FAIL: u32 = 0xc9_2a_2a;

fn overall_icon(o: Overall) -> &'static str {
    match o {
        Overall::Ok => "✅",
        Overall::Warn => "⚠️",
        Overall::Fail => "❌",
    }
}

fn stage_icon(s: StageStatus) -> &'static str {
    match s {
        StageStatus::Ok => "✅",
        StageStatus::Warn => "⚠️",
        StageStatus::Fail => "❌",
        StageStatus::Skipped => "⏭️",
    }
}

/// A `/check` result: the stages one per line, then the steps for the failing stage.
pub fn check(outcome: &CheckOutcome, kb: &Knowledge) -> Reply {
    match outcome {
        CheckOutcome::NotConfigured => Reply::text(HOW_TO_CONFIGURE).ephemeral(),
        CheckOutcome::Unknown { name, suggestions } => {
            let mut text = format!("No endpoint named {}.", code(name));
            if !suggestions.is_empty() {
                let list: Vec<String> = suggestions.iter().map(|s| code(s)).collect();
                text.push_str(&format!(" Did you mean {}?", list.join(", ")));
            }
            text.push_str(" `/endpoints` lists them all.");
            Reply::text(text).ephemeral()
        }
        CheckOutcome::Unusable { name, reason } => Reply::text(format!(
            "{} is not configured, so it cannot be checked: {}. Fix it in medic.toml (`medic config check` lists every problem).",
            code(name),
            crate::text::printable(reason)
        ))
        .ephemeral(),
        CheckOutcome::Report(report) => check_report(report, kb),
    }
}

pub fn check_report(report: &CheckReport, kb: &Knowledge) -> Reply {
    let mut description = String::new();
    for s in &report.stages {
        let timing = if s.status == StageStatus::Skipped {
            String::new()
        } else {
            format!(" {} ms", s.ms)
        };
        description.push_str(&format!(
            "{} **{}**{timing} — {}\n",
            stage_icon(s.status),
            s.stage.label(),
            escape(&truncate_chars(&s.detail, 300))
        ));
    }
    let mut fields = Vec::new();
    for (stage, entry) in report.guidance(kb).iter().take(3) {
        let mut steps = String::new();
        for (i, step) in entry.steps.iter().enumerate() {
            let step = report.placeholders.fill(step);
            steps.push_str(&format!("{}. {}\n", i + 1, step.trim()));
        }
        let situation = report
            .headline(stage)
            .unwrap_or_else(|| "failed/warned".to_string());
        fields.push((
            format!("{} {situation} → {}", stage.stage.label(), entry.title),
            steps,
        ));
    }
    let status = match report.status {
        Overall::Ok => "ok",
        Overall::Warn => "warning",
        Overall::Fail => "failing",
    };
    let embed = Embed {
        title: format!(
            "{} {} — {status}",
            overall_icon(report.status),
            report.endpoint
        ),
        description,
        fields,
        footer: Some(format!(
            "{} · {} ms · checked {}",
            report.url,
            report.total_ms,
            format_time(report.started_at)
        )),
        color: match report.status {
            Overall::Ok => COLOR_ANSWER,
            Overall::Warn => COLOR_UNSURE,
            Overall::Fail => COLOR_FAIL,
        },
        timestamp: None,
    };
    Reply::embed(embed)
}

/// `/endpoints`: one line per configured endpoint with its last known status. Whole
/// endpoints only: when they do not all fit in a description, the list ends with how many
/// were left out.
/// A message that names a configured endpoint ("payments-api is failing again") and matched no
/// entry: what medic knows of it, and a button to check it now (the click is role-gated like
/// `/check`). A name too long for a button's id gets the command to type instead.
pub fn named_endpoint(line: &Line) -> Reply {
    let mut reply = endpoints(std::slice::from_ref(line));
    for embed in &mut reply.embeds {
        embed.title = escape(&truncate_chars(&line.name, MAX_TITLE));
        embed.footer = Some(format!(
            "Check it now, stage by stage (check roles only), or paste the error you see: /check endpoint:{}",
            truncate_chars(&line.name, 100)
        ));
    }
    if CHECK_ENDPOINT.len() + line.name.len() <= MAX_CUSTOM_ID {
        reply.buttons.push(Button {
            custom_id: format!("{CHECK_ENDPOINT}{}", line.name),
            label: format!("Check {}", line.name),
            style: ButtonStyle::Primary,
            disabled: false,
        });
    }
    reply.fit_buttons()
}

pub fn endpoints(lines: &[Line]) -> Reply {
    if lines.is_empty() {
        return Reply::text(HOW_TO_CONFIGURE).ephemeral();
    }
    let mut description = String::new();
    let mut used = 0;
    for (shown, l) in lines.iter().enumerate() {
        let last = match (&l.not_configured, &l.last) {
            (Some(why), _) => format!("⛔ not configured: {}", escape(&truncate_chars(why, 300))),
            (None, None) => "❔ not checked yet".to_string(),
            (None, Some(k)) => {
                let mut s = format!("{} {}", overall_icon(k.status), format_time(k.at));
                if let Some(p) = &k.problem {
                    s.push_str(&format!(" — {}", escape(&truncate_chars(p, 200))));
                }
                s
            }
        };
        let entry = match l.url.is_empty() {
            true => format!("**{}**\n{last}\n", escape(&l.name)),
            false => format!("**{}** · {}\n{last}\n", escape(&l.name), escape(&l.url)),
        };
        let entry_len = entry.chars().count();
        let rest = lines.len() - shown;
        // Room for the "and N more" line in case a later endpoint does not fit.
        let reserve = if rest > 1 {
            more(rest - 1).chars().count()
        } else {
            0
        };
        if used + entry_len + reserve > MAX_DESCRIPTION {
            description.push_str(&more(rest));
            break;
        }
        description.push_str(&entry);
        used += entry_len;
    }
    let embed = Embed {
        title: format!("Endpoints ({})", lines.len()),
        description,
        fields: Vec::new(),
        footer: Some("/check endpoint:<name> runs a check now".to_string()),
        color: COLOR_INFO,
        timestamp: None,
    };
    Reply::embed(embed)
}

fn more(n: usize) -> String {
    format!("… and {n} more")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_entries_are_cut_to_every_limit() {
        let kb = Knowledge::builtin().unwrap();
        let mut entry = (**kb.get("http-429").unwrap()).clone();
        entry.title = "T".repeat(400);
        entry.summary = "s".repeat(3000);
        entry.steps = (0..200)
            .map(|i| format!("step {i} {}", "x".repeat(80)))
            .collect();
        let reply = entry_reply(&entry, &kb, "w".repeat(5000), &[]);
        let e = &reply.embeds[0];
        assert!(e.title.chars().count() <= MAX_TITLE);
        assert!(e.description.chars().count() <= MAX_DESCRIPTION);
        assert!(e.footer.as_ref().unwrap().chars().count() <= MAX_FOOTER);
        assert!(e
            .fields
            .iter()
            .all(|(n, v)| n.chars().count() <= MAX_FIELD_NAME
                && v.chars().count() <= MAX_FIELD_VALUE));
        assert!(e.len() <= MAX_EMBEDS_TOTAL, "{}", e.len());
        assert!(e.description.ends_with("full entry)"));
        assert!(reply
            .buttons
            .iter()
            .all(|b| b.label.chars().count() <= MAX_BUTTON_LABEL));
    }

    #[test]
    fn an_entry_both_related_and_also_possible_gets_one_button() {
        let kb = std::sync::Arc::new(Knowledge::builtin().unwrap());
        let matcher = crate::matcher::Matcher::new(kb.clone());
        let d = matcher.diagnose("we hit 429 rate limit, api quota exceeded", 3);
        let best = d.best().unwrap();
        let related: std::collections::HashSet<&str> = best.entry.related.iter().collect();
        assert!(
            d.matches[1..]
                .iter()
                .any(|m| related.contains(m.id.as_str())),
            "the query no longer shows the overlap: {:?}",
            d.matches
        );
        let reply = diagnosis(&d, &kb);
        let ids: Vec<&str> = reply.buttons.iter().map(|b| b.custom_id.as_str()).collect();
        let unique: std::collections::HashSet<&&str> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
        assert!(!ids.is_empty() && ids.len() <= MAX_BUTTONS);
    }

    #[test]
    fn many_endpoints_end_with_how_many_were_left_out() {
        let lines: Vec<Line> = (0..300)
            .map(|i| Line {
                name: format!("endpoint-{i}"),
                url: format!("https://api{i}.example.com/health"),
                last: None,
                not_configured: None,
            })
            .collect();
        let reply = endpoints(&lines);
        let d = &reply.embeds[0].description;
        assert!(
            d.chars().count() <= MAX_DESCRIPTION,
            "{}",
            d.chars().count()
        );
        let shown = d.matches("not checked yet").count();
        assert!(shown > 10, "{shown}");
        assert!(
            d.ends_with(&format!("… and {} more", 300 - shown)),
            "{}",
            &d[d.len() - 100..]
        );
        assert!(!d.contains("medic diagnose"), "not the entry note");
        assert!(endpoints(&lines[..3]).embeds[0]
            .description
            .ends_with("not checked yet\n"));
    }

    #[test]
    fn empty_fields_are_left_out() {
        let e = Embed {
            title: "t".into(),
            fields: vec![
                ("Steps".into(), " \n".into()),
                ("".into(), "v".into()),
                ("ok".into(), "v".into()),
            ],
            ..Embed::default()
        }
        .fit();
        assert_eq!(e.fields, vec![("ok".to_string(), "v".to_string())]);
    }

    #[test]
    fn code_spans_are_not_escaped() {
        assert_eq!(code("my_api-v2`x"), "`my_api-v2'x`");
        let kb = Knowledge::builtin().unwrap();
        let outcome = CheckOutcome::Unknown {
            name: "bil_ling".to_string(),
            suggestions: vec!["billing_v2".to_string()],
        };
        let text = check(&outcome, &kb).content.unwrap();
        assert!(
            text.contains("`bil_ling`") && text.contains("`billing_v2`"),
            "{text}"
        );
    }

    #[test]
    fn escape_hides_markdown_and_mentions() {
        assert_eq!(escape("*a* @everyone"), "\\*a\\* @\u{200b}everyone");
    }

    #[test]
    fn no_mentions_parses_nothing() {
        let v = serde_json::to_value(no_mentions()).unwrap();
        assert_eq!(v["parse"], serde_json::json!([]));
        assert_eq!(v["replied_user"], serde_json::json!(false));
    }
}
