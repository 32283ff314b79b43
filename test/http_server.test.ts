// The HTTP server (coroutines/http/server.ts) and its handler adapter (handler.ts), over real sockets on
// 127.0.0.1: requests and responses, keep-alive, HTTP/1.0, pipelining, bodies (chunked, 100-continue, left
// unread), every error page, the timeouts, a client leaving mid-handler, access logging; then the adapter.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Future, Logger, logger, sleep, type DataBuffer, type ParserBuffer, type AbstractEventLoop, type Coroutine, type LogRecord } from '../src/index.js';
import { CancelledError } from '../src/futures.js';
import {
  DEFAULT_MAX_BODY_SIZE, HandlerServerProtocol, HttpErrorException, Response, ServerHttpProtocol, json_response, serve, text_response,
  type Handler, type HandlerResponse, type Payload, type RawRequestMessage, type ServerHttpOptions, type ServerRequest,
} from '../coroutines/http/index.js';
import { DRAIN_LIMIT } from '../coroutines/http/server.js';
import { make_loop, register_loop_cleanup, run } from './support/loops.js';
import { connect, expect_eof, fetch_raw, get, listen, port_of, read_response, type RawResponse } from './support/http.js';

register_loop_cleanup();

// ---- a test server: handle_request delegates to a function of the test --------------------------------

type Handle = (proto: TestServer, message: RawRequestMessage, payload: Payload) => Coroutine<void> | void;

class TestServer extends ServerHttpProtocol {
  static made = 0;
  constructor(private readonly fn: Handle, options: ServerHttpOptions) {
    super(options);
    TestServer.made++;
  }
  override handle_request(message: RawRequestMessage, payload: Payload): Coroutine<void> | void {
    return this.fn(this, message, payload);
  }
}

/** Answers `body` as text/plain with Content-Length, keep-alive as the request allows. */
function respond(proto: ServerHttpProtocol, message: RawRequestMessage, status: number, body: string | Buffer, headers: Array<[string, string]> = []): void {
  const data = typeof body === 'string' ? Buffer.from(body) : body;
  const response = new Response(proto.transport!, status, { http_version: message.version, close: message.should_close });
  response.add_headers(['Content-Type', 'text/plain'], ['Content-Length', String(data.length)], ...headers);
  response.send_headers();
  response.write(data);
  response.write_eof();
}

/** Echoes the request line and the body (read whole) as the response body. */
function* echo(proto: TestServer, message: RawRequestMessage, payload: Payload): Coroutine<void> {
  const body = yield* payload.read_all();
  respond(proto, message, 200, `${message.method} ${message.path} ${message.version.join('.')} [${body.toString('latin1')}]`);
}

/** Starts a TestServer on `loop`; the test body gets the port; the server is closed afterwards. */
function serving(loop: AbstractEventLoop, fn: Handle, options: ServerHttpOptions, body: (port: number) => Coroutine<void>): void {
  run(loop, (function* () {
    const [server, port] = yield* listen(loop, () => new TestServer(fn, { loop, ...options }));
    try {
      yield* body(port);
    } finally {
      server.close();
    }
  })());
}

/** Collects what the tulip-ts logger reports while `fn` runs. */
function capture_logs(fn: (records: LogRecord[]) => void): LogRecord[] {
  const records: LogRecord[] = [];
  const saved = logger.handler;
  logger.handler = (r) => records.push(r);
  try {
    fn(records);
  } finally {
    logger.handler = saved;
  }
  return records;
}

/** Sends `request` on a new connection: the response must say Connection: close, and the server close. */
function* answered_then_closed(loop: AbstractEventLoop, port: number, request: string): Coroutine<RawResponse> {
  const [reader, writer] = yield* connect(loop, port);
  writer.write(Buffer.from(request));
  const r = yield* read_response(reader);
  assert.is(r.headers.get('connection'), 'close');
  yield* expect_eof(reader);
  writer.close();
  return r;
}

function elapsed(loop: AbstractEventLoop, since: number): number {
  return loop.time() - since;
}

// ---- requests and responses ----------------------------------------------------------------------------

test('a GET is answered; the message has method, path, version and headers', () => {
  const loop = make_loop();
  let seen: RawRequestMessage | null = null;
  serving(loop, (p, m, payload) => {
    seen = m;
    return echo(p, m, payload);
  }, {}, function* (port) {
    const r = yield* fetch_raw(loop, port, get('/a/b?c=1', 'X-Test: yes\r\n'));
    assert.is(r.status, 200);
    assert.is(r.body.toString(), 'GET /a/b?c=1 1.1 []');
    assert.is(r.headers.get('connection'), 'keep-alive');
    assert.ok(r.headers.has('date'));
    assert.is(seen!.headers.get('x-test'), 'yes');
    assert.is(seen!.should_close, false);
  });
});

