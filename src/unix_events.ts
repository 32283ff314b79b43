/**
 * unix_events (Tulip's `unix_events.py`): what the selector loop does only on Unix. For now, pipes:
 * `os_pipe()`, the read and write pipe transports, and the coroutines behind `loop.connect_read_pipe()` /
 * `loop.connect_write_pipe()`.
 *
 * The pipe transports reuse the socket transport's machinery (`selector_transports.ts`): one
 * implementation of the write buffer, flow control and closing; only the system call differs (read(2) /
 * write(2) instead of recv / send).
 *
 * Ownership: once a transport has been made, it owns the pipe and closes it after `connection_lost()`
 * (calling the object's `close()` when the pipe was given as an object that has one, else closing the fd).
 * If `connect_*_pipe()` fails before that (a bad fd, a regular file), the caller still owns the pipe.
 */
import { fstatSync, type Stats } from 'node:fs';
import { binding } from './binding.js';
import { check, errno, os_error, OSError } from './errors.js';
import type { AbstractEventLoop } from './events.js';
import { Future, type Coroutine } from './futures.js';
import { logger } from './log.js';
import type { BaseProtocol, Protocol } from './protocols.js';
import { fileobj_to_fd } from './selectors.js';
import {
  READ_MAX, ReadSlab, SelectorTransportBase, StreamWriterBase, type FdOwner, type IoLoop, type TransportExtra,
} from './selector_transports.js';
import type { ReadTransport, WriteTransport } from './transports.js';

const EAGAIN = errno['EAGAIN']!;
const EINTR = errno['EINTR']!;
const EIO = errno['EIO']!;
const EPIPE = errno['EPIPE']!;

/** A pipe end as connect_*_pipe() take it: an fd, or an object with `fileno()` (and maybe `close()`). */
export type PipeLike = number | { fileno(): number; close?(): void };

/**
 * A new pipe: `[read_fd, write_fd]`, plain integer fds, close-on-exec (so an exec'd child only gets the
 * ends it is explicitly given). They are BLOCKING, like Python's `os.pipe()`, so that either end can be
 * handed to Node's `fs` or to a child process (`spawn(cmd, args, { stdio: ['ignore', write_fd, 'inherit'] })`)
 * as an ordinary blocking fd; `connect_read_pipe()` / `connect_write_pipe()` switch the end they take to
 * non-blocking. (O_NONBLOCK belongs to the open file, shared with every process holding the same end:
 * keep an end that a child uses out of the loop's transports.)
 */
export function os_pipe(): [number, number] {
  const fds = binding.pipe();
  if (typeof fds === 'number') check(fds);
  const [r, w] = fds as [number, number];
  for (const fd of [r, w]) {
    const rc = binding.set_nonblocking(fd, false);
    if (rc < 0) {
      binding.close(r);
      binding.close(w);
      check(rc);
    }
  }
  return [r, w];
}

/** What kind of fd a pipe transport was given; throws OSError (EBADF, ...) or RangeError. */
function pipe_kind(fd: number): Stats {
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (e) {
    // Node reports a failed fstat with a string code ('EBADF'): make it our OSError of that errno.
    const code = (e as NodeJS.ErrnoException).code;
    const n = code === undefined ? undefined : errno[code];
    if (n === undefined) throw e;
    throw new (os_error(n).constructor as typeof OSError)(n, `[Errno ${n}] ${binding.strerror(n)}: fd ${fd} is not an open file descriptor`);
  }
  if (!(st.isFIFO() || st.isSocket() || st.isCharacterDevice())) {
    // As asyncio (ValueError): a regular file is always readable and writable, so a selector cannot watch it.
    throw new RangeError(`Pipe transport is only for pipes, sockets and character devices; fd ${fd} is ${st.isFile() ? 'a regular file' : st.isDirectory() ? 'a directory' : 'not one'}`);
  }
  return st;
}

/** The transport owns the pipe: it closes the object given (when it can close itself), else the fd. */
function owner_of(pipe: PipeLike, fd: number): FdOwner {
  if (typeof pipe === 'object' && typeof pipe.close === 'function') return pipe as FdOwner;
  return { close: () => void binding.close(fd) };
}

function set_nonblocking(fd: number): void {
  check(binding.set_nonblocking(fd, true));
}

/** The read end of a pipe (or a socket, a tty) as a ReadTransport: data_received, then EOF ends it. */
export class UnixReadPipeTransport extends SelectorTransportBase<Protocol> implements ReadTransport {
  constructor(loop: IoLoop, pipe: PipeLike, protocol: BaseProtocol, waiter: Future<null> | null = null, extra: TransportExtra = {}) {
    const fd = fileobj_to_fd(pipe);
    pipe_kind(fd);
    set_nonblocking(fd);
    super(loop, fd, owner_of(pipe, fd), protocol as Protocol, { pipe, ...extra });
    // A stream Protocol, handed the read half only (as asyncio does).
    this._start(waiter);
  }

