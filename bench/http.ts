// `npm run bench:http` (and part of `npm run bench`): the HTTP server's speed against Node's, in one run.
//
//   tsx bench/http.ts
//
//   (a) hello   a keep-alive "hello world": ServerHttpProtocol (bench/http_hello.ts) against Node's
//               http.createServer (bench/node_http_hello.mjs). The server is pinned to CPU 0 and wrk to
//               CPU 1 (taskset), so each side has one core of its own. Goal (issue 6): >= 2.2x Node.
//   (b) mp      examples/mpsrv.ts --workers 2 --hello against Node's cluster with 2 workers
//               (bench/node_cluster_hello.mjs), same route, nothing pinned: 2 workers and wrk share 2 cores
//               (oversubscribed, and the same for both).
//   (c) parser  request-head parsing throughput in MB/s (bench/http_parser.ts, pinned to CPU 0): our
//               http_request_parser against Node's llhttp (its raw HTTPParser binding, and the whole
//               http.createServer path fed through an in-memory Duplex).
//
// (a) also measures, in the same runs, `tulip-ts raw` (bench/http_hello.ts raw: a plain Protocol with a canned
// answer and no HTTP code, the ceiling of any HTTP server on our loop) and, when a python with uvloop is found
// (UVLOOP_PYTHON, else python3, else /usr/bin/python3), uvloop (bench/uvloop_hello.py): `uvloop raw`, the
// same canned answer (the issue quotes its goal against this), and `uvloop httptools`, parsing each request
// with httptools (llhttp in C).
//
// The load generator is wrk (Debian package `wrk`), not ours. Every measurement starts a fresh server,
// warms it up with a short wrk run, then measures; runs alternate which side goes first, and the table
// gives each run and the median. Servers are separate processes: a tulip-ts loop owns its thread, so it
// cannot share one with this Node program. Without wrk, (a) and (b) are skipped with a note.
//
// Knobs (environment):
//   HTTP_PARTS    which parts, comma-separated: hello,mp,parser         (default all three)
//   HTTP_RUNS     measured runs per side                                 (default 3)
//   HTTP_SECONDS  seconds per measured run                               (default 5)
//   HTTP_WARMUP   seconds of warm-up per server start, not measured      (default 1)
//   HTTP_CONNS    wrk connections for (a); (b) uses twice as many        (default 50)
//   HTTP_NO_PIN   set to 1 to not pin with taskset
//   HTTP_MP_REUSE_PORT  set to 1 to run mpsrv.ts with --reuse-port (a socket per worker, balanced by the kernel)
//   HTTP_HELLO_MODE     `protocol` (a ServerHttpProtocol subclass, the default) or `handler` (the handler
//                       adapter, http.serve) for the tulip-ts side of (a)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UVLOOP_HINT, can_pin, children, finish, free_port, median, sleep, steal_label, steal_meter, stop, try_connect, uvloop_python } from './harness.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function env_number(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name}=${raw}: expected a positive integer`);
  return v;
}

const PARTS = new Set((process.env['HTTP_PARTS'] || 'hello,mp,parser').split(',').map((s) => s.trim()));
for (const p of PARTS) if (!['hello', 'mp', 'parser'].includes(p)) throw new Error(`HTTP_PARTS: unknown part ${JSON.stringify(p)} (hello, mp, parser)`);
const RUNS = env_number('HTTP_RUNS', 3);
const SECONDS = env_number('HTTP_SECONDS', 5);
const WARMUP = process.env['HTTP_WARMUP'] === '0' ? 0 : env_number('HTTP_WARMUP', 1);
const CONNS = env_number('HTTP_CONNS', 50);
const MP_WORKERS = 2;
const MP_REUSE_PORT = process.env['HTTP_MP_REUSE_PORT'] === '1';
const HELLO_MODE = process.env['HTTP_HELLO_MODE'] || 'protocol';
if (HELLO_MODE !== 'protocol' && HELLO_MODE !== 'handler') throw new Error(`HTTP_HELLO_MODE: ${JSON.stringify(HELLO_MODE)} is neither protocol nor handler`);


