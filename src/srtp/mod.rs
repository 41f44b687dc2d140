//! SRTP (RFC 3711, RFC 7714) as a sans-IO transform at the RTP packet boundary.
//!
//! ```text
//!   plain RTP ──► Context::protect   (in place, adds the tag) ──► socket
//!   socket    ──► Context::unprotect (in place, checks replay and tag) ──► plain RTP
//! ```
//!
//! One [`Context`] serves one direction of one leg: the keys of a direction come from the
//! master key its sender announced (SDES `a=crypto`, RFC 4568, today; DTLS-SRTP's exporter
//! for browser calls later), and several SSRCs may share them (a relayed stream and our
//! prompts on one leg). The transform knows nothing of sockets, SDP or time: the driver keeps
//! a [`Session`] per leg next to its socket and runs every datagram through it.
//!
//! What is implemented, and nothing more:
//!
//! | suite                      | cipher                 | tag                          |
//! |----------------------------|------------------------|------------------------------|
//! | `AES_CM_128_HMAC_SHA1_80`  | AES-128 counter mode   | HMAC-SHA1, 80 bits (§4.2)    |
//! | `AEAD_AES_128_GCM`         | AES-128-GCM (RFC 7714) | GCM's own 128-bit tag        |
//!
//! Key derivation rate 0 (keys derived once, RFC 3711 §4.3.1), no MKI, no SRTCP: the daemon
//! sends no RTCP and drops what arrives (RTCP is on its own port, which nothing reads).
//!
//! The hot path does not allocate: the AES key schedule, the keyed HMAC state and the GCM
//! instance are made once per context, every packet works in the caller's buffer, and the
//! per-SSRC state (roll-over counter, replay window) lives in a small fixed table.

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes_gcm::{AeadInOut, Aes128Gcm};
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The protection profiles the daemon offers and accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    /// RFC 4568 §6.2.1, the suite every SDES endpoint must support.
    AesCm128HmacSha1_80,
    /// RFC 7714 §14.2: AES-GCM with a 16-octet tag.
    AeadAes128Gcm,
}

impl Suite {
    /// Every suite, in our order of preference (GCM first: one pass, and a longer tag).
    pub const ALL: [Suite; 2] = [Suite::AeadAes128Gcm, Suite::AesCm128HmacSha1_80];

    /// The name in SDP `a=crypto` (RFC 4568 §6.2, RFC 7714 §14.2).
    pub fn sdes_name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AeadAes128Gcm => "AEAD_AES_128_GCM",
        }
    }

    /// The suite an `a=crypto` line names, if it is one of ours (names are case-sensitive,
    /// RFC 4568 §9.2: "srtp-crypto-suite = ... ; case sensitive").
    pub fn from_sdes_name(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.sdes_name() == name)
    }

    /// Master key length in octets.
    pub fn key_len(self) -> usize {
        16
    }

    /// Master salt length in octets (RFC 3711 §8.2: 112 bits; RFC 7714 §11: 96 bits).
    pub fn salt_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 14,
            Suite::AeadAes128Gcm => 12,
        }
    }

    /// Octets a protected packet is longer than the plain one.
    pub fn overhead(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 10,
            Suite::AeadAes128Gcm => 16,
        }
    }
}

/// The longest master key and salt of any suite: 16 + 14 octets.
const MAX_KEY_SALT: usize = 30;

/// A master key and salt for one direction, as SDES carries them (`inline:` key ‖ salt).
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    suite: Suite,
    bytes: [u8; MAX_KEY_SALT],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself: logs and test failures must not leak it.
        f.debug_struct("MasterKey")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// A master key from `key ‖ salt`; the length must be the suite's.
    pub fn new(suite: Suite, key_and_salt: &[u8]) -> Result<MasterKey, SrtpError> {
        let want = suite.key_len() + suite.salt_len();
        if key_and_salt.len() != want {
            return Err(SrtpError::KeyLength {
                suite,
                expected: want,
                found: key_and_salt.len(),
            });
        }
        let mut bytes = [0u8; MAX_KEY_SALT];
        bytes[..want].copy_from_slice(key_and_salt);
        Ok(MasterKey { suite, bytes })
    }

    /// A fresh key from 30 random octets (the driver passes OS randomness; the suite takes
    /// as many as it needs).
    pub fn from_random(suite: Suite, random: [u8; MAX_KEY_SALT]) -> MasterKey {
        let mut bytes = [0u8; MAX_KEY_SALT];
        let n = suite.key_len() + suite.salt_len();
        bytes[..n].copy_from_slice(&random[..n]);
        MasterKey { suite, bytes }
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// `key ‖ salt`, as SDES encodes it in base64.
    pub fn key_and_salt(&self) -> &[u8] {
        &self.bytes[..self.suite.key_len() + self.suite.salt_len()]
    }

    fn key(&self) -> &[u8] {
        &self.bytes[..self.suite.key_len()]
    }

    fn salt(&self) -> &[u8] {
        let k = self.suite.key_len();
        &self.bytes[k..k + self.suite.salt_len()]
    }
}

