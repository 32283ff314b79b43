/**
 * Generator parsers (Tulip's `parsers.py`): incremental protocol parsing driven by incoming data.
 *
 *   transport -> StreamProtocol/StreamBuffer -> parser -> DataBuffer <- application (a coroutine)
 *
 * A parser is a generator function `function* (out: DataBuffer<T>, buf: ParserBuffer): Parser`. It pulls
 * bytes with `const line = yield* buf.readuntil(NL)` and pushes terms with `out.feed_data(term)`. It is not a
 * coroutine and no Task runs it: the StreamBuffer drives it synchronously, resuming it on every `feed_data()`
 * until it asks for more bytes again, and throwing `EofStream` into it at the end of the stream.
 *
 * How this differs from Tulip, and why:
 * - Tulip sends each chunk into the parser (`parser.send(data)`); here the StreamBuffer appends the chunk to
 *   the ParserBuffer and just resumes the parser. The ParserBuffer methods yield a private `NeedData` marker,
 *   so a parser is typed `Generator<NeedData, …>`: `yield* future` (which yields `Suspend`) and a bare
 *   `yield` inside a parser are compile errors, and `yield* buf.read(n)` is typed `Buffer`.
 * - `set_parser()` takes the generator function, not a started generator, since it supplies the arguments.
 * - `DataBuffer.read()` raises `EofStream` at the end instead of returning None (no null in the term type).
 * - A parser that returns has produced its last term, so its DataBuffer gets EOF (Tulip left readers waiting).
 */
import { Future, type Coroutine } from '../src/futures.js';
import type { AbstractEventLoop } from '../src/events.js';
import { Protocol } from '../src/protocols.js';
import { check_bytes, type Transport } from '../src/transports.js';

/** The end of the stream: thrown into a parser at EOF, and raised by `DataBuffer.read()` after the last term. */
export class EofStream extends Error {
  override name = 'EofStream';
  constructor(message = 'end of stream') {
    super(message);
  }
}

/** `readuntil()` / `waituntil()` / `lines_parser()` found no separator within `limit` bytes (Tulip's ValueError). */
export class LineLimitExceededError extends RangeError {
  override name = 'LineLimitExceededError';
}

/** What a limit error is built with: `LineLimitExceededError` unless the parser passes its own class. */
export type LimitErrorClass = new (message: string) => Error;

declare const NEED_DATA: unique symbol;
/** What ParserBuffer methods yield to the driver: "resume me when more bytes have arrived". Only they make one. */
export interface NeedData {
  readonly [NEED_DATA]: true;
}
const NEED = Object.freeze({ toString: () => '<NeedData>' }) as unknown as NeedData;

/** A running parser: a generator that only ever yields (through `yield*`) the ParserBuffer's marker. */
export type Parser<R = void> = Generator<NeedData, R, unknown>;
/** A parser as `StreamBuffer.set_parser()` takes it: called once with its output and its input. */
export type ParserFunction<T> = (out: DataBuffer<T>, buf: ParserBuffer) => Parser<unknown>;

function check_count(n: number, method: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`ParserBuffer.${method}(): expected a byte count >= 0, got ${n}`);
}

function check_stop(stop: unknown, method: string): asserts stop is Uint8Array {
  check_bytes(stop, `ParserBuffer.${method}`);
  if (stop.length === 0) throw new RangeError(`ParserBuffer.${method}(): the separator must not be empty`);
}

/**
 * The parser's input: the bytes received and not yet consumed. Tulip's is a bytearray that is sliced from
 * the front; here one growable Buffer with a read offset (`_start`) and a write offset (`_end`), so appending
 * is amortized O(1) (live bytes move to the front only when that frees at least half the room, otherwise the
 * buffer doubles) and consuming never copies what stays. Every method returns a fresh copy of the bytes it
 * hands out, since the storage is reused.
 */
export class ParserBuffer {
  /** @internal */ _data: Buffer = Buffer.alloc(0);
  /** @internal */ _start = 0;
  /** @internal */ _end = 0;

  /** How many unread bytes are buffered. */
  get size(): number {
    return this._end - this._start;
  }

  /** A copy of the unread bytes (Tulip's `bytes(buf)`). */
  bytes(): Buffer {
    return Buffer.from(this._data.subarray(this._start, this._end));
  }

  /** Appends bytes (the StreamBuffer does this; a parser never needs to). */
  feed_data(data: Uint8Array): void {
    check_bytes(data, 'ParserBuffer.feed_data');
    const n = data.length;
    if (n === 0) return;
    if (this._end + n > this._data.length) this._make_room(n);
    this._data.set(data, this._end);
    this._end += n;
  }

