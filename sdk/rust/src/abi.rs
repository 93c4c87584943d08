//! The canonical ABI of the world, by hand: the raw core imports and the
//! reading of what the host writes into a return area or hands over.
//!
//! Every import is declared with its flattened core signature. A result that
//! flattens to more than one core value is written by the host into a return
//! area whose address is the last parameter; the offsets below are those of
//! the canonical ABI's memory layout of each result type.

use std::alloc::{self, Layout};

/// Where the host writes a result that flattens to more than one value: the
/// largest result of the world (`result<response, error>`) takes 24 bytes,
/// and `result<u64, error>` needs an alignment of 8.
#[repr(C, align(8))]
pub(crate) struct RetArea(pub(crate) [u8; 24]);

impl RetArea {
    pub(crate) fn new() -> Self {
        RetArea([0; 24])
    }
    pub(crate) fn ptr(&mut self) -> *mut u8 {
        self.0.as_mut_ptr()
    }
    pub(crate) fn u8(&self, offset: usize) -> u8 {
        self.0[offset]
    }
    pub(crate) fn u16(&self, offset: usize) -> u16 {
        u16::from_le_bytes([self.0[offset], self.0[offset + 1]])
    }
    pub(crate) fn u32(&self, offset: usize) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(&self.0[offset..offset + 4]);
        u32::from_le_bytes(b)
    }
    pub(crate) fn u64(&self, offset: usize) -> u64 {
        let mut b = [0; 8];
        b.copy_from_slice(&self.0[offset..offset + 8]);
        u64::from_le_bytes(b)
    }
    /// A `bool` as the canonical ABI lifts it: any value but 0 is true.
    pub(crate) fn bool(&self, offset: usize) -> bool {
        self.0[offset] != 0
    }
    /// The case of a `result`: 0 is `ok`, 1 is `err`; anything else breaks
    /// the canonical ABI and traps.
    pub(crate) fn is_ok(&self) -> bool {
        match self.0[0] {
            0 => true,
            1 => false,
            other => panic!("the host returned result case {}", other),
        }
    }
}

/// Takes ownership of a `list<u8>` the host allocated through
/// `cabi_realloc` (alignment 1). An empty list owns no memory.
///
/// # Safety
/// `ptr` and `len` must come from the host for a list it handed over.
pub(crate) unsafe fn take_bytes(ptr: usize, len: usize) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    Vec::from_raw_parts(ptr as *mut u8, len, len)
}

/// Takes ownership of a `string` the host handed over (UTF-8, which the
/// canonical ABI guarantees; anything else traps).
///
/// # Safety
/// As for [`take_bytes`].
pub(crate) unsafe fn take_string(ptr: usize, len: usize) -> String {
    String::from_utf8(take_bytes(ptr, len)).expect("the host handed over a string that is not UTF-8")
}

/// Takes ownership of a `list<string>`: an array of (pointer, length) pairs,
/// 8 bytes each with alignment 4, each string allocated on its own.
///
/// # Safety
/// As for [`take_bytes`], on a 32-bit WebAssembly memory.
pub(crate) unsafe fn take_strings(ptr: usize, len: usize) -> Vec<String> {
    if len == 0 {
        return Vec::new();
    }
    let pairs = ptr as *const [u32; 2];
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        let [p, n] = pairs.add(i).read();
        out.push(take_string(p as usize, n as usize));
    }
    alloc::dealloc(ptr as *mut u8, Layout::from_size_align_unchecked(8 * len, 4));
    out
}

/// Takes ownership of a `list<tuple<string, string>>`: an array of two
/// (pointer, length) pairs, 16 bytes each with alignment 4.
///
/// # Safety
/// As for [`take_bytes`], on a 32-bit WebAssembly memory.
pub(crate) unsafe fn take_string_pairs(ptr: usize, len: usize) -> Vec<(String, String)> {
    if len == 0 {
        return Vec::new();
    }
    let quads = ptr as *const [u32; 4];
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        let [kp, kn, vp, vn] = quads.add(i).read();
        out.push((take_string(kp as usize, kn as usize), take_string(vp as usize, vn as usize)));
    }
    alloc::dealloc(ptr as *mut u8, Layout::from_size_align_unchecked(16 * len, 4));
    out
}

/// The bytes of the arguments of the next handler call (a message's sender,
/// topic and payload, a reply's payload, the configuration): the host lowers
/// them through `cabi_realloc` before the handler runs, and the handler sees
/// them borrowed, valid until it returns. They are served from this buffer,
/// reused once the handler returns: no allocation and no free per message.
/// A larger argument, and everything the host returns to a running handler
/// (`kv::get`, ...), which the crate takes ownership of, comes from the
/// global allocator.
const ARGUMENT_BYTES: usize = 16384;
#[repr(C, align(8))]
struct Arguments([u8; ARGUMENT_BYTES]);

