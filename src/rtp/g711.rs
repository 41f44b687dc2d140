//! G.711 A-law and µ-law (ITU-T G.711, 11/88), table-driven.
//!
//! All four tables are computed at compile time from the segment rules of G.711 (the same
//! arithmetic as the widely used reference `g711.c`): decoding is one lookup in a 256-entry
//! table, encoding one lookup indexed by the top 13 (A-law) or 14 (µ-law) bits of the
//! 16-bit sample, which are exactly the bits G.711 looks at.
//!
//! ```text
//! A-law:  S EEE MMMM, every bit of even position inverted (xor 0x55), sign 1 = positive
//! µ-law:  S EEE MMMM, all bits inverted,                               sign 0 = negative
//! ```
//!
//! Silence is 0xD5 in A-law and 0xFF in µ-law.

use crate::sdp::offer_answer::Codec;

/// The A-law code of digital silence.
pub const ALAW_SILENCE: u8 = 0xd5;
/// The µ-law code of digital silence.
pub const ULAW_SILENCE: u8 = 0xff;

/// Encodes one 16-bit linear sample to A-law.
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    ALAW_ENCODE[((sample as u16) >> 3) as usize]
}

/// Decodes one A-law code to a 16-bit linear sample.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

/// Encodes one 16-bit linear sample to µ-law.
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    ULAW_ENCODE[((sample as u16) >> 2) as usize]
}

/// Decodes one µ-law code to a 16-bit linear sample.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// The code of silence for `codec`.
pub const fn silence(codec: Codec) -> u8 {
    match codec {
        Codec::Pcma => ALAW_SILENCE,
        Codec::Pcmu => ULAW_SILENCE,
    }
}

/// Encodes `pcm` into `out`, one code per sample; encodes `min(pcm.len(), out.len())` samples
/// and returns that count.
pub fn encode(codec: Codec, pcm: &[i16], out: &mut [u8]) -> usize {
    let table: &[u8] = match codec {
        Codec::Pcma => &ALAW_ENCODE,
        Codec::Pcmu => &ULAW_ENCODE,
    };
    let shift = match codec {
        Codec::Pcma => 3,
        Codec::Pcmu => 2,
    };
    let n = pcm.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(&pcm[..n]) {
        *o = table[((s as u16) >> shift) as usize];
    }
    n
}

/// Decodes `codes` into `out`; decodes `min(codes.len(), out.len())` codes and returns that
/// count.
pub fn decode(codec: Codec, codes: &[u8], out: &mut [i16]) -> usize {
    let table = match codec {
        Codec::Pcma => &ALAW_DECODE,
        Codec::Pcmu => &ULAW_DECODE,
    };
    let n = codes.len().min(out.len());
    for (o, &c) in out[..n].iter_mut().zip(&codes[..n]) {
        *o = table[c as usize];
    }
    n
}

const ALAW_DECODE: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_to_linear(i as u8);
        i += 1;
    }
    table
};

const ULAW_DECODE: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ulaw_to_linear(i as u8);
        i += 1;
    }
    table
};

/// Indexed by the sample's top 13 bits as an unsigned number (two's complement order).
static ALAW_ENCODE: [u8; 8192] = {
    let mut table = [0u8; 8192];
    let mut i = 0;
    while i < 8192 {
        table[i] = linear_to_alaw(((i as u16) << 3) as i16);
        i += 1;
    }
    table
};

/// Indexed by the sample's top 14 bits as an unsigned number (two's complement order).
static ULAW_ENCODE: [u8; 16384] = {
    let mut table = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        table[i] = linear_to_ulaw(((i as u16) << 2) as i16);
        i += 1;
    }
    table
};

/// Upper ends of the eight A-law segments on the 13-bit magnitude.
const SEG_AEND: [i32; 8] = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
/// Upper ends of the eight µ-law segments on the biased 14-bit magnitude.
const SEG_UEND: [i32; 8] = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
/// µ-law bias (33 on the 14-bit scale, 132 on the 16-bit scale).
const ULAW_BIAS: i32 = 0x84;
/// Largest 14-bit µ-law magnitude before clipping.
const ULAW_CLIP: i32 = 8159;

const fn segment(value: i32, ends: &[i32; 8]) -> usize {
    let mut seg = 0;
    while seg < 8 {
        if value <= ends[seg] {
            return seg;
        }
        seg += 1;
    }
    8
}

const fn linear_to_alaw(sample: i16) -> u8 {
    let mut value = (sample as i32) >> 3;
    let mask: i32 = if value >= 0 {
        0xd5
    } else {
        value = -value - 1;
        0x55
    };
    let seg = segment(value, &SEG_AEND);
    if seg >= 8 {
        return (0x7f ^ mask) as u8;
    }
    let mut code = (seg as i32) << 4;
    code |= if seg < 2 {
        (value >> 1) & 0xf
    } else {
        (value >> seg) & 0xf
    };
    (code ^ mask) as u8
}

