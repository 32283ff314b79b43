/**
 * The handler adapter, in the place of Tulip's `tulip/http/wsgi.py`: an application is one coroutine
 * `handler(request) → response`, served by the same ServerHttpProtocol (keep-alive, pipelining, timeouts,
 * error pages and access logging all come from there).
 *
 *   function* app(request: ServerRequest): Coroutine<HandlerResponse> {
 *     if (request.path === '/echo') return json_response(yield* request.json());
 *     return { status: 200, headers: { 'Content-Type': 'text/plain' }, body: `hello ${request.query.get('name')}` };
 *   }
 *   const server = loop.run_until_complete(serve(app, '127.0.0.1', 8080));
 *
 * Names:
 * - `ServerRequest`: what a handler gets: `method`, `path` (percent-decoded, without the query),
 *   `raw_path` (the request target as sent), `query_string`, `query` (URLSearchParams), `version`,
 *   `headers`, `content_type`, `charset`, `keep_alive`, `scheme`, `host`, `peername`/`remote`, and the body
 *   through the coroutines `read()` (all of it, as a Buffer), `text()`, `json()`, `form()`, or chunk by
 *   chunk with `payload.read()`. Bodies are limited to DEFAULT_MAX_BODY_SIZE (1 MiB, a 413 past it) unless
 *   `max_body_size` says otherwise (null: no limit).
 * - `HandlerResponse`: what a handler returns: `{ status = 200, reason?, headers?, body? }`, the body a
 *   string (sent as UTF-8), bytes, an iterable of string/bytes chunks (sent chunked on HTTP/1.1, with flow
 *   control between chunks), or null/absent for none. Content-Type defaults to text/plain (string) or
 *   application/octet-stream (bytes, chunks); Content-Length is added for a string or bytes body.
 * - `json_response(data, init?)` / `text_response(text, init?)`: HandlerResponses with the content type set.
 * - `Handler`: `(request) => Coroutine<HandlerResponse> | HandlerResponse` (a generator function, or a plain
 *   function for a handler that never waits). Throwing `HttpErrorException(code)` answers with that error
 *   page (and closes the connection, as every error page does).
 * - `HandlerServerProtocol`: the ServerHttpProtocol that runs a Handler; `serve(handler, host, port,
 *   options)`: create_server with it, returning the Server (options: ServerHttpOptions + ServingOptions).
 *
 * A HEAD request gets the headers GET would get and no body; for an iterable body that means counting its
 * bytes for the Content-Length (the writer has no "headers only" mode for a chunked response).
 */
import { get_event_loop } from '../../src/events.js';
import { Future, type Coroutine } from '../../src/futures.js';
import { iscoroutine } from '../../src/tasks.js';
import type { Transport } from '../../src/transports.js';
import type { Server, ServingOptions } from '../network.js';
import { BadRequestException } from './errors.js';
import { CIMultiDict, type HeadersInit } from './multidict.js';
import { Response, type HttpVersion, type Payload, type RawRequestMessage } from './protocol.js';
import { ServerHttpProtocol, awaitable, type ServerHttpOptions } from './server.js';

/** A response body: text (UTF-8), bytes, chunks (sent as they come, chunked on HTTP/1.1), or none. */
export type ResponseBody = string | Uint8Array | Iterable<string | Uint8Array> | null;

/** What a handler returns. */
export interface HandlerResponse {
  /** Default 200. */
  status?: number;
  /** Default: the standard reason phrase of the status. */
  reason?: string;
  headers?: HeadersInit | null;
  body?: ResponseBody;
}

/** An application: one request in, one response out. */
export type Handler = (request: ServerRequest) => Coroutine<HandlerResponse> | HandlerResponse;

/** The request as a handler sees it (its parts are computed when first asked for). */
export class ServerRequest {
  private _raw_path: string | null = null;
  private _query_string = '';
  private _path: string | null = null;
  private _query: URLSearchParams | null = null;
  private _body: Buffer | null = null;

  constructor(readonly message: RawRequestMessage, readonly payload: Payload, readonly transport: Transport) {}

