/**
 * socket: Python's `socket` module for tulip-ts — a `Socket` class over a file descriptor, the socket
 * constants with this platform's values, `socketpair`, `fromfd` and `has_ipv6`.
 *
 * It is a thin layer over the native addon (src/binding.ts): every method is one system call (or a
 * retry loop around one: EINTR, and `sendall`), a negative errno becomes the right OSError subclass via
 * `os_error` (ConnectionRefusedError, BrokenPipeError, BlockingIOError for EAGAIN/EINPROGRESS, ...),
 * and an operation on a closed socket is OSError EBADF, as in Python.
 *
 * What it must never do:
 * - buffer: no hidden read-ahead or write queue. `send` reports what the kernel took; `recv` returns
 *   exactly the bytes read, in a fresh Buffer. Buffering is the transports' job.
 * - block, unless asked: every Socket is non-blocking (the addon creates fds with O_NONBLOCK, and a
 *   wrapped fd is switched to non-blocking) until `setblocking(true)` / `settimeout(null)`. The one other
 *   blocking call is the name resolution in bind/connect/sendto for a host that is not a numeric
 *   address (as Python's socket module does it); the event loop resolves names in an executor first.
 * - accept strings as data: a `string` is a TypeError that says to encode it; nothing is sent.
 *
 * Timeouts other than null (blocking) and 0 (non-blocking) are not supported: the event loop is the
 * place for timeouts (`wait_for` around `sock_recv`, ...).
 */
import { isIP } from 'node:net';
import { binding, type GaiError, type InetAddress, type SockAddr } from './binding.js';
import { BlockingIOError, OSError, check, gaierror, os_error, type_name } from './errors.js';

export type { InetAddress, SockAddr };

const C = binding.constants;
const E = binding.errno_codes;

// ---- constants (this platform's values; the optional ones are undefined where the platform lacks them) ----
export const AF_INET: number = C.AF_INET;
export const AF_INET6: number = C.AF_INET6;
export const AF_UNIX: number = C.AF_UNIX;
export const AF_UNSPEC: number = C.AF_UNSPEC;
export const SOCK_STREAM: number = C.SOCK_STREAM;
export const SOCK_DGRAM: number = C.SOCK_DGRAM;
export const SOCK_RAW: number = C.SOCK_RAW;
export const IPPROTO_IP: number = C.IPPROTO_IP;
export const IPPROTO_IPV6: number = C.IPPROTO_IPV6;
export const IPPROTO_TCP: number = C.IPPROTO_TCP;
export const IPPROTO_UDP: number = C.IPPROTO_UDP;
export const SOL_SOCKET: number = C.SOL_SOCKET;
export const SO_REUSEADDR: number = C.SO_REUSEADDR;
export const SO_REUSEPORT: number | undefined = C.SO_REUSEPORT;
export const SO_ERROR: number = C.SO_ERROR;
export const SO_KEEPALIVE: number = C.SO_KEEPALIVE;
export const SO_BROADCAST: number = C.SO_BROADCAST;
export const SO_RCVBUF: number = C.SO_RCVBUF;
export const SO_SNDBUF: number = C.SO_SNDBUF;
export const SO_TYPE: number = C.SO_TYPE;
export const SO_LINGER: number = C.SO_LINGER;
export const TCP_NODELAY: number = C.TCP_NODELAY;
export const IPV6_V6ONLY: number = C.IPV6_V6ONLY;
export const SOMAXCONN: number = C.SOMAXCONN;
export const AI_PASSIVE: number = C.AI_PASSIVE;
export const AI_CANONNAME: number = C.AI_CANONNAME;
export const AI_NUMERICHOST: number = C.AI_NUMERICHOST;
export const AI_NUMERICSERV: number = C.AI_NUMERICSERV;
export const AI_V4MAPPED: number = C.AI_V4MAPPED;
export const AI_ALL: number = C.AI_ALL;
export const AI_ADDRCONFIG: number = C.AI_ADDRCONFIG;
export const NI_NUMERICHOST: number = C.NI_NUMERICHOST;
export const NI_NUMERICSERV: number = C.NI_NUMERICSERV;
export const NI_NAMEREQD: number = C.NI_NAMEREQD;
export const NI_DGRAM: number = C.NI_DGRAM;
export const NI_NOFQDN: number = C.NI_NOFQDN;
export const NI_MAXHOST: number = C.NI_MAXHOST;
export const NI_MAXSERV: number = C.NI_MAXSERV;
export const SHUT_RD: number = C.SHUT_RD;
export const SHUT_WR: number = C.SHUT_WR;
export const SHUT_RDWR: number = C.SHUT_RDWR;
export const MSG_PEEK: number = C.MSG_PEEK;
export const MSG_DONTWAIT: number = C.MSG_DONTWAIT;
export const MSG_OOB: number = C.MSG_OOB;
export const MSG_WAITALL: number = C.MSG_WAITALL;
export const EAI_ADDRFAMILY: number | undefined = C.EAI_ADDRFAMILY;
export const EAI_AGAIN: number = C.EAI_AGAIN;
export const EAI_BADFLAGS: number = C.EAI_BADFLAGS;
export const EAI_FAIL: number = C.EAI_FAIL;
export const EAI_FAMILY: number = C.EAI_FAMILY;
export const EAI_MEMORY: number = C.EAI_MEMORY;
export const EAI_NODATA: number | undefined = C.EAI_NODATA;
export const EAI_NONAME: number = C.EAI_NONAME;
export const EAI_SERVICE: number = C.EAI_SERVICE;
export const EAI_SOCKTYPE: number = C.EAI_SOCKTYPE;
export const EAI_SYSTEM: number = C.EAI_SYSTEM;
export const EAI_OVERFLOW: number | undefined = C.EAI_OVERFLOW;

