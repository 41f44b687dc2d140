//! The prompt set: every voice prompt decoded once, resampled to 8 kHz mono and pre-encoded
//! into 20 ms G.711 frames, then shared read-only between calls as `Arc<PromptSet>`.
//!
//! A prompt directory (`prompts/hu/`) holds WAV files and `manifest.toml`:
//!
//! ```toml
//! [[prompt]]
//! id = "welcome"            # what dial plans and the number composer refer to
//! file = "welcome.wav"      # relative to the directory
//! text = "Üdvözöljük! …"    # exactly what the recording says
//! tts = "…"                 # optional: spelling for the synthesiser only (generate.sh)
//! ```
//!
//! Admins replace a synthetic prompt by copying a recording over its file. Nothing else is
//! needed because the loader accepts any WAV that hound reads:
//!
//! - samples: 8, 16, 24 or 32-bit integer, or 32-bit float;
//! - channels: any count, downmixed by averaging;
//! - sample rate: any, converted to 8000 Hz by a windowed-sinc resampler (Blackman window,
//!   16 zero crossings each side, cut-off at 90 % of the lower Nyquist frequency, i.e.
//!   3600 Hz when the input is faster than 8 kHz, so nothing above 4 kHz aliases into the
//!   telephone band).
//!
//! Loading happens off the call path (start-up and reload); calls only clone `Arc<Prompt>`s
//! and copy ready-made 160-byte frames into RTP packets.

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::rtp::g711::{alaw_encode, ulaw_encode};

/// Sample rate of every decoded prompt, in Hz.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples (and G.711 bytes) in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// Name of the manifest inside a prompt directory.
pub const MANIFEST_FILE: &str = "manifest.toml";

/// One decoded prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// Manifest id, e.g. `welcome` or `num_2_att`.
    pub id: String,
    /// The Hungarian text the recording says.
    pub text: String,
    /// 8 kHz mono linear PCM, exactly as decoded (not padded).
    pub pcm: Vec<i16>,
    /// 20 ms A-law frames; the last one is padded with encoded silence.
    pub pcma: Vec<[u8; FRAME_SAMPLES]>,
    /// 20 ms µ-law frames; the last one is padded with encoded silence.
    pub pcmu: Vec<[u8; FRAME_SAMPLES]>,
}

impl Prompt {
    /// Builds a prompt from 8 kHz mono samples, encoding its G.711 frames.
    #[must_use]
    pub fn from_pcm(id: impl Into<String>, text: impl Into<String>, pcm: Vec<i16>) -> Prompt {
        let pcma = encode_frames(&pcm, alaw_encode);
        let pcmu = encode_frames(&pcm, ulaw_encode);
        Prompt {
            id: id.into(),
            text: text.into(),
            pcm,
            pcma,
            pcmu,
        }
    }

    /// Number of 20 ms frames (the same for both codecs).
    #[must_use]
    pub fn frame_count(&self) -> usize {
        self.pcma.len()
    }

    /// Playing time of the frames, i.e. rounded up to whole 20 ms frames.
    #[must_use]
    pub fn duration(&self) -> Duration {
        Duration::from_millis(20 * self.frame_count() as u64)
    }
}

fn encode_frames(pcm: &[i16], encode: fn(i16) -> u8) -> Vec<[u8; FRAME_SAMPLES]> {
    pcm.chunks(FRAME_SAMPLES)
        .map(|chunk| {
            let mut frame = [encode(0); FRAME_SAMPLES];
            for (byte, &sample) in frame.iter_mut().zip(chunk) {
                *byte = encode(sample);
            }
            frame
        })
        .collect()
}

/// Every prompt of one directory, in manifest order.
#[derive(Debug, Default)]
pub struct PromptSet {
    order: Vec<String>,
    by_id: HashMap<String, Arc<Prompt>>,
    /// The file each prompt was decoded from (a recording when one replaced it).
    sources: HashMap<String, std::path::PathBuf>,
}

