/**
 * Synchronization primitives for coroutines (Tulip's `locks.py`, with asyncio 3.4's later names):
 * Lock, Event (the seed's EventWaiter is an alias of it), Condition, Semaphore and BoundedSemaphore.
 *
 * None of them is thread-safe, and none needs to be: coroutines only switch at a `yield*`, so plain fields
 * are enough. Blocking methods are coroutines, used with `yield*`:
 *
 *     yield* lock.acquire();
 *     try { ... } finally { lock.release(); }        // the explicit form: release on every exit path
 *
 *     const r = yield* lock.with(function* () { ... return value; });   // the same, as one call
 *
 * `with()` stands in for Python's `with (yield from lock):` and exists on Lock, Semaphore and Condition; it
 * releases on return, on throw and on cancellation.
 *
 * Timeouts (the seed's `timeout` argument) are honoured: `acquire({ timeout })` and `wait({ timeout })`
 * return false when the timeout expires, true otherwise. Unlike the seed, cancelling the *task* is not
 * turned into `false`: the CancelledError propagates, as it must for cancellation to work through
 * `yield*` chains.
 *
 * Fairness and the cancellation races. Waiters are woken strictly in FIFO order, and a released lock (or
 * semaphore unit) is *handed* to the first waiter rather than left free for whoever runs first: `release()`
 * keeps the lock locked and resolves the first waiter's future. A waiter can then be cancelled after being
 * handed the lock but before it runs; its `acquire()` sees that its future has a result and releases again,
 * which hands the lock to the next waiter — so a cancelled waiter never swallows a wake-up nor leaves the
 * lock held. Condition.wait() does the same with a notification it cannot use.
 */
import { RuntimeError } from '../src/errors.js';
import { get_event_loop, type AbstractEventLoop } from '../src/events.js';
import { CancelledError, Future, type Coroutine } from '../src/futures.js';

export interface LoopOption {
  loop?: AbstractEventLoop | undefined;
}

export interface TimeoutOption {
  /** Seconds to wait at most; null or undefined waits forever. */
  timeout?: number | null | undefined;
}

/** A block run while a primitive is held: a generator function, or a plain function. */
export type Block<R> = () => Coroutine<R> | R;

/** @internal removes `item` from `list` if it is there (waiter lists are short; order must be kept) */
export function _remove<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

/**
 * @internal Waits for `fut`; true when it completes, false when `timeout` expires first (the future is then
 * cancelled). A cancellation of the waiting task itself is not a timeout: it propagates.
 */
export function* _wait_on(loop: AbstractEventLoop, fut: Future<unknown>, timeout: number | null | undefined): Coroutine<boolean> {
  if (timeout === undefined || timeout === null) {
    yield* fut;
    return true;
  }
  if (typeof timeout !== 'number' || Number.isNaN(timeout)) throw new TypeError('timeout must be a number of seconds or null');
  let timed_out = false;
  const handle = loop.call_later(timeout, () => {
    if (!fut.done()) {
      timed_out = true;
      fut.cancel();
    }
  });
  try {
    yield* fut;
    return true;
  } catch (e) {
    if (timed_out && e instanceof CancelledError) return false;
    throw e;
  } finally {
    handle.cancel();
  }
}

/**
 * `with (yield from lock): ...` for Lock and Semaphore: acquires, runs `block` (a coroutine function or a
 * plain function) and returns its result, releasing on return, throw and cancellation.
 */
function* hold<R>(lock: { acquire(): Coroutine<boolean>; release(): void }, block: Block<R>): Coroutine<R> {
  yield* lock.acquire();
  try {
    const r = block();
    if (typeof r === 'object' && r !== null && typeof (r as Coroutine<R>).next === 'function' &&
        typeof (r as Coroutine<R>).throw === 'function') {
      return yield* r as Coroutine<R>;
    }
    return r as R;
  } finally {
    lock.release();
  }
}

/**
 * A primitive lock, owned by no particular coroutine: locked or unlocked. `acquire()` waits until it is
 * unlocked; `release()` of an unlocked lock raises RuntimeError.
 */
export class Lock {
  /** @internal */ _locked = false;
  /** @internal FIFO of waiting acquirers; a waiter's future gets `true` when the lock is handed to it */
  _waiters: Array<Future<boolean>> = [];
  /** @internal */ _loop: AbstractEventLoop;

  constructor(options?: LoopOption) {
    this._loop = options?.loop ?? get_event_loop();
  }

  /** True while the lock is held (including when it was just handed to a waiter that has not run yet). */
  locked(): boolean {
    return this._locked;
  }

