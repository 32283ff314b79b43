// WebSocket interop with a peer that is not ours: the `ws` package (the WebSocket implementation Node
// programs use) in a child process, since our loop owns this process's thread while it runs. Our client
// against a ws server (listening on a socket we pass as fd 3), and a ws client against our server: text,
// binary, large fragmented messages both ways, pings both ways, close codes from either side.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MSG_BINARY, MSG_CLOSE, MSG_TEXT, OPCODE_BINARY, OPCODE_CONTINUATION, type WebSocket } from '../coroutines/http/index.js';
import { AF_INET, SOCK_STREAM, Socket, Task, wait_for } from '../src/index.js';
import { make_loop, register_loop_cleanup, run } from './support/loops.js';
import { ws_connect, ws_server } from './support/websocket.js';

register_loop_cleanup();

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A node child running `script` from the repository root (so require('ws') finds it); stdout collected. */
function node_child(script: string, args: string[], fd3?: Socket): { child: ChildProcess; done: Promise<{ code: number | null; out: string }> } {
  const child = spawn(process.execPath, ['-e', script, ...args], {
    cwd: root, stdio: ['ignore', 'pipe', 'inherit', ...(fd3 ? [fd3.fileno()] : [])],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const done = new Promise<{ code: number | null; out: string }>((resolve) => child.on('close', (code) => resolve({ code, out })));
  return { child, done };
}

/** The bytes both sides agree on for a large binary message. */
const PATTERN = `(n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff))`;
const pattern: (n: number) => Buffer = eval(PATTERN);

// An echo server with a few commands; each connection's close is reported on stdout, then it exits.
const WS_SERVER = `
const http = require('node:http');
const { WebSocketServer } = require('ws');
const server = http.createServer();
const deflate = process.argv[1] === 'deflate'; // ws's permessage-deflate, every message compressed
const wss = new WebSocketServer({
  server, maxPayload: 64 << 20, handleProtocols: (ps) => (ps.has('chat') ? 'chat' : false), perMessageDeflate: deflate ? { threshold: 0 } : false,
});
wss.on('connection', (ws, req) => {
  console.log('connected protocol=' + ws.protocol + ' key=' + req.headers['sec-websocket-key'].length + (deflate ? ' ext=' + ws.extensions : ''));
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? '' : data.toString();
    if (text.startsWith('close ')) return ws.close(+text.split(' ')[1], text.split(' ')[2]);
    if (text === 'ping me') return ws.ping('from ws');
    if (text.startsWith('fragments ')) {
      const big = (${PATTERN})(+text.split(' ')[1]);
      const q = big.length >> 2;
      for (let i = 0; i < 4; i++) ws.send(big.subarray(i * q, i === 3 ? big.length : (i + 1) * q), { binary: true, fin: i === 3 });
      return;
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('pong', (data) => ws.send('pong ' + data.toString()));
  ws.on('close', (code, reason) => {
    console.log('closed ' + code + ' ' + reason.toString());
    wss.close();
    server.close();
  });
});
server.listen({ fd: 3 });
`;

/** Starts WS_SERVER listening on a socket of ours (fd 3): the port is known, and connections queue at once. */
function start_ws_server(mode: 'plain' | 'deflate' = 'plain'): { port: number; child: ChildProcess; done: Promise<{ code: number | null; out: string }> } {
  const listener = new Socket(AF_INET, SOCK_STREAM);
  listener.bind(['127.0.0.1', 0]);
  listener.listen(8);
  const port = (listener.getsockname() as [string, number])[1];
  const { child, done } = node_child(WS_SERVER, [mode], listener);
  listener.close();
  return { port, child, done };
}

function* expect_message(ws: WebSocket, tp: number, check: (data: unknown) => boolean, what: string) {
  const m = yield* ws.receive();
  assert.ok(m !== null, `${what}: the connection ended`);
  assert.is(m.tp, tp, `${what}: got type ${m.tp} (${String(m.data).slice(0, 80)})`);
  assert.ok(check(m.data), `${what}: unexpected ${String(m.data).slice(0, 80)}`);
}

for (const mode of ['plain', 'deflate'] as const) test(`interop: our client against a ws server (${mode}) — text, binary, fragments both ways, pings both ways, ws closes with 4002`, async () => {
  const { port, child, done } = start_ws_server(mode);
  try {
    const loop = make_loop();
    run(loop, (function* () {
      const ws = yield* ws_connect(loop, port, ['chat']);
      assert.is(ws.protocol, 'chat');
      assert.is(ws.writer.deflate !== null, mode === 'deflate', 'permessage-deflate agreed exactly when ws offers it');
      ws.send('héllo ✓');
      yield* expect_message(ws, MSG_TEXT, (d) => d === 'héllo ✓', 'text echo');
      const big = pattern(2 << 20);
      for (let at = 0; at < big.length; at += 65536) {
        ws.writer.send_frame(at === 0 ? OPCODE_BINARY : OPCODE_CONTINUATION, big.subarray(at, at + 65536), at + 65536 >= big.length);
      }
      yield* expect_message(ws, MSG_BINARY, (d) => big.equals(d as Buffer), '2 MiB sent in 32 fragments');
      ws.send('fragments 1000001');
      yield* expect_message(ws, MSG_BINARY, (d) => pattern(1000001).equals(d as Buffer), 'ws sending 1 MB in 4 fragments');
      ws.send('ping me');
      yield* expect_message(ws, MSG_TEXT, (d) => d === 'pong from ws', 'our automatic pong, as ws saw it');
      const ponged = ws.ping('ours');
      ws.send('sync');
      yield* expect_message(ws, MSG_TEXT, (d) => d === 'sync', 'echo');
      yield* wait_for(ponged, 5);
      ws.send('close 4002 later');
      const close = yield* ws.receive();
      assert.equal(close, { tp: MSG_CLOSE, data: 4002, extra: 'later' });
      assert.ok(ws.closed);
      assert.is(yield* ws.receive(), null);
    })());
    const { code, out } = await done;
    assert.is(code, 0, out);
    const ext = mode === 'deflate' ? ' ext=permessage-deflate' : '';
    assert.match(out, new RegExp(`^connected protocol=chat key=24${ext}[^\n]*\nclosed 4002 \n$`), 'our answer echoes the code (the reason is not echoed)');
  } finally {
    child.kill('SIGKILL');
  }
});

test('interop: our client closes a ws server connection with 4001: ws sees the code and reason, close() returns promptly', async () => {
  const { port, child, done } = start_ws_server();
  try {
    const loop = make_loop();
    run(loop, (function* () {
      const ws = yield* ws_connect(loop, port);
      assert.is(ws.protocol, null);
      const t0 = loop.time();
      yield* ws.close(4001, 'bye ✓');
      assert.ok(loop.time() - t0 < 2, `close() took ${loop.time() - t0} s`);
      assert.is(ws.close_code, 4001, 'ws echoed our code');
    })());
    const { code, out } = await done;
    assert.is(code, 0, out);
    assert.is(out, 'connected protocol= key=24\nclosed 4001 bye ✓\n');
  } finally {
    child.kill('SIGKILL');
  }
});

// A ws client running a fixed conversation with our echo server, logging what it sees.
const WS_CLIENT = `
const WebSocket = require('ws');
const [port, mode] = process.argv.slice(1);
const big = (${PATTERN})(1 << 20);
const ws = new WebSocket('ws://127.0.0.1:' + port + '/chat', ['chat']);
const log = (s) => process.stdout.write(s + '\\n');
const steps = [
  () => ws.send('héllo ✓'),
  () => ws.send(big),
  () => { ws.send('frag', { fin: false }); ws.ping('p1'); ws.send('ments', { fin: true }); },
  () => (mode === 'server-closes' ? ws.send('bye') : ws.close(4001, 'client bye')),
];
let step = 0;
ws.on('open', () => { log('open ' + ws.protocol + ' ' + JSON.stringify(ws.extensions)); steps[step++](); });
ws.on('message', (data, isBinary) => {
  log(isBinary ? 'binary ' + (Buffer.compare(data, big) === 0 ? 'equal' : 'DIFFERENT ' + data.length) : 'text ' + data.toString());
  steps[step++]();
});
ws.on('pong', (data) => log('pong ' + data.toString()));
ws.on('close', (code, reason) => log('closed ' + code + ' ' + reason.toString()));
ws.on('error', (e) => { log('error ' + e.message); process.exitCode = 1; });
`;

for (const mode of ['server-closes', 'client-closes'] as const) {
  test(`interop: a ws client against our server (${mode})`, async () => {
    const loop = make_loop();
    let child: ChildProcess | undefined;
    let done: Promise<{ code: number | null; out: string }> | undefined;
    const received: string[] = [];
    try {
      const srv = run(loop, (function* () {
        const { port, server, accepted } = yield* ws_server(loop);
        ({ child, done } = node_child(WS_CLIENT, [String(port), mode]));
        const ws = yield* accepted();
        const echo = new Task((function* () {
          for (let m = yield* ws.receive(); m !== null && m.tp !== MSG_CLOSE; m = yield* ws.receive()) {
            received.push(m.tp === MSG_TEXT ? `text ${m.data}` : `binary ${(m.data as Buffer).length}`);
            if (m.tp === MSG_TEXT && m.data === 'bye') yield* ws.close(4003, 'server bye');
            else if (m.tp === MSG_TEXT) ws.send(m.data);
            else ws.send(m.data, true);
          }
        })());
        yield* echo;
        server.close();
        return ws;
      })());
      assert.equal(received.slice(0, 3), ['text héllo ✓', 'binary 1048576', 'text fragments']);
      if (mode === 'server-closes') {
        assert.equal(received, ['text héllo ✓', 'binary 1048576', 'text fragments', 'text bye']);
        assert.is(srv.close_code, 4003, 'ws echoed our code');
      } else {
        assert.is(received.length, 3);
        assert.equal([srv.close_code, srv.close_reason], [4001, 'client bye']);
      }
      assert.ok(srv.closed);
      const { code, out } = await done!;
      assert.is(code, 0, out);
      // ws reports the close frame it received: ours, or our answer to its own (which echoes the code only).
      const closed = mode === 'server-closes' ? 'closed 4003 server bye' : 'closed 4001 ';
      // ws offers permessage-deflate by default, and our server takes it: every message above went compressed.
      assert.is(out, ['open chat "permessage-deflate"', 'text héllo ✓', 'binary equal', 'pong p1', 'text fragments', closed, ''].join('\n'));
    } finally {
      child?.kill('SIGKILL');
    }
  });
}

test.run();