test('the default handle_request answers 404 and keeps the connection', () => {
  const loop = make_loop();
  run(loop, (function* () {
    const [server, port] = yield* listen(loop, () => new ServerHttpProtocol({ loop }));
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(get('/nothing') + 'HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n'));
    const r = yield* read_response(reader);
    assert.is(r.status, 404);
    assert.is(r.reason, 'Not Found');
    assert.is(r.body.toString(), 'Page Not Found!');
    const h = yield* read_response(reader, { head: true });
    assert.is(h.status, 404);
    assert.is(h.headers.get('content-length'), '15');
    writer.close();
    server.close();
  })());
});

test('head_only: a HEAD gets the head GET would get and no body, chunked or not; the next response is intact', () => {
  const loop = make_loop();
  serving(loop, (proto, message) => {
    const head_only = message.method === 'HEAD';
    const response = new Response(proto.transport!, 200, { http_version: message.version, close: message.should_close, head_only });
    if (message.path === '/sized') response.add_header('Content-Length', '5');
    response.send_headers();
    response.write(Buffer.from('hello')); // written for HEAD too: the writer drops it
    response.write_eof();
  }, {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    const head = (path: string) => `HEAD ${path} HTTP/1.1\r\nHost: t\r\n\r\n`;
    writer.write(Buffer.from(head('/sized') + get('/sized') + head('/chunked') + get('/chunked')));
    let r = yield* read_response(reader, { head: true });
    assert.is(r.headers.get('content-length'), '5', 'the length GET has');
    r = yield* read_response(reader);
    assert.is(r.body.toString(), 'hello', 'no body bytes of the HEAD came before it');
    r = yield* read_response(reader, { head: true });
    assert.is(r.headers.get('transfer-encoding'), 'chunked', 'the framing GET has');
    r = yield* read_response(reader);
    assert.is(r.status, 200, 'no chunk, not even the last one, came before it');
    assert.is(r.body.toString(), 'hello');
    writer.close();
  });
});

test('head_only on HTTP/1.0 without a length: nothing to delimit, so keep-alive is kept', () => {
  const loop = make_loop();
  serving(loop, (proto, message) => {
    const response = new Response(proto.transport!, 200, { http_version: message.version, close: message.should_close, head_only: true });
    response.send_headers();
    response.write(Buffer.from('dropped'));
    response.write_eof();
  }, {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from('HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'));
    const r = yield* read_response(reader, { head: true });
    assert.is(r.headers.get('connection'), 'keep-alive');
    writer.write(Buffer.from('HEAD / HTTP/1.0\r\n\r\n'));
    const last = yield* read_response(reader, { head: true });
    assert.is(last.headers.get('connection'), 'close', 'a plain HTTP/1.0 request still closes');
    yield* expect_eof(reader);
    writer.close();
  });
});

test('keep-alive: several requests over one connection, each answered', () => {
  const loop = make_loop();
  const before = TestServer.made;
  serving(loop, echo, {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    for (let i = 0; i < 5; i++) {
      writer.write(Buffer.from(`POST /n${i} HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n${i}`));
      const r = yield* read_response(reader);
      assert.is(r.body.toString(), `POST /n${i} 1.1 [${i}]`);
    }
    writer.close();
  });
  assert.is(TestServer.made - before, 1, 'one connection, one protocol');
});

test('HTTP/1.0 closes after the response; with Connection: keep-alive it stays open', () => {
  const loop = make_loop();
  serving(loop, echo, {}, function* (port) {
    let r = yield* answered_then_closed(loop, port, 'GET /old HTTP/1.0\r\n\r\n');
    assert.is(r.version, '1.0');
    assert.is(r.body.toString(), 'GET /old 1.0 []');

    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from('GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'));
    r = yield* read_response(reader);
    assert.is(r.headers.get('connection'), 'keep-alive');
    writer.write(Buffer.from('GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'));
    r = yield* read_response(reader);
    assert.is(r.body.toString(), 'GET /2 1.0 []');
    writer.close();
  });
});

test('Connection: close on HTTP/1.1 closes after the response', () => {
  const loop = make_loop();
  serving(loop, echo, {}, function* (port) {
    yield* answered_then_closed(loop, port, get('/', 'Connection: close\r\n'));
  });
});

