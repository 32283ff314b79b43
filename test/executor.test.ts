import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ConnectionRefusedError, Handle, OSError, RuntimeError, TimeoutError,
  errno, new_event_loop, type AbstractEventLoop, type Coroutine,
} from '../src/index.js';
import {
  ConcurrentFuture, ThreadPoolExecutor, executor_function, get_default_executor, run_in_executor,
  set_default_executor, wrap_future,
} from '../src/executor.js';
import { gather, sleep } from '../coroutines/waiting.js';
import type * as jobs from './support/executor_jobs.js';
import type { Future } from '../src/futures.js';
import { make_loop, register_loop_cleanup, run } from './support/loops.js';

const JOBS = new URL('./support/executor_jobs.ts', import.meta.url).href;
const ADD = executor_function<typeof jobs.add>(JOBS, 'add');
const THREAD_ID = executor_function<typeof jobs.thread_id>(JOBS, 'thread_id');
const DOUBLE_LATER = executor_function<typeof jobs.double_later>(JOBS, 'double_later');
const THROW_TYPE = executor_function<typeof jobs.throw_type_error>(JOBS, 'throw_type_error');
const THROW_OS = executor_function<typeof jobs.throw_os_error>(JOBS, 'throw_os_error');
const THROW_CUSTOM = executor_function<typeof jobs.throw_custom>(JOBS, 'throw_custom');
const RETURN_FUNCTION = executor_function<typeof jobs.return_function>(JOBS, 'return_function');
const BLOCK = executor_function<typeof jobs.block>(JOBS, 'block');
const BLOCK_UNTIL_RELEASED = executor_function<typeof jobs.block_until_released>(JOBS, 'block_until_released');

register_loop_cleanup();

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
function* settle<T>(f: Coroutine<T>): Coroutine<Settled<T>> {
  try {
    return { ok: true, value: yield* f };
  } catch (error) {
    return { ok: false, error };
  }
}

function* wait_future<T>(f: Future<T>): Coroutine<T> {
  return yield* f;
}

function* wait_started(loop: AbstractEventLoop, cell: Int32Array): Coroutine<void> {
  while (Atomics.load(cell, 0) === 0) yield* sleep(0.005, undefined, { loop });
}

function release(cell: Int32Array): void {
  Atomics.store(cell, 1, 1);
  Atomics.notify(cell, 1);
}

test('a job runs in a worker thread and its result wakes the loop blocked in epoll', () => {
  const loop = make_loop();
  // Nothing else is scheduled: the loop waits in the selector with no timeout until the worker signals.
  assert.is(run(loop, wait_future(run_in_executor(loop, null, ADD, 2, 3))), 5);
  const tid = run(loop, wait_future(run_in_executor(loop, null, THREAD_ID)));
  assert.ok(tid > 0, `ran on thread ${tid}`);
  assert.is(run(loop, wait_future(run_in_executor(loop, null, DOUBLE_LATER, 21))), 42, 'a job may return a promise');
  const ex = get_default_executor(loop);
  assert.instance(ex, ThreadPoolExecutor);
  assert.is((ex as ThreadPoolExecutor).max_workers, 5);
});

test('exceptions raised in the worker come back with their class, message and fields', () => {
  const loop = make_loop();
  let r: Settled<unknown> = run(loop, settle<unknown>(wait_future(run_in_executor(loop, null, THROW_TYPE, 'no good'))));
  assert.not.ok(r.ok);
  assert.instance(!r.ok && r.error, TypeError);
  assert.is((r as { error: Error }).error.message, 'no good');
  assert.match((r as { error: Error }).error.stack ?? '', 'executor_jobs.ts');
  assert.match((r as { error: Error }).error.stack ?? '', 'executor worker thread');

  r = run(loop, settle(wait_future(run_in_executor(loop, null, THROW_OS, errno['ECONNREFUSED']!))));
  const e = (r as { error: OSError }).error;
  assert.instance(e, ConnectionRefusedError);
  assert.instance(e, OSError);
  assert.is(e.errno, errno['ECONNREFUSED']);
  assert.is(e.code, 'ECONNREFUSED');
  assert.is(e.filename, 'some/file');
  assert.match(e.message, /^\[Errno \d+\] .*: some\/file$/);

  r = run(loop, settle(wait_future(run_in_executor(loop, null, THROW_CUSTOM))));
  const c = (r as { error: Error & { line?: number } }).error;
  assert.instance(c, Error);
  assert.is(c.name, 'ParseError');
  assert.is(c.message, 'bad input');
  assert.is(c.line, 42);

  r = run(loop, settle(wait_future(run_in_executor(loop, null, executor_function(JOBS, 'no_such_export')))));
  assert.instance((r as { error: Error }).error, TypeError);
  assert.match((r as { error: Error }).error.message, "no exported function named 'no_such_export'");
});

