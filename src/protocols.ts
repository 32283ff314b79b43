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