test('pipelining: 3 requests in one write are answered in order, a slow first one included', () => {
  const loop = make_loop();
  serving(loop, function* (p, m, payload) {
    if (m.path === '/slow') yield* sleep(0.02);
    yield* echo(p, m, payload);
  }, {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(
      get('/slow') +
      'POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello' +
      'POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    ));
    const bodies = [];
    for (let i = 0; i < 3; i++) bodies.push((yield* read_response(reader)).body.toString());
    assert.equal(bodies, ['GET /slow 1.1 []', 'POST /body 1.1 [hello]', 'POST /chunked 1.1 [abc]']);
    writer.close();
  });
});

test('a chunked request body arriving in pieces is read chunk by chunk', () => {
  const loop = make_loop();
  const chunks: string[] = [];
  serving(loop, function* (p, m, payload) {
    for (let c = yield* payload.read(); c !== null; c = yield* payload.read()) chunks.push(c.toString());
    respond(p, m, 200, chunks.join(''));
  }, {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from('PUT /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n'));
    yield* sleep(0.01);
    writer.write(Buffer.from('6;ext=1\r\nsecond\r\n0\r\nTrailer: x\r\n\r\n'));
    const r = yield* read_response(reader);
    assert.is(r.body.toString(), 'firstsecond');
    assert.ok(chunks.length >= 2, 'the handler saw the body in more than one read');
    writer.close();
  });
});

test('a body the handler did not read is drained: the next request on the connection is intact', () => {
  const loop = make_loop();
  serving(loop, (p, m) => respond(p, m, 200, `ignored ${m.path}`), {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from('POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234'));
    assert.is((yield* read_response(reader)).body.toString(), 'ignored /a');
    writer.write(Buffer.from('56789' + get('/b')));
    assert.is((yield* read_response(reader)).body.toString(), 'ignored /b');
    writer.close();
  });
});

test('an unread body larger than DRAIN_LIMIT closes the connection after the response', () => {
  const loop = make_loop();
  serving(loop, (p, m) => respond(p, m, 200, 'no thanks'), {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    const size = DRAIN_LIMIT * 4;
    writer.write(Buffer.from(`POST / HTTP/1.1\r\nHost: t\r\nContent-Length: ${size}\r\n\r\n`));
    writer.write(Buffer.alloc(size, 0x61));
    const r = yield* read_response(reader);
    assert.is(r.body.toString(), 'no thanks');
    yield* expect_eof(reader);
    writer.close();
  });
});

test('close() from a handler closes the connection after its response', () => {
  const loop = make_loop();
  serving(loop, (p, m) => {
    respond(p, m, 200, 'bye');
    p.close();
  }, {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(get('/') + get('/never')));
    assert.is((yield* read_response(reader)).body.toString(), 'bye');
    yield* expect_eof(reader);
    writer.close();
  });
});

test('keep_alive: 0 answers one request per connection, saying Connection: close', () => {
  const loop = make_loop();
  serving(loop, echo, { keep_alive: 0 }, function* (port) {
    yield* answered_then_closed(loop, port, get('/'));
  });
});

// ---- Expect: 100-continue ----------------------------------------------------------------------------

test('100-continue: "100 Continue" comes when the handler reads the body, then the response', () => {
  const loop = make_loop();
  serving(loop, echo, {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from('POST /c HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n'));
    const interim = yield* read_response(reader);
    assert.is(interim.status, 100);
    assert.is(interim.head, 'HTTP/1.1 100 Continue\r\n\r\n');
    writer.write(Buffer.from('data'));
    const r = yield* read_response(reader);
    assert.is(r.status, 200);
    assert.is(r.body.toString(), 'POST /c 1.1 [data]');
    // The connection is still good.
    writer.write(Buffer.from(get('/next')));
    assert.is((yield* read_response(reader)).body.toString(), 'GET /next 1.1 []');
    writer.close();
  });
});

test('100-continue: a handler refusing without reading sends no 100, and the connection closes', () => {
  const loop = make_loop();
  serving(loop, (p, m) => respond(p, m, 413, 'too big for me'), {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from('POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n'));
    const r = yield* read_response(reader);
    assert.is(r.status, 413);
    assert.is(r.body.toString(), 'too big for me');
    yield* expect_eof(reader);
    writer.close();
  });
});

// ---- error pages -------------------------------------------------------------------------------------

/** Sends `request` to a server whose handler must not run; checks the error page and the close. */
function error_page(request: string, status: number, options: ServerHttpOptions = {}): string {
  const loop = make_loop();
  let called = 0;
  let html = '';
  serving(loop, (p, m) => {
    called++;
    respond(p, m, 200, 'handled');
  }, options, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(request, 'latin1'));
    const r = yield* read_response(reader);
    assert.is(r.status, status);
    assert.is(r.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.is(r.headers.get('connection'), 'close');
    html = r.body.toString();
    assert.match(html, `<title>${status} ${r.reason}</title>`);
    assert.match(html, `<h1>${status} ${r.reason}</h1>`);
    yield* expect_eof(reader);
    writer.close();
  });
  assert.is(called, 0, 'the handler must not be called');
  return html;
}

test('a malformed request line is a 400', () => {
  const html = error_page('GARBAGE\r\n\r\n', 400);
  assert.match(html, 'Bad request syntax or unsupported method');
  error_page('GET / HTTP/9.9\r\n\r\n', 400);
  error_page('GET / HT/asd\r\n\r\n', 400);
});

