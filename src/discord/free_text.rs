//! Free-text answers: when mentioned, in DMs, and in listen channels.
//!
//! Mentions and DMs are questions to medic, so they always get an answer (the closest entries
//! when nothing is confident). In listen channels medic only speaks up for a confident match,
//! at most once per entry and channel per cooldown window, so chit-chat stays silent.

use poise::serenity_prelude as serenity;
use serenity::{CreateMessage, Message, Nonce};

use super::{Data, Error};
use crate::commands::diagnose::{self, Outcome};
use crate::render::discord::{self as render, no_mentions, Reply};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Mention,
    DirectMessage,
    ListenChannel,
}

pub async fn handle(ctx: &serenity::Context, data: &Data, msg: &Message) -> Result<(), Error> {
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
    let outcome = diagnose::run(&data.services.matcher, &text);
    let reply = match (&outcome, trigger) {
        (Outcome::Answer(d), _) => {
            let best = d.best().map(|m| m.id.as_str()).unwrap_or_default();
            if trigger == Trigger::ListenChannel && !data.cooldown.try_claim(msg.channel_id.get(), best) {
                tracing::debug!(channel = %msg.channel_id, entry = best, "cooldown: not repeating");
                return Ok(());
            }
            render::outcome(&outcome, data.services.matcher.knowledge())
        }
        (_, Trigger::ListenChannel) => return Ok(()),
        (Outcome::Empty, _) => Reply::text(
            "Hi! Tell me what is failing: paste the error line or the HTTP status (`429`, `ECONNREFUSED`, …), or try `/help`.",
        ),
        _ => render::outcome(&outcome, data.services.matcher.knowledge()),
    };
    send_reply(ctx, msg, reply).await
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
/// `enforce_nonce` makes Discord drop a duplicate if a retry follows a lost response.
async fn send_reply(ctx: &serenity::Context, msg: &Message, reply: Reply) -> Result<(), Error> {
    let mut create = CreateMessage::new()
        .reference_message(msg)
        .allowed_mentions(no_mentions())
        .embeds(reply.serenity_embeds())
        .components(reply.serenity_components())
        .nonce(Nonce::String(format!("m{}", msg.id.get())))
        .enforce_nonce(true);
    if let Some(content) = reply.content {
        create = create.content(content);
    }
    msg.channel_id.send_message(ctx, create).await?;
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
