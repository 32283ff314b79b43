// The HTTP examples as smoke tests: examples/srv.ts (static files) and examples/mpsrv.ts (a supervisor and
// its worker processes) run as their own processes (test/support/program.ts: async spawn, waits on their
// output with a deadline, never a fixed sleep, the process group killed in finally). Requests go out as raw
// bytes over node:net sockets (this test process runs no tulip-ts loop, so Node's own sockets are free to
// use), because an HTTP client would normalize the very paths the traversal cases need to send; curl is
// used as an outside client too, with --path-as-is.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, inflateSync } from 'node:zlib';
import { make_certs } from './support/certs.js';
import { alive, kill_all, start, supervisor_serving, until, worker_pids, type Program } from './support/program.js';

const DEADLINE_MS = 60_000;
const SECRET = 'the secret outside the root';

// ---- a site on disk ----

interface Site {
  dir: string;
  root: string;
  big: Buffer;
  text: string;
  cleanup(): void;
}

function make_site(): Site {
  const dir = mkdtempSync(join(tmpdir(), 'tulip-srv-'));
  const root = join(dir, 'root');
  const outside = join(dir, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), SECRET);
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(join(root, 'site'));
  writeFileSync(join(root, 'hello.txt'), 'hello world\n');
  writeFileSync(join(root, '.secret'), SECRET);
  writeFileSync(join(root, 'sub', 'a b.txt'), 'spaces\n');
  writeFileSync(join(root, 'sub', '100%.txt'), 'percent\n');
  writeFileSync(join(root, 'sub', '<b>.html'), '<b>bold</b>\n');
  writeFileSync(join(root, 'site', 'index.html'), '<h1>the index</h1>\n');
  // Text that compresses, larger than one 64 KiB piece; binary data that does not, in many pieces.
  const text = Array.from({ length: 6000 }, (_, i) => `line ${i}: the quick brown fox jumps over the lazy dog\n`).join('');
  writeFileSync(join(root, 'big.txt'), text);
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  writeFileSync(join(root, 'big.bin'), big);
  // Symlinks: one that stays inside (served), two that lead out (refused).
  symlinkSync('hello.txt', join(root, 'link.txt'));
  symlinkSync(join(outside, 'secret.txt'), join(root, 'escape.txt'));
  symlinkSync('../outside', join(root, 'outdir'));
  return { dir, root, big, text, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// ---- raw HTTP over node:net ----

/** Sends `request` as is and collects everything until the server closes (or `until` says it has enough). */
function exchange(port: number, request: string | Buffer, until?: (got: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ port, host: '127.0.0.1' }, () => sock.write(request));
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no complete answer within ${DEADLINE_MS} ms to ${JSON.stringify(String(request).slice(0, 200))}`));
    }, DEADLINE_MS);
    const done = (): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(Buffer.concat(chunks));
    };
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      if (until?.(Buffer.concat(chunks))) done();
    });
    sock.on('end', done);
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

interface Reply {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** Parses one response at `raw[at]`; returns it and where the next one starts. HEAD replies have no body. */
function parse_reply(raw: Buffer, at = 0, head = false): [Reply, number] {
  const end = raw.indexOf('\r\n\r\n', at);
  assert.ok(end >= 0, `no complete head in ${JSON.stringify(raw.subarray(at, at + 300).toString('latin1'))}`);
  const [status_line, ...lines] = raw.subarray(at, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) /.exec(status_line!);
  assert.ok(m, `bad status line ${JSON.stringify(status_line)}`);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  let pos = end + 4;
  let body: Buffer = Buffer.alloc(0);
  if (!head) {
    if (headers.get('transfer-encoding') === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = raw.indexOf('\r\n', pos);
        const size = parseInt(raw.subarray(pos, eol).toString('latin1'), 16);
        assert.ok(Number.isInteger(size), 'bad chunk size');
        pos = eol + 2;
        if (size === 0) {
          pos += 2;
          break;
        }
        parts.push(raw.subarray(pos, pos + size));
        pos += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers.has('content-length')) {
      const n = Number(headers.get('content-length'));
      body = raw.subarray(pos, pos + n);
      assert.is(body.length, n, 'the whole body arrived');
      pos += n;
    } else {
      body = raw.subarray(pos);
      pos = raw.length;
    }
  }
  return [{ status: Number(m[1]), headers, body }, pos];
}

/** One request with Connection: close; `target` goes on the request line exactly as given. */
async function get(port: number, target: string, extra: string[] = [], method = 'GET'): Promise<Reply> {
  const raw = await exchange(port, `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${extra.map((h) => h + '\r\n').join('')}\r\n`);
  return parse_reply(raw, 0, method === 'HEAD')[0];
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: DEADLINE_MS, maxBuffer: 64 << 20, encoding: 'latin1' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** How many sockets listen on 127.0.0.1:`port` (from /proc/net/tcp: state 0A is LISTEN). */
function listeners(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').filter((line) => {
    const f = line.trim().split(/\s+/);
    return f[1] === local && f[3] === '0A';
  }).length;
}

async function start_srv(site: Site, ...extra: string[]): Promise<[Program, number, number]> {
  const srv = start('srv.ts', '--root', site.root, '--port', '0', ...extra);
  const m = await srv.wait_for('stdout', /serving on 127\.0\.0\.1:(\d+) \(pid (\d+)\)/, 'the serving line');
  return [srv, Number(m[1]), Number(m[2])];
}

/** Runs `body` against srv.ts serving a fresh site (started with `extra`); afterwards the server is
 * killed and the site removed, whatever happened. */
async function with_srv(body: (port: number, site: Site, pid: number) => Promise<void>, ...extra: string[]): Promise<void> {
  const site = make_site();
  let srv: Program | undefined;
  try {
    let port: number, pid: number;
    [srv, port, pid] = await start_srv(site, ...extra);
    await body(port, site, pid);
  } finally {
    await kill_all(srv);
    site.cleanup();
  }
}

// ---- srv.ts ----

test('srv.ts: files, HEAD, listings, index.html, redirects, 404 and 405, keep-alive', async () => {
  await with_srv(async (port, site) => {
    let r = await get(port, '/hello.txt');
    assert.is(r.status, 200);
    assert.is(r.body.toString(), 'hello world\n');
    assert.is(r.headers.get('content-length'), '12');
    assert.is(r.headers.get('content-type'), 'text/plain; charset=utf-8');

    r = await get(port, '/hello.txt', [], 'HEAD');
    assert.is(r.status, 200);
    assert.is(r.headers.get('content-length'), '12', 'HEAD gives the length GET would');
    const head_raw = await exchange(port, 'HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.ok(head_raw.toString('latin1').endsWith('\r\n\r\n'), 'HEAD: no body bytes at all');

    r = await get(port, '/link.txt');
    assert.is(r.body.toString(), 'hello world\n', 'a symlink that stays inside the root is served');

    r = await get(port, '/');
    assert.is(r.status, 200);
    assert.match(r.headers.get('content-type')!, /^text\/html/);
    const root_listing = r.body.toString();
    assert.match(root_listing, /<a href="hello\.txt">hello\.txt<\/a>/);
    assert.match(root_listing, /<a href="sub\/">sub\/<\/a>/);
    assert.not.match(root_listing, /secret/, 'hidden names are not listed');

    r = await get(port, '/sub');
    assert.is(r.status, 301);
    assert.is(r.headers.get('location'), '/sub/');
    r = await get(port, '/sub/');
    const sub_listing = r.body.toString();
    assert.match(sub_listing, /<a href="a%20b\.txt">a b\.txt<\/a>/);
    assert.match(sub_listing, /<a href="100%25\.txt">100%\.txt<\/a>/);
    assert.match(sub_listing, /<a href="%3Cb%3E\.html">&#60;b&#62;\.html<\/a>/, 'names are escaped in the HTML and encoded in the link');
    assert.match(sub_listing, /<a href="\.\.\/">\.\.\/<\/a>/);
    assert.is((await get(port, '/sub/a%20b.txt')).body.toString(), 'spaces\n');
    assert.is((await get(port, '/sub/100%25.txt')).body.toString(), 'percent\n');

    r = await get(port, '/site/');
    assert.is(r.body.toString(), '<h1>the index</h1>\n');
    assert.match(r.headers.get('content-type')!, /^text\/html/);

    assert.is((await get(port, '/nothing-here')).status, 404);
    assert.is((await get(port, '/hello.txt/')).status, 404);
    r = await get(port, '/hello.txt', ['Content-Length: 0'], 'POST');
    assert.is(r.status, 405);
    assert.is(r.headers.get('allow'), 'GET, HEAD');

    // Keep-alive: two pipelined requests on one connection, answered in order.
    const raw = await exchange(port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /sub/a%20b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const [first, next] = parse_reply(raw);
    const [second] = parse_reply(raw, next);
    assert.is(first.body.toString(), 'hello world\n');
    assert.is(second.body.toString(), 'spaces\n');
  });
});

test('srv.ts: every way out of the root is refused, and the secret never comes back', async () => {
  await with_srv(async (port, site) => {
    const cases: Array<[string, number]> = [
      ['/../outside/secret.txt', 403],
      ['/sub/../../outside/secret.txt', 403],
      ['/sub/../hello.txt', 403], // even a ".." that would stay inside: refused, not normalized
      ['/%2e%2e/outside/secret.txt', 403],
      ['/%2E%2E/outside/secret.txt', 403],
      ['/..%2foutside%2fsecret.txt', 403],
      ['/%2e%2e%2f%2e%2e%2foutside/secret.txt', 403],
      ['/sub/%2e%2e/%2e%2e/outside/secret.txt', 403],
      ['/.%2e/outside/secret.txt', 403],
      ['http://127.0.0.1/../outside/secret.txt', 403], // the absolute form
      ['/escape.txt', 403], // a symlink to a file outside
      ['/outdir/secret.txt', 403], // through a symlinked directory outside
      ['/outdir/', 403],
      ['/hello.txt%00.html', 403], // a NUL byte
      ['/%00', 403],
      ['/.secret', 404], // hidden names are not served
      ['/%2esecret', 404],
      ['/%252e%252e/outside/secret.txt', 404], // decoded once: a literal "%2e%2e" directory, which does not exist
      ['/..\\outside\\secret.txt', 404], // a backslash is an ordinary character here
      ['//outside/secret.txt', 404], // an "absolute" path is still under the root
      ['/%zz', 400], // a malformed escape
      ['/%c0%ae%c0%ae/outside/secret.txt', 400], // overlong UTF-8 for "..": not valid UTF-8
      ['outside/secret.txt', 400], // not a path
      ['*', 400],
    ];
    for (const [target, status] of cases) {
      const r = await get(port, target);
      assert.is(r.status, status, `${target}: expected ${status}, got ${r.status}`);
      assert.not.ok(r.body.includes(SECRET), `${target}: the secret leaked`);
    }
    // curl as an outside client: --path-as-is sends the dots; without it, curl removes them itself.
    const as_is = await run('curl', ['-s', '--path-as-is', '-o', '-', '-w', '\n%{http_code}', `http://127.0.0.1:${port}/../outside/secret.txt`]);
    assert.is(as_is.code, 0, as_is.stderr);
    assert.ok(as_is.stdout.endsWith('\n403'), as_is.stdout);
    assert.not.ok(as_is.stdout.includes(SECRET));
    const normalized = await run('curl', ['-s', '-o', '-', '-w', '\n%{http_code}', `http://127.0.0.1:${port}/sub/../../outside/secret.txt`]);
    assert.ok(normalized.stdout.endsWith('\n404'), `curl normalized the path to /outside/secret.txt: ${normalized.stdout}`);
    const encoded = await run('curl', ['-s', '--path-as-is', '-o', '-', '-w', '\n%{http_code}', `http://127.0.0.1:${port}/%2e%2e/%2e%2e/outside/secret.txt`]);
    assert.ok(encoded.stdout.endsWith('\n403'), encoded.stdout);
    // The server is still fine after all that.
    assert.is((await get(port, '/hello.txt')).body.toString(), 'hello world\n');
  });
});

