/**
 * The event loop's contract (Tulip's `events.py`): `Handle` and `TimerHandle`, the `AbstractEventLoop`
 * that every loop implements (and that documents the PEP's methods), and the policy functions that give
 * each thread its current loop.
 *
 * This module defines no loop of its own: the concrete default loop registers itself through
 * `_set_default_loop_factory` when `selector_events` is imported, which keeps the import graph acyclic.
 */
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { NotImplementedError, RuntimeError } from './errors.js';
import { logger } from './log.js';
import type { SockAddr } from './binding.js';
import type { SSLContext } from './ssl.js';
import type { SSLProtocolTransport, SSLTimeouts } from './sslproto.js';
import type { Future, Coroutine } from './futures.js';
import type { BaseProtocol } from './protocols.js';
import type { Socket } from './socket.js';
import type { Task } from './tasks.js';
import type { BaseTransport, DatagramTransport, Transport } from './transports.js';
import type { DatagramProtocol, Protocol, ProtocolOrBuffered } from './protocols.js';
import type { InetAddress } from './binding.js';
import type { ConcurrentFuture, Executor, ExecutorFunction } from './executor.js';
import type { AddrInfo, LookupOptions } from '../coroutines/lookup.js';
import type {
  ConnectionOptions, DatagramOptions, Server, ServingOptions, StartTlsOptions, UnixConnectionOptions, UnixServingOptions,
} from '../coroutines/network.js';
import type { PipeLike } from './unix_events.js';
import type { ReadTransport, WriteTransport } from './transports.js';
import type { BaseSubprocessTransport, SubprocessOptions } from './base_subprocess.js';
import type { SubprocessProtocol } from './protocols.js';
import type { SubprocessTransport } from './transports.js';
import type { ExecArgs } from '../coroutines/subprocess.js';

/** What a callback looks like: any function, called with the arguments given when it was scheduled. */
export type Callback<A extends unknown[] = any[]> = (...args: A) => unknown;

const src_dir = dirname(fileURLToPath(import.meta.url));
const internal_dirs = [src_dir + sep, join(src_dir, '..', 'coroutines') + sep];

/**
 * Debug aid: the stack of the caller that created something (a handle, a task, a coroutine), without
 * tulip-ts' own frames. Only called in debug mode: capturing a stack costs microseconds.
 */
export function _capture_stack(): string | undefined {
  const stack = new Error().stack;
  if (stack === undefined) return undefined;
  const frames = stack.split('\n').slice(1);
  const user = frames.filter((f) => !internal_dirs.some((d) => f.includes(d)));
  return (user.length > 0 ? user : frames).join('\n');
}

/**
 * The coroutine frames of a V8 stack, innermost first: the generator frames of a yield* chain, down to the
 * Task's step that drives them, without the generators' resume frames (`at f.next (<anonymous>)`) or
 * tulip-ts' own Future.next / get_stack frames. Frames are matched by name and file name (not directory:
 * with source maps a stack names the .ts sources, wherever the running .js is).
 */