test('a header line too long is a 400; so is a request line over max_line_size', () => {
  error_page(get('/', `X-Big: ${'a'.repeat(9000)}\r\n`), 400);
  error_page(`GET /${'b'.repeat(200)} HTTP/1.1\r\nHost: t\r\n\r\n`, 400, { limits: { max_line_size: 100 } });
});

test('request smuggling: Content-Length with Transfer-Encoding is a 400', () => {
  error_page('POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400);
  error_page('POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 400);
});

test('a body over max_body_size is a 413, before the handler runs', () => {
  error_page('POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n' + 'x'.repeat(100), 413, { max_body_size: 10 });
});

test('a large body over max_body_size still gets its 413 read by the client (lingering close, no reset)', () => {
  const loop = make_loop();
  serving(loop, echo, { max_body_size: 1000 }, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    const size = 4 * 1024 * 1024;
    writer.write(Buffer.from(`POST / HTTP/1.1\r\nHost: t\r\nContent-Length: ${size}\r\n\r\n`));
    writer.write(Buffer.alloc(size, 0x62));
    const r = yield* read_response(reader);
    assert.is(r.status, 413);
    yield* expect_eof(reader);
    writer.close();
  });
});

test('a chunked body growing past max_body_size fails the handler\'s read with a 413', () => {
  const loop = make_loop();
  serving(loop, echo, { max_body_size: 8 }, function* (port) {
    const r = yield* fetch_raw(loop, port, 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n');
    assert.is(r.status, 413);
  });
});

test('a handler that throws gets a 500 (logged), and the server goes on serving other connections', () => {
  const loop = make_loop();
  const records = capture_logs(() => serving(loop, (p, m) => {
    if (m.path === '/boom') throw new Error('kaboom');
    respond(p, m, 200, 'fine');
  }, {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(get('/boom')));
    const r = yield* read_response(reader);
    assert.is(r.status, 500);
    assert.match(r.body.toString(), 'Internal Server Error');
    assert.not.match(r.body.toString(), 'kaboom', 'no traceback outside debug mode');
    yield* expect_eof(reader);
    writer.close();
    const ok = yield* fetch_raw(loop, port, get('/fine'));
    assert.is(ok.body.toString(), 'fine');
  }));
  assert.is(records.length, 1);
  assert.is(records[0]!.level, 'error');
  assert.is((records[0]!.error as Error).message, 'kaboom');
});

test('debug: the 500 page shows the traceback, HTML-escaped', () => {
  const loop = make_loop();
  capture_logs(() => serving(loop, () => {
    throw new Error('<script>bad</script>');
  }, { debug: true }, function* (port) {
    const r = yield* fetch_raw(loop, port, get('/'));
    assert.is(r.status, 500);
    const html = r.body.toString();
    assert.match(html, 'Traceback:');
    assert.match(html, '&lt;script&gt;bad&lt;/script&gt;');
    assert.not.match(html, '<script>');
  }));
});

test('an HttpErrorException from a handler is its page, with its extra headers', () => {
  const loop = make_loop();
  serving(loop, () => {
    throw new HttpErrorException(405, { headers: [['Allow', 'GET, HEAD']] });
  }, {}, function* (port) {
    const r = yield* fetch_raw(loop, port, 'DELETE / HTTP/1.1\r\nHost: t\r\n\r\n');
    assert.is(r.status, 405);
    assert.is(r.reason, 'Method Not Allowed');
    assert.is(r.headers.get('allow'), 'GET, HEAD');
  });
});

test('an error after the response began sends no page: the connection just closes', () => {
  const loop = make_loop();
  const records = capture_logs(() => serving(loop, function* (p, m) {
    const response = new Response(p.transport!, 200, { http_version: m.version });
    response.add_header('Content-Length', '10');
    response.send_headers();
    response.write('12345');
    yield* sleep(0);
    throw new Error('half way');
  }, {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(get('/')));
    const all = (yield* reader.read(-1)).toString();
    assert.match(all, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(all.endsWith('\r\n\r\n12345'), JSON.stringify(all));
    writer.close();
  }));
  assert.is(records.length, 1);
});

test('handle_error(): a page for any status, extra headers, unknown codes become 500', () => {
  const loop = make_loop();
  serving(loop, (p) => p.handle_error(404, null, null, null, [['X-Server', 'tulip']]), {}, function* (port) {
    const r = yield* fetch_raw(loop, port, get('/'));
    assert.is(r.status, 404);
    assert.is(r.headers.get('x-server'), 'tulip');
  });
  capture_logs(() => serving(loop, (p) => p.handle_error(999), {}, function* (port) {
    const r = yield* fetch_raw(loop, port, get('/'));
    assert.is(r.status, 500);
    assert.match(r.head, 'HTTP/1.1 500 Internal Server Error');
  }));
});

test('a handler written as an async function gets a 500 that says to use a generator', () => {
  const loop = make_loop();
  const records = capture_logs(() => serving(loop, (() => Promise.resolve()) as unknown as Handle, {}, function* (port) {
    assert.is((yield* fetch_raw(loop, port, get('/'))).status, 500);
  }));
  assert.match(String((records[0]!.error as Error).message), 'generator function');
});

// ---- timeouts and disconnections ----------------------------------------------------------------------

test('keep_alive timeout: an idle connection is closed after keep_alive seconds', () => {
  const loop = make_loop();
  serving(loop, echo, { keep_alive: 0.05 }, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(get('/')));
    yield* read_response(reader);
    const t0 = loop.time();
    yield* expect_eof(reader);
    const waited = elapsed(loop, t0);
    assert.ok(waited >= 0.04 && waited < 2, `closed after ${waited} s`);
    writer.close();
  });
});