/// Why a packet or a key was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SrtpError {
    KeyLength {
        suite: Suite,
        expected: usize,
        found: usize,
    },
    /// Shorter than an RTP header (with its CSRCs and extension) plus the tag.
    TooShort { len: usize },
    /// Not RTP version 2.
    NotRtp,
    /// The buffer has no room for the tag.
    NoRoom { len: usize, capacity: usize },
    /// The tag does not match: forged, damaged, or keyed for someone else.
    Authentication,
    /// This packet index was seen already, or is older than the replay window.
    Replayed { index: u64 },
}

impl std::fmt::Display for SrtpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SrtpError::KeyLength {
                suite,
                expected,
                found,
            } => write!(
                f,
                "expected {expected} octets of key and salt for {}, found {found}",
                suite.sdes_name()
            ),
            SrtpError::TooShort { len } => {
                write!(
                    f,
                    "expected an RTP header and an SRTP tag, found {len} octets"
                )
            }
            SrtpError::NotRtp => write!(f, "expected RTP version 2"),
            SrtpError::NoRoom { len, capacity } => write!(
                f,
                "expected room for the tag after {len} octets, found a buffer of {capacity}"
            ),
            SrtpError::Authentication => write!(f, "authentication tag does not match"),
            SrtpError::Replayed { index } => write!(f, "packet index {index} replayed or too old"),
        }
    }
}

impl std::error::Error for SrtpError {}

/// The SRTP key derivation labels (RFC 3711 §4.3.1); the daemon needs only RTP's.
const LABEL_ENCRYPTION: u8 = 0x00;
const LABEL_AUTH: u8 = 0x01;
const LABEL_SALT: u8 = 0x02;

/// The RFC 3711 §4.3.3 pseudo-random function with a key derivation rate of 0: AES in
/// counter mode keyed with the master key, started at `x = (label ‖ 0⁴⁸) XOR master_salt`,
/// shifted left 16 bits.
///
/// RFC 3711 §4.3.1: "Let r = index DIV key_derivation_rate (with DIV as defined above).
/// Let key_id = <label> || r. Let x = key_id XOR master_salt, where key_id and master_salt
/// are aligned so that their least significant bits agree (right-alignment)."
///
/// RFC 7714 §11 uses the same function with its 96-bit salt; like libsrtp, the salt is
/// placed left-aligned in the 112-bit field, zero-padded on the right.
fn derive(master: &MasterKey, label: u8, out: &mut [u8]) {
    let prf = Aes128::new_from_slice(master.key()).expect("every suite's master key is 16 octets");
    let mut x = [0u8; 16];
    x[..master.salt().len()].copy_from_slice(master.salt());
    // key_id is 7 octets (label, then 48 bits of r = 0), right-aligned in the 14-octet salt.
    x[7] ^= label;
    keystream_xor(&prf, &x, out, true);
}

/// XORs `data` with the AES counter-mode keystream started at `iv` (whose last two octets
/// are the block counter, RFC 3711 §4.1.1). With `zero` the data is taken as zeros, i.e.
/// the keystream itself is written.
fn keystream_xor(aes: &Aes128, iv: &[u8; 16], data: &mut [u8], zero: bool) {
    for (j, chunk) in data.chunks_mut(16).enumerate() {
        let mut block = *iv;
        // At most 2^16 blocks per packet (RFC 3711 §4.1.1); RTP packets are far below.
        let counter = u16::try_from(j).unwrap_or(u16::MAX).to_be_bytes();
        block[14] ^= counter[0];
        block[15] ^= counter[1];
        let mut b = aes::Block::from(block);
        aes.encrypt_block(&mut b);
        for (d, k) in chunk.iter_mut().zip(b.iter()) {
            *d = if zero { *k } else { *d ^ *k };
        }
    }
}

