//! The slash commands. Each parses its options, calls [`crate::commands`] and sends what
//! [`crate::render::discord`] renders; a command's doc comment is its description in Discord.
//! Autocomplete callbacks are declared here and run by [`autocomplete`].

use std::sync::atomic::AtomicBool;

use poise::serenity_prelude as serenity;

use super::answer::{defer, edit_original};
use super::delivery::Interaction;
use super::gate::{may_run_checks, REFUSED};
use super::{send, Context, Data, Error, NOT_RUNNING};
use crate::alerts::service::Handle;
use crate::alerts::{Clock, SystemClock};
use crate::commands::{
    check as check_cmd, diagnose as diagnose_cmd, endpoints as endpoints_cmd, help as help_cmd,
};
use crate::render::discord::alert as render_alert;
use crate::render::discord::{self as render, Reply};

/// Every slash command medic registers, in the order `/help` lists them. Add new commands here
/// (and to [`help_entries`]).
pub fn commands() -> Vec<poise::Command<Data, Error>> {
    vec![
        diagnose(),
        check(),
        endpoints(),
        silence(),
        unsilence(),
        help(),
    ]
}

/// The commands as `/help` describes them.
pub(crate) fn help_entries() -> Vec<help_cmd::CommandHelp> {
    vec![
        help_cmd::CommandHelp {
            usage: "/diagnose query:<error or symptom>",
            what: "the matching troubleshooting entry, step by step (suggestions appear as you type)",
        },
        help_cmd::CommandHelp {
            usage: "/check endpoint:<name>",
            what: "checks a configured endpoint stage by stage (DNS, TCP, TLS, HTTP, …) — check roles only",
        },
        help_cmd::CommandHelp {
            usage: "/endpoints",
            what: "configured endpoints and their last known status",
        },
        help_cmd::CommandHelp {
            usage: "/silence endpoint:<name> for:<duration> reason:<text>",
            what: "holds an endpoint's alerts for a while; it is still checked — check roles only",
        },
        help_cmd::CommandHelp {
            usage: "/unsilence endpoint:<name>",
            what: "lifts a silence: alerts resume — check roles only",
        },
        help_cmd::CommandHelp {
            usage: "/help",
            what: "this help",
        },
    ]
}

/// Diagnose an error message or symptom: the matching troubleshooting steps
#[poise::command(slash_command)]
pub(crate) async fn diagnose(
    ctx: Context<'_>,
    #[description = "The error message, HTTP status or symptom (or pick an entry)"]
    #[autocomplete = "autocomplete_entries"]
    #[max_length = 6000]
    query: String,
) -> Result<(), Error> {
    let services = ctx.data().services.get();
    let matcher = &services.matcher;
    let key = crate::commands::conversation::Key {
        place: ctx.channel_id().get(),
        user: ctx.author().id.get(),
    };
    let outcome = services
        .conversations
        .diagnose(matcher, key, std::time::Instant::now(), &query);
    record_unanswered(&services, &outcome, &query);
    send(ctx, render::outcome(&outcome, matcher.knowledge())).await?;
    Ok(())
}

/// A direct question (`/diagnose`, a mention, a DM) medic could not answer, for `kb gaps`.
pub(crate) fn record_unanswered(
    services: &crate::commands::Services,
    outcome: &diagnose_cmd::Outcome,
    query: &str,
) {
    if matches!(
        outcome,
        diagnose_cmd::Outcome::NoMatch(_) | diagnose_cmd::Outcome::Ask(_)
    ) {
        services.record_feedback(
            crate::store::model::FeedbackKind::Unanswered,
            None,
            Some(query),
        );
    }
}

async fn autocomplete_entries(
    ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    let mut response = serenity::CreateAutocompleteResponse::new();
    for s in diagnose_cmd::suggest(&ctx.data().services.get().matcher, partial) {
        response = response.add_string_choice(s.label, s.id);
    }
    response
}

/// Check a configured endpoint stage by stage (DNS, TCP, TLS, HTTP, credentials, rate limit)
#[poise::command(slash_command)]
pub(crate) async fn check(
    ctx: Context<'_>,
    #[description = "A configured endpoint"]
    #[autocomplete = "autocomplete_endpoints"]
    #[max_length = 100]
    endpoint: String,
) -> Result<(), Error> {
    let data = ctx.data();
    let poise::Context::Application(app) = ctx else {
        return Ok(());
    };
    if !may_run_checks(data, app.interaction.member.as_deref()) {
        let text = "Only members with one of medic's check roles (or Manage Server) may run checks. Ask an admin, or use `/endpoints` for the last known status.";
        send(ctx, Reply::text(text).ephemeral()).await?;
        return Ok(());
    }
    let services = data.services.get();
    let kb = services.matcher.knowledge();
    // Cleaned once, so deciding whether to defer and running the check see the same name.
    let name = crate::commands::clean_input(&endpoint);
    let known = services
        .checker()
        .is_some_and(|c| c.config().endpoint(&name).is_some());
    if !known {
        // Unknown name or no endpoints: answered at once, only to the asker.
        let outcome = check_cmd::run(services.checker(), &services.statuses, &name).await;
        send(ctx, render::check(&outcome, kb)).await?;
        return Ok(());
    }
    // A check can take longer than the 3 s Discord allows for the first response.
    defer(ctx).await?;
    let outcome = check_cmd::run(services.checker(), &services.statuses, &name).await;
    edit_original(ctx, render::check(&outcome, kb)).await
}

