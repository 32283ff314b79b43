/**
 * The coroutines that wait (Tulip's `sleep`, `wait`, `as_completed`, and asyncio 3.4's `wait_for` and
 * `gather`), written as coroutines and futures on top of the machine in `src/`.
 *
 * Every function that takes "futures" also takes coroutine objects, wrapping each in a Task, as Tulip does.
 * Timeouts are in seconds; `null` means no timeout.
 */
import { TimeoutError } from '../src/errors.js';
import { get_event_loop, type AbstractEventLoop } from '../src/events.js';
import { CancelledError, Future, type Coroutine } from '../src/futures.js';
import { ensure_future, type Awaitable } from '../src/tasks.js';

export const FIRST_COMPLETED = 'FIRST_COMPLETED';
export const FIRST_EXCEPTION = 'FIRST_EXCEPTION';
export const ALL_COMPLETED = 'ALL_COMPLETED';
export type ReturnWhen = typeof FIRST_COMPLETED | typeof FIRST_EXCEPTION | typeof ALL_COMPLETED;

export interface LoopOption {
  loop?: AbstractEventLoop | undefined;
}

/** Completes after `delay` seconds with `result` (undefined if not given). `sleep(0)` gives up one turn. */
export function* sleep<T = undefined>(delay: number, result?: T, options?: LoopOption): Coroutine<T> {
  const loop = options?.loop ?? get_event_loop();
  const future = new Future<T>({ loop });
  const handle = loop.call_later(delay, () => {
    if (!future.done()) future.set_result(result as T);
  });
  try {
    return yield* future;
  } finally {
    handle.cancel();
  }
}

function check_timeout(timeout: number | null | undefined, fn: string): number | null {
  if (timeout === undefined || timeout === null) return null;
  if (typeof timeout !== 'number' || Number.isNaN(timeout)) throw new TypeError(`${fn}(): timeout must be a number of seconds or null`);
  return timeout;
}

function to_futures<T>(fs: Iterable<Awaitable<T>>, loop: AbstractEventLoop | undefined, fn: string): Set<Future<T>> {
  if (typeof fs === 'string' || fs === null || typeof (fs as Iterable<unknown>)[Symbol.iterator] !== 'function' || fs instanceof Future) {
    throw new TypeError(`${fn}() expects an iterable of futures or coroutines, not ${fs instanceof Future ? 'a single future' : typeof fs}`);
  }
  const set = new Set<Future<T>>();
  for (const f of fs) set.add(ensure_future(f, { loop }));
  if (set.size === 0) throw new RangeError(`${fn}(): the set of futures and coroutines is empty`);
  return set;
}

export interface WaitOptions extends LoopOption {
  timeout?: number | null | undefined;
  return_when?: ReturnWhen | undefined;
}

/**
 * Waits for the futures and coroutines in `fs` (coroutines are wrapped in Tasks) and returns
 * `[done, pending]`, two sets of futures. It never raises TimeoutError: what is not done when the timeout
 * expires is in `pending`. `return_when` is ALL_COMPLETED (the default), FIRST_COMPLETED or FIRST_EXCEPTION.
 */
export function* wait<T>(fs: Iterable<Awaitable<T>>, options?: WaitOptions): Coroutine<[Set<Future<T>>, Set<Future<T>>]> {
  const return_when = options?.return_when ?? ALL_COMPLETED;
  if (return_when !== ALL_COMPLETED && return_when !== FIRST_COMPLETED && return_when !== FIRST_EXCEPTION) {
    throw new RangeError(`wait(): invalid return_when: ${String(return_when)}`);
  }
  const timeout = check_timeout(options?.timeout, 'wait');
  const futures = to_futures(fs, options?.loop, 'wait');
  const loop = futures.values().next().value!.get_loop();
  return yield* _wait(futures, timeout, return_when, loop);
}

function failed(f: Future<unknown>): boolean {
  return !f.cancelled() && f.exception() !== null;
}

