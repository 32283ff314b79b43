/**
 * Name resolution as coroutines (Tulip's `getaddrinfo` / `getnameinfo`): the C library's blocking calls
 * run in a worker thread of the loop's default executor (`run_in_executor`), so a slow DNS answer never
 * blocks the loop. The worker half is coroutines/lookup_worker.ts.
 *
 *     const infos = yield* getaddrinfo(loop, 'example.com', 80, { type: SOCK_STREAM });
 *     for (const [family, type, proto, canonname, sockaddr] of infos) ...
 *
 * Arguments are checked on the loop thread (TypeError / RangeError); a failed lookup raises `gaierror`
 * (errno = the EAI_* code, code = its name, as Python's `socket.gaierror`), except EAI_SYSTEM, which
 * raises the OSError of the underlying errno.
 *
 * A numeric host (an IP literal) with a numeric port needs no lookup: it is answered on the loop thread
 * (getaddrinfo with AI_NUMERICHOST | AI_NUMERICSERV never touches DNS or files), still asynchronously.
 */
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { binding, type AddrInfo, type GaiError, type InetAddress } from '../src/binding.js';
import { OSError, gai_error, gaierror } from '../src/errors.js';
import type { AbstractEventLoop } from '../src/events.js';
import { executor_function, run_in_executor } from '../src/executor.js';
import { Future, type Coroutine } from '../src/futures.js';
import type { getaddrinfo_sync, getnameinfo_sync } from './lookup_worker.js';

export type { AddrInfo, InetAddress };
export { gaierror };

const C = binding.constants;

// ---- the worker half, by URL ---------------------------------------------------------------------------

const worker_module = new URL(
  /\.[cm]?ts$/.test(fileURLToPath(import.meta.url)) ? './lookup_worker.ts' : './lookup_worker.js',
  import.meta.url,
).href;
const GETADDRINFO = executor_function<typeof getaddrinfo_sync>(worker_module, 'getaddrinfo_sync');
const GETNAMEINFO = executor_function<typeof getnameinfo_sync>(worker_module, 'getnameinfo_sync');

// ---- argument checks (on the loop thread) ------------------------------------------------------------------

