/**
 * The supervisor of the multi-process servers, examples/mpsrv.ts and examples/wssrv.ts (Tulip's mpsrv.py
 * and wssrv.py each carried a copy of it): it opens the listening socket, keeps N worker processes serving
 * on it, starts another when one dies, and on SIGINT/SIGTERM stops them all and waits for them before it
 * exits, leaving no process behind. It never knows what a worker serves, nor what passes over the worker's
 * two pipes (mpsrv's pings, wssrv's WebSocket frames): the example gives it a `link` for that, and keeps
 * the worker's side of everything.
 *
 * How the pieces fit:
 * - Node cannot fork(), so a worker is this same program started again (create_subprocess_exec with our
 *   node and its loader flags), with the example's arguments for it and `--worker IN,OUT[,SOCKET]`: the
 *   fds of its pipe from the supervisor, its pipe to the supervisor and the listening socket, which reach
 *   it with `pass_fds` under those numbers (the worker reads them back with worker_fds()). The kernel
 *   queues connections on that one socket and whichever worker accepts first serves it. A worker's stdin
 *   is /dev/null: a terminal's input stays the supervisor's.
 * - With `reuse_port` each worker listens on a socket of its own with SO_REUSEPORT (bound_socket()) and
 *   the kernel spreads new connections over them evenly (by a hash of the addresses). The supervisor still
 *   binds the port first (without listening: a socket that does not listen gets no connections), so that
 *   port 0 picks one port for all and nobody else can take it between worker restarts.
 * - A worker's exit is seen at once (the subprocess transport watches a pidfd), not only by a missed
 *   heartbeat. A worker that dies within a second of its start (or cannot be started: out of fds or
 *   processes, say) is restarted after a second's pause, and after five such deaths in a row the
 *   supervisor gives up (exit status 1) instead of spinning.
 * - Once a worker has started, the supervisor closes its own copies of the worker's pipe ends: the
 *   worker's death is then the pipes' EOF, and if the supervisor dies without stopping them (SIGKILL), each
 *   worker sees EOF on its pipe and exits (the example's worker side sees to that): no orphans either way.
 */
import { closeSync } from 'node:fs';
import {
  AF_INET, AF_INET6, DEVNULL, SIGINT, SIGKILL, SIGTERM, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, SO_REUSEPORT, Socket,
  create_subprocess_exec, gather, get_event_loop, os_pipe, sleep, wait_for,
  type Coroutine, type Process, type Task,
} from 'tulip-ts';

/** The listen() backlog: room for a burst of connections (a benchmark opens hundreds at once). */
export const BACKLOG = 1024;

/**
 * How long a new worker may take to answer its first heartbeat: until then it is starting (loading and
 * compiling its code takes a while, longer on a busy machine).
 */
export const STARTUP_SECONDS = 60;

/**
 * The supervisor's options, for the example's parseArgs: --workers N (read it with count_option(), at
 * least 1), and --worker, which only the supervisor gives, to the workers it starts (see worker_fds()).
 */
export const SUPERVISOR_OPTIONS = {
  workers: { type: 'string', default: '2' },
  worker: { type: 'string' },
} as const;

/** How long the workers have to exit after SIGTERM before they get SIGKILL. */
const STOP_SECONDS = 5;

/**
 * The supervisor's side of one worker, made by the example once the worker has started: what it does with
 * its ends of the worker's pipes.
 */
export interface WorkerLink {
  /** Runs while the worker lives: the heartbeat (a worker that stops answering is killed). Cancelled when it exits. */
  watch(): Coroutine<void>;
  /** Once the worker has exited: lets go of the supervisor's ends of its pipes. */
  close(): Coroutine<void>;
}

export interface SupervisorOptions<L extends WorkerLink> {
  host: string;
  /** 0: the system picks a free port (one for all the workers). */
  port: number;
  workers: number;
  /** Each worker listens on a socket of its own (SO_REUSEPORT); the supervisor only holds the port. */
  reuse_port?: boolean;
  /** The worker's arguments besides `--worker` (which the supervisor adds), given the port as bound. */
  worker_argv(port: number): string[];
  /** Takes the supervisor's ends of a new worker's pipes (fds, the link's to close from then on). */
  link(proc: Process, from_worker: number, to_worker: number): Coroutine<L>;
}

/** A TCP socket bound to host:port, with SO_REUSEPORT when asked (the kernel then balances between them). */
export function bound_socket(host: string, port: number, reuse_port: boolean): Socket {
  const sock = new Socket(host.includes(':') ? AF_INET6 : AF_INET, SOCK_STREAM);
  sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  if (reuse_port) {
    if (SO_REUSEPORT === undefined) throw new Error('--reuse-port: SO_REUSEPORT does not exist on this system');
    sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
  }
  sock.bind([host, port]);
  return sock;
}

/**
 * The worker's reading of `--worker IN,OUT[,SOCKET]` (the socket's fd unless the supervisor runs with
 * reuse_port). Only a supervisor writes this option: anything else is refused with exit status 2.
 */
export function worker_fds(spec: string, with_socket: boolean): number[] {
  const fds = spec.split(',').map(Number);
  if (fds.length !== (with_socket ? 3 : 2) || !fds.every((fd) => Number.isInteger(fd) && fd >= 3)) {
    console.error(`bad --worker ${spec}`);
    process.exit(2);
  }
  return fds;
}

