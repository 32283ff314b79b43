/**
 * Tasks and coroutines (Tulip's `tasks.py`; the waiting coroutines — sleep, wait, as_completed, wait_for,
 * gather — are written as coroutines in `coroutines/waiting.ts`).
 *
 * A Task drives a generator. Its invariant, as in Tulip: a pending task is either scheduled to step (a
 * `_step` is in the ready queue) or waiting on exactly one future (`_fut_waiter`, whose done callback will
 * step it) — never both, never neither. Each step resumes the generator with `next()` (the future it waited
 * on is done by then, and the future's own iterator returns its result) or with `throw(CancelledError)`.
 * Cancellation is always thrown in at the yield point, never `return()`ed, so `try/finally` and `catch` work
 * through `yield*` chains and a `finally` may itself `yield*`.
 */
import { writeSync } from 'node:fs';
import { AbstractEventLoop, get_event_loop, _capture_stack, _coroutine_frames, _suspension_stack } from './events.js';
import { RuntimeError } from './errors.js';
import { CancelledError, Future, type Coroutine, type FutureOptions, type Suspend } from './futures.js';
import { logger } from './log.js';

/** Anything a Task may be given to wait on with `yield*`: a future or a coroutine object. */
export type Awaitable<T> = Future<T> | Coroutine<T>;

function is_generator(obj: unknown): obj is Coroutine<unknown> {
  return (
    typeof obj === 'object' && obj !== null &&
    typeof (obj as Generator).next === 'function' && typeof (obj as Generator).throw === 'function' &&
    typeof (obj as Generator)[Symbol.iterator] === 'function'
  );
}

/** True for a coroutine object (a generator object). */
export function iscoroutine(obj: unknown): obj is Coroutine<unknown> {
  return is_generator(obj) && !(obj instanceof Future);
}

const GeneratorFunction = Object.getPrototypeOf(function* () {}).constructor as Function;
const COROUTINE = Symbol('tulip-ts.coroutine');

/** True for a generator function or a function marked with `coroutine()`. */
export function iscoroutinefunction(fn: unknown): boolean {
  return typeof fn === 'function' && (fn instanceof GeneratorFunction || (fn as { [COROUTINE]?: boolean })[COROUTINE] === true);
}

// ---- Debug: coroutines that were created and never started ---------------------------------------------

let debug_coroutines = Boolean(process.env['TULIP_DEBUG']);

/**
 * @internal Turns tracking of never-started coroutines on for functions decorated from now on. As with
 * Python's PYTHONASYNCIODEBUG, the choice is made when `coroutine()` decorates: set TULIP_DEBUG=1 in the
 * environment, or call `loop.set_debug(true)` before the decorated modules load.
 */
export function _set_coroutine_debug(enabled: boolean): void {
  debug_coroutines = enabled;
}

const never_started = new FinalizationRegistry<{ name: string; source: string | undefined }>((held) => {
  let message = `coroutine ${held.name} was never started: call it with yield*, or wrap it in a Task`;
  if (held.source) message += `\ncoroutine created at:\n${held.source}`;
  logger.warning(message);
});

/** A coroutine object that reports, when collected, if nothing ever drove it. Debug mode only. */
class CoroWrapper<T> implements Coroutine<T> {
  private _started = false;
  constructor(private readonly _gen: Coroutine<T>, readonly name: string) {
    never_started.register(this, { name, source: _capture_stack() }, this);
  }
  private _start(): void {
    if (!this._started) {
      this._started = true;
      never_started.unregister(this);
    }
  }
  next(...value: [] | [unknown]): IteratorResult<Suspend | undefined, T> {
    this._start();
    return this._gen.next(...value);
  }
  throw(e: unknown): IteratorResult<Suspend | undefined, T> {
    this._start();
    return this._gen.throw(e);
  }
  return(value: T): IteratorResult<Suspend | undefined, T> {
    this._start();
    return this._gen.return(value);
  }
  [Symbol.iterator](): this {
    return this;
  }
}

/**
 * The `@coroutine` decorator's counterpart. A generator function is marked and returned as it is (in debug
 * mode wrapped so that coroutines never started are reported). A plain function is adapted into a
 * generator function: if it returns a Future or a coroutine, the adapter waits for it with `yield*`.
 */
export function coroutine<A extends unknown[], T>(fn: (...args: A) => Coroutine<T>): (...args: A) => Coroutine<T>;
export function coroutine<A extends unknown[], T>(fn: (...args: A) => Awaitable<T> | T): (...args: A) => Coroutine<T>;
export function coroutine(fn: (...args: unknown[]) => unknown): (...args: unknown[]) => Coroutine<unknown> {
  if (typeof fn !== 'function') throw new TypeError('coroutine() decorates a function');
  let coro: (...args: unknown[]) => Coroutine<unknown>;
  if (fn instanceof GeneratorFunction) {
    coro = fn as (...args: unknown[]) => Coroutine<unknown>;
    if (debug_coroutines) {
      const gen_fn = coro;
      const name = fn.name || '<anonymous>';
      coro = function (this: unknown, ...args: unknown[]) {
        return new CoroWrapper(gen_fn.apply(this, args), name);
      };
    }
  } else {
    coro = function* (this: unknown, ...args: unknown[]): Coroutine<unknown> {
      const res = fn.apply(this, args);
      if (res instanceof Future || is_generator(res)) return yield* res as Coroutine<unknown>;
      return res;
    };
  }
  if (coro !== fn) Object.defineProperty(coro, 'name', { value: fn.name });
  (coro as unknown as { [COROUTINE]: boolean })[COROUTINE] = true;
  return coro;
}

