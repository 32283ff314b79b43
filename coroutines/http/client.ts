/**
 * The HTTP client (Tulip's `tulip/http/client.py`): `request(method, url, options)` is a coroutine that
 * connects, sends an `HttpRequest`, follows redirects, and returns an `HttpResponse` whose body is read with
 * the coroutines `read()`, `text()` and `json()`.
 *
 *   const resp = yield* http.request('GET', 'https://example.org/', { params: { q: 'tulip' } });
 *   resp.status === 200;  resp.headers.get('content-type');  const body = yield* resp.text();
 *
 * Each request gets its own connection, closed once the body is read, unless a `Session` (session.ts, a
 * small connection pool) is given: then keep-alive connections are reused. The wire format is protocol.ts's
 * (`Request` writes the request, `http_response_parser` and `read_payload` read the answer); this module
 * decides what to send and what a response means for the connection.
 *
 * How this differs from Tulip, and why:
 * - https verifies the server's certificate and host name by default (create_default_context()); Tulip
 *   passed `ssl=True` with no verification. `ssl: false` turns verification off, explicitly.
 * - Redirects follow RFC 9110: 301/302/303 become a GET without a body (HEAD stays HEAD), 307/308 keep the
 *   method and body; Authorization and explicit cookies are dropped when the redirect leaves the host; too
 *   many redirects raise TooManyRedirects (Tulip returned the last 3xx response).
 * - Cookies live in a CookieJar (cookies.ts) that honours Domain, Path, Secure and expiry.
 * - `files` is replaced by `data: new FormData()` (multipart/form-data), as aiohttp did later.
 * - A body produced as it goes (a file read in pieces, say) is `data: new BodyStream(chunks)`: sent chunked
 *   (or with the Content-Length it is given) by a task of its own while the response is awaited, waiting
 *   between chunks whenever the connection's write buffer is full, so memory stays bounded whatever its size.
 * - `timeout` covers connecting, sending and the response head, across redirects (Tulip's was per hop).
 * - `proxy` (and `proxy_auth`, `trust_env`), as aiohttp added later: http URLs asked of an HTTP proxy,
 *   https ones tunnelled through it with CONNECT (proxy.ts).
 */
import { TextDecoder } from 'node:util';
import { ConnectionError } from '../../src/errors.js';
import { get_event_loop, type AbstractEventLoop } from '../../src/events.js';
import { CancelledError, type Coroutine, type Future } from '../../src/futures.js';
import { CERT_NONE, PROTOCOL_TLS_CLIENT, SSLContext, create_default_context } from '../../src/ssl.js';
import { Task } from '../../src/tasks.js';
import type { Transport } from '../../src/transports.js';
import { create_connection } from '../network.js';
import { EofStream, StreamProtocol, type StreamBuffer } from '../parsers.js';
import { WriteFlow } from '../streams.js';
import { FIRST_COMPLETED, wait, wait_for } from '../waiting.js';
import { CookieJar, cookie_pairs, type Cookie, type CookiesInit } from './cookies.js';
import { BadStatusLine, HttpException, IncompleteRead, InvalidURL, RemoteDisconnected, TooManyRedirects } from './errors.js';
import { FormData, basic_auth, urlencode, type Params } from './forms.js';
import { CIMultiDict, type HeadersInit } from './multidict.js';
import {
  HttpVersion10, HttpVersion11, Payload, Request, http_response_parser, read_payload,
  type HttpVersion, type ParserLimits, type RawResponseMessage,
} from './protocol.js';
import { open_tunnel, resolve_proxy, type Proxy } from './proxy.js';
import type { Session } from './session.js';

// ---- the request ------------------------------------------------------------------------------------------

/**
 * A request body sent as it is produced: the chunks (bytes, or text sent as UTF-8) are written one by one,
 * chunked, or with `length` as the Content-Length when it is known. It can be sent once only: a 307 or 308
 * redirect is not followed with it (the 3xx comes back), and a Session does not retry it.
 */
export class BodyStream {
  readonly length: number | null;
  constructor(readonly chunks: Iterable<Uint8Array | string>, options: { length?: number | null } = {}) {
    if (chunks === null || typeof chunks !== 'object' || !(Symbol.iterator in chunks)) throw new TypeError('BodyStream needs an iterable of chunks (a generator, say)');
    const length = options.length ?? null;
    if (length !== null && !(Number.isSafeInteger(length) && length >= 0)) throw new RangeError(`BodyStream length must be a byte count, got ${length}`);
    this.length = length;
  }
}

/** What `data` may be: a form (urlencoded), a FormData (multipart), text, bytes, or a BodyStream. */
export type RequestData = Params | FormData | Uint8Array | BodyStream;

