//! Transfers: an operator passes a caller on (REFER from the softphone, RFC 3515), or the
//! dial plan's `transfer` node does.
//!
//! ```text
//!  REFER on the operator's leg ──► parse, who asks, where to ──► 403/480/486 (nothing changes)
//!                                                  │ possible
//!                                                  ▼
//!                        202, NOTIFY "100 Trying", the caller hears music on hold
//!        ┌──────────────────────────┬──────────────┴──────────────┐
//!        ▼ operator                 ▼ queue                        ▼ number (trunk)
//!   ring them directly        back in the queue:            INVITE through the trunk
//!        │                    NOTIFY "200", BYE              │
//!        ├── answered ──► bridge the caller to them, NOTIFY "200 OK", BYE to the first
//!        │                operator once the NOTIFY is answered (if their phone has not)
//!        └── refused, no answer ──► NOTIFY with that status; the caller goes back to the
//!                                   first operator (or, if they hung up, to the queue)
//! ```
//!
//! Attended (REFER with Replaces, RFC 3891): the operator called the colleague by name
//! through the daemon first (`colleague`, a call of its own), so both dialogs are ours; the
//! colleague's leg moves to the caller's call and both of the operator's calls end.
//!
//! The daemon is a back-to-back user agent: the caller's leg never moves, only what it is
//! bridged to. So a transfer is a new operator leg (or trunk leg) for the same caller call;
//! the first operator's leg stays up until the transfer's outcome is known, so a failed
//! transfer returns the caller to them. Only an operator may transfer: a REFER on a
//! resident's leg, outside any call, or to anything the daemon does not know (an unknown
//! user, a number outside `[transfer] allowed`) is refused with 403 and logged, and
//! nothing is dialled.

use std::net::SocketAddr;
use std::time::Instant;

use tracing::info;

use super::{Action, Caller, Colleague, Feature, Leg, Switchboard, Waiting};
use crate::acd::RingFailure;
use crate::call::QueueNews;
use crate::dialplan::TransferTarget;
use crate::dialplan::interp::ActionResult;
use crate::sdp::offer_answer::{Codec, MediaSession};
use crate::sip::auth::Verdict;
use crate::sip::endpoint::{DialogId, RequestId};
use crate::sip::msg::{self, Request, Response};
use crate::sip::refer::{Refer, Replaces};

/// Ids of our NOTIFYs ([`Action::Notify`]) start here, apart from other requests' ids.
const NOTIFY_IDS: u64 = 1 << 48;

/// What a transfer may reach, from the configuration and the dial plan in force.
#[derive(Debug, Clone, Copy)]
pub struct Reach<'a> {
    /// The queues a REFER may name by their name (`dialplan.queues`).
    pub queues: &'a [String],
    /// Numbers outside that may be dialled (`[transfer] allowed` of the plan in force).
    pub allowed: &'a [String],
    /// A trunk is configured to dial them through.
    pub trunk: bool,
}

/// A number to call out through the trunk for a caller being transferred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOut {
    pub call: DialogId,
    /// E.164; only numbers of `[transfer] allowed` ever get here.
    pub number: String,
    /// The caller leg's codec first, so no transcoding is needed.
    pub codecs: [Codec; 2],
}

impl CallOut {
    /// The SDP offer for the leg out.
    pub fn offer(&self, media: &MediaSession) -> Vec<u8> {
        media.offer(&self.codecs, super::TELEPHONE_EVENT_PT)
    }
}

/// A transfer under way for one call.
#[derive(Debug, Clone)]
pub(super) struct Transfer {
    /// The operator leg whose REFER asked for it and the REFER's CSeq (NOTIFYs go there);
    /// `None` for the dial plan's transfers, or once that operator hung up.
    pub(super) referrer: Option<(DialogId, u32)>,
    /// The leg ringing the new party, once it rings.
    pub(super) ringing: Option<DialogId>,
}

