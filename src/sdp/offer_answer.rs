//! The RFC 3264 offer/answer model for ugyelet's one audio stream: G.711 (PCMA or PCMU at
//! 8000 Hz) plus RFC 4733 telephone events, sent in 20 ms packets.
//!
//! ```text
//!   caller's INVITE offer ──► answer() ──► (Negotiated, answer body for the 200)
//!   re-INVITE (hold/resume) ─► answer() with session_version + 1
//!   our own offer (B2BUA leg) ◄─ offer()          peer's answer ──► accept_answer()
//! ```
//!
//! The answer keeps one line per offered stream in the offered order; the first usable
//! audio stream is accepted with exactly one codec (the first the offerer listed that we
//! have) and, if offered, telephone-event; every other stream is rejected with port 0.
//! Listing one codec means the peer can never switch codecs under us without a new offer.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use sdp_types::{Attribute, Connection, Media, Origin, Session, Time};

use super::{SdpError, SessionDescription};

/// The clock rate of G.711 and of the telephone events we accept, in Hz.
pub const CLOCK_RATE: u32 = 8000;
/// The packet time we send, in milliseconds.
pub const PTIME_MS: u32 = 20;
/// RFC 4733 events we offer: DTMF 0-9, *, #, A-D and flash.
const OFFERED_EVENTS: &str = "0-16";

/// A G.711 codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0 (RFC 3551 §6).
    Pcmu,
    /// G.711 A-law, static payload type 8 (RFC 3551 §6).
    Pcma,
}

impl Codec {
    /// The static payload type RFC 3551 §6 assigns.
    pub const fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The encoding name used in `a=rtpmap`.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The codec an `a=rtpmap` entry names, if it is one of ours.
    fn from_rtpmap(map: &RtpMap<'_>) -> Option<Codec> {
        if map.clock_rate != CLOCK_RATE || !matches!(map.channels, None | Some("1")) {
            return None;
        }
        if map.encoding.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if map.encoding.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }

    /// The codec a static payload type stands for when no `a=rtpmap` names it.
    fn from_static(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }
}

/// Media direction, always from the point of view of the side it describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The SDP attribute name (RFC 8866 §6.7).
    pub const fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction the other side has when this side has `self`.
    pub const fn reverse(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            same => same,
        }
    }

    /// Whether this side sends media.
    pub const fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether this side receives media.
    pub const fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    const fn without_receive(self) -> Direction {
        match self {
            Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
            Direction::RecvOnly | Direction::Inactive => Direction::Inactive,
        }
    }

    const fn without_send(self) -> Direction {
        match self {
            Direction::SendRecv | Direction::RecvOnly => Direction::RecvOnly,
            Direction::SendOnly | Direction::Inactive => Direction::Inactive,
        }
    }

    fn from_attribute(name: &str) -> Option<Direction> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.attribute().eq_ignore_ascii_case(name))
    }
}

/// Our side of the media session: where we receive RTP and how our `o=` line reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    pub addr: IpAddr,
    pub port: u16,
    pub session_id: u64,
    pub session_version: u64,
    /// The `o=` username, e.g. "ugyelet".
    pub username: String,
}

impl LocalMedia {
    /// Moves to the next session version before a new answer or offer in the same dialog.
    ///
    /// RFC 3264 §8: "When issuing an offer that modifies the session, the "o=" line of the
    /// new SDP MUST be identical to that in the previous SDP, except that the version in the
    /// origin field MUST increment by one from the previous SDP."
    pub fn bump_version(&mut self) -> u64 {
        self.session_version = self.session_version.wrapping_add(1);
        self.session_version
    }
}

/// One leg's side of offer/answer: our media address and `o=` line, kept for the life of
/// the dialog so every later offer or answer in it carries the next session version.
///
/// The one place the daemon writes SDP for a leg: the caller's INVITE and re-INVITEs
/// (`call.rs`), the operator legs (`switchboard`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSession {
    local: LocalMedia,
}

impl MediaSession {
    pub fn new(local: LocalMedia) -> Self {
        MediaSession { local }
    }

    /// Our media description as last sent.
    pub fn local(&self) -> &LocalMedia {
        &self.local
    }

    /// Answers the dialog's first offer (session version as created).
    pub fn answer(&self, offer_body: &[u8]) -> Result<(Negotiated, Vec<u8>), OfferAnswerError> {
        answer(offer_body, &self.local)
    }

    /// The dialog's first offer.
    pub fn offer(&self, codecs: &[Codec], telephone_event_pt: u8) -> Vec<u8> {
        offer(&self.local, codecs, telephone_event_pt)
    }