// ---- helpers ----

function have(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error;
}

/** Collects a child's output as it comes (bounded), and reports spawn errors and early exits. */
function track(child: ChildProcess): { out: () => string } {
  children.add(child);
  let out = '';
  const add = (d: string): void => {
    if (out.length < 64 * 1024) out += d;
  };
  child.stdout?.setEncoding('utf8').on('data', add);
  child.stderr?.setEncoding('utf8').on('data', add);
  child.once('error', (e) => add(`\n[could not start: ${e.message}]`));
  return { out: () => out };
}

// ---- servers ----

interface ServerSpec {
  label: string;
  argv: (port: number) => string[];
  /** The server is ready once its output matches this (else: once it accepts a connection). */
  ready?: RegExp;
}

const TSX = ['--import', 'tsx'];
const LIFETIME = String(WARMUP + SECONDS + 120); // a hello server exits by itself if we are killed outright

const HELLO: Record<'tulip' | 'node', ServerSpec> = {
  tulip: {
    label: HELLO_MODE === 'handler' ? 'tulip-ts serve()' : 'tulip-ts',
    argv: (port) => [process.execPath, ...TSX, join(ROOT, 'bench', 'http_hello.ts'), String(port), LIFETIME, HELLO_MODE],
  },
  node: { label: 'node http', argv: (port) => [process.execPath, join(ROOT, 'bench', 'node_http_hello.mjs'), String(port), LIFETIME] },
};

/** The ceiling of any HTTP server on our loop: a canned answer per head, no HTTP code (http_hello.ts raw). */
const TULIP_RAW: ServerSpec = {
  label: 'tulip-ts raw',
  argv: (port) => [process.execPath, ...TSX, join(ROOT, 'bench', 'http_hello.ts'), String(port), LIFETIME, 'raw'],
};

/** uvloop's hello servers (bench/uvloop_hello.py), when a python with uvloop (and httptools) is found. */
function uvloop_hello_specs(): ServerSpec[] {
  const python = uvloop_python();
  if (python === null) return [];
  const spec = (mode: string): ServerSpec => ({
    label: `uvloop ${mode}`,
    argv: (port) => [python, join(ROOT, 'bench', 'uvloop_hello.py'), String(port), LIFETIME, mode],
  });
  return uvloop_python(['uvloop', 'httptools']) === null ? [spec('raw')] : [spec('raw'), spec('httptools')];
}

const MP: Record<'tulip' | 'node', ServerSpec> = {
  tulip: {
    label: MP_REUSE_PORT ? 'mpsrv --reuse-port' : 'mpsrv.ts',
    argv: (port) => [
      process.execPath, ...TSX, join(ROOT, 'examples', 'mpsrv.ts'), '--port', String(port), '--workers', String(MP_WORKERS), '--hello',
      ...(MP_REUSE_PORT ? ['--reuse-port'] : []),
    ],
    ready: new RegExp(`(worker \\d+ serving[^]*){${MP_WORKERS}}`),
  },
  node: {
    label: 'node cluster',
    argv: (port) => [process.execPath, join(ROOT, 'bench', 'node_cluster_hello.mjs'), String(port), String(MP_WORKERS), LIFETIME],
    ready: /node cluster hello on/,
  },
};

async function start_server(spec: ServerSpec, port: number, pin: boolean): Promise<ChildProcess> {
  if (await try_connect(port)) throw new Error(`port ${port} is already in use`);
  let argv = spec.argv(port);
  if (pin) argv = ['taskset', '-c', '0', ...argv];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const { out } = track(child);
  const deadline = Date.now() + 60_000; // tsx compiles on the first start, and the other core may be busy
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      children.delete(child);
      throw new Error(`${spec.label} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${out().trim()}`);
    }
    if (spec.ready ? spec.ready.test(out()) : await try_connect(port)) return child;
    if (Date.now() > deadline) {
      await stop(child, 5000);
      throw new Error(`${spec.label} was not ready on port ${port} within 60 s:\n${out().trim()}`);
    }
    await sleep(25);
  }
}

