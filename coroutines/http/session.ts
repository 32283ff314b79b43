/**
 * A client session (Tulip's later `tulip/http/session.py`): a small pool of keep-alive connections and a
 * cookie jar shared by the requests made through it.
 *
 *   const session = new http.Session();
 *   const resp = yield* session.request('GET', url);      // or http.request('GET', url, { session })
 *   const body = yield* resp.read();                       // the connection goes back to the pool here
 *   session.close();
 *
 * Connections are pooled per (scheme, host, port, TLS context). One goes back to the pool only when its
 * response body was read to the end and the server allowed keep-alive (HttpResponse decides, release()
 * reports); at most `limit_per_host` idle connections are kept per key (the rest are closed), and an idle one
 * is closed after `keepalive_timeout` seconds, before the server's own timeout is likely to close it.
 *
 * A pooled connection can still be stale: the server may close it just as we send. A connection the
 * server is known to have closed (EOF seen, or stray bytes waiting) is dropped before anything is sent;
 * one that fails with nothing received after the request went out is retried once on a new connection, but
 * only for idempotent methods (RFC 9110 9.2.2): a POST may have been acted on; and never with a BodyStream,
 * which can be sent once.
 */
import type { AbstractEventLoop, TimerHandle } from '../../src/events.js';
import { get_event_loop } from '../../src/events.js';
import type { Coroutine } from '../../src/futures.js';
import { CERT_NONE, SSLContext } from '../../src/ssl.js';
import type { Transport } from '../../src/transports.js';
import {
  IDEMPOTENT_METHODS, connect, is_disconnect, request, send_request,
  type ClientProtocol, type Connection, type HttpRequest, type HttpResponse, type RequestOptions, type StartOptions,
} from './client.js';
import { CookieJar, type CookiesInit } from './cookies.js';

export interface SessionOptions {
  loop?: AbstractEventLoop;
  /** Idle connections kept per (scheme, host, port, TLS context); default 10. 0 keeps none. */
  limit_per_host?: number;
  /** Seconds an idle connection is kept; default 15. */
  keepalive_timeout?: number;
  /** Cookies to start with, sent to every host (Tulip's `update_cookies`). */
  cookies?: CookiesInit;
  /** The jar to use (e.g. shared with another session); a new one by default. */
  cookie_jar?: CookieJar;
}

/** One pooled connection: what a response releases, and what the pool keeps while it is idle. */
class PooledConnection implements Connection {
  /** The idle timer while in the pool. */
  timer: TimerHandle | null = null;
  private _released = false;

  constructor(
    private readonly _session: Session, readonly key: string, readonly transport: Transport, readonly protocol: ClientProtocol,
  ) {}

  release(reusable: boolean): void {
    if (this._released) return;
    this._released = true;
    this._session._release(this, reusable);
  }

  /** @internal back in use after being idle */
  _reuse(): void {
    this._released = false;
  }
}

// Identity of TLS contexts in pool keys: connections made with one context are not handed to a request
// that asked for another (its verification settings may differ).
const context_ids = new WeakMap<SSLContext, number>();
let next_context_id = 0;

function pool_key(req: HttpRequest): string {
  let tls = '';
  if (req.ssl !== null) {
    let id = context_ids.get(req.ssl);
    if (id === undefined) context_ids.set(req.ssl, (id = ++next_context_id));
    tls = `|tls${id}${req.ssl.verify_mode === CERT_NONE ? '-noverify' : ''}`;
  }
  // Through a proxy: its connections are not the direct ones, nor another proxy's or another login's.
  const via = req.proxy === null ? '' : `|via ${req.proxy.host}:${req.proxy.port} ${req.proxy.authorization ?? ''}`;
  return `${req.url.protocol}//${req.host}:${req.port}${tls}${via}`;
}

export class Session {
  readonly cookies: CookieJar;
  readonly limit_per_host: number;
  readonly keepalive_timeout: number;
  /** How many connections this session opened (reuse shows as requests > connections). */
  connections_made = 0;
  private readonly _loop: AbstractEventLoop;
  private readonly _idle = new Map<string, PooledConnection[]>();
  private readonly _active = new Set<PooledConnection>();
  private _closed = false;

