/**
 * The high-level network API of PEP 3156, written as coroutines over the loop's public surface:
 * `create_connection`, `start_serving` / `stop_serving` (and the final PEP's `create_server` returning a
 * `Server`, on the same code), and `create_datagram_endpoint`. The loop's methods of the same names are
 * one-line delegations to these.
 *
 * Unix domain sockets (asyncio 3.4's `create_unix_connection` / `create_unix_server`) are at the end,
 * on the same transport and Server machinery.
 *
 * Names are resolved with the loop's getaddrinfo (in a worker thread: a slow DNS answer never blocks the
 * loop), then each address is tried in turn. When all fail, the error raised is the right OSError
 * subclass with its errno (one of them, when they agree; an OSError listing them all otherwise).
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { OSError, type_name } from '../src/errors.js';
import { SSLContext, create_default_context } from '../src/ssl.js';
import { SSLProtocol, check_ssl_timeouts, type SSLProtocolTransport, type SSLTimeouts } from '../src/sslproto.js';
import type { AbstractEventLoop } from '../src/events.js';
import { Future, type Coroutine } from '../src/futures.js';
import type { BaseProtocol, DatagramProtocol, Protocol, ProtocolOrBuffered } from '../src/protocols.js';
import {
  AF_INET6, AF_UNIX, AF_UNSPEC, AI_PASSIVE, IPPROTO_IPV6, IPV6_V6ONLY, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, Socket,
} from '../src/socket.js';
import type { SockAddr } from '../src/binding.js';
import type { DatagramTransport, Transport } from '../src/transports.js';
import { getaddrinfo } from './lookup.js';

type Address = [string, number] | [string, number, number, number];

export interface ConnectionOptions extends SSLTimeouts {
  /** TLS: `true` for create_default_context(), or an SSLContext (client side). */
  ssl?: boolean | SSLContext | null;
  family?: number;
  proto?: number;
  flags?: number;
  sock?: Socket;
  local_addr?: [string | null, number | null];
  /** The name to check the certificate against and to send as SNI; defaults to `host`. '' turns
   * hostname checking off (the context must have check_hostname false). */
  server_hostname?: string;
}

/** The client context of create_connection's `ssl` option (Python's rules and messages). */
function client_context(ssl: unknown): SSLContext | null {
  if (ssl === undefined || ssl === null || ssl === false) return null;
  if (ssl === true) return create_default_context();
  if (ssl instanceof SSLContext) return ssl;
  throw new TypeError('ssl argument must be an SSLContext, true, or null');
}

/** The server context of start_serving's `ssl` option. */
function server_context(ssl: unknown): SSLContext | null {
  if (ssl === undefined || ssl === null) return null;
  if (ssl instanceof SSLContext) return ssl;
  throw new TypeError('ssl argument must be an SSLContext or null (a server needs its certificate: there is no default)');
}

/** Raises the one error when every attempt failed the same way, or one OSError naming them all. */
function raise_all(errors: OSError[]): never {
  if (errors.length === 1 || errors.every((e) => String(e) === String(errors[0]))) throw errors[0]!;
  throw new OSError(null, `Multiple exceptions: ${errors.map((e) => String(e.message)).join(', ')}`);
}

function* resolve(loop: AbstractEventLoop, host: string | null | undefined, port: number | string | null | undefined, options: { family?: number | undefined; type: number; proto?: number | undefined; flags?: number | undefined }): Coroutine<Array<[number, number, number, string, Address]>> {
  const infos = yield* getaddrinfo(loop, host ?? null, port ?? null, options);
  if (infos.length === 0) throw new OSError(null, 'getaddrinfo() returned empty list');
  return infos as Array<[number, number, number, string, Address]>;
}

/**
 * Opens a stream connection to `host`:`port` (or over `sock`): `[transport, protocol]` once connected.
 * `protocol_factory()` is called once; `connection_made` runs before this returns.
 */