/// How many SSRCs one context follows at once (a leg carries one or two streams; a peer
/// that changes SSRC mid-call replaces the stream used longest ago).
const MAX_STREAMS: usize = 4;

/// The replay window (RFC 3711 §3.3.2: "MUST be at least 64").
const REPLAY_WINDOW: u64 = 128;

/// What the transform keeps per SSRC (RFC 3711 §3.2.1): the roll-over counter and the
/// highest sequence number, and the receiver's replay list as a bit mask behind the
/// highest index.
#[derive(Debug, Clone, Copy, Default)]
struct Stream {
    ssrc: u32,
    used: bool,
    /// The highest packet index seen (ROC ‖ SEQ, RFC 3711 §3.3.1).
    highest: u64,
    /// Bit `n` set: index `highest - n` was seen.
    seen: u128,
    /// Orders streams by last use, to replace the stalest.
    touched: u64,
}

impl Stream {
    /// RFC 3711 §3.3.1 and Appendix A: the index of a packet with sequence number `seq`,
    /// guessed as the one closest to the highest index so far.
    fn estimate(&self, seq: u16) -> u64 {
        if !self.used {
            return u64::from(seq);
        }
        let s_l = self.highest & 0xffff;
        let roc = self.highest >> 16;
        let seq64 = u64::from(seq);
        let v = if s_l < 32_768 {
            if seq64 > s_l && seq64 - s_l > 32_768 {
                roc.wrapping_sub(1)
            } else {
                roc
            }
        } else if s_l - 32_768 > seq64 {
            roc + 1
        } else {
            roc
        };
        // A guess below ROC 0 (a reordered packet before the very first) has no index.
        if v > (u64::MAX >> 16) {
            return seq64;
        }
        (v << 16) | seq64
    }

    /// RFC 3711 §3.3.2: a packet whose index was seen, or lies behind the window, is a
    /// replay.
    fn replayed(&self, index: u64) -> bool {
        if !self.used || index > self.highest {
            return false;
        }
        let behind = self.highest - index;
        behind >= REPLAY_WINDOW || self.seen & (1u128 << behind) != 0
    }

    /// Takes `index` as seen (after the packet was authenticated).
    fn update(&mut self, index: u64) {
        if !self.used {
            self.used = true;
            self.highest = index;
            self.seen = 1;
        } else if index > self.highest {
            let shift = index - self.highest;
            self.seen = if shift >= REPLAY_WINDOW {
                1
            } else {
                (self.seen << shift) | 1
            };
            self.highest = index;
        } else {
            self.seen |= 1u128 << (self.highest - index);
        }
    }
}

/// The session keys of one suite.
enum Keys {
    Cm(Box<CmKeys>),
    Gcm(Box<GcmKeys>),
}

struct CmKeys {
    aes: Aes128,
    salt: [u8; 14],
    mac: Hmac<Sha1>,
}

struct GcmKeys {
    aead: Aes128Gcm,
    salt: [u8; 12],
}

