//! How a message travels: by SMS or by email.
//!
//! One type for every layer that names a channel: a dial plan's `send_form` node
//! (`channel = "sms"`), the admin API's request, the outbox row and the composer. It lives
//! here, in a module that imports nothing, so the dial-plan layer and the store can both
//! use it without either depending on the other and without an import loop through
//! `notify`.
//!
//! The string forms (`"sms"`, `"email"`) are what the outbox table stores (its `CHECK`
//! constraint names them), what dial plans and the admin API accept, and what logs show;
//! they must not change.

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    /// The stored and configured name: `"sms"` or `"email"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }

    /// The channel named `s` exactly as [`Channel::as_str`] writes it; `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sms" => Some(Self::Sms),
            "email" => Some(Self::Email),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip_and_nothing_else_parses() {
        for c in [Channel::Sms, Channel::Email] {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
        assert_eq!(Channel::Sms.as_str(), "sms");
        assert_eq!(Channel::Email.as_str(), "email");
        for bad in ["SMS", "Email", "fax", "", " sms"] {
            assert_eq!(Channel::parse(bad), None, "{bad:?}");
        }
    }
}
