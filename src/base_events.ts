/**
 * BaseEventLoop (Tulip's `base_events.py`): the ready queue, the timer heap, and `_run_once`, the only place
 * callbacks run. It knows nothing about file descriptors: a subclass supplies `_process_io(timeout)`, which
 * waits for I/O at most `timeout` seconds (null: until something happens) and appends the handles of ready
 * fds to the ready queue.
 *
 * `run_forever()` and `run_until_complete()` are synchronous and own the thread while they run, as in
 * Python: Node's own timers and Promise reactions do not progress inside them. `_run_once(max_timeout)`
 * does not assume it is called from `run_forever()`, so a host (a hosted mode on Node's loop) can call it
 * with a zero timeout.
 */
import {
  AbstractEventLoop, Handle, TimerHandle, _capture_stack, _set_running_loop, type Callback,
} from './events.js';
import { RuntimeError, TimeoutError } from './errors.js';
import { Future, type Coroutine } from './futures.js';
import { TimerHeap } from './heap.js';
import { host } from './hosted.js';
import { logger } from './log.js';
import { Task, ensure_future, _set_coroutine_debug } from './tasks.js';
import type { InetAddress } from './binding.js';
import {
  run_in_executor, set_default_executor, shutdown_default_executor, wrap_future,
  type ConcurrentFuture, type Executor, type ExecutorFunction,
} from './executor.js';
import type { DatagramProtocol, Protocol, BaseProtocol, ProtocolOrBuffered } from './protocols.js';
import type { Socket } from './socket.js';
import type { SSLContext } from './ssl.js';
import type { SSLProtocolTransport } from './sslproto.js';
import type { DatagramTransport, Transport } from './transports.js';
import { getaddrinfo, getnameinfo, type AddrInfo, type LookupOptions } from '../coroutines/lookup.js';
import {
  Server, create_connection, create_datagram_endpoint, create_server, start_serving, start_tls, stop_serving,
  type ConnectionOptions, type DatagramOptions, type ServingOptions, type StartTlsOptions,
} from '../coroutines/network.js';

/**
 * A turn that starts with callbacks already queued polls the selector (with a zero timeout) only on every
 * POLL_EVERY-th such turn. A chain of call_soon callbacks then pays for one system call per 16 callbacks
 * instead of one each, while I/O is still looked at within 16 turns of work.
 */
const POLL_EVERY = 16;

/** The ready queue: a FIFO ring buffer whose capacity is a power of two (no shifting, no reallocation). */
class Deque<T> {
  private _buf: (T | undefined)[] = new Array(1024);
  private _mask = 1023;
  private _head = 0;
  private _tail = 0;

  get length(): number {
    return (this._tail - this._head) & this._mask;
  }

  push(item: T): void {
    this._buf[this._tail] = item;
    this._tail = (this._tail + 1) & this._mask;
    if (this._tail === this._head) this._grow();
  }

  shift(): T {
    const item = this._buf[this._head] as T;
    this._buf[this._head] = undefined;
    this._head = (this._head + 1) & this._mask;
    return item;
  }

  clear(): void {
    this._buf = new Array(1024);
    this._mask = 1023;
    this._head = this._tail = 0;
  }

  private _grow(): void {
    // Full: head === tail. Unroll into a buffer twice the size, oldest first.
    const old = this._buf;
    const n = old.length;
    this._buf = old.slice(this._head).concat(old.slice(0, this._head), new Array(n));
    this._head = 0;
    this._tail = n;
    this._mask = 2 * n - 1;
  }
}

function check_callback(callback: unknown, method: string): void {
  if (typeof callback !== 'function' && !(callback instanceof Handle)) {
    throw new TypeError(`${method}() needs a function as its callback, got ${typeof callback}`);
  }
}

function check_time(value: unknown, what: string, method: string): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`${method}(): ${what} must be a number of seconds, got ${String(value)}`);
  }
  return value;
}

export abstract class BaseEventLoop extends AbstractEventLoop {
  /** @internal */ _ready = new Deque<Handle>();
  /** @internal */ _scheduled = new TimerHeap<TimerHandle>();
  private _timer_seq = 0;
  private _running = false;
  private _stopping = false;
  private _closed = false;
  private _debug = false;
  private _turns_without_poll = 0;
  /** In debug mode, a callback that runs longer than this (seconds) is reported. */
  slow_callback_duration = 0.1;

  /**
   * Waits for I/O at most `timeout` seconds (0: just look; null: block until something is ready) and puts
   * the handles of ready file descriptors in the ready queue.
   */
  protected abstract _process_io(timeout: number | null): void;

