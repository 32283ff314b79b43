/**
 * Python's `ssl` module names over the addon's TLS engine (src/native/tls.c): `SSLContext` and
 * `create_default_context()`, the `SSLError` family with Python's attributes (`reason`, `library`,
 * `verify_code`, `verify_message`), and `SSLObject`, the per-connection view that
 * `get_extra_info('ssl_object')` returns.
 *
 * What this module is for: configuration and error translation. It never touches a socket and never
 * runs the TLS state machine; src/sslproto.ts does that, over the loop's transports.
 *
 * What it must never do: prompt for a password, block on anything but reading a certificate file (as
 * Python's load_* calls do), or hand a freed native object to the addon (calls after free throw there).
 */
import { existsSync, statSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { binding, type PeerCertDict, type TlsConnHandle, type TlsContextHandle, type TlsError } from './binding.js';
import { OSError, RuntimeError, errno, os_error } from './errors.js';
import { logger } from './log.js';

export const PROTOCOL_TLS = 2;
/** Python's old name for PROTOCOL_TLS. */
export const PROTOCOL_SSLv23 = PROTOCOL_TLS;
export const PROTOCOL_TLS_CLIENT = 16;
export const PROTOCOL_TLS_SERVER = 17;

export const CERT_NONE = 0;
export const CERT_OPTIONAL = 1;
export const CERT_REQUIRED = 2;

export const SSL_ERROR_SSL = 1;
export const SSL_ERROR_WANT_READ = 2;
export const SSL_ERROR_WANT_WRITE = 3;
export const SSL_ERROR_WANT_X509_LOOKUP = 4;
export const SSL_ERROR_SYSCALL = 5;
export const SSL_ERROR_ZERO_RETURN = 6;
export const SSL_ERROR_WANT_CONNECT = 7;
export const SSL_ERROR_EOF = 8;
/** The handshake stopped for the sni_callback (OpenSSL's SSL_ERROR_WANT_CLIENT_HELLO_CB; tls.c checks). */
export const SSL_ERROR_WANT_CLIENT_HELLO_CB = 11;

/** TLS alerts (Python's ssl.AlertDescription) that an sni_callback may return to refuse a handshake. */
export const ALERT_DESCRIPTION_HANDSHAKE_FAILURE = 40;
export const ALERT_DESCRIPTION_BAD_CERTIFICATE = 42;
export const ALERT_DESCRIPTION_ILLEGAL_PARAMETER = 47;
export const ALERT_DESCRIPTION_UNKNOWN_CA = 48;
export const ALERT_DESCRIPTION_ACCESS_DENIED = 49;
export const ALERT_DESCRIPTION_DECODE_ERROR = 50;
export const ALERT_DESCRIPTION_PROTOCOL_VERSION = 70;
export const ALERT_DESCRIPTION_INSUFFICIENT_SECURITY = 71;
export const ALERT_DESCRIPTION_INTERNAL_ERROR = 80;
export const ALERT_DESCRIPTION_USER_CANCELLED = 90;
export const ALERT_DESCRIPTION_UNSUPPORTED_EXTENSION = 110;
export const ALERT_DESCRIPTION_UNRECOGNIZED_NAME = 112;

export const HAS_SNI = true;
export const HAS_ALPN = true;
export const OPENSSL_VERSION = `OpenSSL ${process.versions.openssl} (the copy inside node)`;

/** Python's ssl.TLSVersion values (the wire numbers; the two bounds are Python's sentinels). */
export const TLSVersion = {
  MINIMUM_SUPPORTED: -2,
  MAXIMUM_SUPPORTED: -1,
  TLSv1_2: 0x0303,
  TLSv1_3: 0x0304,
} as const;

/** create_default_context's purpose: SERVER_AUTH makes a client context, CLIENT_AUTH a server one. */
export const Purpose = { SERVER_AUTH: 'SERVER_AUTH', CLIENT_AUTH: 'CLIENT_AUTH' } as const;
export type Purpose = (typeof Purpose)[keyof typeof Purpose];

// ---- errors ------------------------------------------------------------------------------------------------

/** A TLS failure (Python's ssl.SSLError): `errno` is the SSL_ERROR_* code, `reason` OpenSSL's reason as
 * Python spells it ('CERTIFICATE_VERIFY_FAILED'), `library` the OpenSSL library ('SSL', 'PEM', ...). */
export class SSLError extends OSError {
  override name = 'SSLError';
  reason: string | null;
  library: string | null;
  constructor(ssl_errno: number | null, message: string, reason: string | null = null, library: string | null = null) {
    super(null, message);
    // OSError derives strerror from errno's table; an SSL error number is not an errno.
    const self = this as { errno: number | null; code: string | null; strerror: string | null };
    self.errno = ssl_errno;
    self.code = null;
    self.strerror = message;
    this.reason = reason;
    this.library = library;
  }
}
/** The peer sent close_notify. */
export class SSLZeroReturnError extends SSLError {
  override name = 'SSLZeroReturnError';
}
export class SSLWantReadError extends SSLError {
  override name = 'SSLWantReadError';
}
export class SSLWantWriteError extends SSLError {
  override name = 'SSLWantWriteError';
}
export class SSLSyscallError extends SSLError {
  override name = 'SSLSyscallError';
}
/** The stream ended in the middle of the TLS protocol (no close_notify, or mid-handshake). */
export class SSLEOFError extends SSLError {
  override name = 'SSLEOFError';
}
/** The peer's certificate did not verify, or does not match the host name. */
export class SSLCertVerificationError extends SSLError {
  override name = 'SSLCertVerificationError';
  verify_code: number;
  verify_message: string | null;
  constructor(message: string, verify_code: number, verify_message: string | null, reason: string | null, library: string | null) {
    super(SSL_ERROR_SSL, message, reason, library);
    this.verify_code = verify_code;
    this.verify_message = verify_message;
  }
}
/** Python's old name. */
export const CertificateError = SSLCertVerificationError;

const X509_V_ERR_HOSTNAME_MISMATCH = 62;
const X509_V_ERR_IP_ADDRESS_MISMATCH = 64;

/** 'certificate verify failed' → 'CERTIFICATE_VERIFY_FAILED', as Python names OpenSSL's reasons. */
function reason_code(text: string): string {
  return text.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
}

/**
 * The exception for a failure the addon reported. `server_hostname` improves the message of a hostname
 * mismatch (Python: "Hostname mismatch, certificate is not valid for 'example.com'.").
 */
export function ssl_error_from(e: TlsError, server_hostname: string | null = null): SSLError {
  const [ssl_error, library, reason_text, verify_code, verify_message_raw, sys_errno] = e;
  if (reason_text === null) {
    if (ssl_error === SSL_ERROR_SYSCALL && sys_errno > 0) {
      const os = os_error(sys_errno);
      return new SSLSyscallError(SSL_ERROR_SYSCALL, os.message);
    }
    return new SSLEOFError(SSL_ERROR_EOF, 'EOF occurred in violation of protocol');
  }
  const reason = reason_code(reason_text);
  const prefix = `[${library ?? 'SSL'}: ${reason}]`;
  if (verify_code !== 0) {
    let verify_message = verify_message_raw;
    if (verify_code === X509_V_ERR_HOSTNAME_MISMATCH && server_hostname !== null) {
      verify_message = `Hostname mismatch, certificate is not valid for '${server_hostname}'.`;
    } else if (verify_code === X509_V_ERR_IP_ADDRESS_MISMATCH && server_hostname !== null) {
      verify_message = `IP address mismatch, certificate is not valid for '${server_hostname}'.`;
    }
    return new SSLCertVerificationError(`${prefix} ${reason_text}: ${verify_message}`, verify_code, verify_message, reason, library);
  }
  if (reason === 'UNEXPECTED_EOF_WHILE_READING') {
    return new SSLEOFError(SSL_ERROR_EOF, `${prefix} EOF occurred in violation of protocol`, reason, library);
  }
  return new SSLError(ssl_error, `${prefix} ${reason_text}`, reason, library);
}

function check_ctx_result(r: TlsError | null, what: string): void {
  if (r === null) return;
  const e = ssl_error_from(r);
  e.message = `${what}: ${e.message}`;
  throw e;
}

/** FileNotFoundError (or the right OSError) for a path OpenSSL is about to read, as Python reports it. */
function check_readable(path: string, what: string): void {
  if (typeof path !== 'string') throw new TypeError(`${what} must be a path string, got ${typeof path}`);
  try {
    statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'ENOENT';
    throw os_error(errno[code] ?? errno['ENOENT']!, path);
  }
}

/** Python's password argument: a string, bytes, or a function returning one of them. */
export type Password = string | Uint8Array | (() => string | Uint8Array);

function password_bytes(password: Password | null | undefined): Uint8Array | null {
  if (password === undefined || password === null) return null;
  const p = typeof password === 'function' ? password() : password;
  if (typeof p === 'string') return Buffer.from(p, 'utf8');
  if (p instanceof Uint8Array) return p;
  throw new TypeError('password should be a string, bytes or a function returning one of them');
}

/** Well-known CA bundle files, for when the OpenSSL inside node points at a file this system lacks. */
const CA_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Alpine, Arch
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/pki/tls/cacert.pem',
  '/etc/ssl/cert.pem', // macOS, BSDs
];

