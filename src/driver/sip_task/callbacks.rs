//! Callbacks' I/O: taking up the stored jobs at start, keeping what the job core decides,
//! calling residents through the trunk and relaying a callback's two legs.
//!
//! ```text
//!   store ──open jobs──► Callbacks::restore ─► Switchboard (SIP task)
//!   call task, call-record writer, admin API ── request committed ──► ToSip::Callback
//!   Switchboard ── poll_callback_save ──► "callback-saves" task ──► store (in order)
//!   Action::Dial  ──► bind an RTP port, TrunkLink::outgoing, SipEndpoint::invite_with_credentials
//!   Action::Relay ──► a relay task owning both legs' sockets and the media::bridge core
//! ```
//!
//! Whether callbacks may go out is looked at once a second by the SIP task: `[callbacks]
//! enabled`, the trunk usable (its address known, registered when it registers) and the
//! schedule open (the calendar with the manual override, as calls see it).
//!
//! While either leg holds (a re-INVITE with `sendonly`, `inactive` or `c=0.0.0.0`), the
//! relay carries nothing and the other leg hears music on hold from the relay task, paced by
//! a 20 ms interval, on the stream the relay uses towards it (`media/hold.rs`); to an
//! operator on SRTP it is protected like the relayed packets.
//!
//! The relay is a task per bridged callback, not the media receiver thread the callers'
//! calls use: there are at most as many callbacks as operators, so a task wake-up per
//! packet costs nothing measurable, and the relay needs no call core behind it (neither leg
//! is a caller running a dial plan). It owns both sockets; dropping its handle (the SIP
//! task does on `Action::Release` of either leg) ends it and frees the ports.

use std::collections::HashMap;
use std::net::UdpSocket as StdUdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::SipTask;
use crate::callback::{Callbacks, Job};
use crate::config::Config;
use crate::driver::forms::Forms;
use crate::media::bridge::{Bridge, Relayed, Side};
use crate::media::hold::HoldMusic;
use crate::rtp::stream::IncomingStream;
use crate::sdp::offer_answer::{MediaSession, Negotiated};
use crate::sip::endpoint::DialogId;
use crate::switchboard::{DeskSettings, Dial, Switchboard};

/// A relay task's handle: dropping the last one ends it.
type Relay = Arc<mpsc::UnboundedSender<(Side, Negotiated)>>;

/// The SIP task's callback state.
pub(in crate::driver) struct CallbackLink {
    /// Callbacks are made (enabled, with a trunk): the switchboard has its desk.
    active: bool,
    /// The schedule that must be open.
    schedule: String,
    /// Relays of bridged callbacks, by both legs, with the side each leg is on (the
    /// resident is the bridge's caller side).
    relays: HashMap<DialogId, (Side, Relay)>,
    /// Into the task that writes job changes, in order.
    saves: mpsc::UnboundedSender<Job>,
    /// When the open state was last looked at.
    looked: Option<Instant>,
    /// The schedule was found missing from the calendar (said once, not every second).
    schedule_missing: bool,
}

/// Gives the switchboard the stored open jobs and its callback desk when callbacks are
/// made (`[callbacks] enabled` and a trunk), and starts the task that keeps job changes.
pub(in crate::driver) async fn attach(
    cfg: &Config,
    forms: &Arc<Forms>,
    board: &mut Switchboard,
    now: Instant,
) -> CallbackLink {
    let (saves, mut rx) = mpsc::unbounded_channel::<Job>();
    let writer = Arc::clone(forms);
    tokio::spawn(async move {
        // One at a time, so a job's states reach the disk in the order they happened.
        while let Some(job) = rx.recv().await {
            let id = job.id;
            if let Err(e) = writer.callback_save(job).await {
                tracing::error!(job = id, "callback job not saved: {e}");
            }
        }
    });
    let c = &cfg.callbacks;
    let active = c.enabled && cfg.trunk.enabled();
    if active {
        let jobs = match forms.callback_open().await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!("stored callback jobs cannot be read: {e}");
                Vec::new()
            }
        };
        let mut core = Callbacks::new(c.settings(), now, crate::clock::unix_ms());
        info!(open = jobs.len(), "callback jobs taken up");
        core.restore(now, jobs);
        board.enable_callbacks(
            core,
            DeskSettings {
                queue: c.queue.clone(),
                priority: c.priority,
                ring_timeout: Duration::from_secs(c.ring_timeout_s),
            },
        );
    } else if c.enabled {
        info!("no trunk: callback requests are kept and listed, nobody is called back");
    }
    CallbackLink {
        active,
        schedule: c.schedule.clone(),
        relays: HashMap::new(),
        saves,
        looked: None,
        schedule_missing: false,
    }
}

