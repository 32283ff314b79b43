/**
 * SelectorEventLoop (Tulip's `selector_events.py`): BaseEventLoop plus a selector. A ready fd becomes a
 * ready handle: each registered fd's key carries the reader and writer Handles, and a turn pushes those very
 * handles onto the ready queue — no allocation per event.
 *
 * A wake-up fd (an eventfd on Linux, a pipe elsewhere) is registered like any reader, so that
 * `call_soon_threadsafe()` and worker threads (which may write to it: it is a plain fd) end a wait in the
 * selector. Its reader drains it; what woke the loop is whatever the waker queued.
 */
import { binding, type SockAddr } from './binding.js';
import { BaseEventLoop } from './base_events.js';
import { RuntimeError, check, errno, os_error } from './errors.js';
import { Handle, _set_default_loop_factory, type Callback, type FileDescriptorLike } from './events.js';
import { Future, type Coroutine } from './futures.js';
import { logger } from './log.js';
import type { BaseProtocol, Protocol, ProtocolOrBuffered } from './protocols.js';
import type { SSLContext } from './ssl.js';
import { SSLProtocol, type SSLProtocolTransport, type SSLTimeouts } from './sslproto.js';
import { DefaultSelector, EVENT_READ, EVENT_WRITE, fileobj_to_fd, type BaseSelector } from './selectors.js';
import { Socket } from './socket.js';
import { check_bytes, type ReadTransport, type Transport, type WriteTransport } from './transports.js';
import { connect_read_pipe, connect_write_pipe, type PipeLike } from './unix_events.js';
import {
  create_unix_connection, create_unix_server, type Server, type UnixConnectionOptions, type UnixServingOptions,
} from '../coroutines/network.js';
import { add_signal_handler, close_signals, remove_signal_handler } from './unix_signals.js';
import { BaseSubprocessTransport, type SubprocessOptions } from './base_subprocess.js';
import { close_child_watches } from './child_watcher.js';
import type { SubprocessProtocol } from './protocols.js';
import type { SubprocessTransport } from './transports.js';
import { subprocess_exec, subprocess_shell, type ExecArgs } from '../coroutines/subprocess.js';
import {
  SelectorDatagramTransport, SelectorSocketTransport, type ServerLike, type TransportExtra,
} from './selector_transports.js';

const EAGAIN = errno['EAGAIN']!;
const EINTR = errno['EINTR']!;
const EINPROGRESS = errno['EINPROGRESS']!;
const ACCEPT_ERRORS_TO_RETRY = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM'].map((n) => errno[n]));

function would_block(r: number): boolean {
  return r === -EAGAIN || r === -EINTR;
}

/** What the loop stores as a registration's data: the handles to run when the fd is readable / writable. */
export class IoHandles {
  constructor(public reader: Handle | null, public writer: Handle | null) {}
}

export class SelectorEventLoop extends BaseEventLoop {
  /** @internal */ _selector: BaseSelector<IoHandles>;
  private _wakeup_r: number;
  /** @internal The write side of the wake-up fd: writing to it (from any thread) wakes this loop. */
  _wakeup_w: number;
  /** Called on the loop thread after each wake-up (an executor collects its workers' results here). */
  private _wakeup_listeners = new Set<() => void>();

  constructor(selector?: BaseSelector<IoHandles>) {
    super();
    this._selector = selector ?? new DefaultSelector<IoHandles>();
    const fds = binding.wakeup_create();
    if (typeof fds === 'number') {
      this._selector.close();
      check(fds);
    }
    [this._wakeup_r, this._wakeup_w] = fds as [number, number];
    this.add_reader(this._wakeup_r, () => this._read_from_self());
  }

  /** @internal The hosted mode watches the selector's own fd (epoll, kqueue). */
  protected override _host_fd(): number {
    const selector = this._selector as BaseSelector<IoHandles> & { fileno?: () => number };
    if (typeof selector.fileno !== 'function') {
      throw new RuntimeError(`a loop on ${selector.constructor.name} cannot be hosted: Node's loop can watch an EpollSelector or a KqueueSelector (they have an fd), not this one`);
    }
    return selector.fileno();
  }

  private _read_from_self(): void {
    binding.wakeup_drain(this._wakeup_r);
    for (const listener of this._wakeup_listeners) listener();
  }

  /**
   * @internal Registers `listener` to run on the loop thread whenever the wake-up fd fires: a worker thread
   * posts its result (on a MessagePort), writes to `_wakeup_w`, and the listener collects the result
   * synchronously with receiveMessageOnPort. Returns a function that removes the listener.
   */
  _add_wakeup_listener(listener: () => void): () => void {
    this._wakeup_listeners.add(listener);
    return () => this._wakeup_listeners.delete(listener);
  }