  // ---- Running and stopping ----

  run_forever(): void {
    this._check_closed();
    if (this._running) throw new RuntimeError('This event loop is already running');
    this._running = true;
    const previous = _set_running_loop(this);
    try {
      while (!this._stopping) this._run_once();
    } finally {
      _set_running_loop(previous);
      this._stopping = false;
      this._running = false;
    }
  }

  /**
   * The hosted mode (src/hosted.ts): runs this loop inside Node's own, returning at once. The Promise
   * settles when stop() is called; meanwhile Node's timers, I/O and Promises go on as usual between turns.
   */
  run_hosted(): Promise<void> {
    return host(this, this._host_fd());
  }

  /** run_until_complete() in the hosted mode: the Promise of `future`'s result; hosting ends with it. */
  async run_until_complete_hosted<T>(future: Future<T> | Coroutine<T>): Promise<T> {
    this._check_closed();
    const fut = ensure_future(future, { loop: this });
    const stop_now = (): void => this.stop();
    fut.add_done_callback(stop_now);
    try {
      await this.run_hosted();
    } finally {
      fut.remove_done_callback(stop_now);
    }
    if (!fut.done()) throw new TimeoutError(null, 'the event loop stopped before the future completed');
    return fut.result();
  }

  /** @internal The fd Node's loop watches in the hosted mode; only a selector with one can be hosted. */
  protected _host_fd(): number {
    throw new RuntimeError(`${this.constructor.name} cannot be hosted: it has no selector fd for Node's loop to watch`);
  }

  /** @internal (HostableLoop) */
  _host_begin(): void {
    this._check_closed();
    if (this._running) throw new RuntimeError('This event loop is already running');
    this._running = true;
  }

  /** @internal (HostableLoop) */
  _host_turn(): number | null {
    const previous = _set_running_loop(this);
    try {
      this._run_once(0);
    } finally {
      _set_running_loop(previous);
    }
    if (this._stopping) return -1;
    if (this._ready.length > 0) return 0;
    const first = this._scheduled.peek();
    return first === undefined ? null : Math.max(0, first._when - this.time());
  }

  /** @internal (HostableLoop) */
  _host_end(): void {
    this._running = false;
    this._stopping = false;
  }

  /**
   * Runs the loop until `future` (or a Task made from a coroutine) is done and returns its result or raises
   * its exception. With `timeout` (seconds), or if `stop()` is called first, raises `TimeoutError` (the
   * future is not cancelled), as the seed PEP says.
   */
  run_until_complete<T>(future: Future<T> | Coroutine<T>, timeout: number | null = null): T {
    this._check_closed();
    if (this._running) throw new RuntimeError('This event loop is already running');
    const fut = ensure_future(future, { loop: this });
    const stop_now = (): void => {
      this._stopping = true;
    };
    fut.add_done_callback(stop_now);
    let timed_out = false;
    const timer = timeout === null ? null : this.call_later(check_time(timeout, 'timeout', 'run_until_complete'), () => {
      timed_out = true;
      this._stopping = true;
    });
    try {
      this.run_forever();
    } finally {
      fut.remove_done_callback(stop_now);
      timer?.cancel();
    }
    if (!fut.done()) {
      throw new TimeoutError(null, timed_out ? `run_until_complete() timed out after ${timeout} s` : 'the event loop stopped before the future completed');
    }
    return fut.result();
  }

  /**
   * Stops the loop once every callback scheduled before this call has run; callbacks scheduled after it
   * stay queued and run when the loop is run again (nothing is lost).
   */
  stop(): void {
    this.call_soon(() => {
      this._stopping = true;
    });
  }

  is_running(): boolean {
    return this._running;
  }

  is_closed(): boolean {
    return this._closed;
  }

  /** Releases what the loop holds; idempotent. Closing a running loop is an error. */
  close(): void {
    if (this._running) throw new RuntimeError('Cannot close a running event loop');
    if (this._closed) return;
    this._closed = true;
    this._ready.clear();
    this._scheduled.clear();
    shutdown_default_executor(this);
  }

  /** @internal */
  _check_closed(): void {
    if (this._closed) throw new RuntimeError('Event loop is closed');
  }

  // ---- Time and callbacks ----

  /** The loop's clock: monotonic, in seconds (a float). */
  time(): number {
    return performance.now() / 1000;
  }