export function* create_connection<P extends ProtocolOrBuffered>(
  loop: AbstractEventLoop, protocol_factory: () => P, host?: string | null, port?: number | string | null, options: ConnectionOptions = {},
): Coroutine<[Transport, P]> {
  check_ssl_timeouts(options.ssl, options);
  if (options.server_hostname !== undefined && !options.ssl) throw new RangeError('server_hostname is only meaningful with ssl');
  let server_hostname: string | null = null;
  if (options.ssl) {
    if (options.server_hostname !== undefined) server_hostname = options.server_hostname;
    else if (host) server_hostname = host;
    else throw new RangeError('You must set server_hostname when using ssl without a host');
  }
  // Before connecting: a bad context or option fails without touching the network.
  const sslcontext = client_context(options.ssl);
  let sock = options.sock;
  if (host != null || port != null) {
    if (sock !== undefined) throw new RangeError('host/port and sock can not be specified at the same time');
    const infos = yield* resolve(loop, host, port, { family: options.family, type: SOCK_STREAM, proto: options.proto, flags: options.flags });
    const local = options.local_addr
      ? yield* resolve(loop, options.local_addr[0], options.local_addr[1], { family: options.family, type: SOCK_STREAM, proto: options.proto, flags: options.flags })
      : null;
    const errors: OSError[] = [];
    for (const [family, type, proto, , address] of infos) {
      const candidate = new Socket(family, type, proto);
      try {
        if (local !== null) bind_local(candidate, family, local);
        yield* loop.sock_connect(candidate, address);
        sock = candidate;
        break;
      } catch (e) {
        candidate.close();
        if (!(e instanceof OSError)) throw e; // cancellation, or a bug: not "this address failed"
        errors.push(e);
      }
    }
    if (sock === undefined) raise_all(errors);
  } else if (sock === undefined) {
    throw new RangeError('host and port was not specified and no sock specified');
  }
  return yield* connected(loop, sock, protocol_factory, sslcontext, server_hostname, options);
}

/**
 * The end of every stream connection: a transport over the connected `sock` (TLS when `sslcontext` is
 * given), once connection_made ran — after the handshake, for TLS.
 */
function* connected<P extends ProtocolOrBuffered>(
  loop: AbstractEventLoop, sock: Socket, protocol_factory: () => P,
  sslcontext: SSLContext | null, server_hostname: string | null, options: SSLTimeouts,
): Coroutine<[Transport, P]> {
  sock.setblocking(false);
  const protocol = protocol_factory();
  const waiter = new Future<null>({ loop });
  let transport;
  try {
    transport = sslcontext === null
      ? loop._make_socket_transport(sock, protocol, waiter)
      : loop._make_ssl_transport(sock, protocol, sslcontext, waiter, false, server_hostname, undefined, null, options);
  } catch (e) {
    sock.close();
    throw e;
  }
  try {
    yield* waiter;
  } catch (e) {
    transport.close();
    throw e;
  }
  return [transport as Transport, protocol];
}

function bind_local(sock: Socket, family: number, local: Array<[number, number, number, string, Address]>): void {
  const errors: OSError[] = [];
  for (const [f, , , , laddr] of local) {
    if (f !== family) continue;
    try {
      sock.bind(laddr);
      return;
    } catch (e) {
      if (!(e instanceof OSError)) throw e;
      errors.push(new OSError(e.errno, `error while attempting to bind on address ${JSON.stringify(laddr)}: ${e.strerror}`));
    }
  }
  if (errors.length === 0) throw new OSError(null, `no local address of family ${family} to bind to`);
  raise_all(errors);
}

export interface StartTlsOptions extends SSLTimeouts {
  /** The side of the handshake: false (a client) unless this end accepted the connection. */
  server_side?: boolean;
  /** The name to verify the server's certificate against (and to send as SNI); clients only. */
  server_hostname?: string | null;
}

/**
 * Puts TLS under an established connection (asyncio 3.7's `loop.start_tls`): what STARTTLS protocols (SMTP,
 * IMAP, LDAP, PostgreSQL) do after a plain-text exchange. `transport` is handed to a TLS layer, and the
 * transport returned is the one to use from then on: `protocol` receives the decrypted data (its
 * `connection_made` is not called again), never before start_tls has returned. Reading pauses while the
 * layers are swapped, so no TLS record reaches the plain protocol; bytes it had already read are its own.
 * A server answering a STARTTLS command should `pause_reading()` before it sends its go-ahead, for the
 * same reason: the client's first record may follow at once. A failed handshake closes the connection and
 * raises its error.
 */
