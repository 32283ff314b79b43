/**
 * binding: loads the native addon (`tulip_native`, sources in src/native/) and gives it a type.
 *
 * This module is the only place that knows how the addon is found: node-gyp-build looks in
 * `prebuilds/` and `build/Release` under the package root. The root is found by walking up from this
 * file to the first directory holding `binding.gyp`, because this file runs both from `src/` (tsx) and
 * compiled from `dist/src/`.
 *
 * Conventions of the native API (see src/native/util.h):
 * - Bad arguments THROW: `TypeError` for the wrong kind of value, `RangeError` for a value out of its
 *   domain (negative fd, fd >= FD_SETSIZE for select, a span outside its buffer, a port > 65535).
 * - Failed system calls RETURN a negative errno (`-errno_codes.EAGAIN`, ...): on a non-blocking fd
 *   EAGAIN and EINPROGRESS are normal, so they must be cheap. `-EINTR` is returned to the caller to
 *   retry, except where a function says otherwise.
 * - Every fd the addon creates is non-blocking and close-on-exec.
 * - Hot paths (epoll_wait, poll, select, kevent, recv, send, writev) allocate nothing but the number
 *   they return; results land in caller-owned typed arrays.
 *
 * This module must never do anything but load and type the addon: no wrappers, no policy.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An IPv4 address `[host, port]` or an IPv6 address `[host, port, flowinfo, scope_id]`.
 * Hosts are numeric literals ('' means any address; '<broadcast>' is INADDR_BROADCAST for IPv4).
 * On input the IPv6 `flowinfo` and `scope_id` may be left out (default 0); on output they are always
 * present. A zone suffix (`'fe80::1%eth0'`) is accepted on input. */
export type InetAddress = [string, number] | [string, number, number, number];

/** A socket address: an inet address, or for AF_UNIX a path string. A Linux abstract name starts with
 * `'\0'`; an unnamed AF_UNIX socket reads back as `''`. */
export type SockAddr = InetAddress | string;

/** A failed getaddrinfo/getnameinfo: `error` is an EAI_* code; `errno` is set when error is EAI_SYSTEM
 * (0 otherwise). */
export interface GaiError {
  error: number;
  errno: number;
}

/** One getaddrinfo result: `[family, type, proto, canonname, addr]`; canonname is '' unless
 * AI_CANONNAME was asked for (and then only on the first entry). */
export type AddrInfo = [family: number, type: number, proto: number, canonname: string, addr: InetAddress];

/** Numeric constants of this platform. Names absent on the platform are absent here (the optional ones
 * below, and any others). */
