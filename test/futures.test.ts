// Future (Tulip's futures.py): state machine, done callbacks through call_soon, the iterator protocol that
// `yield*` drives, the seed's `timeout` option, and the report of exceptions nobody retrieved.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { get_gc } from './support/gc.js';
import {
  CancelledError, Future, InvalidStateError, Task, TestLoop, isfuture, logger,
  type Coroutine, type LogRecord,
} from '../src/index.js';

let loop: TestLoop;

test.before.each(() => {
  loop = new TestLoop();
});

test.after.each(() => {
  loop.close();
});

test('initial state: pending, not cancelled, not running', () => {
  const f = new Future<number>({ loop });
  assert.is(f.done(), false);
  assert.is(f.cancelled(), false);
  assert.is(f.running(), false);
  assert.is(f.get_loop(), loop);
  assert.is(isfuture(f), true);
  assert.is(isfuture({}), false);
  assert.is(String(f), 'Future<PENDING>');
});

test('the seed name event_loop is accepted', () => {
  const f = new Future({ event_loop: loop });
  assert.is(f.get_loop(), loop);
});

test('result() and exception() of a pending future raise InvalidStateError', () => {
  const f = new Future<number>({ loop });
  assert.throws(() => f.result(), (e: unknown) => e instanceof InvalidStateError);
  assert.throws(() => f.exception(), (e: unknown) => e instanceof InvalidStateError);
});

test('cancel() returns true once, then false; result() raises CancelledError', () => {
  const f = new Future<number>({ loop });
  assert.is(f.cancel(), true);
  assert.is(f.cancelled(), true);
  assert.is(f.done(), true);
  assert.is(f.cancel(), false);
  assert.throws(() => f.result(), (e: unknown) => e instanceof CancelledError);
  assert.throws(() => f.exception(), (e: unknown) => e instanceof CancelledError);
  assert.throws(() => f.set_result(1), (e: unknown) => e instanceof InvalidStateError);
  assert.throws(() => f.set_exception(new Error('x')), (e: unknown) => e instanceof InvalidStateError);
  assert.is(String(f), 'Future<CANCELLED>');
});

test('set_result: result() returns it, exception() is null, cancel() is false', () => {
  const f = new Future<number>({ loop });
  f.set_result(42);
  assert.is(f.done(), true);
  assert.is(f.cancelled(), false);
  assert.is(f.result(), 42);
  assert.is(f.exception(), null);
  assert.is(f.cancel(), false);
  assert.is(f.cancelled(), false);
  assert.is(String(f), 'Future<result=42>');
});

test('set_result twice raises InvalidStateError and keeps the first result', () => {
  const f = new Future<string>({ loop });
  f.set_result('first');
  assert.throws(() => f.set_result('second'), (e: unknown) => e instanceof InvalidStateError);
  assert.throws(() => f.set_exception(new Error('late')), (e: unknown) => e instanceof InvalidStateError);
  assert.is(f.result(), 'first');
});

test('set_exception: result() raises it, exception() returns it', () => {
  const f = new Future<number>({ loop });
  const err = new RangeError('boom');
  f.set_exception(err);
  assert.is(f.done(), true);
  assert.is(f.cancelled(), false);
  assert.throws(() => f.result(), (e: unknown) => e === err);
  assert.is(f.exception(), err);
  assert.is(f.cancel(), false);
  assert.throws(() => f.set_result(1), (e: unknown) => e instanceof InvalidStateError);
});

test('set_exception(null/undefined) is a TypeError and leaves the future pending', () => {
  const f = new Future<number>({ loop });
  assert.throws(() => f.set_exception(null), (e: unknown) => e instanceof TypeError);
  assert.throws(() => f.set_exception(undefined), (e: unknown) => e instanceof TypeError);
  assert.is(f.done(), false);
});

test('result null is a result, not "no result"', () => {
  const f = new Future<null>({ loop });
  f.set_result(null);
  assert.is(f.result(), null);
  assert.is(f.exception(), null);
});

test('done callbacks are scheduled with call_soon, not run inline, in registration order', () => {
  const f = new Future<number>({ loop });
  const calls: string[] = [];
  f.add_done_callback((fut) => calls.push(`a:${fut.result()}`));
  f.add_done_callback((fut) => calls.push(`b:${fut.result()}`));
  f.add_done_callback(() => calls.push('c'));
  f.set_result(7);
  assert.equal(calls, []);
  loop.run_once();
  assert.equal(calls, ['a:7', 'b:7', 'c']);
  loop.run_once();
  assert.equal(calls, ['a:7', 'b:7', 'c']);
});

