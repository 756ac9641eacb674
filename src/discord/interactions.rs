//! Discord's HTTP interactions endpoint (`POST /interactions`, `medic serve --http ADDR` with
//! `DISCORD_PUBLIC_KEY`): every request's Ed25519 signature over timestamp + body is verified
//! (serenity's `Verifier`), stale timestamps and oversized bodies are refused, and commands are
//! answered with the same handlers and renderers as over the gateway. Stateless per request,
//! so any number of replicas behind a load balancer serve one application (`--no-gateway`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use poise::serenity_prelude as serenity;
use serenity::interactions_endpoint::Verifier;
use serenity::Builder as _;
use serenity::{
    CommandDataOptionValue, CommandInteraction, CreateAutocompleteResponse,
    CreateInteractionResponse, CreateInteractionResponseMessage, Interaction, RoleId,
};

use crate::commands::{check as check_cmd, diagnose as diagnose_cmd, endpoints as endpoints_cmd};
use crate::commands::{help as help_cmd, LiveServices};
use crate::render::discord::{self as render, Reply};

/// The largest request body read: interactions are a few KiB.
pub const MAX_BODY: usize = 64 * 1024;
/// Signatures older (or newer) than this are refused: a captured request cannot be replayed.
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// What the endpoint answers: an HTTP status and a JSON (or text) body, plus work to do after
/// answering (a deferred `/check`'s follow-up).
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub after: Option<futures::future::BoxFuture<'static, ()>>,
}

impl Answer {
    fn text(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: body.to_string(),
            after: None,
        }
    }

    fn json(response: &CreateInteractionResponse) -> Answer {
        Answer {
            status: 200,
            body: serde_json::to_string(response).unwrap_or_else(|_| "{}".into()),
            after: None,
        }
    }
}

/// The endpoint: the application's public key, the services commands run on, and (for
/// deferred answers) a REST client.
pub struct Endpoint {
    verifier: Verifier,
    services: LiveServices,
    check_roles: HashSet<RoleId>,
    rest: Option<Arc<serenity::Http>>,
}

impl Endpoint {
    /// `public_key` is the application's key in hex (developer portal → General Information).
    pub fn new(
        public_key: &str,
        services: impl Into<LiveServices>,
        check_roles: &[u64],
        rest: Option<Arc<serenity::Http>>,
    ) -> crate::Result<Endpoint> {
        let bytes = parse_key(public_key).ok_or_else(|| {
            crate::Error::Usage(
                "DISCORD_PUBLIC_KEY must be the application's public key: 64 hex digits (developer portal → General Information)".into(),
            )
        })?;
        let verifier = Verifier::try_new(bytes)
            .map_err(|e| crate::Error::Usage(format!("DISCORD_PUBLIC_KEY: {e}")))?;
        Ok(Endpoint {
            verifier,
            services: services.into(),
            check_roles: check_roles.iter().map(|r| RoleId::new(*r)).collect(),
            rest,
        })
    }

