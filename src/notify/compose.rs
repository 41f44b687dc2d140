//! Writing the messages the line sends: for a requested form, who it may go to, whether
//! it may go now, and its words; for a voice message, the office's email
//! ([`office_mail`]).
//!
//! A form request (a dial-plan `send_form` node, or an operator in the admin API) names a
//! form, a channel and an address as the caller gave it. Before its row is written the
//! composer decides, in this order, each refusal being a [`ComposeError`]:
//!
//! ```text
//!   Composer::accept      form in the catalog?          no → UnknownForm
//!   (no store needed)     channel configured?           no → NotConfigured
//!                         SMS: Hungarian mobile (E.164)? email: an address?
//!                                                        no → BadAddress
//!         │ Accepted { form, channel, recipient }
//!         ▼               (the driver asks the store whether the idempotency key is
//!                          already used: then nothing is written and nothing is refused)
//!   Composer::compose     SMS: fewer than the limits in the last hour and day?
//!   (send times passed in)                              no → Limited
//!         │ Composed { channel, recipient, form_id, subject, body }
//!         ▼
//!   Body::write(id)       the text, once the store has given the row its id
//! ```
//!
//! The text waits for the row id because an SMS link names the message that carried it
//! (downloads are counted against it), and the id exists only inside the store's insert
//! transaction; [`Body::write`] is what that transaction calls.
//!
//! The SMS is `"{title}: {link}"`, transliterated to GSM-7 (á→a, í→i, ó→o, ú→u, ő→ö, ű→ü,
//! see [`text`]) so it fits one 160-character segment, and its segment count is reported
//! for the log. The email is [`form_email`]'s: the form attached when it is at most
//! `attach_limit_bytes`, otherwise linked.
//!
//! Nothing here reads a clock, the disk or the store: the caller passes `now` (Unix
//! milliseconds, or the civil time for the office's email), the send times the store
//! holds for the number, and the form's file as read from disk. So every refusal and
//! every text is a unit test; the driver (`driver::forms`) does the reading and writing.

use crate::dialplan::Channel;
use crate::notify::catalog::{Catalog, Form};
use crate::notify::email::form_email;
use crate::notify::limit::{LimitExceeded, SmsLimits};
use crate::notify::link::{Link, LinkKey};
use crate::notify::text::{self, Segments};
use crate::phone;

/// Why a form request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposeError {
    /// The catalog has no form by that id.
    UnknownForm { found: String, known: Vec<String> },
    /// No SMS gateway or no SMTP server is configured.
    NotConfigured(Channel),
    /// Not a Hungarian mobile number (SMS) or not an email address.
    BadAddress { channel: Channel, found: String },
    /// The number already got as many SMS as the limits allow.
    Limited(LimitExceeded),
}

impl std::fmt::Display for ComposeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownForm { found, known } => {
                write!(f, "unknown form {found:?} (known: {})", known.join(", "))
            }
            Self::NotConfigured(Channel::Sms) => {
                f.write_str("SMS sending is not configured (notify.sms.kind = \"none\")")
            }
            Self::NotConfigured(Channel::Email) => {
                f.write_str("email sending is not configured (notify.smtp.host is empty)")
            }
            Self::BadAddress {
                channel: Channel::Sms,
                found,
            } => write!(
                f,
                "expected a Hungarian mobile number (+36 20/30/31/50/70 …), found {found:?}"
            ),
            Self::BadAddress {
                channel: Channel::Email,
                found,
            } => write!(f, "expected an email address, found {found:?}"),
            Self::Limited(l) => write!(f, "SMS limit reached: {l}"),
        }
    }
}

impl std::error::Error for ComposeError {}

/// What every form message is written with, fixed when the service starts.
#[derive(Debug, Clone)]
pub struct Composer {
    /// Signs the download links.
    pub link_key: LinkKey,
    /// `notify.public_base_url`, without a trailing slash.
    pub base_url: String,
    /// How long a link serves its form (`notify.link_ttl_h`), in seconds.
    pub link_ttl_s: u64,
    /// `notify.sms_per_hour`, `notify.sms_per_day`.
    pub limits: SmsLimits,
    /// Forms up to this size are attached to the email, larger ones linked.
    pub attach_limit_bytes: usize,
    /// Whether an SMS gateway is configured.
    pub sms_ready: bool,
    /// Whether an SMTP server is configured.
    pub email_ready: bool,
}

