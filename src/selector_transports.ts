/**
 * The selector loop's transports (in Tulip they sit at the bottom of `selector_events.py`; they are split
 * out here to keep both files small): a stream transport over a connected socket, and a datagram
 * transport.
 *
 * The hot path, per message, is one recv() and, for `write()`, one send() tried at once. Only what the
 * socket does not take is buffered (copied, since the caller may reuse its array), with a writer registered
 * to flush it in order, several chunks per writev(). Nothing here allocates a closure per event.
 *
 * Where received bytes live (see `ReadSlab`): reads land in a shared slab. A small read is copied out into
 * an exact-size Buffer (from Node's pool), and the slab space is reused at once. A large read (>= 32 KiB)
 * is handed to `data_received()` as a view of the slab, with no copy, and the slab moves on; a new slab is
 * allocated when fewer than 256 KiB remain. Allocating and faulting in a fresh 100 KiB buffer per message
 * was what limited large-message throughput; this way a 1 MiB slab serves several large reads. The price:
 * a protocol that keeps a large chunk alive keeps its slab (at most 1 MiB) alive with it.
 *
 * Where the slabs' memory comes from: V8 frees dead slabs a score at a time, in a scavenge, and by default
 * glibc then gives the freed heap top back to the kernel, so the next slabs are faulted in again page by
 * page. Whether that happens depends on what else happens to sit at the top of the heap, so large-message
 * throughput came out either fast or a third slower, run by run. `retain_freed_slabs()` tells malloc to
 * keep that memory (see docs/performance.md).
 *
 * Invariants: `connection_made` is called once, before any other protocol method; `connection_lost` is
 * called once, from the loop, after which the socket is closed; bytes written are sent in order or the
 * transport ends with `connection_lost(exc)`.
 *
 * The pipe transports of `unix_events.ts` are built on the same two classes: `SelectorTransportBase`
 * (protocol, extra info, flow control, closing) and `StreamWriterBase` (the write buffer). Only the system
 * call differs (send() on a socket, write() on a pipe), so there is one implementation of each, not one
 * per kind of fd.
 */
import { binding, type SockAddr } from './binding.js';
import { RuntimeError, errno, os_error, type OSError } from './errors.js';
import type { AbstractEventLoop } from './events.js';
import type { Future } from './futures.js';
import { logger } from './log.js';
import { checked_buffer, is_buffered_protocol, type BaseProtocol, type BufferedProtocol, type DatagramProtocol, type Protocol } from './protocols.js';
import type { Socket } from './socket.js';
import { check_bytes, type BaseTransport, type DatagramTransport, type Transport } from './transports.js';

const EAGAIN = errno['EAGAIN']!;
const EINTR = errno['EINTR']!;
const ECONNREFUSED = errno['ECONNREFUSED']!;
const C = binding.constants;

/** @internal The most one recv() asks for. Protocols bound their buffering in chunks (the HTTP server pauses
 * reading past 16 unread body chunks), so this also bounds what they hold: do not let a read take more. */
export const READ_MAX = 256 * 1024;
/** Reads at least this large are handed out as views of the slab instead of being copied. */
const VIEW_MIN = 32 * 1024;
const SLAB_SIZE = 1024 * 1024;

/**
 * Keeps freed slab memory in the process (glibc only): up to 32 slabs' worth of free heap top stays for
 * reuse, and blocks under 4 slabs come from the heap, not from mmap (which unmaps them on free). This is
 * process-wide, so whoever tunes malloc through the environment keeps their own settings.
 */
function retain_freed_slabs(): boolean {
  const env = process.env;
  const tuned = /malloc/.test(env['GLIBC_TUNABLES'] ?? '') ||
    ['MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TOP_PAD_'].some((name) => env[name] !== undefined);
  return !tuned && binding.malloc_retain(32 * SLAB_SIZE, 4 * SLAB_SIZE);
}

/** @internal The shared read slab (one per thread: the loop's), see the module header. Pipe transports use
 * it too. */
export const ReadSlab = {
  buf: Buffer.allocUnsafeSlow(SLAB_SIZE),
  used: 0,
  /** Whether malloc was told to keep freed slab memory (see retain_freed_slabs). */
  retained: retain_freed_slabs(),

  /** Room for one read at `used`, starting a fresh slab when the current one is nearly spent. */
  reserve(): Buffer {
    if (SLAB_SIZE - this.used < READ_MAX) {
      this.buf = Buffer.allocUnsafeSlow(SLAB_SIZE);
      this.used = 0;
    }
    return this.buf;
  },

  /** The `n` bytes just read at `used`, as a Buffer the protocol may keep. */
  take(n: number): Buffer {
    const start = this.used;
    if (n < VIEW_MIN) {
      const data = Buffer.allocUnsafe(n);
      this.buf.copy(data, 0, start, start + n);
      return data;
    }
    this.used = start + ((n + 7) & ~7); // keep views 8-byte aligned
    return this.buf.subarray(start, start + n);
  },
};

