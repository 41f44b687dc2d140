use super::*;
use crate::clock::test_epoch;

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn on_site(name: &str) -> AgentSpec {
    AgentSpec {
        name: name.to_owned(),
        location: Location::OnSite,
        queues: Vec::new(),
    }
}

fn remote(name: &str) -> AgentSpec {
    AgentSpec {
        location: Location::Remote,
        ..on_site(name)
    }
}

fn ring(call: CallRef, agent: &str) -> AcdAction {
    AcdAction::Ring {
        call,
        agent: agent.to_owned(),
    }
}

fn cancel(call: CallRef, agent: &str) -> AcdAction {
    AcdAction::CancelRing {
        call,
        agent: agent.to_owned(),
    }
}

/// The router with a virtual clock: `advance` runs every deadline in order, as the driver's
/// sleep-until-`poll_timeout` loop would.
struct Floor {
    acd: Acd,
    t0: Instant,
    now: Instant,
}

impl Floor {
    /// Every operator registered, in the order given (so the first is the longest idle).
    fn new(cfg: AcdConfig, agents: Vec<AgentSpec>) -> Floor {
        let t0 = test_epoch();
        let names: Vec<String> = agents.iter().map(|a| a.name.clone()).collect();
        let mut acd = Acd::new(cfg, agents, t0);
        let mut now = t0;
        for n in &names {
            acd.handle_reachable(now, n, true);
            now += MS;
        }
        let mut f = Floor { acd, t0, now };
        assert_eq!(f.take(), vec![]);
        f
    }

    fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        while let Some(t) = self.acd.poll_timeout() {
            if t > target {
                break;
            }
            self.now = self.now.max(t);
            self.acd.handle_timeout(self.now);
        }
        self.now = target;
    }

    fn take(&mut self) -> Vec<AcdAction> {
        std::iter::from_fn(|| self.acd.poll_action()).collect()
    }

    fn enqueue(&mut self, call: CallRef) -> Vec<AcdAction> {
        self.acd.handle_enqueue(self.now, call, "operators");
        self.take()
    }

    fn state(&self, agent: &str) -> AgentStatus {
        self.acd
            .agents(self.now)
            .into_iter()
            .find(|a| a.name == agent)
            .expect("known operator")
    }

    /// `agent` answers `call` and talks for `talk`, then the call ends.
    fn serve(&mut self, call: CallRef, agent: &str, talk: Duration) {
        assert!(self.acd.handle_answered(self.now, call, agent));
        self.advance(talk);
        self.acd.handle_call_ended(self.now, agent);
    }
}

#[test]
fn longest_idle_operator_gets_the_head_call_and_the_next_call_the_next_operator() {
    let mut f = Floor::new(
        AcdConfig::default(),
        vec![on_site("cili"), on_site("anna"), on_site("bela")],
    );
    // Make anna the longest idle: cili and bela just finished calls.
    for (call, who) in [(90, "cili"), (91, "bela")] {
        f.acd.logout(f.now, "anna").expect("known");
        assert_eq!(f.enqueue(call), vec![ring(call, who)]);
        f.acd.login(f.now, "anna").expect("known");
        f.take();
        f.serve(call, who, 5 * S);
    }
    f.acd.logout(f.now, "anna").expect("known");
    f.acd.login(f.now, "anna").expect("known");
    f.advance(AcdConfig::default().wrap_up);
    assert_eq!(f.take(), vec![]);
    // anna logged back in before cili's and bela's wrap-up ended, and cili finished first.
    assert_eq!(f.enqueue(1), vec![ring(1, "anna")]);
    assert_eq!(f.enqueue(2), vec![ring(2, "cili")]);
    assert_eq!(f.enqueue(3), vec![ring(3, "bela")]);
    let w = f.acd.waiting(f.now);
    assert_eq!(
        w.iter().map(|c| (c.call, c.position)).collect::<Vec<_>>(),
        vec![(1, 1), (2, 2), (3, 3)]
    );
}

#[test]
fn on_site_operator_is_offered_before_a_longer_idle_teleworker() {
    let mut f = Floor::new(AcdConfig::default(), vec![remote("tele"), on_site("anna")]);
    assert_eq!(f.enqueue(1), vec![ring(1, "anna")]);
}

