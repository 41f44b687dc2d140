//! Personal data in logs.
//!
//! Phone numbers, SIP URIs and IP addresses identify residents. At `info` and above they are
//! written through [`Pii`], which keeps just enough to tell two callers apart in one log
//! (the last two characters); at `debug` and below, where operators investigate a specific
//! problem, they appear in full.

use std::fmt;

/// Wraps a value whose `Display` is personal data.
pub struct Pii<T>(pub T);

impl<T: fmt::Display> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if tracing::enabled!(tracing::Level::DEBUG) {
            return write!(f, "{}", self.0);
        }
        let s = self.0.to_string();
        let tail: String = s
            .chars()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if s.chars().count() <= 4 {
            f.write_str("***")
        } else {
            write!(f, "***{tail}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_number_is_masked_without_debug_logging() {
        let shown = Pii("+36301234567").to_string();
        assert_eq!(shown, "***67");
        assert!(!shown.contains("3012"));
        assert_eq!(Pii("12").to_string(), "***");
    }
}
