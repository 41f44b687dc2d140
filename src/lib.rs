//! ugyelet
pub mod config;
pub mod dialplan;
