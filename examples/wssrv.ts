/**
 * The multi-process WebSocket chat server (Tulip's examples/wssrv.py): GET / serves a chat page
 * (examples/websocket.html); a request on any path that asks to upgrade to WebSocket (the page uses /ws)
 * joins the chat, and every text message a client sends goes to every other client, on every worker.
 * examples/wsclient.ts is a console client for it.
 *
 *   npx tsx examples/wssrv.ts [--host 127.0.0.1[:PORT]] [--port 8080] [--workers 2]
 *
 * Prints "supervisor PID serving on HOST:PORT with N workers" (with --port 0, the port the system chose),
 * then "worker PID serving on HOST:PORT" per worker started. Each worker prints "PID: Someone joined.",
 * "PID: MESSAGE" and "PID: Someone disconnected." for its own clients. SIGINT or SIGTERM stops everything:
 * the workers close their clients' WebSockets (1001, going away) and exit, the supervisor waits for them
 * and exits with status 0.
 *
 * How the pieces fit (as in wssrv.py, with what Node changes):
 * - The supervisor opens the listening socket and starts N workers that share it; whichever accepts a
 *   connection first serves it. Node cannot fork(), so a worker is this program started again with
 *   `--worker`, and gets the socket and its two pipes by `pass_fds`, under the fd numbers on its command line.
 * - Each worker serves HTTP with an `http.ServerHttpProtocol` and keeps its own room of WebSockets. What a
 *   client says goes to the others in the room and up to the supervisor, which passes it down to every other
 *   worker, which passes it to its clients. The pipes carry WebSocket frames (wssrv.py's choice): a text
 *   frame is one chat message, and pings over them are the heartbeat.
 * - The supervisor pings each worker every 15 s; a worker that does not answer within 30 s (60 s for its
 *   first answer, while it starts) is killed. A worker that exits or is killed is started again; after five
 *   that die within a second of their start, the supervisor gives up (status 1) instead of spinning.
 * - A worker whose supervisor dies (the pipe's EOF) stops by itself: no orphans either way.
 * - A client that stops reading is dropped once 1 MiB waits for it, so that it cannot make a worker hold
 *   unbounded memory (wssrv.py wrote to it forever).
 */
import { closeSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  AF_INET, AF_INET6, CancelledError, DEVNULL, Protocol, SIGINT, SIGKILL, SIGTERM, SOCK_STREAM, SOL_SOCKET,
  SO_REUSEADDR, Socket, StreamProtocol, TimeoutError, create_subprocess_exec, gather, get_event_loop, http,
  os_pipe, sleep, wait_for,
  type AbstractEventLoop, type Coroutine, type Process, type Server, type Task,
} from 'tulip-ts';

const USAGE = 'usage: wssrv.ts [--host HOST[:PORT]] [--port PORT] [--workers N]';

function parse(argv: string[]) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8080' },
        workers: { type: 'string', default: '2' },
        // Internal: how the supervisor starts a worker.
        worker: { type: 'string' }, // "PIPE_IN,PIPE_OUT,LISTENING_SOCKET"
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
  const bad = !/^\d+$/.test(port_text) || port > 65535 ? `bad port ${port_text}`
    : !/^\d+$/.test(values.workers) || workers < 1 ? `bad --workers ${values.workers}` : null;
  if (bad !== null) {
    console.error(`${bad}\n${USAGE}`);
    process.exit(2);
  }
  return { host, port, workers, worker: values.worker };
}

/** The pipes between the supervisor and a worker as a WebSocket: frames either way, pings answered. */
function* pipe_websocket(loop: AbstractEventLoop, read_fd: number, write_fd: number): Coroutine<http.WebSocket> {
  const [, reader] = yield* loop.connect_read_pipe(() => new StreamProtocol(), read_fd);
  const [writer] = yield* loop.connect_write_pipe(() => new Protocol(), write_fd);
  return new http.WebSocket(reader.set_parser(http.WebSocketParser()), new http.WebSocketWriter(writer), { loop });
}

// ---- the chat, in each worker ----

const PAGE = readFileSync(new URL('websocket.html', import.meta.url));
/** How much may wait in a client's write buffer before the client is dropped as not reading. */
const MAX_BACKLOG = 1024 * 1024;
/** How long a client has to answer our close frame when the worker stops. */
const CLOSE_TIMEOUT = 2;

/** One worker's clients, and the way to the others' (the supervisor; null once it is gone). */
class Room {
  readonly clients = new Set<http.WebSocket>();
  supervisor: http.WebSocket | null = null;

  /** What a client of ours said: to everyone else here, and to the supervisor for the other workers. */
  say(text: string, from: http.WebSocket | null): void {
    console.log(`${process.pid}: ${text.length > 200 ? `${text.slice(0, 200)}... (${text.length} characters)` : text}`);
    this.hear(text, from);
    if (this.supervisor !== null && !this.supervisor.closing) this.supervisor.send(text);
  }