/** Names for toString(), by value (the first name wins where two share a value). */
function names(keys: readonly string[]): Map<number, string> {
  const m = new Map<number, string>();
  for (const k of keys) {
    const v = C[k];
    if (v !== undefined && !m.has(v)) m.set(v, k);
  }
  return m;
}
const family_names = names(['AF_INET', 'AF_INET6', 'AF_UNIX', 'AF_UNSPEC']);
const type_names = names(['SOCK_STREAM', 'SOCK_DGRAM', 'SOCK_RAW', 'SOCK_SEQPACKET']);

// ---- helpers ----

/** One scratch buffer per thread for recv/recvfrom: the kernel writes here, then exactly the bytes read
 * are copied into a fresh Buffer (so a 64 KiB recv of 10 bytes does not pin 64 KiB). */
const SCRATCH_SIZE = 256 * 1024;
let scratch: Buffer | null = null;
function scratch_for(n: number): Buffer {
  if (n > SCRATCH_SIZE) return Buffer.allocUnsafe(n);
  return (scratch ??= Buffer.allocUnsafe(SCRATCH_SIZE));
}
function exact_copy(buf: Buffer, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  buf.copy(out, 0, 0, n);
  return out;
}

/** Data arguments: any Uint8Array (Buffer is one) or other ArrayBufferView, as bytes. */
function as_bytes(data: unknown, what: string): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === 'string') {
    throw new TypeError(`${what}: data must be bytes (a Uint8Array or Buffer), not a string; encode it first, e.g. Buffer.from(s)`);
  }
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`${what}: data must be bytes (a Uint8Array or Buffer), not ${type_name(data)}`);
}

function size_arg(n: unknown, what: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError(`${what} must be an integer, not ${type_name(n)}`);
  if (n < 0) throw new RangeError(`negative ${what}`);
  return n;
}

/** A failed name resolution: gaierror with the EAI_* code (its message names the host), except
 * EAI_SYSTEM, which carries a real errno and becomes that OSError. */
function gai_failure(host: string, e: GaiError): OSError {
  if (e.error === EAI_SYSTEM && e.errno > 0) return os_error(e.errno, host);
  return new gaierror(e.error, `[Errno ${e.error}] ${binding.gai_strerror(e.error)}: ${host}`);
}

/** For toString(): ['127.0.0.1', 8080], '/path'. */
function format_addr(a: SockAddr): string {
  const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\0/g, '\\x00')}'`;
  if (typeof a === 'string') return q(a);
  return `[${a.map((x) => (typeof x === 'string' ? q(x) : String(x))).join(', ')}]`;
}

