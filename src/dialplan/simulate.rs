//! Walks a plan without a call: `ugyelet simulate`.
//!
//! The simulated caller listens to every prompt to its end, then presses the next key of
//! the script; when the script is used up it stays silent, so menus time out as they would.
//! Long-running actions get the answers a live call would get on this configuration: a
//! form by SMS or email is sent only when that channel is configured ([`Channels`]), the
//! operator queue has nobody logged in (the simulator has no phones), nobody answers a
//! transfer, voice
//! messages are recorded. Each line says which node acted and why, in plain words.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::interp::{Action, ActionResult, CallEnv, Interp, PlayItem};
use super::{Channel, Plan, TransferTarget};

/// A simulated call.
pub struct Script {
    pub env: CallEnv,
    pub keys: Vec<char>,
    /// Which ways of sending forms the configuration has.
    pub channels: Channels,
}

/// Which ways of sending forms are configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channels {
    pub sms: bool,
    pub email: bool,
}

/// The keys a phone can send, for messages.
pub const KEYS_EXPECTED: &str = "keys a phone can send: 0-9, * and #, optionally separated by commas or spaces (e.g. \"1,2\" or \"2#\")";

/// The simulated caller's key presses: DTMF digits `0`-`9`, `*` and `#`; commas and
/// spaces only separate them. Anything else is refused rather than dropped, so a typo
/// does not quietly simulate another call.
pub fn parse_keys(keys: &str) -> Result<Vec<char>, String> {
    let mut out = Vec::with_capacity(keys.len());
    for c in keys.chars() {
        match c {
            '0'..='9' | '*' | '#' => out.push(c),
            ',' | ' ' => {}
            other => {
                return Err(format!(
                    "expected {KEYS_EXPECTED}, found {other:?} in \"{keys}\""
                ));
            }
        }
    }
    Ok(out)
}

/// The simulated caller: `None` for a withheld number (`anonymous` or empty), else the
/// number in E.164 as the daemon normalises caller IDs.
pub fn parse_caller(from: &str) -> Result<Option<String>, String> {
    let from = from.trim();
    if from.is_empty() || from.eq_ignore_ascii_case("anonymous") {
        return Ok(None);
    }
    crate::phone::normalize(from).map(Some).ok_or_else(|| {
        format!(
            "expected a phone number (e.g. +36301234567, 06301234567 or 06 23 444 555) or \
             \"anonymous\", found \"{from}\""
        )
    })
}

/// What a long-running action comes to in the simulator, and the plain words for it.
fn outcome(action: &Action, channels: Channels) -> Option<(ActionResult, String)> {
    Some(match action {
        Action::Queue { .. } => (
            ActionResult::NoAgents,
            "nobody can take the call (the simulator has no operator phones)".to_owned(),
        ),
        Action::Transfer { .. } => (
            ActionResult::Failed,
            "nobody answers (the simulator has no phones): the node's on_error".to_owned(),
        ),
        Action::Voicemail => (ActionResult::Done, "recorded".to_owned()),
        Action::Callback { .. } => (
            ActionResult::Done,
            "kept: the line calls back when an operator is free".to_owned(),
        ),
        Action::SendForm { channel, .. } => match channel {
            Channel::Sms if channels.sms => {
                (ActionResult::Done, "queued for the SMS gateway".to_owned())
            }
            Channel::Email if channels.email => {
                (ActionResult::Done, "queued for the SMTP server".to_owned())
            }
            Channel::Sms => (
                ActionResult::Failed,
                "not sent: no SMS gateway is configured (notify.sms.kind = \"none\")".to_owned(),
            ),
            Channel::Email => (
                ActionResult::Failed,
                "not sent: no SMTP server is configured (notify.smtp.host is empty)".to_owned(),
            ),
        },
        Action::Play { .. } | Action::StopPlayback | Action::Hangup | Action::LeaveQueue => {
            return None;
        }
    })
}

/// Most steps a simulation takes before it stops (a plan that never hangs up).
const MAX_STEPS: usize = 400;

