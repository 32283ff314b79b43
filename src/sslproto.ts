/**
 * The TLS transport (asyncio's sslproto design): an `SSLProtocol` sits on a plain stream transport as
 * its protocol, runs the addon's TLS engine over memory BIOs, and gives the application protocol an
 * `SSLProtocolTransport` with the whole stream transport API. Ciphertext flows:
 *
 *   socket → TCP transport → SSLProtocol.data_received → tls_feed → tls_read → app data_received
 *   app write → tls_write → tls_take_out → TCP transport.write → socket
 *
 * States: DO_HANDSHAKE → WRAPPED → SHUTDOWN → UNWRAPPED (connection over). The application hears
 * `connection_made` only once the handshake is done (then the waiter of create_connection completes);
 * a failed handshake fails that waiter and closes the socket, and the application hears nothing.
 *
 * Closing: `close()` sends close_notify and waits (at most ssl_shutdown_timeout) for the peer's before
 * closing the socket, so that a peer still sending is not answered with a reset. The peer's close_notify
 * is an EOF for the application (`eof_received`, then `connection_lost(null)`); so is a plain TCP EOF
 * (a "ragged" close, common among HTTP servers). TLS cannot half-close: `can_write_eof()` is false.
 *
 * What this module must never do: touch the socket itself (the TCP transport owns it), let a protocol
 * error escape into the loop, or leave a failed connection open: every failure ends in an abort of the
 * TCP transport and `connection_lost(exc)` for an application that was connected.
 */
import { binding, type TlsConnHandle } from './binding.js';
import { ConnectionAbortedError, ConnectionResetError, NotImplementedError, OSError, errno } from './errors.js';
import type { AbstractEventLoop, TimerHandle } from './events.js';
import type { Future } from './futures.js';
import { logger } from './log.js';
import { Protocol, feed_buffered, is_buffered_protocol, type ProtocolOrBuffered } from './protocols.js';
import {
  SSL_ERROR_WANT_CLIENT_HELLO_CB, SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE, SSL_ERROR_ZERO_RETURN, type SSLContext, type SSLObject,
} from './ssl.js';
import { Transport, check_bytes } from './transports.js';

/** Python's defaults (seconds). */
export const SSL_HANDSHAKE_TIMEOUT = 60.0;
export const SSL_SHUTDOWN_TIMEOUT = 30.0;

export interface SSLTimeouts {
  ssl_handshake_timeout?: number | undefined;
  ssl_shutdown_timeout?: number | undefined;
}

/** Checks the timeout options of create_connection / start_serving (Python's messages). */
export function check_ssl_timeouts(ssl: unknown, options: SSLTimeouts): void {
  for (const name of ['ssl_handshake_timeout', 'ssl_shutdown_timeout'] as const) {
    const v = options[name];
    if (v === undefined) continue;
    if (!ssl) throw new RangeError(`${name} is only meaningful with ssl`);
    if (typeof v !== 'number' || !(v > 0)) throw new RangeError(`${name} should be a positive number, got ${v}`);
  }
}

const WANT_READ = -SSL_ERROR_WANT_READ;
const WANT_WRITE = -SSL_ERROR_WANT_WRITE;
const WANT_CLIENT_HELLO_CB = -SSL_ERROR_WANT_CLIENT_HELLO_CB;
const ZERO_RETURN = -SSL_ERROR_ZERO_RETURN;

const enum State {
  DO_HANDSHAKE,
  WRAPPED,
  SHUTDOWN,
  UNWRAPPED,
}

/** Plaintext lands here (one per thread: the loop's) and is copied out before the application sees it,
 * so a nested use (the application closing from data_received) never clobbers undelivered bytes. */
const PLAIN_SIZE = 256 * 1024;
const plain = Buffer.allocUnsafeSlow(PLAIN_SIZE);

/** After this many writes to a closed TLS transport, one warning (asyncio's LOG_THRESHOLD_FOR_CONNLOST_WRITES). */
const LOG_THRESHOLD = 5;

export class SSLProtocol extends Protocol {
  /** @internal */ readonly _app_transport: SSLProtocolTransport;
  private _transport: Transport | null = null;
  private _ssl: SSLObject;
  private _conn: TlsConnHandle | null;
  private _state = State.DO_HANDSHAKE;
  private _app_connected = false;
  private _app_reading_paused = false;
  private _handshake_timer: TimerHandle | null = null;
  private _shutdown_timer: TimerHandle | null = null;
  private _handshake_timeout: number;
  private _shutdown_timeout: number;
  /** The error to report to the application's connection_lost (a fatal TLS error). */
  private _exc: Error | null = null;
  private _writes_after_close = 0;
  private _extra: Record<string, unknown> = {};

