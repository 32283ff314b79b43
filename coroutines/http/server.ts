/**
 * The HTTP server protocol (Tulip's `tulip/http/server.py`): `ServerHttpProtocol` reads requests off a
 * connection and hands each to `handle_request(message, payload)`, a coroutine that a subclass overrides
 * and that answers with `new Response(this.transport, status, ...)` (protocol.ts). The handler adapter that
 * takes the place of Tulip's `wsgi.py` is in handler.ts.
 *
 * One Task per connection runs `start()`, the request loop; each handler runs inside it (`yield*`), so
 * requests on one connection are answered one after the other, in order (pipelining), and a request costs
 * no Task of its own. Each request head is found in the received bytes by a HeadScanner (protocol.ts: what
 * http_request_parser does, without a parser generator and a DataBuffer per request); when it is not all
 * there yet, start() waits on one future that data_received() completes. Around each handler the loop:
 * - opens the body with the payload parser before the handler runs, so that framing errors (Content-Length
 *   with Transfer-Encoding, a body over `max_body_size`) are answered without calling it;
 * - afterwards reads and drops what the handler left of the body (up to DRAIN_LIMIT bytes; past that, and
 *   for a 100-continue body the client was never asked for, the connection is closed instead), so the next
 *   request starts at the right byte;
 * - keeps the connection open for the next request unless the request said `Connection: close` (or was
 *   HTTP/1.0 without keep-alive), the handler called `close()`, `keep_alive` is 0, or a 101 switched
 *   protocols.
 *
 * `Expect: 100-continue`: "HTTP/1.1 100 Continue" is sent when the handler first reads the payload (not
 * before), so a handler can refuse a body (e.g. with a 413 or 401) without the client sending it.
 *
 * Errors never escape: a parser's HttpException (400 for a malformed request line or header, a line or
 * header block too long, request smuggling; 413 for a body too large) becomes its error page and the
 * connection closes; so does any other exception from a handler (a 500, logged). A page is sent only if
 * nothing of the response was sent yet; otherwise the connection just closes, since the client could not
 * tell the page from the rest of the response. A client that goes away (EOF or a reset) while a request is
 * in progress cancels its handler: CancelledError is thrown in at its yield point, so `finally` blocks run.
 * An EOF between requests is the ordinary end of a keep-alive connection. (A client that half-closes right
 * after sending a request is treated as gone, as Tulip, aiohttp and nginx do.)
 *
 * Timeouts, both checked by one timer per connection that re-arms itself only when it fires (never per
 * request): `keep_alive` closes a connection idle between requests for that long; `timeout` bounds a slow
 * client: the head of a request must arrive within `timeout` seconds of its first byte (or of the
 * connection, for the first request), else a 408 (or, if nothing was sent at all, a plain close); a body
 * whose bytes stop coming for `timeout` seconds (noticed within twice that) fails the payload with a 408.
 * (A client that stops reading our responses stops us reading its requests, and so counts as idle.)
 *
 * Memory stays bounded: reading pauses while more than INPUT_HIGH unparsed bytes (a pipelined flood) or
 * INPUT_CHUNKS unread body chunks (a handler slower than the upload) wait, and resumes as they are consumed.
 * After an error page the connection closes lingering: our side is shut first and what the client still
 * sends is dropped until its EOF, so that a reset cannot destroy the page before the client reads it.
 *
 * To know whether a response has started (for the error page rule above) and what status it has (for the
 * access log), `this.transport` is a thin wrapper around the connection's transport that counts the bytes
 * written for the current request and reads the status code from its first bytes.
 */
import { CancelledError, Future, type Coroutine } from '../../src/futures.js';
import type { AbstractEventLoop, TimerHandle } from '../../src/events.js';
import { logger, type Logger } from '../../src/log.js';
import { Task, iscoroutine } from '../../src/tasks.js';
import { Transport } from '../../src/transports.js';
import { EofStream, StreamBuffer, type DataBuffer } from '../parsers.js';
import { FlowControlProtocol } from '../streams.js';
import { HttpErrorException, HttpException } from './errors.js';
import {
  HeadScanner, HttpVersion11, Payload, RESPONSES, Response, http_payload_parser, scan_request,
  type ParserLimits, type PayloadOptions, type RawRequestMessage,
} from './protocol.js';

