/**
 * subprocess.test.ts: loop.subprocess_exec / subprocess_shell, the subprocess transport
 * (src/base_subprocess.ts), the child watcher (src/child_watcher.ts) and the addon's spawn.
 *
 * Real children (sh, cat, echo, sleep). After every test: no fd of ours left open, no child of this
 * process left running or unreaped (checked in /proc), the loop closed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { binding } from '../src/binding.js';
import {
  DEVNULL, FileNotFoundError, Future, PIPE, ProcessLookupError, STDOUT, SelectorEventLoop, SubprocessProtocol,
  SIGKILL, SIGTERM, SIGUSR1, type Coroutine, type SubprocessTransport, type WriteTransport,
} from '../src/index.js';
import { _options, _watched_count } from '../src/child_watcher.js';
import { SubprocessStreamProtocol, create_subprocess_exec, create_subprocess_shell } from '../coroutines/process.js';
import { IncompleteReadError, StreamReader, StreamWriter } from '../coroutines/streams.js';

let loop: SelectorEventLoop;
let fds_before: string[];
let children_before: Set<number>; // tsx's esbuild service is a child of ours too

function open_fds(): string[] {
  return readdirSync('/proc/self/fd').sort();
}

/** Children of this process (pid -> state letter), from /proc: R/S running, Z unreaped. */
function children(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === process.pid) out.set(Number(name), rest[0]!);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test.before.each(() => {
  fds_before = open_fds();
  children_before = new Set(children().keys());
  loop = new SelectorEventLoop();
});
test.after.each(() => {
  // uvu reports a failing hook only as a failed count: print what failed.
  try {
    loop.close();
    _options.force_sigchld = false;
    assert.equal(open_fds(), fds_before, 'fds leaked');
    assert.equal([...children()].filter(([pid]) => !children_before.has(pid)), [], 'children left behind');
  } catch (e) {
    console.error('after.each:', e);
    throw e;
  }
});

/** Records every protocol call in order, the output per fd, and resolves `done` at connection_lost. */
class Recorder extends SubprocessProtocol {
  events: string[] = [];
  out: Record<number, Buffer[]> = { 1: [], 2: [] };
  done = new Future<null>({ loop });
  transport!: SubprocessTransport;
  override connection_made(t: SubprocessTransport): void {
    this.transport = t;
    this.events.push('made');
  }
  override pipe_data_received(fd: number, data: Buffer): void {
    this.out[fd]!.push(data);
  }
  override pipe_connection_lost(fd: number, exc: Error | null): void {
    this.events.push(`lost ${fd}${exc ? ' ' + exc.name : ''}`);
  }
  override process_exited(): void {
    this.events.push('exited');
  }
  override connection_lost(exc: Error | null): void {
    this.events.push('connection_lost');
    this.done.set_result(null);
  }
  text(fd: number): string {
    return Buffer.concat(this.out[fd]!).toString();
  }
}

function run<T>(coro: Coroutine<T>): T {
  return loop.run_until_complete(coro, 20);
}

/** Runs a child to the end: [transport, recorder]. */
function* finish(start: Coroutine<[SubprocessTransport, Recorder]>): Coroutine<[SubprocessTransport, Recorder]> {
  const [t, p] = yield* start;
  yield* p.done;
  return [t, p];
}

test('echo: stdout captured, return code 0, asyncio order of calls', () => {
  const [t, p] = run(finish(loop.subprocess_exec(() => new Recorder(), 'echo', 'hi')));
  assert.is(p.text(1), 'hi\n');
  assert.is(p.text(2), '');
  assert.is(t.get_returncode(), 0);
  assert.is(p.events[0], 'made');
  assert.is(p.events.at(-1), 'connection_lost');
  assert.equal(p.events.slice(1, -1).sort(), ['exited', 'lost 0', 'lost 1', 'lost 2']);
  assert.ok(t.get_pid() > 0);
  assert.is((t.get_extra_info('subprocess') as { pid: number }).pid, t.get_pid());
  assert.equal((t.get_extra_info('subprocess') as { args: string[] }).args, ['echo', 'hi']);
  assert.is(_watched_count(loop), 0);
});

