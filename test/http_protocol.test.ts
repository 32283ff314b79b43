// HTTP on the wire (coroutines/http/protocol.ts): request/response/body parsers driven by a StreamBuffer with
// data in pieces, their limits and smuggling defences, fuzzing (random splits give the same messages;
// truncated or mutated input gives an HttpException, never a hang or a crash), and the Request/Response
// writers byte for byte and round-tripped through the parsers. Cases follow Tulip's tests/http_parser_test.py
// and tests/http_protocol_test.py.
import { gzipSync, deflateSync, deflateRawSync, gunzipSync, inflateSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StreamBuffer, TestLoop, type DataBuffer, type WriteTransport } from '../src/index.js';
import {
  BadStatusLine, CIMultiDict, HttpException, IncompleteRead, InvalidHeader, LineTooLong, Payload, PayloadTooLarge,
  HeadScanner, Request, Response, http_payload_parser, http_request_parser, http_response_parser, read_payload, scan_request,
  type ParserLimits, type PayloadOptions, type RawRequestMessage, type RawResponseMessage,
} from '../coroutines/http/index.js';
import { throws_a } from './support/asserts.js';
import { test_loop_each } from './support/loops.js';

let loop: TestLoop;
test_loop_each(test, (l) => (loop = l), { current: true });

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** What parsing a byte stream gave: each message with its body, and the error that ended it, if any. */
interface Parsed<M> {
  messages: Array<{ message: M; body: string }>;
  error: unknown;
  /** Nothing was left waiting: every parser finished or failed once the stream ended. */
  settled: boolean;
}

/**
 * Parses a stream of messages arriving in `pieces`, the way a server or client alternates head and body
 * parsers on one StreamBuffer. Synchronous: StreamBuffer drives the parsers on every feed.
 */
function parse_stream<M extends RawRequestMessage | RawResponseMessage>(
  kind: 'request' | 'response', pieces: Buffer[], limits?: ParserLimits, payload: PayloadOptions = {},
): Parsed<M> {
  const stream = new StreamBuffer();
  const result: Parsed<M> = { messages: [], error: null, settled: false };
  const head_parser = () => stream.set_parser((kind === 'request' ? http_request_parser(limits) : http_response_parser(limits)) as never) as DataBuffer<M>;
  let head: DataBuffer<M> | null = head_parser();
  let body: DataBuffer<Buffer> | null = null;
  let message: M | null = null;
  let done = false;
  const advance = (): void => {
    for (;;) {
      if (done) return;
      const out = (head ?? body)!;
      if (out.exception() !== null) {
        result.error = out.exception();
        done = true;
        return;
      }
      if (head !== null) {
        if (out._buffer.length > out._head) {
          message = out._buffer[out._head] as M;
          head = null;
          body = stream.set_parser(http_payload_parser(message, { readall: kind === 'response', ...payload }));
          continue;
        }
        if (out._eof) done = true;
        return;
      }
      if (!out._eof) return;
      const chunks = out._buffer.slice(out._head) as Buffer[];
      result.messages.push({ message: message!, body: Buffer.concat(chunks).toString('latin1') });
      body = null;
      head = head_parser();
    }
  };
  advance();
  for (const piece of pieces) {
    stream.feed_data(piece);
    advance();
  }
  stream.feed_eof();
  advance();
  // A response parser meeting a clean EOF says BadStatusLine(''): after a response, that is the normal end.
  if (kind === 'response' && result.messages.length > 0 && result.error instanceof BadStatusLine && result.error.line === '') {
    result.error = null;
  }
  result.settled = done;
  return result;
}

const requests = (text: string, limits?: ParserLimits, payload?: PayloadOptions) =>
  parse_stream<RawRequestMessage>('request', [b(text)], limits, payload);
const responses = (text: string, limits?: ParserLimits, payload?: PayloadOptions) =>
  parse_stream<RawResponseMessage>('response', [b(text)], limits, payload);

function one_request(text: string): { message: RawRequestMessage; body: string } {
  const r = requests(text);
  assert.is(r.error, null, String(r.error));
  assert.is(r.messages.length, 1);
  return r.messages[0]!;
}

function request_error(text: string, cls: Function, limits?: ParserLimits, payload?: PayloadOptions): HttpException {
  const r = requests(text, limits, payload);
  assert.ok(r.error instanceof cls, `expected ${cls.name}, got ${String(r.error)}`);
  assert.ok(r.settled);
  return r.error as HttpException;
}

