//! Counters for `/metrics` (Prometheus text format, version 0.0.4).
//!
//! Plain atomics that the SIP task and the call tasks bump and the admin API reads; the
//! endpoint's own counters are copied in by the SIP task (it owns the endpoint). Nothing
//! here allocates on the packet path: calls add their media counts once, when they end,
//! and publish running totals at most once a second.
//!
//! Besides counters: three latency histograms ([`timing`]: queue wait, call set-up, relay
//! delay) on atomic buckets ([`histogram`]), and the HTTP listeners' refusals by reason
//! ([`http`]). `packaging/grafana/ugyelet.json` is a dashboard over these names; a test
//! checks every name it queries against a real scrape.

pub mod histogram;
pub mod http;
pub mod timing;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::outcome::Outcome;
use crate::sip::endpoint::{REFUSED_STATUSES, STATS_METHODS, Stats};

/// The daemon's counters.
#[derive(Default)]
pub struct Metrics {
    pub calls_active: AtomicI64,
    /// Residents' calls by outcome, in the order of [`Outcome::ALL`] (the call records'
    /// words, so a graph and a CSV count the same calls).
    calls_by_outcome: [AtomicU64; Outcome::ALL.len()],
    /// Operators' feature-code calls (`*21`–`*24`), not residents'.
    operator_calls: AtomicU64,
    /// Residents' ratings of the help (a `survey` node), by rating 1–5.
    ratings: [AtomicU64; 5],
    /// New calls the call layer refused (an SDP it cannot answer, a feature code refused,
    /// no RTP port), by status, in the order of [`CALL_REFUSALS`].
    calls_refused: [AtomicU64; CALL_REFUSALS.len()],
    pub rtp_sent: AtomicU64,
    pub rtp_relayed: AtomicU64,
    pub rtp_received: AtomicU64,
    pub rtp_lost: AtomicU64,
    /// Frames the pacer had to skip because the task woke too late.
    pub rtp_late: AtomicU64,
    pub reloads_ok: AtomicU64,
    pub reloads_refused: AtomicU64,
    pub plan_version: AtomicU64,
    pub draining: AtomicU64,
    /// SIP messages dropped by the per-source rate limit.
    pub rate_limited: AtomicU64,
    /// Sources blocked for flooding.
    pub sources_blocked: AtomicU64,
    /// The SIP socket's receive buffer as the kernel reports it (twice what it granted).
    pub sip_udp_receive_buffer: AtomicU64,
    /// Datagrams the kernel dropped at the SIP socket because its receive buffer was full.
    pub sip_udp_dropped: AtomicU64,
    /// The longest any datagram waited in the SIP socket, in microseconds.
    pub sip_udp_wait_max_us: AtomicU64,
    /// 1 while new calls are refused because the SIP task is behind its socket.
    pub sip_overloaded: AtomicU64,
    /// Times the SIP task fell behind its socket (episodes, see `sip::overload`).
    pub sip_overload_episodes: AtomicU64,
    sip: Mutex<Stats>,
    /// Refusals of both HTTP listeners; shared with them, which start before this value
    /// is placed in the daemon's shared state.
    pub http: Arc<http::HttpRefusals>,
    /// Queue wait, set-up and relay delay histograms.
    pub timings: timing::Timings,
}

pub use crate::media::MediaCounts;

/// The statuses of [`Metrics::call_refused`]; 0 stands for any other.
pub const CALL_REFUSALS: [u16; 7] = [400, 403, 404, 415, 488, 503, 0];

