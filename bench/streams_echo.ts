// A streams echo server for the yardstick (../shared/bench/README.md): start_server, and per connection a
// task that loops readexactly(SIZE) → write → drain. It measures what the streams layer costs on top of
// the plain Protocol echo of bench/echo_server.ts.
//
//   node --import tsx bench/streams_echo.ts PORT [SECONDS] [SIZE]
//
// SIZE (default 1024) is the unit read with readexactly: any message size that is a multiple of it is
// echoed whole, but pass the client's message size (102400 for the 100 KiB run): a 1 KiB unit turns each
// 100 KiB message into 100 reads, writes and sends (measured here: 0.08× Node instead of 1.15×).
// With SECONDS, it exits after that long.
import { get_event_loop, start_server, type Coroutine, type StreamReader, type StreamWriter } from '../src/index.js';

const port = Number(process.argv[2] ?? 25000);
const seconds = Number(process.argv[3]);
const size = Number(process.argv[4] ?? 1024);

function* echo(reader: StreamReader, writer: StreamWriter): Coroutine<void> {
  try {
    for (;;) {
      const data = yield* reader.readexactly(size);
      writer.write(data);
      yield* writer.drain();
    }
  } catch {
    // IncompleteReadError at the client's EOF, or a reset: this connection is over.
  } finally {
    writer.close();
  }
}

const loop = get_event_loop();
const server = loop.run_until_complete(start_server(echo, '127.0.0.1', port, { loop }));
console.log(`tulip-ts streams echo server on ${JSON.stringify(server.sockets![0]!.getsockname())}`);
if (seconds > 0) loop.call_later(seconds, () => loop.stop());
loop.run_forever();
server.close();
loop.close();