// ---- request heads ----

test('request: method, path, version, headers in order and case-insensitive', () => {
  const { message: m } = one_request('get /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Multi: 1\r\nx-multi: 2\r\nContent-Type:text/plain  \r\n\r\n');
  assert.is(m.method, 'GET');
  assert.is(m.path, '/a/b?c=d');
  assert.equal([...m.version], [1, 1]);
  assert.ok(m.headers instanceof CIMultiDict);
  assert.equal([...m.headers], [['Host', 'example.com'], ['X-Multi', '1'], ['x-multi', '2'], ['Content-Type', 'text/plain']]);
  assert.is(m.headers.get('HOST'), 'example.com');
  assert.equal(m.headers.getall('X-MULTI'), ['1', '2']);
  assert.is(m.should_close, false);
  assert.is(m.chunked, false);
  assert.is(m.content_length, null);
  assert.is(m.upgrade, false);
  assert.is(m.expect_continue, false);
  assert.is(m.compression, null);
});

test('request: keep-alive and close follow the version and the Connection header', () => {
  assert.is(one_request('GET / HTTP/1.0\r\n\r\n').message.should_close, true);
  assert.is(one_request('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').message.should_close, false);
  assert.is(one_request('GET / HTTP/1.1\r\nConnection: close\r\n\r\n').message.should_close, true);
  assert.is(one_request('GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n').message.should_close, true);
  assert.is(one_request('GET / HTTP/1.1\r\n\r\n').message.should_close, false);
});

test('request: upgrade, Expect: 100-continue, Content-Encoding', () => {
  const ws = one_request('GET /ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n').message;
  assert.is(ws.upgrade, true);
  assert.is(one_request('GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n').message.upgrade, false); // no Upgrade field
  const expect = one_request('PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 0\r\n\r\n').message;
  assert.is(expect.expect_continue, true);
  assert.is(one_request('PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n').message.expect_continue, false);
  assert.is(one_request('POST / HTTP/1.1\r\nContent-Encoding: gzip\r\n\r\n').message.compression, 'gzip');
  assert.is(one_request('POST / HTTP/1.1\r\nContent-Encoding: deflate\r\n\r\n').message.compression, 'deflate');
  assert.is(one_request('POST / HTTP/1.1\r\nContent-Encoding: br\r\n\r\n').message.compression, null);
});

test('request: obsolete line folding joins continuation lines with a space', () => {
  const { message } = one_request('GET / HTTP/1.1\r\nX-Long: one\r\n two\r\n\tthree\r\nX-Next: 4\r\n\r\n');
  assert.is(message.headers.get('x-long'), 'one two three');
  assert.is(message.headers.get('x-next'), '4');
});

test('request: blank lines before a request are skipped; a clean EOF is no error', () => {
  const r = requests('\r\n\r\nGET / HTTP/1.1\r\n\r\n');
  assert.is(r.messages.length, 1);
  assert.is(r.error, null);
  const empty = requests('');
  assert.is(empty.messages.length, 0);
  assert.is(empty.error, null);
  assert.ok(empty.settled);
});

test('request: malformed request lines are BadStatusLine (a 400)', () => {
  for (const line of ['GET /', 'GET / HTTP/1.1 extra', 'GET  / HTTP/1.1', 'G(T / HTTP/1.1', 'GET / HTTP/2.0', 'GET / HTTX/1.1',
    'GET / HTTP/1.1a', ' / HTTP/1.1', 'GET /\x01 HTTP/1.1']) {
    const err = request_error(`${line}\r\n\r\n`, BadStatusLine);
    assert.is(err.code, 400);
  }
});

test('request: malformed header fields are InvalidHeader (a 400)', () => {
  for (const field of ['No colon here', ': empty name', 'Bad Name: x', 'Bad(name): x', 'X-A: a\nb', 'X-A: a\rb', 'X-A: a\0b']) {
    const err = request_error(`GET / HTTP/1.1\r\n${field}\r\n\r\n`, InvalidHeader);
    assert.is(err.code, 400);
  }
});

test('request: an EOF in the middle of a head is IncompleteRead', () => {
  request_error('GET / HTTP/1.1\r\nHost: x\r\n', IncompleteRead);
  request_error('\r', IncompleteRead);
});