  constructor(
    private readonly _loop: AbstractEventLoop,
    private _app_protocol: ProtocolOrBuffered,
    readonly sslcontext: SSLContext,
    private _waiter: Future<null> | null,
    readonly server_side: boolean,
    server_hostname: string | null,
    timeouts: SSLTimeouts = {},
    /** False for start_tls: the application protocol is connected already, over the plain transport. */
    private readonly _call_connection_made = true,
  ) {
    super();
    this._handshake_timeout = timeouts.ssl_handshake_timeout ?? SSL_HANDSHAKE_TIMEOUT;
    this._shutdown_timeout = timeouts.ssl_shutdown_timeout ?? SSL_SHUTDOWN_TIMEOUT;
    // Created now, not in connection_made, so that a bad server_hostname fails create_connection at once.
    this._ssl = sslcontext._wrap(server_side, server_hostname);
    this._conn = this._ssl._conn;
    this._app_transport = new SSLProtocolTransport(this);
  }

  // ---- the TCP transport's side ------------------------------------------------------------------------

  override connection_made(transport: Transport): void {
    this._transport = transport;
    this._handshake_timer = this._loop.call_later(this._handshake_timeout, () => this._on_handshake_timeout());
    this._do_handshake();
  }

  override data_received(data: Buffer): void {
    const conn = this._conn;
    if (conn === null) return;
    binding.tls_feed(conn, data, 0, data.length);
    if (this._state === State.DO_HANDSHAKE) this._do_handshake();
    else if (this._state === State.WRAPPED) this._do_read();
    else if (this._state === State.SHUTDOWN) this._do_shutdown();
  }

  override eof_received(): boolean {
    if (this._conn !== null) binding.tls_feed_eof(this._conn);
    if (this._state === State.DO_HANDSHAKE) {
      this._on_handshake_failed(new ConnectionResetError(errno['ECONNRESET']!, 'Connection lost during the TLS handshake'));
    } else if (this._state === State.WRAPPED) {
      // A TCP EOF without close_notify: an EOF all the same (see the module header).
      this._state = State.SHUTDOWN;
      this._call_app_eof_received();
    }
    // The TCP transport closes itself; connection_lost follows.
    return false;
  }

  override connection_lost(exc: Error | null): void {
    this._cancel_timers();
    const was_handshaking = this._state === State.DO_HANDSHAKE;
    this._state = State.UNWRAPPED;
    this._transport = null;
    this._conn = null;
    this._ssl._free();
    if (was_handshaking) {
      this._wake_waiter(exc ?? new ConnectionResetError(errno['ECONNRESET']!, 'Connection lost during the TLS handshake'));
    }
    if (this._app_connected) {
      this._app_connected = false;
      this._app_protocol.connection_lost(this._exc ?? exc);
    }
    // Still pending only if the application's connection_made failed: then the error is known.
    this._wake_waiter(this._exc ?? exc ?? new ConnectionResetError(errno['ECONNRESET']!, 'Connection lost'));
  }

  override pause_writing(): void {
    if (this._app_connected) this._app_protocol.pause_writing();
  }

  override resume_writing(): void {
    if (this._app_connected) this._app_protocol.resume_writing();
  }

  // ---- the engine ---------------------------------------------------------------------------------------

  /** Sends whatever ciphertext the engine produced (handshake messages, records, alerts, tickets). */
  private _flush(): void {
    const conn = this._conn;
    if (conn === null) return;
    const out = binding.tls_take_out(conn);
    if (out !== null && this._transport !== null) this._transport.write(out);
  }

  private _do_handshake(): void {
    let r = binding.tls_handshake(this._conn!);
    if (r === WANT_CLIENT_HELLO_CB) {
      // Stopped at the ClientHello for the context's sni_callback: it runs here, then the handshake goes on.
      this._ssl._run_sni_callback();
      if (this._conn === null) return; // the callback closed the transport
      r = binding.tls_handshake(this._conn);
    }
    this._flush();
    if (r === 1) this._on_handshake_complete();
    else if (r !== WANT_READ && r !== WANT_WRITE) this._on_handshake_failed(this._ssl._error());
  }

  private _on_handshake_complete(): void {
    this._cancel_timers();
    this._state = State.WRAPPED;
    const ssl = this._ssl;
    // As asyncio: the TLS facts are fixed at the end of the handshake and served by get_extra_info.
    this._extra = {
      peercert: ssl.getpeercert(),
      cipher: ssl.cipher(),
      compression: null,
      ssl_object: ssl,
      sslcontext: this.sslcontext,
      selected_alpn_protocol: ssl.selected_alpn_protocol(),
      server_hostname: ssl.sni_hostname,
    };
    this._app_connected = true;
    try {
      if (this._call_connection_made) this._app_protocol.connection_made(this._app_transport);
    } catch (e) {
      this._fatal(e as Error, 'Error in the protocol\'s connection_made()');
      return;
    }
    this._wake_waiter(null);
    // Application data may have come in the same segment as the peer's last handshake message. Under
    // start_tls it waits one turn, behind the waiter's callbacks: the coroutine that asked gets the new
    // transport before its protocol gets the first decrypted bytes (and so can answer them on it).
    if (this._call_connection_made) {
      if (this._state === State.WRAPPED) this._do_read();
    } else {
      this._loop.call_soon(() => {
        if (this._state === State.WRAPPED) this._do_read();
      });
    }
  }