test('stdin -> cat -> stdout: a 4 MiB round trip', () => {
  const payload = Buffer.alloc(4 << 20);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + (i >> 12)) & 0xff;
  const [t, p] = run(function* () {
    const [t, p] = yield* loop.subprocess_exec(() => new Recorder(), 'cat');
    const stdin = t.get_pipe_transport(0) as WriteTransport;
    stdin.write(payload);
    stdin.write_eof();
    yield* p.done;
    return [t, p] as const;
  }());
  const got = Buffer.concat(p.out[1]!);
  assert.is(got.length, payload.length);
  assert.ok(got.equals(payload));
  assert.is(t.get_returncode(), 0);
});

test('exit codes, and -N when signal N killed the child', () => {
  const [t1] = run(finish(loop.subprocess_shell(() => new Recorder(), 'exit 3')));
  assert.is(t1.get_returncode(), 3);
  const [t2] = run(finish(loop.subprocess_shell(() => new Recorder(), 'kill -USR1 $$')));
  assert.is(t2.get_returncode(), -SIGUSR1);
});

test('terminate(), kill(), send_signal() after the exit', () => {
  const [t1, p1] = run(function* () {
    const [t, p] = yield* loop.subprocess_exec(() => new Recorder(), 'sleep', '30');
    t.terminate();
    yield* p.done;
    return [t, p] as const;
  }());
  assert.is(t1.get_returncode(), -SIGTERM);
  assert.ok(p1.events.includes('exited'));
  assert.throws(() => t1.send_signal(SIGTERM), (e: Error) => e instanceof ProcessLookupError);
  const [t2] = run(function* () {
    const [t, p] = yield* loop.subprocess_exec(() => new Recorder(), 'sleep', '30', { stdin: DEVNULL, stdout: DEVNULL, stderr: DEVNULL });
    t.kill();
    yield* p.done;
    return [t, p] as const;
  }());
  assert.is(t2.get_returncode(), -SIGKILL);
});

test('close() kills a running child; its exit is still reported', () => {
  const [t, p] = run(function* () {
    const [t, p] = yield* loop.subprocess_exec(() => new Recorder(), 'sleep', '30');
    t.close();
    assert.ok(t.is_closing());
    yield* p.done;
    return [t, p] as const;
  }());
  assert.is(t.get_returncode(), -SIGKILL);
  assert.ok(p.events.includes('exited'));
});

test('a program that does not exist: FileNotFoundError, no zombie, no fd', () => {
  let made = 0;
  assert.throws(
    () => run(loop.subprocess_exec(() => (made++, new Recorder()), 'no-such-program-tulip', 'x')),
    (e: Error) => e instanceof FileNotFoundError && (e as FileNotFoundError).code === 'ENOENT' && /no-such-program-tulip/.test(e.message),
  );
  assert.throws(() => run(loop.subprocess_exec(() => new Recorder(), '/nonexistent/prog')), (e: Error) => e instanceof FileNotFoundError);
  assert.throws(
    () => run(loop.subprocess_exec(() => new Recorder(), 'pwd', { cwd: '/nonexistent-dir' })),
    (e: Error) => e instanceof FileNotFoundError && (e as FileNotFoundError).filename === '/nonexistent-dir',
  );
  assert.is(made, 1, 'the protocol is made before the child is started, as asyncio');
});

test('cwd and env', () => {
  const [, p1] = run(finish(loop.subprocess_exec(() => new Recorder(), 'pwd', { cwd: '/tmp' })));
  assert.is(p1.text(1), '/tmp\n');
  const [, p2] = run(finish(loop.subprocess_shell(() => new Recorder(), 'echo "$TULIP_X:$HOME"', { env: { TULIP_X: 'a b', PATH: process.env['PATH'] } })));
  assert.is(p2.text(1), 'a b:\n', 'the child gets exactly env');
});

test('subprocess_shell: a pipeline', () => {
  const [t, p] = run(finish(loop.subprocess_shell(() => new Recorder(), 'printf "b\\nc\\na\\n" | sort | head -n 2')));
  assert.is(p.text(1), 'a\nb\n');
  assert.is(t.get_returncode(), 0);
});

