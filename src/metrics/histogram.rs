//! Prometheus histograms on plain atomics.
//!
//! A histogram is a fixed list of upper bounds (seconds, as Prometheus wants them) and one
//! counter per bucket, made once at start. Observing is a linear scan of at most a few
//! dozen bounds and two relaxed `fetch_add`s: no lock and no allocation, so the media
//! receiver thread can observe every relayed packet it samples. The exposition (the text
//! format's `_bucket`, `_sum`, `_count`) is cumulative, as the format requires; the counters
//! themselves are per bucket, so one observation touches one of them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Queue wait (caller enters a queue → an operator answers or the caller leaves), seconds.
/// Callers are told their place every 45 s by default and give up after minutes; the
/// buckets follow what a supervisor asks ("answered within 20 s?", "within a minute?").
pub const QUEUE_WAIT_BOUNDS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0,
];

/// Call set-up (INVITE received → 200 OK sent), seconds. The line rings on purpose for
/// `call.answer_delay_ms` (500 ms by default) before it answers, so the buckets are dense
/// around half a second: a set-up well above the configured delay means a busy SIP task.
pub const SETUP_BOUNDS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 0.55, 0.6, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
];

/// Relay delay (a packet reaching one leg's socket → its copy sent on the other leg),
/// seconds. A bridge is healthy below a millisecond; a 20 ms packet interval or more is
/// audible jitter.
pub const RELAY_BOUNDS: &[f64] = &[
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
];

/// One histogram: bounds fixed at construction.
pub struct Histogram {
    /// Upper bounds in seconds, ascending (for the `le` labels).
    bounds: &'static [f64],
    /// The same in nanoseconds (for observing without floating point).
    bounds_ns: Box<[u64]>,
    /// Observations per bucket; the last one is above every bound (`+Inf`).
    buckets: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

impl Histogram {
    /// A histogram with these upper bounds (seconds, ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            // Saturating float-to-int casts; the bounds are constants above.
            bounds_ns: bounds.iter().map(|b| (b * 1e9) as u64).collect(),
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Counts one observation.
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = self
            .bounds_ns
            .iter()
            .position(|b| ns <= *b)
            .unwrap_or(self.bounds_ns.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// The samples of this histogram in the text format, under `name` with `labels`
    /// (`end="answered"`, or empty); the `# HELP`/`# TYPE` lines are the caller's, once
    /// per metric name.
    pub fn render_samples(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (bound, bucket) in self.bounds.iter().zip(self.buckets.iter()) {
            cumulative += bucket.load(Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        if let Some(last) = self.buckets.last() {
            cumulative += last.load(Relaxed);
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
        );
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        // Nanoseconds to seconds: f64 holds any sum below 104 days exactly to the
        // nanosecond, and a sum is a rate's numerator, not a clock.
        let sum = self.sum_ns.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {cumulative}", braces(labels));
    }
}

/// `# HELP` and `# TYPE` lines of a histogram.
pub fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets_with_sum_and_count() {
        let h = Histogram::new(&[0.5, 1.0]);
        h.observe(Duration::from_millis(500));
        h.observe(Duration::from_millis(700));
        h.observe(Duration::from_secs(3));
        let mut out = String::new();
        h.render_samples(&mut out, "x_seconds", "");
        assert_eq!(
            out,
            "x_seconds_bucket{le=\"0.5\"} 1\n\
             x_seconds_bucket{le=\"1\"} 2\n\
             x_seconds_bucket{le=\"+Inf\"} 3\n\
             x_seconds_sum 4.2\n\
             x_seconds_count 3\n"
        );
        assert_eq!(h.count(), 3);
    }

    #[test]
    fn labelled_samples_put_le_after_the_labels() {
        let h = Histogram::new(&[0.000_025]);
        h.observe(Duration::from_micros(10));
        let mut out = String::new();
        h.render_samples(&mut out, "y", "end=\"answered\"");
        assert!(
            out.starts_with("y_bucket{end=\"answered\",le=\"0.000025\"} 1\n"),
            "{out}"
        );
        assert!(out.ends_with("y_count{end=\"answered\"} 1\n"), "{out}");
    }

    #[test]
    fn the_shipped_bounds_ascend() {
        for b in [QUEUE_WAIT_BOUNDS, SETUP_BOUNDS, RELAY_BOUNDS] {
            assert!(b.windows(2).all(|w| w[0] < w[1]), "{b:?}");
        }
    }
}
