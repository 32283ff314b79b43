// `npm run bench`, part two: TCP echo throughput of tulip-ts against a Node `net` echo server.
//
//   tsx bench/echo.ts
//
// Compiles bench/echo_load.c (the load generator: one thread, epoll, closed loop per connection, every
// echo checked byte for byte) into build/echo_load, then for each message size runs the tulip-ts server
// (bench/echo_server.ts: a plain Protocol echo served by loop.start_serving) and the Node server
// (bench/node_echo_server.mjs) in turn, several times, and prints each run's msgs/s and the median ratio
// tulip-ts / Node. When a python with uvloop is found (UVLOOP_PYTHON, else python3), each run also measures
// bench/uvloop_echo.py, the same Protocol echo on uvloop: the goals are quoted against uvloop, and
// this says where uvloop stands on this machine, in the same run. Servers are pinned to CPU 0 and the load generator to CPU 1 with `taskset` when it and
// a second CPU are available. Without gcc the echo benchmark is skipped (exit status 0).
//
// Knobs (environment):
//   ECHO_SIZES    message sizes in bytes, comma-separated, `k` = KiB      (default 1k,100k)
//   ECHO_RUNS     runs per size, each one tulip-ts run and one Node run   (default 3)
//   ECHO_SECONDS  measured seconds per run                                 (default 4)
//   ECHO_WARMUP   warm-up seconds per run, not measured                    (default 1)
//   ECHO_CONNS    connections                                              (default 10)
//   ECHO_PORT     port for the servers                                     (default: a free ephemeral port)
//   ECHO_NO_PIN   set to 1 to not pin with taskset
//   ECHO_SERVER   `protocol` (bench/echo_server.ts, the default), `buffered` (the same server with a
//                 BufferedProtocol reading into one reused buffer) or `streams` (bench/streams_echo.ts:
//                 start_server + readexactly/write/drain, reading whole messages)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UVLOOP_HINT, at_cleanup, can_pin, children, finish, free_port, median, sleep, steal_label, steal_meter, stop, try_connect, uvloop_python } from './harness.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LOAD_SRC = join(ROOT, 'bench', 'echo_load.c');
const LOAD_BIN = join(ROOT, 'build', 'echo_load');
// build/ is also node-gyp's output directory, and a concurrent `node-gyp rebuild` wipes it; the runs use a
// private copy of the binary so that they cannot lose it halfway.
let run_bin = LOAD_BIN;

function env_number(name: string, fallback: number, integer: boolean): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new Error(`${name}=${raw}: expected a positive ${integer ? 'integer' : 'number'}`);
  }
  return v;
}

function parse_sizes(raw: string): number[] {
  return raw.split(',').map((part) => {
    const m = /^\s*(\d+)\s*([kK])?\s*$/.exec(part);
    if (!m) throw new Error(`ECHO_SIZES: cannot parse ${JSON.stringify(part)} (use bytes, or KiB with a k: 1k,100k)`);
    const n = Number(m[1]) * (m[2] ? 1024 : 1);
    if (n <= 0) throw new Error(`ECHO_SIZES: ${JSON.stringify(part)} must be positive`);
    return n;
  });
}

const SIZES = parse_sizes(process.env['ECHO_SIZES'] || '1k,100k');
const RUNS = env_number('ECHO_RUNS', 3, true);
const SECONDS = env_number('ECHO_SECONDS', 4, false);
const WARMUP = process.env['ECHO_WARMUP'] === '0' ? 0 : env_number('ECHO_WARMUP', 1, false);
const CONNS = env_number('ECHO_CONNS', 10, true);
const FIXED_PORT = process.env['ECHO_PORT'] ? env_number('ECHO_PORT', 0, true) : 0;
const SERVER_MODE = process.env['ECHO_SERVER'] || 'protocol';
const STREAMS = SERVER_MODE === 'streams';
if (!['protocol', 'buffered', 'streams'].includes(SERVER_MODE)) {
  throw new Error(`ECHO_SERVER: ${JSON.stringify(SERVER_MODE)} is none of protocol, buffered, streams`);
}


// ---- helpers ----

