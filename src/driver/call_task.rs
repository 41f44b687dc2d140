//! One task per call: brings the network to the [`Call`] core and hands on its decisions.
//!
//! The loop waits for whichever comes first: a SIP input from the SIP task, or a wake-up
//! from one of the two media threads, which do the call's RTP work on threads of their own:
//! the media clock (`media_clock.rs`) runs the call's deadlines and sends its 20 ms frames,
//! the media receiver (`media_rx.rs`) takes in its RTP and relays a bridged call. Either
//! wakes the task only when SIP or plan work came out. Commands for SIP go to the SIP task;
//! the task ends when the call does and tells the SIP task so. Polling the call's answer is
//! what hands it to SIP: the call starts its media only after that (the step's `flush`
//! publishes the start, and the media clock's next tick makes it).
//!
//! A form the plan sends is written to the outbox by a task of its own (the commit waits
//! for the disk, and the frames must keep flowing meanwhile); its result comes back on a
//! channel this loop also waits on.

use std::time::Instant;

use std::net::UdpSocket;

use tokio::sync::mpsc;
use tracing::{Instrument, debug, info, info_span};

use super::media_clock::OperatorLeg;
use super::messages::{ToCall, ToSip};
use crate::call::{Call, CallEvent, CallInput, CallSetup, QueueNews, Request};
use crate::dialplan::interp::{Action, ActionResult};
use crate::notify::outbox::derive_key;
use crate::pii::Pii;

/// The caller leg's RTP port: the handle the media receiver reads and the one the media
/// clock sends on (a clone of the same socket).
pub(super) struct CallerPort {
    pub receive: UdpSocket,
    pub send: UdpSocket,
    /// The caller leg's SRTP, when the call came over TLS with SDES keys.
    pub srtp: Option<Box<crate::srtp::Session>>,
}

pub(super) async fn run(
    now: Instant,
    setup: CallSetup,
    port: CallerPort,
    mut inputs: mpsc::UnboundedReceiver<ToCall>,
    to_sip: mpsc::UnboundedSender<ToSip>,
    shared: std::sync::Arc<super::live::Shared>,
    records: std::sync::mpsc::Sender<super::records::ToRecords>,
) {
    let span = info_span!("call", id = setup.dialog);
    async move {
        let dialog = setup.dialog;
        info!(
            caller = %Pii(&setup.caller),
            source = %Pii(setup.source),
            codec = ?setup.negotiated.codec,
            rtp_port = setup.media.local().port,
            "call started"
        );
        // From here on the media threads do the call's RTP work; this task brings in SIP and
        // the plan's results and hands on what the core decides.
        let CallerPort {
            receive,
            send,
            srtp,
        } = port;
        let slot = shared.media.add(Call::new(now, setup), send, srtp);
        let rx = shared.media_rx.add(&slot, receive);
        let (results_tx, mut results) = mpsc::unbounded_channel::<ActionResult>();
        // The media receiver reads an operator leg for this call.
        let mut relaying = false;
        loop {
            // What arrived is taken in and handed on under one lock of the core.
            let arrived = tokio::select! {
                input = inputs.recv() => Arrived::Input(input),
                // A media thread left work for this task.
                () = slot.wake.notified() => Arrived::Woken,
                // The loop holds a sender, so this never yields `None`.
                Some(result) = results.recv() => Arrived::Result(result),
            };
            let now = Instant::now();
            let mut call = slot.lock();
            match arrived {
                Arrived::Woken => {}
                Arrived::Input(Some(ToCall::Sip(input))) => call.handle_input(now, input),
                Arrived::Input(Some(ToCall::Bridge {
                    socket: op,
                    operator,
                    negotiated,
                    srtp,
                })) => {
                    // A call out through the trunk is named by its number: masked.
                    let who = if operator.starts_with('+') {
                        Pii(&operator).to_string()
                    } else {
                        operator.clone()
                    };
                    info!(operator = %who, srtp = srtp.is_some(), "answered: bridged");
                    shared.tie_bridged(dialog, &operator);
                    // The media clock sends music on hold from the same port if the caller
                    // holds the call; the relay and the music share the leg's SRTP.
                    slot.set_operator(OperatorLeg {
                        socket: op.try_clone().ok(),
                        srtp,
                    });
                    shared.media_rx.add_operator(&rx, op);
                    relaying = true;
                    call.handle_input(
                        now,
                        CallInput::Queue(QueueNews::Connected {
                            operator,
                            negotiated,
                        }),
                    );
                }
                // The SIP task dropped us: the daemon is stopping.
                Arrived::Input(None) => call.hang_up(),
                Arrived::Result(result) => call.handle_action_result(now, result),
            }
            if relaying && !call.is_bridged() {
                // Passed on (music on hold until someone takes the call), or over.
                shared.media_rx.drop_operator(&rx);
                slot.set_operator(OperatorLeg::default());
                relaying = false;
            }
            while let Some(req) = call.poll_request() {
                fulfil(req, &call, &shared, results_tx.clone());
            }
            while let Some(cmd) = call.poll_command() {
                let _ = to_sip.send(ToSip::Command(dialog, cmd));
            }
            while let Some(ev) = call.poll_event() {
                match ev {
                    CallEvent::Answered => debug!("answered"),
                    CallEvent::Digit { key, source } => info!(%key, ?source, "key pressed"),
                    CallEvent::Plan { node, text } => debug!(%node, "{text}"),
                }
            }
            slot.flush(&mut call);
            if let Some(outcome) = call.outcome() {
                // One outcome, from the call core, for the log line, the metric and the
                // record alike.
                let now = Instant::now();
                if call.is_operator_call() {
                    info!(
                        outcome = outcome.as_str(),
                        duration_s = call.age(now).as_secs(),
                        "operator feature-code call ended"
                    );
                    shared.metrics.operator_call_ended(call.media_counts());
                } else {
                    info!(
                        outcome = outcome.as_str(),
                        duration_s = call.age(now).as_secs(),
                        path = %call.path(),
                        rating = call.rating(),
                        "call ended"
                    );
                    shared.metrics.call_ended(outcome, call.media_counts());
                    if let Some(r) = call.rating() {
                        shared.metrics.rated(r);
                    }
                }
                if let Ok(mut live) = shared.calls.lock() {
                    live.remove(&dialog);
                }
                if let Some(r) = call.record(now) {
                    // The writer only stops after every call task has ended.
                    let _ = records.send(super::records::ToRecords::Call(r));
                }
                // Forms the operator sends in wrap-up still go into this record.
                shared.tie_ended(dialog, now);
                shared
                    .metrics
                    .calls_active
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                let _ = to_sip.send(ToSip::CallGone(dialog));
                break;
            }
        }
    }
    .instrument(span)
    .await;
}

