//! Alerts in a Discord channel: the [`Sink`] that posts outbox alerts to `alert_channel`, and the
//! custom ids of the DOWN alert's buttons.
//!
//! Every post carries the alert id as `nonce` with `enforce_nonce`, so when a response is lost and
//! the outbox sends again within a few minutes, Discord returns the first message instead of
//! posting a second one (Discord forgets nonces after that: a much later retry may duplicate).
//! Only a DOWN alert may ping, and only the configured `mention_role`.
//!
//! The bot side lives here too, plugged into [`crate::discord`] by small hooks: `/silence` and
//! `/unsilence` ([`silence`], [`unsilence`]), the DOWN alert's buttons ([`handle_click`]), and
//! [`start`], which `medic serve` calls to run the scheduler with this sink (and whose task it
//! watches alongside the bot).

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poise::serenity_prelude as serenity;
use serenity::{
    ButtonStyle, ChannelId, ComponentInteraction, CreateActionRow, CreateAllowedMentions,
    CreateButton, CreateEmbed, CreateEmbedFooter, CreateInteractionResponse,
    CreateInteractionResponseMessage, CreateMessage, EditInteractionResponse, Http, Nonce, RoleId,
    Timestamp,
};
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

use super::delivery::{SendError, Sink};
use super::engine::AckError;
use super::probe::{observation, Setup};
use super::service::{self, Handle};
use super::{Alert, AlertKind, Clock, Millis, SystemClock};
use crate::checks::Checker;
use crate::commands::check as check_cmd;
use crate::config::Config;
use crate::discord::commands::may_run_checks;
use crate::discord::{Context, Data, Error};
use crate::knowledge::Knowledge;
use crate::render::alert as render;
use crate::render::discord::no_mentions;
use crate::store::{self, Store};

/// Custom id prefix of the "Re-run check" button; the alert id follows.
pub const RERUN: &str = "medic:alert-rerun:";
/// Custom id prefix of the "Acknowledge" button; the alert id follows.
pub const ACK: &str = "medic:alert-ack:";

/// The bot's HTTP client, filled in once the bot has built it; alerts wait (and retry) until then.
pub type HttpSlot = Arc<OnceCell<Arc<Http>>>;

