/**
 * HTTP proxies for the client (aiohttp's `proxy`, `proxy_auth` and `trust_env`).
 *
 * - An http URL is asked of the proxy itself: the request goes to the proxy with its URL in absolute form
 *   (`GET http://host/path HTTP/1.1`, RFC 9112 3.2.2) and the proxy's credentials in `Proxy-Authorization`.
 * - An https URL goes through a tunnel: `CONNECT host:port` to the proxy, and once it answers 2xx, TLS to the
 *   origin over that connection (loop.start_tls), verified against the URL's host as without a proxy. The
 *   proxy's credentials go with the CONNECT only; the proxy sees nothing of the request but the host.
 *
 * With `trust_env`, a request without `proxy` takes it from the environment as curl and Python do:
 * `https_proxy` / `HTTPS_PROXY` for https URLs, `http_proxy` / `HTTP_PROXY` for http ones (the lower-case
 * name first), unless `no_proxy` / `NO_PROXY` names the host: `*`, or a comma-separated list of host
 * names (each also matching its subdomains; a leading dot is allowed), addresses, and `host:port`.
 * Only http:// proxies are supported (TLS to the proxy itself is not).
 */
import type { AbstractEventLoop } from '../../src/events.js';
import type { Coroutine } from '../../src/futures.js';
import type { Transport } from '../../src/transports.js';
import type { StreamProtocol } from '../parsers.js';
import { InvalidURL, ProxyError } from './errors.js';
import { basic_auth } from './forms.js';
import { http_response_parser } from './protocol.js';

/** Where a request goes instead of its URL's host. */
export interface Proxy {
  /** The proxy's URL, without credentials (for messages). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The `Proxy-Authorization` value, or null. */
  readonly authorization: string | null;
}

export interface ProxyOptions {
  proxy?: string | URL | null;
  proxy_auth?: readonly [string, string] | null;
  trust_env?: boolean;
}

/** The proxy a request for `target` uses, or null (none given, or none in the environment for it). */
export function resolve_proxy(target: URL, options: ProxyOptions): Proxy | null {
  let given = options.proxy ?? null;
  if (given === null && options.trust_env === true) given = proxy_from_env(target, process.env);
  if (given === null || given === '') return null;
  const text = String(given);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidURL(text, 'not an absolute proxy URL (http://host:port)');
  }
  if (url.protocol !== 'http:') throw new InvalidURL(text, `unsupported proxy scheme "${url.protocol.slice(0, -1)}": only http:// proxies are supported`);
  if (url.hostname === '') throw new InvalidURL(text, 'no proxy host');
  let auth = options.proxy_auth ?? null;
  if (auth === null && (url.username !== '' || url.password !== '')) {
    auth = [decodeURIComponent(url.username), decodeURIComponent(url.password)];
  }
  if (auth !== null && (!Array.isArray(auth) || auth.length !== 2)) throw new TypeError('proxy_auth must be [login, password]');
  return {
    url: `http://${url.host}`,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 80 : Number(url.port),
    authorization: auth === null ? null : basic_auth(auth[0], auth[1]),
  };
}

/** The environment's proxy for `target`, or null. */
export function proxy_from_env(target: URL, env: NodeJS.ProcessEnv): string | null {
  const scheme = target.protocol === 'https:' ? 'https' : 'http';
  const proxy = env[`${scheme}_proxy`] || env[`${scheme.toUpperCase()}_PROXY`] || null;
  if (proxy === null) return null;
  const no_proxy = env['no_proxy'] ?? env['NO_PROXY'] ?? '';
  const port = target.port !== '' ? Number(target.port) : scheme === 'https' ? 443 : 80;
  return bypasses(no_proxy, target.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase(), port) ? null : proxy;
}

/** Whether a `no_proxy` list names `host` (lower case, no brackets) at `port`. */
export function bypasses(no_proxy: string, host: string, port: number): boolean {
  for (const raw of no_proxy.split(/[,\s]+/)) {
    const entry = raw.toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    // `[v6]:port`, `[v6]`, `name:port`, or a bare name or address (a bare IPv6 address has several colons).
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    const with_port = v6 === null ? /^([^:]+):(\d+)$/.exec(entry) : null;
    const m = v6 ?? with_port;
    if (m !== null && m[2] !== undefined && Number(m[2]) !== port) continue;
    const name = (m !== null ? m[1]! : entry).replace(/^\*?\./, '');
    if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

/** `host:port` as CONNECT and its Host header want it (an IPv6 address in brackets). */
function authority(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Asks the proxy on `transport` for a tunnel to host:port and reads its answer: a 2xx opens the tunnel,
 * anything else is a ProxyError (and the caller closes the connection).
 */
export function* open_tunnel(transport: Transport, protocol: StreamProtocol, proxy: Proxy, host: string, port: number, loop: AbstractEventLoop): Coroutine<void> {
  const target = authority(host, port);
  let head = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n`;
  if (proxy.authorization !== null) head += `Proxy-Authorization: ${proxy.authorization}\r\n`;
  transport.write(Buffer.from(`${head}\r\n`, 'latin1'));
  const answer = yield* protocol.stream.set_parser(http_response_parser(), { loop }).read();
  if (answer.code < 200 || answer.code >= 300) throw new ProxyError(answer.code, answer.reason, proxy.url);
  // A 2xx to CONNECT has no body (RFC 9110 9.3.6): whatever follows is the tunnel, and the origin speaks
  // only after our ClientHello, so nothing may be waiting here yet.
  if (protocol.stream._buffer.size !== 0) throw new ProxyError(answer.code, `${answer.reason} (then bytes before the tunnel was used)`, proxy.url);
}