// ---- wrk ----

interface WrkResult {
  rps: number;
  p99_ms: number;
  /** Non-2xx responses and socket errors (connect, read, write, timeout). */
  errors: number;
  /** Steal during the run, in percent (see steal_meter). */
  steal: number;
}

function to_ms(value: string, unit: string): number {
  const v = Number(value);
  return unit === 'us' ? v / 1000 : unit === 's' ? v * 1000 : unit === 'm' ? v * 60_000 : v;
}

function wrk(port: number, threads: number, conns: number, seconds: number, cpu: string | null): Promise<WrkResult> {
  let argv = ['wrk', `-t${threads}`, `-c${conns}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`];
  if (cpu !== null) argv = ['taskset', '-c', cpu, ...argv];
  const steal = steal_meter();
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const { out } = track(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
  return new Promise((resolve, reject) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const text = out();
      const rps = Number(/Requests\/sec:\s*([\d.]+)/.exec(text)?.[1]);
      const p99 = /^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(text);
      const non2xx = Number(/Non-2xx or 3xx responses:\s*(\d+)/.exec(text)?.[1] ?? 0);
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
      const sock_errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
      if (code !== 0 || !Number.isFinite(rps)) reject(new Error(`wrk failed (${code ?? signal}):\n${text.trim()}`));
      else resolve({ rps, p99_ms: p99 ? to_ms(p99[1]!, p99[2]!) : NaN, errors: non2xx + sock_errors, steal: steal.percent() });
    });
  });
}

interface LoadShape {
  threads: number;
  conns: number;
  server_cpu: boolean;
  wrk_cpu: string | null;
}

async function measure(spec: ServerSpec, shape: LoadShape): Promise<WrkResult> {
  const port = await free_port();
  const server = await start_server(spec, port, shape.server_cpu);
  try {
    if (WARMUP > 0) await wrk(port, shape.threads, shape.conns, WARMUP, shape.wrk_cpu);
    return await wrk(port, shape.threads, shape.conns, SECONDS, shape.wrk_cpu);
  } finally {
    await stop(server, 5000);
  }
}

const pad = (s: string, n: number): string => s.padStart(n);
const k = (rps: number): string => rps.toFixed(0);

interface Comparison {
  what: string;
  tulip: number;
  node: number;
  ratio: number;
  unit: string;
  goal?: number;
}

/**
 * Runs both sides RUNS times (alternating which goes first) and prints each run; returns the medians, the
 * first for tulip-ts against Node, then one per peer in `peers` (measured in the same runs, against Node).
 */
