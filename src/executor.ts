/**
 * Blocking work off the loop thread: PEP 3148's concurrent futures and a ThreadPoolExecutor on
 * node:worker_threads, and the loop's side of it (`run_in_executor`, `wrap_future`,
 * `set_default_executor`), as in Tulip's base_events.py.
 *
 * THE RULE: functions cannot cross threads as closures. What you submit is a NAMED EXPORT OF AN ES MODULE,
 * given as an `ExecutorFunction` made with `executor_function(module_url, name)`:
 *
 *     // crunch.ts
 *     export function crunch(n: number): number { ... }          // runs in a worker thread
 *     export const CRUNCH = executor_function(import.meta.url, 'crunch');
 *     // elsewhere
 *     const result = yield* loop.run_in_executor(null, CRUNCH, 42);
 *
 * The worker imports the module by its URL (once per worker) and calls the export; it may return a promise.
 * Arguments and the result must be structured-cloneable (numbers, strings, arrays, plain objects, typed
 * arrays, Maps, SharedArrayBuffers...; not functions, class instances lose their prototype). A job whose
 * arguments cannot be cloned fails with a TypeError saying so; nothing crashes. An exception thrown in the
 * worker becomes the future's exception, rebuilt with its class when it is a built-in Error class or one
 * of the OSError family (from its errno), otherwise an Error carrying the original `name`, `message`,
 * `stack` and cloneable own properties. A `.ts` module works when tsx is installed (the worker registers
 * it before importing).
 *
 * How a result reaches a loop that is blocked in epoll (Node's own loop does not turn meanwhile, so no
 * 'message' event would ever fire): each worker answers on its own MessagePort, bumps a shared completion
 * counter, and signals the wake-up fd of every loop that uses the executor. The woken loop runs its wake-up
 * listener, which drains the ports with `receiveMessageOnPort` and completes the ConcurrentFutures
 * synchronously, on the loop thread; their done callbacks complete the loops' tulip Futures.
 * `ConcurrentFuture.result()` outside a loop blocks on the completion counter with `Atomics.wait` and
 * collects the same way.
 *
 * An executor belongs to the thread that created it (its MessagePorts do), so every loop using it runs in
 * that thread. The workers are `unref()`ed: they never keep the process alive.
 */