test('arguments and results that cannot be cloned fail the future with a TypeError', () => {
  const loop = make_loop();
  const bad = run_in_executor(loop, null, ADD as never, (() => 1) as never, 2 as never);
  assert.ok(bad.done(), 'failed at once, nothing crashed');
  assert.instance(bad.exception(), TypeError);
  assert.match(String(bad.exception()), 'structured-cloneable');

  // The same when the job has to wait in the queue (the arguments are captured at submit time).
  const ex = new ThreadPoolExecutor(1);
  const cell = new Int32Array(new SharedArrayBuffer(8));
  const busy = run_in_executor(loop, ex, BLOCK_UNTIL_RELEASED, cell);
  const queued = ex.submit(ADD as never, { f() {} } as never, 1 as never);
  assert.ok(queued.done());
  assert.instance(queued.exception(), TypeError);
  release(cell);
  assert.is(run(loop, wait_future(busy)), 'released');

  const r = run(loop, settle(wait_future(run_in_executor(loop, ex, RETURN_FUNCTION))));
  assert.instance((r as { error: Error }).error, TypeError);
  assert.match((r as { error: Error }).error.message, 'cannot be sent back');
  ex.shutdown();
});

test('a plain JavaScript function is refused with a TypeError that states the rule', () => {
  const loop = make_loop();
  const ex = new ThreadPoolExecutor(1);
  for (const call of [() => run_in_executor(loop, null, ((a: number) => a) as never), () => ex.submit(function crunch() {} as never)]) {
    try {
      call();
      assert.unreachable('should have thrown');
    } catch (e) {
      assert.instance(e, TypeError);
      assert.match(String(e), 'functions cannot cross threads');
      assert.match(String(e), 'named export of an ES module');
      assert.match(String(e), 'executor_function(import.meta.url');
    }
  }
  assert.throws(() => executor_function('not a url', 'x'), (e: unknown) => e instanceof TypeError);
  assert.throws(() => executor_function(JOBS, ''), (e: unknown) => e instanceof TypeError);
  ex.shutdown();
});

test('many concurrent jobs on a 2-worker pool all complete, on at most 2 threads', () => {
  const loop = make_loop();
  const ex = new ThreadPoolExecutor(2);
  set_default_executor(loop, ex);
  const sums = [];
  const tids = [];
  for (let i = 0; i < 10; i++) {
    sums.push(run_in_executor(loop, null, ADD, i, 100));
    tids.push(run_in_executor(loop, null, THREAD_ID));
  }
  const all = run(loop, gather(...sums, ...tids, { loop }));
  assert.equal(all.slice(0, 10), [100, 101, 102, 103, 104, 105, 106, 107, 108, 109]);
  const threads = new Set(all.slice(10));
  assert.ok(threads.size >= 1 && threads.size <= 2, `threads used: ${[...threads]}`);
  assert.is(get_default_executor(loop), ex);
});

test('a slow job does not freeze the loop: other tasks keep ticking until it finishes', () => {
  const loop = make_loop();
  const events: string[] = [];
  const cell = new Int32Array(new SharedArrayBuffer(8));
  const slow = run_in_executor(loop, null, BLOCK_UNTIL_RELEASED, cell);
  slow.add_done_callback(() => events.push('slow done'));
  function* ticker(): Coroutine<void> {
    yield* wait_started(loop, cell); // the worker is now blocked inside the job
    for (let i = 0; i < 5; i++) {
      yield* sleep(0.01, undefined, { loop });
      events.push(`tick ${i}`);
    }
    release(cell);
  }
  run(loop, gather(loop.create_task(ticker()), slow, { loop }));
  assert.equal(events, ['tick 0', 'tick 1', 'tick 2', 'tick 3', 'tick 4', 'slow done']);
  assert.is(slow.result(), 'released');

  // And with a job that blocks its worker for ~300 ms on its own.
  const order: string[] = [];
  const timed = run_in_executor(loop, null, BLOCK, 300);
  timed.add_done_callback(() => order.push('slow done'));
  function* ticks(): Coroutine<void> {
    while (!timed.done()) {
      yield* sleep(0.01, undefined, { loop });
      order.push('tick');
    }
  }
  run(loop, gather(loop.create_task(ticks()), timed, { loop }));
  const before = order.indexOf('slow done');
  assert.ok(before >= 5, `ticks before the slow job finished: ${before}`);
});

test('cancelling the loop future cancels a queued job; a running one cannot be cancelled', () => {
  const loop = make_loop();
  const ex = new ThreadPoolExecutor(1);
  const cell = new Int32Array(new SharedArrayBuffer(8));
  const cf_running = ex.submit(BLOCK_UNTIL_RELEASED, cell);
  const cf_queued = ex.submit(ADD, 1, 1);
  const running = wrap_future(loop, cf_running);
  const queued = wrap_future(loop, cf_queued);
  run(loop, wait_started(loop, cell));
  assert.not.ok(cf_running.cancel(), 'running: cannot cancel');
  assert.ok(cf_running.running());
  queued.cancel();
  run(loop, sleep(0, undefined, { loop })); // the done callback that cancels the concurrent future
  assert.ok(cf_queued.cancelled());
  release(cell);
  assert.is(run(loop, wait_future(running)), 'released');
  assert.ok(queued.cancelled());
  ex.shutdown();
});