test('srv.ts: gzip and deflate when accepted, for text types only', async () => {
  await with_srv(async (port, site) => {
    let r = await get(port, '/big.txt', ['Accept-Encoding: gzip']);
    assert.is(r.status, 200);
    assert.is(r.headers.get('content-encoding'), 'gzip');
    assert.is(r.headers.get('vary'), 'Accept-Encoding');
    assert.ok(r.body.length < site.text.length / 4, `compressed: ${r.body.length} bytes`);
    assert.is(gunzipSync(r.body).toString(), site.text);
    r = await get(port, '/big.txt', ['Accept-Encoding: deflate, gzip;q=0']);
    assert.is(r.headers.get('content-encoding'), 'deflate');
    assert.is(inflateSync(r.body).toString(), site.text);
    r = await get(port, '/big.txt', ['Accept-Encoding: gzip;q=0, identity']);
    assert.is(r.headers.get('content-encoding'), undefined);
    assert.is(r.body.toString(), site.text);
    r = await get(port, '/big.bin', ['Accept-Encoding: gzip']);
    assert.is(r.headers.get('content-encoding'), undefined, 'binary types are not compressed');
    assert.is(r.headers.get('content-type'), 'application/octet-stream');
    r = await get(port, '/big.txt', ['Accept-Encoding: gzip'], 'HEAD');
    assert.is(r.headers.get('content-encoding'), undefined, 'HEAD: the plain length, no coding');
    assert.is(r.headers.get('content-length'), String(site.text.length));
    // curl --compressed decodes what we sent.
    const c = await run('curl', ['-s', '--compressed', '-D', '-', `http://127.0.0.1:${port}/sub/`]);
    assert.match(c.stdout, /content-encoding: gzip/i);
    assert.match(c.stdout, /<a href="a%20b\.txt">/);
  });
});