// Per thread: a component has one; the crate's own tests run on several.
thread_local! {
    static ARGUMENTS: std::cell::UnsafeCell<Arguments> = std::cell::UnsafeCell::new(Arguments([0; ARGUMENT_BYTES]));
    static ARGUMENTS_USED: std::cell::Cell<usize> = std::cell::Cell::new(0);
    static IN_HANDLER: std::cell::Cell<bool> = std::cell::Cell::new(false);
}

fn arguments_start() -> *mut u8 {
    ARGUMENTS.with(|a| a.get() as *mut u8)
}

fn is_argument(p: *const u8) -> bool {
    let start = arguments_start() as usize;
    (p as usize) >= start && (p as usize) < start + ARGUMENT_BYTES
}

/// A handler begins: from now on `cabi_realloc` allocates what the host
/// returns from the global allocator, for the crate to own.
pub(crate) fn handler_begins() {
    IN_HANDLER.with(|h| h.set(true));
}

/// A handler has returned: the buffer serves the next handler's arguments.
pub(crate) fn handler_ends() {
    ARGUMENTS_USED.with(|u| u.set(0));
    IN_HANDLER.with(|h| h.set(false));
}

/// A `list<u8>` argument of the running handler, borrowed until it returns
/// (then [`release_argument`] gives its memory back).
///
/// # Safety
/// `ptr` and `len` must come from the host for an argument of this handler.
pub(crate) unsafe fn argument_bytes<'a>(ptr: usize, len: usize) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    std::slice::from_raw_parts(ptr as *const u8, len)
}

/// A `string` argument of the running handler, borrowed (UTF-8, which the
/// canonical ABI guarantees; anything else traps).
///
/// # Safety
/// As for [`argument_bytes`].
pub(crate) unsafe fn argument_str<'a>(ptr: usize, len: usize) -> &'a str {
    std::str::from_utf8(argument_bytes(ptr, len)).expect("the host handed over a string that is not UTF-8")
}

/// Gives back the memory of an argument (a string or a `list<u8>`,
/// alignment 1) once its handler has returned: nothing for one in the
/// buffer.
///
/// # Safety
/// `ptr` and `len` as the handler got them; called once, after it returned.
pub(crate) unsafe fn release_argument(ptr: usize, len: usize) {
    if len != 0 && !is_argument(ptr as *const u8) {
        alloc::dealloc(ptr as *mut u8, Layout::from_size_align_unchecked(len, 1));
    }
}

/// `cabi_realloc` as the canonical ABI calls it: a new block when `old_size`
/// is 0, else `old` grown or shrunk to `new_size`, keeping its contents. A
/// block of size 0 is no allocation: its address is `align`, never freed.
/// Outside a handler (the host lowering the next handler's arguments) a
/// block comes from the argument buffer while it has room. An allocation
/// that fails aborts, which traps the call.
///
/// # Safety
/// `old`, `old_size` and `align` must describe a block this function gave.
pub(crate) unsafe fn realloc(old: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
    let in_handler = IN_HANDLER.with(|h| h.get());
    if (old_size != 0 && is_argument(old)) || (!in_handler && old_size == 0 && new_size != 0) {
        return argument_realloc(old, old_size, align, new_size);
    }
    heap_realloc(old, old_size, align, new_size)
}

/// A block of the argument buffer, or of the allocator when the buffer has
/// no room (a block already in the buffer is copied out).
unsafe fn argument_realloc(old: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
    if new_size == 0 {
        return align as *mut u8; // a block of the buffer is given back with it
    }
    let keep = old_size.min(new_size);
    let align = align.max(1);
    let used = ARGUMENTS_USED.with(|u| u.get());
    let at = (used + align - 1) & !(align - 1);
    if align.is_power_of_two() && at <= ARGUMENT_BYTES && new_size <= ARGUMENT_BYTES - at {
        let out = arguments_start().add(at);
        if old_size != 0 {
            std::ptr::copy(old, out, keep);
        }
        ARGUMENTS_USED.with(|u| u.set(at + new_size));
        return out;
    }
    let out = heap_realloc(std::ptr::null_mut(), 0, align, new_size);
    if old_size != 0 {
        std::ptr::copy_nonoverlapping(old, out, keep);
    }
    out
}

unsafe fn heap_realloc(old: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
    let layout = match Layout::from_size_align(new_size, align) {
        Ok(layout) => layout,
        Err(_) => panic!("cabi_realloc: alignment {} or size {} is not possible", align, new_size),
    };
    if old_size == 0 {
        if new_size == 0 {
            return align as *mut u8;
        }
        let p = alloc::alloc(layout);
        if p.is_null() {
            alloc::handle_alloc_error(layout);
        }
        return p;
    }
    let old_layout = Layout::from_size_align_unchecked(old_size, align);
    if new_size == 0 {
        alloc::dealloc(old, old_layout);
        return align as *mut u8;
    }
    let p = alloc::realloc(old, old_layout, new_size);
    if p.is_null() {
        alloc::handle_alloc_error(layout);
    }
    p
}