test('HeadScanner/scan_request: small and large heads back to back, heads in pieces, as the server reads them', () => {
  const stream = new StreamBuffer();
  const scanner = new HeadScanner();
  const big = `GET /big HTTP/1.1\r\nX-Big: ${'b'.repeat(3000)}\r\n\r\n`;
  stream.feed_data(b(`GET /a HTTP/1.1\r\n\r\n${big}GET /c HTTP/1.1\r\nHost: x\r\n`));
  assert.is(scan_request(scanner, stream._buffer)!.path, '/a');
  const m = scan_request(scanner, stream._buffer)!;
  assert.is(m.path, '/big');
  assert.is(m.headers.get('x-big')!.length, 3000);
  assert.is(scan_request(scanner, stream._buffer), null); // /c is not complete
  stream.feed_data(b('\r'));
  assert.is(scan_request(scanner, stream._buffer), null);
  stream.feed_data(b('\n'));
  assert.is(scan_request(scanner, stream._buffer)!.headers.get('host'), 'x');
  assert.is(stream._buffer.size, 0);
  // A head that never ends fails as soon as it passes the limit, in pieces or not.
  const limited = new HeadScanner({ max_headers: 100 });
  stream.feed_data(b('GET / HTTP/1.1\r\n'));
  assert.is(scan_request(limited, stream._buffer), null);
  stream.feed_data(b('X: ' + 'x'.repeat(100)));
  throws_a(() => scan_request(limited, stream._buffer), LineTooLong);
});

// ---- limits ----

test('limits: a request line, a header line and a folded field beyond their limits are LineTooLong', () => {
  const limits = { max_line_size: 100, max_field_size: 150 };
  request_error(`GET /${'a'.repeat(100)} HTTP/1.1\r\n\r\n`, LineTooLong, limits);
  request_error(`GET / HTTP/1.1\r\nX: ${'a'.repeat(100)}\r\n\r\n`, LineTooLong, limits);
  request_error(`GET / HTTP/1.1\r\nX: ${'a'.repeat(80)}\r\n ${'b'.repeat(80)}\r\n\r\n`, LineTooLong, limits);
  assert.is(requests(`GET / HTTP/1.1\r\nX: ${'a'.repeat(90)}\r\n\r\n`, limits).messages.length, 1);
});

test('limits: too many headers, and a head that never ends, fail without buffering without bound', () => {
  const many = Array.from({ length: 11 }, (_, i) => `X-${i}: v\r\n`).join('');
  request_error(`GET / HTTP/1.1\r\n${many}\r\n`, LineTooLong, { max_header_count: 10 });
  // A peer that sends header bytes forever: the error comes once max_headers bytes are in, not at the end.
  const stream = new StreamBuffer();
  const out = stream.set_parser(http_request_parser({ max_headers: 4096 }));
  stream.feed_data(b('GET / HTTP/1.1\r\n'));
  let fed = 0;
  while (out.exception() === null && fed < 1 << 20) {
    stream.feed_data(b('X-Filler: ' + 'x'.repeat(90) + '\r\n'));
    fed += 102;
  }
  assert.ok(out.exception() instanceof LineTooLong);
  assert.ok(fed <= 4096 + 102, `failed only after ${fed} bytes`);
  throws_a(() => http_request_parser({ max_headers: 0 }), RangeError);
  throws_a(() => http_request_parser({ max_line_size: 1.5 }), RangeError);
});

// ---- smuggling defences ----

test('smuggling: Content-Length with Transfer-Encoding, conflicting or malformed lengths are refused', () => {
  request_error('POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', InvalidHeader);
  request_error('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n', InvalidHeader);
  request_error('POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', InvalidHeader);
  request_error('POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n', InvalidHeader);
  for (const bad of ['-1', '+5', '0x5', '5 5', '', 'five', '1e3', '9999999999999999']) {
    request_error(`POST / HTTP/1.1\r\nContent-Length: ${bad}\r\n\r\n`, InvalidHeader);
  }
  // Transfer-Encoding whose last coding is not chunked: a request body of unknowable length.
  request_error('POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n', InvalidHeader);
  request_error('POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', InvalidHeader);
  request_error('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n', InvalidHeader);
  // Repeated identical lengths are one length (RFC 9110 8.6).
  const same = requests('POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc');
  assert.is(same.messages[0]!.body, 'abc');
  assert.is(one_request('POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n').message.chunked, true);
});

