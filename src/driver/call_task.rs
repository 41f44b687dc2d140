//! One task per call: owns the [`Call`] core and its RTP socket.
//!
//! The loop waits for whichever comes first: an RTP datagram, a SIP input from the SIP task,
//! or the core's next deadline (usually the next 20 ms frame). Because the deadline comes
//! from the core's pacer (epoch + n × 20 ms), a late wake-up never shifts the schedule.
//! Commands for SIP go to the SIP task; the task ends when the call does and tells the SIP
//! task so.

use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{Instrument, debug, info, info_span};

use super::ToSip;
use crate::call::{Call, CallEvent, CallInput, CallSetup, QueueNews};
use crate::media::bridge::{Relayed, Side};
use crate::pii::Pii;
use crate::sdp::offer_answer::Negotiated;

/// What the SIP task tells a call task.
pub(crate) enum ToCall {
    Sip(CallInput),
    /// An operator answered: from now on the call also owns the operator leg's RTP socket.
    Bridge {
        socket: UdpSocket,
        operator: String,
        negotiated: Negotiated,
    },
}

pub(super) async fn run(
    now: Instant,
    setup: CallSetup,
    socket: UdpSocket,
    mut inputs: mpsc::UnboundedReceiver<ToCall>,
    to_sip: mpsc::UnboundedSender<ToSip>,
    metrics: std::sync::Arc<super::live::Shared>,
    records: std::sync::mpsc::Sender<crate::cdr::CallRecord>,
) {
    let span = info_span!("call", id = setup.dialog);
    async move {
        let dialog = setup.dialog;
        info!(
            caller = %Pii(&setup.caller),
            source = %Pii(setup.source),
            codec = ?setup.negotiated.codec,
            rtp_port = setup.local_media.port,
            "call started"
        );
        let mut call = Call::new(now, setup);
        let mut buf = vec![0u8; 2048];
        let mut relay_out = vec![0u8; 2048];
        // The operator leg's socket, once bridged.
        let mut op_socket: Option<UdpSocket> = None;
        let mut op_buf = vec![0u8; 2048];
        loop {
            let deadline = call.poll_timeout();
            tokio::select! {
                r = socket.recv_from(&mut buf) => {
                    if let Ok((len, src)) = r {
                        if call.is_bridged() {
                            if let Relayed::Forward { dst, len } = call.relay_rtp(Instant::now(), Side::Caller, src, &buf[..len], &mut relay_out)
                                && let Some(op) = op_socket.as_ref()
                            {
                                let _ = op.send_to(&relay_out[..len], dst).await;
                            }
                        } else {
                            call.handle_rtp(Instant::now(), src, &buf[..len]);
                        }
                    }
                }
                r = recv_opt(op_socket.as_ref(), &mut op_buf) => {
                    if let Ok((len, src)) = r
                        && let Relayed::Forward { dst, len } = call.relay_rtp(Instant::now(), Side::Operator, src, &op_buf[..len], &mut relay_out)
                    {
                        let _ = socket.send_to(&relay_out[..len], dst).await;
                    }
                }
                input = inputs.recv() => match input {
                    Some(ToCall::Sip(input)) => call.handle_input(Instant::now(), input),
                    Some(ToCall::Bridge { socket: op, operator, negotiated }) => {
                        info!(operator = %operator, "operator answered: bridged");
                        op_socket = Some(op);
                        call.handle_input(Instant::now(), CallInput::Queue(QueueNews::Connected { operator, negotiated }));
                    }
                    // The SIP task dropped us: the daemon is stopping.
                    None => call.hang_up(),
                },
                () = super::sleep_until(deadline) => {
                    call.handle_timeout(Instant::now());
                }
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
            while let Some((dst, frame)) = call.poll_rtp() {
                // A failed send (e.g. ICMP unreachable reported late) must not end the call:
                // the caller may be behind a NAT that is still opening.
                let _ = socket.send_to(&frame, dst).await;
            }
            if let Some(outcome) = call.outcome() {
                info!(
                    outcome = outcome.as_str(),
                    duration_s = call.age(Instant::now()).as_secs(),
                    path = %call.path(),
                    "call ended"
                );
                metrics.metrics.call_ended(outcome, call.media_counts());
                if let Ok(mut live) = metrics.calls.lock() {
                    live.remove(&dialog);
                }
                if let Some(r) = call.record(Instant::now()) {
                    // The writer only stops after every call task has ended.
                    let _ = records.send(r);
                }
                metrics
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

/// Receives on the operator leg's socket once there is one; until then never completes.
async fn recv_opt(
    socket: Option<&UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, std::net::SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}
