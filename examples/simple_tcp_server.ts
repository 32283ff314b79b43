/**
 * Example of a simple TCP server that is written in (mostly) coroutine
 * style and uses start_server() and open_connection() (asyncio 3.4's
 * examples/simple_tcp_server.py).
 *
 * Note that running this example starts both the TCP server and client
 * in the same process.  It listens on port 12345 on 127.0.0.1, so it will
 * fail if this port is currently in use (pass another port, or 0 for any
 * free one, as the first argument).
 */
import {
  Task, get_event_loop, open_connection, sleep, start_server,
  type AbstractEventLoop, type Coroutine, type Future, type Server, type StreamReader, type StreamWriter,
} from 'tulip-ts';

/**
 * This is just an example of how a TCP server might be potentially
 * structured.  This class has basically 3 methods: start the server,
 * handle a client, and stop the server.
 *
 * Note that you don't have to follow this structure, it is really
 * just an example or possible starting point.
 */
class MyServer {
  server: Server | null = null; // encapsulates the server sockets

  // this keeps track of all the clients that connected to our
  // server.  It can be useful in some cases, for instance to
  // kill client connections or to broadcast some data to all
  // clients...
  clients = new Map<Task<void>, [StreamReader, StreamWriter]>(); // task -> [reader, writer]

  /**
   * This method accepts a new client connection and creates a Task
   * to handle this client.  this.clients is updated to keep track
   * of the new client.
   */
  private _accept_client(client_reader: StreamReader, client_writer: StreamWriter): void {
    // start a new Task to handle this specific client connection
    const task = new Task(this._handle_client(client_reader, client_writer));
    this.clients.set(task, [client_reader, client_writer]);

    const client_done = (task: Future<void>): void => {
      console.error('client task done:', String(task));
      this.clients.delete(task as Task<void>);
    };

    task.add_done_callback(client_done);
  }

  /**
   * This method actually does the work to handle the requests for
   * a specific client.  The protocol is line oriented, so there is
   * a main loop that reads a line with a request and then sends
   * out one or more lines back to the client with the result.
   */
  private *_handle_client(client_reader: StreamReader, client_writer: StreamWriter): Coroutine<void> {
    for (;;) {
      const data = (yield* client_reader.readline()).toString('utf-8');
      if (!data) break; // an empty string means the client disconnected
      const [cmd, ...args] = data.trimEnd().split(' ');
      if (cmd === 'add') {
        const arg1 = Number(args[0]);
        const arg2 = Number(args[1]);
        const retval = arg1 + arg2;
        client_writer.write(Buffer.from(`${Number.isInteger(retval) ? retval.toFixed(1) : retval}\n`, 'utf-8')); // like Python's repr(float)
      } else if (cmd === 'repeat') {
        const times = parseInt(args[0]!, 10);
        const msg = args[1];
        client_writer.write(Buffer.from('begin\n', 'utf-8'));
        for (let idx = 0; idx < times; idx++) {
          client_writer.write(Buffer.from(`${idx + 1}. ${msg}\n`, 'utf-8'));
        }
        client_writer.write(Buffer.from('end\n', 'utf-8'));
      } else {
        console.error(`Bad command ${JSON.stringify(data)}`);
      }

      // This enables us to have flow control in our connection.
      yield* client_writer.drain();
    }
    // Our side is still open after the client's EOF (half-close); close it, or wait_closed() waits for it.
    client_writer.close();
  }

  /**
   * Starts the TCP server, so that it listens on port 12345.
   *
   * For each client that connects, the accept_client method gets
   * called.  This method runs the loop until the server sockets
   * are ready to accept connections.
   */
  start(loop: AbstractEventLoop, port: number): void {
    this.server = loop.run_until_complete(
      start_server((r, w) => this._accept_client(r, w),
                   '127.0.0.1', port,
                   { loop }));
  }

  /**
   * Stops the TCP server, i.e. closes the listening socket(s).
   *
   * This method runs the loop until the server sockets are closed.
   */
  stop(loop: AbstractEventLoop): void {
    if (this.server !== null) {
      this.server.close();
      loop.run_until_complete(this.server.wait_closed());
      this.server = null;
    }
  }
}

function main(): void {
  const loop = get_event_loop();

  // creates a server and starts listening to TCP connections
  const server = new MyServer();
  server.start(loop, Number(process.argv[2] ?? 12345));
  const [, port] = server.server!.sockets![0]!.getsockname() as [string, number];

  function* client(): Coroutine<void> {
    const [reader, writer] = yield* open_connection(
      '127.0.0.1', port, { loop });

    function send(msg: string): void {
      console.log('> ' + msg);
      writer.write(Buffer.from(msg + '\n', 'utf-8'));
    }

    function* recv(): Coroutine<string> {
      const msgback = (yield* reader.readline()).toString('utf-8').trimEnd();
      console.log('< ' + msgback);
      return msgback;
    }

    // send a line
    send('add 1 2');
    let msg = yield* recv();

    send('repeat 5 hello');
    msg = yield* recv();
    if (msg !== 'begin') throw new Error(`expected begin, got ${msg}`);
    for (;;) {
      msg = yield* recv();
      if (msg === 'end') break;
    }

    writer.close();
    yield* sleep(0.5);
  }

  // creates a client and connects to our server
  try {
    loop.run_until_complete(client());
    server.stop(loop);
  } finally {
    loop.close();
  }
}

main();
