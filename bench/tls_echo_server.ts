// The tulip-ts side of bench/tls_echo.ts: a TLS echo server. Args: port certfile keyfile. Prints "ready".
import { PROTOCOL_TLS_SERVER, Protocol, SSLContext, new_event_loop, type Transport } from '../src/index.js';

const [port, certfile, keyfile] = process.argv.slice(2);
const ctx = new SSLContext(PROTOCOL_TLS_SERVER);
ctx.load_cert_chain(certfile!, keyfile!);

class Echo extends Protocol {
  private t!: Transport;
  override connection_made(t: Transport): void {
    this.t = t;
  }
  override data_received(data: Buffer): void {
    this.t.write(data);
  }
}

const loop = new_event_loop();
loop.run_until_complete(loop.start_serving(() => new Echo(), '127.0.0.1', Number(port), { ssl: ctx }));
console.log('ready');
loop.run_forever();