test('smuggling: a body cannot hide a second request (the length decides, then parsing resumes)', () => {
  const r = requests('POST /a HTTP/1.1\r\nContent-Length: 26\r\n\r\nGET /hidden HTTP/1.1\r\n\r\nxxGET /b HTTP/1.1\r\n\r\n');
  assert.is(r.error, null);
  assert.equal(r.messages.map((m) => m.message.path), ['/a', '/b']);
  assert.is(r.messages[0]!.body, 'GET /hidden HTTP/1.1\r\n\r\nxx');
});

// ---- bodies ----

test('body: Content-Length, chunked with extensions and trailers, pipelined', () => {
  const r = requests(
    'POST /1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello' +
    'POST /2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\nA\r\n, world!!!\r\n0\r\nTrailer: x\r\n\r\n' +
    'GET /3 HTTP/1.1\r\n\r\n');
  assert.is(r.error, null);
  assert.equal(r.messages.map((m) => [m.message.path, m.body]), [['/1', 'hello'], ['/2', 'hello, world!!!'], ['/3', '']]);
});

test('body: malformed chunked framing and truncated bodies are errors', () => {
  const chunked = 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n';
  request_error(`${chunked}zz\r\nhello\r\n0\r\n\r\n`, IncompleteRead);
  request_error(`${chunked}-5\r\nhello\r\n0\r\n\r\n`, IncompleteRead);
  request_error(`${chunked}1234567890abc\r\n`, IncompleteRead); // a size no one can mean
  request_error(`${chunked}5\r\nhelloXX0\r\n\r\n`, IncompleteRead);
  request_error(`${chunked}5\r\nhel`, IncompleteRead);
  request_error(`${chunked}5\r\nhello\r\n`, IncompleteRead);
  request_error(`${chunked}${'1'.repeat(9000)}`, LineTooLong);
  request_error('POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort', IncompleteRead);
});

test('body: max_size refuses long bodies of every framing with PayloadTooLarge (413)', () => {
  const opts = { max_size: 4 };
  assert.is(request_error('POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello', PayloadTooLarge, undefined, opts).code, 413);
  request_error('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n', PayloadTooLarge, undefined, opts);
  const eof = responses('HTTP/1.0 200 OK\r\n\r\nhello world', undefined, opts);
  assert.ok(eof.error instanceof PayloadTooLarge);
  assert.is(requests('POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd', undefined, opts).messages[0]!.body, 'abcd');
});

// ---- responses ----

test('response: status lines with and without a reason', () => {
  const r = responses('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' + 'HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n' +
    'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n');
  assert.is(r.error, null);
  assert.equal(r.messages.map((m) => [m.message.code, m.message.reason, m.body]), [[200, 'OK', 'ok'], [404, '', ''], [500, 'Internal Server Error', '']]);
});

test('response: without a length the body runs to EOF and the connection closes', () => {
  const r = responses('HTTP/1.0 200 OK\r\n\r\nall of this');
  assert.is(r.messages[0]!.body, 'all of this');
  assert.is(r.messages[0]!.message.should_close, true);
  // has_body: false (HEAD, 204, 304) ignores the length it is told.
  const head = responses('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n', undefined, { has_body: false });
  assert.equal(head.messages.map((m) => m.message.code), [200, 204]);
});

test('response: bad status lines, and EOF before any, are BadStatusLine', () => {
  for (const line of ['HTTP/1.1', 'HTTP/1.1 2000 OK', 'HTTP/1.1 abc OK', 'HTTP/x 200 OK', 'ICY 200 OK']) {
    const r = responses(`${line}\r\n\r\n`);
    assert.ok(r.error instanceof BadStatusLine, `${line}: ${String(r.error)}`);
  }
  const closed = responses('');
  assert.ok(closed.error instanceof BadStatusLine);
  assert.is((closed.error as BadStatusLine).line, '');
});

// ---- fuzzing ----

