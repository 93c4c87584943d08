//! Test material: a component of the world that calls every function the
//! world imports, one per command message, and tells what each returned
//! through `logging.log`, so that a test playing the host side of the world
//! sees every value cross the canonical ABI both ways.
//!
//! Commands (the payload of a message, words separated by one space):
//!   self-id | send T P | request T P MS | reply ID P | publish T P
//!   subscribe F | unsubscribe F | get K | set K V | delete K | exists K
//!   list PREFIX AFTER LIMIT | usage | fetch METHOD URL BODY | log LEVEL TEXT
//!   health healthy|degraded WHY|unhealthy WHY
//! Every handler logs what it received; `init` refuses a configuration that
//! contains "refuse"; `handle-reply` logs the length of a reply over 32 bytes.

use airssys::http::{self, Request};
use airssys::logging::{self, Level};
use airssys::{kv, messaging, Component, Error, HealthStatus, Message};

#[derive(Default)]
struct All {
    health: Option<HealthStatus>,
}

fn say(text: &str) {
    if let Err(e) = logging::log(Level::Info, text) {
        // The host refused the line: say so on the next one, at error level.
        let _ = logging::log(Level::Error, &format!("log refused: {}", e.name()));
    }
}

fn outcome<T: std::fmt::Debug>(name: &str, r: Result<T, Error>) {
    match r {
        Ok(v) => say(&format!("{} ok {:?}", name, v)),
        Err(e) => say(&format!("{} err {}", name, e.name())),
    }
}

fn level(name: &str) -> Level {
    match name {
        "trace" => Level::Trace,
        "debug" => Level::Debug,
        "info" => Level::Info,
        "warn" => Level::Warn,
        _ => Level::Error,
    }
}

impl Component for All {
    fn init(&mut self, config: String) -> Result<(), String> {
        if config.contains("refuse") {
            return Err(format!("refused the configuration {}", config));
        }
        say(&format!("init {}", config));
        Ok(())
    }

    fn handle_message(&mut self, message: Message<'_>) {
        // The payload's length and its first 32 bytes.
        say(&format!(
            "message {:?} {} {} {:?} {} {}",
            message.kind,
            message.correlation_id,
            message.sender,
            message.topic,
            message.payload.len(),
            String::from_utf8_lossy(&message.payload[..message.payload.len().min(32)])
        ));
        let text = String::from_utf8_lossy(&message.payload).into_owned();
        let w: Vec<&str> = text.split(' ').collect();
        let arg = |i: usize| w.get(i).copied().unwrap_or("");
        let num = |i: usize| arg(i).parse::<u64>().unwrap_or(0);
        match arg(0) {
            "self-id" => say(&format!("self-id {}", messaging::self_id())),
            "send" => outcome("send", messaging::send(arg(1), arg(2).as_bytes())),
            "request" => outcome("request", messaging::request(arg(1), arg(2).as_bytes(), num(3) as u32)),
            "reply" => outcome("reply", messaging::reply(num(1), arg(2).as_bytes())),
            "reply-this" => outcome("reply-this", message.reply(arg(1).as_bytes())),
            "publish" => outcome("publish", messaging::publish(arg(1), arg(2).as_bytes())),
            "subscribe" => outcome("subscribe", messaging::subscribe(arg(1))),
            "unsubscribe" => outcome("unsubscribe", messaging::unsubscribe(arg(1))),
            "get" => outcome(
                "get",
                kv::get(arg(1)).map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned())),
            ),
            "set" => outcome("set", kv::set(arg(1), arg(2).as_bytes())),
            "delete" => outcome("delete", kv::delete(arg(1))),
            "exists" => outcome("exists", kv::exists(arg(1))),
            "list" => outcome("list", kv::list(arg(1), arg(2), num(3) as u32)),
            "usage" => say(&format!("usage {}", kv::usage())),
            "fetch" => {
                let request = Request::new(arg(1), arg(2))
                    .header("x-one", "1")
                    .header("x-two", "zwei")
                    .body(arg(3).as_bytes())
                    .timeout_ms(2500);
                outcome(
                    "fetch",
                    http::fetch(&request)
                        .map(|r| (r.status, r.headers, String::from_utf8_lossy(&r.body).into_owned())),
                )
            }
            "log" => outcome("log", logging::log(level(arg(1)), arg(2))),
            "health" => {
                self.health = Some(match arg(1) {
                    "degraded" => HealthStatus::Degraded(arg(2).to_string()),
                    "unhealthy" => HealthStatus::Unhealthy(arg(2).to_string()),
                    _ => HealthStatus::Healthy,
                })
            }
            _ => say("unknown command"),
        }
    }

    fn handle_reply(&mut self, correlation_id: u64, reply: Result<&[u8], Error>) {
        outcome(
            &format!("handle-reply {}", correlation_id),
            reply.map(|b| match b.len() {
                0..=32 => String::from_utf8_lossy(b).into_owned(),
                n => format!("{} bytes", n),
            }),
        );
    }

    fn health(&mut self) -> HealthStatus {
        self.health.clone().unwrap_or(HealthStatus::Healthy)
    }

    fn shutdown(&mut self) {
        say("shutdown");
    }
}

airssys::export_component!(All);
