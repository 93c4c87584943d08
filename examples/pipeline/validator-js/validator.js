// Answers "is this order valid?" requests: a known item and a quantity from
// 1 to 100. The same behaviour as the C validator (../validator), written in
// JavaScript against the airssys world; the order format is ../protocol.h's:
//   "order <id> <item> <quantity>"   e.g. "order 7 widget 3"
import { log } from 'airssys:host/logging@0.3.0';
import { reply } from 'airssys:host/messaging@0.3.0';

const ITEMS = ['widget', 'gadget', 'gizmo'];
const MAX_ORDER = 127; // parse_order's buffer: 128 bytes with its terminating NUL
const decoder = new TextDecoder();
const encoder = new TextEncoder();

// parse_order of protocol.h, which reads "order %d %31s %d %c" and wants
// exactly three fields: the word "order" at the start, an integer, an item
// (at most 31 non-blank bytes: %31s stops there and the rest is read as the
// quantity), an integer, and nothing after it but blanks. Returns the order,
// or undefined when the text is not one.
function parseOrder(payload) {
  if (payload.length > MAX_ORDER) return undefined;
  const nul = payload.indexOf(0);
  const bytes = nul < 0 ? payload : payload.subarray(0, nul); // C stops at a NUL
  let pos = 0;
  const blank = (b) => b === 0x20 || (b >= 0x09 && b <= 0x0d);
  const skipBlanks = () => {
    while (pos < bytes.length && blank(bytes[pos])) ++pos;
  };
  const integer = () => {
    skipBlanks();
    const start = pos;
    if (pos < bytes.length && (bytes[pos] === 0x2b || bytes[pos] === 0x2d)) ++pos;
    const digits = pos;
    while (pos < bytes.length && bytes[pos] >= 0x30 && bytes[pos] <= 0x39) ++pos;
    return pos > digits ? Number(decoder.decode(bytes.subarray(start, pos))) : undefined;
  };
  const word = () => {
    skipBlanks();
    const start = pos;
    while (pos < bytes.length && pos - start < 31 && !blank(bytes[pos])) ++pos;
    return pos > start ? decoder.decode(bytes.subarray(start, pos)) : undefined;
  };
  if (decoder.decode(bytes.subarray(0, 5)) !== 'order') return undefined;
  pos = 5;
  const id = integer();
  if (id === undefined) return undefined;
  const item = word();
  if (item === undefined) return undefined;
  const quantity = integer();
  if (quantity === undefined) return undefined;
  skipBlanks();
  if (pos < bytes.length) return undefined; // %c found something more
  return { id, item, quantity };
}

function check(order) {
  if (!ITEMS.includes(order.item)) return 'rejected: unknown item';
  if (order.quantity < 1 || order.quantity > 100) return 'rejected: quantity must be 1 to 100';
  return 'ok';
}

function say(text) {
  try {
    log('info', text);
  } catch {
    // quota: the log's rate limit dropped the line
  }
}

export const handler = {
  init(config) {},

  handleMessage(message) {
    if (message.kind !== 'request') return; // only requests expect an answer
    const order = parseOrder(message.payload);
    const verdict = order === undefined ? 'rejected: not an order' : check(order);
    const about = order === undefined ? 'a message that is no order' : `order ${order.id}`;
    try {
      reply(message.correlationId, encoder.encode(verdict));
      say(`validator: ${message.sender} asked about ${about}, answered: ${verdict}`);
    } catch (e) {
      say(`validator: ${message.sender} asked about ${about}, answer not delivered: ${e?.payload?.tag ?? e}`);
    }
  },

  handleReply(correlationId, result) {},

  health() {
    return { tag: 'healthy' };
  },

  shutdown() {},
};