/** A small deterministic PRNG (mulberry32), so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function random_requests(rand: () => number, count: number): { wire: string; expected: Array<[string, string, string]> } {
  let wire = '';
  const expected: Array<[string, string, string]> = [];
  for (let i = 0; i < count; i++) {
    const method = ['GET', 'POST', 'PUT', 'DELETE'][Math.floor(rand() * 4)]!;
    const path = `/p${i}?q=${Math.floor(rand() * 1000)}`;
    const body = 'x'.repeat(Math.floor(rand() * 40)) + String.fromCharCode(...Array.from({ length: Math.floor(rand() * 30) }, () => Math.floor(rand() * 256)));
    const header = `X-R: ${'v'.repeat(Math.floor(rand() * 50))}\r\n`;
    wire += `${method} ${path} HTTP/1.1\r\nHost: h\r\n${header}`;
    if (body !== '' && rand() < 0.5) {
      let chunked = '';
      for (let at = 0; at < body.length;) {
        const n = 1 + Math.floor(rand() * 20);
        const piece = body.slice(at, at + n);
        chunked += `${piece.length.toString(16)}${rand() < 0.3 ? ';e=1' : ''}\r\n${piece}\r\n`;
        at += n;
      }
      wire += `Transfer-Encoding: chunked\r\n\r\n${chunked}0\r\n\r\n`;
    } else {
      wire += `Content-Length: ${body.length}\r\n\r\n${body}`;
    }
    expected.push([method, path, body]);
  }
  return { wire, expected };
}

function split_randomly(rand: () => number, data: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0; at < data.length;) {
    const n = rand() < 0.3 ? 1 : 1 + Math.floor(rand() * 64);
    pieces.push(data.subarray(at, at + n));
    at += n;
  }
  return pieces;
}

test('fuzz: random splits of pipelined requests give the same messages', () => {
  for (let seed = 1; seed <= 60; seed++) {
    const rand = prng(seed);
    const { wire, expected } = random_requests(rand, 1 + Math.floor(rand() * 6));
    const r = parse_stream<RawRequestMessage>('request', split_randomly(rand, b(wire)));
    assert.is(r.error, null, `seed ${seed}: ${String(r.error)}`);
    assert.equal(r.messages.map((m) => [m.message.method, m.message.path, m.body]), expected, `seed ${seed}`);
  }
});

test('fuzz: every truncation ends in fewer messages or IncompleteRead, never a hang', () => {
  const { wire, expected } = random_requests(prng(7), 3);
  const data = b(wire);
  for (let cut = 0; cut < data.length; cut++) {
    const r = parse_stream<RawRequestMessage>('request', split_randomly(prng(cut), data.subarray(0, cut)));
    assert.ok(r.settled, `cut ${cut}: still waiting after EOF`);
    assert.ok(r.messages.length < expected.length, `cut ${cut}`);
    assert.ok(r.error === null || r.error instanceof IncompleteRead, `cut ${cut}: ${String(r.error)}`);
  }
});

test('fuzz: mutated input parses or fails with an HttpException, never anything else', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const rand = prng(seed);
    const data = b(random_requests(rand, 2).wire);
    for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) data[Math.floor(rand() * data.length)] = Math.floor(rand() * 256);
    const r = parse_stream<RawRequestMessage>('request', split_randomly(rand, data));
    assert.ok(r.settled, `seed ${seed}`);
    assert.ok(r.error === null || r.error instanceof HttpException, `seed ${seed}: ${String(r.error)}`);
  }
});

test('fuzz: mutated and truncated responses parse or fail with an HttpException, never hang', () => {
  const wire = b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello' +
    'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' +
    'HTTP/1.0 200 OK\r\n\r\nuntil the end');
  for (let seed = 1; seed <= 300; seed++) {
    const rand = prng(seed);
    const data = Buffer.from(wire.subarray(0, rand() < 0.3 ? Math.floor(rand() * wire.length) : wire.length));
    for (let k = 0; k < Math.floor(rand() * 4); k++) data[Math.floor(rand() * data.length)] = Math.floor(rand() * 256);
    const r = parse_stream<RawResponseMessage>('response', split_randomly(rand, data));
    assert.ok(r.settled, `seed ${seed}`);
    assert.ok(r.error === null || r.error instanceof HttpException, `seed ${seed}: ${String(r.error)}`);
  }
});

// ---- Payload ----

test('Payload: read() gives chunks then null; read_all(); an empty body needs no parser', () => {
  const stream = new StreamBuffer();
  const message = one_request('POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789').message;
  const payload = read_payload(stream, message);
  const seen: Array<string | null> = [];
  const task = loop.create_task((function* () {
    seen.push(String(yield* payload.read()));
    seen.push(String(yield* payload.read()));
    seen.push((yield* payload.read()) === null ? null : 'more');
    seen.push((yield* payload.read()) === null ? null : 'more');
  })());
  stream.feed_data(b('01234'));
  loop.run_once();
  stream.feed_data(b('56789'));
  loop.run_until_complete(task);
  assert.equal(seen, ['01234', '56789', null, null]);
  assert.ok(payload.at_eof());
  const empty = read_payload(stream, one_request('GET / HTTP/1.1\r\n\r\n').message);
  assert.ok(empty.at_eof());
  assert.is(loop.run_until_complete(loop.create_task(empty.read())), null);
  assert.is(loop.run_until_complete(loop.create_task(empty.read_all())).length, 0);
  assert.ok(new Payload(null).exception() === null);
});

// ---- writers ----

/** A transport that records every write, so tests can count syscalls' worth of writes and check bytes. */
function recorder(): WriteTransport & { writes: Buffer[]; text(): string } {
  const writes: Buffer[] = [];
  return {
    writes,
    write: (data: Uint8Array) => void writes.push(Buffer.from(data)),
    text: () => Buffer.concat(writes).toString('latin1'),
  } as unknown as WriteTransport & { writes: Buffer[]; text(): string };
}

