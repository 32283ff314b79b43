// Test service that accepts connections and reads all data off them (asyncio's examples/sink.py, the
// companion of source.ts).
//
//   npx tsx examples/sink.ts [--host 127.0.0.1] [--port 1111] [--maxsize 268435456] [--once]
//
// Every chunk received is reported on stderr with the running total. A connection that sends more than
// --maxsize bytes is closed; one that sends exactly b'stop' (source.ts --stop) stops the server. With
// --once the server also stops when its first connection ends, so the program exits. With --port 0 it
// picks a free port and prints it ("serving [ [ host, port ] ]"). No --tls yet: TLS comes later.
import { Protocol, get_event_loop, type AbstractEventLoop, type Coroutine, type Server, type Transport } from 'tulip-ts';
import { option } from './args.js';

const args = {
  tls: process.argv.includes('--tls'),
  host: option('host', '127.0.0.1'),
  port: Number(option('port', '1111')),
  // asyncio's default is 16 MiB; ours is above source.ts's default --size, so the defaults go together.
  maxsize: Number(option('maxsize', String(256 * 1024 * 1024))),
  once: process.argv.includes('--once'),
};

let server: Server;
const STOP = Buffer.from('stop');

function dprint(...args: unknown[]): void {
  console.error('sink:', ...args);
}

class Service extends Protocol {
  private tr!: Transport;
  private total = 0;

  override connection_made(tr: Transport): void {
    dprint('connection from', tr.get_extra_info('peername'));
    dprint('my socket is', tr.get_extra_info('sockname'));
    this.tr = tr;
    this.total = 0;
  }

  override data_received(data: Buffer): void {
    if (data.equals(STOP)) {
      dprint('stopping server');
      server.close();
      this.tr.close();
      return;
    }
    this.total += data.length;
    dprint('received', data.length, 'bytes; total', this.total);
    if (this.total > args.maxsize) {
      dprint('closing due to too much data');
      this.tr.close();
    }
  }

  override connection_lost(how: Error | null): void {
    dprint('closed', how === null ? null : String(how)); // Python printed repr(how): no traceback
    dprint('total', this.total, 'bytes');
    if (args.once) {
      dprint('stopping server (--once)');
      server.close();
    }
  }
}

function* start(loop: AbstractEventLoop, host: string, port: number): Coroutine<void> {
  server = yield* loop.create_server(() => new Service(), host, port);
  dprint('serving', server.sockets!.map((s) => s.getsockname()));
  yield* server.wait_closed();
}

function main(): void {
  if (args.tls) {
    console.log('--tls is not supported yet: tulip-ts has no TLS transport (TLS comes later).');
    process.exit(2);
  }
  const loop = get_event_loop();
  try {
    loop.run_until_complete(start(loop, args.host, args.port));
  } finally {
    loop.close();
  }
}

main();
