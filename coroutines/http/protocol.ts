/**
 * HTTP/1.x on the wire (Tulip's `tulip/http/protocol.py`): generator parsers for request heads, response
 * heads and bodies, and the writers `Request` / `Response` that a client and a server send messages with.
 *
 *   transport -> StreamBuffer -> http_request_parser  -> RawRequestMessage   (one message, then it ends)
 *                             -> http_payload_parser  -> Buffer chunks       (Payload.read() -> null at the end)
 *   Response/Request.write()  -> transport            (Content-Length, chunked, or until close)
 *
 * The parsers are Tulip's shape (`out, buf` generators on a ParserBuffer, driven synchronously by the
 * StreamBuffer), with the limits and checks a server facing the open internet needs: every line, field, the
 * header block, the header count and the body are bounded (LineTooLong / PayloadTooLarge, never unbounded
 * memory), and the framing ambiguities that allow request smuggling (Content-Length with Transfer-Encoding,
 * conflicting Content-Lengths, a chunked coding that is not last, bare CR/LF in a field) are refused with
 * InvalidHeader. Every such error is an HttpException carrying the status (400, 413) a server answers with.
 */
import type { AbstractEventLoop } from '../../src/events.js';
import type { Coroutine } from '../../src/futures.js';
import { get_event_loop } from '../../src/events.js';
import { check_bytes, type WriteTransport } from '../../src/transports.js';
import { ZlibError, ZlibStream } from '../../src/zlib.js';
import { DataBuffer, EofStream, type Parser, type ParserBuffer, type ParserFunction, type StreamBuffer } from '../parsers.js';
import { CIMultiDict } from './multidict.js';
import { BadStatusLine, IncompleteRead, InvalidHeader, LineTooLong, PayloadTooLarge } from './errors.js';
import { reason_phrase } from './responses.js';

export { RESPONSES, reason_phrase } from './responses.js';

export type HttpVersion = readonly [major: number, minor: number];
export const HttpVersion10: HttpVersion = Object.freeze([1, 0] as const);
export const HttpVersion11: HttpVersion = Object.freeze([1, 1] as const);

/** A body coding this module decodes (Content-Encoding). */
export type ContentCoding = 'gzip' | 'deflate';

export interface ParserLimits {
  /** Longest request/status line, and longest single header line, in bytes (default 8190). */
  max_line_size?: number;
  /** Longest header block, request line included (default 32768). */
  max_headers?: number;
  /** Longest header field, continuation lines included (default 8190). */
  max_field_size?: number;
  /** Most header fields (default 128). */
  max_header_count?: number;
}

interface Limits {
  readonly max_line_size: number;
  readonly max_headers: number;
  readonly max_field_size: number;
  readonly max_header_count: number;
}

const DEFAULT_LIMITS: Limits = Object.freeze({ max_line_size: 8190, max_headers: 32768, max_field_size: 8190, max_header_count: 128 });

/** What request and response heads share. */
interface RawMessage {
  readonly version: HttpVersion;
  readonly headers: CIMultiDict;
  /** The connection ends after this message (Connection: close, or HTTP/1.0 without keep-alive). */
  readonly should_close: boolean;
  /** The body's Content-Encoding, when it is one this module decodes. */
  readonly compression: ContentCoding | null;
  /** Connection: upgrade with an Upgrade header (a WebSocket handshake, say). */
  readonly upgrade: boolean;
  /** Transfer-Encoding: chunked. */
  readonly chunked: boolean;
  /** The Content-Length (validated: digits only, one value), or null. */
  readonly content_length: number | null;
}

export interface RawRequestMessage extends RawMessage {
  readonly method: string;
  readonly path: string;
  /** Expect: 100-continue on HTTP/1.1: the client waits for `100 Continue` before sending the body. */
  readonly expect_continue: boolean;
}

export interface RawResponseMessage extends RawMessage {
  readonly code: number;
  readonly reason: string;
}

const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');
/** RFC 9110 token characters: method and header names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A CR or LF that is not part of a CRLF, or a NUL: refused anywhere in a head (splitting, smuggling). */
const BARE_CR_LF_NUL = /\r(?!\n)|(?<!\r)\n|\0/;
/** The first bytes of a buffer, up to this many, are decoded and searched as text; past them, as bytes. */
const QUICK_SCAN = 2048;
const VERSION = /^HTTP\/(\d)\.(\d)$/;
const DIGITS = /^\d+$/;

/** Limits already filled in and checked: each parser made by http_request_parser(limits) starts a HeadScanner with them. */
const RESOLVED = new WeakSet<Limits>([DEFAULT_LIMITS]);

function resolve_limits(limits: ParserLimits | undefined): Limits {
  if (limits === undefined) return DEFAULT_LIMITS;
  if (RESOLVED.has(limits as Limits)) return limits as Limits;
  const out = { ...DEFAULT_LIMITS, ...limits };
  for (const [name, value] of Object.entries(out)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`ParserLimits.${name} must be a positive integer, got ${value}`);
  }
  RESOLVED.add(out);
  return out;
}

/**
 * Finds complete message heads in a ParserBuffer: the synchronous core of the head parsers, for code that
 * scans what it has received itself (ServerHttpProtocol reads each request head this way, without a parser,
 * a DataBuffer and their generators per request).
 *
 * `scan()` returns the head's lines (consumed from the buffer) once the blank line that ends it is there,
 * and null until then, remembering where it stopped so each byte is searched once however the head
 * arrives. Blank lines before a head are skipped (RFC 9112 2.2: a client may send an extra CRLF after a
 * POST body). Past the limits it raises LineTooLong as soon as that is known, not when the head ends.
 */
