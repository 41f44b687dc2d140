//! RFC 4733 telephone events (DTMF digits in RTP): the payload format and a receiver that
//! turns a stream of event packets into one digit per key press.
//!
//! Payload (RFC 4733 §2.3):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     event     |E|R| volume    |          duration             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! An event is identified by its RTP timestamp (the time it began, RFC 4733 §2.3.1), not by
//! sequence numbers or the duration field. Senders repeat the end packet three times
//! (RFC 4733 §2.5.1.4), packets get lost, and some senders fill `duration` wrongly: SIPp's
//! pcaps step it by 320 per 20 ms packet, twice the truth. So the receiver counts one digit
//! per timestamp and measures duration from arrival times.
//!
//! ```text
//!             packet, new timestamp T               packet T, E=0
//!   ┌──────┐ ─────────────────────────► ┌───────────┐ ◄──────┐
//!   │ Idle │                            │ InEvent T │ ───────┘
//!   └──────┘ ◄───────────────────────── └───────────┘
//!      ▲      packet T with E=1: digit       │  packet with new timestamp T':
//!      │      timeout (no packet): digit     │  digit for T (its end was lost),
//!      │                                     ▼  then InEvent T'
//!   packets with an already reported timestamp (end repeats, late packets) are ignored
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::rtp::packet::RtpPacket;

/// Volume we send, as -dBm0 (RFC 4733 §2.3.4): -10 dBm0.
pub const DEFAULT_VOLUME: u8 = 10;
/// A digit whose end packets never come is reported this long after its last packet.
pub const DEFAULT_END_TIMEOUT: Duration = Duration::from_millis(500);
/// Packets whose timestamp is at most this far (10 s at 8 kHz) before the last reported
/// event are stale repeats; anything further back is a sender that restarted its clock.
const STALE_WINDOW: u32 = 80_000;
/// Samples per millisecond at 8000 Hz.
const SAMPLES_PER_MS: u32 = 8;

/// One decoded event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    /// In timestamp units (1/8000 s for `telephone-event/8000`).
    pub duration: u16,
}

/// Why a payload is not a telephone event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfError {
    TooShort { len: usize },
}

impl fmt::Display for DtmfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtmfError::TooShort { len } => {
                write!(
                    f,
                    "expected a telephone-event payload of 4 bytes, found {len}"
                )
            }
        }
    }
}

impl std::error::Error for DtmfError {}

/// Decodes the first event of a payload (RFC 4733 §2.3). Further 4-byte blocks, which
/// carry redundant older events (RFC 4733 §2.5.1.5), are not needed: the receiver keys on
/// timestamps and survives lost packets without them.
pub fn decode(payload: &[u8]) -> Result<EventPayload, DtmfError> {
    let [event, flags, d0, d1, ..] = *payload else {
        return Err(DtmfError::TooShort { len: payload.len() });
    };
    Ok(EventPayload {
        event,
        end: flags & 0x80 != 0,
        volume: flags & 0x3f,
        duration: u16::from_be_bytes([d0, d1]),
    })
}

/// The DTMF digit of an event code (RFC 4733 §3.2: 0-9, 10 = *, 11 = #, 12-15 = A-D).
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// The event code of a DTMF digit (lower-case a-d accepted).
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

/// Encodes one event payload at [`DEFAULT_VOLUME`]; `None` if `digit` is not a DTMF digit.
///
/// RFC 4733 §2.3.2: "R: This field is reserved for future use. The sender MUST set it to
/// zero".
pub fn encode_event(digit: char, duration: u16, end: bool) -> Option<[u8; 4]> {
    let event = digit_to_event(digit)?;
    let flags = if end { 0x80 } else { 0 } | DEFAULT_VOLUME;
    let [d0, d1] = duration.to_be_bytes();
    Some([event, flags, d0, d1])
}

/// A key press, reported once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    pub digit: char,
    pub duration_ms: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Current {
    timestamp: u32,
    digit: char,
    first_arrival: Instant,
    /// How far into the event the first received packet was, by its duration field: the
    /// start packet may be lost. Trusted for the first packet only.
    first_offset_ms: u32,
    last_arrival: Instant,
}

