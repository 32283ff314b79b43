// Locks (coroutines/locks.ts): Tulip's locks_test cases on virtual time, plus the cancellation races.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BoundedSemaphore, CancelledError, Condition, Event, EventWaiter, Lock, RuntimeError, Semaphore, Task, TestLoop,
  sleep, type Coroutine,
} from '../src/index.js';
import { throws_a } from './support/asserts.js';
import { test_loop_each } from './support/loops.js';

let loop: TestLoop;
test_loop_each(test, (l) => (loop = l));

/** Runs a few turns: enough for wake-ups to propagate, without moving the clock. */
function settle(turns = 5): void {
  for (let i = 0; i < turns; i++) loop.run_once();
}


function* acquirer(lock: { acquire(): Coroutine<boolean> }, log: number[], id: number): Coroutine<boolean> {
  const ok = yield* lock.acquire();
  if (ok) log.push(id);
  return ok;
}

// ---- Lock -----------------------------------------------------------------------------------------------

test('Lock: toString shows the state; acquire locks, release unlocks', () => {
  const lock = new Lock({ loop });
  assert.match(String(lock), /\[unlocked\]>$/);
  assert.is(loop.run_until_complete(lock.acquire()), true);
  assert.match(String(lock), /\[locked\]>$/);
  assert.is(lock.locked(), true);
  lock.release();
  assert.is(lock.locked(), false);
});

test('Lock: release of an unlocked lock is a RuntimeError with a clear message', () => {
  throws_a(() => new Lock({ loop }).release(), RuntimeError, /not acquired/);
});

test('Lock: waiters acquire in FIFO order, one per release', () => {
  const lock = new Lock({ loop });
  const log: number[] = [];
  loop.run_until_complete(lock.acquire());
  const t1 = new Task(acquirer(lock, log, 1), { loop });
  const t2 = new Task(acquirer(lock, log, 2), { loop });
  settle();
  assert.equal(log, []);
  lock.release();
  settle();
  assert.equal(log, [1]);
  const t3 = new Task(acquirer(lock, log, 3), { loop });
  settle();
  assert.equal(log, [1]);
  lock.release();
  settle();
  assert.equal(log, [1, 2]);
  lock.release();
  settle();
  assert.equal(log, [1, 2, 3]);
  for (const t of [t1, t2, t3]) assert.is(t.result(), true);
  assert.is(lock.locked(), true);
});

test('Lock: a newcomer does not overtake a waiter the lock was handed to', () => {
  const lock = new Lock({ loop });
  const log: number[] = [];
  loop.run_until_complete(lock.acquire());
  new Task(acquirer(lock, log, 1), { loop });
  settle();
  lock.release();
  assert.is(lock.locked(), true, 'handed over, still locked');
  new Task(acquirer(lock, log, 2), { loop });
  settle();
  assert.equal(log, [1]);
  lock.release();
  settle();
  assert.equal(log, [1, 2]);
});

test('Lock: acquire with a timeout returns false after exactly that long', () => {
  const lock = new Lock({ loop });
  loop.run_until_complete(lock.acquire());
  assert.is(loop.run_until_complete(lock.acquire({ timeout: 0.1 })), false);
  assert.is(loop.time(), 0.1);
  assert.is(lock._waiters.length, 0);
  loop.call_later(0.01, () => lock.release());
  assert.is(loop.run_until_complete(lock.acquire({ timeout: 10 })), true);
  assert.is(lock.locked(), true);
});

test('Lock: a timed-out waiter among others leaves the rest waiting', () => {
  const lock = new Lock({ loop });
  loop.run_until_complete(lock.acquire());
  new Task(lock.acquire(), { loop });
  new Task(lock.acquire(), { loop });
  const timed = new Task(lock.acquire({ timeout: 0.01 }), { loop });
  new Task(lock.acquire(), { loop });
  assert.is(loop.run_until_complete(timed), false);
  assert.is(lock._waiters.length, 3);
});

test('Lock: cancelling a waiter raises CancelledError and removes it', () => {
  const lock = new Lock({ loop });
  loop.run_until_complete(lock.acquire());
  const task = new Task(lock.acquire(), { loop });
  loop.call_soon(() => task.cancel());
  throws_a(() => loop.run_until_complete(task), CancelledError);
  assert.is(lock._waiters.length, 0);
  assert.is(lock.locked(), true);
});

test('Lock race: a waiter cancelled after being handed the lock passes it on (no lost wake-up)', () => {
  const lock = new Lock({ loop });
  const log: number[] = [];
  loop.run_until_complete(lock.acquire());
  const t1 = new Task(acquirer(lock, log, 1), { loop });
  const t2 = new Task(acquirer(lock, log, 2), { loop });
  settle();
  lock.release(); // handed to t1, whose step is now scheduled
  t1.cancel(); // ... but it is cancelled before it runs
  settle();
  assert.is(t1.cancelled(), true);
  assert.equal(log, [2]);
  assert.is(t2.result(), true);
  assert.is(lock.locked(), true);
  lock.release();
  assert.is(lock.locked(), false);
});

