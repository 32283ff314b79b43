// The cache server and client (examples/cachesvr.ts, cacheclt.ts) and examples/stacks.ts as smoke tests:
// each runs as its own process (test/support/program.ts: async spawn, waits on output, never a fixed
// sleep, the process group killed in finally). The server is started on --port 0 and its "socket" log
// line says which port it got.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { make_certs } from './support/certs.js';
import { kill_all, start, type Program } from './support/program.js';

const SOCKET = /INFO:root:socket \["127\.0\.0\.1",(\d+)\]/;

async function start_server(port = '0', extra: string[] = []): Promise<[Program, string]> {
  const svr = start('cachesvr.ts', '--host', '127.0.0.1', '--port', port, ...extra);
  const m = await svr.wait_for('stderr', SOCKET, 'the server socket line');
  return [svr, m[1]!];
}

test('cacheclt: ten tasks share one connection to cachesvr and finish their rounds', async () => {
  let svr: Program | undefined, clt: Program | undefined;
  try {
    let port: string;
    [svr, port] = await start_server();
    clt = start('cacheclt.ts', '--host', '127.0.0.1', '--port', port, '--ntasks', '10', '--max_n', '3');
    await clt.finished(0);
    for (let i = 0; i < 10; i++) {
      for (const line of [`${i} set true`, `${i} get hello-${i}-world`, `${i} del true`, `${i} get2 null`]) {
        assert.is(clt.stderr.split(`INFO:root:${line}\n`).length - 1, 3, `${line}\n${clt.stderr}`);
      }
    }
    assert.not.match(clt.stderr, /Timeout|exception|Error/);
    // One shared connection: the server saw exactly one client, and its clean end.
    await svr.wait_for('stderr', /INFO:root:end connection from \["127\.0\.0\.1",\d+\]/, 'end connection');
    assert.is(svr.stderr.split('got a connection from').length - 1, 1, svr.stderr);
  } finally {
    await kill_all(clt, svr);
  }
});

test('cacheclt survives a server restart: it reconnects and resends what was pending', async () => {
  let svr: Program | undefined, svr2: Program | undefined, clt: Program | undefined;
  try {
    let port: string;
    [svr, port] = await start_server();
    clt = start('cacheclt.ts', '--host', '127.0.0.1', '--port', port, '--ntasks', '3', '--max_backoff', '1');
    await clt.wait_for('stderr', /INFO:root:2 get2 null\n[\s\S]*INFO:root:2 get2 null\n/, 'two rounds before the kill');
    await svr.kill();
    await clt.wait_for('stderr', /INFO:root:Error processing: /, 'the client sees the connection go');
    [svr2] = await start_server(port);
    await svr2.wait_for('stderr', /got a connection from/, 'the client reconnects');
    // Every tester completes a whole round again after the restart.
    for (let i = 0; i < 3; i++) {
      await clt.wait_for('stderr', new RegExp(`Error processing: [\\s\\S]*INFO:root:${i} set true\\n[\\s\\S]*INFO:root:${i} get2 null\\n`), `task ${i} after the restart`);
    }
    assert.is(clt.exit, null, 'the client is still running');
    assert.not.match(clt.stderr, /Client exception/);
  } finally {
    await kill_all(clt, svr, svr2);
  }
});

test('cachesvr --tls and cacheclt --tls', async () => {
  const certs = make_certs();
  let svr: Program | undefined, clt: Program | undefined;
  try {
    let port: string;
    [svr, port] = await start_server('0', ['--tls', '--certfile', certs.server_cert, '--keyfile', certs.server_key]);
    clt = start('cacheclt.ts', '--tls', '--host', '127.0.0.1', '--port', port, '--ntasks', '2', '--max_n', '2');
    await clt.finished(0);
    assert.match(clt.stderr, /INFO:root:1 get hello-1-world\n/);
    assert.not.match(clt.stderr, /Timeout|exception|Error/);
  } finally {
    await kill_all(clt, svr);
    certs.cleanup();
  }
});

test('cachesvr answers bad frames with an unframed error and closes', async () => {
  let svr: Program | undefined;
  try {
    let port: string;
    [svr, port] = await start_server();
    const net = await import('node:net');
    const reply = await new Promise<string>((resolve, reject) => {
      let got = '';
      const s = net.connect(Number(port), '127.0.0.1', () => s.write('request 2 10\r\n'));
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });
    assert.is(reply, 'error invalid frame parameters\r\n');
  } finally {
    await kill_all(svr);
  }
});

test('stacks: print_stack() shows the whole yield* chain: suspended (debug mode), running, and failed', async () => {
  const p = start('stacks.ts');
  try {
    await p.finished(0);
    const out = p.stdout;
    assert.match(out, /^catching ZeroDivisionError: division by zero$/m, out);
    // Suspended in readline(), recorded in debug mode: outer -> middle -> helper -> readline, oldest first.
    const suspended = out.slice(out.indexOf('--- end helper ---'), out.indexOf('catching'));
    assert.match(suspended, /Stack for Task<PENDING> \(most recent call last\):\n  at outer [^\n]*\n  at middle [^\n]*\n  at helper [^\n]*\n  at StreamReader\.readline /, suspended);
    // From inside helper(): the running task's frames, live.
    const live = out.slice(out.indexOf('--- helper ---'), out.indexOf('--- end helper ---'));
    assert.match(live, /  at outer [^\n]*\n  at middle [^\n]*\n  at helper [^\n]*\n  at print_stack /, live);
    // Failed: the exception's frames, through the same chain, then the exception.
    const failed = out.slice(out.indexOf('Traceback for Task<exception=ZeroDivisionError'));
    assert.match(failed, /^Traceback for [^\n]*\(most recent call last\):\n  at outer [^\n]*\n  at middle [^\n]*\n  at helper [^\n]*\nZeroDivisionError: division by zero\n/, failed);
  } finally {
    await kill_all(p);
  }
});

test.run();
