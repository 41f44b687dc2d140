//! Offers as real user agents send them, used by the SDP and offer/answer tests.
//!
//! `BARESIP` and `SIPP_UAC` were captured from baresip 1.0.0 and SIPp 3.6.1 (`-sn uac`) on
//! this project's test machines. The others are written after the offers those user agents
//! are known to send (Linphone's several `telephone-event` clock rates and its video stream,
//! MicroSIP's PJSIP layout with `c=` only at media level and `fmtp 0-16`, a trunk's PCMA-first
//! list with G.729 and `maxptime`, an embedded device that leaves out `t=`). Addresses are
//! from the documentation ranges (RFC 5737, RFC 3849).

/// baresip 1.0.0 with the opus, g722 and g711 modules loaded (captured).
pub const BARESIP: &str = "v=0\r\n\
o=- 4274305813 648934340 IN IP4 192.0.2.2\r\n\
s=-\r\n\
c=IN IP4 192.0.2.2\r\n\
t=0 0\r\n\
a=tool:baresip 1.0.0\r\n\
m=audio 17024 RTP/AVP 96 9 0 8 101\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 stereo=1;sprop-stereo=1\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=sendrecv\r\n\
a=label:1\r\n\
a=rtcp-rsize\r\n\
a=ssrc:2585920300 cname:sip:36301234567@127.0.0.1\r\n\
a=minptime:20\r\n\
a=ptime:20\r\n";

/// SIPp 3.6.1 built-in `uac` scenario (captured).
pub const SIPP_UAC: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 16010 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

/// Linphone desktop: opus/speex first, PCMU/PCMA static, `telephone-event` at three clock
/// rates (only the 8000 Hz one, PT 100, fits PCMA/PCMU), and a video stream.
pub const LINPHONE: &str = "v=0\r\n\
o=anna 3021 1794 IN IP4 192.0.2.30\r\n\
s=Talk\r\n\
c=IN IP4 192.0.2.30\r\n\
t=0 0\r\n\
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n\
a=record:off\r\n\
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 useinbandfec=1\r\n\
a=rtpmap:97 speex/16000\r\n\
a=fmtp:97 vbr=on\r\n\
a=rtpmap:98 speex/8000\r\n\
a=fmtp:98 vbr=on\r\n\
a=fmtp:18 annexb=yes\r\n\
a=rtpmap:101 telephone-event/48000\r\n\
a=rtpmap:99 telephone-event/16000\r\n\
a=rtpmap:100 telephone-event/8000\r\n\
a=rtcp-fb:* trr-int 1000\r\n\
a=rtcp-fb:* ccm tmmbr\r\n\
m=video 9078 RTP/AVP 96 97\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=rtpmap:97 H264/90000\r\n\
a=fmtp:97 profile-level-id=42801F\r\n\
a=rtcp-fb:* trr-int 1000\r\n\
a=rtcp-fb:* ccm tmmbr\r\n\
a=rtcp-fb:96 nack pli\r\n\
a=rtcp-fb:97 nack pli\r\n";

/// Linphone putting the call on hold (RFC 3264 §8.4 style, `a=sendonly`), version bumped.
pub const LINPHONE_HOLD: &str = "v=0\r\n\
o=anna 3021 1795 IN IP4 192.0.2.30\r\n\
s=Talk\r\n\
c=IN IP4 192.0.2.30\r\n\
t=0 0\r\n\
m=audio 7078 RTP/AVP 8 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendonly\r\n";

/// MicroSIP (PJSIP): PCMA first, `c=` only at media level, `a=rtcp`, `fmtp 0-16`, session `b=`.
pub const MICROSIP: &str = "v=0\r\n\
o=- 3914216327 3914216327 IN IP4 198.51.100.7\r\n\
s=pjmedia\r\n\
b=AS:84\r\n\
t=0 0\r\n\
a=X-nat:0\r\n\
m=audio 4002 RTP/AVP 8 0 101\r\n\
c=IN IP4 198.51.100.7\r\n\
b=AS:64000\r\n\
a=rtcp:4003 IN IP4 198.51.100.7\r\n\
a=sendrecv\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ssrc:1734253951 cname:5a0b7e4c6d2f1e3b\r\n";

/// A carrier trunk's SBC: PCMA first, G.729 without annex B, `maxptime`, upper-case attrs.
pub const TRUNK: &str = "v=0\r\n\
o=SBC 1713267311 1713267311 IN IP4 203.0.113.10\r\n\
s=SBC call\r\n\
c=IN IP4 203.0.113.10\r\n\
t=0 0\r\n\
m=audio 31480 RTP/AVP 8 18 0 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=maxptime:40\r\n\
a=sendrecv\r\n";

/// The same trunk putting the caller on hold the RFC 2543 way: `c=0.0.0.0`.
pub const TRUNK_HOLD_OLD_STYLE: &str = "v=0\r\n\
o=SBC 1713267311 1713267312 IN IP4 203.0.113.10\r\n\
s=SBC call\r\n\
c=IN IP4 0.0.0.0\r\n\
t=0 0\r\n\
m=audio 31480 RTP/AVP 8 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n";

/// An embedded device (door phone class) that leaves out `t=`, uses bare LF line ends, a
/// dynamic PT for PCMA and lower-case codec names.
pub const NO_TIMING_LF: &str = "v=0\n\
o=door 1 1 IN IP4 192.0.2.77\n\
s=call\n\
c=IN IP4 192.0.2.77\n\
m=audio 5004 RTP/AVP 97 96\n\
a=rtpmap:97 pcma/8000/1\n\
a=rtpmap:96 Telephone-Event/8000\n\
a=fmtp:96 0-15\n";

/// baresip over IPv6.
pub const IPV6: &str = "v=0\r\n\
o=- 1298467 1298467 IN IP6 2001:db8::20\r\n\
s=-\r\n\
c=IN IP6 2001:db8::20\r\n\
t=0 0\r\n\
m=audio 17030 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=sendrecv\r\n";

/// A video-only offer and an audio offer with only codecs we do not have.
pub const ONLY_OPUS_AND_VIDEO: &str = "v=0\r\n\
o=- 5 5 IN IP4 192.0.2.9\r\n\
s=-\r\n\
c=IN IP4 192.0.2.9\r\n\
t=0 0\r\n\
m=audio 4000 RTP/AVP 96 9\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=rtpmap:9 G722/8000\r\n\
m=video 4002 RTP/AVP 97\r\n\
a=rtpmap:97 H264/90000\r\n";

/// Every fixture, named, for sweeps.
pub const ALL: &[(&str, &str)] = &[
    ("baresip", BARESIP),
    ("sipp_uac", SIPP_UAC),
    ("linphone", LINPHONE),
    ("linphone_hold", LINPHONE_HOLD),
    ("microsip", MICROSIP),
    ("trunk", TRUNK),
    ("trunk_hold_old_style", TRUNK_HOLD_OLD_STYLE),
    ("no_timing_lf", NO_TIMING_LF),
    ("ipv6", IPV6),
    ("only_opus_and_video", ONLY_OPUS_AND_VIDEO),
];