/// Operators by state and waiting callers, from the operator board's JSON (as
/// `GET /api/operators` shows it), in Prometheus text format.
pub fn render_operators(view: &serde_json::Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let empty = Vec::new();
    let ops = view["operators"].as_array().unwrap_or(&empty);
    let waiting = view["waiting"].as_array().unwrap_or(&empty);
    out.push_str("# HELP ugyelet_operators Operators by state and location.\n");
    out.push_str("# TYPE ugyelet_operators gauge\n");
    for state in [
        "offline",
        "available",
        "ringing",
        "on_call",
        "wrap_up",
        "paused",
    ] {
        for location in ["on_site", "remote"] {
            let n = ops
                .iter()
                .filter(|o| o["state"] == state && o["location"] == location)
                .count();
            let _ = writeln!(
                out,
                "ugyelet_operators{{state=\"{state}\",location=\"{location}\"}} {n}"
            );
        }
    }
    out.push_str("# HELP ugyelet_queue_waiting Callers waiting for an operator.\n");
    out.push_str("# TYPE ugyelet_queue_waiting gauge\n");
    let _ = writeln!(out, "ugyelet_queue_waiting {}", waiting.len());
    out.push_str("# HELP ugyelet_queue_longest_wait_seconds Longest wait among waiting callers.\n");
    out.push_str("# TYPE ugyelet_queue_longest_wait_seconds gauge\n");
    let longest = waiting
        .iter()
        .filter_map(|w| w["waited_s"].as_u64())
        .max()
        .unwrap_or(0);
    let _ = writeln!(out, "ugyelet_queue_longest_wait_seconds {longest}");
    out.push_str(
        "# HELP ugyelet_register_responses_total REGISTER requests answered, by the status sent.\n",
    );
    out.push_str("# TYPE ugyelet_register_responses_total counter\n");
    if let Some(by_status) = view["register_responses"].as_object() {
        for (status, n) in by_status {
            let _ = writeln!(
                out,
                "ugyelet_register_responses_total{{status=\"{status}\"}} {}",
                n.as_u64().unwrap_or(0)
            );
        }
    }
    out
}

/// The trunk registration (as `/api/status` shows it under `trunk`), in Prometheus text
/// format; nothing when no trunk is configured.
pub fn render_trunk(view: &serde_json::Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let Some(state) = view["state"].as_str() else {
        return out;
    };
    out.push_str(
        "# HELP ugyelet_trunk_registered Whether the trunk registration is in force (1), \
         or the trunk needs none (IP authentication, also 1).\n\
         # TYPE ugyelet_trunk_registered gauge\n",
    );
    let up = u8::from(matches!(state, "registered" | "ip_auth"));
    let _ = writeln!(out, "ugyelet_trunk_registered {up}");
    for (key, name, help) in [
        (
            "register_sent",
            "ugyelet_trunk_register_requests_total",
            "REGISTER requests sent to the trunk provider.",
        ),
        (
            "failures",
            "ugyelet_trunk_register_failures_total",
            "Trunk registrations that failed (refused, unanswered, provider not found).",
        ),
    ] {
        let n = view[key].as_u64().unwrap_or(0);
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {n}"
        );
    }
    out
}

/// Outbox messages per channel and state, in Prometheus text format. Every channel and
/// state is shown, zeros included, so a graph of the backlog has its series from the start.
pub fn render_outbox(counts: &[(String, String, u64)]) -> String {
    use crate::notify::outbox::State;
    use std::fmt::Write as _;
    let mut all: std::collections::BTreeMap<(String, String), u64> = ["email", "sms"]
        .iter()
        .flat_map(|c| {
            [
                State::Queued,
                State::Sending,
                State::Sent,
                State::Delivered,
                State::Failed,
            ]
            .map(|st| (((*c).to_owned(), st.as_str().to_owned()), 0))
        })
        .collect();
    for (channel, state, n) in counts {
        all.insert((channel.clone(), state.clone()), *n);
    }
    let mut out = String::new();
    out.push_str("# HELP ugyelet_outbox_messages SMS and email messages by channel and state.\n");
    out.push_str("# TYPE ugyelet_outbox_messages gauge\n");
    for ((channel, state), n) in &all {
        let _ = writeln!(
            out,
            "ugyelet_outbox_messages{{channel=\"{channel}\",state=\"{state}\"}} {n}"
        );
    }
    out
}

impl Metrics {
    /// An operator's feature-code call (`*21`–`*24`) ended: counted apart from residents'
    /// calls; its media still counts.
    pub fn operator_call_ended(&self, media: MediaCounts) {
        self.operator_calls.fetch_add(1, Relaxed);
        self.count_media(media);
    }

    /// A resident's call ended with `outcome` (the one its record has).
    pub fn call_ended(&self, outcome: Outcome, media: MediaCounts) {
        if let Some(i) = Outcome::ALL.iter().position(|o| *o == outcome) {
            self.calls_by_outcome[i].fetch_add(1, Relaxed);
        }
        self.count_media(media);
    }

    /// A resident rated the help `rating` (1–5) in a survey after the operator hung up.
    pub fn rated(&self, rating: u8) {
        if let Some(c) = usize::from(rating)
            .checked_sub(1)
            .and_then(|i| self.ratings.get(i))
        {
            c.fetch_add(1, Relaxed);
        }
    }