#[test]
fn teleworker_rings_only_once_the_call_waited_overflow_after() {
    let cfg = AcdConfig::default();
    let mut f = Floor::new(cfg.clone(), vec![on_site("anna"), remote("tele")]);
    assert_eq!(f.enqueue(1), vec![ring(1, "anna")]);
    assert!(f.acd.handle_answered(f.now, 1, "anna"));
    f.take();
    let enqueued = f.now;
    assert_eq!(f.enqueue(2), vec![]);
    f.advance(cfg.overflow_after - MS);
    assert_eq!(f.take(), vec![]);
    f.advance(MS);
    assert_eq!(f.now - enqueued, cfg.overflow_after);
    assert_eq!(f.take(), vec![ring(2, "tele")]);
}

#[test]
fn teleworker_rings_at_once_when_no_on_site_operator_is_logged_in() {
    let mut f = Floor::new(AcdConfig::default(), vec![on_site("anna"), remote("tele")]);
    f.acd.logout(f.now, "anna").expect("known");
    assert_eq!(f.enqueue(1), vec![ring(1, "tele")]);
    f.acd.handle_abandon(f.now, 1);
    f.take();
    // Unregistered counts the same as logged out.
    f.acd.login(f.now, "anna").expect("known");
    f.acd.handle_reachable(f.now, "anna", false);
    assert_eq!(f.enqueue(2), vec![ring(2, "tele")]);
}

#[test]
fn paused_on_site_operator_still_counts_as_logged_in_so_teleworkers_wait_for_overflow() {
    let mut f = Floor::new(AcdConfig::default(), vec![on_site("anna"), remote("tele")]);
    f.acd.pause(f.now, "anna", "lunch").expect("known");
    assert_eq!(f.enqueue(1), vec![]);
    f.advance(AcdConfig::default().overflow_after);
    assert_eq!(f.take(), vec![ring(1, "tele")]);
}

#[test]
fn unanswered_ring_is_cancelled_after_ring_timeout_and_the_next_operator_rings() {
    let cfg = AcdConfig::default();
    let mut f = Floor::new(cfg.clone(), vec![on_site("anna"), on_site("bela")]);
    assert_eq!(f.enqueue(1), vec![ring(1, "anna")]);
    f.advance(cfg.ring_timeout - MS);
    assert_eq!(f.take(), vec![]);
    f.advance(MS);
    assert_eq!(f.take(), vec![cancel(1, "anna"), ring(1, "bela")]);
    assert_eq!(f.state("anna").missed_in_row, 1);
    assert_eq!(f.state("anna").state, AgentState::Available);
    // A late 200 OK from anna's phone loses: the driver hangs that leg up.
    assert!(!f.acd.handle_answered(f.now, 1, "anna"));
    assert!(f.acd.handle_answered(f.now, 1, "bela"));
    assert_eq!(f.state("bela").state, AgentState::OnCall);
}

#[test]
fn busy_or_rejecting_operator_passes_the_call_on_and_the_round_starts_over_when_all_failed() {
    let mut f = Floor::new(AcdConfig::default(), vec![on_site("anna"), on_site("bela")]);
    assert_eq!(f.enqueue(1), vec![ring(1, "anna")]);
    f.acd
        .handle_ring_failed(f.now, 1, "anna", RingFailure::Busy);
    assert_eq!(f.take(), vec![ring(1, "bela")]);
    f.acd
        .handle_ring_failed(f.now, 1, "bela", RingFailure::Rejected);
    // Both failed this call: a new round, longest idle first again, but not before a ring
    // timeout has passed since the first round began (no INVITE storm at refusing phones).
    assert_eq!(f.take(), vec![]);
    f.advance(AcdConfig::default().ring_timeout - MS);
    assert_eq!(f.take(), vec![]);
    f.advance(MS);
    assert_eq!(f.take(), vec![ring(1, "anna")]);
    // A failure report for an offer that is not open changes nothing.
    f.acd
        .handle_ring_failed(f.now, 1, "bela", RingFailure::Busy);
    assert_eq!(f.take(), vec![]);
    assert_eq!(f.state("bela").missed_in_row, 1);
    assert_eq!(f.state("bela").last_missed, Some(RingFailure::Rejected));
    assert_eq!(f.state("anna").last_missed, Some(RingFailure::Busy));
}