test('keep_alive timeout: a connection that keeps sending requests stays open past it', () => {
  const loop = make_loop();
  serving(loop, echo, { keep_alive: 0.05 }, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    const t0 = loop.time();
    while (elapsed(loop, t0) < 0.2) {
      writer.write(Buffer.from(get('/')));
      assert.is((yield* read_response(reader)).status, 200);
      yield* sleep(0.02);
    }
    writer.close();
  });
});

test('slow client: a head not complete within timeout gets a 408 and the connection closes', () => {
  const loop = make_loop();
  serving(loop, echo, { timeout: 0.05 }, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from('GET / HTTP/1.1\r\nHost: t\r\n'));
    const t0 = loop.time();
    const r = yield* read_response(reader);
    assert.is(r.status, 408);
    assert.ok(elapsed(loop, t0) >= 0.04);
    yield* expect_eof(reader);
    writer.close();
  });
});

test('slow client: a connection that sends nothing is closed after timeout, without a response', () => {
  const loop = make_loop();
  serving(loop, echo, { timeout: 0.05 }, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    yield* expect_eof(reader);
    writer.close();
  });
});

test('slow client: a body that stops arriving fails the handler\'s read with a 408', () => {
  const loop = make_loop();
  let failure: unknown = null;
  serving(loop, function* (p, m, payload) {
    try {
      yield* payload.read_all();
    } catch (e) {
      failure = e;
      throw e;
    }
  }, { timeout: 0.05 }, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from('POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n123'));
    const r = yield* read_response(reader);
    assert.is(r.status, 408);
    yield* expect_eof(reader);
    writer.close();
  });
  assert.instance(failure, HttpErrorException);
});

test('a client that disconnects mid-handler cancels it: finally runs, nothing is logged', () => {
  const loop = make_loop();
  const started = new Future<null>({ loop });
  const finished = new Future<string>({ loop });
  const records = capture_logs(() => serving(loop, function* () {
    started.set_result(null);
    try {
      yield* new Future<null>({ loop }); // never done
    } catch (e) {
      if (e instanceof CancelledError) finished.set_result('cancelled');
      throw e;
    } finally {
      if (!finished.done()) finished.set_result('finally without CancelledError');
    }
  }, {}, function* (port) {
    const [, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(get('/wait')));
    yield* started;
    writer.close();
    assert.is(yield* finished, 'cancelled');
    yield* sleep(0.01);
  }));
  assert.equal(records, []);
});

test('a client that disconnects in the middle of a body cancels the handler reading it', () => {
  const loop = make_loop();
  const outcome = new Future<string>({ loop });
  serving(loop, function* (_p, _m, payload) {
    try {
      yield* payload.read_all();
      outcome.set_result('read it all?');
    } catch (e) {
      outcome.set_result((e as Error).name);
      throw e;
    }
  }, {}, function* (port) {
    const [, writer] = yield* connect(loop, port);
    writer.write(Buffer.from('POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nsome'));
    yield* sleep(0.01);
    writer.close();
    assert.is(yield* outcome, 'CancelledError');
  });
});

test('close() on an idle keep-alive connection closes it at once', () => {
  const loop = make_loop();
  let proto: TestServer | null = null;
  serving(loop, (p, m, payload) => {
    proto = p;
    return echo(p, m, payload);
  }, {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(get('/')));
    yield* read_response(reader);
    proto!.close();
    yield* expect_eof(reader);
    writer.close();
  });
});

// ---- flow control -------------------------------------------------------------------------------------

/** The protocol's private state, for the flow-control tests. */
interface Internals { _read_blocks: number; _body: { _buffer: unknown[]; _head: number } | null; stream: { _buffer: { size: number } } }