export interface HttpRequestOptions {
  /** Added to the URL's query string. */
  params?: Params | null;
  headers?: HeadersInit | null;
  /** The body. For GET, HEAD, DELETE and OPTIONS a form (object or pairs) goes into the query instead (Tulip). */
  data?: RequestData | null;
  /** Extra `name=value` cookies for this request (on top of a session's jar). */
  cookies?: CookiesInit | null;
  /** Basic auth `[login, password]`; credentials in the URL (`http://user:pw@host/`) are used when absent. */
  auth?: readonly [string, string] | null;
  /** How a string `data` is encoded (a Buffer encoding; default utf-8). */
  encoding?: BufferEncoding;
  /** `[1, 1]` (default), `[1, 0]`, or '1.0'. */
  version?: HttpVersion | string;
  /** Compress the request body: true (deflate), 'deflate' or 'gzip'; sent chunked with Content-Encoding. */
  compress?: boolean | 'deflate' | 'gzip' | null;
  /** Send the body chunked: true, or the chunk size. */
  chunked?: boolean | number | null;
  /** Send `Expect: 100-continue` and the body only once the server agrees (or after a second of silence). */
  expect100?: boolean;
  /** TLS for https: true, null or undefined (verified: the default), false (not verified), or an SSLContext. */
  ssl?: boolean | SSLContext | null;
  /** An HTTP proxy, `http://[login:password@]host:port` (see proxy.ts): http URLs are asked of it, https
   * ones go through a CONNECT tunnel, TLS end to end. */
  proxy?: string | URL | null;
  /** Basic auth for the proxy `[login, password]`; credentials in the proxy URL are used when absent. */
  proxy_auth?: readonly [string, string] | null;
  /** Without `proxy`, take it from http_proxy / https_proxy / no_proxy (default false, as aiohttp). */
  trust_env?: boolean;
}

/** The request methods whose form `data` is sent in the query string (Tulip's GET_METHODS). */
const GET_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS']);
/** The methods a request may be repeated with (RFC 9110 9.2.2): a stale connection is retried only for these. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PUT', 'TRACE']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

let default_context: SSLContext | null = null;
let unverified_context: SSLContext | null = null;

/**
 * The context for an https request: verified unless `ssl` is exactly false (null and undefined mean "the
 * default", which verifies). The two shared contexts are made once: loading the system's CAs takes time.
 */
function tls_context(ssl: boolean | SSLContext | null | undefined): SSLContext {
  if (ssl instanceof SSLContext) return ssl;
  if (ssl === false) {
    if (unverified_context === null) {
      unverified_context = new SSLContext(PROTOCOL_TLS_CLIENT);
      unverified_context.check_hostname = false;
      unverified_context.verify_mode = CERT_NONE;
    }
    return unverified_context;
  }
  if (ssl !== undefined && ssl !== null && ssl !== true) throw new TypeError('ssl must be true, false, or an SSLContext');
  return (default_context ??= create_default_context());
}

function parse_version(version: HttpVersion | string | undefined): HttpVersion {
  if (version === undefined) return HttpVersion11;
  if (typeof version === 'string') {
    const m = /^\s*(\d+)\s*\.\s*(\d+)\s*$/.exec(version);
    if (m === null) throw new RangeError(`Can not parse http version number: ${JSON.stringify(version)}`);
    version = [Number(m[1]), Number(m[2])];
  }
  if (version[0] === 1 && version[1] === 0) return HttpVersion10;
  if (version[0] === 1 && version[1] === 1) return HttpVersion11;
  throw new RangeError(`unsupported HTTP version ${version[0]}.${version[1]}: the client speaks 1.0 and 1.1`);
}

