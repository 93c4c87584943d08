//! `airssys:host/types`: what the host functions share.

use std::fmt;

/// Why the host refused or could not do something: the variant `error` of
/// `airssys:host/types`. Each case means what the core ABI's error code of
/// the same name means (`docs/abi.md`), and every refusal is on the audit
/// record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// A capability, the receiver (`messaging.receive`) or the host policy refused.
    Denied,
    /// A rate or resource quota refused (messages per second, storage bytes,
    /// network bytes, log lines).
    Quota,
    /// A payload or value is over its maximum size.
    TooLarge,
    /// No component by that name.
    NotFound,
    /// The target's mailbox is full: back off and retry.
    Full,
    /// A malformed argument: a name, topic, key, URL, method or header.
    Invalid,
    /// A request or its reply did not complete in time.
    Timeout,
    /// The target is stopping, stopped or failed; the host has no key-value
    /// store; an HTTP connection failed.
    Unavailable,
    /// A reply to a correlation id that awaits no reply from this component.
    NoRequest,
}

impl Error {
    /// Every case, in the order of the WIT variant (its discriminants 0 to 8).
    pub const ALL: [Error; 9] = [
        Error::Denied,
        Error::Quota,
        Error::TooLarge,
        Error::NotFound,
        Error::Full,
        Error::Invalid,
        Error::Timeout,
        Error::Unavailable,
        Error::NoRequest,
    ];

    /// The case's name in the WIT package: `denied`, `too-large`, ...
    pub fn name(self) -> &'static str {
        match self {
            Error::Denied => "denied",
            Error::Quota => "quota",
            Error::TooLarge => "too-large",
            Error::NotFound => "not-found",
            Error::Full => "full",
            Error::Invalid => "invalid",
            Error::Timeout => "timeout",
            Error::Unavailable => "unavailable",
            Error::NoRequest => "no-request",
        }
    }

    /// The case of a discriminant as the canonical ABI lifts it; a
    /// discriminant past the last case traps.
    pub(crate) fn from_discriminant(d: u32) -> Error {
        match Error::ALL.get(d as usize) {
            Some(e) => *e,
            None => panic!("the host returned error case {}", d),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Denied => "denied by a capability, the receiver or the host policy",
            Error::Quota => "over a quota",
            Error::TooLarge => "too large",
            Error::NotFound => "no component by that name",
            Error::Full => "the target's mailbox is full",
            Error::Invalid => "a malformed argument",
            Error::Timeout => "timed out",
            Error::Unavailable => "unavailable",
            Error::NoRequest => "no request awaits a reply under that correlation id",
        })
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discriminants_follow_the_wit_order() {
        let names: Vec<&str> = Error::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(
            names,
            ["denied", "quota", "too-large", "not-found", "full", "invalid", "timeout", "unavailable", "no-request"]
        );
        for (i, e) in Error::ALL.iter().enumerate() {
            assert_eq!(Error::from_discriminant(i as u32), *e);
        }
    }

    #[test]
    #[should_panic(expected = "error case 9")]
    fn a_discriminant_past_the_last_case_traps() {
        Error::from_discriminant(9);
    }

    #[test]
    fn display_says_what_happened() {
        assert_eq!(Error::Full.to_string(), "the target's mailbox is full");
        assert_eq!(Error::Quota.to_string(), "over a quota");
    }
}