impl SipTask {
    /// Hands the job changes the switchboard decided to the writer.
    pub(super) fn save_callbacks(&mut self) {
        while let Some(job) = self.board.poll_callback_save() {
            debug!(
                job = job.id,
                state = job.state.as_str(),
                "callback job changed"
            );
            let _ = self.callbacks.saves.send(job);
        }
    }

    /// Once a second: may callbacks go out (the schedule open, the trunk usable)?
    pub(super) fn callbacks_open(&mut self, now: Instant) {
        if !self.callbacks.active
            || self
                .callbacks
                .looked
                .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.callbacks.looked = Some(now);
        let trunk = self.trunk.as_ref().is_some_and(|t| t.usable());
        let schedule = &self.callbacks.schedule;
        let open = schedule.is_empty()
            || {
                let served = self.shared.current();
                let at = crate::clock::civil_now();
                let state = served
                    .calendar
                    .state(schedule, &at, self.shared.manual().as_ref());
                let missing = state.is_none();
                if missing && !self.callbacks.schedule_missing {
                    warn!(schedule = %schedule, "callbacks.schedule: expected a schedule of the calendar, found none by that name: no callbacks until it exists");
                }
                self.callbacks.schedule_missing = missing;
                state.is_some_and(|s| s.open)
            };
        self.board.set_callbacks_open(now, trunk && open);
    }

    /// Calls a callback's resident through the trunk.
    pub(super) fn dial(&mut self, now: Instant, dial: &Dial) {
        if let Err(why) = self.try_dial(now, dial) {
            self.board.dial_failed(now, dial, &why);
        }
    }

    fn try_dial(&mut self, now: Instant, dial: &Dial) -> Result<(), String> {
        let (leg, media) = self.call_through_trunk(now, &dial.number, |m| dial.offer(m))?;
        self.board.dial_started(now, dial, leg, media);
        Ok(())
    }

    /// Calls `number` through the trunk (a callback's resident, a transfer's number out):
    /// binds the leg's RTP port, sends the INVITE with the offer `offer` writes for it
    /// (answering the provider's challenge), and returns the leg and its media.
    pub(super) fn call_through_trunk(
        &mut self,
        now: Instant,
        number: &str,
        offer: impl FnOnce(&MediaSession) -> Vec<u8>,
    ) -> Result<(DialogId, MediaSession), String> {
        let trunk = self
            .trunk
            .as_ref()
            .ok_or_else(|| "no trunk is configured".to_owned())?;
        let listen = self.shared.cfg.sip.listen.ip();
        let locals = &mut self.locals;
        let ports = &mut self.ports;
        let mut bound = None;
        let (call, credentials) = trunk.outgoing(
            number,
            |dst| locals.for_peer(dst.ip()),
            |local| {
                let ip = super::bind_ip(listen, local.ip());
                let (socket, port) = ports.bind(ip).map_err(|e| format!("no RTP port: {e}"))?;
                let media = MediaSession::new(super::local_media(local.ip(), port));
                let sdp = offer(&media);
                bound = Some((socket, media));
                Ok(sdp)
            },
        )?;
        let (socket, media) = bound.ok_or_else(|| "no RTP port was bound".to_owned())?;
        let leg = match credentials {
            Some(c) => self.endpoint.invite_with_credentials(now, call, c),
            None => self.endpoint.invite(now, call),
        };
        self.leg_ports.insert(leg, socket);
        Ok((leg, media))
    }

