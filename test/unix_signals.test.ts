/**
 * unix_signals.test.ts: add_signal_handler / remove_signal_handler (src/unix_signals.ts, src/native/signals.c).
 *
 * Signals are real: sent to this process with binding.raise_signal (kill(getpid())) from a loop callback,
 * or by a child process while the loop is blocked in the selector with a far timer. Every test leaves the
 * dispositions as it found them (checked with signal_get_handler_kind) and its loop closed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { binding } from '../src/binding.js';
import {
  RuntimeError, SIGINT, SIGKILL, SIGPIPE, SIGSTOP, SIGUSR1, SIGUSR2, SIGWINCH, NSIG, SelectorEventLoop,
  signal_name, signals,
} from '../src/index.js';
import { _signal_fds } from '../src/unix_signals.js';
import { start_ts_worker } from './support/workers.js';

const kind = (sig: number) => binding.signal_get_handler_kind(sig);
let loop: SelectorEventLoop;
const before = new Map<number, unknown>();

test.before.each(() => {
  loop = new SelectorEventLoop();
  for (const sig of [SIGINT, SIGUSR1, SIGUSR2, SIGPIPE, SIGWINCH]) before.set(sig, kind(sig));
});
test.after.each(() => {
  loop.close();
  for (const [sig, k] of before) assert.is(kind(sig), k, `${signal_name(sig)} disposition restored`);
});

/** Runs the loop until stop(), with a far timer as a safety net (the test fails if it fires). */
function run_blocked(): void {
  let timed_out = false;
  const far = loop.call_later(10, () => {
    timed_out = true;
    loop.stop();
  });
  loop.run_forever();
  far.cancel();
  assert.not.ok(timed_out, 'the signal did not end the wait');
}

test('the platform signal numbers are exported', () => {
  assert.is(SIGINT, 2);
  assert.is(SIGKILL, 9);
  assert.is(signals.SIGTERM, 15);
  assert.ok(NSIG > 31);
  assert.is(signal_name(SIGUSR2), 'SIGUSR2');
});

test('a handler runs with its arguments, as a callback of the loop', () => {
  const calls: unknown[][] = [];
  const h = loop.add_signal_handler(SIGUSR2, (...args: unknown[]) => {
    calls.push(args);
    loop.stop();
  }, 'a', 42);
  assert.is(kind(SIGUSR2), 'tulip');
  assert.ok(typeof h.cancel === 'function');
  loop.call_soon(() => binding.raise_signal(SIGUSR2));
  run_blocked();
  assert.equal(calls, [['a', 42]]);
  assert.ok(loop.remove_signal_handler(SIGUSR2));
  assert.not.ok(loop.remove_signal_handler(SIGUSR2), 'second removal reports false');
});

test('a signal from another process ends a wait in epoll', () => {
  let got = 0;
  loop.add_signal_handler(SIGUSR2, () => {
    got++;
    loop.stop();
  });
  const r = binding.spawn('/bin/sh', ['sh', '-c', `sleep 0.1; kill -USR2 ${process.pid}`], null, null, [-1, -1, -1], false);
  assert.type(r, 'object');
  const [pid, pidfd] = r as [number, number];
  const t0 = loop.time();
  run_blocked();
  assert.is(got, 1);
  assert.ok(loop.time() - t0 < 5);
  while (binding.waitpid_nohang(pid) === null); // the child exits right after kill
  if (pidfd >= 0) binding.close(pidfd);
});

test('adding again replaces the handler; signals while the loop is not running wait for it', () => {
  const seen: string[] = [];
  loop.add_signal_handler(SIGUSR1, () => seen.push('first'));
  loop.add_signal_handler(SIGUSR1, () => {
    seen.push('second');
    loop.stop();
  });
  binding.raise_signal(SIGUSR1); // not running: the byte waits in the pipe
  run_blocked();
  assert.equal(seen, ['second']);
});

test('several deliveries, several signals', () => {
  const seen: number[] = [];
  loop.add_signal_handler(SIGUSR1, (s: number) => seen.push(s), SIGUSR1);
  loop.add_signal_handler(SIGWINCH, (s: number) => seen.push(s), SIGWINCH);
  loop.call_soon(() => {
    binding.raise_signal(SIGUSR1);
    binding.raise_signal(SIGWINCH);
    loop.call_later(0.05, () => loop.stop());
  });
  run_blocked();
  assert.equal(seen.sort(), [SIGUSR1, SIGWINCH].sort());
});