#[test]
fn operator_who_missed_a_call_is_not_offered_it_again_while_someone_else_is_free() {
    let mut f = Floor::new(AcdConfig::default(), vec![on_site("anna"), on_site("bela")]);
    assert_eq!(f.enqueue(1), vec![ring(1, "anna")]);
    f.acd
        .handle_ring_failed(f.now, 1, "anna", RingFailure::NoAnswer);
    assert_eq!(f.take(), vec![ring(1, "bela")]);
    // A second caller goes to anna, who is free, not bela's call.
    assert_eq!(f.enqueue(2), vec![ring(2, "anna")]);
}

#[test]
fn wrap_up_delays_the_next_offer_to_that_operator() {
    let cfg = AcdConfig::default();
    let mut f = Floor::new(cfg.clone(), vec![on_site("anna")]);
    assert_eq!(f.enqueue(1), vec![ring(1, "anna")]);
    f.take();
    f.serve(1, "anna", 60 * S);
    assert_eq!(f.state("anna").state, AgentState::WrapUp);
    assert_eq!(f.state("anna").calls_taken, 1);
    assert_eq!(f.enqueue(2), vec![]);
    f.advance(cfg.wrap_up - MS);
    assert_eq!(f.take(), vec![]);
    f.advance(MS);
    assert_eq!(f.take(), vec![ring(2, "anna")]);
}

#[test]
fn operator_is_paused_after_max_missed_offers_in_a_row() {
    let cfg = AcdConfig {
        announce_every: Duration::ZERO,
        ..AcdConfig::default()
    };
    let mut f = Floor::new(cfg.clone(), vec![on_site("anna")]);
    assert_eq!(f.enqueue(1), vec![ring(1, "anna")]);
    f.advance(cfg.ring_timeout);
    assert_eq!(f.take(), vec![cancel(1, "anna"), ring(1, "anna")]);
    f.advance(cfg.ring_timeout);
    assert_eq!(f.take(), vec![cancel(1, "anna"), ring(1, "anna")]);
    f.advance(cfg.ring_timeout);
    assert_eq!(f.take(), vec![cancel(1, "anna")]);
    let anna = f.state("anna");
    assert_eq!(anna.state, AgentState::Paused);
    assert_eq!(anna.pause_reason.as_deref(), Some(MISSED_CALLS));
    assert_eq!(anna.missed_in_row, cfg.max_missed);
    assert_eq!(anna.last_missed, Some(RingFailure::NoAnswer));
    // Still logged in: the caller keeps waiting rather than being told nobody is there.
    assert_eq!(f.acd.waiting(f.now).len(), 1);
    f.acd.unpause(f.now, "anna").expect("known");
    assert_eq!(f.take(), vec![ring(1, "anna")]);
    assert_eq!(f.state("anna").missed_in_row, 0);
}

#[test]
fn answering_resets_the_missed_count() {
    let cfg = AcdConfig::default();
    let mut f = Floor::new(cfg.clone(), vec![on_site("anna")]);
    f.enqueue(1);
    f.advance(cfg.ring_timeout);
    f.take();
    assert_eq!(f.state("anna").missed_in_row, 1);
    assert!(f.acd.handle_answered(f.now, 1, "anna"));
    assert_eq!(f.state("anna").missed_in_row, 0);
}

#[test]
fn caller_hanging_up_while_ringing_cancels_the_ring_without_blaming_the_operator() {
    let mut f = Floor::new(AcdConfig::default(), vec![on_site("anna")]);
    assert_eq!(f.enqueue(1), vec![ring(1, "anna")]);
    f.acd.handle_abandon(f.now, 1);
    assert_eq!(f.take(), vec![cancel(1, "anna")]);
    assert_eq!(f.state("anna").state, AgentState::Available);
    assert_eq!(f.state("anna").missed_in_row, 0);
    assert!(f.acd.waiting(f.now).is_empty());
    assert_eq!(f.acd.stats().abandoned, 1);
    assert_eq!(f.acd.poll_timeout(), None);
}