// ---- SSLContext --------------------------------------------------------------------------------------------

/** Python's ssl.SSLContext: the settings shared by many connections. */
/**
 * Python's `SSLContext.sni_callback`: called on the server side during the handshake, with the connection,
 * the name the client asked for (null when it sent none) and this context. It may switch the connection
 * to another context (`ssl_object.context = other`: its certificate, verification and ALPN); it returns
 * nothing to go on, or an `ALERT_DESCRIPTION_*` to refuse the handshake with that alert.
 */
export type SniCallback = (ssl_object: SSLObject, server_name: string | null, context: SSLContext) => number | null | undefined | void;

export class SSLContext {
  readonly protocol: number;
  /** @internal */
  readonly _handle: TlsContextHandle;
  private _verify_mode: number;
  private _check_hostname: boolean;
  private _minimum_version: number = TLSVersion.TLSv1_2;
  private _maximum_version: number = TLSVersion.MAXIMUM_SUPPORTED;
  /** @internal the ALPN list, for reporting */
  _alpn: string[] = [];
  private _sni_callback: SniCallback | null = null;

  constructor(protocol: number = PROTOCOL_TLS) {
    if (protocol !== PROTOCOL_TLS && protocol !== PROTOCOL_TLS_CLIENT && protocol !== PROTOCOL_TLS_SERVER) {
      throw new RangeError(`invalid or unsupported protocol version ${protocol}: use PROTOCOL_TLS_CLIENT, PROTOCOL_TLS_SERVER or PROTOCOL_TLS`);
    }
    this.protocol = protocol;
    this._handle = binding.tls_ctx_new(protocol === PROTOCOL_TLS_CLIENT ? 1 : protocol === PROTOCOL_TLS_SERVER ? 2 : 0);
    // Python: a client context verifies by default; the others do not.
    const client = protocol === PROTOCOL_TLS_CLIENT;
    this._verify_mode = client ? CERT_REQUIRED : CERT_NONE;
    this._check_hostname = client;
    binding.tls_ctx_set_verify(this._handle, this._verify_mode);
  }

