//! Gateway event payloads with every field serenity 0.12.5 requires (a missing one turns the
//! event into `Unknown`, which the harness reports).

use serde_json::{json, Value};

use super::APP_ID;

pub const TIMESTAMP: &str = "2024-01-01T00:00:00.000000+00:00";

pub fn user(id: u64, name: &str, bot: bool) -> Value {
    json!({"id": id.to_string(), "username": name, "discriminator": "0", "global_name": null,
           "avatar": null, "bot": bot})
}

pub fn ready(ws_url: &str) -> Value {
    json!({
        "v": 10,
        "user": user(APP_ID, "medic", true),
        "guilds": [],
        "session_id": "fake-session",
        "resume_gateway_url": ws_url,
        "application": {"id": APP_ID.to_string(), "flags": 0}
    })
}

/// A guild member with `roles` and guild-level `permissions` (a decimal bit string).
pub fn member(user_id: u64, name: &str, roles: &[u64], permissions: u64) -> Value {
    json!({
        "user": user(user_id, name, false),
        "roles": roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "deaf": false, "mute": false, "flags": 0,
        "joined_at": TIMESTAMP,
        "permissions": permissions.to_string()
    })
}

/// MESSAGE_CREATE in a guild channel (`guild: None` for a DM).
pub struct MessageCreate {
    pub id: u64,
    pub channel: u64,
    pub guild: Option<u64>,
    pub author: Value,
    pub content: String,
    pub mentions: Vec<Value>,
    pub mention_everyone: bool,
}

impl MessageCreate {
    pub fn new(id: u64, channel: u64, guild: Option<u64>, author: Value, content: &str) -> Self {
        MessageCreate {
            id,
            channel,
            guild,
            author,
            content: content.to_string(),
            mentions: Vec::new(),
            mention_everyone: false,
        }
    }

    pub fn build(self) -> Value {
        let mut d = json!({
            "id": self.id.to_string(),
            "channel_id": self.channel.to_string(),
            "author": self.author,
            "content": self.content,
            "timestamp": TIMESTAMP,
            "edited_timestamp": null,
            "tts": false,
            "mention_everyone": self.mention_everyone,
            "mentions": self.mentions,
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": false,
            "type": 0
        });
        if let Some(g) = self.guild {
            d["guild_id"] = json!(g.to_string());
        }
        d
    }
}

/// The message the fake returns for anything the bot posts.
pub fn bot_message(id: u64, channel: u64, sent: &Value) -> Value {
    json!({
        "id": id.to_string(),
        "channel_id": channel.to_string(),
        "author": user(APP_ID, "medic", true),
        "content": sent.get("content").cloned().unwrap_or(json!("")),
        "timestamp": TIMESTAMP,
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": sent.get("embeds").cloned().unwrap_or(json!([])),
        "pinned": false,
        "type": 0
    })
}

/// Where an interaction happens and who starts it.
#[derive(Clone)]
pub struct Invoker {
    pub guild: Option<u64>,
    pub channel: u64,
    pub member: Option<Value>,
    pub user: Value,
}

impl Invoker {
    pub fn guild_member(guild: u64, channel: u64, member: Value) -> Invoker {
        let user = member["user"].clone();
        Invoker {
            guild: Some(guild),
            channel,
            member: Some(member),
            user,
        }
    }
}

fn interaction(id: u64, kind: u8, data: Value, who: &Invoker) -> Value {
    let mut d = json!({
        "id": id.to_string(),
        "application_id": APP_ID.to_string(),
        "type": kind,
        "data": data,
        "channel_id": who.channel.to_string(),
        "token": format!("itoken-{id}"),
        "version": 1,
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": 8388608,
        "app_permissions": "2147483647"
    });
    match (&who.guild, &who.member) {
        (Some(g), Some(m)) => {
            d["guild_id"] = json!(g.to_string());
            d["guild_locale"] = json!("en-US");
            d["member"] = m.clone();
        }
        _ => d["user"] = who.user.clone(),
    }
    d
}

/// A slash command (type 2) with string options.
pub fn command(id: u64, name: &str, options: &[(&str, &str)], who: &Invoker) -> Value {
    let options: Vec<Value> = options
        .iter()
        .map(|(n, v)| json!({"name": n, "type": 3, "value": v}))
        .collect();
    let data = json!({"id": "900", "name": name, "type": 1, "options": options});
    interaction(id, 2, data, who)
}

/// An autocomplete request (type 4) for the focused string option `option`.
pub fn autocomplete(id: u64, name: &str, option: &str, typed: &str, who: &Invoker) -> Value {
    let data = json!({"id": "900", "name": name, "type": 1,
                      "options": [{"name": option, "type": 3, "value": typed, "focused": true}]});
    interaction(id, 4, data, who)
}

/// A button click (type 3) on a message the bot sent.
pub fn button(id: u64, custom_id: &str, message_id: u64, who: &Invoker) -> Value {
    let data = json!({"custom_id": custom_id, "component_type": 2});
    let mut d = interaction(id, 3, data, who);
    d["message"] = bot_message(message_id, who.channel, &json!({"content": ""}));
    d
}
