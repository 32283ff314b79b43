// permessage-deflate (coroutines/http/ws_deflate.ts and its use in websocket.ts): the bytes of RFC 7692's
// examples both ways, context takeover and its absence, the negotiation on both sides, the parser's rules
// (RSV1 only where it may be, corrupt data, a small frame that inflates past max_size), and both ends of
// our own over real sockets. Interop with the `ws` package is in http_websocket_interop.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deflateRawSync } from 'node:zlib';
import {
  CLIENT_DEFLATE_OFFER, CLOSE_MESSAGE_TOO_BIG, CLOSE_PROTOCOL_ERROR, CIMultiDict, MSG_BINARY, MSG_TEXT, PerMessageDeflate,
  WebSocketError, WebSocketParser, WebSocketWriter, accept_deflate_offer, accept_deflate_response, do_handshake, ws_connect,
  type DeflateParams, type Message, type WebSocketParserOptions,
} from '../coroutines/http/index.js';
import { StreamBuffer, Task, WriteTransport } from '../src/index.js';
import { make_loop, register_loop_cleanup, run } from './support/loops.js';
import { ws_server } from './support/websocket.js';

register_loop_cleanup();

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const DEFAULTS: DeflateParams = { server_no_context_takeover: false, client_no_context_takeover: false, server_max_window_bits: null, client_max_window_bits: null };
const deflate = (params: Partial<DeflateParams> = {}, server_side = true) => new PerMessageDeflate({ ...DEFAULTS, ...params }, server_side, { threshold: 0 });

class Capture extends WriteTransport {
  chunks: Buffer[] = [];
  override write(data: Uint8Array): void {
    this.chunks.push(Buffer.from(data));
  }
  take(): Buffer {
    return Buffer.concat(this.chunks.splice(0));
  }
}

function parse(pieces: Uint8Array[], options: WebSocketParserOptions): { messages: Message[]; error: unknown } {
  const stream = new StreamBuffer();
  const out = stream.set_parser(WebSocketParser(options));
  for (const piece of pieces) stream.feed_data(piece);
  return { messages: out._buffer.slice(out._head), error: out.exception() };
}

function parse_error(pieces: Uint8Array[], options: WebSocketParserOptions): WebSocketError {
  const { error } = parse(pieces, options);
  assert.instance(error, WebSocketError);
  return error as WebSocketError;
}

test('RFC 7692 7.2.3.1-2: "Hello" compressed, then again with the window it left (context takeover)', () => {
  const t = new Capture();
  const w = new WebSocketWriter(t, { deflate: deflate() });
  w.send('Hello');
  assert.equal(t.take(), hex('c1 07 f2 48 cd c9 c9 07 00'));
  w.send('Hello');
  assert.equal(t.take(), hex('c1 05 f2 00 11 00 00'));
  w.deflate!.close();
});

test('without context takeover each message is compressed on its own', () => {
  const t = new Capture();
  const w = new WebSocketWriter(t, { deflate: deflate({ server_no_context_takeover: true }) });
  w.send('Hello');
  w.send('Hello');
  assert.equal(t.take(), hex('c1 07 f2 48 cd c9 c9 07 00 c1 07 f2 48 cd c9 c9 07 00'));
  // The client's side follows client_no_context_takeover instead.
  const c = new WebSocketWriter(t, { deflate: deflate({ server_no_context_takeover: true }, false) });
  c.send('Hello');
  c.send('Hello');
  assert.equal(t.take(), hex('c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00'));
});

test('the parser inflates RFC 7692\'s frames: whole, fragmented, and two messages sharing a window', () => {
  const opts = { deflate: deflate() };
  const { messages, error } = parse([
    hex('c1 07 f2 48 cd c9 c9 07 00'),
    hex('41 03 f2 48 cd'), hex('80 04 c9 c9 07 00'),
    hex('c1 05 f2 00 11 00 00'),
  ], opts);
  assert.is(error, null);
  assert.equal(messages.map((m) => m.data), ['Hello', 'Hello', 'Hello']);
  // An uncompressed message (RSV1 clear) is fine too, and so is a compressed binary one.
  const big = Buffer.alloc(100_000, 'tulip ');
  const z = deflateRawSync(big, { finishFlush: 2 /* Z_SYNC_FLUSH */ }).subarray(0, -4);
  const head = Buffer.from([0xc2, 126, z.length >> 8, z.length & 0xff]);
  const more = parse([hex('81 02 68 69'), Buffer.concat([head, z])], { deflate: deflate() });
  assert.equal(more.messages.map((m) => m.tp), [MSG_TEXT, MSG_BINARY]);
  assert.equal(more.messages[1]!.data, big);
});

test('RSV1 where it may not be, or data that does not inflate, is a protocol error; an inflating bomb is 1009', () => {
  assert.is(parse_error([hex('c1 07 f2 48 cd c9 c9 07 00')], {}).code, CLOSE_PROTOCOL_ERROR, 'RSV1 without the extension');
  assert.is(parse_error([hex('01 01 61'), hex('c0 01 00')], { deflate: deflate() }).code, CLOSE_PROTOCOL_ERROR, 'RSV1 on a continuation');
  assert.is(parse_error([hex('c9 00')], { deflate: deflate() }).code, CLOSE_PROTOCOL_ERROR, 'RSV1 on a ping');
  assert.is(parse_error([hex('a1 00')], { deflate: deflate() }).code, CLOSE_PROTOCOL_ERROR, 'RSV2 is never ours');
  const garbage = parse_error([hex('c1 04 ff ff ff ff')], { deflate: deflate() });
  assert.is(garbage.code, CLOSE_PROTOCOL_ERROR);
  assert.match(garbage.message, /does not decompress/);
  const zeros = deflateRawSync(Buffer.alloc(1 << 20), { finishFlush: 2 }).subarray(0, -4); // 1 MiB in ~1 KiB
  const bomb = Buffer.concat([Buffer.from([0xc2, 126, zeros.length >> 8, zeros.length & 0xff]), zeros]);
  const e = parse_error([bomb], { deflate: deflate(), max_size: 65536 });
  assert.is(e.code, CLOSE_MESSAGE_TOO_BIG);
  assert.match(e.message, /decompresses to more than the 65536 bytes allowed/);
});