// ---- Task -----------------------------------------------------------------------------------------------

/** Describes a bad yield for the error message thrown into the coroutine. */
function bad_yield_message(task: Task<unknown>, value: unknown): string {
  if (value instanceof Future) {
    return `yield was used instead of yield* in ${task} with ${value}: write \`yield* future\``;
  }
  if (is_generator(value)) {
    return `yield was used instead of yield* for a generator in ${task}: write \`yield* coro()\``;
  }
  if (value instanceof Promise) {
    return `${task} got bad yield: a Promise. Tasks wait only on tulip-ts futures and coroutines, with yield*`;
  }
  return `${task} got bad yield: ${String(value)}. Use yield* on a Future or a coroutine, or a bare yield to give up one turn`;
}

export interface TaskOptions {
  loop?: AbstractEventLoop | undefined;
  /** The seed's names, passed on to Future (the constructor already forwarded them, untyped). */
  event_loop?: AbstractEventLoop | undefined;
  /** The seed's `Task(coro, timeout=...)`: cancel the task if it is not done after this many seconds. */
  timeout?: number | null | undefined;
}

/** A coroutine wrapped in a Future: it runs on its own, and its result is the coroutine's return value. */
export class Task<T = unknown> extends Future<T> {
  /** @internal */ _coro: Coroutine<T>;
  /** @internal the future this task waits on, if any */ _fut_waiter: Future<unknown> | null = null;
  /** @internal throw CancelledError at the next step */ _must_cancel = false;
  /** @internal bound once per task, so that waking it allocates no closure (it ignores its argument) */
  private readonly _wakeup: () => void;

  constructor(coro: Coroutine<T>, options?: TaskOptions) {
    if (!is_generator(coro) || coro instanceof Future) {
      throw new TypeError(
        typeof coro === 'function'
          ? 'Task() needs a coroutine object, not a function: call the generator function first, Task(f())'
          : `Task() needs a coroutine object (a generator), got ${String(coro)}`,
      );
    }
    super(options as FutureOptions | undefined);
    this._coro = coro;
    this._wakeup = () => this._step();
    const loop = this._loop;
    loop.call_soon(this._wakeup);
    // The loop keeps pending tasks alive: a task waiting on a future nobody else references must not be
    // collected (and silently vanish) before it finishes.
    loop._tasks.add(this as Task<unknown>);
  }

  /** The task that is running on `loop` right now (the one calling this), or null. */
  static current_task(loop?: AbstractEventLoop): Task<unknown> | null {
    return (loop ?? get_event_loop())._current_task;
  }

  /** The pending tasks of `loop`. */
  static all_tasks(loop?: AbstractEventLoop): Set<Task<unknown>> {
    return new Set((loop ?? get_event_loop())._tasks);
  }

  /** The generator this task drives. */
  get_coro(): Coroutine<T> {
    return this._coro;
  }

  /**
   * The task's stack, as asyncio's `get_stack()`, oldest frame first (each a V8 frame line, `at f (file:l:c)`):
   * - running (called from inside it): the frames of its yield* chain, live;
   * - suspended on a future: the frames of its whole yield* chain at that point (where Python shows only
   *   the outermost one). Recorded at each suspension in debug mode only (`loop.set_debug(true)` or
   *   TULIP_DEBUG=1), since capturing a stack costs microseconds: otherwise none;
   * - failed: the coroutine frames of its exception (which run through the whole yield* chain);
   * - otherwise (done, or not started): none.
   * With `limit`, the newest `limit` frames of a stack and the oldest of an exception's, as in Python.
   */
  get_stack(options: { limit?: number | null } = {}): string[] {
    const limit = options.limit ?? null;
    if (limit !== null && !(Number.isSafeInteger(limit) && limit >= 0)) throw new RangeError(`limit must be an integer >= 0 or null, got ${limit}`);
    if (this.done()) {
      const exc = this.cancelled() ? null : this.exception();
      const frames = exc instanceof Error && exc.stack ? _coroutine_frames(exc.stack).reverse() : [];
      return limit === null ? frames : frames.slice(0, limit);
    }
    const live = this._loop._current_task === (this as Task<unknown>);
    const frames = (live ? _suspension_stack() : this._fut_waiter?._suspended_at ?? []).slice().reverse();
    return limit === null ? frames : frames.slice(Math.max(0, frames.length - limit));
  }

