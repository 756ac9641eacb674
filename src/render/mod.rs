//! Renderers: the only code that turns result data into text, one module per surface.

pub mod alert;
pub mod check;
pub mod discord;
pub mod json;
pub mod terminal;