const fn alaw_to_linear(code: u8) -> i16 {
    let a = (code ^ 0x55) as i32;
    let mut t = (a & 0xf) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn linear_to_ulaw(sample: i16) -> u8 {
    let mut value = (sample as i32) >> 2;
    let mask: i32 = if value < 0 {
        value = -value;
        0x7f
    } else {
        0xff
    };
    if value > ULAW_CLIP {
        value = ULAW_CLIP;
    }
    value += ULAW_BIAS >> 2;
    let seg = segment(value, &SEG_UEND);
    if seg >= 8 {
        return (0x7f ^ mask) as u8;
    }
    let code = ((seg as i32) << 4) | ((value >> (seg + 1)) & 0xf);
    (code ^ mask) as u8
}

const fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code as i32 & 0xff;
    let mut t = ((u & 0xf) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    (if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alaw_known_values_from_g711_tables() {
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xaa), 32256);
        assert_eq!(alaw_decode(0x2a), -32256);
        assert_eq!(alaw_decode(0x80), 5504);
        assert_eq!(alaw_decode(0x00), -5504);
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xaa);
        assert_eq!(alaw_encode(i16::MIN), 0x2a);
        assert_eq!(alaw_encode(1000), 0xfa);
        assert_eq!(alaw_decode(0xfa), 1008);
    }

    #[test]
    fn ulaw_known_values_from_g711_tables() {
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x7f), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0xfe), 8);
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_encode(1000), 0xce);
        assert_eq!(ulaw_decode(0xce), 988);
    }

    #[test]
    fn silence_encodes_to_the_silence_codes() {
        assert_eq!(alaw_encode(0), silence(Codec::Pcma));
        assert_eq!(ulaw_encode(0), silence(Codec::Pcmu));
    }

    #[test]
    fn every_alaw_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(code)), code, "code {code:#04x}");
        }
    }

    #[test]
    fn every_ulaw_code_but_negative_zero_survives_decode_then_encode() {
        for code in 0..=255u8 {
            let expected = if code == 0x7f { 0xff } else { code };
            assert_eq!(ulaw_encode(ulaw_decode(code)), expected, "code {code:#04x}");
        }
    }

    #[test]
    fn decoding_is_monotonic_in_magnitude() {
        // Positive codes sorted by segment and mantissa give rising values.
        let alaw: Vec<i16> = (0x80..=0xffu8).map(|c| alaw_decode(c ^ 0x55)).collect();
        let ulaw: Vec<i16> = (0x80..=0xffu8).rev().map(ulaw_decode).collect();
        assert!(alaw.windows(2).all(|w| w[0] < w[1]), "{alaw:?}");
        assert!(ulaw.windows(2).all(|w| w[0] < w[1]), "{ulaw:?}");
    }

    /// Half the quantisation step of the segment `x` falls in, on the 16-bit scale.
    fn alaw_bound(x: i32) -> i32 {
        let m = x.unsigned_abs() as i32;
        if m < 512 {
            8
        } else {
            (1 << (32 - (m as u32).leading_zeros())) / 64
        }
    }

    #[test]
    fn alaw_round_trip_error_is_within_half_a_step_for_every_sample() {
        for x in i16::MIN..=i16::MAX {
            let y = alaw_decode(alaw_encode(x));
            let err = (i32::from(y) - i32::from(x)).abs();
            assert!(err <= alaw_bound(x.into()), "x={x} y={y} err={err}");
        }
    }

    #[test]
    fn ulaw_round_trip_error_is_within_half_a_step_for_every_unclipped_sample() {
        for x in -32124i16..=32124 {
            let y = ulaw_decode(ulaw_encode(x));
            let err = (i32::from(y) - i32::from(x)).abs();
            // Step 2^(seg+3) on the 16-bit scale; the 14-bit magnitude (floor-shifted, as the
            // encoder takes it) plus the bias of 33 sets the segment.
            let biased = (i32::from(x) >> 2).abs() + 33;
            let seg = 31 - (biased as u32).leading_zeros() as i32 - 5;
            let bound = (1 << (seg.max(0) + 2)) + 3;
            assert!(err <= bound, "x={x} y={y} err={err} bound={bound}");
        }
    }

    #[test]
    fn slice_codecs_match_the_sample_functions() {
        let pcm: Vec<i16> = (0..160)
            .map(|i| ((i * 409) % 65536 - 32768) as i16)
            .collect();
        let mut a = [0u8; 160];
        let mut u = [0u8; 160];
        assert_eq!(encode(Codec::Pcma, &pcm, &mut a), 160);
        assert_eq!(encode(Codec::Pcmu, &pcm, &mut u), 160);
        for i in 0..160 {
            assert_eq!(a[i], alaw_encode(pcm[i]));
            assert_eq!(u[i], ulaw_encode(pcm[i]));
        }
        let mut back = [0i16; 200];
        assert_eq!(decode(Codec::Pcma, &a, &mut back), 160);
        assert_eq!(back[5], alaw_decode(a[5]));
        assert_eq!(decode(Codec::Pcmu, &u, &mut back[..10]), 10);
        assert_eq!(back[9], ulaw_decode(u[9]));
    }
}