test('srv.ts: byte ranges: 206 with Content-Range, suffix and open ends, 416 past the end, If-Range, curl -r and -C -', async () => {
  await with_srv(async (port, site) => {
    const range = (spec: string, extra: string[] = [], method = 'GET') => get(port, '/hello.txt', [`Range: ${spec}`, ...extra], method);
    let r = await range('bytes=0-4');
    assert.equal([r.status, r.headers.get('content-range'), r.body.toString()], [206, 'bytes 0-4/12', 'hello']);
    assert.is(r.headers.get('content-length'), '5');
    assert.is(r.headers.get('accept-ranges'), 'bytes');
    r = await range('bytes=6-');
    assert.equal([r.status, r.headers.get('content-range'), r.body.toString()], [206, 'bytes 6-11/12', 'world\n']);
    r = await range('bytes=-3');
    assert.equal([r.status, r.body.toString()], [206, 'ld\n']);
    r = await range('bytes=-100');
    assert.equal([r.status, r.headers.get('content-range'), r.body.toString()], [206, 'bytes 0-11/12', 'hello world\n'], 'a suffix longer than the file is all of it');
    r = await range('bytes=6-1000');
    assert.equal([r.status, r.headers.get('content-range')], [206, 'bytes 6-11/12'], 'the end is clamped');
    r = await range('bytes=12-');
    assert.equal([r.status, r.headers.get('content-range')], [416, 'bytes */12']);
    r = await range('bytes=-0');
    assert.is(r.status, 416);
    for (const ignored of ['bytes=0-1,4-5', 'bytes=5-2', 'items=0-1', 'bytes=x-']) {
      r = await range(ignored);
      assert.equal([r.status, r.body.toString()], [200, 'hello world\n'], `${ignored}: the whole file`);
      assert.is(r.headers.get('content-range'), undefined);
    }
    r = await range('bytes=0-4', [], 'HEAD');
    assert.equal([r.status, r.headers.get('content-length'), r.headers.get('content-range')], [206, '5', 'bytes 0-4/12']);
    // If-Range: the range holds only for the version named by the file's own Last-Modified.
    const modified = (await get(port, '/hello.txt')).headers.get('last-modified')!;
    assert.ok(!Number.isNaN(Date.parse(modified)), `Last-Modified: ${modified}`);
    r = await range('bytes=0-4', [`If-Range: ${modified}`]);
    assert.is(r.status, 206);
    r = await range('bytes=0-4', ['If-Range: Thu, 01 Jan 1970 00:00:00 GMT']);
    assert.equal([r.status, r.body.toString()], [200, 'hello world\n'], 'another version: the whole file');
    r = await range('bytes=0-4', ['If-Range: "an-etag"']);
    assert.is(r.status, 200, 'no ETags here: an entity tag never matches');
    // A range of a compressible file is of the stored bytes, not compressed.
    r = await get(port, '/big.txt', ['Range: bytes=10-29', 'Accept-Encoding: gzip']);
    assert.equal([r.status, r.headers.get('content-encoding'), r.body.toString()], [206, undefined, site.text.slice(10, 30)]);
    // Across the file's 64 KiB pieces, from an odd offset.
    r = await get(port, '/big.bin', ['Range: bytes=100001-2300000']);
    assert.is(r.status, 206);
    assert.ok(r.body.equals(site.big.subarray(100001, 2300001)), 'the range, byte for byte');
    // Outside clients: curl -r, and curl -C - resuming a download that stopped part way.
    const c = await run('curl', ['-s', '-r', '1000-1999', `http://127.0.0.1:${port}/big.bin`]);
    assert.ok(Buffer.from(c.stdout, 'latin1').equals(site.big.subarray(1000, 2000)), 'curl -r');
    const partial = join(site.dir, 'partial.bin');
    writeFileSync(partial, site.big.subarray(0, 1234567));
    const resumed = await run('curl', ['-s', '-C', '-', '-o', partial, `http://127.0.0.1:${port}/big.bin`]);
    assert.is(resumed.code, 0, resumed.stderr);
    assert.ok(readFileSync(partial).equals(site.big), 'curl -C - completed the file');
  });
});