const DEFAULT_HIGH_WATER = 64 * 1024;

/** Extra information a transport reports through get_extra_info(). */
export type TransportExtra = Record<string, unknown>;

/** What a transport tells the server it belongs to (create_server's Server counts live connections). */
export interface ServerLike {
  _attach(): void;
  _detach(): void;
}

/** @internal The loop surface the transports use (a SelectorEventLoop). */
export interface IoLoop extends AbstractEventLoop {
  remove_reader(fd: number): boolean;
  remove_writer(fd: number): boolean;
}

function is_connection_error(e: unknown): boolean {
  const code = (e as OSError).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ESHUTDOWN' || code === 'ECONNABORTED';
}

/** What owns a transport's fd and closes it after connection_lost: a Socket, a pipe object, or a plain fd. */
export interface FdOwner {
  close(): void;
}

/**
 * @internal What every selector transport shares: the fd and its owner, the protocol, extra info, the
 * write-buffer size and its flow control, and closing. Subclasses keep the buffer itself.
 */
export abstract class SelectorTransportBase<P extends BaseProtocol> {
  protected _loop: IoLoop;
  /** Closed (once) after connection_lost: the socket or pipe the transport owns. */
  protected _owner: FdOwner;
  protected _fd: number;
  protected _protocol: P;
  protected _extra: TransportExtra;
  protected _buffer_size = 0;
  protected _closing = false;
  /** Set once connection_lost is scheduled; counts writes attempted after that (to warn once). */
  protected _conn_lost = 0;
  private _protocol_paused = false;
  private _high_water = DEFAULT_HIGH_WATER;
  private _low_water = DEFAULT_HIGH_WATER / 4;
  /** Reading was stopped by pause() (see resume()). */
  protected _paused = false;
  /** The peer's EOF arrived: never read again, even after resume(). */
  protected _read_eof = false;
  protected readonly _read_ready_cb = (): void => this._read_ready();
  protected readonly _write_ready_cb = (): void => this._write_ready();

  constructor(loop: IoLoop, fd: number, owner: FdOwner, protocol: P, extra: TransportExtra) {
    this._loop = loop;
    this._owner = owner;
    this._fd = fd;
    this._protocol = protocol;
    this._extra = extra;
  }

  /**
   * The start every transport makes, on the next turn: connection_made, then reading — unless
   * connection_made already paused or closed the transport — then the creator's waiter.
   */
  protected _start(waiter: Future<null> | null): void {
    this._loop.call_soon(() => {
      (this._protocol as BaseProtocol).connection_made(this as unknown as BaseTransport);
      if (!this._paused && !this._closing) this._loop.add_reader(this._fd, this._read_ready_cb);
      if (waiter !== null && !waiter.done()) waiter.set_result(null);
    });
  }

  /** Stops reading: no data_received() until resume(). Idempotent. (pause_reading is the later name.) */
  pause(): void {
    if (this._closing || this._paused) return;
    this._paused = true;
    this._loop.remove_reader(this._fd);
  }

  resume(): void {
    if (!this._paused) return;
    this._paused = false;
    if (!this._closing && !this._read_eof) this._loop.add_reader(this._fd, this._read_ready_cb);
  }

  pause_reading(): void {
    this.pause();
  }
  resume_reading(): void {
    this.resume();
  }
  is_reading(): boolean {
    return !this._paused && !this._closing && !this._read_eof;
  }

  get_protocol(): P {
    return this._protocol;
  }

  set_protocol(protocol: P): void {
    this._protocol = protocol;
  }

  get_extra_info(name: string, default_value: unknown = null): unknown {
    const v = this._extra[name];
    return v === undefined || v === null ? default_value : v;
  }

  is_closing(): boolean {
    return this._closing;
  }

  get_write_buffer_size(): number {
    return this._buffer_size;
  }

  /** `pause_writing()` is called above `high` bytes buffered, `resume_writing()` at or below `low`. */
  set_write_buffer_limits(high?: number, low?: number): void {
    if (high === undefined) high = low === undefined ? DEFAULT_HIGH_WATER : 4 * low;
    if (low === undefined) low = Math.floor(high / 4);
    if (!(high >= low && low >= 0)) throw new RangeError(`high (${high}) must be >= low (${low}) must be >= 0`);
    this._high_water = high;
    this._low_water = low;
    this._maybe_pause_protocol();
  }

