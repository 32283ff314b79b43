// WebSocket (coroutines/http/websocket.ts): the frame parser over a StreamBuffer (every frame kind, masking,
// fragmentation with interleaved control frames, seeded fuzzing of random splits and of garbage, every
// protocol violation with its close code, size limits), the writer against RFC 6455 section 5.7's bytes,
// the opening handshake on both sides (the RFC's example key), the WebSocket convenience on virtual time,
// and both ends over real sockets on 127.0.0.1. Frames are built here by an independent encoder (frame()),
// so the parser is not checked only against our own writer. Cases follow Tulip's tests/http_websocket_test.py.
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLOSE_ABNORMAL, CLOSE_INVALID_DATA, CLOSE_MESSAGE_TOO_BIG, CLOSE_NO_STATUS, CLOSE_PROTOCOL_ERROR, CIMultiDict,
  BadRequestException, HttpErrorException, MSG_BINARY, MSG_CLOSE, MSG_PING, MSG_PONG, MSG_TEXT, OPCODE_BINARY, OPCODE_CLOSE,
  OPCODE_CONTINUATION, OPCODE_PING, OPCODE_PONG, OPCODE_TEXT, WebSocket, WebSocketError, WebSocketHandshakeError,
  WebSocketParser, WebSocketWriter, accept_key, apply_mask, client_handshake_headers, do_handshake, parse_frame,
  verify_handshake_response, type Message, type WebSocketParserOptions,
} from '../coroutines/http/index.js';
import {
  ParserBuffer, RuntimeError, StreamBuffer, Task, TestLoop, WriteTransport, type Parser,
} from '../src/index.js';
import { throws_a } from './support/asserts.js';
import { make_loop, register_loop_cleanup, run, test_loop_each } from './support/loops.js';
import { ws_connect, ws_server } from './support/websocket.js';

// ---- helpers ----