/** One worker slot: starts a worker, watches it, and starts another when it ends, until stopping. */
class Slot<L extends WorkerLink> {
  proc: Process | null = null;
  /** The running worker's link; null between workers. */
  link: L | null = null;
  private quick_deaths = 0;

  constructor(private readonly sup: Supervisor<L>) {}

  *run(): Coroutine<void> {
    const loop = this.sup.loop;
    while (!this.sup.stopping) {
      const started = loop.time();
      let proc: Process | null = null;
      try {
        proc = yield* this.start();
      } catch (e) {
        // Out of fds or processes, say: try again later, like a worker that died at once.
        console.error(`cannot start a worker: ${(e as Error).message}`);
      }
      if (proc !== null) {
        const link = this.link!;
        if (this.sup.stopping) proc.send_signal(SIGTERM); // started while stop_all() was signalling the others
        const watch = loop.create_task(link.watch());
        const code = yield* proc.wait();
        watch.cancel();
        yield* link.close();
        this.link = null;
        if (this.sup.stopping) break;
        console.log(`worker ${proc.pid} exited (${code < 0 ? `signal ${-code}` : `status ${code}`}): starting another`);
      }
      if (loop.time() - started < 1) {
        if (++this.quick_deaths >= 5) {
          console.error('workers keep dying at once: giving up');
          this.sup.stop(1);
          break;
        }
        yield* sleep(1);
      } else {
        this.quick_deaths = 0;
      }
    }
  }

  /** Starts a worker with its two pipes (and the listening socket), and links it. */
  private *start(): Coroutine<Process> {
    const sup = this.sup;
    const [down_r, down_w] = os_pipe(); // supervisor -> worker
    const [up_r, up_w] = os_pipe(); // worker -> supervisor
    const fds = [down_r, up_w];
    if (!sup.reuse_port) fds.push(sup.sock.fileno());
    let proc: Process;
    try {
      proc = yield* create_subprocess_exec(
        sup.loop, process.execPath, ...process.execArgv, process.argv[1]!, ...sup.worker_argv, '--worker', fds.join(','),
        { pass_fds: fds, stdin: DEVNULL },
      );
    } catch (e) {
      for (const fd of [down_w, up_r]) closeSync(fd);
      throw e;
    } finally {
      // The worker has its own copies of its ends (or failed to start): ours are closed either way, so
      // that its death is the pipes' EOF.
      for (const fd of [down_r, up_w]) closeSync(fd);
    }
    this.proc = proc;
    try {
      this.link = yield* sup.link(proc, up_r, down_w);
    } catch (e) {
      // A worker we cannot talk to is of no use.
      if (proc.returncode === null) proc.kill();
      yield* proc.wait();
      throw e;
    }
    return proc;
  }
}

export class Supervisor<L extends WorkerLink> {
  readonly loop = get_event_loop();
  /** The listening socket (with reuse_port: bound only, holding the port). */
  readonly sock: Socket;
  readonly reuse_port: boolean;
  readonly worker_argv: readonly string[];
  readonly link: SupervisorOptions<L>['link'];
  stopping = false;
  private exit_status = 0;
  private readonly workers: number;
  private readonly slots: Array<[Slot<L>, Task<void>]> = [];

  constructor(options: SupervisorOptions<L>) {
    this.reuse_port = options.reuse_port ?? false;
    this.workers = options.workers;
    this.link = options.link;
    this.sock = bound_socket(options.host, options.port, this.reuse_port);
    if (!this.reuse_port) this.sock.listen(BACKLOG);
    this.worker_argv = options.worker_argv(this.port);
  }

  get port(): number {
    return (this.sock.getsockname() as [string, number])[1];
  }

  /** The links of the workers running now (wssrv.ts passes a worker's messages to the others'). */
  links(): L[] {
    return this.slots.map(([slot]) => slot.link).filter((link): link is L => link !== null);
  }

  /** Runs until stopped, then closes the socket and the loop: the exit status (1: workers kept dying). */
  run(): number {
    const [host, port] = this.sock.getsockname() as [string, number];
    console.log(`supervisor ${process.pid} serving on ${host}:${port} with ${this.workers} workers`);
    for (let i = 0; i < this.workers; i++) {
      const slot = new Slot(this);
      this.slots.push([slot, this.loop.create_task(slot.run())]);
    }
    for (const sig of [SIGINT, SIGTERM]) this.loop.add_signal_handler(sig, () => this.stop(0));
    this.loop.run_forever();
    this.sock.close();
    this.loop.close();
    return this.exit_status;
  }

  /** Stops every worker (SIGTERM; SIGKILL after STOP_SECONDS), waits for them all, then stops the loop. */
  stop(status: number): void {
    if (this.stopping) return;
    this.stopping = true;
    this.exit_status = status;
    console.log('stopping the workers');
    this.loop.create_task(this.stop_all());
  }

  private *stop_all(): Coroutine<void> {
    for (const [slot] of this.slots) if (slot.proc?.returncode === null) slot.proc.send_signal(SIGTERM);
    try {
      yield* wait_for(gather(...this.slots.map(([, task]) => task), { return_exceptions: true }), STOP_SECONDS);
    } catch {
      // Too slow (the timeout cancelled the slots' tasks): kill what is left, and still reap every one.
      const left = this.slots.map(([slot]) => slot.proc).filter((p): p is Process => p !== null && p.returncode === null);
      for (const p of left) p.send_signal(SIGKILL);
      yield* gather(...left.map((p) => p.wait()));
    }
    this.loop.stop();
  }
}
