//! `airssys:host/handler`: what the host calls.

use crate::Error;

/// How a message was sent: the enum `message-kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `messaging.send`: no answer expected.
    Send,
    /// `messaging.request`: answer with [`Message::reply`].
    Request,
    /// `messaging.publish` to a topic this component subscribed to.
    Publish,
}

impl MessageKind {
    pub(crate) fn from_discriminant(d: i32) -> MessageKind {
        match d {
            0 => MessageKind::Send,
            1 => MessageKind::Request,
            2 => MessageKind::Publish,
            other => panic!("the host passed message kind {}", other),
        }
    }
}

/// A message to this component: the record `message`, borrowed for the
/// handler's call (its strings and bytes live in memory the crate reuses
/// for the next message: copy what must outlive the call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// How it was sent.
    pub kind: MessageKind,
    /// Of a request; 0 otherwise.
    pub correlation_id: u64,
    /// The sending component, or `host`.
    pub sender: &'a str,
    /// The topic of a published message.
    pub topic: Option<&'a str>,
    /// The bytes sent.
    pub payload: &'a [u8],
}

impl Message<'_> {
    /// Answers this message when it is a request ([`messaging::reply`]
    /// with its correlation id); [`Error::NoRequest`] when it is not one.
    ///
    /// [`messaging::reply`]: crate::messaging::reply
    pub fn reply(&self, payload: &[u8]) -> Result<(), Error> {
        if self.kind != MessageKind::Request {
            return Err(Error::NoRequest);
        }
        crate::messaging::reply(self.correlation_id, payload)
    }
}

/// What `health` answers: the variant `health-status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthStatus {
    /// All is well.
    Healthy,
    /// Working, with a reason worth a look.
    Degraded(String),
    /// The host restarts the component.
    Unhealthy(String),
}

/// The handlers of a component, each called by the host one at a time.
///
/// Every method has a default, so a component implements only what it
/// needs. Register the type with [`export_component!`](crate::export_component),
/// which makes its instance with `Default::default()` on the first call.
pub trait Component: Default + 'static {
    /// Once per start, before any message, with the manifest's `[config]` as
    /// JSON (`{}` when it has none). An error fails the start with its text.
    /// The default accepts any configuration.
    fn init(&mut self, config: String) -> Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// Each message, one at a time, in order per sender, borrowed for this
    /// call. A request is answered with [`Message::reply`], here, or later
    /// with [`messaging::reply`](crate::messaging::reply) and its
    /// correlation id. The default ignores the message.
    fn handle_message(&mut self, message: Message<'_>) {
        let _ = message;
    }

    /// The reply to a request this component made with
    /// [`messaging::request`](crate::messaging::request), borrowed for this
    /// call, or [`Error::Timeout`] when none came in time. The default
    /// ignores it.
    fn handle_reply(&mut self, correlation_id: u64, reply: Result<&[u8], Error>) {
        let _ = (correlation_id, reply);
    }

    /// Asked once the component is ready and then now and then while it is
    /// idle. The default is [`HealthStatus::Healthy`].
    fn health(&mut self) -> HealthStatus {
        HealthStatus::Healthy
    }

    /// On a clean stop, with a bounded fuel budget. The default does nothing.
    fn shutdown(&mut self) {}
}
