// The echo server measured by the yardstick (../shared/bench/README.md) and by `npm run bench`: a plain
// Protocol echo (data_received -> transport.write) served by loop.start_serving on 127.0.0.1.
//
//   npx tsx bench/echo_server.ts PORT [SECONDS]     (with SECONDS, it exits after that long)
import { Protocol, get_event_loop, type Transport } from '../src/index.js';

class Echo extends Protocol {
  private transport!: Transport;
  override connection_made(transport: Transport): void {
    this.transport = transport;
  }
  override data_received(data: Buffer): void {
    this.transport.write(data);
  }
}

const port = Number(process.argv[2] ?? 25000);
const loop = get_event_loop();
const [sock] = loop.run_until_complete(loop.start_serving(() => new Echo(), '127.0.0.1', port));
console.log(`tulip-ts echo server on ${JSON.stringify(sock!.getsockname())}`);
const seconds = Number(process.argv[3]);
if (seconds > 0) loop.call_later(seconds, () => loop.stop());
loop.run_forever();
loop.close();
