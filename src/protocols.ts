/**
 * The protocol interfaces of PEP 3156 (Tulip's `protocols.py`), as base classes whose methods do nothing:
 * subclass one and override what you need. A transport calls them, always from the loop:
 *
 *   connection_made(transport)  exactly once
 *   data_received(data)         zero or more times (a non-empty Buffer; sizes are arbitrary)
 *   eof_received()              at most once; returning a falsy value lets the transport close itself
 *   connection_lost(exc)        exactly once: null for a clean close or an EOF, else the error
 *
 * Flow control the other way (the final PEP): a transport whose write buffer passes its high-water mark
 * calls `pause_writing()`, and `resume_writing()` once it has drained below the low-water mark.
 */
import type { BaseTransport, DatagramTransport, SubprocessTransport, Transport } from './transports.js';
import { type_name } from './errors.js';

export class BaseProtocol {
  connection_made(_transport: BaseTransport): void {}
  connection_lost(_exc: Error | null): void {}
  pause_writing(): void {}
  resume_writing(): void {}
}

/** A stream protocol (TCP, TLS, pipes). */
export class Protocol extends BaseProtocol {
  override connection_made(_transport: Transport): void {}
  data_received(_data: Buffer): void {}
  /** The peer sent EOF. Return true to keep the transport open (half-closed); otherwise it is closed. */
  eof_received(): boolean | void {}
}

/**
 * A stream protocol that receives into memory it supplies (asyncio's BufferedProtocol, Python 3.7; not in
 * the PEP): the transport asks `get_buffer(sizehint)` for somewhere to put the bytes, reads into it, then
 * calls `buffer_updated(nbytes)`. Nothing is allocated per read, so a protocol that reuses one buffer keeps
 * its reads in a few hot cache lines instead of fresh memory the garbage collector reclaims much later: for
 * bulk transfer (a proxy, a file copy), the difference between copying at memory speed and at DRAM speed.
 *
 *   get_buffer(sizehint)   a non-empty Uint8Array to read into (sizehint: a size the transport would like,
 *                          or -1 for no preference); it may be any size, and is only written up to its length
 *   buffer_updated(n)      the first n bytes of the last buffer hold new data (n > 0)
 *   eof_received()         as Protocol's
 *
 * The buffer is the protocol's: the transport does not keep it after buffer_updated(). Socket and TLS
 * transports call these instead of data_received(); pipe and subprocess transports call data_received().
 */
export class BufferedProtocol extends BaseProtocol {
  override connection_made(_transport: Transport): void {}
  get_buffer(_sizehint: number): Uint8Array {
    throw new Error(`${this.constructor.name}.get_buffer() is not implemented`);
  }
  buffer_updated(_nbytes: number): void {}
  /** The peer sent EOF. Return true to keep the transport open (half-closed); otherwise it is closed. */
  eof_received(): boolean | void {}
}

/** What a stream transport serves: a Protocol, or a BufferedProtocol that supplies its own read buffers. */
export type ProtocolOrBuffered = Protocol | BufferedProtocol;

/** True for a protocol that reads into its own buffers (has get_buffer and buffer_updated). */
export function is_buffered_protocol(p: BaseProtocol): p is BufferedProtocol {
  return p instanceof BufferedProtocol;
}

/**
 * Hands `data` to a BufferedProtocol as if it had been read: as many get_buffer()/buffer_updated() rounds
 * as its buffers need (asyncio's _feed_data_to_buffered_proto). For transports whose bytes arrive as a
 * Buffer first (TLS decrypts into its own memory).
 */
export function feed_buffered(p: BufferedProtocol, data: Uint8Array): void {
  let at = 0;
  while (at < data.length) {
    const buf = checked_buffer(p, data.length - at);
    const n = Math.min(buf.length, data.length - at);
    buf.set(data.subarray(at, at + n));
    at += n;
    p.buffer_updated(n);
  }
}

/** get_buffer(), checked: a non-empty Uint8Array, or a clear error (which the transport treats as fatal). */
export function checked_buffer(p: BufferedProtocol, sizehint: number): Uint8Array {
  const buf = p.get_buffer(sizehint);
  if (!(buf instanceof Uint8Array)) throw new TypeError(`${p.constructor.name}.get_buffer() must return a Uint8Array, got ${type_name(buf)}`);
  if (buf.length === 0) throw new RangeError(`${p.constructor.name}.get_buffer() returned an empty buffer`);
  return buf;
}

/** A datagram protocol (UDP). */
export class DatagramProtocol extends BaseProtocol {
  override connection_made(_transport: DatagramTransport): void {}
  datagram_received(_data: Buffer, _addr: unknown): void {}
  /**
   * The seed PEP's name: an ICMP "port unreachable" came back for a datagram sent to `remote_addr`
   * (ECONNREFUSED). By default it calls `error_received`, the later name, so overriding either works.
   */
  connection_refused(exc: Error): void {
    this.error_received(exc);
  }
  /** A send or receive failed (asyncio 3.4's name); the transport stays open. */
  error_received(_exc: Error): void {}
}

/**
 * A child process's protocol (the final PEP), for `loop.subprocess_exec()` / `subprocess_shell()`. Its
 * transport calls, always from the loop:
 *
 *   connection_made(transport)    once, after the pipes are connected
 *   pipe_data_received(fd, data)  the child wrote `data` on its fd 1 or 2
 *   pipe_connection_lost(fd, exc) that pipe (0, 1 or 2) is closed: null for EOF or a clean close
 *   process_exited()              the child has exited (transport.get_returncode() says how)
 *   connection_lost(exc)          once, last: after the exit AND after every pipe is closed
 */
export class SubprocessProtocol extends BaseProtocol {
  override connection_made(_transport: SubprocessTransport): void {}
  pipe_data_received(_fd: number, _data: Buffer): void {}
  pipe_connection_lost(_fd: number, _exc: Error | null): void {}
  process_exited(): void {}
}