#[test]
fn ring_all_rings_everyone_and_the_first_answer_wins() {
    let cfg = AcdConfig {
        strategy: Strategy::RingAll,
        ..AcdConfig::default()
    };
    let mut f = Floor::new(cfg, vec![on_site("anna"), on_site("bela"), on_site("cili")]);
    assert_eq!(
        f.enqueue(1),
        vec![ring(1, "anna"), ring(1, "bela"), ring(1, "cili")]
    );
    assert!(f.acd.handle_answered(f.now, 1, "bela"));
    assert_eq!(f.take(), vec![cancel(1, "anna"), cancel(1, "cili")]);
    assert!(!f.acd.handle_answered(f.now, 1, "anna"));
    assert_eq!(f.state("anna").missed_in_row, 0);
    assert_eq!(f.state("bela").state, AgentState::OnCall);
    assert_eq!(f.acd.stats().answered, 1);
}

#[test]
fn caller_gets_no_agents_when_nobody_of_the_queue_is_logged_in() {
    let mut f = Floor::new(
        AcdConfig::default(),
        vec![AgentSpec {
            queues: vec!["ugyfelszolgalat".to_owned()],
            ..on_site("anna")
        }],
    );
    // anna serves another queue only.
    assert_eq!(f.enqueue(1), vec![AcdAction::NoAgents { call: 1 }]);
    f.acd.handle_enqueue(f.now, 2, "ugyfelszolgalat");
    assert_eq!(f.take(), vec![ring(2, "anna")]);
    assert_eq!(f.acd.stats().no_agents, 1);
}

#[test]
fn waiting_callers_get_no_agents_when_the_last_operator_logs_out_or_unregisters() {
    let mut f = Floor::new(AcdConfig::default(), vec![on_site("anna"), on_site("bela")]);
    f.enqueue(1);
    f.enqueue(2);
    f.enqueue(3);
    assert!(f.acd.handle_answered(f.now, 1, "anna"));
    f.take();
    // anna still counts (on a call), so logging bela out leaves the calls waiting.
    f.acd.logout(f.now, "bela").expect("known");
    assert_eq!(f.take(), vec![cancel(2, "bela")]);
    f.acd.handle_reachable(f.now, "anna", false);
    assert_eq!(
        f.take(),
        vec![
            AcdAction::NoAgents { call: 2 },
            AcdAction::NoAgents { call: 3 }
        ]
    );
    assert!(f.acd.waiting(f.now).is_empty());
}

#[test]
fn operator_unregistering_while_ringing_passes_the_call_on_without_a_miss() {
    let mut f = Floor::new(AcdConfig::default(), vec![on_site("anna"), on_site("bela")]);
    assert_eq!(f.enqueue(1), vec![ring(1, "anna")]);
    f.acd.handle_reachable(f.now, "anna", false);
    assert_eq!(f.take(), vec![cancel(1, "anna"), ring(1, "bela")]);
    assert_eq!(f.state("anna").missed_in_row, 0);
    assert_eq!(f.state("anna").state, AgentState::Offline);
}

#[test]
fn caller_leaves_with_max_wait_after_waiting_max_wait() {
    let cfg = AcdConfig::default();
    let mut f = Floor::new(cfg.clone(), vec![on_site("anna")]);
    f.acd.pause(f.now, "anna", "meeting").expect("known");
    assert_eq!(f.enqueue(1), vec![]);
    f.advance(cfg.max_wait - MS);
    assert!(
        f.take()
            .iter()
            .all(|a| matches!(a, AcdAction::Announce { .. }))
    );
    f.advance(MS);
    assert_eq!(f.take(), vec![AcdAction::MaxWait { call: 1 }]);
    assert!(f.acd.waiting(f.now).is_empty());
    assert_eq!(f.acd.stats().max_wait, 1);
}