async function compare(title: string, specs: Record<'tulip' | 'node', ServerSpec>, shape: LoadShape, peers: ServerSpec[] = []): Promise<Comparison[]> {
  console.log(`\n${title}`);
  const peer_head = peers.map((p) => `${pad(`${p.label} req/s`, p.label.length + 8)}${pad('ratio', 8)}`).join('');
  console.log(`${'run'.padEnd(5)}${pad(`${specs.tulip.label} req/s`, 24)}${pad(`${specs.node.label} req/s`, 22)}${pad('ratio', 8)}${peer_head}${pad('p99 ms', 9)}${pad('p99 ms', 9)}${pad('errors', 8)}${pad('steal', 7)}`);
  const t_all: number[] = [];
  const n_all: number[] = [];
  const p_all: number[][] = peers.map(() => []);
  for (let run = 1; run <= RUNS; run++) {
    const order: ServerSpec[] = run % 2 ? [specs.tulip, specs.node] : [specs.node, specs.tulip];
    // Peers take turns at every position, so that none always gets the warmer (or noisier) slot.
    peers.forEach((p, i) => order.splice((run + i) % (order.length + 1), 0, p));
    const got = new Map<ServerSpec, WrkResult>();
    for (const spec of order) got.set(spec, await measure(spec, shape));
    const t = got.get(specs.tulip)!;
    const n = got.get(specs.node)!;
    t_all.push(t.rps);
    n_all.push(n.rps);
    const peer_cols = peers.map((p, i) => {
      const r = got.get(p)!;
      p_all[i]!.push(r.rps);
      return `${pad(k(r.rps), p.label.length + 8)}${pad((r.rps / n.rps).toFixed(2), 8)}`;
    }).join('');
    console.log(
      `${String(run).padEnd(5)}${pad(k(t.rps), 24)}${pad(k(n.rps), 22)}${pad((t.rps / n.rps).toFixed(2), 8)}${peer_cols}` +
        `${pad(t.p99_ms.toFixed(2), 9)}${pad(n.p99_ms.toFixed(2), 9)}${pad(`${t.errors}/${n.errors}`, 8)}` +
        // The worst steal among the run's servers: one noisy measurement is enough to skew its ratio.
        pad(steal_label(Math.max(...[...got.values()].map((g) => g.steal))), 7),
    );
  }
  // The median of the per-run ratios: each run's servers ran back to back, under similar background load.
  const against_node = (xs: number[]): Comparison => ({
    what: '', tulip: median(xs), node: median(n_all), ratio: median(xs.map((x, i) => x / n_all[i]!)), unit: 'req/s',
  });
  const out = [against_node(t_all), ...p_all.map(against_node)];
  const peer_meds = out.slice(1).map((c, i) => `${pad(k(c.tulip), peers[i]!.label.length + 8)}${pad(c.ratio.toFixed(2), 8)}`).join('');
  console.log(`${'med'.padEnd(5)}${pad(k(out[0]!.tulip), 24)}${pad(k(out[0]!.node), 22)}${pad(out[0]!.ratio.toFixed(2), 8)}${peer_meds}   (median of the per-run ratios)`);
  return out;
}

// ---- (c) the parser benchmark, in its own pinned process ----

interface ParserRow {
  corpus: string;
  bytes_per_request: number;
  tulip_mb_s: number;
  llhttp_mb_s: number;
  node_server_mb_s: number;
}

function run_parser_bench(pin: boolean): Promise<ParserRow[]> {
  let argv = [process.execPath, ...TSX, join(ROOT, 'bench', 'http_parser.ts'), '--json'];
  if (pin) argv = ['taskset', '-c', '0', ...argv];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const { out } = track(child);
  return new Promise((resolve, reject) => {
    child.once('close', (code, signal) => {
      children.delete(child);
      const line = out().split('\n').find((l) => l.startsWith('['));
      if (code !== 0 || line === undefined) reject(new Error(`bench/http_parser.ts failed (${code ?? signal}):\n${out().trim()}`));
      else resolve(JSON.parse(line) as ParserRow[]);
    });
  });
}

// ---- main ----