  protected override _write_to_self(): void {
    if (this._wakeup_w >= 0) binding.wakeup_signal(this._wakeup_w);
  }

  override close(): void {
    if (this.is_closed()) return;
    super.close();
    close_child_watches(this); // closes the pidfds it still watches (children still running are left to run)
    close_signals(this); // restores the dispositions this loop took over and closes its signal pipe
    this._selector.close();
    binding.close(this._wakeup_r);
    if (this._wakeup_w !== this._wakeup_r) binding.close(this._wakeup_w);
    this._wakeup_r = this._wakeup_w = -1;
  }

  protected _process_io(timeout: number | null): void {
    const selector = this._selector;
    const n = selector._poll(timeout);
    const ready = selector._ready;
    const queue = this._ready;
    for (let i = 0; i < n; i++) {
      const key = selector._key(ready[2 * i]!);
      if (key === undefined) continue;
      const mask = ready[2 * i + 1]!;
      const { reader, writer } = key.data;
      if (mask & EVENT_READ && reader !== null && !reader._cancelled) queue.push(reader);
      if (mask & EVENT_WRITE && writer !== null && !writer._cancelled) queue.push(writer);
    }
  }

  // ---- I/O callbacks ----

  /** Calls `callback(...args)` whenever `fd` is readable, until `remove_reader(fd)`; replaces any reader. */
  override add_reader<A extends unknown[]>(fd: FileDescriptorLike, callback: Callback<A> | Handle, ...args: A): Handle {
    return this._add_io(fd, EVENT_READ, this._io_handle(callback, args, 'add_reader'));
  }

  /** Calls `callback(...args)` whenever `fd` is writable, until `remove_writer(fd)`; replaces any writer. */
  override add_writer<A extends unknown[]>(fd: FileDescriptorLike, callback: Callback<A> | Handle, ...args: A): Handle {
    return this._add_io(fd, EVENT_WRITE, this._io_handle(callback, args, 'add_writer'));
  }

  /** Stops watching `fd` for reading; true if a reader was registered. */
  override remove_reader(fd: FileDescriptorLike): boolean {
    return this._remove_io(fd, EVENT_READ);
  }

  /** Stops watching `fd` for writing; true if a writer was registered. */
  override remove_writer(fd: FileDescriptorLike): boolean {
    return this._remove_io(fd, EVENT_WRITE);
  }

  // ---- Unix signals (src/unix_signals.ts) ----

  override add_signal_handler<A extends unknown[]>(sig: number, callback: Callback<A>, ...args: A): Handle {
    return add_signal_handler(this, sig, callback, args);
  }

  override remove_signal_handler(sig: number): boolean {
    return remove_signal_handler(this, sig);
  }

  // ---- Subprocesses (src/base_subprocess.ts, coroutines/subprocess.ts) ----

  override subprocess_exec<P extends SubprocessProtocol>(protocol_factory: () => P, program: string, ...args: ExecArgs): Coroutine<[SubprocessTransport, P]> {
    return subprocess_exec(this, protocol_factory, program, ...args);
  }

  override subprocess_shell<P extends SubprocessProtocol>(protocol_factory: () => P, cmd: string, options?: SubprocessOptions): Coroutine<[SubprocessTransport, P]> {
    return subprocess_shell(this, protocol_factory, cmd, options);
  }

  /** @internal */
  override _make_subprocess_transport(protocol: SubprocessProtocol, args: readonly string[], options: SubprocessOptions, waiter: Future<null> | null): BaseSubprocessTransport {
    return new BaseSubprocessTransport(this, protocol, args, options, waiter);
  }

  // ---- Wrapped socket methods (the PEP's sock_*): each returns a Future, usable with yield* ----

  /** Receives up to `n` bytes from a non-blocking socket: a Buffer, empty at EOF. */
  override sock_recv(sock: Socket, n: number): Future<Buffer> {
    const fut = new Future<Buffer>({ loop: this });
    const fd = sock.fileno();
    const attempt = (): void => {
      if (fut.done()) return this._forget_reader(fd);
      const buf = Buffer.allocUnsafe(n);
      const r = binding.recv(fd, buf, 0, n, 0);
      if (would_block(r)) {
        this.add_reader(fd, attempt);
        return;
      }
      this._forget_reader(fd);
      if (r < 0) fut.set_exception(os_error(-r));
      else fut.set_result(buf.subarray(0, r));
    };
    attempt();
    return fut;
  }

