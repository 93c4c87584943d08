//! The pipeline's entry, written in Rust against the world
//! `airssys:host/component`: takes orders from the host, asks the validator
//! about each one (request/reply), and publishes the accepted ones on
//! `orders.accepted` for whoever subscribed (the ledger). It behaves as the C
//! `orders` beside it does, and takes its place in the pipeline under the
//! same name and grants.

use std::collections::HashMap;

use airssys::{logging, messaging, Component, Error, Message};

/// An order as the pipeline writes it: `order <id> <item> <quantity>`,
/// e.g. `order 7 widget 3` (examples/pipeline/protocol.h).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: i32,
    pub item: String,
    pub quantity: i32,
}

/// The order in `text`, when it is a well-formed one: four words, the first
/// `order`, an item of at most 31 bytes, and nothing after the quantity.
pub fn parse_order(text: &[u8]) -> Option<Order> {
    let text = std::str::from_utf8(text).ok()?;
    if text.len() >= 128 {
        return None;
    }
    let mut words = text.split_ascii_whitespace();
    if words.next()? != "order" {
        return None;
    }
    let id = words.next()?.parse().ok()?;
    let item = words.next()?;
    let quantity = words.next()?.parse().ok()?;
    if item.len() > 31 || words.next().is_some() {
        return None;
    }
    Some(Order { id, item: item.to_string(), quantity })
}

/// How long the validator has for an answer. Orders arrive together and the
/// validator answers one request after the other: in the polyglot pipeline
/// it is written in JavaScript and runs on the interpreter, some 150 ms a
/// request on an idle machine, so the last of five orders waits about a
/// second, and several on a busy one.
const VALIDATION_TIMEOUT_MS: u32 = 10_000;

#[derive(Default)]
struct Orders {
    /// Orders waiting for the validator's answer, by correlation id, as received.
    pending: HashMap<u64, Vec<u8>>,
}

impl Component for Orders {
    fn init(&mut self, _config: String) -> Result<(), String> {
        logging::info("orders: ready");
        Ok(())
    }

    fn handle_message(&mut self, message: Message<'_>) {
        let order = match parse_order(&message.payload) {
            Some(order) => order,
            None => {
                logging::info(&format!("orders: ignored a message from {} that is not an order", message.sender));
                return;
            }
        };
        match messaging::request("validator", &message.payload, VALIDATION_TIMEOUT_MS) {
            Ok(correlation_id) => {
                self.pending.insert(correlation_id, message.payload.to_vec());
                logging::info(&format!(
                    "orders: order {} ({} x {}) sent for validation",
                    order.id, order.quantity, order.item
                ));
            }
            Err(e) => logging::warn(&format!("orders: order {} could not be sent for validation: {}", order.id, e)),
        }
    }

    fn handle_reply(&mut self, correlation_id: u64, reply: Result<&[u8], Error>) {
        let text = match self.pending.remove(&correlation_id) {
            Some(text) => text,
            None => return,
        };
        let id = parse_order(&text).map(|o| o.id).unwrap_or_default();
        match reply {
            Err(e) => logging::warn(&format!("orders: order {}: no answer from the validator: {}", id, e)),
            Ok(answer) if answer.starts_with(b"ok") => match messaging::publish("orders.accepted", &text) {
                Ok(n) => logging::info(&format!("orders: order {} accepted, published to {} subscriber(s)", id, n)),
                Err(e) => logging::warn(&format!("orders: order {} accepted, not published: {}", id, e)),
            },
            Ok(answer) => logging::info(&format!("orders: order {} {}", id, String::from_utf8_lossy(answer))),
        }
    }
}

airssys::export_component!(Orders);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_orders_parse() {
        assert_eq!(parse_order(b"order 7 widget 3"), Some(Order { id: 7, item: "widget".into(), quantity: 3 }));
        assert_eq!(parse_order(b"order -1 gadget 0").map(|o| o.id), Some(-1));
    }

    #[test]
    fn anything_else_is_not_an_order() {
        for text in [
            &b"order 7 widget"[..],
            b"order 7 widget 3 extra",
            b"order x widget 3",
            b"order 7 widget many",
            b"ordre 7 widget 3",
            b"order 7 abcdefghijklmnopqrstuvwxyz0123456 3",
            b"",
            b"\xff\xfe",
        ] {
            assert_eq!(parse_order(text), None, "{:?}", String::from_utf8_lossy(text));
        }
    }
}
