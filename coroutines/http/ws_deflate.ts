/**
 * permessage-deflate (RFC 7692), the WebSocket compression every browser offers: its negotiation in the
 * opening handshake, and `PerMessageDeflate`, one connection's compressor and decompressor.
 *
 * A compressed message has RSV1 set on its first frame; its payload is raw deflate data flushed with
 * Z_SYNC_FLUSH, without the four bytes (00 00 ff ff) that flush ends with. By default both ends keep their
 * deflate window from one message to the next ("context takeover"), so a message like the last costs a
 * few bytes; either end may ask the other not to (`*_no_context_takeover`) and to use a smaller window
 * (`*_max_window_bits`).
 *
 * Choices made here, and why:
 * - Our decompressor always uses the largest window (15): a bigger window decodes anything a smaller one
 *   made, so the peer's window bits need no bookkeeping, and keeping its state across messages is right
 *   whether or not the peer keeps its own.
 * - Our compressor never agrees to a window of 8 bits: zlib silently uses 9 for raw deflate, which could
 *   produce data the peer's 256-byte window cannot decode. An offer asking for 8 is declined (the
 *   connection then goes uncompressed); a server answer asking it of us fails the handshake.
 * - Messages under `threshold` bytes (default 128) are sent uncompressed (RSV1 clear), which the RFC allows:
 *   compressing them costs more than it saves.
 * - A message's size limit (`max_size`) counts decompressed bytes, enforced while decompressing: a small
 *   compressed frame cannot expand past it (a "zip bomb" fails with 1009 after max_size bytes of work).
 *
 * The native zlib state is freed by `close()`: WebSocket does it when the connection ends. (A tulip loop
 * blocks the Node loop that would run the collector's finalizers, so it must not be left to them.)
 */
import { ZlibStream } from '../../src/zlib.js';

