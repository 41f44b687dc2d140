//! Per-packet costs of the media path, for a 20 ms G.711 frame (160 samples):
//! building an outgoing packet from a prompt frame shared between calls, parsing an
//! incoming packet, decoding an RFC 4733 event payload, and running the in-band DTMF
//! detector (Goertzel over the 8 DTMF frequencies) on one 20 ms block.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ugyelet::media::prompts::{FRAME_SAMPLES, Prompt};
use ugyelet::rtp::dtmf::goertzel::Goertzel;
use ugyelet::rtp::dtmf::rfc4733;
use ugyelet::rtp::packet::{HEADER_LEN, parse};
use ugyelet::rtp::stream::OutgoingStream;

/// One second of a 697 Hz + 1477 Hz pair (DTMF '3') at −12 dBFS each, as 8 kHz samples.
fn dtmf_3() -> Vec<i16> {
    (0..8000)
        .map(|i| {
            let t = f64::from(i) / 8000.0;
            let v = 0.25 * (2.0 * std::f64::consts::PI * 697.0 * t).sin()
                + 0.25 * (2.0 * std::f64::consts::PI * 1477.0 * t).sin();
            (v * 32767.0) as i16
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let pcm = dtmf_3();
    // Prompts are shared read-only between calls as `Arc<Prompt>`.
    let prompt = Arc::new(Prompt::from_pcm("bench", "", pcm.clone()));
    let frame: &[u8; FRAME_SAMPLES] = &prompt.pcma[3];

    let mut g = c.benchmark_group("rtp");
    g.throughput(Throughput::Elements(1));

    g.bench_function("build 20 ms PCMA packet from a shared prompt frame", |b| {
        let mut stream = OutgoingStream::new(0x1234_5678, 8, 1000, 160_000);
        let mut out = [0u8; HEADER_LEN + FRAME_SAMPLES];
        b.iter(|| {
            let header = stream.next_header(FRAME_SAMPLES as u32);
            let n = header
                .write_into(black_box(frame), &mut out)
                .expect("buffer holds one packet");
            black_box(&out[..n]);
        })
    });

    let mut stream = OutgoingStream::new(0x1234_5678, 8, 1000, 160_000);
    let mut packet = Vec::new();
    stream
        .write_frame(frame, &mut packet)
        .expect("packet builds");
    g.bench_function("parse 20 ms PCMA packet", |b| {
        b.iter(|| parse(black_box(&packet)).expect("valid packet"))
    });

    let event = rfc4733::encode_event('3', 800, false).expect("'3' is an event");
    assert_eq!(rfc4733::decode(&event).map(|e| e.event), Ok(3));
    g.bench_function("decode RFC 4733 event payload", |b| {
        b.iter(|| rfc4733::decode(black_box(&event)))
    });

    let mut goertzel = Goertzel::new();
    let block = &pcm[..FRAME_SAMPLES];
    // The detector hears the digit on this very input, so the bench measures real work.
    let mut heard = None;
    for chunk in pcm.chunks(FRAME_SAMPLES) {
        goertzel.push(chunk);
        heard = heard.or(goertzel.poll_digit());
    }
    assert_eq!(heard, Some('3'));
    g.bench_function("Goertzel DTMF detector on a 20 ms block", |b| {
        b.iter(|| {
            goertzel.push(black_box(block));
            black_box(goertzel.poll_digit())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