/// Name of the list of synthetic files' SHA-256 digests inside a prompt directory, written
/// by `generate.sh`: a prompt whose file still has one of these digests is still the
/// synthesiser's voice, whoever copied what where.
pub const SYNTHETIC_LIST: &str = "synthetic.sha256";

/// A studio recording that replaces a prompt's file: `recordings/<file>`, where
/// `recordings` is the daemon's own writable directory (the shipped prompt directory may
/// be read-only, e.g. under /usr/share).
pub fn recording_path(recordings: &Path, file: &str) -> Option<std::path::PathBuf> {
    valid_relative_file(file).then(|| recordings.join(file))
}

/// Checks that `path` holds a WAV the daemon can play (any rate, channels, 8–32-bit
/// integer or 32-bit float) and returns its length in 8 kHz samples.
pub fn check_wav(path: &Path) -> Result<usize, PromptError> {
    decode_wav(path).map(|pcm| pcm.len())
}

/// Why a prompt directory could not be loaded. Each message names the file and says what
/// was expected and what was found.
#[derive(Debug)]
pub enum PromptError {
    /// The manifest could not be read.
    ReadManifest {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The manifest is not valid TOML of the expected shape.
    ParseManifest { path: PathBuf, message: String },
    /// The manifest lists no prompt.
    EmptyManifest { path: PathBuf },
    /// An id is empty or has characters other than ASCII letters, digits, `_`, `-` and `.`.
    InvalidId { manifest: PathBuf, id: String },
    /// Two entries share an id.
    DuplicateId { manifest: PathBuf, id: String },
    /// A `file` is absolute or leaves the prompt directory.
    InvalidFile {
        manifest: PathBuf,
        id: String,
        file: String,
    },
    /// Files named by the manifest do not exist: (id, path) for every one of them.
    MissingFiles { missing: Vec<(String, PathBuf)> },
    /// hound could not read the file as WAV.
    Wav { path: PathBuf, source: hound::Error },
    /// The WAV is readable but its content is not usable.
    Format {
        path: PathBuf,
        expected: &'static str,
        found: String,
    },
}

impl fmt::Display for PromptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptError::ReadManifest { path, source } => {
                write!(
                    f,
                    "{}: expected a readable prompt manifest, found: {source}",
                    path.display()
                )
            }
            PromptError::ParseManifest { path, message } => write!(
                f,
                "{}: expected [[prompt]] tables with id, file and text, found: {}",
                path.display(),
                message.trim_end()
            ),
            PromptError::EmptyManifest { path } => write!(
                f,
                "{}: expected at least one [[prompt]], found none",
                path.display()
            ),
            PromptError::InvalidId { manifest, id } => write!(
                f,
                "{}: expected a prompt id of ASCII letters, digits, '_', '-' or '.', found {id:?}",
                manifest.display()
            ),
            PromptError::DuplicateId { manifest, id } => write!(
                f,
                "{}: expected unique prompt ids, found {id:?} twice",
                manifest.display()
            ),
            PromptError::InvalidFile { manifest, id, file } => write!(
                f,
                "{}: prompt {id:?}: expected a file path inside the prompt directory, found {file:?}",
                manifest.display()
            ),
            PromptError::MissingFiles { missing } => {
                write!(
                    f,
                    "expected a WAV file for every prompt, found {} missing:",
                    missing.len()
                )?;
                for (i, (id, path)) in missing.iter().enumerate() {
                    let sep = if i == 0 { " " } else { ", " };
                    write!(f, "{sep}{id} ({})", path.display())?;
                }
                Ok(())
            }
            PromptError::Wav { path, source } => {
                write!(
                    f,
                    "{}: expected a PCM WAV file, found: {source}",
                    path.display()
                )
            }
            PromptError::Format {
                path,
                expected,
                found,
            } => write!(f, "{}: expected {expected}, found {found}", path.display()),
        }
    }
}

