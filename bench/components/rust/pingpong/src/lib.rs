//! The pinger and the ponger of bench_world in Rust, against the airssys world
//! through the crate `airssys`: the protocol of bench/components/bench_protocol.h,
//! doing exactly what pinger.c and ponger.c do. The role comes from the
//! configuration: `{"role":"pinger"}` makes a pinger, anything else a ponger.
//! Both report to the host as binary records on stdout, timed with the WASI
//! monotonic clock (the host's CLOCK_MONOTONIC).

use airssys::{messaging, Component, Error, Message, MessageKind};

const PINGER: &str = "pinger";
const PONGER: &str = "ponger";
const MAX_SAMPLES: usize = 2048;
const PROBE_SIZE: usize = 17;

const CMD_ONE_WAY: u8 = b'L';
const CMD_REQUEST: u8 = b'R';
const CMD_FLOOD: u8 = b'T';
const MSG_PROBE: u8 = b'P';
const MSG_ACK: u8 = b'A';
const MSG_FILL: u8 = b'x';
const MSG_LAST: u8 = b'E';
const MSG_ASK: u8 = b'Q';

const REC_ONE_WAY: u32 = 1;
const REC_ROUND_TRIP: u32 = 2;
const REC_FLOOD_SENT: u32 = 3;
const REC_FLOOD_END: u32 = 4;
const REC_ERROR: u32 = 5;

mod wasi {
    #[repr(C)]
    pub struct Ciovec {
        pub buf: *const u8,
        pub len: usize,
    }

    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        pub fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u16;
        pub fn fd_write(fd: u32, iovs: *const Ciovec, iovs_len: usize, written: *mut usize) -> u16;
    }
}

/// The WASI monotonic clock, in ns.
fn now() -> u64 {
    let mut t = 0u64;
    // SAFETY: `t` is a valid place for the result.
    unsafe { wasi::clock_time_get(1, 1, &mut t) };
    t
}

/// One record on stdout. A write may take less than it was given (the WASI
/// preview 1 adapter writes the first buffer of several only): the rest follows.
fn report(kind: u32, values: &[u64]) {
    let header = [kind, values.len() as u32];
    let mut iovs = [
        wasi::Ciovec { buf: header.as_ptr() as *const u8, len: 8 },
        wasi::Ciovec { buf: values.as_ptr() as *const u8, len: values.len() * 8 },
    ];
    let mut next = 0usize;
    while next < iovs.len() {
        let mut written = 0usize;
        // SAFETY: the buffers outlive the call.
        let errno = unsafe { wasi::fd_write(1, iovs[next..].as_ptr(), iovs.len() - next, &mut written) };
        if errno != 0 {
            return;
        }
        while next < iovs.len() && written >= iovs[next].len {
            written -= iovs[next].len;
            next += 1;
        }
        if next < iovs.len() {
            // SAFETY: `written` is less than the buffer's length.
            iovs[next].buf = unsafe { iovs[next].buf.add(written) };
            iovs[next].len -= written;
        }
    }
}

fn fail(error: Error) {
    report(REC_ERROR, &[error as u64 + 1]);
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[derive(Default)]
struct PingPong {
    pinger: bool,
    samples: Vec<u64>,
    wanted: u32,
    replied: u32,
    asked_at: u64,
}

impl PingPong {
    fn send_probe(&mut self, index: u32) {
        let mut probe = [0u8; PROBE_SIZE];
        probe[0] = MSG_PROBE;
        probe[1..5].copy_from_slice(&index.to_le_bytes());
        probe[5..9].copy_from_slice(&self.wanted.to_le_bytes());
        probe[9..17].copy_from_slice(&now().to_le_bytes());
        if let Err(e) = messaging::send(PONGER, &probe) {
            fail(e);
        }
    }

    fn send_request(&mut self) {
        self.asked_at = now();
        if let Err(e) = messaging::request(PONGER, &[MSG_ASK], 0) {
            fail(e);
        }
    }

    fn flood(&mut self, count: u32) {
        let mut retries = 0u64;
        let started = now();
        for i in 0..count {
            let message = if i + 1 == count { [MSG_LAST] } else { [MSG_FILL] };
            loop {
                match messaging::send(PONGER, &message) {
                    Ok(()) => break,
                    Err(Error::Full) => retries += 1,
                    Err(e) => return fail(e),
                }
            }
        }
        report(REC_FLOOD_SENT, &[started, now(), retries]);
    }

    fn pinger_message(&mut self, payload: &[u8]) {
        if payload.is_empty() {
            return;
        }
        if payload[0] == MSG_ACK && payload.len() >= 5 {
            let index = u32_at(payload, 1);
            return self.send_probe(index + 1);
        }
        if payload.len() < 5 {
            return;
        }
        let count = u32_at(payload, 1);
        let samples_wanted =
            if count == 0 || count as usize > MAX_SAMPLES { MAX_SAMPLES as u32 } else { count };
        match payload[0] {
            CMD_ONE_WAY => {
                self.wanted = samples_wanted;
                self.send_probe(0);
            }
            CMD_REQUEST => {
                self.wanted = samples_wanted;
                self.replied = 0;
                self.send_request();
            }
            CMD_FLOOD if count > 0 => self.flood(count),
            _ => {}
        }
    }

    fn ponger_message(&mut self, message: &Message<'_>) {
        if message.kind == MessageKind::Request {
            if let Err(e) = messaging::reply(message.correlation_id, &[]) {
                fail(e);
            }
            return;
        }
        let payload = message.payload;
        if payload.is_empty() || payload[0] == MSG_FILL {
            return;
        }
        let arrived = now();
        if payload[0] == MSG_LAST {
            report(REC_FLOOD_END, &[arrived]);
        } else if payload[0] == MSG_PROBE && payload.len() >= PROBE_SIZE {
            let index = u32_at(payload, 1);
            let count = u32_at(payload, 5);
            let mut sent = [0u8; 8];
            sent.copy_from_slice(&payload[9..17]);
            if index as usize >= MAX_SAMPLES || count as usize > MAX_SAMPLES {
                return;
            }
            self.samples[index as usize] = arrived.wrapping_sub(u64::from_le_bytes(sent));
            if index + 1 >= count {
                return report(REC_ONE_WAY, &self.samples[..count as usize]);
            }
            let mut ack = [0u8; 5];
            ack[0] = MSG_ACK;
            ack[1..5].copy_from_slice(&index.to_le_bytes());
            if let Err(e) = messaging::send(PINGER, &ack) {
                fail(e);
            }
        }
    }
}

impl Component for PingPong {
    fn init(&mut self, config: String) -> Result<(), String> {
        self.pinger = config.contains("\"pinger\"");
        self.samples = vec![0; MAX_SAMPLES];
        Ok(())
    }

    fn handle_message(&mut self, message: Message<'_>) {
        if self.pinger {
            self.pinger_message(message.payload);
        } else {
            self.ponger_message(&message);
        }
    }

    fn handle_reply(&mut self, _correlation_id: u64, reply: Result<&[u8], Error>) {
        let now = now();
        if let Err(e) = reply {
            return fail(e);
        }
        self.samples[self.replied as usize] = now - self.asked_at;
        self.replied += 1;
        if self.replied == self.wanted {
            report(REC_ROUND_TRIP, &self.samples[..self.replied as usize]);
        } else {
            self.send_request();
        }
    }
}

airssys::export_component!(PingPong);
