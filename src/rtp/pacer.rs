//! Epoch-based 20 ms pacing of an outgoing stream.
//!
//! Frame `n` is due at `epoch + n × 20 ms`, computed from the epoch every time and never as
//! "last wake-up + 20 ms": wake-ups that are each a little late then cost nothing over a
//! call, where adding 20 ms to a late wake-up would let every lateness accumulate into a
//! slower clock than the receiver's.
//!
//! ```text
//!            handle_timeout(now): due = deadlines ≤ now not yet served
//!   ┌─────────────────────────────────────────────────────────────────────┐
//!   │ due = 0            → 0 frames (woken early; sleep to poll_timeout()) │
//!   │ 1 ≤ due ≤ cap      → due frames, sent back to back                   │
//!   │ due > cap          → cap frames; the due − cap OLDEST frames skipped │
//!   │                      and counted (take_skipped(), skipped_total())   │
//!   └─────────────────────────────────────────────────────────────────────┘
//!   next deadline = epoch + (index of next unserved frame) × 20 ms
//! ```
//!
//! Policy when the driver wakes late: up to `cap` (default 3, i.e. 60 ms) missed frames are
//! sent at once, which a receiver's jitter buffer absorbs. Beyond that, sending everything
//! would flood the receiver and put the stream permanently behind wall time, so the oldest
//! frames are skipped. The caller must still advance the RTP timestamp over skipped frames
//! (`OutgoingStream::skip(skipped × 160)` before writing the frames of this wake-up), so the
//! receiver sees a gap in the timestamps, not a clock that jumped.

use std::time::{Duration, Instant};

/// The packet interval.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(20);
/// Frames sent at once after a late wake-up before the pacer starts skipping.
pub const DEFAULT_MAX_BURST: u32 = 3;

const FRAME_NANOS: u128 = FRAME_INTERVAL.as_nanos();

/// Tells a stream's driver when each 20 ms frame is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacer {
    epoch: Instant,
    /// Index of the first frame not yet handed out or skipped.
    next_frame: u64,
    max_burst: u32,
    pending_skip: u32,
    skipped_total: u64,
}

impl Pacer {
    /// A pacer whose frame 0 is due at `epoch`, with the default burst cap.
    pub fn new(epoch: Instant) -> Self {
        Pacer::with_max_burst(epoch, DEFAULT_MAX_BURST)
    }

    /// A pacer that sends at most `max_burst` (at least 1) frames per wake-up.
    pub fn with_max_burst(epoch: Instant, max_burst: u32) -> Self {
        Pacer {
            epoch,
            next_frame: 0,
            max_burst: max_burst.max(1),
            pending_skip: 0,
            skipped_total: 0,
        }
    }

    /// When the next frame is due: `epoch + n × 20 ms`.
    pub fn poll_timeout(&self) -> Instant {
        self.deadline(self.next_frame)
    }

    /// How many frames to send now (see the module doc for the late wake-up policy).
    pub fn handle_timeout(&mut self, now: Instant) -> u32 {
        let elapsed = now.saturating_duration_since(self.epoch).as_nanos();
        let last_due = u64::try_from(elapsed / FRAME_NANOS).unwrap_or(u64::MAX);
        if now < self.epoch || last_due < self.next_frame {
            return 0;
        }
        let due = last_due - self.next_frame + 1;
        self.next_frame = last_due.saturating_add(1);
        if due <= u64::from(self.max_burst) {
            // `due` ≤ max_burst, a u32.
            return due as u32;
        }
        let skipped = due - u64::from(self.max_burst);
        self.skipped_total = self.skipped_total.saturating_add(skipped);
        self.pending_skip = self
            .pending_skip
            .saturating_add(u32::try_from(skipped).unwrap_or(u32::MAX));
        self.max_burst
    }

    /// Frames skipped since the last call; they come before this wake-up's frames.
    pub fn take_skipped(&mut self) -> u32 {
        std::mem::take(&mut self.pending_skip)
    }

    /// Frames skipped since the epoch.
    pub fn skipped_total(&self) -> u64 {
        self.skipped_total
    }

