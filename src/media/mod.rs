//! Media: voice prompts decoded once and shared, the per-call prompt player, and the
//! Hungarian number composer; the bridge between two legs and music on hold inside it.
pub mod bridge;
pub mod hold;
pub mod player;
pub mod prompts;
pub mod say;

/// RTP counts of one call, added when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaCounts {
    pub sent: u64,
    /// Relayed between caller and operator, both directions together.
    pub relayed: u64,
    pub received: u64,
    pub lost: u64,
    pub late: u64,
}