  get_write_buffer_limits(): [number, number] {
    return [this._low_water, this._high_water];
  }

  close(): void {
    if (this._closing) return;
    this._closing = true;
    this._loop.remove_reader(this._fd);
    if (this._buffer_size === 0) this._call_connection_lost_soon();
  }

  abort(): void {
    this._force_close(null);
  }

  protected abstract _read_ready(): void;
  protected abstract _write_ready(): void;
  protected abstract _clear_buffer(): void;

  /** Schedules connection_lost(null) once the buffer has drained after close(). */
  protected _call_connection_lost_soon(): void {
    this._conn_lost++;
    this._loop.call_soon(() => this._call_connection_lost(null));
  }

  protected _maybe_pause_protocol(): void {
    if (this._buffer_size <= this._high_water || this._protocol_paused) return;
    this._protocol_paused = true;
    try {
      this._protocol.pause_writing();
    } catch (e) {
      logger.error('protocol.pause_writing() failed', e);
    }
  }

  protected _maybe_resume_protocol(): void {
    if (!this._protocol_paused || this._buffer_size > this._low_water) return;
    this._protocol_paused = false;
    try {
      this._protocol.resume_writing();
    } catch (e) {
      logger.error('protocol.resume_writing() failed', e);
    }
  }

  /** A write after the connection was lost is dropped; say so once, as asyncio does, not per call. */
  protected _write_after_lost(): boolean {
    if (this._conn_lost === 0) return false;
    if (++this._conn_lost === 6) logger.warning(`${this.constructor.name}: writes after connection_lost are dropped`);
    return true;
  }

  protected _fatal_error(exc: unknown, message = 'Fatal error on transport'): void {
    // A peer that resets or goes away is ordinary for a network program: not worth an error report.
    if (!is_connection_error(exc)) logger.error(`${message} ${this.constructor.name}`, exc);
    this._force_close(exc as Error);
  }

  protected _force_close(exc: Error | null): void {
    if (this._conn_lost) return;
    if (this._buffer_size > 0) {
      this._clear_buffer();
      this._loop.remove_writer(this._fd);
    }
    if (!this._closing) {
      this._closing = true;
      this._loop.remove_reader(this._fd);
    }
    this._conn_lost++;
    this._loop.call_soon(() => this._call_connection_lost(exc));
  }

  protected _call_connection_lost(exc: Error | null): void {
    try {
      this._protocol.connection_lost(exc);
    } finally {
      this._owner.close();
      this._fd = -1;
    }
  }
}

function try_address(get: () => SockAddr | null): SockAddr | null {
  try {
    return get();
  } catch {
    return null; // e.g. ENOTCONN: no peer yet
  }
}

/**
 * @internal The stream write half, shared by the socket transport and the write pipe transport: `write()`
 * tries the system call at once and buffers only what the fd did not take, flushed in order by a writer
 * callback (several chunks per writev(2)); `write_eof()` takes effect once the buffer is empty.
 * Subclasses say which call writes (`_send`) and what EOF means (`_eof_now`).
 */
export abstract class StreamWriterBase<P extends BaseProtocol> extends SelectorTransportBase<P> {
  private _chunks: Uint8Array[] = [];
  /** Bytes of _chunks[0] already sent. */
  private _offset = 0;
  /** write_eof() was called. */
  protected _eof = false;

  /** One non-blocking write of buf[offset, offset+length): → bytes written | -errno. */
  protected abstract _send(buf: Uint8Array, offset: number, length: number): number;
  /** Called once write_eof() was asked for and the buffer is empty. */
  protected abstract _eof_now(): void;

  write(data: Uint8Array): void {
    check_bytes(data, 'write');
    if (this._eof) throw new RuntimeError('Cannot call write() after write_eof()');
    if (this._write_after_lost()) return;
    const len = data.length;
    if (len === 0) return;
    if (this._buffer_size === 0) {
      const n = this._send(data, 0, len);
      if (n === len) return;
      if (n < 0 && n !== -EAGAIN && n !== -EINTR) {
        this._fatal_error(os_error(-n), 'Fatal write error on');
        return;
      }
      this._chunks.push(Buffer.from(n > 0 ? data.subarray(n) : data));
      this._buffer_size = len - Math.max(n, 0);
      this._loop.add_writer(this._fd, this._write_ready_cb);
    } else {
      this._chunks.push(Buffer.from(data));
      this._buffer_size += len;
    }
    this._maybe_pause_protocol();
  }

