//! Free-text answers: when mentioned, in DMs, and in listen channels.
//!
//! Mentions and DMs are questions to medic, so they always get an answer: a DM without a
//! confident match gets the closest entries (only the asker sees a DM); a mention without one
//! gets a short public hint on how to ask, not a "no match" embed in front of the channel. In
//! listen channels medic only speaks up for a confident match, at most once per entry and
//! channel per cooldown window, so chit-chat stays silent. The cooldown counts only answers that
//! were delivered.

use std::time::Instant;

use poise::serenity_prelude as serenity;
use serenity::{Message, MessageReference, Nonce};

use super::answer::create;
use super::delivery::Surface;
use super::{Data, Error};
use crate::commands::conversation::Key;
use crate::commands::diagnose::Outcome;
use crate::commands::{endpoints as endpoints_cmd, Services};
use crate::render::discord::{self as render, Reply};

/// What a mention without a known problem gets.
const HINT: &str = "I didn't recognise a problem there. Mention me with the error line or the HTTP status (`@medic 503 from the upstream`, `ECONNREFUSED`, …), use `/diagnose` to see the closest entries, or `/help`.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Mention,
    DirectMessage,
    ListenChannel,
}

pub(super) async fn handle(
    _ctx: &serenity::Context,
    data: &Data,
    msg: &Message,
) -> Result<(), Error> {
    if msg.author.bot || msg.author.id == data.bot_user {
        return Ok(());
    }
    let mentioned = mentions_bot(&msg.content, data.bot_user.get());
    let trigger = if msg.guild_id.is_none() {
        Trigger::DirectMessage
    } else if mentioned {
        Trigger::Mention
    } else if data.listen_channels.contains(&msg.channel_id) {
        Trigger::ListenChannel
    } else {
        return Ok(());
    };
    let text = strip_mention(&msg.content, data.bot_user.get());
    let key = Key {
        place: msg.channel_id.get(),
        user: msg.author.id.get(),
    };
    let services = data.services.get();
    let outcome = services
        .conversations
        .diagnose(&services.matcher, key, Instant::now(), &text);
    if trigger != Trigger::ListenChannel {
        super::slash::record_unanswered(&services, &outcome, &text);
    }
    let mut claim = None;
    // "payments-api is failing again", asked of medic: what it knows of that endpoint.
    let named = match (&outcome, trigger) {
        (Outcome::NoMatch(_) | Outcome::Ask(_), Trigger::Mention | Trigger::DirectMessage) => {
            named_endpoint(&services, &text).await
        }
        _ => None,
    };
    let reply = match (&outcome, trigger, named) {
        (_, _, Some(card)) => card,
        (Outcome::Answer(d), _, None) => {
            let best = d.best().map(|m| m.id.as_str()).unwrap_or_default();
            if trigger == Trigger::ListenChannel {
                match data.cooldown.claim(msg.channel_id.get(), best) {
                    Some(c) => claim = Some(c),
                    None => {
                        tracing::debug!(channel = %msg.channel_id, entry = best, "cooldown: not repeating");
                        return Ok(());
                    }
                }
            }
            render::outcome(&outcome, services.matcher.knowledge())
        }
        (_, Trigger::ListenChannel, None) => return Ok(()),
        (Outcome::Empty, _, None) => Reply::text(
            "Hi! Tell me what is failing: paste the error line or the HTTP status (`429`, `ECONNREFUSED`, …), or try `/help`.",
        ),
        (Outcome::NoMatch(_), Trigger::Mention, None) => Reply::text(HINT),
        _ => render::outcome(&outcome, services.matcher.knowledge()),
    };
    // An undelivered reply drops the claim, which frees the entry for the next question.
    send_reply(data, msg, reply).await?;
    if let Some(c) = claim {
        c.delivered();
    }
    Ok(())
}

/// The reply about the configured endpoint `text` names, with its last known state (the
/// scheduled checks' history when they run), if it names one.
async fn named_endpoint(services: &Services, text: &str) -> Option<Reply> {
    let line = endpoints_cmd::named_in(services.checker(), &services.statuses, text)?;
    let mut lines = [line];
    if let Some(alerts) = &services.alerts {
        match alerts.status().await {
            Ok(stored) => endpoints_cmd::add_stored(&mut lines, &stored),
            Err(e) => tracing::debug!("stored statuses unavailable: {e}"),
        }
    }
    Some(render::named_endpoint(&lines[0]))
}

/// Whether the text addresses medic. Only an explicit `<@id>` / `<@!id>` counts: Discord also
/// lists the author of a replied-to message in `mentions`, and "thanks!" in reply to medic is
/// not a question.
fn mentions_bot(content: &str, bot: u64) -> bool {
    content.contains(&format!("<@{bot}>")) || content.contains(&format!("<@!{bot}>"))
}

/// The message without medic's own mention, so `@medic 429` reads as `429`.
fn strip_mention(content: &str, bot: u64) -> String {
    content
        .replace(&format!("<@{bot}>"), " ")
        .replace(&format!("<@!{bot}>"), " ")
}

/// Replies to `msg` without pinging anyone. The nonce (derived from the message id) with
/// `enforce_nonce` makes Discord drop a duplicate if a retry follows a lost response; with
/// `fail_if_not_exists = false` a message deleted meanwhile still gets its answer, as a plain
/// message (Discord's default would refuse the reply with 400).
async fn send_reply(data: &Data, msg: &Message, reply: Reply) -> Result<(), Error> {
    let reference = MessageReference::from(msg).fail_if_not_exists(false);
    let create = create(reply)
        .reference_message(reference)
        .nonce(Nonce::String(format!("m{}", msg.id.get())))
        .enforce_nonce(true);
    data.delivery
        .post(msg.channel_id, &create, Surface::FREE_TEXT)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_mention_addresses_medic() {
        assert!(mentions_bot("<@5> 429", 5));
        assert!(mentions_bot("hey <@!5>", 5));
        assert!(!mentions_bot("thanks!", 5));
        assert!(!mentions_bot("<@55> 429", 5));
    }

    #[test]
    fn own_mention_is_removed() {
        assert_eq!(strip_mention("<@5> 429 <@!5>", 5).trim(), "429");
        assert_eq!(strip_mention("<@6> hi", 5), "<@6> hi");
    }
}
