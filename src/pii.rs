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

/// Free text (a gateway's or mail server's error) with what may be personal data masked:
/// words with an `@` (addresses) and words with six or more digits in a row (phone
/// numbers; a URL such as `http://127.0.0.1:8080/send` stays). The rest,
/// the reason an admin needs ("Connection refused", "550 mailbox unavailable"), stays.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let mut run = 0;
        let mut longest = 0;
        for c in word.chars() {
            run = if c.is_ascii_digit() { run + 1 } else { 0 };
            longest = longest.max(run);
        }
        if word.contains('@') || longest >= 6 {
            out.push_str("***");
        } else {
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbed_errors_keep_the_reason_and_lose_addresses_and_numbers() {
        assert_eq!(
            scrub("Connection refused (os error 111)"),
            "Connection refused (os error 111)"
        );
        assert_eq!(
            scrub("550 5.1.1 <lakos@example.hu>: mailbox unavailable"),
            "550 5.1.1 *** mailbox unavailable"
        );
        assert_eq!(
            scrub("gateway 400: invalid number +36301234567"),
            "gateway 400: invalid number ***"
        );
        assert_eq!(
            scrub("error sending request for url (http://127.0.0.1:18080/send)"),
            "error sending request for url (http://127.0.0.1:18080/send)"
        );
    }

    #[test]
    fn phone_number_is_masked_without_debug_logging() {
        let shown = Pii("+36301234567").to_string();
        assert_eq!(shown, "***67");
        assert!(!shown.contains("3012"));
        assert_eq!(Pii("12").to_string(), "***");
    }
}
