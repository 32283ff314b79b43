// A TLS echo server: answers "Re: <data>" to each message, over TLS.
//
//   npx tsx examples/tls_echo_server.ts --certfile server.pem --keyfile server.key [--host 127.0.0.1] [--port 9443]
//
// With --port 0 it picks a free port and prints it. Each connection prints the TLS version and cipher
// the handshake settled on; connection_made only runs once the handshake is done. Ctrl-C ends it.
import { PROTOCOL_TLS_SERVER, Protocol, SSLContext, get_event_loop, type Transport } from 'tulip-ts';

function option(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1]!;
  if (fallback === undefined) {
    console.error(`usage: tls_echo_server.ts --certfile FILE --keyfile FILE [--host H] [--port P]  (--${name} is missing)`);
    process.exit(2);
  }
  return fallback;
}

const certfile = option('certfile');
const keyfile = option('keyfile', certfile);
const host = option('host', '127.0.0.1');
const port = Number(option('port', '9443'));

const context = new SSLContext(PROTOCOL_TLS_SERVER);
context.load_cert_chain(certfile, keyfile);

class EchoServer extends Protocol {
  private transport!: Transport;

  override connection_made(transport: Transport): void {
    this.transport = transport;
    const [cipher, version] = transport.get_extra_info('cipher') as [string, string, number];
    console.log(`connection made: ${version} ${cipher}`);
  }

  override data_received(data: Buffer): void {
    console.log('data received:', data.toString());
    this.transport.write(Buffer.concat([Buffer.from('Re: '), data]));
  }

  override connection_lost(exc: Error | null): void {
    console.log('connection lost', exc === null ? '' : exc.message);
  }
}

const loop = get_event_loop();
const [sock] = loop.run_until_complete(loop.start_serving(() => new EchoServer(), host, port, { ssl: context }));
console.log('serving on', sock!.getsockname());
loop.run_forever();
loop.close();