export interface ServerHttpOptions {
  /** The loop the connection's Task runs on; by default get_event_loop() when the protocol is made. */
  loop?: AbstractEventLoop;
  /** Error pages show the exception's stack; handlers' debug messages are logged. */
  debug?: boolean;
  /** Seconds an idle keep-alive connection stays open (default 75); 0 = no keep-alive: one request each. */
  keep_alive?: number;
  /** Seconds a client has to send a request's head, and the longest pause within a body (default 15); 0 = none. */
  timeout?: number;
  /** Where each request is logged, one line in Apache's combined format, at level info; null = none (default). */
  access_log?: Logger | null;
  /** The request parser's limits (line, header and header block sizes). */
  limits?: ParserLimits;
  /** A larger body fails with PayloadTooLarge (413); null = no limit (default). */
  max_body_size?: number | null;
}

/** How much of a body the handler did not read is read and dropped to keep the connection; past it, close. */
export const DRAIN_LIMIT = 256 * 1024;

const DEFAULT_ERROR_MESSAGE = (status: number, reason: string, message: string): string => `<html>
  <head>
    <title>${status} ${reason}</title>
  </head>
  <body>
    <h1>${status} ${reason}</h1>
    ${message}
  </body>
</html>`;

const NOT_FOUND_BODY = Buffer.from('Page Not Found!');
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n');
/** The body of every request that has none (a Payload without a parser is empty, and keeps no state). */
const EMPTY_PAYLOAD = new Payload(null);

// Connection states, for the timer: what the connection is waiting for.
const WAIT = 0; // for the next request to begin (keep_alive; or timeout before the first request)
const HEAD = 1; // for the rest of a request's head (timeout since its first byte)
const HANDLE = 2; // for its handler (timeout applies only to pauses in the body)
const LINGER = 3; // closing after an error: our side is shut, what the client still sends is dropped
const GONE = 4; // the connection is lost

/** How long a lingering close waits for the client's EOF before closing anyway. */
const LINGER_SECONDS = 5;

// Why reading from the client is paused (bits of _read_blocks): received bytes nobody has read yet
// (INPUT), or responses the client does not read (OUTPUT: stop taking requests until it does).
const INPUT = 1;
const OUTPUT = 2;
/** Unparsed bytes past which reading pauses (a pipelined flood while a handler runs). */
const INPUT_HIGH = 256 * 1024;
/** Unread body chunks past which reading pauses (a handler slower than the upload); it resumes at half. */
const INPUT_CHUNKS = 16;

/** The status code at the start of a response head ("HTTP/1.1 200 ..."), -1 if these bytes are not one. */
function status_of(data: Uint8Array): number {
  // 'H' 'T' 'T' 'P' '/' d '.' d ' ' then three digits
  if (data.length < 12 || data[0] !== 0x48 || data[4] !== 0x2f || data[8] !== 0x20) return -1;
  const a = data[9]! - 0x30, b = data[10]! - 0x30, c = data[11]! - 0x30;
  if (a < 1 || a > 9 || b < 0 || b > 9 || c < 0 || c > 9) return -1;
  return a * 100 + b * 10 + c;
}

/**
 * The connection's transport as handlers see it: every call goes to the real one, and writes are counted
 * per request (`_sent`) with the status read from the first response head (`_status`: 0 while nothing was
 * sent, -1 when what was sent is not a response head; an interim 1xx other than 101 does not count).
 */
class ServerTransport extends Transport {
  /** @internal */ _sent = 0;
  /** @internal */ _status = 0;

  constructor(readonly raw: Transport) {
    super();
  }

  override write(data: Uint8Array): void {
    if (this._status === 0) {
      const status = status_of(data);
      if (status < 100 || status >= 200 || status === 101) this._status = status;
    }
    this._sent += data.length;
    this.raw.write(data);
  }
  override get_extra_info(name: string, default_value: unknown = null): unknown {
    return this.raw.get_extra_info(name, default_value);
  }
  override close(): void {
    this.raw.close();
  }
  override is_closing(): boolean {
    return this.raw.is_closing();
  }
  override pause(): void {
    this.raw.pause();
  }
  override resume(): void {
    this.raw.resume();
  }
  override pause_reading(): void {
    this.raw.pause_reading();
  }
  override resume_reading(): void {
    this.raw.resume_reading();
  }
  override write_eof(): void {
    this.raw.write_eof();
  }
  override can_write_eof(): boolean {
    return this.raw.can_write_eof();
  }
  override abort(): void {
    this.raw.abort();
  }
  override get_write_buffer_size(): number {
    return this.raw.get_write_buffer_size();
  }
  override set_write_buffer_limits(high?: number, low?: number): void {
    this.raw.set_write_buffer_limits(high, low);
  }
  override toString(): string {
    return String(this.raw);
  }
}