export class HeadScanner {
  /** @internal */ readonly _limits: Limits;
  private _from = 0;
  /** How many bytes the quick path decodes: twice the last head's size (the next is likely alike). */
  private _window = QUICK_SCAN;

  constructor(limits?: ParserLimits) {
    this._limits = resolve_limits(limits);
  }

  scan(buf: ParserBuffer): string[] | null {
    const limits = this._limits;
    while (buf.at(0) === 0x0d && buf.at(1) === 0x0a) {
      buf.drop(2);
      this._from = 0;
    }
    const size = buf.size;
    let from = this._from;
    if (from === 0 && size >= 4) {
      // The usual case, a whole head among the first bytes: decode them once and search the text.
      const n = Math.min(size, this._window);
      const text = buf.peek_text(n);
      const end = text.indexOf('\r\n\r\n');
      if (end >= 0) return this._lines(buf, text.slice(0, end), end);
      from = n - 3;
    }
    if (size > from + 3) {
      const end = buf.find(CRLFCRLF, from);
      if (end >= 0) return this._lines(buf, null, end);
    }
    // The separator, if it comes, ends after what is here: a head already this long can only be too long.
    if (size >= limits.max_headers) throw new LineTooLong(`the message head is longer than ${limits.max_headers} bytes`);
    this._from = Math.max(0, size - 3);
    return null;
  }

  /** Consumes the head that ends at `end` (its text, if decoded already) and splits it into lines. */
  private _lines(buf: ParserBuffer, text: string | null, end: number): string[] {
    const limits = this._limits;
    this._from = 0;
    this._window = Math.min(QUICK_SCAN, Math.max(128, 2 * end));
    if (end + 4 > limits.max_headers) throw new LineTooLong(`the message head is longer than ${limits.max_headers} bytes`);
    if (text === null) text = buf.peek_text(end);
    buf.drop(end + 4);
    // A CR or LF that is not part of a CRLF, or a NUL, anywhere in the head: smuggling and splitting tricks.
    if (BARE_CR_LF_NUL.test(text)) throw new InvalidHeader('(head)', 'a CR or LF outside CRLF, or a NUL');
    const lines = text.split('\r\n');
    if (lines[0]!.length > limits.max_line_size) throw new LineTooLong(`the first line is longer than ${limits.max_line_size} bytes`);
    return lines;
  }

  /** The stream ended: fine between messages; IncompleteRead if part of a head was received. */
  eof(buf: ParserBuffer): void {
    this._from = 0;
    if (buf.size > 0) throw new IncompleteRead('the connection closed in the middle of a message head', buf.bytes());
  }
}

/** The head parsers' loop: scan, wait for bytes, scan again. Null: the stream ended cleanly before a head. */
function* read_head(buf: ParserBuffer, scanner: HeadScanner): Parser<string[] | null> {
  try {
    for (;;) {
      const lines = scanner.scan(buf);
      if (lines !== null) return lines;
      yield* buf.more();
    }
  } catch (exc) {
    if (!(exc instanceof EofStream)) throw exc;
    scanner.eof(buf);
    return null;
  }
}

/** The parsed header block, and what the framing of the body depends on. */
interface ParsedHeaders {
  headers: CIMultiDict;
  close: boolean | null;
  compression: ContentCoding | null;
  upgrade: boolean;
  chunked: boolean;
  /** A Transfer-Encoding field was present (chunked or not). */
  transfer_encoding: boolean;
  content_length: number | null;
  expect_continue: boolean;
}

/** Splits a comma-separated header value into lower-cased tokens. */
function tokens(value: string): string[] {
  return value.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
}

/** Parses `lines[1..]` as header fields (RFC 9112 5), checking every limit and refusing ambiguous framing. */
function parse_headers(lines: string[], limits: Limits): ParsedHeaders {
  const headers = new CIMultiDict();
  let close: boolean | null = null;
  let compression: ContentCoding | null = null;
  let upgrade_token = false;
  let chunked = false;
  let transfer_encoding = false;
  let content_length: number | null = null;
  let expect_continue = false;
  if (lines.length - 1 > limits.max_header_count) throw new LineTooLong(`more than ${limits.max_header_count} header fields`);
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length > limits.max_line_size) throw new LineTooLong(`a header line is longer than ${limits.max_line_size} bytes`);
    const colon = line.indexOf(':');
    if (colon <= 0) throw new InvalidHeader(line.slice(0, 40), 'not a "name: value" field');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new InvalidHeader(name.slice(0, 40), 'invalid field name');
    let value = line.slice(colon + 1);
    // Obsolete line folding (RFC 9112 5.2): continuation lines join the value with a space.
    let size = line.length;
    while (i + 1 < lines.length && (lines[i + 1]![0] === ' ' || lines[i + 1]![0] === '\t')) {
      const next = lines[++i]!;
      size += next.length;
      if (size > limits.max_field_size) throw new LineTooLong(`the header field ${name} is longer than ${limits.max_field_size} bytes`);
      value += ' ' + next.trim();
    }
    if (size > limits.max_field_size) throw new LineTooLong(`the header field ${name} is longer than ${limits.max_field_size} bytes`);
    value = value.trim();
    const key = name.toLowerCase();
    headers._add(name, key, value);
    // Only a handful of fields matter to framing.
    switch (key) {
      case 'expect':
        expect_continue = value.toLowerCase() === '100-continue';
        break;
      case 'connection':
        for (const t of tokens(value)) {
          if (t === 'close') close = true;
          else if (t === 'keep-alive') close ??= false;
          else if (t === 'upgrade') upgrade_token = true;
        }
        break;
      case 'content-length':
        // Several fields, or a list, must all agree (RFC 9110 8.6); anything else is a smuggling attempt.
        for (const v of value.split(',')) {
          const n = v.trim();
          if (!DIGITS.test(n) || n.length > 15) throw new InvalidHeader('Content-Length', `not a byte count: ${JSON.stringify(value.slice(0, 20))}`);
          const length = Number(n);
          if (content_length !== null && content_length !== length) throw new InvalidHeader('Content-Length', 'conflicting values');
          content_length = length;
        }
        break;
      case 'content-encoding': {
        const coding = value.toLowerCase();
        if (coding === 'gzip' || coding === 'x-gzip') compression = 'gzip';
        else if (coding === 'deflate') compression = 'deflate';
        break;
      }
      case 'transfer-encoding': {
        transfer_encoding = true;
        const codings = tokens(value);
        // chunked must be the last coding, and only once (RFC 9112 6.1).
        chunked = codings[codings.length - 1] === 'chunked';
        if (codings.indexOf('chunked') !== codings.length - 1 && codings.includes('chunked')) {
          throw new InvalidHeader('Transfer-Encoding', 'chunked is not the final coding');
        }
        break;
      }
    }
  }
  if (transfer_encoding && content_length !== null) {
    throw new InvalidHeader('Transfer-Encoding', 'sent together with Content-Length');
  }
  return {
    headers, close, compression, chunked, transfer_encoding, content_length, expect_continue,
    upgrade: upgrade_token && headers.has('upgrade'),
  };
}

