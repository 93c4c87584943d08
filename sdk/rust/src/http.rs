//! `airssys:host/http`: outbound HTTP(S), under `network.connect` for every
//! host and redirect, and the network quota.

use crate::abi::{raw, take_bytes, take_string_pairs, RetArea};
use crate::Error;

/// An outbound request: the record `request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...: 1-16 upper-case letters.
    pub method: String,
    /// An absolute `http://` or `https://` URL.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body; empty for none.
    pub body: Vec<u8>,
    /// For the whole call, redirects included; 0 means 30 s, at most 60 s.
    pub timeout_ms: u32,
}

impl Request {
    /// A request with no headers, no body and the default timeout.
    pub fn new(method: &str, url: &str) -> Request {
        Request { method: method.to_string(), url: url.to_string(), headers: Vec::new(), body: Vec::new(), timeout_ms: 0 }
    }

    /// A `GET` of `url`.
    pub fn get(url: &str) -> Request {
        Request::new("GET", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Sets the timeout of the whole call.
    pub fn timeout_ms(mut self, timeout_ms: u32) -> Request {
        self.timeout_ms = timeout_ms;
        self
    }
}

/// The answer: the record `response`. Any status, 4xx and 5xx included, is a
/// response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// A header as the canonical ABI lays out a `tuple<string, string>` in a list:
/// two (pointer, length) pairs of 32-bit WebAssembly addresses.
#[repr(C)]
struct RawHeader {
    name: *const u8,
    name_len: usize,
    value: *const u8,
    value_len: usize,
}

/// One request. Needs `network.connect` for the URL's host (and for the host
/// of every redirect).
pub fn fetch(request: &Request) -> Result<Response, Error> {
    let headers: Vec<RawHeader> = request
        .headers
        .iter()
        .map(|(n, v)| RawHeader { name: n.as_ptr(), name_len: n.len(), value: v.as_ptr(), value_len: v.len() })
        .collect();
    let mut area = RetArea::new();
    unsafe {
        raw::fetch(
            request.method.as_ptr(),
            request.method.len(),
            request.url.as_ptr(),
            request.url.len(),
            headers.as_ptr() as *const u8,
            headers.len(),
            request.body.as_ptr(),
            request.body.len(),
            request.timeout_ms,
            area.ptr(),
        )
    };
    // result<response, error>: the response at 4 (status at 4, the headers'
    // pointer and length at 8 and 12, the body's at 16 and 20), or the error at 4.
    if !area.is_ok() {
        return Err(Error::from_discriminant(area.u8(4) as u32));
    }
    Ok(Response {
        status: area.u16(4),
        headers: unsafe { take_string_pairs(area.u32(8) as usize, area.u32(12) as usize) },
        body: unsafe { take_bytes(area.u32(16) as usize, area.u32(20) as usize) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_built_up() {
        let r = Request::get("https://example.org/").header("accept", "text/plain").body("x").timeout_ms(500);
        assert_eq!(r.method, "GET");
        assert_eq!(r.headers, vec![("accept".to_string(), "text/plain".to_string())]);
        assert_eq!(r.body, b"x");
        assert_eq!(r.timeout_ms, 500);
    }
}
