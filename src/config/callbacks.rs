//! `[callbacks]`: residents the line calls back through the trunk.

use std::time::Duration;

use serde::Deserialize;

use crate::callback::{Priority, Settings};

/// `[callbacks]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbacksConfig {
    /// Call residents back (needs `[trunk]`). When false, or without a trunk, requests are
    /// still kept and listed (`GET /api/callbacks`), and operators call back by hand.
    pub enabled: bool,
    /// Besides explicit requests (the plan's `callback` node, the console), calls that
    /// ended unanswered in the queue (hung up while waiting, nobody logged in, left with a
    /// key) and voice messages without words become jobs too.
    pub automatic: bool,
    /// Attempts at the resident's phone before a job is given up.
    pub attempts: u32,
    /// Wait after an unanswered, busy or failed attempt before the next one.
    pub retry_interval_s: u64,
    /// How callbacks rank among callers waiting for an operator.
    pub priority: Priority,
    /// How long the resident's phone rings before the attempt counts as unanswered.
    pub ring_timeout_s: u64,
    /// The operator queue whose operators make the callbacks (one of `dialplan.queues`).
    pub queue: String,
    /// A schedule of the calendar (`calendar/schedules.toml`): callbacks are made only
    /// while it is open (empty: whenever an operator is free).
    pub schedule: String,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        CallbacksConfig {
            enabled: true,
            automatic: true,
            attempts: 3,
            retry_interval_s: 600,
            priority: Priority::CallersFirst,
            ring_timeout_s: 30,
            queue: "operators".to_owned(),
            schedule: "staffed".to_owned(),
        }
    }
}

impl CallbacksConfig {
    /// The job core's settings.
    pub fn settings(&self) -> Settings {
        Settings {
            attempts: self.attempts,
            retry_interval: Duration::from_secs(self.retry_interval_s),
        }
    }

    /// Every problem of the section; `queues` are the configured operator queues.
    pub fn validate(&self, queues: &[String], p: &mut Vec<String>) {
        if !(1..=10).contains(&self.attempts) {
            p.push(format!(
                "callbacks.attempts: expected 1 to 10, found {}",
                self.attempts
            ));
        }
        if !(10..=86_400).contains(&self.retry_interval_s) {
            p.push(format!(
                "callbacks.retry_interval_s: expected 10 to 86400 seconds, found {}",
                self.retry_interval_s
            ));
        }
        if !(5..=300).contains(&self.ring_timeout_s) {
            p.push(format!(
                "callbacks.ring_timeout_s: expected 5 to 300 seconds, found {}",
                self.ring_timeout_s
            ));
        }
        if !queues.contains(&self.queue) {
            p.push(format!(
                "callbacks.queue: expected one of dialplan.queues ({}), found \"{}\"",
                queues.join(", "),
                self.queue
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_and_an_unknown_queue_are_each_named() {
        let mut p = Vec::new();
        CallbacksConfig::default().validate(&["operators".to_owned()], &mut p);
        assert!(p.is_empty(), "{p:?}");
        let bad = CallbacksConfig {
            attempts: 0,
            retry_interval_s: 5,
            ring_timeout_s: 1000,
            queue: "ugyintezok".to_owned(),
            ..CallbacksConfig::default()
        };
        bad.validate(&["operators".to_owned()], &mut p);
        assert_eq!(
            p,
            [
                "callbacks.attempts: expected 1 to 10, found 0",
                "callbacks.retry_interval_s: expected 10 to 86400 seconds, found 5",
                "callbacks.ring_timeout_s: expected 5 to 300 seconds, found 1000",
                "callbacks.queue: expected one of dialplan.queues (operators), found \"ugyintezok\"",
            ]
        );
    }
}