function parse_version(text: string, line: string): HttpVersion {
  const match = VERSION.exec(text);
  if (match === null) throw new BadStatusLine(line);
  const major = Number(match[1]);
  const minor = Number(match[2]);
  if (major === 1) return minor === 1 ? HttpVersion11 : minor === 0 ? HttpVersion10 : [1, minor];
  return [major, minor];
}

/** True when the version is at least major.minor. */
export function version_at_least(version: HttpVersion, major: number, minor: number): boolean {
  return version[0] > major || (version[0] === major && version[1] >= minor);
}

/**
 * A parser of one request head (request line and headers). Raises BadStatusLine, LineTooLong or
 * InvalidHeader (all 400s); a stream that ends cleanly before a request just ends (the client closed a
 * keep-alive connection); one that ends in the middle of a head raises IncompleteRead.
 */
export function http_request_parser(limits?: ParserLimits): ParserFunction<RawRequestMessage> {
  const lim = resolve_limits(limits);
  return function* request_parser(out, buf) {
    const lines = yield* read_head(buf, new HeadScanner(lim));
    if (lines !== null) out.feed_data(request_message(lines, lim));
  };
}

/** The next request head if it is all in `buf` (consumed), else null: `http_request_parser` without waiting. */
export function scan_request(scanner: HeadScanner, buf: ParserBuffer): RawRequestMessage | null {
  const lines = scanner.scan(buf);
  return lines === null ? null : request_message(lines, scanner._limits);
}

/** Builds the request message from the lines of its head (request line first). */
function request_message(lines: string[], lim: Limits): RawRequestMessage {
  const line = lines[0]!;
  const sp1 = line.indexOf(' ');
  const sp2 = line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0) throw new BadStatusLine(line);
  const method = line.slice(0, sp1).toUpperCase();
  const path = line.slice(sp1 + 1, sp2);
  if (!TOKEN.test(method)) throw new BadStatusLine(line);
  // The request target: no controls, no spaces (split above), not empty.
  if (path === '' || /[\x00-\x1f\x7f]/.test(path)) throw new BadStatusLine(line);
  const version = parse_version(line.slice(sp2 + 1), line);
  if (version[0] !== 1) throw new BadStatusLine(line);
  const h = parse_headers(lines, lim);
  // A request body with a coding but not chunked has no knowable end (RFC 9112 6.3): guessing is smuggling.
  if (h.transfer_encoding && !h.chunked) throw new InvalidHeader('Transfer-Encoding', 'chunked is not the final coding');
  return new RequestMessage(method, path, version, h);
}

/**
 * What both message kinds take from their headers. Messages are class instances rather than literals so
 * that both kinds are built field by field into one shape each (spreading shared fields into a literal
 * costs more than the rest of a small request's parsing).
 */
class ParsedMessage implements RawMessage {
  readonly headers: CIMultiDict;
  readonly should_close: boolean;
  readonly compression: ContentCoding | null;
  readonly upgrade: boolean;
  readonly chunked: boolean;
  readonly content_length: number | null;
  constructor(readonly version: HttpVersion, h: ParsedHeaders) {
    this.headers = h.headers;
    this.should_close = h.close ?? version[1] === 0;
    this.compression = h.compression;
    this.upgrade = h.upgrade;
    this.chunked = h.chunked;
    this.content_length = h.content_length;
  }
}

class RequestMessage extends ParsedMessage implements RawRequestMessage {
  readonly expect_continue: boolean;
  constructor(readonly method: string, readonly path: string, version: HttpVersion, h: ParsedHeaders) {
    super(version, h);
    this.expect_continue = h.expect_continue && version[1] >= 1;
  }
}

class ResponseMessage extends ParsedMessage implements RawResponseMessage {
  constructor(version: HttpVersion, readonly code: number, readonly reason: string, h: ParsedHeaders) {
    super(version, h);
  }
}

