// docs/examples/05_echo.ts
import { Future, Protocol, get_event_loop, type Coroutine, type Transport } from 'tulip-ts';

class Echo extends Protocol {
  private transport!: Transport;
  override connection_made(transport: Transport): void {
    this.transport = transport;
  }
  override data_received(data: Buffer): void {
    this.transport.write(data);                   // never blocks: the rest is buffered, in order
  }
}

/** Collects what arrives; `done` completes with all of it when the connection ends. */
class Collector extends Protocol {
  private chunks: Buffer[] = [];
  readonly done = new Future<Buffer>();
  override data_received(data: Buffer): void {
    this.chunks.push(data);
  }
  override connection_lost(exc: Error | null): void {
    if (exc) this.done.set_exception(exc);
    else this.done.set_result(Buffer.concat(this.chunks));
  }
}

const loop = get_event_loop();

function* ask(port: number): Coroutine<string> {
  const [transport, protocol] = yield* loop.create_connection(() => new Collector(), '127.0.0.1', port);
  transport.write(Buffer.from('hello'));
  transport.write_eof();                          // half-close: "that is all I will send"
  return (yield* protocol.done).toString();
}

const [sock] = loop.run_until_complete(loop.start_serving(() => new Echo(), '127.0.0.1', 0));
const [, port] = sock!.getsockname() as [string, number];
console.log('serving on port', port);
console.log('echoed:', loop.run_until_complete(ask(port)));
loop.stop_serving(sock!);
loop.close();