/// Answers an autocomplete interaction: runs the focused option's declared callback (as poise
/// would) and sends the choices through [`super::delivery`] (which poise would not).
pub(super) async fn autocomplete(
    framework: &poise::Framework<Data, Error>,
    ctx: &serenity::Context,
    interaction: &serenity::CommandInteraction,
) {
    let data = framework.user_data().await;
    let options = framework.options();
    let Some(command) = options
        .commands
        .iter()
        .find(|c| c.name == interaction.data.name)
    else {
        return;
    };
    let Some(focused) = interaction.data.autocomplete() else {
        return;
    };
    let Some(callback) = command
        .parameters
        .iter()
        .find(|p| p.name == focused.name)
        .and_then(|p| p.autocomplete_callback)
    else {
        return;
    };
    let args = interaction.data.options();
    let answered = AtomicBool::new(false);
    let invocation = tokio::sync::Mutex::new(Box::new(()) as Box<dyn std::any::Any + Send + Sync>);
    let tree = [command];
    let app = poise::ApplicationContext {
        interaction,
        interaction_type: poise::CommandInteractionType::Autocomplete,
        args: &args,
        has_sent_initial_response: &answered,
        framework: poise::FrameworkContext {
            serenity_context: ctx,
            options,
            user_data: data,
            shard_manager: framework.shard_manager(),
        },
        command_tree: &tree,
        invocation_data: &invocation,
        __non_exhaustive: (),
    };
    let choices = callback(app, focused.value).await;
    let response = serenity::CreateInteractionResponse::Autocomplete(choices);
    if let Err(e) = data
        .delivery
        .callback(Interaction::from(interaction), &response)
        .await
    {
        tracing::warn!(command = %command.name, "autocomplete choices not delivered: {e}");
    }
}

/// Configured endpoint names matching what the user typed (also used by `/silence`).
pub(crate) async fn autocomplete_endpoints(
    ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    let mut response = serenity::CreateAutocompleteResponse::new();
    for name in check_cmd::suggest(ctx.data().services.get().checker(), partial) {
        response = response.add_string_choice(name.clone(), name);
    }
    response
}

/// Configured endpoints and their last known status
#[poise::command(slash_command)]
pub(crate) async fn endpoints(ctx: Context<'_>) -> Result<(), Error> {
    let services = ctx.data().services.get();
    if let Some(alerts) = &services.alerts {
        // Scheduled checks running: state, uptime and latency from their history.
        let statuses = alerts.status().await?;
        let problem = alerts.delivery_problem();
        let problem = problem.as_ref().map(|(at, why)| (*at, why.as_str()));
        send(
            ctx,
            render_alert::endpoints(&statuses, SystemClock.now_ms(), problem),
        )
        .await?;
        return Ok(());
    }
    let lines = endpoints_cmd::run(services.checker(), &services.statuses);
    send(ctx, render::endpoints(&lines)).await?;
    Ok(())
}

/// What medic does and how to ask it
#[poise::command(slash_command)]
pub(crate) async fn help(ctx: Context<'_>) -> Result<(), Error> {
    let help = help_cmd::run(
        ctx.data().services.get().matcher.knowledge().len(),
        help_entries(),
    );
    send(ctx, render::help(&help)).await?;
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
async fn managed_alerts(ctx: Context<'_>) -> Result<Option<Handle>, Error> {
    let data = ctx.data();
    let Some(alerts) = data.services.get().alerts.clone() else {
        send(ctx, Reply::text(NOT_RUNNING).ephemeral()).await?;
        return Ok(None);
    };
    if !may_run_checks(data, member(&ctx)) {
        send(ctx, Reply::text(REFUSED).ephemeral()).await?;
        return Ok(None);
    }
    Ok(Some(alerts))
}

/// Hold an endpoint's alerts for a while (it is still checked) — check roles only
#[poise::command(slash_command)]
pub(crate) async fn silence(
    ctx: Context<'_>,
    #[description = "A configured endpoint"]
    #[autocomplete = "autocomplete_endpoints"]
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
        Ok(d) if !d.is_zero() && d <= std::time::Duration::from_secs(90 * 24 * 3600) => d,
        _ => {
            let text = format!(
                "`for` must be a duration from 1s to 90d, like 30m, 2h or 1d, not {duration:?}."
            );
            send(ctx, Reply::text(text).ephemeral()).await?;
            return Ok(());
        }
    };
    let reason = crate::text::truncate_chars(&crate::commands::clean_input(&reason), 300);
    let endpoint = crate::commands::clean_input(&endpoint);
    match alerts
        .silence(&endpoint, &ctx.author().name, &reason, duration)
        .await
    {
        Ok(s) => send(ctx, render_alert::silenced(&s)).await?,
        Err(crate::Error::Usage(m)) => send(ctx, Reply::text(m).ephemeral()).await?,
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Lift an endpoint's silence: its alerts resume — check roles only
#[poise::command(slash_command)]
pub(crate) async fn unsilence(
    ctx: Context<'_>,
    #[description = "A silenced endpoint"]
    #[autocomplete = "autocomplete_endpoints"]
    #[max_length = 100]
    endpoint: String,
) -> Result<(), Error> {
    let Some(alerts) = managed_alerts(ctx).await? else {
        return Ok(());
    };
    let endpoint = crate::commands::clean_input(&endpoint);
    let reply = match alerts.unsilence(&endpoint).await? {
        Some(s) => render_alert::unsilenced(&s, &ctx.author().name),
        None => Reply::text(format!("**{endpoint}** is not silenced.")).ephemeral(),
    };
    send(ctx, reply).await?;
    Ok(())
}
