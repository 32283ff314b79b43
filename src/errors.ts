/**
 * Python's exception names for tulip-ts: the loop-state errors (`RuntimeError`, `NotImplementedError`,
 * `KeyError`) and the `OSError` family, whose subclass is chosen by errno exactly as Python 3 does it.
 *
 * The native addon never throws for a failed system call: it returns `-errno`, and `os_error(-r)` here
 * turns that into the right class. Each OSError carries `errno`, `code` ('ECONNREFUSED') and `strerror`.
 *
 * TimeoutError: Python long had two (concurrent.futures' and the builtin OSError for ETIMEDOUT) and unified
 * them in 3.11; tulip-ts has one. `TimeoutError` extends `OSError`: `wait_for` and `run_until_complete`
 * raise it with `errno` null, a socket that timed out raises it with ETIMEDOUT, and one `instanceof
 * TimeoutError` catches both.
 */
import { binding } from './binding.js';

/** An operation is not valid in the loop's current state (Python's RuntimeError). */
export class RuntimeError extends Error {
  override name = 'RuntimeError';
}

/** A method that this kind of loop (or an abstract base) does not provide. */
export class NotImplementedError extends Error {
  override name = 'NotImplementedError';
}

/** A registration that is missing or already present (the selectors' error, as in Python). */
export class KeyError extends Error {
  override name = 'KeyError';
}

const errno_names = new Map<number, string>();
for (const [name, value] of Object.entries(binding.errno_codes)) {
  // Aliases share a number (EWOULDBLOCK = EAGAIN, EDEADLOCK = EDEADLK, ENOTSUP = EOPNOTSUPP): the first
  // name the addon lists is the canonical one, so keep it.
  if (value !== undefined && !errno_names.has(value)) errno_names.set(value, name);
}

/** errno constants by name, with this platform's values. */
export const errno = Object.freeze({ ...binding.errno_codes }) as Readonly<Record<string, number>>;

/** The symbolic name of an errno value ('ECONNREFUSED'), or 'E<number>' when the platform has none. */
export function errorcode(errnum: number): string {
  return errno_names.get(errnum) ?? `E${errnum}`;
}

export class OSError extends Error {
  override name = 'OSError';
  /** The errno value; null for errors that do not come from a system call. */
  readonly errno: number | null;
  /** The errno's symbolic name, e.g. 'ECONNREFUSED'; null when errno is. */
  readonly code: string | null;
  readonly strerror: string | null;
  /** The file or address the operation was about, when there is one. */
  filename: unknown;

  constructor(errnum: number | null = null, message?: string, filename?: unknown) {
    const strerror = errnum === null ? null : binding.strerror(errnum);
    const code = errnum === null ? null : errorcode(errnum);
    super(message ?? (errnum === null ? '' : `[Errno ${errnum}] ${strerror}${filename === undefined ? '' : `: ${String(filename)}`}`));
    this.errno = errnum;
    this.code = code;
    this.strerror = strerror;
    this.filename = filename;
  }
}

export class BlockingIOError extends OSError {
  override name = 'BlockingIOError';
}
export class ChildProcessError extends OSError {
  override name = 'ChildProcessError';
}
export class ConnectionError extends OSError {
  override name = 'ConnectionError';
}
export class BrokenPipeError extends ConnectionError {
  override name = 'BrokenPipeError';
}
export class ConnectionAbortedError extends ConnectionError {
  override name = 'ConnectionAbortedError';
}
export class ConnectionRefusedError extends ConnectionError {
  override name = 'ConnectionRefusedError';
}
export class ConnectionResetError extends ConnectionError {
  override name = 'ConnectionResetError';
}
export class FileExistsError extends OSError {
  override name = 'FileExistsError';
}
export class FileNotFoundError extends OSError {
  override name = 'FileNotFoundError';
}
export class InterruptedError extends OSError {
  override name = 'InterruptedError';
}
export class IsADirectoryError extends OSError {
  override name = 'IsADirectoryError';
}
export class NotADirectoryError extends OSError {
  override name = 'NotADirectoryError';
}
export class PermissionError extends OSError {
  override name = 'PermissionError';
}
export class ProcessLookupError extends OSError {
  override name = 'ProcessLookupError';
}
/** Both the errno ETIMEDOUT error and the timeout of wait_for / run_until_complete (see the header). */
export class TimeoutError extends OSError {
  override name = 'TimeoutError';
  constructor(errnum: number | null = null, message?: string, filename?: unknown) {
    super(errnum, message ?? (errnum === null ? 'timed out' : undefined), filename);
  }
}

