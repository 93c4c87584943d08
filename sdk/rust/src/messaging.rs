//! `airssys:host/messaging`: messages between components, by name and by topic.
//!
//! Every function is checked against the component's grants, the host policy
//! and its message rate quota (`docs/abi.md`); a refusal is an [`Error`] and
//! an audit record.

use crate::abi::{raw, take_string, RetArea};
use crate::Error;

/// Reads a `result<_, error>` (discriminant at 0, error at 1).
pub(crate) fn unit_result(area: &RetArea) -> Result<(), Error> {
    if area.is_ok() {
        Ok(())
    } else {
        Err(Error::from_discriminant(area.u8(1) as u32))
    }
}

/// This component's name.
pub fn self_id() -> String {
    let mut area = RetArea::new();
    unsafe {
        raw::self_id(area.ptr());
        take_string(area.u32(0) as usize, area.u32(4) as usize)
    }
}

/// Fire and forget. Needs `messaging.send` for `target`; the target's
/// `messaging.receive` must admit this component.
pub fn send(target: &str, payload: &[u8]) -> Result<(), Error> {
    let mut area = RetArea::new();
    unsafe { raw::send(target.as_ptr(), target.len(), payload.as_ptr(), payload.len(), area.ptr()) };
    unit_result(&area)
}

/// Like [`send`], and returns the correlation id (> 0). The reply, or
/// [`Error::Timeout`] after `timeout_ms` (0 means 30 s), arrives exactly once
/// at [`Component::handle_reply`](crate::Component::handle_reply).
pub fn request(target: &str, payload: &[u8], timeout_ms: u32) -> Result<u64, Error> {
    let mut area = RetArea::new();
    unsafe {
        raw::request(target.as_ptr(), target.len(), payload.as_ptr(), payload.len(), timeout_ms, area.ptr())
    };
    // result<u64, error>: the payload is 8-aligned, at offset 8.
    if area.is_ok() {
        Ok(area.u64(8))
    } else {
        Err(Error::from_discriminant(area.u8(8) as u32))
    }
}

/// Answers a request this component received; once per request
/// ([`Message::reply`](crate::Message::reply) does it for a message).
pub fn reply(correlation_id: u64, payload: &[u8]) -> Result<(), Error> {
    let mut area = RetArea::new();
    unsafe { raw::reply(correlation_id, payload.as_ptr(), payload.len(), area.ptr()) };
    unit_result(&area)
}

/// To every component subscribed to a matching filter; needs
/// `messaging.publish` for the topic. Returns how many were reached.
pub fn publish(topic: &str, payload: &[u8]) -> Result<u32, Error> {
    let mut area = RetArea::new();
    unsafe { raw::publish(topic.as_ptr(), topic.len(), payload.as_ptr(), payload.len(), area.ptr()) };
    // result<u32, error>: the payload at offset 4.
    if area.is_ok() {
        Ok(area.u32(4))
    } else {
        Err(Error::from_discriminant(area.u8(4) as u32))
    }
}

/// A topic filter with `*` (one level) and `#` (the rest); needs a
/// `messaging.subscribe` grant that covers it.
pub fn subscribe(filter: &str) -> Result<(), Error> {
    let mut area = RetArea::new();
    unsafe { raw::subscribe(filter.as_ptr(), filter.len(), area.ptr()) };
    unit_result(&area)
}

/// Removes a subscription.
pub fn unsubscribe(filter: &str) -> Result<(), Error> {
    let mut area = RetArea::new();
    unsafe { raw::unsubscribe(filter.as_ptr(), filter.len(), area.ptr()) };
    unit_result(&area)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_result_reads_the_error_after_the_case() {
        let mut area = RetArea::new();
        assert_eq!(unit_result(&area), Ok(()));
        area.0[0] = 1;
        area.0[1] = 4;
        assert_eq!(unit_result(&area), Err(Error::Full));
    }

    #[test]
    #[should_panic(expected = "no host here")]
    fn outside_webassembly_a_host_function_panics() {
        let _ = send("anyone", b"x");
    }
}
