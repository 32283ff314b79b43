// A program under test: an example run as its own process with tsx, its output collected as it comes.
//
// Children are started with the asynchronous spawn(), so the test's own Node loop keeps turning. Each runs
// as `node --import tsx`, one process, not under the tsx CLI: that CLI relays signals to a grandchild only
// after asking it over IPC whether it handles them, and a tulip loop blocked in epoll cannot answer, so a
// SIGINT sometimes ended the program with 130 instead of reaching its handler. Each child still gets its own
// process group (detached), signalled as a whole: SIGKILL at the end of every test (also when it fails).
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** How long any one wait may take before the test fails (a deadline, not a sleep: waits end on events). */
const DEADLINE_MS = 60_000;

export class Program {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  stdout_bytes: Buffer[] = [];
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exited: Promise<void>;
  private watchers = new Set<() => void>();

  constructor(readonly name: string, args: string[]) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', join('examples', name), ...args], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    });
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

export async function kill_all(...programs: Array<Program | undefined>): Promise<void> {
  await Promise.all(programs.map((p) => p?.kill()));
}