export interface NativeConstants {
  readonly [name: string]: number | undefined;
  // Selectors
  readonly EPOLLIN?: number;
  readonly EPOLLOUT?: number;
  readonly EPOLLERR?: number;
  readonly EPOLLHUP?: number;
  readonly EPOLLRDHUP?: number;
  readonly EPOLLPRI?: number;
  readonly EPOLLET?: number;
  readonly EPOLLONESHOT?: number;
  readonly EPOLL_CTL_ADD?: number;
  readonly EPOLL_CTL_DEL?: number;
  readonly EPOLL_CTL_MOD?: number;
  readonly EVFILT_READ?: number;
  readonly EVFILT_WRITE?: number;
  readonly EV_ADD?: number;
  readonly EV_DELETE?: number;
  readonly EV_ENABLE?: number;
  readonly EV_DISABLE?: number;
  readonly EV_ONESHOT?: number;
  readonly EV_CLEAR?: number;
  readonly EV_EOF?: number;
  readonly EV_ERROR?: number;
  readonly POLLIN: number;
  readonly POLLOUT: number;
  readonly POLLERR: number;
  readonly POLLHUP: number;
  readonly POLLNVAL: number;
  readonly POLLPRI: number;
  readonly FD_SETSIZE: number;
  /** 1 when the epoll_* functions exist (Linux), else 0. */
  readonly HAVE_EPOLL: number;
  /** 1 when kqueue_create/kevent exist (macOS, BSDs), else 0. */
  readonly HAVE_KQUEUE: number;
  /** 1 when wakeup_create returns one eventfd (both numbers equal), 0 when it returns a pipe. */
  readonly HAVE_EVENTFD: number;
  /** The most buffers one writev call sends (1024); the rest need another call. */
  readonly IOV_MAX: number;
  // zlib (src/native/zlib.c): stream modes, our two result codes, and zlib's own numbers
  readonly ZLIB_DEFLATE: number;
  readonly ZLIB_GZIP: number;
  readonly ZLIB_DEFLATE_RAW: number;
  readonly ZLIB_INFLATE: number;
  readonly ZLIB_GUNZIP: number;
  readonly ZLIB_INFLATE_RAW: number;
  readonly ZLIB_TOO_LARGE: number;
  readonly ZLIB_NEED_DICT: number;
  readonly Z_NO_FLUSH: number;
  readonly Z_PARTIAL_FLUSH: number;
  readonly Z_SYNC_FLUSH: number;
  readonly Z_FULL_FLUSH: number;
  readonly Z_FINISH: number;
  readonly Z_BLOCK: number;
  readonly Z_STREAM_ERROR: number;
  readonly Z_DATA_ERROR: number;
  readonly Z_MEM_ERROR: number;
  readonly Z_BUF_ERROR: number;
  readonly Z_DEFAULT_COMPRESSION: number;
  readonly Z_DEFAULT_STRATEGY: number;
  readonly Z_FILTERED: number;
  readonly Z_HUFFMAN_ONLY: number;
  readonly Z_RLE: number;
  readonly Z_FIXED: number;
  // Sockets
  readonly AF_INET: number;
  readonly AF_INET6: number;
  readonly AF_UNIX: number;
  readonly AF_UNSPEC: number;
  readonly SOCK_STREAM: number;
  readonly SOCK_DGRAM: number;
  readonly SOCK_RAW: number;
  readonly IPPROTO_IP: number;
  readonly IPPROTO_IPV6: number;
  readonly IPPROTO_TCP: number;
  readonly IPPROTO_UDP: number;
  readonly SOMAXCONN: number;
  readonly SOL_SOCKET: number;
  readonly SO_REUSEADDR: number;
  readonly SO_REUSEPORT?: number;
  readonly SO_ERROR: number;
  readonly SO_KEEPALIVE: number;
  readonly SO_BROADCAST: number;
  readonly SO_RCVBUF: number;
  readonly SO_SNDBUF: number;
  readonly SO_TYPE: number;
  readonly SO_LINGER: number;
  readonly SO_RCVLOWAT: number;
  readonly SO_SNDLOWAT: number;
  readonly TCP_NODELAY: number;
  readonly TCP_KEEPIDLE?: number;
  readonly TCP_KEEPINTVL?: number;
  readonly TCP_KEEPCNT?: number;
  readonly IPV6_V6ONLY: number;
  readonly SHUT_RD: number;
  readonly SHUT_WR: number;
  readonly SHUT_RDWR: number;
  readonly MSG_PEEK: number;
  readonly MSG_DONTWAIT: number;
  readonly MSG_NOSIGNAL?: number;
  readonly MSG_OOB: number;
  readonly MSG_WAITALL: number;
  // getaddrinfo / getnameinfo
  readonly AI_PASSIVE: number;
  readonly AI_CANONNAME: number;
  readonly AI_NUMERICHOST: number;
  readonly AI_NUMERICSERV: number;
  readonly AI_V4MAPPED: number;
  readonly AI_ALL: number;
  readonly AI_ADDRCONFIG: number;
  readonly NI_NUMERICHOST: number;
  readonly NI_NUMERICSERV: number;
  readonly NI_NAMEREQD: number;
  readonly NI_DGRAM: number;
  readonly NI_NOFQDN: number;
  readonly NI_MAXHOST: number;
  readonly NI_MAXSERV: number;
  readonly EAI_ADDRFAMILY?: number;
  readonly EAI_AGAIN: number;
  readonly EAI_BADFLAGS: number;
  readonly EAI_FAIL: number;
  readonly EAI_FAMILY: number;
  readonly EAI_MEMORY: number;
  readonly EAI_NODATA?: number;
  readonly EAI_NONAME: number;
  readonly EAI_SERVICE: number;
  readonly EAI_SOCKTYPE: number;
  readonly EAI_SYSTEM: number;
  readonly EAI_OVERFLOW?: number;
}

/** errno names of this platform -> numbers. The ones every supported platform has are typed as
 * present; look others up with `errno_codes['ENOTSUP'] ?? ...`. */
