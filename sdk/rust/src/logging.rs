//! `airssys:host/logging`: lines in the component's log, tagged with its name.

use crate::abi::{raw, RetArea};
use crate::messaging::unit_result;
use crate::Error;

/// How much a line matters: the enum `level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Step by step detail.
    Trace,
    /// What helps to find a fault.
    Debug,
    /// What happens.
    Info,
    /// Something worth a look.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    /// The discriminant the canonical ABI passes.
    pub(crate) fn discriminant(self) -> i32 {
        match self {
            Level::Trace => 0,
            Level::Debug => 1,
            Level::Info => 2,
            Level::Warn => 3,
            Level::Error => 4,
        }
    }
}

/// Writes a line; [`Error::Quota`] when the log's rate limit drops it.
pub fn log(level: Level, message: &str) -> Result<(), Error> {
    let mut area = RetArea::new();
    unsafe { raw::log(level.discriminant(), message.as_ptr(), message.len(), area.ptr()) };
    unit_result(&area)
}

/// [`log`] at [`Level::Trace`], for a line that may be dropped: a line over
/// the log's rate limit is counted by the host, not reported here.
pub fn trace(message: &str) {
    let _ = log(Level::Trace, message);
}

/// [`log`] at [`Level::Debug`]; see [`trace`] for a dropped line.
pub fn debug(message: &str) {
    let _ = log(Level::Debug, message);
}

/// [`log`] at [`Level::Info`]; see [`trace`] for a dropped line.
pub fn info(message: &str) {
    let _ = log(Level::Info, message);
}

/// [`log`] at [`Level::Warn`]; see [`trace`] for a dropped line.
pub fn warn(message: &str) {
    let _ = log(Level::Warn, message);
}

/// [`log`] at [`Level::Error`]; see [`trace`] for a dropped line.
pub fn error(message: &str) {
    let _ = log(Level::Error, message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_wit_order() {
        let all = [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error];
        for (i, l) in all.iter().enumerate() {
            assert_eq!(l.discriminant(), i as i32);
        }
    }
}