/**
 * A parser of one response head (status line and headers). The stream ending before a status line raises
 * BadStatusLine with an empty line: the server closed the connection without answering (a client retries a
 * stale keep-alive connection on exactly that).
 */
export function http_response_parser(limits?: ParserLimits): ParserFunction<RawResponseMessage> {
  const lim = resolve_limits(limits);
  return function* response_parser(out, buf) {
    const lines = yield* read_head(buf, new HeadScanner(lim));
    if (lines === null) throw new BadStatusLine('');
    const line = lines[0]!;
    const sp1 = line.indexOf(' ');
    if (sp1 <= 0) throw new BadStatusLine(line);
    const version = parse_version(line.slice(0, sp1), line);
    const sp2 = line.indexOf(' ', sp1 + 1);
    const status = sp2 < 0 ? line.slice(sp1 + 1) : line.slice(sp1 + 1, sp2);
    const reason = sp2 < 0 ? '' : line.slice(sp2 + 1).trim();
    if (!/^\d{3}$/.test(status)) throw new BadStatusLine(line);
    const h = parse_headers(lines, lim);
    out.feed_data(new ResponseMessage(version, Number(status), reason, h));
  };
}

export interface PayloadOptions {
  /** The body's length when the message has no Content-Length (Tulip's `length`). */
  length?: number | null;
  /** Decode gzip/deflate bodies (default true). */
  compression?: boolean;
  /** Neither a length nor chunked: the body runs to the end of the stream (responses). Default false: empty. */
  readall?: boolean;
  /** More body bytes than this (decoded) raise PayloadTooLarge (413). Default: no limit. */
  max_size?: number | null;
  /** False for a message that has no body whatever its headers say (a response to HEAD, a 204 or 304). */
  has_body?: boolean;
}

/** Where body chunks go: the parser's DataBuffer, possibly behind a decoder and a size guard. */
interface Sink {
  feed_data(chunk: Buffer): void;
  /** The body is complete (decoders check their stream is). */
  finish(): void;
}

/** Counts decoded body bytes against `max_size`, so a small compressed body cannot inflate without bound. */
class SizeGuard implements Sink {
  private total = 0;
  constructor(private readonly out: DataBuffer<Buffer>, private readonly max_size: number) {}
  feed_data(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.total > this.max_size) throw new PayloadTooLarge(`the body is larger than ${this.max_size} bytes`);
    this.out.feed_data(chunk);
  }
  finish(): void {}
}

/** Limits on the framing lines of a chunked body; generous, but never unbounded. */
const MAX_CHUNK_LINE = 8192;
const MAX_TRAILERS = 32768;

/**
 * A parser of the body that follows `message`: emits the body as Buffer chunks (decoded when it is gzip or
 * deflate and `compression` is on) and ends with it. A body cut short raises IncompleteRead.
 */
export function http_payload_parser(message: RawRequestMessage | RawResponseMessage, options: PayloadOptions = {}): ParserFunction<Buffer> {
  const { compression = true, readall = false, max_size = null, has_body = true } = options;
  const length = message.content_length ?? options.length ?? null;
  if (max_size !== null && (!Number.isSafeInteger(max_size) || max_size < 0)) throw new RangeError(`max_size must be a byte count, got ${max_size}`);
  if (length !== null && (!Number.isSafeInteger(length) || length < 0)) throw new RangeError(`length must be a byte count, got ${length}`);
  return function* payload_parser(out, buf) {
    if (!has_body) return;
    let sink: Sink = max_size === null ? { feed_data: (c) => out.feed_data(c), finish() {} } : new SizeGuard(out, max_size);
    const decoder = compression && message.compression !== null ? new DecodingSink(sink, max_size) : null;
    if (decoder !== null) sink = decoder;
    try {
      if (message.chunked) yield* parse_chunked_payload(sink, buf, max_size);
      else if (length !== null) {
        if (max_size !== null && length > max_size) throw new PayloadTooLarge(`the body is larger than ${max_size} bytes`);
        yield* parse_length_payload(sink, buf, length);
      } else if (readall) yield* parse_eof_payload(sink, buf, max_size);
      sink.finish();
    } finally {
      // zlib state is native memory that a running loop's thread would only free much later (see src/zlib.ts).
      decoder?.close();
    }
  };
}

function* parse_length_payload(sink: Sink, buf: ParserBuffer, length: number): Parser {
  try {
    while (length > 0) {
      const chunk = yield* buf.readsome(length);
      length -= chunk.length;
      sink.feed_data(chunk);
    }
  } catch (exc) {
    if (exc instanceof EofStream) throw new IncompleteRead(`the body ended ${length} bytes short`);
    throw exc;
  }
}

function* parse_eof_payload(sink: Sink, buf: ParserBuffer, max_size: number | null): Parser {
  let total = 0;
  try {
    for (;;) {
      const chunk = yield* buf.readsome();
      total += chunk.length;
      if (max_size !== null && total > max_size) throw new PayloadTooLarge(`the body is larger than ${max_size} bytes`);
      sink.feed_data(chunk);
    }
  } catch (exc) {
    if (!(exc instanceof EofStream)) throw exc;
  }
}

const HEX = /^[0-9a-fA-F]{1,12}$/;

