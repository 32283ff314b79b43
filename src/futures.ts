/**
 * Tulip's Future (`futures.py`): a result that will exist later, bound to one event loop.
 *
 * Differences from a Promise, all from PEP 3156: callbacks are always scheduled with `call_soon`, never run
 * inline; `result()` never waits (it raises `InvalidStateError` while pending); a future can be cancelled.
 *
 * A Future is its own iterator, and that is the only way anything suspends a Task:
 *   `const value = yield* future`
 * calls `next()`, which yields the future itself while it is pending (the Task then waits for it) and, once
 * resumed, returns `result()` — so a stored exception is raised at the `yield*`, inside the coroutine, with
 * the whole `yield*` chain on the stack. The yielded value is typed `Suspend`, a brand nothing else has, so
 * a coroutine that writes `yield future` (without the star) does not type-check where a Task takes it.
 */
import { AbstractEventLoop, get_event_loop, _capture_stack, _suspension_stack, type TimerHandle } from './events.js';
import { TimeoutError } from './errors.js';
import { logger } from './log.js';

export { TimeoutError };

/** The operation (or the future it waited for) was cancelled. */
export class CancelledError extends Error {
  override name = 'CancelledError';
  constructor(message = 'cancelled') {
    super(message);
  }
}

/** A future was asked for something its state does not allow (result() while pending, set_result twice). */
export class InvalidStateError extends Error {
  override name = 'InvalidStateError';
}

declare const SUSPEND: unique symbol;
/**
 * What a Future's iterator yields to the Task while the future is pending. Only a Future can produce one,
 * so `Generator<Suspend | undefined, T, unknown>` (a `Coroutine<T>`) admits `yield* future`, `yield*
 * coroutine()` and a bare `yield`, and rejects `yield future` at compile time.
 */
export interface Suspend {
  readonly [SUSPEND]: true;
}

/**
 * What `future[Symbol.iterator]()` returns (the future itself). Not `Iterator<Suspend, T>`: that type's
 * optional `return?(value?: T)` made TypeScript infer `T | undefined` (and, with `return(value?: unknown)`,
 * `unknown`) for a Task passed where `Future<T> | Coroutine<T>` is expected, e.g. `run_until_complete(task)`.
 */
export interface FutureIterator<T> {
  next(): IteratorResult<Suspend, T>;
  throw(e?: unknown): IteratorResult<Suspend, T>;
  return(value: T): IteratorResult<Suspend, T>;
}

/** A coroutine object: what calling a generator function written for tulip-ts returns. */
export type Coroutine<T = unknown> = Generator<Suspend | undefined, T, unknown>;

const PENDING = 0;
const CANCELLED = 1;
const FINISHED = 2;
const state_names = ['PENDING', 'CANCELLED', 'FINISHED'] as const;

type DoneCallback<T> = (future: Future<T>) => unknown;

/**
 * Exceptions set on a future and never looked at are reported when the future is collected. The registry
 * holds only what the report needs, never the future itself. Note that the report is made from Node's own
 * event loop, so it appears once `run_forever()` / `run_until_complete()` has returned control to Node.
 */
const unretrieved = new FinalizationRegistry<{ exception: unknown; description: string; source?: string | undefined }>((held) => {
  let message = `${held.description}: exception was never retrieved`;
  if (held.source) message += `\nfuture created at:\n${held.source}`;
  logger.error(message, held.exception);
});

export interface FutureOptions {
  /** The loop the future belongs to; by default `get_event_loop()`. (`event_loop` is the seed's name.) */
  loop?: AbstractEventLoop | undefined;
  event_loop?: AbstractEventLoop | undefined;
  /** The seed's `timeout`: cancel the future if it is not done after this many seconds. */
  timeout?: number | null | undefined;
}

export class Future<T = unknown> implements Iterator<Suspend, T, unknown> {
  /** @internal */ _state: number = PENDING;
  /** @internal */ _result: T | undefined = undefined;
  /** @internal */ _exception: unknown = undefined;
  /** @internal typed loosely on purpose: a Future<number> must still be usable as a Future<unknown> */
  _callbacks: Array<(future: never) => unknown> | null = null;
  /** @internal */ _loop: AbstractEventLoop;
  /** @internal set by next() when it yields, checked by Task: catches `yield fut` without the star. */
  _blocking = false;
  /** @internal */ _timeout_handle: TimerHandle | null = null;
  /** Where the future was created (debug mode only). */
  _source_traceback: string | undefined = undefined;
  /** @internal The frames of the coroutines that last suspended on this future (debug mode only). */
  _suspended_at: string[] | null = null;

  constructor(options?: FutureOptions) {
    const loop = options?.loop ?? options?.event_loop ?? get_event_loop();
    this._loop = loop;
    if (loop.get_debug()) this._source_traceback = _capture_stack();
    const timeout = options?.timeout;
    if (timeout !== undefined && timeout !== null) this._timeout_handle = loop.call_later(timeout, () => this.cancel());
  }

  /** The loop this future belongs to. */
  get_loop(): AbstractEventLoop {
    return this._loop;
  }

