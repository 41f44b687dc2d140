//! Is the SIP task behind? The overload detector of the SIP socket, as a sans-IO value.
//!
//! A burst of callers (a trunk delivering two thousand INVITEs at once after an outage, a
//! mass event) arrives faster than the SIP task can set calls up. The datagrams wait in the
//! socket's receive buffer, and once that is full the kernel drops them unheard: the caller
//! retransmits after T1, doubling, and gives up after 64·T1 (RFC 3261 §17.1.1.2, Timer B).
//! A call turned away with `503 Service Unavailable` and `Retry-After` (RFC 3261 §21.5.4)
//! is better off than one dropped: its caller hears at once and knows when to try again.
//!
//! The driver tells the detector, for every datagram it takes from the socket, how long
//! that datagram waited there (from the kernel's receive timestamp) and the kernel's count
//! of datagrams it dropped at the socket so far (`SO_RXQ_OVFL`). The task is **behind**
//! when a datagram waited `shed_after` or longer, or when the kernel dropped datagrams since
//! the previous one. While behind, [`Overload::handle_datagram`] says to shed: the endpoint
//! refuses *new* INVITEs with a stateless 503 (everything else, retransmissions, ACK, BYE,
//! CANCEL and requests inside a dialog, is still served). Shedding stops when a datagram
//! waited less than half of `shed_after` and the kernel has dropped nothing for as long, or
//! at once when the socket was read empty ([`Overload::handle_drained`]): the task has
//! caught up.
//!
//! ```text
//!             waited ≥ shed_after, or kernel drops rose
//!   serving ────────────────────────────────────────────► shedding
//!      ▲                                                      │
//!      └──────────────────────────────────────────────────────┘
//!        socket read empty, or waited < shed_after/2 and no drop for shed_after/2
//! ```
//!
//! Shedding may flip on and off many times within one burst; for the log these form one
//! **episode**, which starts with the first shed datagram and ends once shedding has been
//! off for `quiet`. [`OverloadEvent::Started`] and [`OverloadEvent::Ended`] (with the
//! episode's counts) are logged, never a line per datagram.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The detector's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// A datagram that waited this long in the socket means the task is behind.
    pub shed_after: Duration,
    /// An episode ends once shedding has been off this long.
    pub quiet: Duration,
}

/// What happened, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverloadEvent {
    /// An episode began with this datagram.
    Started {
        /// How long it waited in the socket.
        waited: Duration,
        /// Datagrams the kernel had dropped at the socket since it was opened.
        dropped: u64,
    },
    /// Shedding has been off for `quiet`: the episode is over.
    Ended {
        /// From the first shed datagram to the last moment of shedding.
        lasted: Duration,
        /// New calls refused with 503 in the episode.
        refused: u64,
        /// Datagrams the kernel dropped in the episode.
        dropped: u64,
        /// Datagrams read from the socket in the episode.
        datagrams: u64,
        /// The longest a datagram of the episode waited in the socket.
        max_waited: Duration,
    },
}

#[derive(Debug, Clone, Copy)]
struct Episode {
    started: Instant,
    refused_before: u64,
    dropped_before: u64,
    datagrams: u64,
    max_waited: Duration,
}

/// The detector; see the module doc.
#[derive(Debug)]
pub struct Overload {
    settings: Settings,
    shedding: bool,
    /// When shedding last turned off (the start of the quiet time that ends an episode).
    calm_since: Option<Instant>,
    /// The kernel's drop count as it last came (a `u32` that wraps), and its running total.
    raw_dropped: u32,
    dropped: u64,
    last_drop: Option<Instant>,
    max_waited: Duration,
    episode: Option<Episode>,
    episodes: u64,
    events: VecDeque<OverloadEvent>,
}

impl Overload {
    pub fn new(settings: Settings) -> Self {
        Overload {
            settings,
            shedding: false,
            calm_since: None,
            raw_dropped: 0,
            dropped: 0,
            last_drop: None,
            max_waited: Duration::ZERO,
            episode: None,
            episodes: 0,
            events: VecDeque::new(),
        }
    }

