// What the load benchmarks share (bench/echo.ts, bench/http.ts, bench/tls_echo.ts): they run servers as
// separate processes (a tulip-ts loop owns its thread, so it cannot share one with the Node program that
// drives it), pin them with taskset when they can, and wait for them by connecting.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';

/** Whether servers and load can be pinned to cores of their own (taskset works, 2+ cores, not disabled by `no_pin_var`=1). */
export function can_pin(no_pin_var: string): boolean {
  if (process.env[no_pin_var] === '1' || os.availableParallelism() < 2) return false;
  const r = spawnSync('taskset', ['-c', '1', 'true'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function free_port(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** True once something accepts connections on `port`. */
export function try_connect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/**
 * The uvloop peer's interpreter: the issues quote their speed goals against uvloop, so a run that can also
 * measure uvloop says where the goal stands on this machine. UVLOOP_PYTHON names a python that has uvloop
 * (a virtualenv's, say); else python3 on the PATH is tried, then /usr/bin/python3 (where Debian's
 * python3-uvloop and python3-httptools install, which a pyenv python3 on the PATH hides). Null when none
 * imports every one of `modules`.
 */
export function uvloop_python(modules: string[] = ['uvloop']): string | null {
  const explicit = process.env['UVLOOP_PYTHON'];
  const candidates = explicit ? [explicit] : ['python3', '/usr/bin/python3'];
  const probe = modules.map((m) => `import ${m}`).join('; ');
  return candidates.find((python) => {
    const r = spawnSync(python, ['-c', probe], { stdio: 'ignore' });
    return !r.error && r.status === 0;
  }) ?? null;
}

/** Said once when uvloop is missing, so that a reader knows the peer column can be had. */
export const UVLOOP_HINT = 'uvloop peer skipped: no python with uvloop (apt-get install python3-uvloop python3-httptools, or pip install uvloop httptools and set UVLOOP_PYTHON to that python)';

/** [steal, total] jiffies of all CPUs so far (/proc/stat), or null where there is no such file. */
function cpu_jiffies(): [number, number] | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
    return [f[7] ?? 0, f.reduce((a, b) => a + b, 0)];
  } catch {
    return null;
  }
}

/**
 * Steal: the share of this VM's CPU time that the hypervisor gave to someone else, measured from now until
 * `percent()`. On a shared host it can reach tens of percent, and then a load figure says more about the
 * neighbours than about the server: the benches print it beside every run, so that a noisy run shows as
 * one. NaN where /proc/stat is missing (not Linux).
 */
export function steal_meter(): { percent(): number } {
  const start = cpu_jiffies();
  return {
    percent(): number {
      const end = cpu_jiffies();
      if (start === null || end === null || end[1] === start[1]) return NaN;
      return (100 * (end[0] - start[0])) / (end[1] - start[1]);
    },
  };
}

/** A steal percentage for a table: `3%`, or `-` when unknown. */
export const steal_label = (p: number): string => (Number.isFinite(p) ? `${p.toFixed(0)}%` : '-');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

// ---- children: every process a bench starts is tracked, so that nothing outlives it, also on errors and signals ----

export const children = new Set<import('node:child_process').ChildProcess>();
const cleanups: Array<() => void> = [];

/** Runs `fn` with the final cleanup (after the children are killed): temporary files, say. */
export function at_cleanup(fn: () => void): void {
  cleanups.push(fn);
}

/** SIGKILLs every tracked child still running, then runs the cleanups (once each). */
export function kill_all_now(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const fn of cleanups.splice(0)) fn();
}
process.on('exit', kill_all_now);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    kill_all_now();
    process.exit(130);
  });
}

export function exited(child: import('node:child_process').ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM, then SIGKILL if the child takes longer than `grace_ms` to exit; it is no longer tracked after. */
export async function stop(child: import('node:child_process').ChildProcess, grace_ms: number): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), grace_ms);
    await exited(child);
    clearTimeout(timer);
  }
  children.delete(child);
}

/** Ends a bench's main(): its exit code, or the error said in one line (children killed either way). */
export function finish(name: string, main: Promise<number>): void {
  main.then(
    (code) => {
      kill_all_now();
      process.exitCode = code;
    },
    (err: unknown) => {
      kill_all_now();
      console.error(`${name} benchmark failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}
