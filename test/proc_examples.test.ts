// The subprocess and signal examples as smoke tests: each runs as a real program (importing 'tulip-ts'
// as a user would, from dist/) in its own process, and its output is checked. Started with Node's
// asynchronous spawn() so that this process's loop reads their output as it comes; `node --import tsx`
// runs the example in that very process, so a signal sent to it reaches the example itself. No fixed
// sleeps: every wait ends on an output line or the exit, with a deadline.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DEADLINE_MS = 60_000;
const running = new Set<ChildProcess>();

class Program {
  readonly proc: ChildProcess;
  out = '';
  exit: { code: number | null; signal: string | null } | null = null;
  private watchers = new Set<() => void>();

  constructor(readonly name: string, args: string[] = []) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', join('examples', name), ...args], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(this.proc);
    const take = (b: Buffer) => {
      this.out += b.toString();
      this.notify();
    };
    this.proc.stdout!.on('data', take);
    this.proc.stderr!.on('data', take);
    this.proc.on('close', (code, signal) => {
      running.delete(this.proc);
      this.exit = { code, signal };
      this.notify();
    });
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }

  /** Resolves once `cond()` holds; fails at the deadline or if the program exits first. */
  until(what: string, cond: () => boolean, allow_exit = false): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (cond()) done(resolve);
        else if (this.exit !== null && !allow_exit) done(() => reject(new Error(`${this.name} exited (${JSON.stringify(this.exit)}) before ${what}:\n${this.out}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`${this.name}: no ${what} in ${DEADLINE_MS} ms:\n${this.out}`))), DEADLINE_MS);
      const done = (f: () => void) => {
        clearTimeout(timer);
        this.watchers.delete(check);
        f();
      };
      this.watchers.add(check);
      check();
    });
  }

  line(re: RegExp): Promise<RegExpExecArray> {
    return this.until(`output ${re}`, () => re.test(this.out)).then(() => re.exec(this.out)!);
  }

  async exited(): Promise<{ code: number | null; signal: string | null }> {
    await this.until('exit', () => this.exit !== null, true);
    return this.exit!;
  }
}

test.after.each(() => {
  for (const p of running) p.kill('SIGKILL');
});

test('child_process.ts: evaluates expressions in a child over attached pipes', async () => {
  const p = new Program('child_process.ts');
  const exit = await p.exited();
  assert.equal(exit, { code: 0, signal: null }, p.out);
  for (const line of ['>>> 1+1', 'OUT 2', 'OUT 65536', 'OUT 0.3333333333333333', 'ERR ZeroDivisionError: division by zero']) {
    assert.ok(p.out.includes(line + '\n'), `missing ${JSON.stringify(line)} in:\n${p.out}`);
  }
});

test('shell.ts: communicate with cat, ls line by line, a timeout that kills', async () => {
  const p = new Program('shell.ts');
  const exit = await p.exited();
  assert.equal(exit, { code: 0, signal: null }, p.out);
  assert.match(p.out, /^pid: \d+\ncat write: "Hello World!"\ncat read: "Hello World!"\n\(exit code 0\)\n/);
  assert.ok(p.out.includes('ls>> package.json\n'), p.out);
  assert.ok(p.out.endsWith('timeout! (1.0 sec)\n'), p.out);
});

test('subprocess_shell.ts: writing and reading at once, with flow control', async () => {
  const p = new Program('subprocess_shell.ts');
  const exit = await p.exited();
  assert.equal(exit, { code: 0, signal: null }, p.out);
  assert.is(p.out.match(/^sending 3600 bytes$/gm)?.length, 100);
  assert.ok(p.out.includes('pause writing\n') && p.out.includes('resume writing\n'), p.out);
  assert.ok(p.out.endsWith('received "  30000   90000  360000\\n"\nreceived ""\nexit code: 0\n'), p.out);
});

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  test(`signal_server.ts: ${sig} shuts the server down cleanly, a client is told`, async () => {
    const p = new Program('signal_server.ts', ['--port', '0']);
    const [, port] = await p.line(/serving on 127\.0\.0\.1:(\d+)\n/);
    const sock = connect(Number(port), '127.0.0.1');
    let got = '';
    let ended = false;
    const client_done = new Promise<void>((resolve) => {
      sock.on('data', (d) => (got += d));
      sock.on('end', () => {
        ended = true;
        resolve();
      });
    });
    sock.write('ping\n');
    await p.line(/client connected/);
    await new Promise<void>((resolve) => {
      const check = () => (got.includes('ping\n') ? resolve() : sock.once('data', check));
      check();
    });
    p.proc.kill(sig);
    await client_done;
    sock.destroy();
    assert.ok(ended);
    assert.is(got, 'ping\nserver shutting down\n');
    const exit = await p.exited();
    assert.equal(exit, { code: 0, signal: null }, p.out);
    assert.ok(p.out.includes(`got ${sig}: shutting down\n`), p.out);
    assert.ok(p.out.endsWith('client gone (0 left)\nbye\n'), p.out);
  });
}

test.run();