/// Runs the script and returns the transcript, one line per step. `text_of` gives a
/// prompt's Hungarian text (from the manifest); `origin` is any instant (virtual time).
pub fn run(
    plan: Arc<Plan>,
    script: Script,
    text_of: &dyn Fn(&str) -> Option<String>,
    origin: Instant,
) -> Vec<String> {
    let at = script.env.civil_start.clone();
    let mut out = vec![format!(
        "{} ({}), caller {}",
        at.strftime("%Y-%m-%d %H:%M"),
        weekday_hu(at.weekday()),
        script.env.caller.as_deref().unwrap_or("anonymous")
    )];
    let channels = script.channels;
    let mut interp = Interp::new(plan, script.env);
    let mut keys = script.keys.into_iter();
    let mut now = origin;
    let mut playing = false;
    interp.start(now);
    for _ in 0..MAX_STEPS {
        while let Some(t) = interp.poll_trace() {
            out.push(format!("  {}: {}", t.node, t.text));
        }
        let mut pending = Vec::new();
        while let Some(a) = interp.poll_action() {
            pending.push(a);
        }
        for action in pending {
            match &action {
                Action::Play { items, .. } => {
                    playing = true;
                    out.push(format!("  play: \"{}\"", render(items, text_of)));
                }
                Action::StopPlayback => out.push("  (prompt cut short)".to_owned()),
                Action::Hangup => {
                    out.push("  hang up".to_owned());
                }
                other => match outcome(other, channels) {
                    Some((result, words)) => {
                        out.push(format!("  {}: {words}", describe(other)));
                        interp.handle_result(now, result);
                    }
                    None => out.push(format!("  {}", describe(other))),
                },
            }
        }
        while let Some(t) = interp.poll_trace() {
            out.push(format!("  {}: {}", t.node, t.text));
        }
        if interp.is_done() {
            out.push(format!("path: {}", interp.path()));
            return out;
        }
        if playing {
            playing = false;
            interp.handle_playback_finished(now);
        } else if let Some(timeout) = interp.poll_timeout() {
            match keys.next() {
                Some(k) => {
                    out.push(format!("  caller presses {k}"));
                    interp.handle_digit(now, k);
                }
                None => {
                    out.push(format!(
                        "  caller stays silent ({} s)",
                        timeout.saturating_duration_since(now).as_secs()
                    ));
                    now = timeout;
                    interp.handle_timeout(now);
                }
            }
        } else {
            now += Duration::from_millis(20);
        }
    }
    out.push(format!(
        "stopped after {MAX_STEPS} steps; path: {}",
        interp.path()
    ));
    out
}

fn describe(action: &Action) -> String {
    match action {
        Action::Queue { queue } => format!("queue {queue}"),
        Action::Voicemail => "voicemail".to_owned(),
        Action::SendForm { form, channel, to } => {
            format!("send form {form} by {} to {to}", channel.as_str())
        }
        Action::Callback { number } => format!("callback request for {number}"),
        Action::Transfer { to } => match to {
            TransferTarget::Queue(q) => format!("transfer to queue {q}"),
            TransferTarget::Operator(o) => format!("transfer to operator {o}"),
            TransferTarget::Number(n) => format!("transfer to {n}"),
        },
        other => format!("{other:?}"),
    }
}

fn render(items: &[PlayItem], text_of: &dyn Fn(&str) -> Option<String>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for item in items {
        match item {
            PlayItem::Prompt(id) => parts.push(text_of(id).unwrap_or_else(|| format!("[{id}]"))),
            PlayItem::Pause(_) => parts.push("–".to_owned()),
        }
    }
    parts.join(" ")
}

/// Hungarian weekday name.
pub fn weekday_hu(w: jiff::civil::Weekday) -> &'static str {
    use jiff::civil::Weekday::*;
    match w {
        Monday => "hétfő",
        Tuesday => "kedd",
        Wednesday => "szerda",
        Thursday => "csütörtök",
        Friday => "péntek",
        Saturday => "szombat",
        Sunday => "vasárnap",
    }
}

#[cfg(test)]
mod input_tests {
    use super::*;

    #[test]
    fn keys_are_dtmf_digits_star_and_hash_and_anything_else_is_named() {
        assert_eq!(parse_keys("1, 2#*0"), Ok(vec!['1', '2', '#', '*', '0']));
        let e = parse_keys("1x").expect_err("x is no key");
        assert_eq!(
            e,
            "expected keys a phone can send: 0-9, * and #, optionally separated by commas or \
             spaces (e.g. \"1,2\" or \"2#\"), found 'x' in \"1x\""
        );
    }

    #[test]
    fn the_caller_is_a_number_in_any_common_form_or_anonymous() {
        assert_eq!(
            parse_caller("06 30 123 4567"),
            Ok(Some("+36301234567".to_owned()))
        );
        assert_eq!(parse_caller("anonymous"), Ok(None));
        let e = parse_caller("garbage").expect_err("not a number");
        assert!(e.ends_with("or \"anonymous\", found \"garbage\""), "{e}");
    }
}