/// The core imports of the world. Outside WebAssembly each of them panics.
#[cfg(target_arch = "wasm32")]
pub(crate) mod raw {
    #[link(wasm_import_module = "airssys:host/messaging@0.3.0")]
    extern "C" {
        #[link_name = "self-id"]
        pub fn self_id(ret: *mut u8);
        #[link_name = "send"]
        pub fn send(target: *const u8, target_len: usize, payload: *const u8, payload_len: usize, ret: *mut u8);
        #[link_name = "request"]
        pub fn request(
            target: *const u8,
            target_len: usize,
            payload: *const u8,
            payload_len: usize,
            timeout_ms: u32,
            ret: *mut u8,
        );
        #[link_name = "reply"]
        pub fn reply(correlation_id: u64, payload: *const u8, payload_len: usize, ret: *mut u8);
        #[link_name = "publish"]
        pub fn publish(topic: *const u8, topic_len: usize, payload: *const u8, payload_len: usize, ret: *mut u8);
        #[link_name = "subscribe"]
        pub fn subscribe(filter: *const u8, filter_len: usize, ret: *mut u8);
        #[link_name = "unsubscribe"]
        pub fn unsubscribe(filter: *const u8, filter_len: usize, ret: *mut u8);
    }

    #[link(wasm_import_module = "airssys:host/kv@0.3.0")]
    extern "C" {
        #[link_name = "get"]
        pub fn get(key: *const u8, key_len: usize, ret: *mut u8);
        #[link_name = "set"]
        pub fn set(key: *const u8, key_len: usize, value: *const u8, value_len: usize, ret: *mut u8);
        #[link_name = "delete"]
        pub fn delete(key: *const u8, key_len: usize, ret: *mut u8);
        #[link_name = "exists"]
        pub fn exists(key: *const u8, key_len: usize, ret: *mut u8);
        #[link_name = "list"]
        pub fn list(prefix: *const u8, prefix_len: usize, after: *const u8, after_len: usize, limit: u32, ret: *mut u8);
        #[link_name = "usage"]
        pub fn usage() -> u64;
    }

    #[link(wasm_import_module = "airssys:host/http@0.3.0")]
    extern "C" {
        #[link_name = "fetch"]
        pub fn fetch(
            method: *const u8,
            method_len: usize,
            url: *const u8,
            url_len: usize,
            headers: *const u8,
            headers_len: usize,
            body: *const u8,
            body_len: usize,
            timeout_ms: u32,
            ret: *mut u8,
        );
    }