/** RFC 9112 7.1: size [; extensions] CRLF, data CRLF, ..., 0 CRLF, trailer fields, CRLF. */
function* parse_chunked_payload(sink: Sink, buf: ParserBuffer, max_size: number | null): Parser {
  let total = 0;
  try {
    for (;;) {
      const line = yield* buf.readuntil(CRLF, MAX_CHUNK_LINE, LineTooLong);
      let text = line.toString('latin1', 0, line.length - 2);
      const semi = text.indexOf(';');
      if (semi >= 0) text = text.slice(0, semi);
      text = text.trim();
      if (!HEX.test(text)) throw new IncompleteRead(`bad chunk size line: ${JSON.stringify(line.toString('latin1', 0, Math.min(line.length, 40)))}`);
      let size = parseInt(text, 16);
      if (size === 0) break;
      total += size;
      if (max_size !== null && total > max_size) throw new PayloadTooLarge(`the body is larger than ${max_size} bytes`);
      while (size > 0) {
        const chunk = yield* buf.readsome(size);
        size -= chunk.length;
        sink.feed_data(chunk);
      }
      const end = yield* buf.read(2);
      if (end[0] !== 0x0d || end[1] !== 0x0a) throw new IncompleteRead('a chunk is not followed by CRLF');
    }
    // Trailer fields, then the final CRLF: read and discarded, within a bound.
    let trailers = 0;
    for (;;) {
      const line = yield* buf.readuntil(CRLF, MAX_TRAILERS, LineTooLong);
      if (line.length === 2) break;
      trailers += line.length;
      if (trailers > MAX_TRAILERS) throw new LineTooLong('the chunked trailer is too long');
    }
  } catch (exc) {
    if (exc instanceof EofStream) throw new IncompleteRead('the connection closed in the middle of a chunked body');
    throw exc;
  }
}

/**
 * Decodes a gzip or deflate body on its way to the sink. 'unzip' also reads the raw deflate many servers
 * send as "deflate". The decoded size is bounded by `max_size` inside zlib itself, so a small compressed
 * body cannot make it allocate a huge buffer before the limit is checked.
 */
class DecodingSink implements Sink {
  /** Made at the first byte: an empty body with a Content-Encoding is empty, not a truncated stream. */
  private zlib: ZlibStream | null = null;
  constructor(private readonly out: Sink, private readonly max_size: number | null) {}
  feed_data(chunk: Buffer): void {
    // 'unzip' tells gzip, zlib and raw deflate apart by their first bytes: one decoder for both codings.
    this.zlib ??= new ZlibStream('unzip', this.max_size === null ? {} : { max_output: this.max_size });
    const data = this.decode(() => this.zlib!.process(chunk));
    if (data.length > 0) this.out.feed_data(data);
  }
  finish(): void {
    if (this.zlib !== null) {
      const rest = this.decode(() => this.zlib!.finish());
      if (rest.length > 0) this.out.feed_data(rest);
    }
    this.out.finish();
  }
  close(): void {
    this.zlib?.close();
  }
  private decode(step: () => Buffer): Buffer {
    try {
      return step();
    } catch (exc) {
      if (!(exc instanceof ZlibError)) throw exc;
      if (exc.code === 'TOO_LARGE') throw new PayloadTooLarge(`the decoded body is larger than ${this.max_size} bytes`);
      throw new IncompleteRead(`the compressed body is damaged: ${exc.message}`);
    }
  }
}

/**
 * A message body as a handler or a client reads it: `yield* payload.read()` gives the next chunk and
 * `null` at the end (Tulip handed out the parser's DataBuffer, which raises EofStream at the end instead).
 */
export class Payload {
  /** @internal */ readonly _out: DataBuffer<Buffer> | null;
  /** @internal */ _eof: boolean;

  /** `out` is the payload parser's output; `null` makes an empty body. */
  constructor(out: DataBuffer<Buffer> | null) {
    this._out = out;
    this._eof = out === null;
  }

  /** The next chunk of the body, or null once the body has been read to its end. */
  *read(): Coroutine<Buffer | null> {
    if (this._eof) return null;
    const chunk = yield* this._out!.read_or(null);
    if (chunk === null) this._eof = true;
    return chunk;
  }

  /** The rest of the body as one Buffer. */
  *read_all(): Coroutine<Buffer> {
    const chunks: Buffer[] = [];
    for (let chunk = yield* this.read(); chunk !== null; chunk = yield* this.read()) chunks.push(chunk);
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  /** True once the whole body has been read. */
  at_eof(): boolean {
    return this._eof || this._out!.at_eof();
  }

  exception(): unknown {
    return this._out === null ? null : this._out.exception();
  }
}

/** Whether a message with these framing facts has a body to parse at all (no parser needed if not). */
function has_payload(message: RawRequestMessage | RawResponseMessage, options: PayloadOptions): boolean {
  if (options.has_body === false) return false;
  if (message.chunked) return true;
  const length = message.content_length ?? options.length ?? null;
  return length !== null ? length > 0 : options.readall === true;
}

/** Starts the body parser for `message` on `stream` and wraps its output; an empty body costs no parser. */
export function read_payload(stream: StreamBuffer, message: RawRequestMessage | RawResponseMessage, options: PayloadOptions & { loop?: AbstractEventLoop } = {}): Payload {
  if (!has_payload(message, options)) return new Payload(null);
  return new Payload(stream.set_parser(http_payload_parser(message, options), { loop: options.loop }));
}

// ---------------------------------------------------------------------------------------------------------
// Writers

/** `Date: ...` values are per second; formatting one per response would cost more than the rest of a small one. */
let date_second = -1;
let date_value = '';

/** The current time as an HTTP-date (RFC 9110 5.6.7), computed at most once a second. */
export function http_date(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== date_second) {
    date_second = second;
    date_value = new Date(second * 1000).toUTCString();
  }
  return date_value;
}

