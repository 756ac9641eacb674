//! Alerts in a Discord channel: the [`Sink`] that posts outbox alerts to `alert_channel`.
//!
//! Every post carries the alert id as `nonce` with `enforce_nonce`, so when a response is lost and
//! the outbox sends again within a few minutes, Discord returns the first message instead of
//! posting a second one (Discord forgets nonces after that: a much later retry may duplicate).
//! Only a DOWN alert may ping, and only the configured `mention_role`. What an alert looks like
//! is [`crate::render::discord::alert`]'s business.

use std::collections::HashMap;
use std::sync::Arc;

use poise::serenity_prelude as serenity;
use serenity::{ChannelId, CreateAllowedMentions, CreateMessage, Http, Nonce, RoleId};
use tokio::sync::OnceCell;

use crate::alerts::delivery::{SendError, Sink};
use crate::alerts::Alert;
use crate::render::discord::alert as render;

/// The bot's HTTP client, filled in once the bot has built it; alerts wait (and retry) until then.
pub type HttpSlot = Arc<OnceCell<Arc<Http>>>;

/// Posts alerts to one channel through serenity's HTTP client.
pub struct DiscordSink {
    http: HttpSlot,
    channel: ChannelId,
    mention_role: Option<RoleId>,
    /// Per-endpoint `alerts = { mention_role = … }` overrides.
    mention_roles: HashMap<String, RoleId>,
}

impl DiscordSink {
    pub fn new(http: Arc<Http>, channel: u64, mention_role: Option<u64>) -> DiscordSink {
        Self::deferred(
            Arc::new(OnceCell::new_with(Some(http))),
            channel,
            mention_role,
        )
    }

    /// A sink whose client arrives later through `slot` (see [`crate::discord::Bot::alert_http`]).
    pub fn deferred(slot: HttpSlot, channel: u64, mention_role: Option<u64>) -> DiscordSink {
        DiscordSink {
            http: slot,
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
        let Some(http) = self.http.get() else {
            return Err(SendError::Retry("not connected to Discord yet".into()));
        };
        let role = self
            .mention_roles
            .get(&alert.endpoint)
            .copied()
            .or(self.mention_role);
        match self.channel.send_message(http, message(alert, role)).await {
            Ok(sent) => Ok(Some(sent.id.to_string())),
            Err(e) => Err(classify(e)),
        }
    }
}

/// What a failed post means for the outbox: 429, 5xx and network errors are retried; 401, 403
/// and 404 mean the token, channel or permission is wrong, so no alert can go out until someone
/// fixes it ([`SendError::Broken`]: keep them queued); other 4xx refuse this message only; an
/// answer or request serenity cannot handle will not get better by sending it again.
fn classify(e: serenity::Error) -> SendError {
    match &e {
        serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(r)) => {
            let code = r.status_code.as_u16();
            let text = format!("Discord answered {code}: {}", r.error.message);
            match code {
                429 | 500.. => SendError::Retry(text),
                401 => SendError::Broken(format!("{text} (is DISCORD_TOKEN valid?)")),
                403 => SendError::Broken(format!(
                    "{text} (may the bot view and send messages in alert_channel?)"
                )),
                404 => SendError::Broken(format!("{text} (does alert_channel exist?)")),
                _ => SendError::Reject(text),
            }
        }
        serenity::Error::Http(serenity::HttpError::Request(_))
        | serenity::Error::Io(_)
        | serenity::Error::Gateway(_) => SendError::Retry(e.to_string()),
        serenity::Error::Model(_) | serenity::Error::Json(_) => SendError::Reject(e.to_string()),
        serenity::Error::Http(_) => SendError::Reject(e.to_string()),
        _ => SendError::Retry(e.to_string()),
    }
}