test('Lock race: the last waiter cancelled after the hand-over leaves the lock unlocked', () => {
  const lock = new Lock({ loop });
  loop.run_until_complete(lock.acquire());
  const t1 = new Task(lock.acquire(), { loop });
  settle();
  lock.release();
  t1.cancel();
  settle();
  assert.is(t1.cancelled(), true);
  assert.is(lock.locked(), false);
  assert.is(lock._waiters.length, 0);
});

test('Lock race: a waiter cancelled before release does not absorb the release', () => {
  const lock = new Lock({ loop });
  const log: number[] = [];
  loop.run_until_complete(lock.acquire());
  const t1 = new Task(acquirer(lock, log, 1), { loop });
  const t2 = new Task(acquirer(lock, log, 2), { loop });
  settle();
  t1.cancel();
  lock.release(); // t1's future is cancelled already: t2 gets it
  settle();
  assert.is(t1.cancelled(), true);
  assert.equal(log, [2]);
  assert.is(t2.result(), true);
});

test('Lock.with: returns the block result and releases on return, throw and cancellation', () => {
  const lock = new Lock({ loop });
  const r = loop.run_until_complete(lock.with(function* () {
    assert.is(lock.locked(), true);
    yield* sleep(1, undefined, { loop });
    return 42;
  }));
  assert.is(r, 42);
  assert.is(lock.locked(), false);
  throws_a(() => loop.run_until_complete(lock.with(function* () {
    yield* sleep(1, undefined, { loop });
    throw new Error('boom');
  })), Error, /boom/);
  assert.is(lock.locked(), false);
  const t = new Task(lock.with(function* () {
    yield* sleep(10, undefined, { loop });
  }), { loop });
  loop.call_later(1, () => t.cancel());
  throws_a(() => loop.run_until_complete(t), CancelledError);
  assert.is(lock.locked(), false);
  assert.is(loop.run_until_complete(lock.with(() => 'plain')), 'plain');
});

test('Lock.with: a task cancelled while waiting to enter never runs the block and releases nothing', () => {
  const lock = new Lock({ loop });
  loop.run_until_complete(lock.acquire());
  let ran = false;
  const t = new Task(lock.with(function* () {
    ran = true;
  }), { loop });
  settle();
  t.cancel();
  settle();
  assert.is(t.cancelled(), true);
  assert.is(ran, false);
  assert.is(lock.locked(), true);
});

// ---- Event ----------------------------------------------------------------------------------------------

test('Event: toString, set, clear; EventWaiter is the same class', () => {
  const ev = new EventWaiter({ loop });
  assert.ok(ev instanceof Event);
  assert.match(String(ev), /\[unset\]>$/);
  ev.set();
  assert.match(String(ev), /\[set\]>$/);
  assert.is(ev.is_set(), true);
  ev.clear();
  assert.is(ev.is_set(), false);
});

test('Event: set wakes every waiter; wait on a set event returns at once', () => {
  const ev = new Event({ loop });
  const log: number[] = [];
  function* c(id: number): Coroutine<boolean> {
    if (yield* ev.wait()) log.push(id);
    return true;
  }
  const ts = [1, 2, 3].map((i) => new Task(c(i), { loop }));
  settle();
  assert.equal(log, []);
  ev.set();
  settle();
  assert.equal(log, [1, 2, 3]);
  for (const t of ts) assert.is(t.result(), true);
  assert.is(loop.run_until_complete(ev.wait()), true);
  assert.is(ev._waiters.length, 0);
});

test('Event: wait with a timeout returns false; mixed with others', () => {
  const ev = new Event({ loop });
  assert.is(loop.run_until_complete(ev.wait({ timeout: 0.1 })), false);
  assert.is(loop.time(), 0.1);
  const other = new Task(ev.wait(), { loop });
  const timed = new Task(ev.wait({ timeout: 0.1 }), { loop });
  assert.is(loop.run_until_complete(timed), false);
  assert.is(other.done(), false);
  assert.is(ev._waiters.length, 1);
  ev.set();
  assert.is(loop.run_until_complete(other), true);
});

test('Event: a cancelled waiter raises CancelledError and is removed', () => {
  const ev = new Event({ loop });
  const t = new Task(ev.wait(), { loop });
  loop.call_soon(() => t.cancel());
  throws_a(() => loop.run_until_complete(t), CancelledError);
  assert.is(ev._waiters.length, 0);
});