function* _wait<T>(
  fs: Set<Future<T>>, timeout: number | null, return_when: ReturnWhen, loop: AbstractEventLoop,
): Coroutine<[Set<Future<T>>, Set<Future<T>>]> {
  const finished = (): boolean => {
    let done = 0;
    for (const f of fs) {
      if (!f.done()) continue;
      done++;
      if (return_when === FIRST_COMPLETED || (return_when === FIRST_EXCEPTION && failed(f))) return true;
    }
    return done === fs.size;
  };
  if (!finished() && !(timeout !== null && timeout <= 0)) {
    const waiter = new Future<void>({ loop });
    const timer = timeout === null ? null : loop.call_later(timeout, () => {
      if (!waiter.done()) waiter.set_result();
    });
    const on_completion = (): void => {
      if (!waiter.done() && finished()) waiter.set_result();
    };
    for (const f of fs) f.add_done_callback(on_completion);
    try {
      yield* waiter;
    } finally {
      timer?.cancel();
      for (const f of fs) f.remove_done_callback(on_completion);
    }
  }
  const done = new Set<Future<T>>();
  const pending = new Set<Future<T>>();
  for (const f of fs) (f.done() ? done : pending).add(f);
  return [done, pending];
}

/**
 * Waits for one future or coroutine with a timeout. On timeout the inner task is cancelled and
 * `TimeoutError` is raised; if the waiting coroutine is itself cancelled, the inner task is cancelled too.
 */
export function* wait_for<T>(fut: Awaitable<T>, timeout: number | null, options?: LoopOption): Coroutine<T> {
  const t = check_timeout(timeout, 'wait_for');
  const inner = ensure_future(fut, { loop: options?.loop });
  if (t === null) return yield* inner;
  const loop = inner.get_loop();
  const waiter = new Future<void>({ loop });
  const timer = loop.call_later(t, () => {
    if (!waiter.done()) waiter.set_result();
  });
  const on_done = (): void => {
    if (!waiter.done()) waiter.set_result();
  };
  inner.add_done_callback(on_done);
  try {
    yield* waiter;
  } catch (e) {
    if (e instanceof CancelledError) inner.cancel();
    throw e;
  } finally {
    timer.cancel();
    inner.remove_done_callback(on_done);
  }
  if (inner.done()) return inner.result();
  inner.cancel();
  throw new TimeoutError(null, `wait_for() timed out after ${t} s`);
}

export interface AsCompletedOptions extends LoopOption {
  timeout?: number | null | undefined;
}

/**
 * An iterator of coroutines, one per input, each finishing with the result (or raising the exception) of
 * the next input to complete:
 *
 *     for (const next of as_completed(fs)) { const result = yield* next; ... }
 *
 * When the timeout expires, the coroutines still to come raise TimeoutError.
 */
export function as_completed<T>(fs: Iterable<Awaitable<T>>, options?: AsCompletedOptions): IterableIterator<Coroutine<T>> {
  // Not a generator function: the tasks and the timeout start at the call, as in Tulip, not at the first
  // iteration.
  const timeout = check_timeout(options?.timeout, 'as_completed');
  const todo = to_futures(fs, options?.loop, 'as_completed');
  const loop = todo.values().next().value!.get_loop();
  const completed: Array<Future<T> | null> = []; // null: the timeout fired
  // One waiter per coroutine that waits: the coroutines may be waited for concurrently (by different tasks),
  // so a single shared waiter would be overwritten and the first consumer never woken.
  const waiters = new Set<Future<void>>();
  const wake = (): void => {
    for (const w of waiters) if (!w.done()) w.set_result();
    waiters.clear();
  };
  let timer: { cancel(): void } | null = null;
  const on_completion = (f: Future<T>): void => {
    if (!todo.delete(f)) return; // the timeout came first
    completed.push(f);
    if (todo.size === 0) timer?.cancel();
    wake();
  };
  for (const f of todo) f.add_done_callback(on_completion);
  if (timeout !== null) {
    timer = loop.call_later(timeout, () => {
      for (const f of todo) {
        f.remove_done_callback(on_completion);
        completed.push(null);
      }
      todo.clear();
      wake();
    });
  }
  function* wait_for_one(): Coroutine<T> {
    while (completed.length === 0) {
      const waiter = new Future<void>({ loop });
      waiters.add(waiter);
      try {
        yield* waiter;
      } finally {
        waiters.delete(waiter);
      }
    }
    const f = completed.shift()!;
    if (f === null) throw new TimeoutError(null, `as_completed() timed out after ${timeout} s`);
    return f.result();
  }
  let left = todo.size;
  const iterator: IterableIterator<Coroutine<T>> = {
    next: () => (left-- > 0 ? { done: false, value: wait_for_one() } : { done: true, value: undefined }),
    [Symbol.iterator]: () => iterator,
  };
  return iterator;
}