export interface ErrnoCodes {
  readonly [name: string]: number | undefined;
  readonly EPERM: number;
  readonly ENOENT: number;
  readonly ESRCH: number;
  readonly EINTR: number;
  readonly EIO: number;
  readonly EBADF: number;
  readonly ECHILD: number;
  readonly EAGAIN: number;
  readonly EWOULDBLOCK: number;
  readonly ENOMEM: number;
  readonly EACCES: number;
  readonly EFAULT: number;
  readonly EEXIST: number;
  readonly ENOTDIR: number;
  readonly EISDIR: number;
  readonly EINVAL: number;
  readonly ENFILE: number;
  readonly EMFILE: number;
  readonly ENOSPC: number;
  readonly ESPIPE: number;
  readonly EROFS: number;
  readonly EPIPE: number;
  readonly ERANGE: number;
  readonly ENOSYS: number;
  readonly EINPROGRESS: number;
  readonly EALREADY: number;
  readonly ENOTSOCK: number;
  readonly EDESTADDRREQ: number;
  readonly EMSGSIZE: number;
  readonly EPROTOTYPE: number;
  readonly ENOPROTOOPT: number;
  readonly EPROTONOSUPPORT: number;
  readonly EOPNOTSUPP: number;
  readonly EAFNOSUPPORT: number;
  readonly EADDRINUSE: number;
  readonly EADDRNOTAVAIL: number;
  readonly ENETDOWN: number;
  readonly ENETUNREACH: number;
  readonly ECONNABORTED: number;
  readonly ECONNRESET: number;
  readonly ENOBUFS: number;
  readonly EISCONN: number;
  readonly ENOTCONN: number;
  readonly ESHUTDOWN: number;
  readonly ETIMEDOUT: number;
  readonly ECONNREFUSED: number;
  readonly EHOSTDOWN: number;
  readonly EHOSTUNREACH: number;
}

/** An opaque watcher of the hosted mode (src/native/host.c). */
export type HostHandle = { readonly __host: unique symbol };

/** The addon's functions. "→ n | -errno" means: a non-negative result, or a negative errno. */
export interface NativeBinding {
  readonly constants: NativeConstants;
  readonly errno_codes: ErrnoCodes;
  /** The message for an errno value (positive). Thread-safe. */
  strerror(errno: number): string;
  /** The message for an EAI_* code. */
  gai_strerror(code: number): string;
  /** The hosted mode (src/hosted.ts): Node's loop calls `callback()` whenever `fd` is readable, until
   * host_unwatch. → a handle | -errno (libuv refused the fd). */
  host_watch(fd: number, callback: () => void): HostHandle | number;
  host_unwatch(handle: HostHandle): void;
  /** glibc's malloc: keep up to `trim_threshold` bytes of freed heap top instead of returning them to the
   * kernel, and serve blocks below `mmap_threshold` from the heap. → false where malloc is not glibc's.
   * Process-wide (see ReadSlab in selector_transports.ts for why). */
  malloc_retain(trim_threshold: number, mmap_threshold: number): boolean;

  // ---- fds ----
  /** → 0 | -errno. Never retried on EINTR, and EINTR reports 0: the fd is released either way, and a
   * retry could close a number another thread has just reused. */
  close(fd: number): number;
  /** A non-blocking, close-on-exec pipe: → [readfd, writefd] | -errno. */
  pipe(): [number, number] | number;
  /** Reads into buf[offset, offset+length): → bytes read (0 = EOF) | -errno. */
  read(fd: number, buf: Uint8Array, offset: number, length: number): number;
  /** Writes buf[offset, offset+length): → bytes written | -errno. */
  write(fd: number, buf: Uint8Array, offset: number, length: number): number;
  /** → 0 | -errno. */
  set_nonblocking(fd: number, flag: boolean): number;
  /** → 0 | -errno. */
  set_cloexec(fd: number): number;
  /** The loop's wake-up channel: → [readfd, writefd] | -errno. On Linux one eventfd (both numbers the
   * same: close it once); elsewhere a pipe. */
  wakeup_create(): [number, number] | number;
  /** Makes readfd readable; safe from any thread. A full channel counts as success. → 0 | -errno. */
  wakeup_signal(writefd: number): number;
  /** Consumes every pending wake-up. → 0 | -errno. */
  wakeup_drain(readfd: number): number;
  /** A close-on-exec copy of fd (lowest free number): → newfd | -errno. */
  dup(fd: number): number;
  /** A close-on-exec copy of fd at exactly `target` (closing what was there): → target | -errno. */
  dup2(fd: number, target: number): number;
  /** Whether fd is an open descriptor (for leak checks in tests). */
  fd_is_open(fd: number): boolean;