/// Posts alerts to one channel through serenity's HTTP client.
pub struct DiscordSink {
    http: HttpSlot,
    channel: ChannelId,
    mention_role: Option<RoleId>,
    /// Per-endpoint `alerts = { mention_role = … }` overrides.
    mention_roles: std::collections::HashMap<String, RoleId>,
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
            mention_roles: Default::default(),
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

/// The embed of an alert as serenity's builder.
pub fn embed(a: &Alert) -> CreateEmbed {
    let e = render::embed(a);
    let mut out = CreateEmbed::new()
        .title(e.title)
        .description(e.description)
        .colour(e.color)
        .footer(CreateEmbedFooter::new(e.footer));
    for (name, value) in e.fields {
        out = out.field(name, value, false);
    }
    if let Ok(ts) = Timestamp::from_unix_timestamp(e.timestamp / 1000) {
        out = out.timestamp(ts);
    }
    out
}

/// The message for an alert: embed, buttons on DOWN, nonce, and no pings except the role on DOWN.
pub fn message(a: &Alert, mention_role: Option<RoleId>) -> CreateMessage {
    let mut mentions = CreateAllowedMentions::new().replied_user(false);
    let mut m = CreateMessage::new()
        .embed(embed(a))
        .nonce(Nonce::String(a.id.clone()))
        .enforce_nonce(true);
    if a.kind == AlertKind::Down {
        if let Some(role) = mention_role {
            m = m.content(format!("<@&{role}>"));
            mentions = mentions.roles(vec![role]);
        }
        m = m.components(vec![CreateActionRow::Buttons(vec![
            CreateButton::new(format!("{RERUN}{}", a.id))
                .label("Re-run check")
                .style(ButtonStyle::Primary),
            CreateButton::new(format!("{ACK}{}", a.id))
                .label("Acknowledge")
                .style(ButtonStyle::Secondary),
        ])]);
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

/// For `medic serve`: runs the scheduled checks of `config` and posts their alerts to its
/// `alert_channel` through the bot's client (delivered into `slot`). `None` when no
/// `alert_channel` or no endpoint with an interval is configured. The state database is
/// `MEDIC_DB` (default `medic.db`).
///
/// Returns the pipeline's [`Handle`] and its task, as [`service::spawn`] does. The task ends
/// with an error if the pipeline stops on its own (lease lost, delivery failed): the bot keeps
/// answering commands meanwhile, so `medic serve` must watch the task and stop, because nobody
/// may silently stop getting alerts.
pub fn start(
    config: &Config,
    checker: Arc<Checker>,
    knowledge: Arc<Knowledge>,
    slot: HttpSlot,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> crate::Result<Option<(Handle, JoinHandle<crate::Result<()>>)>> {
    let Some(channel) = config.discord.alert_channel else {
        if !config.endpoints.is_empty() {
            tracing::info!("no alert_channel in [discord]: scheduled checks and alerts are off");
        }
        return Ok(None);
    };
    let setup = Setup::from_config(config);
    if setup.targets.is_empty() {
        return Ok(None);
    }
    let db = std::env::var_os("MEDIC_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(store::DEFAULT_PATH));
    let store = Store::open(&db)?;
    store.check_integrity()?;
    let store = Arc::new(Mutex::new(store));
    let mut sink = DiscordSink::deferred(slot, channel, config.discord.mention_role);
    for ep in &config.endpoints {
        if let Some(role) = ep.alerts.mention_role {
            sink = sink.mention_for(&ep.name, role);
        }
    }
    let running = service::spawn(
        setup,
        checker,
        sink,
        store,
        Arc::new(SystemClock),
        Some(knowledge),
        shutdown,
    )?;
    Ok(Some(running))
}

/// `<t:1700000000:f>`: a time every reader sees in their own time zone.
fn discord_time(at: Millis, style: char) -> String {
    format!("<t:{}:{style}>", at.div_euclid(1000))
}

const REFUSED: &str =
    "Only members with one of medic's check roles (or Manage Server) may do this.";
const NOT_RUNNING: &str =
    "Scheduled checks are not running in this medic: set `alert_channel` in the `[discord]` section of medic.toml.";

async fn say(ctx: Context<'_>, text: String, ephemeral: bool) -> Result<(), Error> {
    let reply = poise::CreateReply::default()
        .content(text)
        .ephemeral(ephemeral)
        .allowed_mentions(no_mentions());
    ctx.send(reply).await?;
    Ok(())
}

/// The member behind a command, if it ran in a server.
fn member<'a>(ctx: &'a Context<'_>) -> Option<&'a serenity::Member> {
    match ctx {
        poise::Context::Application(app) => app.interaction.member.as_deref(),
        poise::Context::Prefix(_) => None,
    }
}

/// The alert service when it runs and the member may manage it; otherwise answers why not.
async fn managed_alerts(ctx: Context<'_>) -> Result<Option<&Handle>, Error> {
    let data = ctx.data();
    let Some(alerts) = &data.services.alerts else {
        say(ctx, NOT_RUNNING.into(), true).await?;
        return Ok(None);
    };
    if !may_run_checks(data, member(&ctx)) {
        say(ctx, REFUSED.into(), true).await?;
        return Ok(None);
    }
    Ok(Some(alerts))
}

/// Hold an endpoint's alerts for a while (it is still checked) — check roles only
#[poise::command(slash_command)]
pub async fn silence(
    ctx: Context<'_>,
    #[description = "A configured endpoint"]
    #[autocomplete = "crate::discord::commands::autocomplete_endpoints"]
    #[max_length = 100]
    endpoint: String,
    #[description = "How long, e.g. 30m, 2h, 1d"]
    #[rename = "for"]
    #[max_length = 20]
    duration: String,
    #[description = "Why; shown with the silence"]
    #[max_length = 300]
    reason: String,
) -> Result<(), Error> {
    let Some(alerts) = managed_alerts(ctx).await? else {
        return Ok(());
    };
    let duration = match crate::config::parse_duration(&duration) {
        Ok(d) if !d.is_zero() && d <= Duration::from_secs(90 * 24 * 3600) => d,
        _ => {
            return say(
                ctx,
                format!(
                "`for` must be a duration from 1s to 90d, like 30m, 2h or 1d, not {duration:?}."
            ),
                true,
            )
            .await
        }
    };
    let reason = crate::commands::truncate_chars(&crate::commands::clean_input(&reason), 300);
    let endpoint = crate::commands::clean_input(&endpoint);
    match alerts
        .silence(&endpoint, &ctx.author().name, &reason, duration)
        .await
    {
        Ok(s) => {
            let text = format!(
                "🔕 **{}** silenced by {} until {} ({}): {}\nIt is still checked and recorded; alerts are held, and one sums up when the silence ends.",
                s.endpoint,
                s.author,
                discord_time(s.until, 'f'),
                discord_time(s.until, 'R'),
                s.reason
            );
            say(ctx, text, false).await
        }
        Err(crate::Error::Usage(m)) => say(ctx, m, true).await,
        Err(e) => Err(e.into()),
    }
}

/// `/endpoints` while scheduled checks run: per endpoint its state, since, uptime over 24 h and
/// 7 d, p50/p95 latency, open incident and silence, as the aligned `medic status` table.
pub async fn endpoints(ctx: Context<'_>, alerts: &Handle) -> Result<(), Error> {
    let statuses = alerts.status().await?;
    let mut table = render::status_table(&statuses, SystemClock.now());
    if let Some((since, why)) = alerts.delivery_problem() {
        table = format!(
            "ALERTS CANNOT BE POSTED since {}: {why}\n\n{table}",
            render::timestamp(since)
        );
    }
    let embed = CreateEmbed::new()
        .title("Endpoints")
        .description(format!("```\n{}\n```", render::cut(&table, 4000)))
        .colour(render::GREEN);
    let reply = poise::CreateReply::default()
        .embed(embed)
        .allowed_mentions(no_mentions());
    ctx.send(reply).await?;
    Ok(())
}

/// Lift an endpoint's silence: its alerts resume — check roles only
#[poise::command(slash_command)]
pub async fn unsilence(
    ctx: Context<'_>,
    #[description = "A silenced endpoint"]
    #[autocomplete = "crate::discord::commands::autocomplete_endpoints"]
    #[max_length = 100]
    endpoint: String,
) -> Result<(), Error> {
    let Some(alerts) = managed_alerts(ctx).await? else {
        return Ok(());
    };
    let endpoint = crate::commands::clean_input(&endpoint);
    match alerts.unsilence(&endpoint).await? {
        Some(s) => {
            let text = format!(
                "🔔 **{}**: alerts resumed ({} lifted the silence set by {}).",
                s.endpoint,
                ctx.author().name,
                s.author
            );
            say(ctx, text, false).await
        }
        None => say(ctx, format!("**{endpoint}** is not silenced."), true).await,
    }
}

async fn ephemeral(
    ctx: &serenity::Context,
    click: &ComponentInteraction,
    text: &str,
) -> Result<(), Error> {
    let message = CreateInteractionResponseMessage::new()
        .content(text)
        .ephemeral(true)
        .allowed_mentions(no_mentions());
    click
        .create_response(ctx, CreateInteractionResponse::Message(message))
        .await?;
    Ok(())
}

/// The DOWN alert's buttons: "Acknowledge" (stops reminders; the alert then shows who and when)
/// and "Re-run check" (check roles only; the result also counts as a scheduled check).
pub async fn handle_click(
    ctx: &serenity::Context,
    data: &Data,
    click: &ComponentInteraction,
) -> Result<(), Error> {
    let id = click.data.custom_id.as_str();
    let (ack, alert_id) = match (id.strip_prefix(ACK), id.strip_prefix(RERUN)) {
        (Some(a), _) => (true, a),
        (_, Some(a)) => (false, a),
        _ => return Ok(()),
    };
    let Some(alerts) = &data.services.alerts else {
        return ephemeral(ctx, click, NOT_RUNNING).await;
    };
    let Some(alert) = alerts.alert(alert_id)? else {
        return ephemeral(
            ctx,
            click,
            "medic no longer knows this alert (it is older than the retention period).",
        )
        .await;
    };
    let who = click
        .member
        .as_ref()
        .map(|m| m.user.name.clone())
        .unwrap_or_else(|| click.user.name.clone());
    if ack {
        let incident = alert.since.unwrap_or(alert.at);
        return match alerts.acknowledge(&alert.endpoint, incident, &who).await? {
            Ok(a) => {
                let mut embed = embed(&alert);
                embed = embed.field(
                    "Acknowledged",
                    format!("by {} at {}", a.by, discord_time(a.at, 'f')),
                    false,
                );
                let buttons = vec![CreateActionRow::Buttons(vec![
                    CreateButton::new(format!("{RERUN}{}", alert.id))
                        .label("Re-run check")
                        .style(ButtonStyle::Primary),
                    CreateButton::new(format!("{ACK}{}", alert.id))
                        .label(render::cut(&format!("Acknowledged by {}", a.by), 80))
                        .style(ButtonStyle::Secondary)
                        .disabled(true),
                ])];
                let update = CreateInteractionResponseMessage::new()
                    .embed(embed)
                    .components(buttons)
                    .allowed_mentions(no_mentions());
                click
                    .create_response(ctx, CreateInteractionResponse::UpdateMessage(update))
                    .await?;
                Ok(())
            }
            Err(AckError::NoIncident) => {
                ephemeral(
                    ctx,
                    click,
                    &format!(
                        "**{}** has no open incident any more: nothing to acknowledge.",
                        alert.endpoint
                    ),
                )
                .await
            }
            Err(AckError::DifferentIncident) => {
                ephemeral(
                    ctx,
                    click,
                    &format!(
                        "This alert's incident is over; **{}** has a newer one. Acknowledge its latest alert instead.",
                        alert.endpoint
                    ),
                )
                .await
            }
            Err(AckError::AlreadyAcknowledged(a)) => {
                ephemeral(
                    ctx,
                    click,
                    &format!(
                        "Already acknowledged by {} {}.",
                        a.by,
                        discord_time(a.at, 'R')
                    ),
                )
                .await
            }
        };
    }
    if !may_run_checks(data, click.member.as_ref()) {
        return ephemeral(ctx, click, REFUSED).await;
    }
    let Some(checker) = data.services.checker() else {
        return ephemeral(ctx, click, NOT_RUNNING).await;
    };
    // A check can take longer than the 3 s Discord allows for the first response.
    let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
    click.create_response(ctx, defer).await?;
    let started = SystemClock.now();
    let outcome = check_cmd::run(Some(checker), &data.services.statuses, &alert.endpoint).await;
    if let check_cmd::Outcome::Report(report) = &outcome {
        let mut obs = observation(report);
        obs.at = started;
        alerts.observe(&alert.endpoint, obs).await?;
    }
    let reply = crate::render::discord::check(&outcome, data.services.matcher.knowledge());
    let mut edit = EditInteractionResponse::new()
        .embeds(reply.serenity_embeds())
        .allowed_mentions(no_mentions());
    if let Some(content) = reply.content {
        edit = edit.content(content);
    }
    click.edit_response(ctx, edit).await?;
    Ok(())
}
