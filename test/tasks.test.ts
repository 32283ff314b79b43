// Task and coroutines (Tulip's tasks.py): driving generators, yield* chains, bare yield, bad yields,
// cancellation thrown at the yield point, current_task/all_tasks, coroutine(), task(), ensure_future.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CancelledError, Future, RuntimeError, Task, TestLoop, async as async_, coroutine, ensure_future,
  iscoroutine, iscoroutinefunction, set_event_loop, sleep, task,
  logger, type Coroutine, type LogRecord,
} from '../src/index.js';
import { collect_until } from './support/gc.js';
import { throws_a } from './support/asserts.js';
import { test_loop_each } from './support/loops.js';

let loop: TestLoop;
test_loop_each(test, (l) => (loop = l));


// ---- Driving ----------------------------------------------------------------------------------------------

test('a task runs its coroutine on the loop, not in the constructor', () => {
  const log: string[] = [];
  function* coro(): Coroutine<string> {
    log.push('ran');
    return 'ok';
  }
  const t = new Task(coro(), { loop });
  assert.equal(log, []);
  assert.is(t.done(), false);
  assert.is(t.get_loop(), loop);
  loop.run_once();
  assert.equal(log, ['ran']);
  assert.is(t.done(), true);
  assert.is(t.result(), 'ok');
});

test('a task is a Future: its done callbacks run after it finishes', () => {
  const log: string[] = [];
  function* coro(): Coroutine<number> {
    return 5;
  }
  const t = new Task(coro(), { loop });
  t.add_done_callback((f) => log.push(`done:${f.result()}`));
  assert.is(t instanceof Future, true);
  assert.is(loop.run_until_complete(t), 5);
  assert.equal(log, ['done:5']);
});

test('an exception propagates out of the task', () => {
  const err = new TypeError('inside');
  // eslint-disable-next-line require-yield
  function* coro(): Coroutine<number> {
    throw err;
  }
  const t = new Task(coro(), { loop });
  throws_a(() => loop.run_until_complete(t), TypeError, /^inside$/);
  assert.is(t.exception(), err);
  assert.is(t.cancelled(), false);
});

test('a coroutine that throws a non-Error value fails the task with that value', () => {
  function* coro(): Coroutine<number> {
    yield;
    throw 'a string';
  }
  const t = new Task(coro(), { loop });
  let caught: unknown;
  try {
    loop.run_until_complete(t);
  } catch (e) {
    caught = e;
  }
  assert.is(caught, 'a string');
  assert.is(t.exception(), 'a string');
});

test('a coroutine that throws null or undefined fails the task with a TypeError (it does not hang)', () => {
  for (const value of [null, undefined]) {
    function* coro(): Coroutine<number> {
      yield;
      throw value;
    }
    const t = new Task(coro(), { loop });
    throws_a(() => loop.run_until_complete(t), TypeError, new RegExp(`threw ${value}`));
    assert.is(t.done(), true);
    assert.is(Task.all_tasks(loop).size, 0);
  }
});

test('yield* a coroutine returns its value, through several levels', () => {
  const log: string[] = [];
  function* leaf(x: number): Coroutine<number> {
    log.push(`leaf:${x}`);
    yield* sleep(1, undefined, { loop });
    return x + 1;
  }
  function* middle(): Coroutine<number> {
    const a = yield* leaf(1);
    const b = yield* leaf(a);
    return a * 10 + b;
  }
  function* top(): Coroutine<string> {
    return `r=${yield* middle()}`;
  }
  assert.is(loop.run_until_complete(new Task(top(), { loop })), 'r=23');
  assert.equal(log, ['leaf:1', 'leaf:2']);
  assert.is(loop.time(), 2);
});

test('an exception raised deep in a yield* chain can be caught above', () => {
  function* leaf(): Coroutine<number> {
    yield;
    throw new RangeError('deep');
  }
  function* top(): Coroutine<string> {
    try {
      yield* leaf();
      return 'no';
    } catch (e) {
      return `caught ${(e as Error).name}:${(e as Error).message}`;
    }
  }
  assert.is(loop.run_until_complete(top()), 'caught RangeError:deep');
});