  /** To every client here but `from` (a message from another worker: to all of them). */
  hear(text: string, from: http.WebSocket | null = null): void {
    for (const ws of this.clients) {
      if (ws === from || ws.closing) continue;
      const transport = ws.writer.transport;
      if (transport.get_write_buffer_size() > MAX_BACKLOG) {
        console.log(`${process.pid}: dropping a client that does not read`);
        this.clients.delete(ws); // (now: no second abort for the next message)
        transport.abort(); // its handler is cancelled, and says it left
      } else {
        ws.send(text);
      }
    }
  }
}

class ChatServer extends http.ServerHttpProtocol {
  constructor(private readonly room: Room) {
    super();
  }

  override handle_request(message: http.RawRequestMessage, payload: http.Payload): Coroutine<void> | void {
    if (message.upgrade) return this.chat(message);
    if (message.path !== '/' || (message.method !== 'GET' && message.method !== 'HEAD')) return super.handle_request(message, payload);
    const response = new http.Response(this.transport!, 200, { http_version: message.version, close: message.should_close });
    response.add_headers(['Content-Type', 'text/html; charset=utf-8'], ['Content-Length', String(PAGE.length)]);
    response.send_headers();
    if (message.method === 'GET') response.write(PAGE);
    response.write_eof();
  }

  /** One chat client, from the handshake to its leaving (a bad handshake raises the HTTP error to answer). */
  private *chat(message: http.RawRequestMessage): Coroutine<void> {
    const hs = http.do_handshake(message, this.transport!);
    const response = new http.Response(this.transport!, hs.status, { http_version: message.version });
    response.add_headers(...hs.headers);
    response.send_headers(); // a 101's head leaves at once: frames sent from now on follow it
    const ws = new http.WebSocket(this.stream.set_parser(hs.parser), hs.writer, { close_timeout: CLOSE_TIMEOUT });
    const room = this.room;
    room.say('Someone joined.', ws);
    room.clients.add(ws);
    try {
      for (;;) {
        const msg = yield* ws.receive(); // pings are answered in there
        if (msg === null || msg.tp === http.MSG_CLOSE) break;
        if (msg.tp !== http.MSG_TEXT) continue; // binary messages have no place in a text chat
        const text = msg.data.trim();
        if (text !== '') room.say(text, ws);
      }
    } catch (e) {
      // A protocol violation: receive() has already sent the close frame it calls for and closed.
      if (!(e instanceof http.WebSocketError)) throw e;
      console.log(`${process.pid}: a client broke the protocol: ${e.message}`);
    } finally {
      room.clients.delete(ws);
      room.say('Someone disconnected.', ws);
    }
  }
}

function worker(fds: number[]): void {
  const [pipe_in, pipe_out, sock_fd] = fds as [number, number, number];
  const loop = get_event_loop();
  const room = new Room();
  const sock = new Socket(undefined, undefined, undefined, sock_fd);
  const server = loop.run_until_complete(loop.create_server(() => new ChatServer(room), undefined, undefined, { sock }));
  const supervisor = loop.run_until_complete(pipe_websocket(loop, pipe_in, pipe_out));
  room.supervisor = supervisor;
  let stopping = false;
  const stop = (why: string | null): void => {
    if (stopping) return;
    stopping = true;
    if (why !== null) console.log(why);
    loop.create_task(stop_worker(loop, server, room));
  };
  loop.create_task((function* listen(): Coroutine<void> {
    // Messages from the other workers; the end of the pipe (or garbage on it) means the supervisor is gone.
    try {
      for (;;) {
        const msg = yield* supervisor.receive();
        if (msg === null || msg.tp === http.MSG_CLOSE) break;
        if (msg.tp === http.MSG_TEXT) room.hear(msg.data);
      }
    } catch (e) {
      if (e instanceof CancelledError) throw e;
      console.log(`${process.pid}: the supervisor's pipe failed: ${(e as Error).message}`);
    }
    room.supervisor = null;
    stop(`supervisor is gone, worker ${process.pid} stopping`);
  })());
  for (const sig of [SIGINT, SIGTERM]) loop.add_signal_handler(sig, () => stop(null));
  const [host, port] = sock.getsockname() as [string, number];
  console.log(`worker ${process.pid} serving on ${host}:${port}`);
  loop.run_forever();
  loop.close();
  // Idle HTTP connections and their tasks end with the process, as in wssrv.py's os._exit(0).
  process.exit(0);
}

