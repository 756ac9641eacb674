//! `/help`: what medic does and how to ask, as data both surfaces render.

/// One command as the help lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandHelp {
    pub usage: &'static str,
    pub what: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Help {
    pub intro: &'static str,
    pub commands: Vec<CommandHelp>,
    pub how_to_ask: Vec<&'static str>,
    /// How many knowledge entries are loaded.
    pub entries: usize,
}

pub const INTRO: &str = "medic helps you fix broken integrations: paste an error or describe the \
symptom and it answers with the matching troubleshooting steps.";

/// The help for a catalogue of `entries` entries; `commands` is the surface's own list
/// (the bot and the console offer the same commands, spelled the same way).
pub fn run(entries: usize, commands: Vec<CommandHelp>) -> Help {
    Help {
        intro: INTRO,
        commands,
        how_to_ask: vec![
            "Paste the exact error line or HTTP status: `429 Too Many Requests`, `ECONNREFUSED`, `x509: certificate has expired`.",
            "Mention medic or DM it with the problem; in listen channels it answers confident matches by itself.",
            "Not the right entry? Use `/diagnose` and pick one from the list as you type.",
        ],
        entries,
    }
}