/** The head without the Date line (it changes every second). */
const no_date = (s: string) => s.replace(/Date: [^\r]+\r\n/, '');

test('Response: Content-Length body, head and body in one write, Date and Server added', () => {
  const t = recorder();
  const r = new Response(t, 200);
  r.add_headers(['Content-Type', 'text/plain'], ['Content-Length', '5']);
  r.send_headers();
  assert.is(t.writes.length, 0);
  r.write('hello');
  r.write_eof();
  assert.is(t.writes.length, 1);
  assert.match(t.text(), /\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
  assert.is(no_date(t.text()), `HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nServer: ${Response.SERVER_SOFTWARE}\r\n\r\nhello`);
  assert.ok(r.keep_alive());
});

test('Response: chunked on HTTP/1.1 without a length, until-close on HTTP/1.0', () => {
  const t = recorder();
  const r = new Response(t, 200, { reason: 'Fine' });
  r.add_header('Server', 'test');
  r.send_headers();
  r.write('ab');
  r.write(new Uint8Array([0x63]));
  r.write('');
  r.write_eof();
  assert.equal(t.writes.length, 3);
  assert.is(no_date(t.text()), 'HTTP/1.1 200 Fine\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nServer: test\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n');
  const t10 = recorder();
  const r10 = new Response(t10, 200, { http_version: [1, 0] });
  r10.add_header('Server', 'test');
  r10.send_headers();
  r10.write('abc');
  r10.write_eof();
  assert.is(no_date(t10.text()), 'HTTP/1.0 200 OK\r\nConnection: close\r\nServer: test\r\n\r\nabc');
  assert.is(r10.keep_alive(), false);
});

test('Response: no body for 204/304/1xx, whose head leaves at once; write() says so', () => {
  const t = recorder();
  const r = new Response(t, 204);
  r.add_header('Server', 'x');
  r.send_headers();
  assert.is(t.writes.length, 1); // no body to wait for: the head is out at once
  throws_a(() => r.write('x'), Error, /no body/);
  assert.is(no_date(t.text()), 'HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\nServer: x\r\n\r\n');
  r.write_eof();
  assert.is(t.writes.length, 1);
  const up = recorder();
  const r101 = new Response(up, 101);
  r101.add_headers(['Upgrade', 'websocket'], ['Connection', 'Upgrade']);
  r101.send_headers();
  assert.is(up.writes.length, 1);
  assert.match(up.text(), /^HTTP\/1\.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n/);
  assert.not.match(up.text(), /Transfer-Encoding|Content-Length/);
});

test('Response: a head waiting for a body leaves at the end of the loop iteration at the latest', () => {
  const t = recorder();
  const r = new Response(t, 200);
  r.send_headers();
  assert.is(t.writes.length, 0);
  loop.run_once();
  assert.is(t.writes.length, 1);
  assert.match(t.text(), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n$/);
  r.write('body');
  r.write_eof();
  assert.ok(t.text().endsWith('\r\n\r\n4\r\nbody\r\n0\r\n\r\n'));
});

test('Response: Connection and Transfer-Encoding headers set the framing, hop-by-hop ones are dropped', () => {
  const t = recorder();
  const r = new Response(t, 200);
  r.add_headers(['Connection', 'close'], ['Keep-Alive', 'timeout=5'], ['Transfer-Encoding', 'chunked'], ['Server', 's'], ['Date', 'd']);
  r.send_headers();
  r.write_eof();
  assert.is(t.text(), 'HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nServer: s\r\nDate: d\r\n\r\n0\r\n\r\n');
  assert.is(r.keep_alive(), false);
});

test('writers refuse header injection, bad names, misuse', () => {
  const r = new Response(recorder(), 200);
  throws_a(() => r.add_header('X-A', 'a\r\nInjected: yes'), TypeError, /CR, LF/);
  throws_a(() => r.add_header('X A', 'a'), TypeError, /name/);
  throws_a(() => r.add_header('X-A', 'snowman \u2603'), TypeError);
  throws_a(() => r.add_header('Content-Length', 'ten'), TypeError);
  throws_a(() => r.write('early'), Error, /send_headers/);
  r.send_headers();
  throws_a(() => r.add_header('X-Late', '1'), Error, /sent already/);
  throws_a(() => r.send_headers(), Error, /sent already/);
  r.write_eof();
  throws_a(() => r.write('late'), Error, /write_eof/);
  throws_a(() => new Response(recorder(), 42), RangeError);
  throws_a(() => new Request(recorder(), 'G T', '/'), TypeError);
  throws_a(() => new Request(recorder(), 'GET', '/a b'), TypeError);
});

test('Response: Content-Length bounds the body (extra bytes are dropped, as in Tulip)', () => {
  const t = recorder();
  const r = new Response(t, 200);
  r.add_headers(['Content-Length', '3'], ['Server', 's'], ['Date', 'd']);
  r.send_headers();
  r.write('abcdef');
  r.write('more');
  r.write_eof();
  assert.ok(t.text().endsWith('\r\n\r\nabc'));
});

test('Request: request line, User-Agent, no body without a length, chunked when forced', () => {
  const t = recorder();
  const r = new Request(t, 'GET', '/path?x=1');
  r.add_header('Host', 'example.com');
  r.send_headers();
  throws_a(() => r.write('body'), Error, /no body/);
  r.write_eof();
  assert.is(t.text(), `GET /path?x=1 HTTP/1.1\r\nConnection: keep-alive\r\nHost: example.com\r\nUser-Agent: ${Request.SERVER_SOFTWARE}\r\n\r\n`);
  const c = recorder();
  const post = new Request(c, 'POST', '/', { close: true });
  post.add_header('User-Agent', 'ua');
  post.force_chunked();
  post.send_headers();
  post.write('data');
  post.write_eof();
  assert.is(c.text(), 'POST / HTTP/1.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nUser-Agent: ua\r\n\r\n4\r\ndata\r\n0\r\n\r\n');
});

test('chunking filter: the body leaves in chunks of exactly the given size', () => {
  const t = recorder();
  const r = new Response(t, 200);
  r.add_headers(['Server', 's'], ['Date', 'd']);
  r.add_chunking_filter(4);
  r.send_headers();
  r.write('ab');
  r.write('cdefghij');
  r.write_eof();
  assert.ok(t.text().endsWith('\r\n\r\n4\r\nabcd\r\n4\r\nefgh\r\n2\r\nij\r\n0\r\n\r\n'), t.text());
  throws_a(() => r.add_chunking_filter(0), RangeError);
});

test('round trip: what the writers send, the parsers read back (random bodies, both framings)', () => {
  const rand = prng(99);
  for (let i = 0; i < 40; i++) {
    const body = Buffer.from(Array.from({ length: Math.floor(rand() * 3000) }, () => Math.floor(rand() * 256)));
    const t = recorder();
    const r = new Response(t, 201);
    r.add_header('X-Seq', String(i));
    if (rand() < 0.5) r.add_header('Content-Length', String(body.length));
    r.send_headers();
    for (let at = 0; at < body.length;) {
      const n = 1 + Math.floor(rand() * 700);
      r.write(body.subarray(at, at + n));
      at += n;
    }
    r.write_eof();
    const wire = Buffer.concat(t.writes);
    const parsed = parse_stream<RawResponseMessage>('response', split_randomly(rand, wire));
    assert.is(parsed.error, null, String(parsed.error));
    const m = parsed.messages[0]!;
    assert.is(m.message.code, 201);
    assert.is(m.message.headers.get('x-seq'), String(i));
    assert.ok(Buffer.from(m.body, 'latin1').equals(body), `case ${i}`);
  }
});

// ---- content coding ----

function chunked_body(data: Buffer, piece: number): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += piece) {
    const p = data.subarray(at, at + piece);
    parts.push(b(`${p.length.toString(16)}\r\n`), p, b('\r\n'));
  }
  parts.push(b('0\r\n\r\n'));
  return Buffer.concat(parts);
}

