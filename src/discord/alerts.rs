//! Alerts in a Discord channel: the [`Sink`] that posts outbox alerts to `alert_channel`.
//!
//! Every post carries the alert id as `nonce` with `enforce_nonce`, so when a response is lost and
//! the outbox sends again within a few minutes, Discord returns the first message instead of
//! posting a second one (Discord forgets nonces after that: a much later retry may duplicate).
//! Only a DOWN alert may ping, and only the configured `mention_role`. What an alert looks like
//! is [`crate::render::discord::alert`]'s business.
//!
//! Posts take the bot's [`Delivery`] path: a 429 is waited out as Discord asks (the outbox's
//! backoff knows no `retry_after`), 5xx and network errors are retried for a while
//! ([`Surface::ALERT`]), and the alert channel's queue is shared with every other message medic
//! sends there. What is still failing after that goes back to the outbox, which retries later.

use std::collections::HashMap;
use std::sync::Arc;

use poise::serenity_prelude as serenity;
use serenity::{ChannelId, CreateAllowedMentions, CreateMessage, Http, Nonce, RoleId};
use tokio::sync::OnceCell;

use super::delivery::{Delivery, DeliveryError, Surface};
use crate::alerts::delivery::{SendError, Sink};
use crate::alerts::Alert;
use crate::render::discord::alert as render;

/// The bot's delivery path, filled in once the bot has built its client; alerts wait (and
/// retry) until then.
pub type DeliverySlot = Arc<OnceCell<Arc<Delivery>>>;

/// Posts alerts to one channel through the bot's [`Delivery`].
pub struct DiscordSink {
    delivery: DeliverySlot,
    channel: ChannelId,
    mention_role: Option<RoleId>,
    /// Per-endpoint `alerts = { mention_role = … }` overrides.
    mention_roles: HashMap<String, RoleId>,
}

impl DiscordSink {
    /// A sink with its own delivery path over `http` (built without a custom reqwest client).
    pub fn new(http: Arc<Http>, channel: u64, mention_role: Option<u64>) -> DiscordSink {
        let delivery = Arc::new(Delivery::with_default_client(http));
        Self::deferred(
            Arc::new(OnceCell::new_with(Some(delivery))),
            channel,
            mention_role,
        )
    }

    /// A sink whose delivery path arrives later through `slot` (see
    /// [`crate::discord::Bot::alert_delivery`]).
    pub fn deferred(slot: DeliverySlot, channel: u64, mention_role: Option<u64>) -> DiscordSink {
        DiscordSink {
            delivery: slot,
            channel: ChannelId::new(channel.max(1)),
            mention_role: mention_role.filter(|r| *r != 0).map(RoleId::new),
            mention_roles: HashMap::new(),
        }
    }

    /// Mentions `role` instead of the default on DOWN alerts of `endpoint`.
    pub fn mention_for(mut self, endpoint: &str, role: u64) -> DiscordSink {
        if role != 0 {
            self.mention_roles
                .insert(endpoint.to_string(), RoleId::new(role));
        }
        self
    }
}

/// The message for an alert: embed, buttons on DOWN, nonce, and no pings except the role on DOWN.
pub fn message(a: &Alert, mention_role: Option<RoleId>) -> CreateMessage {
    let reply = render::alert(a, None);
    let mut mentions = CreateAllowedMentions::new().replied_user(false);
    let mut m = CreateMessage::new()
        .embeds(reply.serenity_embeds())
        .components(reply.serenity_components())
        .nonce(Nonce::String(a.id.clone()))
        .enforce_nonce(true);
    if a.kind == crate::alerts::AlertKind::Down {
        if let Some(role) = mention_role {
            m = m.content(format!("<@&{role}>"));
            mentions = mentions.roles(vec![role]);
        }
    }
    m.allowed_mentions(mentions)
}

impl Sink for DiscordSink {
    async fn send(&self, alert: &Alert) -> Result<Option<String>, SendError> {
        let Some(delivery) = self.delivery.get() else {
            return Err(SendError::Retry("not connected to Discord yet".into()));
        };
        let role = self
            .mention_roles
            .get(&alert.endpoint)
            .copied()
            .or(self.mention_role);
        match delivery
            .post(self.channel, &message(alert, role), Surface::ALERT)
            .await
        {
            Ok(sent) => Ok(sent.message_id.map(|id| id.to_string())),
            Err(e) => Err(classify(e)),
        }
    }
}

/// What a failed post means for the outbox: 429, 5xx and network errors that outlasted the
/// delivery's own retries are retried later; 401, 403 and 404 mean the token, channel or
/// permission is wrong, so no alert can go out until someone fixes it ([`SendError::Broken`]:
/// keep them queued); other 4xx refuse this message only.
fn classify(e: DeliveryError) -> SendError {
    let text = match e.status {
        Some(code) => format!("Discord answered {code}: {}", e.reason),
        None => e.to_string(),
    };
    if e.retryable {
        return SendError::Retry(text);
    }
    match e.status {
        Some(401) => SendError::Broken(format!("{text} (is DISCORD_TOKEN valid?)")),
        Some(403) => SendError::Broken(format!(
            "{text} (may the bot view and send messages in alert_channel?)"
        )),
        Some(404) => SendError::Broken(format!("{text} (does alert_channel exist?)")),
        _ => SendError::Reject(text),
    }
}