test('done callbacks receive the future itself', () => {
  const f = new Future<number>({ loop });
  let got: unknown = null;
  f.add_done_callback((fut) => {
    got = fut;
  });
  f.cancel();
  assert.is(got, null);
  loop.run_once();
  assert.is(got, f);
});

test('callbacks run on set_exception and on cancel too', () => {
  const calls: string[] = [];
  const f1 = new Future<number>({ loop });
  const f2 = new Future<number>({ loop });
  f1.add_done_callback((f) => calls.push(`f1:${(f.exception() as Error).message}`));
  f2.add_done_callback((f) => calls.push(`f2:${f.cancelled()}`));
  f1.set_exception(new Error('bad'));
  f2.cancel();
  assert.equal(calls, []);
  loop.run_once();
  assert.equal(calls, ['f1:bad', 'f2:true']);
});

test('add_done_callback on a done future is scheduled too, not called inline', () => {
  const f = new Future<number>({ loop });
  f.set_result(3);
  loop.run_once();
  const calls: number[] = [];
  f.add_done_callback((fut) => calls.push(fut.result()));
  assert.equal(calls, []);
  loop.run_once();
  assert.equal(calls, [3]);
});

test('add_done_callback with a non-function is a TypeError', () => {
  const f = new Future({ loop });
  assert.throws(() => f.add_done_callback(42 as unknown as () => void), (e: unknown) => e instanceof TypeError);
});

test('remove_done_callback returns how many registrations it removed', () => {
  const f = new Future<number>({ loop });
  const calls: string[] = [];
  const a = (): void => {
    calls.push('a');
  };
  const b = (): void => {
    calls.push('b');
  };
  assert.is(f.remove_done_callback(a), 0);
  f.add_done_callback(a);
  f.add_done_callback(b);
  f.add_done_callback(a);
  f.add_done_callback(b);
  f.add_done_callback(a);
  assert.is(f.remove_done_callback(a), 3);
  assert.is(f.remove_done_callback(a), 0);
  f.set_result(1);
  loop.run_once();
  assert.equal(calls, ['b', 'b']);
  // After completion the callbacks are gone: nothing left to remove.
  assert.is(f.remove_done_callback(b), 0);
});

test('a callback added while others run is scheduled for a later turn', () => {
  const f = new Future<number>({ loop });
  const calls: string[] = [];
  f.add_done_callback(() => {
    calls.push('first');
    f.add_done_callback(() => calls.push('late'));
  });
  f.set_result(1);
  loop.run_once();
  assert.equal(calls, ['first']);
  loop.run_once();
  assert.equal(calls, ['first', 'late']);
});

test('iterating a done future returns its result at once', () => {
  const f = new Future<number>({ loop });
  f.set_result(5);
  const it = f[Symbol.iterator]();
  assert.equal(it.next(), { done: true, value: 5 });
});

test('iterating a pending future yields the future itself', () => {
  const f = new Future<number>({ loop });
  const it = f[Symbol.iterator]();
  const r = it.next();
  assert.is(r.done, false);
  assert.is(r.value as unknown, f);
  f.cancel(); // clean up
});

test('yield* on a future inside a Task gives its result', () => {
  const f = new Future<number>({ loop });
  const log: string[] = [];
  function* coro(): Coroutine<number> {
    log.push('before');
    const v = yield* f;
    log.push(`after:${v}`);
    return v * 2;
  }
  const t = new Task(coro(), { loop });
  loop.call_later(1, () => f.set_result(21));
  assert.is(loop.run_until_complete(t), 42);
  assert.equal(log, ['before', 'after:21']);
  assert.is(loop.time(), 1);
});

test('yield* on a future with an exception raises it at the yield point', () => {
  const f = new Future<number>({ loop });
  const err = new Error('stored');
  const log: string[] = [];
  function* coro(): Coroutine<string> {
    try {
      yield* f;
      log.push('not reached');
      return 'no';
    } catch (e) {
      log.push(`caught:${(e as Error).message}`);
      assert.is(e, err);
      return 'handled';
    }
  }
  const t = new Task(coro(), { loop });
  loop.call_soon(() => f.set_exception(err));
  assert.is(loop.run_until_complete(t), 'handled');
  assert.equal(log, ['caught:stored']);
});

test('the stack of an exception raised at yield* shows the coroutine', () => {
  const f = new Future<number>({ loop });
  function* inner_coroutine_frame(): Coroutine<number> {
    return yield* f;
  }
  const t = new Task(inner_coroutine_frame(), { loop });
  loop.call_soon(() => f.set_exception(new Error('x')));
  let caught: unknown;
  try {
    loop.run_until_complete(t);
  } catch (e) {
    caught = e;
  }
  assert.instance(caught, Error);
  assert.is((caught as Error).message, 'x');
});