  // ---- selectors ----
  /** Linux. → epfd | -errno. */
  epoll_create?(): number;
  /** Linux. op is EPOLL_CTL_*; events an EPOLL* mask (signed or unsigned 32-bit). → 0 | -errno. */
  epoll_ctl?(epfd: number, op: number, fd: number, events: number): number;
  /** Linux. Waits for at most floor(out.length / 2) events and writes pairs out[2i] = fd,
   * out[2i+1] = events. timeout_ms: -1 blocks, otherwise >= 0 (fractions round up).
   * → number of pairs | -errno (-EINTR: recompute the timeout and wait again). */
  epoll_wait?(epfd: number, out: Int32Array, timeout_ms: number): number;
  /** fds holds nfds pairs [fd, events (POLL* mask)]. Writes [fd, revents] for each ready entry into
   * out (at most floor(out.length / 2); the rest are reported by the next call).
   * → number of pairs | -errno. */
  poll(fds: Int32Array, nfds: number, out: Int32Array, timeout_ms: number): number;
  /** Watches rfds[0..nr) for reading and wfds[0..nw) for writing (every fd < FD_SETSIZE, else
   * RangeError). Writes one [fd, mask] pair per ready fd (mask 1 = readable, 2 = writable, 3 = both);
   * out must hold 2 * (nr + nw) ints. → number of pairs | -errno. */
  select(rfds: Int32Array, nr: number, wfds: Int32Array, nw: number, out: Int32Array, timeout_ms: number): number;
  /** macOS/BSD. → kq | -errno. */
  kqueue_create?(): number;
  /** macOS/BSD. Applies nchanges triples [fd, filter, flags] from changes, then waits; writes triples
   * [fd, filter, flags] into out (at most floor(out.length / 3)). → number of triples | -errno. */
  kevent?(kq: number, changes: Int32Array, nchanges: number, out: Int32Array, timeout_ms: number): number;

  // ---- sockets ----
  /** → fd | -errno (non-blocking, close-on-exec). */
  socket(family: number, type: number, proto: number): number;
  /** → [fd, fd] | -errno. */
  socketpair(family: number, type: number, proto: number): [number, number] | number;
  /** → 0 | -errno (-EAFNOSUPPORT for a family this binding cannot encode). */
  bind(fd: number, family: number, addr: SockAddr): number;
  /** → 0 | -errno; -EINPROGRESS is the normal answer: wait for writability, then read SO_ERROR. */
  connect(fd: number, family: number, addr: SockAddr): number;
  /** → 0 | -errno. */
  listen(fd: number, backlog: number): number;
  /** → [newfd, peer address] | -errno; the new fd is non-blocking and close-on-exec. The address is
   * null only for a family this binding does not decode. */
  accept(fd: number): [number, SockAddr | null] | number;
  /** Into buf[offset, offset+length); left out, offset is 0, length the rest of buf and flags 0 (each
   * argument passed costs a conversion, and the transports call this per message). → bytes received
   * (0 = EOF) | -errno. */
  recv(fd: number, buf: Uint8Array, offset?: number, length?: number, flags?: number): number;
  /** From buf[offset, offset+length), defaults as for recv; always with MSG_NOSIGNAL (a closed peer gives
   * -EPIPE, not SIGPIPE). → bytes sent | -errno. */
  send(fd: number, buf: Uint8Array, offset?: number, length?: number, flags?: number): number;
  /** Sends bufs[0..count) in one call (bufs[0] from first_offset), at most IOV_MAX buffers (the rest
   * are left for the next call). sendmsg(MSG_NOSIGNAL) on sockets, writev(2) on other fds.
   * → bytes written | -errno. */
  writev(fd: number, bufs: readonly Uint8Array[], count: number, first_offset: number): number;
  /** → bytes sent | -errno. */
  sendto(fd: number, buf: Uint8Array, offset: number, length: number, flags: number, family: number, addr: SockAddr): number;
  /** → [bytes, sender] | -errno; the sender is null when the peer is unnamed (e.g. a socketpair). */
  recvfrom(fd: number, buf: Uint8Array, offset: number, length: number, flags: number): [number, SockAddr | null] | number;
  /** how is SHUT_RD / SHUT_WR / SHUT_RDWR. → 0 | -errno. */
  shutdown(fd: number, how: number): number;
  /** → the local address | -errno (null only for a family this binding does not decode). */
  getsockname(fd: number): SockAddr | null | number;
  /** → the peer address | -errno (-ENOTCONN when not connected). */
  getpeername(fd: number): SockAddr | null | number;
  /** → the socket's address family | -errno (-ENOTSOCK for a non-socket). */
  getsockfamily(fd: number): number;
  /** → SO_TYPE (SOCK_STREAM, SOCK_DGRAM, ...) | -errno. */
  getsocktype(fd: number): number;
  /** A number is passed as a C int; bytes as they are (e.g. a struct linger). → 0 | -errno. */
  setsockopt(fd: number, level: number, optname: number, value: number | Uint8Array): number;
  /** Without buflen: → the option as a C int | -errno. */
  getsockopt(fd: number, level: number, optname: number): number;
  /** With buflen (1..1024): → a Buffer of the size the kernel returned | -errno. */
  getsockopt(fd: number, level: number, optname: number, buflen: number): Buffer | number;

