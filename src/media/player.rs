//! The prompt player of one call: a queue of prompts and pauses that hands out one 20 ms
//! G.711 frame per call of [`Player::next_frame`].
//!
//! The player does no I/O and keeps no clock: the RTP pacer pulls a frame every 20 ms and
//! the player advances by exactly one frame per pull, so its notion of time is the frame
//! count. When nothing is queued it returns encoded silence, so the outgoing stream never
//! stops (a stopping stream makes some phones and gateways play comfort noise or hang up).
//! Frames are borrowed from the shared, pre-encoded [`Prompt`]s: nothing is copied or
//! encoded per call.
//!
//! ```text
//!            play / play_all / play_silence
//!   +------+ -----------------------------> +---------+
//!   | Idle |                                | Playing | --+ next_frame: one frame
//!   +------+ <----------------------------- +---------+ <-+
//!      ^       last frame handed out:            |
//!      |       PlayerEvent::Finished             |
//!      +-----------------------------------------+
//!                 stop (barge-in): queue dropped, no event
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use crate::media::prompts::{FRAME_SAMPLES, Prompt, PromptSet};

/// Duration of one frame in milliseconds.
pub const FRAME_MS: u32 = 20;

/// A-law encoding of linear 0 (ITU-T G.711: even bits inverted).
static SILENCE_PCMA: [u8; FRAME_SAMPLES] = [0xD5; FRAME_SAMPLES];
/// µ-law encoding of linear 0.
static SILENCE_PCMU: [u8; FRAME_SAMPLES] = [0xFF; FRAME_SAMPLES];

/// Payload encoding of the outgoing stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameCodec {
    /// G.711 A-law, RTP payload type 8.
    Pcma,
    /// G.711 µ-law, RTP payload type 0.
    Pcmu,
}

impl FrameCodec {
    /// A 20 ms frame of silence in this encoding.
    #[must_use]
    pub fn silence(self) -> &'static [u8; FRAME_SAMPLES] {
        match self {
            FrameCodec::Pcma => &SILENCE_PCMA,
            FrameCodec::Pcmu => &SILENCE_PCMU,
        }
    }

    fn frames(self, prompt: &Prompt) -> &[[u8; FRAME_SAMPLES]] {
        match self {
            FrameCodec::Pcma => &prompt.pcma,
            FrameCodec::Pcmu => &prompt.pcmu,
        }
    }
}

/// Where a frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Part of a queued prompt.
    Prompt,
    /// Part of a queued pause.
    Pause,
    /// Nothing is queued: filler silence.
    Idle,
}

/// One 20 ms payload, borrowed from a shared prompt or a static silence frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// 160 G.711 bytes.
    pub payload: &'a [u8; FRAME_SAMPLES],
    /// Where the payload came from.
    pub kind: FrameKind,
}

/// What the player reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerEvent {
    /// The last queued frame has been handed out; the player is idle.
    Finished,
}

/// Why something could not be queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayerError {
    /// The prompt set has no prompt with this id.
    UnknownPrompt { id: String },
}

impl fmt::Display for PlayerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlayerError::UnknownPrompt { id } => {
                write!(f, "expected a prompt id of the prompt set, found {id:?}")
            }
        }
    }
}

impl std::error::Error for PlayerError {}

#[derive(Debug)]
enum Item {
    Prompt(Arc<Prompt>),
    Pause { frames: usize },
}

#[derive(Debug)]
struct Queued {
    item: Item,
    /// Frames already handed out.
    pos: usize,
}

impl Queued {
    fn len(&self) -> usize {
        match &self.item {
            Item::Prompt(p) => p.frame_count(),
            Item::Pause { frames } => *frames,
        }
    }

    fn is_done(&self) -> bool {
        self.pos >= self.len()
    }
}

/// Sans-IO prompt player; see the module docs.
#[derive(Debug)]
pub struct Player {
    prompts: Arc<PromptSet>,
    queue: VecDeque<Queued>,
    events: VecDeque<PlayerEvent>,
}

impl Player {
    /// A player drawing prompts from `prompts` (the set the call started with).
    #[must_use]
    pub fn new(prompts: Arc<PromptSet>) -> Player {
        Player {
            prompts,
            queue: VecDeque::with_capacity(16),
            events: VecDeque::with_capacity(2),
        }
    }

    /// Queues the prompt `id` after whatever is queued.
    pub fn play(&mut self, id: &str) -> Result<(), PlayerError> {
        let prompt = self.lookup(id)?;
        self.play_prompt(prompt);
        Ok(())
    }