test('a bare yield gives up exactly one turn: two tasks interleave', () => {
  const log: string[] = [];
  function* worker(name: string, n: number): Coroutine<void> {
    for (let i = 0; i < n; i++) {
      log.push(`${name}${i}`);
      yield;
    }
  }
  const a = new Task(worker('a', 3), { loop });
  const b = new Task(worker('b', 3), { loop });
  loop.run_once();
  assert.equal(log, ['a0', 'b0']);
  loop.run_once();
  assert.equal(log, ['a0', 'b0', 'a1', 'b1']);
  loop.run_once();
  loop.run_once();
  assert.equal(log, ['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
  assert.is(a.done(), true);
  assert.is(b.done(), true);
});

test('a bare yield lets call_soon callbacks scheduled before it run first', () => {
  const log: string[] = [];
  function* coro(): Coroutine<void> {
    log.push('t1');
    loop.call_soon(() => log.push('cb'));
    yield;
    log.push('t2');
  }
  loop.run_until_complete(coro());
  assert.equal(log, ['t1', 'cb', 't2']);
});

test('yield fut without the star fails the task with a RuntimeError that says yield*', () => {
  const f = new Future<number>({ loop });
  function* coro(): Coroutine<number> {
    yield f as unknown as undefined;
    return 1;
  }
  const t = new Task(coro(), { loop });
  const e = throws_a(() => loop.run_until_complete(t), RuntimeError, /yield\*/);
  assert.is(t.exception(), e);
  f.cancel();
});

test('the bad-yield error is thrown into the coroutine, which may catch it', () => {
  const f = new Future<number>({ loop });
  function* coro(): Coroutine<string> {
    try {
      yield f as unknown as undefined;
      return 'no';
    } catch (e) {
      return e instanceof RuntimeError ? 'caught' : 'other';
    }
  }
  assert.is(loop.run_until_complete(coro()), 'caught');
  f.cancel();
});

test('yielding a generator fails with a message to use yield* on it', () => {
  function* inner(): Coroutine<number> {
    return 1;
  }
  function* coro(): Coroutine<void> {
    yield inner() as unknown as undefined;
  }
  throws_a(() => loop.run_until_complete(coro()), RuntimeError, /yield\* coro\(\)/);
});

test('yielding a Promise fails with a message about Promises', () => {
  function* coro(): Coroutine<void> {
    yield Promise.resolve(1) as unknown as undefined;
  }
  throws_a(() => loop.run_until_complete(coro()), RuntimeError, /Promise/);
});

test('yielding a number fails with a clear message', () => {
  function* coro(): Coroutine<void> {
    yield 42 as unknown as undefined;
  }
  throws_a(() => loop.run_until_complete(coro()), RuntimeError, /bad yield: 42.*yield\*/);
});

test('new Task(fn) with a function is a TypeError that says to call it', () => {
  function* coro(): Coroutine<void> {}
  throws_a(() => new Task(coro as unknown as Coroutine<void>, { loop }), TypeError, /not a function/);
  throws_a(() => new Task(42 as unknown as Coroutine<void>, { loop }), TypeError);
  const f = new Future<void>({ loop });
  throws_a(() => new Task(f as unknown as Coroutine<void>, { loop }), TypeError);
  // Nothing was scheduled by the failed constructors.
  assert.is(Task.all_tasks(loop).size, 0);
});

// ---- Cancellation -----------------------------------------------------------------------------------------

test('cancel(): CancelledError is thrown at the yield point and the task ends cancelled', () => {
  const log: string[] = [];
  function* coro(): Coroutine<number> {
    try {
      log.push('start');
      yield* sleep(10, undefined, { loop });
      log.push('not reached');
      return 1;
    } catch (e) {
      log.push(`caught ${(e as Error).name}`);
      throw e;
    }
  }
  const t = new Task(coro(), { loop });
  loop.call_later(1, () => assert.is(t.cancel(), true));
  throws_a(() => loop.run_until_complete(t), CancelledError);
  assert.is(t.cancelled(), true);
  assert.equal(log, ['start', 'caught CancelledError']);
  assert.is(loop.time(), 1);
  // The sleep's timer was cancelled by its finally: no live timer left.
  assert.is(loop._scheduled.peek(), undefined);
});

test('cancel(): finally blocks run through a 3-deep yield* chain, innermost first', () => {
  const log: string[] = [];
  function* c3(): Coroutine<void> {
    try {
      yield* sleep(5, undefined, { loop });
    } finally {
      log.push('finally3');
    }
  }
  function* c2(): Coroutine<void> {
    try {
      yield* c3();
    } finally {
      log.push('finally2');
    }
  }
  function* c1(): Coroutine<void> {
    try {
      yield* c2();
      log.push('not reached');
    } finally {
      log.push('finally1');
    }
  }
  const t = new Task(c1(), { loop });
  loop.run_once();
  assert.is(t.cancel(), true);
  throws_a(() => loop.run_until_complete(t), CancelledError);
  assert.equal(log, ['finally3', 'finally2', 'finally1']);
  assert.is(loop.time(), 0);
});

test('cancel(): a finally that itself does yield* sleep() completes', () => {
  const log: string[] = [];
  function* inner(): Coroutine<void> {
    try {
      yield* sleep(100, undefined, { loop });
    } finally {
      log.push(`cleanup start ${loop.time()}`);
      yield* sleep(2, undefined, { loop });
      log.push(`cleanup end ${loop.time()}`);
    }
  }
  function* outer(): Coroutine<void> {
    try {
      yield* inner();
    } finally {
      log.push(`outer finally ${loop.time()}`);
    }
  }
  const t = new Task(outer(), { loop });
  loop.call_later(1, () => t.cancel());
  throws_a(() => loop.run_until_complete(t), CancelledError);
  assert.equal(log, ['cleanup start 1', 'cleanup end 3', 'outer finally 3']);
  assert.is(t.cancelled(), true);
});

test('a coroutine that catches CancelledError and returns a value: the task is not cancelled', () => {
  function* coro(): Coroutine<string> {
    try {
      yield* sleep(10, undefined, { loop });
      return 'slept';
    } catch (e) {
      if (e instanceof CancelledError) return 'recovered';
      throw e;
    }
  }
  const t = new Task(coro(), { loop });
  loop.call_later(1, () => t.cancel());
  assert.is(loop.run_until_complete(t), 'recovered');
  assert.is(t.cancelled(), false);
  assert.is(t.result(), 'recovered');
});

test('a coroutine that catches CancelledError can keep waiting', () => {
  function* coro(): Coroutine<number> {
    try {
      yield* sleep(10, undefined, { loop });
    } catch {
      // ignore
    }
    yield* sleep(5, undefined, { loop });
    return loop.time();
  }
  const t = new Task(coro(), { loop });
  loop.call_later(1, () => t.cancel());
  assert.is(loop.run_until_complete(t), 6);
});

test('cancel of a task that has not started yet: its body never runs', () => {
  const log: string[] = [];
  function* coro(): Coroutine<number> {
    try {
      log.push('body');
      return 1;
    } finally {
      log.push('finally');
    }
  }
  const t = new Task(coro(), { loop });
  assert.is(t.cancel(), true);
  assert.is(t.done(), false); // cancellation is delivered by the next step
  throws_a(() => loop.run_until_complete(t), CancelledError);
  assert.is(t.cancelled(), true);
  assert.equal(log, []);
});

test('cancel twice: both return true while pending; the task is cancelled once', () => {
  const log: string[] = [];
  function* coro(): Coroutine<void> {
    try {
      yield* sleep(10, undefined, { loop });
    } finally {
      log.push('finally');
    }
  }
  const t = new Task(coro(), { loop });
  loop.run_once();
  assert.is(t.cancel(), true);
  assert.is(t.cancel(), true);
  throws_a(() => loop.run_until_complete(t), CancelledError);
  assert.is(t.cancelled(), true);
  assert.equal(log, ['finally']);
  assert.is(t.cancel(), false);
});

test('cancel of a done task returns false and keeps its result', () => {
  function* coro(): Coroutine<number> {
    return 3;
  }
  const t = new Task(coro(), { loop });
  loop.run_until_complete(t);
  assert.is(t.cancel(), false);
  assert.is(t.cancelled(), false);
  assert.is(t.result(), 3);
});

test('cancel while the awaited future is already done (wake-up pending): still cancelled', () => {
  const f = new Future<number>({ loop });
  const log: string[] = [];
  function* coro(): Coroutine<number> {
    try {
      return yield* f;
    } catch (e) {
      log.push((e as Error).name);
      throw e;
    }
  }
  const t = new Task(coro(), { loop });
  loop.run_once(); // the task now waits on f
  f.set_result(1); // its wake-up is scheduled
  assert.is(t.cancel(), true);
  throws_a(() => loop.run_until_complete(t), CancelledError);
  assert.equal(log, ['CancelledError']);
});

test('cancelling a task cancels the future it waits on', () => {
  const f = new Future<number>({ loop });
  function* coro(): Coroutine<number> {
    return yield* f;
  }
  const t = new Task(coro(), { loop });
  loop.run_once();
  t.cancel();
  assert.is(f.cancelled(), true);
  throws_a(() => loop.run_until_complete(t), CancelledError);
});

test('a task waiting on a future that its owner cancels ends cancelled', () => {
  const f = new Future<number>({ loop });
  function* coro(): Coroutine<number> {
    return yield* f;
  }
  const t = new Task(coro(), { loop });
  loop.call_later(2, () => f.cancel());
  throws_a(() => loop.run_until_complete(t), CancelledError);
  assert.is(t.cancelled(), true);
  assert.is(loop.time(), 2);
});

test('a task waiting on another task that gets cancelled ends cancelled', () => {
  function* sleeper(): Coroutine<number> {
    yield* sleep(10, undefined, { loop });
    return 1;
  }
  const inner = new Task(sleeper(), { loop });
  function* waiter(): Coroutine<number> {
    return yield* inner;
  }
  const outer = new Task(waiter(), { loop });
  loop.call_later(1, () => inner.cancel());
  throws_a(() => loop.run_until_complete(outer), CancelledError);
  assert.is(inner.cancelled(), true);
  assert.is(outer.cancelled(), true);
});

test('the seed\'s Task timeout option cancels the task when the time is up', () => {
  function* coro(): Coroutine<number> {
    yield* sleep(10, undefined, { loop });
    return 12;
  }
  const t = new Task(coro(), { loop, timeout: 0.5 });
  throws_a(() => loop.run_until_complete(t), CancelledError);
  assert.is(t.cancelled(), true);
  assert.is(loop.time(), 0.5);
});

test('the Task timeout: a waiting coroutine can catch the CancelledError; a quick task is not cancelled', () => {
  function* slow(): Coroutine<number> {
    yield* sleep(10, undefined, { loop });
    return 12;
  }
  function* quick(): Coroutine<number> {
    yield* sleep(1, undefined, { loop });
    return 1;
  }
  function* coro(): Coroutine<string> {
    const q = yield* new Task(quick(), { loop, timeout: 5 });
    try {
      yield* new Task(slow(), { loop, timeout: 2 });
      return 'no';
    } catch (e) {
      return `${q} ${(e as Error).name}@${loop.time()}`;
    }
  }
  assert.is(loop.run_until_complete(coro()), '1 CancelledError@3');
  assert.is(loop._scheduled.peek(), undefined);
});

test('the seed name event_loop works for a Task', () => {
  function* coro(): Coroutine<number> {
    return 1;
  }
  const t = new Task(coro(), { event_loop: loop });
  assert.is(t.get_loop(), loop);
  assert.is(loop.run_until_complete(t), 1);
});

test('a task that cancels itself gets CancelledError at its next yield', () => {
  const log: string[] = [];
  function* coro(): Coroutine<void> {
    assert.is(Task.current_task(loop)!.cancel(), true);
    log.push('still running');
    try {
      yield* sleep(5, undefined, { loop });
      log.push('not reached');
    } catch (e) {
      log.push(`${(e as Error).name}@${loop.time()}`);
      throw e;
    }
  }
  const t = new Task(coro(), { loop });
  throws_a(() => loop.run_until_complete(t), CancelledError);
  assert.equal(log, ['still running', 'CancelledError@0']);
  assert.is(t.cancelled(), true);
});

test('toString shows the state of a task', () => {
  function* named_coro(): Coroutine<number> {
    yield;
    return 7;
  }
  const t = new Task(named_coro(), { loop });
  assert.match(String(t), /^Task.*<PENDING>$/);
  loop.run_until_complete(t);
  assert.match(String(t), /^Task.*<result=7>$/);
});

// ---- current_task / all_tasks -----------------------------------------------------------------------------

test('Task.current_task(loop): the running task inside, null outside', () => {
  let inside: unknown = 'unset';
  let inside_after_yield: unknown = 'unset';
  function* coro(): Coroutine<void> {
    inside = Task.current_task(loop);
    yield* sleep(1, undefined, { loop });
    inside_after_yield = Task.current_task(loop);
  }
  assert.is(Task.current_task(loop), null);
  const t = new Task(coro(), { loop });
  assert.is(Task.current_task(loop), null);
  loop.run_until_complete(t);
  assert.is(inside, t);
  assert.is(inside_after_yield, t);
  assert.is(Task.current_task(loop), null);
});

test('Task.current_task is per task when tasks interleave, and null in plain callbacks', () => {
  const seen: string[] = [];
  const names = new Map<unknown, string>();
  function* coro(name: string): Coroutine<void> {
    seen.push(`${name}:${names.get(Task.current_task(loop))}`);
    yield;
    seen.push(`${name}:${names.get(Task.current_task(loop))}`);
  }
  const a = new Task(coro('a'), { loop });
  const b = new Task(coro('b'), { loop });
  names.set(a, 'a');
  names.set(b, 'b');
  loop.call_soon(() => seen.push(`cb:${Task.current_task(loop)}`));
  loop.run_once();
  loop.run_once();
  assert.equal(seen, ['a:a', 'b:b', 'cb:null', 'a:a', 'b:b']);
});

test('Task.current_task() defaults to the current event loop', () => {
  set_event_loop(loop);
  let inside: unknown = null;
  function* coro(): Coroutine<void> {
    inside = Task.current_task();
  }
  const t = new Task(coro());
  loop.run_until_complete(t);
  assert.is(inside, t);
});

test('Task.all_tasks(loop) holds pending tasks and drops finished ones', () => {
  function* short(): Coroutine<string> {
    return 'short';
  }
  function* long(): Coroutine<string> {
    yield* sleep(10, undefined, { loop });
    return 'long';
  }
  const a = new Task(short(), { loop });
  const b = new Task(long(), { loop });
  assert.equal([...Task.all_tasks(loop)], [a, b]);
  loop.run_once();
  assert.equal([...Task.all_tasks(loop)], [b]);
  loop.run_until_complete(b);
  assert.is(Task.all_tasks(loop).size, 0);
  // A snapshot: changing it does not change the loop's own set.
  const snap = Task.all_tasks(loop);
  snap.add(a);
  assert.is(Task.all_tasks(loop).size, 0);
});

test('Task.all_tasks drops failed and cancelled tasks too; other loops are separate', () => {
  const other = new TestLoop();
  try {
    // eslint-disable-next-line require-yield
    function* failing(): Coroutine<void> {
      throw new Error('x');
    }
    function* forever(): Coroutine<void> {
      yield* new Future<void>({ loop });
    }
    function* other_coro(): Coroutine<void> {
      yield;
    }
    const f = new Task(failing(), { loop });
    const c = new Task(forever(), { loop });
    const o = new Task(other_coro(), { loop: other });
    assert.is(Task.all_tasks(loop).size, 2);
    assert.equal([...Task.all_tasks(other)], [o]);
    loop.run_once();
    c.cancel();
    loop.run_once();
    loop.run_once();
    assert.is(f.exception() instanceof Error, true);
    assert.is(c.cancelled(), true);
    assert.is(Task.all_tasks(loop).size, 0);
    assert.is(Task.all_tasks(other).size, 1);
    other.run_until_complete(o);
  } finally {
    other.close();
  }
});

// ---- coroutine(), task(), ensure_future -------------------------------------------------------------------

test('coroutine(fn) on a generator function marks it and returns it working', () => {
  function* gen(x: number): Coroutine<number> {
    yield;
    return x * 2;
  }
  const c = coroutine(gen);
  assert.is(iscoroutinefunction(c), true);
  assert.is(iscoroutinefunction(gen), true);
  assert.is(iscoroutinefunction(() => 1), false);
  assert.is(loop.run_until_complete(c(4)), 8);
});

test('coroutine(fn) on a plain function returning a value', () => {
  const log: string[] = [];
  const c = coroutine((a: number, b: number) => {
    log.push('called');
    return a + b;
  });
  assert.is(iscoroutinefunction(c), true);
  const coro = c(2, 3);
  assert.is(iscoroutine(coro), true);
  assert.equal(log, []); // nothing runs until the coroutine is driven
  assert.is(loop.run_until_complete(coro), 5);
  assert.equal(log, ['called']);
});

test('coroutine(fn) on a plain function returning a future waits for it', () => {
  const f = new Future<string>({ loop });
  const c = coroutine(() => f);
  loop.call_later(3, () => f.set_result('from future'));
  assert.is(loop.run_until_complete(c()), 'from future');
  assert.is(loop.time(), 3);
});

test('coroutine(fn) on a plain function returning a generator drives it', () => {
  function* gen(): Coroutine<string> {
    yield* sleep(2, undefined, { loop });
    return 'from generator';
  }
  const c = coroutine(() => gen());
  assert.is(loop.run_until_complete(c()), 'from generator');
  assert.is(loop.time(), 2);
});

test('coroutine(fn) on a plain function that throws: raised when driven', () => {
  const c = coroutine((): number => {
    throw new RangeError('plain');
  });
  const coro = c();
  throws_a(() => loop.run_until_complete(coro), RangeError, /plain/);
});

test('coroutine() of a non-function is a TypeError', () => {
  throws_a(() => coroutine(42 as unknown as () => number), TypeError);
});

test('task(fn) returns a function that starts a running Task', () => {
  set_event_loop(loop);
  const log: string[] = [];
  const start = task(function* (x: number): Coroutine<number> {
    log.push(`run ${x}`);
    yield* sleep(1, undefined, { loop });
    return x + 1;
  });
  const t = start(10);
  assert.instance(t, Task);
  assert.is(t.get_loop(), loop);
  assert.equal(log, []);
  loop.run_once();
  assert.equal(log, ['run 10']);
  assert.is(loop.run_until_complete(t), 11);
});

test('task(fn) on a plain function and on one returning a future', () => {
  set_event_loop(loop);
  const plain = task((x: number) => x * 3);
  const f = new Future<string>({ loop });
  const via_future = task(() => f);
  const t1 = plain(5);
  const t2 = via_future();
  assert.instance(t1, Task);
  assert.instance(t2, Task);
  loop.call_soon(() => f.set_result('fut'));
  assert.is(loop.run_until_complete(t1), 15);
  assert.is(loop.run_until_complete(t2), 'fut');
});

test('ensure_future passes futures and tasks through and wraps coroutines', () => {
  const f = new Future<number>({ loop });
  assert.is(ensure_future(f, { loop }), f);
  function* coro(): Coroutine<number> {
    return 1;
  }
  const t = new Task(coro(), { loop });
  assert.is(ensure_future(t), t);
  const wrapped = ensure_future(coro(), { loop });
  assert.instance(wrapped, Task);
  assert.is(wrapped.get_loop(), loop);
  assert.is(loop.run_until_complete(wrapped), 1);
  assert.is(async_, ensure_future);
  f.cancel();
});

test('ensure_future of anything else is a TypeError', () => {
  throws_a(() => ensure_future(42 as unknown as Coroutine<number>, { loop }), TypeError);
  throws_a(() => ensure_future(Promise.resolve(1) as unknown as Coroutine<number>, { loop }), TypeError);
  throws_a(() => ensure_future((() => 1) as unknown as Coroutine<number>, { loop }), TypeError);
});

test('ensure_future of a future of another loop with an explicit loop is an error', () => {
  const other = new TestLoop();
  try {
    const f = new Future<number>({ loop: other });
    throws_a(() => ensure_future(f, { loop }), RuntimeError);
  } finally {
    other.close();
  }
});

test('run_until_complete wraps a coroutine and returns its result', () => {
  function* coro(): Coroutine<number[]> {
    const a = yield* sleep(1, 1, { loop });
    const b = yield* sleep(2, 2, { loop });
    return [a, b];
  }
  assert.equal(loop.run_until_complete(coro()), [1, 2]);
  assert.is(loop.time(), 3);
});

// Last in this file: turning debug on makes coroutine() track coroutines from then on.
test('debug mode: a coroutine created and never started is reported, with where it was created', async () => {
  const records: LogRecord[] = [];
  const saved = logger.handler;
  logger.handler = (r) => records.push(r);
  try {
    loop.set_debug(true);
    const forgotten = coroutine(function* forgotten_work(): Coroutine<number> {
      yield;
      return 1;
    });
    const used = coroutine(function* used_work(): Coroutine<number> {
      yield;
      return 2;
    });
    (() => {
      forgotten(); // created, dropped, never driven
      assert.is(loop.run_until_complete(used()), 2);
    })();
    await collect_until(() => records.some((r) => /never started/.test(r.message)));
    const reports = records.filter((r) => /never started/.test(r.message));
    assert.is(reports.length, 1, JSON.stringify(records.map((r) => r.message)));
    assert.match(reports[0]!.message, /coroutine forgotten_work was never started/);
    assert.match(reports[0]!.message, /coroutine created at:\n.*tasks\.test\.ts/);
  } finally {
    logger.handler = saved;
  }
});

// ---- get_stack / print_stack ----------------------------------------------------------------------------

function* stack_inner(f: Future<number>): Coroutine<number> {
  return yield* f;
}
function* stack_middle(f: Future<number>): Coroutine<number> {
  return yield* stack_inner(f);
}
function* stack_outer(f: Future<number>): Coroutine<number> {
  return yield* stack_middle(f);
}
const names = (frames: string[]) => frames.map((f) => /^at (\S+)/.exec(f)![1]);

test('get_stack: in debug mode, the whole yield* chain where the task is suspended, oldest first', () => {
  loop.set_debug(true);
  const f = new Future<number>({ loop });
  const t = new Task(stack_outer(f), { loop });
  loop.run_once();
  assert.equal(names(t.get_stack()), ['stack_outer', 'stack_middle', 'stack_inner']);
  assert.equal(names(t.get_stack({ limit: 1 })), ['stack_inner'], 'a stack keeps its newest frames');
  assert.match(t.get_stack()[2]!, /tasks\.test\.ts:\d+:\d+\)$/);
  const out: string[] = [];
  t.print_stack({ file: { write: (s: string) => out.push(s) } });
  assert.match(out.join(''), /^Stack for Task.* \(most recent call last\):\n  at stack_outer .*\n  at stack_middle .*\n  at stack_inner /);
  f.set_result(7);
  loop.run_once();
  assert.is(t.result(), 7);
  assert.equal(t.get_stack(), [], 'a task that finished has no stack');
  throws_a(() => t.get_stack({ limit: -1 }), RangeError);
});

test('get_stack: without debug mode nothing is recorded; a failed task gives its exception\'s frames', () => {
  const f = new Future<number>({ loop });
  const t = new Task(stack_outer(f), { loop });
  loop.run_once();
  assert.equal(t.get_stack(), []);
  const out: string[] = [];
  t.print_stack({ file: { write: (s: string) => out.push(s) } });
  assert.match(out.join(''), /^No stack for Task/);
  f.set_exception(new TypeError('bad'));
  loop.run_once();
  const frames = t.get_stack();
  assert.ok(frames.length > 0);
  out.length = 0;
  t.print_stack({ file: { write: (s: string) => out.push(s) } });
  assert.match(out.join(''), /^Traceback for Task.*\n(  at .*\n)+TypeError: bad\n$/);
  assert.is(t.get_stack({ limit: 1 }).length, 1);
});

test.run();
