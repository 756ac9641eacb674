//! Renderers: the only code that turns result data into text, one module per surface
//! ([`terminal`], [`discord`], [`json`]); [`text`] holds the wording they share.

pub mod discord;
pub mod json;
pub mod terminal;
pub mod text;