  // ---- name resolution (blocking: call from a worker thread) ----
  /** host null/port null as in C. Only AF_INET/AF_INET6 results are returned.
   * → entries | {error, errno}. */
  getaddrinfo(
    host: string | null,
    port: string | number | null,
    family: number,
    type: number,
    proto: number,
    flags: number,
  ): AddrInfo[] | GaiError;
  /** → [host, service] | {error, errno}. */
  getnameinfo(family: number, addr: InetAddress, flags: number): [string, string] | GaiError;

  // ---- signals (process-wide state: main thread only; see src/native/signals.c) ----
  /** Signal numbers of this platform (SIGINT, SIGTERM, ...), and NSIG (one more than the largest). */
  readonly signals: SignalNumbers;
  /** Points `sig` at `writefd` (its number is written there as one byte when it arrives) and, the first
   * time, installs the handler, saving the previous sigaction. → 0 | -errno (-EINVAL for SIGKILL and
   * SIGSTOP). sig outside [1, NSIG) is a RangeError. */
  signal_install(sig: number, writefd: number): number;
  /** Puts back the sigaction saved by signal_install. → 1 restored | 0 nothing was installed | -errno. */
  signal_restore(sig: number): number;
  /** What handles `sig` now (for tests): SIG_DFL, SIG_IGN, our handler, or anything else. */
  signal_get_handler_kind(sig: number): 'default' | 'ignore' | 'tulip' | 'other' | number;
  /** kill(getpid(), sig): → 0 | -errno. */
  raise_signal(sig: number): number;

  // ---- processes (src/native/process.c) ----
  /** posix_spawn(p) `file` with `argv` (argv[0] included; non-empty), `envp` ('K=V' strings; null:
   * this process's environment), in `cwd` (null: ours). stdio [in, out, err]: an fd to give the child,
   * -1 inherit, -2 /dev/null, -3 (stderr only) the child's stdout. `search_path`: look `file` up in
   * PATH (this process's PATH) when it has no slash. → [pid, pidfd] | -errno; an exec failure is
   * -errno too (-ENOENT for a missing program) and leaves no zombie. pidfd is -errno when pidfd_open
   * failed (-ENOSYS before Linux 5.3): the child runs anyway. `pass_fds`: fds (each >= 3, at most 64)
   * the child keeps open under the same numbers; one that is not open fails the spawn with -EBADF. */
  spawn(file: string, argv: readonly string[], envp: readonly string[] | null, cwd: string | null, stdio: readonly [number, number, number], search_path: boolean, pass_fds?: readonly number[]): [number, number] | number;
  /** → an fd (close-on-exec) that polls readable once `pid` has exited | -errno. */
  pidfd_open(pid: number): number;
  /** waitpid(pid, WNOHANG), reaping only that pid: → [pid, returncode] once reaped (the exit code, or
   * -N when signal N killed it) | null while it runs | -errno (-ECHILD: not our child, or reaped). */
  waitpid_nohang(pid: number): [number, number] | null | number;
  /** kill(pid, sig), pid > 0, sig 0..127 (0 checks existence). → 0 | -errno. */
  kill(pid: number, sig: number): number;
}