  call_soon<A extends unknown[]>(callback: Callback<A> | Handle, ...args: A): Handle {
    if (this._closed) this._check_closed();
    check_callback(callback, 'call_soon');
    const handle = this._make_handle(callback, args);
    this._ready.push(handle);
    return handle;
  }

  /** Like call_soon(), and wakes the loop if it is blocked waiting for I/O. */
  call_soon_threadsafe<A extends unknown[]>(callback: Callback<A> | Handle, ...args: A): Handle {
    const handle = this.call_soon(callback, ...args);
    this._write_to_self();
    return handle;
  }

  /** Wakes the loop out of its I/O wait (a no-op here; the selector loop writes to its wake-up fd). */
  protected _write_to_self(): void {}

  /** Calls `callback(...args)` in `delay` seconds; a delay <= 0 queues it like call_soon() (FIFO). */
  call_later<A extends unknown[]>(delay: number, callback: Callback<A>, ...args: A): TimerHandle {
    check_time(delay, 'delay', 'call_later');
    this._check_closed();
    check_callback(callback, 'call_later');
    if (delay <= 0) {
      const handle = this._timer(this.time(), callback, args);
      this._ready.push(handle);
      return handle;
    }
    return this._schedule(this.time() + delay, callback, args); // not through call_at: no second args array
  }

  /** Calls `callback(...args)` at `when`, a time on the `loop.time()` clock. */
  call_at<A extends unknown[]>(when: number, callback: Callback<A>, ...args: A): TimerHandle {
    this._check_closed();
    check_time(when, 'when', 'call_at');
    check_callback(callback, 'call_at');
    return this._schedule(when, callback, args);
  }

  private _schedule(when: number, callback: Callback | Handle, args: unknown[]): TimerHandle {
    const handle = this._timer(when, callback, args);
    handle._scheduled = true;
    this._scheduled.push(handle);
    return handle;
  }

  /**
   * Calls `callback(...args)` every `interval` seconds, the first time in `interval` seconds, until the
   * returned handle is cancelled or the callback throws. A late call delays the ones after it.
   */
  call_repeatedly<A extends unknown[]>(interval: number, callback: Callback<A>, ...args: A): TimerHandle {
    check_time(interval, 'interval', 'call_repeatedly');
    if (!(interval > 0)) throw new RangeError(`call_repeatedly(): interval must be > 0, got ${interval}`);
    check_callback(callback, 'call_repeatedly');
    const inner = this._make_handle(callback, args);
    const handle: TimerHandle = this.call_at(this.time() + interval, () => {
      inner._callback(...inner._args); // if this throws, Handle._run logs it and the chain ends here
      if (handle._cancelled || this._closed) return;
      handle._when = this.time() + interval;
      handle._seq = this._timer_seq++;
      handle._scheduled = true;
      this._scheduled.push(handle);
    });
    return handle;
  }

  /** Wraps a coroutine in a Task on this loop (asyncio 3.4's name). */
  create_task<T>(coro: Coroutine<T>): Task<T> {
    this._check_closed();
    return new Task(coro, { loop: this });
  }

  private _make_handle(callback: Callback | Handle, args: unknown[]): Handle {
    let handle: Handle;
    if (callback instanceof Handle) {
      // The PEP lets a Handle stand for callback + args; it must not come with arguments of its own.
      if (args.length > 0) throw new TypeError('a Handle passed as the callback cannot take arguments');
      handle = callback;
    } else {
      handle = new Handle(callback, args, this);
    }
    if (this._debug) handle._source_traceback = _capture_stack();
    return handle;
  }

  private _timer(when: number, callback: Callback | Handle, args: unknown[]): TimerHandle {
    if (callback instanceof Handle) {
      if (args.length > 0) throw new TypeError('a Handle passed as the callback cannot take arguments');
      const inner = callback;
      callback = () => {
        if (!inner._cancelled) inner._run();
      };
    }
    const handle = new TimerHandle(when, this._timer_seq++, callback, args, this);
    if (this._debug) handle._source_traceback = _capture_stack();
    return handle;
  }

  /** @internal */
  _timer_handle_cancelled(_handle: TimerHandle): void {
    this._scheduled.note_cancelled();
  }

  // ---- The turn ----

