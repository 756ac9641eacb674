//! Discord's HTTP interactions endpoint (`POST /interactions`, `medic serve --http ADDR` with
//! `DISCORD_PUBLIC_KEY`): every request's Ed25519 signature over timestamp + body is verified
//! (serenity's `Verifier`), stale timestamps and oversized bodies are refused, and commands are
//! answered with the same handlers and renderers as over the gateway, button clicks with the
//! gateway's own decision ([`super::components::answer`]). Stateless per request, so any number
//! of replicas behind a load balancer serve one application (`--no-gateway`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use poise::serenity_prelude as serenity;
use serenity::interactions_endpoint::Verifier;
use serenity::Builder as _;
use serenity::{
    ApplicationId, CommandDataOptionValue, CommandInteraction, ComponentInteraction,
    CreateAutocompleteResponse, CreateInteractionResponse, CreateInteractionResponseMessage,
    Interaction, RoleId,
};

use super::answer::follow_up;
use super::components::{self, Click, Response};
use crate::alerts::engine::AckError;
use crate::alerts::monitor::lock;
use crate::alerts::{Clock as _, SystemClock};
use crate::commands::{check as check_cmd, diagnose as diagnose_cmd, endpoints as endpoints_cmd};
use crate::commands::{help as help_cmd, LiveServices, Services};
use crate::render::discord::{self as render, alert as render_alert, Reply};
use crate::store::model::{Ack, Incident, RequestKind};
use crate::store::SharedStore;

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
            Interaction::Component(click) => self.component(click).await,
            _ => ephemeral("medic does not answer that kind of interaction."),
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
        deferred(&cmd.token, cmd.application_id, "check", rest, async move {
            let outcome = check_cmd::run(services.checker(), &services.statuses, &name).await;
            render::check(&outcome, services.matcher.knowledge())
        })
    }

    /// `/silence` and `/unsilence`, role-gated as over the gateway: applied by this process's
    /// alert pipeline when it runs one; on an HTTP-only replica with a shared store, queued for
    /// the instance that owns the endpoint, deferred, and answered with its result.
    async fn silence(&self, cmd: CommandInteraction) -> Answer {
        let services = self.services.get();
        if !super::gate::may_run_checks_with(&self.check_roles, cmd.member.as_deref()) {
            return ephemeral(super::gate::REFUSED);
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
        let (Some(store), Some(rest)) = (shared_store(&services), self.rest.clone()) else {
            return ephemeral(super::NOT_RUNNING);
        };
        // The owner applies it at its next lease renewal: more than Discord's 3 s may pass.
        let request = crate::alerts::requests::request(kind, &endpoint, &author, &reason, duration);
        let command = cmd.data.name.clone();
        deferred(&cmd.token, cmd.application_id, command, rest, async move {
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

    /// A button click, answered as over the gateway. An HTTP-only replica on a shared database
    /// has no alert pipeline: its alert buttons read the alert from the database, and
    /// "Acknowledge" is queued for the instance that owns the endpoint (as `/silence` is).
    async fn component(&self, click: ComponentInteraction) -> Answer {
        let services = self.services.get();
        let Some(what) = Click::parse(&click.data.custom_id) else {
            return ephemeral(
                "That button is not one of medic's (any more); run the command again.",
            );
        };
        let replica = match (&services.alerts, self.rest.clone()) {
            (None, Some(rest)) => shared_store(&services).map(|store| (store, rest)),
            _ => None,
        };
        let response = match (what, replica) {
            (Click::Acknowledge(id), Some((store, rest))) => {
                return self.forward_ack(&click, id, store, rest).await
            }
            (Click::Rerun(id), Some((store, _))) => match stored_alert(store, id).await {
                Ok(Some((alert, _))) => Ok(components::rerun(
                    services,
                    &self.check_roles,
                    &click,
                    alert.endpoint,
                    None,
                )),
                Ok(None) => Ok(Response::ephemeral(components::UNKNOWN_ALERT)),
                Err(e) => Err(e.into()),
            },
            (what, _) => components::answer(services, &self.check_roles, &click, what).await,
        };
        match response {
            Ok(response) => self.send(&click, response).await,
            Err(e) => failed(&e.to_string()),
        }
    }

    /// A click's [`Response`] as the HTTP answer (and, deferred, the REST edit after it).
    async fn send(&self, click: &ComponentInteraction, response: Response) -> Answer {
        match response {
            Response::Message(reply) => Answer::json(&message(reply)),
            Response::Update(reply) => Answer::json(&CreateInteractionResponse::UpdateMessage(
                super::answer::message(reply),
            )),
            Response::Deferred(later) => {
                let reply = async move {
                    later.await.unwrap_or_else(|e| {
                        tracing::warn!(error = %crate::redact::process().redact(&e.to_string()), "a button's check failed");
                        Reply::text(APOLOGY)
                    })
                };
                match self.rest.clone() {
                    Some(rest) => {
                        deferred(&click.token, click.application_id, "button", rest, reply)
                    }
                    // Nothing to edit the deferral with: the answer itself, however long it takes.
                    None => Answer::json(&message(reply.await)),
                }
            }
        }
    }

    /// "Acknowledge" on a replica: refused at once for the reasons the pipeline would refuse
    /// (read off the shared state), else queued for the owning instance. The owner applies it
    /// at its next lease renewal, so the answer is a deferred update (the alert stays as it
    /// is), then the alert is edited to show the acknowledgement, or the clicker told why not.
    async fn forward_ack(
        &self,
        click: &ComponentInteraction,
        alert_id: &str,
        store: SharedStore,
        rest: Arc<serenity::Http>,
    ) -> Answer {
        let (alert, incident) = match stored_alert(store.clone(), alert_id).await {
            Ok(Some(found)) => found,
            Ok(None) => return ephemeral(components::UNKNOWN_ALERT),
            Err(e) => return failed(&e.to_string()),
        };
        let since = alert.since.unwrap_or(alert.at);
        // The engine's rule: the owner acknowledges whichever incident is open when it applies
        // the request, so an old alert's button must not get that far.
        let refused = match &incident {
            None => Some(AckError::NoIncident),
            Some(i) if i.started_at != since => Some(AckError::DifferentIncident),
            Some(i) => i.ack.clone().map(AckError::AlreadyAcknowledged),
        };
        if let Some(e) = refused {
            return Answer::json(&message(components::ack_refused(&alert.endpoint, &e)));
        }
        let who = components::clicker(click);
        let request = crate::alerts::requests::request(
            RequestKind::Ack,
            &alert.endpoint,
            &who,
            "",
            Duration::ZERO,
        );
        let token = click.token.clone();
        rest.set_application_id(click.application_id);
        answer_then(&CreateInteractionResponse::Acknowledge, async move {
            let endpoint = alert.endpoint.clone();
            let applied = tokio::task::spawn_blocking(move || -> crate::Result<_> {
                let r =
                    crate::alerts::requests::forward(&store, &SystemClock, request, FORWARD_WAIT)?;
                if !r.ok {
                    return Ok(Err(r.message));
                }
                // The acknowledgement as the owner stored it (its time, not ours).
                let stored = open_incident(&store, &endpoint)?
                    .filter(|i| i.started_at == since)
                    .and_then(|i| i.ack);
                Ok(Ok(stored))
            })
            .await;
            let applied: Result<Option<Ack>, String> = match applied {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let sent = match applied {
                Ok(ack) => {
                    let ack = ack.unwrap_or_else(|| Ack {
                        by: who,
                        at: SystemClock.now_ms(),
                    });
                    let update = super::answer::edit(render_alert::alert(&alert, Some(&ack)));
                    update.execute(&rest, &token).await.map(drop)
                }
                Err(why) => {
                    let note = Reply::text(format!("Could not do that: {why}")).ephemeral();
                    follow_up(note)
                        .execute(&rest, (None, &token))
                        .await
                        .map(drop)
                }
            };
            if let Err(e) = sent {
                warn_not_posted("acknowledge", &e);
            }
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
/// response over REST once it is ready. `what` names the command or button in logs.
fn deferred(
    token: &str,
    application: ApplicationId,
    what: impl Into<String>,
    rest: Arc<serenity::Http>,
    reply: impl std::future::Future<Output = Reply> + Send + 'static,
) -> Answer {
    let (token, command) = (token.to_string(), what.into());
    rest.set_application_id(application);
    let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
    answer_then(&defer, async move {
        let edit = super::answer::edit(reply.await);
        if let Err(e) = edit.execute(&rest, &token).await {
            warn_not_posted(&command, &e);
        }
    })
}

/// `first` as the HTTP answer, then `after` (which posts the rest over REST).
fn answer_then(
    first: &CreateInteractionResponse,
    after: impl std::future::Future<Output = ()> + Send + 'static,
) -> Answer {
    let mut answer = Answer::json(first);
    answer.after = Some(Box::pin(after));
    answer
}

fn warn_not_posted(what: &str, e: &serenity::Error) {
    tracing::warn!(command = what, error = %crate::redact::process().redact(&e.to_string()), "could not post a deferred result");
}

fn message(reply: Reply) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(super::answer::message(reply))
}

fn ephemeral(text: impl AsRef<str>) -> Answer {
    Answer::json(&message(Reply::text(text).ephemeral()))
}

/// The services' state database when other instances share it (Postgres): where an HTTP-only
/// replica finds alerts and queues alert commands for the instance that owns the endpoint.
fn shared_store(services: &Services) -> Option<SharedStore> {
    services
        .feedback
        .clone()
        .filter(|s| s.lock().is_ok_and(|s| s.shared()))
}

/// An alert by id and its endpoint's open incident, read from `store` off the async workers
/// (the Postgres client blocks).
async fn stored_alert(
    store: SharedStore,
    id: &str,
) -> crate::Result<Option<(crate::alerts::Alert, Option<Incident>)>> {
    let id = id.to_string();
    tokio::task::spawn_blocking(move || {
        let Some(alert) = lock(&store)?.alert(&id)? else {
            return Ok(None);
        };
        let incident = open_incident(&store, &alert.endpoint)?;
        Ok(Some((alert, incident)))
    })
    .await
    .map_err(|source| crate::Error::TaskFailed {
        task: "reading an alert",
        source,
    })?
}

/// `endpoint`'s open incident as its owner last stored it (blocking).
fn open_incident(store: &SharedStore, endpoint: &str) -> crate::Result<Option<Incident>> {
    Ok(lock(store)?
        .load_states()?
        .into_iter()
        .find(|(name, _)| name == endpoint)
        .and_then(|(_, state)| state.incident))
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

/// What a click that failed on medic's side is answered with.
const APOLOGY: &str = "Sorry, that did not work on my side; please try again in a moment.";

fn failed(error: &str) -> Answer {
    tracing::warn!(error = %crate::redact::process().redact(error), "a button could not be answered");
    ephemeral(APOLOGY)
}

/// How long a replica waits for the owning instance to apply a forwarded `/silence` or
/// acknowledgement.
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