/** Parses `url` for a request: http or https, a host, no fragment. */
export function parse_url(url: string | URL): URL {
  const text = String(url);
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    const hint = /^[\w.-]+(:\d+)?(\/|$)/.test(text) ? `; did you mean http://${text}?` : '';
    throw new InvalidURL(text, `not an absolute URL${hint}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidURL(text, `unsupported scheme "${u.protocol.slice(0, -1)}" (the client speaks http and https)`);
  if (u.hostname === '') throw new InvalidURL(text, 'no host');
  u.hash = '';
  return u;
}

function check_header(name: string, value: string): void {
  if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
  if (/[\r\n\0]/.test(value)) throw new TypeError(`invalid value for header ${name}: CR, LF or NUL would split the header`);
}

/**
 * One request, built from the options as Tulip's HttpRequest did: the URL's host, port and path, the
 * headers in order (the caller's first, then Host, Accept, Accept-Encoding, Cookie, Authorization and the
 * body's Content-Type where the caller gave none), and the body. `send(transport)` writes it.
 */
export class HttpRequest {
  readonly method: string;
  /** The full URL (params merged in, no fragment). */
  readonly url: URL;
  /** Where to connect: the host name or address (no IPv6 brackets), and the port. */
  readonly host: string;
  readonly port: number;
  /** The TLS context for an https URL; null for http. */
  readonly ssl: SSLContext | null;
  /** The proxy the request goes through, or null. */
  readonly proxy: Proxy | null;
  /** The request target: path and query. */
  readonly path: string;
  readonly version: HttpVersion;
  readonly headers: CIMultiDict;
  readonly body: Buffer;
  /** A body sent as it is produced (then `body` is empty), or null. */
  readonly stream: BodyStream | null;
  /** The chunk size when the body is sent chunked, else null. */
  readonly chunked: number | null;
  readonly compress: 'deflate' | 'gzip' | null;
  readonly expect100: boolean;

  constructor(method: string, url: string | URL, options: HttpRequestOptions = {}) {
    if (typeof method !== 'string' || !TOKEN.test(method)) throw new TypeError(`invalid HTTP method ${JSON.stringify(method)}`);
    this.method = method.toUpperCase();
    this.version = parse_version(options.version);
    this.url = parse_url(url);
    this.host = this.url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = this.url.port !== '' ? Number(this.url.port) : this.url.protocol === 'https:' ? 443 : 80;
    this.ssl = this.url.protocol === 'https:' ? tls_context(options.ssl) : null;
    this.proxy = resolve_proxy(this.url, options);

    let data = options.data ?? null;
    let params = options.params ?? null;
    if (data !== null && GET_METHODS.has(this.method) && is_form(data)) {
      // Tulip: a form given to a GET goes into the query string.
      params = params === null ? data : `${urlencode(params)}&${urlencode(data)}`;
      data = null;
    }
    if (params !== null) {
      const query = urlencode(params);
      if (query !== '') this.url.search = this.url.search === '' ? query : `${this.url.search.slice(1)}&${query}`;
    }
    this.path = (this.url.pathname || '/') + this.url.search;

    // Headers: the caller's, in their order, then the defaults the caller did not set.
    this.headers = new CIMultiDict();
    for (const [name, value] of new CIMultiDict(options.headers ?? null)) {
      check_header(name, value);
      this.headers.add(name, value);
    }
    const given = new CIMultiDict(this.headers);
    if (!given.has('host')) this.headers.add('Host', this.url.host);
    if (!given.has('accept')) this.headers.add('Accept', '*/*');
    if (!given.has('accept-encoding')) this.headers.add('Accept-Encoding', 'gzip, deflate');
    if (options.cookies) this.update_cookies(options.cookies);

    let auth = options.auth ?? null;
    if (auth === null && (this.url.username !== '' || this.url.password !== '')) {
      auth = [decodeURIComponent(this.url.username), decodeURIComponent(this.url.password)];
    }
    this.url.username = this.url.password = '';
    if (auth !== null) {
      if (!Array.isArray(auth) || auth.length !== 2) throw new TypeError('Only basic auth is supported: auth must be [login, password]');
      this.headers.set('Authorization', basic_auth(auth[0], auth[1]));
    }
    // Through a tunnel (https) the proxy's credentials go with the CONNECT, never to the origin.
    if (this.proxy?.authorization && this.ssl === null) this.headers.set('Proxy-Authorization', this.proxy.authorization);

    // The body and its framing.
    const encoding = options.encoding ?? 'utf8';
    if (!Buffer.isEncoding(encoding)) throw new RangeError(`unknown encoding ${JSON.stringify(encoding)} for the body`);
    let body: Buffer = Buffer.alloc(0);
    let content_type: string | null = null;
    this.stream = data instanceof BodyStream ? data : null;
    if (data instanceof BodyStream) {
      content_type = 'application/octet-stream';
    } else if (data instanceof FormData) {
      body = data.encode();
      content_type = data.content_type;
    } else if (data instanceof Uint8Array) {
      body = Buffer.from(data);
      content_type = 'application/octet-stream';
    } else if (data !== null) {
      body = Buffer.from(urlencode(data), encoding);
      content_type = 'application/x-www-form-urlencoded';
    }
    this.body = body;
    if (content_type !== null && !given.has('content-type')) this.headers.add('Content-Type', content_type);

    let compress: 'deflate' | 'gzip' | null = null;
    const coding = (given.get('content-encoding') ?? '').toLowerCase();
    if (coding === 'deflate' || coding === 'gzip') compress = coding;
    else if (coding !== '') throw new RangeError(`cannot compress the body with Content-Encoding ${JSON.stringify(coding)}: deflate or gzip`);
    else if (options.compress) {
      compress = options.compress === true ? 'deflate' : options.compress;
      if (compress !== 'deflate' && compress !== 'gzip') throw new RangeError(`compress must be true, 'deflate' or 'gzip', got ${JSON.stringify(options.compress)}`);
      this.headers.add('Content-Encoding', compress);
    }
    this.compress = compress;

    const te = (given.get('transfer-encoding') ?? '').toLowerCase();
    const stream_length = this.stream?.length ?? null;
    let chunked: number | null = null;
    if (options.chunked || compress !== null || te.includes('chunked') || (this.stream !== null && stream_length === null)) {
      chunked = typeof options.chunked === 'number' ? options.chunked : 8192;
      if (!Number.isSafeInteger(chunked) || chunked <= 0) throw new RangeError(`chunked must be true or a positive chunk size, got ${options.chunked}`);
      if (this.version === HttpVersion10) throw new RangeError(`a chunked body needs HTTP/1.1${this.stream !== null ? ' (or a BodyStream with its length)' : ''}`);
    }
    this.chunked = chunked;
    this.headers.delete('content-length');
    this.headers.delete('transfer-encoding');
    if (chunked !== null) this.headers.add('Transfer-Encoding', 'chunked');
    else if (stream_length !== null) this.headers.add('Content-Length', String(stream_length));
    else if (body.length > 0 || !GET_METHODS.has(this.method)) this.headers.add('Content-Length', String(body.length));

    this.expect100 = options.expect100 === true || (given.get('expect') ?? '').toLowerCase() === '100-continue';
    if (this.expect100 && !given.has('expect')) this.headers.add('Expect', '100-continue');
  }

  /**
   * Adds `name=value` cookies to the Cookie header, merged with the ones already there: a name given again
   * takes the new value, unless `replace` is false (a jar's cookies do not override explicit ones).
   */
  update_cookies(cookies: CookiesInit, replace = true): void {
    const merged = new Map<string, string>();
    for (const part of (this.headers.get('cookie') ?? '').split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0) merged.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    for (const [name, value] of cookie_pairs(cookies)) if (replace || !merged.has(name)) merged.set(name, value);
    if (merged.size === 0) return;
    this.headers.set('Cookie', [...merged].map(([k, v]) => `${k}=${v}`).join('; '));
  }

  /** @internal the writer, kept while the body waits for `100 Continue` or is still being streamed */
  _writer: Request | null = null;
  /** @internal the task sending a BodyStream, once it has started */
  _upload: Task<void> | null = null;
  private _protocol: ClientProtocol | null = null;
  private _loop: AbstractEventLoop | null = null;

  /**
   * Writes the request on `transport` (the body too, unless it waits for `100 Continue`) and returns the
   * response to start(). `close` asks the server to close the connection after answering. A BodyStream is
   * sent by a task of its own, paced by `protocol` (the connection's, which it needs).
   */
  send(transport: Transport, close = false, protocol: ClientProtocol | null = null, loop: AbstractEventLoop = get_event_loop()): HttpResponse {
    if (this.stream !== null && protocol === null) throw new TypeError("a BodyStream is paced by its connection: send(transport, close, protocol)");
    // A proxy is asked for the whole URL (absolute form); a tunnel or the origin itself, for the path.
    const target = this.proxy !== null && this.ssl === null ? `${this.url.protocol}//${this.url.host}${this.path}` : this.path;
    const writer = new Request(transport, this.method, target, { http_version: this.version, close });
    if (this.compress !== null) writer.add_compression_filter(this.compress);
    if (this.chunked !== null && this.stream === null) writer.add_chunking_filter(this.chunked);
    writer.add_headers(...this.headers);
    writer.send_headers();
    this._writer = writer;
    this._protocol = protocol;
    this._loop = loop;
    if (!this.expect100 || (this.body.length === 0 && this.stream === null)) this.write_body();
    return new HttpResponse(this.method, this.url);
  }

  /** @internal Writes the body (once) and ends the request; a BodyStream is sent by a task of its own. */
  write_body(): void {
    const writer = this._writer;
    if (writer === null || this._upload !== null) return;
    if (this.stream !== null) {
      this._upload = new Task(this._send_stream(writer, this.stream), { loop: this._loop! });
      return;
    }
    this._writer = null;
    if (this.body.length > 0) writer.write(this.body);
    writer.write_eof();
  }

  /** The upload: each chunk, then a wait while the write buffer is full; the request ends with the last. */
  private *_send_stream(writer: Request, stream: BodyStream): Coroutine<void> {
    const protocol = this._protocol!;
    let sent = 0;
    for (const chunk of stream.chunks) {
      if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) throw new TypeError(`a BodyStream chunk must be bytes or text, got ${chunk === null ? 'null' : typeof chunk}`);
      writer.write(chunk);
      sent += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      yield* protocol.drain();
    }
    if (stream.length !== null && sent !== stream.length) {
      throw new RangeError(`the BodyStream said ${stream.length} bytes and gave ${sent}`);
    }
    writer.write_eof();
    this._writer = null;
  }

  /** @internal Stops an upload still under way (the response is done with, or the request failed). */
  _stop_upload(): void {
    const upload = this._upload;
    if (upload !== null && !upload.done()) upload.cancel();
  }
}

