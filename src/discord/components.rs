//! Button clicks (component interactions), parsed from their custom id into a [`Click`].
//!
//! Every component medic sends has a custom id starting with `medic:`; the part after it names
//! the action. Other features add a [`Click`] variant and its prefix in [`Click::parse`].
//!
//! What a click is answered with is decided once, in [`answer`], as a [`Response`]: the gateway
//! ([`handle`]) sends it through [`super::delivery`], the HTTP interactions endpoint
//! ([`super::interactions`]) as its response body and a REST edit.

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use poise::serenity_prelude as serenity;
use serenity::{
    ComponentInteraction, CreateInteractionResponse, CreateInteractionResponseMessage, RoleId,
};

use super::answer::{edit, message};
use super::delivery::Interaction;
use super::gate::{may_run_checks_with, REFUSED};
use super::{Data, Error, NOT_RUNNING};
use crate::alerts::engine::AckError;
use crate::alerts::probe::observation;
use crate::alerts::service::Handle;
use crate::alerts::{Clock, SystemClock};
use crate::commands::{check as check_cmd, diagnose, Services};
use crate::render::discord::{
    self as render, alert as render_alert, Reply, ALERT_ACK, ALERT_RERUN, CHECK_ENDPOINT,
    FEEDBACK_NO, FEEDBACK_YES, OPEN_ENTRY,
};
use crate::store::model::FeedbackKind;