    /// A datagram is about to be handled. `waited`: how long it sat in the socket;
    /// `kernel_dropped`: the kernel's count of datagrams dropped at the socket when this one
    /// was queued (`None` when the datagram carried none: nothing dropped yet);
    /// `refused`: the endpoint's count of calls refused for overload so far. Returns whether
    /// new calls are to be refused now.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        waited: Duration,
        kernel_dropped: Option<u32>,
        refused: u64,
    ) -> bool {
        let mut rose = false;
        let dropped_before = self.dropped;
        if let Some(raw) = kernel_dropped {
            let more = raw.wrapping_sub(self.raw_dropped);
            if more > 0 {
                self.raw_dropped = raw;
                self.dropped += u64::from(more);
                self.last_drop = Some(now);
                rose = true;
            }
        }
        self.max_waited = self.max_waited.max(waited);
        let calm = self.settings.shed_after / 2;
        if waited >= self.settings.shed_after || rose {
            if !self.shedding {
                self.start(now, waited, refused, dropped_before);
            }
        } else if self.shedding
            && waited < calm
            && self
                .last_drop
                .is_none_or(|t| now.saturating_duration_since(t) >= calm)
        {
            self.stop(now);
        }
        if let Some(e) = &mut self.episode {
            e.datagrams += 1;
            e.max_waited = e.max_waited.max(waited);
        }
        self.shedding
    }

    /// The socket had nothing more to read: whatever waited has been taken, so the task
    /// has caught up.
    pub fn handle_drained(&mut self, now: Instant) {
        if self.shedding {
            self.stop(now);
        }
    }

    /// Ends the episode once shedding has been off for `quiet`. `refused`: as in
    /// [`Overload::handle_datagram`].
    pub fn handle_timeout(&mut self, now: Instant, refused: u64) {
        let (Some(e), Some(calm)) = (self.episode, self.calm_since) else {
            return;
        };
        if self.shedding || now < calm + self.settings.quiet {
            return;
        }
        self.episode = None;
        self.events.push_back(OverloadEvent::Ended {
            lasted: calm.saturating_duration_since(e.started),
            refused: refused.saturating_sub(e.refused_before),
            dropped: self.dropped - e.dropped_before,
            datagrams: e.datagrams,
            max_waited: e.max_waited,
        });
    }

    /// When [`Overload::handle_timeout`] should run next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.episode, self.shedding, self.calm_since) {
            (Some(_), false, Some(calm)) => Some(calm + self.settings.quiet),
            _ => None,
        }
    }

    /// The next event for the log.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<OverloadEvent> {
        self.events.pop_front()
    }

    /// Whether new calls are being refused.
    pub fn shedding(&self) -> bool {
        self.shedding
    }

    /// Datagrams the kernel dropped at the socket, as far as the datagrams read so far tell.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The longest any datagram waited in the socket.
    pub fn max_waited(&self) -> Duration {
        self.max_waited
    }

    /// Episodes begun so far.
    pub fn episodes(&self) -> u64 {
        self.episodes
    }

    /// `dropped_before`: the drop count before this datagram, whose drops (if it found
    /// any) happened while the task was behind and so belong to the episode.
    fn start(&mut self, now: Instant, waited: Duration, refused: u64, dropped_before: u64) {
        self.shedding = true;
        self.calm_since = None;
        if self.episode.is_none() {
            self.episodes += 1;
            self.episode = Some(Episode {
                started: now,
                refused_before: refused,
                dropped_before,
                datagrams: 0,
                max_waited: Duration::ZERO,
            });
            self.events.push_back(OverloadEvent::Started {
                waited,
                dropped: self.dropped,
            });
        }
    }

    fn stop(&mut self, now: Instant) {
        self.shedding = false;
        self.calm_since = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn detector() -> Overload {
        Overload::new(Settings {
            shed_after: 200 * MS,
            quiet: 1000 * MS,
        })
    }

    #[test]
    fn datagrams_that_waited_less_than_the_threshold_are_served() {
        let mut o = detector();
        let t0 = crate::clock::test_epoch();
        for i in 0..100 {
            assert!(!o.handle_datagram(t0 + i * MS, 199 * MS, None, 0));
        }
        assert_eq!(o.poll_event(), None);
        assert_eq!(o.max_waited(), 199 * MS);
        assert_eq!(o.episodes(), 0);
    }

    #[test]
    fn a_long_wait_starts_shedding_until_waits_fall_below_half() {
        let mut o = detector();
        let t0 = crate::clock::test_epoch();
        assert!(!o.handle_datagram(t0, 150 * MS, None, 0));
        assert!(o.handle_datagram(t0 + MS, 200 * MS, None, 0));
        assert_eq!(
            o.poll_event(),
            Some(OverloadEvent::Started {
                waited: 200 * MS,
                dropped: 0
            })
        );
        // Between half and the threshold: still behind.
        assert!(o.handle_datagram(t0 + 2 * MS, 150 * MS, None, 0));
        assert!(o.handle_datagram(t0 + 3 * MS, 100 * MS, None, 0));
        assert!(!o.handle_datagram(t0 + 4 * MS, 99 * MS, None, 0));
        assert!(!o.shedding());
    }

    #[test]
    fn kernel_drops_start_shedding_even_with_short_waits_and_hold_it_for_half_the_threshold() {
        let mut o = detector();
        let t0 = crate::clock::test_epoch();
        assert!(!o.handle_datagram(t0, MS, None, 0));
        assert!(o.handle_datagram(t0 + MS, MS, Some(40), 0));
        assert_eq!(
            o.poll_event(),
            Some(OverloadEvent::Started {
                waited: MS,
                dropped: 40
            })
        );
        // The same count again: no new drops, but the last is recent.
        assert!(o.handle_datagram(t0 + 50 * MS, MS, Some(40), 0));
        assert!(!o.handle_datagram(t0 + 101 * MS, MS, Some(40), 0));
        assert_eq!(o.dropped(), 40);
    }

    #[test]
    fn reading_the_socket_empty_ends_shedding_at_once() {
        let mut o = detector();
        let t0 = crate::clock::test_epoch();
        assert!(o.handle_datagram(t0, 300 * MS, None, 0));
        o.handle_drained(t0 + MS);
        assert!(!o.shedding());
    }

    #[test]
    fn one_episode_spans_flapping_and_ends_after_quiet_with_its_counts() {
        let mut o = detector();
        let t0 = crate::clock::test_epoch();
        assert!(o.handle_datagram(t0, 250 * MS, Some(5), 10));
        o.handle_drained(t0 + 10 * MS);
        assert_eq!(o.poll_timeout(), Some(t0 + 1010 * MS));
        // Behind again within the quiet time: the same episode.
        assert!(o.handle_datagram(t0 + 500 * MS, 400 * MS, Some(7), 30));
        assert_eq!(o.poll_timeout(), None, "no end while shedding");
        assert!(!o.handle_datagram(t0 + 600 * MS, 10 * MS, Some(7), 55));
        o.handle_timeout(t0 + 1599 * MS, 55);
        assert!(matches!(
            o.poll_event(),
            Some(OverloadEvent::Started { dropped: 5, .. })
        ));
        assert_eq!(o.poll_event(), None, "one start, no end yet");
        o.handle_timeout(t0 + 1600 * MS, 55);
        assert_eq!(
            o.poll_event(),
            Some(OverloadEvent::Ended {
                lasted: 600 * MS,
                refused: 45,
                dropped: 7,
                datagrams: 3,
                max_waited: 400 * MS,
            })
        );
        assert_eq!(o.poll_timeout(), None);
        assert_eq!(o.episodes(), 1);
        // The next burst is a new episode.
        assert!(o.handle_datagram(t0 + 5000 * MS, 300 * MS, Some(7), 55));
        assert_eq!(o.episodes(), 2);
    }

    #[test]
    fn the_kernel_drop_count_is_followed_across_its_wrap() {
        let mut o = detector();
        let t0 = crate::clock::test_epoch();
        o.handle_datagram(t0, MS, Some(u32::MAX - 1), 0);
        o.handle_datagram(t0 + MS, MS, Some(3), 0);
        // MAX-1 → MAX → 0 → 1 → 2 → 3: five more.
        assert_eq!(o.dropped(), u64::from(u32::MAX) - 1 + 5);
    }
}