test('srv.ts: large files arrive whole; clients that leave mid-file cost no fd', async () => {
  await with_srv(async (port, site, pid) => {
    const r = await get(port, '/big.bin');
    assert.is(r.headers.get('content-length'), String(site.big.length));
    assert.ok(r.body.equals(site.big), 'the 3 MiB file arrives whole');
    // Clients that go away after the first bytes of the big file: the handler ends, the file is closed.
    const fds = (): number => readdirSync(`/proc/${pid}/fd`).length;
    const before = fds();
    for (let i = 0; i < 5; i++) {
      await exchange(port, 'GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n', (got) => got.length > 100_000);
    }
    await until(() => fds() === before, `the server's fd count back to ${before} (now ${fds()})`);
    // A slow reader gets it all too: the server waits for the socket (drain) instead of failing or buffering it all.
    const slow = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const sock = net.connect({ port, host: '127.0.0.1' }, () => sock.write('GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      sock.pause();
      setTimeout(() => sock.resume(), 300); // the server's socket buffer fills meanwhile
      sock.on('data', (d: Buffer) => chunks.push(d));
      sock.on('end', () => resolve(Buffer.concat(chunks)));
      sock.on('error', reject);
    });
    assert.ok(parse_reply(slow)[0].body.equals(site.big));
  });
});