    /// Handles one request. `signature` and `timestamp` are the `X-Signature-Ed25519` and
    /// `X-Signature-Timestamp` headers.
    pub async fn handle(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now: SystemTime,
    ) -> Answer {
        if body.len() > MAX_BODY {
            return Answer::text(413, "body too large\n");
        }
        let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
            return Answer::text(401, "missing signature\n");
        };
        if !fresh(timestamp, now) {
            return Answer::text(401, "stale or malformed timestamp\n");
        }
        if self.verifier.verify(signature, timestamp, body).is_err() {
            return Answer::text(401, "bad signature\n");
        }
        let interaction: Interaction = match serde_json::from_slice(body) {
            Ok(i) => i,
            Err(_) => return Answer::text(400, "not an interaction\n"),
        };
        match interaction {
            Interaction::Ping(_) => Answer::json(&CreateInteractionResponse::Pong),
            Interaction::Command(cmd) => self.command(cmd).await,
            Interaction::Autocomplete(cmd) => self.autocomplete(&cmd),
            _ => Answer::json(&message(
                Reply::text("Buttons work over the gateway connection; run the command again.")
                    .ephemeral(),
            )),
        }
    }

    async fn command(&self, cmd: CommandInteraction) -> Answer {
        let services = &*self.services.get();
        let kb = services.matcher.knowledge();
        match cmd.data.name.as_str() {
            "diagnose" => {
                let query = string_option(&cmd, "query").unwrap_or_default();
                let key = crate::commands::conversation::Key {
                    place: cmd.channel_id.get(),
                    user: cmd.user.id.get(),
                };
                let outcome = services.conversations.diagnose(
                    &services.matcher,
                    key,
                    std::time::Instant::now(),
                    &query,
                );
                super::slash::record_unanswered(services, &outcome, &query);
                Answer::json(&message(render::outcome(&outcome, kb)))
            }
            "help" => {
                let help = help_cmd::run(kb.len(), super::slash::help_entries());
                Answer::json(&message(render::help(&help)))
            }
            "endpoints" => {
                let lines = endpoints_cmd::run(services.checker(), &services.statuses);
                Answer::json(&message(render::endpoints(&lines)))
            }
            "check" => self.check(cmd).await,
            "silence" | "unsilence" => self.silence(cmd).await,
            _ => Answer::json(&message(
                Reply::text("That command is not served over HTTP; use it over the gateway.")
                    .ephemeral(),
            )),
        }
    }

    async fn check(&self, cmd: CommandInteraction) -> Answer {
        let services = self.services.get();
        if !super::gate::may_run_checks_with(&self.check_roles, cmd.member.as_deref()) {
            let text = "Only members with one of medic's check roles (or Manage Server) may run checks. Ask an admin, or use `/endpoints` for the last known status.";
            return Answer::json(&message(Reply::text(text).ephemeral()));
        }
        let name =
            crate::commands::clean_input(&string_option(&cmd, "endpoint").unwrap_or_default());
        let known = services
            .checker()
            .is_some_and(|c| c.config().endpoint(&name).is_some());
        let (true, Some(rest)) = (known, self.rest.clone()) else {
            let outcome = check_cmd::run(services.checker(), &services.statuses, &name).await;
            return Answer::json(&message(render::check(
                &outcome,
                services.matcher.knowledge(),
            )));
        };
        deferred(&cmd, rest, async move {
            let outcome = check_cmd::run(services.checker(), &services.statuses, &name).await;
            render::check(&outcome, services.matcher.knowledge())
        })
    }

    /// `/silence` and `/unsilence`, role-gated as over the gateway: applied by this process's
    /// alert pipeline when it runs one; on an HTTP-only replica with a shared store, queued for
    /// the instance that owns the endpoint, deferred, and answered with its result.
    async fn silence(&self, cmd: CommandInteraction) -> Answer {
        use crate::store::model::RequestKind;
        let ephemeral = |text: String| Answer::json(&message(Reply::text(text).ephemeral()));
        let services = self.services.get();
        if !super::gate::may_run_checks_with(&self.check_roles, cmd.member.as_deref()) {
            return ephemeral(super::gate::REFUSED.to_string());
        }
        let endpoint =
            crate::commands::clean_input(&string_option(&cmd, "endpoint").unwrap_or_default());
        let author = cmd.user.name.clone();
        let silence = cmd.data.name == "silence";
        let (kind, duration, reason) = if silence {
            let text = string_option(&cmd, "for").unwrap_or_default();
            let duration = match crate::config::parse_duration(&text) {
                Ok(d) if !d.is_zero() && d <= Duration::from_secs(90 * 24 * 3600) => d,
                _ => {
                    return ephemeral(format!(
                        "`for` must be a duration from 1s to 90d, like 30m, 2h or 1d, not {:?}.",
                        crate::text::printable(&text)
                    ))
                }
            };
            let reason = string_option(&cmd, "reason").unwrap_or_default();
            let reason = crate::text::truncate_chars(&crate::commands::clean_input(&reason), 300);
            (RequestKind::Silence, duration, reason)
        } else {
            (RequestKind::Unsilence, Duration::ZERO, String::new())
        };
        if let Some(alerts) = services.alerts.clone() {
            let reply = match kind {
                RequestKind::Silence => {
                    match alerts.silence(&endpoint, &author, &reason, duration).await {
                        Ok(s) => crate::render::discord::alert::silenced(&s),
                        Err(e) => Reply::text(e.to_string()).ephemeral(),
                    }
                }
                _ => match alerts.unsilence(&endpoint).await {
                    Ok(Some(s)) => crate::render::discord::alert::unsilenced(&s, &author),
                    Ok(None) => Reply::text(format!("**{endpoint}** is not silenced.")).ephemeral(),
                    Err(e) => Reply::text(e.to_string()).ephemeral(),
                },
            };
            return Answer::json(&message(reply));
        }
        let shared = services
            .feedback
            .clone()
            .filter(|s| s.lock().is_ok_and(|s| s.shared()));
        let (Some(store), Some(rest)) = (shared, self.rest.clone()) else {
            return ephemeral(super::NOT_RUNNING.to_string());
        };
        // The owner applies it at its next lease renewal: more than Discord's 3 s may pass.
        let request = crate::alerts::requests::request(kind, &endpoint, &author, &reason, duration);
        deferred(&cmd, rest, async move {
            let result = tokio::task::spawn_blocking(move || {
                crate::alerts::requests::forward(
                    &store,
                    &crate::alerts::SystemClock,
                    request,
                    FORWARD_WAIT,
                )
            })
            .await;
            let text = match result {
                Ok(Ok(r)) if r.ok => r.message,
                Ok(Ok(r)) => format!("Could not do that: {}", r.message),
                Ok(Err(e)) => format!("Could not do that: {e}"),
                Err(e) => format!("Could not do that: {e}"),
            };
            Reply::text(text)
        })
    }

    fn autocomplete(&self, cmd: &CommandInteraction) -> Answer {
        let focused = cmd.data.autocomplete();
        let mut response = CreateAutocompleteResponse::new();
        match (cmd.data.name.as_str(), focused) {
            ("diagnose", Some(f)) => {
                for s in diagnose_cmd::suggest(&self.services.get().matcher, f.value) {
                    response = response.add_string_choice(s.label, s.id);
                }
            }
            ("check" | "silence" | "unsilence", Some(f)) => {
                for n in check_cmd::suggest(self.services.get().checker(), f.value) {
                    response = response.add_string_choice(n.clone(), n);
                }
            }
            _ => {}
        }
        Answer::json(&CreateInteractionResponse::Autocomplete(response))
    }
}