/** Stops taking connections, closes every client's WebSocket (1001, each within CLOSE_TIMEOUT), stops. */
function* stop_worker(loop: AbstractEventLoop, server: Server, room: Room): Coroutine<void> {
  server.close();
  const closing = [...room.clients].map((ws) => ws.close(http.CLOSE_GOING_AWAY, 'server shutting down'));
  yield* gather(...closing, { return_exceptions: true });
  loop.stop();
}

// ---- the supervisor ----

/** The listen() backlog. */
const BACKLOG = 1024;
/** Seconds between pings to a worker; one that has not answered for two periods is killed. */
const HEARTBEAT = 15;
/** How long a new worker may take to answer its first ping (loading and compiling takes a while). */
const STARTUP_SECONDS = 60;

/** One worker slot: starts a worker, relays its messages, watches it, and starts another when it ends. */
class Worker {
  proc: Process | null = null;
  pipe: http.WebSocket | null = null;
  private quick_deaths = 0;

  constructor(private readonly sup: Supervisor) {}

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
        const pipe = this.pipe!;
        if (this.sup.stopping) proc.send_signal(SIGTERM); // started while stop_all() was signalling the others
        const relay = loop.create_task(this.relay(proc, pipe));
        const heartbeat = loop.create_task(this.heartbeat(proc, pipe));
        const code = yield* proc.wait();
        heartbeat.cancel();
        // The worker is gone, and with it the only other end of the pipe: the relay sees its end and
        // closes our side.
        yield* relay;
        this.pipe = null;
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

  /** Starts a worker with the listening socket and its two pipes. */
  private *start(): Coroutine<Process> {
    const loop = this.sup.loop;
    const [down_r, down_w] = os_pipe(); // supervisor -> worker
    const [up_r, up_w] = os_pipe(); // worker -> supervisor
    const fds = [down_r, up_w, this.sup.sock.fileno()];
    let proc: Process;
    try {
      proc = yield* create_subprocess_exec(
        loop, process.execPath, ...process.execArgv, process.argv[1]!, '--worker', fds.join(','),
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
      this.pipe = yield* pipe_websocket(loop, up_r, down_w);
    } catch (e) {
      proc.kill(); // a worker we cannot talk to is of no use
      yield* proc.wait();
      throw e;
    }
    return proc;
  }

  /** wssrv.py's chat: each message from this worker goes to every other worker. */
  private *relay(proc: Process, pipe: http.WebSocket): Coroutine<void> {
    try {
      for (;;) {
        const msg = yield* pipe.receive();
        if (msg === null || msg.tp === http.MSG_CLOSE) return;
        if (msg.tp !== http.MSG_TEXT) continue;
        for (const [other] of this.sup.slots) {
          if (other !== this && other.pipe !== null && !other.pipe.closing) other.pipe.send(msg.data);
        }
      }
    } catch (e) {
      // Garbage on the pipe (a WebSocketError) or a read error: this worker cannot be talked to any more.
      if (e instanceof CancelledError) throw e;
      console.log(`worker ${proc.pid}: its pipe failed (${(e as Error).message}): killing it`);
      if (proc.returncode === null) proc.kill();
    }
  }

  /** A ping every HEARTBEAT seconds; a worker that leaves one unanswered for two periods is killed. */
  private *heartbeat(proc: Process, pipe: http.WebSocket): Coroutine<void> {
    let limit = STARTUP_SECONDS;
    while (!pipe.closing) {
      try {
        yield* wait_for(pipe.ping(), limit);
      } catch (e) {
        if (!(e instanceof TimeoutError)) return; // the pipe ended: the worker is gone
        console.log(`worker ${proc.pid} is unresponsive: killing it`);
        if (proc.returncode === null) proc.kill();
        return;
      }
      limit = 2 * HEARTBEAT;
      yield* sleep(HEARTBEAT);
    }
  }
}

class Supervisor {
  readonly loop = get_event_loop();
  readonly sock: Socket;
  readonly slots: Array<[Worker, Task<void>]> = [];
  stopping = false;
  private exit_status = 0;

  constructor(private readonly workers: number, host: string, port: number) {
    const sock = (this.sock = new Socket(host.includes(':') ? AF_INET6 : AF_INET, SOCK_STREAM));
    sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    sock.bind([host, port]);
    sock.listen(BACKLOG);
  }

  run(): number {
    const [host, port] = this.sock.getsockname() as [string, number];
    console.log(`supervisor ${process.pid} serving on ${host}:${port} with ${this.workers} workers`);
    for (let i = 0; i < this.workers; i++) {
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
  if (fds.length !== 3 || !fds.every((fd) => Number.isInteger(fd) && fd >= 3)) {
    console.error(`bad --worker ${args.worker}`);
    process.exit(2);
  }
  worker(fds);
} else {
  process.exit(new Supervisor(args.workers, args.host, args.port).run());
}
