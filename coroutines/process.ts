/**
 * The high-level subprocess API (asyncio 3.4's `asyncio.subprocess`): `create_subprocess_exec` /
 * `create_subprocess_shell` give a `Process` whose `stdin` / `stdout` / `stderr` are small stream objects
 * (`readline()`, `read()`, `write()`, `drain()`, `close()`), with `wait()` and `communicate()`.
 *
 * tulip-ts has no streams module yet, so `PipeReader` and `PipeWriter` here are the minimum asyncio's
 * StreamReader / StreamWriter offer for pipes; when streams.ts lands they should become those classes.
 * Flow control: the reader pauses the pipe transport above 64 KiB unread (so a chatty child blocks
 * instead of filling our memory); the writer's drain() waits while the pipe transport is paused.
 */
import type { AbstractEventLoop } from '../src/events.js';
import { Future, type Coroutine } from '../src/futures.js';
import { Protocol, SubprocessProtocol } from '../src/protocols.js';
import type { ReadTransport, SubprocessTransport, WriteTransport } from '../src/transports.js';
import { PIPE, type BaseSubprocessTransport, type SubprocessOptions } from '../src/base_subprocess.js';
import { split_exec_args, type ExecArgs } from './subprocess.js';
import { gather } from './waiting.js';

/** EOF came before the bytes asked for (asyncio's IncompleteReadError): `partial` holds what came. */
export class IncompleteReadError extends Error {
  override name = 'IncompleteReadError';
  constructor(readonly partial: Buffer, readonly expected: number) {
    super(`${partial.length} bytes read on a total of ${expected} expected bytes`);
  }
}

const LIMIT = 64 * 1024;

/** The readable end of a child's stdout or stderr. */
export class PipeReader {
  private _chunks: Buffer[] = [];
  private _size = 0;
  private _eof = false;
  private _exc: Error | null = null;
  private _waiter: Future<null> | null = null;
  /** @internal */ _transport: ReadTransport | null = null;
  private _paused = false;

  constructor(private readonly _loop: AbstractEventLoop) {}

  /** @internal */ _feed(data: Buffer): void {
    this._chunks.push(data);
    this._size += data.length;
    this._wake();
    if (this._size > 2 * LIMIT && !this._paused && this._transport !== null) {
      this._paused = true;
      this._transport.pause_reading();
    }
  }
  /** @internal */ _feed_eof(exc: Error | null = null): void {
    if (this._eof) return;
    this._eof = true;
    this._exc = exc;
    this._wake();
  }
  at_eof(): boolean {
    return this._eof && this._size === 0;
  }

  private _wake(): void {
    const w = this._waiter;
    this._waiter = null;
    if (w !== null && !w.done()) w.set_result(null);
  }

  private *_wait_for_data(): Coroutine<void> {
    if (this._paused && this._transport !== null) {
      this._paused = false;
      this._transport.resume_reading();
    }
    this._waiter = new Future<null>({ loop: this._loop });
    yield* this._waiter;
  }