// ---- Socket ----

/**
 * Python's `socket.socket`: a non-blocking socket fd with methods named and behaving as Python's.
 *
 * Addresses are arrays: `[host, port]`, IPv6 `[host, port, flowinfo, scope_id]` (the last two optional
 * on input), AF_UNIX a path string. Results are Buffers; data arguments are Uint8Arrays.
 */
export class Socket {
  /** The address family (AF_INET, ...). */
  readonly family: number;
  /** The socket type (SOCK_STREAM, ...). */
  readonly type: number;
  readonly proto: number;
  private _fd: number;
  private _blocking = false;

  /**
   * A new socket, or with `fileno` a Socket over an existing socket fd (which it then owns). When
   * wrapping, family/type/proto left undefined are read from the fd, and the fd is made non-blocking
   * (O_NONBLOCK belongs to the open file, so other copies of the fd see it too).
   */
  constructor(family?: number, type?: number, proto?: number, fileno?: number | null) {
    if (fileno === undefined || fileno === null) {
      this.family = family ?? AF_INET;
      this.type = type ?? SOCK_STREAM;
      this.proto = proto ?? 0;
      this._fd = check(binding.socket(this.family, this.type, this.proto));
      return;
    }
    // getsocktype also proves that fileno is a socket (ENOTSOCK otherwise).
    const detected_type = check(binding.getsocktype(fileno));
    this.family = family ?? check(binding.getsockfamily(fileno));
    this.type = type ?? detected_type;
    if (proto === undefined) {
      const r = C.SO_PROTOCOL === undefined ? -1 : (binding.getsockopt(fileno, C.SOL_SOCKET, C.SO_PROTOCOL) as number);
      proto = r >= 0 ? r : 0;
    }
    this.proto = proto;
    check(binding.set_nonblocking(fileno, true));
    this._fd = fileno;
  }

  /** The fd; throws OSError EBADF when closed. */
  private _live(): number {
    if (this._fd < 0) throw os_error(E.EBADF);
    return this._fd;
  }

  /** Makes an inet address numeric: a host name (or an address of the other family) is resolved with a
   * blocking getaddrinfo, as Python does; the first result of this socket's family is used. */
  private _address(addr: SockAddr): SockAddr {
    const fam = this.family;
    if (fam !== AF_INET && fam !== AF_INET6) return addr;
    const name = family_names.get(fam);
    if (!Array.isArray(addr)) {
      throw new TypeError(`${name} address must be an array [host, port${fam === AF_INET6 ? ', flowinfo, scope_id' : ''}], not ${type_name(addr)}`);
    }
    const host = addr[0];
    if (typeof host !== 'string') throw new TypeError(`${name} address: host must be a string, not ${type_name(host)}`);
    if (host === '') return addr;
    if (host === '<broadcast>') {
      if (fam === AF_INET) return addr;
      throw new OSError(null, `address family mismatched: '<broadcast>' is an ${family_names.get(AF_INET)} address`);
    }
    const kind = isIP(host);
    if ((kind === 4 && fam === AF_INET) || (kind === 6 && fam === AF_INET6)) return addr;
    const res = binding.getaddrinfo(host, null, fam, this.type, 0, 0);
    if (!Array.isArray(res)) throw gai_failure(host, res);
    const hit = res.find((ai) => ai[0] === fam);
    if (hit === undefined) throw gai_failure(host, { error: EAI_ADDRFAMILY ?? EAI_FAMILY, errno: 0 });
    const resolved = hit[4][0];
    if (fam === AF_INET) return [resolved, addr[1]];
    // Like Python: flowinfo and scope_id come from the caller's address, not from the resolver.
    return [resolved, addr[1], addr[2] ?? 0, addr[3] ?? 0] as InetAddress;
  }

  // ---- state ----

  /** The fd, or -1 once closed or detached. */
  fileno(): number {
    return this._fd;
  }

  /** Python's setblocking: true makes every call wait in the kernel (blocking the thread). */
  setblocking(flag: boolean): void {
    check(binding.set_nonblocking(this._live(), !flag));
    this._blocking = !!flag;
  }

