//! The Discord bot: poise slash commands and a free-text listener on serenity's gateway.
//!
//! This module owns the Discord transport only: connecting ([`run`]), turning interactions and
//! messages into calls of [`crate::commands`], and sending what [`crate::render::discord`]
//! renders. [`run`] is handed its settings, HTTP client and shutdown signal, so tests start the
//! real bot against a local fake Discord.
//!
//! - [`delivery`]: the one path every message medic sends or edits takes to Discord (retries,
//!   rate limits, per-channel queue).
//! - `answer`: a rendered [`Reply`] as each kind of Discord message, sent through [`delivery`].
//! - `slash`: the slash commands, listed once in [`commands()`]; autocomplete is answered by
//!   [`Frontend`] so that it takes the delivery path too.
//! - `free_text`: answers to mentions, DMs and messages in listen channels.
//! - [`components`]: button clicks, parsed into a [`components::Click`].
//! - `gate`: who may run checks and manage alerts.
//! - [`alerts`]: the alert sink that posts scheduled-check alerts to `alert_channel`.
//! - [`cooldown`]: keeps busy channels from getting the same answer over and over.
//! - `shutdown`: closes the gateway on shutdown, also after serenity restarted a shard.

pub mod alerts;
mod answer;
pub mod components;
pub mod cooldown;
pub mod delivery;
mod free_text;
mod gate;
pub mod interactions;
mod shutdown;
pub(crate) mod slash;

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poise::serenity_prelude as serenity;
use serenity::{ChannelId, ClientBuilder, GatewayIntents, GuildId, HttpBuilder, RoleId, UserId};

use crate::commands::LiveServices;
use crate::render::discord::no_mentions;
use crate::{Error as MedicError, Result as MedicResult};

pub(crate) use answer::send;
pub use cooldown::{Clock, Cooldown, ManualClock, SystemClock};
pub use delivery::{ChannelLimit, Delivery};
pub use slash::commands;

/// Errors inside handlers; they are logged and answered with an apology, never fatal.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Context<'a> = poise::Context<'a, Data, Error>;

/// What alert commands and buttons answer when this medic runs no scheduled checks.
pub(crate) const NOT_RUNNING: &str =
    "Scheduled checks are not running in this medic: set `alert_channel` in the `[discord]` section of medic.toml.";

/// How long the same entry stays unanswered in one channel after medic answered it.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(10 * 60);

/// The bot token. Its `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// Accepts `DISCORD_TOKEN` as the developer portal shows it, with or without `Bot `.
    /// The error never repeats the value.
    pub fn parse(raw: &str) -> MedicResult<Token> {
        let t = raw.trim();
        let t = t.strip_prefix("Bot ").unwrap_or(t).trim();
        if t.is_empty() {
            return Err(MedicError::Usage(
                "DISCORD_TOKEN is empty: set it to the bot token from the Discord developer portal (Bot → Reset Token)".into(),
            ));
        }
        let printable = t.chars().all(|c| c.is_ascii_graphic());
        if !printable || serenity::validate_token(t).is_err() {
            return Err(MedicError::Usage(format!(
                "DISCORD_TOKEN is malformed ({} characters; a bot token has three dot-separated parts and no spaces). \
                 Copy it again from the developer portal (Bot → Reset Token)",
                t.chars().count()
            )));
        }
        crate::redact::remember(t); // every gate masks the bot token from now on
        Ok(Token(t.to_string()))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// A REST client for interaction follow-ups of the HTTP interactions endpoint: interaction
/// webhooks need no bot token, so `token` may be absent; through `api_base` when set (a proxy,
/// or a local fake in tests).
pub fn rest_client(token: Option<&Token>, api_base: Option<&str>) -> Arc<serenity::Http> {
    let mut http =
        HttpBuilder::new(token.map_or("", |t| t.expose())).default_allowed_mentions(no_mentions());
    if let Some(base) = api_base {
        http = http.proxy(base.to_string()).ratelimiter_disabled(true);
    }
    Arc::new(http.build())
}

/// Everything the bot needs from the environment and `medic.toml`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub token: Token,
    /// Register commands in this guild (instant) instead of globally (can take an hour).
    pub guild_id: Option<u64>,
    /// Send REST calls to this HTTP API proxy (`http://host:port`) with serenity's rate limiter
    /// off: the proxy limits. The gateway URL then comes from the proxy's `GET /api/v10/gateway`.
    pub api_base: Option<String>,
    /// Channels where medic answers confident matches without being mentioned.
    pub listen_channels: Vec<u64>,
    /// Roles whose members may run `/check` (Manage Server may always).
    pub check_roles: Vec<u64>,
    /// Request the privileged MESSAGE_CONTENT intent (`[discord] message_content`). Without it
    /// slash commands, mentions and DMs work, but listen channels see empty messages.
    pub message_content: bool,
    /// Run only these gateway shards (`--shards A-B --shard-total N`); `None`: autosharding.
    pub shards: Option<ShardRange>,
}