impl Current {
    fn finish(&self) -> DtmfDigit {
        let since_first = self
            .last_arrival
            .saturating_duration_since(self.first_arrival);
        let ms = (since_first.as_micros() + 500) / 1000;
        DtmfDigit {
            digit: self.digit,
            duration_ms: self
                .first_offset_ms
                .saturating_add(u32::try_from(ms).unwrap_or(u32::MAX)),
        }
    }
}

/// Turns telephone-event packets into digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rfc4733Receiver {
    payload_type: u8,
    end_timeout: Duration,
    current: Option<Current>,
    last_reported: Option<u32>,
    digits: VecDeque<DtmfDigit>,
    ignored: u64,
}

impl Rfc4733Receiver {
    /// A receiver for events on `payload_type` (the negotiated `telephone-event/8000` PT).
    pub fn new(payload_type: u8) -> Self {
        Rfc4733Receiver::with_end_timeout(payload_type, DEFAULT_END_TIMEOUT)
    }

    pub fn with_end_timeout(payload_type: u8, end_timeout: Duration) -> Self {
        Rfc4733Receiver {
            payload_type,
            end_timeout,
            current: None,
            last_reported: None,
            digits: VecDeque::new(),
            ignored: 0,
        }
    }

    /// Feeds one received RTP packet; packets of other payload types are ignored.
    pub fn handle_packet(&mut self, now: Instant, packet: &RtpPacket<'_>) {
        if packet.payload_type != self.payload_type {
            return;
        }
        self.handle_timeout(now);
        let Ok(payload) = decode(packet.payload) else {
            self.ignored += 1;
            return;
        };
        let Some(digit) = event_to_digit(payload.event) else {
            // Flash (16) and tones other than DTMF do not make digits.
            self.ignored += 1;
            return;
        };
        let ts = packet.timestamp;
        if self.is_reported(ts) {
            // End packet repeats (RFC 4733 §2.5.1.4) and late packets of a finished event.
            return;
        }
        let current = match self.current {
            Some(c) if c.timestamp == ts => Current {
                last_arrival: now,
                ..c
            },
            other => {
                if let Some(previous) = other {
                    // A new event began while the previous one had no end: its end packets
                    // were lost, but the key was pressed.
                    self.report(previous);
                }
                Current {
                    timestamp: ts,
                    digit,
                    first_arrival: now,
                    first_offset_ms: u32::from(payload.duration) / SAMPLES_PER_MS,
                    last_arrival: now,
                }
            }
        };
        if payload.end {
            self.current = None;
            self.report(current);
        } else {
            self.current = Some(current);
        }
    }

