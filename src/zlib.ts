/**
 * zlib: streaming compression and decompression (zlib, gzip and raw deflate) that synchronous code can
 * drive chunk by chunk: a generator parser decoding a gzip body as it arrives, a writer filter
 * compressing a response as it is written.
 *
 * Why not node:zlib: its asynchronous API needs Node's event loop, which a running tulip loop blocks,
 * and its synchronous API is one-shot. This module is a typed face over src/native/zlib.c, which uses
 * the zlib inside the node binary (no second copy is linked).
 *
 * What it must never do: keep native state after finish()/close() or after a failure (the stream is
 * ended at once: a tulip loop blocks the Node loop that would run the finalizer), or let a decoder's
 * output grow past `max_output` (the native side stops one byte past it, so a bomb costs that much).
 *
 * ```ts
 * const gz = new ZlibStream('gzip');
 * const body = Buffer.concat([gz.process(part1), gz.process(part2), gz.finish()]);
 * const dec = new ZlibStream('unzip', { max_output: 1 << 20 });
 * const text = Buffer.concat([dec.process(body), dec.finish()]).toString();
 * ```
 */
import { constants as buffer_constants } from 'node:buffer';
import { binding, type ZlibHandle } from './binding.js';
import { check_bytes } from './transports.js';

/** Encoders: 'deflate' (the zlib format, RFC 1950), 'gzip' (RFC 1952), 'deflate-raw' (RFC 1951, no
 * wrapper). Decoders: 'inflate', 'gunzip' (every member of a multi-member file), 'inflate-raw', and
 * 'unzip', which reads any of the three, told apart by the first two bytes: the gzip magic, a valid zlib
 * header, or else raw deflate. 'unzip' is the one for HTTP, where `Content-Encoding: deflate` is meant
 * to be the zlib format but many servers send raw deflate. */
export type ZlibMode = 'deflate' | 'gzip' | 'deflate-raw' | 'inflate' | 'gunzip' | 'inflate-raw' | 'unzip';

/** Z_DATA_ERROR: the input is not valid compressed data (zlib's reason is the message). TRUNCATED: the
 * input ended before the stream did (at finish()). TOO_LARGE: a decoder's output would pass max_output.
 * Z_NEED_DICT: a zlib stream compressed with a preset dictionary. CLOSED: the stream was finished, closed
 * or failed before this call. Z_MEM_ERROR and Z_STREAM_ERROR: zlib ran out of memory or refused a call. */
export type ZlibErrorCode = 'Z_DATA_ERROR' | 'Z_MEM_ERROR' | 'Z_STREAM_ERROR' | 'Z_NEED_DICT' | 'TRUNCATED' | 'TOO_LARGE' | 'CLOSED';

export class ZlibError extends Error {
  readonly code: ZlibErrorCode;
  constructor(message: string, code: ZlibErrorCode) {
    super(message);
    this.name = 'ZlibError';
    this.code = code;
  }
}

export interface ZlibOptions {
  /** Encoders: -1 (zlib's default, 6) or 0 (store) .. 9 (smallest). Default -1. */
  level?: number;
  /** Decoders: the most bytes the whole stream may decompress to; past it, ZlibError 'TOO_LARGE'.
   * Default: no limit but Buffer's own (one process() call never returns more than that). */
  max_output?: number;
  /** log2 of the window: 9..15 for encoders, 8..15 for decoders (which then refuse streams made with a
   * bigger window). Default 15, the largest, which decodes anything. */
  window_bits?: number;
  /** Encoders: 1..9, memory for speed. Default 8. */
  mem_level?: number;
  /** Encoders: 0 default, 1 filtered, 2 Huffman only, 3 RLE, 4 fixed (zlib's Z_* strategies). */
  strategy?: number;
}

const C = binding.constants;
const NATIVE_MODE: Record<Exclude<ZlibMode, 'unzip'>, number> = {
  deflate: C.ZLIB_DEFLATE, gzip: C.ZLIB_GZIP, 'deflate-raw': C.ZLIB_DEFLATE_RAW,
  inflate: C.ZLIB_INFLATE, gunzip: C.ZLIB_GUNZIP, 'inflate-raw': C.ZLIB_INFLATE_RAW,
};
const ENCODERS: ReadonlySet<ZlibMode> = new Set(['deflate', 'gzip', 'deflate-raw']);
/** Buffer's own limit: no call can return more. */
const MAX_CALL_OUTPUT = Math.min(buffer_constants.MAX_LENGTH, 2 ** 32 - 1);
/** zlib_process writes [ended, unused input bytes] here; one per thread is enough, it is read at once. */
const STATE = new Float64Array(2);
const EMPTY: Buffer = Buffer.alloc(0);

