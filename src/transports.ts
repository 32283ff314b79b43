/**
 * The transport interfaces of PEP 3156 (Tulip's `transports.py`). The selector loop's implementations are
 * in `selector_events.ts`; these classes document the contract and throw NotImplementedError.
 *
 * Stream transports: `write(data)` takes bytes (a Uint8Array; a string is a TypeError: encode it first)
 * and never blocks — what the socket does not take at once is buffered, in order, and written when the
 * socket is writable. `close()` flushes that buffer first; `abort()` drops it.
 */
import type { BaseProtocol } from './protocols.js';
import { NotImplementedError } from './errors.js';

function nope(name: string): never {
  throw new NotImplementedError(`${name}() is not implemented by this transport`);
}

export abstract class BaseTransport {
  /** Implementation-specific information ('peername', 'sockname', 'socket', ...); `default` otherwise. */
  get_extra_info(_name: string, default_value: unknown = null): unknown {
    return default_value;
  }
  /** Closes the transport: buffered data is still sent, then `connection_lost(null)` is called. */
  close(): void {
    nope('close');
  }
  is_closing(): boolean {
    return nope('is_closing');
  }
  /** The protocol this transport calls (asyncio 3.7). */
  get_protocol(): BaseProtocol {
    return nope('get_protocol');
  }
  /** Hands the connection to another protocol from now on (start_tls does, to put TLS under one). */
  set_protocol(_protocol: BaseProtocol): void {
    nope('set_protocol');
  }
}

export abstract class ReadTransport extends BaseTransport {
  /** Stops calling `data_received()` until `resume()` (the seed's name). */
  pause(): void {
    nope('pause');
  }
  resume(): void {
    nope('resume');
  }
  /** The final PEP's names for `pause()` / `resume()`. */
  pause_reading(): void {
    this.pause();
  }
  resume_reading(): void {
    this.resume();
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AbstractClass<T> = abstract new (...args: any[]) => T;

/** The writing half, mixed into both WriteTransport and the bidirectional Transport. */
function Writing<B extends AbstractClass<BaseTransport>>(Base: B) {
  abstract class Writer extends Base {
    write(_data: Uint8Array): void {
      nope('write');
    }
    writelines(list: Iterable<Uint8Array>): void {
      for (const data of list) this.write(data);
    }
    /** Closes the write end after the buffer is flushed (TCP: shutdown(SHUT_WR)). */
    write_eof(): void {
      nope('write_eof');
    }
    can_write_eof(): boolean {
      return nope('can_write_eof');
    }
    /** Closes at once, dropping buffered data; `connection_lost(null)` follows soon. */
    abort(): void {
      nope('abort');
    }
    get_write_buffer_size(): number {
      return nope('get_write_buffer_size');
    }
    /** Where `pause_writing()` (above high) and `resume_writing()` (at or below low) are called. */
    set_write_buffer_limits(_high?: number, _low?: number): void {
      nope('set_write_buffer_limits');
    }
  }
  return Writer;
}

export abstract class WriteTransport extends Writing(BaseTransport) {}

/** A bidirectional stream transport. */
export abstract class Transport extends Writing(ReadTransport) {}

export abstract class DatagramTransport extends BaseTransport {
  /** Sends one datagram, to `addr` or (when omitted) to the endpoint's `remote_addr`. */
  sendto(_data: Uint8Array, _addr?: unknown): void {
    nope('sendto');
  }
  abort(): void {
    nope('abort');
  }
}

/** Checks write()'s argument: bytes only, with a message that says what to do with a string. */
export function check_bytes(data: unknown, method: string): asserts data is Uint8Array {
  if (data instanceof Uint8Array) return;
  if (typeof data === 'string') {
    throw new TypeError(`${method}() takes bytes (a Uint8Array or Buffer), not a string: encode it first, e.g. Buffer.from(text, 'utf8')`);
  }
  throw new TypeError(`${method}() takes bytes (a Uint8Array or Buffer), got ${data === null ? 'null' : typeof data}`);
}

/**
 * A child process with its pipes (the final PEP): made by `loop.subprocess_exec()` /
 * `loop.subprocess_shell()`; the implementation is `BaseSubprocessTransport` (src/base_subprocess.ts).
 */
export abstract class SubprocessTransport extends BaseTransport {
  /** The child's process id. */
  get_pid(): number {
    return nope('get_pid');
  }
  /** The exit code, -N if signal N killed it, or null while it runs. */
  get_returncode(): number | null {
    return nope('get_returncode');
  }
  /** The transport of the child's fd 0, 1 or 2 when it is a PIPE, else null. */
  get_pipe_transport(_fd: number): BaseTransport | null {
    return nope('get_pipe_transport');
  }
  send_signal(_sig: number): void {
    nope('send_signal');
  }
  /** SIGTERM. */
  terminate(): void {
    nope('terminate');
  }
  /** SIGKILL. */
  kill(): void {
    nope('kill');
  }
}
