// The waiting coroutines (coroutines/waiting.ts): sleep, wait, wait_for, as_completed, gather, on virtual time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ALL_COMPLETED, CancelledError, FIRST_COMPLETED, FIRST_EXCEPTION, Future, Task, TestLoop, TimeoutError,
  as_completed, gather, set_event_loop, sleep, wait, wait_for,
  type Coroutine, type ReturnWhen,
} from '../src/index.js';
import { throws_a } from './support/asserts.js';
import { test_loop_each } from './support/loops.js';

let loop: TestLoop;
test_loop_each(test, (l) => (loop = l));


/** A coroutine that sleeps `delay` virtual seconds, logs `value@time`, and returns `value`. */
function* after<T>(delay: number, value: T, log?: string[]): Coroutine<T> {
  yield* sleep(delay, undefined, { loop });
  log?.push(`${String(value)}@${loop.time()}`);
  return value;
}

/** A coroutine that sleeps `delay` virtual seconds, logs `message@time`, and throws `error`. */
function* fail_after(delay: number, error: Error, log?: string[]): Coroutine<never> {
  yield* sleep(delay, undefined, { loop });
  log?.push(`${error.message}@${loop.time()}`);
  throw error;
}

function sorted_results<T>(fs: Set<Future<T>>): T[] {
  return [...fs].map((f) => f.result()).sort();
}

// ---- sleep ----------------------------------------------------------------------------------------------

test('sleep advances virtual time exactly and returns its result', () => {
  assert.is(loop.run_until_complete(sleep(3.5, 'r', { loop })), 'r');
  assert.is(loop.time(), 3.5);
  assert.is(loop.run_until_complete(sleep(0.25, undefined, { loop })), undefined);
  assert.is(loop.time(), 3.75);
});

test('sleep without a result returns undefined; sleep with a null result returns null', () => {
  assert.is(loop.run_until_complete(sleep(1, undefined, { loop })), undefined);
  assert.is(loop.run_until_complete(sleep(1, null, { loop })), null);
});

test('sleeps in a sequence add up; concurrent sleeps overlap', () => {
  function* seq(): Coroutine<number> {
    yield* sleep(1, undefined, { loop });
    yield* sleep(2, undefined, { loop });
    return loop.time();
  }
  assert.is(loop.run_until_complete(seq()), 3);
  const t0 = loop.time();
  const a = new Task(after(5, 'a'), { loop });
  const b = new Task(after(5, 'b'), { loop });
  loop.run_until_complete(b);
  assert.is(a.done(), true);
  assert.is(loop.time() - t0, 5);
});

test('sleep(0) gives up one turn', () => {
  const log: string[] = [];
  function* coro(): Coroutine<void> {
    log.push('before');
    yield* sleep(0, undefined, { loop });
    log.push('after');
  }
  new Task(coro(), { loop });
  loop.call_soon(() => log.push('cb'));
  loop.run_once();
  assert.equal(log, ['before', 'cb']);
  loop.run_once();
  loop.run_once();
  assert.equal(log, ['before', 'cb', 'after']);
  assert.is(loop.time(), 0);
});

test('sleep uses the current event loop by default', () => {
  set_event_loop(loop);
  assert.is(loop.run_until_complete(sleep(2, 'x')), 'x');
  assert.is(loop.time(), 2);
});

test('cancelling a sleeping task cancels its timer', () => {
  const t = new Task(sleep(10, undefined, { loop }), { loop });
  loop.run_once();
  assert.is(loop._scheduled.peek()?.when, 10);
  t.cancel();
  throws_a(() => loop.run_until_complete(t), CancelledError);
  assert.is(loop._scheduled.peek(), undefined);
  assert.is(loop.time(), 0);
});

// ---- wait ------------------------------------------------------------------------------------------------

test('wait: ALL_COMPLETED (the default) returns when all are done', () => {
  const a = new Task(after(1, 'a'), { loop });
  const b = new Task(after(3, 'b'), { loop });
  const [done, pending] = loop.run_until_complete(wait([a, b], { loop }));
  assert.is(loop.time(), 3);
  assert.equal(done, new Set([a, b]));
  assert.is(pending.size, 0);
  assert.equal(sorted_results(done), ['a', 'b']);
});