    /// Index of the next frame (frames handed out plus frames skipped so far).
    pub fn next_frame(&self) -> u64 {
        self.next_frame
    }

    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    fn deadline(&self, frame: u64) -> Instant {
        let offset = Duration::from_millis(frame.saturating_mul(20));
        self.epoch
            .checked_add(offset)
            .expect("the next frame is due at most 20 ms after a `now` the driver passed in")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::stream::{OutgoingStream, SAMPLES_PER_FRAME};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn first_frame_is_due_at_the_epoch_and_then_every_20_ms() {
        let t0 = crate::clock::test_epoch();
        let mut p = Pacer::new(t0);
        let mut deadlines = Vec::new();
        for _ in 0..4 {
            let d = p.poll_timeout();
            deadlines.push(d - t0);
            assert_eq!(p.handle_timeout(d), 1);
        }
        assert_eq!(deadlines, [ms(0), ms(20), ms(40), ms(60)]);
    }

    #[test]
    fn early_wakeup_sends_nothing_and_keeps_the_deadline() {
        let t0 = crate::clock::test_epoch();
        let mut p = Pacer::new(t0);
        assert_eq!(p.handle_timeout(t0), 1);
        assert_eq!(p.handle_timeout(t0 + ms(19)), 0);
        assert_eq!(p.poll_timeout(), t0 + ms(20));
    }

    #[test]
    fn late_wakeup_within_cap_sends_the_missed_frames_at_once() {
        let t0 = crate::clock::test_epoch();
        let mut p = Pacer::new(t0);
        assert_eq!(p.handle_timeout(t0 + ms(45)), 3, "frames 0, 1 and 2");
        assert_eq!(p.take_skipped(), 0);
        assert_eq!(p.poll_timeout(), t0 + ms(60));
    }

    #[test]
    fn late_wakeup_beyond_cap_skips_the_oldest_frames_and_counts_them() {
        let t0 = crate::clock::test_epoch();
        let mut p = Pacer::new(t0);
        assert_eq!(
            p.handle_timeout(t0 + ms(200)),
            3,
            "frames 8, 9, 10 of 0..=10"
        );
        assert_eq!(p.take_skipped(), 8);
        assert_eq!(p.take_skipped(), 0, "taken once");
        assert_eq!(p.skipped_total(), 8);
        assert_eq!(p.poll_timeout(), t0 + ms(220), "back on the epoch grid");
        assert_eq!(p.handle_timeout(t0 + ms(220)), 1);
    }

    #[test]
    fn wakeup_before_the_epoch_sends_nothing() {
        let t0 = crate::clock::test_epoch() + ms(100);
        let mut p = Pacer::new(t0);
        assert_eq!(p.handle_timeout(t0 - ms(50)), 0);
        assert_eq!(p.poll_timeout(), t0);
    }

    #[test]
    fn ten_minutes_of_slightly_late_wakeups_do_not_drift() {
        let t0 = crate::clock::test_epoch();
        let end = t0 + Duration::from_secs(600);
        let mut rng = XorShift(0x5eed_1234_abcd_0001);
        let mut p = Pacer::new(t0);
        let mut frames = 0u64;
        let mut naive_next = t0;
        let mut naive_frames = 0u64;
        loop {
            // Every wake-up is 0.1-4.0 ms late, as a loaded timer wheel would be.
            let late = Duration::from_micros(100 + rng.next() % 3900);
            let now = p.poll_timeout() + late;
            if now >= end {
                break;
            }
            frames += u64::from(p.handle_timeout(now));
            assert_eq!(
                p.poll_timeout(),
                t0 + FRAME_INTERVAL * (p.next_frame() as u32)
            );
            // The same wake-ups with "last wake-up + 20 ms" scheduling:
            let naive_now = naive_next + late;
            if naive_now < end {
                naive_frames += 1;
                naive_next = naive_now + FRAME_INTERVAL;
            }
        }
        assert_eq!(frames, 30_000, "exactly one frame per 20 ms of 10 minutes");
        assert_eq!(p.skipped_total(), 0);
        assert!(
            naive_frames < 28_000,
            "the naive pacer would have drifted: {naive_frames}"
        );
    }

    #[test]
    fn stalls_keep_rtp_timestamps_on_the_wall_clock() {
        let t0 = crate::clock::test_epoch();
        let mut rng = XorShift(42);
        let mut p = Pacer::new(t0);
        let mut s = OutgoingStream::new(7, 8, 1000, 500_000);
        let mut last = None;
        let end = t0 + Duration::from_secs(600);
        while p.poll_timeout() < end {
            let r = rng.next();
            // One wake-up in 500 stalls 30-300 ms (a GC-like pause in the driver).
            let late = if r.is_multiple_of(500) {
                ms(30 + (r >> 16) % 270)
            } else {
                Duration::from_micros((r >> 8) % 3000)
            };
            let now = p.poll_timeout() + late;
            let n = p.handle_timeout(now);
            s.skip(p.take_skipped() * SAMPLES_PER_FRAME);
            for _ in 0..n {
                last = Some(s.next_header(SAMPLES_PER_FRAME));
            }
        }
        assert!(
            p.skipped_total() > 0,
            "the seed produces stalls beyond the cap"
        );
        let last = last.expect("test data is valid");
        // The last frame sent was frame next_frame - 1, and its timestamp says exactly that.
        let expected_ts = 500_000 + (p.next_frame() as u32 - 1) * SAMPLES_PER_FRAME;
        assert_eq!(last.timestamp, expected_ts);
        assert_eq!(
            u64::from(last.sequence.wrapping_sub(1000)) + 1 + p.skipped_total(),
            p.next_frame(),
            "every frame was either sent with its own sequence number or skipped"
        );
    }
}