/// Shards `first..=last` of `total`, so a large deployment spreads the gateway over processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRange {
    pub first: u32,
    pub last: u32,
    pub total: u32,
}

impl ShardRange {
    /// `"A-B"` (or `"A"`) of `total` shards.
    pub fn parse(range: &str, total: u32) -> MedicResult<ShardRange> {
        let bad = || {
            MedicError::Usage(format!(
                "--shards takes A-B with 0 <= A <= B < --shard-total ({total}), e.g. --shards 0-3 --shard-total 8"
            ))
        };
        let (a, b) = range
            .trim()
            .split_once('-')
            .unwrap_or((range.trim(), range.trim()));
        let first: u32 = a.trim().parse().map_err(|_| bad())?;
        let last: u32 = b.trim().parse().map_err(|_| bad())?;
        if total == 0 || first > last || last >= total {
            return Err(bad());
        }
        Ok(ShardRange { first, last, total })
    }
}

impl Settings {
    /// Reads `DISCORD_TOKEN`, `DISCORD_GUILD_ID` and `DISCORD_API_BASE` through `var` (the process
    /// environment in production, a map in tests); the `[discord]` lists start empty.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> MedicResult<Settings> {
        let token = match var("DISCORD_TOKEN") {
            Some(t) => Token::parse(&t)?,
            None => {
                return Err(MedicError::Usage(
                    "DISCORD_TOKEN is not set: put the bot token in the environment or in .env (see .env.example). \
                     `medic chat` works without one"
                        .into(),
                ))
            }
        };
        let guild_id = match var("DISCORD_GUILD_ID").filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(g) => Some(parse_id(&g).ok_or_else(|| {
                MedicError::Usage(format!(
                    "DISCORD_GUILD_ID must be a numeric server id, not {g:?}"
                ))
            })?),
        };
        let api_base = match var("DISCORD_API_BASE").filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(b) => Some(parse_api_base(&b)?),
        };
        Ok(Settings {
            token,
            guild_id,
            api_base,
            listen_channels: Vec::new(),
            check_roles: Vec::new(),
            message_content: true,
            shards: None,
        })
    }
}

fn parse_id(s: &str) -> Option<u64> {
    s.trim().parse::<u64>().ok().filter(|&n| n != 0)
}

/// `http(s)://host[:port]` with no path, as serenity's proxy setting expects. Credentials are
/// refused: the value ends up in logs and errors. Errors never repeat the raw value (it may
/// hold a password), at most its scheme and host.
pub(crate) fn parse_api_base(raw: &str) -> MedicResult<String> {
    let bad = |what: &str, url: Option<&url::Url>| {
        let shown = url
            .and_then(|u| Some(format!(" (got {}://{})", u.scheme(), u.host_str()?)))
            .unwrap_or_default();
        MedicError::Usage(format!(
            "DISCORD_API_BASE must look like http://127.0.0.1:3000: {what}{shown}"
        ))
    };
    let url =
        url::Url::parse(raw.trim()).map_err(|_| bad("scheme, host and optional port", None))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("no user or password", Some(&url)));
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("http:// or https:// and a host", Some(&url)));
    }
    if !(url.path() == "/" || url.path().is_empty())
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad("no path, query or fragment", Some(&url)));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Called with the event name and payload of every gateway event serenity could not parse.
pub type UnknownEventHook = Arc<dyn Fn(&str, &serde_json::Value) + Send + Sync>;

/// The bot before it connects: settings plus what tests inject.
pub struct Bot {
    settings: Settings,
    services: LiveServices,
    http_client: Option<reqwest::Client>,
    clock: Arc<dyn Clock>,
    cooldown: Duration,
    on_unknown_event: Option<UnknownEventHook>,
    alert_delivery: Option<alerts::DeliverySlot>,
    channel_limit: ChannelLimit,
    commands: Vec<poise::Command<Data, Error>>,
}

impl Bot {
    pub fn new(settings: Settings, services: impl Into<LiveServices>) -> Bot {
        Bot {
            settings,
            services: services.into(),
            http_client: None,
            clock: Arc::new(SystemClock),
            cooldown: DEFAULT_COOLDOWN,
            on_unknown_event: None,
            alert_delivery: None,
            channel_limit: ChannelLimit::default(),
            commands: commands(),
        }
    }