/// One direction of SRTP for one leg: protect what we send, or unprotect what we receive.
pub struct Context {
    suite: Suite,
    keys: Keys,
    streams: [Stream; MAX_STREAMS],
    uses: u64,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Derives the session keys from `master` (RFC 3711 §4.3).
    pub fn new(master: &MasterKey) -> Context {
        let keys = match master.suite {
            Suite::AesCm128HmacSha1_80 => {
                let mut key = [0u8; 16];
                let mut auth = [0u8; 20];
                let mut salt = [0u8; 14];
                derive(master, LABEL_ENCRYPTION, &mut key);
                derive(master, LABEL_AUTH, &mut auth);
                derive(master, LABEL_SALT, &mut salt);
                Keys::Cm(Box::new(CmKeys {
                    aes: Aes128::new((&key).into()),
                    salt,
                    mac: <Hmac<Sha1> as KeyInit>::new_from_slice(&auth)
                        .expect("HMAC takes a key of any length"),
                }))
            }
            Suite::AeadAes128Gcm => {
                let mut key = [0u8; 16];
                let mut salt = [0u8; 12];
                derive(master, LABEL_ENCRYPTION, &mut key);
                derive(master, LABEL_SALT, &mut salt);
                Keys::Gcm(Box::new(GcmKeys {
                    aead: Aes128Gcm::new((&key).into()),
                    salt,
                }))
            }
        };
        Context {
            suite: master.suite,
            keys,
            streams: [Stream::default(); MAX_STREAMS],
            uses: 0,
        }
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The stream state of `ssrc`, taking over the stalest slot for a new one.
    fn stream(&mut self, ssrc: u32) -> usize {
        self.uses += 1;
        let found = self
            .streams
            .iter()
            .position(|s| s.used && s.ssrc == ssrc)
            .unwrap_or_else(|| {
                let stalest = self
                    .streams
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| if s.used { s.touched } else { 0 })
                    .map_or(0, |(i, _)| i);
                self.streams[stalest] = Stream {
                    ssrc,
                    ..Stream::default()
                };
                stalest
            });
        self.streams[found].touched = self.uses;
        found
    }

    /// Protects the RTP packet in `buf[..len]` in place and returns the SRTP packet's length
    /// (`len` plus the suite's overhead); `buf` must have room for the tag.
    pub fn protect(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let header = header_len(&buf[..len.min(buf.len())])?;
        let out = len + self.suite.overhead();
        if buf.len() < out {
            return Err(SrtpError::NoRoom {
                len,
                capacity: buf.len(),
            });
        }
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let slot = self.stream(ssrc);
        let index = self.streams[slot].estimate(seq);
        let stream = &mut self.streams[slot];
        // RFC 3711 §9.1: the keystream "MUST NOT be reused"; a packet index protected once
        // is never protected again (a repeated sequence number, e.g. a relayed duplicate,
        // is dropped here: the receiver would drop it as a replay anyway).
        if stream.replayed(index) {
            return Err(SrtpError::Replayed { index });
        }
        stream.update(index);
        match &mut self.keys {
            Keys::Cm(k) => {
                let CmKeys { aes, salt, mac } = &**k;
                let iv = cm_iv(salt, ssrc, index);
                keystream_xor(aes, &iv, &mut buf[header..len], false);
                let tag = cm_tag(mac, &buf[..len], index);
                buf[len..out].copy_from_slice(&tag[..10]);
            }
            Keys::Gcm(k) => {
                let GcmKeys { aead, salt } = &**k;
                let nonce = gcm_iv(salt, ssrc, index);
                let (aad, rest) = buf.split_at_mut(header);
                let (payload, tag_room) = rest.split_at_mut(len - header);
                let tag = aead
                    .encrypt_inout_detached(&nonce.into(), aad, payload.into())
                    .map_err(|_| SrtpError::TooShort { len })?;
                tag_room[..16].copy_from_slice(&tag);
            }
        }
        Ok(out)
    }

    /// Checks and decrypts the SRTP packet in `buf` in place and returns the plain RTP
    /// packet's length. A refused packet leaves the stream state as it was.
    pub fn unprotect(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let overhead = self.suite.overhead();
        if buf.len() < 12 + overhead {
            return Err(SrtpError::TooShort { len: buf.len() });
        }
        let len = buf.len() - overhead;
        let header = header_len(&buf[..len])?;
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        // Look the stream up without taking a slot: a forged packet must not evict a
        // real stream.
        let known = self.streams.iter().position(|s| s.used && s.ssrc == ssrc);
        let probe = known.map(|i| self.streams[i]).unwrap_or_default();
        let index = probe.estimate(seq);
        if probe.replayed(index) {
            return Err(SrtpError::Replayed { index });
        }
        match &mut self.keys {
            Keys::Cm(k) => {
                let CmKeys { aes, salt, mac } = &**k;
                let tag = cm_tag(mac, &buf[..len], index);
                // Constant time: whether and where the tags differ stays unseen.
                let diff = tag[..10]
                    .iter()
                    .zip(&buf[len..])
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b));
                if diff != 0 {
                    return Err(SrtpError::Authentication);
                }
                let iv = cm_iv(salt, ssrc, index);
                keystream_xor(aes, &iv, &mut buf[header..len], false);
            }
            Keys::Gcm(k) => {
                let GcmKeys { aead, salt } = &**k;
                let nonce = gcm_iv(salt, ssrc, index);
                let (aad, rest) = buf.split_at_mut(header);
                let (payload, tag) = rest.split_at_mut(len - header);
                let tag = aes_gcm::Tag::try_from(&tag[..16]).map_err(|_| SrtpError::TooShort {
                    len: header + payload.len(),
                })?;
                aead.decrypt_inout_detached(&nonce.into(), aad, payload.into(), &tag)
                    .map_err(|_| SrtpError::Authentication)?;
            }
        }
        let slot = known.unwrap_or_else(|| self.stream(ssrc));
        self.streams[slot].update(index);
        Ok(len)
    }
}