  getblocking(): boolean {
    this._live();
    return this._blocking;
  }

  /** Only `null` (blocking) and `0` (non-blocking): a timeout belongs to the event loop (wait_for). */
  settimeout(value: number | null): void {
    if (value === null) this.setblocking(true);
    else if (value === 0) this.setblocking(false);
    else {
      throw new RangeError(
        `settimeout(${String(value)}): only null (blocking) and 0 (non-blocking) are supported; ` +
          'for a timeout, use the event loop (e.g. wait_for around sock_recv)',
      );
    }
  }

  /** null when blocking, 0 when not. */
  gettimeout(): number | null {
    return this.getblocking() ? null : 0;
  }

  /** Closes the fd; idempotent. fileno() is -1 afterwards. ECONNRESET from close is ignored (as Python). */
  close(): void {
    const fd = this._fd;
    if (fd < 0) return;
    this._fd = -1;
    const r = binding.close(fd);
    if (r < 0 && -r !== E.ECONNRESET) throw os_error(-r);
  }

  /** Gives up the fd without closing it: → the fd; the socket is closed afterwards. */
  detach(): number {
    const fd = this._fd;
    this._fd = -1;
    return fd;
  }

  /** A new Socket over a dup of this fd, in the same blocking mode. */
  dup(): Socket {
    const fd = check(binding.dup(this._live()));
    let s: Socket;
    try {
      s = new Socket(this.family, this.type, this.proto, fd);
    } catch (e) {
      binding.close(fd);
      throw e;
    }
    // The dup shares O_NONBLOCK with this fd; the constructor cleared it, so restore the mode for both.
    s.setblocking(this._blocking);
    return s;
  }

  // ---- connection setup ----

  bind(addr: SockAddr): void {
    const fd = this._live();
    check(binding.bind(fd, this.family, this._address(addr)));
  }

  listen(backlog = 128): void {
    check(binding.listen(this._live(), Math.max(0, backlog)));
  }

  /** → [new socket, peer address]. The new socket has this socket's blocking mode. Non-blocking with no
   * pending connection: BlockingIOError. */
  accept(): [Socket, SockAddr] {
    const fd = this._live();
    let r: [number, SockAddr | null] | number;
    do r = binding.accept(fd);
    while (r === -E.EINTR);
    if (typeof r === 'number') throw os_error(-r);
    const [nfd, peer] = r;
    let s: Socket;
    try {
      s = new Socket(this.family, this.type, this.proto, nfd);
      if (this._blocking) s.setblocking(true);
    } catch (e) {
      binding.close(nfd);
      throw e;
    }
    return [s, peer ?? ''];
  }

  /** Non-blocking: throws BlockingIOError EINPROGRESS while the connection is under way (as Python);
   * wait for writability, then read SO_ERROR. Failures: ConnectionRefusedError, ... */
  connect(addr: SockAddr): void {
    const e = this._connect(addr);
    if (e !== 0) throw os_error(e);
  }

  /** Like connect, but → 0 or the errno (EINPROGRESS included) instead of throwing. Bad addresses and
   * failed name resolution still throw. */
  connect_ex(addr: SockAddr): number {
    return this._connect(addr);
  }

  private _connect(addr: SockAddr): number {
    const fd = this._live();
    const r = binding.connect(fd, this.family, this._address(addr));
    if (r === 0) return 0;
    if (r === -E.EINTR && this._blocking) return this._finish_connect(fd);
    return -r;
  }

  /** A blocking connect interrupted by a signal goes on in the kernel: wait for it (PEP 475). */
  private _finish_connect(fd: number): number {
    const fds = new Int32Array([fd, C.POLLOUT]);
    const out = new Int32Array(2);
    for (;;) {
      const n = binding.poll(fds, 1, out, -1);
      if (n === -E.EINTR) continue;
      if (n < 0) return -n;
      break;
    }
    return check(binding.getsockopt(fd, SOL_SOCKET, SO_ERROR));
  }

  shutdown(how: number): void {
    check(binding.shutdown(this._live(), how));
  }

  getsockname(): SockAddr | null {
    const r = binding.getsockname(this._live());
    if (typeof r === 'number') throw os_error(-r);
    return r;
  }