    /// Both legs of a callback answered: their sockets go to a relay task.
    pub(super) fn relay(
        &mut self,
        operator_leg: DialogId,
        resident_leg: DialogId,
        operator: Negotiated,
        resident: Negotiated,
    ) {
        let (Some(op), Some(res)) = (
            self.leg_ports.remove(&operator_leg),
            self.leg_ports.remove(&resident_leg),
        ) else {
            warn!(
                operator_leg,
                resident_leg, "callback legs without RTP ports: not relayed"
            );
            return;
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let tx = Arc::new(tx);
        let metrics = Arc::clone(&self.shared);
        // An operator rung over TLS speaks SRTP (driver/secure.rs).
        let srtp = self.secure.take(operator_leg);
        match start_relay(op, res, (operator, srtp), resident, rx, metrics) {
            Ok(()) => {
                info!(operator_leg, resident_leg, "callback relayed");
                let relays = &mut self.callbacks.relays;
                relays.insert(operator_leg, (Side::Operator, Arc::clone(&tx)));
                relays.insert(resident_leg, (Side::Caller, tx));
            }
            Err(e) => warn!("callback relay not started: {e}"),
        }
    }

    /// A callback leg's media changed: the relay maps anew.
    pub(super) fn relay_media(&mut self, leg: DialogId, negotiated: Negotiated) {
        if let Some((side, tx)) = self.callbacks.relays.get(&leg) {
            let _ = tx.send((*side, negotiated));
        }
    }

    /// A leg is over: its relay (if any) stops, and with it both sockets.
    pub(super) fn release_relay(&mut self, leg: DialogId) {
        if let Some((_, tx)) = self.callbacks.relays.remove(&leg) {
            self.callbacks
                .relays
                .retain(|_, (_, t)| !Arc::ptr_eq(t, &tx));
        }
    }
}

/// Starts the relay of one callback: the resident is the bridge's "caller" side.
fn start_relay(
    operator: StdUdpSocket,
    resident: StdUdpSocket,
    (op, mut srtp): (Negotiated, Option<Box<crate::srtp::Session>>),
    res: Negotiated,
    mut news: mpsc::UnboundedReceiver<(Side, Negotiated)>,
    shared: Arc<crate::driver::live::Shared>,
) -> std::io::Result<()> {
    for s in [&operator, &resident] {
        s.set_nonblocking(true)?;
        // What the operator's phone sent while the resident's rang is stale: drop it, so
        // the resident hears the operator from now, not a burst of the last seconds.
        let mut buf = [0u8; 2048];
        while s.recv_from(&mut buf).is_ok() {}
    }
    let operator = UdpSocket::from_std(operator)?;
    let resident = UdpSocket::from_std(resident)?;
    let mut stream = IncomingStream::from_negotiated(&res);
    stream.answered();
    let mut bridge = Bridge::new(res, stream, op, rand::random());
    // Music on hold for whichever leg is held (prompts are shared, loaded once).
    let mut music = HoldMusic::new(Arc::clone(&shared.current().prompts));
    tokio::spawn(async move {
        let mut from_op = vec![0u8; 2048];
        let mut from_res = vec![0u8; 2048];
        let mut out = vec![0u8; 2048];
        // The music's pace: a frame every 20 ms while someone is held; a late tick is not
        // made up with a burst, the timeline just goes on.
        let mut pace = tokio::time::interval(Duration::from_millis(20));
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                r = resident.recv_from(&mut from_res) => {
                    if let Ok((n, src)) = r
                        && let Relayed::Forward { dst, len } =
                            bridge.relay(Side::Caller, src, &from_res[..n], &mut out)
                    {
                        let len = match srtp.as_deref_mut() {
                            Some(s) => match s.send.protect(&mut out, len) {
                                Ok(n) => n,
                                Err(_) => continue,
                            },
                            None => len,
                        };
                        let _ = operator.send_to(&out[..len], dst).await;
                    }
                }
                r = operator.recv_from(&mut from_op) => {
                    let Ok((n, src)) = r else { continue };
                    let got: &[u8] = match srtp.as_deref_mut() {
                        Some(s) => match s.receive(&mut from_op[..n]) {
                            Some(p) => p,
                            None => continue,
                        },
                        None => &from_op[..n],
                    };
                    if let Relayed::Forward { dst, len } =
                            bridge.relay(Side::Operator, src, got, &mut out)
                    {
                        let _ = resident.send_to(&out[..len], dst).await;
                    }
                }
                _ = pace.tick(), if music.side().is_some() => {
                    let Some((side, dst, len)) = music.next_packet(&bridge, &mut out) else {
                        continue;
                    };
                    let _ = match side {
                        Side::Caller => resident.send_to(&out[..len], dst).await,
                        Side::Operator => {
                            let len = match srtp.as_deref_mut() {
                                Some(s) => match s.send.protect(&mut out, len) {
                                    Ok(n) => n,
                                    Err(_) => continue,
                                },
                                None => len,
                            };
                            operator.send_to(&out[..len], dst).await
                        }
                    };
                }
                m = news.recv() => match m {
                    Some((side, n)) => {
                        bridge.renegotiated(side, n);
                        if music.hold_changed(&mut bridge) {
                            // The first frame goes out now, the next 20 ms later.
                            pace.reset_immediately();
                            debug!(to = ?music.side(), "callback hold changed: music on hold");
                        }
                    }
                    // The SIP task let go: a leg ended.
                    None => break,
                },
            }
        }
        shared
            .metrics
            .rtp_relayed
            .fetch_add(bridge.relayed(), std::sync::atomic::Ordering::Relaxed);
        debug!(relayed = bridge.relayed(), "callback relay ended");
    });
    Ok(())
}
