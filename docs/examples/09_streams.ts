// docs/examples/09_streams.ts
import {
  get_event_loop, open_connection, start_server, type Coroutine, type StreamReader, type StreamWriter,
} from 'tulip-ts';

/** Called for each client, as a Task: reads lines and answers them in capitals, until EOF. */
function* handle_client(reader: StreamReader, writer: StreamWriter): Coroutine<void> {
  for (;;) {
    const line = yield* reader.readline();        // empty at EOF
    if (line.length === 0) break;
    writer.write(Buffer.from(line.toString().toUpperCase()));
    yield* writer.drain();                        // waits only if the client reads slowly
  }
  writer.close();
}

function* client(port: number): Coroutine<void> {
  const [reader, writer] = yield* open_connection('127.0.0.1', port);
  for (const word of ['hello', 'streams']) {
    writer.write(Buffer.from(`${word}\n`));
    console.log((yield* reader.readline()).toString().trim());
  }
  writer.write_eof();
  console.log('at EOF:', (yield* reader.read()).length === 0);
}

const loop = get_event_loop();
const server = loop.run_until_complete(start_server(handle_client, '127.0.0.1', 0));
const [, port] = server.sockets![0]!.getsockname() as [string, number];
loop.run_until_complete(client(port));
server.close();
loop.run_until_complete(server.wait_closed());
loop.close();