function check_int(value: unknown, what: string, fn: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${fn}(): ${what} must be an integer, got ${String(value)}`);
  return value;
}

function check_port(port: unknown, fn: string): number | string | null {
  if (port === undefined || port === null) return null;
  if (typeof port === 'string') {
    if (port.includes('\0')) throw new TypeError(`${fn}(): port must not contain a NUL character`);
    return port;
  }
  if (typeof port === 'number') {
    if (!Number.isInteger(port)) throw new TypeError(`${fn}(): port must be an integer, got ${port}`);
    if (port < 0 || port > 65535) throw new RangeError(`${fn}(): port must be 0-65535, got ${port}`);
    return port;
  }
  throw new TypeError(`${fn}(): port must be a number, a service name string or null, got ${typeof port}`);
}

/** What getaddrinfo's options may say (Python's keyword arguments); other properties are ignored. */
export interface LookupOptions {
  family?: number | undefined;
  type?: number | undefined;
  proto?: number | undefined;
  flags?: number | undefined;
}

/** A future on `loop` that completes on the next turn (never synchronously) with `value` or `error`. */
function soon<T>(loop: AbstractEventLoop, value: T | OSError): Future<T> {
  const future = new Future<T>({ loop });
  loop.call_soon(() => {
    if (future.done()) return;
    if (value instanceof OSError) future.set_exception(value);
    else future.set_result(value);
  });
  return future;
}

/**
 * Resolves `host` and `port` into a list of `[family, type, proto, canonname, sockaddr]` entries, with
 * sockaddr `[host, port]` (IPv4) or `[host, port, flowinfo, scope_id]` (IPv6). `host` null means the
 * loopback (or with AI_PASSIVE, any) address; `port` a number, a service name or null. Options as in C:
 * `family` (AF_UNSPEC), `type` (0: every socket type), `proto`, `flags` (AI_*).
 */
export function* getaddrinfo(
  loop: AbstractEventLoop,
  host: string | null,
  port: number | string | null,
  options?: LookupOptions,
): Coroutine<AddrInfo[]> {
  if (host === undefined) host = null;
  if (host !== null && typeof host !== 'string') throw new TypeError(`getaddrinfo(): host must be a string or null, got ${typeof host}`);
  if (host !== null && host.includes('\0')) throw new TypeError('getaddrinfo(): host must not contain a NUL character');
  const p = check_port(port, 'getaddrinfo');
  const family = check_int(options?.family, 'family', 'getaddrinfo');
  const type = check_int(options?.type, 'type', 'getaddrinfo');
  const proto = check_int(options?.proto, 'proto', 'getaddrinfo');
  const flags = check_int(options?.flags, 'flags', 'getaddrinfo');
  let future: Future<AddrInfo[] | GaiError>;
  if (host !== null && isIP(host) !== 0 && (p === null || typeof p === 'number' || /^[0-9]+$/.test(p))) {
    // Numeric host and port: no DNS, no /etc/services, so no need for a thread.
    future = soon(loop, binding.getaddrinfo(host, p, family, type, proto, flags | C.AI_NUMERICHOST | C.AI_NUMERICSERV));
  } else {
    future = run_in_executor(loop, null, GETADDRINFO, host, p, family, type, proto, flags);
  }
  const r = yield* future;
  if (!Array.isArray(r)) throw gai_error(r);
  return r;
}

/**
 * Turns a numeric socket address (`[host, port]` or `[host, port, flowinfo, scope_id]`) into
 * `[host, service]`, with NI_* `flags`. As in Python, the host must be an IP literal (anything else
 * raises gaierror EAI_NONAME).
 */
export function* getnameinfo(loop: AbstractEventLoop, sockaddr: InetAddress, flags = 0): Coroutine<[string, string]> {
  if (!Array.isArray(sockaddr) || (sockaddr.length !== 2 && sockaddr.length !== 4)) {
    throw new TypeError('getnameinfo(): sockaddr must be [host, port] or [host, port, flowinfo, scope_id]');
  }
  const [host, port] = sockaddr;
  if (typeof host !== 'string') throw new TypeError(`getnameinfo(): the host in sockaddr must be a string, got ${typeof host}`);
  if (typeof port !== 'number' || !Number.isInteger(port)) throw new TypeError(`getnameinfo(): the port in sockaddr must be an integer, got ${String(port)}`);
  if (port < 0 || port > 65535) throw new RangeError(`getnameinfo(): port must be 0-65535, got ${port}`);
  if (sockaddr.length === 4) {
    for (const [i, what] of [[2, 'flowinfo'], [3, 'scope_id']] as const) {
      const v = sockaddr[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
        throw new TypeError(`getnameinfo(): ${what} must be an integer 0-0xffffffff, got ${String(v)}`);
      }
    }
  }
  flags = check_int(flags, 'flags', 'getnameinfo');
  const version = isIP(host.split('%')[0]!);
  let future: Future<[string, string] | GaiError>;
  if (version === 0) {
    future = soon<[string, string] | GaiError>(loop, new gaierror(C.EAI_NONAME));
  } else if (version === 4 && sockaddr.length === 4) {
    throw new TypeError('getnameinfo(): an IPv4 sockaddr must be [host, port]');
  } else {
    const family = version === 6 ? C.AF_INET6 : C.AF_INET;
    const numeric = C.NI_NUMERICHOST | C.NI_NUMERICSERV;
    if ((flags & numeric) === numeric && !(flags & C.NI_NAMEREQD)) {
      // Nothing to look up: answer on the loop thread (asynchronously all the same).
      future = soon(loop, binding.getnameinfo(family, sockaddr, flags));
    } else {
      future = run_in_executor(loop, null, GETNAMEINFO, family, sockaddr, flags);
    }
  }
  const r = yield* future;
  if (!Array.isArray(r)) throw gai_error(r);
  return r;
}