impl Switchboard {
    /// A REFER arrived on `leg`: pass the call on, or refuse. `find` names the dialog a
    /// Replaces header points at (the endpoint knows dialogs by Call-ID and tags).
    pub fn handle_refer(
        &mut self,
        now: Instant,
        leg: DialogId,
        id: RequestId,
        request: &Request,
        reach: &Reach<'_>,
        find: impl Fn(&Replaces) -> Option<DialogId>,
    ) {
        let refer = match Refer::parse(request) {
            Ok(r) => r,
            Err(e) => {
                info!(leg, "REFER refused: {e}");
                return self.answer_refer(id, request, 400);
            }
        };
        if let Some(r) = &refer.replaces {
            // Attended: the leg may be either of the operator's two calls.
            return self.attended(now, (leg, id, request), refer.cseq, find(r));
        }
        // Only an operator bridged to a caller may pass that caller on (an operator's own
        // call to a colleague is not a caller's).
        let Some((call, operator)) = self
            .bridged_operator(leg)
            .filter(|(call, _)| !self.colleague_calls.contains_key(call))
        else {
            info!(leg, "REFER refused: not an operator's call with a caller");
            return self.answer_refer(id, request, 403);
        };
        let user = refer.target.user().unwrap_or_default();
        let target = match self.target(user, reach) {
            Ok(t) => t,
            Err(why) => {
                info!(leg, operator = %operator, "REFER refused: {why}");
                return self.answer_refer(id, request, 403);
            }
        };
        if target == TransferTarget::Operator(operator.clone()) {
            info!(leg, operator = %operator, "REFER refused: a transfer to oneself");
            return self.answer_refer(id, request, 403);
        }
        if self
            .waiting
            .get(&call)
            .is_some_and(|w| w.transfer.is_some())
        {
            info!(leg, operator = %operator, "REFER refused: a transfer of this call is under way");
            return self.answer_refer(id, request, 403);
        }
        // Whether the target can take the call now is known at once: a refusal changes
        // nothing and the operator's phone says why.
        let placed = match &target {
            TransferTarget::Operator(name) => {
                self.acd
                    .ring_direct(now, call, name)
                    .map_err(|why| match why {
                        RingFailure::Busy => 486,
                        _ => 480,
                    })
            }
            TransferTarget::Queue(q) if !self.acd.staffed(q) => Err(480),
            // `target` let only allowed numbers through, and only with a trunk.
            TransferTarget::Queue(_) | TransferTarget::Number(_) => Ok(()),
        };
        if let Err(status) = placed {
            info!(leg, operator = %operator, status, to = %target, "REFER refused: the target cannot take the call now");
            return self.answer_refer(id, request, status);
        }
        info!(leg, operator = %operator, to = %target, "operator transfers the call");
        self.answer_refer(id, request, 202);
        self.notify(leg, refer.cseq, 100, false);
        self.actions.push_back(Action::Tell {
            call,
            news: QueueNews::Held,
        });
        self.changed = true;
        match target {
            TransferTarget::Queue(q) => {
                // In the queue the transfer is done: the first operator is free.
                self.notify(leg, refer.cseq, 200, true);
                self.release_operator(now, call, leg);
                if let Some(w) = self.waiting.get_mut(&call) {
                    w.queue = Some(q.clone());
                }
                self.acd.handle_enqueue(now, call, &q);
            }
            other => {
                if let Some(w) = self.waiting.get_mut(&call) {
                    w.transfer = Some(Transfer {
                        referrer: Some((leg, refer.cseq)),
                        ringing: None,
                    });
                }
                if let TransferTarget::Number(n) = other {
                    self.dial(call, n);
                }
            }
        }
        self.decide(now);
    }

    /// The dial plan passes the call on (a `transfer` node). A target that cannot take the
    /// call gives it back to the plan (`Failed`: the node's `on_error`). A number is
    /// dialled only if the plan in force (`reach`) still allows it and a trunk is there.
    pub fn handle_transfer(
        &mut self,
        now: Instant,
        call: DialogId,
        target: TransferTarget,
        caller: Caller,
        codec: Codec,
        reach: &Reach<'_>,
    ) {
        self.waiting.insert(
            call,
            Waiting {
                caller,
                codec,
                connected: None,
                queue: None,
                transfer: None,
            },
        );
        info!(call, to = %target, "the dial plan transfers the call");
        let placed = match &target {
            TransferTarget::Queue(q) => {
                if let Some(w) = self.waiting.get_mut(&call) {
                    w.queue = Some(q.clone());
                }
                self.acd.handle_enqueue(now, call, q);
                Ok(())
            }
            TransferTarget::Operator(name) if self.accounts.get(name).is_some() => self
                .acd
                .ring_direct(now, call, name)
                .map_err(|why| format!("{why:?}")),
            TransferTarget::Operator(_) => Err("no such operator account".to_owned()),
            TransferTarget::Number(n) if !reach.allowed.contains(n) => {
                Err("the number is no longer in [transfer] allowed".to_owned())
            }
            TransferTarget::Number(_) if !reach.trunk => {
                Err("no trunk to call out through".to_owned())
            }
            TransferTarget::Number(n) => {
                self.dial(call, n.clone());
                Ok(())
            }
        };
        match placed {
            Ok(()) => {
                if !matches!(target, TransferTarget::Queue(_))
                    && let Some(w) = self.waiting.get_mut(&call)
                {
                    w.transfer = Some(Transfer {
                        referrer: None,
                        ringing: None,
                    });
                }
            }
            Err(why) => {
                info!(call, to = %target, "transfer not possible: {why}");
                self.give_back(call, ActionResult::Failed);
            }
        }
        self.changed = true;
        self.decide(now);
    }