    /// A new call was refused with `status` before it was answered.
    pub fn call_refused(&self, status: u16) {
        let i = CALL_REFUSALS
            .iter()
            .position(|s| *s == status)
            .unwrap_or(CALL_REFUSALS.len() - 1);
        self.calls_refused[i].fetch_add(1, Relaxed);
    }

    fn count_media(&self, media: MediaCounts) {
        self.rtp_sent.fetch_add(media.sent, Relaxed);
        self.rtp_relayed.fetch_add(media.relayed, Relaxed);
        self.rtp_received.fetch_add(media.received, Relaxed);
        self.rtp_lost.fetch_add(media.lost, Relaxed);
        self.rtp_late.fetch_add(media.late, Relaxed);
    }

    /// The SIP task publishes the endpoint's counters.
    pub fn set_sip(&self, stats: Stats) {
        match self.sip.lock() {
            Ok(mut g) => *g = stats,
            Err(p) => *p.into_inner() = stats,
        }
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let sip = match self.sip.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        };
        let mut out = String::with_capacity(4096);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let one = |v: String| vec![(String::new(), v)];
        metric(
            "ugyelet_calls_active",
            "gauge",
            "Calls in progress.",
            &one(self.calls_active.load(Relaxed).to_string()),
        );
        let by_outcome: Vec<(String, String)> = Outcome::ALL
            .iter()
            .zip(&self.calls_by_outcome)
            .map(|(o, c)| {
                (
                    format!("{{outcome=\"{}\"}}", o.as_str()),
                    c.load(Relaxed).to_string(),
                )
            })
            .collect();
        metric(
            "ugyelet_operator_feature_calls_total",
            "counter",
            "Operators' feature-code calls (*21-*24); not in ugyelet_calls_total.",
            &one(self.operator_calls.load(Relaxed).to_string()),
        );
        metric(
            "ugyelet_calls_total",
            "counter",
            "Calls ended, by outcome.",
            &by_outcome,
        );
        let ratings: Vec<(String, String)> = (1..=5)
            .zip(&self.ratings)
            .map(|(r, c)| (format!("{{rating=\"{r}\"}}"), c.load(Relaxed).to_string()))
            .collect();
        metric(
            "ugyelet_survey_ratings_total",
            "counter",
            "Residents' ratings of the help (1 poor - 5 excellent), from the survey after the \
             operator hung up.",
            &ratings,
        );
        let refused_calls: Vec<(String, String)> = CALL_REFUSALS
            .iter()
            .zip(&self.calls_refused)
            .map(|(s, c)| {
                let status = if *s == 0 {
                    "other".to_owned()
                } else {
                    s.to_string()
                };
                (
                    format!("{{status=\"{status}\"}}"),
                    c.load(Relaxed).to_string(),
                )
            })
            .collect();
        metric(
            "ugyelet_calls_refused_total",
            "counter",
            "New calls refused before the answer (unusable SDP, feature code refused, no \
             RTP port), by status.",
            &refused_calls,
        );
        metric(
            "ugyelet_calls_refused_draining_total",
            "counter",
            "New calls refused with 503 while draining for shutdown.",
            &one(sip.refused_draining.to_string()),
        );
        metric(
            "ugyelet_calls_refused_overload_total",
            "counter",
            "New calls refused with 503 and Retry-After because the SIP task was behind its socket.",
            &one(sip.refused_overload.to_string()),
        );
        let by_method: Vec<(String, String)> = STATS_METHODS
            .iter()
            .zip(sip.requests_by_method)
            .map(|(m, c)| (format!("{{method=\"{m}\"}}"), c.to_string()))
            .collect();
        metric(
            "ugyelet_sip_requests_total",
            "counter",
            "SIP requests received, by method.",
            &by_method,
        );
        let by_class: Vec<(String, String)> = sip
            .responses_by_class
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("{{class=\"{}xx\"}}", i + 1), c.to_string()))
            .collect();
        metric(
            "ugyelet_sip_responses_total",
            "counter",
            "SIP responses received, by class.",
            &by_class,
        );
        metric(
            "ugyelet_sip_malformed_total",
            "counter",
            "Malformed SIP messages: answered with a stateless 400/505, or dropped.",
            &[
                (
                    "{action=\"answered\"}".to_owned(),
                    sip.malformed_answered.to_string(),
                ),
                (
                    "{action=\"dropped\"}".to_owned(),
                    sip.malformed_dropped.to_string(),
                ),
            ],
        );
        let refused: Vec<(String, String)> = REFUSED_STATUSES
            .iter()
            .zip(sip.refused_by_status)
            .map(|(s, c)| (format!("{{status=\"{s}\"}}"), c.to_string()))
            .collect();
        metric(
            "ugyelet_sip_refused_total",
            "counter",
            "SIP requests the daemon refused by itself (malformed, or failing RFC 3261 §8.2 \
             checks), by the status sent.",
            &refused,
        );
        let events: Vec<(String, String)> = crate::pii::security_counts()
            .iter()
            .map(|(e, c)| (format!("{{event=\"{}\"}}", e.word()), c.to_string()))
            .collect();
        metric(
            "ugyelet_security_events_total",
            "counter",
            "Security log lines (ugyelet::security, what a fail2ban jail reads), by event.",
            &events,
        );
        metric(
            "ugyelet_sip_rate_limited_total",
            "counter",
            "SIP messages dropped because their source exceeded its rate.",
            &one(self.rate_limited.load(Relaxed).to_string()),
        );
        metric(
            "ugyelet_sip_sources_blocked_total",
            "counter",
            "Sources blocked for a while for flooding.",
            &one(self.sources_blocked.load(Relaxed).to_string()),
        );
        metric(
            "ugyelet_sip_overloaded",
            "gauge",
            "1 while new calls are refused because the SIP task is behind its socket.",
            &one(self.sip_overloaded.load(Relaxed).to_string()),
        );
        metric(
            "ugyelet_sip_overload_episodes_total",
            "counter",
            "Times the SIP task fell behind its socket (logged once each, start and end).",
            &one(self.sip_overload_episodes.load(Relaxed).to_string()),
        );
        metric(
            "ugyelet_sip_udp_receive_buffer_bytes",
            "gauge",
            "Receive buffer of the SIP/UDP socket as the kernel reports it (twice what it granted).",
            &one(self.sip_udp_receive_buffer.load(Relaxed).to_string()),
        );
        metric(
            "ugyelet_sip_udp_dropped_total",
            "counter",
            "Datagrams the kernel dropped at the SIP/UDP socket because its receive buffer was full.",
            &one(self.sip_udp_dropped.load(Relaxed).to_string()),
        );
        metric(
            "ugyelet_sip_udp_wait_max_seconds",
            "gauge",
            "The longest any datagram waited in the SIP/UDP socket before it was handled.",
            &one(format!(
                "{:.6}",
                self.sip_udp_wait_max_us.load(Relaxed) as f64 / 1e6
            )),
        );
        metric(
            "ugyelet_sip_retransmissions_absorbed_total",
            "counter",
            "Retransmitted requests answered from their transaction.",
            &one(sip.retransmissions_absorbed.to_string()),
        );
        metric(
            "ugyelet_rtp_packets_total",
            "counter",
            "RTP packets of ended calls, by direction (relayed: between caller and operator).",
            &[
                (
                    "{direction=\"sent\"}".to_owned(),
                    self.rtp_sent.load(Relaxed).to_string(),
                ),
                (
                    "{direction=\"relayed\"}".to_owned(),
                    self.rtp_relayed.load(Relaxed).to_string(),
                ),
                (
                    "{direction=\"received\"}".to_owned(),
                    self.rtp_received.load(Relaxed).to_string(),
                ),
            ],
        );
        metric(
            "ugyelet_rtp_packets_lost_total",
            "counter",
            "RTP packets the callers sent that never arrived.",
            &one(self.rtp_lost.load(Relaxed).to_string()),
        );
        metric(
            "ugyelet_rtp_frames_late_total",
            "counter",
            "20 ms frames skipped because the media clock woke too late.",
            &one(self.rtp_late.load(Relaxed).to_string()),
        );
        metric(
            "ugyelet_dialplan_reloads_total",
            "counter",
            "Dial-plan reloads, by result.",
            &[
                (
                    "{result=\"ok\"}".to_owned(),
                    self.reloads_ok.load(Relaxed).to_string(),
                ),
                (
                    "{result=\"refused\"}".to_owned(),
                    self.reloads_refused.load(Relaxed).to_string(),
                ),
            ],
        );
        metric(
            "ugyelet_dialplan_version",
            "gauge",
            "Version of the dial plan serving new calls.",
            &one(self.plan_version.load(Relaxed).to_string()),
        );
        metric(
            "ugyelet_draining",
            "gauge",
            "1 while the daemon refuses new calls before shutting down.",
            &one(self.draining.load(Relaxed).to_string()),
        );
        self.timings.render(&mut out);
        self.http.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_board_becomes_gauges_by_state_and_location() {
        let view = serde_json::json!({
            "operators": [
                {"name": "anna", "state": "available", "location": "on_site"},
                {"name": "bela", "state": "on_call", "location": "remote"},
                {"name": "cili", "state": "available", "location": "on_site"},
            ],
            "waiting": [{"call": 7, "waited_s": 40}, {"call": 9, "waited_s": 12}],
        });
        let text = render_operators(&view);
        assert!(text.contains("ugyelet_operators{state=\"available\",location=\"on_site\"} 2\n"));
        assert!(text.contains("ugyelet_operators{state=\"on_call\",location=\"remote\"} 1\n"));
        assert!(text.contains("ugyelet_operators{state=\"paused\",location=\"remote\"} 0\n"));
        assert!(text.contains("ugyelet_queue_waiting 2\n"));
        assert!(text.contains("ugyelet_queue_longest_wait_seconds 40\n"));
        let outbox = render_outbox(&[("sms".into(), "failed".into(), 3)]);
        assert!(outbox.contains("ugyelet_outbox_messages{channel=\"sms\",state=\"failed\"} 3\n"));
    }

    #[test]
    fn exposition_has_help_type_and_labelled_samples() {
        let m = Metrics::default();
        m.calls_active.store(2, Relaxed);
        m.call_ended(
            Outcome::Cancelled,
            MediaCounts {
                sent: 50,
                relayed: 7,
                received: 40,
                lost: 1,
                late: 0,
            },
        );
        let mut s = Stats::default();
        s.requests_by_method[0] = 3;
        s.responses_by_class[1] = 4;
        s.refused_by_status[4] = 2;
        m.set_sip(s);
        let text = m.render();
        assert!(
            text.contains("# TYPE ugyelet_calls_active gauge\nugyelet_calls_active 2\n"),
            "{text}"
        );
        assert!(
            text.contains("ugyelet_calls_total{outcome=\"cancelled\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("ugyelet_sip_requests_total{method=\"INVITE\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("ugyelet_sip_responses_total{class=\"2xx\"} 4\n"),
            "{text}"
        );
        assert!(
            text.contains("ugyelet_sip_refused_total{status=\"416\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("ugyelet_security_events_total{event=\"auth_failed\"} "),
            "{text}"
        );
        assert!(
            text.contains("ugyelet_rtp_packets_total{direction=\"sent\"} 50\n"),
            "{text}"
        );
        assert!(
            text.contains("ugyelet_rtp_packets_total{direction=\"relayed\"} 7\n"),
            "{text}"
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect("name and value");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn calls_are_counted_under_the_call_records_words_and_feature_calls_apart() {
        let m = Metrics::default();
        for (i, o) in Outcome::ALL.into_iter().enumerate() {
            for _ in 0..=i {
                m.call_ended(o, MediaCounts::default());
            }
        }
        m.operator_call_ended(MediaCounts::default());
        m.call_refused(488);
        m.call_refused(480);
        let text = m.render();
        assert!(
            text.contains("ugyelet_calls_refused_total{status=\"488\"} 1\n")
                && text.contains("ugyelet_calls_refused_total{status=\"other\"} 1\n"),
            "{text}"
        );
        let samples: Vec<(String, u64)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("ugyelet_calls_total{outcome=\""))
            .map(|l| {
                let (word, rest) = l.split_once("\"} ").expect("one label");
                (word.to_owned(), rest.parse().expect("a count"))
            })
            .collect();
        let want: Vec<(String, u64)> = Outcome::ALL
            .iter()
            .zip(1..)
            .map(|(o, n)| (o.as_str().to_owned(), n))
            .collect();
        assert_eq!(samples, want, "{text}");
        assert!(
            text.contains("\nugyelet_operator_feature_calls_total 1\n"),
            "{text}"
        );
    }
}