  get verify_mode(): number {
    return this._verify_mode;
  }
  set verify_mode(mode: number) {
    if (mode !== CERT_NONE && mode !== CERT_OPTIONAL && mode !== CERT_REQUIRED) throw new RangeError(`invalid value for verify_mode: ${mode}`);
    if (mode === CERT_NONE && this._check_hostname) {
      throw new RangeError('Cannot set verify_mode to CERT_NONE when check_hostname is enabled.');
    }
    binding.tls_ctx_set_verify(this._handle, mode);
    this._verify_mode = mode;
  }

  get check_hostname(): boolean {
    return this._check_hostname;
  }
  /** Turning it on also turns on verification (CERT_REQUIRED), as Python 3.7+ does. */
  set check_hostname(flag: boolean) {
    if (flag && this._verify_mode === CERT_NONE) this.verify_mode = CERT_REQUIRED;
    this._check_hostname = Boolean(flag);
  }

  get minimum_version(): number {
    return this._minimum_version;
  }
  set minimum_version(v: number) {
    this._set_versions(v, this._maximum_version);
  }
  get maximum_version(): number {
    return this._maximum_version;
  }
  set maximum_version(v: number) {
    this._set_versions(this._minimum_version, v);
  }

  private _set_versions(min: number, max: number): void {
    const wire = (v: number): number => {
      if (v === TLSVersion.MINIMUM_SUPPORTED || v === TLSVersion.MAXIMUM_SUPPORTED) return 0;
      if (v !== TLSVersion.TLSv1_2 && v !== TLSVersion.TLSv1_3) throw new RangeError(`unsupported TLS version ${v}: use TLSVersion.TLSv1_2 or TLSv1_3`);
      return v;
    };
    check_ctx_result(binding.tls_ctx_set_versions(this._handle, wire(min), wire(max)), 'cannot set the protocol versions');
    this._minimum_version = min;
    this._maximum_version = max;
  }

