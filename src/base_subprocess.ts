/**
 * base_subprocess (asyncio's `base_subprocess.py` and the Unix half of `unix_events.py`): the subprocess
 * transport. A child is started with the addon's posix_spawn (src/native/process.c); its pipes are the
 * pipe transports of `unix_events.ts`; its exit is watched by `child_watcher.ts` (a pidfd as a reader).
 *
 * The order of the protocol's calls is asyncio's: until the pipes are connected, every call is held back;
 * then `connection_made`, then what was held, in order. `process_exited()` follows the exit;
 * `connection_lost(null)` comes last, once the child has exited AND every pipe is closed, so a protocol
 * that sees connection_lost has seen all the output.
 *
 * stdio options, per fd, with Python's values: `PIPE` (-1, the default), `STDOUT` (-2, stderr only: where
 * stdout goes), `DEVNULL` (-3), an fd of ours to give the child, or `null` / 'inherit' (ours). Every other
 * fd of ours is close-on-exec; `pass_fds` (Python's option) names the ones the child keeps, under the same
 * numbers: a listening socket that worker processes share, say.
 */
import { statSync } from 'node:fs';
import { binding } from './binding.js';
import { ProcessLookupError, RuntimeError, check, errno, os_error } from './errors.js';
import type { AbstractEventLoop } from './events.js';
import { Future, type Coroutine } from './futures.js';
import { logger } from './log.js';
import { Protocol, type SubprocessProtocol } from './protocols.js';
import { SubprocessTransport, type BaseTransport } from './transports.js';
import { watch_child } from './child_watcher.js';
import { SIGKILL, SIGTERM } from './unix_signals.js';

export const PIPE = -1;
export const STDOUT = -2;
export const DEVNULL = -3;

/** One of the child's fds 0, 1, 2: PIPE, STDOUT (stderr only), DEVNULL, an fd, or null/'inherit'. */
export type StdioOption = number | null | 'inherit';

export interface SubprocessOptions {
  stdin?: StdioOption;
  stdout?: StdioOption;
  stderr?: StdioOption;
  /** The child's working directory (default: ours). */
  cwd?: string | null;
  /** The child's whole environment (default: ours). Entries whose value is undefined are left out. */
  env?: Record<string, string | undefined> | null;
  /** Fds of ours (each >= 3) that the child keeps open under the same numbers (default: none). */
  pass_fds?: readonly number[];
}

/** What `get_extra_info('subprocess')` returns: the child as asyncio's Popen object would describe it. */
export interface ProcessInfo {
  readonly pid: number;
  readonly args: readonly string[];
  returncode: number | null;
}

const C_INHERIT = -1;
const C_DEVNULL = -2;
const C_STDOUT = -3;

/** Maps one stdio option to the addon's code; a PIPE makes a pipe and records both ends. */
function stdio_code(fd: number, opt: StdioOption | undefined, pipes: Array<[number, number] | null>): number {
  if (opt === undefined || opt === PIPE) {
    const p = binding.pipe();
    if (typeof p === 'number') check(p);
    const [r, w] = p as [number, number];
    const [child, parent] = fd === 0 ? [r, w] : [w, r];
    pipes[fd] = [child, parent];
    // The child's end must be blocking: O_NONBLOCK belongs to the open pipe end, which the child shares.
    check(binding.set_nonblocking(child, false));
    return child;
  }
  if (opt === null || opt === 'inherit') return C_INHERIT;
  if (opt === DEVNULL) return C_DEVNULL;
  if (opt === STDOUT) {
    if (fd !== 2) throw new RangeError(`STDOUT can only be used for stderr, not for fd ${fd}`);
    return C_STDOUT;
  }
  if (typeof opt === 'number' && Number.isInteger(opt) && opt >= 0) return opt;
  throw new TypeError(`stdio option for fd ${fd} must be PIPE, STDOUT, DEVNULL, an fd >= 0, null or 'inherit', got ${String(opt)}`);
}

function check_pass_fds(fds: readonly number[] | undefined): readonly number[] {
  if (fds === undefined) return [];
  if (!Array.isArray(fds)) throw new TypeError(`pass_fds must be an array of fds, got ${typeof fds}`);
  for (const fd of fds) {
    if (!Number.isInteger(fd) || fd < 3) {
      throw new RangeError(`pass_fds: ${String(fd)} is not an fd >= 3 (fds 0, 1, 2 are given with the stdin, stdout and stderr options)`);
    }
  }
  return fds;
}

