/**
 * Streams (asyncio 3.4's `streams.py`, with the later `readuntil`): a coroutine-friendly face over a stream
 * transport. `StreamReader` buffers what the protocol receives and offers `read`, `readline`,
 * `readexactly` and `readuntil`; `StreamWriter` wraps the transport and adds `drain()`, which waits while
 * the transport's write buffer is above its high-water mark. `open_connection` / `start_server` (and the
 * Unix variants) build both over the network layer's create_connection / create_server.
 *
 * Flow control both ways: the reader pauses the transport (`pause_reading`) once more than 2×limit bytes
 * wait unread, and resumes it when a read brings the buffer down to the limit; the writer side follows the
 * transport's `pause_writing` / `resume_writing` calls on the protocol.
 */
import { ConnectionResetError, RuntimeError } from '../src/errors.js';
import { get_event_loop, type AbstractEventLoop } from '../src/events.js';
import { Future, type Coroutine } from '../src/futures.js';
import { Protocol } from '../src/protocols.js';
import { iscoroutine } from '../src/tasks.js';
import { check_bytes, type Transport, type WriteTransport } from '../src/transports.js';
import type { SSLContext } from '../src/ssl.js';
import type { ConnectionOptions, Server, ServingOptions, UnixConnectionOptions, UnixServingOptions } from './network.js';
import { ByteBuffer } from './stream_buffer.js';

export const DEFAULT_LIMIT = 64 * 1024;

/**
 * EOF came before the bytes asked for (asyncio's IncompleteReadError): `partial` holds what came.
 * `expected` is the count readexactly() wanted, or null from readuntil(), which wanted a separator, not a
 * count (asyncio passes None there too).
 */
export class IncompleteReadError extends Error {
  override name = 'IncompleteReadError';
  constructor(readonly partial: Buffer, readonly expected: number | null) {
    super(`${partial.length} bytes read on a total of ${String(expected)} expected bytes`);
  }
}

/** readuntil() passed `limit` without finding the separator: `consumed` bytes would have to be read. */
export class LimitOverrunError extends Error {
  override name = 'LimitOverrunError';
  constructor(message: string, readonly consumed: number) {
    super(message);
  }
}

export interface StreamOptions {
  loop?: AbstractEventLoop | undefined;
}

const NEWLINE = Buffer.from('\n');

function check_size(n: unknown, what: string, allow_all: boolean): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError(`${what}: n must be an integer, not ${String(n)}`);
  if (n < 0 && !(allow_all && n === -1)) {
    throw new RangeError(allow_all ? `${what}: n must be >= 0, or -1 to read until EOF (got ${n})` : `${what}: n must be >= 0 (got ${n})`);
  }
}

/** The transport as the reader sees it: only flow control. */
interface Pausable {
  pause_reading(): void;
  resume_reading(): void;
}

/** Buffers incoming bytes and hands them out to one waiting coroutine at a time. */
export class StreamReader {
  private readonly _loop: AbstractEventLoop;
  private readonly _limit: number;
  private readonly _buffer = new ByteBuffer();
  private _eof = false;
  private _waiter: Future<null> | null = null;
  private _exception: Error | null = null;
  private _transport: Pausable | null = null;
  private _paused = false;

  constructor(limit: number = DEFAULT_LIMIT, options: StreamOptions = {}) {
    if (typeof limit !== 'number' || !(limit > 0)) throw new RangeError(`StreamReader: limit must be a positive number of bytes, not ${String(limit)}`);
    this._limit = limit;
    this._loop = options.loop ?? get_event_loop();
  }

  exception(): Error | null {
    return this._exception;
  }

  /** Fails the reader: the waiting coroutine (and every later read) raises `exc`. */
  set_exception(exc: Error): void {
    this._exception = exc;
    const w = this._waiter;
    if (w !== null) {
      this._waiter = null;
      if (!w.cancelled()) w.set_exception(exc);
    }
  }

  set_transport(transport: Pausable): void {
    if (this._transport !== null) throw new RuntimeError('StreamReader: the transport is already set');
    this._transport = transport;
  }