test('srv.ts --ssl: served over TLS to curl', async () => {
  const certs = make_certs();
  try {
    await with_srv(async (port) => {
      const r = await run('curl', ['-s', '--cacert', certs.ca, `https://localhost:${port}/hello.txt`, '--resolve', `localhost:${port}:127.0.0.1`]);
      assert.is(r.code, 0, r.stderr);
      assert.is(r.stdout, 'hello world\n');
    }, '--ssl', '--sslcert', certs.server_cert, '--sslkey', certs.server_key);
  } finally {
    certs.cleanup();
  }
});

test('crawl.ts crawls a site served by srv.ts through its listings, and nothing outside the root', async () => {
  const site = make_site();
  let srv: Program | undefined, crawl: Program | undefined;
  try {
    let port: number;
    [srv, port] = await start_srv(site, '--quiet');
    const base = `http://127.0.0.1:${port}`;
    crawl = start('crawl.ts', `${base}/`, '--max-tasks', '4');
    await crawl.finished(0);
    const processed = [...crawl.stdout.matchAll(/^processing: (\S+)$/gm)].map((m) => m[1]!.slice(base.length)).sort();
    assert.equal(processed, [
      '/', '/big.bin', '/big.txt', '/escape.txt', '/hello.txt', '/link.txt', '/outdir/', '/site/', '/sub/',
      '/sub/%3Cb%3E.html', '/sub/100%25.txt', '/sub/a%20b.txt',
    ], crawl.stdout);
    // Everything answers 200 but the two symlinks that lead out of the root (403).
    assert.match(crawl.stdout, /^done: 12 ; ok: 10$/m, crawl.stdout);
  } finally {
    await kill_all(crawl, srv);
    site.cleanup();
  }
});

