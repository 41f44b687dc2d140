use super::*;
use crate::clock::test_epoch;

const T0_MS: i64 = 1_780_000_000_000;
const MIN: Duration = Duration::from_secs(60);

fn core(t0: Instant) -> Callbacks {
    Callbacks::new(
        Settings {
            attempts: 3,
            retry_interval: 10 * MIN,
        },
        t0,
        T0_MS,
    )
}

fn job(id: JobId, number: &str, due_ms: i64) -> Job {
    Job {
        id,
        number: number.to_owned(),
        reason: "callback".to_owned(),
        requests: 1,
        state: JobState::Waiting,
        due_ms,
        created_ms: due_ms,
        updated_ms: due_ms,
        attempts: Vec::new(),
    }
}

fn saves(c: &mut Callbacks) -> Vec<Job> {
    std::iter::from_fn(|| c.poll_save()).collect()
}

#[test]
fn three_unanswered_attempts_ten_minutes_apart_then_the_job_is_given_up() {
    let t0 = test_epoch();
    let mut c = core(t0);
    c.handle_request(t0, job(1, "+36301234567", T0_MS));
    let mut now = t0;
    for (n, outcome) in [Outcome::NoAnswer, Outcome::Busy, Outcome::Failed]
        .into_iter()
        .enumerate()
    {
        assert_eq!(c.due(now), [1], "attempt {} is due", n + 1);
        c.offered(1);
        assert!(c.due(now).is_empty(), "an offered job is not offered twice");
        c.calling(now, 1, "anna");
        let calling = saves(&mut c);
        assert_eq!(calling.len(), 1);
        assert_eq!(
            calling[0].state,
            JobState::Calling,
            "saved before the INVITE"
        );
        assert_eq!(calling[0].attempts.len(), n + 1);
        now += Duration::from_secs(25);
        c.finish(now, 1, outcome, Some(486));
        let done = saves(&mut c);
        assert_eq!(done[0].attempts[n].outcome, Some(outcome));
        if n < 2 {
            assert_eq!(done[0].state, JobState::Waiting);
            // Due again ten minutes after the attempt ended, not before.
            assert_eq!(
                done[0].due_ms,
                c.wall_ms(now) + 600_000,
                "back-off after {outcome:?}"
            );
            assert!(c.due(now + 10 * MIN - Duration::from_millis(1)).is_empty());
            assert_eq!(c.poll_timeout(), Some(now + 10 * MIN));
            now += 10 * MIN;
        } else {
            assert_eq!(done[0].state, JobState::GaveUp);
            assert!(c.get(1).is_none(), "a finished job is forgotten");
            assert!(c.due(now + 60 * MIN).is_empty());
            assert_eq!(c.poll_timeout(), None);
        }
    }
}

#[test]
fn a_reached_resident_is_not_called_again() {
    let t0 = test_epoch();
    let mut c = core(t0);
    c.handle_request(t0, job(7, "+3623444555", T0_MS));
    c.offered(7);
    c.calling(t0, 7, "bela");
    c.finish(t0 + MIN, 7, Outcome::Reached, Some(200));
    let s = saves(&mut c);
    assert_eq!(s.last().map(|j| j.state), Some(JobState::Reached));
    assert_eq!(s[1].attempts[0].operator, "bela");
    assert!(c.due(t0 + 100 * MIN).is_empty());
}

#[test]
fn a_job_given_back_unattempted_is_due_again_at_once_and_costs_no_attempt() {
    let t0 = test_epoch();
    let mut c = core(t0);
    c.handle_request(t0, job(3, "+36301111111", T0_MS));
    c.offered(3);
    c.withdrawn(3);
    assert_eq!(c.due(t0), [3]);
    assert!(
        saves(&mut c).is_empty(),
        "nothing to keep: nobody was called"
    );
    assert!(c.get(3).is_some_and(|j| j.attempts.is_empty()));
}

#[test]
fn another_request_for_an_open_job_counts_and_keeps_the_attempt_in_progress() {
    let t0 = test_epoch();
    let mut c = core(t0);
    c.handle_request(t0, job(2, "+36301234567", T0_MS));
    c.offered(2);
    c.calling(t0, 2, "anna");
    // The resident rings the line again while we call them: the store merged it.
    let mut again = job(2, "+36301234567", T0_MS);
    again.requests = 2;
    c.handle_request(t0 + MIN, again);
    let j = c.get(2).expect("open");
    assert_eq!(
        (j.state, j.requests, j.attempts.len()),
        (JobState::Calling, 2, 1)
    );
}