function have_gcc(): boolean {
  const r = spawnSync('gcc', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function size_label(n: number): string {
  return n % 1024 === 0 ? `${n / 1024} KiB` : `${n} B`;
}

// ---- one server, one load run ----

type ServerKind = 'tulip-ts' | 'node' | 'uvloop';

/** The uvloop peer's python, or null (not found, or the streams server, which has no uvloop twin here). */
const UVLOOP = STREAMS ? null : uvloop_python();

interface Sample {
  msgs_per_s: number;
  mib_per_s: number;
  p50_us: number;
  p99_us: number;
  errors: number;
  /** Steal during the load run, in percent (see steal_meter). */
  steal: number;
}

function server_command(kind: ServerKind, port: number, lifetime: number, size: number): string[] {
  const life = String(Math.ceil(lifetime));
  if (kind === 'node') return [process.execPath, join(ROOT, 'bench', 'node_echo_server.mjs'), String(port), life];
  if (kind === 'uvloop') return [UVLOOP!, join(ROOT, 'bench', 'uvloop_echo.py'), String(port), life];
  return STREAMS
    ? [process.execPath, '--import', 'tsx', join(ROOT, 'bench', 'streams_echo.ts'), String(port), life, String(size)]
    : [process.execPath, '--import', 'tsx', join(ROOT, 'bench', 'echo_server.ts'), String(port), life, SERVER_MODE];
}

async function start_server(kind: ServerKind, port: number, pin: boolean, size: number): Promise<ChildProcess> {
  // Something already listening there would answer our readiness probe and the load in the server's stead.
  if (await try_connect(port)) throw new Error(`port ${port} is already in use (set ECHO_PORT to a free one, or unset it)`);
  // The server exits by itself a while after the run should be over, in case we are killed outright.
  let argv = server_command(kind, port, WARMUP + SECONDS + 60, size);
  if (pin) argv = ['taskset', '-c', '0', ...argv];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    if (stderr.length < 8192) stderr += d;
  });
  let spawn_error: Error | undefined;
  child.once('error', (err) => (spawn_error = err));

  const deadline = Date.now() + 30_000; // tsx compiles on first start; the other core may be busy
  for (;;) {
    if (spawn_error) throw new Error(`${kind} server could not start: ${spawn_error.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      children.delete(child);
      throw new Error(`${kind} server exited (${child.exitCode ?? child.signalCode}) before accepting:\n${stderr.trim()}`);
    }
    if (await try_connect(port)) return child;
    if (Date.now() > deadline) {
      await stop(child, 2000);
      throw new Error(`${kind} server did not accept connections on port ${port} within 30 s:\n${stderr.trim()}`);
    }
    await sleep(25);
  }
}

function run_load(port: number, size: number, pin: boolean): Promise<Sample> {
  let argv = [run_bin, '-p', String(port), '-c', String(CONNS), '-s', String(size), '-d', String(SECONDS), '-w', String(WARMUP)];
  if (pin) argv = ['taskset', '-c', '1', ...argv];
  const steal = steal_meter();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < 8192) err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), (WARMUP + SECONDS + 30) * 1000);
    child.once('error', (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(new Error(`echo_load could not start: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const fields = new Map<string, number>();
      for (const m of out.matchAll(/(\w+)=([\d.]+)/g)) fields.set(m[1]!, Number(m[2]));
      const sample: Sample = {
        msgs_per_s: fields.get('msgs_per_s') ?? NaN,
        mib_per_s: fields.get('MiB_per_s') ?? NaN,
        p50_us: fields.get('p50_us') ?? NaN,
        p99_us: fields.get('p99_us') ?? NaN,
        errors: fields.get('errors') ?? NaN,
        steal: steal.percent(),
      };
      if (code !== 0 || !Number.isFinite(sample.msgs_per_s)) {
        reject(new Error(`echo_load failed (${code ?? signal}): ${out.trim()}\n${err.trim()}`));
      } else {
        resolve(sample);
      }
    });
  });
}

