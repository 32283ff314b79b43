// TCP echo server and client (Tulip's examples/tcp_echo.py).
//
//   npx tsx examples/tcp_echo.ts --server [--host 127.0.0.1] [--port 9999] [--timeout 5]
//   npx tsx examples/tcp_echo.ts --client [--host 127.0.0.1] [--port 9999] [--linger 10]
//
// The server answers "Re: <data>" and closes a connection idle for --timeout seconds. The client sends
// one message, prints the answer, and disconnects --linger seconds later. With --port 0 the server picks
// a free port and prints it. Ctrl-C (SIGINT) stops the loop, as in Tulip.
import { Protocol, SIGINT, get_event_loop, type TimerHandle, type Transport } from 'tulip-ts';
import { option } from './args.js';

let host = option('host', '127.0.0.1');
let port = Number(option('port', '9999'));
if (host.includes(':') && !host.includes('::')) [host, port] = [host.split(':')[0]!, Number(host.split(':')[1])];
const TIMEOUT = Number(option('timeout', '5'));
const LINGER = Number(option('linger', '10'));
const loop = get_event_loop();

class EchoServer extends Protocol {
  private transport!: Transport;
  private h_timeout!: TimerHandle;

  private timeout(): void {
    console.log('connection timeout, closing.');
    this.transport.close();
  }

  override connection_made(transport: Transport): void {
    console.log('connection made');
    this.transport = transport;
    this.h_timeout = loop.call_later(TIMEOUT, () => this.timeout());
  }

  override data_received(data: Buffer): void {
    console.log('data received:', data.toString());
    this.transport.write(Buffer.concat([Buffer.from('Re: '), data]));
    this.h_timeout.cancel();
    this.h_timeout = loop.call_later(TIMEOUT, () => this.timeout());
  }

  override eof_received(): void {}

  override connection_lost(): void {
    this.h_timeout.cancel();
    console.log('connection lost');
  }
}

class EchoClient extends Protocol {
  static message = 'This is the message. It will be echoed.';
  private transport!: Transport;

  override connection_made(transport: Transport): void {
    this.transport = transport;
    this.transport.write(Buffer.from(EchoClient.message));
    console.log('data sent:', EchoClient.message);
  }

  override data_received(data: Buffer): void {
    console.log('data received:', data.toString());
    loop.call_later(LINGER, () => this.transport.close());
  }

  override eof_received(): void {}

  override connection_lost(): void {
    loop.stop();
  }
}

if (process.argv.includes('--server') === process.argv.includes('--client')) {
  console.log('Please specify --server or --client');
  process.exit(2);
}
loop.add_signal_handler(SIGINT, () => loop.stop());
if (process.argv.includes('--server')) {
  const [sock] = loop.run_until_complete(loop.start_serving(() => new EchoServer(), host, port));
  console.log('serving on', sock!.getsockname());
} else {
  loop.run_until_complete(loop.create_connection(() => new EchoClient(), host, port));
}
loop.run_forever();
loop.close();