  writelines(list: Iterable<Uint8Array>): void {
    for (const data of list) this.write(data);
  }

  protected _write_ready(): void {
    const chunks = this._chunks;
    const first = chunks[0]!;
    // writev() is sendmsg(MSG_NOSIGNAL) on a socket and writev(2) on anything else (see binding.ts).
    const n = chunks.length === 1
      ? this._send(first, this._offset, first.length - this._offset)
      : binding.writev(this._fd, chunks, chunks.length, this._offset);
    if (n < 0) {
      if (n === -EAGAIN || n === -EINTR) return;
      this._fatal_error(os_error(-n), 'Fatal write error on');
      return;
    }
    this._consume(n);
    this._maybe_resume_protocol();
    if (this._buffer_size > 0) return;
    this._loop.remove_writer(this._fd);
    if (this._closing) this._call_connection_lost_soon();
    else if (this._eof) this._eof_now();
  }

  /** Drops `n` sent bytes from the front of the buffer. */
  private _consume(n: number): void {
    this._buffer_size -= n;
    const chunks = this._chunks;
    let i = 0;
    let left = n + this._offset;
    while (i < chunks.length && left >= chunks[i]!.length) left -= chunks[i++]!.length;
    if (i > 0) chunks.splice(0, i);
    this._offset = left;
  }

  protected _clear_buffer(): void {
    this._chunks = [];
    this._offset = 0;
    this._buffer_size = 0;
  }

  /** Sends EOF once the buffer is flushed. */
  write_eof(): void {
    if (this._eof || this._closing) return;
    this._eof = true;
    if (this._buffer_size === 0) this._eof_now();
  }

  can_write_eof(): boolean {
    return true;
  }
}

/** A stream transport over a connected (TCP or Unix) socket. */
export class SelectorSocketTransport extends StreamWriterBase<Protocol> implements Transport {
  private _sock: Socket;
  private _server: ServerLike | null;
  /** The protocol, when it supplies its own read buffers (then reads go there, not into ReadSlab). */
  private _buffered: BufferedProtocol | null;

  constructor(loop: IoLoop, sock: Socket, protocol: BaseProtocol, waiter: Future<null> | null, extra: TransportExtra | undefined, server: ServerLike | null) {
    super(loop, sock.fileno(), sock, protocol as Protocol, socket_extra(sock, extra));
    this._sock = sock;
    this._server = server;
    this._buffered = is_buffered_protocol(protocol) ? protocol : null;
    server?._attach();
    if ((sock.family === C.AF_INET || sock.family === C.AF_INET6) && sock.type === C.SOCK_STREAM) {
      // As asyncio does: small writes go out at once instead of waiting for Nagle's algorithm.
      binding.setsockopt(this._fd, C.IPPROTO_TCP, C.TCP_NODELAY, 1);
    }
    this._start(waiter);
  }

  /** A new protocol may supply its own buffers, or stop doing so. */
  override set_protocol(protocol: Protocol): void {
    super.set_protocol(protocol);
    this._buffered = is_buffered_protocol(protocol) ? protocol : null;
  }

  protected _read_ready(): void {
    if (this._buffered !== null) return this._read_ready_buffered(this._buffered);
    // No flags argument: each one passed costs a conversion, and this runs once per message.
    const n = binding.recv(this._fd, ReadSlab.reserve(), ReadSlab.used, READ_MAX);
    if (n > 0) this._protocol.data_received(ReadSlab.take(n));
    else this._read_eof_or_error(n);
  }

  /** A BufferedProtocol's read: into the buffer it gives, then buffer_updated(). */
  private _read_ready_buffered(protocol: BufferedProtocol): void {
    let buf: Uint8Array;
    try {
      buf = checked_buffer(protocol, -1);
    } catch (e) {
      // Nowhere to read into: the connection cannot go on (asyncio's verdict too).
      this._fatal_error(e, 'Fatal error: protocol.get_buffer() failed on');
      return;
    }
    const n = binding.recv(this._fd, buf);
    if (n > 0) protocol.buffer_updated(n);
    else this._read_eof_or_error(n);
  }

  /** recv() returned 0 (the peer's EOF) or -errno. */
  private _read_eof_or_error(n: number): void {
    if (n === 0) {
      this._read_eof = true;
      this._loop.remove_reader(this._fd);
      const keep_open = this._protocol.eof_received();
      if (!keep_open) this.close();
    } else if (n !== -EAGAIN && n !== -EINTR) {
      this._fatal_error(os_error(-n), 'Fatal read error on');
    }
  }