type OSErrorClass = new (errnum: number, message?: string, filename?: unknown) => OSError;

/** Python's errno → subclass table (PEP 3151). */
const by_code: Record<string, OSErrorClass> = {
  EAGAIN: BlockingIOError,
  EALREADY: BlockingIOError,
  EWOULDBLOCK: BlockingIOError,
  EINPROGRESS: BlockingIOError,
  ECHILD: ChildProcessError,
  EPIPE: BrokenPipeError,
  ESHUTDOWN: BrokenPipeError,
  ECONNABORTED: ConnectionAbortedError,
  ECONNREFUSED: ConnectionRefusedError,
  ECONNRESET: ConnectionResetError,
  EEXIST: FileExistsError,
  ENOENT: FileNotFoundError,
  EINTR: InterruptedError,
  EISDIR: IsADirectoryError,
  ENOTDIR: NotADirectoryError,
  EACCES: PermissionError,
  EPERM: PermissionError,
  ESRCH: ProcessLookupError,
  ETIMEDOUT: TimeoutError,
};
const by_errno = new Map<number, OSErrorClass>();
for (const [name, cls] of Object.entries(by_code)) {
  const value = binding.errno_codes[name];
  if (value !== undefined) by_errno.set(value, cls);
}

/** The OSError (subclass) for an errno value, as Python's `OSError(errno, strerror)` constructor picks it. */
export function os_error(errnum: number, filename?: unknown): OSError {
  const cls = by_errno.get(errnum) ?? OSError;
  return new cls(errnum, undefined, filename);
}

/** Throws the OSError for a negative addon return value; returns non-negative values unchanged. */
export function check(r: number, filename?: unknown): number {
  if (r < 0) throw os_error(-r, filename);
  return r;
}

// ---- gaierror: name lookups ------------------------------------------------------------------------------

const EAI_NAMES = [
  'EAI_NONAME', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_FAMILY', 'EAI_SOCKTYPE', 'EAI_SERVICE', 'EAI_MEMORY',
  'EAI_SYSTEM', 'EAI_BADFLAGS', 'EAI_OVERFLOW', 'EAI_ADDRFAMILY', 'EAI_NODATA',
];
const eai_names = new Map<number, string>();
for (const name of EAI_NAMES) {
  const value = binding.constants[name];
  if (value !== undefined && !eai_names.has(value)) eai_names.set(value, name);
}

/** The name of an EAI_* code ('EAI_NONAME'), or 'EAI_<number>'. */
export function eai_name(code: number): string {
  return eai_names.get(code) ?? `EAI_${code}`;
}

/**
 * A failed getaddrinfo / getnameinfo (Python's `socket.gaierror`): `errno` is the EAI_* code (negative on
 * glibc), `code` its name ('EAI_NONAME'), `strerror` the C library's gai_strerror text; the message reads
 * like Python's: `[Errno -2] Name or service not known`.
 */
export class gaierror extends OSError {
  override name = 'gaierror';
  constructor(eai_code: number, message?: string) {
    const strerror = binding.gai_strerror(eai_code);
    super(null, message ?? `[Errno ${eai_code}] ${strerror}`);
    // The fields are readonly for users; the base constructor reads errno's table, not the EAI one.
    const self = this as { errno: number | null; code: string | null; strerror: string | null };
    self.errno = eai_code;
    self.code = eai_name(eai_code);
    self.strerror = strerror;
  }
}

/** The error for a failed getaddrinfo/getnameinfo result from the addon: gaierror, or EAI_SYSTEM's OSError. */
export function gai_error(r: { error: number; errno: number }): OSError {
  if (r.error === binding.constants.EAI_SYSTEM && r.errno > 0) return os_error(r.errno);
  return new gaierror(r.error);
}

/** What a value is, for an error message: `null`, a class name (`Buffer`, `Object`), or its typeof. */
export function type_name(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