  private _make_room(n: number): void {
    const live = this.size;
    const capacity = this._data.length;
    if (live + n <= capacity && live <= capacity >> 1) {
      // Moving at most half the buffer, which then has room for at least as many new bytes: amortized O(1).
      this._data.copyWithin(0, this._start, this._end);
    } else {
      const grown = Buffer.allocUnsafe(Math.max(live + n, capacity * 2, 1024));
      this._data.copy(grown, 0, this._start, this._end);
      this._data = grown;
    }
    this._start = 0;
    this._end = live;
  }

  /** Index of `stop` relative to `_start`, searching from relative offset `from`; -1 if absent. */
  private _find(stop: Uint8Array, from: number): number {
    return this._data.subarray(this._start, this._end).indexOf(stop, from);
  }

  private _peek(n: number): Buffer {
    return Buffer.from(this._data.subarray(this._start, this._start + n));
  }

  private _consume(n: number): void {
    this._start += n;
    if (this._start === this._end) this._start = this._end = 0; // empty: reuse the storage from its front
  }

  private _take(n: number): Buffer {
    const bytes = this._peek(n);
    this._consume(n);
    return bytes;
  }

  // Synchronous access, for parsers that scan what is buffered themselves and wait with `more()` (the HTTP
  // head parser: one scan of the bytes, no nested generators per request).

  /** Where `stop` starts among the unread bytes, searching from offset `from`; -1 if it is not there yet. */
  find(stop: Uint8Array, from = 0): number {
    check_stop(stop, 'find');
    return this._find(stop, from);
  }

  /** The unread byte at offset `i` (undefined past the end). */
  at(i: number): number | undefined {
    return i < this.size ? this._data[this._start + i] : undefined;
  }

  /** The first `n` bytes (n <= size) decoded as text (latin1: one char per byte), left in the buffer. */
  peek_text(n: number, encoding: BufferEncoding = 'latin1'): string {
    check_count(n, 'peek_text');
    if (n > this.size) throw new RangeError(`ParserBuffer.peek_text(): ${n} bytes asked, ${this.size} buffered`);
    return this._data.toString(encoding, this._start, this._start + n);
  }

  /** Discards `n` buffered bytes (n <= size) at once. */
  drop(n: number): void {
    check_count(n, 'drop');
    if (n > this.size) throw new RangeError(`ParserBuffer.drop(): ${n} bytes asked, ${this.size} buffered`);
    this._consume(n);
  }

  /** Waits until more bytes than the `size` buffered now have arrived. */
  *more(): Parser<void> {
    const size = this.size;
    while (this.size <= size) yield NEED;
  }

  /** Reads exactly `n` bytes. */
  *read(n: number): Parser<Buffer> {
    check_count(n, 'read');
    while (this.size < n) yield NEED;
    return this._take(n);
  }

  /** Reads what is there, at least 1 byte and at most `size` (all of it if `size` is omitted). */
  *readsome(size?: number): Parser<Buffer> {
    if (size !== undefined) check_count(size, 'readsome');
    while (this.size === 0) yield NEED;
    return this._take(size === undefined ? this.size : Math.min(size, this.size));
  }

  /**
   * Reads up to and including `stop`. With a `limit`, more than `limit` bytes (separator included) without
   * the separator raises `exc` (LineLimitExceededError by default) as soon as that is known, so a peer that
   * never sends the separator cannot make the buffer grow without bound.
   */
  *readuntil(stop: Uint8Array, limit: number | null = null, exc: LimitErrorClass = LineLimitExceededError): Parser<Buffer> {
    const size = yield* this._until(stop, limit, exc, 'readuntil');
    return this._take(size);
  }

  /** Like `readuntil()`, but leaves the bytes in the buffer. */
  *waituntil(stop: Uint8Array, limit: number | null = null, exc: LimitErrorClass = LineLimitExceededError): Parser<Buffer> {
    const size = yield* this._until(stop, limit, exc, 'waituntil');
    return this._peek(size);
  }

  /** Waits for `stop` and returns how many bytes end with it. Each byte is scanned once: no O(n²) rescans. */
  private *_until(stop: Uint8Array, limit: number | null, exc: LimitErrorClass, method: string): Parser<number> {
    check_stop(stop, method);
    if (limit !== null) check_count(limit, method);
    let from = 0; // offsets are relative to _start, which does not move while this parser waits
    for (;;) {
      const pos = this._find(stop, from);
      const size = pos >= 0 ? pos + stop.length : this.size;
      if (limit !== null && size > limit) {
        throw new exc(`Line is too long: no ${JSON.stringify(Buffer.from(stop).toString('latin1'))} within ${limit} bytes`);
      }
      if (pos >= 0) return size;
      from = Math.max(0, this.size - stop.length + 1);
      yield NEED;
    }
  }

