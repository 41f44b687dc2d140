//! Media: voice prompts decoded once and shared, the per-call prompt player, and the
//! Hungarian number composer.
pub mod bridge;
pub mod player;
pub mod prompts;
pub mod say;