/** A transformation of the body stream, before framing (Tulip's payload filter generators). */
interface BodyFilter {
  /** Takes a chunk, returns what is ready to go on (possibly nothing). */
  feed(chunk: Buffer): Buffer[];
  /** The body ended: returns what was held back. */
  finish(): Buffer[];
}

/** Splits the body into chunks of exactly `size` bytes (the last may be shorter). */
class ChunkingFilter implements BodyFilter {
  private held: Buffer[] = [];
  private held_size = 0;
  constructor(private readonly size: number) {}
  feed(chunk: Buffer): Buffer[] {
    this.held.push(chunk);
    this.held_size += chunk.length;
    if (this.held_size < this.size) return [];
    let all = Buffer.concat(this.held, this.held_size);
    const out: Buffer[] = [];
    while (all.length >= this.size) {
      out.push(all.subarray(0, this.size));
      all = all.subarray(this.size);
    }
    this.held = all.length > 0 ? [all] : [];
    this.held_size = all.length;
    return out;
  }
  finish(): Buffer[] {
    const rest = this.held_size > 0 ? [Buffer.concat(this.held, this.held_size)] : [];
    this.held = [];
    this.held_size = 0;
    return rest;
  }
}

/**
 * Heads waiting for a body, per loop: written at the end of the loop iteration at the latest. One
 * callback per iteration for all of them, instead of one per response.
 */
const waiting_heads = new WeakMap<AbstractEventLoop, HttpMessage[]>();

function flush_later(message: HttpMessage): void {
  const loop = get_event_loop();
  let list = waiting_heads.get(loop);
  if (list === undefined) waiting_heads.set(loop, (list = []));
  if (list.length === 0) loop.call_soon(flush_heads, list);
  list.push(message);
}

function flush_heads(list: HttpMessage[]): void {
  for (const message of list) message._flush_head();
  list.length = 0;
}

/** Compresses the body as it is written (the zlib format for 'deflate', as RFC 9110 says). */
class CompressionFilter implements BodyFilter {
  private readonly zlib: ZlibStream;
  constructor(encoding: 'deflate' | 'gzip') {
    this.zlib = new ZlibStream(encoding);
  }
  feed(chunk: Buffer): Buffer[] {
    const out = this.zlib.process(chunk);
    return out.length > 0 ? [out] : [];
  }
  finish(): Buffer[] {
    return [this.zlib.finish()];
  }
}

/** How the body is delimited on the wire. */
type BodyMode = 'chunked' | 'length' | 'eof' | 'none';

/** Bodies up to this size are copied into one buffer with their framing: one write, one syscall. */
const COALESCE_LIMIT = 64 * 1024;

const TERMINAL_CHUNK = Buffer.from('0\r\n\r\n');

/** Header values may be Latin-1 text (RFC 9110 5.5) without CR, LF or NUL. */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** Header names seen valid already: a program sends the same few names over and over (bounded). */
const valid_names = new Set<string>();

function check_name(name: string): void {
  if (typeof name !== 'string' || !TOKEN.test(name)) throw new TypeError(`HttpMessage.add_header(): invalid header name ${JSON.stringify(name)}`);
  if (valid_names.size < 1024) valid_names.add(name);
}

export interface HttpMessageOptions {
  http_version?: HttpVersion;
  /** Close the connection after this message. */
  close?: boolean;
}

/**
 * Writes one HTTP message (Tulip's HttpMessage): add headers, `send_headers()`, `write()` the body, then
 * `write_eof()`. The body is framed by what the headers and version say: Content-Length if one was added,
 * chunked when it is unknown on HTTP/1.1, else delimited by closing the connection.
 *
 * Unlike Tulip, `send_headers()` does not write at once when a body may follow: the head leaves together
 * with the first body chunk or `write_eof()` in one transport write (one syscall for a small response,
 * where two cost up to twice as much), or at the end of the current loop iteration if neither comes first,
 * so a handler that sends headers and then waits still gets them out promptly. A message without a body
 * (a 101 upgrade, 204, 304) writes its head at once, so what follows on the connection comes after it.
 */
export abstract class HttpMessage {
  static SERVER_SOFTWARE = `Node.js/${process.versions.node.split('.')[0]} tulip-ts/0.1`;

  readonly transport: WriteTransport;
  version: HttpVersion;
  closing: boolean;
  /** Set by a Connection header (true/false); null: as `closing` says. */
  keepalive: boolean | null = null;
  chunked = false;
  length: number | null = null;
  upgrade = false;
  /** The headers to send, in order (hop-by-hop ones are managed by the writer itself). */
  readonly headers = new CIMultiDict();
  headers_sent = false;

  /** Lower-cased names the writer does not pass on (it derives them, or they are hop-by-hop). */
  protected abstract readonly hop_headers: ReadonlySet<string>;
  private _mode: BodyMode = 'none';
  /** Bytes the length mode may still send. */
  private _remaining = 0;
  /** The head (latin1 text: one char per byte), until it goes out with the first body bytes. */
  private _head: string | null = null;
  private _filters: BodyFilter[] = [];
  private _ended = false;
  /** The head is the whole message: the body written is dropped (a response to HEAD). */
  protected _head_only = false;

  constructor(transport: WriteTransport, version: HttpVersion, close: boolean) {
    this.transport = transport;
    this.version = version;
    this.closing = close;
  }

  /** The first line: a request line or a status line, with its CRLF. */
  protected abstract first_line(): string;
  /** How the body is delimited, decided when the headers are sent. */
  protected abstract body_mode(): BodyMode;

  force_close(): void {
    this.closing = true;
    this.keepalive = false;
  }

