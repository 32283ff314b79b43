// The HTTP server against clients that are not ours: curl, python3's http.client and Node's http. Each
// client runs as a child process started with our own create_subprocess_exec (our loop owns the thread,
// so a Node peer cannot live in this process), while the same loop serves it; the client prints what it
// received and the test checks that.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PIPE, create_subprocess_exec, type AbstractEventLoop, type Coroutine } from '../src/index.js';
import { serve, type HandlerResponse, type ServerRequest } from '../coroutines/http/index.js';
import { make_loop, register_loop_cleanup, run } from './support/loops.js';
import { port_of } from './support/http.js';

register_loop_cleanup();

const CURL = '/usr/bin/curl';
const dir = mkdtempSync(join(tmpdir(), 'tulip-http-interop-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Answers with what it saw, as JSON; /stream answers chunked. */
function* app(request: ServerRequest): Coroutine<HandlerResponse> {
  if (request.path === '/stream') return { headers: { 'Content-Type': 'text/plain' }, body: ['alpha ', 'beta ', 'gamma'] };
  const body = yield* request.read();
  return {
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      method: request.method,
      path: request.path,
      query: Object.fromEntries(request.query),
      length: body.length,
      sha1: createHash('sha1').update(body).digest('hex'),
      te: request.headers.get('transfer-encoding') ?? null,
      expect: request.headers.get('expect') ?? null,
      port: (request.peername as [string, number])[1],
    }),
  };
}

/** Serves `app`, runs `program args` while serving, returns its stdout (and checks it exited 0). */
function with_client(loop: AbstractEventLoop, program: string, args: (port: number) => string[]): string {
  return run(loop, (function* () {
    const server = yield* serve(app, '127.0.0.1', 0, { loop });
    try {
      const proc = yield* create_subprocess_exec(loop, program, ...args(port_of(server)), { stdout: PIPE, stderr: PIPE });
      const [out, err] = yield* proc.communicate();
      assert.is(proc.returncode, 0, `${program} failed:\n${err!.toString()}\n${out!.toString()}`);
      return out!.toString();
    } finally {
      server.close();
    }
  })());
}

const sha1 = (data: string | Buffer): string => createHash('sha1').update(data).digest('hex');

test('curl: GET with a query, keep-alive reuse, a chunked response', () => {
  if (!existsSync(CURL)) return;
  const loop = make_loop();
  const out = with_client(loop, CURL, (port) => [
    '-sS', '--fail', '-w', '\n%{num_connects}\n',
    `http://127.0.0.1:${port}/a?x=1&y=two`, `http://127.0.0.1:${port}/b`, `http://127.0.0.1:${port}/stream`,
  ]);
  const lines = out.split('\n');
  const first = JSON.parse(lines[0]!);
  assert.equal([first.method, first.path, first.query], ['GET', '/a', { x: '1', y: 'two' }]);
  assert.is(lines[1], '1');
  const second = JSON.parse(lines[2]!);
  assert.is(second.path, '/b');
  assert.is(lines[3], '0', 'curl reused the connection (no new connect)');
  assert.is(lines[4], 'alpha beta gamma');
  assert.is(second.port, first.port, 'the same client port: one connection');
});

test('curl: POST bodies, chunked upload and Expect: 100-continue answered without curl\'s 1 s wait', () => {
  if (!existsSync(CURL)) return;
  const loop = make_loop();
  const big = Buffer.alloc(200_000, 'q');
  const file = join(dir, 'big.bin');
  writeFileSync(file, big);
  const out = with_client(loop, CURL, (port) => [
    '-sS', '--fail', '-w', '\n%{time_total}\n',
    '--data-binary', 'small body', `http://127.0.0.1:${port}/small`,
    '--next', '-sS', '--fail', '-w', '\n%{time_total}\n', '-H', 'Expect: 100-continue', '--data-binary', `@${file}`, `http://127.0.0.1:${port}/big`,
    '--next', '-sS', '--fail', '-w', '\n%{time_total}\n', '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${file}`, `http://127.0.0.1:${port}/chunked`,
  ]);
  const lines = out.split('\n');
  const small = JSON.parse(lines[0]!);
  assert.equal([small.method, small.length, small.sha1], ['POST', 10, sha1('small body')]);
  const expect = JSON.parse(lines[2]!);
  assert.equal([expect.length, expect.sha1, expect.expect], [big.length, sha1(big), '100-continue']);
  assert.ok(Number(lines[3]) < 0.9, `curl waited ${lines[3]} s: no 100 Continue came`);
  const chunked = JSON.parse(lines[4]!);
  assert.equal([chunked.length, chunked.sha1, chunked.te], [big.length, sha1(big), 'chunked']);
});