    /// Answers a later offer in the same dialog (a re-INVITE: hold, resume, a new address)
    /// with the next session version (RFC 3264 §8). A refused offer leaves the session as
    /// it was (RFC 3261 §14.2), version included.
    pub fn answer_again(
        &mut self,
        offer_body: &[u8],
    ) -> Result<(Negotiated, Vec<u8>), OfferAnswerError> {
        let mut next = self.local.clone();
        next.bump_version();
        let answered = answer(offer_body, &next)?;
        self.local = next;
        Ok(answered)
    }

    /// Offers again in the same dialog (a re-INVITE without a body asks us to offer,
    /// RFC 3261 §14.2), with the next session version.
    pub fn offer_again(&mut self, codecs: &[Codec], telephone_event_pt: u8) -> Vec<u8> {
        self.local.bump_version();
        offer(&self.local, codecs, telephone_event_pt)
    }
}

/// What offer and answer agreed for the audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    /// The payload type that carries `codec` (the offerer's number, RFC 3264 §6.1).
    pub pt: u8,
    /// The payload type of RFC 4733 `telephone-event/8000`, if both sides have it.
    pub telephone_event: Option<u8>,
    /// Where to send RTP; `None` when the peer gave `c=0.0.0.0`, port 0, or no IP address.
    pub remote: Option<SocketAddr>,
    /// The packet time we send.
    pub ptime_ms: u32,
    /// What WE do: the answer to a `sendonly` offer is `RecvOnly`, and so on.
    pub direction: Direction,
}

/// Why an offer or answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferAnswerError {
    /// The body is not SDP we can read, or lacks what every session needs (400).
    Malformed(SdpError),
    /// No audio stream offers PCMA or PCMU over RTP/AVP (488 Not Acceptable Here).
    NoUsableCodec { offered: String },
}

impl OfferAnswerError {
    /// The SIP status code to answer an INVITE with.
    pub fn status(&self) -> u16 {
        match self {
            OfferAnswerError::Malformed(_) => 400,
            OfferAnswerError::NoUsableCodec { .. } => 488,
        }
    }
}

impl fmt::Display for OfferAnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OfferAnswerError::Malformed(e) => write!(f, "malformed SDP: {e}"),
            OfferAnswerError::NoUsableCodec { offered } => write!(
                f,
                "expected an audio stream over RTP/AVP with PCMA/8000 or PCMU/8000, found {offered:?}"
            ),
        }
    }
}

impl std::error::Error for OfferAnswerError {}

impl From<SdpError> for OfferAnswerError {
    fn from(e: SdpError) -> Self {
        OfferAnswerError::Malformed(e)
    }
}

/// Answers an offer (RFC 3264 §6): picks the codec, builds the answer body.
///
/// RFC 3264 §6: "For each "m=" line in the offer, there MUST be a corresponding "m=" line in
/// the answer. The answer MUST contain exactly the same number of "m=" lines as the offer."
///
/// RFC 3264 §6: "To reject an offered stream, the port number in the corresponding stream in
/// the answer MUST be set to zero."
///
/// RFC 3264 §6: "The "t=" line in the answer MUST equal that of the offer."
pub fn answer(
    offer_body: &[u8],
    local: &LocalMedia,
) -> Result<(Negotiated, Vec<u8>), OfferAnswerError> {
    let offer = super::parse(offer_body)?;
    let mut answer = session_skeleton(local);
    if !offer.times.is_empty() {
        answer.times = offer
            .times
            .iter()
            .map(|t| Time::new(t.start_time, t.stop_time))
            .collect();
    }

    let mut negotiated = None;
    for media in &offer.medias {
        let accepted = if negotiated.is_none() && is_rtp_audio(media) {
            negotiate_stream(&offer, media)?
        } else {
            None
        };
        match accepted {
            Some((n, te_fmtp)) => {
                answer.medias.push(answer_media(local, &n, te_fmtp));
                negotiated = Some(n);
            }
            None => answer.medias.push(rejected_media(media)),
        }
    }

    match negotiated {
        Some(n) => Ok((n, super::print(&answer))),
        None => Err(OfferAnswerError::NoUsableCodec {
            offered: describe_offer(&offer),
        }),
    }
}