/**
 * A request body as the server hands it out: the first read sends a pending `100 Continue`, and every read
 * may let the connection read again (see ServerHttpProtocol._input_backlog).
 */
class ServerPayload extends Payload {
  constructor(out: DataBuffer<Buffer>, private readonly _protocol: ServerHttpProtocol) {
    super(out);
  }
  override *read(): Coroutine<Buffer | null> {
    const protocol = this._protocol;
    if (protocol._expect_continue) protocol._send_continue();
    const chunk = yield* super.read();
    if (protocol._read_blocks & INPUT) protocol._maybe_resume_input();
    return chunk;
  }
}

/**
 * Serves HTTP/1.x on one connection: override `handle_request(message, payload)` (see the module comment
 * for everything the request loop does around it).
 */
export class ServerHttpProtocol extends FlowControlProtocol {
  /** What handlers write to (a wrapper that counts the response's bytes; `raw` is the socket's transport). */
  transport: Transport | null = null;
  /** The connection's bytes: request heads are scanned from its buffer, bodies go through a payload parser. */
  readonly stream = new StreamBuffer();
  readonly debug: boolean;
  readonly access_log: Logger | null;
  /** How many requests this connection has begun. */
  _request_count = 0;

  private readonly _keep_alive: number;
  private readonly _timeout: number;
  /** Finds each request head in the stream's bytes (no parser, DataBuffer or generators per request). */
  private readonly _scanner: HeadScanner;
  /** What start() waits on while the next request head is incomplete. */
  private _head_waiter: Future<RawRequestMessage> | null = null;
  private readonly _payload_options: PayloadOptions;
  private readonly _buffer_options: { loop: AbstractEventLoop };
  /** The Task running start(); null once the connection is lost (Tulip's `_request_handle`). */
  private _request_handler: Task<void> | null = null;
  private _writer: ServerTransport | null = null;
  private _closing = false;
  /** @internal the transport asked us to stop writing (see drain()) */
  _write_paused = false;
  /** @internal why reading is paused: INPUT | OUTPUT bits, 0 when reading */
  _read_blocks = 0;
  // The timer and what it checks.
  private readonly _period: number;
  private _timer: TimerHandle | null = null;
  private readonly _on_timer_cb = (): void => this._on_timer();
  private _state = WAIT;
  private _since = 0;
  private _data_count = 0;
  private _seen_count = 0;
  private _progress = 0;
  // The request in progress.
  private _body: DataBuffer<Buffer> | null = null;
  /** @internal a 100-continue body was not asked for yet */
  _expect_continue = false;
  private _peer: string | null = null;
  private _linger_handle: TimerHandle | null = null;

  constructor(options: ServerHttpOptions = {}) {
    super(options.loop === undefined ? {} : { loop: options.loop });
    this.debug = options.debug ?? false;
    this.access_log = options.access_log ?? null;
    this._keep_alive = check_seconds(options.keep_alive ?? 75, 'keep_alive');
    this._timeout = check_seconds(options.timeout ?? 15, 'timeout');
    const periods = [this._keep_alive, this._timeout].filter((s) => s > 0);
    this._period = periods.length > 0 ? Math.min(...periods) : 0;
    this._scanner = new HeadScanner(options.limits);
    const max = options.max_body_size ?? null;
    if (max !== null && !(Number.isSafeInteger(max) && max >= 0)) {
      throw new RangeError(`max_body_size must be a byte count >= 0 or null, got ${max}`);
    }
    this._payload_options = { max_size: max };
    this._buffer_options = { loop: this._loop };
  }

  override connection_made(transport: Transport): void {
    this._writer = new ServerTransport(transport);
    this.transport = this._writer;
    this._state = WAIT;
    if (this._period > 0) {
      this._since = this._loop.time();
      this._timer = this._loop.call_at(this._since + this._period, this._on_timer_cb);
    }
    this._request_handler = new Task(this.start(), { loop: this._loop });
  }