/** A form to urlencode: an object or pairs (not text, bytes or a FormData). */
function is_form(data: RequestData): data is Exclude<Params, string> {
  return typeof data !== 'string' && !(data instanceof Uint8Array) && !(data instanceof FormData);
}

// ---- the connection and the response ----------------------------------------------------------------------

/** The client side of a connection: a StreamProtocol that also knows whether the peer is still there. */
export class ClientProtocol extends StreamProtocol {
  /** Bytes received since `received` was last reset (a request starting, or the connection going idle). */
  received = 0;
  /** The peer ended its side, or the connection is gone. */
  eof = false;
  /** Writer-side flow control, for a BodyStream upload (the streams' FlowControlProtocol holds the same). */
  private readonly _flow = new WriteFlow();

  override pause_writing(): void {
    this._flow.pause();
  }

  override resume_writing(): void {
    this._flow.resume();
  }

  /** Returns at once unless the transport's write buffer is above its high-water mark; then waits. */
  *drain(): Coroutine<void> {
    yield* this._flow.wait(get_event_loop());
  }

  override data_received(data: Buffer): void {
    this.received += data.length;
    super.data_received(data);
  }

  override eof_received(): void {
    this.eof = true;
    super.eof_received();
  }

  override connection_lost(exc: Error | null): void {
    this.eof = true;
    this._flow.lose(exc);
    super.connection_lost(exc);
  }