  private _on_handshake_failed(exc: Error): void {
    this._cancel_timers();
    this._state = State.UNWRAPPED;
    this._exc = exc;
    this._transport?.abort();
    this._wake_waiter(exc);
  }

  private _on_handshake_timeout(): void {
    this._handshake_timer = null;
    if (this._state !== State.DO_HANDSHAKE) return;
    this._on_handshake_failed(new ConnectionAbortedError(null, `SSL handshake is taking longer than ${this._handshake_timeout} seconds: aborting the connection`));
  }

  private _wake_waiter(exc: Error | null): void {
    const w = this._waiter;
    if (w === null) return;
    this._waiter = null;
    if (w.done()) return; // cancelled
    if (exc === null) w.set_result(null);
    else w.set_exception(exc);
  }

  /** Decrypts what is buffered and hands it to the application, unless it paused reading. */
  private _do_read(): void {
    let used = 0;
    let r = 0;
    while (this._state === State.WRAPPED && !this._app_reading_paused && this._conn !== null) {
      r = binding.tls_read(this._conn, plain, used, PLAIN_SIZE - used);
      if (r > 0) {
        used += r;
        if (used < PLAIN_SIZE) continue;
      }
      if (used > 0) {
        const data = Buffer.allocUnsafe(used);
        plain.copy(data, 0, 0, used);
        used = 0;
        if (!this._deliver(data)) return;
      }
      if (r <= 0) break;
    }
    this._flush(); // reading may produce output: TLS 1.3 key updates, alerts
    if (r === ZERO_RETURN && this._state === State.WRAPPED) {
      this._call_app_eof_received();
      this._start_shutdown();
    } else if (r < 0 && r !== WANT_READ && r !== WANT_WRITE && this._conn !== null) {
      this._fatal(this._ssl._error(), 'Fatal error on the TLS transport');
    }
  }

  private _deliver(data: Buffer): boolean {
    try {
      const app = this._app_protocol;
      if (is_buffered_protocol(app)) feed_buffered(app, data);
      else app.data_received(data);
      return true;
    } catch (e) {
      this._fatal(e as Error, 'Error in the protocol\'s data_received()');
      return false;
    }
  }

  private _call_app_eof_received(): void {
    if (!this._app_connected) return;
    try {
      const keep_open = this._app_protocol.eof_received();
      if (keep_open) logger.warning('returning true from eof_received() has no effect when using ssl');
    } catch (e) {
      this._fatal(e as Error, 'Error in the protocol\'s eof_received()');
    }
  }

  /** @internal The application's write: encrypted at once (the engine writes into memory, never blocks). */
  _write(data: Uint8Array): void {
    if (this._state !== State.WRAPPED) {
      if (++this._writes_after_close === LOG_THRESHOLD) logger.warning('SSL connection is closed: writes are dropped');
      return;
    }
    let off = 0;
    while (off < data.length) {
      const n = binding.tls_write(this._conn!, data, off, data.length - off);
      if (n <= 0) {
        this._flush();
        this._fatal(this._ssl._error(), 'Fatal error on the TLS transport');
        return;
      }
      off += n;
    }
    this._flush();
  }

  /** @internal close(): close_notify, then wait for the peer's (bounded), then close the socket. */
  _start_shutdown(): void {
    if (this._state === State.DO_HANDSHAKE) {
      this._abort(null);
      return;
    }
    if (this._state !== State.WRAPPED) return;
    this._state = State.SHUTDOWN;
    this._shutdown_timer = this._loop.call_later(this._shutdown_timeout, () => {
      this._shutdown_timer = null;
      this._transport?.abort();
    });
    this._do_shutdown();
  }

  private _do_shutdown(): void {
    const conn = this._conn;
    if (conn === null) return;
    // Whatever the peer still sends is dropped: the application asked to close.
    let r: number;
    do r = binding.tls_read(conn, plain, 0, PLAIN_SIZE);
    while (r > 0);
    const s = binding.tls_shutdown(conn);
    this._flush();
    if (s === 1 || (s < 0 && s !== WANT_READ && s !== WANT_WRITE)) {
      // Done (both close_notify), or the peer is gone mid-shutdown: nothing more to say either way.
      this._cancel_timers();
      this._transport?.close();
    }
  }