test('run_in_executor takes a Handle: a cancelled one gives a future done with null', () => {
  const loop = make_loop();
  const h = new Handle(() => 1, []);
  h.cancel();
  const f = run_in_executor(loop, null, h);
  assert.ok(f.done());
  assert.is(f.result(), null);
  const live = new Handle(ADD as never, [4, 5]);
  assert.is(run(loop, wait_future(run_in_executor(loop, null, live))), 9);
  assert.throws(() => run_in_executor(loop, null, new Handle(() => 1, [])), /functions cannot cross threads/);
  assert.throws(() => run_in_executor(loop, null, loop.call_later(10, () => {})), (e: unknown) => e instanceof TypeError);
});

test('wrap_future passes a tulip Future through; ConcurrentFuture works without a loop', () => {
  const loop = make_loop();
  const f = run_in_executor(loop, null, ADD, 1, 2);
  assert.is(wrap_future(loop, f), f);
  run(loop, wait_future(f));

  const ex = new ThreadPoolExecutor(2);
  const cf = ex.submit(ADD, 20, 22);
  assert.instance(cf, ConcurrentFuture);
  assert.is(cf.result(10), 42, 'result() blocks this thread until the worker answers');
  const seen: unknown[] = [];
  cf.add_done_callback((x) => seen.push(x.result()));
  assert.equal(seen, [42], 'called at once when already done');
  const slow = ex.submit(BLOCK, 300);
  assert.throws(() => slow.result(0.01), (e: unknown) => e instanceof TimeoutError);
  assert.is(ex.submit(THROW_TYPE, 'x').exception(10) instanceof TypeError, true);
  ex.shutdown(true);
  assert.ok(slow.done() && slow.result() === 300, 'shutdown(true) waited for the running job');
});

test('shutdown(): no new jobs (RuntimeError); shutdown(false) cancels queued jobs, running ones finish', () => {
  const ex = new ThreadPoolExecutor(1);
  assert.is(ex.submit(ADD, 1, 2).result(10), 3);
  ex.shutdown();
  ex.shutdown();
  assert.ok(ex.is_shutdown);
  assert.throws(() => ex.submit(ADD, 1, 2), (e: unknown) => e instanceof RuntimeError && /after shutdown/.test(String(e)));

  const loop = make_loop();
  const ex2 = new ThreadPoolExecutor(1);
  const cell = new Int32Array(new SharedArrayBuffer(8));
  const running = run_in_executor(loop, ex2, BLOCK_UNTIL_RELEASED, cell);
  const queued = run_in_executor(loop, ex2, ADD, 1, 2);
  run(loop, wait_started(loop, cell));
  ex2.shutdown(false);
  run(loop, sleep(0, undefined, { loop }));
  assert.ok(queued.cancelled(), 'queued job cancelled');
  assert.not.ok(running.done(), 'the running job is not killed');
  release(cell);
  assert.is(run(loop, running), 'released');
  assert.throws(() => run_in_executor(loop, ex2, ADD, 1, 2), (e: unknown) => e instanceof RuntimeError);

  // shutdown(true) runs the queued jobs first.
  const ex3 = new ThreadPoolExecutor(1);
  const a = ex3.submit(BLOCK, 50);
  const b = ex3.submit(ADD, 2, 3);
  ex3.shutdown(true);
  assert.ok(a.done() && b.done());
  assert.is(b.result(), 5);
});

test('closing a loop shuts down its default executor and stops workers from waking it', () => {
  const loop = new_event_loop();
  const shared = new ThreadPoolExecutor(1);
  assert.is(run(loop, loop.run_in_executor(null, ADD, 1, 1)), 2);
  assert.is(run(loop, loop.run_in_executor(shared, ADD, 1, 2)), 3);
  const ex = get_default_executor(loop) as ThreadPoolExecutor;
  const fd = (loop as unknown as { _wakeup_w: number })._wakeup_w;
  assert.ok([...shared._wake].includes(fd), 'the shared executor wakes this loop');
  loop.close();
  assert.ok(ex.is_shutdown, 'default executor shut down');
  assert.not.ok(shared.is_shutdown, 'an executor the loop does not own stays up');
  assert.not.ok([...shared._wake].includes(fd), 'no worker writes to the closed wake-up fd');
  assert.is(shared.submit(ADD, 2, 2).result(10), 4);
  shared.shutdown();
  assert.throws(() => run_in_executor(loop, null, ADD, 1, 1), (e: unknown) => e instanceof RuntimeError);
});

test('loop.close() (the real loop class) shuts down the default executor', () => {
  const loop = new_event_loop();
  assert.is(run(loop, wait_future(run_in_executor(loop, null, ADD, 1, 1))), 2);
  const ex = get_default_executor(loop) as ThreadPoolExecutor;
  loop.close();
  assert.ok(ex.is_shutdown, 'BaseEventLoop.close() must call shutdown_default_executor(this)');
});

test.run();