/// What a click asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Click<'a> {
    /// A related-entry button: show that entry.
    OpenEntry(&'a str),
    /// A DOWN alert's "Acknowledge": stop its reminders.
    Acknowledge(&'a str),
    /// A DOWN alert's "Re-run check" (check roles only).
    Rerun(&'a str),
    /// "Helpful" under an answer (the entry id).
    Helpful(&'a str),
    /// "Not this" under an answer: the next candidates.
    NotThis(&'a str),
    /// "Check NAME" under a message that named a configured endpoint (check roles only).
    CheckEndpoint(&'a str),
}

impl<'a> Click<'a> {
    /// The click behind a custom id, or `None` for a component medic does not own.
    pub fn parse(custom_id: &'a str) -> Option<Click<'a>> {
        if let Some(id) = custom_id.strip_prefix(OPEN_ENTRY) {
            Some(Click::OpenEntry(id))
        } else if let Some(id) = custom_id.strip_prefix(ALERT_ACK) {
            Some(Click::Acknowledge(id))
        } else if let Some(id) = custom_id.strip_prefix(FEEDBACK_YES) {
            Some(Click::Helpful(id))
        } else if let Some(id) = custom_id.strip_prefix(FEEDBACK_NO) {
            Some(Click::NotThis(id))
        } else if let Some(name) = custom_id.strip_prefix(CHECK_ENDPOINT) {
            Some(Click::CheckEndpoint(name))
        } else {
            custom_id.strip_prefix(ALERT_RERUN).map(Click::Rerun)
        }
    }
}

/// How a click is answered, whichever transport brought it.
pub(crate) enum Response {
    /// A new message (ephemeral when the reply says so).
    Message(Reply),
    /// The clicked message, replaced (an acknowledged alert).
    Update(Reply),
    /// "Thinking…" at once, then this reply edits it: a check can take longer than the 3 s
    /// Discord allows for the first response.
    Deferred(BoxFuture<'static, Result<Reply, Error>>),
}

impl Response {
    pub(crate) fn ephemeral(text: impl AsRef<str>) -> Response {
        Response::Message(Reply::text(text).ephemeral())
    }
}

/// Answers a click that came over the gateway; components medic does not own are ignored.
pub async fn handle(
    _ctx: &serenity::Context,
    data: &Data,
    click: &ComponentInteraction,
) -> Result<(), Error> {
    let Some(what) = Click::parse(&click.data.custom_id) else {
        tracing::debug!(
            custom_id = click.data.custom_id,
            "ignoring a component medic does not own"
        );
        return Ok(());
    };
    let response = answer(data.services.get(), &data.check_roles, click, what).await?;
    match response {
        Response::Message(reply) => {
            callback(
                data,
                click,
                CreateInteractionResponse::Message(message(reply)),
            )
            .await
        }
        Response::Update(reply) => {
            let update = CreateInteractionResponse::UpdateMessage(message(reply));
            callback(data, click, update).await
        }
        Response::Deferred(later) => {
            let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
            callback(data, click, defer).await?;
            let reply = later.await?;
            data.delivery
                .edit_original(Interaction::from(click), &edit(reply))
                .await?;
            Ok(())
        }
    }
}

async fn callback(
    data: &Data,
    click: &ComponentInteraction,
    response: CreateInteractionResponse,
) -> Result<(), Error> {
    data.delivery
        .callback(Interaction::from(click), &response)
        .await?;
    Ok(())
}

/// What to answer `click` (parsed as `what`) with, for both transports. `check_roles` gate the
/// checks as [`super::gate`] says.
pub(crate) async fn answer(
    services: Arc<Services>,
    check_roles: &HashSet<RoleId>,
    click: &ComponentInteraction,
    what: Click<'_>,
) -> Result<Response, Error> {
    Ok(match what {
        Click::OpenEntry(entry_id) => Response::Message(open_entry(&services, entry_id)),
        Click::Helpful(entry_id) => {
            if services.matcher.knowledge().get(entry_id).is_some() {
                services.record_feedback(FeedbackKind::Helpful, Some(entry_id), None);
            }
            Response::ephemeral("Thanks — noted for the people who write medic's knowledge.")
        }
        Click::NotThis(entry_id) => Response::Message(not_this(&services, click, entry_id)),
        Click::Acknowledge(alert_id) => acknowledge(&services, click, alert_id).await?,
        Click::Rerun(alert_id) => match alert_of(&services, alert_id)? {
            Err(refusal) => refusal,
            Ok((alert, alerts)) => rerun(
                services.clone(),
                check_roles,
                click,
                alert.endpoint,
                Some(alerts),
            ),
        },
        Click::CheckEndpoint(name) => {
            if !may_run_checks_with(check_roles, click.member.as_ref()) {
                Response::ephemeral(REFUSED)
            } else {
                check_later(services, name.to_string(), None)
            }
        }
    })
}

fn open_entry(services: &Services, entry_id: &str) -> Reply {
    match diagnose::entry(&services.matcher, entry_id) {
        Some(entry) => {
            let why = "Opened from a related-entry button.".to_string();
            render::entry_reply(&entry, services.matcher.knowledge(), why, &[]).ephemeral()
        }
        None => Reply::text("That entry no longer exists in this medic's knowledge.").ephemeral(),
    }
}

fn not_this(services: &Services, click: &ComponentInteraction, entry_id: &str) -> Reply {
    if services.matcher.knowledge().get(entry_id).is_some() {
        services.record_feedback(FeedbackKind::NotThis, Some(entry_id), None);
    }
    let key = crate::commands::conversation::Key {
        place: click.channel_id.get(),
        user: click.user.id.get(),
    };
    let reply = match services.conversations.not_this(
        &services.matcher,
        key,
        std::time::Instant::now(),
        entry_id,
    ) {
        Some(o) => render::others(&o, services.matcher.knowledge()),
        None => Reply::text("I have nothing else to suggest for that one; paste the full error line for a better match."),
    };
    reply.ephemeral()
}

/// What an alert button answers when medic does not know the alert (any more).
pub(crate) const UNKNOWN_ALERT: &str =
    "medic no longer knows this alert (it is older than the retention period).";

/// The alert a button belongs to and this process's pipeline, or the answer saying why there
/// is none.
fn alert_of(
    services: &Services,
    alert_id: &str,
) -> Result<Result<(crate::alerts::Alert, Handle), Response>, Error> {
    let Some(alerts) = services.alerts.clone() else {
        return Ok(Err(Response::ephemeral(NOT_RUNNING)));
    };
    Ok(match alerts.alert(alert_id)? {
        Some(alert) => Ok((alert, alerts)),
        None => Err(Response::ephemeral(UNKNOWN_ALERT)),
    })
}

/// Who clicked, as an acknowledgement names them.
pub(crate) fn clicker(click: &ComponentInteraction) -> String {
    click
        .member
        .as_ref()
        .map(|m| m.user.name.clone())
        .unwrap_or_else(|| click.user.name.clone())
}

/// "Acknowledge" stops reminders; the alert then shows who and when. Anyone who sees the alert
/// may acknowledge it.
async fn acknowledge(
    services: &Services,
    click: &ComponentInteraction,
    alert_id: &str,
) -> Result<Response, Error> {
    let (alert, alerts) = match alert_of(services, alert_id)? {
        Ok(found) => found,
        Err(refusal) => return Ok(refusal),
    };
    let incident = alert.since.unwrap_or(alert.at);
    Ok(
        match alerts
            .acknowledge(&alert.endpoint, incident, &clicker(click))
            .await?
        {
            Ok(a) => Response::Update(render_alert::alert(&alert, Some(&a))),
            Err(e) => Response::Message(ack_refused(&alert.endpoint, &e)),
        },
    )
}

/// Why an acknowledgement of `endpoint`'s alert was not made, as the clicker is told.
pub(crate) fn ack_refused(endpoint: &str, error: &AckError) -> Reply {
    match error {
        AckError::NoIncident => Reply::text(format!(
            "**{endpoint}** has no open incident any more: nothing to acknowledge."
        ))
        .ephemeral(),
        AckError::DifferentIncident => Reply::text(format!(
            "This alert's incident is over; **{endpoint}** has a newer one. Acknowledge its latest alert instead."
        ))
        .ephemeral(),
        AckError::AlreadyAcknowledged(a) => render_alert::already_acknowledged(a),
    }
}

/// "Re-run check" of `endpoint` (check roles only); with `record`, the result also counts as a
/// scheduled check.
pub(crate) fn rerun(
    services: Arc<Services>,
    check_roles: &HashSet<RoleId>,
    click: &ComponentInteraction,
    endpoint: String,
    record: Option<Handle>,
) -> Response {
    if !may_run_checks_with(check_roles, click.member.as_ref()) {
        return Response::ephemeral(REFUSED);
    }
    check_later(services, endpoint, record)
}

/// Checks `name`, deferred; with `record`, counts the result as a scheduled check.
fn check_later(services: Arc<Services>, name: String, record: Option<Handle>) -> Response {
    if services.checker().is_none() {
        return Response::ephemeral(NOT_RUNNING);
    }
    Response::Deferred(Box::pin(async move {
        let started = SystemClock.now_ms();
        let outcome = check_cmd::run(services.checker(), &services.statuses, &name).await;
        if let (check_cmd::Outcome::Report(report), Some(alerts)) = (&outcome, &record) {
            let mut obs = observation(report);
            obs.at = started;
            alerts.observe(&name, obs).await?;
        }
        Ok(render::check(&outcome, services.matcher.knowledge()))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_ids_parse_into_clicks() {
        assert_eq!(
            Click::parse("medic:entry:http-429"),
            Some(Click::OpenEntry("http-429"))
        );
        assert_eq!(
            Click::parse(&format!("{ALERT_ACK}abc")),
            Some(Click::Acknowledge("abc"))
        );
        assert_eq!(
            Click::parse(&format!("{ALERT_RERUN}abc")),
            Some(Click::Rerun("abc"))
        );
        assert_eq!(Click::parse("other:thing"), None);
    }
}