  /** Waits until `n` bytes are buffered and returns them, leaving them in the buffer. */
  *wait(n: number): Parser<Buffer> {
    check_count(n, 'wait');
    while (this.size < n) yield NEED;
    return this._peek(n);
  }

  /** Discards exactly `n` bytes. */
  *skip(n: number): Parser<void> {
    check_count(n, 'skip');
    while (this.size < n) yield NEED;
    this._consume(n);
  }

  /** Discards everything up to and including `stop`; bytes that cannot start a separator go at once. */
  *skipuntil(stop: Uint8Array): Parser<void> {
    check_stop(stop, 'skipuntil');
    for (;;) {
      const pos = this._find(stop, 0);
      if (pos >= 0) return this._consume(pos + stop.length);
      // Keep the last len(stop)-1 bytes: they may be the start of a separator split across chunks.
      this._consume(Math.max(0, this.size - stop.length + 1));
      yield NEED;
    }
  }
}

export interface DataBufferOptions {
  /** The loop of the futures `read()` waits on; by default `get_event_loop()` at the time of the wait. */
  loop?: AbstractEventLoop | undefined;
}

/** The parser's output: a queue of terms that a coroutine reads with `yield* out.read()`. */
export class DataBuffer<T> {
  /** @internal */ _buffer: T[] = [];
  /** @internal index of the next term; the array is compacted once half of it is read (no shift(): O(n)) */
  _head = 0;
  /** @internal */ _eof = false;
  /** @internal */ _exception: unknown = null;
  /** @internal */ _waiter: Future<boolean> | null = null;
  private readonly _loop: AbstractEventLoop | undefined;

  constructor(options?: DataBufferOptions) {
    this._loop = options?.loop;
  }

  exception(): unknown {
    return this._exception;
  }

  /** True once EOF was fed and every term has been read. */
  at_eof(): boolean {
    return this._eof && this._head === this._buffer.length;
  }

  set_exception(exc: unknown): void {
    this._exception = exc;
    const waiter = this._take_waiter();
    if (waiter) waiter.set_exception(exc);
  }

  feed_data(term: T): void {
    this._buffer.push(term);
    this._take_waiter()?.set_result(true);
  }

  feed_eof(): void {
    this._eof = true;
    this._take_waiter()?.set_result(false);
  }

  /** The waiter to wake, if a reader still waits (its task may have been cancelled meanwhile). */
  private _take_waiter(): Future<boolean> | null {
    const waiter = this._waiter;
    this._waiter = null;
    return waiter && !waiter.done() ? waiter : null;
  }

  /** The next term; raises `EofStream` after the last one, or the exception set on the buffer. */
  *read(): Coroutine<T> {
    const term = yield* this.read_or(END);
    if (term === END) throw new EofStream();
    return term as T;
  }

  /**
   * The next term, or `at_end` after the last one (instead of raising EofStream: a reader that meets the
   * end of every message, such as an HTTP body, should not pay for an exception and its stack each time).
   */
  *read_or<E>(at_end: E): Coroutine<T | E> {
    if (this._exception !== null) throw this._exception;
    if (this._head === this._buffer.length && !this._eof) {
      if (this._waiter !== null && !this._waiter.done()) {
        throw new Error('DataBuffer.read(): another coroutine is already waiting for the next term');
      }
      this._waiter = new Future<boolean>({ loop: this._loop });
      yield* this._waiter;
    }
    if (this._head < this._buffer.length) {
      const term = this._buffer[this._head]!;
      this._buffer[this._head++] = undefined as T; // let the term be collected
      if (this._head === this._buffer.length) {
        this._buffer.length = 0;
        this._head = 0;
      } else if (this._head > 1024 && this._head * 2 > this._buffer.length) {
        this._buffer.splice(0, this._head);
        this._head = 0;
      }
      return term;
    }
    return at_end;
  }
}

/** What read() asks read_or() to return at the end. */
const END: unique symbol = Symbol('end of stream');

/**
 * Holds incoming bytes and drives one parser at a time over them. Bytes that arrive while no parser is set
 * wait in the buffer for the next one, so a protocol can switch parsers (headers, then a body) mid-stream.
 */
export class StreamBuffer {
  /** @internal */ _buffer = new ParserBuffer();
  /** @internal */ _eof = false;
  /** @internal */ _parser: Parser<unknown> | null = null;
  /** @internal */ _parser_buffer: DataBuffer<unknown> | null = null;
  /** @internal */ _exception: unknown = null;

  exception(): unknown {
    return this._exception;
  }

  /** The stream failed: the current parser's output gets the exception, and so will every later parser's. */
  set_exception(exc: unknown): void {
    this._exception = exc;
    if (this._parser_buffer !== null) {
      this._parser_buffer.set_exception(exc);
      const parser = this._parser!;
      this._parser = null;
      this._parser_buffer = null;
      // Let the parser's finally blocks release what they hold (a zlib decoder's native memory, say).
      try {
        parser.return(undefined);
      } catch {
        // Its output already has the stream's exception; a second one from cleanup adds nothing.
      }
    }
  }

