//! Button clicks (component interactions), parsed from their custom id into a [`Click`].
//!
//! Every component medic sends has a custom id starting with `medic:`; the part after it names
//! the action. Other features add a [`Click`] variant and its prefix in [`Click::parse`].

use poise::serenity_prelude as serenity;
use serenity::{ComponentInteraction, CreateInteractionResponse, CreateInteractionResponseMessage};

use super::answer::{edit, message};
use super::delivery::Interaction;
use super::gate::{may_run_checks, REFUSED};
use super::{Data, Error, NOT_RUNNING};
use crate::alerts::engine::AckError;
use crate::alerts::probe::observation;
use crate::alerts::service::Handle;
use crate::alerts::{Clock, SystemClock};
use crate::commands::{check as check_cmd, diagnose};
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
    match what {
        Click::OpenEntry(entry_id) => {
            let reply = match diagnose::entry(&data.services.get().matcher, entry_id) {
                Some(entry) => {
                    let why = "Opened from a related-entry button.".to_string();
                    render::entry_reply(&entry, data.services.get().matcher.knowledge(), why, &[])
                        .ephemeral()
                }
                None => Reply::text("That entry no longer exists in this medic's knowledge.")
                    .ephemeral(),
            };
            respond(data, click, reply).await
        }
        Click::Helpful(entry_id) => {
            let known = data
                .services
                .get()
                .matcher
                .knowledge()
                .get(entry_id)
                .is_some();
            if known {
                data.services
                    .get()
                    .record_feedback(FeedbackKind::Helpful, Some(entry_id), None);
            }
            respond(
                data,
                click,
                Reply::text("Thanks — noted for the people who write medic's knowledge.")
                    .ephemeral(),
            )
            .await
        }
        Click::NotThis(entry_id) => {
            let services = data.services.get();
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
            respond(data, click, reply.ephemeral()).await
        }
        Click::Acknowledge(alert_id) => acknowledge(data, click, alert_id).await,
        Click::Rerun(alert_id) => rerun(data, click, alert_id).await,
        Click::CheckEndpoint(name) => check_endpoint(data, click, name).await,
    }
}

/// "Check NAME": the check `/check NAME` runs, role-gated the same way.
async fn check_endpoint(
    data: &Data,
    click: &ComponentInteraction,
    name: &str,
) -> Result<(), Error> {
    if !may_run_checks(data, click.member.as_ref()) {
        return ephemeral(data, click, REFUSED).await;
    }
    deferred_check(data, click, name, None).await
}

/// Answers a click with a new message (ephemeral when the reply says so).
pub async fn respond(data: &Data, click: &ComponentInteraction, reply: Reply) -> Result<(), Error> {
    callback(
        data,
        click,
        CreateInteractionResponse::Message(message(reply)),
    )
    .await
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

async fn ephemeral(data: &Data, click: &ComponentInteraction, text: &str) -> Result<(), Error> {
    respond(data, click, Reply::text(text).ephemeral()).await
}

/// The alert a button belongs to, or the answer saying why there is none.
async fn alert_of(
    data: &Data,
    click: &ComponentInteraction,
    alert_id: &str,
) -> Result<Option<(crate::alerts::Alert, Handle)>, Error> {
    let Some(alerts) = data.services.get().alerts.clone() else {
        ephemeral(data, click, NOT_RUNNING).await?;
        return Ok(None);
    };
    match alerts.alert(alert_id)? {
        Some(alert) => Ok(Some((alert, alerts))),
        None => {
            ephemeral(
                data,
                click,
                "medic no longer knows this alert (it is older than the retention period).",
            )
            .await?;
            Ok(None)
        }
    }
}

/// "Acknowledge" stops reminders; the alert then shows who and when. Anyone who sees the alert
/// may acknowledge it.
async fn acknowledge(
    data: &Data,
    click: &ComponentInteraction,
    alert_id: &str,
) -> Result<(), Error> {
    let Some((alert, alerts)) = alert_of(data, click, alert_id).await? else {
        return Ok(());
    };
    let who = click
        .member
        .as_ref()
        .map(|m| m.user.name.clone())
        .unwrap_or_else(|| click.user.name.clone());
    let incident = alert.since.unwrap_or(alert.at);
    match alerts.acknowledge(&alert.endpoint, incident, &who).await? {
        Ok(a) => {
            let update = message(render_alert::alert(&alert, Some(&a)));
            callback(data, click, CreateInteractionResponse::UpdateMessage(update)).await
        }
        Err(AckError::NoIncident) => {
            ephemeral(
                data,
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
                data,
                click,
                &format!(
                    "This alert's incident is over; **{}** has a newer one. Acknowledge its latest alert instead.",
                    alert.endpoint
                ),
            )
            .await
        }
        Err(AckError::AlreadyAcknowledged(a)) => {
            respond(data, click, render_alert::already_acknowledged(&a)).await
        }
    }
}

/// "Re-run check" (check roles only); the result also counts as a scheduled check.
async fn rerun(data: &Data, click: &ComponentInteraction, alert_id: &str) -> Result<(), Error> {
    let Some((alert, alerts)) = alert_of(data, click, alert_id).await? else {
        return Ok(());
    };
    if !may_run_checks(data, click.member.as_ref()) {
        return ephemeral(data, click, REFUSED).await;
    }
    deferred_check(data, click, &alert.endpoint, Some(&alerts)).await
}

/// Checks `name` in answer to a click (deferred: a check can take longer than the 3 s Discord
/// allows for the first response) and, with `record`, counts the result as a scheduled check.
async fn deferred_check(
    data: &Data,
    click: &ComponentInteraction,
    name: &str,
    record: Option<&Handle>,
) -> Result<(), Error> {
    let services = data.services.get();
    let Some(checker) = services.checker() else {
        return ephemeral(data, click, NOT_RUNNING).await;
    };
    let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
    callback(data, click, defer).await?;
    let started = SystemClock.now_ms();
    let outcome = check_cmd::run(Some(checker), &services.statuses, name).await;
    if let (check_cmd::Outcome::Report(report), Some(alerts)) = (&outcome, record) {
        let mut obs = observation(report);
        obs.at = started;
        alerts.observe(name, obs).await?;
    }
    let reply = render::check(&outcome, services.matcher.knowledge());
    data.delivery
        .edit_original(Interaction::from(click), &edit(reply))
        .await?;
    Ok(())
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