export function* start_tls(
  loop: AbstractEventLoop, transport: Transport, protocol: ProtocolOrBuffered, sslcontext: SSLContext, options: StartTlsOptions = {},
): Coroutine<SSLProtocolTransport> {
  if (!(sslcontext instanceof SSLContext)) throw new TypeError(`start_tls() needs an SSLContext, got ${type_name(sslcontext)}`);
  check_ssl_timeouts(sslcontext, options);
  const server_side = options.server_side ?? false;
  const server_hostname = options.server_hostname ?? null;
  if (server_side && server_hostname !== null) throw new RangeError('server_hostname is only meaningful for a client');
  if (transport.is_closing()) throw new RangeError('start_tls() needs an open transport');
  const waiter = new Future<null>({ loop });
  const ssl_protocol = new SSLProtocol(loop, protocol, sslcontext, waiter, server_side, server_hostname, options, false);
  transport.pause_reading();
  transport.set_protocol(ssl_protocol);
  // The handshake starts on the next turn, and only then may records be read, by the TLS layer.
  const made = loop.call_soon(() => ssl_protocol.connection_made(transport));
  const resumed = loop.call_soon(() => transport.resume_reading());
  try {
    yield* waiter;
  } catch (e) {
    made.cancel();
    resumed.cancel();
    transport.close();
    throw e;
  }
  return ssl_protocol._app_transport;
}

export interface ServingOptions extends SSLTimeouts {
  family?: number;
  flags?: number;
  sock?: Socket;
  backlog?: number;
  reuse_address?: boolean;
  /** Serve TLS with this (server side) context. */
  ssl?: SSLContext | null;
}

/**
 * Listens on `host`:`port` and serves each accepted connection with a new `protocol_factory()`. Returns
 * the listening sockets: one per address, so IPv4 and IPv6 both when `host` is null or ''. Stop one with
 * `stop_serving(sock)`. Connections already accepted are not affected.
 */
export function* start_serving(
  loop: AbstractEventLoop, protocol_factory: () => BaseProtocol, host?: string | null, port?: number | string | null, options: ServingOptions = {},
): Coroutine<Socket[]> {
  return yield* _serve(loop, protocol_factory, host, port, options, null);
}

function* _serve(
  loop: AbstractEventLoop, protocol_factory: () => BaseProtocol, host: string | null | undefined, port: number | string | null | undefined,
  options: ServingOptions, server: Server | null,
): Coroutine<Socket[]> {
  check_ssl_timeouts(options.ssl, options);
  const sslcontext = server_context(options.ssl);
  const backlog = options.backlog ?? 100;
  let sockets: Socket[];
  if (host !== undefined || port !== undefined) {
    if (options.sock !== undefined) throw new RangeError('host/port and sock can not be specified at the same time');
    const infos = yield* resolve(loop, host === '' ? null : host, port, { family: options.family ?? AF_UNSPEC, type: SOCK_STREAM, flags: options.flags ?? AI_PASSIVE });
    sockets = [];
    const seen = new Set<string>();
    try {
      for (const [family, type, proto, , address] of infos) {
        const key = `${family}/${JSON.stringify(address)}`;
        if (seen.has(key)) continue; // getaddrinfo may repeat an address for several protocols
        seen.add(key);
        const sock = new Socket(family, type, proto);
        sockets.push(sock);
        if (options.reuse_address ?? true) sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
        // Let the IPv4 and the IPv6 socket both have the port: the IPv6 one must not claim IPv4 too.
        if (family === AF_INET6) sock.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
        try {
          sock.bind(address);
        } catch (e) {
          if (!(e instanceof OSError)) throw e;
          throw new (e.constructor as typeof OSError)(e.errno, `error while attempting to bind on address ${JSON.stringify(address)}: ${e.strerror}`);
        }
      }
    } catch (e) {
      for (const s of sockets) s.close();
      throw e;
    }
  } else {
    if (options.sock === undefined) throw new RangeError('host and port was not specified and no sock specified');
    sockets = [options.sock];
  }
  for (const sock of sockets) {
    sock.listen(backlog);
    sock.setblocking(false);
    loop._start_serving(protocol_factory, sock, server, backlog, sslcontext, options);
  }
  return sockets;
}

/** Stops the serving loop of one socket returned by start_serving(), and closes it. */
export function stop_serving(loop: AbstractEventLoop, sock: Socket): void {
  if (sock.fileno() < 0) return;
  loop.remove_reader(sock.fileno());
  sock.close();
}