/// Builds an offer for a leg we start: one audio stream with `codecs` in our order of
/// preference and `telephone-event/8000` on `telephone_event_pt`.
pub fn offer(local: &LocalMedia, codecs: &[Codec], telephone_event_pt: u8) -> Vec<u8> {
    let mut session = session_skeleton(local);
    let mut fmt = String::new();
    let mut attributes = Vec::with_capacity(codecs.len() + 4);
    for codec in codecs {
        fmt.push_str(&codec.payload_type().to_string());
        fmt.push(' ');
        attributes.push(rtpmap_attribute(
            codec.payload_type(),
            codec.encoding_name(),
        ));
    }
    fmt.push_str(&telephone_event_pt.to_string());
    attributes.push(rtpmap_attribute(telephone_event_pt, "telephone-event"));
    attributes.push(Attribute::with_value(
        "fmtp",
        format!("{telephone_event_pt} {OFFERED_EVENTS}"),
    ));
    attributes.push(Attribute::with_value("ptime", PTIME_MS));
    attributes.push(Attribute::new(Direction::SendRecv.attribute()));

    let mut media = Media::new(
        sdp_types::MediaType::Audio,
        local.port,
        sdp_types::TransportProto::RtpAvp,
        fmt,
    );
    media.attributes = attributes;
    session.medias.push(media);
    super::print(&session)
}

/// Reads the answer to an offer made with [`offer`].
pub fn accept_answer(answer_body: &[u8]) -> Result<Negotiated, OfferAnswerError> {
    let answer = super::parse(answer_body)?;
    for media in &answer.medias {
        if is_rtp_audio(media)
            && let Some((n, _)) = negotiate_stream(&answer, media)?
        {
            return Ok(n);
        }
    }
    Err(OfferAnswerError::NoUsableCodec {
        offered: describe_offer(&answer),
    })
}

/// Decides one audio stream of an offer or answer. `Ok(None)` means the stream cannot be used
/// (disabled, no codec of ours); an error means the description is unusable as a whole.
///
/// RFC 3264 §6.1: "If a stream is offered as sendonly, the corresponding stream MUST be
/// marked as recvonly or inactive in the answer. If a media stream is listed as recvonly in
/// the offer, the answer MUST be marked as sendonly or inactive in the answer." The reverse of
/// the peer's direction is the widest allowed, and that is what we take.
fn negotiate_stream(
    session: &SessionDescription,
    media: &Media,
) -> Result<Option<(Negotiated, Option<String>)>, OfferAnswerError> {
    if media.port == 0 {
        // RFC 3264 §6: a stream offered with port 0 is disabled and stays so in the answer.
        return Ok(None);
    }
    let Some((codec, pt)) = choose_codec(media) else {
        return Ok(None);
    };
    let telephone_event = telephone_event(media);

    let connection = media
        .connections
        .first()
        .or(session.connection.as_ref())
        .ok_or(SdpError::Semantic {
            expected: "a c= line for the audio stream, at session or media level",
            found: String::from("none"),
        })?;
    let ip = connection_ip(connection)?;

    let their_direction = stream_direction(session, media);
    // RFC 3264 §8.4: "An agent MUST be capable of receiving SDP with a connection address of
    // 0.0.0.0, in which case it means that neither RTP nor RTCP should be sent to the peer."
    let (remote, their_direction) = match ip {
        Some(ip) if !ip.is_unspecified() => {
            (Some(SocketAddr::new(ip, media.port)), their_direction)
        }
        _ => (None, their_direction.without_receive()),
    };

    let mut direction = their_direction.reverse();
    if remote.is_none() {
        direction = direction.without_send();
    }

    Ok(Some((
        Negotiated {
            codec,
            pt,
            telephone_event: telephone_event.map(|(pt, _)| pt),
            remote,
            ptime_ms: PTIME_MS,
            direction,
        },
        telephone_event.and_then(|(_, fmtp)| fmtp.map(str::to_owned)),
    )))
}

/// The first format, in the order listed, that is PCMA or PCMU.
///
/// The offerer lists formats best first, so its first one we can use is the one we take,
/// and the answer keeps the offer's payload type number for it. RFC 3264 §6.1: "if a
/// particular codec was referenced with a specific payload type number in the offer, that
/// same payload type number SHOULD be used for that codec in the answer."
///
/// A static payload type without `a=rtpmap` means what RFC 3551 §6 assigns; an `a=rtpmap`
/// always wins, and dynamic payload types (96-127) need one.
fn choose_codec(media: &Media) -> Option<(Codec, u8)> {
    formats(media).find_map(|pt| {
        let codec = match rtpmap(media, pt) {
            Some(map) => Codec::from_rtpmap(&map),
            None => Codec::from_static(pt),
        }?;
        Some((codec, pt))
    })
}

/// The offered `telephone-event/8000` payload type and its `a=fmtp` value (RFC 4733 §7.1.1).
fn telephone_event(media: &Media) -> Option<(u8, Option<&str>)> {
    formats(media).find_map(|pt| {
        let map = rtpmap(media, pt)?;
        let is_event =
            map.encoding.eq_ignore_ascii_case("telephone-event") && map.clock_rate == CLOCK_RATE;
        is_event.then(|| (pt, fmtp(media, pt)))
    })
}