// ---- mpsrv.ts ----

async function start_mpsrv(site: Site, ...extra: string[]): Promise<[Program, number, number]> {
  const mp = start('mpsrv.ts', '--root', site.root, '--port', '0', '--workers', '2', ...extra);
  return [mp, ...(await supervisor_serving(mp, 2))];
}

test('mpsrv.ts: two workers serve; a killed or hung worker is replaced; SIGTERM stops all, no orphans', async () => {
  const site = make_site();
  let mp: Program | undefined;
  try {
    let sup: number, port: number;
    [mp, sup, port] = await start_mpsrv(site, '--verbose', '--heartbeat', '0.5');
    const [w1, w2] = worker_pids(mp) as [number, number];
    assert.ok(alive(w1) && alive(w2) && w1 !== w2 && w1 !== sup);
    assert.is(listeners(port), 1, 'the workers share the supervisor\'s one listening socket');
    for (let i = 0; i < 4; i++) {
      const r = await get(port, '/hello.txt');
      assert.is(r.body.toString(), 'hello world\n');
    }
    // --verbose: each request is printed with the pid of the worker that served it.
    await mp.wait_for('stdout', /(\d+: method = GET; path = \/hello\.txt[^]*){4}/, 'four request lines');
    const served = [...mp.stdout.matchAll(/(\d+): method = GET; path = \/hello\.txt/g)].map((m) => Number(m[1]));
    assert.is(served.length, 4, mp.stdout);
    for (const pid of served) assert.ok(pid === w1 || pid === w2, `served by ${pid}`);

    // A worker that dies is replaced by a new process.
    process.kill(w1, 'SIGKILL');
    await mp.wait_for('stdout', new RegExp(`worker ${w1} exited \\(signal 9\\): starting another`), 'the supervisor sees the death');
    await mp.wait_for('stdout', /(worker \d+ serving on[^]*){3}/, 'a third worker');
    const w3 = worker_pids(mp).find((pid) => pid !== w1 && pid !== w2)!;
    assert.ok(w3 !== w1 && w3 !== w2 && alive(w3));
    assert.is((await get(port, '/sub/a%20b.txt')).body.toString(), 'spaces\n');

    // A worker that stops answering the heartbeat (stopped, here) is killed and replaced too.
    process.kill(w2, 'SIGSTOP');
    await mp.wait_for('stdout', new RegExp(`worker ${w2} is unresponsive: killing it`), 'the missed heartbeat');
    await mp.wait_for('stdout', new RegExp(`worker ${w2} exited \\(signal 9\\): starting another[^]*worker \\d+ serving on`), 'its replacement');
    const w4 = worker_pids(mp).at(-1)!;
    assert.ok(alive(w4));
    await until(() => !alive(w2), 'the hung worker gone');
    for (let i = 0; i < 3; i++) assert.is((await get(port, '/hello.txt')).status, 200);

    // SIGTERM to the supervisor alone: it stops its workers, waits for them, and exits 0.
    process.kill(sup, 'SIGTERM');
    await mp.finished(0);
    assert.match(mp.stdout, /stopping the workers/);
    for (const pid of [sup, ...worker_pids(mp)]) assert.not.ok(alive(pid), `process ${pid} is still there`);
    assert.ok(worker_pids(mp).includes(w4));
  } finally {
    await kill_all(mp);
    site.cleanup();
  }
});