test('wait: FIRST_COMPLETED returns after the first; the others stay pending', () => {
  const a = new Task(after(2, 'a'), { loop });
  const b = new Task(after(1, 'b'), { loop });
  const c = new Task(after(3, 'c'), { loop });
  const [done, pending] = loop.run_until_complete(wait([a, b, c], { loop, return_when: FIRST_COMPLETED }));
  assert.is(loop.time(), 1);
  assert.equal(done, new Set([b]));
  assert.equal(pending, new Set([a, c]));
  loop.run_until_complete(c);
  assert.is(a.result(), 'a');
});

test('wait: FIRST_EXCEPTION returns at the first failure', () => {
  const a = new Task(after(1, 'a'), { loop });
  const b = new Task(fail_after(2, new Error('b failed')), { loop });
  const c = new Task(after(5, 'c'), { loop });
  const [done, pending] = loop.run_until_complete(wait([a, b, c], { loop, return_when: FIRST_EXCEPTION }));
  assert.is(loop.time(), 2);
  assert.equal(done, new Set([a, b]));
  assert.equal(pending, new Set([c]));
  assert.is((b.exception() as Error).message, 'b failed');
  c.cancel();
  throws_a(() => loop.run_until_complete(c), CancelledError);
});

test('wait: FIRST_EXCEPTION without any exception waits for all', () => {
  const a = new Task(after(1, 'a'), { loop });
  const b = new Task(after(4, 'b'), { loop });
  const [done, pending] = loop.run_until_complete(wait([a, b], { loop, return_when: FIRST_EXCEPTION }));
  assert.is(loop.time(), 4);
  assert.is(done.size, 2);
  assert.is(pending.size, 0);
});

test('wait: FIRST_EXCEPTION with a failure already there returns at once', () => {
  const failed = new Future<string>({ loop });
  failed.set_exception(new Error('early'));
  const slow = new Task(after(10, 'slow'), { loop });
  const [done, pending] = loop.run_until_complete(wait([failed, slow], { loop, return_when: FIRST_EXCEPTION }));
  assert.is(loop.time(), 0);
  assert.equal(done, new Set([failed]));
  assert.equal(pending, new Set([slow]));
  slow.cancel();
  throws_a(() => loop.run_until_complete(slow), CancelledError);
});

test('wait: FIRST_COMPLETED with a future already done returns at once', () => {
  const f = new Future<string>({ loop });
  f.set_result('ready');
  const slow = new Task(after(10, 'slow'), { loop });
  const [done, pending] = loop.run_until_complete(wait([slow, f], { loop, return_when: FIRST_COMPLETED }));
  assert.is(loop.time(), 0);
  assert.equal(done, new Set([f]));
  assert.equal(pending, new Set([slow]));
  slow.cancel();
  throws_a(() => loop.run_until_complete(slow), CancelledError);
});

test('wait: a cancelled future counts as done but not as an exception', () => {
  const c = new Future<string>({ loop });
  const b = new Task(after(2, 'b'), { loop });
  loop.call_later(1, () => c.cancel());
  const [done, pending] = loop.run_until_complete(wait([c, b], { loop, return_when: FIRST_EXCEPTION }));
  assert.is(loop.time(), 2);
  assert.equal(done, new Set([c, b]));
  assert.is(pending.size, 0);
});

test('wait: with a timeout, what is not done is pending and no TimeoutError is raised', () => {
  const a = new Task(after(1, 'a'), { loop });
  const b = new Task(after(10, 'b'), { loop });
  const [done, pending] = loop.run_until_complete(wait([a, b], { loop, timeout: 5 }));
  assert.is(loop.time(), 5);
  assert.equal(done, new Set([a]));
  assert.equal(pending, new Set([b]));
  assert.is(b.done(), false); // not cancelled by wait
  assert.is(loop.run_until_complete(b), 'b');
  assert.is(loop.time(), 10);
});