    /// Replaces the slash commands (default: [`commands()`]); tests add failing ones.
    pub fn commands(mut self, commands: Vec<poise::Command<Data, Error>>) -> Bot {
        self.commands = commands;
        self
    }

    /// The reqwest client for every REST call (serenity's own otherwise).
    pub fn http_client(mut self, client: reqwest::Client) -> Bot {
        self.http_client = Some(client);
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Bot {
        self.clock = clock;
        self
    }

    pub fn cooldown(mut self, window: Duration) -> Bot {
        self.cooldown = window;
        self
    }

    /// Receives the bot's [`Delivery`] once built, for posting scheduled-check alerts through
    /// the same channel queues and rate limits as every other message.
    pub fn alert_delivery(mut self, slot: alerts::DeliverySlot) -> Bot {
        self.alert_delivery = Some(slot);
        self
    }

    /// The per-channel message limit medic spaces its sends under (Discord's: 5 per 5 s).
    pub fn channel_limit(mut self, limit: ChannelLimit) -> Bot {
        self.channel_limit = limit;
        self
    }

    /// Gateway events serenity drops as `Unknown` (a malformed or unexpected payload) are always
    /// logged; this hook lets a test harness fail on them.
    pub fn on_unknown_event(mut self, hook: UnknownEventHook) -> Bot {
        self.on_unknown_event = Some(hook);
        self
    }
}

/// What every handler shares.
pub struct Data {
    /// The services in force: `medic serve` replaces them when it reloads.
    pub services: LiveServices,
    pub bot_user: UserId,
    pub listen_channels: HashSet<ChannelId>,
    pub check_roles: HashSet<RoleId>,
    pub cooldown: Cooldown,
    pub delivery: Arc<Delivery>,
}

/// Connects to the gateway (autosharded) and serves until `shutdown` resolves or every shard
/// fails.
pub async fn run(bot: Bot, shutdown: impl Future<Output = ()> + Send + 'static) -> MedicResult<()> {
    let Bot {
        settings,
        services,
        http_client,
        clock,
        cooldown,
        on_unknown_event,
        alert_delivery,
        channel_limit,
        commands,
    } = bot;
    let shards_wanted = settings.shards;
    // serenity's own default client (rustls), kept so medic's delivery can use it too.
    let rest_client = match http_client {
        Some(c) => c,
        None => reqwest::Client::builder()
            .use_rustls_tls()
            .build()
            .map_err(|e| MedicError::discord("cannot build the HTTP client", e.to_string()))?,
    };
    let mut http = HttpBuilder::new(settings.token.expose())
        .default_allowed_mentions(no_mentions())
        .client(rest_client.clone());
    if let Some(base) = &settings.api_base {
        // Off, because serenity's limiter ignores the proxy; medic's delivery handles 429s.
        http = http.proxy(base.clone()).ratelimiter_disabled(true);
    }
    let http = http.build();
    // serenity falls back to the real gateway when this call fails; behind a proxy (or a fake)
    // that would be the wrong Discord, so fail loudly instead.
    if let Some(base) = &settings.api_base {
        http.get_gateway().await.map_err(|e| {
            MedicError::discord(
                format!("DISCORD_API_BASE {base} did not answer GET /api/v10/gateway"),
                e.to_string(),
            )
        })?;
    }

    let guild_id = settings.guild_id.map(GuildId::new);
    let data_parts = (
        services,
        settings
            .listen_channels
            .iter()
            .map(|&c| ChannelId::new(c))
            .collect::<HashSet<_>>(),
        settings
            .check_roles
            .iter()
            .map(|&r| RoleId::new(r))
            .collect::<HashSet<_>>(),
        Cooldown::new(cooldown, clock),
    );
    // Filled once the client exists (before it connects), read by `setup`.
    let slot = alert_delivery.unwrap_or_default();
    let delivery_slot = slot.clone();
    let options = poise::FrameworkOptions {
        commands,
        on_error: |error| Box::pin(on_error(error)),
        event_handler: |framework, event| Box::pin(dispatch_event(framework, event)),
        allowed_mentions: Some(no_mentions()),
        ..Default::default()
    };
    let framework = poise::Framework::builder()
        .options(options)
        .initialize_owners(false)
        .setup(move |ctx, ready, framework| {
            Box::pin(async move {
                // Never fail here: poise would then wait for user data forever.
                let registered = match guild_id {
                    Some(g) => {
                        poise::builtins::register_in_guild(ctx, &framework.options().commands, g)
                            .await
                    }
                    None => {
                        poise::builtins::register_globally(ctx, &framework.options().commands).await
                    }
                };
                match registered {
                    Ok(()) => tracing::info!(guild = ?guild_id, "slash commands registered"),
                    Err(e) => tracing::error!("registering slash commands failed: {e}"),
                }
                tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), "connected");
                let (services, listen_channels, check_roles, cooldown) = data_parts;
                let delivery = delivery_slot
                    .get()
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Delivery::with_default_client(ctx.http.clone())));
                Ok(Data {
                    services,
                    bot_user: ready.user.id,
                    listen_channels,
                    check_roles,
                    cooldown,
                    delivery,
                })
            })
        })
        .build();

    let intents = intents(settings.message_content);
    let restarts = Arc::new(shutdown::Restarts::default());
    let mut client = ClientBuilder::new_with_http(http, intents)
        .framework(Frontend(framework))
        .raw_event_handler(RawEvents {
            on_unknown: on_unknown_event,
            restarts: restarts.clone(),
        })
        .await
        .map_err(|e| MedicError::discord("cannot build the Discord client", e.to_string()))?;

    let _ = slot.set(Arc::new(Delivery::new(
        client.http.clone(),
        rest_client,
        channel_limit,
    )));
    let shards = client.shard_manager.clone();
    // Heartbeat latency for /metrics, read off serenity's shard runners.
    let runners = client.shard_manager.runners.clone();
    let latency = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            let seen: Vec<(u32, Option<std::time::Duration>)> = runners
                .lock()
                .await
                .iter()
                .map(|(id, info)| (id.0, info.latency))
                .collect();
            crate::metrics::record_gateway_latency(seen);
        }
    });
    let stopping = Arc::new(Mutex::new(None));
    let stopped = stopping.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        let told = shutdown::stop(&shards, &restarts).await;
        *stopped.lock().unwrap_or_else(|e| e.into_inner()) = Some(told);
    });
    let result = match shards_wanted {
        // serenity's range end is inclusive (`start_shards(n)` is `0..n-1` of n).
        Some(r) => client.start_shard_range(r.first..r.last, r.total).await,
        None => client.start_autosharded().await,
    };
    latency.abort();
    crate::metrics::record_gateway_latency([]);
    let told = stopping.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(told) = told {
        shutdown::finish(&client.shard_manager, told).await;
    }
    result.map_err(|e| match e {
        serenity::Error::Gateway(serenity::GatewayError::DisallowedGatewayIntents) => {
            MedicError::discord(DISALLOWED_INTENTS, "")
        }
        e => MedicError::discord("Discord connection failed", e.to_string()),
    })
}