async function main(): Promise<number> {
  const pin = can_pin('HTTP_NO_PIN');
  const summary: Comparison[] = [];
  console.log(`\nHTTP: tulip-ts against Node ${process.version}; ${RUNS} run(s) of ${SECONDS} s per side, each after a ${WARMUP} s warm-up on a fresh server`);
  const [load] = os.loadavg();
  if (load! > 0.5) console.log(`note: load average ${load!.toFixed(2)} before we start: other work on this machine makes the figures noisy`);
  const need_wrk = PARTS.has('hello') || PARTS.has('mp');
  const wrk_ok = have('wrk', ['-v']);
  if (need_wrk && !wrk_ok) {
    console.log('(a) and (b) skipped: wrk is not installed (Debian/Ubuntu: `sudo apt-get install wrk`; elsewhere https://github.com/wg/wrk)');
  }
  if (PARTS.has('hello') && wrk_ok) {
    const where = pin ? `server on CPU 0, wrk -t1 -c${CONNS} on CPU 1 (taskset)` : `not pinned (taskset or a 2nd CPU missing), wrk -t1 -c${CONNS}`;
    const uvloop_peers = uvloop_hello_specs();
    if (uvloop_peers.length === 0) console.log(UVLOOP_HINT);
    const peers = [TULIP_RAW, ...uvloop_peers];
    const [c, ...p] = await compare(`(a) keep-alive hello world, one process: ${where}`, HELLO, { threads: 1, conns: CONNS, server_cpu: pin, wrk_cpu: pin ? '1' : null }, peers);
    summary.push({ ...c!, what: `hello world, 1 core${HELLO_MODE === 'handler' ? ', serve()' : ''}`, goal: 2.2 });
    p.forEach((r, i) => summary.push({ ...r, what: `  (peer) ${peers[i]!.label}` }));
  }
  if (PARTS.has('mp') && wrk_ok) {
    const [c] = await compare(
      `(b) ${MP_WORKERS} worker processes, hello route: mpsrv.ts vs node cluster; wrk -t2 -c${2 * CONNS}; nothing pinned: ${MP_WORKERS} workers + wrk on ${os.availableParallelism()} cores (oversubscribed, the same for both)`,
      MP, { threads: 2, conns: 2 * CONNS, server_cpu: false, wrk_cpu: null },
    );
    summary.push({ ...c!, what: `${MP_WORKERS} workers vs cluster` });
  }
  if (PARTS.has('parser')) {
    console.log(`\n(c) request parsing, MB/s of pipelined requests fed in 16 KiB chunks (one process${pin ? ', CPU 0' : ''}; bench/http_parser.ts)`);
    const rows = await run_parser_bench(pin);
    console.log(`${'corpus'.padEnd(22)}${pad('B/req', 6)}${pad('tulip-ts', 10)}${pad('llhttp', 9)}${pad('ratio', 7)}${pad('node http', 11)}${pad('ratio', 7)}`);
    for (const r of rows) {
      console.log(
        `${r.corpus.padEnd(22)}${pad(String(r.bytes_per_request), 6)}${pad(r.tulip_mb_s.toFixed(1), 10)}${pad(r.llhttp_mb_s.toFixed(1), 9)}` +
          `${pad((r.tulip_mb_s / r.llhttp_mb_s).toFixed(2), 7)}${pad(r.node_server_mb_s.toFixed(1), 11)}${pad((r.tulip_mb_s / r.node_server_mb_s).toFixed(2), 7)}`,
      );
    }
    console.log('llhttp: the raw HTTPParser binding (headers handed to JS as strings); node http: http.createServer over an');
    console.log('in-memory Duplex (IncomingMessage per request and an empty response), what a Node server really pays.');
    for (const r of rows) summary.push({ what: `parser: ${r.corpus} vs llhttp`, tulip: r.tulip_mb_s, node: r.llhttp_mb_s, ratio: r.tulip_mb_s / r.llhttp_mb_s, unit: 'MB/s' });
  }
  if (summary.length > 0) {
    console.log('\nsummary (medians)');
    console.log(`${''.padEnd(34)}${pad('tulip-ts', 12)}${pad('node', 12)}${pad('ratio', 8)}  goal`);
    for (const s of summary) {
      const ratio = s.ratio;
      const goal = s.goal === undefined ? '' : `>= ${s.goal}x: ${ratio >= s.goal ? 'met' : 'not met'}`;
      const fmt = (v: number): string => (s.unit === 'MB/s' ? v.toFixed(1) : v.toFixed(0));
      console.log(`${s.what.padEnd(34)}${pad(fmt(s.tulip), 12)}${pad(fmt(s.node), 12)}${pad(ratio.toFixed(2) + 'x', 8)}  ${goal}`);
    }
  }
  return 0;
}

finish('http', main());