test('wait: a timeout longer than needed returns when all are done, and its timer is cancelled', () => {
  const a = new Task(after(1, 'a'), { loop });
  const [done, pending] = loop.run_until_complete(wait([a], { loop, timeout: 100 }));
  assert.is(loop.time(), 1);
  assert.is(done.size, 1);
  assert.is(pending.size, 0);
  assert.is(loop._scheduled.peek(), undefined);
});

test('wait: timeout 0 returns at once with what is done', () => {
  const f = new Future<number>({ loop });
  f.set_result(1);
  const g = new Future<number>({ loop });
  const [done, pending] = loop.run_until_complete(wait([f, g], { loop, timeout: 0 }));
  assert.equal(done, new Set([f]));
  assert.equal(pending, new Set([g]));
  assert.is(loop.time(), 0);
  g.cancel();
});

test('wait: coroutines are wrapped in Tasks', () => {
  const [done, pending] = loop.run_until_complete(wait([after(2, 'x'), after(1, 'y')], { loop }));
  assert.is(pending.size, 0);
  assert.is(done.size, 2);
  for (const f of done) assert.instance(f, Task);
  assert.equal(sorted_results(done), ['x', 'y']);
  assert.is(loop.time(), 2);
});

test('wait: duplicates are counted once', () => {
  const a = new Task(after(1, 'a'), { loop });
  const [done, pending] = loop.run_until_complete(wait([a, a, a], { loop }));
  assert.equal(done, new Set([a]));
  assert.is(pending.size, 0);
});

test('wait: an exception does not raise, it stays in the future', () => {
  const a = new Task(fail_after(1, new Error('bad')), { loop });
  const b = new Task(after(2, 'b'), { loop });
  const [done] = loop.run_until_complete(wait([a, b], { loop }));
  assert.is(done.size, 2);
  assert.is((a.exception() as Error).message, 'bad');
});

test('wait: empty input is an error', () => {
  function* coro(): Coroutine<unknown> {
    return yield* wait([], { loop });
  }
  throws_a(() => loop.run_until_complete(coro()), RangeError, /empty/);
});

test('wait: a single future instead of an iterable, or a bad return_when, is an error', () => {
  const f = new Future<number>({ loop });
  throws_a(() => loop.run_until_complete(wait(f as unknown as Future<number>[], { loop })), TypeError);
  throws_a(() => loop.run_until_complete(wait([f], { loop, return_when: 'SOMETIMES' as ReturnWhen })), RangeError);
  f.cancel();
});

test('wait: constants have the PEP names', () => {
  assert.is(ALL_COMPLETED, 'ALL_COMPLETED');
  assert.is(FIRST_COMPLETED, 'FIRST_COMPLETED');
  assert.is(FIRST_EXCEPTION, 'FIRST_EXCEPTION');
});

test('wait: cancelling the waiting task leaves the awaited futures alone', () => {
  const a = new Task(after(10, 'a'), { loop });
  const w = new Task(wait([a], { loop }), { loop });
  loop.call_later(1, () => w.cancel());
  throws_a(() => loop.run_until_complete(w), CancelledError);
  assert.is(a.done(), false);
  assert.is(loop.run_until_complete(a), 'a');
});

// ---- wait_for --------------------------------------------------------------------------------------------

test('wait_for: a result in time is returned', () => {
  assert.is(loop.run_until_complete(wait_for(after(2, 'ok'), 5, { loop })), 'ok');
  assert.is(loop.time(), 2);
  assert.is(loop._scheduled.peek(), undefined); // the timeout's timer is gone
});

test('wait_for: on timeout raises TimeoutError and cancels the inner task', () => {
  const log: string[] = [];
  function* inner(): Coroutine<string> {
    try {
      yield* sleep(10, undefined, { loop });
      return 'late';
    } catch (e) {
      log.push(`inner ${(e as Error).name}@${loop.time()}`);
      throw e;
    }
  }
  const t = new Task(inner(), { loop });
  throws_a(() => loop.run_until_complete(wait_for(t, 3, { loop })), TimeoutError);
  assert.is(loop.time(), 3);
  loop.run_once();
  loop.run_once();
  assert.is(t.cancelled(), true);
  assert.equal(log, ['inner CancelledError@3']);
});