  override data_received(data: Buffer): void {
    const state = this._state;
    if (state !== HANDLE) {
      if (state === WAIT) {
        this._state = HEAD;
        if (this._period > 0) this._since = this._loop.time();
      } else if (state === LINGER) {
        return; // dropped: we answered already and are waiting for the client to close
      }
    }
    this._data_count++;
    this.stream.feed_data(data);
    if (this._head_waiter !== null) this._wake_for_head();
    if (this._read_blocks === 0 && this._input_backlog()) this._block_reading(INPUT);
  }

  /**
   * Too much received and not consumed: unparsed bytes, or body chunks the handler has not read. Not after
   * a 101: the bytes are the new protocol's, whose parser bounds them (a WebSocket frame may well be larger
   * than INPUT_HIGH, and pausing until it is parsed would wait forever).
   */
  private _input_backlog(): boolean {
    if (this._writer !== null && this._writer._status === 101) return false;
    if (this.stream._buffer.size > INPUT_HIGH) return true;
    const body = this._body;
    return body !== null && body._buffer.length - body._head > INPUT_CHUNKS;
  }

  /** @internal the handler read from the body: read again once half the backlog is gone. */
  _maybe_resume_input(): void {
    const body = this._body;
    if (body === null || body._buffer.length - body._head <= INPUT_CHUNKS / 2) this._unblock_reading(INPUT);
  }

  private _block_reading(reason: number): void {
    if (this._read_blocks === 0) this._writer?.pause_reading();
    this._read_blocks |= reason;
  }

  private _unblock_reading(reason: number): void {
    if ((this._read_blocks & reason) === 0) return;
    this._read_blocks &= ~reason;
    if (this._read_blocks === 0) this._writer?.resume_reading();
  }

  /**
   * The client's EOF: the end of a keep-alive connection between requests; mid-request, the client is gone.
   * After a 101 the connection is the handler's (a WebSocket, say): it reads the EOF from the stream, and
   * may still write (the transport stays half-open) until it returns.
   */
  override eof_received(): boolean {
    if (this._writer !== null && this._writer._status === 101) {
      this.stream.feed_eof();
      return true;
    }
    if (this._state !== WAIT) this._cancel_handler();
    this.stream.feed_eof();
    if (this._head_waiter !== null) this._wake_for_head();
    return false; // the transport closes itself
  }

  override connection_lost(exc: Error | null): void {
    super.connection_lost(exc);
    this._state = GONE;
    this._cancel_handler();
    if (this._timer !== null) {
      this._timer.cancel();
      this._timer = null;
    }
    if (this._linger_handle !== null) {
      this._linger_handle.cancel();
      this._linger_handle = null;
    }
  }

  override pause_writing(): void {
    this._write_paused = true;
    super.pause_writing();
  }

  override resume_writing(): void {
    this._write_paused = false;
    super.resume_writing();
  }

  private _cancel_handler(): void {
    const handler = this._request_handler;
    if (handler === null) return;
    this._request_handler = null;
    handler.cancel();
  }

  /** Closes the connection once the current response is done (at once if no request is in progress). */
  close(): void {
    this._closing = true;
    if (this._state === WAIT && this.transport !== null) this.transport.close();
  }

  /**
   * Closes after an answer that left request bytes unread (an error page, a body not drained): shuts our
   * side (the client reads our answer, then EOF), then drops what the client still sends until it closes,
   * for at most LINGER_SECONDS. Closing at once would make the kernel answer those bytes with a reset,
   * which can destroy the answer before the client reads it (nginx's lingering_close).
   */
  private _linger(): void {
    const writer = this._writer;
    if (writer === null || this._state === LINGER || this._state === GONE) return;
    this._state = LINGER;
    if (writer.is_closing() || !writer.can_write_eof()) return writer.close();
    writer.write_eof();
    // Read again if we had stopped: the client's EOF is what ends the wait.
    if (this._read_blocks !== 0) {
      this._read_blocks = 0;
      writer.resume_reading();
    }
    this._linger_handle = this._loop.call_later(LINGER_SECONDS, () => writer.close());
  }

