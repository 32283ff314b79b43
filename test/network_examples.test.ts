// The network examples as smoke tests: each runs as a real program (importing 'tulip-ts' as a user would)
// in its own process, talking to a peer over 127.0.0.1, and its output is checked.
//
// The children are started with the asynchronous spawn(), so this process's own Node loop keeps turning:
// it reads their output as it comes, and serves HTTP to fetch.ts. tsx runs the example in a grandchild,
// so each child gets its own process group (detached) and is signalled through it: SIGKILL at the end of
// every test (also when it fails), SIGSTOP/SIGCONT in the flow-control test.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { make_certs } from './support/certs.js';
import { kill_all, start, type Program } from './support/program.js';

const MESSAGE = 'This is the message. It will be echoed.';

// ---- tcp_echo ----

test('tcp_echo: the client gets "Re: <message>", the server sees the connection come and go; SIGINT stops it', async () => {
  let server: Program | undefined, client: Program | undefined;
  try {
    server = start('tcp_echo.ts', '--server', '--port', '0', '--timeout', '30');
    const [, port] = await server.wait_for('stdout', /^serving on \[ '127\.0\.0\.1', (\d+) \]$/m, 'the server\'s port');
    client = start('tcp_echo.ts', '--client', '--port', port!, '--linger', '0');
    await client.finished(0);
    assert.is(client.stdout, `data sent: ${MESSAGE}\ndata received: Re: ${MESSAGE}\n`);
    await server.wait_for('stdout', /connection lost\n/, 'the server noticing the client left');
    assert.match(server.stdout, new RegExp(`connection made\ndata received: ${MESSAGE.replace(/\./g, '\\.')}\n`));
    server.signal('SIGINT');
    await server.finished(0);
  } finally {
    await kill_all(client, server);
  }
});

// ---- udp_echo ----

test('udp_echo: the client gets --count echoes from the server, then closes and exits', async () => {
  let server: Program | undefined, client: Program | undefined;
  try {
    server = start('udp_echo.ts', '--server', '--host', '127.0.0.1', '--port', '0');
    const [, port] = await server.wait_for('stdout', /^serving on \[ '127\.0\.0\.1', (\d+) \]$/m, 'the server\'s port');
    assert.match(server.stdout, /^start <SelectorDatagramTransport fd=\d+>\n/);
    client = start('udp_echo.ts', '--client', '--host', '127.0.0.1', '--port', port!, '--count', '3');
    await client.finished(0);
    const round = `sending "${MESSAGE}"\nwaiting to receive\nreceived "${MESSAGE}"\n`;
    assert.is(client.stdout, round.repeat(3) + 'closing transport null\n');
    const lines = await server.wait_for('stdout', /(^Data received: .*\n){3}/m, 'three datagrams at the server');
    const seen = lines[0].trimEnd().split('\n');
    const from = seen.map((l) => l.match(/^Data received: (.*) \[ '127\.0\.0\.1', (\d+) \]$/));
    for (const m of from) {
      assert.ok(m, `unexpected line in ${JSON.stringify(seen)}`);
      assert.is(m![1], MESSAGE);
      assert.is(m![2], from[0]![2], 'all three came from the client\'s one socket');
    }
    assert.is.not(from[0]![2], port);
    assert.is(server.exit, null, 'the server keeps serving');
  } finally {
    await kill_all(client, server);
  }
});

test('udp_echo: the client alone answers with the default count of one, host:port form', async () => {
  let server: Program | undefined, client: Program | undefined;
  try {
    server = start('udp_echo.ts', '--server', '--port', '0');
    const [, port] = await server.wait_for('stdout', /^serving on \[ '127\.0\.0\.1', (\d+) \]$/m, 'the server\'s port');
    client = start('udp_echo.ts', '--client', '--host', `127.0.0.1:${port}`);
    await client.finished(0);
    assert.is(client.stdout, `sending "${MESSAGE}"\nwaiting to receive\nreceived "${MESSAGE}"\nclosing transport null\n`);
  } finally {
    await kill_all(client, server);
  }
});

test('udp_echo: neither --server nor --client is a usage error', async () => {
  const p = start('udp_echo.ts');
  try {
    await p.finished(2);
    assert.is(p.stdout, 'Please specify --server or --client\n');
  } finally {
    await kill_all(p);
  }
});

// ---- fetch ----