/** Which decoder reads a stream that starts with b0, b1 (RFC 1952 magic; RFC 1950 header: method 8,
 * window <= 32K, header checksum). A raw deflate stream cannot start with 0x1f (block type 3 does not
 * exist), and zlib's raw streams never look like a zlib header (their stored-block padding is zero). */
function _sniff(b0: number, b1: number): 'gunzip' | 'inflate' | 'inflate-raw' {
  if (b0 === 0x1f && b1 === 0x8b) return 'gunzip';
  if ((b0 & 0x0f) === 8 && b0 >> 4 <= 7 && ((b0 << 8) | b1) % 31 === 0) return 'inflate';
  return 'inflate-raw';
}

function _int_option(options: ZlibOptions, name: 'level' | 'window_bits' | 'mem_level' | 'strategy', dflt: number): number {
  const v = options[name];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`ZlibStream: ${name} must be an integer, got ${String(v)}`);
  return v;
}

/**
 * One compression or decompression stream. Feed it with process(); an encoder's flush() makes all that
 * was fed so far decodable (for streaming responses); finish() ends the stream and frees the native
 * state. Every method returns a Buffer (maybe empty) or throws ZlibError; after a ZlibError the stream
 * is closed. A stream that is dropped without finish()/close() is freed by the collector, but only when
 * Node's own loop runs: end streams explicitly inside a tulip loop.
 */
export class ZlibStream {
  readonly mode: ZlibMode;
  /** Decoders: input bytes that came after the end of the stream, ignored (for HTTP: padding after a
   * gzip body). A gunzip stream reads bytes starting with 0x1f there as a further gzip member instead. */
  unused_bytes = 0;
  private _handle: ZlibHandle | null = null;
  private readonly _encoder: boolean;
  private readonly _params: [number, number, number, number];
  private readonly _max_output: number;
  private _total_out = 0;
  private _ended = false;
  /** Why the stream is unusable ('finished', 'closed', or a failure's message); null while usable. */
  private _gone: string | null = null;
  /** 'unzip' before the first two bytes came: the first one, kept until the second decides the format. */
  private _first: Buffer | null = null;

  constructor(mode: ZlibMode, options: ZlibOptions = {}) {
    if (mode !== 'unzip' && !Object.hasOwn(NATIVE_MODE, mode)) {
      throw new TypeError(`ZlibStream: mode must be one of ${[...Object.keys(NATIVE_MODE), 'unzip'].join(', ')}; got ${String(mode)}`);
    }
    this.mode = mode;
    this._encoder = ENCODERS.has(mode);
    const max = options.max_output;
    if (max !== undefined && (typeof max !== 'number' || Number.isNaN(max))) throw new TypeError('ZlibStream: max_output must be a number');
    if (max !== undefined && (max < 0 || (max !== Infinity && !Number.isInteger(max)))) {
      throw new RangeError(`ZlibStream: max_output must be an integer >= 0, got ${max}`);
    }
    this._max_output = max ?? Infinity;
    this._params = [
      _int_option(options, 'level', C.Z_DEFAULT_COMPRESSION),
      _int_option(options, 'window_bits', 15),
      _int_option(options, 'mem_level', 8),
      _int_option(options, 'strategy', C.Z_DEFAULT_STRATEGY),
    ];
    // 'unzip' opens its decoder once it knows the format; check the parameters now all the same.
    const handle = binding.zlib_new(mode === 'unzip' ? C.ZLIB_INFLATE : NATIVE_MODE[mode], ...this._params);
    if (mode === 'unzip') binding.zlib_end(handle);
    else this._handle = handle;
  }

  /** Decoders: the end of the compressed stream was seen (later input is counted in unused_bytes).
   * Encoders: finish() completed. */
  get ended(): boolean {
    return this._ended;
  }