/// A request that passed every check needing no store: the form exists, its channel is
/// configured and the recipient is one the channel can reach (made only by
/// [`Composer::accept`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    form: Form,
    channel: Channel,
    recipient: String,
}

impl Accepted {
    pub fn form(&self) -> &Form {
        &self.form
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The normalised recipient: an E.164 Hungarian mobile number, or an email address.
    pub fn recipient(&self) -> &str {
        &self.recipient
    }
}

/// A message ready to be stored.
#[derive(Debug)]
pub struct Composed {
    pub channel: Channel,
    /// E.164 number or email address.
    pub recipient: String,
    pub form_id: String,
    /// The email subject; `None` for SMS.
    pub subject: Option<String>,
    /// The text, less the row id its link names.
    pub body: Body,
}

/// A message text waiting for its row id.
#[derive(Debug)]
pub struct Body {
    link: LinkTo,
    kind: BodyKind,
}

#[derive(Debug)]
enum BodyKind {
    Sms {
        title: String,
    },
    Email {
        title: String,
        /// Only its size matters here: it decides between "attached" and "linked".
        bytes: Vec<u8>,
        attach_limit_bytes: usize,
    },
    /// An email with a link to a page to read (a knowledge-base article).
    Page {
        title: String,
    },
}

/// Whether a message's "form" is a knowledge-base article (a page, not a file).
pub fn is_page(form_id: &str) -> bool {
    form_id.starts_with(PAGE_PREFIX)
}

/// The form id prefix of knowledge-base articles sent as links.
pub const PAGE_PREFIX: &str = "cikk:";

/// A finished message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The SMS text or the email body.
    pub text: String,
    /// How many segments the SMS costs; `None` for email.
    pub segments: Option<Segments>,
}

/// Everything a download link needs but the message id.
#[derive(Debug)]
struct LinkTo {
    key: LinkKey,
    base_url: String,
    form_id: String,
    expires_at: u64,
}

impl LinkTo {
    fn url(&self, message_id: u64) -> String {
        let token = self
            .key
            .sign(&Link {
                form_id: self.form_id.clone(),
                expires_at: self.expires_at,
                message_id,
            })
            // Only an expiry after 2106 fails to sign.
            .unwrap_or_default();
        format!("{}/f/{token}", self.base_url)
    }
}

impl Composer {
    /// Checks what can be checked without the store: that `form_id` is in `catalog`,
    /// that `channel` is configured, and that `to` is a Hungarian mobile number (SMS,
    /// normalised to E.164) or an email address (trimmed). Refusals come in that order.
    pub fn accept(
        &self,
        catalog: &Catalog,
        form_id: &str,
        channel: Channel,
        to: &str,
    ) -> Result<Accepted, ComposeError> {
        let Some(form) = catalog.get(form_id).cloned() else {
            return Err(ComposeError::UnknownForm {
                found: form_id.to_owned(),
                known: catalog.forms().iter().map(|f| f.id.clone()).collect(),
            });
        };
        self.accept_form(form, channel, to)
    }

    /// [`Composer::accept`] for a form the caller found: a catalog form, or a knowledge
    /// base article as a page to read (id `cikk:SLUG`, no file).
    pub fn accept_form(
        &self,
        form: Form,
        channel: Channel,
        to: &str,
    ) -> Result<Accepted, ComposeError> {
        let bad = || ComposeError::BadAddress {
            channel,
            found: to.to_owned(),
        };
        let recipient = match channel {
            Channel::Sms if !self.sms_ready => return Err(ComposeError::NotConfigured(channel)),
            Channel::Email if !self.email_ready => {
                return Err(ComposeError::NotConfigured(channel));
            }
            Channel::Sms => phone::normalize(to)
                .filter(|n| phone::is_mobile(n))
                .ok_or_else(bad)?,
            Channel::Email => to
                .trim()
                .parse::<lettre::Address>()
                .map_err(|_| bad())?
                .to_string(),
        };
        Ok(Accepted {
            form,
            channel,
            recipient,
        })
    }

    /// How far back [`Composer::compose`] needs the recipient's SMS send times.
    pub fn limit_window_ms(&self) -> i64 {
        self.limits.window_ms()
    }

