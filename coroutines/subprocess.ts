/**
 * Subprocesses as coroutines over the loop's public surface (asyncio's `subprocess_exec` /
 * `subprocess_shell` of base_events.py): the loop's methods of the same names delegate here.
 *
 * The child is started before the first yield (a missing program throws FileNotFoundError from the
 * coroutine at once, and leaves no zombie: posix_spawn reaps the failed child itself); the coroutine
 * then waits for the pipes to be connected and `connection_made` to be scheduled. If connecting fails,
 * the child is killed and reaped before the error is re-thrown, so no child is left behind.
 *
 * The high-level `create_subprocess_exec` / `create_subprocess_shell` with a `Process` object and stream
 * readers are in `coroutines/process.ts`.
 */
import type { AbstractEventLoop } from '../src/events.js';
import { Future, type Coroutine } from '../src/futures.js';
import type { SubprocessProtocol } from '../src/protocols.js';
import type { SubprocessTransport } from '../src/transports.js';
import type { SubprocessOptions } from '../src/base_subprocess.js';

/** The rest arguments of subprocess_exec(): program arguments, optionally followed by an options object. */
// Generic in the options so create_subprocess_exec can take its own (SubprocessOptions plus `limit`).
export type ExecArgs<O extends SubprocessOptions = SubprocessOptions> = string[] | [...string[], O];

/** Splits `...args` into the argument strings and the trailing options object (if any). */
export function split_exec_args<O extends SubprocessOptions = SubprocessOptions>(rest: readonly unknown[]): [string[], O] {
  let options = {} as O;
  let args = rest;
  const last = rest[rest.length - 1];
  if (last !== null && typeof last === 'object' && !Array.isArray(last)) {
    options = last as O;
    args = rest.slice(0, -1);
  }
  for (const [i, a] of args.entries()) {
    if (typeof a !== 'string') {
      throw new TypeError(`program arguments must be strings, got ${a === null ? 'null' : typeof a} at position ${i + 1}${Array.isArray(a) ? ' (pass them spread: subprocess_exec(factory, program, ...args))' : ''}`);
    }
  }
  return [args as string[], options];
}

function* run<P extends SubprocessProtocol>(loop: AbstractEventLoop, protocol_factory: () => P, argv: string[], options: SubprocessOptions): Coroutine<[SubprocessTransport, P]> {
  const protocol = protocol_factory();
  const waiter = new Future<null>({ loop });
  const transport = loop._make_subprocess_transport(protocol, argv, options, waiter);
  try {
    yield* waiter;
  } catch (e) {
    transport.close(); // kills the child if it still runs
    yield* transport._wait(); // and reaps it
    throw e;
  }
  return [transport, protocol];
}

/** Runs `program` with `args` (no shell): `[transport, protocol]` once the pipes are connected. */
export function* subprocess_exec<P extends SubprocessProtocol>(loop: AbstractEventLoop, protocol_factory: () => P, program: string, ...rest: ExecArgs): Coroutine<[SubprocessTransport, P]> {
  if (typeof program !== 'string') throw new TypeError(`program must be a string, got ${typeof program}`);
  const [args, options] = split_exec_args(rest);
  return yield* run(loop, protocol_factory, [program, ...args], options);
}

/** Runs `cmd` with /bin/sh -c: `[transport, protocol]` once the pipes are connected. */
export function* subprocess_shell<P extends SubprocessProtocol>(loop: AbstractEventLoop, protocol_factory: () => P, cmd: string, options: SubprocessOptions = {}): Coroutine<[SubprocessTransport, P]> {
  if (typeof cmd !== 'string') throw new TypeError(`cmd must be a string, got ${typeof cmd}`);
  return yield* run(loop, protocol_factory, ['/bin/sh', '-c', cmd], options);
}