/// What woke the call task.
enum Arrived {
    Input(Option<ToCall>),
    Woken,
    Result(ActionResult),
}

/// Carries out a call's request on a task of its own; the result goes to `done`.
fn fulfil(
    req: Request,
    call: &Call,
    shared: &std::sync::Arc<super::live::Shared>,
    done: mpsc::UnboundedSender<ActionResult>,
) {
    let sip_call_id = call.sip_call_id();
    let forms = std::sync::Arc::clone(&shared.forms);
    let (form, channel, to) = match req.action {
        Action::SendForm { form, channel, to } => (form, channel, to),
        Action::Callback { number } => {
            let call_id = sip_call_id.to_owned();
            let to_sip = shared.to_sip.lock().ok().and_then(|g| g.clone());
            tokio::spawn(
                async move {
                    let result = match request_callback(
                        &forms, &number, "callback", call_id, to_sip,
                    )
                    .await
                    {
                        Ok(()) => ActionResult::Done,
                        Err(e) => {
                            tracing::error!("callback request not kept: {e}");
                            ActionResult::Failed
                        }
                    };
                    let _ = done.send(result);
                }
                .in_current_span(),
            );
            return;
        }
        Action::Voicemail => {
            // A message without words asks for a callback (`[callbacks] automatic`).
            let silent_from = (shared.cfg.callbacks.automatic
                && !req.audio.chunks(160).any(crate::call::is_voice))
            .then(|| call.caller_e164().map(str::to_owned))
            .flatten();
            let call_id = sip_call_id.to_owned();
            let to_sip = shared.to_sip.lock().ok().and_then(|g| g.clone());
            let msg = super::forms::VoiceMessageIn {
                key: derive_key(&[sip_call_id, &req.node, &req.step.to_string(), "voicemail"]),
                caller: call.caller_e164().map(str::to_owned),
                menu_path: call.path(),
                audio: req.audio,
            };
            tokio::spawn(
                async move {
                    let result = match forms.save_voice_message(msg).await {
                        Ok(_) => ActionResult::Done,
                        Err(e) => {
                            tracing::error!("voice message not kept: {e}");
                            ActionResult::Failed
                        }
                    };
                    let _ = done.send(result);
                    if let Some(number) = silent_from
                        && let Err(e) =
                            request_callback(&forms, &number, "silent_message", call_id, to_sip)
                                .await
                    {
                        tracing::error!("callback request not kept: {e}");
                    }
                }
                .in_current_span(),
            );
            return;
        }
        _ => {
            let _ = done.send(ActionResult::Failed);
            return;
        }
    };
    let key = derive_key(&[sip_call_id, &req.node, &req.step.to_string(), &form]);
    tokio::spawn(
        async move {
            let result = match forms.send_form(key, &form, channel, &to).await {
                Ok(_) => ActionResult::Done,
                Err(e) => {
                    // The error text may quote the number: only its kind at info level.
                    info!(form, status = e.status(), "form not sent");
                    debug!("form not sent: {e}");
                    ActionResult::Failed
                }
            };
            // The call may have ended meanwhile; the message is queued all the same.
            let _ = done.send(result);
        }
        .in_current_span(),
    );
}

/// Keeps a callback request for `number` (a durable commit), then tells the SIP task, whose
/// switchboard makes the callback. A number that is no phone number is refused.
async fn request_callback(
    forms: &super::forms::Forms,
    number: &str,
    reason: &'static str,
    call_id: String,
    to_sip: Option<mpsc::UnboundedSender<ToSip>>,
) -> Result<(), String> {
    let e164 = crate::phone::normalize(number)
        .ok_or_else(|| "expected a phone number to call back, found none usable".to_owned())?;
    let job = forms.callback_request(e164, reason, Some(call_id)).await?;
    info!(
        job = job.id,
        requests = job.requests,
        "callback request kept"
    );
    if let Some(tx) = to_sip {
        let _ = tx.send(ToSip::Callback(job));
    }
    Ok(())
}