    /// Writes the message for `req` at `now_ms` (Unix milliseconds). `sms_sent_ms` are
    /// the times SMS to the recipient were enqueued (at least [`Composer::limit_window_ms`]
    /// back; ignored for email). `form_file` is the form's file as read from disk, empty
    /// when it has none or cannot be read (ignored for SMS): a file within
    /// `attach_limit_bytes` is said to be attached, a larger one is linked.
    pub fn compose(
        &self,
        req: Accepted,
        sms_sent_ms: &[i64],
        now_ms: i64,
        form_file: Vec<u8>,
    ) -> Result<Composed, ComposeError> {
        let Accepted {
            form,
            channel,
            recipient,
        } = req;
        if channel == Channel::Sms {
            self.limits
                .check(sms_sent_ms, now_ms)
                .map_err(ComposeError::Limited)?;
        }
        let link = LinkTo {
            key: self.link_key.clone(),
            base_url: self.base_url.clone(),
            form_id: form.id.clone(),
            expires_at: (now_ms / 1000) as u64 + self.link_ttl_s,
        };
        let (subject, kind) = match channel {
            Channel::Sms => (None, BodyKind::Sms { title: form.title }),
            Channel::Email if is_page(&form.id) => (
                Some(format!("Tájékoztató: {}", form.title)),
                BodyKind::Page { title: form.title },
            ),
            Channel::Email => {
                let subject = form_email("", "", &form.title, "", Vec::new(), "", 0).subject;
                (
                    Some(subject),
                    BodyKind::Email {
                        title: form.title,
                        bytes: form_file,
                        attach_limit_bytes: self.attach_limit_bytes,
                    },
                )
            }
        };
        Ok(Composed {
            channel,
            recipient,
            form_id: form.id,
            subject,
            body: Body { link, kind },
        })
    }
}

/// The SMS a resident gets for `form` when links start with `base_url`, written as the
/// outbox writes it. Its length depends on neither the key nor the message id (the link's
/// token is fixed-width but for the form id), so `ugyelet check` can count its segments
/// before anyone asks for the form.
pub fn sms_preview(base_url: &str, form: &Form) -> Text {
    let body = Body {
        link: LinkTo {
            key: LinkKey::new(&[0x5a; 32]).expect("32 bytes is a strong enough secret"),
            base_url: base_url.trim_end_matches('/').to_owned(),
            form_id: form.id.clone(),
            expires_at: u64::from(u32::MAX),
        },
        kind: BodyKind::Sms {
            title: form.title.clone(),
        },
    };
    body.write(u64::MAX)
}

impl Body {
    /// The text of message `id`.
    pub fn write(self, id: u64) -> Text {
        let link = self.link.url(id);
        match self.kind {
            BodyKind::Sms { title } => {
                let t = format!("{title}: {link}");
                let text = text::transliterate(&t).into_owned();
                let segments = Some(text::segments(&text));
                Text { text, segments }
            }
            BodyKind::Email {
                title,
                bytes,
                attach_limit_bytes,
            } => Text {
                // Only the body is kept: the recipient, the Message-ID and the attachment
                // come from the stored row and the catalog when the worker sends it.
                text: form_email("", "", &title, "", bytes, &link, attach_limit_bytes).body,
                segments: None,
            },
            BodyKind::Page { title } => Text {
                text: format!(
                    "Tisztelt Ügyfelünk!\n\nTelefonos kérésére küldjük a(z) „{title}” \
                     tájékoztatót. Itt olvashatja:\n{link}\n\nÜdvözlettel:\n\
                     Polgármesteri Hivatal – ügyeleti vonal\n\n\
                     Ez egy automatikus üzenet, kérjük, ne válaszoljon rá.\n"
                ),
                segments: None,
            },
        }
    }
}

/// The office's email about a voice message (the recipient is the configured mailbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeText {
    pub subject: String,
    pub body: String,
}