  /** Usable for another request: open, not at EOF, and nothing unread in the buffer. */
  reusable(): boolean {
    return this.transport !== null && !this.transport.is_closing() && !this.eof && this.stream._buffer.size === 0;
  }
}

/** A connection as a response sees it: what it reads from, and how it hands it back when done. */
export interface Connection {
  readonly transport: Transport;
  readonly protocol: ClientProtocol;
  /** The response is done with it: back to the pool when `reusable`, closed otherwise. Idempotent. */
  release(reusable: boolean): void;
}

/** Opens a connection for `req` (TLS for https, checked against the URL's host name), through its proxy
 * if it has one. */
export function* connect(req: HttpRequest, loop: AbstractEventLoop): Coroutine<[Transport, ClientProtocol]> {
  const proxy = req.proxy;
  if (proxy === null) {
    return yield* create_connection(loop, () => new ClientProtocol(), req.host, req.port, req.ssl ? { ssl: req.ssl, server_hostname: req.host } : {});
  }
  const [transport, protocol] = yield* create_connection(loop, () => new ClientProtocol(), proxy.host, proxy.port);
  if (req.ssl === null) return [transport, protocol];
  try {
    yield* open_tunnel(transport, protocol, proxy, req.host, req.port, loop);
    const tls = yield* loop.start_tls(transport, protocol, req.ssl, { server_hostname: req.host });
    protocol.transport = tls;
    return [tls, protocol];
  } catch (e) {
    transport.close();
    throw e;
  }
}

/** A connection of its own: closed when the response is done. */
class OneShotConnection implements Connection {
  constructor(readonly transport: Transport, readonly protocol: ClientProtocol) {}
  release(): void {
    this.transport.close();
  }
}

/** Statuses whose response has no body, whatever its headers say (RFC 9110 6.4.1). */
function has_body(method: string, status: number): boolean {
  return method !== 'HEAD' && status >= 200 && status !== 204 && status !== 304;
}

/** How long a request with `Expect: 100-continue` waits for the server's go-ahead before sending anyway. */
const CONTINUE_TIMEOUT = 1;
/** Interim (1xx) responses skipped before the final one: a server sending them forever is an error. */
const MAX_INTERIM = 100;

export interface StartOptions {
  loop?: AbstractEventLoop;
  /** Response bodies larger than this raise PayloadTooLarge (default: no limit). */
  max_size?: number | null;
  limits?: ParserLimits;
}

/**
 * A response: the status line and headers once `start()` has read them, and the body through `read()`,
 * `text()`, `json()` or, chunk by chunk, `content.read()`. The connection goes back to its session (or is
 * closed) once the body has been read to its end, or at `release()` / `close()`.
 */