  /** Sends all of `data`, waiting for the socket to be writable as often as needed. */
  override sock_sendall(sock: Socket, data: Uint8Array): Future<null> {
    check_bytes(data, 'sock_sendall');
    const fut = new Future<null>({ loop: this });
    const fd = sock.fileno();
    let offset = 0;
    const copy = Buffer.from(data); // the caller may reuse its buffer before we are done
    const attempt = (): void => {
      if (fut.done()) return this._forget_writer(fd);
      while (offset < copy.length) {
        const r = binding.send(fd, copy, offset, copy.length - offset, 0);
        if (would_block(r)) {
          this.add_writer(fd, attempt);
          return;
        }
        if (r < 0) {
          this._forget_writer(fd);
          fut.set_exception(os_error(-r));
          return;
        }
        offset += r;
      }
      this._forget_writer(fd);
      fut.set_result(null);
    };
    attempt();
    return fut;
  }

  /**
   * Connects a non-blocking socket to an address whose host is already numeric (resolve names with
   * getaddrinfo first: this never blocks on DNS).
   */
  override sock_connect(sock: Socket, address: SockAddr): Future<null> {
    const fut = new Future<null>({ loop: this });
    const fd = sock.fileno();
    const r = binding.connect(fd, sock.family, address);
    if (r === 0) fut.set_result(null);
    else if (r !== -EINPROGRESS && r !== -EINTR) fut.set_exception(os_error(-r, address));
    else {
      this.add_writer(fd, () => {
        this._forget_writer(fd);
        if (fut.done()) return;
        const err = binding.getsockopt(fd, binding.constants.SOL_SOCKET, binding.constants.SO_ERROR) as number;
        if (err === 0) fut.set_result(null);
        else fut.set_exception(os_error(err < 0 ? -err : err, address));
      });
    }
    return fut;
  }

  /** Accepts a connection: `[socket, address]`, the new socket non-blocking. */
  override sock_accept(sock: Socket): Future<[Socket, SockAddr | null]> {
    const fut = new Future<[Socket, SockAddr | null]>({ loop: this });
    const fd = sock.fileno();
    const attempt = (): void => {
      if (fut.done()) return this._forget_reader(fd);
      const r = binding.accept(fd);
      if (typeof r === 'number' && would_block(r)) {
        this.add_reader(fd, attempt);
        return;
      }
      this._forget_reader(fd);
      if (typeof r === 'number') fut.set_exception(os_error(-r));
      else fut.set_result([new Socket(sock.family, sock.type, sock.proto, r[0]), r[1]]);
    };
    attempt();
    return fut;
  }

  private _forget_reader(fd: number): void {
    if (!this.is_closed()) this.remove_reader(fd);
  }

  private _forget_writer(fd: number): void {
    if (!this.is_closed()) this.remove_writer(fd);
  }

  // ---- Pipes (unix_events.ts) ----

  /** Wraps the read end of a pipe: `[transport, protocol]`; the transport owns the fd from then on. */
  override connect_read_pipe<P extends Protocol>(protocol_factory: () => P, pipe: PipeLike): Coroutine<[ReadTransport, P]> {
    return connect_read_pipe(this, protocol_factory, pipe);
  }

  /** Wraps the write end of a pipe: `[transport, protocol]`; the transport owns the fd from then on. */
  override connect_write_pipe<P extends BaseProtocol>(protocol_factory: () => P, pipe: PipeLike): Coroutine<[WriteTransport, P]> {
    return connect_write_pipe(this, protocol_factory, pipe);
  }

  // ---- Unix domain sockets (coroutines/network.ts) ----

  /** Connects to the Unix domain stream socket at `path`: `[transport, protocol]`. */
  override create_unix_connection<P extends ProtocolOrBuffered>(protocol_factory: () => P, path?: string | null, options?: UnixConnectionOptions): Coroutine<[Transport, P]> {
    return create_unix_connection(this, protocol_factory, path, options);
  }

  /** Serves the Unix domain stream socket at `path` (a stale socket file there is replaced): a Server. */
  override create_unix_server(protocol_factory: () => BaseProtocol, path?: string | null, options?: UnixServingOptions): Coroutine<Server> {
    return create_unix_server(this, protocol_factory, path, options);
  }

  // ---- Transports ----

  /** @internal */
  override _make_socket_transport(sock: Socket, protocol: BaseProtocol, waiter: Future<null> | null, extra?: TransportExtra, server?: ServerLike | null): SelectorSocketTransport {
    return new SelectorSocketTransport(this, sock, protocol, waiter, extra, server ?? null);
  }

