//! `airssys:host/kv`: this component's own key-value state, durable across
//! restarts, under the `storage.*` grants and the storage quota.

use crate::abi::{raw, take_bytes, take_strings, RetArea};
use crate::messaging::unit_result;
use crate::Error;

/// The value, or `None` when the key is absent. Needs `storage.read`.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
    let mut area = RetArea::new();
    unsafe { raw::get(key.as_ptr(), key.len(), area.ptr()) };
    // result<option<list<u8>>, error>: the option at 4 (its case at 4, the
    // list's pointer and length at 8 and 12), or the error at 4.
    if !area.is_ok() {
        return Err(Error::from_discriminant(area.u8(4) as u32));
    }
    match area.u8(4) {
        0 => Ok(None),
        1 => Ok(Some(unsafe { take_bytes(area.u32(8) as usize, area.u32(12) as usize) })),
        other => panic!("the host returned option case {}", other),
    }
}

/// Inserts or replaces. Needs `storage.write`; [`Error::Quota`] past the
/// storage quota.
pub fn set(key: &str, value: &[u8]) -> Result<(), Error> {
    let mut area = RetArea::new();
    unsafe { raw::set(key.as_ptr(), key.len(), value.as_ptr(), value.len(), area.ptr()) };
    unit_result(&area)
}

/// Reads a `result<bool, error>` (the case at 0, the value at 1).
fn bool_result(area: &RetArea) -> Result<bool, Error> {
    if area.is_ok() {
        Ok(area.bool(1))
    } else {
        Err(Error::from_discriminant(area.u8(1) as u32))
    }
}

/// Whether the key existed (and is now removed). Needs `storage.delete`.
pub fn delete(key: &str) -> Result<bool, Error> {
    let mut area = RetArea::new();
    unsafe { raw::delete(key.as_ptr(), key.len(), area.ptr()) };
    bool_result(&area)
}

/// Whether the key exists. Needs `storage.read`.
pub fn exists(key: &str) -> Result<bool, Error> {
    let mut area = RetArea::new();
    unsafe { raw::exists(key.as_ptr(), key.len(), area.ptr()) };
    bool_result(&area)
}

/// Up to `limit` keys (at most 1000) that start with `prefix` and sort after
/// `after` (empty: from the first), ascending. An empty list means there are
/// no more: page with the last key of one call as `after` of the next. Needs
/// `storage.read` on the prefix's level.
pub fn list(prefix: &str, after: &str, limit: u32) -> Result<Vec<String>, Error> {
    let mut area = RetArea::new();
    unsafe { raw::list(prefix.as_ptr(), prefix.len(), after.as_ptr(), after.len(), limit, area.ptr()) };
    // result<list<string>, error>: the list's pointer and length at 4 and 8.
    if !area.is_ok() {
        return Err(Error::from_discriminant(area.u8(4) as u32));
    }
    Ok(unsafe { take_strings(area.u32(4) as usize, area.u32(8) as usize) })
}

/// The bytes this component's keys and values take (what the storage quota counts).
pub fn usage() -> u64 {
    unsafe { raw::usage() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_result_reads_the_value_or_the_error_at_1() {
        let mut area = RetArea::new();
        area.0[1] = 1;
        assert_eq!(bool_result(&area), Ok(true));
        area.0[1] = 0;
        assert_eq!(bool_result(&area), Ok(false));
        area.0[0] = 1;
        assert_eq!(bool_result(&area), Err(Error::Denied));
    }
}