test('wait_for: TimeoutError can be caught inside a coroutine', () => {
  function* coro(): Coroutine<string> {
    try {
      return yield* wait_for(after(10, 'x'), 1, { loop });
    } catch (e) {
      return e instanceof TimeoutError ? `timeout@${loop.time()}` : 'other';
    }
  }
  assert.is(loop.run_until_complete(coro()), 'timeout@1');
});

test('wait_for: a null timeout waits as long as it takes', () => {
  assert.is(loop.run_until_complete(wait_for(after(1000, 'slow'), null, { loop })), 'slow');
  assert.is(loop.time(), 1000);
});

test('wait_for: on a future; an exception of the inner is raised', () => {
  const f = new Future<number>({ loop });
  loop.call_later(1, () => f.set_result(9));
  assert.is(loop.run_until_complete(wait_for(f, 2, { loop })), 9);
  throws_a(() => loop.run_until_complete(wait_for(fail_after(1, new RangeError('inner')), 2, { loop })), RangeError, /inner/);
});

test('wait_for: cancelling the outer cancels the inner', () => {
  const log: string[] = [];
  function* inner(): Coroutine<string> {
    try {
      yield* sleep(10, undefined, { loop });
      return 'late';
    } finally {
      log.push(`inner finally@${loop.time()}`);
    }
  }
  const inner_task = new Task(inner(), { loop });
  const outer = new Task(wait_for(inner_task, 5, { loop }), { loop });
  loop.call_later(1, () => outer.cancel());
  throws_a(() => loop.run_until_complete(outer), CancelledError);
  loop.run_once();
  loop.run_once();
  assert.is(inner_task.cancelled(), true);
  assert.equal(log, ['inner finally@1']);
  assert.is(loop._scheduled.peek(), undefined);
});

test('wait_for: cancelling the outer with a null timeout cancels the inner too', () => {
  const inner_task = new Task(after(10, 'x'), { loop });
  const outer = new Task(wait_for(inner_task, null, { loop }), { loop });
  loop.call_later(1, () => outer.cancel());
  throws_a(() => loop.run_until_complete(outer), CancelledError);
  assert.is(inner_task.cancelled(), true);
});

// ---- as_completed ----------------------------------------------------------------------------------------

test('as_completed: results come in order of completion', () => {
  const log: string[] = [];
  function* coro(): Coroutine<string[]> {
    const results: string[] = [];
    for (const next of as_completed([after(3, 'c'), after(1, 'a'), after(2, 'b')], { loop })) {
      const r = yield* next;
      results.push(`${r}@${loop.time()}`);
    }
    return results;
  }
  assert.equal(loop.run_until_complete(coro()), ['a@1', 'b@2', 'c@3']);
  assert.equal(log, []);
});

test('as_completed: with futures completed from callbacks', () => {
  const f1 = new Future<number>({ loop });
  const f2 = new Future<number>({ loop });
  loop.call_later(2, () => f1.set_result(1));
  loop.call_later(1, () => f2.set_result(2));
  function* coro(): Coroutine<number[]> {
    const out: number[] = [];
    for (const next of as_completed([f1, f2], { loop })) out.push(yield* next);
    return out;
  }
  assert.equal(loop.run_until_complete(coro()), [2, 1]);
});

test('as_completed: an exception is raised at the yield*, and iteration can go on', () => {
  function* coro(): Coroutine<string[]> {
    const out: string[] = [];
    for (const next of as_completed([after(2, 'ok'), fail_after(1, new Error('bad'))], { loop })) {
      try {
        out.push(yield* next);
      } catch (e) {
        out.push(`error:${(e as Error).message}@${loop.time()}`);
      }
    }
    return out;
  }
  assert.equal(loop.run_until_complete(coro()), ['error:bad@1', 'ok']);
});

