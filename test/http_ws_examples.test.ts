// The WebSocket chat examples as smoke tests: examples/wssrv.ts (a supervisor and its workers) and
// examples/wsclient.ts run as their own processes (test/support/program.ts: async spawn, waits on their
// output with a deadline, never a fixed sleep, process groups killed in the end), with stdin pipes to type
// into the clients. A peer that is not ours joins the chat too: the `ws` package in a node child. The page
// is fetched with Node's http (this test process runs no tulip-ts loop, so Node's own sockets work here).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { get as http_get } from 'node:http';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { alive, kill_all, start, start_with, supervisor_serving, until, worker_pids, type Program } from './support/program.js';

const DEADLINE_MS = 60_000;

/** A `ws` client: prints "open", "got: MESSAGE", "pong: DATA", "closed CODE REASON"; sends each stdin line
 * ("/ping" pings instead; "/flood N SIZE" sends N messages of SIZE bytes), closes with 1000 at the end of stdin. */
const WS_CLIENT = `
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[1]);
ws.on('open', () => console.log('open'));
ws.on('message', (data) => console.log('got: ' + data.toString()));
ws.on('pong', (data) => console.log('pong: ' + data.toString()));
ws.on('close', (code, reason) => {
  console.log('closed ' + code + ' ' + reason.toString());
  process.exit(0);
});
ws.on('error', (e) => {
  console.error('error: ' + e.message);
  process.exit(1);
});
require('node:readline').createInterface({ input: process.stdin })
  .on('line', (line) => {
    const [command, n, size] = line.split(' ');
    if (command === '/flood') for (let i = 0; i < +n; i++) ws.send('x'.repeat(+size));
    else if (line === '/ping') ws.ping('are you there');
    else ws.send(line);
  })
  .on('close', () => ws.close(1000, 'bye'));
`;

const programs: Program[] = [];
test.after.each(async () => kill_all(...programs.splice(0)));

function track(p: Program): Program {
  programs.push(p);
  return p;
}

/** Starts wssrv.ts on an ephemeral port and waits for its workers: [program, supervisor pid, port]. */
async function start_wssrv(workers: number): Promise<[Program, number, number]> {
  const srv = track(start('wssrv.ts', '--port', '0', '--workers', String(workers)));
  return [srv, ...(await supervisor_serving(srv, workers))];
}

/** A wsclient.ts connected as `name` (stdin is a pipe to type into). */
async function chat_client(port: number, name: string): Promise<Program> {
  const p = track(start_with({ input: true }, 'wsclient.ts', `ws://127.0.0.1:${port}/ws`, '--name', name));
  await p.wait_for('stdout', new RegExp(`^Connected to ws://127\\.0\\.0\\.1:${port}/ws\\.$`, 'm'), `${name} connected`);
  return p;
}

/** Waits until `p` has printed `line` (a whole line, UTF-8) `times` times. */
function saw(p: Program, line: string, times = 1): Promise<RegExpMatchArray> {
  // Program decodes output as latin1 (byte for byte): so is the line looked for.
  const escaped = Buffer.from(line, 'utf8').toString('latin1').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return p.wait_for('stdout', new RegExp(`(^${escaped}$[^]*){${times}}`, 'm'), `${p.name} printing ${JSON.stringify(line)} ${times}x`);
}

function count(p: Program, line: string): number {
  return Buffer.concat(p.stdout_bytes).toString('utf8').split('\n').filter((l) => l === line).length;
}