  /** Waits until the transport's write buffer is below its low-water mark (for handlers writing a lot). */
  *drain(): Coroutine<void> {
    if (this._write_paused) yield* this._drain_helper();
  }

  log_debug(message: string): void {
    if (this.debug) logger.debug(message);
  }

  /**
   * Logs one request to `access_log` in Apache's combined format: client, time, request line, status,
   * bytes sent (head included; '-' for none), Referer and User-Agent. Status 499 (nginx's "client closed
   * request") stands for a request whose client went away before anything was answered.
   */
  log_access(status: number, message: RawRequestMessage | null, length: number | null = null): void {
    const log = this.access_log;
    if (log === null) return;
    if (this._peer === null) this._peer = peer_host(this.transport);
    const request = message === null ? '-' : `${message.method} ${message.path} HTTP/${message.version[0]}.${message.version[1]}`;
    const referer = message?.headers.get('referer') ?? '-';
    const agent = message?.headers.get('user-agent') ?? '-';
    log.info(`${this._peer} - - [${log_date()}] "${escape_log(request)}" ${status} ${length ? length : '-'} "${escape_log(referer)}" "${escape_log(agent)}"`);
  }

  /**
   * The request loop (run by the connection's Task): parse a request, open its body, run the handler, drop
   * what it left of the body, and go on while the connection is kept alive.
   */
  *start(): Coroutine<void> {
    const stream = this.stream;
    const writer = this._writer!;
    while (this._request_handler !== null) {
      let message: RawRequestMessage | null = null;
      let linger = false;
      writer._sent = 0;
      writer._status = 0;
      try {
        // What a handler left unread has been dropped: read on (a pipelined backlog is parsed one by one).
        if (this._read_blocks & INPUT) this._unblock_reading(INPUT);
        if (this._write_paused) {
          // The client is not reading our answers: stop reading its requests until it does.
          this._block_reading(OUTPUT);
          yield* this._drain_helper();
          this._unblock_reading(OUTPUT);
        }
        message = this._next_request() ?? (yield* (this._head_waiter = new Future<RawRequestMessage>({ loop: this._loop })));
        this._state = HANDLE;
        this._request_count++;
        if (this._keep_alive === 0 && !message.should_close) message = closing(message);
        const payload = this._open_payload(message);
        const result: unknown = this.handle_request(message, payload);
        if (result !== undefined) yield* awaitable(result, 'handle_request');
        if (this._body !== null) linger = !(yield* this._finish_body(payload));
      } catch (exc) {
        if (exc instanceof EofStream) {
          // The client closed between requests: the normal end of a keep-alive connection.
          this._closing = true;
        } else if (exc instanceof CancelledError || this._request_handler === null) {
          this.log_debug('Ignored premature client disconnection.');
          if (message !== null) this.log_access(writer._status > 0 ? writer._status : 499, message, writer._sent);
          this._request_handler = null;
          // Already closed if the client went; not if the Task was cancelled from elsewhere.
          if (this._state !== LINGER) writer.close();
          break;
        } else {
          this._error(exc, message);
          linger = true;
        }
      }
      if (message !== null || writer._status !== 0) this.log_access(writer._status, message, writer._sent);
      this._body = null;
      if (this._closing || message === null || message.should_close || writer._status === 101) {
        this._request_handler = null;
        if (linger) this._linger();
        else writer.close();
        break;
      }
      // Bytes already here are the next request's beginning: the head timeout applies, not keep-alive.
      this._state = stream._buffer.size > 0 ? HEAD : WAIT;
      if (this._period > 0) this._since = this._loop.time();
    }
  }

  /**
   * The next request if its whole head has arrived (consumed from the stream), null if not yet. Raises what
   * the head parser would: an HttpException for a malformed head, EofStream at a clean end of the stream,
   * IncompleteRead at an end in the middle of a head.
   */
  private _next_request(): RawRequestMessage | null {
    const stream = this.stream;
    if (stream._exception !== null) throw stream._exception;
    const message = scan_request(this._scanner, stream._buffer);
    if (message === null && stream._eof) {
      this._scanner.eof(stream._buffer);
      throw new EofStream();
    }
    return message;
  }