    /// Queues several prompts (e.g. a composed number). Either all ids are known and all
    /// are queued, or nothing is queued and the first unknown id is reported.
    pub fn play_all(&mut self, ids: &[&str]) -> Result<(), PlayerError> {
        if let Some(unknown) = ids.iter().find(|id| !self.prompts.contains(id)) {
            return Err(PlayerError::UnknownPrompt {
                id: (*unknown).to_owned(),
            });
        }
        for id in ids {
            self.play(id)?;
        }
        Ok(())
    }

    /// Queues a prompt that need not be in the set (a generated tone, a recorded message).
    /// A prompt without frames is ignored.
    pub fn play_prompt(&mut self, prompt: Arc<Prompt>) {
        self.push(Item::Prompt(prompt));
    }

    /// Queues a pause of `ms` milliseconds, rounded up to whole 20 ms frames; 0 is ignored.
    pub fn play_silence(&mut self, ms: u32) {
        let frames = ms.div_ceil(FRAME_MS) as usize;
        self.push(Item::Pause { frames });
    }

    fn lookup(&self, id: &str) -> Result<Arc<Prompt>, PlayerError> {
        self.prompts
            .get(id)
            .ok_or_else(|| PlayerError::UnknownPrompt { id: id.to_owned() })
    }

    fn push(&mut self, item: Item) {
        self.drop_done();
        let queued = Queued { item, pos: 0 };
        if !queued.is_done() {
            self.queue.push_back(queued);
        }
    }

    fn drop_done(&mut self) {
        while self.queue.front().is_some_and(Queued::is_done) {
            self.queue.pop_front();
        }
    }