impl std::error::Error for PromptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PromptError::ReadManifest { source, .. } => Some(source),
            PromptError::Wav { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    prompt: Vec<ManifestEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestEntry {
    id: String,
    file: String,
    text: String,
    /// Only for `generate.sh`; accepted here so that `deny_unknown_fields` still catches typos.
    #[serde(default, rename = "tts")]
    _tts: Option<String>,
}

impl PromptSet {
    /// Reads `dir/manifest.toml` and decodes every WAV it names.
    ///
    /// All missing files are reported together; any other problem stops at the first file.
    pub fn load(dir: &Path) -> Result<PromptSet, PromptError> {
        Self::load_with_recordings(dir, None)
    }

    /// [`PromptSet::load`], taking a prompt's file from `recordings` instead when a
    /// recording of the same name is there.
    pub fn load_with_recordings(
        dir: &Path,
        recordings: Option<&Path>,
    ) -> Result<PromptSet, PromptError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let source = std::fs::read_to_string(&manifest_path).map_err(|source| {
            PromptError::ReadManifest {
                path: manifest_path.clone(),
                source,
            }
        })?;
        let manifest: Manifest =
            toml::from_str(&source).map_err(|e| PromptError::ParseManifest {
                path: manifest_path.clone(),
                message: e.to_string(),
            })?;
        if manifest.prompt.is_empty() {
            return Err(PromptError::EmptyManifest {
                path: manifest_path,
            });
        }

        let mut seen = HashMap::with_capacity(manifest.prompt.len());
        let mut missing = Vec::new();
        for entry in &manifest.prompt {
            if !valid_id(&entry.id) {
                return Err(PromptError::InvalidId {
                    manifest: manifest_path,
                    id: entry.id.clone(),
                });
            }
            if seen.insert(entry.id.as_str(), ()).is_some() {
                return Err(PromptError::DuplicateId {
                    manifest: manifest_path,
                    id: entry.id.clone(),
                });
            }
            if !valid_relative_file(&entry.file) {
                return Err(PromptError::InvalidFile {
                    manifest: manifest_path,
                    id: entry.id.clone(),
                    file: entry.file.clone(),
                });
            }
            let path = dir.join(&entry.file);
            let recorded = recordings.is_some_and(|r| r.join(&entry.file).is_file());
            if !path.is_file() && !recorded {
                missing.push((entry.id.clone(), path));
            }
        }
        if !missing.is_empty() {
            return Err(PromptError::MissingFiles { missing });
        }

        let mut set = PromptSet {
            order: Vec::with_capacity(manifest.prompt.len()),
            by_id: HashMap::with_capacity(manifest.prompt.len()),
            sources: HashMap::with_capacity(manifest.prompt.len()),
        };
        for entry in manifest.prompt {
            let path = recordings
                .map(|r| r.join(&entry.file))
                .filter(|p| p.is_file())
                .unwrap_or_else(|| dir.join(&entry.file));
            let pcm = decode_wav(&path)?;
            set.sources.insert(entry.id.clone(), path);
            set.insert(Prompt::from_pcm(entry.id, entry.text, pcm));
        }
        Ok(set)
    }

    /// Builds a set from prompts made in memory (tests, generated tones). A later prompt with
    /// the same id replaces an earlier one.
    #[must_use]
    pub fn from_prompts(prompts: impl IntoIterator<Item = Prompt>) -> PromptSet {
        let mut set = PromptSet::default();
        for prompt in prompts {
            set.insert(prompt);
        }
        set
    }

    fn insert(&mut self, prompt: Prompt) {
        if !self.by_id.contains_key(&prompt.id) {
            self.order.push(prompt.id.clone());
        }
        self.by_id.insert(prompt.id.clone(), Arc::new(prompt));
    }

    /// The file the prompt was decoded from (none for prompts made in memory).
    #[must_use]
    pub fn source(&self, id: &str) -> Option<&Path> {
        self.sources.get(id).map(std::path::PathBuf::as_path)
    }

    /// The prompt with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<Arc<Prompt>> {
        self.by_id.get(id).cloned()
    }

    /// Whether the set has a prompt with this id.
    #[must_use]
    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Every id, in manifest order.
    pub fn ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.order.iter().map(String::as_str)
    }

    /// Number of prompts.
    #[must_use]
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the set has no prompt.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn valid_relative_file(file: &str) -> bool {
    let path = Path::new(file);
    !file.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Decodes a WAV file into 8 kHz mono i16 samples.
fn decode_wav(path: &Path) -> Result<Vec<i16>, PromptError> {
    let wav_err = |source| PromptError::Wav {
        path: path.to_path_buf(),
        source,
    };
    let format_err = |expected, found| PromptError::Format {
        path: path.to_path_buf(),
        expected,
        found,
    };
    let reader = hound::WavReader::open(path).map_err(wav_err)?;
    let spec = reader.spec();
    if spec.channels == 0 {
        return Err(format_err("at least one channel", "0 channels".to_owned()));
    }
    if spec.sample_rate == 0 {
        return Err(format_err("a sample rate above 0 Hz", "0 Hz".to_owned()));
    }
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f64;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| (f64::from(v) * scale) as f32))
                .collect::<Result<_, _>>()
                .map_err(wav_err)?
        }
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(wav_err)?,
        (format, bits) => {
            let kind = match format {
                hound::SampleFormat::Int => "integer",
                hound::SampleFormat::Float => "float",
            };
            return Err(format_err(
                "8, 16, 24 or 32-bit integer or 32-bit float samples",
                format!("{bits}-bit {kind} samples"),
            ));
        }
    };
    let mono = downmix(&interleaved, usize::from(spec.channels));
    if mono.is_empty() {
        return Err(format_err(
            "at least one sample",
            "an empty data chunk".to_owned(),
        ));
    }
    let at_8k = if spec.sample_rate == SAMPLE_RATE {
        mono
    } else {
        resample(&mono, spec.sample_rate, SAMPLE_RATE)
    };
    Ok(at_8k.iter().map(|&x| to_i16(x)).collect())
}