  /** @internal abort(): drop everything; mid-handshake, the waiter fails. */
  _abort(exc: Error | null): void {
    if (this._state === State.DO_HANDSHAKE) {
      this._on_handshake_failed(exc ?? new ConnectionAbortedError(null, 'the TLS connection was aborted during the handshake'));
      return;
    }
    if (exc !== null) this._exc ??= exc;
    this._state = State.UNWRAPPED;
    this._cancel_timers();
    this._transport?.abort();
  }

  private _fatal(exc: Error, message: string): void {
    if (!(exc instanceof OSError)) logger.error(`${message} (${this._app_transport})`, exc);
    if (this._state === State.DO_HANDSHAKE) {
      this._on_handshake_failed(exc);
      return;
    }
    this._state = State.UNWRAPPED;
    this._exc ??= exc;
    this._cancel_timers();
    this._transport?.abort();
  }

  private _cancel_timers(): void {
    this._handshake_timer?.cancel();
    this._handshake_timer = null;
    this._shutdown_timer?.cancel();
    this._shutdown_timer = null;
  }

  // ---- what SSLProtocolTransport asks -------------------------------------------------------------------

  /** @internal */
  _get_extra_info(name: string, default_value: unknown): unknown {
    if (name in this._extra) return this._extra[name] ?? default_value;
    return this._transport !== null ? this._transport.get_extra_info(name, default_value) : default_value;
  }

  /** @internal */
  _pause_reading(): void {
    if (this._app_reading_paused) return;
    this._app_reading_paused = true;
    this._transport?.pause_reading();
  }

  /** @internal */
  _resume_reading(): void {
    if (!this._app_reading_paused) return;
    this._app_reading_paused = false;
    this._transport?.resume_reading();
    // Records already decrypted-but-undelivered (or fed before the pause) wait inside the engine.
    this._loop.call_soon(() => {
      if (this._state === State.WRAPPED) this._do_read();
    });
  }

  /** @internal */
  _is_reading(): boolean {
    return this._state === State.WRAPPED && !this._app_reading_paused;
  }

  /** @internal */
  _tcp(): Transport | null {
    return this._transport;
  }

  /** @internal */
  _set_app_protocol(p: ProtocolOrBuffered): void {
    this._app_protocol = p;
  }
  /** @internal */
  _get_app_protocol(): ProtocolOrBuffered {
    return this._app_protocol;
  }
}

/** What the application protocol holds: the stream transport API over an SSLProtocol. */
export class SSLProtocolTransport extends Transport {
  private _closed = false;

  constructor(private readonly _ssl_protocol: SSLProtocol) {
    super();
  }

  override get_extra_info(name: string, default_value: unknown = null): unknown {
    return this._ssl_protocol._get_extra_info(name, default_value);
  }

  override is_closing(): boolean {
    return this._closed;
  }

  /** Sends close_notify after what was written, then closes; connection_lost(null) follows. */
  override close(): void {
    if (this._closed) return;
    this._closed = true;
    this._ssl_protocol._start_shutdown();
  }

  override abort(): void {
    this._closed = true;
    this._ssl_protocol._abort(null);
  }

  override write(data: Uint8Array): void {
    check_bytes(data, 'write');
    if (data.length === 0) return;
    this._ssl_protocol._write(data);
  }

  /** TLS has no half-close (close_notify ends both directions). */
  override write_eof(): void {
    throw new NotImplementedError("SSL doesn't support half-closes");
  }

  override can_write_eof(): boolean {
    return false;
  }

  override pause(): void {
    this._ssl_protocol._pause_reading();
  }
  override resume(): void {
    this._ssl_protocol._resume_reading();
  }
  is_reading(): boolean {
    return this._ssl_protocol._is_reading();
  }

  /** The ciphertext waiting in the TCP transport (plaintext is encrypted at once, never kept). */
  override get_write_buffer_size(): number {
    return this._ssl_protocol._tcp()?.get_write_buffer_size() ?? 0;
  }

  override set_write_buffer_limits(high?: number, low?: number): void {
    this._ssl_protocol._tcp()?.set_write_buffer_limits(high, low);
  }

  get_write_buffer_limits(): [number, number] {
    const tcp = this._ssl_protocol._tcp() as (Transport & { get_write_buffer_limits?(): [number, number] }) | null;
    return tcp?.get_write_buffer_limits?.() ?? [0, 0];
  }

  override get_protocol(): ProtocolOrBuffered {
    return this._ssl_protocol._get_app_protocol();
  }
  override set_protocol(p: ProtocolOrBuffered): void {
    this._ssl_protocol._set_app_protocol(p);
  }

  override toString(): string {
    return `<SSLProtocolTransport${this._closed ? ' closed' : ''} over ${String(this._ssl_protocol._tcp())}>`;
  }
}