/// What Discord's close code 4014 means for medic, and the two ways out.
const DISALLOWED_INTENTS: &str =
    "Discord refused the connection (close code 4014, disallowed intents): \
the bot asks for the privileged Message Content intent, which is off for this application. \
Enable it in the developer portal (Bot → Privileged Gateway Intents → Message Content Intent), \
or set `message_content = false` under [discord] in medic.toml (slash commands, mentions and \
DMs keep working; listen channels then see empty messages)";

/// The gateway intents medic asks for; MESSAGE_CONTENT is privileged and optional.
fn intents(message_content: bool) -> GatewayIntents {
    let base =
        GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES | GatewayIntents::DIRECT_MESSAGES;
    if message_content {
        base | GatewayIntents::MESSAGE_CONTENT
    } else {
        base
    }
}

/// poise with one event taken over: autocomplete. poise would send the choices itself, once,
/// through serenity (a 429 loses them); [`Frontend`] runs the command's declared callback and
/// sends its choices through [`Delivery`]. Everything else is poise's.
struct Frontend(poise::Framework<Data, Error>);

#[serenity::async_trait]
impl serenity::Framework for Frontend {
    async fn init(&mut self, client: &serenity::Client) {
        self.0.init(client).await
    }

    async fn dispatch(&self, ctx: serenity::Context, event: serenity::FullEvent) {
        match &event {
            serenity::FullEvent::InteractionCreate {
                interaction: serenity::Interaction::Autocomplete(interaction),
            } => slash::autocomplete(&self.0, &ctx, interaction).await,
            _ => self.0.dispatch(ctx, event).await,
        }
    }
}

/// Sees every gateway event first: logs (and reports) those serenity could not parse, and
/// counts READYs for [`shutdown`].
struct RawEvents {
    on_unknown: Option<UnknownEventHook>,
    restarts: Arc<shutdown::Restarts>,
}

