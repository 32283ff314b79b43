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
 * - The supervision (the listening socket, starting, restarting and stopping the workers) is
 *   examples/supervisor.ts, shared with wssrv.ts; this file is the worker and the heartbeat.
 * - Node cannot fork(), so a worker is this same program started again with `--worker`; the listening
 *   socket reaches it with `pass_fds`, under the same fd number, given on its command line. The kernel
 *   queues connections on that one socket and whichever worker accepts first serves it.
 * - With --reuse-port each worker listens on a socket of its own with SO_REUSEPORT instead, and the kernel
 *   spreads new connections over them evenly (by a hash of the addresses). The supervisor still binds the
 *   port first (without listening), so that --port 0 picks one port for all and nobody else can take it
 *   between worker restarts.
 * - The heartbeat is mpsrv.py's: two pipes per worker (also passed with pass_fds), the supervisor writes
 *   "ping" every --heartbeat seconds and the worker answers "pong"; a worker silent for two periods is
 *   killed and replaced. mpsrv.py framed these as WebSocket messages; a line is enough here.
 * - The worker's exit is seen at once (supervisor.ts: the subprocess transport watches a pidfd), not only
 *   by a missed heartbeat; after five workers in a row that die within a second of their start, the
 *   supervisor gives up (exit status 1) instead of spinning.
 * - If the supervisor dies without stopping them (SIGKILL), each worker sees EOF on its control pipe and
 *   exits: no orphans either way.
 */
import {
  Protocol, SIGINT, SIGTERM, Socket, get_event_loop, http, sleep,
  type AbstractEventLoop, type Coroutine, type Process, type ReadTransport, type WriteTransport,
} from 'tulip-ts';
import { ADDRESS_OPTIONS, count_option, host_and_port, parse_command_line, usage_error } from './args.js';
import { StaticFileServer } from './srv.js';
import { BACKLOG, STARTUP_SECONDS, SUPERVISOR_OPTIONS, Supervisor, bound_socket, worker_fds, type WorkerLink } from './supervisor.js';

const USAGE = 'usage: mpsrv.ts [--workers N] [--host HOST[:PORT]] [--port PORT] [--root DIR | --hello] [--reuse-port] [--heartbeat SECONDS] [--verbose]';

function parse(argv: string[]) {
  const { values } = parse_command_line(USAGE, {
    args: argv,
    options: {
      ...ADDRESS_OPTIONS,
      ...SUPERVISOR_OPTIONS, // --workers, and --worker CONTROL_IN,CONTROL_OUT[,LISTENING_SOCKET]
      root: { type: 'string', default: process.cwd() },
      hello: { type: 'boolean', default: false },
      heartbeat: { type: 'string', default: '15' },
      verbose: { type: 'boolean', default: false },
      'reuse-port': { type: 'boolean', default: false },
    },
  });
  const [host, port] = host_and_port(USAGE, values.host, values.port);
  const workers = count_option(USAGE, 'workers', values.workers, 1);
  const heartbeat = Number(values.heartbeat);
  if (!(heartbeat > 0)) usage_error(USAGE, `bad --heartbeat ${values.heartbeat}`);
  return { ...values, host, port, workers, heartbeat };
}

type Args = ReturnType<typeof parse>;

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

/**
 * The supervisor's end of a worker's control pipes, mpsrv.py's heartbeat: a ping every period; a worker
 * silent for two periods is killed (and replaced). Until its first answer a worker is starting, and gets
 * STARTUP_SECONDS instead.
 */
class Heartbeat implements WorkerLink {
  private readonly loop = get_event_loop();
  /** When the worker last answered a ping; null until its first answer (it may still be starting). */
  private last_pong: number | null = null;
  private to_worker: WriteTransport | null = null;
  private from_worker: ReadTransport | null = null;

  constructor(private readonly proc: Process, private readonly period: number) {}

  /** Takes the supervisor's ends of the worker's two pipes: pings go down one, pongs come up the other. */
  *connect(from_worker: number, to_worker: number): Coroutine<this> {
    [this.to_worker] = yield* this.loop.connect_write_pipe(() => new Protocol(), to_worker);
    [this.from_worker] = yield* this.loop.connect_read_pipe(() => new PongReader(() => (this.last_pong = this.loop.time())), from_worker);
    return this;
  }

  *watch(): Coroutine<void> {
    const loop = this.loop;
    const started = loop.time();
    for (;;) {
      this.to_worker!.write(Buffer.from('ping\n'));
      yield* sleep(this.period);
      const silent = this.last_pong === null ? loop.time() - started > STARTUP_SECONDS : loop.time() - this.last_pong > 2 * this.period;
      if (silent) {
        console.log(`worker ${this.proc.pid} is unresponsive: killing it`);
        if (this.proc.returncode === null) this.proc.kill();
        return;
      }
    }
  }

  *close(): Coroutine<void> {
    this.to_worker?.close();
    this.from_worker?.close();
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

const args = parse(process.argv.slice(2));
if (args.worker !== undefined) {
  worker(args, worker_fds(args.worker, !args['reuse-port']));
} else {
  const supervisor = new Supervisor({
    host: args.host,
    port: args.port,
    workers: args.workers,
    reuse_port: args['reuse-port'],
    // What the workers get: the same options (the port as bound), minus the ones only the supervisor uses.
    worker_argv: (port) => [
      '--host', args.host, '--port', String(port), '--root', args.root, '--heartbeat', String(args.heartbeat),
      ...(args.hello ? ['--hello'] : []), ...(args.verbose ? ['--verbose'] : []), ...(args['reuse-port'] ? ['--reuse-port'] : []),
    ],
    link: (proc, from_worker, to_worker) => new Heartbeat(proc, args.heartbeat).connect(from_worker, to_worker),
  });
  process.exit(supervisor.run());
}