#[test]
fn position_is_announced_every_announce_every_with_the_estimated_wait() {
    let cfg = AcdConfig::default();
    let every = cfg.announce_every;
    let mut f = Floor::new(cfg.clone(), vec![on_site("anna"), on_site("bela")]);
    // Both operators on calls.
    f.enqueue(100);
    f.enqueue(101);
    assert!(f.acd.handle_answered(f.now, 100, "anna"));
    assert!(f.acd.handle_answered(f.now, 101, "bela"));
    f.take();
    let start = f.now;
    f.enqueue(1);
    f.advance(10 * S);
    f.enqueue(2);
    f.advance(every - 10 * S - MS);
    assert_eq!(f.take(), vec![]);
    f.advance(MS);
    // 1 × 180 s / 2 operators.
    assert_eq!(
        f.take(),
        vec![AcdAction::Announce {
            call: 1,
            position: 1,
            estimated_wait: Some(90 * S)
        }]
    );
    f.advance(10 * S);
    assert_eq!(
        f.take(),
        vec![AcdAction::Announce {
            call: 2,
            position: 2,
            estimated_wait: Some(180 * S)
        }]
    );
    // The first caller hangs up: the second is now first, announced on its own schedule.
    f.acd.handle_abandon(f.now, 1);
    f.advance(start + 2 * every + 10 * S - f.now);
    assert_eq!(
        f.take(),
        vec![AcdAction::Announce {
            call: 2,
            position: 1,
            estimated_wait: Some(90 * S)
        }]
    );
}

#[test]
fn estimated_wait_follows_the_average_handle_time_and_is_none_when_all_are_paused() {
    let cfg = AcdConfig {
        wrap_up: Duration::ZERO,
        ring_timeout: 60 * S,
        ..AcdConfig::default()
    };
    let mut f = Floor::new(cfg.clone(), vec![on_site("anna")]);
    f.enqueue(100);
    f.serve(100, "anna", 80 * S);
    // 180 s + (80 s − 180 s) / 8.
    assert_eq!(f.acd.average_handle_time(), Duration::from_millis(167_500));
    f.acd.pause(f.now, "anna", "break").expect("known");
    f.enqueue(1);
    f.advance(cfg.announce_every);
    assert_eq!(
        f.take(),
        vec![AcdAction::Announce {
            call: 1,
            position: 1,
            estimated_wait: None
        }]
    );
    f.acd.unpause(f.now, "anna").expect("known");
    assert_eq!(f.take(), vec![ring(1, "anna")]);
    f.advance(cfg.announce_every);
    assert_eq!(
        f.take(),
        vec![AcdAction::Announce {
            call: 1,
            position: 1,
            estimated_wait: Some(168 * S)
        }]
    );
}

#[test]
fn logged_out_and_paused_operators_survive_a_restart_through_saved_state() {
    let mut f = Floor::new(
        AcdConfig::default(),
        vec![on_site("anna"), on_site("bela"), remote("tele")],
    );
    f.acd.logout(f.now, "anna").expect("known");
    f.acd.pause(f.now, "bela", "ebédszünet").expect("known");
    let json = serde_json::to_string(&f.acd.saved_state()).expect("serialises");

    let mut g = Floor::new(
        AcdConfig::default(),
        vec![on_site("anna"), on_site("bela"), remote("tele")],
    );
    let saved: SavedAgents = serde_json::from_str(&json).expect("parses");
    g.acd.restore(g.now, &saved);
    let view = |fl: &Floor| {
        fl.acd
            .agents(fl.now)
            .into_iter()
            .map(|a| (a.name, a.state, a.logged_in, a.pause_reason))
            .collect::<Vec<_>>()
    };
    assert_eq!(view(&f), view(&g));
    assert_eq!(g.state("anna").state, AgentState::Offline);
    assert_eq!(g.state("bela").pause_reason.as_deref(), Some("ebédszünet"));
    assert_eq!(g.state("tele").state, AgentState::Available);
    assert_eq!(g.acd.saved_state(), saved);
}

#[test]
fn reloading_the_operator_list_keeps_the_state_of_remaining_operators() {
    let mut f = Floor::new(
        AcdConfig::default(),
        vec![on_site("anna"), on_site("bela"), on_site("dora")],
    );
    f.acd.pause(f.now, "anna", "lunch").expect("known");
    assert_eq!(f.enqueue(1), vec![ring(1, "bela")]);
    assert_eq!(f.enqueue(2), vec![ring(2, "dora")]);
    assert!(f.acd.handle_answered(f.now, 1, "bela"));

    f.acd.set_agents(
        f.now,
        vec![on_site("anna"), remote("bela"), on_site("cili")],
    );
    // dora is gone: her offer is cancelled; cili is new but not registered yet.
    assert_eq!(f.take(), vec![cancel(2, "dora")]);
    assert_eq!(f.state("anna").state, AgentState::Paused);
    assert_eq!(f.state("bela").state, AgentState::OnCall);
    assert_eq!(f.state("bela").location, Location::Remote);
    assert_eq!(f.state("cili").state, AgentState::Offline);
    assert!(
        !f.state("cili").logged_in,
        "never registered: not logged in"
    );
    assert!(
        !f.state("cili").logged_out,
        "nor logged out: registering is enough"
    );
    f.acd.handle_reachable(f.now, "cili", true);
    assert!(f.state("cili").logged_in);
    assert_eq!(f.take(), vec![ring(2, "cili")]);
    assert_eq!(
        f.acd.login(f.now, "dora"),
        Err(AcdError::UnknownAgent {
            name: "dora".to_owned(),
            known: vec!["anna".to_owned(), "bela".to_owned(), "cili".to_owned()],
        })
    );
}