/// Discord wants a first answer within 3 s: a deferral now, then `reply` edits the original
/// response over REST once it is ready.
fn deferred(
    cmd: &CommandInteraction,
    rest: Arc<serenity::Http>,
    reply: impl std::future::Future<Output = Reply> + Send + 'static,
) -> Answer {
    let (token, command) = (cmd.token.clone(), cmd.data.name.clone());
    rest.set_application_id(cmd.application_id);
    let after = Box::pin(async move {
        let edit = super::answer::edit(reply.await);
        if let Err(e) = edit.execute(&rest, &token).await {
            tracing::warn!(command, error = %crate::redact::process().redact(&e.to_string()), "could not post a deferred result");
        }
    });
    let mut answer = Answer::json(&CreateInteractionResponse::Defer(
        CreateInteractionResponseMessage::new(),
    ));
    answer.after = Some(after);
    answer
}

fn message(reply: Reply) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(super::answer::message(reply))
}

fn string_option(cmd: &CommandInteraction, name: &str) -> Option<String> {
    cmd.data
        .options
        .iter()
        .find(|o| o.name == name)
        .and_then(|o| match &o.value {
            CommandDataOptionValue::String(s) => Some(s.clone()),
            _ => None,
        })
}

/// The endpoint as the HTTP server's POST handler (`/interactions`).
pub fn post_handler(endpoint: Arc<Endpoint>) -> crate::metrics::server::PostHandler {
    Arc::new(move |path, headers, body| {
        let endpoint = endpoint.clone();
        Box::pin(async move {
            if path != "/interactions" {
                return crate::metrics::server::PostAnswer::text(404, "not found\n");
            }
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let (sig, ts) = (
                header("x-signature-ed25519"),
                header("x-signature-timestamp"),
            );
            let a = endpoint
                .handle(sig.as_deref(), ts.as_deref(), &body, SystemTime::now())
                .await;
            crate::metrics::server::PostAnswer {
                content_type: if a.status == 200 {
                    "application/json"
                } else {
                    "text/plain"
                },
                status: a.status,
                body: a.body,
                after: a.after,
            }
        })
    })
}

/// How long a replica waits for the owning instance to apply a forwarded `/silence`.
const FORWARD_WAIT: Duration = Duration::from_secs(10);

/// A Unix-seconds timestamp within [`MAX_SKEW`] of `now`.
fn fresh(timestamp: &str, now: SystemTime) -> bool {
    let Ok(secs) = timestamp.trim().parse::<u64>() else {
        return false;
    };
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    now.abs_diff(secs) <= MAX_SKEW.as_secs()
}

fn parse_key(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
