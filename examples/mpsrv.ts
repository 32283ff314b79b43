/**
 * The multi-process HTTP server (Tulip's examples/mpsrv.py): a supervisor opens the listening socket and
 * starts N worker processes that share it; each worker runs its own loop with an http.ServerHttpProtocol
 * (the static files of srv.ts, or a "hello world" page with --hello). The supervisor restarts a worker
 * that dies or stops answering its heartbeat, and on SIGINT/SIGTERM stops every worker and waits for them
 * before it exits, leaving no process behind.
 *
 *   npx tsx examples/mpsrv.ts [--workers 2] [--host 127.0.0.1] [--port 8080] [--root DIR | --hello]
 *                             [--reuse-port] [--heartbeat 15] [--verbose]
 *
 * Prints "supervisor PID serving on HOST:PORT" and, per worker started, "worker PID serving on HOST:PORT".
 * With --verbose each worker prints "PID: method = ...; path = ..." per request (off by default: printing
 * costs more than answering a small request).
 *
 * How the pieces fit (and what differs from mpsrv.py):
 * - Node cannot fork(), so a worker is this same program started again (create_subprocess_exec with our
 *   node and its loader flags) with `--worker`; the listening socket reaches it with `pass_fds`, under the
 *   same fd number, given on its command line. The kernel queues connections on that one socket and
 *   whichever worker accepts first serves it.
 * - With --reuse-port each worker listens on a socket of its own with SO_REUSEPORT instead, and the kernel
 *   spreads new connections over them evenly (by a hash of the addresses). The supervisor still binds the
 *   port first (without listening: a socket that does not listen gets no connections), so that --port 0
 *   picks one port for all and nobody else can take it between worker restarts.
 * - The heartbeat is mpsrv.py's: two pipes per worker (also passed with pass_fds), the supervisor writes
 *   "ping" every --heartbeat seconds and the worker answers "pong"; a worker silent for two periods is
 *   killed and replaced. mpsrv.py framed these as WebSocket messages; a line is enough here.
 * - The worker's exit is seen at once (the subprocess transport watches a pidfd), not only by a missed
 *   heartbeat. A worker that dies within a second of its start is restarted after a second's pause, and
 *   after five such deaths in a row the supervisor gives up (exit status 1) instead of spinning.
 * - If the supervisor dies without stopping them (SIGKILL), each worker sees EOF on its control pipe and
 *   exits: no orphans either way.
 */
import { closeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  AF_INET, AF_INET6, Protocol, SIGINT, SIGKILL, SIGTERM, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, SO_REUSEPORT, Socket,
  create_subprocess_exec, gather, get_event_loop, http, os_pipe, sleep, wait_for,
  type AbstractEventLoop, type Coroutine, type Process, type ReadTransport, type Task, type WriteTransport,
} from 'tulip-ts';
import { StaticFileServer } from './srv.js';

const USAGE = 'usage: mpsrv.ts [--workers N] [--host HOST[:PORT]] [--port PORT] [--root DIR | --hello] [--reuse-port] [--heartbeat SECONDS] [--verbose]';

function parse(argv: string[]) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8080' },
        workers: { type: 'string', default: '2' },
        root: { type: 'string', default: process.cwd() },
        hello: { type: 'boolean', default: false },
        heartbeat: { type: 'string', default: '15' },
        verbose: { type: 'boolean', default: false },
        'reuse-port': { type: 'boolean', default: false },
        // Internal: how the supervisor starts a worker.
        worker: { type: 'string' }, // "CONTROL_IN,CONTROL_OUT[,LISTENING_SOCKET]"
      },
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  let host = values.host;
  let port_text = values.port;
  if (/^[^:]+:\d+$/.test(host)) [host, port_text] = host.split(':') as [string, string];
  const port = Number(port_text);
  const workers = Number(values.workers);
  const heartbeat = Number(values.heartbeat);
  const bad = !Number.isInteger(port) || port < 0 || port > 65535 ? `bad port ${port_text}`
    : !Number.isInteger(workers) || workers < 1 ? `bad --workers ${values.workers}`
    : !(heartbeat > 0) ? `bad --heartbeat ${values.heartbeat}` : null;
  if (bad !== null) {
    console.error(`${bad}\n${USAGE}`);
    process.exit(2);
  }
  return { ...values, host, port, workers, heartbeat };
}

type Args = ReturnType<typeof parse>;

/** The listen() backlog: room for a burst of connections (a benchmark opens hundreds at once). */
const BACKLOG = 1024;

// ---- the worker ----

const BODY = Buffer.from('Hello, World!');

/** --hello: one small page for every request (what the benchmark measures). */
class HelloServer extends http.ServerHttpProtocol {
  constructor(private readonly verbose: boolean) {
    super();
  }
  override handle_request(message: http.RawRequestMessage): void {
    if (this.verbose) console.log(`${process.pid}: method = ${message.method}; path = ${message.path}; version = ${message.version.join('.')}`);
    const response = new http.Response(this.transport!, 200, { http_version: message.version, close: message.should_close });
    response.add_headers(['Content-Type', 'text/plain'], ['Content-Length', String(BODY.length)]);
    response.send_headers();
    response.write(BODY);
    response.write_eof();
  }
}