test('yield* on a cancelled future raises CancelledError in the coroutine', () => {
  const f = new Future<number>({ loop });
  function* coro(): Coroutine<string> {
    try {
      yield* f;
      return 'no';
    } catch (e) {
      return e instanceof CancelledError ? 'cancelled' : 'other';
    }
  }
  const t = new Task(coro(), { loop });
  loop.call_soon(() => f.cancel());
  assert.is(loop.run_until_complete(t), 'cancelled');
});

test('yield* on the same done future twice returns the result twice', () => {
  const f = new Future<number>({ loop });
  function* coro(): Coroutine<number[]> {
    const a = yield* f;
    const b = yield* f;
    return [a, b];
  }
  loop.call_soon(() => f.set_result(9));
  assert.equal(loop.run_until_complete(coro()), [9, 9]);
});

test('timeout option: the future is cancelled when the time is up', () => {
  const f = new Future<number>({ loop, timeout: 10 });
  const calls: number[] = [];
  f.add_done_callback(() => calls.push(loop.time()));
  loop.advance_time(9.9);
  loop.run_once();
  assert.is(f.done(), false);
  loop.advance_time(0.1);
  loop.run_once();
  assert.is(f.cancelled(), true);
  loop.run_once();
  assert.equal(calls, [10]);
});

test('timeout option: a result before the timeout wins and the timer is cancelled', () => {
  const f = new Future<number>({ loop, timeout: 10 });
  f.set_result(1);
  loop.advance_time(20);
  loop.run_once();
  loop.run_once();
  assert.is(f.cancelled(), false);
  assert.is(f.result(), 1);
  // The cancelled timer is no longer live in the heap.
  assert.is(loop._scheduled.peek(), undefined);
});

test('timeout option through run_until_complete: the waiting task ends cancelled', () => {
  const f = new Future<number>({ loop, timeout: 3 });
  function* coro(): Coroutine<number> {
    return yield* f;
  }
  assert.throws(() => loop.run_until_complete(coro()), (e: unknown) => e instanceof CancelledError);
  assert.is(loop.time(), 3);
});

test('timeout option: null and undefined mean no timeout', () => {
  const f = new Future<number>({ loop, timeout: null });
  assert.is(loop._scheduled.size, 0);
  f.cancel();
});

// ---- Unretrieved exceptions ------------------------------------------------------------------------------

function capture(): { records: LogRecord[]; restore(): void } {
  const records: LogRecord[] = [];
  const saved = logger.handler;
  logger.handler = (rec) => records.push(rec);
  return { records, restore: () => (logger.handler = saved) };
}

async function collect(): Promise<void> {
  const gc = get_gc();
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
}

function make_failed_future(l: TestLoop, message: string, retrieve: boolean): void {
  const f = new Future<number>({ loop: l });
  f.set_exception(new Error(message));
  if (retrieve) f.exception();
}

test('an exception never retrieved is logged when the future is collected', async () => {
  const cap = capture();
  try {
    make_failed_future(loop, 'lost-error-1', false);
    await collect();
    const hits = cap.records.filter((r) => r.message.includes('exception was never retrieved'));
    assert.is(hits.length, 1);
    assert.is(hits[0]!.level, 'error');
    assert.is((hits[0]!.error as Error).message, 'lost-error-1');
  } finally {
    cap.restore();
  }
});

test('a retrieved exception (exception() or result()) is not logged', async () => {
  const cap = capture();
  try {
    make_failed_future(loop, 'kept-error-2', true);
    (() => {
      const f = new Future<number>({ loop });
      f.set_exception(new Error('kept-error-3'));
      try {
        f.result();
      } catch {
        // retrieved
      }
    })();
    (() => {
      const f = new Future<number>({ loop });
      f.set_result(1); // no exception at all
    })();
    await collect();
    assert.equal(cap.records.map((r) => r.message), []);
  } finally {
    cap.restore();
  }
});

test('a failed task whose exception nobody retrieved is logged too', async () => {
  const cap = capture();
  try {
    (() => {
      // eslint-disable-next-line require-yield
      function* failing(): Coroutine<void> {
        throw new Error('task-lost-4');
      }
      new Task(failing(), { loop });
      loop.run_once();
    })();
    await collect();
    const hits = cap.records.filter((r) => r.message.includes('exception was never retrieved'));
    assert.is(hits.length, 1);
    assert.is((hits[0]!.error as Error).message, 'task-lost-4');
  } finally {
    cap.restore();
  }
});

test.run();