  /** Feeds `chunk`; returns the output that is ready (maybe empty). Encoders compress without flushing;
   * decoders decompress all they can, and with `max_output` at most that many bytes in this call
   * (ZlibError 'TOO_LARGE' past it, as for the stream's own limit): for a limit per message of a stream
   * that spans several, as a WebSocket's does. */
  process(chunk: Uint8Array, max_output = Infinity): Buffer {
    check_bytes(chunk, 'ZlibStream.process');
    if (typeof max_output !== 'number' || !(max_output >= 0)) throw new RangeError(`ZlibStream.process: max_output must be a number >= 0, got ${String(max_output)}`);
    this._check_usable();
    if (this._handle === null) {
      const first = this._first === null ? chunk : Buffer.concat([this._first, chunk]);
      if (first.length < 2) {
        this._first = Buffer.from(first);
        return EMPTY;
      }
      this._first = null;
      this._handle = binding.zlib_new(NATIVE_MODE[_sniff(first[0]!, first[1]!)], ...this._params);
      chunk = first;
    }
    return this._run(chunk, C.Z_NO_FLUSH, max_output);
  }

  /** Encoders: Z_SYNC_FLUSH, so that everything fed so far is decodable from the output (costs a few
   * bytes; for streaming responses). Decoders: nothing is held back, so an empty Buffer. */
  flush(): Buffer {
    this._check_usable();
    return this._encoder ? this._run(EMPTY, C.Z_SYNC_FLUSH) : EMPTY;
  }

  /** Encoders: Z_FINISH, the rest of the output with the trailer. Decoders: checks that the stream
   * ended (ZlibError 'TRUNCATED' if not) and returns an empty Buffer. Either way the native state is
   * freed and the stream is finished. */
  finish(): Buffer {
    this._check_usable();
    let out: Buffer = EMPTY;
    try {
      if (this._encoder) out = this._run(EMPTY, C.Z_FINISH);
      if (!this._ended) throw new ZlibError(`${this.mode}: unexpected end of the compressed data (truncated input)`, 'TRUNCATED');
    } finally {
      this._release('finished');
    }
    return out;
  }

  /** Frees the native state now; later calls throw ZlibError 'CLOSED'. Idempotent. */
  close(): void {
    this._release('closed');
  }

  private _run(input: Uint8Array, flush: number, call_limit = Infinity): Buffer {
    const handle = this._handle!;
    const stream_left = this._max_output - this._total_out;
    const limit = this._encoder ? MAX_CALL_OUTPUT : Math.floor(Math.min(stream_left, MAX_CALL_OUTPUT, call_limit));
    const r = binding.zlib_process(handle, input, flush, limit, STATE);
    if (typeof r === 'number') {
      const [, msg] = binding.zlib_error(handle);
      const err = r === C.ZLIB_TOO_LARGE && call_limit < Math.min(stream_left, MAX_CALL_OUTPUT)
        ? new ZlibError(`${this.mode}: the decompressed data exceeds this call's max_output (${limit} bytes)`, 'TOO_LARGE')
        : this._error(r, msg, limit);
      this._release(`failed: ${err.message}`);
      throw err;
    }
    this._ended = STATE[0] === 1;
    this.unused_bytes += STATE[1]!;
    this._total_out += r.length;
    return r;
  }

  private _error(code: number, msg: string, limit: number): ZlibError {
    const m = this.mode;
    if (code === C.ZLIB_TOO_LARGE) {
      return limit === MAX_CALL_OUTPUT && this._max_output - this._total_out > MAX_CALL_OUTPUT
        ? new ZlibError(`${m}: one call's output would exceed the largest Buffer (${MAX_CALL_OUTPUT} bytes): feed smaller chunks`, 'TOO_LARGE')
        : new ZlibError(`${m}: the decompressed data exceeds max_output (${this._max_output} bytes)`, 'TOO_LARGE');
    }
    if (code === C.ZLIB_NEED_DICT) return new ZlibError(`${m}: ${msg}`, 'Z_NEED_DICT');
    if (code === C.Z_MEM_ERROR) return new ZlibError(`${m}: out of memory`, 'Z_MEM_ERROR');
    if (code === C.Z_DATA_ERROR) return new ZlibError(`${m}: invalid compressed data: ${msg}`, 'Z_DATA_ERROR');
    return new ZlibError(`${m}: ${msg}`, 'Z_STREAM_ERROR');
  }

  private _check_usable(): void {
    if (this._gone !== null) throw new ZlibError(`ZlibStream (${this.mode}) is ${this._gone}`, 'CLOSED');
  }

  private _release(why: string): void {
    if (this._handle !== null) binding.zlib_end(this._handle);
    this._handle = null;
    this._first = null;
    this._gone ??= why;
  }
}