export class HttpResponse {
  message: RawResponseMessage | null = null;
  version: HttpVersion | null = null;
  status = 0;
  reason = '';
  headers = new CIMultiDict();
  /** The cookies this response set (Set-Cookie), as the jar stored them. */
  cookies: Cookie[] = [];
  /** The redirect responses that led here, oldest first. */
  history: HttpResponse[] = [];
  /** The body, chunk by chunk (null at the end); read() collects it. */
  content: Payload = new Payload(null);
  transport: Transport | null = null;
  /** The connection's input (after a `101 Switching Protocols`, what the new protocol reads from). */
  stream: StreamBuffer | null = null;
  /** @internal */ _connection: Connection | null = null;
  private _body: Buffer | null = null;
  private _reusable = false;
  /** The request this answers, while its body may still be going out. */
  private _request: HttpRequest | null = null;

  constructor(readonly method: string, readonly url_object: URL) {}

  /** The URL this response answers (a string; `url_object` is the URL). */
  get url(): string {
    return this.url_object.href;
  }

  get host(): string {
    return this.url_object.host;
  }

  /** The media type of Content-Type, lower-cased ('text/html'); '' when there is none. */
  get content_type(): string {
    return (this.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  }

  /** Tulip's (email.message's) name for `content_type`; 'text/plain' when there is none. */
  get_content_type(): string {
    return this.content_type || 'text/plain';
  }

  /** The charset parameter of Content-Type, or null. */
  get charset(): string | null {
    const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(this.headers.get('content-type') ?? '');
    return m ? m[1]!.toLowerCase() : null;
  }

  /**
   * Reads the status line and headers from `connection` (interim 1xx responses are skipped; a
   * `100 Continue` releases the body of an `Expect: 100-continue` request), then opens the body.
   */
  *start(connection: Connection, request: HttpRequest | null = null, options: StartOptions = {}): Coroutine<this> {
    const loop = options.loop ?? get_event_loop();
    this._connection = connection;
    this.transport = connection.transport;
    const stream = (this.stream = connection.protocol.stream);
    this._request = request;
    let message: RawResponseMessage;
    for (let interim = 0; ; interim++) {
      if (interim > MAX_INTERIM) throw new HttpException(`more than ${MAX_INTERIM} interim (1xx) responses`);
      const out = stream.set_parser(http_response_parser(options.limits), { loop });
      message = request !== null && request._writer !== null ? yield* read_head_while_sending(out.read(), request, loop) : yield* out.read();
      if (message.code >= 100 && message.code < 200 && message.code !== 101) {
        if (message.code === 100) request?.write_body();
        continue;
      }
      break;
    }
    this.message = message;
    this.version = message.version;
    this.status = message.code;
    this.reason = message.reason;
    this.headers = message.headers;
    const body = has_body(this.method, message.code) && message.code !== 101;
    // A request whose body was never sent (the server answered before 100 Continue) leaves the
    // connection out of step: it must not be reused.
    const request_done = request === null || request._writer === null;
    // A body that ends at EOF ends the connection with it.
    const delimited = !body || message.chunked || message.content_length !== null;
    this._reusable = !message.should_close && request_done && delimited && message.code !== 101;
    this.content = read_payload(stream, message, { readall: true, has_body: body, max_size: options.max_size ?? null, loop });
    if (message.code !== 101 && this.content.at_eof()) this.release();
    return this;
  }

  /** The whole body (read once, then kept: a second call returns the same bytes). */
  *read(): Coroutine<Buffer> {
    if (this._body === null) {
      try {
        this._body = yield* this.content.read_all();
      } catch (e) {
        this.close();
        throw e;
      }
      this.release();
    }
    return this._body;
  }

  /** The body decoded as text: with `encoding`, else the Content-Type's charset, else UTF-8. */
  *text(encoding?: string): Coroutine<string> {
    const body = yield* this.read();
    const label = encoding ?? this.charset ?? 'utf-8';
    let decoder: TextDecoder;
    try {
      decoder = new TextDecoder(label);
    } catch {
      throw new RangeError(`unknown text encoding ${JSON.stringify(label)}`);
    }
    return decoder.decode(body);
  }

  /** The body parsed as JSON. */
  *json(): Coroutine<unknown> {
    const text = yield* this.text();
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new SyntaxError(`the body of ${this.url} (${this.content_type || 'no Content-Type'}) is not JSON: ${(e as Error).message}`);
    }
  }

