//! Write airssys-wasm components in Rust.
//!
//! A component targets the world `component` of the WIT package
//! `airssys:host@0.3.0` (`wit/host.wit`, described in `docs/wit.md`): it
//! imports the host's interfaces for [`messaging`], key-value state ([`kv`]),
//! outbound [`http`] and [`logging`], and exports the handlers the host calls.
//! This crate holds that world written out by hand after the Component Model's
//! canonical ABI, with no dependencies, so that it builds offline with the
//! Rust of the distribution (1.63 or later) for `wasm32-wasi`:
//!
//! * safe functions for every function the world imports, in the modules of
//!   the same names ([`messaging::send`], [`kv::get`], [`http::fetch`],
//!   [`logging::log`], ...), whose refusals are an [`Error`];
//! * the trait [`Component`] for the handlers, with defaults for each, and the
//!   macro [`export_component!`] that exports a type implementing it under the
//!   names the world gives (`airssys:host/handler@0.3.0#init`, ...), together
//!   with `cabi_realloc` and the post-return functions.
//!
//! ```no_run
//! use airssys::{logging, messaging, Component, Message};
//!
//! #[derive(Default)]
//! struct Echo;
//!
//! impl Component for Echo {
//!     fn handle_message(&mut self, message: Message<'_>) {
//!         logging::info(&format!("{} bytes from {}", message.payload.len(), message.sender));
//!         if message.correlation_id != 0 {
//!             let _ = messaging::reply(message.correlation_id, message.payload);
//!         }
//!     }
//! }
//!
//! airssys::export_component!(Echo);
//! ```
//!
//! The crate is built as a `cdylib` for `wasm32-wasi`; the core module that
//! gives is made into a component of the world by the project's build
//! (`cmake/AirssysRust.cmake`, `docs/guide-rust.md`).
//!
//! Memory follows the canonical ABI: strings and lists the host hands over
//! arrive in memory the host obtained through `cabi_realloc`. A handler's own
//! arguments (a [`Message`]'s sender, topic and payload, a reply's bytes) are
//! borrowed for the call: they live in a buffer of the crate's, reused for
//! the next handler, so a message costs no allocation (`init`'s configuration
//! is handed over as a `String`). What a function returns to a running handler
//! (`kv::get`, ...) becomes an owned `String` or `Vec`. What a handler returns to the host (the text of an
//! `init` error, of a degraded or unhealthy status) stays alive until the
//! host's post-return call frees it.
//!
//! Outside WebAssembly (for `cargo test` of a component's own logic on the
//! build machine) the crate compiles, but any call of a host function panics:
//! there is no host to call.

#![warn(missing_docs)]

mod abi;
mod component;
mod types;

pub mod http;
pub mod kv;
pub mod logging;
pub mod messaging;

pub use component::{Component, HealthStatus, Message, MessageKind};
pub use types::Error;

#[doc(hidden)]
pub mod __export;

/// The WIT package this crate follows, with its version.
pub const WIT_PACKAGE: &str = "airssys:host@0.3.0";

/// Exports a type that implements [`Component`] as the component's handlers.
///
/// Use it once, in the crate that is built as the component (`crate-type =
/// ["cdylib"]`). It defines the core exports the world asks for:
/// `airssys:host/handler@0.3.0#init`, `#handle-message`, `#handle-reply`,
/// `#health` and `#shutdown`, the post-return functions of `init` and
/// `health`, and `cabi_realloc`. The type must implement `Default`: the
/// instance is made on the first call from the host, before `init`.
///
/// ```no_run
/// #[derive(Default)]
/// struct Quiet;
/// impl airssys::Component for Quiet {}
/// airssys::export_component!(Quiet);
/// ```
#[macro_export]
macro_rules! export_component {
    ($ty:ty) => {
        const _: () = {
            static mut AIRSSYS_INSTANCE: ::core::option::Option<$ty> = ::core::option::Option::None;

            fn airssys_instance() -> &'static mut $ty {
                // The host calls one handler at a time, never re-entrantly.
                unsafe { $crate::__export::instance(&mut AIRSSYS_INSTANCE) }
            }

            #[export_name = "cabi_realloc"]
            unsafe extern "C" fn airssys_cabi_realloc(
                old: *mut u8,
                old_size: usize,
                align: usize,
                new_size: usize,
            ) -> *mut u8 {
                $crate::__export::realloc(old, old_size, align, new_size)
            }

            #[export_name = "airssys:host/handler@0.3.0#init"]
            unsafe extern "C" fn airssys_init(config: *mut u8, config_len: usize) -> *mut u8 {
                $crate::__export::init(airssys_instance(), config, config_len)
            }

            #[export_name = "cabi_post_airssys:host/handler@0.3.0#init"]
            unsafe extern "C" fn airssys_post_init(ret: *mut u8) {
                $crate::__export::post_init(ret)
            }

            #[export_name = "airssys:host/handler@0.3.0#handle-message"]
            unsafe extern "C" fn airssys_handle_message(
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
                $crate::__export::handle_message(
                    airssys_instance(),
                    kind,
                    correlation_id,
                    sender,
                    sender_len,
                    topic_present,
                    topic,
                    topic_len,
                    payload,
                    payload_len,
                )
            }

            #[export_name = "airssys:host/handler@0.3.0#handle-reply"]
            unsafe extern "C" fn airssys_handle_reply(correlation_id: i64, tag: i32, a: i32, b: i32) {
                $crate::__export::handle_reply(airssys_instance(), correlation_id, tag, a, b)
            }

            #[export_name = "airssys:host/handler@0.3.0#health"]
            unsafe extern "C" fn airssys_health() -> *mut u8 {
                $crate::__export::health(airssys_instance())
            }

            #[export_name = "cabi_post_airssys:host/handler@0.3.0#health"]
            unsafe extern "C" fn airssys_post_health(ret: *mut u8) {
                $crate::__export::post_health(ret)
            }

            #[export_name = "airssys:host/handler@0.3.0#shutdown"]
            unsafe extern "C" fn airssys_shutdown() {
                $crate::__export::shutdown(airssys_instance())
            }
        };
    };
}