    /// The driver sent the INVITE for `dial`: `leg` is its dialog.
    pub fn call_out_started(
        &mut self,
        now: Instant,
        dial: &CallOut,
        leg: DialogId,
        media: MediaSession,
    ) {
        info!(leg, call = dial.call, number = %crate::pii::Pii(&dial.number), "calling out through the trunk");
        let ring_until = Some(now + self.acd.config().ring_timeout);
        self.leg_started(
            leg,
            Leg {
                call: dial.call,
                agent: dial.number.clone(),
                external: true,
                ring_until,
                media,
                negotiated: None,
            },
        );
    }

    /// The driver could not call out (no trunk address yet, no RTP port).
    pub fn call_out_failed(&mut self, now: Instant, dial: &CallOut, why: &str) {
        info!(call = dial.call, "cannot call out through the trunk: {why}");
        self.transfer_failed(now, dial.call, 503);
    }

    /// Calls out that rang longer than the operators' ring timeout are given up.
    pub(super) fn calls_out_timed_out(&mut self, now: Instant) {
        let mut due: Vec<(DialogId, DialogId)> = self
            .legs
            .iter()
            .filter(|(_, l)| l.ring_until.is_some_and(|t| t <= now))
            .map(|(leg, l)| (*leg, l.call))
            .collect();
        due.sort_unstable();
        for (leg, call) in due {
            info!(leg, call, "nobody answered the call out: given up");
            self.legs.remove(&leg);
            self.actions.push_back(Action::Cancel { leg });
            self.actions.push_back(Action::Release { leg });
            self.transfer_failed(now, call, 408);
        }
    }

    /// A NOTIFY of ours was answered (or timed out): a referrer whose transfer succeeded
    /// gets BYE now, unless their phone hung up first.
    pub fn notify_answered(&mut self, id: u64) {
        if let Some(leg) = self.hang_up_after.remove(&id) {
            self.actions.push_back(Action::Hangup { leg });
        }
    }

    /// The leg that rang for a transfer was answered and is now bridged to `call`: the
    /// operator who asked is told and freed.
    pub(super) fn transfer_connected(&mut self, now: Instant, call: DialogId) {
        let Some(t) = self.waiting.get_mut(&call).and_then(|w| w.transfer.take()) else {
            return;
        };
        if let Some((leg, cseq)) = t.referrer {
            self.notify(leg, cseq, 200, true);
            self.release_operator(now, call, leg);
        }
    }

    /// The transfer's new leg failed (`status`: refused, 408 for no answer): the operator
    /// who asked gets the caller back; without one the caller goes back to the queue they
    /// came from, or to the dial plan.
    pub(super) fn transfer_failed(&mut self, now: Instant, call: DialogId, status: u16) {
        let Some(t) = self.waiting.get_mut(&call).and_then(|w| w.transfer.take()) else {
            return;
        };
        self.changed = true;
        let back = t.referrer.and_then(|(leg, cseq)| {
            let l = self.legs.get(&leg)?;
            Some((leg, cseq, l.agent.clone(), l.negotiated?))
        });
        if let Some((leg, cseq, operator, negotiated)) = back {
            info!(call, status, operator = %operator, "transfer failed: the caller goes back to the operator");
            self.notify(leg, cseq, status, false);
            self.actions.push_back(Action::Bridge {
                call,
                leg,
                operator,
                negotiated,
            });
            return;
        }
        let queue = self.waiting.get(&call).and_then(|w| w.queue.clone());
        match queue {
            Some(q) => {
                info!(call, status, queue = %q, "transfer failed: the caller goes back to the queue");
                self.acd.handle_enqueue(now, call, &q);
            }
            None => {
                info!(
                    call,
                    status, "transfer failed: the call goes back to the dial plan"
                );
                self.give_back(call, ActionResult::Failed);
            }
        }
    }

