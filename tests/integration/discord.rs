//! The real bot (serenity + poise, started with `medic::discord::run`) against the fake Discord
//! in `tests/integration/fake_discord`: only 127.0.0.1 is ever contacted.

use crate::fake_discord;
use crate::support::HttpServer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{json, Value};

use fake_discord::payloads::{self, Invoker, MessageCreate};
use fake_discord::{Failure, FakeDiscord, Recorded, BOT_TOKEN};
use medic::checks::Checker;
use medic::commands::Services;
use medic::config::Config;
use medic::discord::{Bot, ChannelLimit, ManualClock, Settings, Token};
use medic::knowledge::Knowledge;
use medic::matcher::Matcher;

const GUILD: u64 = 10;
const LISTEN: u64 = 20;
const OTHER_CHANNEL: u64 = 21;
const CHECK_ROLE: u64 = 50;
const WAIT: Duration = Duration::from_secs(10);
/// How long to wait for duplicates after an expected answer.
const QUIET: Duration = Duration::from_millis(400);
/// The DM channel of the sentinel message that proves earlier events were handled.
const SENTINEL_DM: u64 = 98;

fn matcher() -> Arc<Matcher> {
    Arc::new(Matcher::new(Arc::new(Knowledge::builtin().unwrap())))
}

/// Services without endpoints (no medic.toml).
fn services() -> Services {
    Services::new(matcher(), None)
}

/// Services whose configuration has `toml` (endpoints on 127.0.0.1 only).
fn services_with(toml: &str) -> Services {
    let env = std::collections::HashMap::<String, String>::new();
    let config = Config::parse("medic.toml", toml, std::path::Path::new("."), &env).unwrap();
    Services::new(matcher(), Some(Arc::new(Checker::new(Arc::new(config)))))
}

/// A running bot and its fake Discord; dropping it stops the bot.
struct Harness {
    fake: FakeDiscord,
    clock: Arc<ManualClock>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    bot: Option<tokio::task::JoinHandle<medic::Result<()>>>,
    /// Where the commands were registered (PUT …/commands).
    registered: fake_discord::Recorded,
    /// A bound port nothing listens on, held for the test's lifetime (see [`closed_port`]).
    _closed_port: Option<tokio::net::TcpSocket>,
    /// A healthy endpoint for `/check`, kept running for the test's lifetime.
    _healthy: Option<HttpServer>,
}

impl Harness {
    /// Proxy mode: REST over plain HTTP, serenity's rate limiter off.
    async fn start() -> Harness {
        Self::start_with(services()).await
    }

    async fn start_with(services: Services) -> Harness {
        Self::start_with_commands(services, medic::discord::commands()).await
    }

    async fn start_with_commands(
        services: Services,
        commands: Vec<poise::Command<medic::discord::Data, medic::discord::Error>>,
    ) -> Harness {
        let fake = FakeDiscord::start().await;
        let mut settings = settings();
        settings.api_base = Some(fake.api_base());
        Self::with(fake, settings, None, services, commands).await
    }

    /// Proxy mode with the fake holding every channel to `limit` (as Discord does) and medic
    /// spacing its sends under `medic_limit`.
    async fn start_limited(limit: ChannelLimit, medic_limit: ChannelLimit) -> Harness {
        let fake = FakeDiscord::start().await;
        fake.limit_channels(limit.messages, limit.per);
        let mut settings = settings();
        settings.api_base = Some(fake.api_base());
        let commands = medic::discord::commands();
        Self::configured(fake, settings, None, services(), commands, |bot| {
            bot.channel_limit(medic_limit)
        })
        .await
    }

    /// TLS mode: serenity's real rate limiter, discord.com resolved to the fake.
    async fn start_tls() -> Harness {
        let fake = FakeDiscord::start_tls().await;
        let client = fake.tls_client();
        Self::with(
            fake,
            settings(),
            Some(client),
            services(),
            medic::discord::commands(),
        )
        .await
    }

    async fn with(
        fake: FakeDiscord,
        settings: Settings,
        client: Option<reqwest::Client>,
        services: Services,
        commands: Vec<poise::Command<medic::discord::Data, medic::discord::Error>>,
    ) -> Harness {
        Self::configured(fake, settings, client, services, commands, |bot| bot).await
    }

    async fn configured(
        fake: FakeDiscord,
        settings: Settings,
        client: Option<reqwest::Client>,
        services: Services,
        commands: Vec<poise::Command<medic::discord::Data, medic::discord::Error>>,
        configure: impl FnOnce(Bot) -> Bot,
    ) -> Harness {
        let clock = Arc::new(ManualClock::default());
        let bot = Bot::new(settings, services)
            .commands(commands)
            .clock(clock.clone())
            .on_unknown_event(fake.unknown_event_hook());
        let mut bot = configure(bot);
        if let Some(c) = client {
            bot = bot.http_client(c);
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(medic::discord::run(bot, async move {
            let _ = rx.await;
        }));
        let registered = fake.commands_registered(WAIT).await;
        Harness {
            fake,
            clock,
            shutdown: Some(tx),
            bot: Some(task),
            registered,
            _closed_port: None,
            _healthy: None,
        }
    }

    fn member(&self, roles: &[u64], permissions: u64) -> Invoker {
        Invoker::guild_member(
            GUILD,
            LISTEN,
            payloads::member(30, "alice", roles, permissions),
        )
    }

    /// Sends a slash command and returns its callback request.
    async fn command(
        &self,
        name: &str,
        options: &[(&str, &str)],
        who: &Invoker,
    ) -> fake_discord::Recorded {
        let id = self.fake.next_id();
        let from = self.fake.request_count();
        self.fake.dispatch(
            "INTERACTION_CREATE",
            payloads::command(id, name, options, who),
        );
        let path = format!("/interactions/{id}/");
        self.fake
            .wait_for(from, WAIT, |r| r.path.contains(&path))
            .await
    }

    /// Sends MESSAGE_CREATE for a message that should get no answer and returns what the bot
    /// sent after it. Silence is proved, not timed: a DM (always answered) follows, and once its
    /// answer arrived the silent message was handled too. Fails if anything replies to it.
    async fn message(&self, msg: MessageCreate) -> Vec<fake_discord::Recorded> {
        let id = msg.id;
        self.silent(msg.build(), id).await
    }

    /// [`Self::message`] for a raw MESSAGE_CREATE payload with message id `id`.
    async fn silent(&self, d: Value, id: u64) -> Vec<fake_discord::Recorded> {
        let from = self.fake.request_count();
        self.fake.dispatch("MESSAGE_CREATE", d);
        let sent = self.settle(from).await;
        assert!(
            !sent
                .iter()
                .any(|r| r.body["message_reference"]["message_id"] == json!(id.to_string())),
            "the bot answered message {id}: {sent:#?}"
        );
        sent
    }

    /// Sends a DM the bot always answers and waits for that answer; returns every request
    /// since `from` except it. Events before the DM have been handled by then.
    async fn settle(&self, from: usize) -> Vec<fake_discord::Recorded> {
        let id = self.fake.next_id();
        let dm = MessageCreate::new(
            id,
            SENTINEL_DM,
            None,
            payloads::user(30, "alice", false),
            "ECONNREFUSED when calling the API",
        );
        self.fake.dispatch("MESSAGE_CREATE", dm.build());
        let is_sentinel = |r: &fake_discord::Recorded| {
            r.path
                .contains(&format!("/channels/{SENTINEL_DM}/messages"))
                && r.body["message_reference"]["message_id"] == json!(id.to_string())
        };
        self.fake.wait_for(from, WAIT, is_sentinel).await;
        self.fake.requests()[from..]
            .iter()
            .filter(|r| !is_sentinel(r))
            .cloned()
            .collect()
    }

    /// Sends MESSAGE_CREATE, waits (up to [`WAIT`]) for a posted message, then [`QUIET`] more;
    /// returns every request since, so duplicates show.
    async fn reply(&self, msg: MessageCreate) -> Vec<fake_discord::Recorded> {
        let from = self.fake.request_count();
        self.fake.dispatch("MESSAGE_CREATE", msg.build());
        self.fake
            .wait_for(from, WAIT, |r| r.path.ends_with("/messages"))
            .await;
        self.fake.requests_after(from, QUIET).await
    }

    fn user_message(&self, channel: u64, content: &str) -> MessageCreate {
        MessageCreate::new(
            self.fake.next_id(),
            channel,
            Some(GUILD),
            payloads::user(30, "alice", false),
            content,
        )
    }

    /// Stops the bot and checks it ended cleanly with every event understood.
    async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        let result = tokio::time::timeout(WAIT, self.bot.take().unwrap())
            .await
            .expect("bot stops on shutdown")
            .expect("bot task did not panic");
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(
            self.fake.closes(),
            [1000],
            "the gateway was closed with a close frame"
        );
        self.fake.assert_no_unknown_events();
        self.fake.assert_valid_bodies();
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(task) = &self.bot {
            task.abort();
        }
    }
}