/** A seeded PRNG (mulberry32): the same cases on every run, and a failing seed can be replayed. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

interface FrameSpec { fin?: boolean; rsv?: number; key?: Uint8Array | null; length_bytes?: 0 | 2 | 8 }

/** Encodes one frame independently of WebSocketWriter (and can break the rules on purpose). */
function frame(opcode: number, payload: Uint8Array | string = '', spec: FrameSpec = {}): Buffer {
  const data = Buffer.from(payload);
  const n = data.length;
  const len_bytes = spec.length_bytes ?? (n < 126 ? 0 : n < 65536 ? 2 : 8);
  const head = [((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | opcode];
  const mask_bit = spec.key ? 0x80 : 0;
  if (len_bytes === 0) head.push(mask_bit | n);
  else if (len_bytes === 2) head.push(mask_bit | 126, n >> 8, n & 0xff);
  else head.push(mask_bit | 127, 0, 0, 0, 0, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  if (!spec.key) return Buffer.concat([Buffer.from(head), data]);
  const masked = Buffer.from(data.map((byte, i) => byte ^ spec.key![i % 4]!));
  return Buffer.concat([Buffer.from(head), Buffer.from(spec.key), masked]);
}

const close_payload = (code: number, reason = ''): Buffer => Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);
const KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

interface Parsed { messages: Message[]; error: unknown; eof: boolean }

/** Runs WebSocketParser over `pieces` fed one by one into a StreamBuffer (then EOF if asked). */
function parse(pieces: Uint8Array[], options?: WebSocketParserOptions, eof = false): Parsed {
  const stream = new StreamBuffer();
  const out = stream.set_parser(WebSocketParser(options));
  for (const piece of pieces) stream.feed_data(piece);
  if (eof) stream.feed_eof();
  return { messages: out._buffer.slice(out._head), error: out.exception(), eof: out._eof };
}

function parse_error(pieces: Uint8Array[], options?: WebSocketParserOptions): WebSocketError {
  const { error } = parse(pieces, options);
  assert.ok(error instanceof WebSocketError, `expected a WebSocketError, got ${String(error)}`);
  return error;
}

/** Drives a parser coroutine over pieces (Tulip's tests send bytes into parse_frame one piece at a time). */
function drive<R>(buf: ParserBuffer, p: Parser<R>, ...pieces: Uint8Array[]): R {
  let r = p.next();
  for (const piece of pieces) {
    assert.not.ok(r.done, 'finished early');
    buf.feed_data(piece);
    r = p.next();
  }
  assert.ok(r.done, 'still waiting for data');
  return r.value as R;
}

/** A transport that records what is written. */
class Capture extends WriteTransport {
  chunks: Buffer[] = [];
  closed = false;
  override write(data: Uint8Array): void {
    this.chunks.push(Buffer.from(data));
  }
  override close(): void {
    this.closed = true;
  }
  override is_closing(): boolean {
    return this.closed;
  }
  /** What was written, parsed back (unmasked frames or masked, either). */
  frames(): Message[] {
    return parse([Buffer.concat(this.chunks)]).messages;
  }
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// ---- parse_frame (Tulip's cases) ----

test('parse_frame: 7-, 16- and 64-bit lengths, zero length, masked payloads', () => {
  let buf = new ParserBuffer();
  assert.equal(drive(buf, parse_frame(buf), Buffer.from([0x01, 0x01]), Buffer.from('1')), { fin: false, opcode: 1, payload: Buffer.from('1'), compressed: false });
  buf = new ParserBuffer();
  assert.equal(drive(buf, parse_frame(buf), Buffer.from([0x01, 0x00])), { fin: false, opcode: 1, payload: Buffer.alloc(0), compressed: false });
  buf = new ParserBuffer();
  assert.equal(drive(buf, parse_frame(buf), Buffer.from([0x01, 126]), Buffer.from([0, 4]), Buffer.from('1234')).payload, Buffer.from('1234'));
  buf = new ParserBuffer();
  assert.equal(drive(buf, parse_frame(buf), Buffer.from([0x81, 127]), Buffer.from([0, 0, 0, 0, 0, 0, 0, 4]), Buffer.from('1234')), { fin: true, opcode: 1, payload: Buffer.from('1234'), compressed: false });
  buf = new ParserBuffer();
  assert.equal(drive(buf, parse_frame(buf), Buffer.from([0x01, 0x81]), Buffer.from('0001'), Buffer.from('1')).payload, Buffer.from([0x01]));
  buf = new ParserBuffer();
  assert.equal(drive(buf, parse_frame(buf), frame(OPCODE_BINARY, 'x'.repeat(300), { key: KEY })).payload, Buffer.from('x'.repeat(300)));
});

// ---- the parser over a StreamBuffer ----

test('WebSocketParser: every frame kind, one message each; the DataBuffer ends after the close message', () => {
  const bin = Buffer.from([0, 1, 2, 255]);
  const { messages, error, eof } = parse([
    frame(OPCODE_TEXT, 'héllo ✓'), frame(OPCODE_BINARY, bin), frame(OPCODE_PING, 'p'), frame(OPCODE_PONG, 'q'),
    frame(OPCODE_TEXT, ''), frame(OPCODE_BINARY, Buffer.alloc(70000, 7)), frame(OPCODE_CLOSE, close_payload(4000, 'bye ✓')),
    frame(OPCODE_TEXT, 'after the close: never parsed'),
  ]);
  assert.is(error, null);
  assert.ok(eof);
  assert.equal(messages, [
    { tp: MSG_TEXT, data: 'héllo ✓', extra: null },
    { tp: MSG_BINARY, data: bin, extra: null },
    { tp: MSG_PING, data: Buffer.from('p'), extra: null },
    { tp: MSG_PONG, data: Buffer.from('q'), extra: null },
    { tp: MSG_TEXT, data: '', extra: null },
    { tp: MSG_BINARY, data: Buffer.alloc(70000, 7), extra: null },
    { tp: MSG_CLOSE, data: 4000, extra: 'bye ✓' },
  ]);
});

test('WebSocketParser: a close frame without a code reports 1005; a BOM in text is kept', () => {
  assert.equal(parse([frame(OPCODE_CLOSE)]).messages, [{ tp: MSG_CLOSE, data: CLOSE_NO_STATUS, extra: '' }]);
  assert.is(parse([frame(OPCODE_TEXT, '\ufeffa')]).messages[0]!.data, '\ufeffa');
});

test('WebSocketParser: non-minimal length encodings are accepted', () => {
  const { messages } = parse([frame(OPCODE_TEXT, 'ab', { length_bytes: 2 }), frame(OPCODE_TEXT, 'cd', { length_bytes: 8 })]);
  assert.equal(messages.map((m) => m.data), ['ab', 'cd']);
});

test('WebSocketParser: masking is required, refused or optional as asked', () => {
  const masked = frame(OPCODE_TEXT, 'Hello', { key: KEY });
  const plain = frame(OPCODE_TEXT, 'Hello');
  assert.equal(masked, hex('81 85 37 fa 21 3d 7f 9f 4d 51 58')); // RFC 6455 section 5.7
  for (const masked_opt of [true, null, undefined]) assert.is(parse([masked], { masked: masked_opt }).messages[0]!.data, 'Hello');
  for (const masked_opt of [false, null, undefined]) assert.is(parse([plain], { masked: masked_opt }).messages[0]!.data, 'Hello');
  assert.is(parse_error([plain], { masked: true }).code, CLOSE_PROTOCOL_ERROR);
  assert.match(parse_error([masked], { masked: false }).message, /masked/);
});

test('WebSocketParser: fragments are joined; pings and pongs between them come first, in order', () => {
  const { messages, error } = parse([
    frame(OPCODE_TEXT, 'Hel', { fin: false }), frame(OPCODE_PING, '1'), frame(OPCODE_CONTINUATION, 'lo ', { fin: false }),
    frame(OPCODE_PONG, '2'), frame(OPCODE_CONTINUATION, 'world'),
    frame(OPCODE_BINARY, 'a', { fin: false }), frame(OPCODE_CONTINUATION, '', { fin: false }), frame(OPCODE_CONTINUATION, 'b'),
  ]);
  assert.is(error, null);
  assert.equal(messages.map((m) => [m.tp, String(m.data)]), [[MSG_PING, '1'], [MSG_PONG, '2'], [MSG_TEXT, 'Hello world'], [MSG_BINARY, 'ab']]);
  // RFC 6455 section 5.7: a fragmented unmasked text message.
  assert.equal(parse([hex('01 03 48 65 6c'), hex('80 02 6c 6f')]).messages, [{ tp: MSG_TEXT, data: 'Hello', extra: null }]);
});

test('WebSocketParser: a multi-byte character split between fragments; a close frame ends a fragmented message', () => {
  const euro = Buffer.from('€'); // 3 bytes
  const { messages } = parse([frame(OPCODE_TEXT, euro.subarray(0, 1), { fin: false }), frame(OPCODE_CONTINUATION, euro.subarray(1, 2), { fin: false }), frame(OPCODE_CONTINUATION, euro.subarray(2))]);
  assert.equal(messages.map((m) => m.data), ['€']);
  const closed = parse([frame(OPCODE_TEXT, 'unfinished', { fin: false }), frame(OPCODE_CLOSE, close_payload(1001))]);
  assert.equal(closed.messages, [{ tp: MSG_CLOSE, data: 1001, extra: '' }]);
  assert.ok(closed.eof);
});

test('fuzz: random splits of a stream of random frames always give the same messages (seeded)', () => {
  const rand = prng(6455);
  const alphabet = ['a', 'z', ' ', 'é', '€', '𝄞', '\n', '0'];
  for (let round = 0; round < 60; round++) {
    const masked = round % 2 === 0;
    const frames: Buffer[] = [];
    const expected: Array<[number, string]> = [];
    const key = (): Uint8Array | null => (masked ? Buffer.from([rand(256), rand(256), rand(256), rand(256)]) : null);
    for (let m = rand(8) + 1; m > 0; m--) {
      const kind = rand(4);
      if (kind === 0) {
        const data = Buffer.from(Array.from({ length: rand(130) }, () => rand(256)).slice(0, 125));
        const op = rand(2) ? OPCODE_PING : OPCODE_PONG;
        frames.push(frame(op, data, { key: key() }));
        expected.push([op, data.toString('latin1')]);
        continue;
      }
      const text = kind !== 1;
      const size = rand(10) === 0 ? 65536 + rand(2000) : rand(10) === 0 ? 126 + rand(400) : rand(126);
      const data = text ? Buffer.from(Array.from({ length: size }, () => alphabet[rand(alphabet.length)]).join('')) : Buffer.from(Array.from({ length: size }, () => rand(256)));
      // Cut the payload anywhere (also inside a character), with pings between the fragments.
      const cuts = [...new Set(Array.from({ length: rand(4) }, () => rand(data.length + 1)))].sort((a, b) => a - b);
      const bounds = [0, ...cuts, data.length];
      const interleaved: Array<[number, string]> = [];
      for (let i = 0; i + 1 < bounds.length; i++) {
        const last = i + 2 === bounds.length;
        frames.push(frame(i === 0 ? (text ? OPCODE_TEXT : OPCODE_BINARY) : OPCODE_CONTINUATION, data.subarray(bounds[i], bounds[i + 1]), { fin: last, key: key() }));
        if (!last && rand(2)) {
          frames.push(frame(OPCODE_PING, `p${i}`, { key: key() }));
          interleaved.push([MSG_PING, `p${i}`]);
        }
      }
      expected.push(...interleaved, [text ? MSG_TEXT : MSG_BINARY, text ? data.toString('utf8') : data.toString('latin1')]);
    }
    frames.push(frame(OPCODE_CLOSE, close_payload(1000 + rand(4), 'end'), { key: key() }));
    expected.push([MSG_CLOSE, '']);
    const stream = Buffer.concat(frames);
    for (let split = 0; split < 5; split++) {
      const pieces: Buffer[] = [];
      for (let at = 0; at < stream.length;) {
        const size = split === 0 ? 1 : 1 + rand(split === 1 ? 8 : 3000);
        pieces.push(stream.subarray(at, at + size));
        at += size;
      }
      const { messages, error, eof } = parse(pieces, { masked: masked ? true : false });
      assert.is(error, null, `round ${round}, split ${split}`);
      assert.ok(eof);
      const got = messages.map((m): [number, string] => [m.tp, m.tp === MSG_CLOSE ? '' : typeof m.data === 'string' ? m.data : (m.data as Buffer).toString('latin1')]);
      assert.equal(got, expected, `round ${round}, split ${split}`);
    }
  }
});

test('Message is discriminated on tp: the data type follows the message type (checked by tsc)', () => {
  const describe = (m: Message): string => {
    if (m.tp === MSG_TEXT) return m.data.toUpperCase();
    if (m.tp === MSG_CLOSE) return `close ${m.data + 0} ${m.extra.length}`;
    // @ts-expect-error binary data is a Buffer, not a string
    if (m.tp === MSG_BINARY) return m.data.toUpperCase();
    return m.data.toString('hex');
  };
  assert.is(describe({ tp: MSG_TEXT, data: 'a', extra: null }), 'A');
  assert.is(describe({ tp: MSG_CLOSE, data: 1000, extra: '' }), 'close 1000 0');
  assert.is(describe({ tp: MSG_PING, data: Buffer.from([1]), extra: null }), '01');
});

// ---- protocol violations: each a WebSocketError with its close code, never a hang ----

const VIOLATIONS: Array<[string, Buffer[], number, WebSocketParserOptions?]> = [
  ['RSV1 set', [frame(OPCODE_TEXT, 'a', { rsv: 4 })], CLOSE_PROTOCOL_ERROR],
  ['RSV2 set', [frame(OPCODE_TEXT, 'a', { rsv: 2 })], CLOSE_PROTOCOL_ERROR],
  ['RSV3 set', [frame(OPCODE_TEXT, 'a', { rsv: 1 })], CLOSE_PROTOCOL_ERROR],
  ['reserved data opcode 3', [frame(3, 'a')], CLOSE_PROTOCOL_ERROR],
  ['reserved control opcode 0xB', [frame(0xb, 'a')], CLOSE_PROTOCOL_ERROR],
  ['fragmented ping', [frame(OPCODE_PING, 'a', { fin: false })], CLOSE_PROTOCOL_ERROR],
  ['control frame of 126 bytes', [frame(OPCODE_PING, Buffer.alloc(126))], CLOSE_PROTOCOL_ERROR],
  ['continuation with nothing to continue', [frame(OPCODE_CONTINUATION, 'a')], CLOSE_PROTOCOL_ERROR],
  ['a new message inside a fragmented one', [frame(OPCODE_TEXT, 'a', { fin: false }), frame(OPCODE_BINARY, 'b')], CLOSE_PROTOCOL_ERROR],
  ['64-bit length with its top bit set', [hex('82 7f 80 00 00 00 00 00 00 01')], CLOSE_PROTOCOL_ERROR],
  ['close frame of 1 byte', [frame(OPCODE_CLOSE, Buffer.from([3]))], CLOSE_PROTOCOL_ERROR],
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535].map((code): [string, Buffer[], number] => [`close code ${code}`, [frame(OPCODE_CLOSE, close_payload(code))], CLOSE_PROTOCOL_ERROR]),
  ['text not UTF-8', [frame(OPCODE_TEXT, hex('c3 28'))], CLOSE_INVALID_DATA],
  ['text with a surrogate encoded', [frame(OPCODE_TEXT, hex('ed a0 80'))], CLOSE_INVALID_DATA],
  ['text ending inside a character', [frame(OPCODE_TEXT, hex('e2 82'), { fin: false }), frame(OPCODE_CONTINUATION, '')], CLOSE_INVALID_DATA],
  ['close reason not UTF-8', [frame(OPCODE_CLOSE, Buffer.concat([close_payload(1000), hex('ff')]))], CLOSE_INVALID_DATA],
  ['a frame over max_size', [frame(OPCODE_BINARY, Buffer.alloc(11))], CLOSE_MESSAGE_TOO_BIG, { max_size: 10 }],
  ['fragments over max_size', [frame(OPCODE_TEXT, 'abcdef', { fin: false }), frame(OPCODE_CONTINUATION, 'ghijk')], CLOSE_MESSAGE_TOO_BIG, { max_size: 10 }],
  ['a 2^53-byte frame by default', [hex('82 7f 00 20 00 00 00 00 00 00')], CLOSE_MESSAGE_TOO_BIG],
];

for (const [name, frames, code, options] of VIOLATIONS) {
  test(`violation: ${name} → ${code}`, () => {
    // A valid message first: it is delivered, then the error ends the stream.
    const { messages, error } = parse([frame(OPCODE_TEXT, 'ok'), ...frames], options);
    assert.equal(messages.map((m) => m.data), ['ok']);
    assert.ok(error instanceof WebSocketError, `expected a WebSocketError, got ${String(error)}`);
    assert.is(error.code, code, error.message);
  });
}

test('violations are caught as early as they can be known', () => {
  // Invalid UTF-8 in the first fragment fails before the rest of the message arrives.
  assert.is(parse_error([frame(OPCODE_TEXT, hex('61 ff'), { fin: false })]).code, CLOSE_INVALID_DATA);
  // A header announcing too much fails before any of the payload (never buffered).
  assert.is(parse_error([hex('82 7f 00 00 00 00 10 00 00 00')], { max_size: 1 << 20 }).code, CLOSE_MESSAGE_TOO_BIG);
  // The RSV bits are checked from the first two bytes alone.
  assert.is(parse_error([Buffer.from([0xc1, 0x7f])]).code, CLOSE_PROTOCOL_ERROR);
});

test('valid close codes pass; max_size null lifts the limit; options are checked', () => {
  for (const code of [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999]) assert.is(parse([frame(OPCODE_CLOSE, close_payload(code))]).messages[0]!.data, code);
  assert.is((parse([frame(OPCODE_BINARY, Buffer.alloc(5 << 20))], { max_size: null }).messages[0]!.data as Buffer).length, 5 << 20);
  assert.is(parse_error([frame(OPCODE_BINARY, Buffer.alloc((4 << 20) + 1))]).code, CLOSE_MESSAGE_TOO_BIG); // the 4 MiB default
  throws_a(() => WebSocketParser({ max_size: -1 }), RangeError);
  throws_a(() => WebSocketParser({ masked: 'yes' as unknown as boolean }), TypeError);
});

test('truncated input then EOF ends the messages cleanly; random garbage gives WebSocketErrors only (seeded)', () => {
  const whole = Buffer.concat([frame(OPCODE_TEXT, 'first'), frame(OPCODE_BINARY, Buffer.alloc(300, 1), { key: KEY })]);
  for (let cut = 0; cut < whole.length; cut++) {
    const { messages, error, eof } = parse([whole.subarray(0, cut)], {}, true);
    assert.is(error, null);
    assert.ok(eof);
    assert.is(messages.length, cut >= 7 ? 1 : 0);
  }
  const rand = prng(1007);
  let errors = 0;
  for (let round = 0; round < 500; round++) {
    const junk = Buffer.from(Array.from({ length: 1 + rand(200) }, () => rand(256)));
    const { error, eof } = parse([junk], { masked: [true, false, null][round % 3]!, max_size: 1000 }, true);
    assert.ok(error === null ? eof : error instanceof WebSocketError, `round ${round}: ${String(error)}`);
    if (error) errors++;
  }
  assert.ok(errors > 250, `only ${errors} of 500 garbage inputs were refused`);
});

// ---- the writer ----

test('WebSocketWriter: RFC 6455 section 5.7 examples, byte for byte, one write per frame', () => {
  const t = new Capture();
  const server = new WebSocketWriter(t);
  server.send('Hello');
  server.send_frame(OPCODE_TEXT, Buffer.from('Hel'), false);
  server.send_frame(OPCODE_CONTINUATION, Buffer.from('lo'));
  server.ping('Hello');
  assert.equal(t.chunks, [hex('81 05 48 65 6c 6c 6f'), hex('01 03 48 65 6c'), hex('80 02 6c 6f'), hex('89 05 48 65 6c 6c 6f')]);
  const c = new Capture();
  const client = new WebSocketWriter(c, { mask: true, random: () => KEY });
  client.send('Hello');
  client.pong('Hello');
  assert.equal(c.chunks, [hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58')]);
  const b = new Capture();
  new WebSocketWriter(b).send(Buffer.alloc(256, 0xaa), true);
  new WebSocketWriter(b).send(Buffer.alloc(65536, 0xbb), true);
  assert.equal(b.chunks[0]!.subarray(0, 4), hex('82 7e 01 00'));
  assert.is(b.chunks[0]!.length, 4 + 256);
  assert.equal(b.chunks[1]!.subarray(0, 10), hex('82 7f 00 00 00 00 00 01 00 00'));
  assert.is(b.chunks[1]!.length, 10 + 65536);
});

test('WebSocketWriter: close frames; what the parser reads back, masked with random keys, at every length class', () => {
  const t = new Capture();
  const w = new WebSocketWriter(t, { mask: true });
  w.close();
  w.close(4001, 'gone ✓');
  w.close(1001, 'x'.repeat(123));
  assert.equal(t.frames(), [{ tp: MSG_CLOSE, data: 1000, extra: '' }]); // the parser stops at the first close
  assert.equal(parse([t.chunks[1]!]).messages, [{ tp: MSG_CLOSE, data: 4001, extra: 'gone ✓' }]);
  const keys = new Set(t.chunks.map((c) => c.subarray(2, 6).toString('hex')));
  assert.is(keys.size, 3, 'a fresh masking key per frame');
  for (const size of [0, 1, 125, 126, 65535, 65536, 1 << 20]) {
    const c = new Capture();
    const data = Buffer.from(Array.from({ length: size }, (_, i) => (i * 31) & 0xff));
    new WebSocketWriter(c, { mask: true }).send(data, true);
    assert.is(c.chunks.length, 1);
    assert.ok((parse(c.chunks, { masked: true }).messages[0]!.data as Buffer).equals(data), `size ${size}`);
  }
});

test('WebSocketWriter: bad arguments are clear errors, nothing written', () => {
  const t = new Capture();
  const w = new WebSocketWriter(t);
  throws_a(() => w.ping(Buffer.alloc(126)), RangeError, /125/);
  throws_a(() => w.send_frame(OPCODE_PING, Buffer.alloc(1), false), RangeError);
  throws_a(() => w.close(1005), RangeError);
  throws_a(() => w.close(999), RangeError);
  throws_a(() => w.close(1000, 'é'.repeat(62)), RangeError, /123/);
  throws_a(() => w.send(hex('ff fe')), RangeError, /binary/);
  throws_a(() => w.send(42 as unknown as string), TypeError);
  assert.is(t.chunks.length, 0);
  w.send(hex('ff fe'), true);
  assert.equal(t.chunks, [hex('82 02 ff fe')]);
});

test('apply_mask: the word loop agrees with the byte loop at every length and alignment', () => {
  for (let n = 0; n < 80; n++) {
    for (let offset = 0; offset < 4; offset++) {
      const data = Buffer.alloc(n + offset).subarray(offset);
      for (let i = 0; i < n; i++) data[i] = (i * 13 + 5) & 0xff;
      const expected = Buffer.from(data.map((byte, i) => byte ^ KEY[i % 4]!));
      apply_mask(data, KEY);
      assert.equal(data, expected, `n ${n} offset ${offset}`);
    }
  }
});

// ---- the opening handshake ----

const request = (headers: Record<string, string>, method = 'GET', version: [number, number] = [1, 1]) => ({ method, version, headers: new CIMultiDict(headers) });
const GOOD = { Upgrade: 'websocket', Connection: 'keep-alive, Upgrade', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' };

test("handshake: the RFC's example key; do_handshake's 101 headers, parser and writer", () => {
  assert.is(accept_key('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  const t = new Capture();
  const hs = do_handshake(request(GOOD), t);
  assert.is(hs.status, 101);
  assert.equal(hs.headers, [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Accept', 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=']]);
  assert.is(hs.protocol, null);
  assert.is(hs.writer.transport, t);
  assert.not.ok(hs.writer.mask);
  const stream = new StreamBuffer();
  const out = stream.set_parser(hs.parser);
  stream.feed_data(frame(OPCODE_TEXT, 'unmasked'));
  assert.is((out.exception() as WebSocketError).code, CLOSE_PROTOCOL_ERROR, 'the server requires masked frames');
});

test('handshake: subprotocols — the client’s first one the server speaks', () => {
  const t = new Capture();
  const hs = do_handshake(request({ ...GOOD, 'Sec-WebSocket-Protocol': 'v2.chat, v1.chat' }), t, { protocols: ['v1.chat', 'v2.chat'] });
  assert.is(hs.protocol, 'v2.chat');
  assert.equal(hs.headers.at(-1), ['Sec-WebSocket-Protocol', 'v2.chat']);
  assert.is(do_handshake(request({ ...GOOD, 'Sec-WebSocket-Protocol': 'other' }), t, { protocols: ['v1.chat'] }).protocol, null);
});

test('handshake: a request that is not a valid upgrade is an HttpException with the right status', () => {
  const t = new Capture();
  const status_of = (req: ReturnType<typeof request>): [number, Array<readonly [string, string]>] => {
    try {
      do_handshake(req, t);
    } catch (e) {
      assert.ok(e instanceof HttpErrorException || e instanceof BadRequestException, String(e));
      return [e.code, [...e.headers]];
    }
    throw new Error('no error');
  };
  assert.equal(status_of(request(GOOD, 'POST')), [405, [['Allow', 'GET']]]);
  assert.equal(status_of(request(GOOD, 'GET', [1, 0]))[0], 400);
  assert.equal(status_of(request({ ...GOOD, Upgrade: 'h2c' }))[0], 400);
  assert.equal(status_of(request({ ...GOOD, Connection: 'keep-alive' }))[0], 400);
  assert.equal(status_of(request({ ...GOOD, 'Sec-WebSocket-Version': '8' })), [426, [['Sec-WebSocket-Version', '13']]]);
  const { 'Sec-WebSocket-Version': _, ...no_version } = GOOD;
  assert.equal(status_of(request(no_version))[0], 426);
  assert.equal(status_of({ method: 'GET', version: [1, 1], headers: new CIMultiDict([...Object.entries(GOOD), ['Sec-WebSocket-Version', '8']]) })[0], 426, 'two versions');
  for (const key of ['', 'c2hvcnQ=', 'dGhlIHNhbXBsZSBub25jZQ', 'dGhlIHNhbXBsZSBub25jZQ==x', '!!!!!!!!!!!!!!!!!!!!!!==', 'dGhlIHNhbXBsZSBub25jZR==']) {
    assert.equal(status_of(request({ ...GOOD, 'Sec-WebSocket-Key': key }))[0], 400, key);
  }
});

test('client handshake: fresh keys and headers; the response is verified', () => {
  const { key, headers } = client_handshake_headers(['chat']);
  assert.is(Buffer.from(key, 'base64').length, 16);
  assert.is.not(client_handshake_headers().key, key);
  assert.equal(headers, [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Key', key], ['Sec-WebSocket-Protocol', 'chat']]);
  // Our server's answer passes our client's check.
  const hs = do_handshake({ method: 'GET', headers: new CIMultiDict(headers) }, new Capture(), { protocols: ['chat'] });
  assert.is(verify_handshake_response({ code: 101, headers: new CIMultiDict(hs.headers) }, key, ['chat']), 'chat');
  assert.is(verify_handshake_response({ status: 101, headers: new CIMultiDict(hs.headers.slice(0, 3)) }, key), null);
  const fails = (status: number, h: Array<[string, string]>, why: RegExp, protocols?: string[]): void => {
    const e = throws_a(() => verify_handshake_response({ code: status, headers: new CIMultiDict(h) }, key, protocols), WebSocketHandshakeError, why) as WebSocketHandshakeError;
    assert.is(e.status, status);
  };
  fails(200, hs.headers, /200/);
  fails(101, hs.headers.filter(([n]) => n !== 'Upgrade'), /Upgrade/);
  fails(101, hs.headers.filter(([n]) => n !== 'Connection'), /Connection/);
  fails(101, [...hs.headers.slice(0, 2), ['Sec-WebSocket-Accept', accept_key('dGhlIHNhbXBsZSBub25jZQ==')]], /Accept/);
  fails(101, [...hs.headers, ['Sec-WebSocket-Extensions', 'permessage-deflate']], /extensions/);
  fails(101, hs.headers, /subprotocol/, ['other']);
});

// ---- the WebSocket convenience, on virtual time ----

function pair(loop: TestLoop, options: WebSocketParserOptions = {}): { stream: StreamBuffer; t: Capture; ws: WebSocket } {
  const stream = new StreamBuffer();
  const t = new Capture();
  const ws = new WebSocket(stream.set_parser(WebSocketParser(options), { loop }), new WebSocketWriter(t), { loop, protocol: 'chat' });
  return { stream, t, ws };
}

// These run on a TestLoop (virtual time: close_timeout passes at once), the current loop during each test.
const virtual = suite('WebSocket on virtual time');
let loop: TestLoop;
test_loop_each(virtual, (l) => (loop = l), { current: true });

virtual('WebSocket.receive: pings answered with their data, pongs dropped; the peer’s close answered, then null', () => {
  const { stream, t, ws } = pair(loop);
  assert.is(ws.protocol, 'chat');
  stream.feed_data(Buffer.concat([frame(OPCODE_PING, 'are you there'), frame(OPCODE_PONG, 'x'), frame(OPCODE_TEXT, 'hi')]));
  assert.equal(loop.run_until_complete(ws.receive()), { tp: MSG_TEXT, data: 'hi', extra: null });
  assert.equal(t.frames(), [{ tp: MSG_PONG, data: Buffer.from('are you there'), extra: null }]);
  ws.send('back');
  stream.feed_data(frame(OPCODE_CLOSE, close_payload(4002, 'done')));
  assert.equal(loop.run_until_complete(ws.receive()), { tp: MSG_CLOSE, data: 4002, extra: 'done' });
  assert.ok(ws.closed && t.closed);
  assert.equal([ws.close_code, ws.close_reason], [4002, 'done']);
  assert.equal(parse([Buffer.concat(t.chunks.slice(1))]).messages.map((m) => m.data), ['back', 4002]); // echoed code
  assert.is(loop.run_until_complete(ws.receive()), null);
  throws_a(() => ws.send('late'), RuntimeError, /closed/);
  loop.run_until_complete(ws.close()); // nothing left to do
  assert.is(t.chunks.length, 3);
});

virtual('WebSocket.close: the closing handshake; data still arriving is dropped; the peer’s code is kept', () => {
  const { stream, t, ws } = pair(loop);
  const closing = new Task(ws.close(1001, 'going'), { loop });
  loop.run_once();
  assert.equal(t.frames(), [{ tp: MSG_CLOSE, data: 1001, extra: 'going' }]);
  assert.ok(ws.closing && !ws.closed);
  throws_a(() => ws.ping(), RuntimeError, /closing/);
  stream.feed_data(Buffer.concat([frame(OPCODE_TEXT, 'in flight'), frame(OPCODE_PING), frame(OPCODE_CLOSE, close_payload(1001))]));
  loop.run_until_complete(closing);
  assert.ok(ws.closed && t.closed);
  assert.is(ws.close_code, 1001);
  assert.is(t.chunks.length, 1, 'no pong and no second close after ours');
});

virtual('WebSocket.close: a peer that never answers is given close_timeout seconds', () => {
  const { t, ws } = pair(loop);
  loop.run_until_complete(ws.close());
  assert.is(loop.time(), 10);
  assert.ok(ws.closed && t.closed);
  assert.is(ws.close_code, CLOSE_ABNORMAL);
});

virtual('WebSocket.close while another coroutine is in receive(): that one sees the close, close() returns', () => {
  const { stream, t, ws } = pair(loop);
  const got: unknown[] = [];
  const reader = new Task((function* () {
    for (let m = yield* ws.receive(); m !== null; m = yield* ws.receive()) got.push(m.data);
  })(), { loop });
  loop.run_once();
  const closing = new Task(ws.close(4000), { loop });
  loop.run_once();
  stream.feed_data(Buffer.concat([frame(OPCODE_TEXT, 'last words'), frame(OPCODE_CLOSE, close_payload(4000))]));
  loop.run_until_complete(closing);
  loop.run_until_complete(reader);
  assert.equal(got, ['last words', 4000]);
  assert.ok(t.closed);
  assert.is(loop.time(), 0, 'no timeout was needed');
});

virtual('WebSocket.receive: a protocol error is answered with its close code and raised; EOF without a close is 1006', () => {
  const a = pair(loop, { masked: true });
  a.stream.feed_data(frame(OPCODE_TEXT, 'not masked'));
  let err: unknown;
  try {
    loop.run_until_complete(a.ws.receive());
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof WebSocketError && err.code === CLOSE_PROTOCOL_ERROR, String(err));
  assert.equal(a.t.frames().map((m) => m.data), [CLOSE_PROTOCOL_ERROR]);
  assert.ok(a.ws.closed && a.t.closed);
  assert.is(a.ws.close_code, CLOSE_PROTOCOL_ERROR);
  const b = pair(loop);
  b.stream.feed_data(frame(OPCODE_TEXT, 'partial', { fin: false }));
  b.stream.feed_eof();
  assert.is(loop.run_until_complete(b.ws.receive()), null);
  assert.is(b.ws.close_code, CLOSE_ABNORMAL);
  assert.ok(b.t.closed);
  assert.is(b.t.chunks.length, 0);
});

virtual('WebSocket.ping: its future completes with the pong (and so do earlier pings); cancelled when the connection ends', () => {
  const { stream, t, ws } = pair(loop);
  const first = ws.ping('one');
  const second = ws.ping();
  const third = ws.ping('three');
  const sent = t.frames();
  assert.equal(sent.map((m) => m.tp), [MSG_PING, MSG_PING, MSG_PING]);
  assert.is((sent[1]!.data as Buffer).length, 4, 'a random payload when none is given');
  stream.feed_data(Buffer.concat([frame(OPCODE_PONG, 'unsolicited'), frame(OPCODE_PONG, sent[1]!.data as Buffer), frame(OPCODE_TEXT, 'x')]));
  assert.is(loop.run_until_complete(ws.receive())!.data, 'x');
  assert.ok(first.done() && second.done() && !third.done());
  stream.feed_eof();
  assert.is(loop.run_until_complete(ws.receive()), null);
  assert.ok(third.cancelled());
});

// ---- both ends over real sockets on 127.0.0.1, the handshake through protocol.ts ----

const e2e = suite('end to end');
register_loop_cleanup(e2e);

e2e('our client and our server: text, binary, fragments, ping, and a close from the client', () => {
  const loop = make_loop();
  run(loop, (function* () {
    const { port, server, accepted } = yield* ws_server(loop);
    const client = yield* ws_connect(loop, port, ['chat', 'other']);
    const srv = yield* accepted();
    assert.is(client.protocol, 'chat');
    assert.is(srv.protocol, 'chat');
    // An echo server: every message back; stops at the close.
    const echo = new Task((function* () {
      for (let m = yield* srv.receive(); m !== null && m.tp !== MSG_CLOSE; m = yield* srv.receive()) {
        if (m.tp === MSG_TEXT) srv.send(m.data);
        else srv.send(m.data, true);
      }
    })());
    client.send('héllo');
    assert.equal(yield* client.receive(), { tp: MSG_TEXT, data: 'héllo', extra: null });
    const big = Buffer.alloc(3 << 20).map((_, i) => (i * 7) & 0xff);
    client.send(big, true);
    assert.ok(((yield* client.receive())!.data as Buffer).equals(big));
    // A message in fragments from the writer's low level, a ping between them.
    client.writer.send_frame(OPCODE_TEXT, Buffer.from('frag'), false);
    const pinged = client.ping('between');
    client.writer.send_frame(OPCODE_CONTINUATION, Buffer.from('ments'));
    assert.is((yield* client.receive())!.data, 'fragments');
    assert.ok(pinged.done(), 'the server answered the ping before the echo');
    const t0 = loop.time();
    yield* client.close(4000, 'bye');
    assert.ok(loop.time() - t0 < 1, 'the server answered the close at once');
    yield* echo;
    assert.equal([srv.close_code, srv.close_reason, client.close_code], [4000, 'bye', 4000]);
    assert.ok(srv.closed && client.closed);
    server.close();
  })());
});

e2e('the server closes: the client receives the close message; a protocol violation is answered with 1002', () => {
  const loop = make_loop();
  run(loop, (function* () {
    const { port, server, accepted } = yield* ws_server(loop);
    const client = yield* ws_connect(loop, port);
    const srv = yield* accepted();
    assert.is(client.protocol, null);
    const closing = new Task(srv.close(1001, 'going away'));
    assert.equal(yield* client.receive(), { tp: MSG_CLOSE, data: 1001, extra: 'going away' });
    yield* closing;
    assert.is(srv.close_code, 1001, 'our client echoed the code');
    assert.is(yield* client.receive(), null);

    const bad = yield* ws_connect(loop, port);
    const srv2 = yield* accepted();
    bad.writer.transport.write(frame(OPCODE_TEXT, 'not masked'));
    let err: unknown;
    try {
      yield* srv2.receive();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof WebSocketError && err.code === CLOSE_PROTOCOL_ERROR, String(err));
    const answer = yield* bad.receive();
    assert.is(answer!.tp, MSG_CLOSE);
    assert.is(answer!.data, CLOSE_PROTOCOL_ERROR);
    assert.match(answer!.extra as string, /unmasked/);
    server.close();
  })());
});

e2e('a refused handshake: 426 with Sec-WebSocket-Version: 13, seen by the client as WebSocketHandshakeError', () => {
  const loop = make_loop();
  run(loop, (function* () {
    const { port, server, accepted } = yield* ws_server(loop);
    let err: unknown;
    try {
      yield* ws_connect(loop, port, undefined, [['Sec-WebSocket-Version', '8']]);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof WebSocketHandshakeError, String(err));
    assert.is(err.status, 426);
    let server_err: unknown;
    try {
      yield* accepted();
    } catch (e) {
      server_err = e;
    }
    assert.ok(server_err instanceof HttpErrorException && server_err.code === 426, String(server_err));
    server.close();
  })());
});

test.run();
virtual.run();
e2e.run();
