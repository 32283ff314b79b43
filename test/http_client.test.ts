// The HTTP client (coroutines/http/client.ts, session.ts, cookies.ts, forms.ts): HttpRequest as Tulip's
// tests/http_client_test.py checks it, then request() over real sockets on 127.0.0.1 against a small server
// on the same loop (test/support/http_server.ts): bodies with Content-Length and chunked, redirects, cookies,
// auth, timeouts, Session keep-alive reuse and stale connections, https with a test CA. The interop cases
// (python3's http.server, Node's http) are in test/http_client_interop.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deflateRawSync, deflateSync, gunzipSync, gzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import {
  PROTOCOL_TLS_SERVER, Protocol, SSLCertVerificationError, SSLContext, TimeoutError, create_default_context, gather, set_event_loop, sleep,
  type AbstractEventLoop, type Coroutine,
} from '../src/index.js';
import {
  BodyStream, CIMultiDict, CookieJar, FormData, PayloadTooLarge, HttpRequest, HttpResponse, InvalidURL, RemoteDisconnected, Session, TooManyRedirects,
  basic_auth, parse_cookie_date, parse_set_cookie, quote_plus, request, urlencode,
} from '../coroutines/http/index.js';
import { make_certs, type Certs } from './support/certs.js';
import { make_loop, register_loop_cleanup, run } from './support/loops.js';
import { TestServer, echo, type Handler, type Received } from './support/http_server.js';
import { throws_a } from './support/asserts.js';

register_loop_cleanup();

let loop: AbstractEventLoop;
test.before.each(() => {
  loop = make_loop();
  set_event_loop(loop);
});
test.after.each(() => set_event_loop(null));

/** Runs `body` with a server answering with `handler`; the server is closed afterwards. */
function served<T>(handler: Handler, body: (srv: TestServer) => Coroutine<T>, ssl: SSLContext | null = null): T {
  const srv = new TestServer(loop, handler, ssl);
  run(loop, srv.start());
  try {
    return run(loop, body(srv));
  } finally {
    srv.close();
  }
}