test('a handler slower than the upload: reading pauses, the backlog stays bounded, the body arrives whole', () => {
  const loop = make_loop();
  const size = 16 * 1024 * 1024;
  let paused = false;
  let backlog = 0;
  serving(loop, function* (p, m, payload) {
    yield* sleep(0.1); // the client keeps sending meanwhile
    const state = p as unknown as Internals;
    paused = state._read_blocks !== 0;
    backlog = state._body!._buffer.length - state._body!._head;
    let total = 0;
    for (let c = yield* payload.read(); c !== null; c = yield* payload.read()) total += c.length;
    respond(p, m, 200, String(total));
  }, {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(`POST / HTTP/1.1\r\nHost: t\r\nContent-Length: ${size}\r\n\r\n`));
    writer.write(Buffer.alloc(size, 0x63));
    const r = yield* read_response(reader);
    assert.is(r.body.toString(), String(size));
    writer.close();
  });
  assert.ok(paused, 'reading was paused while the handler did not read');
  assert.ok(backlog <= 20, `at most ~16 unread chunks were held, not ${backlog}`);
});

test('a pipelined flood during a slow handler is held to a bounded buffer; every request is answered in order', () => {
  const loop = make_loop();
  const count = 1000;
  const pad = 'p'.repeat(1000);
  let paused = false;
  let buffered = 0;
  serving(loop, function* (p, m) {
    if (m.path === '/slow') {
      yield* sleep(0.1);
      const state = p as unknown as Internals;
      paused = state._read_blocks !== 0;
      buffered = state.stream._buffer.size;
    }
    respond(p, m, 200, m.path);
  }, {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    let requests = get('/slow');
    for (let i = 0; i < count; i++) requests += get(`/${i}`, `X-Pad: ${pad}\r\n`);
    writer.write(Buffer.from(requests));
    assert.is((yield* read_response(reader)).body.toString(), '/slow');
    for (let i = 0; i < count; i++) assert.is((yield* read_response(reader)).body.toString(), `/${i}`);
    writer.close();
  });
  assert.ok(paused, 'reading was paused during the slow handler');
  assert.ok(buffered < 1024 * 1024, `held ${buffered} bytes of a ${count * 1040}-byte flood`);
});

test('after a 101 the handler owns the connection: it reads the client\'s EOF and can still answer', () => {
  const loop = make_loop();
  serving(loop, function* (p, m) {
    const response = new Response(p.transport!, 101, { http_version: m.version });
    response.add_headers(['Upgrade', 'echo'], ['Connection', 'upgrade']);
    response.send_headers();
    response.write_eof();
    const frames = p.stream.set_parser(function* (out: DataBuffer<Buffer>, buf: ParserBuffer) {
      for (;;) out.feed_data(yield* buf.readsome());
    });
    try {
      for (;;) p.transport!.write(yield* frames.read());
    } catch (e) {
      if ((e as Error).name !== 'EofStream') throw e;
    }
    p.transport!.write(Buffer.from('bye'));
  }, {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(get('/ws', 'Connection: upgrade\r\nUpgrade: echo\r\n')));
    const r = yield* read_response(reader);
    assert.is(r.status, 101);
    assert.is(r.headers.get('connection'), 'upgrade');
    writer.write(Buffer.from('ping'));
    assert.is((yield* reader.readexactly(4)).toString(), 'ping');
    writer.write_eof();
    assert.is((yield* reader.read(-1)).toString(), 'bye', 'the answer after our EOF, then the server closed');
    writer.close();
  });
});

test('after a 101 the new protocol may need more than INPUT_HIGH in one piece (a large WebSocket frame)', () => {
  const loop = make_loop();
  const size = 1024 * 1024;
  serving(loop, function* (p, m) {
    const response = new Response(p.transport!, 101, { http_version: m.version });
    response.add_headers(['Upgrade', 'big'], ['Connection', 'upgrade']);
    response.send_headers();
    const whole = p.stream.set_parser(function* (out: DataBuffer<Buffer>, buf: ParserBuffer) {
      out.feed_data(yield* buf.read(size));
    });
    p.transport!.write(Buffer.from(`got ${(yield* whole.read()).length}`));
  }, {}, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(get('/big', 'Connection: upgrade\r\nUpgrade: big\r\n')));
    assert.is((yield* read_response(reader)).status, 101);
    writer.write(Buffer.alloc(size, 0x61));
    assert.is((yield* reader.read(-1)).toString(), `got ${size}`);
    writer.close();
  });
});

// ---- access log ---------------------------------------------------------------------------------------

test('access_log: one combined-format line per request, errors and bytes included', () => {
  const loop = make_loop();
  const lines: string[] = [];
  const access = new Logger();
  access.handler = (r) => lines.push(r.message);
  serving(loop, echo, { access_log: access }, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(get('/p?q="x"', 'User-Agent: tester/1\r\nReferer: http://r/\r\n')));
    const r = yield* read_response(reader);
    writer.write(Buffer.from('BAD\r\n\r\n'));
    yield* read_response(reader);
    writer.close();
    assert.is(lines.length, 2);
    const size = r.head.length + r.body.length;
    assert.match(lines[0]!, new RegExp(
      String.raw`^127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET /p\?q=\\"x\\" HTTP/1\.1" 200 ${size} "http://r/" "tester/1"$`,
    ));
    assert.match(lines[1]!, /^127\.0\.0\.1 - - \[.*\] "-" 400 \d+ "-" "-"$/);
  });
});