export function _coroutine_frames(stack: string): string[] {
  const out: string[] = [];
  for (const line of stack.split('\n')) {
    const frame = line.trim();
    if (!frame.startsWith('at ')) continue;
    if (frame.startsWith('at Task._step ')) break;
    if (frame.startsWith('at _suspension_stack ')) continue;
    if (/^at \S+\.(next|throw) \(<anonymous>\)$/.test(frame)) continue; // a generator being resumed
    if (/^at \w+\.(next|get_stack|print_stack) \(.*[\\/](futures|tasks)\.[jt]s:/.test(frame)) continue;
    out.push(frame);
  }
  return out;
}

/** The coroutine frames running right now (see _coroutine_frames), from a stack deeper than V8's
 * default of 10 frames: nested coroutines need more. */
export function _suspension_stack(): string[] {
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = 200;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = saved;
  return _coroutine_frames(stack);
}

function describe_callback(cb: Function): string {
  return cb.name ? `${cb.name}()` : '<anonymous function>';
}

/** A callback registration: returned by `call_soon` and friends, and cancellable until it runs. */
export class Handle {
  /** @internal */ _callback: Callback;
  /** @internal */ _args: unknown[];
  /** @internal */ _cancelled = false;
  /** @internal */ _loop: AbstractEventLoop | null;
  /** Where the handle was created (debug mode only). */
  _source_traceback: string | undefined = undefined;

  constructor(callback: Callback, args: unknown[], loop: AbstractEventLoop | null = null) {
    this._callback = callback;
    this._args = args;
    this._loop = loop;
  }

  get callback(): Callback {
    return this._callback;
  }
  get args(): readonly unknown[] {
    return this._args;
  }
  /** True once `cancel()` was called (a read-only attribute in the seed PEP, not a method). */
  get cancelled(): boolean {
    return this._cancelled;
  }

  cancel(): void {
    this._cancelled = true;
  }

  /** Runs the callback; an exception is logged (with the creation site in debug mode), never propagated. */
  _run(): void {
    try {
      const args = this._args;
      if (args.length === 0) this._callback();
      else this._callback(...args);
    } catch (e) {
      let message = `Exception in callback ${describe_callback(this._callback)}`;
      if (this._source_traceback) message += `\nhandle created at:\n${this._source_traceback}`;
      logger.error(message, e);
    }
  }

  toString(): string {
    return `Handle(${describe_callback(this._callback)}${this._cancelled ? ', cancelled' : ''})`;
  }
}

/** A handle with a due time; it lives in the loop's timer heap until it fires or is cancelled. */
export class TimerHandle extends Handle {
  /** @internal due time, loop.time() seconds */ _when: number;
  /** @internal FIFO tie-breaker */ _seq: number;
  /** @internal true while in the heap */ _scheduled = false;

  constructor(when: number, seq: number, callback: Callback, args: unknown[], loop: AbstractEventLoop | null = null) {
    super(callback, args, loop);
    this._when = when;
    this._seq = seq;
  }

  /** When the callback is due, in `loop.time()` seconds. */
  get when(): number {
    return this._when;
  }

  override cancel(): void {
    if (this._cancelled) return;
    this._cancelled = true;
    // Let the loop count dead timers so it can compact its heap; no search happens here.
    if (this._scheduled && this._loop !== null) this._loop._timer_handle_cancelled(this);
  }

  override toString(): string {
    return `TimerHandle(when=${this._when.toFixed(3)}, ${describe_callback(this._callback)}${this._cancelled ? ', cancelled' : ''})`;
  }
}

function not_implemented(name: string): never {
  throw new NotImplementedError(`${name}() is not implemented by this event loop`);
}

/**
 * The interface of every event loop, with the PEP's method names. Methods a loop does not support throw
 * `NotImplementedError`. The coroutine layer (`coroutines/`) sees loops only through this class.
 */
export abstract class AbstractEventLoop {
  /** @internal The task running now (Task.current_task), and the pending tasks the loop keeps alive. */
  _current_task: Task<unknown> | null = null;
  /** @internal */
  _tasks = new Set<Task<unknown>>();

  // Running and stopping.
  abstract run_forever(): void;
  abstract run_until_complete<T>(future: Future<T> | Coroutine<T>, timeout?: number | null): T;
  abstract stop(): void;
  abstract is_running(): boolean;
  abstract close(): void;
  abstract is_closed(): boolean;

  // Time and callbacks.
  abstract time(): number;
  abstract call_soon<A extends unknown[]>(callback: Callback<A> | Handle, ...args: A): Handle;
  abstract call_later<A extends unknown[]>(delay: number, callback: Callback<A>, ...args: A): TimerHandle;
  abstract call_at<A extends unknown[]>(when: number, callback: Callback<A>, ...args: A): TimerHandle;
  abstract call_repeatedly<A extends unknown[]>(interval: number, callback: Callback<A>, ...args: A): TimerHandle;
  abstract call_soon_threadsafe<A extends unknown[]>(callback: Callback<A> | Handle, ...args: A): Handle;
  abstract create_task<T>(coro: Coroutine<T>): Task<T>;

  // Debugging.
  abstract set_debug(enabled: boolean): void;
  abstract get_debug(): boolean;

  /** @internal The heap's bookkeeping hook for TimerHandle.cancel(). */
  abstract _timer_handle_cancelled(handle: TimerHandle): void;

  // I/O callbacks (selector loops).
  add_reader<A extends unknown[]>(fd: FileDescriptorLike, callback: Callback<A> | Handle, ...args: A): Handle {
    return not_implemented('add_reader');
  }
  remove_reader(fd: FileDescriptorLike): boolean {
    return not_implemented('remove_reader');
  }
  add_writer<A extends unknown[]>(fd: FileDescriptorLike, callback: Callback<A> | Handle, ...args: A): Handle {
    return not_implemented('add_writer');
  }
  remove_writer(fd: FileDescriptorLike): boolean {
    return not_implemented('remove_writer');
  }

  // Unix signals (main thread only; see src/unix_signals.ts).
  /** Calls `callback(...args)` as an ordinary callback each time signal `sig` arrives. */
  add_signal_handler<A extends unknown[]>(sig: number, callback: Callback<A>, ...args: A): Handle {
    return not_implemented('add_signal_handler');
  }
  /** Removes the handler for `sig`, restoring the previous disposition; true if there was one. */
  remove_signal_handler(sig: number): boolean {
    return not_implemented('remove_signal_handler');
  }

  // Subprocesses (src/base_subprocess.ts, coroutines/subprocess.ts): coroutines.
  /** Runs `program` with string arguments, optionally followed by an options object
   * `{ stdin, stdout, stderr, cwd, env }`: `[transport, protocol]`. */
  subprocess_exec<P extends SubprocessProtocol>(protocol_factory: () => P, program: string, ...args: ExecArgs): Coroutine<[SubprocessTransport, P]> {
    return not_implemented('subprocess_exec');
  }
  /** Runs `cmd` with /bin/sh -c: `[transport, protocol]`. */
  subprocess_shell<P extends SubprocessProtocol>(protocol_factory: () => P, cmd: string, options?: SubprocessOptions): Coroutine<[SubprocessTransport, P]> {
    return not_implemented('subprocess_shell');
  }
  /** @internal Starts the child (throws OSError if it cannot); `waiter` resolves once its pipes are connected. */
  _make_subprocess_transport(protocol: SubprocessProtocol, args: readonly string[], options: SubprocessOptions, waiter: Future<null> | null): BaseSubprocessTransport {
    return not_implemented('_make_subprocess_transport');
  }

  // Thread interaction.
  run_in_executor<A extends unknown[], R>(executor: Executor | null, fn: ExecutorFunction<A, R> | Handle, ...args: A): Future<R> {
    return not_implemented('run_in_executor');
  }
  set_default_executor(executor: Executor | null): void {
    not_implemented('set_default_executor');
  }
  wrap_future<T>(future: ConcurrentFuture<T> | Future<T>): Future<T> {
    return not_implemented('wrap_future');
  }

  // Name lookups and connections: coroutines (yield* them, or pass them to run_until_complete).
  getaddrinfo(host: string | null, port: number | string | null, options?: LookupOptions): Coroutine<AddrInfo[]> {
    return not_implemented('getaddrinfo');
  }
  getnameinfo(sockaddr: InetAddress, flags?: number): Coroutine<[string, string]> {
    return not_implemented('getnameinfo');
  }
  create_connection<P extends ProtocolOrBuffered>(protocol_factory: () => P, host?: string | null, port?: number | string | null, options?: ConnectionOptions): Coroutine<[Transport, P]> {
    return not_implemented('create_connection');
  }
  start_serving(protocol_factory: () => BaseProtocol, host?: string | null, port?: number | string | null, options?: ServingOptions): Coroutine<Socket[]> {
    return not_implemented('start_serving');
  }
  stop_serving(sock: Socket): void {
    not_implemented('stop_serving');
  }
  create_server(protocol_factory: () => BaseProtocol, host?: string | null, port?: number | string | null, options?: ServingOptions): Coroutine<Server> {
    return not_implemented('create_server');
  }
  create_datagram_endpoint<P extends DatagramProtocol>(protocol_factory: () => P, options?: DatagramOptions): Coroutine<[DatagramTransport, P]> {
    return not_implemented('create_datagram_endpoint');
  }
  /** TLS under an established connection (asyncio 3.7): use the transport it returns from then on. */
  start_tls(transport: Transport, protocol: ProtocolOrBuffered, sslcontext: SSLContext, options?: StartTlsOptions): Coroutine<SSLProtocolTransport> {
    return not_implemented('start_tls');
  }

  // Unix domain sockets: coroutines, as create_connection / create_server with a path instead of host/port.
  create_unix_connection<P extends ProtocolOrBuffered>(protocol_factory: () => P, path?: string | null, options?: UnixConnectionOptions): Coroutine<[Transport, P]> {
    return not_implemented('create_unix_connection');
  }
  create_unix_server(protocol_factory: () => BaseProtocol, path?: string | null, options?: UnixServingOptions): Coroutine<Server> {
    return not_implemented('create_unix_server');
  }

  // Pipes (Unix): coroutines giving [transport, protocol]; the transport takes over the fd.
  connect_read_pipe<P extends Protocol>(protocol_factory: () => P, pipe: PipeLike): Coroutine<[ReadTransport, P]> {
    return not_implemented('connect_read_pipe');
  }
  connect_write_pipe<P extends BaseProtocol>(protocol_factory: () => P, pipe: PipeLike): Coroutine<[WriteTransport, P]> {
    return not_implemented('connect_write_pipe');
  }

  // Wrapped socket methods: Futures, usable with yield*.
  sock_recv(sock: Socket, n: number): Future<Buffer> {
    return not_implemented('sock_recv');
  }
  sock_sendall(sock: Socket, data: Uint8Array): Future<null> {
    return not_implemented('sock_sendall');
  }
  sock_connect(sock: Socket, address: SockAddr): Future<null> {
    return not_implemented('sock_connect');
  }
  sock_accept(sock: Socket): Future<[Socket, SockAddr | null]> {
    return not_implemented('sock_accept');
  }

  /** @internal The transport factories and the accept machinery the network coroutines build on. */
  _make_socket_transport(sock: Socket, protocol: BaseProtocol, waiter: Future<null> | null, extra?: Record<string, unknown>, server?: { _attach(): void; _detach(): void } | null): BaseTransport {
    return not_implemented('_make_socket_transport');
  }
  /** @internal */
  _make_datagram_transport(sock: Socket, protocol: BaseProtocol, address: SockAddr | null, waiter: Future<null> | null, extra?: Record<string, unknown>): BaseTransport {
    return not_implemented('_make_datagram_transport');
  }
  /** @internal A TLS transport over a connected socket (an SSLProtocol on a plain socket transport);
   * returns the transport the application protocol gets. */
  _make_ssl_transport(
    sock: Socket, protocol: BaseProtocol, sslcontext: SSLContext, waiter: Future<null> | null, server_side: boolean, server_hostname: string | null,
    extra?: Record<string, unknown>, server?: { _attach(): void; _detach(): void } | null, timeouts?: SSLTimeouts,
  ): BaseTransport {
    return not_implemented('_make_ssl_transport');
  }
  /** @internal With `ssl`, every accepted connection is served over TLS. */
  _start_serving(protocol_factory: () => BaseProtocol, sock: Socket, server?: { _attach(): void; _detach(): void } | null, backlog?: number, ssl?: SSLContext | null, timeouts?: SSLTimeouts): void {
    not_implemented('_start_serving');
  }
}

/** A file descriptor, or an object that wraps one (a socket, a pipe end). */
export type FileDescriptorLike = number | { fileno(): number };

// ---- Policy -------------------------------------------------------------------------------------------

/** What a policy object must provide (the PEP's three functions). */
export interface AbstractEventLoopPolicy {
  get_event_loop(): AbstractEventLoop;
  set_event_loop(loop: AbstractEventLoop | null): void;
  new_event_loop(): AbstractEventLoop;
}

let default_loop_factory: (() => AbstractEventLoop) | null = null;

/** @internal Called by selector_events.ts to name the loop class the default policy creates. */
export function _set_default_loop_factory(factory: () => AbstractEventLoop): void {
  default_loop_factory = factory;
}

/**
 * The default policy: one current loop per thread, created lazily by `get_event_loop()` in the main thread
 * only; in a worker thread a loop must be set explicitly (as the PEP says for non-main threads).
 */
export class DefaultEventLoopPolicy implements AbstractEventLoopPolicy {
  private _loop: AbstractEventLoop | null = null;

  get_event_loop(): AbstractEventLoop {
    if (this._loop === null) {
      if (!isMainThread) {
        throw new RuntimeError(
          'There is no current event loop in this worker thread; create one with new_event_loop() and set it with set_event_loop()',
        );
      }
      this._loop = this.new_event_loop();
    }
    return this._loop;
  }

  set_event_loop(loop: AbstractEventLoop | null): void {
    if (loop !== null && !(loop instanceof AbstractEventLoop)) {
      throw new TypeError('set_event_loop() takes an event loop or null');
    }
    // The PEP: after set_event_loop(null) in the main thread, get_event_loop() creates a new loop again.
    this._loop = loop;
  }

  new_event_loop(): AbstractEventLoop {
    if (default_loop_factory === null) throw new RuntimeError('no default event loop class is registered');
    return default_loop_factory();
  }
}

let policy: AbstractEventLoopPolicy | null = null;

export function get_event_loop_policy(): AbstractEventLoopPolicy {
  if (policy === null) policy = new DefaultEventLoopPolicy();
  return policy;
}

/** Sets the policy; `null` restores a fresh `DefaultEventLoopPolicy`. */
export function set_event_loop_policy(p: AbstractEventLoopPolicy | null): void {
  if (p !== null && (typeof p.get_event_loop !== 'function' || typeof p.set_event_loop !== 'function' || typeof p.new_event_loop !== 'function')) {
    throw new TypeError('an event loop policy needs get_event_loop(), set_event_loop() and new_event_loop()');
  }
  policy = p;
}

/** The loop whose run_forever() is on the stack (it owns the thread while it runs), or null. */
let running_loop: AbstractEventLoop | null = null;

/** @internal Set by run_forever() on entry and restored on exit. */
export function _set_running_loop(loop: AbstractEventLoop | null): AbstractEventLoop | null {
  const previous = running_loop;
  running_loop = loop;
  return previous;
}

/** The running loop, or null when no loop is running (asyncio 3.7's name). */
export function get_running_loop(): AbstractEventLoop | null {
  return running_loop;
}

/**
 * The current loop: the running one when called from a callback or a coroutine (as asyncio does since
 * 3.5.3, so that `sleep()`, `new Future()` and friends pick the loop that runs them), else the policy's.
 */
export function get_event_loop(): AbstractEventLoop {
  return running_loop ?? get_event_loop_policy().get_event_loop();
}

export function set_event_loop(loop: AbstractEventLoop | null): void {
  get_event_loop_policy().set_event_loop(loop);
}

export function new_event_loop(): AbstractEventLoop {
  return get_event_loop_policy().new_event_loop();
}