/** srv.ts's file server, printing the worker's pid with each request as mpsrv.py does. */
class WorkerFileServer extends StaticFileServer {
  constructor(root: string, private readonly print: boolean) {
    super({ root });
  }
  override *handle_request(message: http.RawRequestMessage, payload: http.Payload): Coroutine<void> {
    if (this.print) console.log(`${process.pid}: method = ${message.method}; path = ${message.path}; version = ${message.version.join('.')}`);
    yield* super.handle_request(message, payload);
  }
}

/** The worker's end of the heartbeat: answers each ping; EOF means the supervisor is gone. */
class WorkerControl extends Protocol {
  constructor(private readonly loop: AbstractEventLoop, private readonly out: WriteTransport) {
    super();
  }
  override data_received(data: Buffer): void {
    // Pings are 5-byte lines; several may arrive at once, or (in theory) one split in two: count newlines.
    let pongs = 0;
    for (const byte of data) if (byte === 0x0a) pongs++;
    if (pongs > 0) this.out.write(Buffer.from('pong\n'.repeat(pongs)));
  }
  override connection_lost(): void {
    console.log(`supervisor is gone, worker ${process.pid} stopping`);
    this.loop.stop();
  }
}

/** A TCP socket bound to host:port, with SO_REUSEPORT when asked (the kernel then balances between them). */
function bound_socket(host: string, port: number, reuse_port: boolean): Socket {
  const sock = new Socket(host.includes(':') ? AF_INET6 : AF_INET, SOCK_STREAM);
  sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  if (reuse_port) {
    if (SO_REUSEPORT === undefined) throw new Error('--reuse-port: SO_REUSEPORT does not exist on this system');
    sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
  }
  sock.bind([host, port]);
  return sock;
}

function worker(args: Args, fds: number[]): void {
  const [control_in, control_out, sock_fd] = fds as [number, number, number | undefined];
  const loop = get_event_loop();
  // The supervisor's listening socket, or (--reuse-port) one of our own on the same port.
  const sock = sock_fd !== undefined ? new Socket(undefined, undefined, undefined, sock_fd) : bound_socket(args.host, args.port, true);
  const factory = args.hello ? () => new HelloServer(args.verbose) : () => new WorkerFileServer(args.root, args.verbose);
  loop.run_until_complete(loop.start_serving(factory, undefined, undefined, { sock, backlog: BACKLOG }));
  for (const sig of [SIGINT, SIGTERM]) loop.add_signal_handler(sig, () => loop.stop());
  const [out] = loop.run_until_complete(loop.connect_write_pipe(() => new Protocol(), control_out));
  loop.run_until_complete(loop.connect_read_pipe(() => new WorkerControl(loop, out), control_in));
  const [host, port] = sock.getsockname() as [string, number];
  console.log(`worker ${process.pid} serving on ${host}:${port}`);
  loop.run_forever();
  // Stopped: connections in progress are dropped with the process, as mpsrv.py's os._exit(0).
  process.exit(0);
}

// ---- the supervisor ----

/** How long a new worker may take to answer its first ping. */
const STARTUP_SECONDS = 60;

/** One worker slot: starts a worker, watches it, and starts another when it ends, until stopping. */
class Worker {
  proc: Process | null = null;
  /** When the worker last answered a ping; null until its first answer (it may still be starting). */
  private last_pong: number | null = null;
  private quick_deaths = 0;

  constructor(private readonly sup: Supervisor) {}