test('as_completed: when the timeout expires the remaining ones raise TimeoutError', () => {
  const slow = new Task(after(10, 'slow'), { loop });
  const slower = new Task(after(20, 'slower'), { loop });
  function* coro(): Coroutine<string[]> {
    const out: string[] = [];
    for (const next of as_completed([slow, after(1, 'fast'), slower], { loop, timeout: 5 })) {
      try {
        out.push(`${yield* next}@${loop.time()}`);
      } catch (e) {
        out.push(`${(e as Error).name}@${loop.time()}`);
      }
    }
    return out;
  }
  assert.equal(loop.run_until_complete(coro()), ['fast@1', 'TimeoutError@5', 'TimeoutError@5']);
  // The remaining futures are not cancelled by as_completed.
  assert.is(slow.done(), false);
  assert.is(loop.run_until_complete(slower), 'slower');
  assert.is(slow.result(), 'slow');
});

test('as_completed: the timeout timer is cancelled when everything finished early', () => {
  function* coro(): Coroutine<string[]> {
    const out: string[] = [];
    for (const next of as_completed([after(1, 'x')], { loop, timeout: 50 })) out.push(yield* next);
    return out;
  }
  assert.equal(loop.run_until_complete(coro()), ['x']);
  assert.is(loop._scheduled.peek(), undefined);
});

test('as_completed: yields as many coroutines as inputs', () => {
  const items = [...as_completed([after(1, 1), after(2, 2), after(3, 3)], { loop })];
  assert.is(items.length, 3);
  function* coro(): Coroutine<number[]> {
    const out: number[] = [];
    for (const next of items) out.push(yield* next);
    return out;
  }
  assert.equal(loop.run_until_complete(coro()), [1, 2, 3]);
});

test('as_completed: the coroutines can be waited for concurrently by different tasks', () => {
  const its = [...as_completed([after(2, 'slow'), after(1, 'fast')], { loop })];
  function* consume(next: Coroutine<string>, name: string): Coroutine<string> {
    return `${name}:${yield* next}@${loop.time()}`;
  }
  const a = new Task(consume(its[0]!, 'A'), { loop });
  const b = new Task(consume(its[1]!, 'B'), { loop });
  const results = loop.run_until_complete(gather(a, b, { loop }));
  // Whichever consumer wakes first gets the first completion; both must finish, at 1 and at 2.
  assert.equal(results.map((r) => r.slice(2)).sort(), ['fast@1', 'slow@2']);
  assert.is(loop.time(), 2);
});

test('as_completed: empty input is an error', () => {
  throws_a(() => [...as_completed([], { loop })], RangeError);
});

// ---- gather ----------------------------------------------------------------------------------------------

test('gather: results in argument order, not completion order', () => {
  const log: string[] = [];
  const g = gather(after(3, 'a', log), after(1, 'b', log), after(2, 'c', log), { loop });
  assert.instance(g, Future);
  assert.equal(loop.run_until_complete(g), ['a', 'b', 'c']);
  assert.equal(log, ['b@1', 'c@2', 'a@3']);
  assert.is(loop.time(), 3);
});

test('gather: mixes futures, tasks and coroutines', () => {
  const f = new Future<number>({ loop });
  const t = new Task(after(2, 'task'), { loop });
  loop.call_later(1, () => f.set_result(1));
  assert.equal(loop.run_until_complete(gather(f, t, after(0.5, true), { loop })), [1, 'task', true]);
});

test('gather: the first exception fails the gather; the others keep running', () => {
  const log: string[] = [];
  const a = new Task(after(1, 'a', log), { loop });
  const b = new Task(fail_after(2, new RangeError('b failed'), log), { loop });
  const c = new Task(after(3, 'c', log), { loop });
  const g = gather(a, b, c, { loop });
  throws_a(() => loop.run_until_complete(g), RangeError, /b failed/);
  assert.is(loop.time(), 2);
  assert.is(c.done(), false);
  assert.is(loop.run_until_complete(c), 'c');
  assert.equal(log, ['a@1', 'b failed@2', 'c@3']);
});

