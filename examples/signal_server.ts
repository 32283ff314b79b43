// A TCP echo server that shuts down cleanly on SIGINT or SIGTERM (Ctrl-C, kill): the signal handlers
// are ordinary loop callbacks (loop.add_signal_handler), so the shutdown is ordinary code: stop
// listening, say goodbye to each client, wait until every connection has ended, stop the loop.
//
//   npx tsx examples/signal_server.ts [--port 0]
//
// Prints "serving on HOST:PORT" once listening and "bye" at the end; exits with status 0.
import {
  Protocol, SIGINT, SIGTERM, get_event_loop, signal_name,
  type AbstractEventLoop, type Coroutine, type Server, type Transport,
} from 'tulip-ts';

const i = process.argv.indexOf('--port');
const PORT = i >= 0 ? Number(process.argv[i + 1]) : 8888;
const clients = new Set<Transport>();

class Echo extends Protocol {
  private transport!: Transport;
  override connection_made(transport: Transport): void {
    this.transport = transport;
    clients.add(transport);
    console.log(`client connected (${clients.size} now)`);
  }
  override data_received(data: Buffer): void {
    this.transport.write(data);
  }
  override connection_lost(): void {
    clients.delete(this.transport);
    console.log(`client gone (${clients.size} left)`);
  }
}

function* shutdown(loop: AbstractEventLoop, server: Server, sig: number): Coroutine<void> {
  console.log(`got ${signal_name(sig)}: shutting down`);
  server.close(); // no new connections
  for (const t of clients) {
    t.write(Buffer.from('server shutting down\n'));
    t.close(); // flushes, then connection_lost
  }
  yield* server.wait_closed(); // every connection has ended
  loop.stop();
}

const loop = get_event_loop();
const server = loop.run_until_complete(loop.create_server(() => new Echo(), '127.0.0.1', PORT));
const [host, port] = server.sockets![0]!.getsockname() as [string, number];
for (const sig of [SIGINT, SIGTERM]) {
  loop.add_signal_handler(sig, () => {
    for (const s of [SIGINT, SIGTERM]) loop.remove_signal_handler(s); // a second Ctrl-C kills as usual
    loop.create_task(shutdown(loop, server, sig));
  });
}
console.log(`serving on ${host}:${port}`);
loop.run_forever();
loop.close();
console.log('bye');