export const PERMESSAGE_DEFLATE = 'permessage-deflate';
/** What a client offers: compression, and its readiness to use a smaller window if the server asks. */
export const CLIENT_DEFLATE_OFFER = 'permessage-deflate; client_max_window_bits';
const SYNC_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** The parameters the handshake settled (as the server's response states them). */
export interface DeflateParams {
  readonly server_no_context_takeover: boolean;
  readonly client_no_context_takeover: boolean;
  /** The server's compression window, when the response limits it (8..15). */
  readonly server_max_window_bits: number | null;
  /** The client's compression window, when the response limits it (8..15). */
  readonly client_max_window_bits: number | null;
}

export interface DeflateOptions {
  /** zlib's level for our messages: -1 (default, 6) or 0..9. */
  level?: number;
  /** Messages shorter than this many bytes are sent uncompressed (default 128). */
  threshold?: number;
  /** Server side: ask the client to compress each message on its own (less memory per connection on our
   * side is not the gain: the client's is). Default false. */
  client_no_context_takeover?: boolean;
  /** Server side: compress each of our messages on its own (saves our compressor's memory between
   * messages; costs ratio). Default false. */
  server_no_context_takeover?: boolean;
}

/** One connection's permessage-deflate state. */
export class PerMessageDeflate {
  readonly threshold: number;
  private readonly _level: number;
  private readonly _window: number;
  private readonly _reset_deflate: boolean;
  private _deflate: ZlibStream | null = null;
  private _inflate: ZlibStream | null = null;
  private _closed = false;

  constructor(readonly params: DeflateParams, readonly server_side: boolean, options: DeflateOptions = {}) {
    this._level = options.level ?? -1;
    this.threshold = options.threshold ?? 128;
    if (!Number.isSafeInteger(this.threshold) || this.threshold < 0) throw new RangeError(`threshold must be an integer >= 0, got ${options.threshold}`);
    const window = server_side ? params.server_max_window_bits : params.client_max_window_bits;
    this._window = window ?? 15;
    if (this._window < 9) throw new RangeError('permessage-deflate: zlib cannot compress with a window of 8 bits');
    this._reset_deflate = server_side ? params.server_no_context_takeover : params.client_no_context_takeover;
    // Checks level now, not at the first message.
    new ZlibStream('deflate-raw', { level: this._level, window_bits: this._window }).close();
  }

  /** The payload of a compressed message (RSV1 set on its first frame). */
  compress(data: Uint8Array): Buffer {
    this._check_open();
    const z = (this._deflate ??= new ZlibStream('deflate-raw', { level: this._level, window_bits: this._window }));
    const out = Buffer.concat([z.process(data), z.flush()]);
    if (this._reset_deflate) {
      z.close();
      this._deflate = null;
    }
    return out.subarray(0, out.length - SYNC_TAIL.length); // a sync flush always ends with 00 00 ff ff
  }

  /**
   * Decompresses one fragment of a compressed message (`fin`: its last), returning at most `max_output`
   * bytes; past that a ZlibError 'TOO_LARGE', and 'Z_DATA_ERROR' for data that is not deflate.
   */
  decompress(fragment: Uint8Array, fin: boolean, max_output: number): Buffer {
    this._check_open();
    const z = (this._inflate ??= new ZlibStream('inflate-raw', { window_bits: 15 }));
    const out = z.process(fragment, max_output);
    if (!fin) return out;
    const rest = z.process(SYNC_TAIL, max_output - out.length);
    return rest.length === 0 ? out : Buffer.concat([out, rest]);
  }

  /** Frees the native state (idempotent); later calls throw. */
  close(): void {
    this._closed = true;
    this._deflate?.close();
    this._inflate?.close();
    this._deflate = this._inflate = null;
  }

  private _check_open(): void {
    if (this._closed) throw new Error('permessage-deflate: the connection is closed');
  }
}

/** The extensions of Sec-WebSocket-Extensions values: each name with its parameters (null: no value). */
export function parse_extensions(values: readonly string[]): Array<[string, Array<[string, string | null]>]> {
  const out: Array<[string, Array<[string, string | null]>]> = [];
  for (const value of values) {
    for (const item of value.split(',')) {
      const [name, ...params] = item.split(';').map((p) => p.trim());
      if (!name) continue;
      out.push([name.toLowerCase(), params.filter((p) => p !== '').map((p) => {
        const eq = p.indexOf('=');
        if (eq < 0) return [p.toLowerCase(), null];
        return [p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1')];
      })]);
    }
  }
  return out;
}

function window_bits(value: string | null): number | null {
  return value !== null && /^(8|9|1[0-5])$/.test(value) ? Number(value) : null;
}

/**
 * Server side: the first permessage-deflate offer among the client's Sec-WebSocket-Extensions that we can
 * honour, as [the response's extension value, the parameters]; null when there is none (no compression).
 */
export function accept_deflate_offer(values: readonly string[], options: DeflateOptions = {}): [string, DeflateParams] | null {
  offers: for (const [name, params] of parse_extensions(values)) {
    if (name !== PERMESSAGE_DEFLATE) continue;
    const seen = new Set<string>();
    let server_nct = options.server_no_context_takeover ?? false;
    let server_bits: number | null = null;
    for (const [key, value] of params) {
      if (seen.has(key)) continue offers; // a parameter twice: an invalid offer (RFC 7692 7)
      seen.add(key);
      const bits = window_bits(value);
      if (key === 'server_no_context_takeover' && value === null) server_nct = true;
      else if (key === 'client_no_context_takeover' && value === null) continue;
      else if (key === 'server_max_window_bits' && bits !== null && bits >= 9) server_bits = bits; // 8: see the header
      else if (key === 'client_max_window_bits' && (value === null || bits !== null)) continue;
      else continue offers; // unknown, or a value we cannot honour
    }
    const client_nct = options.client_no_context_takeover === true;
    const parts = [PERMESSAGE_DEFLATE];
    if (server_nct) parts.push('server_no_context_takeover');
    if (client_nct) parts.push('client_no_context_takeover');
    if (server_bits !== null) parts.push(`server_max_window_bits=${server_bits}`);
    return [parts.join('; '), {
      server_no_context_takeover: server_nct, client_no_context_takeover: client_nct,
      server_max_window_bits: server_bits, client_max_window_bits: null,
    }];
  }
  return null;
}

/**
 * Client side, after offering CLIENT_DEFLATE_OFFER: the parameters of the server's answer, or null when it
 * declined (no Sec-WebSocket-Extensions). An answer we did not offer or cannot honour throws an Error
 * that says why (the handshake fails).
 */
export function accept_deflate_response(values: readonly string[]): DeflateParams | null {
  const extensions = parse_extensions(values);
  if (extensions.length === 0) return null;
  if (extensions.length > 1 || extensions[0]![0] !== PERMESSAGE_DEFLATE) {
    throw new Error(`the server chose extensions we did not offer: ${values.join(', ')}`);
  }
  const result = { server_no_context_takeover: false, client_no_context_takeover: false, server_max_window_bits: null as number | null, client_max_window_bits: null as number | null };
  const seen = new Set<string>();
  for (const [key, value] of extensions[0]![1]) {
    if (seen.has(key)) throw new Error(`permessage-deflate: the parameter ${key} twice`);
    seen.add(key);
    const bits = window_bits(value);
    if ((key === 'server_no_context_takeover' || key === 'client_no_context_takeover') && value === null) result[key] = true;
    else if ((key === 'server_max_window_bits' || key === 'client_max_window_bits') && bits !== null) result[key] = bits;
    else throw new Error(`permessage-deflate: the server answered with ${value === null ? key : `${key}=${value}`}, which we did not offer`);
  }
  if (result.client_max_window_bits === 8) throw new Error('permessage-deflate: the server asked for client_max_window_bits=8, which zlib cannot produce');
  return result;
}