  /** Cancels a pending future and schedules its callbacks; false if it was already done. */
  cancel(): boolean {
    if (this._state !== PENDING) return false;
    this._state = CANCELLED;
    this._schedule_callbacks();
    return true;
  }

  cancelled(): boolean {
    return this._state === CANCELLED;
  }

  /** Always false: a Tulip future has no running state (PEP 3148 compatibility). */
  running(): boolean {
    return false;
  }

  /** True when a result or an exception is set, or the future was cancelled. */
  done(): boolean {
    return this._state !== PENDING;
  }

  /** The result; raises the stored exception, `CancelledError`, or `InvalidStateError` while pending. */
  result(): T {
    if (this._state === FINISHED) {
      if (this._exception !== undefined) {
        unretrieved.unregister(this);
        throw this._exception;
      }
      return this._result as T;
    }
    if (this._state === CANCELLED) throw new CancelledError();
    throw new InvalidStateError('Result is not ready.');
  }

  /** The stored exception, or null if a result was set; raises like `result()` otherwise. */
  exception(): unknown {
    if (this._state === FINISHED) {
      unretrieved.unregister(this);
      return this._exception === undefined ? null : this._exception;
    }
    if (this._state === CANCELLED) throw new CancelledError();
    throw new InvalidStateError('Exception is not set.');
  }

  /** Calls `fn(future)` through `call_soon` once the future is done (at once-scheduled if it is already). */
  add_done_callback(fn: DoneCallback<T>): void {
    if (typeof fn !== 'function') throw new TypeError('add_done_callback() takes a function');
    if (this._state !== PENDING) this._loop.call_soon(fn, this);
    else if (this._callbacks === null) this._callbacks = [fn];
    else this._callbacks.push(fn);
  }

  /** Removes every registration of `fn`; returns how many there were. */
  remove_done_callback(fn: DoneCallback<T>): number {
    const callbacks = this._callbacks;
    if (callbacks === null) return 0;
    const kept = callbacks.filter((cb) => cb !== fn);
    const removed = callbacks.length - kept.length;
    if (removed > 0) this._callbacks = kept;
    return removed;
  }

  set_result(result: T): void {
    if (this._state !== PENDING) throw new InvalidStateError(`set_result() on a future that is ${state_names[this._state]}`);
    this._result = result;
    this._state = FINISHED;
    this._schedule_callbacks();
  }

  set_exception(exception: unknown): void {
    if (this._state !== PENDING) throw new InvalidStateError(`set_exception() on a future that is ${state_names[this._state]}`);
    if (exception === undefined || exception === null) throw new TypeError('set_exception() needs an exception');
    this._exception = exception;
    this._state = FINISHED;
    // V8 formats an Error's stack lazily and until then keeps the frames' functions and receivers alive: an
    // error thrown in Task._step would hold the task itself, so the registry's held value would keep the
    // future from ever being collected (a leak, and no report). Reading .stack formats it now.
    if (exception instanceof Error) void exception.stack;
    unretrieved.register(this, { exception, description: this.toString(), source: this._source_traceback }, this);
    this._schedule_callbacks();
  }

  private _schedule_callbacks(): void {
    if (this._timeout_handle !== null) {
      this._timeout_handle.cancel();
      this._timeout_handle = null;
    }
    const callbacks = this._callbacks;
    if (callbacks === null) return;
    this._callbacks = null;
    const loop = this._loop;
    for (let i = 0; i < callbacks.length; i++) loop.call_soon(callbacks[i] as DoneCallback<T>, this);
  }

  // ---- The iterator protocol: what `yield*` drives. ----

  [Symbol.iterator](): FutureIterator<T> {
    return this;
  }

  /** Yields the future to the Task while pending; once resumed, returns the result (or raises). */
  next(): IteratorResult<Suspend, T> {
    if (this._state === PENDING) {
      this._blocking = true;
      // Debug mode: where the coroutines suspend, for Task.get_stack() (it costs microseconds).
      if (this._loop.get_debug()) this._suspended_at = _suspension_stack();
      return { done: false, value: this as unknown as Suspend };
    }
    return { done: true, value: this.result() };
  }

  /** `yield*` forwards a thrown exception (a cancellation) here; it belongs to the coroutine, so rethrow. */
  throw(e?: unknown): IteratorResult<Suspend, T> {
    throw e;
  }

  return(value: T): IteratorResult<Suspend, T> {
    return { done: true, value: value as T };
  }

  toString(): string {
    let s = this.constructor.name;
    if (this._state === FINISHED) {
      s += this._exception !== undefined ? `<exception=${String(this._exception)}>` : `<result=${short_repr(this._result)}>`;
    } else {
      s += `<${state_names[this._state]}>`;
    }
    return s;
  }
}

function short_repr(value: unknown): string {
  let s: string;
  try {
    s = typeof value === 'string' ? JSON.stringify(value) : String(value);
  } catch {
    s = Object.prototype.toString.call(value);
  }
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

/** True for a tulip-ts Future (or Task). */
export function isfuture(obj: unknown): obj is Future<unknown> {
  return obj instanceof Future;
}