    #[link(wasm_import_module = "airssys:host/logging@0.3.0")]
    extern "C" {
        #[link_name = "log"]
        pub fn log(level: i32, message: *const u8, message_len: usize, ret: *mut u8);
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod raw {
    //! Outside WebAssembly there is no host: every import panics.
    #![allow(clippy::missing_safety_doc)]

    fn no_host(name: &str) -> ! {
        panic!("airssys: {} is a host function of a WebAssembly component; there is no host here", name)
    }
    pub unsafe fn self_id(_: *mut u8) {
        no_host("messaging.self-id")
    }
    pub unsafe fn send(_: *const u8, _: usize, _: *const u8, _: usize, _: *mut u8) {
        no_host("messaging.send")
    }
    pub unsafe fn request(_: *const u8, _: usize, _: *const u8, _: usize, _: u32, _: *mut u8) {
        no_host("messaging.request")
    }
    pub unsafe fn reply(_: u64, _: *const u8, _: usize, _: *mut u8) {
        no_host("messaging.reply")
    }
    pub unsafe fn publish(_: *const u8, _: usize, _: *const u8, _: usize, _: *mut u8) {
        no_host("messaging.publish")
    }
    pub unsafe fn subscribe(_: *const u8, _: usize, _: *mut u8) {
        no_host("messaging.subscribe")
    }
    pub unsafe fn unsubscribe(_: *const u8, _: usize, _: *mut u8) {
        no_host("messaging.unsubscribe")
    }
    pub unsafe fn get(_: *const u8, _: usize, _: *mut u8) {
        no_host("kv.get")
    }
    pub unsafe fn set(_: *const u8, _: usize, _: *const u8, _: usize, _: *mut u8) {
        no_host("kv.set")
    }
    pub unsafe fn delete(_: *const u8, _: usize, _: *mut u8) {
        no_host("kv.delete")
    }
    pub unsafe fn exists(_: *const u8, _: usize, _: *mut u8) {
        no_host("kv.exists")
    }
    pub unsafe fn list(_: *const u8, _: usize, _: *const u8, _: usize, _: u32, _: *mut u8) {
        no_host("kv.list")
    }
    pub unsafe fn usage() -> u64 {
        no_host("kv.usage")
    }
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn fetch(
        _: *const u8,
        _: usize,
        _: *const u8,
        _: usize,
        _: *const u8,
        _: usize,
        _: *const u8,
        _: usize,
        _: u32,
        _: *mut u8,
    ) {
        no_host("http.fetch")
    }
    pub unsafe fn log(_: i32, _: *const u8, _: usize, _: *mut u8) {
        no_host("logging.log")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ret_area_reads_little_endian_at_offsets() {
        let mut area = RetArea::new();
        area.0[0] = 0;
        area.0[4..6].copy_from_slice(&513u16.to_le_bytes());
        area.0[8..16].copy_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
        assert!(area.is_ok());
        assert_eq!(area.u16(4), 513);
        assert_eq!(area.u32(8), 0x0506_0708);
        assert_eq!(area.u64(8), 0x0102_0304_0506_0708);
        area.0[1] = 2;
        assert!(area.bool(1));
        assert_eq!(area.ptr() as usize % 8, 0);
    }

    #[test]
    #[should_panic(expected = "result case 2")]
    fn ret_area_refuses_a_result_case_past_err() {
        let mut area = RetArea::new();
        area.0[0] = 2;
        area.is_ok();
    }

    #[test]
    fn realloc_of_size_zero_allocates_nothing() {
        unsafe {
            assert_eq!(realloc(std::ptr::null_mut(), 0, 1, 0) as usize, 1);
            assert_eq!(realloc(std::ptr::null_mut(), 0, 8, 0) as usize, 8);
        }
    }

    #[test]
    fn realloc_grows_keeps_contents_and_aligns() {
        handler_begins();
        unsafe {
            let p = realloc(std::ptr::null_mut(), 0, 8, 16);
            assert_eq!(p as usize % 8, 0);
            for i in 0..16 {
                *p.add(i) = i as u8;
            }
            let q = realloc(p, 16, 8, 4096);
            assert_eq!(q as usize % 8, 0);
            for i in 0..16 {
                assert_eq!(*q.add(i), i as u8);
            }
            assert_eq!(realloc(q, 4096, 8, 0) as usize, 8);
        }
    }

    #[test]
    fn taken_bytes_and_strings_own_the_host_block() {
        handler_begins();
        unsafe {
            let p = realloc(std::ptr::null_mut(), 0, 1, 5);
            std::ptr::copy_nonoverlapping(b"hello".as_ptr(), p, 5);
            assert_eq!(take_string(p as usize, 5), "hello");
            let empty = realloc(std::ptr::null_mut(), 0, 1, 0);
            assert!(take_bytes(empty as usize, 0).is_empty());
        }
    }

    #[test]
    #[should_panic(expected = "not UTF-8")]
    fn a_string_that_is_not_utf8_traps() {
        handler_begins();
        unsafe {
            let p = realloc(std::ptr::null_mut(), 0, 1, 2);
            std::ptr::copy_nonoverlapping([0xc3u8, 0x28].as_ptr(), p, 2);
            take_string(p as usize, 2);
        }
    }

    #[test]
    fn arguments_come_from_the_buffer_until_it_is_full_and_the_next_handler_reuses_it() {
        handler_ends();
        unsafe {
            let a = realloc(std::ptr::null_mut(), 0, 1, 5);
            std::ptr::copy_nonoverlapping(b"hello".as_ptr(), a, 5);
            let b = realloc(std::ptr::null_mut(), 0, 8, 100);
            assert!(is_argument(a) && is_argument(b));
            assert_eq!(b as usize % 8, 0);
            assert_eq!(argument_str(a as usize, 5), "hello");
            // Past the buffer's room: from the allocator, given back after.
            let big = realloc(std::ptr::null_mut(), 0, 1, ARGUMENT_BYTES);
            assert!(!is_argument(big));
            *big.add(ARGUMENT_BYTES - 1) = 7;
            assert_eq!(argument_bytes(big as usize, ARGUMENT_BYTES)[ARGUMENT_BYTES - 1], 7);
            handler_begins();
            // Inside a handler what the host returns is the crate's to own.
            let owned = realloc(std::ptr::null_mut(), 0, 1, 3);
            assert!(!is_argument(owned));
            std::ptr::copy_nonoverlapping(b"abc".as_ptr(), owned, 3);
            assert_eq!(take_string(owned as usize, 3), "abc");
            release_argument(a as usize, 5);
            release_argument(b as usize, 100);
            release_argument(big as usize, ARGUMENT_BYTES);
            handler_ends();
            assert_eq!(realloc(std::ptr::null_mut(), 0, 1, 5), a);
            handler_ends();
        }
    }
}
