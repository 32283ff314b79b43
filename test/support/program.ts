// A program under test: an example run as its own process with tsx, its output collected as it comes.
//
// Children are started with the asynchronous spawn(), so the test's own Node loop keeps turning. Each runs
// as `node --import tsx`, one process, not under the tsx CLI: that CLI relays signals to a grandchild only
// after asking it over IPC whether it handles them, and a tulip loop blocked in epoll cannot answer, so a
// SIGINT sometimes ended the program with 130 instead of reaching its handler. Each child still gets its own
// process group (detached), signalled as a whole: SIGKILL at the end of every test (also when it fails).
// Below the Program class: waiting for a condition with a deadline, whether a process is still there, and
// the lines of the multi-process examples (mpsrv.ts, wssrv.ts) that tell their pids and port.
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** How long any one wait may take before the test fails (a deadline, not a sleep: waits end on events). */
const DEADLINE_MS = 60_000;

export interface ProgramOptions {
  /** A pipe for stdin (see write() and end_input()) instead of /dev/null. */
  input?: boolean;
  /** Node's arguments in place of `--import tsx examples/NAME ARGS` (`-e SCRIPT`, say); NAME is then a label. */
  node_args?: string[];
}

export class Program {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  stdout_bytes: Buffer[] = [];
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exited: Promise<void>;
  private watchers = new Set<() => void>();

  constructor(readonly name: string, args: string[], options: ProgramOptions = {}) {
    this.proc = spawn(process.execPath, options.node_args ?? ['--import', 'tsx', join('examples', name), ...args], {
      cwd: root, stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'], detached: true,
    });
    this.proc.stdin?.on('error', () => {}); // EPIPE once the program has exited: its exit is what tests check
    this.proc.stdout!.on('data', (b: Buffer) => {
      this.stdout_bytes.push(b);
      this.stdout += b.toString('latin1');
      this.notify();
    });
    this.proc.stderr!.on('data', (b: Buffer) => {
      this.stderr += b.toString('latin1');
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('close', (code, signal) => {
        this.exit = { code, signal };
        this.notify();
        resolve();
      });
    });
    running.add(this);
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }

  private describe(): string {
    return `${this.name}: exit ${JSON.stringify(this.exit)}\n--- stdout:\n${this.stdout.slice(-3000)}\n--- stderr:\n${this.stderr.slice(-3000)}`;
  }

  /** Resolves with the first match of `pattern` in stdout or stderr; fails if the program ends first. */
  wait_for(stream: 'stdout' | 'stderr', pattern: RegExp, what = String(pattern)): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`${what}: not seen within ${DEADLINE_MS} ms\n${this.describe()}`)), DEADLINE_MS);
      const check = (): void => {
        const m = this[stream].match(pattern);
        if (m) done(null, m);
        else if (this.exit !== null) done(new Error(`${what}: the program ended without it\n${this.describe()}`));
      };
      const done = (err: Error | null, m?: RegExpMatchArray): void => {
        clearTimeout(timer);
        this.watchers.delete(check);
        if (err) reject(err);
        else resolve(m!);
      };
      this.watchers.add(check);
      check();
    });
  }

  /** Waits for the program to end by itself and checks its exit code. */
  async finished(code = 0): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`did not exit within ${DEADLINE_MS} ms\n${this.describe()}`)), DEADLINE_MS);
    });
    try {
      await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
    assert.equal(this.exit, { code, signal: null }, this.describe());
  }

  /** Writes to the program's stdin (started with `input: true`). */
  write(text: string): void {
    this.proc.stdin!.write(text);
  }

  /** Closes the program's stdin: it reads EOF. */
  end_input(): void {
    this.proc.stdin!.end();
  }

  /** Sends `signal` to the program's process group (the example and any children it started). */
  signal(signal: NodeJS.Signals): void {
    if (this.exit !== null || this.proc.pid === undefined) return;
    try {
      process.kill(-this.proc.pid, signal);
    } catch {
      // already gone
    }
  }

  async kill(): Promise<void> {
    running.delete(this);
    if (this.exit === null) {
      this.signal('SIGKILL');
      await this.exited;
    }
  }
}

export const running = new Set<Program>();
process.on('exit', () => {
  for (const p of running) p.signal('SIGKILL');
});

export function start(name: string, ...args: string[]): Program {
  return new Program(name, args);
}

/** start() with options: a stdin pipe, or other Node arguments. */
export function start_with(options: ProgramOptions, name: string, ...args: string[]): Program {
  return new Program(name, args, options);
}

export async function kill_all(...programs: Array<Program | undefined>): Promise<void> {
  await Promise.all(programs.map((p) => p?.kill()));
}

/** Polls `check` (every 20 ms) until it holds; fails with `what` at the deadline. */
export async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${DEADLINE_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether `pid` still exists as a live (not zombie) process. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Waits until a multi-process example (mpsrv.ts, wssrv.ts, started with `--workers N`) has printed its
 * supervisor's line and `workers` "worker PID serving on" lines: [supervisor pid, port].
 */
export async function supervisor_serving(p: Program, workers: number): Promise<[number, number]> {
  const m = await p.wait_for('stdout', new RegExp(`supervisor (\\d+) serving on 127\\.0\\.0\\.1:(\\d+) with ${workers} workers`), 'the supervisor line');
  await p.wait_for('stdout', new RegExp(`(worker \\d+ serving on[^]*){${workers}}`), `${workers} workers serving`);
  return [Number(m[1]), Number(m[2])];
}

/** The pids of the workers a multi-process example has started so far, in order. */
export function worker_pids(p: Program): number[] {
  return [...p.stdout.matchAll(/worker (\d+) serving on/g)].map((m) => Number(m[1]));
}