  protected _read_ready(): void {
    const n = binding.read(this._fd, ReadSlab.reserve(), ReadSlab.used, READ_MAX);
    if (n > 0) {
      this._protocol.data_received(ReadSlab.take(n));
    } else if (n === 0) {
      // The writer closed its end. A pipe has no half-close: EOF ends the transport whatever
      // eof_received() returns (as asyncio). Two callbacks, so that connection_lost runs even if
      // eof_received throws.
      this._closing = true;
      this._conn_lost++;
      this._loop.remove_reader(this._fd);
      this._loop.call_soon(() => this._protocol.eof_received());
      this._loop.call_soon(() => this._call_connection_lost(null));
    } else if (n === -EIO) {
      // What a pty's master reads once the slave side is closed: an ending, not an error worth a report.
      this._force_close(os_error(EIO));
    } else if (n !== -EAGAIN && n !== -EINTR) {
      this._fatal_error(os_error(-n), 'Fatal read error on');
    }
  }

  protected _write_ready(): void {} // never registered: nothing is written
  protected _clear_buffer(): void {}

  override toString(): string {
    return `<UnixReadPipeTransport fd=${this._fd}${this._closing ? ' closing' : ''}>`;
  }
}

/**
 * The write end of a pipe (or a socket, a tty) as a WriteTransport. Writes, buffering, flow control and
 * closing are the socket transport's (StreamWriterBase). Pipe-specific: there is no half-close, so
 * `write_eof()` is `close()` (the reader sees EOF once the buffer is flushed); and the transport notices
 * the reader going away without writing: on Linux (and the BSDs) the write end of a pipe whose read end is
 * closed polls as readable (POLLERR), so a reader on our own write end means "the reader is gone" ->
 * connection_lost(null), or connection_lost(BrokenPipeError) when data was still buffered. (As in asyncio,
 * a socket used as a write pipe is watched the same way, so a peer that sends data also ends it.) A write that
 * meets the closed pipe fails with EPIPE -> connection_lost(BrokenPipeError). (Node ignores SIGPIPE, so
 * EPIPE is an error return, never a signal.)
 */
export class UnixWritePipeTransport extends StreamWriterBase<BaseProtocol> implements WriteTransport {
  constructor(loop: IoLoop, pipe: PipeLike, protocol: BaseProtocol, waiter: Future<null> | null = null, extra: TransportExtra = {}) {
    const fd = fileobj_to_fd(pipe);
    const st = pipe_kind(fd);
    set_nonblocking(fd);
    super(loop, fd, owner_of(pipe, fd), protocol, { pipe, ...extra });
    // A character device (a tty) is readable when someone types: that says nothing about the reader.
    const watch_reader = st.isFIFO() || st.isSocket();
    loop.call_soon(() => {
      this._protocol.connection_made(this);
      if (watch_reader && !this._closing) loop.add_reader(this._fd, this._read_ready_cb);
      if (waiter !== null && !waiter.done()) waiter.set_result(null);
    });
  }

  /** Our write end became "readable": the read end was closed (see the class comment). */
  protected _read_ready(): void {
    if (this._loop.get_debug()) logger.info(`${this} was closed by peer`);
    this._force_close(this._buffer_size > 0 ? os_error(EPIPE) : null);
  }

  protected _send(buf: Uint8Array, offset: number, length: number): number {
    return binding.write(this._fd, buf, offset, length);
  }

  /** A pipe has no half-close: EOF is closing our end once the buffer is flushed. */
  override write_eof(): void {
    if (this._eof || this._closing) return;
    this._eof = true;
    this.close();
  }

  protected _eof_now(): void {
    this.close();
  }

  override toString(): string {
    return `<UnixWritePipeTransport fd=${this._fd}${this._closing ? ' closing' : ''} bufsize=${this._buffer_size}>`;
  }
}

function* connect_pipe<T, P extends BaseProtocol>(loop: AbstractEventLoop, protocol_factory: () => P, make: (protocol: P, waiter: Future<null>) => T & { close(): void }): Coroutine<[T, P]> {
  const protocol = protocol_factory();
  const waiter = new Future<null>({ loop });
  const transport = make(protocol, waiter);
  try {
    yield* waiter; // connection_made has run
  } catch (e) {
    transport.close();
    throw e;
  }
  return [transport, protocol];
}

/**
 * Wraps the read end of a pipe in a transport: `[transport, protocol]` once `connection_made` has run.
 * Throws OSError EBADF for a closed fd, RangeError for a regular file (the fd is then not taken over).
 */
export function* connect_read_pipe<P extends Protocol>(loop: AbstractEventLoop, protocol_factory: () => P, pipe: PipeLike): Coroutine<[ReadTransport, P]> {
  // Check the fd before calling the factory: a bad argument should not create a protocol first.
  pipe_kind(fileobj_to_fd(pipe));
  return yield* connect_pipe(loop, protocol_factory, (p, w) => new UnixReadPipeTransport(loop as IoLoop, pipe, p, w));
}

/** Wraps the write end of a pipe in a transport: `[transport, protocol]` once `connection_made` has run. */
export function* connect_write_pipe<P extends BaseProtocol>(loop: AbstractEventLoop, protocol_factory: () => P, pipe: PipeLike): Coroutine<[WriteTransport, P]> {
  pipe_kind(fileobj_to_fd(pipe));
  return yield* connect_pipe(loop, protocol_factory, (p, w) => new UnixWritePipeTransport(loop as IoLoop, pipe, p, w));
}