  /** Prints get_stack() (asyncio's print_stack()), to standard error unless `file` is given. */
  print_stack(options: { limit?: number | null; file?: { write(text: string): unknown } } = {}): void {
    const frames = this.get_stack({ limit: options.limit ?? null });
    const exc = this.done() && !this.cancelled() ? this.exception() : null;
    let text: string;
    if (frames.length === 0) text = `No stack for ${this}\n`;
    else text = `${exc !== null ? 'Traceback' : 'Stack'} for ${this} (most recent call last):\n${frames.map((f) => `  ${f}\n`).join('')}`;
    if (exc !== null) text += `${exc instanceof Error ? `${exc.name}: ${exc.message}` : String(exc)}\n`;
    if (options.file) options.file.write(text);
    else writeSync(2, text); // synchronous: process.stderr may not flush while a tulip loop runs
  }

  /**
   * Asks the task to cancel itself: `CancelledError` is thrown into the coroutine at its current yield
   * point (by cancelling the future it waits on, or at its next step). The coroutine may catch it and go on;
   * the task ends cancelled only if the error propagates out. Returns false if the task is already done.
   */
  override cancel(): boolean {
    if (this.done()) return false;
    if (this._fut_waiter !== null && this._fut_waiter.cancel()) {
      // The waiter's done callback steps us, and the waiter's iterator raises CancelledError in the coroutine.
      return true;
    }
    this._must_cancel = true;
    return true;
  }

  /**
   * Runs the coroutine until its next suspension, throwing `exc` in at the yield point if one is given.
   * Called only from the loop (a call_soon'd step or the waiter's done callback).
   */
  private _step(exc?: unknown): void {
    if (this.done()) return;
    if (this._must_cancel) {
      if (!(exc instanceof CancelledError)) exc = new CancelledError();
      this._must_cancel = false;
    }
    const loop = this._loop;
    this._fut_waiter = null;
    const previous = loop._current_task;
    loop._current_task = this as Task<unknown>;
    let r: IteratorResult<unknown, T>;
    try {
      r = exc === undefined ? this._coro.next() : this._coro.throw(exc);
    } catch (e) {
      this._finish();
      if (e instanceof CancelledError) super.cancel();
      // `throw null` / `throw undefined` cannot be stored (set_exception would throw and leave the task
      // pending forever): fail the task with a TypeError instead, as Python does for `raise None`.
      else if (e === undefined || e === null) this.set_exception(new TypeError(`${this} threw ${e}: throw an Error`));
      else this.set_exception(e);
      return;
    } finally {
      loop._current_task = previous;
    }
    if (r.done) {
      this._finish();
      this.set_result(r.value);
      return;
    }
    const value = r.value;
    if (value === undefined) {
      // A bare `yield` gives up exactly one turn of the loop.
      loop.call_soon(this._wakeup);
    } else if (value instanceof Future && value._blocking) {
      value._blocking = false;
      this._fut_waiter = value;
      value.add_done_callback(this._wakeup);
      if (this._must_cancel && value.cancel()) this._must_cancel = false;
    } else {
      // Thrown into the coroutine (which may catch it), as Tulip does, so the bad line is on the stack.
      const error = new RuntimeError(bad_yield_message(this as Task<unknown>, value));
      loop.call_soon((e: unknown) => this._step(e), error);
    }
  }

  private _finish(): void {
    this._loop._tasks.delete(this as Task<unknown>);
  }

  override toString(): string {
    const name = (this._coro as { name?: string }).name;
    const base = super.toString();
    const state = this._must_cancel && !this.done() ? base.replace('<PENDING', '<CANCELLING') : base;
    return name ? state.replace('Task', `Task(${name})`) : state;
  }
}

/** Wraps a coroutine in a Task; passes a Future (or Task) through unchanged. Also exported as `async`. */
export function ensure_future<T>(coro_or_future: Awaitable<T>, options?: TaskOptions): Future<T> {
  if (coro_or_future instanceof Future) {
    if (options?.loop !== undefined && options.loop !== coro_or_future._loop) {
      throw new RuntimeError('the future belongs to a different loop than the one given');
    }
    return coro_or_future;
  }
  if (is_generator(coro_or_future)) return new Task(coro_or_future, options);
  throw new TypeError(`a Future or a coroutine is required, got ${String(coro_or_future)}`);
}

/**
 * The seed's `@task` decorator: calling the decorated function starts a Task running it and returns the
 * Task. Plain functions are adapted as `coroutine()` does.
 */
export function task<A extends unknown[], T>(fn: (...args: A) => Coroutine<T> | Awaitable<T> | T): (...args: A) => Task<T> {
  const coro = coroutine(fn as (...args: A) => Coroutine<T>);
  const wrapper = function (this: unknown, ...args: A): Task<T> {
    return new Task(coro.apply(this, args));
  };
  Object.defineProperty(wrapper, 'name', { value: fn.name });
  return wrapper;
}