  /** @internal */
  override _make_datagram_transport(sock: Socket, protocol: BaseProtocol, address: SockAddr | null, waiter: Future<null> | null, extra?: TransportExtra): SelectorDatagramTransport {
    return new SelectorDatagramTransport(this, sock, protocol, address, waiter, extra);
  }

  /** @internal */
  override _make_ssl_transport(
    sock: Socket, protocol: BaseProtocol, sslcontext: SSLContext, waiter: Future<null> | null, server_side: boolean, server_hostname: string | null,
    extra?: TransportExtra, server?: ServerLike | null, timeouts?: SSLTimeouts,
  ): SSLProtocolTransport {
    const ssl_protocol = new SSLProtocol(this, protocol as Protocol, sslcontext, waiter, server_side, server_hostname, timeouts);
    this._make_socket_transport(sock, ssl_protocol, null, extra, server);
    return ssl_protocol._app_transport;
  }

  /** @internal Starts accepting connections on a listening socket (start_serving's machinery). */
  override _start_serving(protocol_factory: () => BaseProtocol, sock: Socket, server: ServerLike | null = null, backlog = 100, ssl: SSLContext | null = null, timeouts: SSLTimeouts = {}): void {
    const fd = sock.fileno();
    const accept = (): void => {
      // Several per wake-up: a burst of connections is drained without a selector round trip each.
      for (let i = 0; i < backlog; i++) {
        const r = binding.accept(fd);
        if (typeof r === 'number') {
          if (would_block(r) || r === -errno['ECONNABORTED']!) return;
          const exc = os_error(-r);
          if (ACCEPT_ERRORS_TO_RETRY.has(-r)) {
            // Out of fds or memory: stop accepting for a second instead of spinning on the error.
            logger.error(`Error on accept() on ${sock}: ${exc.message}; pausing accept for 1 s`);
            this.remove_reader(fd);
            this.call_later(1, () => {
              if (sock.fileno() === fd && !this.is_closed()) this.add_reader(fd, accept);
            });
          } else {
            logger.error(`Error on accept() on ${sock}`, exc);
          }
          return;
        }
        const [conn_fd, peer] = r;
        const conn = new Socket(sock.family, sock.type, sock.proto, conn_fd);
        try {
          if (ssl === null) this._make_socket_transport(conn, protocol_factory(), null, { peername: peer }, server);
          else this._make_ssl_transport(conn, protocol_factory(), ssl, null, true, null, { peername: peer }, server, timeouts);
        } catch (e) {
          conn.close();
          logger.error('Error creating a transport for an accepted connection', e);
        }
      }
    };
    this.add_reader(fd, accept);
  }

  private _io_handle(callback: Callback | Handle, args: unknown[], method: string): Handle {
    this._check_closed();
    if (callback instanceof Handle) {
      if (args.length > 0) throw new TypeError('a Handle passed as the callback cannot take arguments');
      return callback;
    }
    if (typeof callback !== 'function') throw new TypeError(`${method}() needs a function as its callback, got ${typeof callback}`);
    return new Handle(callback, args, this);
  }

  private _add_io(fileobj: FileDescriptorLike, event: number, handle: Handle): Handle {
    const fd = fileobj_to_fd(fileobj);
    const key = this._selector._key(fd);
    if (key === undefined) {
      const data = event === EVENT_READ ? new IoHandles(handle, null) : new IoHandles(null, handle);
      this._selector.register(fd, event, data);
      return handle;
    }
    const data = key.data;
    const old = event === EVENT_READ ? data.reader : data.writer;
    if (event === EVENT_READ) data.reader = handle;
    else data.writer = handle;
    if ((key.events & event) === 0) this._selector.modify(fd, key.events | event, data);
    if (old !== handle) old?.cancel();
    return handle;
  }

  private _remove_io(fileobj: FileDescriptorLike, event: number): boolean {
    if (this.is_closed()) return false;
    const fd = fileobj_to_fd(fileobj);
    const key = this._selector._key(fd);
    if (key === undefined || (key.events & event) === 0) return false;
    const data = key.data;
    const old = event === EVENT_READ ? data.reader : data.writer;
    if (event === EVENT_READ) data.reader = null;
    else data.writer = null;
    const rest = key.events & ~event;
    if (rest === 0) this._selector.unregister(fd);
    else this._selector.modify(fd, rest, data);
    old?.cancel();
    return true;
  }
}

_set_default_loop_factory(() => new SelectorEventLoop());