/**
 * The final PEP's server object, on start_serving's code: `sockets`, `close()` (stops listening;
 * accepted connections go on), and the coroutine `wait_closed()`, which returns once the server is
 * closed and its last connection has ended.
 */
export class Server {
  sockets: Socket[] | null = null;
  private _active = 0;
  private _waiters: Future<null>[] = [];

  constructor(private readonly _loop: AbstractEventLoop) {}

  close(): void {
    const sockets = this.sockets;
    if (sockets === null) return;
    this.sockets = null;
    for (const sock of sockets) stop_serving(this._loop, sock);
    if (this._active === 0) this._wake();
  }

  *wait_closed(): Coroutine<void> {
    if (this.sockets === null && this._active === 0) return;
    const waiter = new Future<null>({ loop: this._loop });
    this._waiters.push(waiter);
    yield* waiter;
  }

  /** @internal a transport of this server was created */
  _attach(): void {
    this._active++;
  }

  /** @internal a transport of this server is gone */
  _detach(): void {
    if (--this._active === 0 && this.sockets === null) this._wake();
  }

  private _wake(): void {
    const waiters = this._waiters;
    this._waiters = [];
    for (const w of waiters) if (!w.done()) w.set_result(null);
  }
}

/** Like start_serving(), but returns a `Server` (asyncio 3.4's create_server). */
export function* create_server(
  loop: AbstractEventLoop, protocol_factory: () => BaseProtocol, host?: string | null, port?: number | string | null, options: ServingOptions = {},
): Coroutine<Server> {
  const server = new Server(loop);
  server.sockets = yield* _serve(loop, protocol_factory, host, port, options, server);
  return server;
}

export interface DatagramOptions {
  local_addr?: [string | null, number | null];
  remote_addr?: [string | null, number | null];
  family?: number;
  proto?: number;
  flags?: number;
  reuse_address?: boolean;
}

/**
 * Creates a datagram endpoint bound to `local_addr` and/or "connected" to `remote_addr` (the default
 * destination of sendto): `[transport, protocol]`. With both, every pair of local and remote addresses of
 * the same family is tried.
 */
export function* create_datagram_endpoint<P extends DatagramProtocol>(
  loop: AbstractEventLoop, protocol_factory: () => P, options: DatagramOptions = {},
): Coroutine<[DatagramTransport, P]> {
  const { local_addr, remote_addr } = options;
  const family = options.family ?? 0, proto = options.proto ?? 0, flags = options.flags ?? 0;
  const pairs: Array<[number, number, Address | null, Address | null]> = [];
  if (!local_addr && !remote_addr) {
    if (family === 0) throw new RangeError('create_datagram_endpoint() needs local_addr, remote_addr or a family');
    pairs.push([family, proto, null, null]);
  } else {
    const local = local_addr ? yield* resolve(loop, local_addr[0], local_addr[1], { family, type: SOCK_DGRAM, proto, flags }) : null;
    const remote = remote_addr ? yield* resolve(loop, remote_addr[0], remote_addr[1], { family, type: SOCK_DGRAM, proto, flags }) : null;
    for (const [f, , p, , laddr] of local ?? [[0, 0, 0, '', null] as const]) {
      for (const [rf, , rp, , raddr] of remote ?? [[0, 0, 0, '', null] as const]) {
        if (local && remote && f !== rf) continue;
        pairs.push([local ? f : rf, local ? p : rp, laddr as Address | null, raddr as Address | null]);
      }
    }
    if (pairs.length === 0) throw new RangeError('can not find a local and a remote address of the same family');
  }
  const errors: OSError[] = [];
  for (const [f, p, laddr, raddr] of pairs) {
    const sock = new Socket(f, SOCK_DGRAM, p);
    try {
      if (options.reuse_address) sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
      if (laddr !== null) sock.bind(laddr);
      if (raddr !== null) yield* loop.sock_connect(sock, raddr);
    } catch (e) {
      sock.close();
      if (!(e instanceof OSError)) throw e;
      errors.push(e);
      continue;
    }
    const protocol = protocol_factory();
    const waiter = new Future<null>({ loop });
    const transport = loop._make_datagram_transport(sock, protocol, raddr as SockAddr | null, waiter);
    try {
      yield* waiter;
    } catch (e) {
      transport.close();
      throw e;
    }
    return [transport as DatagramTransport, protocol];
  }
  raise_all(errors);
}