  private _take(n: number): Buffer {
    const all = this._chunks.length === 1 ? this._chunks[0]! : Buffer.concat(this._chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this._chunks = rest.length > 0 ? [rest] : [];
    this._size = rest.length;
    return Buffer.from(out);
  }

  /** One line, with its '\n'; at EOF what is left (maybe without '\n'), then an empty Buffer. */
  *readline(): Coroutine<Buffer> {
    for (;;) {
      let offset = 0;
      for (const c of this._chunks) {
        const i = c.indexOf(10);
        if (i >= 0) return this._take(offset + i + 1);
        offset += c.length;
      }
      if (this._eof) {
        if (this._exc !== null && this._size === 0) throw this._exc;
        return this._take(this._size);
      }
      yield* this._wait_for_data();
    }
  }

  /** Up to n bytes (n < 0: everything until EOF); an empty Buffer at EOF. */
  *read(n = -1): Coroutine<Buffer> {
    if (n === 0) return Buffer.alloc(0);
    while (this._size === 0 || (n < 0 && !this._eof)) {
      if (this._eof) break;
      yield* this._wait_for_data();
    }
    if (this._size === 0 && this._exc !== null) throw this._exc;
    return this._take(n < 0 ? this._size : Math.min(n, this._size));
  }

  /** Exactly n bytes; IncompleteReadError if EOF comes first. */
  *readexactly(n: number): Coroutine<Buffer> {
    while (this._size < n && !this._eof) yield* this._wait_for_data();
    if (this._size < n) throw new IncompleteReadError(this._take(this._size), n);
    return this._take(n);
  }
}

/** Feeds a PipeReader from any read transport (asyncio's StreamReaderProtocol, for connect_read_pipe). */
export class PipeReaderProtocol extends Protocol {
  constructor(readonly reader: PipeReader) {
    super();
  }
  override connection_made(transport: ReadTransport): void {
    this.reader._transport = transport;
  }
  override data_received(data: Buffer): void {
    this.reader._feed(data);
  }
  override eof_received(): void {
    this.reader._feed_eof();
  }
  override connection_lost(exc: Error | null): void {
    this.reader._feed_eof(exc);
  }
}

/** The writable end of a child's stdin. */
export class PipeWriter {
  /** @internal */ _drain_waiter: Future<null> | null = null;
  /** @internal */ _paused = false;
  /** @internal */ _lost: Error | null | undefined = undefined; // set once the pipe is closed

  constructor(readonly transport: WriteTransport, private readonly _loop: AbstractEventLoop) {}

  write(data: Uint8Array): void {
    this.transport.write(data);
  }
  /** True while the pipe's buffer is above its high-water mark: drain() would wait. */
  get paused(): boolean {
    return this._paused;
  }
  writelines(list: Iterable<Uint8Array>): void {
    this.transport.writelines(list);
  }
  write_eof(): void {
    this.transport.write_eof();
  }
  can_write_eof(): boolean {
    return true;
  }
  close(): void {
    this.transport.close();
  }
  /** Waits until the pipe's buffer is below its low-water mark; throws the error that closed it. */
  *drain(): Coroutine<void> {
    if (this._lost) throw this._lost;
    if (!this._paused) return;
    this._drain_waiter = new Future<null>({ loop: this._loop });
    yield* this._drain_waiter;
  }
  /** @internal */ _wake(exc: Error | null = null): void {
    const w = this._drain_waiter;
    this._drain_waiter = null;
    if (w === null || w.done()) return;
    if (exc !== null) w.set_exception(exc);
    else w.set_result(null);
  }
}

/** The protocol behind a Process: feeds the readers, tracks the writer's flow control. */
class ProcessProtocol extends SubprocessProtocol {
  stdin: PipeWriter | null = null;
  stdout: PipeReader | null = null;
  stderr: PipeReader | null = null;
  transport: SubprocessTransport | null = null;
  constructor(private readonly _loop: AbstractEventLoop) {
    super();
  }
  override connection_made(t: SubprocessTransport): void {
    this.transport = t;
    const out = t.get_pipe_transport(1) as ReadTransport | null;
    if (out !== null) (this.stdout = new PipeReader(this._loop))._transport = out;
    const err = t.get_pipe_transport(2) as ReadTransport | null;
    if (err !== null) (this.stderr = new PipeReader(this._loop))._transport = err;
    const inp = t.get_pipe_transport(0) as WriteTransport | null;
    if (inp !== null) this.stdin = new PipeWriter(inp, this._loop);
  }
  override pipe_data_received(fd: number, data: Buffer): void {
    (fd === 1 ? this.stdout : this.stderr)?._feed(data);
  }
  override pipe_connection_lost(fd: number, exc: Error | null): void {
    if (fd === 0) {
      if (this.stdin !== null) {
        this.stdin._lost = exc;
        this.stdin._wake(exc);
      }
      return;
    }
    (fd === 1 ? this.stdout : this.stderr)?._feed_eof(exc);
  }
  override pause_writing(): void {
    if (this.stdin !== null) this.stdin._paused = true;
  }
  override resume_writing(): void {
    if (this.stdin === null) return;
    this.stdin._paused = false;
    this.stdin._wake();
  }
}

/** A running child (asyncio.subprocess.Process). */
export class Process {
  readonly stdin: PipeWriter | null;
  readonly stdout: PipeReader | null;
  readonly stderr: PipeReader | null;
  readonly pid: number;

