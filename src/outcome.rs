//! How a call ended: the one vocabulary of call outcomes.
//!
//! The call record's `outcome` column, the `ugyelet_calls_total{outcome=…}` metric, the
//! `call ended` log line, the CSV export, the admin API and the console all say one of
//! these words, taken from [`Outcome::as_str`], and the console shows its Hungarian
//! [`Outcome::label_hu`]. The call core decides the outcome once (`Call::outcome`); every
//! other place hands that value on. So "calls nobody took" are the same calls in a graph,
//! a CSV and the worklist: [`CALLBACK_OUTCOMES`]. A dial plan may name two of them itself
//! ([`PLAN_OUTCOMES`]), and its validation refuses any other word.
//!
//! It sits in the lowest layer because the dial-plan validator needs it as much as the
//! call records do. The words are the ones the call records have always stored; adding
//! one is adding a variant here (the compiler then asks for its word and its label).

use std::fmt;
use std::str::FromStr;

/// How a resident's call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The dial plan finished the call (goodbye, hang-up), or the caller hung up after
    /// the plan set `outcome = "completed"`.
    Completed,
    /// An operator took the call (the record names the operator and the queue wait).
    Operator,
    /// The dial plan found the line closed during the call.
    Closed,
    /// The caller hung up in the menu, before the plan looked at the schedule.
    AbandonedMenu,
    /// The caller hung up while waiting for an operator.
    AbandonedQueue,
    /// The queue gave the call back: nobody logged in, or the longest wait passed.
    NoOperator,
    /// The caller left the queue with a key.
    LeftQueue,
    /// The caller left a voice message.
    Voicemail,
    /// The caller asked to be called back (the plan set `outcome = "callback"`).
    Callback,
    /// The caller gave up before the answer.
    Cancelled,
    /// No RTP from the caller for the inactivity period.
    NoMedia,
    /// The call reached its maximum duration.
    MaxDuration,
    /// SIP failed (no ACK, transport error).
    Failed,
}

/// Outcomes of calls someone should return: the caller hung up while waiting for an
/// operator (`abandoned_queue`), the queue gave up (`no_operator`: nobody logged in, or the
/// longest wait passed), the caller left the queue (`left_queue`), or asked to be called
/// back (`callback`). A voice message is not among them: it has its own list, and its own
/// worklist entry.
pub const CALLBACK_OUTCOMES: [Outcome; 4] = [
    Outcome::AbandonedQueue,
    Outcome::NoOperator,
    Outcome::LeftQueue,
    Outcome::Callback,
];

/// Outcomes a dial plan may give a call by setting the variable `outcome` (a `set` node):
/// the rest follow from what happened during the call.
pub const PLAN_OUTCOMES: [Outcome; 2] = [Outcome::Callback, Outcome::Completed];

impl Outcome {
    /// Every outcome, in the order the console lists them.
    pub const ALL: [Outcome; 13] = [
        Outcome::Completed,
        Outcome::Operator,
        Outcome::Closed,
        Outcome::AbandonedMenu,
        Outcome::AbandonedQueue,
        Outcome::NoOperator,
        Outcome::LeftQueue,
        Outcome::Voicemail,
        Outcome::Callback,
        Outcome::Cancelled,
        Outcome::NoMedia,
        Outcome::MaxDuration,
        Outcome::Failed,
    ];

    /// The word stored, exported, logged and used as the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Operator => "operator",
            Outcome::Closed => "closed",
            Outcome::AbandonedMenu => "abandoned_menu",
            Outcome::AbandonedQueue => "abandoned_queue",
            Outcome::NoOperator => "no_operator",
            Outcome::LeftQueue => "left_queue",
            Outcome::Voicemail => "voicemail",
            Outcome::Callback => "callback",
            Outcome::Cancelled => "cancelled",
            Outcome::NoMedia => "no_media",
            Outcome::MaxDuration => "max_duration",
            Outcome::Failed => "failed",
        }
    }

    /// What the console says for it.
    pub fn label_hu(self) -> &'static str {
        match self {
            Outcome::Completed => "végighallgatta, letette",
            Outcome::Operator => "ügyintézővel beszélt",
            Outcome::Closed => "zárva volt",
            Outcome::AbandonedMenu => "a menüben letette",
            Outcome::AbandonedQueue => "várakozás közben letette",
            Outcome::NoOperator => "nem volt szabad ügyintéző",
            Outcome::LeftQueue => "kilépett a sorból",
            Outcome::Voicemail => "hangüzenetet hagyott",
            Outcome::Callback => "visszahívást kért",
            Outcome::Cancelled => "hívás előtt letette",
            Outcome::NoMedia => "nem jött hang",
            Outcome::MaxDuration => "túl hosszú hívás",
            Outcome::Failed => "hiba",
        }
    }

    /// Whether a call that ended so should be returned (see [`CALLBACK_OUTCOMES`]).
    pub fn needs_callback(self) -> bool {
        CALLBACK_OUTCOMES.contains(&self)
    }

    /// The outcome a word names.
    pub fn parse(word: &str) -> Result<Outcome, UnknownOutcome> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == word)
            .ok_or_else(|| UnknownOutcome {
                found: word.to_owned(),
            })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = UnknownOutcome;

    fn from_str(s: &str) -> Result<Outcome, UnknownOutcome> {
        Outcome::parse(s)
    }
}

/// A word that is not an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownOutcome {
    pub found: String,
}

impl fmt::Display for UnknownOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        write!(
            f,
            "expected an outcome ({}), found {:?}",
            known.join(", "),
            self.found
        )
    }
}

impl std::error::Error for UnknownOutcome {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_word_reads_back_as_its_outcome() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Ok(o));
            assert_eq!(o.to_string().parse::<Outcome>(), Ok(o));
        }
    }

    #[test]
    fn words_and_hungarian_labels_are_distinct_and_words_are_metric_label_safe() {
        let mut words: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        let mut labels: Vec<&str> = Outcome::ALL.iter().map(|o| o.label_hu()).collect();
        words.sort_unstable();
        words.dedup();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(words.len(), Outcome::ALL.len(), "a word used twice");
        assert_eq!(labels.len(), Outcome::ALL.len(), "a label used twice");
        for w in words {
            assert!(
                !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{w:?} is not a plain lower-case word (Prometheus label, CSV field)"
            );
        }
        for o in Outcome::ALL {
            assert!(!o.label_hu().is_empty() && o.label_hu() != o.as_str());
        }
    }

    #[test]
    fn the_old_metric_and_log_words_are_not_outcomes() {
        // Metrics and logs once said these while the records said something else.
        let e = Outcome::parse("caller_hung_up").expect_err("not an outcome");
        assert_eq!(
            e.to_string(),
            "expected an outcome (completed, operator, closed, abandoned_menu, abandoned_queue, \
             no_operator, left_queue, voicemail, callback, cancelled, no_media, max_duration, \
             failed), found \"caller_hung_up\""
        );
        assert!(Outcome::parse("Completed").is_err(), "words are lower case");
    }

    #[test]
    fn calls_nobody_took_are_the_ones_to_return() {
        let back: Vec<&str> = Outcome::ALL
            .into_iter()
            .filter(|o| o.needs_callback())
            .map(Outcome::as_str)
            .collect();
        assert_eq!(
            back,
            ["abandoned_queue", "no_operator", "left_queue", "callback"]
        );
    }
}
