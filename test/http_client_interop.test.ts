// The HTTP client against servers that are not ours, each in a child process: python3's http.server
// (HTTP/1.0, then HTTP/1.1 with keep-alive) and Node's http module. The tulip loop runs in this process
// while the child serves (support/http_server.ts serve_child: the listening socket is ours, passed as fd 3).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { set_event_loop, type AbstractEventLoop, type Coroutine } from '../src/index.js';
import { Session, request } from '../coroutines/http/index.js';
import { PY_HTTP_SERVER, serve_child } from './support/http_server.js';
import { make_loop, register_loop_cleanup, run } from './support/loops.js';

register_loop_cleanup();

// Node's http: echoes what it got (with a digest of the body), counts connections, and has a few routes.
const NODE_SERVER = `
const http = require('http');
const crypto = require('crypto');
const zlib = require('zlib');
let connections = 0;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.setHeader('X-Connection', String(req.socket.number));
    if (req.url === '/chunked') {
      res.write('one,');
      res.write('two,');
      return res.end('three');
    }
    if (req.url === '/gzip' || req.url === '/deflate') {
      const text = 'compressed by node '.repeat(5000);
      res.setHeader('Content-Encoding', req.url.slice(1));
      // gzip as one piece with a length; deflate streamed (chunked) through zlib.
      if (req.url === '/gzip') return res.end(zlib.gzipSync(text));
      const z = zlib.createDeflate();
      z.pipe(res);
      return z.end(text);
    }
    if (req.url === '/redirect') {
      res.writeHead(307, { Location: '/echo?moved=1' });
      return res.end();
    }
    if (req.url === '/cookie') res.setHeader('Set-Cookie', ['node=yes; Path=/; HttpOnly', 'other=1']);
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({
      method: req.method, url: req.url, headers: req.headers, length: body.length,
      sha256: crypto.createHash('sha256').update(body).digest('hex'),
    }));
  });
});
server.on('connection', (s) => { s.number = ++connections; });
server.keepAliveTimeout = 30000;
server.listen({ fd: 3 });
`;

/** Runs `body` on a fresh loop while `argv` serves (in a child process). */
async function against<T>(argv: string[], body: (base: string, loop: AbstractEventLoop) => Coroutine<T>): Promise<T> {
  const server = serve_child(argv);
  const loop = make_loop();
  set_event_loop(loop);
  try {
    return run(loop, body(server.base, loop));
  } finally {
    set_event_loop(null);
    await server.stop();
  }
}

let site: string;
test.before(() => {
  site = mkdtempSync(join(tmpdir(), 'tulip-http-site-'));
  mkdirSync(join(site, 'sub'));
  writeFileSync(join(site, 'index.html'), '<a href="sub/">sub</a>');
  writeFileSync(join(site, 'sub', 'data.bin'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251)));
});
test.after(() => rmSync(site, { recursive: true, force: true }));

test('python3 http.server (HTTP/1.0): files, HEAD, 404, the directory redirect', async () => {
  await against(['python3', '-c', PY_HTTP_SERVER, site, 'HTTP/1.0'], function* (base) {
    let r = yield* request('GET', `${base}/`);
    assert.equal([r.status, r.version, r.content_type], [200, [1, 0], 'text/html']);
    assert.is(yield* r.text(), '<a href="sub/">sub</a>');
    r = yield* request('GET', `${base}/sub/data.bin`);
    const data = yield* r.read();
    assert.is(data.length, 70_000);
    assert.is(data[69_999], 69_999 % 251);
    r = yield* request('HEAD', `${base}/sub/data.bin`);
    assert.equal([r.status, r.headers.get('content-length'), (yield* r.read()).length], [200, '70000', 0]);
    r = yield* request('GET', `${base}/missing`);
    assert.equal([r.status, r.reason], [404, 'File not found']);
    yield* r.read();
    r = yield* request('GET', `${base}/sub`);
    assert.equal(r.history.map((h) => h.status), [301]);
    assert.is(r.url, `${base}/sub/`);
    assert.match(yield* r.text(), /data\.bin/);
  });
});

test('python3 http.server (HTTP/1.1): a Session reuses one connection', async () => {
  await against(['python3', '-c', PY_HTTP_SERVER, site, 'HTTP/1.1'], function* (base) {
    const session = new Session();
    try {
      for (let i = 0; i < 4; i++) {
        const r = yield* session.request('GET', `${base}/sub/data.bin`);
        assert.is((yield* r.read()).length, 70_000);
      }
      assert.is(session.connections_made, 1);
    } finally {
      session.close();
    }
  });
});

test('Node http: keep-alive reuse, chunked both ways, gzip and deflate, 307 with the body, cookies', async () => {
  await against([process.execPath, '-e', NODE_SERVER], function* (base) {
    const session = new Session();
    try {
      const seen = new Set<string>();
      for (let i = 0; i < 3; i++) {
        const r = yield* session.request('GET', `${base}/echo/${i}`);
        yield* r.read();
        seen.add(r.headers.get('x-connection')!);
      }
      assert.equal([...seen], ['1']);
      assert.is(session.connections_made, 1);

      let r = yield* session.request('GET', `${base}/chunked`);
      assert.is(r.headers.get('transfer-encoding'), 'chunked');
      assert.is(yield* r.text(), 'one,two,three');

      const upload = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 7) % 256));
      r = yield* session.request('POST', `${base}/upload`, { data: upload, chunked: 16 * 1024 });
      let e = (yield* r.json()) as { method: string; url: string; length: number; sha256: string; headers: Record<string, string> };
      assert.equal([e.length, e.headers['transfer-encoding']], [upload.length, 'chunked']);
      assert.is(e.sha256, createHash('sha256').update(upload).digest('hex'));

      for (const coding of ['gzip', 'deflate']) {
        r = yield* session.request('GET', `${base}/${coding}`);
        assert.is(r.headers.get('content-encoding'), coding);
        assert.is(yield* r.text(), 'compressed by node '.repeat(5000));
      }

      r = yield* session.request('PUT', `${base}/redirect`, { data: 'kept' });
      e = (yield* r.json()) as typeof e;
      assert.equal([e.method, e.url, e.length, r.history[0]!.status], ['PUT', '/echo?moved=1', 4, 307]);

      yield* (yield* session.request('GET', `${base}/cookie`)).read();
      r = yield* session.request('GET', `${base}/echo`);
      e = (yield* r.json()) as typeof e;
      assert.is(e.headers.cookie, 'node=yes; other=1');
      assert.is(session.connections_made, 1);
    } finally {
      session.close();
    }
  });
});

test.run();