// ---- the handler adapter ------------------------------------------------------------------------------

/** Serves `handler` with serve(); the body gets the port. */
function adapter(loop: AbstractEventLoop, handler: Handler, body: (port: number) => Coroutine<void>, options = {}): void {
  run(loop, (function* () {
    const server = yield* serve(handler, '127.0.0.1', 0, { loop, ...options });
    try {
      yield* body(port_of(server));
    } finally {
      server.close();
    }
  })());
}

test('adapter: the request\'s method, path, query, headers, peer; a text response with Content-Length', () => {
  const loop = make_loop();
  let req: ServerRequest | null = null;
  adapter(loop, (request) => {
    req = request;
    return { body: `hi ${request.query.get('name')} at ${request.path}` };
  }, function* (port) {
    const r = yield* fetch_raw(loop, port, get('/caf%C3%A9/x?name=t%C3%BClip&n=1&n=2', 'X-A: 1\r\n'));
    assert.is(r.status, 200);
    assert.is(r.body.toString(), 'hi tülip at /café/x');
    assert.is(r.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.is(r.headers.get('content-length'), String(r.body.length));
    const q = req!;
    assert.is(q.method, 'GET');
    assert.is(q.raw_path, '/caf%C3%A9/x?name=t%C3%BClip&n=1&n=2');
    assert.is(q.query_string, 'name=t%C3%BClip&n=1&n=2');
    assert.equal(q.query.getAll('n'), ['1', '2']);
    assert.equal(q.version, [1, 1]);
    assert.is(q.headers.get('x-a'), '1');
    assert.is(q.host, 'test');
    assert.is(q.remote, '127.0.0.1');
    assert.is(q.scheme, 'http');
    assert.is(q.keep_alive, true);
  });
});

test('adapter: json() in, json_response() out; bad JSON is a 400', () => {
  const loop = make_loop();
  adapter(loop, function* (request): Coroutine<HandlerResponse> {
    const data = yield* request.json<{ n: number }>();
    return json_response({ doubled: data.n * 2 }, { status: 201, headers: { 'X-Kind': 'json' } });
  }, function* (port) {
    const body = '{"n": 21}';
    let r = yield* fetch_raw(loop, port, `POST /j HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    assert.is(r.status, 201);
    assert.is(r.headers.get('content-type'), 'application/json');
    assert.is(r.headers.get('x-kind'), 'json');
    assert.equal(JSON.parse(r.body.toString()), { doubled: 42 });
    r = yield* fetch_raw(loop, port, 'POST /j HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n{{{');
    assert.is(r.status, 400);
  });
});

test('adapter: text() honours the charset; form() parses urlencoded bodies', () => {
  const loop = make_loop();
  adapter(loop, function* (request): Coroutine<HandlerResponse> {
    if (request.content_type === 'application/x-www-form-urlencoded') {
      const form = yield* request.form();
      return text_response(`${form.get('a')}+${form.get('b')}`);
    }
    return text_response(`${request.charset}:${yield* request.text()}`);
  }, function* (port) {
    let r = yield* fetch_raw(loop, port, Buffer.concat([
      Buffer.from('POST / HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Length: 4\r\n\r\n'),
      Buffer.from([0x63, 0x61, 0x66, 0xe9]),
    ]));
    assert.is(r.body.toString(), 'iso-8859-1:café');
    r = yield* fetch_raw(loop, port, 'POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 12\r\n\r\na=1&b=x+y%21');
    assert.is(r.body.toString(), '1+x y!');
  });
});

test('adapter: an iterable body is sent chunked on HTTP/1.1, until close on HTTP/1.0; HEAD gets its length', () => {
  const loop = make_loop();
  adapter(loop, () => ({ body: ['one,', Buffer.from('two,'), 'three'] }), function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(get('/')));
    let r = yield* read_response(reader);
    assert.is(r.headers.get('transfer-encoding'), 'chunked');
    assert.is(r.headers.get('content-type'), 'application/octet-stream');
    assert.is(r.body.toString(), 'one,two,three');
    writer.write(Buffer.from('HEAD / HTTP/1.1\r\nHost: t\r\n\r\n'));
    r = yield* read_response(reader, { head: true });
    assert.is(r.headers.get('content-length'), '13');
    writer.write(Buffer.from(get('/again')));
    r = yield* read_response(reader);
    assert.is(r.body.toString(), 'one,two,three', 'HEAD sent no body bytes');
    writer.close();
    r = yield* fetch_raw(loop, port, 'GET / HTTP/1.0\r\n\r\n');
    assert.is(r.headers.get('connection'), 'close');
    assert.is(r.body.toString(), 'one,two,three');
  });
});

test('adapter: a large chunked body arrives whole (flow control between chunks)', () => {
  const loop = make_loop();
  const chunk = Buffer.alloc(64 * 1024, 0x7a);
  const count = 64; // 4 MiB: far past the transport's high-water mark
  adapter(loop, () => ({ body: Array.from({ length: count }, () => chunk) }), function* (port) {
    const r = yield* fetch_raw(loop, port, get('/big'));
    assert.is(r.body.length, chunk.length * count);
    assert.ok(r.body.every((b) => b === 0x7a));
  });
});

test('adapter: status without body (204, null body), HEAD of a text body, reason phrase', () => {
  const loop = make_loop();
  adapter(loop, (request) => {
    if (request.path === '/none') return { status: 204 };
    if (request.path === '/empty') return { status: 200, body: null };
    return { status: 299, reason: 'Fine Enough', body: 'text' };
  }, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(get('/none') + get('/empty') + 'HEAD /t HTTP/1.1\r\nHost: t\r\n\r\n' + get('/t')));
    let r = yield* read_response(reader);
    assert.is(r.status, 204);
    assert.not.ok(r.headers.has('content-length'));
    r = yield* read_response(reader);
    assert.is(r.headers.get('content-length'), '0');
    r = yield* read_response(reader, { head: true });
    assert.is(r.headers.get('content-length'), '4');
    r = yield* read_response(reader);
    assert.is(r.head.split('\r\n')[0], 'HTTP/1.1 299 Fine Enough');
    assert.is(r.body.toString(), 'text');
    writer.close();
  });
});

test('adapter: a handler returning nothing, or throwing, is a 500; HttpErrorException its own page', () => {
  const loop = make_loop();
  const records = capture_logs(() => adapter(loop, (request) => {
    if (request.path === '/missing') throw new HttpErrorException(404);
    if (request.path === '/throw') throw new RangeError('nope');
    return undefined as unknown as HandlerResponse;
  }, function* (port) {
    assert.is((yield* fetch_raw(loop, port, get('/missing'))).status, 404);
    assert.is((yield* fetch_raw(loop, port, get('/throw'))).status, 500);
    assert.is((yield* fetch_raw(loop, port, get('/undefined'))).status, 500);
  }));
  assert.is(records.length, 2);
  assert.match(String((records[1]!.error as Error).message), 'return a response object');
});

test('adapter: a malformed percent-escape in the path is a 400', () => {
  const loop = make_loop();
  adapter(loop, (request) => ({ body: request.path }), function* (port) {
    assert.is((yield* fetch_raw(loop, port, get('/bad%zz'))).status, 400);
    assert.is((yield* fetch_raw(loop, port, get('/ok%20'))).body.toString(), '/ok ');
  });
});

test('adapter: keep-alive and pipelining through serve()', () => {
  const loop = make_loop();
  adapter(loop, function* (request): Coroutine<HandlerResponse> {
    if (request.path === '/slow') yield* sleep(0.01);
    return { body: request.path };
  }, function* (port) {
    const [reader, writer] = yield* connect(loop, port);
    writer.write(Buffer.from(get('/slow') + get('/a') + get('/b')));
    const got = [];
    for (let i = 0; i < 3; i++) got.push((yield* read_response(reader)).body.toString());
    assert.equal(got, ['/slow', '/a', '/b']);
    writer.close();
  });
});

test('adapter: bodies are limited to DEFAULT_MAX_BODY_SIZE unless max_body_size says otherwise', () => {
  const loop = make_loop();
  const big = Buffer.alloc(DEFAULT_MAX_BODY_SIZE + 1, 0x64);
  const request = Buffer.concat([Buffer.from(`POST / HTTP/1.1\r\nHost: t\r\nContent-Length: ${big.length}\r\n\r\n`), big]);
  const handler: Handler = function* (req) {
    return { body: String((yield* req.read()).length) };
  };
  adapter(loop, handler, function* (port) {
    assert.is((yield* fetch_raw(loop, port, request)).status, 413);
  });
  adapter(loop, handler, function* (port) {
    assert.is((yield* fetch_raw(loop, port, request)).body.toString(), String(big.length));
  }, { max_body_size: null });
});

test('HandlerServerProtocol and serve() check their arguments', () => {
  assert.throws(() => new HandlerServerProtocol(42 as unknown as Handler), /handler function/);
  assert.throws(() => new ServerHttpProtocol({ keep_alive: -1, loop: make_loop() }), /keep_alive/);
  assert.throws(() => new ServerHttpProtocol({ max_body_size: 1.5, loop: make_loop() }), /max_body_size/);
});

test.run();