#[test]
fn status_reports_serialise_for_the_admin_api() {
    let mut f = Floor::new(AcdConfig::default(), vec![on_site("anna")]);
    f.advance(7 * S);
    let json = serde_json::to_value(f.acd.agents(f.now)).expect("serialises");
    assert_eq!(json[0]["state"], "available");
    assert_eq!(json[0]["location"], "on_site");
    assert_eq!(json[0]["idle_s"], 7);
    f.enqueue(5);
    let json = serde_json::to_value(f.acd.waiting(f.now)).expect("serialises");
    assert_eq!(json[0]["ringing"][0], "anna");
    assert_eq!(json[0]["queue"], "operators");
    assert_eq!(f.t0 + 7 * S + MS, f.now);
}

#[test]
fn ring_all_adds_an_operator_who_becomes_free_and_rings_everyone_again_after_a_timeout() {
    let cfg = AcdConfig {
        strategy: Strategy::RingAll,
        announce_every: Duration::ZERO,
        ..AcdConfig::default()
    };
    let mut f = Floor::new(cfg.clone(), vec![on_site("anna"), on_site("bela")]);
    f.acd.pause(f.now, "bela", "coffee").expect("known");
    assert_eq!(f.enqueue(1), vec![ring(1, "anna")]);
    f.acd.unpause(f.now, "bela").expect("known");
    assert_eq!(f.take(), vec![ring(1, "bela")]);
    f.advance(cfg.ring_timeout);
    // bela's ring started at the same instant here, so both time out together and a new
    // round rings both again.
    assert_eq!(
        f.take(),
        vec![
            cancel(1, "anna"),
            cancel(1, "bela"),
            ring(1, "anna"),
            ring(1, "bela")
        ]
    );
}

#[test]
fn a_phone_refusing_at_once_is_offered_the_call_at_most_once_per_ring_timeout() {
    let cfg = AcdConfig {
        max_missed: 0,
        announce_every: Duration::ZERO,
        ..AcdConfig::default()
    };
    let mut f = Floor::new(cfg.clone(), vec![on_site("anna")]);
    let mut rings = 0;
    let mut actions = f.enqueue(1);
    for _ in 0..(3 * 20) {
        rings += actions
            .iter()
            .filter(|a| matches!(a, AcdAction::Ring { .. }))
            .count();
        if f.state("anna").state == AgentState::Ringing {
            f.acd
                .handle_ring_failed(f.now, 1, "anna", RingFailure::Busy);
        }
        actions = f.take();
        f.advance(S);
    }
    // 60 s of a do-not-disturb phone: a ring at 0, 20 and 40 s. max_missed = 0 never pauses.
    assert_eq!(rings, 3);
    assert_eq!(f.state("anna").pause_reason, None);
    assert_eq!(f.state("anna").missed_in_row, 3);
}