test('stderr=STDOUT, stdin=DEVNULL, an fd of ours as stdout', () => {
  const [t, p] = run(finish(loop.subprocess_shell(() => new Recorder(), 'echo out; echo err >&2; cat', { stdin: DEVNULL, stderr: STDOUT })));
  assert.is(p.text(1), 'out\nerr\n');
  assert.is(t.get_pipe_transport(2), null);
  assert.is(t.get_pipe_transport(0), null);
  // stdout to a pipe we read ourselves
  const fds = binding.pipe() as [number, number];
  const [, p2] = run(finish(loop.subprocess_exec(() => new Recorder(), 'echo', 'direct', { stdin: null, stdout: fds[1], stderr: PIPE })));
  binding.close(fds[1]);
  const buf = Buffer.alloc(64);
  const n = binding.read(fds[0], buf, 0, 64);
  binding.close(fds[0]);
  assert.is(buf.subarray(0, n).toString(), 'direct\n');
  assert.equal(p2.out[1], []);
});

test('pass_fds: the child keeps exactly the fds named, under the same numbers', () => {
  const [r, w] = binding.pipe() as [number, number];
  const text = Buffer.from(`through fd ${r}`);
  binding.write(w, text, 0, text.length);
  binding.close(w);
  try {
    // Our fds are close-on-exec: without pass_fds the child cannot open its /proc/self/fd entry.
    const [t1, p1] = run(finish(loop.subprocess_shell(() => new Recorder(), `cat /proc/self/fd/${r} 2>/dev/null || echo closed`)));
    assert.is(p1.text(1), 'closed\n');
    assert.is(t1.get_returncode(), 0);
    const [t2, p2] = run(finish(loop.subprocess_shell(() => new Recorder(), `cat /proc/self/fd/${r}`, { pass_fds: [r] })));
    assert.is(p2.text(1), `through fd ${r}`);
    assert.is(t2.get_returncode(), 0);
    // Still ours, still close-on-exec: a later child without pass_fds does not get it.
    const [, p3] = run(finish(loop.subprocess_shell(() => new Recorder(), `test -e /proc/self/fd/${r} && echo open || echo closed`)));
    assert.is(p3.text(1), 'closed\n');
  } finally {
    binding.close(r);
  }
  assert.throws(() => run(loop.subprocess_exec(() => new Recorder(), 'true', { pass_fds: [1] })), (e: Error) => e instanceof RangeError && /fds 0, 1, 2/.test(e.message));
  assert.throws(() => run(loop.subprocess_exec(() => new Recorder(), 'true', { pass_fds: 3 as never })), (e: Error) => e instanceof TypeError);
  // An fd that is not open: the spawn fails with EBADF (and leaves no pipe, no child behind).
  assert.throws(() => run(loop.subprocess_exec(() => new Recorder(), 'true', { pass_fds: [999_999] })), (e: Error) => (e as { code?: string }).code === 'EBADF');
  assert.throws(() => binding.spawn('true', ['true'], null, null, [-2, -2, -2], true, [2]), (e: Error) => e instanceof RangeError);
  assert.throws(() => binding.spawn('true', ['true'], null, null, [-2, -2, -2], true, Array(65).fill(3)), (e: Error) => e instanceof RangeError);
});

test('the exit is noticed while the loop blocks in the selector', () => {
  const t0 = loop.time();
  const [t] = run(finish(loop.subprocess_exec(() => new Recorder(), 'sleep', '0.2', { stdin: DEVNULL, stdout: DEVNULL, stderr: DEVNULL })));
  assert.is(t.get_returncode(), 0);
  assert.ok(loop.time() - t0 >= 0.19 && loop.time() - t0 < 5);
});