function header(req: Received, name: string): string | undefined {
  return req.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

interface Echoed { method: string; path: string; headers: Array<[string, string]>; body: string }

function* echoed(resp: HttpResponse): Coroutine<Echoed> {
  return (yield* resp.json()) as Echoed;
}

function echoed_header(e: Echoed, name: string): string | undefined {
  return e.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

// ---- HttpRequest, as Tulip's tests check it ----

test('HttpRequest: method upper-cased, version, host and port, https', () => {
  assert.is(new HttpRequest('get', 'http://python.org/').method, 'GET');
  assert.equal(new HttpRequest('get', 'http://python.org/', { version: '1.0' }).version, [1, 0]);
  throws_a(() => new HttpRequest('get', 'http://python.org/', { version: '1.c' }), RangeError, /Can not parse http version/);
  let req = new HttpRequest('get', 'http://python.org/');
  assert.equal([req.host, req.port, req.ssl], ['python.org', 80, null]);
  req = new HttpRequest('get', 'https://python.org/');
  assert.equal([req.host, req.port], ['python.org', 443]);
  assert.instance(req.ssl, SSLContext);
  req = new HttpRequest('get', 'http://[::1]:8080/x');
  assert.equal([req.host, req.port, req.headers.get('host')], ['::1', 8080, '[::1]:8080']);
  throws_a(() => new HttpRequest('g et', 'http://python.org/'), TypeError, /invalid HTTP method/);
});

test('HttpRequest: bad URLs and schemes are InvalidURL with a reason', () => {
  throws_a(() => new HttpRequest('get', 'python.org/x'), InvalidURL, /not an absolute URL; did you mean http:\/\/python.org\/x\?/);
  throws_a(() => new HttpRequest('get', 'ftp://python.org/'), InvalidURL, /unsupported scheme "ftp"/);
  throws_a(() => new HttpRequest('get', 'http://'), InvalidURL, /not an absolute URL/);
  throws_a(() => new HttpRequest('get', 'http://h:99999/'), InvalidURL);
});

test('HttpRequest: path, query and params; the fragment is not sent', () => {
  assert.is(new HttpRequest('get', 'http://python.org').path, '/');
  assert.is(new HttpRequest('get', 'http://python.org/a b/ü#frag').path, '/a%20b/%C3%BC');
  assert.is(new HttpRequest('get', 'http://python.org/p?test=true', { params: { q: 'a b', tag: ['x', 'y&z'] } }).path, '/p?test=true&q=a+b&tag=x&tag=y%26z');
  assert.is(new HttpRequest('get', 'http://python.org/', { params: [['a', 1], ['b', true]] }).path, '/?a=1&b=true');
  // Tulip: a form given to a GET goes into the query string.
  const req = new HttpRequest('get', 'http://python.org/', { data: { some: 'data' } });
  assert.is(req.path, '/?some=data');
  assert.is(req.body.length, 0);
});

test('HttpRequest: headers in the caller\'s order, then the defaults; no Content-Length on a bodiless GET', () => {
  const req = new HttpRequest('get', 'http://python.org:8080/', { headers: [['X-B', '1'], ['x-a', '2'], ['Accept', 'text/html']] });
  assert.equal([...req.headers], [['X-B', '1'], ['x-a', '2'], ['Accept', 'text/html'], ['Host', 'python.org:8080'], ['Accept-Encoding', 'gzip, deflate']]);
  throws_a(() => new HttpRequest('get', 'http://python.org/', { headers: { 'X-Evil': 'a\r\nInjected: 1' } }), TypeError, /would split/);
  assert.is(new HttpRequest('post', 'http://python.org/').headers.get('content-length'), '0');
});

test('HttpRequest: bodies — form, text, bytes, multipart, chunked', () => {
  let req = new HttpRequest('post', 'http://python.org/', { data: { some: 'da ta', n: 1 } });
  assert.is(req.body.toString(), 'some=da+ta&n=1');
  assert.is(req.headers.get('content-type'), 'application/x-www-form-urlencoded');
  assert.is(req.headers.get('content-length'), '14');
  req = new HttpRequest('post', 'http://python.org/', { data: new Uint8Array([1, 2, 3]) });
  assert.is(req.headers.get('content-type'), 'application/octet-stream');
  req = new HttpRequest('post', 'http://python.org/', { data: 'x=1', headers: { 'Content-Type': 'text/plain' } });
  assert.equal(req.headers.getall('content-type'), ['text/plain']);
  req = new HttpRequest('put', 'http://python.org/', { data: 'x'.repeat(100), chunked: 30 });
  assert.equal([req.chunked, req.headers.get('transfer-encoding'), req.headers.has('content-length')], [30, 'chunked', false]);
  const form = new FormData({ test: 'true' });
  form.add_field('some', 'file "contents"\n', { filename: 'a"b.txt' });
  req = new HttpRequest('post', 'http://python.org/', { data: form });
  assert.is(req.headers.get('content-type'), `multipart/form-data; boundary=${form.boundary}`);
  assert.is(req.body.toString(), [
    `--${form.boundary}`, 'Content-Disposition: form-data; name="test"', '', 'true',
    `--${form.boundary}`, 'Content-Disposition: form-data; name="some"; filename="a%22b.txt"', 'Content-Type: text/plain', '', 'file "contents"\n',
    `--${form.boundary}--`, '',
  ].join('\r\n'));
  throws_a(() => new HttpRequest('get', 'http://python.org/', { data: 'x', chunked: true, version: '1.0' }), RangeError, /chunked body needs HTTP\/1.1/);
});

test('HttpRequest: basic auth from the option or the URL; cookies', () => {
  let req = new HttpRequest('get', 'http://python.org/', { auth: ['nkim', '1234'] });
  assert.is(req.headers.get('authorization'), 'Basic bmtpbToxMjM0');
  req = new HttpRequest('get', 'http://nkim:12%2034@python.org/');
  assert.is(req.headers.get('authorization'), basic_auth('nkim', '12 34'));
  assert.is(req.url.href, 'http://python.org/');
  throws_a(() => basic_auth('a:b', 'c'), RangeError, /cannot contain ":"/);
  req = new HttpRequest('get', 'http://python.org/', { headers: { Cookie: 'cookie1=val1' }, cookies: { cookie2: 'val2' } });
  assert.is(req.headers.get('cookie'), 'cookie1=val1; cookie2=val2');
  req.update_cookies([['cookie1', 'jar']], false);
  assert.is(req.headers.get('cookie'), 'cookie1=val1; cookie2=val2');
  throws_a(() => new HttpRequest('get', 'http://python.org/', { cookies: { 'a;b': 'c' } }), TypeError, /invalid cookie/);
});

test('urlencode / quote_plus follow Python', () => {
  assert.is(quote_plus("a b&c=d/é~*'!"), 'a+b%26c%3Dd%2F%C3%A9~%2A%27%21');
  assert.is(urlencode({ a: ['1', '2'], b: 'x y' }), 'a=1&a=2&b=x+y');
  assert.is(urlencode(new URLSearchParams('x=1&y=2')), 'x=1&y=2');
  throws_a(() => urlencode({ a: null as unknown as string }), TypeError, /must be a string, number or boolean/);
});

// ---- cookies ----

test('cookie dates: RFC 6265 formats, and nonsense rejected', () => {
  const t = Date.UTC(2021, 5, 9, 10, 18, 14);
  assert.is(parse_cookie_date('Wed, 09 Jun 2021 10:18:14 GMT'), t);
  assert.is(parse_cookie_date('Wednesday, 09-Jun-21 10:18:14 GMT'), t);
  assert.is(parse_cookie_date('Wed Jun  9 10:18:14 2021'), t);
  assert.is(parse_cookie_date('Wed, 31 Feb 2021 10:18:14 GMT'), null);
  assert.is(parse_cookie_date('tomorrow'), null);
});

test('Set-Cookie parsing: attributes, Max-Age over Expires, bad ones ignored', () => {
  const c = parse_set_cookie('sid=abc; Path=/app; Domain=.Example.COM; Secure; HttpOnly; Max-Age=60; Expires=Wed, 09 Jun 2021 10:18:14 GMT; SameSite=Lax', 1000)!;
  assert.equal(c, { name: 'sid', value: 'abc', domain: 'example.com', path: '/app', expires: 61000, secure: true, http_only: true, same_site: 'Lax' });
  assert.is(parse_set_cookie('novalue'), null);
  assert.is(parse_set_cookie('=x'), null);
  assert.is(parse_set_cookie('a=b; Max-Age=0', 5)!.expires, -Infinity);
  assert.is(parse_set_cookie('a=b; Path=relative')!.path, null);
  assert.is(parse_set_cookie('a=' + 'x'.repeat(5000)), null);
});

test('CookieJar: host-only, domain, path, secure and expiry rules', () => {
  let now = 1_000_000;
  const jar = new CookieJar({ now: () => now });
  const url = new URL('http://www.example.com/app/page');
  jar.extract_cookies([
    'host=1', 'dom=2; Domain=example.com', 'root=3; Path=/', 'sec=4; Secure', 'short=5; Max-Age=10',
    'evil=6; Domain=other.com', 'tld=7; Domain=com', 'deep=8; Path=/app/sub',
  ], url);
  assert.is(jar.size, 6);
  assert.is(jar.cookie_header('http://www.example.com/app/x'), 'host=1; dom=2; short=5; root=3');
  assert.is(jar.cookie_header('https://www.example.com/app/x'), 'host=1; dom=2; sec=4; short=5; root=3');
  assert.is(jar.cookie_header('http://www.example.com/app/sub/y'), 'deep=8; host=1; dom=2; short=5; root=3');
  assert.is(jar.cookie_header('http://sub.example.com/app/sub/y'), 'dom=2');
  assert.is(jar.cookie_header('http://example.com/'), '');
  assert.is(jar.cookie_header('http://www.example.com/application'), 'root=3');
  now += 11_000;
  assert.is(jar.cookie_header('http://www.example.com/app/'), 'host=1; dom=2; root=3');
  jar.extract_cookies(['host=gone; Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'dom=new; Domain=example.com'], url);
  assert.is(jar.cookie_header('http://www.example.com/app/'), 'dom=new; root=3');
  // An IP address only ever matches itself.
  jar.extract_cookies(['ip=1', 'ipdom=2; Domain=0.0.1'], new URL('http://127.0.0.1/'));
  assert.is(jar.cookie_header('http://127.0.0.1/'), 'ip=1');
  jar.update_cookies({ everywhere: 'x' });
  assert.is(jar.cookie_header('http://any.where/'), 'everywhere=x');
});

test('CookieJar: memory is bounded per domain', () => {
  const jar = new CookieJar();
  const url = new URL('http://example.com/');
  jar.extract_cookies(Array.from({ length: 200 }, (_, i) => `c${i}=v`), url);
  assert.is(jar.size, 50);
  assert.match(jar.cookie_header(url), /^c150=v; /);
});

// ---- request() over sockets ----

test('GET and POST with Content-Length: status, reason, headers, read() twice, text(), json()', () => {
  served(echo, function* (srv) {
    for (const method of ['get', 'post', 'put', 'delete', 'head', 'options', 'patch']) {
      const r = yield* request(method, srv.url(`/method/${method}`));
      assert.is(r.status, 200);
      assert.is(r.reason, 'OK');
      assert.equal(r.version, [1, 1]);
      const body1 = yield* r.read();
      const body2 = yield* r.read();
      assert.is(body1, body2);
      if (method === 'head') {
        assert.is(body1.length, 0);
        assert.ok(Number(r.headers.get('content-length')) > 0);
        continue;
      }
      const e = JSON.parse(body1.toString()) as Echoed;
      assert.is(e.method, method.toUpperCase());
      assert.is(e.path, `/method/${method}`);
    }
    const r = yield* request('POST', srv.url('/form'), { data: { some: 'data', n: [1, 2] }, headers: { 'X-Order': 'first' } });
    const e = yield* echoed(r);
    assert.is(e.body, 'some=data&n=1&n=2');
    assert.is(echoed_header(e, 'content-length'), '17');
    assert.is(echoed_header(e, 'connection'), 'close');
    assert.is(e.headers[1]![0], 'X-Order');
    assert.is(r.content_type, 'application/json');
    assert.is(r.headers.get('CONTENT-TYPE'), 'application/json');
    assert.match(String(r), /^<HttpResponse\(http:\/\/127\.0\.0\.1:\d+\/form\) \[200 OK\]>\nConnection: close\n/);
    assert.is(srv.connections, 8);
  });
});

test('chunked bodies both ways; a body that ends at EOF; text() honours the charset', () => {
  served((req) => {
    if (req.path === '/chunked') return { chunked: true, body: [Buffer.from('hello, '), Buffer.from('chunked '), Buffer.from('world')] };
    if (req.path === '/eof') return { eof_body: true, body: 'until the end' };
    if (req.path === '/latin1') return { headers: [['Content-Type', 'text/plain; charset=ISO-8859-1']], body: Buffer.from([0x63, 0x61, 0x66, 0xe9]) };
    return echo(req);
  }, function* (srv) {
    let r = yield* request('GET', srv.url('/chunked'));
    assert.is(r.headers.get('transfer-encoding'), 'chunked');
    assert.is(yield* r.text(), 'hello, chunked world');
    r = yield* request('GET', srv.url('/eof'));
    assert.equal(r.version, [1, 0]);
    assert.is(yield* r.text(), 'until the end');
    r = yield* request('GET', srv.url('/latin1'));
    assert.is(r.charset, 'iso-8859-1');
    assert.is(yield* r.text(), 'café');
    const big = 'x'.repeat(100_000);
    r = yield* request('POST', srv.url('/up'), { data: big, chunked: 4096 });
    assert.is((yield* echoed(r)).body, big);
    assert.is(srv.requests.at(-1)!.body.length, 100_000);
    assert.is(header(srv.requests.at(-1)!, 'transfer-encoding'), 'chunked');
    assert.is(header(srv.requests.at(-1)!, 'content-length'), undefined);
  });
});

test('gzip and deflate response bodies are decoded (Content-Length or chunked)', () => {
  const text = 'tulip '.repeat(20_000);
  const bodies: Record<string, Buffer> = {
    gzip: gzipSync(text), deflate: deflateSync(text), 'deflate-raw': deflateRawSync(text),
  };
  served((req) => {
    const [, coding, framing] = req.path.split('/');
    const body = bodies[coding!]!;
    const chunks = framing === 'chunked' ? [body.subarray(0, 10), body.subarray(10, 100), body.subarray(100)] : body;
    return { headers: [['Content-Encoding', coding!.replace('-raw', '')]], body: chunks, chunked: framing === 'chunked' };
  }, function* (srv) {
    for (const coding of Object.keys(bodies)) {
      for (const framing of ['length', 'chunked']) {
        const r = yield* request('GET', srv.url(`/${coding}/${framing}`));
        assert.is(yield* r.text(), text, `${coding} ${framing}`);
      }
    }
    assert.is(header(srv.requests[0]!, 'accept-encoding'), 'gzip, deflate');
  });
});

test('compress: the request body goes deflated (or gzipped), chunked, with Content-Encoding', () => {
  served(echo, function* (srv) {
    const text = 'compress me '.repeat(1000);
    for (const compress of [true, 'gzip'] as const) {
      yield* (yield* request('POST', srv.url('/c'), { data: text, compress })).read();
      const got = srv.requests.at(-1)!;
      const coding = compress === true ? 'deflate' : 'gzip';
      assert.equal([header(got, 'content-encoding'), header(got, 'transfer-encoding')], [coding, 'chunked']);
      assert.ok(got.body.length < text.length / 10);
      const plain = coding === 'gzip' ? gunzipSync(got.body) : got.body[0] === 0x78 ? inflateSync(got.body) : inflateRawSync(got.body);
      assert.is(plain.toString(), text);
    }
  });
});

test('multipart upload arrives as the server expects', () => {
  served(echo, function* (srv) {
    const form = new FormData();
    form.add_field('name', 'tulip');
    form.add_field('file', Buffer.from([0, 1, 2, 255]), { filename: 'data.bin' });
    const r = yield* request('POST', srv.url('/upload'), { data: form });
    yield* r.read();
    const got = srv.requests[0]!;
    assert.is(header(got, 'content-type'), form.content_type);
    assert.ok(got.body.includes(Buffer.concat([Buffer.from('Content-Type: application/octet-stream\r\n\r\n'), Buffer.from([0, 1, 2, 255]), Buffer.from('\r\n')])));
  });
});

test('Expect: 100-continue: the body follows the go-ahead; a refusal leaves it unsent', () => {
  served(echo, function* (srv) {
    let t0 = loop.time();
    let r = yield* request('POST', srv.url('/expect'), { data: 'payload', expect100: true });
    assert.is((yield* echoed(r)).body, 'payload');
    assert.is(header(srv.requests[0]!, 'expect'), '100-continue');
    assert.ok(loop.time() - t0 < 0.9, 'waited for the 100 Continue that had come');
    // A server that never says 100 Continue gets the body after a second anyway.
    t0 = loop.time();
    r = yield* request('PUT', srv.url('/ignore'), { data: 'late', headers: { Expect: '100-continue' } });
    assert.is((yield* echoed(r)).body, 'late');
    assert.ok(loop.time() - t0 >= 0.99);
    // A refusal: the final status comes back, the body was never sent.
    const session = new Session();
    try {
      r = yield* session.request('POST', srv.url('/refuse'), { data: 'x'.repeat(1 << 20), expect100: true });
      assert.is(r.status, 417);
      assert.is((yield* r.read()).length, 0);
      assert.is(session.idle_count(), 0);
    } finally {
      session.close();
    }
  });
});

test('BodyStream: chunks go chunked, or with the length given; text as UTF-8; a wrong length or chunk is an error', () => {
  served(echo, function* (srv) {
    function* chunks(): Generator<Uint8Array | string> {
      yield Buffer.from('ab');
      yield 'cd';
      yield 'é';
    }
    let r = yield* request('POST', srv.url('/up'), { data: new BodyStream(chunks()) });
    let e = yield* echoed(r);
    assert.is(Buffer.from(e.body, 'latin1').toString('utf8'), 'abcdé');
    assert.is(echoed_header(e, 'transfer-encoding'), 'chunked');
    assert.is(echoed_header(e, 'content-type'), 'application/octet-stream');
    r = yield* request('PUT', srv.url('/up'), { data: new BodyStream(chunks(), { length: 6 }) });
    e = yield* echoed(r);
    assert.equal([echoed_header(e, 'content-length'), echoed_header(e, 'transfer-encoding')], ['6', undefined]);
    assert.is(Buffer.from(e.body, 'latin1').toString('utf8'), 'abcdé');
    r = yield* request('POST', srv.url('/up'), { data: new BodyStream(chunks()), compress: true });
    e = yield* echoed(r);
    assert.equal([echoed_header(e, 'content-encoding'), echoed_header(e, 'transfer-encoding')], ['deflate', 'chunked']);
    assert.is(inflateSync(Buffer.from(e.body, 'latin1')).toString('utf8'), 'abcdé', 'compressed as it streamed');
    // Fewer bytes than promised would leave the server waiting: the request fails at once instead.
    let error: unknown = null;
    try {
      yield* request('PUT', srv.url('/up'), { data: new BodyStream(chunks(), { length: 7 }), timeout: 5 });
    } catch (exc) {
      error = exc;
    }
    assert.instance(error, RangeError);
    assert.match((error as Error).message, /said 7 bytes and gave 6/);
    error = null;
    try {
      yield* request('POST', srv.url('/up'), { data: new BodyStream([Buffer.from('x'), 42 as unknown as string]), timeout: 5 });
    } catch (exc) {
      error = exc;
    }
    assert.instance(error, TypeError);
    assert.match((error as Error).message, /chunk must be bytes or text, got number/);
  });
  throws_a(() => new BodyStream(42 as unknown as Iterable<string>), TypeError, /needs an iterable of chunks/);
  throws_a(() => new BodyStream([], { length: -1 }), RangeError, /must be a byte count/);
  throws_a(() => new HttpRequest('POST', 'http://h/', { data: new BodyStream([]), version: '1.0' }), RangeError, /needs HTTP\/1.1 \(or a BodyStream with its length\)/);
  assert.is(new HttpRequest('POST', 'http://h/', { data: new BodyStream([], { length: 0 }), version: '1.0' }).headers.get('content-length'), '0');
});

test('BodyStream: a large upload is paced by the connection (the producer waits), and arrives whole', () => {
  const CHUNK = 16 * 1024;
  const COUNT = 1024; // 16 MiB: far more than the socket and the transport buffer hold
  served((req) => ({ body: JSON.stringify({ length: req.body.length, ok: req.body.every((b, i) => b === Math.floor(i / CHUNK) % 251) }) }), function* (srv) {
    // Counts loop turns: chunks produced within one turn are what the transport had to buffer at once.
    let turns = 0;
    let counting = true;
    const tick = (): void => {
      turns++;
      if (counting) loop.call_soon(tick);
    };
    loop.call_soon(tick);
    const per_turn = new Map<number, number>();
    function* chunks(): Generator<Uint8Array> {
      for (let i = 0; i < COUNT; i++) {
        per_turn.set(turns, (per_turn.get(turns) ?? 0) + 1);
        yield Buffer.alloc(CHUNK, i % 251);
      }
    }
    try {
      const r = yield* request('POST', srv.url('/big'), { data: new BodyStream(chunks()) });
      assert.equal(yield* r.json(), { length: CHUNK * COUNT, ok: true });
    } finally {
      counting = false;
    }
    const most = Math.max(...per_turn.values());
    assert.ok(per_turn.size > 4, `the producer was suspended: ${per_turn.size} turns`);
    assert.ok(most < COUNT / 2, `at most ${most} chunks (of ${COUNT}) went into the buffers in one turn`);
  });
});

test('BodyStream: an iterator that throws fails the request with its error, and the connection closes', () => {
  served(echo, function* (srv) {
    function* failing(): Generator<Uint8Array> {
      yield Buffer.from('start');
      throw new Error('the disk is on fire');
    }
    let error: unknown = null;
    try {
      yield* request('POST', srv.url('/up'), { data: new BodyStream(failing()), timeout: 5 });
    } catch (exc) {
      error = exc;
    }
    assert.instance(error, Error);
    assert.is((error as Error).message, 'the disk is on fire');
    yield* sleep(0.05);
    assert.is(srv.requests.length, 0, 'the server never got a whole request');
  });
});

test('BodyStream: an answer before the body is done, or a timeout, stops the upload', () => {
  // A server that refuses as soon as it sees the head, then reads on and drops whatever comes (as a server
  // does that wants the client to notice the answer instead of a reset).
  let received = 0;
  let silent = false;
  class EarlyRefusal extends Protocol {
    private answered = false;
    private transport: import('../src/index.js').Transport | null = null;
    override connection_made(transport: import('../src/index.js').Transport): void {
      this.transport = transport;
    }
    override data_received(data: Buffer): void {
      received += data.length;
      if (!silent && !this.answered && data.includes('\r\n\r\n')) {
        this.answered = true;
        this.transport!.write(Buffer.from('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n'));
      }
    }
  }
  run(loop, (function* () {
    const server = yield* loop.create_server(() => new EarlyRefusal(), '127.0.0.1', 0);
    const port = (server.sockets![0]!.getsockname() as [string, number])[1];
    let produced = 0;
    function* endless(): Generator<Uint8Array> {
      for (;;) {
        produced++;
        yield Buffer.alloc(16 * 1024, 0x61);
      }
    }
    try {
      const r = yield* request('POST', `http://127.0.0.1:${port}/upload`, { data: new BodyStream(endless()), timeout: 10 });
      assert.is(r.status, 413);
      assert.is((yield* r.read()).length, 0);
      const at_answer = produced;
      yield* sleep(0.1);
      assert.is(produced, at_answer, 'nothing was produced after the response was done with');
      assert.ok(received > 0, 'part of the body went out before the answer');
      // A server that reads on and never answers: the timeout ends the request, and the upload with it.
      silent = true;
      let error: unknown = null;
      try {
        yield* request('POST', `http://127.0.0.1:${port}/upload`, { data: new BodyStream(endless()), timeout: 0.2 });
      } catch (exc) {
        error = exc;
      }
      assert.instance(error, TimeoutError);
      const at_timeout = produced;
      yield* sleep(0.1);
      assert.is(produced, at_timeout, 'nothing was produced after the timeout');
    } finally {
      server.close();
    }
  })());
});

test('BodyStream: a 307/308 comes back (the body cannot be sent twice); a 303 is followed as a GET', () => {
  served((req) => {
    const m = /^\/r\/(\d+)$/.exec(req.path);
    if (m) return { status: Number(m[1]), headers: [['Location', '/end']], body: 'moved' };
    return echo(req);
  }, function* (srv) {
    for (const code of [307, 308]) {
      const r = yield* request('PUT', srv.url(`/r/${code}`), { data: new BodyStream([Buffer.from('once')]) });
      assert.is(r.status, code);
      assert.is((yield* r.text()), 'moved');
    }
    const r = yield* request('POST', srv.url('/r/303'), { data: new BodyStream([Buffer.from('once')]) });
    const e = yield* echoed(r);
    assert.equal([e.method, e.path, e.body], ['GET', '/end', '']);
    assert.equal(srv.requests.map((q) => q.body.toString()), ['once', 'once', 'once', '']);
  });
});

test('BodyStream with Expect: 100-continue: nothing is produced until the go-ahead, nor after a refusal', () => {
  served(echo, function* (srv) {
    let started = 0;
    function* chunks(): Generator<Uint8Array> {
      started++;
      yield Buffer.from('after the go-ahead');
    }
    let r = yield* request('POST', srv.url('/expect'), { data: new BodyStream(chunks()), expect100: true });
    assert.is((yield* echoed(r)).body, 'after the go-ahead');
    assert.is(started, 1);
    r = yield* request('POST', srv.url('/refuse'), { data: new BodyStream(chunks()), expect100: true });
    assert.is(r.status, 417);
    assert.is(started, 1, 'a refused body was never produced');
    r.close();
  });
});

test('redirects: 301/302/303 become GET without a body; 307/308 keep method and body; history', () => {
  served((req) => {
    const m = /^\/r\/(\d+)(\/.*)?$/.exec(req.path);
    if (m) return { status: Number(m[1]), headers: [['Location', m[2] ?? '/end']], body: 'moved' };
    return echo(req);
  }, function* (srv) {
    for (const code of [301, 302, 303]) {
      const r = yield* request('POST', srv.url(`/r/${code}`), { data: { a: '1' }, headers: { 'X-Keep': 'yes' } });
      const e = yield* echoed(r);
      assert.equal([e.method, e.path, e.body], ['GET', '/end', ''], `${code}`);
      assert.is(echoed_header(e, 'content-type'), undefined);
      assert.is(echoed_header(e, 'x-keep'), 'yes');
      assert.is(r.history.length, 1);
      assert.is(r.history[0]!.status, code);
      assert.is(r.url, srv.url('/end'));
    }
    for (const code of [307, 308]) {
      const r = yield* request('PUT', srv.url(`/r/${code}`), { data: 'body!' });
      const e = yield* echoed(r);
      assert.equal([e.method, e.body], ['PUT', 'body!'], `${code}`);
    }
    // HEAD stays HEAD through a 302; a chain is followed; relative Locations resolve against the URL.
    let r = yield* request('HEAD', srv.url('/r/302'));
    assert.is(srv.requests.at(-1)!.method, 'HEAD');
    r = yield* request('GET', srv.url('/r/301/r/302/r/307/final'));
    assert.equal(r.history.map((h) => h.status), [301, 302, 307]);
    assert.is((yield* echoed(r)).path, '/final');
    // allow_redirects: false returns the 3xx itself.
    r = yield* request('GET', srv.url('/r/302'), { allow_redirects: false });
    assert.equal([r.status, r.headers.get('location'), (yield* r.text())], [302, '/end', 'moved']);
  });
});

test('redirects: max_redirects raises TooManyRedirects; a non-http Location is refused', () => {
  served((req) => {
    if (req.path === '/loop') return { status: 302, headers: [['Location', '/loop']] };
    if (req.path === '/ftp') return { status: 302, headers: [['Location', 'ftp://127.0.0.1/test/']] };
    return echo(req);
  }, function* (srv) {
    let err: unknown = null;
    try {
      yield* request('GET', srv.url('/loop'), { max_redirects: 3 });
    } catch (e) {
      err = e;
    }
    assert.instance(err, TooManyRedirects);
    assert.match((err as Error).message, /more than 3/);
    assert.is((err as TooManyRedirects).history.length, 3);
    assert.is(srv.requests.length, 4);
    try {
      yield* request('GET', srv.url('/ftp'));
      assert.unreachable('ftp redirect followed');
    } catch (e) {
      assert.instance(e, InvalidURL);
      assert.match((e as Error).message, /Can redirect only to http or https/);
    }
  });
});

test('redirects: Authorization and explicit cookies stay with the host that was asked', () => {
  // Two servers: 127.0.0.1 redirects to "localhost" (another host name for the same machine).
  const other = new TestServer(loop, echo);
  run(loop, other.start());
  try {
    served((req) => {
      if (req.path === '/away') return { status: 302, headers: [['Location', `http://localhost:${other.port}/there`]] };
      if (req.path === '/here') return { status: 307, headers: [['Location', '/same']] };
      return echo(req);
    }, function* (srv) {
      let r = yield* request('GET', srv.url('/here'), { auth: ['user', 'pw'], cookies: { c: '1' }, headers: { 'X-Other': 'kept' } });
      let e = yield* echoed(r);
      assert.is(echoed_header(e, 'authorization'), basic_auth('user', 'pw'));
      assert.is(echoed_header(e, 'cookie'), 'c=1');
      r = yield* request('GET', srv.url('/away'), { auth: ['user', 'pw'], cookies: { c: '1' }, headers: { 'X-Other': 'kept', Authorization: 'Bearer x' } });
      e = yield* echoed(r);
      assert.is(e.path, '/there');
      assert.is(echoed_header(e, 'authorization'), undefined);
      assert.is(echoed_header(e, 'cookie'), undefined);
      assert.is(echoed_header(e, 'x-other'), 'kept');
    });
  } finally {
    other.close();
  }
});

test('cookies: Set-Cookie of a redirect is sent on the next hop; a Session keeps them', () => {
  served((req) => {
    if (req.path === '/login') return { status: 303, headers: [['Location', '/me'], ['Set-Cookie', 'sid=s3cret; Path=/; HttpOnly'], ['Set-Cookie', 'pref=dark']], body: '' };
    if (req.path === '/logout') return { headers: [['Set-Cookie', 'sid=; Max-Age=0; Path=/']], body: 'bye' };
    return echo(req);
  }, function* (srv) {
    let r = yield* request('GET', srv.url('/login'));
    assert.is(echoed_header(yield* echoed(r), 'cookie'), 'sid=s3cret; pref=dark');
    assert.equal(r.history[0]!.cookies.map((c) => [c.name, c.value, c.path, c.http_only]), [['sid', 's3cret', '/', true], ['pref', 'dark', '/', false]]);
    // Without a session, nothing is remembered.
    r = yield* request('GET', srv.url('/me'));
    assert.is(echoed_header(yield* echoed(r), 'cookie'), undefined);
    const session = new Session({ cookies: { everywhere: 'x' } });
    try {
      yield* (yield* session.request('GET', srv.url('/login'))).read();
      r = yield* session.request('GET', srv.url('/me'), { cookies: { pref: 'light' } });
      // Explicit cookies first (they win over the jar's of the same name), then the jar's in its order.
      assert.is(echoed_header(yield* echoed(r), 'cookie'), 'pref=light; everywhere=x; sid=s3cret');
      yield* (yield* session.request('GET', srv.url('/logout'))).read();
      r = yield* session.request('GET', srv.url('/me'));
      assert.is(echoed_header(yield* echoed(r), 'cookie'), 'everywhere=x; pref=dark');
    } finally {
      session.close();
    }
  });
});

test('timeout: a server that never answers gives TimeoutError, and the connection is closed', () => {
  served(() => ({ hang: true }), function* (srv) {
    const t0 = loop.time();
    try {
      yield* request('GET', srv.url('/slow'), { timeout: 0.2 });
      assert.unreachable('no timeout');
    } catch (e) {
      assert.instance(e, TimeoutError);
    }
    assert.ok(loop.time() - t0 >= 0.19);
    // The client closed its side: the server's transport sees it go.
    for (let i = 0; i < 1000 && srv.transports.size > 0; i++) yield* sleep(0);
    assert.is(srv.transports.size, 0);
  });
});

test('a connection error is an OSError; a server closing without answering is RemoteDisconnected', () => {
  served((req) => (req.path === '/drop' ? { drop: true } : echo(req)), function* (srv) {
    try {
      yield* request('GET', srv.url('/drop'));
      assert.unreachable('no error');
    } catch (e) {
      assert.instance(e, RemoteDisconnected);
      assert.match((e as Error).message, /Remote end closed connection without response/);
    }
  });
});

test('Session: keep-alive connections are reused; counted on both sides', () => {
  served(echo, function* (srv) {
    const session = new Session();
    try {
      for (let i = 0; i < 5; i++) {
        const r = yield* session.request('GET', srv.url(`/n/${i}`));
        assert.is(echoed_header(yield* echoed(r), 'connection'), 'keep-alive');
      }
      assert.is(srv.connections, 1);
      assert.is(session.connections_made, 1);
      assert.is(session.idle_count(), 1);
      // request(..., { session }) is the same pool.
      yield* (yield* request('POST', srv.url('/p'), { session, data: 'x' })).read();
      assert.is(srv.connections, 1);
      assert.equal(srv.requests.map((r) => r.connection), [1, 1, 1, 1, 1, 1]);
    } finally {
      session.close();
    }
    assert.is(session.idle_count(), 0);
  });
});

test('Session: a response not read to its end, or Connection: close, or an EOF body, is not reused', () => {
  served((req) => {
    if (req.path === '/close') return { close: true, body: 'x' };
    if (req.path === '/eof') return { eof_body: true, body: 'x' };
    return echo(req);
  }, function* (srv) {
    const session = new Session();
    try {
      let r = yield* session.request('GET', srv.url('/a'));
      r.close(); // body never read
      r = yield* session.request('GET', srv.url('/close'));
      yield* r.read();
      r = yield* session.request('GET', srv.url('/eof'));
      yield* r.read();
      r = yield* session.request('GET', srv.url('/b'));
      yield* r.read();
      r = yield* session.request('GET', srv.url('/c'));
      yield* r.read();
      assert.equal(srv.requests.map((q) => q.connection), [1, 2, 3, 4, 4]);
      assert.is(session.connections_made, 4);
    } finally {
      session.close();
    }
  });
});

test('Session: idle connections are capped per host', () => {
  served(echo, function* (srv) {
    const session = new Session({ limit_per_host: 2 });
    try {
      const responses = (yield* gather(...[1, 2, 3, 4].map((i) => session.request('GET', srv.url(`/${i}`))))) as HttpResponse[];
      for (const r of responses) yield* r.read();
      assert.is(srv.connections, 4);
      assert.is(session.idle_count(), 2);
      yield* gather(...[1, 2].map((i) => session.request('GET', srv.url(`/again/${i}`))));
      assert.is(srv.connections, 4);
    } finally {
      session.close();
    }
  });
});

test('Session: a pooled connection the server closed is retried once (idempotent only)', () => {
  // Every connection answers its first request and then drops the next one without an answer: the client's
  // pooled connection is stale just as it sends.
  const per_connection = new Map<number, number>();
  served((req) => {
    const n = (per_connection.get(req.connection) ?? 0) + 1;
    per_connection.set(req.connection, n);
    return n === 1 ? echo(req) : { drop: true };
  }, function* (srv) {
    const session = new Session();
    try {
      yield* (yield* session.request('GET', srv.url('/1'))).read();
      const r = yield* session.request('GET', srv.url('/2'));
      assert.is((yield* echoed(r)).path, '/2');
      assert.equal(srv.requests.map((q) => [q.path, q.connection]), [['/1', 1], ['/2', 1], ['/2', 2]]);
      assert.is(session.connections_made, 2);
      // A POST is not repeated: it may have been acted on.
      try {
        yield* session.request('POST', srv.url('/3'), { data: 'once' });
        assert.unreachable('POST retried');
      } catch (e) {
        assert.instance(e, RemoteDisconnected);
      }
      assert.is(srv.requests.filter((q) => q.path === '/3').length, 1);
    } finally {
      session.close();
    }
  });
});

test('Session: a connection the server closed while idle is dropped before anything is sent', () => {
  served((req) => echo(req), function* (srv) {
    const session = new Session();
    try {
      yield* (yield* session.request('GET', srv.url('/1'))).read();
      for (const t of srv.transports) t.close();
      // Until the client has seen the EOF (a few loop turns; bounded so a bug fails instead of hanging).
      for (let i = 0; i < 1000 && (yield* idle_alive(session)); i++);
      assert.not.ok(yield* idle_alive(session));
      const r = yield* session.request('POST', srv.url('/2'), { data: 'x' });
      assert.is((yield* echoed(r)).body, 'x');
      assert.equal(srv.requests.map((q) => q.connection), [1, 2]);
    } finally {
      session.close();
    }
  });
});

/** Gives the loop a turn; true while the session's idle connection has not seen its EOF yet. */
function* idle_alive(session: Session): Coroutine<boolean> {
  yield* sleep(0);
  return [...(session as unknown as { _idle: Map<string, Array<{ protocol: { eof: boolean } }>> })._idle.values()].flat().some((c) => !c.protocol.eof);
}

// ---- https ----

let certs: Certs | null = null;
function tls_server_context(cert: 'server' | 'self_signed' = 'server'): SSLContext {
  certs ??= make_certs();
  const ctx = new SSLContext(PROTOCOL_TLS_SERVER);
  if (cert === 'server') ctx.load_cert_chain(certs.server_cert, certs.server_key);
  else ctx.load_cert_chain(certs.self_signed_cert, certs.self_signed_key);
  return ctx;
}

test('https: verified against the test CA; the default verification refuses an unknown CA', () => {
  served(echo, function* (srv) {
    const ssl = create_default_context(undefined, { cafile: certs!.ca });
    const r = yield* request('GET', srv.url('/secure'), { ssl });
    assert.is((yield* echoed(r)).path, '/secure');
    try {
      yield* request('GET', srv.url('/secure'));
      assert.unreachable('verified without the CA');
    } catch (e) {
      assert.instance(e, SSLCertVerificationError);
      assert.match((e as Error).message, /CERTIFICATE_VERIFY_FAILED/);
    }
    // ssl: null is the default, verified: never a way to turn verification off by accident.
    try {
      yield* request('GET', srv.url('/secure'), { ssl: null });
      assert.unreachable('ssl: null did not verify');
    } catch (e) {
      assert.instance(e, SSLCertVerificationError);
    }
    // A Session keeps TLS connections alive too, per context.
    const session = new Session();
    try {
      for (let i = 0; i < 3; i++) yield* (yield* session.request('GET', srv.url('/s'), { ssl })).read();
      assert.is(session.connections_made, 1);
    } finally {
      session.close();
    }
  }, tls_server_context());
});

test('https: a self-signed certificate fails verification with a clear SSL error; ssl: false accepts it', () => {
  served(echo, function* (srv) {
    try {
      yield* request('GET', srv.url('/'), { ssl: create_default_context(undefined, { cafile: certs!.ca }) });
      assert.unreachable('self-signed accepted');
    } catch (e) {
      assert.instance(e, SSLCertVerificationError);
      assert.match((e as Error).message, /self-signed certificate/);
    }
    const r = yield* request('GET', srv.url('/insecure'), { ssl: false });
    assert.is((yield* echoed(r)).path, '/insecure');
  }, tls_server_context('self_signed'));
});

test.after(() => certs?.cleanup());

test('max_size bounds a body (PayloadTooLarge); a bad charset is a clear error; a closed Session refuses', () => {
  served((req) => (req.path === '/big' ? { chunked: true, body: [Buffer.alloc(600), Buffer.alloc(600)] } : { headers: [['Content-Type', 'text/plain; charset=no-such']], body: 'x' }), function* (srv) {
    let r = yield* request('GET', srv.url('/big'), { max_size: 1000 });
    try {
      yield* r.read();
      assert.unreachable('no limit');
    } catch (e) {
      assert.instance(e, PayloadTooLarge);
    }
    r = yield* request('GET', srv.url('/big'), { max_size: 1200 });
    assert.is((yield* r.read()).length, 1200);
    r = yield* request('GET', srv.url('/charset'));
    try {
      yield* r.text();
      assert.unreachable('decoded');
    } catch (e) {
      assert.instance(e, RangeError);
      assert.match((e as Error).message, /unknown text encoding "no-such"/);
    }
    assert.is(yield* r.text('utf-8'), 'x');
    const session = new Session();
    session.close();
    try {
      yield* session.request('GET', srv.url('/'));
      assert.unreachable('closed session used');
    } catch (e) {
      assert.match((e as Error).message, /Session is closed/);
    }
  });
});

test('CIMultiDict headers come back in order', () => {
  served(() => ({ headers: [['X-A', '1'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']], body: '' }), function* (srv) {
    const r = yield* request('GET', srv.url('/'));
    assert.instance(r.headers, CIMultiDict);
    assert.equal(r.headers.getall('set-cookie'), ['a=1', 'b=2']);
    assert.equal(r.cookies.map((c) => c.name), ['a', 'b']);
  });
});

test.run();