    /// The next 20 ms frame. Always returns a frame: silence when idle. Handing out the last
    /// queued frame queues [`PlayerEvent::Finished`].
    pub fn next_frame(&mut self, codec: FrameCodec) -> FrameRef<'_> {
        self.drop_done();
        let last_item = self.queue.len() == 1;
        let Some(front) = self.queue.front_mut() else {
            return FrameRef {
                payload: codec.silence(),
                kind: FrameKind::Idle,
            };
        };
        let index = front.pos;
        front.pos += 1;
        if last_item && front.is_done() {
            self.events.push_back(PlayerEvent::Finished);
        }
        match &front.item {
            Item::Prompt(prompt) => FrameRef {
                payload: &codec.frames(prompt)[index],
                kind: FrameKind::Prompt,
            },
            Item::Pause { .. } => FrameRef {
                payload: codec.silence(),
                kind: FrameKind::Pause,
            },
        }
    }

    /// Barge-in: drops everything queued, including the rest of the current prompt. No
    /// event follows, and a `Finished` not yet polled is discarded, so the caller that
    /// stopped the player is not told about playback it cancelled.
    pub fn stop(&mut self) {
        self.queue.clear();
        self.events.clear();
    }

    /// Whether no queued frame remains.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.queue.iter().all(Queued::is_done)
    }

    /// Frames still to be handed out.
    #[must_use]
    pub fn remaining_frames(&self) -> usize {
        self.queue
            .iter()
            .map(|q| q.len() - q.pos.min(q.len()))
            .sum()
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<PlayerEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prompt `id` of `frames` frames whose samples encode the frame number.
    fn prompt(id: &str, samples: usize, level: i16) -> Prompt {
        Prompt::from_pcm(
            id,
            id,
            (0..samples)
                .map(|i| level + (i / 160) as i16 * 500)
                .collect(),
        )
    }

    fn set() -> Arc<PromptSet> {
        Arc::new(PromptSet::from_prompts([
            prompt("hello", 400, 1000), // 3 frames, last padded
            prompt("bye", 160, -2000),  // 1 frame
        ]))
    }

    fn drain_events(p: &mut Player) -> Vec<PlayerEvent> {
        std::iter::from_fn(|| p.poll_event()).collect()
    }

    #[test]
    fn idle_player_sends_codec_silence_forever() {
        let mut p = Player::new(set());
        assert!(p.is_idle());
        for _ in 0..3 {
            let f = p.next_frame(FrameCodec::Pcma);
            assert_eq!(f.payload, &[0xD5; 160]);
            assert_eq!(f.kind, FrameKind::Idle);
            let f = p.next_frame(FrameCodec::Pcmu);
            assert_eq!(f.payload, &[0xFF; 160]);
        }
        assert_eq!(p.poll_event(), None);
    }

    #[test]
    fn prompt_frames_are_borrowed_from_the_shared_prompt_in_order() {
        let prompts = set();
        let hello = prompts.get("hello").expect("test data is valid");
        let mut p = Player::new(prompts);
        p.play("hello").expect("test data is valid");
        assert_eq!(p.remaining_frames(), 3);
        for i in 0..3 {
            let codec = if i == 1 {
                FrameCodec::Pcmu
            } else {
                FrameCodec::Pcma
            };
            let f = p.next_frame(codec);
            assert_eq!(f.kind, FrameKind::Prompt);
            let want = if i == 1 {
                &hello.pcmu[i]
            } else {
                &hello.pcma[i]
            };
            assert!(std::ptr::eq(f.payload, want), "frame {i} not shared");
        }
        assert!(p.is_idle());
        assert_eq!(drain_events(&mut p), [PlayerEvent::Finished]);
        assert_eq!(p.next_frame(FrameCodec::Pcma).kind, FrameKind::Idle);
        assert_eq!(p.poll_event(), None);
    }

    #[test]
    fn finished_fires_once_after_the_last_item_not_between_items() {
        let mut p = Player::new(set());
        p.play_all(&["hello", "bye"]).expect("test data is valid");
        p.play_silence(30); // two frames
        p.play("bye").expect("test data is valid");
        let kinds: Vec<FrameKind> = (0..7)
            .map(|_| {
                let k = p.next_frame(FrameCodec::Pcma).kind;
                if p.remaining_frames() > 0 {
                    assert_eq!(p.poll_event(), None);
                }
                k
            })
            .collect();
        use FrameKind::{Pause, Prompt};
        assert_eq!(
            kinds,
            [Prompt, Prompt, Prompt, Prompt, Pause, Pause, Prompt]
        );
        assert_eq!(drain_events(&mut p), [PlayerEvent::Finished]);
        assert_eq!(p.next_frame(FrameCodec::Pcma).kind, FrameKind::Idle);
    }

    #[test]
    fn queueing_again_after_finished_plays_and_finishes_again() {
        let mut p = Player::new(set());
        p.play("bye").expect("test data is valid");
        let _ = p.next_frame(FrameCodec::Pcmu);
        assert_eq!(drain_events(&mut p), [PlayerEvent::Finished]);
        p.play("bye").expect("test data is valid");
        assert!(!p.is_idle());
        let f = p.next_frame(FrameCodec::Pcmu);
        assert_eq!(f.kind, FrameKind::Prompt);
        assert_eq!(drain_events(&mut p), [PlayerEvent::Finished]);
    }

    #[test]
    fn stop_drops_the_queue_mid_prompt_without_event() {
        let mut p = Player::new(set());
        p.play_all(&["hello", "bye"]).expect("test data is valid");
        let _ = p.next_frame(FrameCodec::Pcma);
        p.stop();
        assert!(p.is_idle());
        assert_eq!(p.remaining_frames(), 0);
        assert_eq!(p.next_frame(FrameCodec::Pcma).kind, FrameKind::Idle);
        assert_eq!(p.poll_event(), None);
    }

    #[test]
    fn stop_discards_an_unpolled_finished() {
        let mut p = Player::new(set());
        p.play("bye").expect("test data is valid");
        let _ = p.next_frame(FrameCodec::Pcma);
        p.stop();
        assert_eq!(p.poll_event(), None);
    }

    #[test]
    fn silence_is_rounded_up_to_whole_frames_and_zero_is_ignored() {
        let mut p = Player::new(set());
        p.play_silence(0);
        assert!(p.is_idle());
        p.play_silence(41);
        assert_eq!(p.remaining_frames(), 3);
        for _ in 0..3 {
            let f = p.next_frame(FrameCodec::Pcmu);
            assert_eq!((f.payload, f.kind), (&[0xFF; 160], FrameKind::Pause));
        }
        assert_eq!(drain_events(&mut p), [PlayerEvent::Finished]);
    }

    #[test]
    fn unknown_id_queues_nothing() {
        let mut p = Player::new(set());
        let err = p.play_all(&["hello", "nope", "bye"]).unwrap_err();
        assert_eq!(err, PlayerError::UnknownPrompt { id: "nope".into() });
        assert_eq!(
            err.to_string(),
            "expected a prompt id of the prompt set, found \"nope\""
        );
        assert!(p.is_idle());
        assert!(p.play("nope").is_err());
        assert_eq!(p.remaining_frames(), 0);
    }

    #[test]
    fn composed_number_plays_from_the_shipped_set() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/hu");
        let prompts = Arc::new(PromptSet::load(&dir).expect("test data is valid"));
        let ids = crate::media::say::queue_position(3);
        let expected: usize = ids
            .iter()
            .map(|id| prompts.get(id).expect("test data is valid").frame_count())
            .sum();
        let mut p = Player::new(prompts);
        p.play_all(&ids).expect("test data is valid");
        let mut frames = 0;
        while p.poll_event().is_none() {
            assert_eq!(p.next_frame(FrameCodec::Pcma).kind, FrameKind::Prompt);
            frames += 1;
        }
        assert_eq!(frames, expected);
    }
}