/** Signal numbers (see NativeBinding.signals). */
export interface SignalNumbers {
  readonly [name: string]: number;
  readonly NSIG: number;
  readonly SIGHUP: number;
  readonly SIGINT: number;
  readonly SIGQUIT: number;
  readonly SIGKILL: number;
  readonly SIGUSR1: number;
  readonly SIGUSR2: number;
  readonly SIGPIPE: number;
  readonly SIGALRM: number;
  readonly SIGTERM: number;
  readonly SIGCHLD: number;
  readonly SIGCONT: number;
  readonly SIGSTOP: number;
  readonly SIGTSTP: number;
  readonly SIGWINCH: number;
}

/** An opaque TLS context (SSL_CTX) or connection (SSL over two memory BIOs) of the addon. */
export type TlsContextHandle = { readonly __tls_ctx: unique symbol };
export type TlsConnHandle = { readonly __tls_conn: unique symbol };

/** A TLS failure: [ssl_error (SSL_ERROR_*), library ('SSL', 'PEM', ...) | null, reason text | null,
 * verify_code (X509_V_*, 0 when not a verification failure), verify_message | null, errno, step?]. */
export type TlsError = [number, string | null, string | null, number, string | null, number, string?];

/** The peer certificate as Python's getpeercert() builds it (tuples become arrays). */
export interface PeerCertDict {
  subject: Array<Array<[string, string]>>;
  issuer: Array<Array<[string, string]>>;
  version: number;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  subjectAltName?: Array<[string, string | unknown]>;
}

/** The TLS part of the addon (src/native/tls.c). Progress calls return n >= 0 or -SSL_ERROR_*. */
export interface NativeTls {
  /** method 0: either side, 1: client, 2: server. */
  tls_ctx_new(method: number): TlsContextHandle;
  tls_ctx_free(ctx: TlsContextHandle): void;
  /** mode: 0 CERT_NONE, 1 CERT_OPTIONAL, 2 CERT_REQUIRED. */
  tls_ctx_set_verify(ctx: TlsContextHandle, mode: number): void;
  /** TLS1_2_VERSION-style numbers; 0 means no bound. */
  tls_ctx_set_versions(ctx: TlsContextHandle, min: number, max: number): TlsError | null;
  tls_ctx_load_cert_chain(ctx: TlsContextHandle, certfile: string, keyfile: string, password: Uint8Array | null): TlsError | null;
  tls_ctx_load_verify_locations(ctx: TlsContextHandle, cafile: string | null, capath: string | null, cadata: string | Uint8Array | null): TlsError | null;
  tls_ctx_set_default_verify_paths(ctx: TlsContextHandle): TlsError | null;
  /** [cert_file_env, cert_file, cert_dir_env, cert_dir] of the OpenSSL in this process. */
  tls_default_verify_paths(): [string, string, string, string];
  tls_ctx_set_ciphers(ctx: TlsContextHandle, ciphers: string): TlsError | null;
  /** ALPN protocols in wire format (each name prefixed by its length). */
  tls_ctx_set_alpn(ctx: TlsContextHandle, wire: Uint8Array): TlsError | null;
  /** Throws RangeError for a server_hostname OpenSSL refuses. */
  tls_new(ctx: TlsContextHandle, server: boolean, server_hostname: string | null, check_hostname: boolean): TlsConnHandle;
  tls_free(conn: TlsConnHandle): void;
  /** Ciphertext from the peer: → bytes taken (always all). */
  tls_feed(conn: TlsConnHandle, buf: Uint8Array, offset: number, length: number): number;
  /** The peer closed the stream: reads see EOF from now on. */
  tls_feed_eof(conn: TlsConnHandle): void;
  /** All ciphertext waiting to be sent, or null. */
  tls_take_out(conn: TlsConnHandle): Buffer | null;
  /** → 1 | -SSL_ERROR_*. */
  tls_handshake(conn: TlsConnHandle): number;
  /** → bytes (> 0) | -SSL_ERROR_* (-SSL_ERROR_ZERO_RETURN: the peer's close_notify). */
  tls_read(conn: TlsConnHandle, buf: Uint8Array, offset: number, length: number): number;
  /** → bytes taken | -SSL_ERROR_*. */
  tls_write(conn: TlsConnHandle, buf: Uint8Array, offset: number, length: number): number;
  /** → 1 (both close_notify done) | 0 (ours sent) | -SSL_ERROR_*. */
  tls_shutdown(conn: TlsConnHandle): number;
  /** The details of the last failure of a progress call. */
  tls_error(conn: TlsConnHandle): TlsError;
  /** [version, cipher name, cipher protocol, cipher bits, alpn, servername, verify_result]. */
  tls_info(conn: TlsConnHandle): [string | null, string | null, string | null, number, string | null, string | null, number];
  tls_peer_cert(conn: TlsConnHandle, binary: false): PeerCertDict | null;
  tls_peer_cert(conn: TlsConnHandle, binary: true): Buffer | null;
  /** Whether server handshakes on this context stop (-SSL_ERROR_WANT_CLIENT_HELLO_CB) for an sni_callback. */
  tls_ctx_set_sni(ctx: TlsContextHandle, on: boolean): void;
  /** The SNI name of the ClientHello the handshake stopped at, or null when the client sent none. */
  tls_sni_name(conn: TlsConnHandle): string | null;
  /** The sni_callback answered: 0 goes on, 1..255 refuses with that TLS alert. */
  tls_sni_done(conn: TlsConnHandle, alert: number): void;
  /** Switches the connection to another context (certificate, verification, ALPN). */
  tls_set_ctx(conn: TlsConnHandle, ctx: TlsContextHandle): void;
}