#[test]
fn enqueueing_a_call_twice_keeps_its_place() {
    let mut f = Floor::new(AcdConfig::default(), vec![on_site("anna")]);
    f.acd.pause(f.now, "anna", "x").expect("known");
    f.enqueue(1);
    f.enqueue(2);
    f.advance(S);
    assert_eq!(f.enqueue(1), vec![]);
    let w = f.acd.waiting(f.now);
    assert_eq!(w.iter().map(|c| c.call).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(w[0].waited_s, 1);
}

#[test]
fn logged_in_means_registered_and_not_logged_out_and_the_board_tells_which_is_missing() {
    let t0 = test_epoch();
    let mut acd = Acd::new(AcdConfig::default(), vec![on_site("anna")], t0);
    let flags = |acd: &Acd| {
        let a = acd.agents(t0).into_iter().next().expect("anna");
        (a.reachable, a.logged_out, a.logged_in, a.state)
    };
    // A fresh account whose phone never registered takes no calls: not logged in.
    assert_eq!(flags(&acd), (false, false, false, AgentState::Offline));
    acd.handle_reachable(t0, "anna", true);
    assert_eq!(flags(&acd), (true, false, true, AgentState::Available));
    // *22: still registered, but out of the queue until *21.
    acd.logout(t0, "anna").expect("known");
    assert_eq!(flags(&acd), (true, true, false, AgentState::Offline));
    acd.login(t0, "anna").expect("known");
    assert_eq!(flags(&acd), (true, false, true, AgentState::Available));
    // The registration expires or is removed: not reachable, so not logged in.
    acd.handle_reachable(t0, "anna", false);
    assert_eq!(flags(&acd), (false, false, false, AgentState::Offline));
}

/// anna is busy with call 1; then a callback job (class `class`, due 5 s before call 3
/// arrived) and a caller wait; anna's next call goes to whichever ranks first.
fn next_after_job_and_caller(class: u8, job_due_before_caller: bool) -> CallRef {
    let mut f = Floor::new(AcdConfig::default(), vec![on_site("anna")]);
    assert_eq!(f.enqueue(1), vec![ring(1, "anna")]);
    assert!(f.acd.handle_answered(f.now, 1, "anna"));
    f.advance(10 * S);
    let job_since = if job_due_before_caller {
        f.now
    } else {
        f.now + 20 * S
    };
    // The caller arrives before the job is handed in, so order of arrival at the router
    // is not what decides.
    f.advance(5 * S);
    assert_eq!(f.enqueue(3), vec![]);
    f.acd
        .handle_enqueue_job(f.now, 1 << 62, "operators", class, job_since);
    assert_eq!(f.take(), vec![]);
    let w = f.acd.waiting(f.now);
    let caller = w.iter().find(|c| c.call == 3).expect("the caller waits");
    assert_eq!(
        caller.position, 1,
        "a job takes no place in a caller's position"
    );
    f.acd.handle_call_ended(f.now, "anna");
    f.advance(AcdConfig::default().wrap_up);
    match f.take().as_slice() {
        [AcdAction::Ring { call, agent }] if agent == "anna" => *call,
        other => panic!("one ring expected, got {other:?}"),
    }
}

#[test]
fn a_callback_job_waits_behind_callers_before_them_or_in_line_by_its_rank() {
    let job: CallRef = 1 << 62;
    assert_eq!(next_after_job_and_caller(2, true), 3, "callers first");
    assert_eq!(next_after_job_and_caller(0, false), job, "callbacks first");
    assert_eq!(
        next_after_job_and_caller(1, true),
        job,
        "in order: due earlier"
    );
    assert_eq!(
        next_after_job_and_caller(1, false),
        3,
        "in order: caller earlier"
    );
}

#[test]
fn a_callback_job_for_an_unstaffed_queue_is_given_back_and_hears_no_announcements() {
    let cfg = AcdConfig {
        announce_every: 3 * S,
        ..AcdConfig::default()
    };
    let mut f = Floor::new(cfg, vec![on_site("anna")]);
    f.acd.logout(f.now, "anna").expect("known");
    let job: CallRef = (1 << 62) | 7;
    f.acd.handle_enqueue_job(f.now, job, "operators", 2, f.now);
    assert_eq!(f.take(), vec![AcdAction::NoAgents { call: job }]);
    assert!(!f.acd.is_staffed("operators"));
    f.acd.login(f.now, "anna").expect("known");
    f.acd.pause(f.now, "anna", "ebéd").expect("known");
    f.acd.handle_enqueue_job(f.now, job, "operators", 2, f.now);
    f.advance(10 * S);
    assert_eq!(f.take(), vec![], "no Announce for a job");
    assert!(f.acd.is_waiting(job) && !f.acd.is_ringing(job));
    f.acd.unpause(f.now, "anna").expect("known");
    assert_eq!(f.take(), vec![ring(job, "anna")]);
    assert!(f.acd.is_ringing(job));
}
