//! The shape of `medic.toml` as serde reads it: every value still carries its span, so that
//! the checks after it can name a line.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use super::values::shown;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) endpoints: Vec<RawEndpoint>,
    #[serde(default)]
    pub(super) discord: RawDiscord,
    #[serde(default)]
    pub(super) alerts: RawAlerts,
    #[serde(default)]
    pub(super) checks: RawChecks,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDiscord {
    #[serde(default, deserialize_with = "ids")]
    pub(super) listen_channels: Vec<u64>,
    #[serde(default, deserialize_with = "ids")]
    pub(super) check_roles: Vec<u64>,
    #[serde(default, deserialize_with = "opt_id")]
    pub(super) alert_channel: Option<u64>,
    #[serde(default, deserialize_with = "opt_id")]
    pub(super) mention_role: Option<u64>,
    #[serde(default = "yes")]
    pub(super) message_content: bool,
}

impl Default for RawDiscord {
    fn default() -> Self {
        RawDiscord {
            listen_channels: Vec::new(),
            check_roles: Vec::new(),
            alert_channel: None,
            mention_role: None,
            message_content: true,
        }
    }
}

pub(super) fn yes() -> bool {
    true
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    pub(super) failure_threshold: Option<Spanned<u32>>,
    pub(super) success_threshold: Option<Spanned<u32>>,
    pub(super) remind_every: Option<Spanned<String>>,
    pub(super) cert_warn_days: Option<u32>,
    pub(super) retention: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChecks {
    pub(super) concurrency: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoint {
    pub(super) name: Spanned<String>,
    pub(super) url: Spanned<String>,
    pub(super) method: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, Spanned<String>>,
    pub(super) body: Option<String>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) expect_status: Option<Spanned<toml::Value>>,
    pub(super) max_latency: Option<Spanned<String>>,
    pub(super) expect_content_type: Option<String>,
    #[serde(default)]
    pub(super) expect_json: bool,
    #[serde(default)]
    pub(super) expect_json_pointers: Vec<Spanned<String>>,
    pub(super) body_contains: Option<String>,
    pub(super) resolver: Option<Spanned<String>>,
    pub(super) tls_ca: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) follow_redirects: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) allow_private_redirects: bool,
    pub(super) auth: Option<Spanned<RawAuth>>,
    pub(super) alerts: Option<RawAlertOverride>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    pub(super) kind: Spanned<String>,
    pub(super) token_env: Option<Spanned<String>>,
    pub(super) user_env: Option<Spanned<String>>,
    pub(super) password_env: Option<Spanned<String>>,
    pub(super) name: Option<Spanned<String>>,
    pub(super) value_env: Option<Spanned<String>>,
    pub(super) param: Option<Spanned<String>>,
    pub(super) token_url: Option<Spanned<String>>,
    pub(super) client_id_env: Option<Spanned<String>>,
    pub(super) client_secret_env: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) scopes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlertOverride {
    pub(super) enabled: Option<bool>,
    pub(super) failure_threshold: Option<Spanned<u32>>,
    pub(super) success_threshold: Option<Spanned<u32>>,
    pub(super) remind_every: Option<Spanned<String>>,
    pub(super) cert_warn_days: Option<u32>,
    #[serde(default, deserialize_with = "opt_id")]
    pub(super) mention_role: Option<u64>,
}

/// Discord ids are accepted as integers or as strings (as Discord's "Copy ID" gives them).
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawId {
    Int(u64),
    Str(String),
}

impl RawId {
    fn get<E: serde::de::Error>(self) -> Result<u64, E> {
        match self {
            RawId::Int(n) => Ok(n),
            RawId::Str(s) => s.trim().parse().map_err(|_| {
                E::custom(format!(
                    "expected a Discord id (digits), found {}",
                    shown(&s)
                ))
            }),
        }
    }
}

pub(super) fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    Vec::<RawId>::deserialize(d)?
        .into_iter()
        .map(RawId::get)
        .collect()
}

pub(super) fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<RawId>::deserialize(d)?.map(RawId::get).transpose()
}