test('server negotiation: the first offer it can honour, its parameters answered', () => {
  const accept = (...values: string[]) => accept_deflate_offer(values)?.[0] ?? null;
  assert.is(accept('permessage-deflate'), 'permessage-deflate');
  assert.is(accept(CLIENT_DEFLATE_OFFER), 'permessage-deflate');
  assert.is(accept('permessage-deflate; server_no_context_takeover; client_no_context_takeover'), 'permessage-deflate; server_no_context_takeover');
  assert.is(accept('permessage-deflate; server_max_window_bits=10'), 'permessage-deflate; server_max_window_bits=10');
  assert.is(accept('permessage-deflate; server_max_window_bits="12"'), 'permessage-deflate; server_max_window_bits=12');
  assert.is(accept('permessage-deflate; server_max_window_bits=8, permessage-deflate'), 'permessage-deflate', '8 bits declined, the fallback taken');
  assert.is(accept('permessage-deflate; foo'), null);
  assert.is(accept('permessage-deflate; server_no_context_takeover; server_no_context_takeover'), null, 'a parameter twice');
  assert.is(accept('permessage-deflate; client_max_window_bits=abc'), null);
  assert.is(accept('permessage-deflate; server_max_window_bits'), null, 'the value is required');
  assert.is(accept('x-webkit-deflate-frame'), null);
  assert.is(accept(), null);
  const [answer, params] = accept_deflate_offer(['permessage-deflate'], { client_no_context_takeover: true, server_no_context_takeover: true })!;
  assert.is(answer, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  assert.equal(params, { ...DEFAULTS, server_no_context_takeover: true, client_no_context_takeover: true });
});

test('client negotiation: the server\'s answer is checked', () => {
  assert.is(accept_deflate_response([]), null);
  assert.equal(accept_deflate_response(['permessage-deflate; client_max_window_bits=10; server_no_context_takeover']),
    { ...DEFAULTS, client_max_window_bits: 10, server_no_context_takeover: true });
  assert.throws(() => accept_deflate_response(['x-other']), /did not offer/);
  assert.throws(() => accept_deflate_response(['permessage-deflate, permessage-deflate']), /did not offer/);
  assert.throws(() => accept_deflate_response(['permessage-deflate; foo=1']), /foo=1, which we did not offer/);
  assert.throws(() => accept_deflate_response(['permessage-deflate; client_max_window_bits=8']), /zlib cannot produce/);
  assert.throws(() => accept_deflate_response(['permessage-deflate; server_no_context_takeover; server_no_context_takeover']), /twice/);
});

test('do_handshake answers an offer (unless compress: false); the parser and writer share the agreed state', () => {
  const headers = new CIMultiDict([
    ['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Version', '13'],
    ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Extensions', CLIENT_DEFLATE_OFFER],
  ]);
  const t = new Capture();
  const hs = do_handshake({ method: 'GET', headers }, t);
  assert.equal(hs.headers.find(([n]) => n === 'Sec-WebSocket-Extensions'), ['Sec-WebSocket-Extensions', 'permessage-deflate']);
  assert.ok(hs.deflate !== null && hs.writer.deflate === hs.deflate);
  hs.deflate!.close();
  const off = do_handshake({ method: 'GET', headers }, t, { compress: false });
  assert.is(off.deflate, null);
  assert.not.ok(off.headers.some(([n]) => n === 'Sec-WebSocket-Extensions'));
});

test('end to end over 127.0.0.1: both ends compress; ws_connect({ compress: false }) does not offer', () => {
  const loop = make_loop();
  const text = 'the same words again and again, '.repeat(20_000); // 640 KB of very compressible text
  run(loop, (function* () {
    const { port, server, accepted } = yield* ws_server(loop);
    try {
      const ws = yield* ws_connect(`ws://127.0.0.1:${port}/`, { loop, close_timeout: 5 });
      const peer = yield* accepted();
      assert.ok(ws.writer.deflate !== null && peer.writer.deflate !== null, 'agreed on both ends');
      ws.send(text);
      const got = yield* peer.receive();
      assert.is(got?.data, text);
      peer.send(Buffer.from(text), true);
      assert.equal((yield* ws.receive())?.data, Buffer.from(text));
      const closing = new Task(peer.receive(), { loop });
      yield* ws.close();
      yield* closing;
      assert.throws(() => ws.writer.deflate!.compress(Buffer.from('x')), /closed/, 'the native state was freed at the end');
      const plain = yield* ws_connect(`ws://127.0.0.1:${port}/`, { loop, close_timeout: 5, compress: false });
      const plain_peer = yield* accepted();
      assert.is(plain.writer.deflate, null);
      assert.is(plain_peer.writer.deflate, null);
      plain.send('hi');
      assert.is((yield* plain_peer.receive())?.data, 'hi');
      plain.writer.transport.close();
    } finally {
      server.close();
    }
  })());
});

test.run();
