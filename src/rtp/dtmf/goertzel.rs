//! In-band DTMF detection on 8 kHz linear PCM, after ITU-T Q.23 (the tones) and Q.24
//! (what a receiver accepts), for callers whose gateway sends digits as audio instead of
//! RFC 4733 events.
//!
//! # Signal analysis
//!
//! The samples are cut into blocks of [`BLOCK_SAMPLES`] = 102 samples (12.75 ms), without
//! overlap. In each block the Goertzel algorithm measures the power at the eight Q.23
//! frequencies (rows 697, 770, 852, 941 Hz; columns 1209, 1336, 1477, 1633 Hz) and at the
//! second harmonics of the columns. 102 samples rather than the classic 205 because a 205-sample block
//! (25.6 ms) fits wholly inside a 50 ms tone only at some alignments, so short key presses
//! would be lost; at 102 samples adjacent row frequencies are still 19–27 dB apart.
//!
//! A block holds a digit when all of these hold for the strongest row and column:
//!
//! 1. both tones are above [`MIN_TONE_AMPLITUDE`] (about −35 dBm0);
//! 2. twist: the row tone is at most [`NORMAL_TWIST_DB`] = 8 dB stronger than the column
//!    tone, and at most [`REVERSE_TWIST_DB`] = 4 dB weaker;
//! 3. every other row (column) frequency is at least [`RELATIVE_PEAK_DB`] below the
//!    strongest one (a single clean pair, not a broad spectrum);
//! 4. the two tones carry at least [`TONE_TO_TOTAL`] of the block's total energy;
//! 5. the second harmonic of the column tone (2418–3266 Hz) is at least
//!    [`COL_HARMONIC_DB`] below it: voiced speech is rich in harmonics, DTMF is not.
//!    The rows get no harmonic check: their second harmonics (1394, 1540, 1704 Hz) lie
//!    38–83 Hz from a column frequency, and at 102 samples that bin hears a column tone
//!    shifted by the 1.5 % that Q.24 allows at only −4 dB, so the check would reject real
//!    digits. Checks 3 and 4 already demand a clean pair.
//!
//! # Debouncing
//!
//! A key press is reported once, when [`HITS_TO_BEGIN`] consecutive blocks (38.25 ms, the
//! block-granular form of "at least 40 ms") show the same digit, and the detector is armed
//! again only after [`MISSES_TO_END`] consecutive blocks (38.25 ms) with no digit. A digit
//! that changes into another without a gap is not reported twice. Tones of 50 ms with 50 ms
//! gaps are detected at every alignment; tones under 28 ms never are.
//!
//! ```text
//!                 same digit in 3 consecutive blocks: report it
//!   +-------+ -------------------------------------------------> +------------+
//!   | Armed |                                                    | Held(d)    |
//!   +-------+ <------------------------------------------------- +------------+
//!                 3 consecutive blocks without any digit
//! ```

use std::collections::VecDeque;