test('coding: gzip, deflate (zlib and raw) bodies are decoded, chunked or by length, in any split', () => {
  const text = 'Hello, compressed world! '.repeat(200);
  const cases: Array<[string, Buffer]> = [['gzip', gzipSync(text)], ['deflate', deflateSync(text)], ['deflate', deflateRawSync(text)], ['x-gzip', gzipSync(text)]];
  for (const [coding, body] of cases) {
    const head = `POST / HTTP/1.1\r\nContent-Encoding: ${coding}\r\n`;
    const by_length = Buffer.concat([b(`${head}Content-Length: ${body.length}\r\n\r\n`), body]);
    const chunked = Buffer.concat([b(`${head}Transfer-Encoding: chunked\r\n\r\n`), chunked_body(body, 100)]);
    for (const wire of [by_length, chunked]) {
      const r = parse_stream<RawRequestMessage>('request', split_randomly(prng(body.length), wire));
      assert.is(r.error, null, `${coding}: ${String(r.error)}`);
      assert.is(r.messages[0]!.body, text, coding);
    }
  }
  // compression: false passes the coded bytes through.
  const raw = gzipSync('abc');
  const r = parse_stream<RawRequestMessage>('request', [Buffer.concat([b(`POST / HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: ${raw.length}\r\n\r\n`), raw])], undefined, { compression: false });
  assert.ok(Buffer.from(r.messages[0]!.body, 'latin1').equals(raw));
});