  /** Loads this side's certificate (chain) and private key; `keyfile` defaults to `certfile`. */
  load_cert_chain(certfile: string, keyfile?: string | null, password?: Password | null): void {
    check_readable(certfile, 'certfile');
    const key = keyfile ?? certfile;
    check_readable(key, 'keyfile');
    const pw = password_bytes(password);
    const r = binding.tls_ctx_load_cert_chain(this._handle, certfile, key, pw);
    if (r === null) return;
    const e = ssl_error_from(r);
    if (r[6] === 'password_too_long') throw new RangeError('password cannot be longer than the PEM buffer (1024 bytes)');
    if (r[6] === 'key') {
      e.message = pw === null
        ? `cannot load the private key from ${key} (is it encrypted? then pass its password): ${e.message}`
        : `cannot load the private key from ${key}: wrong password? ${e.message}`;
    } else {
      e.message = `cannot load the certificate chain from ${certfile}: ${e.message}`;
    }
    throw e;
  }

  /** Trusts the CA certificates in `cafile` (PEM), the hashed directory `capath`, and/or `cadata` (PEM
   * text, or DER bytes). */
  load_verify_locations(cafile?: string | null, capath?: string | null, cadata?: string | Uint8Array | null): void {
    if (cafile == null && capath == null && cadata == null) throw new TypeError('cafile, capath and cadata cannot be all omitted');
    if (cafile != null) check_readable(cafile, 'cafile');
    if (capath != null) check_readable(capath, 'capath');
    check_ctx_result(binding.tls_ctx_load_verify_locations(this._handle, cafile ?? null, capath ?? null, cadata ?? null), 'cannot load the CA certificates');
  }

  /** OpenSSL's default CA locations (honouring SSL_CERT_FILE / SSL_CERT_DIR). */
  set_default_verify_paths(): void {
    check_ctx_result(binding.tls_ctx_set_default_verify_paths(this._handle), 'cannot load the default CA locations');
  }

  /**
   * The system's CA certificates. The OpenSSL inside node looks in its own build's default places;
   * when neither exists here (and no SSL_CERT_FILE / SSL_CERT_DIR says otherwise), the first well-known
   * bundle file is loaded, and failing that, the Mozilla list that node carries (tls.rootCertificates).
   */
  load_default_certs(_purpose: Purpose = Purpose.SERVER_AUTH): void {
    this.set_default_verify_paths();
    const [file_env, file, dir_env, dir] = binding.tls_default_verify_paths();
    if (process.env[file_env] || process.env[dir_env] || existsSync(file)) return;
    if (existsSync(dir) && CA_BUNDLES.every((b) => !existsSync(b))) return;
    const bundle = CA_BUNDLES.find((b) => existsSync(b));
    if (bundle !== undefined) this.load_verify_locations(bundle);
    else this.load_verify_locations(null, null, rootCertificates.join('\n'));
  }