  protected _send(buf: Uint8Array, offset: number, length: number): number {
    // A whole buffer (write()'s common case) needs no span: two arguments fewer to convert.
    return offset === 0 && length === buf.length ? binding.send(this._fd, buf) : binding.send(this._fd, buf, offset, length);
  }

  /** TCP's (and AF_UNIX's) half-close: the peer reads EOF, and reading goes on here. */
  protected _eof_now(): void {
    this._sock.shutdown(C.SHUT_WR);
  }

  protected override _call_connection_lost(exc: Error | null): void {
    try {
      super._call_connection_lost(exc);
    } finally {
      const server = this._server;
      this._server = null;
      server?._detach();
    }
  }

  override toString(): string {
    return `<SelectorSocketTransport fd=${this._fd}${this._closing ? ' closing' : ''}>`;
  }
}

function socket_extra(sock: Socket, extra: TransportExtra | undefined): TransportExtra {
  const out: TransportExtra = { socket: sock, ...extra };
  if (!('sockname' in out)) out['sockname'] = try_address(() => sock.getsockname());
  if (!('peername' in out)) out['peername'] = try_address(() => sock.getpeername());
  return out;
}

/** A datagram (UDP) transport. */
export class SelectorDatagramTransport extends SelectorTransportBase<DatagramProtocol> implements DatagramTransport {
  private _sock: Socket;
  private _address: SockAddr | null;
  private _queue: Array<[Uint8Array, SockAddr | null]> = [];

  constructor(loop: IoLoop, sock: Socket, protocol: BaseProtocol, address: SockAddr | null, waiter: Future<null> | null, extra: TransportExtra | undefined) {
    super(loop, sock.fileno(), sock, protocol as DatagramProtocol, socket_extra(sock, extra));
    this._sock = sock;
    this._address = address;
    this._start(waiter);
  }

  protected _read_ready(): void {
    const r = binding.recvfrom(this._fd, ReadSlab.reserve(), ReadSlab.used, READ_MAX, 0);
    if (typeof r === 'number') {
      if (r !== -EAGAIN && r !== -EINTR) this._report_error(-r);
      return;
    }
    this._protocol.datagram_received(ReadSlab.take(r[0]), r[1]);
  }

  /** Sends one datagram to `addr`, or to the remote address the endpoint was created with. */
  sendto(data: Uint8Array, addr: SockAddr | null = null): void {
    check_bytes(data, 'sendto');
    if (this._address !== null && addr !== null && !same_address(addr, this._address)) {
      throw new RangeError(`Invalid address: must be null or ${JSON.stringify(this._address)}`);
    }
    if (this._address === null && addr === null) throw new TypeError('sendto() needs an address: this endpoint has no remote_addr');
    if (this._write_after_lost()) return;
    if (this._queue.length === 0) {
      const r = this._send(data, addr);
      if (r >= 0) return;
      if (r !== -EAGAIN && r !== -EINTR) {
        this._report_error(-r);
        return;
      }
      this._loop.add_writer(this._fd, this._write_ready_cb);
    }
    this._queue.push([Buffer.from(data), addr]);
    this._buffer_size += data.length;
    this._maybe_pause_protocol();
  }

  private _send(data: Uint8Array, addr: SockAddr | null): number {
    return this._address !== null
      ? binding.send(this._fd, data)
      : binding.sendto(this._fd, data, 0, data.length, 0, this._sock.family, addr!);
  }

  protected _write_ready(): void {
    while (this._queue.length > 0) {
      const [data, addr] = this._queue[0]!;
      const r = this._send(data, addr);
      if (r === -EAGAIN || r === -EINTR) return;
      this._queue.shift();
      this._buffer_size -= data.length;
      if (r < 0) this._report_error(-r);
    }
    this._maybe_resume_protocol();
    this._loop.remove_writer(this._fd);
    if (this._closing) this._call_connection_lost_soon();
  }

  protected _clear_buffer(): void {
    this._queue = [];
    this._buffer_size = 0;
  }

  /** ECONNREFUSED (an ICMP reply to a datagram) goes to connection_refused; other errors to error_received. */
  private _report_error(err: number): void {
    const exc = os_error(err);
    try {
      if (err === ECONNREFUSED) this._protocol.connection_refused(exc);
      else this._protocol.error_received(exc);
    } catch (e) {
      logger.error('datagram protocol callback failed', e);
    }
  }

  override toString(): string {
    return `<SelectorDatagramTransport fd=${this._fd}${this._closing ? ' closing' : ''}>`;
  }
}

function same_address(a: SockAddr, b: SockAddr): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return a[0] === b[0] && a[1] === b[1];
}

