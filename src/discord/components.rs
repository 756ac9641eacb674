//! Button clicks (component interactions), routed by custom id prefix.
//!
//! Every component medic sends has a custom id starting with `medic:`; the part after it picks
//! the handler. Other features add their prefix to [`handle`]'s match.

use poise::serenity_prelude as serenity;
use serenity::{ComponentInteraction, CreateInteractionResponse, CreateInteractionResponseMessage};

use super::{Data, Error};
use crate::commands::diagnose;
use crate::render::discord::{self as render, no_mentions, Reply, OPEN_ENTRY};

pub async fn handle(
    ctx: &serenity::Context,
    data: &Data,
    click: &ComponentInteraction,
) -> Result<(), Error> {
    let id = click.data.custom_id.as_str();
    if id.starts_with(crate::alerts::discord::ACK) || id.starts_with(crate::alerts::discord::RERUN)
    {
        return crate::alerts::discord::handle_click(ctx, data, click).await;
    }
    let reply = if let Some(entry_id) = id.strip_prefix(OPEN_ENTRY) {
        match diagnose::entry(&data.services.matcher, entry_id) {
            Some(entry) => {
                let why = "Opened from a related-entry button.".to_string();
                render::entry_reply(&entry, data.services.matcher.knowledge(), why, &[]).ephemeral()
            }
            None => {
                Reply::text("That entry no longer exists in this medic's knowledge.").ephemeral()
            }
        }
    } else {
        tracing::debug!(custom_id = id, "ignoring a component medic does not own");
        return Ok(());
    };
    respond(ctx, click, reply).await
}

/// Answers a click with a new message (ephemeral when the reply says so).
pub async fn respond(
    ctx: &serenity::Context,
    click: &ComponentInteraction,
    reply: Reply,
) -> Result<(), Error> {
    let mut message = CreateInteractionResponseMessage::new()
        .embeds(reply.serenity_embeds())
        .components(reply.serenity_components())
        .ephemeral(reply.ephemeral)
        .allowed_mentions(no_mentions());
    if let Some(content) = reply.content {
        message = message.content(content);
    }
    click
        .create_response(ctx, CreateInteractionResponse::Message(message))
        .await?;
    Ok(())
}