  *run(): Coroutine<void> {
    const loop = this.sup.loop;
    while (!this.sup.stopping) {
      const started = loop.time();
      let pipes: [Process, WriteTransport, ReadTransport] | null = null;
      try {
        pipes = yield* this.start();
      } catch (e) {
        // Out of fds or processes, say: try again later, like a worker that died at once.
        console.error(`cannot start a worker: ${(e as Error).message}`);
      }
      if (pipes !== null) {
        const [proc, to_worker, from_worker] = pipes;
        if (this.sup.stopping) proc.send_signal(SIGTERM); // started while stop_all() was signalling the others
        const heartbeat = loop.create_task(this.heartbeat(proc, to_worker));
        const code = yield* proc.wait();
        heartbeat.cancel();
        to_worker.close();
        from_worker.close();
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

  /** Starts a worker with the listening socket and its two control pipes. */
  private *start(): Coroutine<[Process, WriteTransport, ReadTransport]> {
    const loop = this.sup.loop;
    const [down_r, down_w] = os_pipe(); // supervisor -> worker
    const [up_r, up_w] = os_pipe(); // worker -> supervisor
    const fds = [down_r, up_w];
    if (!this.sup.args['reuse-port']) fds.push(this.sup.sock.fileno());
    let proc: Process;
    try {
      proc = yield* create_subprocess_exec(
        loop, process.execPath, ...process.execArgv, process.argv[1]!, ...this.sup.worker_argv, '--worker', fds.join(','),
        { pass_fds: fds },
      );
    } catch (e) {
      for (const fd of [down_w, up_r]) closeSync(fd);
      throw e;
    } finally {
      // The worker has its own copies of its ends (or failed to start): ours are closed either way.
      for (const fd of [down_r, up_w]) closeSync(fd);
    }
    this.proc = proc;
    this.last_pong = null;
    const [to_worker] = yield* loop.connect_write_pipe(() => new Protocol(), down_w);
    const pongs = new PongReader(() => (this.last_pong = loop.time()));
    const [from_worker] = yield* loop.connect_read_pipe(() => pongs, up_r);
    return [proc, to_worker, from_worker];
  }

  /**
   * mpsrv.py's heartbeat: a ping every period; a worker silent for two periods is killed (and replaced).
   * Until its first answer a worker is starting (loading and compiling its code takes a while, longer on
   * a busy machine), and gets STARTUP_SECONDS instead.
   */
  private *heartbeat(proc: Process, to_worker: WriteTransport): Coroutine<void> {
    const loop = this.sup.loop;
    const period = this.sup.args.heartbeat;
    const started = loop.time();
    for (;;) {
      to_worker.write(Buffer.from('ping\n'));
      yield* sleep(period);
      const silent = this.last_pong === null ? loop.time() - started > STARTUP_SECONDS : loop.time() - this.last_pong > 2 * period;
      if (silent) {
        console.log(`worker ${proc.pid} is unresponsive: killing it`);
        if (proc.returncode === null) proc.kill();
        return;
      }
    }
  }
}

/** The supervisor's end of the heartbeat: any "pong" counts. */
class PongReader extends Protocol {
  constructor(private readonly on_pong: () => void) {
    super();
  }
  override data_received(): void {
    this.on_pong();
  }
}

class Supervisor {
  readonly loop = get_event_loop();
  readonly sock: Socket;
  readonly worker_argv: string[];
  stopping = false;
  exit_status = 0;
  private readonly slots: Array<[Worker, Task<void>]> = [];

  constructor(readonly args: Args) {
    const reuse_port = args['reuse-port'];
    this.sock = bound_socket(args.host, args.port, reuse_port);
    if (!reuse_port) this.sock.listen(BACKLOG);
    const port = (this.sock.getsockname() as [string, number])[1];
    // What the workers get: the same options (the port as bound), minus the ones only the supervisor uses.
    this.worker_argv = ['--host', args.host, '--port', String(port), '--root', args.root, '--heartbeat', String(args.heartbeat)];
    if (args.hello) this.worker_argv.push('--hello');
    if (args.verbose) this.worker_argv.push('--verbose');
    if (reuse_port) this.worker_argv.push('--reuse-port');
  }

  run(): number {
    const [host, port] = this.sock.getsockname() as [string, number];
    console.log(`supervisor ${process.pid} serving on ${host}:${port} with ${this.args.workers} workers`);
    for (let i = 0; i < this.args.workers; i++) {
      const w = new Worker(this);
      this.slots.push([w, this.loop.create_task(w.run())]);
    }
    for (const sig of [SIGINT, SIGTERM]) this.loop.add_signal_handler(sig, () => this.stop(0));
    this.loop.run_forever();
    this.sock.close();
    this.loop.close();
    return this.exit_status;
  }

  /** Stops every worker (SIGTERM; SIGKILL after 5 s), waits for them all, then stops the loop. */
  stop(status: number): void {
    if (this.stopping) return;
    this.stopping = true;
    this.exit_status = status;
    console.log('stopping the workers');
    this.loop.create_task(this.stop_all());
  }

  private *stop_all(): Coroutine<void> {
    for (const [w] of this.slots) if (w.proc?.returncode === null) w.proc.send_signal(SIGTERM);
    try {
      yield* wait_for(gather(...this.slots.map(([, task]) => task), { return_exceptions: true }), 5);
    } catch {
      // Too slow (the timeout cancelled the slots' tasks): kill what is left, and still reap every one.
      const left = this.slots.map(([w]) => w.proc).filter((p): p is Process => p !== null && p.returncode === null);
      for (const p of left) p.send_signal(SIGKILL);
      yield* gather(...left.map((p) => p.wait()));
    }
    this.loop.stop();
  }
}

const args = parse(process.argv.slice(2));
if (args.worker !== undefined) {
  const fds = args.worker.split(',').map(Number);
  if (fds.length !== (args['reuse-port'] ? 2 : 3) || !fds.every((fd) => Number.isInteger(fd) && fd >= 3)) {
    console.error(`bad --worker ${args.worker}`);
    process.exit(2);
  }
  worker(args, fds);
} else {
  process.exit(new Supervisor(args).run());
}