  get method(): string {
    return this.message.method;
  }
  get version(): HttpVersion {
    return this.message.version;
  }
  get headers(): CIMultiDict {
    return this.message.headers;
  }
  /** The request target exactly as the client sent it (path and query, still percent-encoded). */
  get raw_path(): string {
    return this.message.path;
  }
  /** The path, percent-decoded, without the query (malformed escapes are a 400). */
  get path(): string {
    if (this._path === null) {
      const raw = this._split();
      if (raw.indexOf('%') < 0) this._path = raw;
      else {
        try {
          this._path = decodeURIComponent(raw);
        } catch {
          throw new BadRequestException(`malformed percent-encoding in the path ${JSON.stringify(raw.slice(0, 100))}`);
        }
      }
    }
    return this._path;
  }
  /** What follows the '?' of the target ('' if none), still encoded. */
  get query_string(): string {
    this._split();
    return this._query_string;
  }
  get query(): URLSearchParams {
    return (this._query ??= new URLSearchParams(this.query_string));
  }
  /** The connection stays open after this request (unless the response says otherwise). */
  get keep_alive(): boolean {
    return !this.message.should_close;
  }
  get scheme(): 'http' | 'https' {
    return this.transport.get_extra_info('sslcontext') !== null ? 'https' : 'http';
  }
  /** The Host header, or null. */
  get host(): string | null {
    return this.message.headers.get('host') ?? null;
  }
  /** The client's address, as the transport reports it (`[host, port]` for TCP). */
  get peername(): unknown {
    return this.transport.get_extra_info('peername');
  }
  /** The client's host (no port), or null (a Unix socket, say). */
  get remote(): string | null {
    const peer = this.peername;
    return Array.isArray(peer) ? String(peer[0]) : null;
  }
  /** The media type of the body, lower-cased, without parameters ('' without Content-Type). */
  get content_type(): string {
    const value = this.message.headers.get('content-type') ?? '';
    const semi = value.indexOf(';');
    return (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  }
  /** The charset parameter of Content-Type, or null. */
  get charset(): string | null {
    const value = this.message.headers.get('content-type') ?? '';
    const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(value);
    return m === null ? null : m[1]!.toLowerCase();
  }

  /** Splits the target into path and query once; returns the (encoded) path. */
  private _split(): string {
    if (this._raw_path !== null) return this._raw_path;
    const target = this.message.path;
    let path = target;
    if (target.charCodeAt(0) !== 0x2f && target !== '*') {
      // The absolute form ("GET http://host/p?q HTTP/1.1", sent to proxies).
      try {
        const url = new URL(target);
        path = url.pathname + url.search;
      } catch {
        throw new BadRequestException(`bad request target ${JSON.stringify(target.slice(0, 100))}`);
      }
    }
    const q = path.indexOf('?');
    if (q >= 0) {
      this._query_string = path.slice(q + 1);
      path = path.slice(0, q);
    }
    return (this._raw_path = path);
  }

  /** The whole body (read once; later calls give the same Buffer). */
  *read(): Coroutine<Buffer> {
    if (this._body === null) this._body = yield* this.payload.read_all();
    return this._body;
  }

  /** The body decoded with its charset (UTF-8 by default). */
  *text(): Coroutine<string> {
    const body = yield* this.read();
    const charset = this.charset ?? 'utf-8';
    if (charset === 'utf-8' || charset === 'utf8') return body.toString('utf8');
    try {
      return new TextDecoder(charset).decode(body);
    } catch {
      throw new BadRequestException(`unknown charset ${JSON.stringify(charset)}`);
    }
  }

  /** The body parsed as JSON; a body that is not JSON is a 400. */
  *json<T = unknown>(): Coroutine<T> {
    const text = yield* this.text();
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new BadRequestException(`the request body is not JSON: ${(e as Error).message}`);
    }
  }

  /** An application/x-www-form-urlencoded body. */
  *form(): Coroutine<URLSearchParams> {
    return new URLSearchParams(yield* this.text());
  }
}

function with_content_type(init: Omit<HandlerResponse, 'body'> | undefined, type: string): CIMultiDict {
  const headers = new CIMultiDict(init?.headers ?? null);
  if (!headers.has('content-type')) headers.add('Content-Type', type);
  return headers;
}

/** A JSON response: `data` serialized, Content-Type application/json. */
export function json_response(data: unknown, init?: Omit<HandlerResponse, 'body'>): HandlerResponse {
  const body = JSON.stringify(data);
  if (body === undefined) throw new TypeError(`json_response(): ${String(data)} has no JSON form`);
  return { ...init, headers: with_content_type(init, 'application/json'), body };
}

/** A text response, Content-Type text/plain; charset=utf-8 (or the type given in `init.headers`). */
export function text_response(text: string, init?: Omit<HandlerResponse, 'body'>): HandlerResponse {
  return { ...init, headers: with_content_type(init, 'text/plain; charset=utf-8'), body: text };
}

function is_iterable(value: object): value is Iterable<string | Uint8Array> {
  return typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function';
}