  /**
   * Done with the connection: it goes back to the session when the body was read to its end and the
   * server keeps the connection alive; otherwise it is closed. The body read so far stays readable.
   */
  release(): void {
    const connection = this._connection;
    if (connection === null) return;
    this._connection = null;
    // A body still going out when the answer came (the server did not wait for it) is not sent on.
    this._request?._stop_upload();
    connection.release(this._reusable && this.content.at_eof() && this.content.exception() === null);
  }

  /** Closes the connection (never reused). */
  close(): void {
    const connection = this._connection;
    this._connection = null;
    this.transport = null;
    this._request?._stop_upload();
    connection?.release(false);
  }

  /** Reads and discards a redirect's body so its connection can be reused; closes it instead past `limit`. */
  *_discard(limit = 64 * 1024): Coroutine<void> {
    let total = 0;
    try {
      while (!this.content.at_eof()) {
        const chunk = yield* this.content.read();
        if (chunk === null) break;
        total += chunk.length;
        if (total > limit) return this.close();
      }
    } catch (e) {
      this.close();
      if (e instanceof CancelledError) throw e;
      return; // a broken redirect body does not stop the redirect
    }
    this.release();
  }

  toString(): string {
    const lines = [`<HttpResponse(${this.url}) [${this.status} ${this.reason}]>`];
    for (const [name, value] of this.headers) lines.push(`${name}: ${value}`);
    return lines.join('\n') + '\n';
  }
}

/**
 * The next response head, read while the request body is still due: it waits for `100 Continue` (servers
 * that ignore Expect get the body after a second anyway), or a BodyStream is being uploaded. An upload
 * that fails before the answer comes (its chunks' iterator threw, or the connection broke) fails the request
 * with that error.
 */
function* read_head_while_sending(read: Coroutine<RawResponseMessage>, request: HttpRequest, loop: AbstractEventLoop): Coroutine<RawResponseMessage> {
  const head = new Task(read, { loop });
  try {
    if (request._upload === null) {
      const [done] = yield* wait([head], { timeout: CONTINUE_TIMEOUT, loop });
      if (done.size === 0) request.write_body();
    }
    const upload = request._upload;
    if (upload !== null && !head.done()) {
      // An answer that comes first leaves the upload running: the server may still be reading it.
      upload.add_done_callback(retrieve_exception);
      yield* wait<unknown>([head, upload], { return_when: FIRST_COMPLETED, loop });
      if (!head.done() && !upload.cancelled() && upload.exception() !== null) throw upload.exception();
    }
    return yield* head;
  } catch (e) {
    head.cancel();
    throw e;
  }
}

/** Marks a task's exception as seen: what an upload hits after the answer came is of no one's concern. */
function retrieve_exception(task: Future<void>): void {
  if (!task.cancelled()) task.exception();
}

/** Sends `req` on `connection` and reads the response head (Tulip's `start(req, loop)` on a given connection). */
export function* send_request(req: HttpRequest, connection: Connection, options: StartOptions & { close?: boolean } = {}): Coroutine<HttpResponse> {
  connection.protocol.received = 0;
  try {
    const resp = req.send(connection.transport, options.close ?? false, connection.protocol, options.loop);
    return yield* resp.start(connection, req, options);
  } catch (e) {
    req._stop_upload();
    connection.release(false);
    if (connection.protocol.received === 0 && is_disconnect(e) && !(e instanceof RemoteDisconnected)) throw new RemoteDisconnected(req.url.href, e);
    throw e;
  }
}

/** A failure that means "the server closed a connection without answering": the stale keep-alive case. */
export function is_disconnect(e: unknown): boolean {
  return e instanceof ConnectionError || e instanceof EofStream
    || (e instanceof BadStatusLine && e.line === '') || e instanceof IncompleteRead;
}

// ---- request() ----------------------------------------------------------------------------------------