/** A body that a text-mangling client would break: every byte value, CRLFs, and more than one read. */
const BODY = Buffer.concat([
  Buffer.from('first line\r\n\r\nafter a blank line\n'),
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.alloc(300_000, 'abcdefghij'),
  Buffer.from('\nthe end\n'),
]);

async function http_server(handler: (req: IncomingMessage) => { status: number; headers: Record<string, string>; body: Buffer }) {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    const r = handler(req);
    res.writeHead(r.status, { ...r.headers, 'Content-Length': String(r.body.length) });
    res.end(r.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { server, port, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

test('fetch: an HTTP/1.0 GET prints the status line and headers, then the body byte for byte', async () => {
  const http = await http_server(() => ({ status: 200, headers: { 'X-Example': 'tulip', 'Content-Type': 'application/octet-stream' }, body: BODY }));
  let p: Program | undefined;
  try {
    p = start('fetch.ts', `http://127.0.0.1:${http.port}/some/path?q=1&r=two`);
    await p.finished(0);
    assert.is(http.requests.length, 1);
    const req = http.requests[0]!;
    assert.is(req.method, 'GET');
    assert.is(req.url, '/some/path?q=1&r=two');
    assert.is(req.httpVersion, '1.0');
    assert.ok(Buffer.concat(p.stdout_bytes).equals(BODY), `body differs: ${Buffer.concat(p.stdout_bytes).length} bytes, want ${BODY.length}`);
    const err = p.stderr.split('\n');
    assert.is(err[0], '> GET /some/path?q=1&r=two HTTP/1.0\r');
    assert.is(err[1], '\r');
    assert.match(err[2]!, /^< HTTP\/1\.[01] 200 OK$/);
    const headers = err.slice(3, err.indexOf(''));
    assert.ok(headers.every((h) => h.startsWith('< ')), JSON.stringify(headers));
    assert.ok(headers.includes('< X-Example: tulip'), JSON.stringify(headers));
    assert.ok(headers.includes('< Content-Type: application/octet-stream'), JSON.stringify(headers));
    assert.ok(headers.includes(`< Content-Length: ${BODY.length}`), JSON.stringify(headers));
    assert.is(err.slice(err.indexOf('')).join('\n'), '\n', 'one blank line after the headers, then nothing');
  } finally {
    await kill_all(p);
    await http.close();
  }
});

test('fetch: an error status and a root path; -q prints only the body', async () => {
  const http = await http_server(() => ({ status: 404, headers: { 'Content-Type': 'text/plain' }, body: Buffer.from('no such thing\n') }));
  let p: Program | undefined, q: Program | undefined;
  try {
    p = start('fetch.ts', `http://127.0.0.1:${http.port}`);
    await p.finished(0);
    assert.is(http.requests[0]!.url, '/');
    assert.is(p.stdout, 'no such thing\n');
    assert.match(p.stderr, /^> GET \/ HTTP\/1\.0\r\n\r\n< HTTP\/1\.[01] 404 Not Found\n/);
    q = start('fetch.ts', `http://127.0.0.1:${http.port}/x`, '-q');
    await q.finished(0);
    assert.is(q.stdout, 'no such thing\n');
    assert.is(q.stderr, '');
  } finally {
    await kill_all(p, q);
    await http.close();
  }
});

test('fetch: https over TLS, verified against the CA given with --cafile; an unknown CA fails', async () => {
  const certs = make_certs();
  const server = createHttpsServer({ cert: readFileSync(certs.server_cert), key: readFileSync(certs.server_key) }, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('secret hello\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let p: Program | undefined, q: Program | undefined;
  try {
    p = start('fetch.ts', `https://localhost:${port}/`, '-q', '--cafile', certs.ca);
    await p.finished(0);
    assert.is(p.stdout, 'secret hello\n');
    q = start('fetch.ts', `https://localhost:${port}/`, '-q');
    await q.finished(1);
    assert.match(q.stderr, /SSLCertVerificationError/);
  } finally {
    await kill_all(p, q);
    await new Promise((r) => server.close(r));
    certs.cleanup();
  }
});

// ---- sink and source ----

const SERVING = /^sink: serving \[ \[ '127\.0\.0\.1', (\d+) \] \]$/m;

function received_total(sink: Program): number {
  let sum = 0;
  let last = 0;
  for (const m of sink.stderr.matchAll(/^sink: received (\d+) bytes; total (\d+)$/gm)) {
    sum += Number(m[1]);
    assert.is(Number(m[2]), sum, 'each running total adds the chunk to the one before');
    last = Number(m[2]);
  }
  return last;
}

function written(source: Program): number[] {
  return [...source.stderr.matchAll(/^source: writing (\d+) bytes; total (\d+)$/gm)].map((m) => Number(m[1]));
}

test('sink/source: --size bytes go across, in --block writes, and both exit (--once)', async () => {
  let sink: Program | undefined, source: Program | undefined;
  const size = 3_000_000, block = 65_536;
  try {
    sink = start('sink.ts', '--port', '0', '--once');
    const [, port] = await sink.wait_for('stderr', SERVING, 'the sink\'s port');
    source = start('source.ts', '--port', port!, '--size', String(size), '--block', String(block));
    await source.finished(0);
    await sink.finished(0);
    const writes = written(source);
    assert.is(writes.length, Math.ceil(size / block));
    assert.ok(writes.slice(0, -1).every((n) => n === block));
    assert.is(writes.at(-1), size % block);
    assert.match(source.stderr, new RegExp(`^source: connecting to \\[ '127\\.0\\.0\\.1', ${port} \\]$`, 'm'));
    assert.match(source.stderr, new RegExp(`^source: all ${size} bytes written; paused \\d+ times; closing\\nsource: lost connection null\\n$`, 'm'));
    assert.is(received_total(sink), size);
    assert.match(sink.stderr, new RegExp(`^sink: my socket is \\[ '127\\.0\\.0\\.1', ${port} \\]$`, 'm'));
    assert.match(sink.stderr, new RegExp(`\\nsink: closed null\\nsink: total ${size} bytes\\nsink: stopping server \\(--once\\)\\n$`));
  } finally {
    await kill_all(source, sink);
  }
});

test('sink/source: flow control: source pauses while the sink is stopped, resumes when it reads again', async () => {
  let sink: Program | undefined, source: Program | undefined;
  // More than the kernel buffers on both sides hold, so the transport's own buffer has to fill.
  const size = 64 * 1024 * 1024;
  try {
    sink = start('sink.ts', '--port', '0', '--once');
    const [, port] = await sink.wait_for('stderr', SERVING, 'the sink\'s port');
    sink.signal('SIGSTOP');
    source = start('source.ts', '--port', port!, '--size', String(size));
    await source.wait_for('stderr', /^source: pausing: buffer (\d+) bytes$/m, 'pause_writing() while the sink is stopped');
    sink.signal('SIGCONT');
    await source.wait_for('stderr', /^source: resuming: buffer (\d+) bytes$/m, 'resume_writing() once the sink reads');
    await source.finished(0);
    await sink.finished(0);
    const lines = source.stderr.split('\n');
    let paused = false;
    let pauses = 0;
    for (const line of lines) {
      const p = line.match(/^source: pausing: buffer (\d+) bytes$/);
      if (p) {
        assert.not.ok(paused, 'pause_writing() twice without resume_writing()');
        assert.ok(Number(p[1]) > 64 * 1024, `paused above the high-water mark: ${line}`);
        paused = true;
        pauses++;
      } else if (line.startsWith('source: resuming:')) {
        assert.ok(paused, 'resume_writing() without pause_writing()');
        assert.ok(Number(line.match(/(\d+) bytes$/)![1]) <= 16 * 1024, `resumed at or below the low-water mark: ${line}`);
        paused = false;
      } else if (line.startsWith('source: writing')) {
        assert.not.ok(paused, 'a write between pause_writing() and resume_writing()');
      }
    }
    assert.match(source.stderr, new RegExp(`^source: all ${size} bytes written; paused ${pauses} times; closing$`, 'm'));
    assert.is(written(source).reduce((a, b) => a + b, 0), size);
    assert.is(received_total(sink), size);
    assert.match(sink.stderr, new RegExp(`sink: total ${size} bytes\\n`));
  } finally {
    await kill_all(source, sink);
  }
});

test('sink/source: source --stop stops the sink\'s server', async () => {
  let sink: Program | undefined, source: Program | undefined;
  try {
    sink = start('sink.ts', '--port', '0');
    const [, port] = await sink.wait_for('stderr', SERVING, 'the sink\'s port');
    source = start('source.ts', '--port', port!, '--stop');
    await source.finished(0);
    await sink.finished(0);
    assert.match(sink.stderr, /\nsink: stopping server\nsink: closed null\nsink: total 0 bytes\n$/);
    assert.match(source.stderr, /^source: lost connection null$/m);
    assert.is(written(source).length, 0);
  } finally {
    await kill_all(source, sink);
  }
});

test.run();