    /// The referrer hung up while their transfer was under way: it goes on without them.
    /// Returns whether `leg` was such a referrer.
    pub(super) fn referrer_left(&mut self, now: Instant, call: DialogId, leg: DialogId) -> bool {
        let Some(w) = self.waiting.get_mut(&call) else {
            return false;
        };
        let Some(t) = w
            .transfer
            .as_mut()
            .filter(|t| t.referrer.map(|r| r.0) == Some(leg))
        else {
            return false;
        };
        t.referrer = None;
        if w.connected_leg() == Some(leg) {
            w.connected = None;
        }
        if let Some(l) = self.legs.get(&leg) {
            self.acd.handle_call_ended(now, &l.agent.clone());
        }
        true
    }

    /// The call this operator leg is bridged to, and the operator.
    fn bridged_operator(&self, leg: DialogId) -> Option<(DialogId, String)> {
        let l = self.legs.get(&leg)?;
        let w = self.waiting.get(&l.call)?;
        (w.connected_leg() == Some(leg)).then(|| (l.call, l.agent.clone()))
    }

    /// An operator calls a colleague (an INVITE to their name): only an operator, checked
    /// by digest on this very INVITE like a feature code, and not themselves.
    pub(super) fn colleague(
        &mut self,
        now: Instant,
        request: &Request,
        source: SocketAddr,
        insecure: Option<super::Insecure>,
    ) -> Feature {
        let to = request.uri.user().unwrap_or_default().to_owned();
        let verdict = match self.verify_own_call(now, request, source, insecure) {
            Ok(v) => v,
            Err(refused) => return refused,
        };
        match verdict {
            Verdict::Ok { username, .. } if username == to => {
                info!(operator = %username, "a call to oneself refused");
                Feature::Refuse(403)
            }
            Verdict::Ok { username, .. } => {
                info!(operator = %username, colleague = %to, "operator calls a colleague");
                Feature::Colleague(Colleague { from: username, to })
            }
            Verdict::Challenge {
                www_authenticate, ..
            } => Feature::Challenge(www_authenticate),
            Verdict::BadRequest(_) => Feature::Refuse(400),
            Verdict::Throttled { .. } => Feature::Refuse(403),
        }
    }

    /// The call `call` is `from`'s call to a colleague: a REFER of theirs with Replaces may
    /// name it.
    pub fn colleague_call(&mut self, call: DialogId, from: &str) {
        self.colleague_calls.insert(call, from.to_owned());
    }

    /// An attended transfer (RFC 3891 Replaces): the operator talks with a caller on one
    /// call and with a colleague on another (their call to the colleague's name), and
    /// asks, on either call, that the colleague take the caller. The colleague's leg goes
    /// over to the caller's call, both of the operator's legs end.
    fn attended(
        &mut self,
        now: Instant,
        (leg, id, request): (DialogId, RequestId, &Request),
        refer_cseq: u32,
        other: Option<DialogId>,
    ) {
        let roles = other.and_then(|other| {
            self.attended_roles(leg, other)
                .or_else(|| self.attended_roles(other, leg))
        });
        let Some((call, caller_leg, consult, colleague_leg, operator)) = roles else {
            info!(
                leg,
                "REFER refused: Replaces names no call of this operator's with a colleague who answered"
            );
            return self.answer_refer(id, request, 403);
        };
        if self
            .waiting
            .get(&call)
            .is_some_and(|w| w.transfer.is_some())
        {
            info!(leg, operator = %operator, "REFER refused: a transfer of this call is under way");
            return self.answer_refer(id, request, 403);
        }
        let Some((colleague, negotiated)) = self.legs.get_mut(&colleague_leg).and_then(|l| {
            l.call = call;
            Some((l.agent.clone(), l.negotiated?))
        }) else {
            return self.answer_refer(id, request, 403);
        };
        info!(leg, operator = %operator, colleague = %colleague, "attended transfer: the colleague takes the caller");
        self.answer_refer(id, request, 202);
        self.notify(leg, refer_cseq, 200, true);
        self.waiting.remove(&consult);
        self.colleague_calls.remove(&consult);
        self.release_operator(now, call, caller_leg);
        if caller_leg != leg {
            self.actions.push_back(Action::Hangup { leg: caller_leg });
        }
        if let Some(w) = self.waiting.get_mut(&call) {
            w.connected = Some((colleague_leg, now));
        }
        self.actions.push_back(Action::Bridge {
            call,
            leg: colleague_leg,
            operator: colleague,
            negotiated,
        });
        // The operator's call to the colleague has nobody left: it ends (BYE to them).
        self.actions.push_back(Action::Tell {
            call: consult,
            news: QueueNews::Released,
        });
        self.changed = true;
        self.decide(now);
    }