  /** Acquires the lock, waiting if needed; true, or false if `timeout` expired first. */
  *acquire(options?: TimeoutOption): Coroutine<boolean> {
    // Unlocked implies no pending waiter (release() hands the lock over while any waits), so this is fair.
    if (!this._locked) {
      this._locked = true;
      return true;
    }
    const fut = new Future<boolean>({ loop: this._loop });
    this._waiters.push(fut);
    try {
      return yield* _wait_on(this._loop, fut, options?.timeout);
    } catch (e) {
      // Cancelled after the lock was handed to us: pass it on rather than keep it.
      if (fut.done() && !fut.cancelled()) this.release();
      throw e;
    } finally {
      _remove(this._waiters, fut);
    }
  }

  /** Releases the lock, handing it to the first waiter if any; RuntimeError if it is not locked. */
  release(): void {
    if (!this._locked) throw new RuntimeError('Lock.release(): the lock is not acquired');
    const waiters = this._waiters;
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i]!;
      if (!w.done()) {
        w.set_result(true); // stays locked: the lock now belongs to that waiter
        return;
      }
    }
    this._locked = false;
  }

  /** Runs `block` holding the lock and returns its result; releases on return, throw and cancellation. */
  *with<R>(block: Block<R>): Coroutine<R> {
    return yield* hold(this, block);
  }

  toString(): string {
    let s = `<${this.constructor.name} [${this._locked ? 'locked' : 'unlocked'}`;
    if (this._waiters.length > 0) s += `,waiters:${this._waiters.length}`;
    return s + ']>';
  }
}

/**
 * A flag coroutines can wait for (threading.Event's counterpart): `set()` wakes every waiter, `clear()`
 * resets it, `wait()` returns at once while it is set.
 */
export class Event {
  /** @internal */ _value = false;
  /** @internal */ _waiters: Array<Future<boolean>> = [];
  /** @internal */ _loop: AbstractEventLoop;

  constructor(options?: LoopOption) {
    this._loop = options?.loop ?? get_event_loop();
  }

  is_set(): boolean {
    return this._value;
  }

  /** Sets the flag and wakes every waiter (a later clear() does not un-wake them). */
  set(): void {
    if (this._value) return;
    this._value = true;
    for (const fut of this._waiters) if (!fut.done()) fut.set_result(true);
  }

  clear(): void {
    this._value = false;
  }

  /** Waits until the flag is set; true, or false if `timeout` expired first. */
  *wait(options?: TimeoutOption): Coroutine<boolean> {
    if (this._value) return true;
    const fut = new Future<boolean>({ loop: this._loop });
    this._waiters.push(fut);
    try {
      return yield* _wait_on(this._loop, fut, options?.timeout);
    } finally {
      _remove(this._waiters, fut);
    }
  }

  toString(): string {
    let s = `<${this.constructor.name} [${this._value ? 'set' : 'unset'}`;
    if (this._waiters.length > 0) s += `,waiters:${this._waiters.length}`;
    return s + ']>';
  }
}

/** The seed's name for Event: the same class. */
export const EventWaiter = Event;
export type EventWaiter = Event;

/**
 * A condition variable: coroutines holding its lock wait() until another notifies them. It has a lock of
 * its own unless one is given (several conditions may share one lock).
 */
export class Condition {
  /** @internal */ _lock: Lock;
  /** @internal FIFO of waiters; a notified waiter's future gets `true` */
  _waiters: Array<Future<boolean>> = [];
  /** @internal */ _loop: AbstractEventLoop;

  constructor(lock?: Lock | null, options?: LoopOption) {
    this._loop = options?.loop ?? lock?._loop ?? get_event_loop();
    if (lock && lock._loop !== this._loop) throw new RuntimeError('Condition(): the lock belongs to another event loop');
    this._lock = lock ?? new Lock({ loop: this._loop });
  }

  locked(): boolean {
    return this._lock.locked();
  }

  acquire(options?: TimeoutOption): Coroutine<boolean> {
    return this._lock.acquire(options);
  }

  release(): void {
    this._lock.release();
  }

  *with<R>(block: Block<R>): Coroutine<R> {
    return yield* this._lock.with(block);
  }

