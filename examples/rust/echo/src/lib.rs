//! Echo: answers every request with the payload it carried, and logs each
//! message it receives. A component of the world `airssys:host/component`.

use airssys::{logging, Component, Message, MessageKind};

#[derive(Default)]
struct Echo {
    /// Messages received since the start.
    seen: u64,
}

impl Component for Echo {
    fn init(&mut self, _config: String) -> Result<(), String> {
        logging::info("echo: ready");
        Ok(())
    }

    fn handle_message(&mut self, message: Message<'_>) {
        self.seen += 1;
        logging::info(&format!(
            "echo: message {} ({:?}, {} bytes) from {}",
            self.seen,
            message.kind,
            message.payload.len(),
            message.sender
        ));
        if message.kind == MessageKind::Request {
            if let Err(e) = message.reply(message.payload) {
                logging::warn(&format!("echo: the reply to {} was refused: {}", message.sender, e));
            }
        }
    }
}

airssys::export_component!(Echo);