  /** Buffers the bytes and, if a parser is set, lets it consume what it can. */
  feed_data(data: Uint8Array): void {
    check_bytes(data, 'feed_data');
    if (data.length === 0) return;
    this._buffer.feed_data(data);
    if (this._parser !== null) this._step(false);
  }

  /** The end of the stream: the parser gets `EofStream` thrown in, then it is unset. */
  feed_eof(): void {
    if (this._parser !== null) this._step(true);
    this._eof = true;
  }

  /** Starts `parser` over the bytes already buffered (unsetting the previous one) and returns its output. */
  set_parser<T>(parser: ParserFunction<T>, options?: DataBufferOptions): DataBuffer<T> {
    if (this._parser !== null) this.unset_parser();
    const out = new DataBuffer<T>(options);
    if (this._exception !== null) {
      out.set_exception(this._exception);
      return out;
    }
    this._parser_buffer = out as DataBuffer<unknown>;
    try {
      this._parser = parser(out, this._buffer);
    } catch (exc) {
      this._parser_buffer = null;
      out.set_exception(exc);
      return out;
    }
    this._step(false);
    if (this._parser !== null && this._eof) this.unset_parser();
    return out;
  }

  /** Throws `EofStream` into the current parser (letting it finish its last term), then removes it. */
  unset_parser(): void {
    if (this._parser === null) throw new Error('StreamBuffer.unset_parser(): no parser is set');
    this._step(true);
  }

  /**
   * Resumes the parser (or throws EofStream into it) and settles what came of it. The parser runs until it
   * needs more bytes; if it returns, fails, or lets EofStream through, it is removed and its output ended.
   */
  private _step(eof: boolean): void {
    const parser = this._parser!;
    const out = this._parser_buffer!;
    try {
      const r = eof ? parser.throw(new EofStream()) : parser.next();
      if (!r.done && !eof) {
        if (r.value === NEED) return; // waiting for more bytes
        throw new TypeError(`a parser may only yield through yield* on its ParserBuffer, got ${String(r.value)}`);
      }
      // Returned, or still yielding after EofStream (it may not wait for bytes that will never come).
      if (!out._eof) out.feed_eof();
    } catch (exc) {
      if (exc instanceof EofStream) out.feed_eof();
      else out.set_exception(exc);
    }
    this._parser = null;
    this._parser_buffer = null;
  }
}

/** A Protocol that feeds what the transport receives into a StreamBuffer (Tulip's StreamProtocol). */
export class StreamProtocol extends Protocol {
  transport: Transport | null = null;
  readonly stream = new StreamBuffer();

  override connection_made(transport: Transport): void {
    this.transport = transport;
  }

  override data_received(data: Buffer): void {
    this.stream.feed_data(data);
  }

  override eof_received(): void {
    this.stream.feed_eof();
  }

  override connection_lost(exc: Error | null): void {
    this.transport = null;
    if (exc !== null) this.stream.set_exception(exc);
    else this.stream.feed_eof();
  }

  // Tulip's StreamProtocol *is* a StreamBuffer (multiple inheritance); here it delegates to one.
  set_parser<T>(parser: ParserFunction<T>, options?: DataBufferOptions): DataBuffer<T> {
    return this.stream.set_parser(parser, options);
  }
  unset_parser(): void {
    this.stream.unset_parser();
  }
  feed_data(data: Uint8Array): void {
    this.stream.feed_data(data);
  }
  feed_eof(): void {
    this.stream.feed_eof();
  }
  set_exception(exc: unknown): void {
    this.stream.set_exception(exc);
  }
  exception(): unknown {
    return this.stream.exception();
  }
}

const NL = Buffer.from('\n');

/** Splits the stream into lines, each ending with `\n` (kept); a longer line than `limit` raises `exc`. */
export function lines_parser(limit: number = 2 ** 16, exc: LimitErrorClass = LineLimitExceededError): ParserFunction<Buffer> {
  return function* lines(out: DataBuffer<Buffer>, buf: ParserBuffer): Parser {
    for (;;) out.feed_data(yield* buf.readuntil(NL, limit, exc));
  };
}

/** Splits the stream into chunks of exactly `size` bytes (a shorter tail stays in the buffer at EOF). */
export function chunks_parser(size = 8196): ParserFunction<Buffer> {
  if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError(`chunks_parser(): size must be a positive integer, got ${size}`);
  return function* chunks(out: DataBuffer<Buffer>, buf: ParserBuffer): Parser {
    for (;;) out.feed_data(yield* buf.read(size));
  };
}
