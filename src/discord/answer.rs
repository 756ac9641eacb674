//! How a handler answers: a rendered [`Reply`] as each kind of Discord message, always sent
//! through [`super::delivery`]. For slash commands this stands in for poise's `ctx.send` and
//! `ctx.defer` (which go through serenity once, without retries) and keeps poise's bookkeeping
//! (`has_sent_initial_response`), so whatever answers next knows a follow-up is due.

use std::sync::atomic::Ordering;

use poise::serenity_prelude as serenity;
use serenity::{
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    CreateMessage, EditInteractionResponse,
};

use super::delivery::Interaction;
use super::{Context, Error};
use crate::render::discord::{no_mentions, Reply};

/// A reply as an interaction's message response (or a click's new message).
pub(crate) fn message(reply: Reply) -> CreateInteractionResponseMessage {
    let mut m = CreateInteractionResponseMessage::new()
        .embeds(reply.serenity_embeds())
        .components(reply.serenity_components())
        .ephemeral(reply.ephemeral)
        .allowed_mentions(no_mentions());
    if let Some(content) = reply.content {
        m = m.content(content);
    }
    m
}

/// A reply as the new content of the first response (a defer's "thinking…", a clicked alert).
pub(crate) fn edit(reply: Reply) -> EditInteractionResponse {
    let mut e = EditInteractionResponse::new()
        .embeds(reply.serenity_embeds())
        .components(reply.serenity_components())
        .allowed_mentions(no_mentions());
    if let Some(content) = reply.content {
        e = e.content(content);
    }
    e
}

/// A reply as a follow-up message.
pub(crate) fn follow_up(reply: Reply) -> CreateInteractionResponseFollowup {
    let mut f = CreateInteractionResponseFollowup::new()
        .embeds(reply.serenity_embeds())
        .components(reply.serenity_components())
        .ephemeral(reply.ephemeral)
        .allowed_mentions(no_mentions());
    if let Some(content) = reply.content {
        f = f.content(content);
    }
    f
}

/// A reply as a channel message; the caller adds the reference and nonce.
pub(crate) fn create(reply: Reply) -> CreateMessage {
    let mut m = CreateMessage::new()
        .embeds(reply.serenity_embeds())
        .components(reply.serenity_components())
        .allowed_mentions(no_mentions());
    if let Some(content) = reply.content {
        m = m.content(content);
    }
    m
}

/// The slash command's interaction; medic registers no prefix commands.
fn interaction<'a>(
    ctx: &Context<'a>,
) -> Result<poise::ApplicationContext<'a, super::Data, Error>, Error> {
    match *ctx {
        poise::Context::Application(app) => Ok(app),
        poise::Context::Prefix(_) => Err("medic answers slash commands only".into()),
    }
}

/// Answers a slash command: its callback the first time, a follow-up after that.
pub(crate) async fn send(ctx: Context<'_>, reply: Reply) -> Result<(), Error> {
    let app = interaction(&ctx)?;
    let delivery = &ctx.data().delivery;
    let it = Interaction::from(app.interaction);
    if app.has_sent_initial_response.load(Ordering::SeqCst) {
        delivery.follow_up(it, &follow_up(reply)).await?;
    } else {
        let response = CreateInteractionResponse::Message(message(reply));
        delivery.callback(it, &response).await?;
        app.has_sent_initial_response.store(true, Ordering::SeqCst);
    }
    Ok(())
}

/// Marks a command whose public "thinking…" still waits for [`edit_original`].
struct Deferred;

/// Acknowledges a command that may take longer than Discord's 3 s; [`edit_original`] then
/// replaces the public "thinking…".
pub(crate) async fn defer(ctx: Context<'_>) -> Result<(), Error> {
    let app = interaction(&ctx)?;
    if app.has_sent_initial_response.load(Ordering::SeqCst) {
        return Ok(());
    }
    let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
    ctx.data()
        .delivery
        .callback(Interaction::from(app.interaction), &defer)
        .await?;
    app.has_sent_initial_response.store(true, Ordering::SeqCst);
    ctx.set_invocation_data(Deferred).await;
    Ok(())
}

/// Replaces the first response with `reply`.
pub(crate) async fn edit_original(ctx: Context<'_>, reply: Reply) -> Result<(), Error> {
    let app = interaction(&ctx)?;
    ctx.data()
        .delivery
        .edit_original(Interaction::from(app.interaction), &edit(reply))
        .await?;
    ctx.set_invocation_data(()).await;
    Ok(())
}

const APOLOGY: &str =
    "Sorry, something went wrong on my side while answering. Please try again in a moment.";

/// Answers a failed command. A deferred one gets its "thinking…" replaced (an ephemeral
/// follow-up would leave that public message hanging forever); others get an ephemeral note.
pub(super) async fn apologize(ctx: Context<'_>) {
    let deferred = ctx.invocation_data::<Deferred>().await.is_some();
    let sent = if deferred {
        edit_original(ctx, Reply::text(APOLOGY)).await
    } else {
        send(ctx, Reply::text(APOLOGY).ephemeral()).await
    };
    if let Err(e) = sent {
        tracing::warn!("could not send the apology: {e}");
    }
}
