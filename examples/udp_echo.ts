// UDP echo server and client (Tulip's examples/udp_echo.py).
//
//   npx tsx examples/udp_echo.ts --server [--host 127.0.0.1] [--port 9999]
//   npx tsx examples/udp_echo.ts --client [--host 127.0.0.1] [--port 9999] [--count 1]
//
// The server sends every datagram back to where it came from. The client sends one message, prints the
// answer, and (after --count answers, one by default) closes its transport, which stops the loop. With
// --port 0 the server picks a free port and prints it. Ctrl-C (SIGINT) stops the loop, as in Tulip.
import { DatagramProtocol, SIGINT, get_event_loop, type AbstractEventLoop, type DatagramTransport } from 'tulip-ts';
import { option } from './args.js';

let host = option('host', '127.0.0.1');
let port = Number(option('port', '9999'));
if (host.includes(':') && !host.includes('::')) [host, port] = [host.split(':')[0]!, Number(host.split(':')[1])];
const COUNT = Number(option('count', '1'));

class MyServerUdpEchoProtocol extends DatagramProtocol {
  private transport!: DatagramTransport;

  override connection_made(transport: DatagramTransport): void {
    console.log('start', String(transport));
    this.transport = transport;
  }

  override datagram_received(data: Buffer, addr: unknown): void {
    console.log('Data received:', data.toString(), addr);
    this.transport.sendto(data, addr);
  }

  override connection_refused(exc: Error): void {
    console.log('Connection refused:', exc.message);
  }

  override connection_lost(exc: Error | null): void {
    console.log('stop', exc === null ? null : String(exc));
  }
}

class MyClientUdpEchoProtocol extends DatagramProtocol {
  static message = 'This is the message. It will be echoed.';
  private transport!: DatagramTransport;
  private received = 0;

  override connection_made(transport: DatagramTransport): void {
    this.transport = transport;
    this.send();
  }

  private send(): void {
    console.log(`sending "${MyClientUdpEchoProtocol.message}"`);
    this.transport.sendto(Buffer.from(MyClientUdpEchoProtocol.message));
    console.log('waiting to receive');
  }

  override datagram_received(data: Buffer, _addr: unknown): void {
    console.log(`received "${data.toString()}"`);
    // Tulip's client closes after the first answer; --count N asks for N round trips.
    if (++this.received < COUNT) this.send();
    else this.transport.close();
  }

  override connection_refused(exc: Error): void {
    console.log('Connection refused:', exc.message);
  }

  override connection_lost(exc: Error | null): void {
    console.log('closing transport', exc === null ? null : String(exc));
    const loop = get_event_loop();
    loop.stop();
  }
}

function start_server(loop: AbstractEventLoop, addr: [string, number]): void {
  const [transport] = loop.run_until_complete(loop.create_datagram_endpoint(() => new MyServerUdpEchoProtocol(), { local_addr: addr }));
  console.log('serving on', transport.get_extra_info('sockname'));
}

function start_client(loop: AbstractEventLoop, addr: [string, number]): void {
  loop.run_until_complete(loop.create_datagram_endpoint(() => new MyClientUdpEchoProtocol(), { remote_addr: addr }));
}

if (process.argv.includes('--server') === process.argv.includes('--client')) {
  console.log('Please specify --server or --client');
  process.exit(2);
}
const loop = get_event_loop();
try {
  loop.add_signal_handler(SIGINT, () => loop.stop());
  if (process.argv.includes('--server')) start_server(loop, [host, port]);
  else start_client(loop, [host, port]);
  loop.run_forever();
} finally {
  loop.close();
}