fn settings() -> Settings {
    Settings {
        token: Token::parse(BOT_TOKEN).unwrap(),
        guild_id: Some(GUILD),
        api_base: None,
        listen_channels: vec![LISTEN],
        check_roles: vec![CHECK_ROLE],
        message_content: true,
        shards: None,
    }
}

fn no_pings(body: &Value) {
    let am = &body["allowed_mentions"];
    assert_eq!(
        am["parse"],
        json!([]),
        "allowed_mentions must parse nothing: {body}"
    );
    assert!(
        am["users"].as_array().is_none_or(|a| a.is_empty()),
        "{body}"
    );
    assert!(
        am["roles"].as_array().is_none_or(|a| a.is_empty()),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_range_identifies_as_those_shards_of_the_total() {
    let fake = FakeDiscord::start().await;
    let mut settings = settings();
    settings.api_base = Some(fake.api_base());
    settings.shards = Some(medic::discord::ShardRange::parse("1-1", 3).unwrap());
    let h = Harness::with(fake, settings, None, services(), medic::discord::commands()).await;
    let identify = h.fake.wait_identified(WAIT).await;
    assert_eq!(identify["d"]["shard"], json!([1, 3]), "{identify}");
    assert!(medic::discord::ShardRange::parse("2-1", 3).is_err());
    assert!(medic::discord::ShardRange::parse("0-3", 3).is_err());
    assert!(medic::discord::ShardRange::parse("x", 3).is_err());
    assert_eq!(
        medic::discord::ShardRange::parse("4", 8).unwrap(),
        medic::discord::ShardRange {
            first: 4,
            last: 4,
            total: 8
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_registers_the_commands_in_the_guild() {
    let h = Harness::start().await;
    assert!(h.registered.path.ends_with(&format!(
        "/applications/{}/guilds/{GUILD}/commands",
        fake_discord::APP_ID
    )));
    let identify = h.fake.wait_identified(WAIT).await;
    assert_eq!(identify["d"]["token"], json!(format!("Bot {BOT_TOKEN}")));
    let intents = identify["d"]["intents"].as_u64().unwrap();
    // GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
    assert_eq!(intents, 1 | (1 << 9) | (1 << 12) | (1 << 15));
    let cmds = h.registered.body.as_array().unwrap();
    let names: Vec<&str> = cmds.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"diagnose") && names.contains(&"help"),
        "{names:?}"
    );
    let diagnose = cmds.iter().find(|c| c["name"] == "diagnose").unwrap();
    let query = &diagnose["options"][0];
    assert_eq!(query["name"], "query");
    assert_eq!(query["type"], 3);
    assert_eq!(query["required"], true);
    assert_eq!(query["autocomplete"], true);
    assert!(!diagnose["description"].as_str().unwrap().is_empty());
    for name in ["check", "endpoints"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let check = cmds.iter().find(|c| c["name"] == "check").unwrap();
    assert_eq!(check["options"][0]["name"], "endpoint");
    assert_eq!(check["options"][0]["autocomplete"], true);
    assert_eq!(check["options"][0]["required"], true);
    let help = cmds.iter().find(|c| c["name"] == "help").unwrap();
    assert!(help["options"].as_array().is_none_or(|o| o.is_empty()));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_429_answers_with_the_entry_and_no_pings() {
    let h = Harness::start().await;
    let cb = h
        .command(
            "diagnose",
            &[("query", "our sync gets 429 Too Many Requests")],
            &h.member(&[], 0),
        )
        .await;
    assert_eq!(cb.method, Method::POST);
    assert!(cb.path.ends_with("/callback"));
    assert_eq!(cb.body["type"], 4, "a message response: {}", cb.body);
    let data = &cb.body["data"];
    no_pings(data);
    let embed = &data["embeds"][0];
    assert_eq!(embed["title"], "429 · Too Many Requests");
    let description = embed["description"].as_str().unwrap();
    assert!(description.contains("**Steps**\n1. "), "{description}");
    assert!(description.contains("\n2. "));
    assert!(
        embed["footer"]["text"]
            .as_str()
            .unwrap()
            .contains("code \"429\""),
        "{embed}"
    );
    assert!(embed["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "Related"));
    let flags = data["flags"].as_u64().unwrap_or(0);
    assert_eq!(flags & 64, 0, "a confident answer is public");
    let buttons = &data["components"][0]["components"];
    assert!(buttons[0]["custom_id"]
        .as_str()
        .unwrap()
        .starts_with("medic:entry:"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_without_a_confident_match_is_an_ephemeral_hint() {
    let h = Harness::start().await;
    let cb = h
        .command(
            "diagnose",
            &[("query", "what is for lunch?")],
            &h.member(&[], 0),
        )
        .await;
    let data = &cb.body["data"];
    assert_eq!(
        data["flags"].as_u64().unwrap() & 64,
        64,
        "ephemeral: {}",
        cb.body
    );
    assert_eq!(data["embeds"][0]["title"], "No confident match");
    no_pings(data);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocomplete_offers_at_most_25_relevant_choices() {
    let h = Harness::start().await;
    for (typed, first) in [
        ("429", Some("http-429")),
        ("", None),
        ("e", None),
        ("tls", None),
    ] {
        let id = h.fake.next_id();
        let from = h.fake.request_count();
        h.fake.dispatch(
            "INTERACTION_CREATE",
            payloads::autocomplete(id, "diagnose", "query", typed, &h.member(&[], 0)),
        );
        let cb = h
            .fake
            .wait_for(from, WAIT, |r| {
                r.path.contains(&format!("/interactions/{id}/"))
            })
            .await;
        assert_eq!(cb.body["type"], 8, "{}", cb.body);
        let choices = cb.body["data"]["choices"].as_array().unwrap();
        assert!(
            !choices.is_empty() && choices.len() <= 25,
            "{typed:?}: {}",
            choices.len()
        );
        for c in choices {
            assert!(c["name"].as_str().unwrap().chars().count() <= 100);
        }
        if let Some(first) = first {
            assert_eq!(choices[0]["value"], first);
        }
        if typed == "tls" {
            // Every choice is about TLS: by its id or title, or by a code or keyword it lists
            // (Go's "net/http: TLS handshake timeout" belongs to the timeout entry).
            let kb = Knowledge::builtin().unwrap();
            assert!(
                choices.iter().all(|c| {
                    let id = c["value"].as_str().unwrap();
                    let e = kb.get(id).unwrap();
                    id.starts_with("tls-")
                        || e.title.to_lowercase().contains("tls")
                        || e.codes
                            .iter()
                            .chain(&e.keywords)
                            .any(|k| k.to_lowercase().contains("tls"))
                }),
                "{choices:?}"
            );
        }
    }
    // Submitting a chosen id opens that entry.
    let cb = h
        .command("diagnose", &[("query", "http-503")], &h.member(&[], 0))
        .await;
    assert!(cb.body["data"]["embeds"][0]["title"]
        .as_str()
        .unwrap()
        .starts_with("503"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn related_entry_button_opens_the_entry() {
    let h = Harness::start().await;
    let id = h.fake.next_id();
    let from = h.fake.request_count();
    h.fake.dispatch(
        "INTERACTION_CREATE",
        payloads::button(id, "medic:entry:http-503", 77, &h.member(&[], 0)),
    );
    let cb = h
        .fake
        .wait_for(from, WAIT, |r| {
            r.path.contains(&format!("/interactions/{id}/"))
        })
        .await;
    assert_eq!(cb.body["type"], 4);
    assert!(cb.body["data"]["embeds"][0]["title"]
        .as_str()
        .unwrap()
        .starts_with("503"));
    no_pings(&cb.body["data"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_is_ephemeral() {
    let h = Harness::start().await;
    let cb = h.command("help", &[], &h.member(&[], 0)).await;
    let data = &cb.body["data"];
    assert_eq!(data["flags"].as_u64().unwrap() & 64, 64);
    assert!(data["embeds"][0]["fields"][0]["value"]
        .as_str()
        .unwrap()
        .contains("/diagnose"));
    no_pings(data);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_channel_answers_problems_once_and_ignores_chit_chat() {
    let h = Harness::start().await;
    let msg = h.user_message(
        LISTEN,
        "deploy failed: upstream answered 503 Service Unavailable",
    );
    let msg_id = msg.id;
    let sent = h.reply(msg).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let reply = &sent[0];
    assert!(reply.is(&Method::POST, &format!("/channels/{LISTEN}/messages")));
    assert_eq!(
        reply.body["message_reference"]["message_id"],
        json!(msg_id.to_string())
    );
    assert!(reply.body["embeds"][0]["title"]
        .as_str()
        .unwrap()
        .starts_with("503"));
    no_pings(&reply.body);
    assert_eq!(reply.body["allowed_mentions"]["replied_user"], false);
    assert_eq!(reply.body["enforce_nonce"], true);

    // Chit-chat: no request at all.
    assert!(h
        .message(h.user_message(LISTEN, "good morning, lunch at noon?"))
        .await
        .is_empty());
    // Not a listen channel and not mentioned: silent.
    assert!(h
        .message(h.user_message(OTHER_CHANNEL, "we get 503 again"))
        .await
        .is_empty());

    // The same entry again within the cooldown: silent; after it: answered.
    assert!(h
        .message(h.user_message(LISTEN, "503 again from the upstream"))
        .await
        .is_empty());
    h.clock.advance(medic::discord::DEFAULT_COOLDOWN);
    assert_eq!(
        h.reply(h.user_message(LISTEN, "503 again from the upstream"))
            .await
            .len(),
        1
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_in_the_message_is_never_pinged_and_bots_are_ignored() {
    let h = Harness::start().await;
    let mut msg = h.user_message(
        LISTEN,
        "@everyone <@&55> the API returns 401 Unauthorized, invalid api key",
    );
    msg.mention_everyone = true;
    let sent = h.reply(msg).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    no_pings(&sent[0].body);
    assert!(
        !sent[0].body.to_string().contains("@everyone"),
        "the reply does not echo @everyone"
    );

    let bot = MessageCreate::new(
        h.fake.next_id(),
        LISTEN,
        Some(GUILD),
        payloads::user(31, "otherbot", true),
        "HTTP 500 Internal Server Error",
    );
    assert!(
        h.message(bot).await.is_empty(),
        "messages from bots are ignored"
    );
    let own = MessageCreate::new(
        h.fake.next_id(),
        LISTEN,
        Some(GUILD),
        payloads::user(fake_discord::APP_ID, "medic", true),
        "HTTP 500",
    );
    assert!(
        h.message(own).await.is_empty(),
        "its own messages are ignored"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_and_dms_always_get_an_answer() {
    let h = Harness::start().await;
    let mut msg = h.user_message(
        OTHER_CHANNEL,
        &format!("<@{}> hello there", fake_discord::APP_ID),
    );
    msg.mentions = vec![payloads::user(fake_discord::APP_ID, "medic", true)];
    let sent = h.reply(msg).await;
    assert_eq!(
        sent.len(),
        1,
        "a mention without a known problem still gets a hint"
    );
    // Public, so a short hint rather than a "no match" embed in front of the channel.
    let hint = sent[0].body["content"].as_str().unwrap();
    assert!(
        hint.contains("/help") && hint.contains("error line"),
        "{hint}"
    );
    assert!(
        sent[0].body["embeds"]
            .as_array()
            .is_none_or(|e| e.is_empty()),
        "{}",
        sent[0].body
    );
    no_pings(&sent[0].body);

    // A DM is private: it gets the closest entries.
    let dm = MessageCreate::new(
        h.fake.next_id(),
        99,
        None,
        payloads::user(30, "alice", false),
        "hello there",
    );
    let sent = h.reply(dm).await;
    assert_eq!(sent[0].body["embeds"][0]["title"], "No confident match");

    let dm = MessageCreate::new(
        h.fake.next_id(),
        99,
        None,
        payloads::user(30, "alice", false),
        "ECONNREFUSED when calling the billing API",
    );
    let sent = h.reply(dm).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].path.contains("/channels/99/messages"));
    no_pings(&sent[0].body);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_ups_in_a_dm_are_understood_per_user() {
    let h = Harness::start().await;
    let dm = |h: &Harness, user: u64, text: &str| {
        MessageCreate::new(
            h.fake.next_id(),
            99,
            None,
            payloads::user(user, "alice", false),
            text,
        )
    };
    let sent = h.reply(dm(&h, 30, "we get 429 from the partner api")).await;
    assert!(
        sent[0].body["embeds"][0]["footer"]["text"]
            .as_str()
            .unwrap()
            .contains("http-429"),
        "{}",
        sent[0].body
    );
    let sent = h.reply(dm(&h, 30, "what about 503?")).await;
    assert!(
        sent[0].body["embeds"][0]["footer"]["text"]
            .as_str()
            .unwrap()
            .contains("http-503"),
        "{}",
        sent[0].body
    );
    let sent = h.reply(dm(&h, 30, "still failing")).await;
    let footer = sent[0].body["embeds"][0]["footer"]["text"]
        .as_str()
        .unwrap();
    assert!(
        footer.contains("Other causes to rule out after"),
        "{footer}"
    );
    assert!(
        !footer.contains("entry http-503"),
        "the answer that did not help is not repeated: {footer}"
    );
    no_pings(&sent[0].body);
    // Another user in the same place has no conversation to follow up on.
    let sent = h.reply(dm(&h, 31, "still failing")).await;
    assert!(
        !sent[0]
            .body
            .to_string()
            .contains("Other causes to rule out"),
        "{}",
        sent[0].body
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_medic_without_a_mention_is_not_a_question() {
    let h = Harness::start().await;
    let answer_id = h.fake.next_id();
    let mut msg = h.user_message(OTHER_CHANNEL, "thanks!");
    // Discord lists the replied-to author in `mentions`; the text names nobody.
    msg.mentions = vec![payloads::user(fake_discord::APP_ID, "medic", true)];
    let id = msg.id;
    let mut d = msg.build();
    d["type"] = json!(19);
    d["message_reference"] = json!({"message_id": answer_id.to_string(),
                                    "channel_id": OTHER_CHANNEL.to_string()});
    d["referenced_message"] =
        payloads::bot_message(answer_id, OTHER_CHANNEL, &json!({"content": ""}));
    let sent = h.silent(d, id).await;
    assert!(sent.is_empty(), "{sent:#?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_both_related_and_also_possible_gets_one_button() {
    let h = Harness::start().await;
    let cb = h
        .command(
            "diagnose",
            &[("query", "we hit 429 rate limit, api quota exceeded")],
            &h.member(&[], 0),
        )
        .await;
    assert_eq!(
        cb.status,
        204,
        "Discord would refuse it: {:?}",
        h.fake.violations()
    );
    let buttons = cb.body["data"]["components"][0]["components"]
        .as_array()
        .unwrap();
    let ids: std::collections::HashSet<&str> = buttons
        .iter()
        .map(|b| b["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), buttons.len(), "{buttons:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_refuses_what_discord_refuses() {
    let fake = FakeDiscord::start().await;
    let client = reqwest::Client::new();
    let post = |body: Value| {
        let client = client.clone();
        let url = format!("{}/api/v10/channels/{LISTEN}/messages", fake.api_base());
        async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let none = json!({"parse": []});
    assert_eq!(
        post(json!({"content": "ok", "allowed_mentions": none})).await,
        200
    );
    for bad in [
        json!({"content": "no allowed_mentions"}),
        json!({"content": "x".repeat(2001), "allowed_mentions": none}),
        json!({"embeds": [{"description": "x".repeat(4097)}], "allowed_mentions": none}),
        json!({"embeds": [{"fields": [{"name": "a", "value": ""}]}], "allowed_mentions": none}),
        json!({"embeds": [{"description": "x".repeat(4000), "fields": [{"name": "a", "value": "y".repeat(1000)}, {"name": "b", "value": "y".repeat(1000)}]}], "allowed_mentions": none}),
        json!({"components": [{"type": 1, "components": [
            {"type": 2, "style": 2, "label": "a", "custom_id": "medic:entry:x"},
            {"type": 2, "style": 2, "label": "b", "custom_id": "medic:entry:x"}]}],
            "content": "dup", "allowed_mentions": none}),
    ] {
        assert_eq!(post(bad.clone()).await, 400, "{bad}");
    }
    assert_eq!(fake.violations().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_binary_unicode_and_markdown_input_gets_a_clear_answer() {
    let h = Harness::start().await;
    let huge = format!(
        "{} 429 {}",
        "é🙂*_`~".repeat(3000),
        "\u{0}\u{7}".repeat(100)
    );
    let cb = h
        .command("diagnose", &[("query", &huge)], &h.member(&[], 0))
        .await;
    assert_eq!(cb.body["type"], 4);
    let empty = h
        .command("diagnose", &[("query", "\u{0}\u{1}  ")], &h.member(&[], 0))
        .await;
    assert!(empty.body["data"]["content"]
        .as_str()
        .unwrap()
        .contains("paste the error"));
    let sent = h
        .reply(h.user_message(
            LISTEN,
            &format!("**bold** ```{}``` ETIMEDOUT", "x".repeat(3900)),
        ))
        .await;
    assert_eq!(sent.len(), 1);
    for r in [&cb.body["data"], &sent[0].body] {
        for e in r["embeds"].as_array().unwrap() {
            assert!(e["description"].as_str().unwrap().chars().count() <= 4096);
        }
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_callback_is_logged_and_the_bot_keeps_answering() {
    let h = Harness::start().await;
    // Refusals a retry cannot change.
    for failure in [Failure::Status(400), Failure::Status(403)] {
        // The answer fails, then so does the apology that follows it.
        h.fake
            .fail_next(Method::POST, "/callback", failure.clone(), 2);
        let id = h.fake.next_id();
        let from = h.fake.request_count();
        h.fake.dispatch(
            "INTERACTION_CREATE",
            payloads::command(id, "diagnose", &[("query", "429")], &h.member(&[], 0)),
        );
        let path = format!("/interactions/{id}/");
        let apology = h
            .fake
            .wait_for(from, WAIT, |r| {
                r.path.contains(&path) && r.body.to_string().contains("Sorry")
            })
            .await;
        assert_eq!(
            apology.body["data"]["flags"].as_u64().unwrap() & 64,
            64,
            "{failure:?}"
        );
        no_pings(&apology.body["data"]);
    }
    let cb = h
        .command("diagnose", &[("query", "429")], &h.member(&[], 0))
        .await;
    assert_eq!(cb.status, 204, "still answering");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_reply_is_delivered_exactly_once() {
    // serenity's real rate limiter, over TLS to a "discord.com" that is the fake.
    let h = Harness::start_tls().await;
    h.fake.fail_next(
        Method::POST,
        &format!("/channels/{LISTEN}/messages"),
        Failure::RateLimited { retry_after: 0.3 },
        1,
    );
    let from = h.fake.request_count();
    let start = Instant::now();
    h.fake.dispatch(
        "MESSAGE_CREATE",
        h.user_message(LISTEN, "HTTP 502 Bad Gateway from the proxy")
            .build(),
    );
    let ok = h
        .fake
        .wait_for(from, WAIT, |r| {
            r.path.contains("/messages") && r.status == 200
        })
        .await;
    assert!(
        ok.at.duration_since(start) >= Duration::from_millis(300),
        "waited for retry-after"
    );
    let posts = h.fake.requests_after(from, QUIET).await;
    let posts: Vec<_> = posts
        .iter()
        .filter(|r| r.path.contains("/messages"))
        .map(|r| r.status)
        .collect();
    assert_eq!(
        posts,
        vec![429, 200],
        "one rate-limited attempt, then exactly one delivery"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_events_are_noticed_by_the_harness() {
    let h = Harness::start().await;
    // MESSAGE_CREATE without `author`, `timestamp` and friends: serenity drops it as Unknown.
    h.fake.dispatch(
        "MESSAGE_CREATE",
        json!({"id": "5", "channel_id": "20", "content": "429"}),
    );
    let deadline = Instant::now() + WAIT;
    while h.fake.unknown_events().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let unknown = h.fake.unknown_events();
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert_eq!(unknown[0].0, "MESSAGE_CREATE");
    // And the bot is still alive.
    let cb = h.command("help", &[], &h.member(&[], 0)).await;
    assert_eq!(cb.status, 204);
}

/// A port on 127.0.0.1 where nothing listens: bound but never listening, so connections are
/// refused, and held by the caller so no other test can take the port meanwhile.
fn closed_port() -> (tokio::net::TcpSocket, std::net::SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

async fn check_harness() -> Harness {
    // The shared test server answers 200 with JSON on every path.
    let healthy = HttpServer::start().await;
    let ok = healthy.addr();
    let (held, down) = closed_port();
    let mut h = Harness::start_with(services_with(&format!(
        "[[endpoints]]\nname = \"billing\"\nurl = \"http://{ok}/health\"\ntimeout = \"3s\"\n\n\
         [[endpoints]]\nname = \"search\"\nurl = \"http://{down}/\"\ntimeout = \"3s\"\n"
    )))
    .await;
    h._closed_port = Some(held);
    h._healthy = Some(healthy);
    h
}

/// "billing is failing again", asked of medic, matches no entry but names an endpoint: the reply
/// gives what medic knows of it and a "Check billing" button that only check roles may use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_naming_an_endpoint_gets_its_state_and_a_role_gated_check_button() {
    let h = check_harness().await;
    let mut msg = h.user_message(
        OTHER_CHANNEL,
        &format!("<@{}> billing is failing again", fake_discord::APP_ID),
    );
    msg.mentions = vec![payloads::user(fake_discord::APP_ID, "medic", true)];
    let sent = h.reply(msg).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let body = &sent[0].body;
    no_pings(body);
    assert_eq!(body["embeds"][0]["title"], "billing", "{body}");
    let description = body["embeds"][0]["description"].as_str().unwrap();
    assert!(description.contains("not checked yet"), "{description}");
    let button = &body["components"][0]["components"][0];
    assert_eq!(button["custom_id"], "medic:check:billing", "{body}");
    assert_eq!(button["label"], "Check billing");

    // Without a check role the click is refused, privately.
    let refused = click(&h, "medic:check:billing", &h.member(&[], 0)).await;
    assert_eq!(refused.body["type"], 4, "{}", refused.body);
    assert_eq!(refused.body["data"]["flags"], 64, "{}", refused.body);
    // With one it is deferred, then the report replaces "thinking…".
    let from = h.fake.request_count();
    let defer = click(&h, "medic:check:billing", &h.member(&[CHECK_ROLE], 0)).await;
    assert_eq!(defer.body["type"], 5, "{}", defer.body);
    let edit = h
        .fake
        .wait_for(from, WAIT, |r| {
            r.method == Method::PATCH && r.path.ends_with("/messages/@original")
        })
        .await;
    no_pings(&edit.body);
    let title = edit.body["embeds"][0]["title"].as_str().unwrap();
    assert!(
        title.starts_with("✅") && title.contains("billing"),
        "{title}"
    );

    // Now the endpoint has a known state; a message not naming one still gets the hint.
    let mut msg = h.user_message(
        OTHER_CHANNEL,
        &format!("<@{}> billing is failing again", fake_discord::APP_ID),
    );
    msg.mentions = vec![payloads::user(fake_discord::APP_ID, "medic", true)];
    let sent = h.reply(msg).await;
    let description = sent[0].body["embeds"][0]["description"].as_str().unwrap();
    assert!(description.contains("✅"), "{description}");
    let mut msg = h.user_message(
        OTHER_CHANNEL,
        &format!("<@{}> invoicing is failing again", fake_discord::APP_ID),
    );
    msg.mentions = vec![payloads::user(fake_discord::APP_ID, "medic", true)];
    let sent = h.reply(msg).await;
    assert!(sent[0].body["components"]
        .as_array()
        .is_none_or(|c| c.is_empty()));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_by_an_allowed_member_is_deferred_then_edited() {
    let h = check_harness().await;
    for (who, name, passing) in [
        (h.member(&[CHECK_ROLE], 0), "billing", true),
        // Manage Server (0x20) without the role is allowed too.
        (h.member(&[], 0x20), "search", false),
    ] {
        let id = h.fake.next_id();
        let from = h.fake.request_count();
        h.fake.dispatch(
            "INTERACTION_CREATE",
            payloads::command(id, "check", &[("endpoint", name)], &who),
        );
        let defer = h
            .fake
            .wait_for(from, WAIT, |r| {
                r.path.contains(&format!("/interactions/{id}/"))
            })
            .await;
        assert_eq!(defer.body["type"], 5, "deferred first: {}", defer.body);
        let edit = h
            .fake
            .wait_for(from, WAIT, |r| {
                r.method == Method::PATCH
                    && r.path.contains(&format!("itoken-{id}/messages/@original"))
            })
            .await;
        no_pings(&edit.body);
        let embed = &edit.body["embeds"][0];
        let title = embed["title"].as_str().unwrap();
        assert!(title.contains(name), "{title}");
        let description = embed["description"].as_str().unwrap();
        assert!(
            description.contains("**DNS**") && description.contains("**HTTP**"),
            "{description}"
        );
        if passing {
            assert!(title.starts_with("✅"), "{embed}");
        } else {
            assert!(title.starts_with("❌"), "{embed}");
            assert!(description.contains("❌ **TCP**"), "{description}");
            let guidance = embed["fields"].as_array().unwrap();
            assert!(
                guidance[0]["name"].as_str().unwrap().starts_with("TCP"),
                "{guidance:?}"
            );
            assert!(guidance[0]["value"].as_str().unwrap().starts_with("1. "));
        }
    }
    // /endpoints now shows the last known status of both.
    let cb = h.command("endpoints", &[], &h.member(&[], 0)).await;
    let description = cb.body["data"]["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        description.contains("**billing**") && description.contains("✅"),
        "{description}"
    );
    assert!(
        description.contains("**search**") && description.contains("❌"),
        "{description}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_by_a_member_without_a_check_role_is_refused_privately() {
    let h = check_harness().await;
    let cb = h
        .command("check", &[("endpoint", "billing")], &h.member(&[77], 0x400))
        .await;
    assert_eq!(cb.body["type"], 4, "answered at once, not deferred");
    assert_eq!(cb.body["data"]["flags"].as_u64().unwrap() & 64, 64);
    assert!(cb.body["data"]["content"]
        .as_str()
        .unwrap()
        .contains("check roles"));
    let later = h.settle(h.fake.request_count()).await;
    assert!(later.is_empty(), "no edit follows a refusal: {later:#?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_autocomplete_and_unknown_names() {
    let h = check_harness().await;
    let id = h.fake.next_id();
    let from = h.fake.request_count();
    h.fake.dispatch(
        "INTERACTION_CREATE",
        payloads::autocomplete(id, "check", "endpoint", "bil", &h.member(&[], 0)),
    );
    let cb = h
        .fake
        .wait_for(from, WAIT, |r| {
            r.path.contains(&format!("/interactions/{id}/"))
        })
        .await;
    assert_eq!(
        cb.body["data"]["choices"],
        json!([{"name": "billing", "value": "billing"}])
    );
    let cb = h
        .command(
            "check",
            &[("endpoint", "biling")],
            &h.member(&[CHECK_ROLE], 0),
        )
        .await;
    let content = cb.body["data"]["content"].as_str().unwrap();
    assert!(
        content.contains("No endpoint named") && content.contains("`billing`"),
        "{content}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_without_endpoints_says_how_to_add_one() {
    let h = Harness::start().await;
    let cb = h
        .command(
            "check",
            &[("endpoint", "billing")],
            &h.member(&[CHECK_ROLE], 0),
        )
        .await;
    assert!(
        cb.body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("[[endpoint"),
        "{}",
        cb.body
    );
    let cb = h.command("endpoints", &[], &h.member(&[], 0)).await;
    assert!(cb.body["data"]["content"]
        .as_str()
        .unwrap()
        .contains("No endpoints are configured"));
    h.stop().await;
}

// ---- the real binary ----

/// The binary, run in a fresh empty directory (returned: keep it alive while the command
/// runs) so no medic.toml or .env — the developer's, or another test's in /tmp — is picked up.
fn medic_bin() -> (std::process::Command, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_medic"));
    cmd.current_dir(dir.path())
        .env_remove("DISCORD_TOKEN")
        .env_remove("DISCORD_API_BASE")
        .env_remove("DISCORD_GUILD_ID")
        .env_remove("MEDIC_CONFIG")
        .env_remove("MEDIC_KNOWLEDGE_DIR")
        .env_remove("RUST_LOG");
    (cmd, dir)
}

/// Sends SIGTERM to `child` and returns its output and stderr once it has exited, which it
/// must do successfully within [`WAIT`].
async fn terminated(child: tokio::process::Child) -> (std::process::Output, String) {
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("exits on SIGTERM")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{:?}\n{stderr}", out.status);
    (out, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn medic_serve_binary_runs_against_discord_api_base_and_stops_on_sigterm() {
    let fake = FakeDiscord::start().await;
    let (cmd, _dir) = medic_bin();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_port = free.local_addr().unwrap().port();
    drop(free);
    let child = tokio::process::Command::from(cmd)
        .args(["serve", "--http", &format!("127.0.0.1:{http_port}")])
        .env("DISCORD_TOKEN", BOT_TOKEN)
        .env("DISCORD_API_BASE", fake.api_base())
        .env("DISCORD_GUILD_ID", GUILD.to_string())
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    fake.wait_for(0, WAIT, |r| {
        r.method == Method::PUT && r.path.contains(&format!("/guilds/{GUILD}/commands"))
    })
    .await;
    let id = fake.next_id();
    let who = Invoker::guild_member(GUILD, LISTEN, payloads::member(30, "alice", &[], 0));
    fake.dispatch(
        "INTERACTION_CREATE",
        payloads::command(id, "diagnose", &[("query", "429")], &who),
    );
    let cb = fake
        .wait_for(0, WAIT, |r| {
            r.path.contains(&format!("/interactions/{id}/"))
        })
        .await;
    assert_eq!(
        cb.body["data"]["embeds"][0]["title"],
        "429 · Too Many Requests"
    );
    // --http: health, readiness (no alert pipeline: nothing to wait for) and the answer counted.
    let (health, ready, metrics) = tokio::task::spawn_blocking(move || {
        (
            crate::support::http_get(http_port, "/healthz").0,
            crate::support::http_get(http_port, "/readyz").0,
            crate::support::http_get(http_port, "/metrics").1,
        )
    })
    .await
    .unwrap();
    assert_eq!((health, ready), (200, 200));
    let m = crate::support::samples(&metrics);
    assert!(
        m["medic_matcher_messages_total{result=\"answered\"}"] >= 1.0,
        "{metrics}"
    );
    // The gateway's shards are reported (their heartbeat latency once Discord acknowledged
    // one: the fake's heartbeat interval is 45 s, longer than this test).
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let metrics =
            tokio::task::spawn_blocking(move || crate::support::http_get(http_port, "/metrics").1)
                .await
                .unwrap();
        if crate::support::samples(&metrics).get("medic_gateway_shards") == Some(&1.0) {
            assert!(
                metrics.contains("# TYPE medic_gateway_latency_seconds gauge"),
                "{metrics}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no medic_gateway_shards: {metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    let (out, stderr) = terminated(child).await;
    let secret = BOT_TOKEN.rsplit('.').next().unwrap();
    assert!(!stderr.contains(secret), "the token appears in the logs");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
    // Interaction tokens (the fake's start with `itoken-`) sit in callback URLs and in
    // serenity's HTTP spans; debug logging must not show them.
    assert!(
        !stderr.contains("itoken-"),
        "an interaction token appears in the logs"
    );
    // The hook-based check cannot see into another process; the binary logs what it dropped.
    assert!(
        stderr.contains("DEBUG"),
        "RUST_LOG=debug reached the binary: {stderr}"
    );
    assert!(
        !stderr.contains("ignored a gateway event serenity could not parse"),
        "{stderr}"
    );
    fake.assert_valid_bodies();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn medic_serve_reloads_its_config_on_sighup_and_keeps_serving_when_the_new_is_broken() {
    let fake = FakeDiscord::start().await;
    let (cmd, dir) = medic_bin();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let endpoint = |name: &str| {
        format!("\n[[endpoints]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:{port}/\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n")
    };
    let head = "[alerts]\nfailure_threshold = 1\n\n[discord]\nalert_channel = 77\n";
    let config = dir.path().join("medic.toml");
    let first = format!("{head}{}", endpoint("first"));
    std::fs::write(&config, &first).unwrap();
    let child = tokio::process::Command::from(cmd)
        .arg("serve")
        .env("DISCORD_TOKEN", BOT_TOKEN)
        .env("DISCORD_API_BASE", fake.api_base())
        .env("DISCORD_GUILD_ID", GUILD.to_string())
        .env("MEDIC_DB", dir.path().join("state.db"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap().to_string();
    let alert_about = |name: &'static str| {
        move |r: &Recorded| {
            r.method == Method::POST
                && r.path.ends_with("/channels/77/messages")
                && r.body.to_string().contains(name)
                && r.body.to_string().to_lowercase().contains("down")
        }
    };
    let down_first = fake.wait_for(0, WAIT * 2, alert_about("first")).await;
    let hup = || {
        assert!(std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success());
    };
    let endpoints_listed = |fake: &FakeDiscord| {
        let id = fake.next_id();
        let who = Invoker::guild_member(GUILD, LISTEN, payloads::member(30, "alice", &[], 0));
        fake.dispatch(
            "INTERACTION_CREATE",
            payloads::command(id, "endpoints", &[], &who),
        );
        id
    };

    // A broken file is refused: the bot and the alerts go on with the old configuration.
    std::fs::write(&config, format!("{first}\ntimout = \"5s\"\n[alerts\n")).unwrap();
    hup();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let id = endpoints_listed(&fake);
    let cb = fake
        .wait_for(0, WAIT, |r| {
            r.path.contains(&format!("/interactions/{id}/"))
        })
        .await;
    let listed = cb.body.to_string();
    assert!(
        listed.contains("first") && !listed.contains("second"),
        "{listed}"
    );

    // A good one: the new endpoint is watched (its DOWN is posted) and listed by the bot; the
    // open incident of the first is not announced again.
    let from = fake.requests().len();
    std::fs::write(&config, format!("{first}{}", endpoint("second"))).unwrap();
    hup();
    fake.wait_for(from, WAIT * 2, alert_about("second")).await;
    let id = endpoints_listed(&fake);
    let cb = fake
        .wait_for(from, WAIT, |r| {
            r.path.contains(&format!("/interactions/{id}/"))
        })
        .await;
    let listed = cb.body.to_string();
    assert!(
        listed.contains("first") && listed.contains("second"),
        "{listed}"
    );
    let again = fake.requests()[from..]
        .iter()
        .filter(|r| alert_about("first")(r))
        .count();
    assert_eq!(again, 0, "the first endpoint's DOWN was posted again");

    let (_, stderr) = terminated(child).await;
    assert!(stderr.contains("reload refused"), "{stderr}");
    assert!(
        stderr.contains("medic.toml:14:"),
        "the refusal says why, with file:line: {stderr}"
    );
    drop(down_first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn medic_serve_explains_close_code_4014() {
    let fake = FakeDiscord::start().await;
    fake.close_on_identify(4014);
    let (cmd, _dir) = medic_bin();
    let child = tokio::process::Command::from(cmd)
        .arg("serve")
        .env("DISCORD_TOKEN", BOT_TOKEN)
        .env("DISCORD_API_BASE", fake.api_base())
        .env("DISCORD_GUILD_ID", GUILD.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("exits when Discord refuses the intents")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("4014")
            && stderr.contains("Message Content Intent")
            && stderr.contains("message_content = false"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_message_content_the_intent_is_not_requested_and_mentions_work() {
    let fake = FakeDiscord::start().await;
    let mut settings = settings();
    settings.api_base = Some(fake.api_base());
    settings.message_content = false;
    let h = Harness::with(fake, settings, None, services(), medic::discord::commands()).await;
    let identify = h.fake.wait_identified(WAIT).await;
    let intents = identify["d"]["intents"].as_u64().unwrap();
    assert_eq!(intents, 1 | (1 << 9) | (1 << 12), "no MESSAGE_CONTENT");
    let mut msg = h.user_message(
        OTHER_CHANNEL,
        &format!("<@{}> we get 429 Too Many Requests", fake_discord::APP_ID),
    );
    msg.mentions = vec![payloads::user(fake_discord::APP_ID, "medic", true)];
    let sent = h.reply(msg).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(
        sent[0].body["embeds"][0]["title"],
        "429 · Too Many Requests"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_refusing_the_intents_stops_with_the_way_out() {
    let fake = FakeDiscord::start().await;
    fake.close_on_identify(4014);
    let mut settings = settings();
    settings.api_base = Some(fake.api_base());
    let bot = Bot::new(settings, services());
    let result = tokio::time::timeout(WAIT, medic::discord::run(bot, std::future::pending()))
        .await
        .expect("run returns when Discord refuses the intents");
    let err = result.unwrap_err().to_string();
    assert!(err.contains("message_content = false"), "{err}");
}

#[test]
fn medic_serve_explains_a_missing_or_malformed_token_without_echoing_it() {
    let (mut cmd, _dir) = medic_bin();
    let out = cmd.arg("serve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DISCORD_TOKEN is not set"));
    let (mut cmd, _dir) = medic_bin();
    let out = cmd
        .arg("serve")
        .env("DISCORD_TOKEN", "not a token sekrit")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("DISCORD_TOKEN is malformed") && !stderr.contains("sekrit"),
        "{stderr}"
    );
}

// ---- the console mode runs the same commands ----

fn chat(input: &str) -> String {
    use std::io::Write;
    let (mut cmd, _dir) = medic_bin();
    let mut child = cmd
        .arg("chat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn medic_chat_answers_piped_commands_without_a_token_or_config() {
    let out = chat(
        "/diagnose 429\n/help\n/check billing\n/endpoints\nour API says ECONNREFUSED\n/bogus\n\n",
    );
    assert!(out.contains("429 · Too Many Requests"), "{out}");
    assert!(out.contains("/diagnose TEXT"), "{out}");
    assert_eq!(
        out.matches("No endpoints are configured").count(),
        2,
        "{out}"
    );
    assert!(out.contains("[connection-refused]"), "{out}");
    assert!(out.contains("Unknown command /bogus"), "{out}");
    assert!(!out.contains("medic> "), "no prompt when piped");
}

#[test]
fn medic_chat_survives_binary_and_huge_input_and_stops_at_quit() {
    let mut input = String::from("\u{0}\u{1b}[2J\u{7f}\n");
    input.push_str(&"é🙂".repeat(50_000));
    input.push_str(" 503\n/quit\n/diagnose 429\n");
    let out = chat(&input);
    assert!(
        out.contains("Tell me what is failing") || out.contains("No confident answer"),
        "{out}"
    );
    assert!(
        !out.contains("429 · Too Many Requests"),
        "nothing after /quit"
    );
}

// ---- speed (measured, not asserted): `benches/discord.sh` ----

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Gateway INTERACTION_CREATE sent → callback received by the fake REST API, 1,000 times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run benches/discord.sh"]
async fn measure_interaction_latency() {
    let h = Harness::start().await;
    let who = h.member(&[], 0);
    let mut samples = Vec::with_capacity(1000);
    for i in 0..1100 {
        let id = h.fake.next_id();
        let from = h.fake.request_count();
        let sent = h
            .fake
            .dispatch_timed(
                "INTERACTION_CREATE",
                payloads::command(id, "diagnose", &[("query", "429 Too Many Requests")], &who),
            )
            .await;
        let path = format!("/interactions/{id}/");
        let cb = h
            .fake
            .wait_for(from, WAIT, |r| r.path.contains(&path))
            .await;
        if i >= 100 {
            samples.push(cb.at.duration_since(sent)); // the first 100 warm up
        }
    }
    samples.sort();
    println!(
        "interaction → callback over {} runs: median {:?}, p99 {:?}, max {:?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().unwrap()
    );
    h.stop().await;
}

/// What the delivery path adds to a reply that lands on the first try: the same message posted
/// through serenity's own `send_message` and through `Delivery::post`, interleaved, 2,000 each
/// after 200 warm-up pairs, each to a fresh channel (a quiet channel: nothing queued).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run benches/discord.sh"]
async fn measure_delivery_overhead() {
    use medic::discord::delivery::Surface;
    use poise::serenity_prelude as serenity;
    let fake = FakeDiscord::start().await;
    let http = fake.http();
    let delivery = medic::discord::Delivery::with_default_client(http.clone());
    let message = |i: u64| {
        serenity::CreateMessage::new()
            .content("HTTP 503 · Service Unavailable: the upstream is overloaded")
            .allowed_mentions(serenity::CreateAllowedMentions::new())
            .nonce(serenity::Nonce::String(format!("m{i}")))
            .enforce_nonce(true)
    };
    let (mut direct, mut medic) = (Vec::new(), Vec::new());
    for i in 0..2200u64 {
        let channel = serenity::ChannelId::new(10_000 + i);
        let m = message(2 * i);
        let t = Instant::now();
        http.send_message(channel, vec![], &m).await.unwrap();
        let d = t.elapsed();
        let m = message(2 * i + 1);
        let t = Instant::now();
        let sent = delivery
            .post(channel, &m, Surface::FREE_TEXT)
            .await
            .unwrap();
        let e = t.elapsed();
        assert_eq!(sent.attempts, 1);
        if i >= 200 {
            direct.push(d);
            medic.push(e);
        }
    }
    direct.sort();
    medic.sort();
    let (d50, m50) = (percentile(&direct, 0.5), percentile(&medic, 0.5));
    println!(
        "first-try reply over {} runs: serenity send_message median {:?} p90 {:?}; Delivery::post median {:?} p90 {:?}; added at the median {:.1} µs",
        direct.len(),
        d50,
        percentile(&direct, 0.9),
        m50,
        percentile(&medic, 0.9),
        (m50.as_secs_f64() - d50.as_secs_f64()) * 1e6
    );
}

/// Resident memory of `medic serve` connected and idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run benches/discord.sh"]
async fn measure_idle_rss_of_medic_serve() {
    let fake = FakeDiscord::start().await;
    let (cmd, _dir) = medic_bin();
    let child = tokio::process::Command::from(cmd)
        .arg("serve")
        .env("DISCORD_TOKEN", BOT_TOKEN)
        .env("DISCORD_API_BASE", fake.api_base())
        .env("DISCORD_GUILD_ID", GUILD.to_string())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    fake.commands_registered(WAIT).await;
    // A few answers, then idle.
    let who = Invoker::guild_member(GUILD, LISTEN, payloads::member(30, "alice", &[], 0));
    for _ in 0..20 {
        let id = fake.next_id();
        fake.dispatch(
            "INTERACTION_CREATE",
            payloads::command(id, "diagnose", &[("query", "429")], &who),
        );
        fake.wait_for(0, WAIT, |r| {
            r.path.contains(&format!("/interactions/{id}/"))
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id().unwrap())).unwrap();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap()
        .to_string();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap()
        .to_string();
    println!("idle medic serve: {rss}; peak {hwm}");
}

/// A command that panics, to show one failing handler does not take the bot down.
#[poise::command(slash_command)]
async fn explode(_ctx: medic::discord::Context<'_>) -> Result<(), medic::discord::Error> {
    panic!("boom");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_answered_with_an_apology_and_the_bot_keeps_running() {
    let mut commands = medic::discord::commands();
    commands.push(explode());
    let h = Harness::start_with_commands(services(), commands).await;
    let cb = h.command("explode", &[], &h.member(&[], 0)).await;
    assert!(
        cb.body["data"]["content"]
            .as_str()
            .unwrap()
            .starts_with("Sorry"),
        "{}",
        cb.body
    );
    assert_eq!(cb.body["data"]["flags"].as_u64().unwrap() & 64, 64);
    let cb = h
        .command("diagnose", &[("query", "429")], &h.member(&[], 0))
        .await;
    assert_eq!(
        cb.body["data"]["embeds"][0]["title"],
        "429 · Too Many Requests"
    );
    h.stop().await;
}

// ---- delivery: no answer lost to a 429, a 5xx or a race ----

impl Harness {
    /// Sends MESSAGE_CREATE and waits until a message to `channel` was created (200); returns
    /// every POST to that channel's messages from then on, after [`QUIET`], so retries and
    /// duplicates show.
    async fn delivered(&self, msg: MessageCreate) -> Vec<fake_discord::Recorded> {
        let path = format!("/channels/{}/messages", msg.channel);
        let from = self.fake.request_count();
        self.fake.dispatch("MESSAGE_CREATE", msg.build());
        self.fake
            .wait_for(from, WAIT, |r| r.path.contains(&path) && r.status == 200)
            .await;
        let after = self.fake.requests_after(from, QUIET).await;
        after
            .into_iter()
            .filter(|r| r.path.contains(&path))
            .collect()
    }

    fn mention(&self, channel: u64, text: &str) -> MessageCreate {
        let mut msg = self.user_message(channel, &format!("<@{}> {text}", fake_discord::APP_ID));
        msg.mentions = vec![payloads::user(fake_discord::APP_ID, "medic", true)];
        msg
    }

    /// Dispatches INTERACTION_CREATE `d` (interaction `id`) with its first callback failing
    /// with `failure`; once a callback was answered `settled`, waits [`QUIET`] and returns the
    /// interaction's callbacks and every request since the dispatch.
    async fn callback_through(
        &self,
        id: u64,
        d: Value,
        failure: Failure,
        settled: u16,
    ) -> (Vec<fake_discord::Recorded>, Vec<fake_discord::Recorded>) {
        self.fake.fail_next(Method::POST, "/callback", failure, 1);
        let path = format!("/interactions/{id}/");
        let from = self.fake.request_count();
        self.fake.dispatch("INTERACTION_CREATE", d);
        self.fake
            .wait_for(from, WAIT, |r| {
                r.path.contains(&path) && r.status == settled
            })
            .await;
        let all = self.fake.requests_after(from, QUIET).await;
        let callbacks = all.iter().filter(|r| r.path.contains(&path)).cloned();
        (callbacks.collect(), all)
    }
}

fn statuses(requests: &[fake_discord::Recorded]) -> Vec<u16> {
    requests.iter().map(|r| r.status).collect()
}

/// No request of `requests` carries the apology.
fn no_apology(requests: &[fake_discord::Recorded]) {
    for r in requests {
        assert!(
            !r.body.to_string().contains("Sorry"),
            "{} {}: {}",
            r.method,
            r.path,
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_rate_limited_three_times_is_delivered_once_after_each_wait() {
    // Proxy mode: serenity's limiter is off, so the waiting is medic's.
    let h = Harness::start().await;
    let path = format!("/channels/{LISTEN}/messages");
    let wait = Duration::from_millis(80);
    let limited = Failure::RateLimited {
        retry_after: wait.as_secs_f64(),
    };
    h.fake.fail_next(Method::POST, &path, limited, 3);
    let msg = h.user_message(
        LISTEN,
        "deploy failed: upstream answered 503 Service Unavailable",
    );
    let id = msg.id;
    let posts = h.delivered(msg).await;
    assert_eq!(statuses(&posts), [429, 429, 429, 200], "{posts:#?}");
    for pair in posts.windows(2) {
        assert!(
            pair[1].at.duration_since(pair[0].at) >= wait,
            "the retry waited retry_after"
        );
        assert_eq!(pair[0].body["nonce"], pair[1].body["nonce"], "one nonce");
    }
    let messages = h.fake.channel_messages(LISTEN);
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(
        messages[0]["message_reference"]["message_id"],
        json!(id.to_string())
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_rate_limit_holds_every_channel_until_it_lifts() {
    let h = Harness::start().await;
    let listen = format!("/channels/{LISTEN}/messages");
    let other = format!("/channels/{OTHER_CHANNEL}/messages");
    let wait = Duration::from_millis(400);
    let global = Failure::GlobalRateLimited {
        retry_after: wait.as_secs_f64(),
    };
    h.fake.fail_next(Method::POST, &listen, global, 1);
    let from = h.fake.request_count();
    h.fake.dispatch(
        "MESSAGE_CREATE",
        h.user_message(LISTEN, "HTTP 502 Bad Gateway from the proxy")
            .build(),
    );
    let limited = h
        .fake
        .wait_for(from, WAIT, |r| r.path.contains(&listen) && r.status == 429)
        .await;
    // Another channel, while the global limit holds (after medic has read the 429: the fake
    // records a request before its answer is on the wire).
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.fake.dispatch(
        "MESSAGE_CREATE",
        h.mention(OTHER_CHANNEL, "we get ECONNREFUSED from the API")
            .build(),
    );
    let second = h
        .fake
        .wait_for(from, WAIT, |r| r.path.contains(&other) && r.status == 200)
        .await;
    h.fake
        .wait_for(from, WAIT, |r| r.path.contains(&listen) && r.status == 200)
        .await;
    assert!(
        second.at.duration_since(limited.at) >= wait,
        "the other channel waited for the global limit too: {:?}",
        second.at.duration_since(limited.at)
    );
    let after = h.fake.requests_after(from, QUIET).await;
    let posts = |p: &str| {
        statuses(
            &after
                .iter()
                .filter(|r| r.path.contains(p))
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(posts(&listen), [429, 200]);
    assert_eq!(posts(&other), [200], "never sent into the global limit");
    assert_eq!(h.fake.channel_messages(LISTEN).len(), 1);
    assert_eq!(h.fake.channel_messages(OTHER_CHANNEL).len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_or_a_lost_connection_is_retried_and_posts_once() {
    let h = Harness::start().await;
    for (i, (failure, status)) in [
        (Failure::Status(500), 500),
        (Failure::Status(503), 503),
        (Failure::Drop, 0),
        // Discord created the message but the answer was lost: the nonce stops a second one.
        (Failure::DropAfterProcessing, 0),
    ]
    .into_iter()
    .enumerate()
    {
        let channel = 200 + i as u64;
        let path = format!("/channels/{channel}/messages");
        h.fake.fail_next(Method::POST, &path, failure.clone(), 1);
        let dm = MessageCreate::new(
            h.fake.next_id(),
            channel,
            None,
            payloads::user(30, "alice", false),
            "ECONNREFUSED when calling the billing API",
        );
        let posts = h.delivered(dm).await;
        assert_eq!(statuses(&posts), [status, 200], "{failure:?}");
        assert_eq!(posts[0].body["nonce"], posts[1].body["nonce"]);
        assert_eq!(
            h.fake.channel_messages(channel).len(),
            1,
            "{failure:?}: exactly one answer"
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interaction_callbacks_rate_limited_once_still_answer_diagnose_and_autocomplete() {
    let h = Harness::start().await;
    let limited = Failure::RateLimited { retry_after: 0.2 };
    let who = h.member(&[], 0);

    let id = h.fake.next_id();
    let d = payloads::command(id, "diagnose", &[("query", "429")], &who);
    let (cbs, all) = h.callback_through(id, d, limited.clone(), 204).await;
    assert_eq!(statuses(&cbs), [429, 204], "{cbs:#?}");
    assert_eq!(
        cbs[1].body["data"]["embeds"][0]["title"],
        "429 · Too Many Requests"
    );
    no_apology(&all);

    let id = h.fake.next_id();
    let d = payloads::autocomplete(id, "diagnose", "query", "429", &who);
    let (cbs, _) = h.callback_through(id, d, limited, 204).await;
    assert_eq!(statuses(&cbs), [429, 204], "{cbs:#?}");
    assert_eq!(cbs[1].body["type"], 8);
    assert_eq!(cbs[1].body["data"]["choices"][0]["value"], "http-429");

    // The callback landed but its answer was lost: the retry hears "already acknowledged"
    // (40060), which means delivered, so no apology follows.
    let id = h.fake.next_id();
    let d = payloads::command(id, "diagnose", &[("query", "429")], &who);
    let (cbs, all) = h
        .callback_through(id, d, Failure::DropAfterProcessing, 400)
        .await;
    assert_eq!(statuses(&cbs), [0, 400], "{cbs:#?}");
    no_apology(&all);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_check_defer_and_edit_still_deliver_the_report() {
    let h = check_harness().await;
    let limited = Failure::RateLimited { retry_after: 0.2 };
    h.fake
        .fail_next(Method::POST, "/callback", limited.clone(), 1);
    h.fake
        .fail_next(Method::PATCH, "/messages/@original", limited, 1);
    let id = h.fake.next_id();
    let from = h.fake.request_count();
    h.fake.dispatch(
        "INTERACTION_CREATE",
        payloads::command(
            id,
            "check",
            &[("endpoint", "billing")],
            &h.member(&[CHECK_ROLE], 0),
        ),
    );
    let original = format!("itoken-{id}/messages/@original");
    h.fake
        .wait_for(from, WAIT, |r| {
            r.path.contains(&original) && r.status == 200
        })
        .await;
    let after = h.fake.requests_after(from, QUIET).await;
    let cbs: Vec<_> = after
        .iter()
        .filter(|r| r.path.contains(&format!("/interactions/{id}/")))
        .cloned()
        .collect();
    assert_eq!(statuses(&cbs), [429, 204]);
    assert_eq!(cbs[1].body["type"], 5, "deferred");
    let edits: Vec<_> = after
        .iter()
        .filter(|r| r.path.contains(&original))
        .cloned()
        .collect();
    assert_eq!(statuses(&edits), [429, 200]);
    let title = edits[1].body["embeds"][0]["title"].as_str().unwrap();
    assert!(title.contains("billing"), "{title}");
    no_apology(&after);
    assert!(
        !after.iter().any(|r| r.method == Method::POST
            && r.path.contains(&format!("itoken-{id}"))
            && !r.path.contains("/callback")),
        "no follow-up: {after:#?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_five_problems_under_the_channel_limit_are_all_answered_once() {
    // Discord's 5 per 5 s, scaled down to 5 per 400 ms.
    let limit = ChannelLimit {
        messages: 5,
        per: Duration::from_millis(400),
    };
    // medic knowing the limit, and medic not knowing it (it learns from 429s and headers).
    let blind = ChannelLimit {
        messages: 1000,
        per: Duration::from_millis(1),
    };
    for medic_limit in [limit, blind] {
        let h = Harness::start_limited(limit, medic_limit).await;
        let path = format!("/channels/{OTHER_CHANNEL}/messages");
        let from = h.fake.request_count();
        let mut asked = std::collections::HashSet::new();
        for i in 0..25 {
            let msg = h.mention(
                OTHER_CHANNEL,
                &format!("build {i}: upstream answered 503 Service Unavailable"),
            );
            asked.insert(msg.id.to_string());
            h.fake.dispatch("MESSAGE_CREATE", msg.build());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while h.fake.channel_messages(OTHER_CHANNEL).len() < 25 {
            assert!(
                Instant::now() < deadline,
                "{} of 25 delivered",
                h.fake.channel_messages(OTHER_CHANNEL).len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let posts: Vec<_> = h
            .fake
            .requests_after(from, QUIET)
            .await
            .into_iter()
            .filter(|r| r.path.contains(&path))
            .collect();
        let messages = h.fake.channel_messages(OTHER_CHANNEL);
        let answered: std::collections::HashSet<String> = messages
            .iter()
            .map(|m| {
                m["message_reference"]["message_id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(messages.len(), 25, "none twice");
        assert_eq!(answered, asked, "every problem answered");
        let ok = posts.iter().filter(|r| r.status == 200).count();
        let limited = posts.iter().filter(|r| r.status == 429).count();
        assert_eq!(ok, 25);
        assert_eq!(ok + limited, posts.len(), "nothing but deliveries and 429s");
        if medic_limit == limit {
            assert_eq!(limited, 0, "spaced under the limit, never refused");
        }
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_deleted_message_arrives_without_the_reference() {
    let h = Harness::start().await;
    let msg = h.user_message(
        LISTEN,
        "deploy failed: upstream answered 503 Service Unavailable",
    );
    // Deleted before medic's reply arrives.
    h.fake.delete_message(msg.id);
    let posts = h.delivered(msg).await;
    assert_eq!(statuses(&posts), [200], "{posts:#?}");
    assert_eq!(
        posts[0].body["message_reference"]["fail_if_not_exists"],
        false
    );
    let messages = h.fake.channel_messages(LISTEN);
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].get("message_reference").is_none(),
        "{}",
        messages[0]
    );
    assert!(messages[0]["embeds"][0]["title"]
        .as_str()
        .unwrap()
        .starts_with("503"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_failed_for_good_does_not_use_up_the_cooldown() {
    let h = Harness::start().await;
    let path = format!("/channels/{LISTEN}/messages");
    // Missing permission: no retry can help, the reply is lost.
    h.fake
        .fail_next(Method::POST, &path, Failure::Status(403), 1);
    let from = h.fake.request_count();
    h.fake.dispatch(
        "MESSAGE_CREATE",
        h.user_message(LISTEN, "upstream answered 503 Service Unavailable")
            .build(),
    );
    h.fake
        .wait_for(from, WAIT, |r| r.path.contains(&path) && r.status == 403)
        .await;
    assert!(h.fake.channel_messages(LISTEN).is_empty());
    // Until medic has read the 403 the entry is held (an answer is on its way), and the fake
    // records a request before its answer is on the wire.
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The same entry again is answered: the failed send did not start the cooldown.
    let posts = h
        .delivered(h.user_message(LISTEN, "503 again from the upstream"))
        .await;
    assert_eq!(statuses(&posts), [200]);
    // Now delivered, the cooldown holds.
    assert!(h
        .message(h.user_message(LISTEN, "still 503 from the upstream"))
        .await
        .is_empty());
    assert_eq!(h.fake.channel_messages(LISTEN).len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reidentify_the_bot_answers_and_closes_the_gateway_on_shutdown() {
    let h = Harness::start().await;
    assert_eq!(h.fake.identifies(), 1);
    // Invalid session, not resumable: serenity restarts the shard and identifies again.
    h.fake.send_raw(json!({"op": 9, "d": false}).to_string());
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.fake.identifies() < 2 {
        assert!(Instant::now() < deadline, "never identified again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cb = h.command("help", &[], &h.member(&[], 0)).await;
    assert_eq!(cb.status, 204, "answering on the new session");
    assert!(h.fake.closes().is_empty());
    // `stop` checks the close frame (serenity alone would send none here).
    h.stop().await;
}

/// Clicks a button on a message the bot sent; the callback.
async fn click(h: &Harness, custom_id: &str, who: &Invoker) -> fake_discord::Recorded {
    let id = h.fake.next_id();
    let from = h.fake.request_count();
    h.fake.dispatch(
        "INTERACTION_CREATE",
        payloads::button(id, custom_id, 77, who),
    );
    h.fake
        .wait_for(from, WAIT, |r| {
            r.path.contains(&format!("/interactions/{id}/"))
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_carry_feedback_buttons_and_kb_gaps_reads_what_they_recorded() {
    use medic::store::SqliteStore;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let store: medic::store::SharedStore =
        Arc::new(std::sync::Mutex::new(SqliteStore::open(&db).unwrap()));
    let h = Harness::start_with(services().with_feedback(store.clone())).await;
    let who = h.member(&[], 0);

    let cb = h
        .command("diagnose", &[("query", "HTTP 429 again")], &who)
        .await;
    let rows = cb.body["data"]["components"].as_array().unwrap().clone();
    let feedback = rows.last().unwrap()["components"]
        .as_array()
        .unwrap()
        .clone();
    let ids: Vec<&str> = feedback
        .iter()
        .map(|b| b["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["medic:fb-yes:http-429", "medic:fb-no:http-429"],
        "{rows:?}"
    );
    assert_eq!(feedback[1]["label"], "Not this");

    // "Not this": the next candidates, only to the one who clicked.
    let cb = click(&h, "medic:fb-no:http-429", &who).await;
    assert_eq!(cb.body["data"]["flags"], 64, "{}", cb.body);
    let shown = cb.body["data"].to_string();
    assert!(
        !shown.contains("\"title\":\"429"),
        "a different entry: {shown}"
    );
    let cb = click(&h, "medic:fb-yes:http-429", &who).await;
    assert!(cb.body["data"]["content"]
        .as_str()
        .unwrap()
        .starts_with("Thanks"));

    // A direct question medic cannot answer is recorded, masked.
    let odd = format!("the flux capacitor in our build farm hums oddly {BOT_TOKEN}");
    let cb = h.command("diagnose", &[("query", &odd)], &who).await;
    assert_eq!(cb.body["type"], 4);

    let deadline = Instant::now() + WAIT;
    let gaps = loop {
        let g = store.lock().unwrap().gaps(0, 10).unwrap();
        if (!g.unanswered.is_empty() && !g.not_this.is_empty()) || Instant::now() > deadline {
            break g;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(gaps.not_this, [("http-429".to_string(), 1, 1)]);
    assert_eq!(gaps.unanswered.len(), 1, "{gaps:?}");
    assert!(gaps.unanswered[0].0.contains("flux capacitor"));
    let secret = BOT_TOKEN.rsplit('.').next().unwrap();
    assert!(!gaps.unanswered[0].0.contains(secret), "{gaps:?}");
    h.stop().await;

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["kb", "gaps", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1  \"the flux capacitor"), "{text}");
    assert!(text.contains("1  http-429 (1 helpful)"), "{text}");
}