fn formats(media: &Media) -> impl Iterator<Item = u8> + '_ {
    media
        .fmt
        .split_ascii_whitespace()
        .filter_map(|f| f.parse::<u8>().ok())
        .filter(|pt| *pt <= 127)
}

/// One `a=rtpmap` value.
///
/// ```text
/// rtpmap-value = payload-type SP encoding-name "/" clock-rate [ "/" encoding-params ]
/// ```
/// (RFC 8866 §6.6.) Surrounding whitespace is tolerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RtpMap<'a> {
    encoding: &'a str,
    clock_rate: u32,
    channels: Option<&'a str>,
}

fn rtpmap(media: &Media, pt: u8) -> Option<RtpMap<'_>> {
    attribute_for_pt(media, "rtpmap", pt).and_then(|rest| {
        let mut parts = rest.split('/');
        let encoding = parts.next()?.trim();
        let clock_rate = parts.next()?.trim().parse().ok()?;
        let channels = parts.next().map(str::trim);
        Some(RtpMap {
            encoding,
            clock_rate,
            channels,
        })
    })
}

/// The `a=fmtp` parameters for `pt` (RFC 8866 §6.15: `fmtp-value = fmt SP format-specific-params`).
fn fmtp(media: &Media, pt: u8) -> Option<&str> {
    attribute_for_pt(media, "fmtp", pt)
}

/// The text after "<pt> " in the first attribute `name` whose value starts with `pt`.
fn attribute_for_pt<'a>(media: &'a Media, name: &str, pt: u8) -> Option<&'a str> {
    media.attributes.iter().find_map(|a| {
        if !a.attribute.eq_ignore_ascii_case(name) {
            return None;
        }
        let value = a.value.as_deref()?.trim_start();
        let (number, rest) = value.split_once(|c: char| c.is_ascii_whitespace())?;
        (number.parse::<u8>().ok()? == pt).then(|| rest.trim())
    })
}

/// The stream's direction attribute; a media-level one wins over a session-level one, and
/// none means `sendrecv` (RFC 8866 §6.7).
fn stream_direction(session: &Session, media: &Media) -> Direction {
    let find = |attrs: &[Attribute]| {
        attrs
            .iter()
            .find_map(|a| Direction::from_attribute(&a.attribute))
    };
    find(&media.attributes)
        .or_else(|| find(&session.attributes))
        .unwrap_or_default()
}

/// The address of a `c=` line. `Ok(None)` for a host name: a core cannot resolve names, and
/// symmetric RTP (RFC 4961) finds the real source once media flows.
fn connection_ip(c: &Connection) -> Result<Option<IpAddr>, OfferAnswerError> {
    if !c.nettype.as_str().eq_ignore_ascii_case("IN") {
        return Err(SdpError::Semantic {
            expected: "c=IN",
            found: format!("c={}", c.nettype.as_str()),
        }
        .into());
    }
    // RFC 8866 §5.7: multicast addresses carry "/ttl[/n]"; unicast ones do not.
    let address = c
        .connection_address
        .split('/')
        .next()
        .unwrap_or(&c.connection_address);
    Ok(address.parse::<IpAddr>().ok())
}

fn is_rtp_audio(media: &Media) -> bool {
    media.media.eq_ignore_ascii_case("audio") && media.proto.eq_ignore_ascii_case("RTP/AVP")
}

fn session_skeleton(local: &LocalMedia) -> Session {
    let mut origin = Origin::with_ip_addr(local.session_id, local.session_version, local.addr);
    // RFC 8866 §5.2: "<username> ... MUST NOT contain spaces"; an empty one is written "-".
    origin.set_username(local.username.replace(|c: char| c.is_whitespace(), "_"));
    let mut session = Session::new(origin, "-");
    session.set_connection(Connection::from_ip_addr(local.addr));
    session.add_time(Time::new(0, 0));
    session
}

fn rtpmap_attribute(pt: u8, encoding: &str) -> Attribute {
    Attribute::with_value("rtpmap", format!("{pt} {encoding}/{CLOCK_RATE}"))
}

fn answer_media(local: &LocalMedia, n: &Negotiated, te_fmtp: Option<String>) -> Media {
    let mut fmt = n.pt.to_string();
    let mut attributes = vec![rtpmap_attribute(n.pt, n.codec.encoding_name())];
    if let Some(te) = n.telephone_event {
        fmt.push(' ');
        fmt.push_str(&te.to_string());
        attributes.push(rtpmap_attribute(te, "telephone-event"));
        // RFC 4733 §7.1.1: the events the answerer can receive; we decode all of 0-16, so
        // the offerer's own list is what we echo.
        if let Some(events) = te_fmtp {
            attributes.push(Attribute::with_value("fmtp", format!("{te} {events}")));
        }
    }
    attributes.push(Attribute::with_value("ptime", PTIME_MS));
    attributes.push(Attribute::new(n.direction.attribute()));
    let mut media = Media::new(
        sdp_types::MediaType::Audio,
        local.port,
        sdp_types::TransportProto::RtpAvp,
        fmt,
    );
    media.attributes = attributes;
    media
}