// ---- Unix domain sockets -------------------------------------------------------------------------------

export interface UnixConnectionOptions extends SSLTimeouts {
  /** TLS over the Unix socket: `true` for create_default_context(), or an SSLContext. */
  ssl?: boolean | SSLContext | null;
  sock?: Socket;
  /** Required with ssl: a Unix path is no host name to check the certificate against. */
  server_hostname?: string;
}

export interface UnixServingOptions extends SSLTimeouts {
  sock?: Socket;
  backlog?: number;
  /** Serve TLS with this (server side) context. */
  ssl?: SSLContext | null;
}

function check_unix_stream(sock: Socket): void {
  if (sock.family !== AF_UNIX || sock.type !== SOCK_STREAM) {
    throw new RangeError(`A UNIX Domain Stream Socket was expected, got ${sock}`);
  }
}

/**
 * Connects to the Unix domain stream socket at `path` (or wraps the connected AF_UNIX `sock`):
 * `[transport, protocol]`. A missing path is FileNotFoundError, a path nobody listens on
 * ConnectionRefusedError (whatever connect(2) says); a path longer than sun_path holds is a RangeError.
 */
export function* create_unix_connection<P extends ProtocolOrBuffered>(
  loop: AbstractEventLoop, protocol_factory: () => P, path?: string | null, options: UnixConnectionOptions = {},
): Coroutine<[Transport, P]> {
  check_ssl_timeouts(options.ssl, options);
  if (options.server_hostname !== undefined && !options.ssl) throw new RangeError('server_hostname is only meaningful with ssl');
  if (options.ssl && options.server_hostname === undefined) throw new RangeError('You must set server_hostname when using ssl without a host');
  const sslcontext = client_context(options.ssl);
  let sock = options.sock;
  if (path != null) {
    if (sock !== undefined) throw new RangeError('path and sock can not be specified at the same time');
    sock = new Socket(AF_UNIX, SOCK_STREAM, 0);
    try {
      yield* loop.sock_connect(sock, path);
    } catch (e) {
      sock.close();
      throw e;
    }
  } else {
    if (sock === undefined) throw new RangeError('no path and sock were specified');
    check_unix_stream(sock);
  }
  return yield* connected(loop, sock, protocol_factory, sslcontext, options.server_hostname ?? null, options);
}

/**
 * Removes a stale socket file at `path` (a previous server's, which bind() would refuse with EADDRINUSE):
 * what asyncio does since 3.8 (3.4 failed instead). Only a socket is removed: a regular file or a
 * directory there is left alone, and bind() then reports EADDRINUSE. A Linux abstract name ('\0...') has
 * no file.
 */
function remove_stale_socket(path: string): void {
  if (path === '' || path[0] === '\0') return;
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/**
 * Listens on the Unix domain stream socket `path` (or the bound AF_UNIX `sock`) and serves each
 * connection with a new `protocol_factory()`: a `Server`. A stale socket file at `path` is replaced (see
 * remove_stale_socket). `Server.close()` stops listening but leaves the socket file in place, as asyncio
 * before 3.13 does: the next server on that path removes it.
 */
export function* create_unix_server(
  loop: AbstractEventLoop, protocol_factory: () => BaseProtocol, path?: string | null, options: UnixServingOptions = {},
): Coroutine<Server> {
  check_ssl_timeouts(options.ssl, options);
  server_context(options.ssl); // a bad ssl option fails before anything is bound
  let sock = options.sock;
  if (path != null) {
    if (sock !== undefined) throw new RangeError('path and sock can not be specified at the same time');
    remove_stale_socket(path);
    sock = new Socket(AF_UNIX, SOCK_STREAM, 0);
    try {
      sock.bind(path);
    } catch (e) {
      sock.close();
      if (e instanceof OSError && e.code === 'EADDRINUSE') {
        throw new (e.constructor as typeof OSError)(e.errno, `Address ${JSON.stringify(path)} is already in use (and is not a socket file to replace)`, path);
      }
      throw e;
    }
  } else {
    if (sock === undefined) throw new RangeError('path was not specified, and no sock specified');
    check_unix_stream(sock);
  }
  const server = new Server(loop);
  server.sockets = yield* _serve(loop, protocol_factory, undefined, undefined, { ...options, sock, backlog: options.backlog ?? 100 }, server);
  return server;
}