  /**
   * Releases the lock, waits until notified (or until `timeout` expires), then re-acquires the lock —
   * on every path, cancellation included, so the caller's `finally { release() }` is always right.
   * True if notified, false on timeout. RuntimeError if the lock is not held.
   */
  *wait(options?: TimeoutOption): Coroutine<boolean> {
    if (!this.locked()) throw new RuntimeError('Condition.wait(): cannot wait on an un-acquired lock');
    const fut = new Future<boolean>({ loop: this._loop });
    this._waiters.push(fut);
    this._lock.release();
    let notified = false;
    let error: unknown = undefined;
    let failed = false;
    try {
      notified = yield* _wait_on(this._loop, fut, options?.timeout);
    } catch (e) {
      failed = true;
      error = e;
    } finally {
      _remove(this._waiters, fut);
    }
    // Notified, then cancelled before we could act: the notification goes to the next waiter.
    if (failed && fut.done() && !fut.cancelled()) this._notify(1);
    for (;;) {
      try {
        yield* this._lock.acquire();
        break;
      } catch (e) {
        if (!(e instanceof CancelledError)) throw e;
        // Cancelled while re-acquiring: keep trying (we must return holding the lock), cancel afterwards.
        if (!failed) {
          failed = true;
          error = e;
        }
      }
    }
    if (failed) throw error;
    return notified;
  }

  /**
   * Waits until `predicate()` is truthy and returns its value. With `timeout`, gives up after that many
   * seconds in total and returns the predicate's last (falsy) value.
   */
  *wait_for<R>(predicate: () => R, options?: TimeoutOption): Coroutine<R> {
    const timeout = options?.timeout;
    const end = timeout === undefined || timeout === null ? null : this._loop.time() + timeout;
    let result = predicate();
    while (!result) {
      let wait_time: number | null = null;
      if (end !== null) {
        wait_time = end - this._loop.time();
        if (wait_time <= 0) break;
      }
      yield* this.wait({ timeout: wait_time });
      result = predicate();
    }
    return result;
  }

  /** Wakes up to `n` waiters (they return once they re-acquire the lock). RuntimeError if not held. */
  notify(n = 1): void {
    if (!this.locked()) throw new RuntimeError('Condition.notify(): cannot notify on an un-acquired lock');
    this._notify(n);
  }

  notify_all(): void {
    this.notify(this._waiters.length);
  }

  private _notify(n: number): void {
    let woken = 0;
    for (const fut of this._waiters) {
      if (woken >= n) break;
      if (!fut.done()) {
        woken++;
        fut.set_result(true);
      }
    }
  }

  toString(): string {
    let s = `<${this.constructor.name} [${this.locked() ? 'locked' : 'unlocked'}`;
    if (this._waiters.length > 0) s += `,waiters:${this._waiters.length}`;
    return s + ']>';
  }
}

/**
 * A counter of available units: `acquire()` takes one (waiting while there are none), `release()` gives
 * one back. Releasing more than was acquired is allowed here; BoundedSemaphore forbids it.
 */
export class Semaphore {
  /** @internal units available now */ _value: number;
  /** @internal */ _waiters: Array<Future<boolean>> = [];
  /** @internal */ _loop: AbstractEventLoop;

  constructor(value = 1, options?: LoopOption) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new RangeError(`Semaphore initial value must be an integer >= 0, got ${String(value)}`);
    }
    this._value = value;
    this._loop = options?.loop ?? get_event_loop();
  }

  /** True if acquire() would wait. */
  locked(): boolean {
    return this._value === 0;
  }

  /** Takes a unit, waiting if none is free; true, or false if `timeout` expired first. */
  *acquire(options?: TimeoutOption): Coroutine<boolean> {
    // A free unit implies no pending waiter (release() hands units over), so taking it is fair.
    if (this._value > 0) {
      this._value--;
      return true;
    }
    const fut = new Future<boolean>({ loop: this._loop });
    this._waiters.push(fut);
    try {
      return yield* _wait_on(this._loop, fut, options?.timeout);
    } catch (e) {
      if (fut.done() && !fut.cancelled()) this._give_back(); // handed a unit, then cancelled: pass it on
      throw e;
    } finally {
      _remove(this._waiters, fut);
    }
  }

  /** Gives a unit back, handing it to the first waiter if any. */
  release(): void {
    this._give_back();
  }

  /** @internal */
  _give_back(): void {
    const waiters = this._waiters;
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i]!;
      if (!w.done()) {
        w.set_result(true);
        return;
      }
    }
    this._value++;
  }

  *with<R>(block: Block<R>): Coroutine<R> {
    return yield* hold(this, block);
  }

  toString(): string {
    let s = `<${this.constructor.name} [${this.locked() ? 'locked' : `unlocked,value:${this._value}`}`;
    if (this._waiters.length > 0) s += `,waiters:${this._waiters.length}`;
    return s + ']>';
  }
}

/** A Semaphore whose release() raises (RangeError, Python's ValueError) past the initial value. */
export class BoundedSemaphore extends Semaphore {
  private readonly _bound_value: number;

  constructor(value = 1, options?: LoopOption) {
    super(value, options);
    this._bound_value = value;
  }

  override release(): void {
    if (this._value >= this._bound_value) throw new RangeError('BoundedSemaphore released too many times');
    super.release();
  }
}