test('without pidfds: the SIGCHLD fallback', () => {
  const sigchld_before = binding.signal_get_handler_kind(binding.signals.SIGCHLD); // libuv's, if Node spawned
  _options.force_sigchld = true;
  const [t1, p1] = run(finish(loop.subprocess_exec(() => new Recorder(), 'echo', 'fallback')));
  assert.is(p1.text(1), 'fallback\n');
  assert.is(t1.get_returncode(), 0);
  const [t2] = run(finish(loop.subprocess_shell(() => new Recorder(), 'sleep 0.1; exit 7', { stdin: DEVNULL, stdout: DEVNULL, stderr: DEVNULL })));
  assert.is(t2.get_returncode(), 7);
  assert.is(binding.signal_get_handler_kind(binding.signals.SIGCHLD), sigchld_before, 'SIGCHLD given back');
});

test('closing the loop with a child still running leaves no fd open', () => {
  let pid = 0;
  run(function* () {
    const [t] = yield* loop.subprocess_exec(() => new Recorder(), 'sleep', '30', { stdin: DEVNULL, stdout: DEVNULL, stderr: DEVNULL });
    pid = t.get_pid();
  }());
  loop.close(); // the pidfd is closed; the child runs on
  assert.is(binding.kill(pid, SIGKILL), 0);
  // reap it ourselves so the after-each check finds no child
  for (let r = binding.waitpid_nohang(pid); r === null; r = binding.waitpid_nohang(pid));
});

test('bad arguments', () => {
  assert.throws(() => run(loop.subprocess_exec(() => new Recorder(), 'echo', 1 as unknown as string)), (e: Error) => e instanceof TypeError);
  assert.throws(() => run(loop.subprocess_exec(() => new Recorder(), 'echo', { stdin: STDOUT })), (e: Error) => e instanceof RangeError);
  assert.throws(() => run(loop.subprocess_exec(() => new Recorder(), 'echo', { stdout: -7 })), (e: Error) => e instanceof TypeError);
  assert.throws(() => run(loop.subprocess_shell(() => new Recorder(), ['ls'] as unknown as string)), (e: Error) => e instanceof TypeError);
  assert.throws(() => run(loop.subprocess_exec(() => new Recorder(), 'echo', { env: { 'A=B': 'x' } })), (e: Error) => e instanceof RangeError);
  assert.throws(() => run(loop.subprocess_exec(() => new Recorder(), 'ec\0ho')), (e: Error) => e instanceof RangeError);
});

test('the addon: argument checks and errno results of spawn, waitpid_nohang, kill', () => {
  const E = binding.errno_codes;
  assert.throws(() => binding.spawn('echo', [], null, null, [-1, -1, -1], true), (e: Error) => e instanceof RangeError);
  assert.throws(() => binding.spawn('echo', ['echo'], null, null, [-1, -1] as never, true), (e: Error) => e instanceof TypeError);
  assert.throws(() => binding.spawn('echo', ['echo'], null, null, [-3, -1, -1], true), (e: Error) => e instanceof RangeError);
  assert.throws(() => binding.spawn('echo', ['echo', 1 as never], null, null, [-1, -1, -1], true), (e: Error) => e instanceof TypeError);
  assert.throws(() => binding.kill(1, 300), (e: Error) => e instanceof RangeError);
  assert.throws(() => binding.kill(0, 0), (e: Error) => e instanceof RangeError, 'pid 0 (the process group) is refused');
  assert.is(binding.spawn('no-such-program-tulip', ['x'], null, null, [-1, -1, -1], true), -E.ENOENT);
  assert.is(binding.spawn('/etc/passwd', ['x'], null, null, [-1, -1, -1], false), -E.EACCES);
  assert.is(binding.waitpid_nohang(1), -E.ECHILD, 'init is not our child: never reaped, never waited for');
  const r = binding.spawn('true', ['true'], null, null, [-2, -2, -2], true) as [number, number];
  assert.ok(r[1] >= 0, 'pidfd_open works on this kernel');
  for (let w = binding.waitpid_nohang(r[0]); ; w = binding.waitpid_nohang(r[0])) {
    if (w === null) continue;
    assert.equal(w, [r[0], 0]);
    break;
  }
  binding.close(r[1]);
});

// ---- the high-level API (coroutines/process.ts) ----