/** GET `path` (Connection: close): status, headers, body. */
function get(port: number, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http_get({ host: '127.0.0.1', port, path, agent: false, timeout: DEADLINE_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${DEADLINE_MS} ms`)));
    req.on('error', reject);
  });
}

test('wssrv.ts, 1 worker: the page, two wsclient.ts and a ws client chat; join/leave notices; ping; SIGTERM stops all', async () => {
  const [srv, sup, port] = await start_wssrv(1);
  const [worker] = worker_pids(srv) as [number];

  const page = await get(port, '/');
  assert.is(page.status, 200);
  assert.is(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.is(page.body, readFileSync(new URL('../examples/websocket.html', import.meta.url), 'utf8'));
  assert.match(page.body, /new WebSocket\(/);
  assert.is((await get(port, '/elsewhere')).status, 404);

  const alice = await chat_client(port, 'alice');
  const bob = await chat_client(port, 'bob');
  await saw(alice, 'Someone joined.');
  bob.write('hello from bob\n');
  await saw(alice, 'bob: hello from bob');
  bob.write('héllo ✓ 🌷\n'); // UTF-8 both ways
  await saw(alice, 'bob: héllo ✓ 🌷');

  const ws = track(start_with({ input: true, node_args: ['-e', WS_CLIENT, `ws://127.0.0.1:${port}/ws`] }, 'ws client'));
  await saw(ws, 'open');
  await saw(alice, 'Someone joined.', 2);
  await saw(bob, 'Someone joined.');
  ws.write('hi from ws\n');
  await saw(alice, 'hi from ws');
  await saw(bob, 'hi from ws');
  alice.write('  hi all  \n');
  await saw(ws, 'got: alice: hi all');
  await saw(bob, 'alice: hi all');
  ws.write('/ping\n');
  await saw(ws, 'pong: are you there');
  // Nobody hears their own words back.
  assert.is(count(bob, 'bob: hello from bob'), 0);
  assert.is(count(alice, 'alice: hi all'), 0);
  assert.is(count(ws, 'got: hi from ws'), 0);

  // bob's stdin ends: the closing handshake, exit 0; the others hear that someone left.
  bob.end_input();
  await bob.finished(0);
  await saw(alice, 'Someone disconnected.');
  await saw(ws, 'got: Someone disconnected.');
  await saw(srv, `${worker}: Someone disconnected.`);

  // SIGTERM to the supervisor alone: the worker closes the WebSockets (1001) and exits, then the supervisor.
  process.kill(sup, 'SIGTERM');
  await srv.finished(0);
  await alice.finished(0);
  assert.match(alice.stdout, /^Disconnected: 1001 server shutting down$/m);
  await ws.finished(0);
  assert.match(ws.stdout, /^closed 1001 server shutting down$/m);
  for (const pid of [sup, worker]) assert.not.ok(alive(pid), `process ${pid} is still there`);
  assert.match(srv.stdout, new RegExp(`^${worker}: bob: hello from bob$`, 'm'), 'the worker prints what is said');
});

test('wssrv.ts, 2 workers: messages cross workers through the supervisor; a killed worker is replaced; no orphans', async () => {
  const [srv, sup, port] = await start_wssrv(2);
  const [w1, w2] = worker_pids(srv) as [number, number];
  // Each client on a worker of its own: the other one is stopped while it connects, so it cannot accept.
  let alice: Program, bob: Program;
  process.kill(w2, 'SIGSTOP');
  try {
    alice = await chat_client(port, 'alice');
    await saw(srv, `${w1}: Someone joined.`);
  } finally {
    process.kill(w2, 'SIGCONT');
  }
  process.kill(w1, 'SIGSTOP');
  try {
    bob = await chat_client(port, 'bob');
    await saw(srv, `${w2}: Someone joined.`);
  } finally {
    process.kill(w1, 'SIGCONT');
  }
  await saw(alice, 'Someone joined.'); // from w2, through the supervisor
  bob.write('across workers\n');
  await saw(alice, 'bob: across workers');
  await saw(srv, `${w2}: bob: across workers`);
  alice.write('and back\n');
  await saw(bob, 'alice: and back');

  // bob's worker dies: bob's connection is lost (status 1), and the supervisor starts another worker.
  process.kill(w2, 'SIGKILL');
  await bob.finished(1);
  assert.match(bob.stdout, /^Disconnected: 1006$/m);
  await srv.wait_for('stdout', new RegExp(`worker ${w2} exited \\(signal 9\\): starting another[^]*worker \\d+ serving on`), 'a new worker');
  const w3 = worker_pids(srv).at(-1)!;
  assert.ok(w3 !== w1 && w3 !== w2 && alive(w3));

  // A new client, on either worker, still talks with alice.
  const carol = await chat_client(port, 'carol');
  await saw(alice, 'Someone joined.', 2);
  carol.write('hello alice\n');
  await saw(alice, 'carol: hello alice');

  process.kill(sup, 'SIGINT');
  await srv.finished(0);
  await alice.finished(0);
  await carol.finished(0);
  for (const pid of [sup, w1, w3]) assert.not.ok(alive(pid), `process ${pid} is still there`);
});

test('wssrv.ts: a client that does not read is dropped once 1 MiB waits for it', async () => {
  const [srv, , port] = await start_wssrv(1);
  const [worker] = worker_pids(srv) as [number];
  const ws = track(start_with({ input: true, node_args: ['-e', WS_CLIENT, `ws://127.0.0.1:${port}/ws`] }, 'ws client'));
  await saw(ws, 'open');
  await saw(srv, `${worker}: Someone joined.`);
  // A client that sends a handshake and then never reads (its answer included).
  const idle = net.connect(port, '127.0.0.1');
  idle.on('error', () => {}); // the reset when it is dropped
  try {
    idle.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
      + 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    idle.pause();
    await saw(srv, `${worker}: Someone joined.`, 2);
    await saw(ws, 'got: Someone joined.');
    // 32 MiB for it: more than the kernel's socket buffers hold, so it piles up in the server.
    ws.write('/flood 32 1048576\n');
    await saw(srv, `${worker}: dropping a client that does not read`);
    await saw(ws, 'got: Someone disconnected.');
    assert.match(srv.stdout, /x{200}\.\.\. \(1048576 characters\)/, 'long messages are printed cut short');
  } finally {
    idle.destroy();
  }
  ws.end_input();
  await ws.finished(0);
  assert.match(ws.stdout, /^closed 1000 $/m, 'the server echoes the close code (with no reason)');
});

test('wssrv.ts: workers leave by themselves when their supervisor is killed outright', async () => {
  const [srv, sup] = await start_wssrv(2);
  const workers = worker_pids(srv);
  process.kill(sup, 'SIGKILL');
  await srv.wait_for('stdout', /(supervisor is gone, worker \d+ stopping[^]*){2}/, 'both workers stopping');
  await until(() => !workers.some(alive), `workers ${workers.join(', ')} gone`);
});

test('wsclient.ts: a refused connection is one line and status 1; bad arguments get the usage', async () => {
  // A port nobody listens on: bound, then closed.
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const client = track(start('wsclient.ts', '--port', String(port), '--name', 'x'));
  await client.finished(1);
  assert.match(client.stderr, /^wsclient\.ts: ConnectionRefusedError: .*\n$/);
  const srv = track(start('wssrv.ts', '--workers', '0'));
  await srv.finished(2);
  assert.match(srv.stderr, /bad --workers 0\nusage: wssrv\.ts/);
});

test.run();
