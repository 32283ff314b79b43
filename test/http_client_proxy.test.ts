// The HTTP client through a proxy (coroutines/http/proxy.ts). The proxy is not ours: a small python3
// forwarding proxy in a child process (absolute-form requests forwarded, CONNECT tunnelled, optional Basic
// credentials), which logs every request line it gets and the Proxy-Authorization it came with. The origin
// is the test server on the client's loop, plain and with TLS.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROTOCOL_TLS_SERVER, SSLContext, create_default_context, set_event_loop, type AbstractEventLoop, type Coroutine } from '../src/index.js';
import {
  HttpRequest, InvalidURL, ProxyError, Session, basic_auth, bypasses, proxy_from_env, request, type HttpResponse,
} from '../coroutines/http/index.js';
import { make_certs } from './support/certs.js';
import { TestServer, echo, serve_child, type ChildServer } from './support/http_server.js';
import { make_loop, register_loop_cleanup, run } from './support/loops.js';
import { throws_a } from './support/asserts.js';

register_loop_cleanup();
const certs = make_certs();
const dir = mkdtempSync(join(tmpdir(), 'tulip-proxy-'));
test.after(() => {
  certs.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** python3 -c PY_PROXY LOGFILE [REQUIRED_AUTHORIZATION], serving the listening socket on fd 3. */
const PY_PROXY = `
import socket, socketserver, sys, threading
from urllib.parse import urlsplit
LOG, REQUIRED = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
lock = threading.Lock()
def log(line):
    with lock, open(LOG, 'a') as f: f.write(line + '\\n')
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    finally:
        try: b.shutdown(socket.SHUT_WR)
        except OSError: pass
class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            line = self.rfile.readline().decode('latin1').rstrip('\\r\\n')
            if not line: return
            headers = []
            while True:
                h = self.rfile.readline().decode('latin1').rstrip('\\r\\n')
                if not h: break
                headers.append(h.split(':', 1))
            auth = next((v.strip() for k, v in headers if k.lower() == 'proxy-authorization'), '-')
            log(line + ' | ' + auth)
            if REQUIRED and auth != REQUIRED:
                self.wfile.write(b'HTTP/1.1 407 Proxy Authentication Required\\r\\nProxy-Authenticate: Basic realm="t"\\r\\nContent-Length: 0\\r\\n\\r\\n')
                return
            method, target, version = line.split(' ')
            if method == 'CONNECT':
                host, port = target.rsplit(':', 1)
                up = socket.create_connection((host.strip('[]'), int(port)))
                self.wfile.write(b'HTTP/1.1 200 Connection established\\r\\n\\r\\n')
                t = threading.Thread(target=pump, args=(up, self.connection)); t.start()
                pump(self.connection, up); t.join(); up.close()
                return
            u = urlsplit(target)
            up = socket.create_connection((u.hostname, u.port or 80))
            out = [method + ' ' + (u.path or '/') + (('?' + u.query) if u.query else '') + ' ' + version]
            out += [k + ':' + v for k, v in headers if k.lower() not in ('proxy-authorization', 'connection')]
            out.append('Connection: close')
            n = int(next((v for k, v in headers if k.lower() == 'content-length'), '0'))
            up.sendall(('\\r\\n'.join(out) + '\\r\\n\\r\\n').encode('latin1') + self.rfile.read(n))
            pump(up, self.connection); up.close()
            return
class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
server = Server(('127.0.0.1', 0), Handler, bind_and_activate=False)
server.socket = socket.socket(fileno=3)
server.serve_forever()
`;

let log_count = 0;
/** A python proxy in a child process, logging to a file of its own. */
function start_proxy(required: string | null = null): { proxy: ChildServer; log: () => string[] } {
  const file = join(dir, `proxy${++log_count}.log`);
  const proxy = serve_child(['python3', '-c', PY_PROXY, file, ...(required === null ? [] : [required])]);
  return { proxy, log: () => { try { return readFileSync(file, 'utf8').trim().split('\n'); } catch { return []; } } };
}

function tls_server(): SSLContext {
  const ctx = new SSLContext(PROTOCOL_TLS_SERVER);
  ctx.load_cert_chain(certs.server_cert, certs.server_key);
  return ctx;
}

/** Runs `body` with an echo origin (TLS when `ssl`) on a fresh current loop. */
function with_origin<T>(ssl: SSLContext | null, body: (loop: AbstractEventLoop, origin: TestServer) => Coroutine<T>): T {
  const loop = make_loop();
  set_event_loop(loop);
  const origin = new TestServer(loop, echo, ssl);
  try {
    run(loop, origin.start());
    return run(loop, body(loop, origin));
  } finally {
    origin.close();
    set_event_loop(null);
  }
}

interface Echoed { method: string; path: string; headers: Array<[string, string]>; body: string }
function* echoed(resp: HttpResponse): Coroutine<Echoed> {
  return (yield* resp.json()) as Echoed;
}
const header_of = (e: Echoed, name: string) => e.headers.find(([n]) => n.toLowerCase() === name)?.[1];

test('http through a proxy: the request goes in absolute form, with the proxy\'s credentials, which the origin never sees', async () => {
  const { proxy, log } = start_proxy(basic_auth('pat', 's3cret'));
  try {
    const proxy_url = proxy.base.replace('http://', 'http://pat:s3cret@');
    const got = with_origin(null, function* (_loop, origin) {
      const r = yield* request('POST', origin.url('/echo?x=1'), { proxy: proxy_url, data: 'hello' });
      return yield* echoed(r);
    });
    assert.is(got.path, '/echo?x=1');
    assert.is(got.body, 'hello');
    assert.is(header_of(got, 'proxy-authorization'), undefined);
    const lines = log();
    assert.is(lines.length, 1);
    assert.match(lines[0]!, /^POST http:\/\/127\.0\.0\.1:\d+\/echo\?x=1 HTTP\/1\.1 \| Basic cGF0OnMzY3JldA==$/);
  } finally {
    await proxy.stop();
  }
});

test('https through a proxy: a CONNECT tunnel, TLS verified against the origin; the proxy sees only the host', async () => {
  const { proxy, log } = start_proxy(basic_auth('pat', 's3cret'));
  try {
    const ssl = create_default_context(undefined, { cafile: certs.ca });
    const got = with_origin(tls_server(), function* (_loop, origin) {
      const r = yield* request('GET', origin.url('/secret/path'), { ssl, proxy: proxy.base, proxy_auth: ['pat', 's3cret'] });
      assert.is(r.status, 200);
      return yield* echoed(r);
    });
    assert.is(got.path, '/secret/path');
    assert.is(header_of(got, 'proxy-authorization'), undefined);
    const lines = log();
    assert.is(lines.length, 1);
    assert.match(lines[0]!, /^CONNECT 127\.0\.0\.1:\d+ HTTP\/1\.1 \| Basic cGF0OnMzY3JldA==$/);
  } finally {
    await proxy.stop();
  }
});

test('a proxy that refuses the tunnel is a ProxyError with its status; a wrong password too', async () => {
  const { proxy } = start_proxy(basic_auth('pat', 's3cret'));
  try {
    const ssl = create_default_context(undefined, { cafile: certs.ca });
    for (const proxy_auth of [null, ['pat', 'wrong'] as const]) {
      const e = with_origin(tls_server(), function* (_loop, origin) {
        try {
          yield* request('GET', origin.url('/'), { ssl, proxy: proxy.base, proxy_auth });
        } catch (e) {
          return e;
        }
        return null;
      });
      assert.instance(e, ProxyError);
      assert.is((e as ProxyError).status, 407);
      assert.match((e as Error).message, /answered 407 Proxy Authentication Required/);
    }
  } finally {
    await proxy.stop();
  }
});

test('a Session keeps a tunnel open for the next request to the same origin through the same proxy', async () => {
  const { proxy, log } = start_proxy();
  try {
    const ssl = create_default_context(undefined, { cafile: certs.ca });
    with_origin(tls_server(), function* (_loop, origin) {
      const session = new Session();
      try {
        for (const path of ['/one', '/two']) {
          const r = yield* request('GET', origin.url(path), { ssl, proxy: proxy.base, session });
          assert.is((yield* echoed(r)).path, path);
        }
        assert.is(origin.connections, 1);
        // Not handed to a direct request: that one connects to the origin itself.
        const r = yield* request('GET', origin.url('/direct'), { ssl, session });
        assert.is((yield* echoed(r)).path, '/direct');
        assert.is(origin.connections, 2);
      } finally {
        session.close();
      }
    });
    assert.is(log().length, 1, 'one CONNECT for the two tunnelled requests');
  } finally {
    await proxy.stop();
  }
});

test('trust_env: the proxy comes from http_proxy / https_proxy unless no_proxy names the host', () => {
  const env = { http_proxy: 'http://p:1', HTTPS_PROXY: 'http://s:2', no_proxy: 'internal.example, .corp,10.0.0.1,[::1]:8443,svc:8080' };
  const from = (url: string) => proxy_from_env(new URL(url), env);
  assert.is(from('http://example.org/'), 'http://p:1');
  assert.is(from('https://example.org/'), 'http://s:2');
  assert.is(from('http://internal.example/'), null);
  assert.is(from('http://a.b.internal.example/'), null);
  assert.is(from('http://notinternal.example/'), 'http://p:1');
  assert.is(from('http://x.corp/'), null);
  assert.is(from('http://10.0.0.1/'), null);
  assert.is(from('https://[::1]:8443/'), null);
  assert.is(from('https://[::1]:9443/'), 'http://s:2');
  assert.is(from('http://svc:8080/'), null);
  assert.is(from('http://svc:8081/'), 'http://p:1');
  assert.ok(bypasses('*', 'anything', 80));
  assert.not.ok(bypasses('', 'anything', 80));
  // Without trust_env the environment is not read; with it, it is (no_proxy included).
  const saved = process.env['http_proxy'];
  process.env['http_proxy'] = 'http://envproxy:3128';
  try {
    assert.is(new HttpRequest('GET', 'http://example.org/').proxy, null);
    const req = new HttpRequest('GET', 'http://example.org/', { trust_env: true });
    assert.equal([req.proxy?.host, req.proxy?.port], ['envproxy', 3128]);
    assert.is(new HttpRequest('GET', 'http://example.org/', { trust_env: true, proxy: 'http://given:1' }).proxy?.host, 'given');
  } finally {
    if (saved === undefined) delete process.env['http_proxy'];
    else process.env['http_proxy'] = saved;
  }
});

test('proxy options: http:// proxies only; credentials from the URL or proxy_auth, never in messages', () => {
  throws_a(() => new HttpRequest('GET', 'http://example.org/', { proxy: 'https://p:1' }), InvalidURL, /only http:\/\/ proxies/);
  throws_a(() => new HttpRequest('GET', 'http://example.org/', { proxy: 'p:1' }), InvalidURL);
  throws_a(() => new HttpRequest('GET', 'http://example.org/', { proxy: 'http://p:1', proxy_auth: ['x'] as unknown as [string, string] }), TypeError);
  const req = new HttpRequest('GET', 'http://example.org/', { proxy: 'http://u%40x:p%3Aw@p:3128' });
  assert.equal(req.proxy, { url: 'http://p:3128', host: 'p', port: 3128, authorization: basic_auth('u@x', 'p:w') });
  assert.is(req.headers.get('proxy-authorization'), basic_auth('u@x', 'p:w'));
  const tunnelled = new HttpRequest('GET', 'https://example.org/', { proxy: 'http://u:p@p', proxy_auth: ['a', 'b'] });
  assert.is(tunnelled.proxy?.authorization, basic_auth('a', 'b'));
  assert.is(tunnelled.proxy?.port, 80);
  assert.is(tunnelled.headers.get('proxy-authorization'), undefined, 'a tunnel carries it on the CONNECT only');
});

test.run();