  force_chunked(): void {
    this.chunked = true;
  }

  /** Whether the connection stays open after this message. */
  keep_alive(): boolean {
    return this.keepalive ?? !this.closing;
  }

  is_headers_sent(): boolean {
    return this.headers_sent;
  }

  /** Adds a header; Content-Length, Connection and Transfer-Encoding also decide the framing. */
  add_header(name: string, value: string | number): void {
    if (this.headers_sent) throw new Error('HttpMessage.add_header(): the headers have been sent already');
    if (!valid_names.has(name)) check_name(name);
    const text = typeof value === 'number' ? String(value) : value;
    if (typeof text !== 'string' || INVALID_VALUE.test(text)) {
      throw new TypeError(`HttpMessage.add_header(): invalid value for ${name}: ${JSON.stringify(text)} (CR, LF, NUL and non-Latin-1 characters are not allowed)`);
    }
    const key = name.toLowerCase();
    if (key === 'content-length') {
      if (!DIGITS.test(text.trim())) throw new TypeError(`HttpMessage.add_header(): Content-Length must be a byte count, got ${JSON.stringify(text)}`);
      this.length = Number(text.trim());
    } else if (key === 'connection') {
      const t = tokens(text);
      if (t.includes('upgrade')) this.upgrade = true;
      else if (t.includes('close')) this.keepalive = false;
      else if (t.includes('keep-alive')) this.keepalive = true;
      return;
    } else if (key === 'transfer-encoding') {
      if (tokens(text).at(-1) === 'chunked') this.chunked = true;
      return;
    }
    if (!this.hop_headers.has(key)) this.headers._add(name, key, text);
  }

  add_headers(...headers: Array<readonly [string, string | number]>): void {
    for (const [name, value] of headers) this.add_header(name, value);
  }

  /** Fixes the framing and encodes the head; it leaves with the first body bytes (see the class comment). */
  send_headers(): void {
    if (this.headers_sent) throw new Error('HttpMessage.send_headers(): the headers have been sent already');
    this.headers_sent = true;
    this._mode = this.body_mode();
    if (this._mode === 'length') this._remaining = this.length!;
    // A body delimited by the end of the connection leaves no way to keep it (unless none is sent).
    if (this._mode === 'eof' && !this._head_only) this.keepalive = false;
    let head = this.first_line();
    head += `Connection: ${this.upgrade ? 'upgrade' : this.keep_alive() ? 'keep-alive' : 'close'}\r\n`;
    if (this._mode === 'chunked') head += 'Transfer-Encoding: chunked\r\n';
    head += this.headers._format() + this.default_headers() + '\r\n';
    this._head = head;
    // No body to coalesce with (a 101 whose next bytes are WebSocket frames, a 204, a 304): out now.
    if (this._mode === 'none') return this._flush_head();
    flush_later(this);
  }

  /** Headers a subclass adds after the user's (Date/Server, User-Agent), as header lines. */
  protected default_headers(): string {
    return '';
  }

  /** @internal Writes the head now if it is still waiting. */
  _flush_head(): void {
    const head = this._head;
    if (head === null) return;
    this._head = null;
    this.transport.write(Buffer.from(head, 'latin1'));
  }

