//! Renderers: the only code that turns result data into text, one module per surface.

pub mod json;
pub mod terminal;