  /** The TLS 1.2 cipher list, in OpenSSL's syntax (TLS 1.3 suites are not affected, as in Python). */
  set_ciphers(ciphers: string): void {
    if (typeof ciphers !== 'string') throw new TypeError('set_ciphers() takes a string');
    const r = binding.tls_ctx_set_ciphers(this._handle, ciphers);
    if (r !== null) throw new SSLError(SSL_ERROR_SSL, `No cipher can be selected. (${ciphers})`, 'NO_CIPHER_MATCH', 'SSL');
  }

  /** ALPN: the protocols a client offers, or the ones a server accepts (its first match wins). */
  set_alpn_protocols(protocols: Iterable<string>): void {
    const parts: Buffer[] = [];
    const names: string[] = [];
    for (const p of protocols) {
      const b = Buffer.from(p, 'latin1');
      if (b.length === 0 || b.length > 255) throw new RangeError(`ALPN protocols must be 1 to 255 bytes long, got ${JSON.stringify(p)}`);
      parts.push(Buffer.from([b.length]), b);
      names.push(p);
    }
    check_ctx_result(binding.tls_ctx_set_alpn(this._handle, Buffer.concat(parts)), 'cannot set the ALPN protocols');
    this._alpn = names;
  }

  get sni_callback(): SniCallback | null {
    return this._sni_callback;
  }
  /** See `SniCallback`. Server side only, as in Python; null removes it. */
  set sni_callback(callback: SniCallback | null) {
    if (callback !== null && typeof callback !== 'function') throw new TypeError(`sni_callback must be a function or null, got ${typeof callback}`);
    if (this.protocol === PROTOCOL_TLS_CLIENT) throw new RangeError('sni_callback cannot be set on a PROTOCOL_TLS_CLIENT context');
    binding.tls_ctx_set_sni(this._handle, callback !== null);
    this._sni_callback = callback;
  }

  /** Python's older spelling of `sni_callback = callback`. */
  set_servername_callback(callback: SniCallback | null): void {
    this.sni_callback = callback;
  }

  /** @internal A connection over this context (sslproto's engine). */
  _wrap(server_side: boolean, server_hostname: string | null): SSLObject {
    if (server_side && this.protocol === PROTOCOL_TLS_CLIENT) throw new RangeError('Cannot create a server socket with a PROTOCOL_TLS_CLIENT context');
    if (!server_side && this.protocol === PROTOCOL_TLS_SERVER) throw new RangeError('Cannot create a client socket with a PROTOCOL_TLS_SERVER context');
    if (!server_side && this._check_hostname && !server_hostname) throw new RangeError('check_hostname requires server_hostname');
    const host = server_side ? null : server_hostname;
    const conn = binding.tls_new(this._handle, server_side, host, !server_side && this._check_hostname);
    return new SSLObject(this, conn, server_side, host);
  }

  toString(): string {
    return `<SSLContext protocol=${this.protocol} verify_mode=${this._verify_mode} check_hostname=${this._check_hostname}>`;
  }
}

/**
 * A context with Python's secure defaults: for SERVER_AUTH (a client), CERT_REQUIRED, check_hostname,
 * and the system's CAs (or `cafile`/`capath`/`cadata` instead); for CLIENT_AUTH, a server context.
 */
export function create_default_context(
  purpose: Purpose = Purpose.SERVER_AUTH,
  options: { cafile?: string; capath?: string; cadata?: string | Uint8Array } = {},
): SSLContext {
  const ctx = new SSLContext(purpose === Purpose.SERVER_AUTH ? PROTOCOL_TLS_CLIENT : PROTOCOL_TLS_SERVER);
  if (options.cafile !== undefined || options.capath !== undefined || options.cadata !== undefined) {
    ctx.load_verify_locations(options.cafile, options.capath, options.cadata);
  } else if (ctx.verify_mode !== CERT_NONE) {
    ctx.load_default_certs(purpose);
  }
  return ctx;
}

// ---- SSLObject ---------------------------------------------------------------------------------------------

/**
 * One TLS connection's state, as far as users see it (Python's SSLObject): `get_extra_info('ssl_object')`.
 * The TLS transport drives `_conn` directly; once the connection is over it is freed, and the getters
 * report what the handshake settled (kept before freeing).
 */
