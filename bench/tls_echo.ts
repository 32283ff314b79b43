// TLS echo throughput: tulip-ts (bench/tls_echo_server.ts) against a Node `tls` echo server, each in its
// own process, driven by the same load client (Node `tls.connect`, in a third process: N connections,
// each a closed loop of "send SIZE bytes, wait for all of them back").
//
//   tsx bench/tls_echo.ts
//
// Knobs (environment): TLS_SIZES (default 1k,64k), TLS_SECONDS (default 3), TLS_CONNS (default 10),
// TLS_RUNS (default 2). The load client is Node's tls, so it costs as much CPU as a server: the numbers
// compare the servers under the same client, not absolute capacity. TCP_NODELAY is on everywhere (tulip-ts
// sets it on every TCP transport, as asyncio does; Node's sockets need it asked for), else 64 KiB
// echoes stall on delayed ACKs. Certificates are made with the
// openssl CLI in a temporary directory, removed at the end.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { free_port } from './harness.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const sizes = (process.env['TLS_SIZES'] ?? '1k,64k').split(',').map((s) => (s.endsWith('k') ? Number(s.slice(0, -1)) * 1024 : Number(s)));
const SECONDS = Number(process.env['TLS_SECONDS'] ?? 3);
const CONNS = Number(process.env['TLS_CONNS'] ?? 10);
const RUNS = Number(process.env['TLS_RUNS'] ?? 2);

const NODE_SERVER = `
const tls = require('node:tls'), fs = require('node:fs');
const [port, cert, key] = process.argv.slice(1);
tls.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key), noDelay: true }, (s) => { s.setNoDelay(true); s.pipe(s); })
  .listen(+port, '127.0.0.1', () => console.log('ready'));
`;

const LOAD = `
const tls = require('node:tls'), fs = require('node:fs');
const [port, ca, size, conns, seconds] = process.argv.slice(1).map((v, i) => i === 1 ? v : +v);
const msg = Buffer.alloc(size, 0x61);
let msgs = 0, measuring = false, open = 0;
for (let i = 0; i < conns; i++) {
  const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: fs.readFileSync(ca) }, () => s.write(msg));
  s.setNoDelay(true);
  open++;
  let got = 0;
  s.on('data', (d) => {
    got += d.length;
    while (got >= size) { got -= size; if (measuring) msgs++; s.write(msg); }
  });
  s.on('error', (e) => { console.error(e.message); process.exit(1); });
}
setTimeout(() => { measuring = true; const t0 = process.hrtime.bigint();
  setTimeout(() => { const dt = Number(process.hrtime.bigint() - t0) / 1e9; console.log(String(Math.round(msgs / dt))); process.exit(0); }, seconds * 1000);
}, 500);
`;

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
}

// Detached: tsx runs the tulip server in a grandchild, so a server is stopped through its process group.
function start(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (String(d).includes('ready')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

function load(port: number, ca: string, size: number): Promise<number> {
  const child = spawn(process.execPath, ['-e', LOAD, String(port), ca, String(size), String(CONNS), String(SECONDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`load client exited with ${code}`)))));
}

async function stop(child: ChildProcess): Promise<void> {
  child.removeAllListeners('exit');
  const gone = new Promise((r) => child.on('exit', r));
  // SIGKILL: tsx forwards SIGTERM to a JS handler, which a loop blocked in epoll_wait never runs.
  process.kill(-child.pid!, 'SIGKILL');
  await gone;
}

const dir = mkdtempSync(join(tmpdir(), 'tulip-tls-bench-'));
try {
  const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=bench CA']);
  openssl(dir, ['req', ...EC, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost']);
  openssl(dir, ['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '1']);
  const [ca, cert, key] = ['ca.pem', 'srv.pem', 'srv.key'].map((f) => join(dir, f)) as [string, string, string];
  console.log(`TLS echo, ${CONNS} connections, ${SECONDS} s per run, ${RUNS} runs; msgs/s (Node tls load client)`);
  for (const size of sizes) {
    const ratios: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const results: number[] = [];
      for (const which of ['tulip', 'node'] as const) {
        const port = await free_port();
        const server = await start(which === 'tulip' ? [TSX, join(ROOT, 'bench', 'tls_echo_server.ts'), String(port), cert, key] : ['-e', NODE_SERVER, String(port), cert, key]);
        try {
          results.push(await load(port, ca, size));
        } finally {
          await stop(server);
        }
      }
      const [t, n] = results as [number, number];
      ratios.push(t / n);
      console.log(`  ${size >= 1024 ? `${size / 1024} KiB` : `${size} B`}  run ${run + 1}: tulip-ts ${t}  node ${n}  ratio ${(t / n).toFixed(2)}`);
    }
    ratios.sort((a, b) => a - b);
    console.log(`  ${size >= 1024 ? `${size / 1024} KiB` : `${size} B`}  median ratio tulip-ts / node: ${ratios[Math.floor(ratios.length / 2)]!.toFixed(2)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