test('Event: set, clear, set again wakes a waiter exactly once', () => {
  const ev = new Event({ loop });
  const log: number[] = [];
  const t = new Task((function* () {
    if (yield* ev.wait()) log.push(1);
    return true;
  })(), { loop });
  settle();
  ev.set();
  ev.clear();
  assert.is(ev.is_set(), false);
  ev.set();
  ev.set();
  assert.is(ev._waiters.length, 1);
  settle();
  assert.equal(log, [1]);
  assert.is(ev._waiters.length, 0);
  assert.is(t.result(), true);
});

// ---- Condition ------------------------------------------------------------------------------------------

function* cond_waiter(cond: Condition, log: number[], id: number): Coroutine<boolean> {
  yield* cond.acquire();
  if (yield* cond.wait()) log.push(id);
  return true;
}

test('Condition: notify wakes waiters in order, each once it can re-acquire the lock', () => {
  const cond = new Condition(null, { loop });
  const log: number[] = [];
  const ts = [1, 2, 3].map((i) => new Task(cond_waiter(cond, log, i), { loop }));
  settle();
  assert.equal(log, []);
  assert.is(cond.locked(), false);
  assert.is(loop.run_until_complete(cond.acquire()), true);
  cond.notify();
  settle();
  assert.equal(log, []);
  assert.is(cond.locked(), true);
  cond.release();
  settle();
  assert.equal(log, [1]);
  assert.is(cond.locked(), true);
  cond.notify(2);
  settle();
  assert.equal(log, [1]);
  cond.release();
  settle();
  assert.equal(log, [1, 2]);
  cond.release();
  settle();
  assert.equal(log, [1, 2, 3]);
  assert.is(cond.locked(), true);
  for (const t of ts) assert.is(t.result(), true);
});

test('Condition: notify_all wakes everyone', () => {
  const cond = new Condition(null, { loop });
  const log: number[] = [];
  function* c(id: number): Coroutine<void> {
    yield* cond.acquire();
    if (yield* cond.wait()) log.push(id);
    cond.release();
  }
  [1, 2, 3].forEach((i) => new Task(c(i), { loop }));
  settle();
  loop.run_until_complete(cond.acquire());
  cond.notify_all();
  cond.release();
  settle(10);
  assert.equal(log, [1, 2, 3]);
});

test('Condition: wait with a timeout returns false holding the lock', () => {
  const cond = new Condition(null, { loop });
  loop.run_until_complete(cond.acquire());
  assert.is(loop.run_until_complete(cond.wait({ timeout: 0.1 })), false);
  assert.is(cond.locked(), true);
  assert.is(loop.time(), 0.1);
});

test('Condition: a cancelled wait raises CancelledError and still returns holding the lock', () => {
  const cond = new Condition(null, { loop });
  loop.run_until_complete(cond.acquire());
  const t = new Task(cond.wait(), { loop });
  loop.call_soon(() => t.cancel());
  throws_a(() => loop.run_until_complete(t), CancelledError);
  assert.is(cond._waiters.length, 0);
  assert.is(cond.locked(), true);
});

test('Condition race: a waiter cancelled after being notified passes the notification on', () => {
  const cond = new Condition(null, { loop });
  const log: number[] = [];
  // The usual shape: wait() returns (or raises) holding the lock, and finally releases it.
  function* c(id: number): Coroutine<boolean> {
    yield* cond.acquire();
    try {
      if (yield* cond.wait()) log.push(id);
      return true;
    } finally {
      if (id !== 2) cond.release();
    }
  }
  const t1 = new Task(c(1), { loop });
  const t2 = new Task(c(2), { loop });
  settle();
  loop.run_until_complete(cond.acquire());
  cond.notify(1);
  t1.cancel();
  cond.release();
  settle(10);
  assert.is(t1.cancelled(), true);
  assert.equal(log, [2]);
  assert.is(t2.result(), true);
  assert.is(cond.locked(), true, 't2 holds it');
});

test('Condition: wait and notify without the lock are RuntimeErrors', () => {
  const cond = new Condition(null, { loop });
  throws_a(() => loop.run_until_complete(cond.wait()), RuntimeError, /un-acquired/);
  throws_a(() => cond.notify(), RuntimeError, /un-acquired/);
  throws_a(() => cond.notify_all(), RuntimeError, /un-acquired/);
});