  /** @internal After start_tls: flow control goes to the TLS transport. */
  _replace_transport(transport: Pausable): void {
    this._transport = transport;
  }

  private _wakeup(): void {
    const w = this._waiter;
    if (w !== null) {
      this._waiter = null;
      if (!w.cancelled()) w.set_result(null);
    }
  }

  /** Resumes a paused transport once the buffer is back at the limit (hysteresis: paused at 2×limit). */
  private _maybe_resume_transport(): void {
    if (this._paused && this._buffer.length <= this._limit) {
      this._paused = false;
      this._transport!.resume_reading();
    }
  }

  feed_eof(): void {
    this._eof = true;
    this._wakeup();
  }

  /** True when the EOF was fed and the buffer is empty. */
  at_eof(): boolean {
    return this._eof && this._buffer.length === 0;
  }

  feed_data(data: Uint8Array): void {
    check_bytes(data, 'StreamReader.feed_data');
    if (this._eof) throw new RuntimeError('feed_data after feed_eof');
    if (data.length === 0) return;
    this._buffer.push(data);
    this._wakeup();
    if (this._transport !== null && !this._paused && this._buffer.length > 2 * this._limit) {
      this._paused = true;
      this._transport.pause_reading();
    }
  }

  /** Waits until feed_data() or feed_eof() is called. */
  private *_wait_for_data(func_name: string): Coroutine<void> {
    // One reader at a time: with two, which one gets the data would be arbitrary.
    if (this._waiter !== null) throw new RuntimeError(`${func_name}() called while another coroutine is already waiting for incoming data`);
    if (this._eof) throw new RuntimeError(`${func_name}(): waiting for data after EOF`);
    // Needing more than is buffered while the transport is paused would deadlock: resume it.
    if (this._paused) {
      this._paused = false;
      this._transport!.resume_reading();
    }
    const waiter = new Future<null>({ loop: this._loop });
    this._waiter = waiter;
    try {
      yield* waiter;
    } finally {
      if (this._waiter === waiter) this._waiter = null;
    }
  }

  /**
   * Up to `n` bytes: whatever is buffered (at most n), waiting only if nothing is. n = -1 reads until
   * EOF. At EOF the result is empty.
   */
  *read(n = -1): Coroutine<Buffer> {
    check_size(n, 'read', true);
    if (this._exception !== null) throw this._exception;
    if (n === 0) return Buffer.alloc(0);
    if (n === -1) {
      // Read in limit-sized blocks, so back-pressure keeps working while everything is collected.
      const blocks: Buffer[] = [];
      for (;;) {
        const block = yield* this.read(this._limit);
        if (block.length === 0) break;
        blocks.push(block);
      }
      return blocks.length === 1 ? blocks[0]! : Buffer.concat(blocks);
    }
    if (this._buffer.length === 0 && !this._eof) yield* this._wait_for_data('read');
    const data = this._buffer.take(Math.min(n, this._buffer.length));
    this._maybe_resume_transport();
    return data;
  }

  /**
   * One line, ending with '\n'. At EOF a last line without '\n' is returned as is, then an empty Buffer.
   * A line longer than the limit raises LimitOverrunError, after dropping it (up to its '\n' if buffered,
   * else the whole buffer) so the next readline() starts fresh.
   */
  *readline(): Coroutine<Buffer> {
    try {
      return yield* this.readuntil(NEWLINE);
    } catch (e) {
      if (e instanceof IncompleteReadError) return e.partial;
      if (e instanceof LimitOverrunError) {
        const i = this._buffer.index_of(NEWLINE, e.consumed);
        if (i >= 0) this._buffer.take(i + 1);
        else this._buffer.clear();
        this._maybe_resume_transport();
        throw new LimitOverrunError(`Line is too long: ${e.message}`, e.consumed);
      }
      throw e;
    }
  }