  /**
   * One turn: wait for I/O (no longer than the first timer, not at all if callbacks are ready), queue the
   * handles of ready fds and of due timers, then run exactly the handles that were ready at that point —
   * callbacks they schedule wait for the next turn. `stop()` ends the turn after the callback that asked.
   */
  _run_once(max_timeout: number | null = null): void {
    const ready = this._ready;
    let timeout = max_timeout;
    if (ready.length > 0 || this._stopping) {
      timeout = 0;
    } else {
      const first = this._scheduled.peek();
      if (first !== undefined) {
        const wait = Math.max(0, first._when - this.time());
        timeout = timeout === null ? wait : Math.min(timeout, wait);
      }
    }
    if (ready.length === 0 || ++this._turns_without_poll >= POLL_EVERY) {
      this._turns_without_poll = 0;
      this._process_io(timeout);
    }
    this._queue_due_timers();
    let n = ready.length;
    if (this._debug) return this._run_ready_debug(n);
    while (n-- > 0) {
      const handle = ready.shift();
      if (!handle._cancelled) handle._run();
      if (this._stopping) break;
    }
  }

  private _queue_due_timers(): void {
    const heap = this._scheduled;
    if (heap.size === 0) return;
    const now = this.time();
    for (let t = heap.peek(); t !== undefined && t._when <= now; t = heap.peek()) {
      heap.pop();
      t._scheduled = false;
      this._ready.push(t);
    }
  }

  /** The debug twin of the run loop in `_run_once`: times every callback and reports slow ones. */
  private _run_ready_debug(n: number): void {
    const ready = this._ready;
    while (n-- > 0) {
      const handle = ready.shift();
      if (handle._cancelled) continue;
      const t0 = this.time();
      handle._run();
      const took = this.time() - t0;
      if (took >= this.slow_callback_duration) {
        let message = `Executing ${handle} took ${took.toFixed(3)} seconds`;
        if (handle._source_traceback) message += `\nhandle created at:\n${handle._source_traceback}`;
        logger.warning(message);
      }
      if (this._stopping) break;
    }
  }

  // ---- Thread interaction (src/executor.ts) ----

  /** Runs `fn(...args)` on a worker thread; `fn` is a named export of a module (see executor.ts). */
  override run_in_executor<A extends unknown[], R>(executor: Executor | null, fn: ExecutorFunction<A, R> | Handle, ...args: A): Future<R> {
    return run_in_executor(this, executor, fn, ...args);
  }
  override set_default_executor(executor: Executor | null): void {
    set_default_executor(this, executor);
  }
  override wrap_future<T>(future: ConcurrentFuture<T> | Future<T>): Future<T> {
    return wrap_future(this, future);
  }

  // ---- Name lookups and connections: coroutines in coroutines/lookup.ts and coroutines/network.ts ----

  override getaddrinfo(host: string | null, port: number | string | null, options?: LookupOptions): Coroutine<AddrInfo[]> {
    return getaddrinfo(this, host, port, options);
  }
  override getnameinfo(sockaddr: InetAddress, flags = 0): Coroutine<[string, string]> {
    return getnameinfo(this, sockaddr, flags);
  }
  override create_connection<P extends ProtocolOrBuffered>(protocol_factory: () => P, host?: string | null, port?: number | string | null, options?: ConnectionOptions): Coroutine<[Transport, P]> {
    return create_connection(this, protocol_factory, host, port, options);
  }
  override start_tls(transport: Transport, protocol: ProtocolOrBuffered, sslcontext: SSLContext, options?: StartTlsOptions): Coroutine<SSLProtocolTransport> {
    return start_tls(this, transport, protocol, sslcontext, options);
  }
  override start_serving(protocol_factory: () => BaseProtocol, host?: string | null, port?: number | string | null, options?: ServingOptions): Coroutine<Socket[]> {
    return start_serving(this, protocol_factory, host, port, options);
  }
  override stop_serving(sock: Socket): void {
    stop_serving(this, sock);
  }
  override create_server(protocol_factory: () => BaseProtocol, host?: string | null, port?: number | string | null, options?: ServingOptions): Coroutine<Server> {
    return create_server(this, protocol_factory, host, port, options);
  }
  override create_datagram_endpoint<P extends DatagramProtocol>(protocol_factory: () => P, options?: DatagramOptions): Coroutine<[DatagramTransport, P]> {
    return create_datagram_endpoint(this, protocol_factory, options);
  }

  // ---- Debugging ----

  /**
   * Debug mode: record where handles, futures and tasks were created and show it in error reports, report
   * callbacks slower than `slow_callback_duration`, and track coroutines decorated from now on that are
   * never started. Off by default, and then it costs nothing.
   */
  set_debug(enabled: boolean): void {
    this._debug = Boolean(enabled);
    if (this._debug) _set_coroutine_debug(true);
  }

  get_debug(): boolean {
    return this._debug;
  }
}
