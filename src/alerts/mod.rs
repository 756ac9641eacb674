//! Scheduled checks and alerts: when to tell people that an endpoint is down, and when not to.
//!
//! This module owns the decision, not the transport: [`engine::Engine`] is a pure state machine
//! (check observations and the current time in, [`Alert`]s out, no I/O), [`scheduler`] runs the
//! checks on their intervals, [`monitor`] glues engine, [`crate::store`] and the outbox together
//! so that state and alerts are committed in one transaction, and [`delivery`] drains the outbox
//! into a [`delivery::Sink`] that a surface provides. Nothing here knows a surface: no
//! rendering, no Discord, no terminal.

pub mod delivery;
pub mod engine;
pub mod monitor;
pub mod owned;
pub mod probe;
pub mod requests;
pub mod scheduler;
pub mod service;

pub use crate::clock::{Clock, ManualClock, Millis, SystemClock, TokioClock};
pub use crate::store::model::{
    Ack, Alert, AlertKind, Cause, Change, EndpointState, Facts, GoodCheck, Incident, Observation,
    Silence, Warning,
};
pub use engine::Engine;

/// When an endpoint's results turn into alerts: the `[alerts]` policy of medic.toml, with an
/// endpoint's overrides applied (its `retention` is the global one; only the store uses it).
pub use crate::config::AlertPolicy as Policy;