  /** Exactly `n` bytes. EOF first raises IncompleteReadError with what came (`partial`) and `expected`. */
  *readexactly(n: number): Coroutine<Buffer> {
    check_size(n, 'readexactly', false);
    if (this._exception !== null) throw this._exception;
    if (n === 0) return Buffer.alloc(0);
    while (this._buffer.length < n) {
      if (this._eof) throw new IncompleteReadError(this._buffer.take_all(), n);
      yield* this._wait_for_data('readexactly');
    }
    const data = this._buffer.take(n);
    this._maybe_resume_transport();
    return data;
  }

  /**
   * Data up to and including `separator`. Passing the limit raises LimitOverrunError (the data stays
   * buffered: `consumed` says how much was examined); EOF first raises IncompleteReadError with
   * everything buffered as `partial` (and `expected` null).
   */
  *readuntil(separator: Uint8Array = NEWLINE): Coroutine<Buffer> {
    check_bytes(separator, 'StreamReader.readuntil');
    const seplen = separator.length;
    if (seplen === 0) throw new RangeError('readuntil: the separator must be at least one byte long');
    if (this._exception !== null) throw this._exception;
    // Where to resume the search: every position before it was already checked.
    let offset = 0;
    let isep: number;
    for (;;) {
      isep = this._buffer.index_of(separator, offset);
      if (isep >= 0) break;
      offset = Math.max(0, this._buffer.length + 1 - seplen);
      if (offset > this._limit) throw new LimitOverrunError('Separator is not found, and chunk exceed the limit', offset);
      if (this._eof) throw new IncompleteReadError(this._buffer.take_all(), null);
      yield* this._wait_for_data('readuntil');
    }
    if (isep > this._limit) throw new LimitOverrunError('Separator is found, but chunk is longer than limit', isep);
    const chunk = this._buffer.take(isep + seplen);
    this._maybe_resume_transport();
    return chunk;
  }
}

/**
 * The waiting half of writer-side flow control, for any protocol to hold: `pause()` / `resume()` follow the
 * transport's pause_writing() / resume_writing(), `lose()` its connection_lost(), and `wait()` is what
 * drain() does (returns at once unless writing is paused; raises once the connection is gone).
 */
export class WriteFlow {
  private _paused = false;
  // A list, not one future: several tasks may drain() the same writer, and each must wake.
  private _waiters: Future<null>[] = [];
  private _lost = false;
  private _lost_exc: Error | null = null;

  pause(): void {
    this._paused = true;
  }

  resume(): void {
    this._paused = false;
    this._wake(null);
  }

  lose(exc: Error | null): void {
    this._lost = true;
    this._lost_exc = exc;
    this._wake(exc);
  }

  *wait(loop: AbstractEventLoop): Coroutine<void> {
    if (this._lost) throw this._lost_exc ?? new ConnectionResetError(null, 'Connection lost');
    if (!this._paused) return;
    const waiter = new Future<null>({ loop });
    this._waiters.push(waiter);
    yield* waiter;
  }

  private _wake(exc: Error | null): void {
    const waiters = this._waiters;
    if (waiters.length === 0) return;
    this._waiters = [];
    for (const w of waiters) {
      if (w.done()) continue;
      if (exc === null) w.set_result(null);
      else w.set_exception(exc);
    }
  }
}

/**
 * The writer-side flow control every stream protocol needs (asyncio's FlowControlMixin): pause_writing /
 * resume_writing from the transport become a future that drain() waits on.
 */
export class FlowControlProtocol extends Protocol {
  protected readonly _loop: AbstractEventLoop;
  private readonly _flow = new WriteFlow();

  constructor(options: StreamOptions = {}) {
    super();
    this._loop = options.loop ?? get_event_loop();
  }

  override pause_writing(): void {
    this._flow.pause();
  }

  override resume_writing(): void {
    this._flow.resume();
  }

  override connection_lost(exc: Error | null): void {
    this._flow.lose(exc);
  }

  /** @internal drain()'s wait: returns at once unless writing is paused. */
  *_drain_helper(): Coroutine<void> {
    yield* this._flow.wait(this._loop);
  }
}

export type ClientConnectedCallback = (reader: StreamReader, writer: StreamWriter) => Coroutine<unknown> | unknown;