test('SIGKILL, SIGSTOP and numbers that are no signal are refused', () => {
  assert.throws(() => loop.add_signal_handler(SIGKILL, () => {}), (e: Error) => e instanceof RangeError && /SIGKILL cannot be caught/.test(e.message));
  assert.throws(() => loop.add_signal_handler(SIGSTOP, () => {}), (e: Error) => e instanceof RangeError);
  assert.throws(() => loop.add_signal_handler(0, () => {}), (e: Error) => e instanceof RangeError);
  assert.throws(() => loop.add_signal_handler(NSIG, () => {}), (e: Error) => e instanceof RangeError);
  assert.throws(() => loop.add_signal_handler(2.5, () => {}), (e: Error) => e instanceof TypeError);
  assert.throws(() => loop.add_signal_handler('SIGINT' as unknown as number, () => {}), (e: Error) => e instanceof TypeError);
  assert.throws(() => loop.remove_signal_handler(-1), (e: Error) => e instanceof RangeError);
  assert.throws(() => loop.add_signal_handler(SIGUSR1, function* () {} as never), /coroutines cannot be used/);
  assert.throws(() => loop.add_signal_handler(SIGUSR1, null as never), (e: Error) => e instanceof TypeError);
  assert.is(_signal_fds(loop), null, 'no pipe is left behind by refused calls');
});

test('removal restores the previous disposition exactly: Node SIGINT, SIG_IGN for SIGPIPE', () => {
  assert.is(kind(SIGINT), 'other', 'Node installs a SIGINT handler at start-up');
  assert.is(kind(SIGPIPE), 'ignore', 'Node ignores SIGPIPE');
  loop.add_signal_handler(SIGINT, () => {});
  loop.add_signal_handler(SIGPIPE, () => {});
  assert.is(kind(SIGINT), 'tulip');
  assert.is(kind(SIGPIPE), 'tulip');
  assert.ok(loop.remove_signal_handler(SIGINT));
  assert.is(kind(SIGINT), 'other');
  assert.ok(loop.remove_signal_handler(SIGPIPE));
  assert.is(kind(SIGPIPE), 'ignore');
});

test('a Node process.on listener installed before works again after removal', async () => {
  let node_calls = 0;
  let node_got!: () => void;
  const node_signal = new Promise<void>((r) => (node_got = r));
  const listener = () => {
    node_calls++;
    node_got();
  };
  process.on('SIGUSR2', listener);
  try {
    before.set(SIGUSR2, kind(SIGUSR2)); // libuv's handler now
    assert.is(kind(SIGUSR2), 'other');
    let ours = 0;
    loop.add_signal_handler(SIGUSR2, () => {
      ours++;
      loop.stop();
    });
    loop.call_soon(() => binding.raise_signal(SIGUSR2));
    run_blocked();
    assert.is(ours, 1);
    assert.ok(loop.remove_signal_handler(SIGUSR2));
    binding.raise_signal(SIGUSR2);
    // libuv's handler was put back: Node's loop delivers it. Signal handles do not keep Node's loop
    // alive, so a timer does while we wait.
    const keep_alive = setTimeout(() => {}, 5000);
    await node_signal;
    clearTimeout(keep_alive);
    assert.is(node_calls, 1);
    assert.is(ours, 1);
  } finally {
    process.off('SIGUSR2', listener);
    before.set(SIGUSR2, kind(SIGUSR2));
  }
});

test('closing the loop removes its handlers and closes its pipe', () => {
  loop.add_signal_handler(SIGUSR1, () => {});
  loop.add_signal_handler(SIGINT, () => {});
  const fds = _signal_fds(loop)!;
  assert.ok(fds !== null && binding.fd_is_open(fds[0]) && binding.fd_is_open(fds[1]));
  loop.close();
  assert.is(kind(SIGUSR1), before.get(SIGUSR1));
  assert.is(kind(SIGINT), 'other');
  assert.not.ok(binding.fd_is_open(fds[0]));
  assert.not.ok(binding.fd_is_open(fds[1]));
  assert.is(_signal_fds(loop), null);
  assert.throws(() => loop.add_signal_handler(SIGUSR1, () => {}), (e: Error) => e instanceof RuntimeError);
});

test('removing the last handler closes the pipe', () => {
  loop.add_signal_handler(SIGUSR1, () => {});
  const [r, w] = _signal_fds(loop)!;
  loop.remove_signal_handler(SIGUSR1);
  assert.not.ok(binding.fd_is_open(r));
  assert.not.ok(binding.fd_is_open(w));
});

test('one loop owns a signal at a time', () => {
  const other = new SelectorEventLoop();
  try {
    loop.add_signal_handler(SIGUSR1, () => {});
    assert.throws(() => other.add_signal_handler(SIGUSR1, () => {}), (e: Error) => e instanceof RuntimeError && /another event loop/.test(e.message));
    loop.remove_signal_handler(SIGUSR1);
    let got = 0;
    other.add_signal_handler(SIGUSR1, () => {
      got++;
      other.stop();
    });
    other.call_soon(() => binding.raise_signal(SIGUSR1));
    other.run_forever();
    assert.is(got, 1);
  } finally {
    other.close();
  }
});

test('a worker thread cannot handle signals', async () => {
  const worker = start_ts_worker(new URL('./support/signal_worker.ts', import.meta.url));
  const message = await new Promise<string>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.match(message, /^RuntimeError: .*main thread/);
});

test.run();