import { receiveMessageOnPort, MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { AbstractEventLoop } from './events.js';
import { Handle, TimerHandle } from './events.js';
import * as errors from './errors.js';
import { KeyError, NotImplementedError, OSError, RuntimeError, TimeoutError, os_error } from './errors.js';
import { CancelledError, Future, InvalidStateError } from './futures.js';
import { logger } from './log.js';
import {
  WAKE_COUNTER, WAKE_LOCK, WAKE_NSLOTS, WAKE_SLOTS,
  type Job, type JobResult, type SerializedError, type WorkerData,
} from './executor_worker.js';

// ---- What can be submitted ------------------------------------------------------------------------------

/**
 * A function a worker thread can run: the named export `name` of the ES module at URL `module`. The type
 * parameters only document the call (and let run_in_executor type its result); nothing checks them across
 * the thread boundary.
 */
export interface ExecutorFunction<A extends unknown[] = any[], R = unknown> {
  readonly module: string;
  readonly name: string;
  /** @internal phantom: never set */
  readonly __call?: (...args: A) => R;
}

const RULE =
  'functions cannot cross threads as closures: submit a named export of an ES module, written as ' +
  "executor_function(import.meta.url, 'name') (or executor_function(new URL('./jobs.js', import.meta.url).href, 'name')); " +
  'its arguments and result must be structured-cloneable';

/**
 * Names the export `name` of the ES module at `module_url` (a URL string such as `import.meta.url`, or a
 * URL object) as something a worker thread can run. Give the function's type to type the result:
 * `executor_function<typeof crunch>(import.meta.url, 'crunch')`.
 */
export function executor_function<F extends (...args: any[]) => unknown = (...args: any[]) => unknown>(
  module_url: string | URL,
  name: string,
): ExecutorFunction<Parameters<F>, Awaited<ReturnType<F>>> {
  const url = module_url instanceof URL ? module_url.href : module_url;
  if (typeof url !== 'string') throw new TypeError(`executor_function(): module_url must be a URL string (e.g. import.meta.url), got ${typeof module_url}`);
  try {
    new URL(url);
  } catch {
    throw new TypeError(`executor_function(): ${JSON.stringify(url)} is not a URL; pass import.meta.url or a file: URL (pathToFileURL(path).href)`);
  }
  if (typeof name !== 'string' || name === '') throw new TypeError('executor_function(): name must be the name of an export (a non-empty string)');
  return Object.freeze({ module: url, name });
}

function check_executor_function(fn: unknown, where: string): ExecutorFunction {
  if (typeof fn === 'function') {
    throw new TypeError(`${where}: cannot run the JavaScript function ${fn.name ? fn.name + '()' : '<anonymous>'} in a worker thread: ${RULE}`);
  }
  if (typeof fn === 'object' && fn !== null && typeof (fn as ExecutorFunction).module === 'string' && typeof (fn as ExecutorFunction).name === 'string') {
    return fn as ExecutorFunction;
  }
  throw new TypeError(`${where}: expected an ExecutorFunction, got ${fn === null ? 'null' : typeof fn}: ${RULE}`);
}

// ---- Errors across threads -------------------------------------------------------------------------------

const builtin_errors: Record<string, new (message?: string) => Error> = {
  Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError,
  RuntimeError, NotImplementedError, KeyError, CancelledError, InvalidStateError,
};

type OSErrorClass = new (errnum: number | null, message?: string, filename?: unknown) => OSError;
/** OSError and its subclasses from errors.ts, by name. */
const os_error_classes = new Map<string, OSErrorClass>();
for (const value of Object.values(errors)) {
  if (typeof value === 'function' && (value === OSError || value.prototype instanceof OSError)) {
    os_error_classes.set(value.name, value as unknown as OSErrorClass);
  }
}

function is_serialized_error(x: unknown): x is SerializedError {
  return typeof x === 'object' && x !== null && (x as SerializedError).__tulip_error__ === 1;
}

/**
 * Rebuilds an exception that a worker sent (see executor_worker.ts' serialize_error): one of the OSError
 * family by its name (with its errno; os_error(errno) when the name is OSError itself, which picks the
 * subclass as Python does), a built-in class by name, or else an Error that keeps the original name.
 */
function deserialize_error(x: unknown): unknown {
  if (!is_serialized_error(x)) return x;
  const props = x.props;
  const errnum = typeof props['errno'] === 'number' && Number.isInteger(props['errno']) && props['errno'] > 0 ? props['errno'] : null;
  let error: Error;
  const os_cls = os_error_classes.get(x.name);
  if (os_cls !== undefined) {
    error = x.name === 'OSError' && errnum !== null ? os_error(errnum, props['filename']) : new os_cls(errnum, undefined, props['filename']);
    error.message = x.message;
  } else {
    const cls = builtin_errors[x.name];
    error = cls !== undefined ? new cls(x.message) : new Error(x.message);
    if (cls === undefined) Object.defineProperty(error, 'name', { value: x.name, configurable: true, writable: true, enumerable: false });
  }
  for (const [key, value] of Object.entries(props)) {
    if (error instanceof OSError && (key === 'errno' || key === 'code' || key === 'strerror' || key === 'filename')) continue;
    try {
      (error as unknown as Record<string, unknown>)[key] = value;
    } catch {
      // a read-only field of the rebuilt class
    }
  }
  if (x.stack !== undefined) {
    Object.defineProperty(error, 'stack', { value: x.stack + '\n    (raised in an executor worker thread)', configurable: true, writable: true, enumerable: false });
  }
  return error;
}

// ---- ConcurrentFuture ------------------------------------------------------------------------------------

const PENDING = 0;
const RUNNING = 1;
const CANCELLED = 2;
const FINISHED = 3;
const state_names = ['PENDING', 'RUNNING', 'CANCELLED', 'FINISHED'] as const;

/**
 * A PEP 3148 future: the handle on a job submitted to an executor. Not bound to any loop; its done
 * callbacks run synchronously, in the thread that owns the executor, when the executor collects the job's
 * result (or at once if it is already done). `loop.wrap_future()` turns it into a tulip Future.
 */
export class ConcurrentFuture<T = unknown> {
  /** @internal */ _state = PENDING;
  /** @internal */ _result: T | undefined = undefined;
  /** @internal */ _exception: unknown = undefined;
  private _callbacks: Array<(future: ConcurrentFuture<T>) => unknown> = [];
  /** @internal the executor that runs it, which result() can wait on */
  _executor: ThreadPoolExecutor | null;

  constructor(executor: ThreadPoolExecutor | null = null) {
    this._executor = executor;
  }

  /** Cancels the job if it has not started; false once it runs or is done (true if already cancelled). */
  cancel(): boolean {
    if (this._state === RUNNING || this._state === FINISHED) return false;
    if (this._state === CANCELLED) return true;
    this._state = CANCELLED;
    this._executor?._forget(this);
    this._invoke_callbacks();
    return true;
  }

  cancelled(): boolean {
    return this._state === CANCELLED;
  }

  running(): boolean {
    this._executor?._collect();
    return this._state === RUNNING;
  }

  /** True once the job finished (result or exception) or was cancelled. Collects finished jobs first. */
  done(): boolean {
    if (this._state === PENDING || this._state === RUNNING) this._executor?._collect();
    return this._state === CANCELLED || this._state === FINISHED;
  }

  /**
   * The job's result, or raises its exception (`CancelledError` if cancelled). While the job is pending,
   * blocks this thread (with Atomics.wait, collecting results) for at most `timeout` seconds (null: no
   * limit), then raises `TimeoutError`. Never call it with a timeout on a loop thread: use
   * `yield* loop.wrap_future(f)` there.
   */
  result(timeout: number | null = null): T {
    this._wait(timeout);
    if (this._state === CANCELLED) throw new CancelledError();
    if (this._exception !== undefined) throw this._exception;
    return this._result as T;
  }

  /** The job's exception, or null if it returned; waits like result(). */
  exception(timeout: number | null = null): unknown {
    this._wait(timeout);
    if (this._state === CANCELLED) throw new CancelledError();
    return this._exception === undefined ? null : this._exception;
  }

  private _wait(timeout: number | null): void {
    if (this.done()) return;
    if (this._executor === null) throw new InvalidStateError('this future has no executor to wait on and is not done');
    if (!this._executor._wait_until(() => this._state === CANCELLED || this._state === FINISHED, timeout)) {
      throw new TimeoutError(null, `the job did not finish within ${timeout} s`);
    }
  }

  /** Calls `fn(future)` when the future is done, synchronously; at once if it is done already. */
  add_done_callback(fn: (future: ConcurrentFuture<T>) => unknown): void {
    if (typeof fn !== 'function') throw new TypeError('add_done_callback() takes a function');
    if (this._state === CANCELLED || this._state === FINISHED) this._call(fn);
    else this._callbacks.push(fn);
  }

  /**
   * Moves a pending future to RUNNING; false if it was cancelled (PEP 3148's
   * set_running_or_notify_cancel, for whoever runs the job).
   */
  set_running_or_notify_cancel(): boolean {
    if (this._state === CANCELLED) return false;
    if (this._state !== PENDING) throw new InvalidStateError(`future in unexpected state ${state_names[this._state]}`);
    this._state = RUNNING;
    return true;
  }

  set_result(result: T): void {
    if (this._state === CANCELLED || this._state === FINISHED) throw new InvalidStateError(`set_result() on a future that is ${state_names[this._state]}`);
    this._result = result;
    this._state = FINISHED;
    this._invoke_callbacks();
  }

  set_exception(exception: unknown): void {
    if (this._state === CANCELLED || this._state === FINISHED) throw new InvalidStateError(`set_exception() on a future that is ${state_names[this._state]}`);
    if (exception === undefined || exception === null) throw new TypeError('set_exception() needs an exception');
    this._exception = exception;
    this._state = FINISHED;
    this._invoke_callbacks();
  }

  private _invoke_callbacks(): void {
    const callbacks = this._callbacks;
    this._callbacks = [];
    for (const fn of callbacks) this._call(fn);
  }

  private _call(fn: (future: ConcurrentFuture<T>) => unknown): void {
    try {
      fn(this);
    } catch (e) {
      logger.error(`exception calling callback for ${this}`, e);
    }
  }

  toString(): string {
    const s = state_names[this._state];
    if (this._state !== FINISHED) return `ConcurrentFuture<${s}>`;
    return this._exception !== undefined ? `ConcurrentFuture<exception=${String(this._exception)}>` : `ConcurrentFuture<result=${String(this._result)}>`;
  }
}

// ---- ThreadPoolExecutor ----------------------------------------------------------------------------------

const this_is_ts = /\.[cm]?ts$/.test(fileURLToPath(import.meta.url));
const WORKER_ENTRY = new URL(this_is_ts ? './executor_worker.ts' : './executor_worker.js', import.meta.url).href;
const TSX_API: string | null = (() => {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    return null;
  }
})();