test('gather: return_exceptions puts exceptions in their places', () => {
  const err = new Error('middle');
  const g = gather(after(1, 'a'), fail_after(2, err), after(3, 'c'), { loop, return_exceptions: true });
  const results = loop.run_until_complete(g);
  assert.is(results.length, 3);
  assert.is(results[0], 'a');
  assert.is(results[1], err);
  assert.is(results[2], 'c');
  assert.is(loop.time(), 3);
});

test('gather: return_exceptions with a child cancelled on its own gives a CancelledError in place', () => {
  const f = new Future<number>({ loop });
  loop.call_later(1, () => f.cancel());
  const results = loop.run_until_complete(gather(after(2, 'x'), f, { loop, return_exceptions: true }));
  assert.is(results[0], 'x');
  assert.instance(results[1], CancelledError);
});

test('gather: a child cancelled on its own fails the gather with CancelledError (no return_exceptions)', () => {
  const f = new Future<number>({ loop });
  const other = new Task(after(5, 'y'), { loop });
  const g = gather(f, other, { loop });
  loop.call_later(1, () => f.cancel());
  throws_a(() => loop.run_until_complete(g), CancelledError);
  assert.is(loop.time(), 1);
  assert.is(g.cancelled(), false);
  assert.is(other.done(), false);
  other.cancel();
  throws_a(() => loop.run_until_complete(other), CancelledError);
});

test('gather: cancelling the gather cancels the children and ends it cancelled', () => {
  const log: string[] = [];
  function* child(name: string, delay: number): Coroutine<string> {
    try {
      yield* sleep(delay, undefined, { loop });
      return name;
    } catch (e) {
      log.push(`${name}:${(e as Error).name}@${loop.time()}`);
      throw e;
    }
  }
  const a = new Task(child('a', 5), { loop });
  const b = new Task(child('b', 10), { loop });
  const g = gather(a, b, { loop });
  loop.call_later(1, () => assert.is(g.cancel(), true));
  throws_a(() => loop.run_until_complete(g), CancelledError);
  assert.is(g.cancelled(), true);
  assert.is(a.cancelled(), true);
  assert.is(b.cancelled(), true);
  assert.equal(log, ['a:CancelledError@1', 'b:CancelledError@1']);
  assert.is(g.cancel(), false);
});

test('gather: cancelling the task that waits on a gather cancels the children', () => {
  const a = new Task(after(5, 'a'), { loop });
  const b = new Task(after(6, 'b'), { loop });
  function* waiter(): Coroutine<string[]> {
    return yield* gather(a, b, { loop });
  }
  const w = new Task(waiter(), { loop });
  loop.call_later(1, () => w.cancel());
  throws_a(() => loop.run_until_complete(w), CancelledError);
  assert.is(w.cancelled(), true);
  assert.is(a.cancelled(), true);
  assert.is(b.cancelled(), true);
});

test('gather: cancelling when every child is already done cancels the gather itself', () => {
  const f = new Future<number>({ loop });
  f.set_result(1);
  const g = gather(f, { loop });
  assert.is(g.cancel(), true);
  assert.is(g.cancelled(), true);
  loop.run_once();
  loop.run_once();
  assert.is(g.cancelled(), true);
});

test('gather of zero arguments is a future with an empty list', () => {
  const g = gather({ loop });
  assert.is(g.done(), true);
  assert.equal(g.result(), []);
  assert.is(g.get_loop(), loop);
  set_event_loop(loop);
  const g2 = gather();
  assert.equal(loop.run_until_complete(g2), []);
});

test('gather: yield* gather() in a coroutine', () => {
  function* coro(): Coroutine<string> {
    const [n, s] = yield* gather(after(2, 40), after(1, 'two'), { loop });
    return `${n + 2}/${s}`;
  }
  assert.is(loop.run_until_complete(coro()), '42/two');
});

test.run();