  /** Bytes or the end arrived while start() waits for a head: hand it the request, or the error. */
  private _wake_for_head(): void {
    const waiter = this._head_waiter!;
    let message: RawRequestMessage | null;
    try {
      message = this._next_request();
    } catch (exc) {
      this._head_waiter = null;
      if (!waiter.done()) waiter.set_exception(exc);
      return;
    }
    if (message === null) return;
    this._head_waiter = null;
    if (!waiter.done()) waiter.set_result(message);
  }

  /** Starts the payload parser over the body; framing errors (a body too large) are raised here. */
  private _open_payload(message: RawRequestMessage): Payload {
    // A request without Content-Length or chunked coding has no body (RFC 9112 6.3): no parser needed.
    if (!message.chunked && !message.content_length) {
      this._expect_continue = false;
      return EMPTY_PAYLOAD;
    }
    const out = this.stream.set_parser(http_payload_parser(message, this._payload_options), this._buffer_options);
    const error = out.exception();
    if (error !== null) throw error;
    this._body = out;
    this._seen_count = this._data_count;
    this._progress = this._since;
    this._expect_continue = message.expect_continue && !out._eof;
    return new ServerPayload(out, this);
  }

  /** @internal The first read of a 100-continue payload: ask for the body, unless the answer has begun. */
  _send_continue(): void {
    this._expect_continue = false;
    if (this._writer !== null && this._writer._status === 0) this._writer.raw.write(CONTINUE);
  }

  /**
   * Reads and drops the rest of the body. False when that costs too much (the connection is to close):
   * more than DRAIN_LIMIT bytes, or a 100-continue body never asked for.
   */
  private *_finish_body(payload: Payload): Coroutine<boolean> {
    const out = this._body!;
    if (out._eof || out.exception() !== null) return true;
    if (this._expect_continue) {
      // The client waits for our 100 before sending the body, or sends it anyway after a while: either way
      // the next request's first byte is unknown.
      this._closing = true;
      return false;
    }
    let drained = 0;
    for (;;) {
      const chunk = yield* payload.read();
      if (chunk === null) return true;
      drained += chunk.length;
      if (drained > DRAIN_LIMIT) {
        this._closing = true;
        return false;
      }
    }
  }

  /** handle_error() for `exc`; if that fails in turn (a subclass's, or bad extra headers), the connection just closes. */
  private _error(exc: unknown, message: RawRequestMessage | null): void {
    try {
      if (exc instanceof HttpException) this.handle_error(exc.code, message, null, exc, exc.headers);
      else this.handle_error(500, message, null, exc);
    } catch (e) {
      logger.error('handle_error() failed', e);
      this._closing = true;
    }
  }

  /**
   * Answers with an HTML error page for `status` (Tulip's; the long message of RESPONSES, the stack in
   * debug mode, extra `headers`), logs a 500, and closes the connection after it. If the response had
   * already begun, it only closes: a page now would be read as part of that response.
   */
  handle_error(status = 500, message: RawRequestMessage | null = null, _payload: Payload | null = null, exc: unknown = null, headers: Iterable<readonly [string, string]> | null = null): void {
    try {
      if (this._request_handler === null) return; // the client has gone
      if (status === 500) logger.error('Error handling request', exc ?? undefined);
      const writer = this._writer;
      if (writer === null || writer.is_closing() || writer._status !== 0) return;
      let entry = RESPONSES[status];
      if (entry === undefined) {
        status = 500;
        entry = RESPONSES[500]!;
      }
      const [reason, long_message] = entry;
      let text = escape_html(long_message);
      if (this.debug && exc !== null && exc !== undefined) {
        const trace = exc instanceof Error ? (exc.stack ?? String(exc)) : String(exc);
        text += `<br><h2>Traceback:</h2>\n<pre>${escape_html(trace)}</pre>`;
      }
      const html = Buffer.from(DEFAULT_ERROR_MESSAGE(status, reason, text));
      const response = new Response(writer, status, { http_version: message?.version ?? HttpVersion11, close: true, head_only: message?.method === 'HEAD' });
      response.add_headers(['Content-Type', 'text/html; charset=utf-8'], ['Content-Length', String(html.length)]);
      if (headers !== null) response.add_headers(...headers);
      response.send_headers();
      response.write(html);
      response.write_eof();
    } finally {
      this.close();
    }
  }