function add_headers(response: Response, init: HeadersInit): void {
  if (init instanceof CIMultiDict || Symbol.iterator in init) {
    for (const [name, value] of init as Iterable<readonly [string, string]>) response.add_header(name, value);
    return;
  }
  for (const name of Object.keys(init)) {
    const value = (init as Record<string, string | number | readonly string[]>)[name]!;
    if (Array.isArray(value)) for (const v of value) response.add_header(name, String(v));
    else response.add_header(name, value as string | number);
  }
}

function chunk_bytes(chunk: string | Uint8Array): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk);
  if (chunk instanceof Uint8Array) return chunk.length;
  throw new TypeError(`a response body chunk must be a string or bytes, got ${typeof chunk}`);
}

/** The adapter's max_body_size unless one is given (aiohttp's client_max_size): read() holds the whole body. */
export const DEFAULT_MAX_BODY_SIZE = 1024 * 1024;

/**
 * Serves a Handler: each request becomes a ServerRequest, each HandlerResponse is written back. Options are
 * ServerHttpProtocol's, except that max_body_size defaults to DEFAULT_MAX_BODY_SIZE (null: no limit).
 */
export class HandlerServerProtocol extends ServerHttpProtocol {
  constructor(readonly handler: Handler, options: ServerHttpOptions = {}) {
    if (typeof handler !== 'function') throw new TypeError(`HandlerServerProtocol needs a handler function, got ${String(handler)}`);
    super(options.max_body_size === undefined ? { ...options, max_body_size: DEFAULT_MAX_BODY_SIZE } : options);
  }

  override *handle_request(message: RawRequestMessage, payload: Payload): Coroutine<void> {
    const request = new ServerRequest(message, payload, this.transport!);
    let result: unknown = this.handler(request);
    if (result instanceof Future || iscoroutine(result)) result = yield* awaitable(result, 'handler');
    if (result === null || typeof result !== 'object') {
      throw new TypeError(`the handler returned ${String(result)}: return a response object such as { status: 200, body: 'text' }`);
    }
    yield* this.write_response(message, result as HandlerResponse);
  }

  /** Writes `res` as the answer to `message` (Content-Length when the size is known, else chunked). */
  *write_response(message: RawRequestMessage, res: HandlerResponse): Coroutine<void> {
    const status = res.status ?? 200;
    const response = new Response(this.transport!, status, { http_version: message.version, close: message.should_close, reason: res.reason });
    if (res.headers) add_headers(response, res.headers);
    const body = res.body ?? null;
    // No body on the wire for HEAD, 1xx, 204 and 304; HEAD still gets the length GET would have.
    const bodyless = status < 200 || status === 204 || status === 304;
    const send_body = !bodyless && message.method !== 'HEAD';
    if (body === null) {
      if (!bodyless && response.length === null) response.add_header('Content-Length', '0');
      response.send_headers();
    } else if (typeof body === 'string' || body instanceof Uint8Array) {
      const data = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      if (!response.headers.has('content-type')) {
        response.add_header('Content-Type', typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream');
      }
      if (!bodyless && response.length === null) response.add_header('Content-Length', data.length);
      response.send_headers();
      if (send_body) response.write(data);
    } else if (typeof body === 'object' && is_iterable(body)) {
      if (!response.headers.has('content-type')) response.add_header('Content-Type', 'application/octet-stream');
      if (!send_body) {
        if (!bodyless && response.length === null) {
          let length = 0;
          for (const chunk of body) length += chunk_bytes(chunk);
          response.add_header('Content-Length', length);
        }
        response.send_headers();
      } else {
        response.send_headers();
        for (const chunk of body) {
          response.write(chunk);
          if (this._write_paused) yield* this.drain();
        }
      }
    } else {
      throw new TypeError(`a response body must be a string, bytes, an iterable of chunks or null, got ${typeof body}`);
    }
    response.write_eof();
    if (!response.keep_alive()) this.close();
  }
}

/** ServerHttpProtocol's options and create_server's. */
export interface ServeOptions extends ServerHttpOptions, ServingOptions {}

/** Serves `handler` on `host`:`port` (create_server with a HandlerServerProtocol per connection). */
export function* serve(handler: Handler, host?: string | null, port?: number | string | null, options: ServeOptions = {}): Coroutine<Server> {
  const { loop: given, debug, keep_alive, timeout, access_log, limits, max_body_size, ...serving } = options;
  const loop = given ?? get_event_loop();
  const http_options: ServerHttpOptions = { loop, debug, keep_alive, timeout, access_log, limits, max_body_size };
  // Made once here, so that a bad option fails now rather than on the first connection.
  new HandlerServerProtocol(handler, http_options);
  return yield* loop.create_server(() => new HandlerServerProtocol(handler, http_options), host, port, serving);
}
