//! Bindings kept across restarts.
//!
//! What is kept of a binding is what the next process needs to reach the phone and to
//! judge the phone's next REGISTER: the Contact, the address the REGISTER came from, the
//! Call-ID and CSeq (RFC 3261 §10.3 step 7 compares them on a refresh), and when it was
//! registered and expires, as Unix milliseconds. The caller passes the wall clock in
//! (`unix_ms` read at the same moment as `now`), so the registrar still reads no clock.
//!
//! Decisions:
//!
//! - **UDP only.** A binding that arrived over TCP is reached through that connection
//!   (its flow, RFC 5626), and the connection ends with the process. Opening a new
//!   connection to the Contact was the alternative; it was not taken because the Contact
//!   of a phone behind NAT is not reachable from outside (that is why the flow is used at
//!   all), because a phone that keeps a flow (RFC 5626) registers again over a new
//!   connection when it sees the old one close (others at their next refresh), and because
//!   the daemon opens no outgoing TCP connections anywhere else. So a TCP binding is lost
//!   with a restart as it is when its connection closes.
//! - **The source address, not only the Contact.** Behind a home router the Contact is a
//!   private address; calls go to where the REGISTER came from (received/rport), so that
//!   is kept, and the router's mapping is still open if the restart was quick.
//! - **Checked at once.** A restored binding's first keep-alive OPTIONS goes out on the
//!   first timeout after the restore, not a keep-alive interval later: a phone that went
//!   away while the daemon was down is dropped after one unanswered OPTIONS (Timer F)
//!   instead of being rung.
//! - **Expired by the wall clock.** A binding whose expiry passed while the daemon was down
//!   is not restored; one that is still valid keeps its remaining time (shortened to
//!   `max_expires` if the setting was lowered meanwhile).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Binding, Registrar, Source};
use crate::sip::endpoint::Transport;
use crate::sip::msg::NameAddr;

/// A binding as it is kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedBinding {
    /// The operator.
    pub aor: String,
    /// The Contact as registered (a name-addr, without `expires`).
    pub contact: String,
    pub instance: Option<String>,
    /// Where the REGISTER came from (UDP): calls and keep-alives go here.
    pub source: SocketAddr,
    pub call_id: String,
    pub cseq: u32,
    /// When it was first registered, Unix milliseconds.
    pub registered_ms: i64,
    /// When it expires unless refreshed, Unix milliseconds.
    pub expires_ms: i64,
    pub user_agent: Option<String>,
}

/// What [`Registrar::restore`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Operators with a binding again.
    pub aors: Vec<String>,
    /// How many bindings came back.
    pub bindings: usize,
    /// Saved bindings left out, each with the reason (expired, unreadable, over the limit).
    pub dropped: Vec<String>,
}

impl Registrar {
    /// The bindings to keep (UDP ones; see the module doc), with expiry times on the wall
    /// clock: `unix_ms` is the wall clock at `now`.
    pub fn saved_bindings(&self, now: Instant, unix_ms: i64) -> Vec<SavedBinding> {
        let wall = |at: Instant| {
            let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            if at >= now {
                unix_ms.saturating_add(ms(at - now))
            } else {
                unix_ms.saturating_sub(ms(now - at))
            }
        };
        self.bindings
            .values()
            .flatten()
            .filter(|b| b.source.transport == Transport::Udp)
            .map(|b| SavedBinding {
                aor: b.aor.clone(),
                contact: b.contact.to_string(),
                instance: b.instance.clone(),
                source: b.source.addr,
                call_id: b.call_id.clone(),
                cseq: b.cseq,
                registered_ms: wall(b.registered_at),
                expires_ms: wall(b.expires_at),
                user_agent: b.user_agent.clone(),
            })
            .collect()
    }

    /// Restores saved bindings at start (`unix_ms` is the wall clock at `now`): those of
    /// operators `is_account` still knows that have not expired come back with their
    /// remaining time, oldest registration first, at most `max_bindings` per operator (the
    /// newest). Emits no events: the caller tells the queue who is reachable from
    /// [`Restored::aors`].
    pub fn restore(
        &mut self,
        now: Instant,
        unix_ms: i64,
        saved: &[SavedBinding],
        is_account: &dyn Fn(&str) -> bool,
    ) -> Restored {
        let mut out = Restored::default();
        let mut saved: Vec<&SavedBinding> = saved.iter().collect();
        saved.sort_by_key(|s| (s.registered_ms, s.expires_ms));
        let max_left = Duration::from_secs(u64::from(self.cfg.max_expires));
        for s in saved {
            if !is_account(&s.aor) {
                out.dropped
                    .push(format!("{}: no such operator account", s.aor));
                continue;
            }
            if s.expires_ms <= unix_ms {
                out.dropped.push(format!(
                    "{}: expired {} s before the start",
                    s.aor,
                    unix_ms.saturating_sub(s.expires_ms) / 1000
                ));
                continue;
            }
            // The reasons are logged: they name the operator, never an address.
            let Ok(contact) = NameAddr::parse(&s.contact) else {
                out.dropped.push(format!(
                    "{}: expected a Contact name-addr, found one that does not parse",
                    s.aor
                ));
                continue;
            };
            // Saved times are whatever the file says: no arithmetic on them may overflow.
            let since = |ms: i64, earlier: i64| {
                Duration::from_millis(u64::try_from(ms.saturating_sub(earlier)).unwrap_or(0))
            };
            let left = since(s.expires_ms, unix_ms).min(max_left);
            let age = since(unix_ms, s.registered_ms);
            let id = self.next_id;
            self.next_id += 1;
            let list = self.bindings.entry(s.aor.clone()).or_default();
            if list.len() >= self.cfg.max_bindings.max(1) {
                list.remove(0);
                out.dropped.push(format!(
                    "{}: more than {} bindings, the one registered first left out",
                    s.aor, self.cfg.max_bindings
                ));
                out.bindings = out.bindings.saturating_sub(1);
            }
            list.push(Binding {
                id,
                aor: s.aor.clone(),
                contact,
                instance: s.instance.clone(),
                source: Source {
                    addr: s.source,
                    transport: Transport::Udp,
                },
                call_id: s.call_id.clone(),
                cseq: s.cseq,
                registered_at: now.checked_sub(age).unwrap_or(now),
                expires_at: now + left,
                // Checked on the first timeout (see the module doc).
                next_keepalive: now,
                user_agent: s.user_agent.clone(),
            });
            out.bindings += 1;
            if !out.aors.contains(&s.aor) {
                out.aors.push(s.aor.clone());
            }
        }
        // What is kept now differs from what was saved when something was left out.
        self.changed |= !out.dropped.is_empty();
        out
    }
}