    /// Reports a digit whose end never came once `end_timeout` has passed since its last
    /// packet.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(c) = self.current
            && now >= c.last_arrival + self.end_timeout
        {
            self.current = None;
            self.report(c);
        }
    }

    /// When an unfinished digit will be reported by timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current.map(|c| c.last_arrival + self.end_timeout)
    }

    /// The next finished digit.
    pub fn poll_event(&mut self) -> Option<DtmfDigit> {
        self.digits.pop_front()
    }

    /// Event packets that were malformed or not DTMF.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    fn is_reported(&self, ts: u32) -> bool {
        self.last_reported
            .is_some_and(|last| last.wrapping_sub(ts) <= STALE_WINDOW)
    }

    fn report(&mut self, c: Current) {
        self.last_reported = Some(c.timestamp);
        self.digits.push_back(c.finish());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::packet::{RtpHeader, parse};

    /// The ten RTP packets of SIPp 3.6.1's `dtmf_2833_1.pcap` (UDP payloads, byte for
    /// byte) with their capture times in microseconds: PT 101, SSRC 0x0e05384e, timestamp
    /// 0x33e0; seven progress packets (the first marked) with durations 0, 320, ..., 1920
    /// and three end packets with the same sequence number 0x1f37 and duration 2240.
    const SIPP_DTMF_1: [(u64, [u8; 16]); 10] = [
        (0, hex("80e51f30000033e00e05384e010a0000")),
        (19_992, hex("80651f31000033e00e05384e010a0140")),
        (39_881, hex("80651f32000033e00e05384e010a0280")),
        (59_911, hex("80651f33000033e00e05384e010a03c0")),
        (79_983, hex("80651f34000033e00e05384e010a0500")),
        (99_925, hex("80651f35000033e00e05384e010a0640")),
        (119_865, hex("80651f36000033e00e05384e010a0780")),
        (139_846, hex("80651f37000033e00e05384e018a08c0")),
        (139_888, hex("80651f37000033e00e05384e018a08c0")),
        (139_929, hex("80651f37000033e00e05384e018a08c0")),
    ];

    const fn hex(s: &str) -> [u8; 16] {
        let b = s.as_bytes();
        let mut out = [0u8; 16];
        let mut i = 0;
        while i < 16 {
            out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
            i += 1;
        }
        out
    }

    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        }
    }

    /// An event packet: sequence `seq`, event timestamp `ts`.
    fn event(seq: u16, ts: u32, digit: char, duration: u16, end: bool) -> Vec<u8> {
        let mut out = Vec::new();
        RtpHeader {
            payload_type: 101,
            marker: duration == 0,
            sequence: seq,
            timestamp: ts,
            ssrc: 5,
        }
        .write_to_vec(
            &encode_event(digit, duration, end).expect("test data is valid"),
            &mut out,
        )
        .expect("test data is valid");
        out
    }

    fn feed(rx: &mut Rfc4733Receiver, t0: Instant, at_ms: u64, datagram: &[u8]) {
        rx.handle_packet(
            t0 + Duration::from_millis(at_ms),
            &parse(datagram).expect("test data is valid"),
        );
    }

    fn drain(rx: &mut Rfc4733Receiver) -> Vec<DtmfDigit> {
        std::iter::from_fn(|| rx.poll_event()).collect()
    }

    /// A normal sender: updates every 20 ms with true durations, then three end packets.
    fn press(seq: &mut u16, ts: u32, digit: char, at_ms: u64, packets: u16) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        for i in 0..packets {
            out.push((
                at_ms + 20 * u64::from(i),
                event(*seq, ts, digit, 160 * i, false),
            ));
            *seq += 1;
        }
        for _ in 0..3 {
            let end_at = at_ms + 20 * u64::from(packets);
            out.push((end_at, event(*seq, ts, digit, 160 * packets, true)));
            *seq += 1;
        }
        out
    }

    #[test]
    fn decode_reads_event_end_bit_volume_and_duration() {
        assert_eq!(
            decode(&[0x01, 0x8a, 0x08, 0xc0]).expect("test data is valid"),
            EventPayload {
                event: 1,
                end: true,
                volume: 10,
                duration: 2240
            }
        );
        assert!(
            !decode(&[11, 0x4a, 0, 0]).expect("test data is valid").end,
            "R bit is not E"
        );
    }

    #[test]
    fn decode_refuses_short_payload() {
        let e = decode(&[1, 2, 3]).unwrap_err();
        assert_eq!(e, DtmfError::TooShort { len: 3 });
        assert_eq!(
            e.to_string(),
            "expected a telephone-event payload of 4 bytes, found 3"
        );
    }

    #[test]
    fn encode_event_writes_rfc4733_layout_and_round_trips() {
        assert_eq!(encode_event('#', 800, true), Some([11, 0x8a, 0x03, 0x20]));
        assert_eq!(encode_event('5', 0, false), Some([5, 0x0a, 0, 0]));
        for digit in "0123456789*#ABCD".chars() {
            let p = decode(&encode_event(digit, 1234, false).expect("test data is valid"))
                .expect("test data is valid");
            assert_eq!(event_to_digit(p.event), Some(digit));
            assert_eq!((p.duration, p.volume, p.end), (1234, DEFAULT_VOLUME, false));
        }
        assert_eq!(encode_event('x', 0, false), None);
        assert_eq!(digit_to_event('d'), Some(15));
    }

    #[test]
    fn sipp_rfc2833_pcap_yields_exactly_one_digit_1() {
        let t0 = crate::clock::test_epoch();
        let mut rx = Rfc4733Receiver::new(101);
        for (at_us, bytes) in &SIPP_DTMF_1 {
            let p = parse(bytes).expect("test data is valid");
            assert_eq!((p.payload_type, p.timestamp), (101, 0x33e0));
            rx.handle_packet(t0 + Duration::from_micros(*at_us), &p);
        }
        // The duration field claims 2240 / 8 = 280 ms; the packets span 140 ms.
        assert_eq!(
            drain(&mut rx),
            [DtmfDigit {
                digit: '1',
                duration_ms: 140
            }]
        );
        rx.handle_timeout(t0 + Duration::from_secs(5));
        assert_eq!(rx.poll_event(), None, "no second report by timeout");
        assert_eq!(rx.poll_timeout(), None);
    }

    #[test]
    fn sipp_pcap_through_the_incoming_stream_still_yields_one_digit() {
        // The stream drops the two repeated end packets as duplicate sequence numbers; the
        // receiver must not depend on seeing them.
        use crate::rtp::stream::IncomingStream;
        let t0 = crate::clock::test_epoch();
        let from: std::net::SocketAddr = "127.0.0.1:6000".parse().expect("test data is valid");
        let mut stream = IncomingStream::new(8, Some(101), Some(from));
        stream.answered();
        let mut rx = Rfc4733Receiver::new(101);
        for (at_us, bytes) in &SIPP_DTMF_1 {
            if let Ok(p) = stream.handle_datagram(from, bytes) {
                rx.handle_packet(t0 + Duration::from_micros(*at_us), &p);
            }
        }
        assert_eq!(stream.stats().duplicates, 2);
        assert_eq!(stream.stats().lost, 0);
        assert_eq!(
            drain(&mut rx).iter().map(|d| d.digit).collect::<String>(),
            "1"
        );
    }

    #[test]
    fn end_packet_triplet_yields_one_digit() {
        let t0 = crate::clock::test_epoch();
        let mut rx = Rfc4733Receiver::new(101);
        let mut seq = 1;
        for (at, d) in press(&mut seq, 8000, '7', 0, 5) {
            feed(&mut rx, t0, at, &d);
        }
        assert_eq!(
            drain(&mut rx),
            [DtmfDigit {
                digit: '7',
                duration_ms: 100
            }]
        );
    }

    #[test]
    fn lost_start_packets_still_yield_the_digit_with_its_full_duration() {
        let t0 = crate::clock::test_epoch();
        let mut rx = Rfc4733Receiver::new(101);
        let mut seq = 1;
        for (at, d) in press(&mut seq, 8000, '4', 0, 5).into_iter().skip(2) {
            feed(&mut rx, t0, at, &d);
        }
        assert_eq!(
            drain(&mut rx),
            [DtmfDigit {
                digit: '4',
                duration_ms: 100
            }]
        );
    }

    #[test]
    fn only_end_packets_still_yield_the_digit() {
        let t0 = crate::clock::test_epoch();
        let mut rx = Rfc4733Receiver::new(101);
        let mut seq = 1;
        for (at, d) in press(&mut seq, 8000, '*', 0, 5).into_iter().skip(5) {
            feed(&mut rx, t0, at, &d);
        }
        assert_eq!(
            drain(&mut rx).iter().map(|d| d.digit).collect::<String>(),
            "*"
        );
    }

    #[test]
    fn new_event_after_a_lost_end_yields_both_digits() {
        let t0 = crate::clock::test_epoch();
        let mut rx = Rfc4733Receiver::new(101);
        let mut seq = 1;
        let first: Vec<_> = press(&mut seq, 8000, '2', 0, 4)
            .into_iter()
            .take(4)
            .collect();
        for (at, d) in first {
            feed(&mut rx, t0, at, &d);
        }
        assert_eq!(rx.poll_event(), None, "first digit still open");
        for (at, d) in press(&mut seq, 8000 + 2400, '2', 300, 4) {
            feed(&mut rx, t0, at, &d);
        }
        let digits = drain(&mut rx);
        assert_eq!(digits.iter().map(|d| d.digit).collect::<String>(), "22");
        assert_eq!(
            digits[0].duration_ms, 60,
            "first packet to last seen of the first press"
        );
    }

    #[test]
    fn same_digit_pressed_twice_is_two_digits() {
        let t0 = crate::clock::test_epoch();
        let mut rx = Rfc4733Receiver::new(101);
        let mut seq = 1;
        for (at, d) in press(&mut seq, 1000, '9', 0, 3).into_iter().chain(press(
            &mut seq,
            1000 + 1600,
            '9',
            200,
            3,
        )) {
            feed(&mut rx, t0, at, &d);
        }
        assert_eq!(
            drain(&mut rx).iter().map(|d| d.digit).collect::<String>(),
            "99"
        );
    }

    #[test]
    fn digit_without_end_is_reported_after_the_timeout() {
        let t0 = crate::clock::test_epoch();
        let mut rx = Rfc4733Receiver::new(101);
        let mut seq = 1;
        for (at, d) in press(&mut seq, 500, '#', 0, 4).into_iter().take(4) {
            feed(&mut rx, t0, at, &d);
        }
        let deadline = t0 + Duration::from_millis(60) + DEFAULT_END_TIMEOUT;
        assert_eq!(rx.poll_timeout(), Some(deadline));
        rx.handle_timeout(deadline - Duration::from_millis(1));
        assert_eq!(rx.poll_event(), None);
        rx.handle_timeout(deadline);
        assert_eq!(
            drain(&mut rx),
            [DtmfDigit {
                digit: '#',
                duration_ms: 60
            }]
        );
        assert_eq!(rx.poll_timeout(), None);
    }

    #[test]
    fn end_packets_arriving_after_the_timeout_are_not_a_second_digit() {
        let t0 = crate::clock::test_epoch();
        let mut rx = Rfc4733Receiver::new(101);
        let mut seq = 1;
        let all = press(&mut seq, 500, '3', 0, 2);
        feed(&mut rx, t0, 0, &all[0].1);
        rx.handle_timeout(t0 + Duration::from_secs(1));
        for (_, d) in &all[2..] {
            feed(&mut rx, t0, 1100, d);
        }
        assert_eq!(drain(&mut rx).len(), 1);
    }

    #[test]
    fn stale_progress_packet_of_a_finished_event_is_ignored() {
        let t0 = crate::clock::test_epoch();
        let mut rx = Rfc4733Receiver::new(101);
        let mut seq = 1;
        let first = press(&mut seq, 8000, '5', 0, 3);
        let second = press(&mut seq, 9600, '6', 200, 3);
        for (at, d) in first.iter().chain(&second) {
            feed(&mut rx, t0, *at, d);
        }
        feed(&mut rx, t0, 300, &first[1].1); // reordered far behind
        assert_eq!(
            drain(&mut rx).iter().map(|d| d.digit).collect::<String>(),
            "56"
        );
        assert_eq!(rx.poll_timeout(), None);
    }

    #[test]
    fn sender_restarting_its_timestamps_far_back_still_gets_digits() {
        let t0 = crate::clock::test_epoch();
        let mut rx = Rfc4733Receiver::new(101);
        let mut seq = 1;
        for (at, d) in press(&mut seq, 4_000_000, '1', 0, 2)
            .into_iter()
            .chain(press(&mut seq, 160, '2', 500, 2))
        {
            feed(&mut rx, t0, at, &d);
        }
        assert_eq!(
            drain(&mut rx).iter().map(|d| d.digit).collect::<String>(),
            "12"
        );
    }

    #[test]
    fn other_payload_types_flash_and_short_payloads_are_ignored() {
        let t0 = crate::clock::test_epoch();
        let mut rx = Rfc4733Receiver::new(101);
        let mut audio = Vec::new();
        RtpHeader {
            payload_type: 8,
            marker: false,
            sequence: 1,
            timestamp: 0,
            ssrc: 5,
        }
        .write_to_vec(&[1, 0x8a, 0, 160], &mut audio)
        .expect("test data is valid");
        feed(&mut rx, t0, 0, &audio);
        let mut flash = event(2, 100, '0', 160, true);
        flash[12] = 16;
        feed(&mut rx, t0, 0, &flash);
        let mut short = event(3, 200, '0', 160, true);
        short.truncate(14);
        feed(&mut rx, t0, 0, &short);
        assert_eq!(rx.poll_event(), None);
        assert_eq!(rx.ignored(), 2);
    }

    #[test]
    fn all_sixteen_events_map_to_their_digits() {
        let digits: String = (0..16).filter_map(event_to_digit).collect();
        assert_eq!(digits, "0123456789*#ABCD");
        assert_eq!(event_to_digit(16), None);
    }
}