/// RFC 3264 §6: "Any media formats listed are ignored. At least one MUST be present, as
/// specified by SDP." We echo the offered list.
fn rejected_media(offered: &Media) -> Media {
    Media {
        media: offered.media.clone(),
        port: 0,
        num_ports: None,
        proto: offered.proto.clone(),
        fmt: offered.fmt.clone(),
        media_title: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        key: None,
        attributes: Vec::new(),
    }
}

/// "audio RTP/AVP opus/48000/2 G722/8000; video RTP/AVP H264/90000" for a 488's log line.
fn describe_offer(session: &Session) -> String {
    let mut out = String::new();
    for (i, media) in session.medias.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&media.media);
        out.push(' ');
        out.push_str(&media.proto);
        if media.port == 0 {
            out.push_str(" port 0");
        }
        for pt in media.fmt.split_ascii_whitespace() {
            out.push(' ');
            match pt.parse::<u8>().ok().and_then(|pt| rtpmap(media, pt)) {
                Some(map) => {
                    out.push_str(map.encoding);
                    out.push('/');
                    out.push_str(&map.clock_rate.to_string());
                    if let Some(ch) = map.channels {
                        out.push('/');
                        out.push_str(ch);
                    }
                }
                None => out.push_str(pt),
            }
        }
    }
    if out.is_empty() {
        out.push_str("no m= line");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::fixtures;

    fn local() -> LocalMedia {
        LocalMedia {
            addr: "192.0.2.100".parse().expect("test data is valid"),
            port: 40000,
            session_id: 7_000_001,
            session_version: 1,
            username: "ugyelet".to_owned(),
        }
    }

    fn answer_text(offer: &str) -> (Negotiated, String) {
        let (n, body) = answer(offer.as_bytes(), &local()).expect("test data is valid");
        (n, String::from_utf8(body).expect("test data is valid"))
    }

    fn m_lines(sdp: &str) -> Vec<&str> {
        sdp.lines().filter(|l| l.starts_with("m=")).collect()
    }

    #[test]
    fn baresip_offer_gets_pcmu_first_in_its_order_with_telephone_event() {
        let (n, body) = answer_text(fixtures::BARESIP);
        assert_eq!(
            n,
            Negotiated {
                codec: Codec::Pcmu,
                pt: 0,
                telephone_event: Some(101),
                remote: Some("192.0.2.2:17024".parse().expect("test data is valid")),
                ptime_ms: 20,
                direction: Direction::SendRecv,
            }
        );
        assert_eq!(
            body,
            "v=0\r\n\
             o=ugyelet 7000001 1 IN IP4 192.0.2.100\r\n\
             s=-\r\n\
             c=IN IP4 192.0.2.100\r\n\
             t=0 0\r\n\
             m=audio 40000 RTP/AVP 0 101\r\n\
             a=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-15\r\n\
             a=ptime:20\r\n\
             a=sendrecv\r\n"
        );
    }

    #[test]
    fn offerer_order_wins_pcma_first_from_microsip() {
        let (n, body) = answer_text(fixtures::MICROSIP);
        assert_eq!((n.codec, n.pt), (Codec::Pcma, 8));
        assert_eq!(
            n.remote,
            Some("198.51.100.7:4002".parse().expect("test data is valid"))
        );
        assert!(body.contains("m=audio 40000 RTP/AVP 8 101\r\n"));
    }

    #[test]
    fn telephone_event_fmtp_0_16_is_echoed_with_offerers_pt() {
        let (n, body) = answer_text(fixtures::MICROSIP);
        assert_eq!(n.telephone_event, Some(101));
        assert!(body.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"));
    }

    #[test]
    fn sipp_uac_static_pcmu_is_accepted_without_telephone_event() {
        let (n, body) = answer_text(fixtures::SIPP_UAC);
        assert_eq!((n.codec, n.pt, n.telephone_event), (Codec::Pcmu, 0, None));
        assert_eq!(
            n.remote,
            Some("127.0.0.1:16010".parse().expect("test data is valid"))
        );
        assert!(body.contains("m=audio 40000 RTP/AVP 0\r\n"));
        assert!(!body.contains("telephone-event"));
    }

    #[test]
    fn static_payload_types_work_without_rtpmap() {
        let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n\
                     m=audio 5000 RTP/AVP 8 0\r\n";
        let (n, body) = answer_text(offer);
        assert_eq!((n.codec, n.pt), (Codec::Pcma, 8));
        assert!(body.contains("a=rtpmap:8 PCMA/8000\r\n"));
    }

    #[test]
    fn dynamic_payload_type_name_is_matched_case_insensitively() {
        let (n, body) = answer_text(fixtures::NO_TIMING_LF);
        assert_eq!(
            (n.codec, n.pt, n.telephone_event),
            (Codec::Pcma, 97, Some(96))
        );
        assert!(body.contains("m=audio 40000 RTP/AVP 97 96\r\n"));
        assert!(body.contains("a=rtpmap:97 PCMA/8000\r\n"));
        assert!(body.contains("a=fmtp:96 0-15\r\n"));
    }

    #[test]
    fn missing_timing_line_is_tolerated_and_answer_has_t_0_0() {
        let (_, body) = answer_text(fixtures::NO_TIMING_LF);
        assert!(body.contains("\r\nt=0 0\r\n"));
    }

    #[test]
    fn rtpmap_overrides_static_meaning_and_other_clock_rates_are_refused() {
        // PT 0 remapped to a wideband codec must not be taken for PCMU; PCMA/16000 is not G.711.
        let offer = "v=0\r\nc=IN IP4 192.0.2.5\r\nm=audio 5000 RTP/AVP 0 97 8\r\n\
                     a=rtpmap:0 L16/8000\r\na=rtpmap:97 PCMA/16000\r\n";
        let (n, _) = answer_text(offer);
        assert_eq!((n.codec, n.pt), (Codec::Pcma, 8));
    }

    #[test]
    fn stereo_g711_is_not_accepted() {
        let offer =
            "v=0\r\nc=IN IP4 192.0.2.5\r\nm=audio 5000 RTP/AVP 97\r\na=rtpmap:97 PCMU/8000/2\r\n";
        let e = answer(offer.as_bytes(), &local()).unwrap_err();
        assert_eq!(e.status(), 488);
    }

    #[test]
    fn linphone_picks_8000_hz_telephone_event_and_rejects_video_with_port_0() {
        let (n, body) = answer_text(fixtures::LINPHONE);
        assert_eq!(
            (n.codec, n.pt, n.telephone_event),
            (Codec::Pcmu, 0, Some(100))
        );
        assert_eq!(
            m_lines(&body),
            ["m=audio 40000 RTP/AVP 0 100", "m=video 0 RTP/AVP 96 97"]
        );
        assert!(!body.contains("VP8"));
    }

    #[test]
    fn answer_keeps_number_and_order_of_m_lines_when_audio_is_second() {
        let offer = "v=0\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n\
                     m=video 6000 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n\
                     m=audio 5000 RTP/AVP 8\r\n\
                     m=audio 5002 RTP/AVP 0\r\n";
        let (n, body) = answer_text(offer);
        assert_eq!(
            n.remote,
            Some("192.0.2.5:5000".parse().expect("test data is valid"))
        );
        assert_eq!(
            m_lines(&body),
            [
                "m=video 0 RTP/AVP 97",
                "m=audio 40000 RTP/AVP 8",
                "m=audio 0 RTP/AVP 0"
            ]
        );
    }

    #[test]
    fn no_usable_audio_codec_is_488_with_what_was_offered() {
        let e = answer(fixtures::ONLY_OPUS_AND_VIDEO.as_bytes(), &local()).unwrap_err();
        assert_eq!(e.status(), 488);
        assert_eq!(
            e.to_string(),
            "expected an audio stream over RTP/AVP with PCMA/8000 or PCMU/8000, found \
             \"audio RTP/AVP opus/48000/2 G722/8000; video RTP/AVP H264/90000\""
        );
    }

    #[test]
    fn secure_rtp_profile_is_not_usable() {
        let offer = "v=0\r\nc=IN IP4 192.0.2.5\r\nm=audio 5000 RTP/SAVP 8\r\n";
        let e = answer(offer.as_bytes(), &local()).unwrap_err();
        assert!(matches!(e, OfferAnswerError::NoUsableCodec { .. }));
    }

    #[test]
    fn garbage_body_is_400() {
        let e = answer(b"hello", &local()).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(matches!(
            e,
            OfferAnswerError::Malformed(SdpError::NoVersion { .. })
        ));
    }

    #[test]
    fn audio_without_any_connection_line_is_400() {
        let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
        let e = answer(offer.as_bytes(), &local()).unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.to_string(),
            "malformed SDP: expected a c= line for the audio stream, at session or media level, \
             found \"none\""
        );
    }

    #[test]
    fn sendonly_hold_is_answered_recvonly() {
        let (n, body) = answer_text(fixtures::LINPHONE_HOLD);
        assert_eq!(n.direction, Direction::RecvOnly);
        assert_eq!(
            n.remote,
            Some("192.0.2.30:7078".parse().expect("test data is valid"))
        );
        assert!(body.contains("\r\na=recvonly\r\n"));
    }

    #[test]
    fn recvonly_offer_is_answered_sendonly() {
        let offer = "v=0\r\nc=IN IP4 192.0.2.5\r\nm=audio 5000 RTP/AVP 8\r\na=recvonly\r\n";
        let (n, body) = answer_text(offer);
        assert_eq!(n.direction, Direction::SendOnly);
        assert!(body.contains("\r\na=sendonly\r\n"));
    }

    #[test]
    fn inactive_offer_is_answered_inactive() {
        let offer = "v=0\r\nc=IN IP4 192.0.2.5\r\nm=audio 5000 RTP/AVP 8\r\na=inactive\r\n";
        let (n, body) = answer_text(offer);
        assert_eq!(n.direction, Direction::Inactive);
        assert!(body.contains("\r\na=inactive\r\n"));
    }

    #[test]
    fn session_level_direction_applies_when_media_has_none() {
        let offer = "v=0\r\nc=IN IP4 192.0.2.5\r\na=sendonly\r\nm=audio 5000 RTP/AVP 8\r\n";
        assert_eq!(answer_text(offer).0.direction, Direction::RecvOnly);
        let both =
            "v=0\r\nc=IN IP4 192.0.2.5\r\na=sendonly\r\nm=audio 5000 RTP/AVP 8\r\na=sendrecv\r\n";
        assert_eq!(answer_text(both).0.direction, Direction::SendRecv);
    }

    #[test]
    fn old_style_hold_c_0_0_0_0_means_no_remote_and_we_only_receive() {
        let (n, body) = answer_text(fixtures::TRUNK_HOLD_OLD_STYLE);
        assert_eq!(n.remote, None);
        assert_eq!(n.direction, Direction::RecvOnly);
        assert_eq!((n.codec, n.telephone_event), (Codec::Pcma, Some(101)));
        assert!(body.contains("\r\na=recvonly\r\n"));
        assert!(body.contains("c=IN IP4 192.0.2.100\r\n"));
    }

    #[test]
    fn session_version_in_answers_follows_the_callers_counter() {
        let mut local = local();
        let (_, first) = answer(fixtures::TRUNK.as_bytes(), &local).expect("test data is valid");
        local.bump_version();
        let (_, second) =
            answer(fixtures::TRUNK_HOLD_OLD_STYLE.as_bytes(), &local).expect("test data is valid");
        assert!(
            String::from_utf8(first)
                .expect("test data is valid")
                .contains("o=ugyelet 7000001 1 IN IP4")
        );
        assert!(
            String::from_utf8(second)
                .expect("test data is valid")
                .contains("o=ugyelet 7000001 2 IN IP4")
        );
    }

    #[test]
    fn ipv6_offer_gets_ipv6_remote_and_ipv6_answer() {
        let mut local = local();
        local.addr = "2001:db8::100".parse().expect("test data is valid");
        let (n, body) = answer(fixtures::IPV6.as_bytes(), &local).expect("test data is valid");
        let body = String::from_utf8(body).expect("test data is valid");
        assert_eq!(
            n.remote,
            Some("[2001:db8::20]:17030".parse().expect("test data is valid"))
        );
        assert!(body.contains("o=ugyelet 7000001 1 IN IP6 2001:db8::100\r\n"));
        assert!(body.contains("c=IN IP6 2001:db8::100\r\n"));
    }

    #[test]
    fn media_level_connection_overrides_session_level() {
        let offer = "v=0\r\nc=IN IP4 192.0.2.5\r\nm=audio 5000 RTP/AVP 8\r\nc=IN IP4 192.0.2.6\r\n";
        assert_eq!(
            answer_text(offer).0.remote,
            Some("192.0.2.6:5000".parse().expect("test data is valid"))
        );
    }

    #[test]
    fn host_name_in_connection_leaves_remote_to_latching() {
        let offer = "v=0\r\nc=IN IP4 pbx.example.net\r\nm=audio 5000 RTP/AVP 8\r\n";
        let (n, _) = answer_text(offer);
        assert_eq!((n.remote, n.direction), (None, Direction::RecvOnly));
    }

    #[test]
    fn disabled_audio_stream_is_not_revived() {
        let offer =
            "v=0\r\nc=IN IP4 192.0.2.5\r\nm=audio 0 RTP/AVP 8\r\nm=audio 5002 RTP/AVP 0\r\n";
        let (n, body) = answer_text(offer);
        assert_eq!(n.pt, 0);
        assert_eq!(
            m_lines(&body),
            ["m=audio 0 RTP/AVP 8", "m=audio 40000 RTP/AVP 0"]
        );
    }

    #[test]
    fn answer_copies_the_offers_timing() {
        let offer =
            "v=0\r\nc=IN IP4 192.0.2.5\r\nt=3900000000 3900003600\r\nm=audio 5000 RTP/AVP 8\r\n";
        assert!(
            answer_text(offer)
                .1
                .contains("\r\nt=3900000000 3900003600\r\n")
        );
    }

    #[test]
    fn every_fixture_answer_parses_back_with_ptime_20() {
        for (name, body) in fixtures::ALL {
            let Ok((n, answer_body)) = answer(body.as_bytes(), &local()) else {
                assert_eq!(*name, "only_opus_and_video");
                continue;
            };
            let parsed = crate::sdp::parse(&answer_body).expect("test data is valid");
            let offered = crate::sdp::parse(body.as_bytes()).expect("test data is valid");
            assert_eq!(parsed.medias.len(), offered.medias.len(), "{name}");
            assert!(
                String::from_utf8(answer_body)
                    .expect("test data is valid")
                    .contains("a=ptime:20\r\n"),
                "{name}"
            );
            assert_eq!(n.ptime_ms, 20);
        }
    }

    #[test]
    fn our_offer_lists_codecs_in_order_with_events_0_16() {
        let body = offer(&local(), &[Codec::Pcma, Codec::Pcmu], 101);
        assert_eq!(
            String::from_utf8(body).expect("test data is valid"),
            "v=0\r\n\
             o=ugyelet 7000001 1 IN IP4 192.0.2.100\r\n\
             s=-\r\n\
             c=IN IP4 192.0.2.100\r\n\
             t=0 0\r\n\
             m=audio 40000 RTP/AVP 8 0 101\r\n\
             a=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-16\r\n\
             a=ptime:20\r\n\
             a=sendrecv\r\n"
        );
    }

    #[test]
    fn our_offer_answered_by_ourselves_round_trips() {
        let ours = offer(&local(), &[Codec::Pcma, Codec::Pcmu], 101);
        let mut peer = local();
        peer.addr = "192.0.2.200".parse().expect("test data is valid");
        peer.port = 50000;
        let (theirs, answer_body) = answer(&ours, &peer).expect("test data is valid");
        assert_eq!(
            theirs.remote,
            Some("192.0.2.100:40000".parse().expect("test data is valid"))
        );
        let n = accept_answer(&answer_body).expect("test data is valid");
        assert_eq!(
            n,
            Negotiated {
                codec: Codec::Pcma,
                pt: 8,
                telephone_event: Some(101),
                remote: Some("192.0.2.200:50000".parse().expect("test data is valid")),
                ptime_ms: 20,
                direction: Direction::SendRecv,
            }
        );
    }

    #[test]
    fn sipp_uas_answer_with_pcmu_only_is_accepted() {
        // What `sipp -sn uas` answers: PCMU only, no telephone-event.
        let sipp = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
                    c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
        let n = accept_answer(sipp.as_bytes()).expect("test data is valid");
        assert_eq!((n.codec, n.pt, n.telephone_event), (Codec::Pcmu, 0, None));
        assert_eq!(
            n.remote,
            Some("127.0.0.1:6000".parse().expect("test data is valid"))
        );
    }

    #[test]
    fn answer_that_rejects_our_stream_is_488() {
        let rejected = "v=0\r\nc=IN IP4 192.0.2.5\r\nm=audio 0 RTP/AVP 8\r\n";
        assert_eq!(
            accept_answer(rejected.as_bytes()).unwrap_err().status(),
            488
        );
    }

    #[test]
    fn recvonly_answer_means_we_send_only() {
        let a = "v=0\r\nc=IN IP4 192.0.2.5\r\nm=audio 5000 RTP/AVP 8\r\na=recvonly\r\n";
        assert_eq!(
            accept_answer(a.as_bytes())
                .expect("test data is valid")
                .direction,
            Direction::SendOnly
        );
    }

    #[test]
    fn origin_username_never_breaks_the_o_line() {
        let mut l = local();
        l.username = "ugyelet help line".to_owned();
        let body = String::from_utf8(offer(&l, &[Codec::Pcma], 101)).expect("test data is valid");
        assert!(body.contains("o=ugyelet_help_line 7000001 1 IN IP4 192.0.2.100\r\n"));
        l.username = String::new();
        let body = String::from_utf8(offer(&l, &[Codec::Pcma], 101)).expect("test data is valid");
        assert!(body.contains("o=- 7000001 1 IN IP4 192.0.2.100\r\n"));
    }

    #[test]
    fn bump_version_increments_by_one() {
        let mut l = local();
        assert_eq!(l.bump_version(), 2);
        assert_eq!(l.bump_version(), 3);
    }
}