async function measure(kind: ServerKind, size: number, pin: boolean): Promise<Sample> {
  const port = FIXED_PORT || (await free_port());
  const server = await start_server(kind, port, pin, size);
  try {
    return await run_load(port, size, pin);
  } finally {
    await stop(server, 2000);
  }
}

// ---- main ----

async function main(): Promise<number> {
  if (!have_gcc()) {
    console.log('echo benchmark skipped: gcc not found (it is needed to build the load generator bench/echo_load.c)');
    return 0;
  }
  mkdirSync(dirname(LOAD_BIN), { recursive: true });
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', LOAD_BIN, LOAD_SRC], { stdio: 'inherit' });
  if (cc.status !== 0) {
    console.error('echo benchmark: compiling bench/echo_load.c failed');
    return 1;
  }
  const tmp_dir = mkdtempSync(join(os.tmpdir(), 'tulip-echo-'));
  at_cleanup(() => rmSync(tmp_dir, { recursive: true, force: true }));
  run_bin = join(tmp_dir, 'echo_load');
  copyFileSync(LOAD_BIN, run_bin);

  const pin = can_pin('ECHO_NO_PIN');
  console.log(
    `\necho throughput (${STREAMS ? 'streams: start_server + readexactly/write/drain' : SERVER_MODE === 'buffered' ? 'a BufferedProtocol echo' : 'a plain Protocol echo'}): ${CONNS} connections, ${SECONDS} s after ${WARMUP} s warm-up, ${RUNS} run(s) per size; ` +
      (pin ? 'servers on CPU 0, load generator on CPU 1 (taskset)' : 'not pinned (taskset or a 2nd CPU missing)'),
  );

  if (UVLOOP === null && !STREAMS) console.log(UVLOOP_HINT);

  const pad = (s: string, n: number): string => s.padStart(n);
  for (const size of SIZES) {
    console.log(`\n${size_label(size)} messages`);
    const uv_head = UVLOOP === null ? '' : `${pad('uvloop msgs/s', 15)}${pad('uvloop/node', 13)}`;
    console.log(`${'run'.padEnd(5)}${pad('tulip-ts msgs/s', 17)}${pad('node msgs/s', 14)}${pad('tulip/node', 12)}${uv_head}${pad('tulip p99 µs', 14)}${pad('node p99 µs', 13)}${pad('steal', 7)}`);
    const ratios: number[] = [];
    const uv_ratios: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      // Alternate which server goes first, so that neither always gets the warmer (or noisier) slot.
      const order: ServerKind[] = run % 2 ? ['tulip-ts', 'node'] : ['node', 'tulip-ts'];
      if (UVLOOP !== null) order.splice(run % 3, 0, 'uvloop');
      const got = new Map<ServerKind, Sample>();
      for (const kind of order) got.set(kind, await measure(kind, size, pin));
      const t = got.get('tulip-ts')!;
      const n = got.get('node')!;
      const ratio = t.msgs_per_s / n.msgs_per_s;
      ratios.push(ratio);
      let uv_cols = '';
      const u = got.get('uvloop');
      if (u !== undefined) {
        uv_ratios.push(u.msgs_per_s / n.msgs_per_s);
        uv_cols = `${pad(u.msgs_per_s.toFixed(0), 15)}${pad((u.msgs_per_s / n.msgs_per_s).toFixed(3), 13)}`;
      }
      // The worst steal among the run's servers: one noisy measurement is enough to skew its ratio.
      const steal = Math.max(...[...got.values()].map((g) => g.steal));
      console.log(
        `${String(run).padEnd(5)}${pad(t.msgs_per_s.toFixed(0), 17)}${pad(n.msgs_per_s.toFixed(0), 14)}${pad(ratio.toFixed(3), 12)}${uv_cols}` +
          `${pad(t.p99_us.toFixed(0), 14)}${pad(n.p99_us.toFixed(0), 13)}${pad(steal_label(steal), 7)}`,
      );
    }
    const uv_median = uv_ratios.length > 0 ? `; uvloop/node ${median(uv_ratios).toFixed(3)}` : '';
    console.log(`median ratio tulip/node (${size_label(size)}): ${median(ratios).toFixed(3)}${uv_median}`);
  }
  return 0;
}

finish('echo', main());