test('Condition.wait_for: waits until the predicate holds, returns its value', () => {
  const cond = new Condition(null, { loop });
  let ready = false;
  const log: number[] = [];
  const t = new Task((function* () {
    yield* cond.acquire();
    if (yield* cond.wait_for(() => ready)) {
      log.push(1);
      cond.release();
    }
    return true;
  })(), { loop });
  settle();
  loop.run_until_complete(cond.acquire());
  cond.notify();
  cond.release();
  settle();
  assert.equal(log, []);
  ready = true;
  loop.run_until_complete(cond.acquire());
  cond.notify();
  cond.release();
  settle();
  assert.equal(log, [1]);
  assert.is(t.result(), true);
  // A predicate true at once needs no lock; a false one does.
  assert.equal(loop.run_until_complete(cond.wait_for(() => [1, 2, 3])), [1, 2, 3]);
  throws_a(() => loop.run_until_complete(cond.wait_for(() => false)), RuntimeError);
});

test('Condition.wait_for with a timeout: gives up after the total time, predicate checked each wake', () => {
  const cond = new Condition(null, { loop });
  let calls = 0;
  const predicate = (): boolean => {
    calls++;
    return false;
  };
  const log: number[] = [];
  const t = new Task((function* () {
    yield* cond.acquire();
    log.push((yield* cond.wait_for(predicate, { timeout: 0.1 })) ? 1 : 2);
    cond.release();
  })(), { loop });
  settle();
  loop.run_until_complete(cond.acquire());
  cond.notify();
  cond.release();
  settle();
  assert.equal(log, []);
  loop.run_until_complete(t);
  assert.equal(log, [2]);
  assert.is(calls, 3);
  assert.is(loop.time(), 0.1);
});

test('Condition: a shared lock; with() holds it', () => {
  const lock = new Lock({ loop });
  const cond = new Condition(lock, { loop });
  assert.is(loop.run_until_complete(cond.with(function* () {
    return lock.locked();
  })), true);
  assert.is(lock.locked(), false);
});

// ---- Semaphore ------------------------------------------------------------------------------------------

test('Semaphore: counts units; toString; bad initial value', () => {
  const sem = new Semaphore(2, { loop });
  assert.match(String(sem), /unlocked,value:2\]>$/);
  assert.is(loop.run_until_complete(sem.acquire()), true);
  assert.is(loop.run_until_complete(sem.acquire()), true);
  assert.is(sem.locked(), true);
  assert.match(String(sem), /\[locked\]>$/);
  sem.release();
  assert.is(sem.locked(), false);
  throws_a(() => new Semaphore(-1, { loop }), RangeError);
  assert.is(new Semaphore(undefined, { loop })._value, 1);
});

test('Semaphore: waiters get units in FIFO order', () => {
  const sem = new Semaphore(3, { loop });
  const log: number[] = [];
  for (let i = 0; i < 3; i++) loop.run_until_complete(sem.acquire());
  const ts = [1, 2, 3].map((i) => new Task(acquirer(sem, log, i), { loop }));
  settle();
  assert.equal(log, []);
  sem.release();
  sem.release();
  settle();
  assert.equal(log, [1, 2]);
  sem.release();
  settle();
  assert.equal(log, [1, 2, 3]);
  for (const t of ts) assert.is(t.result(), true);
  assert.is(sem._value, 0);
});

test('Semaphore: acquire timeout, alone and mixed', () => {
  const sem = new Semaphore(1, { loop });
  loop.run_until_complete(sem.acquire());
  assert.is(loop.run_until_complete(sem.acquire({ timeout: 0.1 })), false);
  new Task(sem.acquire(), { loop });
  const timed = new Task(sem.acquire({ timeout: 0.1 }), { loop });
  new Task(sem.acquire(), { loop });
  assert.is(loop.run_until_complete(timed), false);
  assert.is(sem._waiters.length, 2);
});

test('Semaphore: a cancelled waiter is removed; one cancelled after the hand-over passes the unit on', () => {
  const sem = new Semaphore(1, { loop });
  const log: number[] = [];
  loop.run_until_complete(sem.acquire());
  const t0 = new Task(sem.acquire(), { loop });
  loop.call_soon(() => t0.cancel());
  throws_a(() => loop.run_until_complete(t0), CancelledError);
  assert.is(sem._waiters.length, 0);
  const t1 = new Task(acquirer(sem, log, 1), { loop });
  const t2 = new Task(acquirer(sem, log, 2), { loop });
  settle();
  sem.release();
  t1.cancel();
  settle();
  assert.equal(log, [2]);
  assert.is(t2.result(), true);
  sem.release();
  assert.is(sem._value, 1);
});

test('Semaphore.with and BoundedSemaphore: releasing too often raises', () => {
  const sem = new BoundedSemaphore(1, { loop });
  assert.is(loop.run_until_complete(sem.with(function* () {
    return sem.locked();
  })), true);
  assert.is(sem.locked(), false);
  throws_a(() => sem.release(), RangeError, /too many times/);
  const plain = new Semaphore(1, { loop });
  plain.release();
  assert.is(plain._value, 2);
});

test.run();