#[test]
fn due_jobs_come_earliest_first_and_the_next_wake_up_is_the_next_due_time() {
    let t0 = test_epoch();
    let mut c = core(t0);
    c.handle_request(t0, job(5, "+36301000005", T0_MS + 2_000));
    c.handle_request(t0, job(4, "+36301000004", T0_MS + 1_000));
    c.handle_request(t0, job(6, "+36301000006", T0_MS + 90_000));
    assert!(c.due(t0).is_empty());
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    assert_eq!(c.due(t0 + Duration::from_secs(2)), [4, 5]);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(90)));
}

#[test]
fn after_a_restart_stored_jobs_go_on_and_an_interrupted_attempt_counts_as_failed() {
    // The first run: one job waiting with one attempt behind it, one in the middle of a
    // call when the process died.
    let t0 = test_epoch();
    let mut first = core(t0);
    first.handle_request(t0, job(1, "+36301000001", T0_MS));
    first.handle_request(t0, job(2, "+36301000002", T0_MS));
    first.offered(1);
    first.calling(t0, 1, "anna");
    first.finish(t0 + MIN, 1, Outcome::Busy, Some(486));
    first.offered(2);
    first.calling(t0 + MIN, 2, "bela");
    let mut stored: BTreeMap<JobId, Job> = BTreeMap::new();
    for j in saves(&mut first) {
        stored.insert(j.id, j);
    }
    drop(first);

    // The second run starts 3 minutes later on a fresh monotonic clock.
    let t1 = test_epoch() + Duration::from_secs(1000);
    let mut second = Callbacks::new(
        Settings {
            attempts: 3,
            retry_interval: 10 * MIN,
        },
        t1,
        T0_MS + 180_000,
    );
    second.restore(t1, stored.into_values().collect());
    let s = saves(&mut second);
    assert_eq!(s.len(), 1, "only the interrupted job changed: {s:?}");
    assert_eq!((s[0].id, s[0].state), (2, JobState::Waiting));
    assert_eq!(s[0].attempts[0].outcome, Some(Outcome::Failed));
    assert_eq!(s[0].due_ms, T0_MS + 180_000 + 600_000);
    // Job 1 keeps its back-off: due ten minutes after its busy attempt ended.
    assert!(second.due(t1).is_empty());
    assert_eq!(second.poll_timeout(), Some(t1 + 8 * MIN));
    assert_eq!(second.due(t1 + 8 * MIN), [1]);
    assert_eq!(second.due(t1 + 10 * MIN), [1, 2]);
}

#[test]
fn a_waiting_job_can_be_cancelled_but_not_one_being_called() {
    let t0 = test_epoch();
    let mut c = core(t0);
    c.handle_request(t0, job(1, "+36301000001", T0_MS));
    c.handle_request(t0, job(2, "+36301000002", T0_MS));
    c.offered(2);
    c.calling(t0, 2, "anna");
    let _ = saves(&mut c);
    assert!(c.cancel(t0, 1));
    assert!(!c.cancel(t0, 2), "the call in progress ends first");
    assert!(!c.cancel(t0, 99));
    let s = saves(&mut c);
    assert_eq!((s.len(), s[0].state), (1, JobState::Cancelled));
    assert!(c.due(t0).is_empty());
}

#[test]
fn sip_statuses_map_to_outcomes() {
    for (status, outcome) in [
        (200, Outcome::Reached),
        (408, Outcome::NoAnswer),
        (480, Outcome::NoAnswer),
        (487, Outcome::NoAnswer),
        (486, Outcome::Busy),
        (600, Outcome::Busy),
        (603, Outcome::Busy),
        (404, Outcome::Failed),
        (403, Outcome::Failed),
        (503, Outcome::Failed),
    ] {
        assert_eq!(Outcome::of_status(status), outcome, "{status}");
    }
    assert_eq!(JobState::parse("gave_up"), Some(JobState::GaveUp));
    assert_eq!(JobState::parse("nope"), None);
}