/// Writes the office's email about a voice message: who called (`caller`, E.164, or
/// unknown), when (`when`, civil time in Europe/Budapest), through which menu, how long.
/// A message with no voice in it (`voiced` false) is a callback request.
pub fn office_mail(
    caller: Option<&str>,
    menu_path: &str,
    voiced: bool,
    seconds: f64,
    when: jiff::civil::DateTime,
) -> OfficeText {
    let who = caller.unwrap_or("ismeretlen (a hívó nem küldött számot)");
    let when = when.strftime("%Y-%m-%d %H:%M");
    let (subject, intro) = if voiced {
        (
            format!("Hangüzenet az ügyeleti vonalon: {who}"),
            "Hangüzenet érkezett az ügyeleti vonalon. A felvételt csatoltuk (WAV).",
        )
    } else {
        (
            format!("Visszahívási kérés az ügyeleti vonalon: {who}"),
            "A hívó nem mondott üzenetet: kérjük, hívja vissza. A felvételt csatoltuk (WAV).",
        )
    };
    OfficeText {
        subject,
        body: format!(
            "{intro}\n\nHívó: {who}\nIdőpont: {when}\nMenü: {menu_path}\n\
             Hossz: {seconds:.0} másodperc\n\n\
             Elintézés után jelölje késznek az ügyeleti rendszerben \
             (POST /api/messages/{{id}}/done).\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::notify::text::Encoding;

    /// 2027-01-15 10:00:00 UTC.
    const NOW_MS: i64 = 1_800_007_200_000;
    const MIN_MS: i64 = 60_000;

    fn key() -> LinkKey {
        LinkKey::new(&[7; 32]).expect("32 octets")
    }

    fn composer() -> Composer {
        Composer {
            link_key: key(),
            base_url: "https://ugyelet.example.hu".to_owned(),
            link_ttl_s: 72 * 3600,
            limits: SmsLimits {
                per_hour: 3,
                per_day: 10,
            },
            attach_limit_bytes: 100,
            sms_ready: true,
            email_ready: true,
        }
    }

    fn catalog() -> Catalog {
        Catalog::parse(
            "[[form]]\nid = \"lakcim\"\ntitle = \"Lakcímbejelentés\"\n\
             [[form]]\nid = \"tajekoztato\"\ntitle = \"Ügyintézési tájékoztató\"\n",
            Path::new("forms.toml"),
            Path::new("."),
        )
        .expect("valid catalog")
    }

    fn accept(channel: Channel, to: &str) -> Result<Accepted, ComposeError> {
        composer().accept(&catalog(), "lakcim", channel, to)
    }

    #[test]
    fn an_unknown_form_is_refused_naming_the_known_ones() {
        let err = composer()
            .accept(&catalog(), "nincs", Channel::Sms, "06301234567")
            .expect_err("not in the catalog");
        assert_eq!(
            err.to_string(),
            "unknown form \"nincs\" (known: lakcim, tajekoztato)"
        );
    }

    #[test]
    fn an_unconfigured_channel_is_refused_before_the_address_is_looked_at() {
        let off = Composer {
            sms_ready: false,
            email_ready: false,
            ..composer()
        };
        let sms = off.accept(&catalog(), "lakcim", Channel::Sms, "nem szám");
        assert_eq!(sms, Err(ComposeError::NotConfigured(Channel::Sms)));
        assert_eq!(
            sms.expect_err("refused").to_string(),
            "SMS sending is not configured (notify.sms.kind = \"none\")"
        );
        let email = off.accept(&catalog(), "lakcim", Channel::Email, "nem cím");
        assert_eq!(
            email.expect_err("refused").to_string(),
            "email sending is not configured (notify.smtp.host is empty)"
        );
    }

    #[test]
    fn every_shape_of_a_mobile_number_becomes_one_e164_recipient() {
        for to in ["06301234567", "+36 30 123 4567", "36301234567", "301234567"] {
            let ok = accept(Channel::Sms, to).expect("a mobile number");
            assert_eq!(ok.recipient(), "+36301234567", "{to}");
            assert_eq!(ok.channel(), Channel::Sms);
            assert_eq!(ok.form().id, "lakcim");
        }
    }

    #[test]
    fn a_bad_number_is_refused_saying_what_was_expected_and_found() {
        for to in ["12", "06-30-abc-4567", "", "+36 30 123 45678 9"] {
            let err = accept(Channel::Sms, to).expect_err("not a number");
            assert_eq!(
                err,
                ComposeError::BadAddress {
                    channel: Channel::Sms,
                    found: to.to_owned()
                }
            );
        }
        assert_eq!(
            accept(Channel::Sms, "12").expect_err("refused").to_string(),
            "expected a Hungarian mobile number (+36 20/30/31/50/70 …), found \"12\""
        );
    }

    #[test]
    fn a_landline_or_foreign_number_gets_no_sms() {
        // Budapest, Debrecen, and a German mobile: valid numbers, but no Hungarian mobile.
        for to in ["06 1 234 5678", "+36 52 123 456", "+49 151 23456789"] {
            assert_eq!(
                accept(Channel::Sms, to),
                Err(ComposeError::BadAddress {
                    channel: Channel::Sms,
                    found: to.to_owned()
                }),
                "{to}"
            );
        }
    }

    #[test]
    fn a_bad_email_address_is_refused_and_a_good_one_trimmed() {
        for to in ["nem cím", "lakos@", "@example.hu", ""] {
            let err = accept(Channel::Email, to).expect_err("not an address");
            assert_eq!(
                err.to_string(),
                format!("expected an email address, found {to:?}")
            );
        }
        let ok = accept(Channel::Email, "  lakos@example.hu ").expect("an address");
        assert_eq!(ok.recipient(), "lakos@example.hu");
    }

    #[test]
    fn over_the_sms_limit_is_refused_and_email_is_not_limited() {
        let c = composer();
        let sent = [NOW_MS - 30 * MIN_MS, NOW_MS - 20 * MIN_MS, NOW_MS - MIN_MS];
        let sms = accept(Channel::Sms, "06301234567").expect("accepted");
        assert!(
            c.compose(sms.clone(), &sent[1..], NOW_MS, Vec::new())
                .is_ok()
        );
        let err = c
            .compose(sms, &sent, NOW_MS, Vec::new())
            .expect_err("three in the last hour");
        assert_eq!(err, ComposeError::Limited(LimitExceeded::Hour { limit: 3 }));
        assert_eq!(
            err.to_string(),
            "SMS limit reached: this number already got 3 SMS in the last hour \
             (notify.sms_per_hour)"
        );
        assert_eq!(c.limit_window_ms(), 24 * 60 * MIN_MS);
        let email = accept(Channel::Email, "lakos@example.hu").expect("accepted");
        assert!(c.compose(email, &sent, NOW_MS, Vec::new()).is_ok());
    }

    #[test]
    fn the_sms_is_the_transliterated_title_and_link_in_one_gsm7_segment() {
        let c = composer();
        let req = accept(Channel::Sms, "06301234567").expect("accepted");
        let m = c.compose(req, &[], NOW_MS, Vec::new()).expect("composed");
        assert_eq!(
            (
                m.channel,
                m.recipient.as_str(),
                m.form_id.as_str(),
                &m.subject
            ),
            (Channel::Sms, "+36301234567", "lakcim", &None)
        );
        let t = m.body.write(42);
        let token = t
            .text
            .strip_prefix("Lakcimbejelentés: https://ugyelet.example.hu/f/")
            .expect("title with í → i, é kept, then the link");
        assert!(!token.is_empty() && !token.contains(' '), "{}", t.text);
        let seg = t.segments.expect("an SMS is counted");
        assert_eq!((seg.encoding, seg.count), (Encoding::Gsm7, 1), "{}", t.text);
        assert_eq!(seg, text::segments(&t.text));
    }

    #[test]
    fn the_sms_preview_is_as_long_as_every_real_sms_of_the_form() {
        let c = composer();
        let form = catalog().get("lakcim").cloned().expect("in the catalog");
        let preview = sms_preview("https://ugyelet.example.hu/", &form);
        for (id, now) in [(1, NOW_MS), (42, NOW_MS + 5), (u64::MAX / 3, 0)] {
            let req = accept(Channel::Sms, "06301234567").expect("accepted");
            let real = c.compose(req, &[], now, Vec::new()).expect("composed");
            let real = real.body.write(id);
            assert_eq!(real.text.len(), preview.text.len(), "{}", real.text);
            assert_eq!(real.segments, preview.segments);
        }
        let long = Form {
            title: "Települési támogatás kérelem rendkívüli élethelyzetben lévő, \
                    egyedül élő idős személyek részére, a 2026. évi rendelet szerint"
                .into(),
            ..form
        };
        let seg = sms_preview("https://ugyelet.example.hu", &long).segments;
        assert_eq!(
            seg.map(|s| (s.encoding, s.count)),
            Some((Encoding::Gsm7, 2))
        );
    }

    #[test]
    fn every_non_gsm7_hungarian_letter_of_the_title_is_transliterated() {
        let cat = Catalog::parse(
            "[[form]]\nid = \"t\"\ntitle = \"ÁRVÍZTŰRŐ tükörfúrógép\"\n",
            Path::new("forms.toml"),
            Path::new("."),
        )
        .expect("valid");
        let c = composer();
        let req = c
            .accept(&cat, "t", Channel::Sms, "06201234567")
            .expect("accepted");
        let t = c
            .compose(req, &[], NOW_MS, Vec::new())
            .expect("composed")
            .body
            .write(1);
        assert!(
            t.text.starts_with("ARVIZTÜRÖ tükörfurogép: https://"),
            "{}",
            t.text
        );
        assert!(text::is_gsm7(&t.text), "{}", t.text);
    }

    #[test]
    fn the_link_names_the_form_and_the_message_and_lasts_the_configured_ttl() {
        let c = composer();
        let req = accept(Channel::Sms, "06301234567").expect("accepted");
        let text = c
            .compose(req, &[], NOW_MS, Vec::new())
            .expect("composed")
            .body
            .write(42)
            .text;
        let at = text.find("/f/").expect("a link");
        let link = key()
            .verify(&text[at + 3..], (NOW_MS / 1000) as u64)
            .expect("signed with the link key");
        assert_eq!(
            link,
            Link {
                form_id: "lakcim".to_owned(),
                expires_at: (NOW_MS / 1000) as u64 + 72 * 3600,
                message_id: 42,
            }
        );
    }

    #[test]
    fn the_email_attaches_a_small_form_and_links_a_large_one() {
        let c = composer();
        let small = c
            .compose(
                accept(Channel::Email, "lakos@example.hu").expect("accepted"),
                &[],
                NOW_MS,
                vec![0; 100],
            )
            .expect("composed");
        assert_eq!(
            small.subject.as_deref(),
            Some("Kért nyomtatvány: Lakcímbejelentés")
        );
        let body = small.body.write(7);
        assert_eq!(body.segments, None);
        assert_eq!(
            body.text,
            "Tisztelt Ügyfelünk!\n\nTelefonos kérésére mellékelten küldjük a(z) \
             „Lakcímbejelentés” nyomtatványt. Kérjük, töltse ki, és hozza magával \
             ügyintézéskor.\n\nÜdvözlettel:\nPolgármesteri Hivatal – ügyeleti vonal\n\n\
             Ez egy automatikus üzenet, kérjük, ne válaszoljon rá.\n"
        );
        let large = c
            .compose(
                accept(Channel::Email, "lakos@example.hu").expect("accepted"),
                &[],
                NOW_MS,
                vec![0; 101],
            )
            .expect("composed")
            .body
            .write(7)
            .text;
        assert!(
            large.contains(
                "Mérete miatt nem csatoltuk; innen töltheti le:\nhttps://ugyelet.example.hu/f/"
            ),
            "{large}"
        );
    }

    #[test]
    fn the_office_hears_of_a_voice_message_or_a_callback_request() {
        let when = jiff::civil::date(2027, 1, 15).at(23, 5, 59, 0);
        let voiced = office_mail(
            Some("+36301234567"),
            "welcome>closed_menu>record",
            true,
            12.4,
            when,
        );
        assert_eq!(
            voiced.subject,
            "Hangüzenet az ügyeleti vonalon: +36301234567"
        );
        assert_eq!(
            voiced.body,
            "Hangüzenet érkezett az ügyeleti vonalon. A felvételt csatoltuk (WAV).\n\n\
             Hívó: +36301234567\nIdőpont: 2027-01-15 23:05\n\
             Menü: welcome>closed_menu>record\nHossz: 12 másodperc\n\n\
             Elintézés után jelölje késznek az ügyeleti rendszerben \
             (POST /api/messages/{id}/done).\n"
        );
        let silent = office_mail(None, "welcome", false, 3.0, when);
        assert_eq!(
            silent.subject,
            "Visszahívási kérés az ügyeleti vonalon: \
             ismeretlen (a hívó nem küldött számot)"
        );
        assert!(
            silent
                .body
                .starts_with("A hívó nem mondott üzenetet: kérjük, hívja vissza."),
            "{}",
            silent.body
        );
    }
}