function environment(env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new TypeError(`env[${JSON.stringify(k)}] must be a string`);
    if (k === '' || k.includes('=')) throw new RangeError(`illegal environment variable name ${JSON.stringify(k)}`);
    out.push(`${k}=${v}`);
  }
  return out;
}

/** Starts a child: [pid, pidfd, parent ends of its PIPEs by fd]. Throws OSError (FileNotFoundError, ...). */
function start(args: readonly string[], options: SubprocessOptions): [number, number, Array<number | null>] {
  const pipes: Array<[number, number] | null> = [null, null, null];
  const close_all = (which: 0 | 1) => {
    for (const p of pipes) if (p !== null) binding.close(p[which]);
  };
  let r: [number, number] | number;
  try {
    const codes = [stdio_code(0, options.stdin, pipes), stdio_code(1, options.stdout, pipes), stdio_code(2, options.stderr, pipes)] as const;
    const envp = options.env == null ? null : environment(options.env);
    r = binding.spawn(args[0]!, args, envp, options.cwd ?? null, codes, true, check_pass_fds(options.pass_fds));
  } catch (e) {
    close_all(0);
    close_all(1);
    throw e;
  }
  close_all(0); // the child has its own copies now
  if (typeof r === 'number') {
    close_all(1);
    // Python names the program, or the cwd when that was the missing one.
    const missing_cwd = -r === errno['ENOENT'] && options.cwd != null && !dir_exists(options.cwd);
    throw os_error(-r, missing_cwd ? options.cwd : args[0]);
  }
  return [r[0], r[1], pipes.map((p) => (p === null ? null : p[1]))];
}