#[serenity::async_trait]
impl serenity::RawEventHandler for RawEvents {
    async fn raw_event(&self, _ctx: serenity::Context, event: serenity::Event) {
        match &event {
            serenity::Event::Unknown(unknown) => {
                tracing::warn!(event = %unknown.kind, "ignored a gateway event serenity could not parse");
                if let Some(hook) = &self.on_unknown {
                    hook(&unknown.kind, &unknown.value);
                }
            }
            serenity::Event::Ready(ready) => self.restarts.ready(ready.ready.shard),
            _ => {}
        }
    }
}

async fn dispatch_event(
    framework: poise::FrameworkContext<'_, Data, Error>,
    event: &serenity::FullEvent,
) -> Result<(), Error> {
    let ctx = framework.serenity_context;
    let data = framework.user_data;
    match event {
        serenity::FullEvent::Message { new_message } => {
            free_text::handle(ctx, data, new_message).await
        }
        serenity::FullEvent::InteractionCreate {
            interaction: serenity::Interaction::Component(click),
        } => components::handle(ctx, data, click).await,
        _ => Ok(()),
    }
}

/// A failed command is logged and answered with a short apology; the bot keeps running.
async fn on_error(error: poise::FrameworkError<'_, Data, Error>) {
    match error {
        poise::FrameworkError::Command { error, ctx, .. } => {
            tracing::error!(command = %ctx.command().name, "command failed: {error}");
            answer::apologize(ctx).await;
        }
        poise::FrameworkError::CommandPanic { ctx, payload, .. } => {
            tracing::error!(command = %ctx.command().name, "command panicked: {}", payload.unwrap_or_default());
            answer::apologize(ctx).await;
        }
        poise::FrameworkError::EventHandler { error, event, .. } => {
            tracing::error!(
                event = event.snake_case_name(),
                "event handler failed: {error}"
            );
        }
        other => {
            if let Err(e) = poise::builtins::on_error(other).await {
                tracing::error!("while handling an error: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errors_never_echo_the_token() {
        let secret = "abc def.ghi.jkl";
        let err = Token::parse(secret).unwrap_err().to_string();
        assert!(!err.contains("abc") && !err.contains("ghi"), "{err}");
        assert!(Token::parse("").is_err());
        let t = Token::parse("Bot MTIz.NDU2.Nzg5").unwrap();
        assert_eq!(t.expose(), "MTIz.NDU2.Nzg5");
        assert!(!format!("{t:?}").contains("MTIz"));
    }

    #[test]
    fn settings_from_env() {
        let env = |k: &str| match k {
            "DISCORD_TOKEN" => Some("MTIz.NDU2.Nzg5".to_string()),
            "DISCORD_GUILD_ID" => Some("42".to_string()),
            "DISCORD_API_BASE" => Some("http://127.0.0.1:3000/".to_string()),
            _ => None,
        };
        let s = Settings::from_env(env).unwrap();
        assert_eq!(s.guild_id, Some(42));
        assert_eq!(s.api_base.as_deref(), Some("http://127.0.0.1:3000"));
        assert!(Settings::from_env(|_| None)
            .unwrap_err()
            .to_string()
            .contains("DISCORD_TOKEN is not set"));
        let bad_base = |k: &str| match k {
            "DISCORD_TOKEN" => Some("MTIz.NDU2.Nzg5".to_string()),
            "DISCORD_API_BASE" => Some("http://127.0.0.1:3000/api/v10".to_string()),
            _ => None,
        };
        assert!(Settings::from_env(bad_base).is_err());
    }

    #[test]
    fn api_base_with_credentials_is_refused_without_echoing_them() {
        for raw in [
            "http://:hunter2@127.0.0.1:3000",
            "http://user:hunter2@127.0.0.1:3000",
            "http://hunter2@127.0.0.1:3000",
        ] {
            let err = parse_api_base(raw).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.contains("http://127.0.0.1"), "{err}");
        }
        let err = parse_api_base("hunter2 not a url").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse_api_base("http://127.0.0.1:3000/x?k=hunter2")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert_eq!(
            parse_api_base("https://proxy.internal:8443/").unwrap(),
            "https://proxy.internal:8443"
        );
    }

    #[test]
    fn message_content_intent_is_optional() {
        assert!(intents(true).contains(GatewayIntents::MESSAGE_CONTENT));
        assert!(!intents(false).contains(GatewayIntents::MESSAGE_CONTENT));
        assert!(intents(false).contains(GatewayIntents::GUILD_MESSAGES));
    }
}