test('mpsrv.ts: workers leave by themselves when their supervisor is killed outright', async () => {
  const site = make_site();
  let mp: Program | undefined;
  try {
    let sup: number, port: number;
    [mp, sup, port] = await start_mpsrv(site, '--hello');
    const r = await get(port, '/anything');
    assert.is(r.body.toString(), 'Hello, World!');
    const workers = worker_pids(mp);
    process.kill(sup, 'SIGKILL');
    await until(() => workers.every((pid) => !alive(pid)), `workers ${workers.join(', ')} gone after the supervisor's SIGKILL`);
  } finally {
    await kill_all(mp);
    site.cleanup();
  }
});

test('mpsrv.ts --reuse-port: a listening socket per worker on one port; SIGINT stops all, a stuck worker too', async () => {
  const site = make_site();
  let mp: Program | undefined;
  try {
    let sup: number, port: number;
    [mp, sup, port] = await start_mpsrv(site, '--reuse-port');
    const workers = worker_pids(mp);
    assert.is(listeners(port), 2, 'one listening socket per worker (the supervisor only binds)');
    for (let i = 0; i < 4; i++) assert.is((await get(port, '/hello.txt')).body.toString(), 'hello world\n');
    process.kill(workers[0]!, 'SIGKILL');
    await mp.wait_for('stdout', /(worker \d+ serving on[^]*){3}/, 'a replacement on the same port');
    for (let i = 0; i < 4; i++) assert.is((await get(port, '/hello.txt')).status, 200);
    // A worker that cannot act on SIGTERM (stopped) is killed 5 s into the stop, and reaped all the same.
    const stuck = worker_pids(mp).at(-1)!;
    process.kill(stuck, 'SIGSTOP');
    process.kill(sup, 'SIGINT');
    await mp.finished(0);
    assert.not.ok(alive(stuck));
    for (const pid of [sup, ...worker_pids(mp)]) assert.not.ok(alive(pid), `process ${pid} is still there`);
  } finally {
    await kill_all(mp);
    site.cleanup();
  }
});

test('srv.ts and mpsrv.ts: bad arguments are refused with the usage', async () => {
  const runs: Array<[string, string[], RegExp]> = [
    ['srv.ts', ['--port', 'x'], /bad port "x"[\s\S]*usage: srv\.ts/],
    ['srv.ts', ['--ssl'], /--ssl needs --sslcert[\s\S]*usage: srv\.ts/],
    ['srv.ts', ['--bogus'], /Unknown option '--bogus'[\s\S]*usage: srv\.ts/],
    ['srv.ts', ['--root', '/nonexistent-tulip-root'], /--root \/nonexistent-tulip-root: /],
    ['mpsrv.ts', ['--workers', '0'], /bad --workers 0[\s\S]*usage: mpsrv\.ts/],
  ];
  for (const [name, args, message] of runs) {
    const p = start(name, ...args);
    try {
      await p.finished(2);
      assert.match(p.stderr, message);
    } finally {
      await kill_all(p);
    }
  }
});

test.run();