/// RFC 3711 §4.1.1: "IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)".
fn cm_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (d, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *d ^= s;
    }
    // The 48-bit index in octets 8..14.
    for (d, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *d ^= s;
    }
    iv
}

/// RFC 3711 §4.2: the tag is HMAC-SHA1 over the authenticated portion (header and
/// encrypted payload) followed by the roll-over counter.
fn cm_tag(mac: &Hmac<Sha1>, packet: &[u8], index: u64) -> [u8; 20] {
    let roc = u32::try_from(index >> 16).unwrap_or(u32::MAX);
    let mut m = mac.clone();
    m.update(packet);
    m.update(&roc.to_be_bytes());
    m.finalize().into_bytes().into()
}

/// RFC 7714 §8.1: the 12-octet IV is `00 00 ‖ SSRC ‖ ROC ‖ SEQ` XOR the session salt.
fn gcm_iv(salt: &[u8; 12], ssrc: u32, index: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..12].copy_from_slice(&index.to_be_bytes()[2..]);
    for (d, s) in iv.iter_mut().zip(salt) {
        *d ^= s;
    }
    iv
}

/// The length of the RTP header (RFC 3550 §5.1, with CSRCs and the §5.3.1 extension):
/// SRTP leaves it in the clear and authenticates it.
fn header_len(packet: &[u8]) -> Result<usize, SrtpError> {
    if packet.len() < 12 {
        return Err(SrtpError::TooShort { len: packet.len() });
    }
    if packet[0] >> 6 != 2 {
        return Err(SrtpError::NotRtp);
    }
    let mut len = 12 + 4 * usize::from(packet[0] & 0x0f);
    if packet[0] & 0x10 != 0 {
        let Some(ext) = packet.get(len + 2..len + 4) else {
            return Err(SrtpError::TooShort { len: packet.len() });
        };
        len += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    if len > packet.len() {
        return Err(SrtpError::TooShort { len: packet.len() });
    }
    Ok(len)
}

/// Both directions of one leg: what we send is protected with our key, what we receive is
/// checked with the key the peer announced.
pub struct Session {
    pub send: Context,
    pub receive: Context,
    /// Packets refused on receipt (forged, damaged, replayed), for the call's log.
    pub refused: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("suite", &self.send.suite)
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn new(ours: &MasterKey, theirs: &MasterKey) -> Session {
        Session {
            send: Context::new(ours),
            receive: Context::new(theirs),
            refused: 0,
        }
    }

    /// Unprotects a received datagram in place; `None` (counted) when it is refused.
    pub fn receive<'a>(&mut self, datagram: &'a mut [u8]) -> Option<&'a [u8]> {
        match self.receive.unprotect(datagram) {
            Ok(len) => Some(&datagram[..len]),
            Err(_) => {
                self.refused += 1;
                None
            }
        }
    }

    /// Copies `packet` into `out` and protects it there; `None` when `out` is too small
    /// or the packet is not RTP.
    pub fn send<'a>(&mut self, packet: &[u8], out: &'a mut [u8]) -> Option<&'a [u8]> {
        out.get_mut(..packet.len())?.copy_from_slice(packet);
        let len = self.send.protect(out, packet.len()).ok()?;
        Some(&out[..len])
    }
}

// Last in the file: the architecture test reads everything above the first
// `#[cfg(test)]` as production code.
#[cfg(test)]
mod tests;
