/**
 * The high-level subprocess API (asyncio 3.4's `asyncio.subprocess`): `create_subprocess_exec` /
 * `create_subprocess_shell` give a `Process` whose `stdout` / `stderr` are `StreamReader`s and whose
 * `stdin` is a `StreamWriter` (each null unless that stream is a PIPE), with `wait()` and `communicate()`.
 *
 * Flow control both ways comes from the streams: a reader pauses its pipe transport above 2×limit bytes
 * unread (so a chatty child blocks instead of filling our memory); the stdin writer's drain() waits
 * while the pipe transport is paused.
 */
import type { AbstractEventLoop } from '../src/events.js';
import { Future, type Coroutine } from '../src/futures.js';
import { SubprocessProtocol } from '../src/protocols.js';
import type { ReadTransport, SubprocessTransport, WriteTransport } from '../src/transports.js';
import { PIPE, type BaseSubprocessTransport, type SubprocessOptions } from '../src/base_subprocess.js';
import { split_exec_args, type ExecArgs } from './subprocess.js';
import { DEFAULT_LIMIT, FlowControlProtocol, StreamReader, StreamWriter } from './streams.js';
import { gather } from './waiting.js';

/**
 * Like StreamReaderProtocol, but for a subprocess (asyncio's SubprocessStreamProtocol): feeds a
 * StreamReader per output pipe and wraps stdin in a StreamWriter.
 *
 * asyncio mixes FlowControlMixin into SubprocessProtocol; TypeScript classes have one base, so the flow
 * control lives in a FlowControlProtocol this protocol forwards to, and that is the protocol the stdin
 * writer's drain() asks.
 */
export class SubprocessStreamProtocol extends SubprocessProtocol {
  stdin: StreamWriter<WriteTransport> | null = null;
  stdout: StreamReader | null = null;
  stderr: StreamReader | null = null;
  /** @internal */ _transport: SubprocessTransport | null = null;
  private readonly _flow: FlowControlProtocol;

  constructor(private readonly _limit: number, private readonly _loop: AbstractEventLoop) {
    super();
    this._flow = new FlowControlProtocol({ loop: _loop });
  }

  override connection_made(transport: SubprocessTransport): void {
    this._transport = transport;
    const out = transport.get_pipe_transport(1) as ReadTransport | null;
    if (out !== null) {
      this.stdout = new StreamReader(this._limit, { loop: this._loop });
      // The reader pauses this pipe when too much output waits unread (asyncio issue #22685).
      this.stdout.set_transport(out);
    }
    const err = transport.get_pipe_transport(2) as ReadTransport | null;
    if (err !== null) {
      this.stderr = new StreamReader(this._limit, { loop: this._loop });
      this.stderr.set_transport(err);
    }
    const inp = transport.get_pipe_transport(0) as WriteTransport | null;
    if (inp !== null) this.stdin = new StreamWriter(inp, this._flow, null, this._loop);
  }

  override pipe_data_received(fd: number, data: Buffer): void {
    const reader = fd === 1 ? this.stdout : fd === 2 ? this.stderr : null;
    reader?.feed_data(data);
  }

  override pipe_connection_lost(fd: number, exc: Error | null): void {
    if (fd === 0) {
      this.stdin?.close();
      // stdin is this protocol's only writable "connection": losing it wakes (or fails) drain().
      this._flow.connection_lost(exc);
      return;
    }
    const reader = fd === 1 ? this.stdout : fd === 2 ? this.stderr : null;
    if (reader === null) return;
    if (exc === null) reader.feed_eof();
    else reader.set_exception(exc);
  }

  override pause_writing(): void {
    this._flow.pause_writing();
  }

  override resume_writing(): void {
    this._flow.resume_writing();
  }

  override toString(): string {
    const info = ['SubprocessStreamProtocol'];
    if (this.stdin !== null) info.push('stdin=<StreamWriter>');
    if (this.stdout !== null) info.push('stdout=<StreamReader>');
    if (this.stderr !== null) info.push('stderr=<StreamReader>');
    return `<${info.join(' ')}>`;
  }
}

/** A running child (asyncio.subprocess.Process). */
export class Process {
  readonly stdin: StreamWriter<WriteTransport> | null;
  readonly stdout: StreamReader | null;
  readonly stderr: StreamReader | null;
  readonly pid: number;

  constructor(private readonly _transport: BaseSubprocessTransport, protocol: SubprocessStreamProtocol, private readonly _loop: AbstractEventLoop) {
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
    function* drain_all(r: StreamReader | null): Coroutine<Buffer | null> {
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

function* create(loop: AbstractEventLoop, start: (factory: () => SubprocessStreamProtocol) => Coroutine<[SubprocessTransport, SubprocessStreamProtocol]>, limit: number): Coroutine<Process> {
  const [transport, protocol] = yield* start(() => new SubprocessStreamProtocol(limit, loop));
  // connection_made is scheduled when the coroutine above returns; let it run so the streams exist.
  if (protocol._transport === null) {
    const ready = new Future<null>({ loop });
    loop.call_soon(() => ready.set_result(null));
    yield* ready;
  }
  return new Process(transport as BaseSubprocessTransport, protocol, loop);
}

/** create_subprocess_*'s options: the low-level ones plus `limit`, the buffer limit of the stdout and
 * stderr StreamReaders (default 64 KiB), as asyncio's `limit=` argument. */
export interface ProcessOptions extends SubprocessOptions {
  limit?: number;
}

/** Splits off `limit`; unlike the low-level methods, stdin/stdout/stderr default to inherit (null), as in
 * asyncio. */
function high_level(options: ProcessOptions): [SubprocessOptions, number] {
  const { limit, ...rest } = options;
  return [{ ...rest, stdin: rest.stdin ?? null, stdout: rest.stdout ?? null, stderr: rest.stderr ?? null }, limit ?? DEFAULT_LIMIT];
}

/** Runs `program` with `args`, optionally followed by options `{ stdin, stdout, stderr, cwd, env, limit }`. */
export function* create_subprocess_exec(loop: AbstractEventLoop, program: string, ...rest: ExecArgs<ProcessOptions>): Coroutine<Process> {
  const [args, options] = split_exec_args<ProcessOptions>(rest);
  const [low, limit] = high_level(options);
  return yield* create(loop, (f) => loop.subprocess_exec(f, program, ...args, low), limit);
}

/** Runs `cmd` with /bin/sh -c. */
export function* create_subprocess_shell(loop: AbstractEventLoop, cmd: string, options: ProcessOptions = {}): Coroutine<Process> {
  const [low, limit] = high_level(options);
  return yield* create(loop, (f) => loop.subprocess_shell(f, cmd, low), limit);
}

export { PIPE };