  /** OSError ENOTCONN when not connected. */
  getpeername(): SockAddr | null {
    const r = binding.getpeername(this._live());
    if (typeof r === 'number') throw os_error(-r);
    return r;
  }

  // ---- data ----

  /** → a fresh Buffer of exactly the bytes read (empty at EOF). Nothing to read on a non-blocking socket:
   * BlockingIOError. */
  recv(bufsize: number, flags = 0): Buffer {
    const fd = this._live();
    size_arg(bufsize, 'buffersize in recv');
    const buf = scratch_for(bufsize);
    let n: number;
    do n = binding.recv(fd, buf, 0, bufsize, flags);
    while (n === -E.EINTR);
    if (n < 0) throw os_error(-n);
    return buf.length === n && buf !== scratch ? buf : exact_copy(buf, n);
  }

  /** Reads into buffer[0, nbytes) (nbytes 0: the whole buffer). → bytes read. */
  recv_into(buffer: Uint8Array, nbytes = 0, flags = 0): number {
    const fd = this._live();
    const view = as_bytes(buffer, 'recv_into');
    const n = this._into_size(view, nbytes, 'recv_into');
    let r: number;
    do r = binding.recv(fd, view, 0, n, flags);
    while (r === -E.EINTR);
    return check(r);
  }

  private _into_size(view: Uint8Array, nbytes: number, what: string): number {
    size_arg(nbytes, `buffersize in ${what}`);
    if (nbytes > view.length) throw new RangeError(`${what}: buffer too small for requested bytes (${nbytes} > ${view.length})`);
    return nbytes === 0 ? view.length : nbytes;
  }

  /** → bytes sent (maybe fewer than given). Would block: BlockingIOError; closed peer: BrokenPipeError. */
  send(data: Uint8Array, flags = 0): number {
    const fd = this._live();
    const view = as_bytes(data, 'send');
    let r: number;
    do r = binding.send(fd, view, 0, view.length, flags);
    while (r === -E.EINTR);
    return check(r);
  }

  /**
   * Sends all of data, calling send until done. On a blocking socket that means waiting; on a
   * non-blocking one, when the kernel's buffer fills, it throws BlockingIOError after partial progress:
   * some bytes may already be sent, and the error's `characters_written` says how many (as Python's
   * BlockingIOError). The event loop's sock_sendall / transports are the non-blocking way.
   */
  sendall(data: Uint8Array, flags = 0): void {
    const fd = this._live();
    const view = as_bytes(data, 'sendall');
    let sent = 0;
    do {
      const r = binding.send(fd, view, sent, view.length - sent, flags);
      if (r === -E.EINTR) continue;
      if (r < 0) {
        const err = os_error(-r);
        if (err instanceof BlockingIOError) Object.assign(err, { characters_written: sent });
        throw err;
      }
      sent += r;
    } while (sent < view.length);
  }

  /** sendto(data, addr) or sendto(data, flags, addr). → bytes sent. */
  sendto(data: Uint8Array, addr: SockAddr): number;
  sendto(data: Uint8Array, flags: number, addr: SockAddr): number;
  sendto(data: Uint8Array, flags_or_addr: number | SockAddr, maybe_addr?: SockAddr): number {
    let flags = 0;
    let addr: SockAddr;
    if (typeof flags_or_addr === 'number') {
      if (maybe_addr === undefined) throw new TypeError('sendto(data, flags, addr): the address is missing');
      flags = flags_or_addr;
      addr = maybe_addr;
    } else {
      addr = flags_or_addr;
    }
    const fd = this._live();
    const view = as_bytes(data, 'sendto');
    const target = this._address(addr);
    let r: number;
    do r = binding.sendto(fd, view, 0, view.length, flags, this.family, target);
    while (r === -E.EINTR);
    return check(r);
  }

  /** → [a fresh Buffer of the bytes read, the sender's address (null when unnamed)]. */
  recvfrom(bufsize: number, flags = 0): [Buffer, SockAddr | null] {
    const fd = this._live();
    size_arg(bufsize, 'buffersize in recvfrom');
    const buf = scratch_for(bufsize);
    let r: [number, SockAddr | null] | number;
    do r = binding.recvfrom(fd, buf, 0, bufsize, flags);
    while (r === -E.EINTR);
    if (typeof r === 'number') throw os_error(-r);
    const n = r[0];
    return [buf.length === n && buf !== scratch ? buf : exact_copy(buf, n), r[1]];
  }