  /** Writes a chunk of the body (a string is sent as UTF-8). */
  write(chunk: Uint8Array | string): void {
    if (!this.headers_sent) throw new Error('HttpMessage.write(): send_headers() was not called');
    if (this._ended) throw new Error('HttpMessage.write(): write_eof() was called already');
    let data: Buffer;
    if (typeof chunk === 'string') data = Buffer.from(chunk, 'utf8');
    else {
      check_bytes(chunk, 'HttpMessage.write');
      data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
    if (data.length === 0 || this._head_only) return;
    if (this._filters.length === 0) return this._emit(data);
    for (const out of this._run_filters(data, 0)) this._emit(out);
  }

  /** Feeds `data` through the filters from `index` on (data === null: the body ended). */
  private _run_filters(data: Buffer | null, index: number): Buffer[] {
    if (index === this._filters.length) return data === null ? [] : [data];
    const filter = this._filters[index]!;
    const produced = data === null ? filter.finish() : filter.feed(data);
    const out: Buffer[] = [];
    for (const p of produced) if (p.length > 0) out.push(...this._run_filters(p, index + 1));
    if (data === null) out.push(...this._run_filters(null, index + 1));
    return out;
  }

  /** Frames one chunk of the (filtered) body and writes it, with the head if that is still waiting. */
  private _emit(data: Buffer): void {
    switch (this._mode) {
      case 'none':
        throw new Error(`HttpMessage.write(): this message has no body (${this.first_line().trim()}); set Content-Length or force_chunked()`);
      case 'length':
        if (this._remaining === 0) return;
        if (data.length > this._remaining) data = data.subarray(0, this._remaining); // Tulip: the rest is dropped
        this._remaining -= data.length;
        return this._send(null, data, null);
      case 'chunked':
        return this._send(`${data.length.toString(16)}\r\n`, data, CRLF);
      case 'eof':
        return this._send(null, data, null);
    }
  }

  /** One transport write of [head] + prefix + data + suffix when small, else a few writes in order. */
  private _send(prefix: string | null, data: Buffer, suffix: Buffer | null): void {
    const head = this._head;
    this._head = null;
    const total = (head?.length ?? 0) + (prefix?.length ?? 0) + data.length + (suffix?.length ?? 0);
    if (total > COALESCE_LIMIT) {
      if (head !== null) this.transport.write(Buffer.from(head, 'latin1'));
      if (prefix !== null) this.transport.write(Buffer.from(prefix, 'latin1'));
      this.transport.write(data);
      if (suffix !== null) this.transport.write(suffix);
      return;
    }
    if (head === null && prefix === null && suffix === null) return this.transport.write(data);
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    if (head !== null) at += out.write(head, at, 'latin1');
    if (prefix !== null) at += out.write(prefix, at, 'latin1');
    at += data.copy(out, at);
    if (suffix !== null) suffix.copy(out, at);
    this.transport.write(out);
  }

  /** Ends the body (the terminating chunk when chunked) and writes whatever is still waiting. */
  write_eof(): void {
    if (this._ended) return;
    if (!this.headers_sent) throw new Error('HttpMessage.write_eof(): send_headers() was not called');
    if (this._filters.length > 0 && !this._head_only) for (const out of this._run_filters(null, 0)) this._emit(out);
    this._ended = true;
    if (this._mode === 'chunked' && !this._head_only) {
      const head = this._head;
      this._head = null;
      this.transport.write(head === null ? TERMINAL_CHUNK : Buffer.from(head + '0\r\n\r\n', 'latin1'));
    } else {
      this._flush_head();
    }
  }

  /** From now on the body is cut into chunks of `chunk_size` bytes (Tulip's add_chunking_filter). */
  add_chunking_filter(chunk_size = 16 * 1024): void {
    if (!Number.isSafeInteger(chunk_size) || chunk_size <= 0) throw new RangeError(`chunk_size must be a positive integer, got ${chunk_size}`);
    this._filters.push(new ChunkingFilter(chunk_size));
  }

  /**
   * From now on the body is compressed (Tulip's add_compression_filter); add the matching
   * `Content-Encoding` header yourself. A Content-Length must then be the compressed length, so this is
   * for chunked or until-close bodies.
   */
  add_compression_filter(encoding: 'deflate' | 'gzip' = 'deflate'): void {
    if (encoding !== 'deflate' && encoding !== 'gzip') throw new TypeError(`add_compression_filter(): expected 'deflate' or 'gzip', got ${JSON.stringify(encoding)}`);
    this._filters.push(new CompressionFilter(encoding));
  }
}

export interface ResponseOptions extends HttpMessageOptions {
  /** The reason phrase; by default the standard one for the status. */
  reason?: string;
  /**
   * The answer to a HEAD request: the head goes out as GET's would (Content-Length or Transfer-Encoding
   * included) and what is written of the body is dropped, so one handler can serve GET and HEAD, and the
   * next response on the connection is not mistaken for a body. Pass `message.method === 'HEAD'`.
   */
  head_only?: boolean;
}

const RESPONSE_HOP_HEADERS: ReadonlySet<string> = new Set(['keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'trailers']);

/**
 * A response (Tulip's http.Response): `new Response(transport, 200, { http_version: message.version })`;
 * for a HEAD request add `head_only: true` (or `message.method === 'HEAD'`), and write the body as for GET.
 */
export class Response extends HttpMessage {
  readonly status: number;
  readonly reason: string;
  protected readonly hop_headers = RESPONSE_HOP_HEADERS;

  constructor(transport: WriteTransport, status: number, options: ResponseOptions = {}) {
    super(transport, options.http_version ?? HttpVersion11, options.close ?? false);
    if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`Response: status must be a 3-digit code, got ${status}`);
    const reason = options.reason ?? reason_phrase(status);
    if (/[\r\n]/.test(reason)) throw new TypeError('Response: the reason phrase may not contain CR or LF');
    this.status = status;
    this.reason = reason;
    this._head_only = options.head_only ?? false;
  }

  protected first_line(): string {
    return `HTTP/${this.version[0]}.${this.version[1]} ${this.status} ${this.reason}\r\n`;
  }

  protected body_mode(): BodyMode {
    const s = this.status;
    if (s < 200 || s === 204 || s === 304) return 'none';
    const http11 = version_at_least(this.version, 1, 1);
    if (this.chunked && http11) return 'chunked';
    if (this.length !== null) return 'length';
    return http11 ? 'chunked' : 'eof';
  }

  protected override default_headers(): string {
    let out = this.headers._has_key('date') ? '' : `Date: ${http_date()}\r\n`;
    if (!this.headers._has_key('server')) out += `Server: ${HttpMessage.SERVER_SOFTWARE}\r\n`;
    return out;
  }
}

/** A request (Tulip's http.Request). Without Content-Length or force_chunked() it has no body. */
export class Request extends HttpMessage {
  readonly method: string;
  readonly path: string;
  protected readonly hop_headers: ReadonlySet<string> = new Set();

  constructor(transport: WriteTransport, method: string, path: string, options: HttpMessageOptions = {}) {
    super(transport, options.http_version ?? HttpVersion11, options.close ?? false);
    if (!TOKEN.test(method)) throw new TypeError(`Request: invalid method ${JSON.stringify(method)}`);
    if (path === '' || /[\x00-\x20\x7f]/.test(path)) throw new TypeError(`Request: invalid request target ${JSON.stringify(path)}`);
    this.method = method;
    this.path = path;
  }

  protected first_line(): string {
    return `${this.method} ${this.path} HTTP/${this.version[0]}.${this.version[1]}\r\n`;
  }

  protected body_mode(): BodyMode {
    if (this.chunked) return 'chunked';
    return this.length !== null ? 'length' : 'none';
  }

  protected override default_headers(): string {
    return this.headers._has_key('user-agent') ? '' : `User-Agent: ${HttpMessage.SERVER_SOFTWARE}\r\n`;
  }
}
