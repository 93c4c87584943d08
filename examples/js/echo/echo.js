// Answers every request with its own payload, logs each message, and counts
// the messages in its key-value state (key `echo:count`, decimal text), so
// the count carries on across restarts.
import { log } from 'airssys:host/logging@0.3.0';
import { reply } from 'airssys:host/messaging@0.3.0';
import { get, set } from 'airssys:host/kv@0.3.0';

const COUNT_KEY = 'echo:count';
const decoder = new TextDecoder();
const encoder = new TextEncoder();

// A refused host call throws an Error whose `payload` is the WIT error, e.g.
// { tag: 'denied' }.
function why(e) {
  return e?.payload?.tag ?? String(e);
}

// A line the log's rate limit drops is not worth failing a message for.
function say(level, text) {
  try {
    log(level, text);
  } catch {
    // quota: the line is dropped
  }
}

function count() {
  try {
    const stored = get(COUNT_KEY);
    const next = (stored === undefined ? 0 : Number(decoder.decode(stored))) + 1;
    set(COUNT_KEY, encoder.encode(String(next)));
    return next;
  } catch (e) {
    say('warn', `message not counted: ${why(e)}`);
    return undefined;
  }
}

export const handler = {
  init(config) {
    say('info', `echo ready, config ${config}`);
  },

  handleMessage(message) {
    const n = count();
    const text = decoder.decode(message.payload);
    const topic = message.topic === undefined ? '' : ` on ${message.topic}`;
    say('info', `#${n ?? '?'} ${message.kind} from ${message.sender}${topic}: ${text}`);
    if (message.kind !== 'request') return;
    try {
      reply(message.correlationId, message.payload);
    } catch (e) {
      say('warn', `reply to ${message.sender} not delivered: ${why(e)}`);
    }
  },

  handleReply(correlationId, result) {
    // echo makes no requests; a reply here is the host's mistake
    say('warn', `unexpected reply ${correlationId}: ${result.tag}`);
  },

  health() {
    return { tag: 'healthy' };
  },

  shutdown() {
    say('info', 'echo stopping');
  },
};