/** Adapts a Protocol to a StreamReader (and, for servers, calls back with a reader and a writer). */
export class StreamReaderProtocol extends FlowControlProtocol {
  private _stream_writer: StreamWriter | null = null;
  private _over_ssl = false;

  constructor(
    private readonly _stream_reader: StreamReader,
    private readonly _client_connected_cb: ClientConnectedCallback | null = null,
    options: StreamOptions = {},
  ) {
    super(options);
  }

  override connection_made(transport: Transport): void {
    this._stream_reader.set_transport(transport);
    this._over_ssl = transport.get_extra_info('sslcontext') != null;
    if (this._client_connected_cb === null) return;
    this._stream_writer = new StreamWriter(transport, this, this._stream_reader, this._loop);
    const res = this._client_connected_cb(this._stream_reader, this._stream_writer);
    // A coroutine function's result runs as a Task; its failure is then reported like any task's.
    if (iscoroutine(res)) this._loop.create_task(res);
  }

  override connection_lost(exc: Error | null): void {
    if (exc === null) this._stream_reader.feed_eof();
    else this._stream_reader.set_exception(exc);
    super.connection_lost(exc);
  }

  override data_received(data: Buffer): void {
    this._stream_reader.feed_data(data);
  }

  /** Keeps the connection half-open after the peer's EOF so we can still write (not over TLS, which can't). */
  override eof_received(): boolean {
    this._stream_reader.feed_eof();
    return !this._over_ssl;
  }

  /** @internal A server's protocol (start_server made it): the side StreamWriter.start_tls takes. */
  get _server_side(): boolean {
    return this._client_connected_cb !== null;
  }

  /** @internal After start_tls: the reader's flow control goes to the TLS transport. */
  _replace_transport(transport: Transport): void {
    this._stream_reader._replace_transport(transport);
    this._over_ssl = true;
  }
}

/**
 * Wraps a transport: write, writelines, write_eof, close, and the coroutine drain(). Generic over the
 * transport because a subprocess's stdin is a write-only pipe (WriteTransport), while a connection's
 * writer is a full Transport: `writer.transport` keeps the precise type either way.
 */
export class StreamWriter<T extends WriteTransport = Transport> {
  constructor(
    private _transport: T,
    private readonly _protocol: FlowControlProtocol,
    private readonly _reader: StreamReader | null,
    /** The loop the writer belongs to (start_tls uses it). */
    readonly loop: AbstractEventLoop,
  ) {}

  /** The transport written to: after start_tls(), the TLS one. */
  get transport(): T {
    return this._transport;
  }

  /**
   * Upgrades the connection to TLS (asyncio 3.11's StreamWriter.start_tls, for STARTTLS protocols): what is
   * written is flushed first, then the handshake runs, and from then on this writer and its reader go
   * through TLS. A writer of start_server's connection takes the server side. Read the plain reply to the
   * STARTTLS command before calling it: bytes already in the reader stay there as they came.
   */
  *start_tls(this: StreamWriter<Transport>, sslcontext: SSLContext, options: { server_hostname?: string | null; ssl_handshake_timeout?: number } = {}): Coroutine<void> {
    if (!(this._protocol instanceof StreamReaderProtocol)) throw new TypeError('start_tls() needs a writer of a stream connection (open_connection or start_server)');
    yield* this.drain();
    const protocol = this._protocol;
    const server_side = protocol._server_side;
    const tls = yield* this.loop.start_tls(this._transport, protocol, sslcontext, { ...options, server_side });
    protocol._replace_transport(tls);
    this._transport = tls;
  }

  toString(): string {
    return `<StreamWriter transport=${String(this.transport)}${this._reader ? ' reader=<StreamReader>' : ''}>`;
  }

  write(data: Uint8Array): void {
    this.transport.write(data);
  }

  writelines(data: Iterable<Uint8Array>): void {
    this.transport.writelines(data);
  }

  write_eof(): void {
    this.transport.write_eof();
  }

