// The TLS examples as smoke tests: tls_echo_server.ts and tls_echo_client.ts run as real programs (importing
// 'tulip-ts' as a user would) in their own processes, with certificates made for the test. This process
// runs no tulip loop, so Node's own loop reads the children's output as it comes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { make_certs } from './support/certs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const DEADLINE_MS = 60_000;
const certs = make_certs();
test.after(() => certs.cleanup());

interface Run { proc: ChildProcess; out: string; exit: Promise<number | null> }

/** Starts an example in its own process group (tsx runs it in a grandchild), collecting stdout+stderr. */
function run(name: string, ...args: string[]): Run {
  const proc = spawn(process.execPath, [tsx, join('examples', name), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const r: Run = { proc, out: '', exit: new Promise((resolve) => proc.on('close', (code) => resolve(code))) };
  proc.stdout!.on('data', (b: Buffer) => (r.out += b));
  proc.stderr!.on('data', (b: Buffer) => (r.out += b));
  return r;
}

function kill(r: Run | undefined): void {
  if (r?.proc.pid !== undefined && r.proc.exitCode === null) {
    try {
      process.kill(-r.proc.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

async function wait_for(r: Run, pattern: RegExp): Promise<RegExpMatchArray> {
  const t0 = Date.now();
  for (;;) {
    const m = r.out.match(pattern);
    if (m) return m;
    if (r.proc.exitCode !== null || Date.now() - t0 > DEADLINE_MS) throw new Error(`${pattern} not seen; output:\n${r.out}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

async function finished(r: Run): Promise<number | null> {
  const timer = setTimeout(() => kill(r), DEADLINE_MS);
  const code = await r.exit;
  clearTimeout(timer);
  return code;
}

test('tls_echo_server + tls_echo_client: verified echo; the system CAs (no --cafile) reject the test CA', async () => {
  let server: Run | undefined;
  try {
    server = run('tls_echo_server.ts', '--certfile', certs.server_cert, '--keyfile', certs.server_key, '--port', '0');
    const [, port] = await wait_for(server, /serving on \[ '127\.0\.0\.1', (\d+) \]/);
    const client = run('tls_echo_client.ts', '--cafile', certs.ca, '--port', port!);
    assert.is(await finished(client), 0, client.out);
    assert.match(client.out, /server certificate: CN=localhost; TLS_\w+,TLSv1\.3,\d+/);
    assert.match(client.out, /data received: Re: This is the message\. It will be echoed\./);
    await wait_for(server, /connection made: TLSv1\.3 TLS_\w+\ndata received: This is the message\. It will be echoed\.\nconnection lost/);
    const untrusting = run('tls_echo_client.ts', '--port', port!);
    assert.is(await finished(untrusting), 1, untrusting.out);
    assert.match(untrusting.out, /SSLCertVerificationError: \[SSL: CERTIFICATE_VERIFY_FAILED\] certificate verify failed/);
  } finally {
    kill(server);
  }
});

test('tls_echo_server without --certfile prints its usage and exits 2', async () => {
  const r = run('tls_echo_server.ts');
  assert.is(await finished(r), 2);
  assert.match(r.out, /usage: tls_echo_server\.ts --certfile/);
});

test.run();