export interface RequestOptions extends HttpRequestOptions {
  /** Follow 301, 302, 303, 307 and 308 (default true). */
  allow_redirects?: boolean;
  /** At most this many redirects (default 10); one more raises TooManyRedirects. */
  max_redirects?: number;
  /** Seconds for connecting, sending and receiving the response head, all redirects included: TimeoutError. */
  timeout?: number | null;
  /** Response bodies larger than this many bytes raise PayloadTooLarge (default: no limit). */
  max_size?: number | null;
  /** Reuse keep-alive connections, and keep cookies, in this Session. */
  session?: Session | null;
  loop?: AbstractEventLoop;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding', 'transfer-encoding', 'expect'];

/** The same server for credentials: same host, and same scheme and port, or an upgrade from http to https. */
function same_authority(a: URL, b: URL): boolean {
  if (a.hostname !== b.hostname) return false;
  if (a.protocol === b.protocol) return a.port === b.port;
  return a.protocol === 'http:' && b.protocol === 'https:' && a.port === '' && b.port === '';
}

/**
 * Sends a request and returns the response, its head read (Tulip's `tulip.http.request`). The body is read
 * with `yield* resp.read()` / `text()` / `json()`; a response whose body is not read should be `close()`d
 * (or `release()`d) so its connection does not linger.
 */
export function* request(method: string, url: string | URL, options: RequestOptions = {}): Coroutine<HttpResponse> {
  const loop = options.loop ?? get_event_loop();
  const timeout = options.timeout ?? null;
  if (timeout !== null && (typeof timeout !== 'number' || !(timeout >= 0))) throw new TypeError(`timeout must be a number of seconds >= 0, got ${timeout}`);
  const max_redirects = options.max_redirects ?? 10;
  if (!Number.isSafeInteger(max_redirects) || max_redirects < 0) throw new RangeError(`max_redirects must be an integer >= 0, got ${max_redirects}`);
  // Built before the timeout's task: a bad URL or option fails here, in the caller.
  const first = new HttpRequest(method, url, options);
  const run = follow(first, options, loop, max_redirects);
  return timeout === null ? yield* run : yield* wait_for(run, timeout, { loop });
}

function* follow(req: HttpRequest, options: RequestOptions, loop: AbstractEventLoop, max_redirects: number): Coroutine<HttpResponse> {
  const session = options.session ?? null;
  const jar = session?.cookies ?? new CookieJar();
  const history: HttpResponse[] = [];
  let hop_options: HttpRequestOptions = options;
  const start_options: StartOptions = { loop, max_size: options.max_size ?? null };
  for (;;) {
    const jar_cookies = jar.cookies_for(req.url);
    if (jar_cookies.length > 0) req.update_cookies(jar_cookies.map((c) => [c.name, c.value] as const), false);
    const resp = session !== null
      ? yield* session.start(req, start_options)
      : yield* start(req, start_options);
    resp.cookies = jar.extract_cookies(resp.headers.getall('set-cookie'), req.url);
    resp.history = history.slice();
    const location = resp.headers.get('location') ?? resp.headers.get('uri');
    if (options.allow_redirects === false || !REDIRECTS.has(resp.status) || location === undefined) return resp;
    // A 307/308 repeats the body, and a BodyStream has been sent already: the redirect is the answer.
    if (resp.status >= 307 && req.stream !== null) return resp;

    if (history.length >= max_redirects) {
      resp.close();
      throw new TooManyRedirects(resp, history, max_redirects);
    }
    let next: URL;
    try {
      next = new URL(location, req.url);
    } catch {
      resp.close();
      throw new InvalidURL(location, `bad Location in the ${resp.status} redirect from ${req.url.href}`);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      resp.close();
      throw new InvalidURL(next.href, 'Can redirect only to http or https');
    }
    yield* resp._discard();
    history.push(resp);

    // 301/302/303: the next request is a GET without a body (what browsers do; RFC 9110 15.4); 307/308
    // repeat the request as it was.
    const headers = new CIMultiDict(hop_options.headers ?? null);
    let method = req.method;
    // A form sent in the query string of a GET is not sent again: the Location is the whole next URL.
    let data = GET_METHODS.has(method) && hop_options.data != null && is_form(hop_options.data) ? null : hop_options.data ?? null;
    if (resp.status <= 303 && method !== 'HEAD' && (method !== 'GET' || data !== null)) {
      method = 'GET';
      data = null;
      for (const h of BODY_HEADERS) headers.delete(h);
    }
    let auth = hop_options.auth ?? null;
    let cookies = hop_options.cookies ?? null;
    if (!same_authority(req.url, next)) {
      // Credentials meant for one server are not handed to another.
      headers.delete('authorization');
      headers.delete('cookie');
      auth = null;
      cookies = null;
    } else if (auth === null && req.headers.has('authorization') && !headers.has('authorization')) {
      // Credentials that came from the URL (user:pw@) stay with the same server.
      headers.set('Authorization', req.headers.get('authorization')!);
    }
    hop_options = {
      ...hop_options, params: null, data, headers, auth, cookies,
      compress: data === null ? null : hop_options.compress, chunked: data === null ? null : hop_options.chunked,
    };
    req = new HttpRequest(method, next, hop_options);
  }
}

/** Sends `req` on a connection of its own (Tulip's `start(req, loop)`); closed once the response is done. */
export function* start(req: HttpRequest, options: StartOptions = {}): Coroutine<HttpResponse> {
  const loop = options.loop ?? get_event_loop();
  const [transport, protocol] = yield* connect(req, loop);
  return yield* send_request(req, new OneShotConnection(transport, protocol), { ...options, loop, close: true });
}