function dir_exists(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The pipe protocols: they forward to the subprocess transport, tagged with the child's fd. */
class SubprocessPipeProto extends Protocol {
  pipe: BaseTransport | null = null;
  disconnected = false;
  constructor(public proc: BaseSubprocessTransport | null, readonly fd: number) {
    super();
  }
  override connection_made(transport: BaseTransport): void {
    this.pipe = transport;
  }
  override connection_lost(exc: Error | null): void {
    this.disconnected = true;
    this.proc?._pipe_connection_lost(this.fd, exc);
    this.proc = null;
  }
}

/** The child's stdin: its flow control is the subprocess protocol's. */
class WriteSubprocessPipeProto extends SubprocessPipeProto {
  override pause_writing(): void {
    this.proc?._protocol?.pause_writing();
  }
  override resume_writing(): void {
    this.proc?._protocol?.resume_writing();
  }
}

/** The child's stdout or stderr. */
class ReadSubprocessPipeProto extends SubprocessPipeProto {
  override data_received(data: Buffer): void {
    this.proc?._pipe_data_received(this.fd, data);
  }
}

type PipeProto = SubprocessPipeProto;

export class BaseSubprocessTransport extends SubprocessTransport {
  /** @internal */ _protocol: SubprocessProtocol | null;
  private _loop: AbstractEventLoop | null;
  private _closed = false;
  private _pid: number;
  private _returncode: number | null = null;
  private _info: ProcessInfo;
  private _exit_waiters: Array<Future<number>> | null = [];
  /** Protocol calls held back until the pipes are connected (asyncio's _pending_calls). */
  private _pending_calls: Array<() => void> | null = [];
  /** Connected pipes by child fd; `null` while a PIPE is being connected. */
  private _pipes = new Map<number, PipeProto | null>();
  private _finished = false;
  private _extra: Record<string, unknown>;

  /** Starts the child at once (throws OSError if it cannot be started); the pipes connect in a task,
   * which resolves `waiter`. */
  constructor(loop: AbstractEventLoop, protocol: SubprocessProtocol, args: readonly string[], options: SubprocessOptions, waiter: Future<null> | null, extra: Record<string, unknown> = {}) {
    super();
    this._loop = loop;
    this._protocol = protocol;
    const [pid, pidfd, parent_ends] = start(args, options);
    this._pid = pid;
    this._info = { pid, args: [...args], returncode: null };
    this._extra = { ...extra, subprocess: this._info };
    parent_ends.forEach((fd, i) => fd !== null && this._pipes.set(i, null));
    if (loop.get_debug()) logger.debug(`process ${JSON.stringify(args[0])} created: pid ${pid}`);
    watch_child(loop, pid, pidfd, (rc) => this._process_exited(rc));
    loop.create_task(this._connect_pipes(parent_ends, waiter));
  }

  private *_connect_pipes(ends: Array<number | null>, waiter: Future<null> | null): Coroutine<void> {
    const loop = this._loop!;
    let i = 0;
    try {
      for (; i < 3; i++) {
        const fd = ends[i];
        if (fd === null || fd === undefined) continue;
        const [, proto] = i === 0
          ? yield* loop.connect_write_pipe(() => new WriteSubprocessPipeProto(this, 0), fd)
          : yield* loop.connect_read_pipe(() => new ReadSubprocessPipeProto(this, i), fd);
        this._pipes.set(i, proto);
      }
      loop.call_soon(() => this._protocol?.connection_made(this));
      for (const cb of this._pending_calls!) loop.call_soon(cb);
      this._pending_calls = null;
    } catch (e) {
      // The fd that failed and the ones not reached yet are still ours to close.
      for (let j = i; j < 3; j++) if (ends[j] != null) binding.close(ends[j]!);
      if (waiter !== null && !waiter.cancelled()) waiter.set_exception(e as Error);
      return;
    }
    if (waiter !== null && !waiter.cancelled()) waiter.set_result(null);
  }

  override get_extra_info(name: string, default_value: unknown = null): unknown {
    return name in this._extra ? this._extra[name] : default_value;
  }

  override is_closing(): boolean {
    return this._closed;
  }

  /** Closes the pipes and, if the child still runs, kills it (SIGKILL) as asyncio does. The exit is still
   * reported (process_exited, then connection_lost). */
  override close(): void {
    if (this._closed) return;
    this._closed = true;
    for (const proto of this._pipes.values()) proto?.pipe?.close();
    if (this._returncode === null) {
      if (this._loop?.get_debug()) logger.warning(`Close running child process: kill ${this}`);
      // Not yet reaped, so the pid is still this child's (a zombie at worst): safe to signal.
      binding.kill(this._pid, SIGKILL);
    }
  }

  override get_pid(): number {
    return this._pid;
  }
  override get_returncode(): number | null {
    return this._returncode;
  }
  override get_pipe_transport(fd: number): BaseTransport | null {
    return this._pipes.get(fd)?.pipe ?? null;
  }

  /** Sends `sig`. ProcessLookupError once the child has been reaped: its pid may belong to another
   * process by now, so it is never signalled. */
  override send_signal(sig: number): void {
    if (this._returncode !== null || this._loop === null) throw new ProcessLookupError(errno['ESRCH']!);
    const r = binding.kill(this._pid, sig);
    if (r < 0) throw os_error(-r);
  }
  override terminate(): void {
    this.send_signal(SIGTERM);
  }
  override kill(): void {
    this.send_signal(SIGKILL);
  }

  /** A future for the return code (the high-level Process.wait()). */
  _wait(): Future<number> {
    const fut = new Future<number>({ loop: this._loop! });
    if (this._returncode !== null) fut.set_result(this._returncode);
    else if (this._exit_waiters === null) fut.set_exception(new RuntimeError('the transport is finished'));
    else this._exit_waiters.push(fut);
    return fut;
  }

  /** Calls the protocol in a later turn, or once connected: never from inside a pipe's own callback. */
  private _call(cb: () => void): void {
    if (this._pending_calls !== null) this._pending_calls.push(cb);
    else this._loop?.call_soon(cb);
  }

  /** @internal */
  _pipe_connection_lost(fd: number, exc: Error | null): void {
    this._call(() => this._protocol?.pipe_connection_lost(fd, exc));
    this._try_finish();
  }

  /** @internal */
  _pipe_data_received(fd: number, data: Buffer): void {
    this._call(() => this._protocol?.pipe_data_received(fd, data));
  }

  private _process_exited(returncode: number): void {
    if (this._loop?.get_debug()) logger.info(`${this} exited with return code ${returncode}`);
    this._returncode = returncode;
    this._info.returncode = returncode;
    this._call(() => this._protocol?.process_exited());
    this._try_finish();
    for (const w of this._exit_waiters ?? []) if (!w.cancelled()) w.set_result(returncode);
    this._exit_waiters = null;
  }

  private _try_finish(): void {
    if (this._finished || this._returncode === null) return;
    for (const p of this._pipes.values()) if (p === null || !p.disconnected) return;
    this._finished = true;
    this._call(() => this._call_connection_lost(null));
  }

  private _call_connection_lost(exc: Error | null): void {
    try {
      this._protocol?.connection_lost(exc);
    } finally {
      this._loop = null;
      this._protocol = null;
    }
  }

  override toString(): string {
    const info = ['BaseSubprocessTransport'];
    if (this._closed) info.push('closed');
    info.push(`pid=${this._pid}`);
    if (this._returncode !== null) info.push(`returncode=${this._returncode}`);
    return `<${info.join(' ')}>`;
  }
}