test('coding: damaged or truncated compressed bodies are IncompleteRead; a decompression bomb is PayloadTooLarge', () => {
  const body = gzipSync('x'.repeat(10000));
  const damaged = Buffer.from(body);
  damaged[20] ^= 0xff;
  damaged[21] ^= 0xff;
  const wire = (data: Buffer) => Buffer.concat([b(`POST / HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: ${data.length}\r\n\r\n`), data]);
  assert.ok(parse_stream('request', [wire(damaged)]).error instanceof IncompleteRead);
  assert.ok(parse_stream('request', [wire(body.subarray(0, body.length - 6))]).error instanceof IncompleteRead);
  const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024));
  const r = parse_stream('request', [wire(bomb)], undefined, { max_size: 1024 * 1024 });
  assert.ok(r.error instanceof PayloadTooLarge, String(r.error));
  assert.ok(bomb.length < 1024 * 1024); // the compressed size alone would pass the limit
});

test('compression filter: gzip and deflate bodies, with the chunking filter after, decode to what was written', () => {
  for (const encoding of ['gzip', 'deflate'] as const) {
    const t = recorder();
    const r = new Response(t, 200);
    r.add_headers(['Content-Encoding', encoding], ['Server', 's'], ['Date', 'd']);
    r.add_compression_filter(encoding);
    r.add_chunking_filter(64);
    r.send_headers();
    const text = Array.from({ length: 300 }, (_, i) => `line ${i}\n`).join('');
    for (let at = 0; at < text.length; at += 500) r.write(text.slice(at, at + 500));
    r.write_eof();
    const wire = Buffer.concat(t.writes);
    const parsed = parse_stream<RawResponseMessage>('response', [wire]);
    assert.is(parsed.error, null, String(parsed.error));
    assert.is(parsed.messages[0]!.body, text);
    // The chunks on the wire are the filter's 64 bytes (the last may be shorter), and decode with node:zlib.
    const raw = parse_stream<RawResponseMessage>('response', [wire], undefined, { compression: false }).messages[0]!.body;
    const decoded = (encoding === 'gzip' ? gunzipSync : inflateSync)(Buffer.from(raw, 'latin1')).toString();
    assert.is(decoded, text);
    assert.match(wire.toString('latin1'), /\r\n\r\n40\r\n/);
  }
  throws_a(() => new Response(recorder(), 200).add_compression_filter('br' as 'gzip'), TypeError);
});

test("the public face: 'tulip-ts/http' and the http namespace of 'tulip-ts' are the same module (the package, built)", async () => {
  const subpath = await import('tulip-ts/http');
  const main = await import('tulip-ts');
  assert.is(main.http.Response, subpath.Response);
  for (const name of ['request', 'ServerHttpProtocol', 'serve', 'Session', 'ws_connect', 'do_handshake', 'http_request_parser', 'HttpErrorException', 'CIMultiDict']) {
    assert.type((subpath as Record<string, unknown>)[name], 'function', name);
  }
});

test.run();
