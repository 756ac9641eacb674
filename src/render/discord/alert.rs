//! Alerts, their buttons and the endpoint status table as Discord replies, through the
//! limits-aware [`Embed`] like every other embed medic sends.

use crate::alerts::monitor::{EndpointStatus, TOP_STEPS};
use crate::alerts::{Ack, Alert, AlertKind, Millis, Silence};
use crate::render::discord::{Button, ButtonStyle, Embed, Reply, ALERT_ACK, ALERT_RERUN};
use crate::render::terminal::alert::status_table;
use crate::render::text::{details, guidance_title, headline, symbol, timestamp};

pub const RED: u32 = 0xE7_4C_3C;
pub const GREEN: u32 = 0x2E_CC_71;
pub const ORANGE: u32 = 0xE6_7E_22;
pub const YELLOW: u32 = 0xF1_C4_0F;

/// `<t:1700000000:f>`: a time every reader sees in their own time zone.
pub fn discord_time(at: Millis, style: char) -> String {
    format!("<t:{}:{style}>", at.div_euclid(1000))
}

/// The embed of an alert: red DOWN, green RECOVERED, orange REMINDER, yellow WARNING.
pub fn embed(a: &Alert) -> Embed {
    let color = match a.kind {
        AlertKind::Down => RED,
        AlertKind::Recovered => GREEN,
        AlertKind::Reminder => ORANGE,
        AlertKind::Warning => YELLOW,
    };
    let mut description = headline(a);
    for line in details(a) {
        description.push('\n');
        description.push_str(&line);
    }
    let mut fields = Vec::new();
    if !a.steps.is_empty() && a.kind != AlertKind::Recovered {
        let steps: Vec<String> = a
            .steps
            .iter()
            .take(TOP_STEPS)
            .enumerate()
            .map(|(i, s)| format!("{}. {s}", i + 1))
            .collect();
        fields.push((guidance_title(a), steps.join("\n")));
    }
    Embed {
        title: format!("{} {} · {}", symbol(a.kind), a.kind.word(), a.endpoint),
        description,
        fields,
        footer: Some(format!("medic · alert {}", a.id)),
        color,
        timestamp: Some(a.at),
    }
}

/// An alert as posted: its embed, and on DOWN the "Re-run check" and "Acknowledge" buttons.
/// With `ack`, the embed says who acknowledged and the button is disabled.
pub fn alert(a: &Alert, ack: Option<&Ack>) -> Reply {
    let mut e = embed(a);
    if let Some(ack) = ack {
        e.fields.push((
            "Acknowledged".into(),
            format!("by {} at {}", ack.by, discord_time(ack.at, 'f')),
        ));
    }
    let mut reply = Reply::embed(e);
    if a.kind == AlertKind::Down {
        reply.buttons = vec![
            Button {
                custom_id: format!("{ALERT_RERUN}{}", a.id),
                label: "Re-run check".into(),
                style: ButtonStyle::Primary,
                disabled: false,
            },
            Button {
                custom_id: format!("{ALERT_ACK}{}", a.id),
                label: match ack {
                    Some(ack) => format!("Acknowledged by {}", ack.by),
                    None => "Acknowledge".into(),
                },
                style: ButtonStyle::Secondary,
                disabled: ack.is_some(),
            },
        ];
        reply = reply.fit_buttons();
    }
    reply
}

/// `/endpoints` while scheduled checks run: the `medic status` table in a code block, after a
/// warning when alerts cannot be posted.
pub fn endpoints(
    statuses: &[EndpointStatus],
    now: Millis,
    problem: Option<(Millis, &str)>,
) -> Reply {
    let mut table = status_table(statuses, now);
    if let Some((since, why)) = problem {
        table = format!(
            "ALERTS CANNOT BE POSTED since {}: {why}\n\n{table}",
            timestamp(since)
        );
    }
    Reply::embed(Embed {
        title: "Endpoints".into(),
        description: format!("```\n{}\n```", crate::text::truncate_chars(&table, 4000)),
        color: GREEN,
        ..Embed::default()
    })
}

/// The public answer to `/silence`.
pub fn silenced(s: &Silence) -> Reply {
    Reply::text(format!(
        "🔕 **{}** silenced by {} until {} ({}): {}\nIt is still checked and recorded; alerts are held, and one sums up when the silence ends.",
        s.endpoint,
        s.author,
        discord_time(s.until, 'f'),
        discord_time(s.until, 'R'),
        s.reason
    ))
}

/// The public answer to `/unsilence` by `by`.
pub fn unsilenced(s: &Silence, by: &str) -> Reply {
    Reply::text(format!(
        "🔔 **{}**: alerts resumed ({by} lifted the silence set by {}).",
        s.endpoint, s.author
    ))
}

/// "Already acknowledged by … 5 minutes ago."
pub fn already_acknowledged(a: &Ack) -> Reply {
    Reply::text(format!(
        "Already acknowledged by {} {}.",
        a.by,
        discord_time(a.at, 'R')
    ))
    .ephemeral()
}