  /** recvfrom into buffer[0, nbytes) (nbytes 0: the whole buffer). → [bytes read, sender]. */
  recvfrom_into(buffer: Uint8Array, nbytes = 0, flags = 0): [number, SockAddr | null] {
    const fd = this._live();
    const view = as_bytes(buffer, 'recvfrom_into');
    const n = this._into_size(view, nbytes, 'recvfrom_into');
    let r: [number, SockAddr | null] | number;
    do r = binding.recvfrom(fd, view, 0, n, flags);
    while (r === -E.EINTR);
    if (typeof r === 'number') throw os_error(-r);
    return r;
  }

  // ---- options ----

  /** value: a number (a C int; booleans as 1/0) or bytes (e.g. a struct linger). */
  setsockopt(level: number, optname: number, value: number | boolean | Uint8Array): void {
    const fd = this._live();
    let v: number | Uint8Array;
    if (typeof value === 'boolean') v = value ? 1 : 0;
    else if (typeof value === 'number' || value instanceof Uint8Array) v = value;
    else v = as_bytes(value, 'setsockopt');
    check(binding.setsockopt(fd, level, optname, v));
  }

  /** Without buflen: the option as an int. With buflen (1..1024): a Buffer of what the kernel returned. */
  getsockopt(level: number, optname: number): number;
  getsockopt(level: number, optname: number, buflen: number): Buffer;
  getsockopt(level: number, optname: number, buflen?: number): number | Buffer {
    const fd = this._live();
    if (buflen === undefined) return check(binding.getsockopt(fd, level, optname));
    const r = binding.getsockopt(fd, level, optname, buflen);
    if (typeof r === 'number') throw os_error(-r);
    return r;
  }

  // ---- display ----

  /** Like Python's repr: `<Socket fd=5, family=AF_INET, type=SOCK_STREAM, proto=0, laddr=['127.0.0.1', 8080]>`. */
  toString(): string {
    const closed = this._fd < 0;
    let s =
      `<Socket${closed ? ' [closed]' : ''} fd=${this._fd}, family=${family_names.get(this.family) ?? this.family}, ` +
      `type=${type_names.get(this.type) ?? this.type}, proto=${this.proto}`;
    if (!closed) {
      for (const [label, get] of [['laddr', (fd: number) => binding.getsockname(fd)], ['raddr', (fd: number) => binding.getpeername(fd)]] as const) {
        const a = get(this._fd);
        if (a !== null && typeof a !== 'number' && a !== '') s += `, ${label}=${format_addr(a)}`;
      }
    }
    return s + '>';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

// ---- module functions ----

/** A connected pair of sockets (AF_UNIX by default). */
export function socketpair(family = AF_UNIX, type = SOCK_STREAM, proto = 0): [Socket, Socket] {
  const r = binding.socketpair(family, type, proto);
  if (typeof r === 'number') throw os_error(-r);
  try {
    return [new Socket(family, type, proto, r[0]), new Socket(family, type, proto, r[1])];
  } catch (e) {
    binding.close(r[0]);
    binding.close(r[1]);
    throw e;
  }
}

/** Python's socket.fromfd: a Socket over a dup of fd (the caller keeps fd). */
export function fromfd(fd: number, family?: number, type?: number, proto?: number): Socket {
  const nfd = check(binding.dup(fd));
  try {
    return new Socket(family, type, proto, nfd);
  } catch (e) {
    binding.close(nfd);
    throw e;
  }
}

function probe_ipv6(): boolean {
  const fd = binding.socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  try {
    return binding.bind(fd, AF_INET6, ['::1', 0]) === 0;
  } catch {
    return false;
  } finally {
    binding.close(fd);
  }
}

/** Whether IPv6 works here: an AF_INET6 socket can be created and bound to ::1. Checked once, when this
 * module loads (an ES module cannot export a lazily computed value; the check is two system calls). */
export const has_ipv6: boolean = probe_ipv6();