/// Samples per analysis block (12.75 ms at 8 kHz).
pub const BLOCK_SAMPLES: usize = 102;
/// Sample rate the detector is built for.
pub const SAMPLE_RATE: f32 = 8000.0;
/// Q.23 low-group (row) frequencies in Hz.
pub const ROW_FREQS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// Q.23 high-group (column) frequencies in Hz.
pub const COL_FREQS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// Keypad layout: `KEYS[row][col]`.
pub const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Lowest accepted amplitude of each tone, as a fraction of full scale (about −35 dBm0,
/// where a full-scale sine is +3.14 dBm0).
pub const MIN_TONE_AMPLITUDE: f32 = 0.0125;
/// Largest accepted excess of the row tone over the column tone.
pub const NORMAL_TWIST_DB: f32 = 8.0;
/// Largest accepted excess of the column tone over the row tone.
pub const REVERSE_TWIST_DB: f32 = 4.0;
/// How far every other frequency of a group must be below the strongest one.
pub const RELATIVE_PEAK_DB: f32 = 6.0;
/// Least share of the block energy that the two tones must carry.
pub const TONE_TO_TOTAL: f32 = 0.6;
/// How far the column tone's second harmonic must be below the column tone.
pub const COL_HARMONIC_DB: f32 = 18.0;
/// Consecutive blocks with the same digit before it is reported.
pub const HITS_TO_BEGIN: u32 = 3;
/// Consecutive blocks without a digit before another press can be reported.
pub const MISSES_TO_END: u32 = 3;

fn db_to_power_ratio(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// In-band DTMF detector; feed it samples with [`Goertzel::push`], take digits with
/// [`Goertzel::poll_digit`].
#[derive(Debug, Clone)]
pub struct Goertzel {
    /// `2 cos(2π f / fs)` for rows, columns and column harmonics (4 each).
    coeffs: [f32; FILTERS],
    s1: [f32; FILTERS],
    s2: [f32; FILTERS],
    energy: f32,
    filled: usize,
    /// Digit seen in the previous blocks and how many blocks in a row.
    candidate: Option<char>,
    candidate_blocks: u32,
    /// The reported digit still being held, if any.
    held: Option<char>,
    gap_blocks: u32,
    digits: VecDeque<char>,
    // Thresholds as power ratios, computed once.
    min_power: f32,
    normal_twist: f32,
    reverse_twist: f32,
    relative_peak: f32,
    col_harmonic: f32,
}

/// Goertzel filters per block: 4 rows, 4 columns, 4 column harmonics.
const FILTERS: usize = 12;

impl Default for Goertzel {
    fn default() -> Self {
        Self::new()
    }
}

impl Goertzel {
    /// A detector with the thresholds documented above.
    #[must_use]
    pub fn new() -> Goertzel {
        let coeff = |f: f32| 2.0 * (2.0 * std::f32::consts::PI * f / SAMPLE_RATE).cos();
        let mut coeffs = [0.0; FILTERS];
        for i in 0..4 {
            coeffs[i] = coeff(ROW_FREQS[i]);
            coeffs[i + 4] = coeff(COL_FREQS[i]);
            coeffs[i + 8] = coeff(2.0 * COL_FREQS[i]);
        }
        // Goertzel power of a sine of amplitude A centred on a bin is (A · N / 2)².
        let half_block = BLOCK_SAMPLES as f32 / 2.0;
        Goertzel {
            coeffs,
            s1: [0.0; FILTERS],
            s2: [0.0; FILTERS],
            energy: 0.0,
            filled: 0,
            candidate: None,
            candidate_blocks: 0,
            held: None,
            gap_blocks: MISSES_TO_END,
            digits: VecDeque::with_capacity(8),
            min_power: (MIN_TONE_AMPLITUDE * half_block).powi(2),
            normal_twist: db_to_power_ratio(NORMAL_TWIST_DB),
            reverse_twist: db_to_power_ratio(REVERSE_TWIST_DB),
            relative_peak: db_to_power_ratio(RELATIVE_PEAK_DB),
            col_harmonic: db_to_power_ratio(COL_HARMONIC_DB),
        }
    }

    /// Feeds 8 kHz samples; any chunk size.
    pub fn push(&mut self, samples: &[i16]) {
        for &sample in samples {
            let x = f32::from(sample) / 32768.0;
            self.energy += x * x;
            for i in 0..FILTERS {
                let s0 = x + self.coeffs[i] * self.s1[i] - self.s2[i];
                self.s2[i] = self.s1[i];
                self.s1[i] = s0;
            }
            self.filled += 1;
            if self.filled == BLOCK_SAMPLES {
                let digit = self.classify_block();
                self.debounce(digit);
                self.s1 = [0.0; FILTERS];
                self.s2 = [0.0; FILTERS];
                self.energy = 0.0;
                self.filled = 0;
            }
        }
    }

    /// The next detected key press, in order.
    #[must_use]
    pub fn poll_digit(&mut self) -> Option<char> {
        self.digits.pop_front()
    }

    fn power(&self, i: usize) -> f32 {
        let (s1, s2) = (self.s1[i], self.s2[i]);
        s1 * s1 + s2 * s2 - self.coeffs[i] * s1 * s2
    }

    /// Index of the strongest of four powers, if every other one is `relative_peak` below.
    fn clear_peak(&self, powers: &[f32; 4]) -> Option<usize> {
        let mut best = 0;
        for i in 1..4 {
            if powers[i] > powers[best] {
                best = i;
            }
        }
        let clear = (0..4).all(|i| i == best || powers[i] * self.relative_peak <= powers[best]);
        clear.then_some(best)
    }

    fn classify_block(&self) -> Option<char> {
        let rows = [self.power(0), self.power(1), self.power(2), self.power(3)];
        let cols = [self.power(4), self.power(5), self.power(6), self.power(7)];
        let r = self.clear_peak(&rows)?;
        let c = self.clear_peak(&cols)?;
        let (row, col) = (rows[r], cols[c]);
        let level_ok = row >= self.min_power && col >= self.min_power;
        let twist_ok = row <= col * self.normal_twist && col <= row * self.reverse_twist;
        // Power (A·N/2)² of a tone corresponds to block energy N·A²/2, i.e. power · 2 / N.
        let tone_energy = (row + col) * 2.0 / BLOCK_SAMPLES as f32;
        let share_ok = tone_energy >= TONE_TO_TOTAL * self.energy;
        let harmonic_ok = self.power(8 + c) * self.col_harmonic <= col;
        (level_ok && twist_ok && share_ok && harmonic_ok).then_some(KEYS[r][c])
    }

    fn debounce(&mut self, digit: Option<char>) {
        if digit == self.candidate {
            self.candidate_blocks = self.candidate_blocks.saturating_add(1);
        } else {
            self.candidate = digit;
            self.candidate_blocks = 1;
        }
        match (self.held, digit) {
            (Some(_), None) => {
                self.gap_blocks += 1;
                if self.gap_blocks >= MISSES_TO_END {
                    self.held = None;
                }
            }
            (Some(_), Some(_)) => self.gap_blocks = 0,
            (None, None) => {}
            (None, Some(d)) => {
                if self.candidate_blocks >= HITS_TO_BEGIN {
                    self.digits.push_back(d);
                    self.held = Some(d);
                    self.gap_blocks = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_ORDER: &str = "0123456789*#ABCD";

    fn freqs(digit: char) -> (f64, f64) {
        for (r, row) in KEYS.iter().enumerate() {
            for (c, &k) in row.iter().enumerate() {
                if k == digit {
                    return (f64::from(ROW_FREQS[r]), f64::from(COL_FREQS[c]));
                }
            }
        }
        panic!("no key {digit}");
    }

    /// Tone of `ms` with per-tone amplitudes (linear, full scale 32768) and a frequency
    /// factor (1.0 = nominal).
    fn tone_with(digit: char, ms: usize, row_amp: f64, col_amp: f64, factor: f64) -> Vec<f64> {
        let (fr, fc) = freqs(digit);
        let (fr, fc) = (fr * factor, fc * factor);
        (0..ms * 8)
            .map(|n| {
                let t = n as f64 / 8000.0;
                row_amp * (2.0 * std::f64::consts::PI * fr * t).sin()
                    + col_amp * (2.0 * std::f64::consts::PI * fc * t + 0.7).sin()
            })
            .collect()
    }

    /// Typical level: each tone about −10 dBFS.
    fn tone(digit: char, ms: usize) -> Vec<f64> {
        tone_with(digit, ms, 10_000.0, 10_000.0, 1.0)
    }

    fn silence(ms: usize) -> Vec<f64> {
        vec![0.0; ms * 8]
    }

    fn pcm(x: &[f64]) -> Vec<i16> {
        x.iter()
            .map(|&v| v.round().clamp(-32768.0, 32767.0) as i16)
            .collect()
    }

    fn detect(samples: &[i16]) -> String {
        let mut d = Goertzel::new();
        d.push(samples);
        std::iter::from_fn(|| d.poll_digit()).collect()
    }

    fn presses(keys: &str, on_ms: usize, off_ms: usize) -> Vec<f64> {
        let mut out = Vec::new();
        for k in keys.chars() {
            out.extend(tone(k, on_ms));
            out.extend(silence(off_ms));
        }
        out
    }

    /// xorshift64*, uniform in [-1, 1).
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
            v as f64 / (1u64 << 52) as f64 - 1.0
        }
    }

    #[test]
    fn every_key_is_detected_once_per_press() {
        for k in KEY_ORDER.chars() {
            let mut signal = tone(k, 120);
            signal.extend(silence(100));
            assert_eq!(detect(&pcm(&signal)), k.to_string(), "key {k}");
        }
    }

    #[test]
    fn long_press_is_one_digit() {
        let mut signal = tone('5', 2000);
        signal.extend(silence(60));
        assert_eq!(detect(&pcm(&signal)), "5");
    }

    #[test]
    fn fifty_ms_tones_with_fifty_ms_gaps_are_all_detected_at_every_alignment() {
        let signal = pcm(&presses(KEY_ORDER, 50, 50));
        for offset in 0..BLOCK_SAMPLES {
            let mut shifted = vec![0i16; offset];
            shifted.extend(&signal);
            assert_eq!(detect(&shifted), KEY_ORDER, "offset {offset}");
        }
    }

    #[test]
    fn repeated_key_with_fifty_ms_gaps_counts_every_press() {
        assert_eq!(detect(&pcm(&presses("1111", 50, 50))), "1111");
    }

    #[test]
    fn gap_shorter_than_forty_ms_does_not_split_a_press() {
        let mut signal = tone('7', 100);
        signal.extend(silence(20));
        signal.extend(tone('7', 100));
        signal.extend(silence(60));
        assert_eq!(detect(&pcm(&signal)), "7");
    }

    #[test]
    fn tone_shorter_than_presence_time_is_ignored() {
        for offset in [0, 30, 60, 90] {
            let mut signal = silence(0);
            signal.extend(vec![0.0; offset]);
            signal.extend(tone('3', 25));
            signal.extend(silence(100));
            assert_eq!(detect(&pcm(&signal)), "", "offset {offset}");
        }
    }

    #[test]
    fn chunk_size_does_not_change_the_result() {
        let signal = pcm(&presses("147*", 60, 60));
        for chunk in [1, 7, 80, 160, 1000] {
            let mut d = Goertzel::new();
            for part in signal.chunks(chunk) {
                d.push(part);
            }
            let got: String = std::iter::from_fn(|| d.poll_digit()).collect();
            assert_eq!(got, "147*", "chunk {chunk}");
        }
    }

    #[test]
    fn tones_in_white_noise_at_20_db_snr_are_detected() {
        for seed in [1u64, 0xDEAD_BEEF, 42, 7_777_777] {
            let clean = presses(KEY_ORDER, 60, 60);
            // Signal power of two tones of amplitude A: A²; uniform noise on [-a, a]: a²/3.
            let signal_power = 10_000f64.powi(2);
            let noise_amp = (3.0 * signal_power / 100.0).sqrt();
            let mut noise = Noise(seed);
            let noisy: Vec<f64> = clean
                .iter()
                .map(|&s| s + noise_amp * noise.next())
                .collect();
            assert_eq!(detect(&pcm(&noisy)), KEY_ORDER, "seed {seed}");
        }
    }

    #[test]
    fn frequency_deviation_of_one_and_a_half_percent_is_accepted() {
        for factor in [0.985, 1.015] {
            let mut signal = Vec::new();
            for k in KEY_ORDER.chars() {
                signal.extend(tone_with(k, 60, 10_000.0, 10_000.0, factor));
                signal.extend(silence(60));
            }
            assert_eq!(detect(&pcm(&signal)), KEY_ORDER, "factor {factor}");
        }
    }

    #[test]
    fn normal_twist_of_6_db_is_accepted_and_10_db_rejected() {
        let weaker = |db: f64| 10_000.0 * 10f64.powf(-db / 20.0);
        for k in KEY_ORDER.chars() {
            let row_louder_6 = tone_with(k, 100, 10_000.0, weaker(6.0), 1.0);
            assert_eq!(detect(&pcm(&row_louder_6)), k.to_string(), "key {k} 6 dB");
            let row_louder_10 = tone_with(k, 100, 10_000.0, weaker(10.0), 1.0);
            assert_eq!(detect(&pcm(&row_louder_10)), "", "key {k} 10 dB");
        }
    }

    #[test]
    fn reverse_twist_of_3_db_is_accepted_and_6_db_rejected() {
        let weaker = |db: f64| 10_000.0 * 10f64.powf(-db / 20.0);
        for k in KEY_ORDER.chars() {
            let col_louder_3 = tone_with(k, 100, weaker(3.0), 10_000.0, 1.0);
            assert_eq!(detect(&pcm(&col_louder_3)), k.to_string(), "key {k} 3 dB");
            let col_louder_6 = tone_with(k, 100, weaker(6.0), 10_000.0, 1.0);
            assert_eq!(detect(&pcm(&col_louder_6)), "", "key {k} 6 dB");
        }
    }

    #[test]
    fn quiet_tones_are_detected_down_to_minus_30_dbfs_and_whispers_ignored() {
        // 1000 / 32768 is about -30 dBFS per tone.
        assert_eq!(detect(&pcm(&tone_with('9', 100, 1000.0, 1000.0, 1.0))), "9");
        assert_eq!(detect(&pcm(&tone_with('9', 100, 20.0, 20.0, 1.0))), "");
    }

    #[test]
    fn single_1khz_tone_silence_and_noise_give_no_digit() {
        let one_khz: Vec<f64> = (0..8000)
            .map(|n| 16_000.0 * (2.0 * std::f64::consts::PI * 1000.0 * n as f64 / 8000.0).sin())
            .collect();
        assert_eq!(detect(&pcm(&one_khz)), "");
        assert_eq!(detect(&vec![0i16; 8000]), "");
        let mut noise = Noise(99);
        let white: Vec<f64> = (0..16_000).map(|_| 8000.0 * noise.next()).collect();
        assert_eq!(detect(&pcm(&white)), "");
        // A single row tone (half a DTMF pair) is no digit either.
        let row_only = tone_with('5', 200, 10_000.0, 0.0, 1.0);
        assert_eq!(detect(&pcm(&row_only)), "");
    }

    #[test]
    fn hungarian_speech_prompts_give_no_digit() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/hu");
        let set = crate::media::prompts::PromptSet::load(&dir).expect("test data is valid");
        let mut speech_samples = 0;
        for id in set.ids() {
            if id == "beep" {
                continue;
            }
            let prompt = set.get(id).expect("test data is valid");
            speech_samples += prompt.pcm.len();
            assert_eq!(detect(&prompt.pcm), "", "talk-off in prompt {id}");
        }
        assert!(
            speech_samples > 8000 * 200,
            "only {speech_samples} samples of speech"
        );
    }

    #[test]
    fn speech_followed_by_a_key_press_detects_only_the_key() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/hu");
        let set = crate::media::prompts::PromptSet::load(&dir).expect("test data is valid");
        let menu = set.get("main_menu").expect("test data is valid");
        let mut signal: Vec<i16> = menu.pcm[..8000 * 3].to_vec();
        signal.extend(pcm(&tone('2', 80)));
        signal.extend(&menu.pcm[8000 * 3..8000 * 5]);
        assert_eq!(detect(&signal), "2");
    }
}