test('create_subprocess_exec: communicate() round trip, wait()', () => {
  const [out, err, rc] = run(function* () {
    const proc = yield* create_subprocess_exec(loop, 'sh', '-c', 'cat; echo done >&2; exit 4', { stdin: PIPE, stdout: PIPE, stderr: PIPE });
    const [out, err] = yield* proc.communicate(Buffer.from('x'.repeat(300000)));
    return [out, err, yield* proc.wait()] as const;
  }());
  assert.is(out!.length, 300000);
  assert.is(err!.toString(), 'done\n');
  assert.is(rc, 4);
});

test('create_subprocess_shell: readline() until EOF, returncode', () => {
  const [lines, rc] = run(function* () {
    const proc = yield* create_subprocess_shell(loop, 'printf "one\\ntwo\\nthree"', { stdout: PIPE });
    assert.is(proc.stdin, null);
    const lines: string[] = [];
    for (;;) {
      const line = yield* proc.stdout!.readline();
      if (line.length === 0) break;
      lines.push(line.toString());
    }
    return [lines, yield* proc.wait()] as const;
  }());
  assert.equal(lines, ['one\n', 'two\n', 'three']);
  assert.is(rc, 0);
});

test('Process: kill() and a stdin that the child never reads', () => {
  const rc = run(function* () {
    const proc = yield* create_subprocess_exec(loop, 'sleep', '30', { stdin: PIPE });
    proc.kill();
    const [out, err] = yield* proc.communicate(Buffer.alloc(1 << 20));
    assert.is(out, null);
    assert.is(err, null);
    return proc.returncode;
  }());
  assert.is(rc, -SIGKILL);
});

test('Process: stdin/stdout/stderr are the real streams; readexactly() at EOF raises IncompleteReadError', () => {
  const [partial, expected] = run(function* () {
    const proc = yield* create_subprocess_exec(loop, 'cat', { stdin: PIPE, stdout: PIPE, stderr: PIPE });
    assert.instance(proc.stdin, StreamWriter);
    assert.instance(proc.stdout, StreamReader);
    assert.instance(proc.stderr, StreamReader);
    proc.stdin!.write(Buffer.from('abc'));
    yield* proc.stdin!.drain();
    proc.stdin!.close();
    try {
      yield* proc.stdout!.readexactly(10);
      assert.unreachable('cat gave only 3 bytes');
    } catch (e) {
      assert.instance(e, IncompleteReadError);
      yield* proc.wait();
      return [(e as IncompleteReadError).partial.toString(), (e as IncompleteReadError).expected] as const;
    }
    return ['', 0] as const;
  }());
  assert.is(partial, 'abc');
  assert.is(expected, 10);
});

test('Process: a small limit pauses the stdout pipe, and reading resumes it: all the output arrives', () => {
  const [size, paused] = run(function* () {
    // 1 MiB of output against a 1 KiB limit: the reader pauses the pipe transport above 2 KiB unread.
    const proc = yield* create_subprocess_exec(loop, 'head', '-c', String(1 << 20), '/dev/zero', { stdout: PIPE, limit: 1024 });
    const pipe = proc.stdout as unknown as { _paused: boolean };
    let paused = 0;
    let size = 0;
    for (;;) {
      if (pipe._paused) paused++;
      const chunk = yield* proc.stdout!.read(4096);
      if (chunk.length === 0) break;
      size += chunk.length;
      // Let the pipe fill the reader up again before the next read.
      const tick = new Future<null>({ loop });
      loop.call_later(0.001, () => tick.set_result(null));
      yield* tick;
    }
    yield* proc.wait();
    return [size, paused] as const;
  }());
  assert.is(size, 1 << 20);
  assert.ok(paused > 0, 'the reader paused its pipe at least once');
});

test('SubprocessStreamProtocol: pipe_connection_lost with an error fails the reader', () => {
  const p = new SubprocessStreamProtocol(1024, loop);
  p.stdout = new StreamReader(1024, { loop });
  p.pipe_data_received(1, Buffer.from('x'));
  const err = new Error('boom');
  p.pipe_connection_lost(1, err);
  assert.is(p.stdout.exception(), err);
});

test.run();