/** An opaque zlib stream of the addon (src/native/zlib.c). */
export type ZlibHandle = { readonly __zlib: unique symbol };

/** The zlib part of the addon (src/native/zlib.c), on the zlib inside the node binary. Modes, flush
 * values and result codes are in `constants` (ZLIB_DEFLATE ... ZLIB_INFLATE_RAW, Z_NO_FLUSH ...
 * Z_BLOCK, Z_DATA_ERROR ..., ZLIB_TOO_LARGE, ZLIB_NEED_DICT). */
export interface NativeZlib {
  /** The version of that zlib ('1.3.1'). */
  readonly zlib_version: string;
  /** mode: ZLIB_DEFLATE, ZLIB_GZIP, ZLIB_DEFLATE_RAW (encoders), ZLIB_INFLATE, ZLIB_GUNZIP,
   * ZLIB_INFLATE_RAW (decoders). level -1..9; window_bits 9..15 for encoders, 8..15 for decoders;
   * mem_level 1..9; strategy 0..4 (Z_DEFAULT_STRATEGY ... Z_FIXED); all checked, the last three
   * ignored by decoders. */
  zlib_new(mode: number, level: number, window_bits: number, mem_level: number, strategy: number): ZlibHandle;
  /** Feeds all of `input` with `flush` (Z_NO_FLUSH ... Z_BLOCK; decoders ignore it) and returns all the
   * output that produced, or a negative code (Z_DATA_ERROR, Z_STREAM_ERROR, Z_MEM_ERROR, ZLIB_TOO_LARGE
   * when the output would pass `max_output` bytes, ZLIB_NEED_DICT) whose message zlib_error() has.
   * Writes state[0] = 1 once the stream has ended (decoders: Z_STREAM_END; encoders: Z_FINISH done),
   * state[1] = how many input bytes of this call came after a decoder's end (ignored; a gunzip stream
   * starts a new member instead when they begin with 0x1f). */
  zlib_process(stream: ZlibHandle, input: Uint8Array, flush: number, max_output: number, state: Float64Array): Buffer | number;
  /** [code, message] of the last failure of zlib_process ([0, ''] when none); works on ended streams. */
  zlib_error(stream: ZlibHandle): [number, string];
  /** Frees zlib's state now; idempotent. Other calls on an ended stream throw. */
  zlib_end(stream: ZlibHandle): void;
}

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('tulip-ts: cannot find the package root (no binding.gyp above ' + fileURLToPath(import.meta.url) + ')');
    dir = up;
  }
}

const require = createRequire(import.meta.url);
const nodeGypBuild = require('node-gyp-build') as (root: string) => unknown;

/** The native addon, loaded once per thread. */
export const binding: NativeBinding & NativeTls & NativeZlib = nodeGypBuild(packageRoot()) as NativeBinding & NativeTls & NativeZlib;