/**
 * Runs in the worker before anything else (eval'd, CommonJS): registers tsx when the entry is a .ts file,
 * then imports the entry. If that fails, every job is answered with the failure so nothing hangs.
 */
const BOOTSTRAP = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  if (workerData.entry_is_ts) {
    if (workerData.tsx_api === null) throw new Error('the executor worker is a .ts file but tsx is not installed');
    (await import(workerData.tsx_api)).register();
  }
  await import(workerData.entry);
})().catch((e) => {
  const error = { __tulip_error__: 1, name: 'RuntimeError', message: 'the executor worker failed to start: ' + (e && e.stack || e), stack: undefined, props: {} };
  const wake = new Int32Array(workerData.wake);
  parentPort.on('message', (job) => {
    if (job === 'quit') process.exit(0);
    workerData.result_port.postMessage({ id: job.id, ok: false, error });
    Atomics.add(wake, ${WAKE_COUNTER}, 1);
    Atomics.notify(wake, ${WAKE_COUNTER});
    const fs = require('node:fs');
    while (Atomics.compareExchange(wake, ${WAKE_LOCK}, 0, 1) !== 0) {}
    try {
      for (let i = 0; i < ${WAKE_NSLOTS}; i++) {
        const fd = Atomics.load(wake, ${WAKE_SLOTS} + i);
        if (fd >= 0) { try { const b = Buffer.alloc(8); b.writeBigUInt64LE(1n); fs.writeSync(fd, b); } catch {} }
      }
    } finally { Atomics.store(wake, ${WAKE_LOCK}, 0); }
  });
});
`;

/** Tells a worker to exit once idle (it is never terminate()d: see shutdown()). */
const QUIT = 'quit';

interface PoolWorker {
  worker: Worker;
  port: MessagePort;
  /** The job it runs, or null when idle. */
  job: number | null;
}

interface QueuedJob {
  id: number;
  fn: ExecutorFunction;
  args: unknown[];
  future: ConcurrentFuture<unknown>;
}

/** What a ConcurrentFuture needs from an executor; run_in_executor accepts any object with `submit`. */
export interface Executor {
  submit<A extends unknown[], R>(fn: ExecutorFunction<A, R>, ...args: A): ConcurrentFuture<R>;
  shutdown(wait?: boolean): void;
}

/**
 * A pool of up to `max_workers` worker threads, started as jobs need them. Jobs wait in a FIFO queue
 * (where `cancel()` still works) until a worker is idle; each worker runs one job at a time.
 */
export class ThreadPoolExecutor implements Executor {
  readonly max_workers: number;
  private _workers: PoolWorker[] = [];
  private _queue: QueuedJob[] = [];
  private _running = new Map<number, { future: ConcurrentFuture<unknown>; worker: PoolWorker }>();
  private _next_id = 1;
  private _shutdown = false;
  /** [lock, completion counter, wake-up fds (-1 = free slot)...]; shared with every worker. */
  private readonly _wake_buffer = new SharedArrayBuffer(4 * (WAKE_SLOTS + WAKE_NSLOTS));
  /** @internal */ readonly _wake = new Int32Array(this._wake_buffer);
  private _collecting = false;

  constructor(max_workers = 5) {
    if (typeof max_workers !== 'number' || !Number.isInteger(max_workers) || max_workers <= 0) {
      throw new RangeError(`ThreadPoolExecutor(): max_workers must be a positive integer, got ${String(max_workers)}`);
    }
    this.max_workers = max_workers;
    for (let i = 0; i < WAKE_NSLOTS; i++) this._wake[WAKE_SLOTS + i] = -1;
  }

  /**
   * Runs `fn(...args)` in a worker thread (see the module header for what `fn` must be) and returns the
   * ConcurrentFuture of its result. A non-cloneable argument fails the future with a TypeError.
   */
  submit<A extends unknown[], R>(fn: ExecutorFunction<A, R>, ...args: A): ConcurrentFuture<R> {
    if (this._shutdown) throw new RuntimeError('cannot schedule new jobs after shutdown()');
    const checked = check_executor_function(fn, 'submit()');
    const future = new ConcurrentFuture<R>(this);
    const job: QueuedJob = { id: this._next_id++, fn: checked, args, future: future as ConcurrentFuture<unknown> };
    const worker = this._idle_worker();
    if (worker !== null) {
      this._dispatch(worker, job);
    } else {
      // Capture the arguments now, as a call would (and find a clone error now, not later).
      try {
        job.args = structuredClone(args);
      } catch (e) {
        future.set_running_or_notify_cancel();
        future.set_exception(clone_error(checked, e));
        return future;
      }
      this._queue.push(job);
    }
    return future;
  }

  /**
   * No new jobs after this (RuntimeError). Queued jobs still run when `wait` is true and are cancelled when
   * it is false; `wait = true` also blocks this thread until every job is done. The workers are told to
   * exit and do so as soon as they are idle: a job already running is never killed half-way (a killed
   * worker could die holding the wake-up table's lock), it finishes in the background and its future
   * still completes whenever results are collected (PEP 3148's semantics). Idempotent.
   */
  shutdown(wait = true): void {
    if (this._shutdown) {
      if (wait) this._wait_until(() => this._queue.length === 0 && this._running.size === 0, null);
      return;
    }
    this._shutdown = true;
    if (wait) {
      this._wait_until(() => this._queue.length === 0 && this._running.size === 0, null);
    } else {
      const queued = this._queue;
      this._queue = [];
      for (const job of queued) job.future.cancel();
    }
    // After the queue is empty: a worker handles QUIT after the job it runs, never before a queued one.
    for (const w of this._workers) w.worker.postMessage(QUIT);
    this._collect();
  }

  /** True once shutdown() was called. */
  get is_shutdown(): boolean {
    return this._shutdown;
  }

  // ---- internals ----

  private _idle_worker(): PoolWorker | null {
    for (const w of this._workers) if (w.job === null) return w;
    if (this._workers.length >= this.max_workers) return null;
    const { port1, port2 } = new MessageChannel();
    const data: WorkerData & { entry: string; entry_is_ts: boolean } = {
      result_port: port2,
      wake: this._wake_buffer,
      tsx_api: TSX_API,
      tsx_registered: this_is_ts,
      entry: WORKER_ENTRY,
      entry_is_ts: this_is_ts,
    };
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: data, transferList: [port2] });
    worker.unref();
    // 'error' would fire only when Node's loop turns; jobs already get their failure from the bootstrap.
    worker.on('error', (e) => logger.error('executor worker thread failed', e));
    const w: PoolWorker = { worker, port: port1, job: null };
    this._workers.push(w);
    return w;
  }

  private _dispatch(w: PoolWorker, job: QueuedJob): void {
    if (!job.future.set_running_or_notify_cancel()) return;
    const message: Job = { id: job.id, module: job.fn.module, name: job.fn.name, args: job.args };
    try {
      w.worker.postMessage(message);
    } catch (e) {
      job.future.set_exception(clone_error(job.fn, e));
      return;
    }
    w.job = job.id;
    this._running.set(job.id, { future: job.future, worker: w });
  }

  /** @internal A cancelled queued job leaves the queue. */
  _forget(future: ConcurrentFuture<any>): void {
    const i = this._queue.findIndex((j) => j.future === future);
    if (i >= 0) this._queue.splice(i, 1);
  }

  /**
   * @internal Drains every worker's result port (receiveMessageOnPort: no Node loop needed), completes the
   * futures, and gives idle workers the queued jobs. Runs on the owning thread only.
   */
  _collect(): void {
    if (this._collecting) return; // a done callback that asks done() must not re-enter
    this._collecting = true;
    try {
      for (const w of this._workers) {
        for (let m = receiveMessageOnPort(w.port); m !== undefined; m = receiveMessageOnPort(w.port)) {
          const msg = m.message as JobResult;
          const entry = this._running.get(msg.id);
          if (w.job === msg.id) w.job = null;
          if (entry === undefined) continue;
          this._running.delete(msg.id);
          if (msg.ok) entry.future.set_result(msg.value);
          else entry.future.set_exception(deserialize_error(msg.error));
        }
      }
      while (this._queue.length > 0) {
        const w = this._idle_worker();
        if (w === null) break;
        this._dispatch(w, this._queue.shift()!);
      }
    } finally {
      this._collecting = false;
    }
  }

  /** @internal Blocks this thread until `pred()` (checked after each collection) or the timeout. */
  _wait_until(pred: () => boolean, timeout: number | null): boolean {
    const deadline = timeout === null ? Infinity : performance.now() + timeout * 1000;
    for (;;) {
      this._collect();
      if (pred()) return true;
      const seen = Atomics.load(this._wake, WAKE_COUNTER);
      this._collect();
      if (pred()) return true;
      if (this._running.size === 0 && this._queue.length === 0) return pred();
      const left = deadline - performance.now();
      if (left <= 0) return false;
      Atomics.wait(this._wake, WAKE_COUNTER, seen, left === Infinity ? undefined : left);
    }
  }

  private _lock(): void {
    while (Atomics.compareExchange(this._wake, WAKE_LOCK, 0, 1) !== 0) { /* spin: a worker holds it for a few syscalls */ }
  }

  private _unlock(): void {
    Atomics.store(this._wake, WAKE_LOCK, 0);
  }

  /** @internal Workers will signal `fd` after every job from now on. */
  _add_wakeup_fd(fd: number): void {
    this._lock();
    try {
      for (let i = 0; i < WAKE_NSLOTS; i++) if (this._wake[WAKE_SLOTS + i] === fd) return;
      for (let i = 0; i < WAKE_NSLOTS; i++) {
        if (this._wake[WAKE_SLOTS + i] === -1) {
          Atomics.store(this._wake, WAKE_SLOTS + i, fd);
          return;
        }
      }
    } finally {
      this._unlock();
    }
    throw new RuntimeError(`an executor can serve at most ${WAKE_NSLOTS} event loops at a time`);
  }

  /** @internal After this returns no worker writes to `fd` any more (it may be closed and reused). */
  _remove_wakeup_fd(fd: number): void {
    this._lock();
    try {
      for (let i = 0; i < WAKE_NSLOTS; i++) if (this._wake[WAKE_SLOTS + i] === fd) Atomics.store(this._wake, WAKE_SLOTS + i, -1);
    } finally {
      this._unlock();
    }
  }
}

function clone_error(fn: ExecutorFunction, e: unknown): TypeError {
  const why = e instanceof Error ? e.message : String(e);
  const error = new TypeError(`cannot send the arguments of ${fn.name}() to a worker thread (${why}): arguments must be structured-cloneable; ${RULE}`);
  (error as { cause?: unknown }).cause = e;
  return error;
}

// ---- The loop's side -------------------------------------------------------------------------------------

/** What executor.ts needs from a loop: a SelectorEventLoop's wake-up fd and wake-up listeners. */
interface WakeableLoop extends AbstractEventLoop {
  _wakeup_w: number;
  _add_wakeup_listener(listener: () => void): () => void;
}

interface LoopState {
  default_executor: Executor | null;
  /** Executors whose workers wake this loop, each with the fd it was given. */
  executors: Map<ThreadPoolExecutor, number>;
  remove_listener: (() => void) | null;
}

const loop_states = new WeakMap<AbstractEventLoop, LoopState>();

function state_of(loop: AbstractEventLoop): LoopState {
  let state = loop_states.get(loop);
  if (state === undefined) {
    state = { default_executor: null, executors: new Map(), remove_listener: null };
    loop_states.set(loop, state);
  }
  return state;
}

function wakeable(loop: AbstractEventLoop, method: string): WakeableLoop {
  const l = loop as Partial<WakeableLoop>;
  if (typeof l._add_wakeup_listener !== 'function' || typeof l._wakeup_w !== 'number') {
    throw new NotImplementedError(`${method}() needs a loop with a wake-up fd (a SelectorEventLoop); ${loop.constructor.name} has none`);
  }
  return loop as WakeableLoop;
}

/** Makes `executor`'s workers wake `loop`, whose wake-up listener then collects their results. */
function attach(loop: AbstractEventLoop, executor: ThreadPoolExecutor, method: string): void {
  const state = state_of(loop);
  if (state.executors.has(executor)) return;
  const l = wakeable(loop, method);
  if (l._wakeup_w < 0) throw new RuntimeError('Event loop is closed');
  executor._add_wakeup_fd(l._wakeup_w);
  state.executors.set(executor, l._wakeup_w);
  if (state.remove_listener === null) {
    state.remove_listener = l._add_wakeup_listener(() => {
      for (const ex of state.executors.keys()) ex._collect();
    });
  }
}

/**
 * `loop.run_in_executor(executor, fn, ...args)`: runs `fn(...args)` in a worker thread of `executor` (null:
 * the loop's default executor, a ThreadPoolExecutor(5) made on first use) and returns a tulip Future of
 * the result. `fn` is an ExecutorFunction (see the module header); a Handle whose callback is one stands
 * for fn + args, and a cancelled Handle gives a future already done with null (the PEP). Cancelling the
 * returned future cancels the job if it has not started.
 */
export function run_in_executor<A extends unknown[], R>(
  loop: AbstractEventLoop,
  executor: Executor | null,
  fn: ExecutorFunction<A, R> | Handle,
  ...args: A
): Future<R> {
  if (loop.is_closed()) throw new RuntimeError('Event loop is closed');
  if (fn instanceof Handle) {
    if (fn instanceof TimerHandle) throw new TypeError('run_in_executor() cannot take a TimerHandle');
    if (args.length > 0) throw new TypeError('a Handle passed to run_in_executor() cannot take arguments');
    if (fn.cancelled) {
      const f = new Future<R>({ loop });
      f.set_result(null as R);
      return f;
    }
    const inner = check_executor_function(fn.callback, 'run_in_executor()');
    return run_in_executor(loop, executor, inner as ExecutorFunction<unknown[], R>, ...fn.args);
  }
  check_executor_function(fn, 'run_in_executor()');
  if (executor === null || executor === undefined) {
    const state = state_of(loop);
    if (state.default_executor === null) {
      wakeable(loop, 'run_in_executor');
      state.default_executor = new ThreadPoolExecutor(5);
    }
    executor = state.default_executor;
  }
  if (executor instanceof ThreadPoolExecutor) attach(loop, executor, 'run_in_executor');
  return wrap_future(loop, executor.submit(fn, ...args));
}

/**
 * `loop.set_default_executor(executor)`: the executor run_in_executor(null, ...) uses from now on (null: a
 * fresh ThreadPoolExecutor(5) on next use). The loop's close() shuts it down. An executor other than a
 * ThreadPoolExecutor must complete its futures on the loop thread: nothing wakes the loop for it.
 */
export function set_default_executor(loop: AbstractEventLoop, executor: Executor | null): void {
  if (executor !== null && (typeof executor !== 'object' || typeof executor.submit !== 'function' || typeof executor.shutdown !== 'function')) {
    throw new TypeError('set_default_executor() takes an executor (an object with submit() and shutdown(), e.g. a ThreadPoolExecutor) or null');
  }
  if (loop.is_closed()) throw new RuntimeError('Event loop is closed');
  state_of(loop).default_executor = executor;
}

/**
 * `loop.wrap_future(future)`: a tulip Future on `loop` that completes like the concurrent future (a tulip
 * Future is returned unchanged). Cancelling the tulip Future cancels the concurrent one if its job has not
 * started; if it has, the job runs on and its result is dropped.
 */
export function wrap_future<T>(loop: AbstractEventLoop, future: ConcurrentFuture<T> | Future<T>): Future<T> {
  if (future instanceof Future) return future;
  if (!(future instanceof ConcurrentFuture)) throw new TypeError(`wrap_future() takes a ConcurrentFuture or a Future, got ${String(future)}`);
  const executor = future._executor;
  if (executor !== null && !future.done()) attach(loop, executor, 'wrap_future');
  const wrapped = new Future<T>({ loop });
  const copy = (f: ConcurrentFuture<T>): void => {
    if (wrapped.done() || loop.is_closed()) return;
    if (f.cancelled()) wrapped.cancel();
    else if (f._exception !== undefined) wrapped.set_exception(f._exception);
    else wrapped.set_result(f._result as T);
  };
  wrapped.add_done_callback(() => {
    if (wrapped.cancelled()) future.cancel();
  });
  future.add_done_callback(copy);
  return wrapped;
}

/**
 * For `loop.close()`: shuts the loop's default executor down without waiting (queued jobs are cancelled,
 * running ones abandoned) and makes sure no executor's worker writes to the loop's wake-up fd any more.
 * Call it BEFORE the wake-up fd is closed. Idempotent.
 */
export function shutdown_default_executor(loop: AbstractEventLoop): void {
  const state = loop_states.get(loop);
  if (state === undefined) return;
  loop_states.delete(loop);
  state.remove_listener?.();
  for (const [executor, fd] of state.executors) executor._remove_wakeup_fd(fd);
  state.default_executor?.shutdown(false);
}

/** The loop's default executor, if it has one yet (for tests and introspection). */
export function get_default_executor(loop: AbstractEventLoop): Executor | null {
  return loop_states.get(loop)?.default_executor ?? null;
}
