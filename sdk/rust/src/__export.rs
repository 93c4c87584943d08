//! The export glue [`export_component!`](crate::export_component) expands
//! to: the canonical ABI's lifting of the handlers' parameters and lowering
//! of their results. Not an interface of its own.

use crate::abi::{self, argument_bytes, argument_str, release_argument};
use crate::{Component, Error, HealthStatus, Message, MessageKind};

/// The return area of the handlers whose result flattens to more than one
/// value (`init`'s `result<_, string>` and `health`'s `health-status`: a case
/// at 0 and a string at 4 and 8). The host reads it, then calls the
/// post-return function, before it calls any other handler.
#[repr(C, align(4))]
struct ExportArea([u8; 12]);
static mut EXPORT_AREA: ExportArea = ExportArea([0; 12]);

#[cfg(target_arch = "wasm32")]
extern "C" {
    /// The static constructors of the module, run once before the first
    /// handler. Referring to it also tells the linker that this module runs
    /// them itself, so it does not wrap each export with them.
    fn __wasm_call_ctors();
}
static mut CONSTRUCTED: bool = false;

fn constructed() {
    unsafe {
        if !CONSTRUCTED {
            CONSTRUCTED = true;
            #[cfg(target_arch = "wasm32")]
            __wasm_call_ctors();
        }
    }
}

/// The instance in `slot`, made on the first call.
pub fn instance<T: Component>(slot: &'static mut Option<T>) -> &'static mut T {
    constructed();
    slot.get_or_insert_with(T::default)
}

/// `cabi_realloc`.
///
/// # Safety
/// As the canonical ABI calls it.
pub unsafe fn realloc(old: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
    abi::realloc(old, old_size, align, new_size)
}

/// Writes a case and an optional string into the return area; the string is
/// kept alive (as a `Box<str>`) until the post-return call.
unsafe fn lower_case_and_string(case: u8, text: Option<String>) -> *mut u8 {
    let area = &mut EXPORT_AREA.0;
    *area = [0; 12];
    area[0] = case;
    if let Some(text) = text {
        let boxed: Box<str> = text.into_boxed_str();
        let len = boxed.len();
        let ptr = Box::into_raw(boxed) as *mut u8 as usize;
        area[4..8].copy_from_slice(&(ptr as u32).to_le_bytes());
        area[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    }
    area.as_mut_ptr()
}

/// Frees the string [`lower_case_and_string`] kept for the host.
unsafe fn free_string_at(ret: *mut u8) {
    let ptr = (ret.add(4) as *const u32).read() as usize;
    let len = (ret.add(8) as *const u32).read() as usize;
    if len != 0 {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr as *mut u8, len) as *mut str));
    }
}

/// `init: func(config: string) -> result<_, string>`.
///
/// # Safety
/// As the canonical ABI calls it.
pub unsafe fn init<T: Component>(component: &mut T, config: *mut u8, config_len: usize) -> *mut u8 {
    abi::handler_begins();
    let owned = argument_str(config as usize, config_len).to_owned();
    release_argument(config as usize, config_len);
    let out = match component.init(owned) {
        Ok(()) => lower_case_and_string(0, None),
        Err(text) => lower_case_and_string(1, Some(text)),
    };
    abi::handler_ends();
    out
}

/// The post-return of `init`.
///
/// # Safety
/// With the pointer `init` returned.
pub unsafe fn post_init(ret: *mut u8) {
    if *ret == 1 {
        free_string_at(ret);
    }
}

/// `handle-message: func(message: message)`, flattened.
///
/// # Safety
/// As the canonical ABI calls it.
#[allow(clippy::too_many_arguments)]
pub unsafe fn handle_message<T: Component>(
    component: &mut T,
    kind: i32,
    correlation_id: i64,
    sender: *mut u8,
    sender_len: usize,
    topic_present: i32,
    topic: *mut u8,
    topic_len: usize,
    payload: *mut u8,
    payload_len: usize,
) {
    abi::handler_begins();
    let message = Message {
        kind: MessageKind::from_discriminant(kind),
        correlation_id: correlation_id as u64,
        sender: argument_str(sender as usize, sender_len),
        topic: match topic_present {
            0 => None,
            1 => Some(argument_str(topic as usize, topic_len)),
            other => panic!("the host passed option case {}", other),
        },
        payload: argument_bytes(payload as usize, payload_len),
    };
    component.handle_message(message);
    release_argument(sender as usize, sender_len);
    if topic_present == 1 {
        release_argument(topic as usize, topic_len);
    }
    release_argument(payload as usize, payload_len);
    abi::handler_ends();
}

/// `handle-reply: func(correlation-id: u64, reply: result<list<u8>, error>)`,
/// flattened: the result's case, then the list's pointer and length, or the
/// error's case in the first of those.
///
/// # Safety
/// As the canonical ABI calls it.
pub unsafe fn handle_reply<T: Component>(component: &mut T, correlation_id: i64, tag: i32, a: i32, b: i32) {
    abi::handler_begins();
    let (ptr, len) = (a as u32 as usize, b as u32 as usize);
    let reply = match tag {
        0 => Ok(argument_bytes(ptr, len)),
        1 => Err(Error::from_discriminant(a as u32)),
        other => panic!("the host passed result case {}", other),
    };
    component.handle_reply(correlation_id as u64, reply);
    if tag == 0 {
        release_argument(ptr, len);
    }
    abi::handler_ends();
}

/// `health: func() -> health-status`.
///
/// # Safety
/// As the canonical ABI calls it.
pub unsafe fn health<T: Component>(component: &mut T) -> *mut u8 {
    abi::handler_begins();
    let out = match component.health() {
        HealthStatus::Healthy => lower_case_and_string(0, None),
        HealthStatus::Degraded(why) => lower_case_and_string(1, Some(why)),
        HealthStatus::Unhealthy(why) => lower_case_and_string(2, Some(why)),
    };
    abi::handler_ends();
    out
}

/// The post-return of `health`.
///
/// # Safety
/// With the pointer `health` returned.
pub unsafe fn post_health(ret: *mut u8) {
    if *ret != 0 {
        free_string_at(ret);
    }
}

/// `shutdown: func()`.
pub fn shutdown<T: Component>(component: &mut T) {
    abi::handler_begins();
    component.shutdown();
    abi::handler_ends();
}