  constructor(private readonly _transport: BaseSubprocessTransport, protocol: ProcessProtocol, private readonly _loop: AbstractEventLoop) {
    this.stdin = protocol.stdin;
    this.stdout = protocol.stdout;
    this.stderr = protocol.stderr;
    this.pid = _transport.get_pid();
  }

  /** The exit code, -N if signal N killed it, null while it runs. */
  get returncode(): number | null {
    return this._transport.get_returncode();
  }
  /** Waits for the exit: the return code. */
  *wait(): Coroutine<number> {
    return yield* this._transport._wait();
  }
  send_signal(sig: number): void {
    this._transport.send_signal(sig);
  }
  terminate(): void {
    this._transport.terminate();
  }
  kill(): void {
    this._transport.kill();
  }

  /** Writes `input` to stdin (then closes it), reads stdout and stderr to EOF, waits for the exit:
   * `[stdout, stderr]` (null for a stream that is not a PIPE). A child that exits without reading its
   * input is not an error (BrokenPipeError / ConnectionResetError are ignored, as asyncio does). */
  *communicate(input: Uint8Array | null = null): Coroutine<[Buffer | null, Buffer | null]> {
    const loop = this._loop;
    const self = this;
    function* feed(): Coroutine<null> {
      if (self.stdin === null) return null;
      try {
        if (input !== null) {
          self.stdin.write(input);
          yield* self.stdin.drain();
        }
      } catch (e) {
        if (!['BrokenPipeError', 'ConnectionResetError'].includes((e as Error).name)) throw e;
      }
      self.stdin.close();
      return null;
    }
    function* drain_all(r: PipeReader | null): Coroutine<Buffer | null> {
      return r === null ? null : yield* r.read();
    }
    const [, out, err] = yield* gather(loop.create_task(feed()), loop.create_task(drain_all(this.stdout)), loop.create_task(drain_all(this.stderr)), { loop });
    yield* this.wait();
    return [out, err];
  }

  toString(): string {
    return `<Process ${this.pid}>`;
  }
}

function* create(loop: AbstractEventLoop, start: (factory: () => ProcessProtocol) => Coroutine<[SubprocessTransport, ProcessProtocol]>): Coroutine<Process> {
  const [transport, protocol] = yield* start(() => new ProcessProtocol(loop));
  // connection_made is scheduled when the coroutine above returns; let it run so the streams exist.
  if (protocol.transport === null) {
    const ready = new Future<null>({ loop });
    loop.call_soon(() => ready.set_result(null));
    yield* ready;
  }
  return new Process(transport as BaseSubprocessTransport, protocol, loop);
}

/** Options of create_subprocess_*: unlike the low-level methods, stdin/stdout/stderr default to
 * inherit (null), as in asyncio. */
function high_level(options: SubprocessOptions): SubprocessOptions {
  return { ...options, stdin: options.stdin ?? null, stdout: options.stdout ?? null, stderr: options.stderr ?? null };
}

/** Runs `program` with `args`, optionally followed by options `{ stdin, stdout, stderr, cwd, env }`. */
export function* create_subprocess_exec(loop: AbstractEventLoop, program: string, ...rest: ExecArgs): Coroutine<Process> {
  const [args, options] = split_exec_args(rest);
  return yield* create(loop, (f) => loop.subprocess_exec(f, program, ...args, high_level(options)));
}

/** Runs `cmd` with /bin/sh -c. */
export function* create_subprocess_shell(loop: AbstractEventLoop, cmd: string, options: SubprocessOptions = {}): Coroutine<Process> {
  return yield* create(loop, (f) => loop.subprocess_shell(f, cmd, high_level(options)));
}

export { PIPE };