fn to_i16(x: f32) -> i16 {
    // Float WAVs may exceed ±1.0; clamp rather than wrap.
    (f64::from(x) * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Averages the channels of each interleaved frame; an incomplete last frame is dropped.
fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels == 1 {
        return interleaved.to_vec();
    }
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect()
}

/// Zero crossings of the sinc kernel on each side of its centre.
const ZERO_CROSSINGS: usize = 16;
/// Kernel table entries per zero crossing (linear interpolation between them).
const TABLE_OVERSAMPLE: usize = 512;
/// Cut-off as a fraction of the lower Nyquist frequency.
const ROLLOFF: f64 = 0.9;

/// Windowed-sinc sample-rate conversion of a mono signal.
///
/// Output sample `n` sits at input position `x = n · from / to`; it is the sum of the input
/// samples around `x`, weighted by a Blackman-windowed sinc low-pass whose cut-off is
/// `ROLLOFF · min(from, to) / 2` Hz. The weights are normalised to sum to one, which keeps
/// DC gain exact and tames the truncated kernel at the edges.
fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    let table = sinc_table();
    // Cut-off in cycles per input sample.
    let cutoff = 0.5 * ROLLOFF * (f64::from(to) / f64::from(from)).min(1.0);
    let scale = 2.0 * cutoff; // input samples -> kernel zero crossings
    let half_width = ZERO_CROSSINGS as f64 / scale;
    let out_len = (input.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    let last = input.len() as i64 - 1;
    let mut out = Vec::with_capacity(out_len);
    for n in 0..out_len {
        let x = (n as u64 * u64::from(from)) as f64 / f64::from(to);
        let lo = ((x - half_width).ceil() as i64).max(0);
        let hi = ((x + half_width).floor() as i64).min(last);
        let mut acc = 0.0f64;
        let mut weight_sum = 0.0f64;
        for k in lo..=hi {
            let u = ((x - k as f64) * scale).abs();
            let w = kernel(&table, u);
            acc += f64::from(input[k as usize]) * w;
            weight_sum += w;
        }
        let y = if weight_sum.abs() > 1e-9 {
            acc / weight_sum
        } else {
            acc
        };
        out.push(y as f32);
    }
    out
}

/// `sinc(u) · blackman(u / ZERO_CROSSINGS)` for `u` in zero crossings, tabulated.
fn sinc_table() -> Vec<f64> {
    let len = ZERO_CROSSINGS * TABLE_OVERSAMPLE + 2;
    (0..len)
        .map(|i| {
            let u = i as f64 / TABLE_OVERSAMPLE as f64;
            let v = u / ZERO_CROSSINGS as f64;
            if v >= 1.0 {
                return 0.0;
            }
            let sinc = if u == 0.0 {
                1.0
            } else {
                (std::f64::consts::PI * u).sin() / (std::f64::consts::PI * u)
            };
            let pi_v = std::f64::consts::PI * v;
            let window = 0.42 + 0.5 * pi_v.cos() + 0.08 * (2.0 * pi_v).cos();
            sinc * window
        })
        .collect()
}

fn kernel(table: &[f64], u: f64) -> f64 {
    let pos = u * TABLE_OVERSAMPLE as f64;
    let i = pos as usize;
    if i + 1 >= table.len() {
        return 0.0;
    }
    let frac = pos - i as f64;
    table[i] + (table[i + 1] - table[i]) * frac
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::g711::{alaw_decode, ulaw_decode};

    fn prompts_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/hu")
    }

    /// A fresh directory under the system temp dir, unique per test name and process,
    /// removed when dropped.
    struct ScratchDir(PathBuf);

    impl std::ops::Deref for ScratchDir {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for ScratchDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch_dir(name: &str) -> ScratchDir {
        let dir =
            std::env::temp_dir().join(format!("ugyelet-prompts-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test data is valid");
        ScratchDir(dir)
    }

    fn write_manifest(dir: &Path, entries: &[(&str, &str)]) {
        let mut s = String::new();
        for (id, file) in entries {
            s.push_str(&format!(
                "[[prompt]]\nid = \"{id}\"\nfile = \"{file}\"\ntext = \"szöveg\"\n\n"
            ));
        }
        std::fs::write(dir.join(MANIFEST_FILE), s).expect("test data is valid");
    }

    fn sine(rate: u32, freq: f64, amp: f64, len: usize) -> Vec<f64> {
        (0..len)
            .map(|n| amp * (2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate)).sin())
            .collect()
    }

    fn write_wav_i16(path: &Path, rate: u32, channels: u16, samples: &[i16]) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).expect("test data is valid");
        for &s in samples {
            w.write_sample(s).expect("test data is valid");
        }
        w.finalize().expect("test data is valid");
    }

    fn rms(x: &[f64]) -> f64 {
        (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn shipped_hungarian_set_loads_every_manifest_entry() {
        let set = PromptSet::load(&prompts_dir()).expect("test data is valid");
        let manifest: Manifest = toml::from_str(
            &std::fs::read_to_string(prompts_dir().join(MANIFEST_FILE))
                .expect("test data is valid"),
        )
        .expect("test data is valid");
        assert_eq!(set.len(), manifest.prompt.len());
        assert!(
            set.len() >= 30 + 60,
            "sentences plus word fragments, found {}",
            set.len()
        );
        let ids: Vec<&str> = set.ids().collect();
        assert_eq!(ids[0], "welcome");
        for entry in &manifest.prompt {
            let p = set.get(&entry.id).expect("test data is valid");
            assert_eq!(p.text, entry.text);
        }
    }

    #[test]
    fn shipped_prompts_have_sane_length_and_are_not_silent() {
        let set = PromptSet::load(&prompts_dir()).expect("test data is valid");
        for id in set.ids() {
            let p = set.get(id).expect("test data is valid");
            let secs = p.pcm.len() as f64 / 8000.0;
            if id == "pause" {
                // The one prompt that is silence on purpose: between the form menu's entries.
                assert!(p.pcm.iter().all(|&s| s == 0), "pause is digital silence");
                assert!((0.3..=1.0).contains(&secs), "pause: {secs:.2} s");
                continue;
            }
            let is_fragment = ["num_", "ord_", "word_", "day_", "key_", "art_"]
                .iter()
                .any(|prefix| id.starts_with(prefix));
            let (min, max) = if is_fragment { (0.1, 1.6) } else { (0.4, 25.0) };
            assert!(
                secs >= min && secs <= max,
                "{id}: {secs:.2} s outside {min}..{max}"
            );
            let samples: Vec<f64> = p.pcm.iter().map(|&s| f64::from(s)).collect();
            let level = rms(&samples);
            assert!(level > 1000.0, "{id}: rms {level:.0} looks silent");
            let peak = p
                .pcm
                .iter()
                .map(|s| s.unsigned_abs())
                .max()
                .expect("test data is valid");
            assert!(peak < 32000, "{id}: peak {peak} leaves no headroom");
        }
        // A long sentence is longer than a single word.
        let menu = set.get("main_menu").expect("test data is valid");
        assert!(
            menu.pcm.len() > 10 * 8000,
            "main menu {} samples",
            menu.pcm.len()
        );
    }

    #[test]
    fn shipped_manifest_text_is_safe_for_generate_script() {
        let src =
            std::fs::read_to_string(prompts_dir().join(MANIFEST_FILE)).expect("test data is valid");
        let manifest: Manifest = toml::from_str(&src).expect("test data is valid");
        for e in &manifest.prompt {
            for v in [&e.id, &e.file, &e.text] {
                assert!(
                    !v.contains('"') && !v.contains('\\') && !v.contains('\t'),
                    "{v}"
                );
            }
            assert_eq!(e.file, format!("{}.wav", e.id));
        }
    }

    #[test]
    fn frames_are_20ms_and_last_is_padded_with_encoded_silence() {
        let pcm: Vec<i16> = (0..400).map(|i| (i * 50) as i16).collect();
        let p = Prompt::from_pcm("t", "t", pcm.clone());
        assert_eq!(p.frame_count(), 3);
        assert_eq!(p.pcmu.len(), 3);
        assert_eq!(p.duration(), Duration::from_millis(60));
        assert_eq!(p.pcma[0][5], alaw_encode(pcm[5]));
        assert_eq!(p.pcmu[2][79], ulaw_encode(pcm[399]));
        assert!(p.pcma[2][80..].iter().all(|&b| b == 0xD5));
        assert!(p.pcmu[2][80..].iter().all(|&b| b == 0xFF));
        // Decoding the frames gives back the signal within G.711 quantisation.
        let back = alaw_decode(p.pcma[1][10]);
        assert!((i32::from(back) - i32::from(pcm[170])).abs() < 300);
        let back = ulaw_decode(p.pcmu[1][10]);
        assert!((i32::from(back) - i32::from(pcm[170])).abs() < 300);
    }

    #[test]
    fn missing_files_are_all_listed_with_ids() {
        let dir = scratch_dir("missing");
        write_manifest(&dir, &[("a", "a.wav"), ("b", "b.wav"), ("c", "c.wav")]);
        write_wav_i16(&dir.join("b.wav"), 8000, 1, &[1, 2, 3]);
        let err = PromptSet::load(&dir).unwrap_err();
        let PromptError::MissingFiles { missing } = &err else {
            panic!("{err}");
        };
        let ids: Vec<&str> = missing.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        let text = err.to_string();
        assert!(
            text.starts_with("expected a WAV file for every prompt, found 2 missing: a ("),
            "{text}"
        );
        assert!(text.contains("c.wav"), "{text}");
    }

    #[test]
    fn manifest_errors_name_the_manifest() {
        let dir = scratch_dir("manifest-errors");
        let err = PromptSet::load(&dir).unwrap_err();
        assert!(matches!(err, PromptError::ReadManifest { .. }));
        assert!(
            err.to_string()
                .contains("manifest.toml: expected a readable prompt manifest")
        );

        std::fs::write(
            dir.join(MANIFEST_FILE),
            "[[prompt]]\nid = \"a\"\nfiel = \"a.wav\"\ntext = \"x\"\n",
        )
        .expect("test data is valid");
        let err = PromptSet::load(&dir).unwrap_err().to_string();
        assert!(
            err.contains(
                "manifest.toml: expected [[prompt]] tables with id, file and text, found:"
            ),
            "{err}"
        );
        assert!(err.contains("fiel"), "{err}");

        std::fs::write(dir.join(MANIFEST_FILE), "").expect("test data is valid");
        let err = PromptSet::load(&dir).unwrap_err().to_string();
        assert!(
            err.ends_with("manifest.toml: expected at least one [[prompt]], found none"),
            "{err}"
        );

        write_manifest(&dir, &[("a", "a.wav"), ("a", "b.wav")]);
        let err = PromptSet::load(&dir).unwrap_err().to_string();
        assert!(
            err.ends_with("expected unique prompt ids, found \"a\" twice"),
            "{err}"
        );

        write_manifest(&dir, &[("a b", "a.wav")]);
        let err = PromptSet::load(&dir).unwrap_err().to_string();
        assert!(err.contains("found \"a b\""), "{err}");

        write_manifest(&dir, &[("a", "../a.wav")]);
        let err = PromptSet::load(&dir).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "prompt \"a\": expected a file path inside the prompt directory, found \"../a.wav\""
            ),
            "{err}"
        );
    }

    #[test]
    fn non_wav_and_unsupported_wav_errors_name_the_file() {
        let dir = scratch_dir("bad-wav");
        write_manifest(&dir, &[("a", "a.wav")]);
        std::fs::write(dir.join("a.wav"), b"this is not a wav file at all")
            .expect("test data is valid");
        let err = PromptSet::load(&dir).unwrap_err().to_string();
        assert!(
            err.contains("a.wav: expected a PCM WAV file, found:"),
            "{err}"
        );

        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        hound::WavWriter::create(dir.join("a.wav"), spec)
            .expect("test data is valid")
            .finalize()
            .expect("test data is valid");
        let err = PromptSet::load(&dir).unwrap_err().to_string();
        assert!(
            err.ends_with("a.wav: expected at least one sample, found an empty data chunk"),
            "{err}"
        );
    }

    #[test]
    fn every_sample_format_decodes_to_the_same_8khz_signal() {
        let dir = scratch_dir("formats");
        let signal = sine(8000, 440.0, 0.5, 800);
        let cases: [(&str, u16, hound::SampleFormat); 5] = [
            ("i8", 8, hound::SampleFormat::Int),
            ("i16", 16, hound::SampleFormat::Int),
            ("i24", 24, hound::SampleFormat::Int),
            ("i32", 32, hound::SampleFormat::Int),
            ("f32", 32, hound::SampleFormat::Float),
        ];
        for (name, bits, format) in cases {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 8000,
                bits_per_sample: bits,
                sample_format: format,
            };
            let path = dir.join(format!("{name}.wav"));
            let mut w = hound::WavWriter::create(&path, spec).expect("test data is valid");
            for &x in &signal {
                match (format, bits) {
                    (hound::SampleFormat::Float, _) => {
                        w.write_sample(x as f32).expect("test data is valid")
                    }
                    (_, 8) => w
                        .write_sample((x * 127.0).round() as i8)
                        .expect("test data is valid"),
                    (_, 16) => w
                        .write_sample((x * 32767.0).round() as i16)
                        .expect("test data is valid"),
                    (_, 24) => w
                        .write_sample((x * 8_388_607.0).round() as i32)
                        .expect("test data is valid"),
                    _ => w
                        .write_sample((x * 2_147_483_647.0).round() as i32)
                        .expect("test data is valid"),
                }
            }
            w.finalize().expect("test data is valid");
            let pcm = decode_wav(&path).expect("test data is valid");
            assert_eq!(pcm.len(), 800, "{name}");
            let tolerance = if bits == 8 { 300 } else { 2 };
            for (i, (&got, &want)) in pcm.iter().zip(&signal).enumerate() {
                let want = (want * 32768.0).round() as i32;
                assert!(
                    (i32::from(got) - want).abs() <= tolerance,
                    "{name}[{i}]: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn stereo_is_downmixed_by_averaging() {
        let dir = scratch_dir("stereo");
        let path = dir.join("s.wav");
        // Left 8000, right 2000 -> 5000; left -4000, right 0 -> -2000.
        write_wav_i16(&path, 8000, 2, &[8000, 2000, -4000, 0]);
        assert_eq!(
            decode_wav(&path).expect("test data is valid"),
            [5000, -2000]
        );
    }

    #[test]
    fn resampling_48k_keeps_a_1khz_tone_and_length() {
        let input = sine(48_000, 1000.0, 0.5, 48_000);
        let input32: Vec<f32> = input.iter().map(|&x| x as f32).collect();
        let out = resample(&input32, 48_000, 8000);
        assert_eq!(out.len(), 8000);
        let expected = sine(8000, 1000.0, 0.5, 8000);
        // Ignore the kernel's edge effects at both ends.
        let err: Vec<f64> = out[100..7900]
            .iter()
            .zip(&expected[100..7900])
            .map(|(&a, &b)| f64::from(a) - b)
            .collect();
        let snr_db = 20.0 * (rms(&expected[100..7900]) / rms(&err)).log10();
        assert!(snr_db > 60.0, "snr {snr_db:.1} dB");
    }

    #[test]
    fn resampling_44k1_removes_tones_above_4khz() {
        // 6 kHz would alias to 2 kHz with naive decimation.
        let input: Vec<f32> = sine(44_100, 6000.0, 0.5, 44_100)
            .iter()
            .map(|&x| x as f32)
            .collect();
        let out = resample(&input, 44_100, 8000);
        assert_eq!(out.len(), 8000);
        let mid: Vec<f64> = out[200..7800].iter().map(|&x| f64::from(x)).collect();
        let atten_db = 20.0 * (rms(&mid) / (0.5 / 2f64.sqrt())).log10();
        assert!(
            atten_db < -60.0,
            "6 kHz only attenuated by {atten_db:.1} dB"
        );
        // A 1 kHz tone at 44.1 kHz passes at unit gain.
        let input: Vec<f32> = sine(44_100, 1000.0, 0.5, 44_100)
            .iter()
            .map(|&x| x as f32)
            .collect();
        let out = resample(&input, 44_100, 8000);
        let mid: Vec<f64> = out[200..7800].iter().map(|&x| f64::from(x)).collect();
        let gain_db = 20.0 * (rms(&mid) / (0.5 / 2f64.sqrt())).log10();
        assert!(gain_db.abs() < 0.1, "1 kHz gain {gain_db:.2} dB");
    }

    #[test]
    fn a_copied_recording_at_another_rate_replaces_a_prompt() {
        let dir = scratch_dir("replace");
        write_manifest(&dir, &[("welcome", "welcome.wav")]);
        // A 16 kHz stereo "recording" of half a second.
        let tone = sine(16_000, 500.0, 0.25, 8000);
        let stereo: Vec<i16> = tone
            .iter()
            .flat_map(|&x| {
                let s = (x * 32767.0) as i16;
                [s, s]
            })
            .collect();
        write_wav_i16(&dir.join("welcome.wav"), 16_000, 2, &stereo);
        let set = PromptSet::load(&dir).expect("test data is valid");
        let p = set.get("welcome").expect("test data is valid");
        assert_eq!(p.pcm.len(), 4000);
        assert_eq!(p.frame_count(), 25);
        let peak = p.pcm[500..3500]
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .expect("test data is valid");
        assert!((8000..8400).contains(&peak), "peak {peak}");
        assert!(set.get("other").is_none());
    }
}