export class SSLObject {
  /** @internal */
  _conn: TlsConnHandle | null;
  private _context: SSLContext;
  private _done_info: ReturnType<typeof binding.tls_info> | null = null;
  private _done_cert: PeerCertDict | null = null;
  private _done_der: Buffer | null = null;

  constructor(context: SSLContext, conn: TlsConnHandle, readonly server_side: boolean, readonly server_hostname: string | null) {
    this._context = context;
    this._conn = conn;
  }

  get context(): SSLContext {
    return this._context;
  }
  /** Switches the connection to another context; what counts is the context in place when the handshake
   * chooses the certificate, so an sni_callback is the place to do it. */
  set context(context: SSLContext) {
    if (!(context instanceof SSLContext)) throw new TypeError('context must be an SSLContext');
    if (this._conn === null) throw new RuntimeError('the TLS connection is over: its context cannot change');
    binding.tls_set_ctx(this._conn, context._handle);
    this._context = context;
  }

  /** @internal The handshake stopped for the sni_callback of the context: run it, and say how to go on. */
  _run_sni_callback(): void {
    const context = this._context;
    const callback = context.sni_callback;
    let alert = 0;
    if (callback !== null) {
      try {
        const r = callback(this, binding.tls_sni_name(this._conn!), context);
        if (r !== undefined && r !== null) {
          if (Number.isInteger(r) && (r as number) > 0 && (r as number) <= 255) alert = r as number;
          else {
            logger.error(`sni_callback returned ${String(r)}: expected nothing or an ALERT_DESCRIPTION_* (1..255)`);
            alert = ALERT_DESCRIPTION_INTERNAL_ERROR;
          }
        }
      } catch (e) {
        logger.error('Error in the sni_callback: refusing the handshake', e);
        alert = ALERT_DESCRIPTION_HANDSHAKE_FAILURE;
      }
    }
    if (this._conn !== null) binding.tls_sni_done(this._conn, alert);
  }

  private _info(): ReturnType<typeof binding.tls_info> | null {
    return this._conn !== null ? binding.tls_info(this._conn) : this._done_info;
  }

  /** The peer's certificate: a dict as Python's (`{}` when it was not verified), its DER bytes when
   * `binary`, or null when the peer sent none. */
  getpeercert(binary: true): Buffer | null;
  getpeercert(binary?: false): PeerCertDict | Record<string, never> | null;
  getpeercert(binary = false): PeerCertDict | Record<string, never> | Buffer | null {
    const der = this._conn !== null ? binding.tls_peer_cert(this._conn, true) : this._done_der;
    if (der === null) return null;
    if (binary) return der;
    if (this.context.verify_mode === CERT_NONE) return {};
    return this._conn !== null ? binding.tls_peer_cert(this._conn, false) : this._done_cert;
  }

  /** [name, protocol version, secret bits] of the cipher in use, or null before the handshake. */
  cipher(): [string, string, number] | null {
    const i = this._info();
    return i === null || i[1] === null ? null : [i[1], i[2]!, i[3]];
  }

  /** 'TLSv1.3', 'TLSv1.2', or null before the handshake. */
  version(): string | null {
    return this._info()?.[0] ?? null;
  }

  selected_alpn_protocol(): string | null {
    return this._info()?.[4] ?? null;
  }

  /** The SNI name the client sent (server side), or the one we sent (client side). */
  get sni_hostname(): string | null {
    return this._info()?.[5] ?? null;
  }

  compression(): null {
    return null; // compression is always off (CRIME)
  }

  /** @internal Keeps what the getters report, then frees the native connection. Idempotent. */
  _free(): void {
    const conn = this._conn;
    if (conn === null) return;
    this._done_info = binding.tls_info(conn);
    this._done_der = binding.tls_peer_cert(conn, true);
    this._done_cert = this._done_der !== null ? binding.tls_peer_cert(conn, false) : null;
    this._conn = null;
    binding.tls_free(conn);
  }

  /** @internal The exception for the failure a progress call just reported. */
  _error(): SSLError {
    return ssl_error_from(binding.tls_error(this._conn!), this.server_hostname);
  }
}