/** The result types of a tuple of awaitables. */
export type Results<T extends readonly unknown[]> = { -readonly [K in keyof T]: T[K] extends Awaitable<infer R> ? R : never };

export interface GatherOptions extends LoopOption {
  /** Put exceptions (and CancelledErrors) in the result list instead of failing the gather. */
  return_exceptions?: boolean | undefined;
}

/**
 * Runs the futures and coroutines concurrently and returns a future of their results, in argument order.
 * Without `return_exceptions` the first exception fails the gather (the others keep running); with it,
 * exceptions take their places in the results. Cancelling the returned future cancels every child.
 * Pass the options object last: `gather(a(), b(), { return_exceptions: true })`.
 */
export function gather<T extends readonly Awaitable<unknown>[]>(...args: [...T]): Future<Results<T>>;
export function gather<T extends readonly Awaitable<unknown>[]>(...args: [...T, GatherOptions & { return_exceptions?: false | undefined }]): Future<Results<T>>;
export function gather<T extends readonly Awaitable<unknown>[]>(...args: [...T, GatherOptions]): Future<unknown[]>;
export function gather(...args: unknown[]): Future<unknown[]> {
  let options: GatherOptions = {};
  const last = args[args.length - 1];
  if (last !== undefined && typeof last === 'object' && last !== null && !(last instanceof Future) && typeof (last as Generator).next !== 'function') {
    options = args.pop() as GatherOptions;
  }
  const children = args.map((a) => ensure_future(a as Awaitable<unknown>, { loop: options.loop }));
  const loop = children[0]?.get_loop() ?? options.loop ?? get_event_loop();
  const outer = new GatheringFuture(children, loop);
  const results: unknown[] = new Array(children.length);
  let remaining = children.length;
  if (remaining === 0) {
    outer.set_result(results);
    return outer;
  }
  children.forEach((child, i) => {
    child.add_done_callback(() => {
      if (outer.done()) {
        if (!child.cancelled()) child.exception(); // retrieved: the outer future already failed or was cancelled
        return;
      }
      if (child.cancelled()) {
        // A cancel() of the gather itself ends it cancelled; a child cancelled on its own is an error.
        if (outer._cancel_requested) return outer._cancel_now();
        if (!options.return_exceptions) return outer.set_exception(new CancelledError());
        results[i] = new CancelledError();
      } else if (child.exception() !== null) {
        if (!options.return_exceptions) return outer.set_exception(child.exception());
        results[i] = child.exception();
      } else {
        results[i] = child.result();
      }
      if (--remaining === 0) {
        if (outer._cancel_requested) outer._cancel_now();
        else outer.set_result(results);
      }
    });
  });
  return outer;
}

/** gather()'s future: cancelling it cancels the children, whose cancellation then ends it cancelled. */
class GatheringFuture extends Future<unknown[]> {
  _cancel_requested = false;

  constructor(private readonly _children: Future<unknown>[], loop: AbstractEventLoop) {
    super({ loop });
  }

  override cancel(): boolean {
    if (this.done()) return false;
    let any = false;
    for (const child of this._children) if (child.cancel()) any = true;
    if (!any) return super.cancel(); // every child was done already: nothing will complete us
    this._cancel_requested = true;
    return true;
  }

  _cancel_now(): void {
    super.cancel();
  }
}