test('curl: HTTP/1.0 and an error page', () => {
  if (!existsSync(CURL)) return;
  const loop = make_loop();
  const out = with_client(loop, CURL, (port) => [
    '-sS', '-0', '-i', `http://127.0.0.1:${port}/old`,
    '--next', '-sS', '-i', '-X', 'GET', '-H', 'Content-Length: 3', '-H', 'Transfer-Encoding: chunked', `http://127.0.0.1:${port}/smuggle`,
  ]);
  assert.match(out, /^HTTP\/1\.0 200 OK\r\n/);
  assert.match(out, /"path":"\/old"/);
  assert.match(out, /HTTP\/1\.1 400 Bad Request\r\n/);
});

const PYTHON_CLIENT = String.raw`
import http.client, json, sys
port = int(sys.argv[1])
conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
out = []
for path in ('/p1?k=v', '/p2'):
    conn.request('GET', path)
    r = conn.getresponse()
    out.append({'status': r.status, 'body': json.loads(r.read())})
conn.request('POST', '/post', body=b'x' * 5000, headers={'Content-Type': 'application/octet-stream'})
r = conn.getresponse()
out.append({'status': r.status, 'body': json.loads(r.read())})
conn.request('POST', '/chunks', body=iter([b'ab', b'cd', b'ef']), encode_chunked=True)
r = conn.getresponse()
out.append({'status': r.status, 'body': json.loads(r.read())})
conn.request('GET', '/stream')
r = conn.getresponse()
out.append({'status': r.status, 'chunked': r.chunked, 'text': r.read().decode()})
conn.request('GET', '/bad%zz')
r = conn.getresponse()
out.append({'status': r.status, 'closes': r.getheader('Connection')})
r.read()
print(json.dumps(out))
`;

test('python3 http.client: keep-alive GETs, POST, chunked upload, chunked response, an error', () => {
  const loop = make_loop();
  const script = join(dir, 'client.py');
  writeFileSync(script, PYTHON_CLIENT);
  const out = JSON.parse(with_client(loop, 'python3', (port) => [script, String(port)]));
  assert.equal(out.map((r: { status: number }) => r.status), [200, 200, 200, 200, 200, 400]);
  assert.equal(out[0].body.query, { k: 'v' });
  assert.is(out[1].body.port, out[0].body.port, 'one connection for both GETs');
  assert.equal([out[2].body.length, out[2].body.sha1], [5000, sha1(Buffer.alloc(5000, 'x'))]);
  assert.equal([out[3].body.length, out[3].body.te, out[3].body.sha1], [6, 'chunked', sha1('abcdef')]);
  assert.equal([out[4].chunked, out[4].text], [true, 'alpha beta gamma']);
  assert.is(out[5].closes, 'close');
});

const NODE_CLIENT = String.raw`
const http = require('node:http');
const port = Number(process.argv[1]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function req(method, path, body, headers) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(parts).toString() }));
    });
    r.on('error', reject);
    if (Array.isArray(body)) { for (const b of body) r.write(b); r.end(); } else r.end(body);
  });
}
(async () => {
  const out = [];
  out.push(await req('GET', '/n1?q=1'));
  out.push(await req('GET', '/n2'));
  out.push(await req('PUT', '/put', 'node body', { 'Content-Length': 9 }));
  out.push(await req('POST', '/chunks', ['one', 'two'], {}));
  out.push(await req('GET', '/stream'));
  out.push(await req('HEAD', '/n3'));
  console.log(JSON.stringify(out));
  agent.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
`;

test('Node http client: keep-alive agent, PUT, chunked upload, chunked response, HEAD', () => {
  const loop = make_loop();
  const out = JSON.parse(with_client(loop, process.execPath, (port) => ['-e', NODE_CLIENT, String(port)]));
  assert.equal(out.map((r: { status: number }) => r.status), [200, 200, 200, 200, 200, 200]);
  const bodies = out.slice(0, 4).map((r: { text: string }) => JSON.parse(r.text));
  assert.equal(bodies[0].query, { q: '1' });
  assert.ok(bodies.every((b: { port: number }) => b.port === bodies[0].port), 'one connection throughout');
  assert.equal([bodies[2].method, bodies[2].sha1], ['PUT', sha1('node body')]);
  assert.equal([bodies[3].te, bodies[3].sha1], ['chunked', sha1('onetwo')]);
  assert.is(out[4].headers['transfer-encoding'], 'chunked');
  assert.is(out[4].text, 'alpha beta gamma');
  assert.is(out[5].text, '');
  assert.ok(Number(out[5].headers['content-length']) > 0, 'HEAD carries the length GET would have');
});

test.run();
