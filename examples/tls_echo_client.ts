// A TLS echo client: connects, checks the server's certificate, sends one message, prints the answer,
// and closes (sending close_notify).
//
//   npx tsx examples/tls_echo_client.ts [--cafile ca.pem] [--host 127.0.0.1] [--port 9443] [--server-hostname localhost]
//
// Without --cafile the system's CAs are used (ssl: true). create_connection returns only after the
// handshake, so the peer's certificate is known by then.
import { Protocol, create_default_context, get_event_loop, type Transport } from 'tulip-ts';
import { option } from './args.js';

const cafile = option('cafile', null);
const host = option('host', '127.0.0.1')!;
const port = Number(option('port', '9443'));
const server_hostname = option('server-hostname', 'localhost')!;
const MESSAGE = 'This is the message. It will be echoed.';

class EchoClient extends Protocol {
  private transport!: Transport;

  override connection_made(transport: Transport): void {
    this.transport = transport;
    transport.write(Buffer.from(MESSAGE));
    console.log('data sent:', MESSAGE);
  }

  override data_received(data: Buffer): void {
    console.log('data received:', data.toString());
    this.transport.close();
  }

  override connection_lost(exc: Error | null): void {
    console.log('connection lost', exc === null ? '' : exc.message);
    loop.stop();
  }
}

const loop = get_event_loop();
const ssl = cafile === null ? true : create_default_context(undefined, { cafile });
try {
  const [transport] = loop.run_until_complete(loop.create_connection(() => new EchoClient(), host, port, { ssl, server_hostname }));
  const cert = transport.get_extra_info('peercert') as { subject: Array<Array<[string, string]>> };
  const cn = cert.subject.flat().find(([k]) => k === 'commonName')?.[1];
  console.log(`server certificate: CN=${cn}; ${String(transport.get_extra_info('cipher'))}`);
  loop.run_forever();
} catch (e) {
  console.log(`${(e as Error).name}: ${(e as Error).message}`);
  process.exitCode = 1;
}
loop.close();
