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
 * - The supervisor (examples/supervisor.ts, shared with mpsrv.ts) opens the listening socket and starts N
 *   workers that share it; whichever accepts a connection first serves it. Node cannot fork(), so a worker
 *   is this program started again with `--worker`, and gets the socket and its two pipes by `pass_fds`,
 *   under the fd numbers on its command line. This file is the worker, and what the supervisor does with a
 *   worker's pipes: the relay and the heartbeat.
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
import { readFileSync } from 'node:fs';
import {
  CancelledError, Protocol, SIGINT, SIGTERM, Socket, StreamProtocol, TimeoutError, gather, get_event_loop, http,
  sleep, wait_for,
  type AbstractEventLoop, type Coroutine, type Process, type Server, type Task,
} from 'tulip-ts';
import { ADDRESS_OPTIONS, count_option, host_and_port, parse_command_line } from './args.js';
import { STARTUP_SECONDS, SUPERVISOR_OPTIONS, Supervisor, worker_fds, type WorkerLink } from './supervisor.js';

const USAGE = 'usage: wssrv.ts [--host HOST[:PORT]] [--port PORT] [--workers N]';

function parse(argv: string[]) {
  const { values } = parse_command_line(USAGE, {
    args: argv,
    options: {
      ...ADDRESS_OPTIONS,
      ...SUPERVISOR_OPTIONS, // --workers, and --worker PIPE_IN,PIPE_OUT,LISTENING_SOCKET
    },
  });
  const [host, port] = host_and_port(USAGE, values.host, values.port);
  const workers = count_option(USAGE, 'workers', values.workers, 1);
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

/** Seconds between pings to a worker; one that has not answered for two periods is killed. */
const HEARTBEAT = 15;

/** The supervisor's side of a worker: its pipes as a WebSocket, the chat relayed from it, the heartbeat. */
class WorkerPipe implements WorkerLink {
  private readonly relaying: Task<void>;

  constructor(private readonly sup: Supervisor<WorkerPipe>, private readonly proc: Process, readonly ws: http.WebSocket) {
    this.relaying = sup.loop.create_task(this.relay());
  }

  /** wssrv.py's chat: each message from this worker goes to every other worker. */
  private *relay(): Coroutine<void> {
    const proc = this.proc;
    try {
      for (;;) {
        const msg = yield* this.ws.receive();
        if (msg === null || msg.tp === http.MSG_CLOSE) return;
        if (msg.tp !== http.MSG_TEXT) continue;
        for (const other of this.sup.links()) {
          if (other !== this && !other.ws.closing) other.ws.send(msg.data);
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
  *watch(): Coroutine<void> {
    const [proc, pipe] = [this.proc, this.ws];
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

  /** The worker is gone, and with it the only other end of the pipe: the relay sees its end and closes our side. */
  *close(): Coroutine<void> {
    yield* this.relaying;
  }
}

const args = parse(process.argv.slice(2));
if (args.worker !== undefined) {
  worker(worker_fds(args.worker, true));
} else {
  const supervisor: Supervisor<WorkerPipe> = new Supervisor({
    host: args.host,
    port: args.port,
    workers: args.workers,
    worker_argv: () => [],
    link: function* (proc, from_worker, to_worker) {
      return new WorkerPipe(supervisor, proc, yield* pipe_websocket(supervisor.loop, from_worker, to_worker));
    },
  });
  process.exit(supervisor.run());
}