  can_write_eof(): boolean {
    return this.transport.can_write_eof();
  }

  close(): void {
    this.transport.close();
  }

  get_extra_info(name: string, default_value: unknown = null): unknown {
    return this.transport.get_extra_info(name, default_value);
  }

  /**
   * Waits until the transport's write buffer is back under its high-water mark. Raises the reader's
   * exception if the connection failed, or the loss's error (ConnectionResetError after a clean loss).
   */
  *drain(): Coroutine<void> {
    if (this._reader !== null) {
      const exc = this._reader.exception();
      if (exc !== null) throw exc;
    }
    yield* this._protocol._drain_helper();
  }
}

export interface OpenConnectionOptions extends ConnectionOptions, StreamOptions {
  /** The StreamReader's buffer limit (default 64 KiB). */
  limit?: number;
}
export interface StartServerOptions extends ServingOptions, StreamOptions {
  limit?: number;
}
export interface OpenUnixConnectionOptions extends UnixConnectionOptions, StreamOptions {
  limit?: number;
}
export interface StartUnixServerOptions extends UnixServingOptions, StreamOptions {
  limit?: number;
}

function split<O extends StreamOptions & { limit?: number }>(options: O): [AbstractEventLoop, number, Omit<O, 'loop' | 'limit'>] {
  const { loop, limit, ...rest } = options;
  return [loop ?? get_event_loop(), limit ?? DEFAULT_LIMIT, rest];
}

function stream_pair(loop: AbstractEventLoop, limit: number): [StreamReader, StreamReaderProtocol] {
  const reader = new StreamReader(limit, { loop });
  return [reader, new StreamReaderProtocol(reader, null, { loop })];
}

/** Connects to `host`:`port`: `[reader, writer]`. Options are create_connection's, plus `limit` and `loop`. */
export function* open_connection(host?: string | null, port?: number | string | null, options: OpenConnectionOptions = {}): Coroutine<[StreamReader, StreamWriter]> {
  const [loop, limit, rest] = split(options);
  const [reader, protocol] = stream_pair(loop, limit);
  const [transport] = yield* loop.create_connection(() => protocol, host, port, rest);
  return [reader, new StreamWriter(transport, protocol, reader, loop)];
}

/**
 * Serves `host`:`port`: `client_connected_cb(reader, writer)` is called for each connection; when it is
 * a coroutine function its coroutine runs as a Task. Returns the Server.
 */
export function* start_server(client_connected_cb: ClientConnectedCallback, host?: string | null, port?: number | string | null, options: StartServerOptions = {}): Coroutine<Server> {
  check_callback(client_connected_cb);
  const [loop, limit, rest] = split(options);
  const factory = (): StreamReaderProtocol => new StreamReaderProtocol(new StreamReader(limit, { loop }), client_connected_cb, { loop });
  return yield* loop.create_server(factory, host, port, rest);
}

/** open_connection over the Unix domain socket at `path`. */
export function* open_unix_connection(path?: string | null, options: OpenUnixConnectionOptions = {}): Coroutine<[StreamReader, StreamWriter]> {
  const [loop, limit, rest] = split(options);
  const [reader, protocol] = stream_pair(loop, limit);
  const [transport] = yield* loop.create_unix_connection(() => protocol, path, rest);
  return [reader, new StreamWriter(transport, protocol, reader, loop)];
}

/** start_server over the Unix domain socket at `path`. */
export function* start_unix_server(client_connected_cb: ClientConnectedCallback, path?: string | null, options: StartUnixServerOptions = {}): Coroutine<Server> {
  check_callback(client_connected_cb);
  const [loop, limit, rest] = split(options);
  const factory = (): StreamReaderProtocol => new StreamReaderProtocol(new StreamReader(limit, { loop }), client_connected_cb, { loop });
  return yield* loop.create_unix_server(factory, path, rest);
}

function check_callback(cb: unknown): void {
  if (typeof cb !== 'function') throw new TypeError(`client_connected_cb must be a function (or a coroutine function), not ${cb === null ? 'null' : typeof cb}`);
}
