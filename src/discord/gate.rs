//! Who may do what: the one rule for running checks and managing alerts (`/check`, `/silence`,
//! `/unsilence`, the "Re-run check" button).

use poise::serenity_prelude as serenity;
use serenity::Permissions;

use super::Data;

/// What a member is told when the rule says no.
pub(crate) const REFUSED: &str =
    "Only members with one of medic's check roles (or Manage Server) may do this.";

/// Whether a member may run checks and manage alerts: one of the check roles, or Manage Server /
/// Administrator. With no check roles configured only managers may; outside a server (no
/// member) nobody may.
pub(crate) fn may_run_checks(data: &Data, member: Option<&serenity::Member>) -> bool {
    may_run_checks_with(&data.check_roles, member)
}

/// [`may_run_checks`] for a surface without [`Data`] (the HTTP interactions endpoint).
pub(crate) fn may_run_checks_with(
    check_roles: &std::collections::HashSet<serenity::RoleId>,
    member: Option<&serenity::Member>,
) -> bool {
    let Some(member) = member else { return false };
    let manager = member.permissions.is_some_and(|p| {
        p.contains(Permissions::MANAGE_GUILD) || p.contains(Permissions::ADMINISTRATOR)
    });
    manager || member.roles.iter().any(|r| check_roles.contains(r))
}