    /// `caller_leg` is an operator's leg bridged to a resident's call and `consult` that
    /// operator's call to a colleague who answered: (the call, `caller_leg`, `consult`,
    /// the colleague's leg, the operator).
    fn attended_roles(
        &self,
        caller_leg: DialogId,
        consult: DialogId,
    ) -> Option<(DialogId, DialogId, DialogId, DialogId, String)> {
        let (call, operator) = self.bridged_operator(caller_leg)?;
        if self.colleague_calls.contains_key(&call)
            || self.colleague_calls.get(&consult) != Some(&operator)
        {
            return None;
        }
        let colleague_leg = self.waiting.get(&consult)?.connected_leg()?;
        Some((call, caller_leg, consult, colleague_leg, operator))
    }

    /// What a Refer-To user names: a queue, an operator account, an allowed number.
    fn target(&self, user: &str, reach: &Reach<'_>) -> Result<TransferTarget, String> {
        if reach.queues.iter().any(|q| q == user) {
            return Ok(TransferTarget::Queue(user.to_owned()));
        }
        if self.accounts.get(user).is_some() {
            return Ok(TransferTarget::Operator(user.to_owned()));
        }
        match crate::phone::normalize(user) {
            Some(n) if !reach.allowed.contains(&n) => Err(format!(
                "{} is not in [transfer] allowed",
                crate::pii::Pii(&n)
            )),
            Some(_) if !reach.trunk => Err("no trunk to call out through".to_owned()),
            Some(n) => Ok(TransferTarget::Number(n)),
            None => Err(format!(
                "\"{user}\" is no queue, operator or number (queues: {})",
                reach.queues.join(", ")
            )),
        }
    }

    /// The operator on `leg` is done with `call`: their leg leaves it (it gets BYE once
    /// the NOTIFY that ends the transfer is answered) and they start their wrap-up.
    fn release_operator(&mut self, now: Instant, call: DialogId, leg: DialogId) {
        if let Some(w) = self.waiting.get_mut(&call)
            && w.connected_leg() == Some(leg)
        {
            w.connected = None;
        }
        if let Some(l) = self.legs.remove(&leg) {
            self.acd.handle_call_ended(now, &l.agent);
            self.actions.push_back(Action::Release { leg });
        }
    }

    /// Asks the driver to call `number` for `call` through the trunk.
    fn dial(&mut self, call: DialogId, number: String) {
        let codec = self.waiting.get(&call).map_or(Codec::Pcma, |w| w.codec);
        let other = match codec {
            Codec::Pcma => Codec::Pcmu,
            Codec::Pcmu => Codec::Pcma,
        };
        self.actions.push_back(Action::CallOut(CallOut {
            call,
            number,
            codecs: [codec, other],
        }));
    }

    /// The call leaves the switchboard and its dial plan goes on with `result`.
    pub(super) fn give_back(&mut self, call: DialogId, result: ActionResult) {
        self.waiting.remove(&call);
        self.actions.push_back(Action::Tell {
            call,
            news: QueueNews::Left(result),
        });
    }

    fn answer_refer(&mut self, id: RequestId, request: &Request, status: u16) {
        let response = Response::from_request(request, status, msg::reason_phrase(status), None);
        self.actions.push_back(Action::Respond {
            id,
            response: Box::new(response),
        });
    }

    /// A NOTIFY of the transfer's progress to the referrer; `hang_up` after a final one
    /// that ends their part.
    fn notify(&mut self, leg: DialogId, refer_cseq: u32, status: u16, hang_up: bool) {
        let id = NOTIFY_IDS + self.next_notify;
        self.next_notify += 1;
        if hang_up {
            self.hang_up_after.insert(id, leg);
        }
        self.actions.push_back(Action::Notify {
            leg,
            id,
            refer_cseq,
            status,
        });
    }
}