  constructor(options: SessionOptions = {}) {
    this._loop = options.loop ?? get_event_loop();
    this.limit_per_host = options.limit_per_host ?? 10;
    this.keepalive_timeout = options.keepalive_timeout ?? 15;
    if (!Number.isSafeInteger(this.limit_per_host) || this.limit_per_host < 0) throw new RangeError(`limit_per_host must be an integer >= 0, got ${this.limit_per_host}`);
    if (!(this.keepalive_timeout >= 0)) throw new RangeError(`keepalive_timeout must be a number of seconds >= 0, got ${this.keepalive_timeout}`);
    this.cookies = options.cookie_jar ?? new CookieJar();
    if (options.cookies) this.cookies.update_cookies(options.cookies);
  }

  get closed(): boolean {
    return this._closed;
  }

  /** How many idle connections the pool holds. */
  idle_count(): number {
    let n = 0;
    for (const list of this._idle.values()) n += list.length;
    return n;
  }

  /** `request(method, url, { ...options, session: this })`. */
  *request(method: string, url: string | URL, options: Omit<RequestOptions, 'session'> = {}): Coroutine<HttpResponse> {
    return yield* request(method, url, { loop: this._loop, ...options, session: this });
  }

  /** Sends `req` on a pooled connection, or a new one (Tulip's `Session.start`), and reads the response head. */
  *start(req: HttpRequest, options: StartOptions = {}): Coroutine<HttpResponse> {
    if (this._closed) throw new Error('Session is closed');
    const loop = options.loop ?? this._loop;
    const key = pool_key(req);
    let conn = this._take_idle(key);
    for (;;) {
      const reused = conn !== null;
      if (conn === null) {
        const [transport, protocol] = yield* connect(req, loop);
        this.connections_made++;
        conn = new PooledConnection(this, key, transport, protocol);
        if (this._closed) {
          transport.close();
          throw new Error('Session is closed');
        }
      }
      this._active.add(conn);
      try {
        return yield* send_request(req, conn, { ...options, loop });
      } catch (e) {
        // send_request released (closed) the connection. A reused one that got nothing back was stale:
        // one more try on a new connection, when repeating the request is harmless.
        if (reused && conn.protocol.received === 0 && IDEMPOTENT_METHODS.has(req.method) && req.stream === null && is_disconnect(e)) {
          conn = null;
          continue;
        }
        throw e;
      }
    }
  }

  /** The most recently used idle connection for `key` that the server has not closed, or null. */
  private _take_idle(key: string): PooledConnection | null {
    const list = this._idle.get(key);
    while (list !== undefined && list.length > 0) {
      const conn = list.pop()!;
      if (list.length === 0) this._idle.delete(key);
      conn.timer?.cancel();
      conn.timer = null;
      if (conn.protocol.reusable()) {
        conn._reuse();
        return conn;
      }
      conn.transport.close();
    }
    return null;
  }

  /** @internal A response is done with `conn`: pooled when reusable and there is room, else closed. */
  _release(conn: PooledConnection, reusable: boolean): void {
    this._active.delete(conn);
    const list = this._idle.get(conn.key) ?? [];
    if (this._closed || !reusable || !conn.protocol.reusable() || list.length >= this.limit_per_host || this.keepalive_timeout === 0) {
      conn.transport.close();
      return;
    }
    conn.protocol.received = 0;
    list.push(conn);
    this._idle.set(conn.key, list);
    conn.timer = this._loop.call_later(this.keepalive_timeout, () => this._expire(conn));
  }

  private _expire(conn: PooledConnection): void {
    conn.timer = null;
    const list = this._idle.get(conn.key);
    const i = list?.indexOf(conn) ?? -1;
    if (i < 0) return;
    list!.splice(i, 1);
    if (list!.length === 0) this._idle.delete(conn.key);
    conn.transport.close();
  }

  /** Adds cookies to the jar: for `url`'s host, or for every host without one. */
  update_cookies(cookies: CookiesInit, url?: string | URL): void {
    this.cookies.update_cookies(cookies, url);
  }

  /** Closes every connection, idle or in use (a response still being read then fails). */
  close(): void {
    this._closed = true;
    for (const list of this._idle.values()) {
      for (const conn of list) {
        conn.timer?.cancel();
        conn.transport.close();
      }
    }
    this._idle.clear();
    for (const conn of this._active) conn.transport.close();
    this._active.clear();
  }
}