  /**
   * Handles one request: override it (a generator function, run inside the connection's Task). `payload`
   * gives the body chunk by chunk (`yield* payload.read()`, null at the end). The default answers 404.
   */
  handle_request(message: RawRequestMessage, _payload: Payload): Coroutine<void> | void {
    const response = new Response(this.transport!, 404, { http_version: message.version, close: message.should_close });
    response.add_headers(['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(NOT_FOUND_BODY.length)]);
    response.send_headers();
    response.write(NOT_FOUND_BODY);
    response.write_eof();
  }

  // ---- timeouts ----

  /** Checks the deadline of the current state; acts on it or re-arms (at the deadline, or a period later). */
  private _on_timer(): void {
    this._timer = null;
    if (this._state === GONE) return;
    const now = this._loop.time();
    let deadline = Infinity;
    if (this._state === WAIT) {
      const limit = this._request_count === 0 ? this._timeout : this._keep_alive;
      if (limit > 0) deadline = this._since + limit;
    } else if (this._state === HEAD) {
      if (this._timeout > 0) deadline = this._since + this._timeout;
    } else if (this._timeout > 0 && this._body !== null && !this._body._eof && this.stream._parser_buffer === this._body) {
      // A body still arriving: progress is any new data since the last check (or our own pause in reading).
      if (this._data_count !== this._seen_count || this._read_blocks !== 0) {
        this._seen_count = this._data_count;
        this._progress = now;
      }
      deadline = this._progress + this._timeout;
    }
    // (LINGER has its own timer: here it just re-arms, once a period, until the connection is gone.)
    if (now >= deadline) this._expire();
    else this._timer = this._loop.call_at(Math.min(deadline, now + this._period), this._on_timer_cb);
  }

  private _expire(): void {
    if (this._state === WAIT) {
      this.log_debug(this._request_count === 0 ? 'Closed a connection that sent no request.' : 'Closed an idle keep-alive connection.');
      this.transport?.close();
    } else if (this._state === HEAD) {
      this.log_debug('Closed a request whose head did not arrive in time.');
      this._error(new HttpErrorException(408), null);
      this.log_access(408, null, this._writer?._sent ?? null);
      this._cancel_handler();
      this._linger();
    } else if (this._state === HANDLE) {
      // The handler (or the drain) sees the 408 at its next read of the body.
      this.log_debug('A request body stalled.');
      this._closing = true;
      this.stream.set_exception(new HttpErrorException(408, { message: 'Request Timeout: the request body stopped arriving' }));
    }
  }
}

/**
 * What a handler returned, as something to `yield*`: a coroutine or a Future. A Promise (an async
 * function) cannot be waited on inside the loop, so it gets a message that says what to write instead.
 */
export function awaitable(result: unknown, what: string): Coroutine<unknown> | Future<unknown> {
  if (result instanceof Future || iscoroutine(result)) return result;
  throw new TypeError(`${what}() must be a generator function (function*) run with yield*, or return a Future; it returned ${describe(result)}`);
}

function describe(value: unknown): string {
  if (value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function') return 'a Promise (an async function?)';
  return String(value);
}

function check_seconds(value: number, name: string): number {
  if (typeof value !== 'number' || !(value >= 0) || value === Infinity) {
    throw new RangeError(`${name} must be a number of seconds >= 0 (0 = off), got ${String(value)}`);
  }
  return value;
}

/** The message with should_close set (keep-alive is off): what the handler sees, so its Response says so. */
function closing(message: RawRequestMessage): RawRequestMessage {
  return Object.create(message, { should_close: { value: true, enumerable: true } }) as RawRequestMessage;
}

function peer_host(transport: Transport | null): string {
  const peer = transport?.get_extra_info('peername');
  if (Array.isArray(peer)) return String(peer[0]);
  return typeof peer === 'string' && peer !== '' ? peer : '-';
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
let log_date_second = -1;
let log_date_text = '';

/** The access log's time, `10/Oct/2000:13:55:36 +0000` (UTC), formatted once per second. */
function log_date(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== log_date_second) {
    const d = new Date(second * 1000);
    const p = (n: number): string => String(n).padStart(2, '0');
    log_date_text = `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
    log_date_second = second;
  }
  return log_date_text;
}

/** A log field as Apache writes it: quotes, backslashes and control bytes escaped, so a line stays one line. */
function escape_log(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/["\\\x00-\x1f\x7f]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

function escape_html(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
