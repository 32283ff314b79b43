// Protocol parser example (Tulip's examples/tcp_protocol_parser.py).
//
//   npx tsx examples/tcp_protocol_parser.ts --server [--host 127.0.0.1] [--port 9999]
//   npx tsx examples/tcp_protocol_parser.ts --client [--host 127.0.0.1] [--port 9999]
//
// A line protocol of "ping:", "pong:", "stop:" and "text:<utf-8>" messages, each ending with \r\n. The
// client pings, sends a text when the pong comes, and sends stop when the echoed text comes. With --port 0
// the server picks a free port and prints it. Ctrl-C (SIGINT) stops the loop, as in Tulip.
import {
  EofStream, Protocol, SIGINT, StreamBuffer, StreamProtocol, get_event_loop, task,
  type AbstractEventLoop, type Coroutine, type DataBuffer, type Parser, type ParserBuffer, type Transport,
} from 'tulip-ts';
import { option } from './args.js';

const MSG_TEXT = 'text:';
const MSG_PING = 'ping:';
const MSG_PONG = 'pong:';
const MSG_STOP = 'stop:';
const CRLF = Buffer.from('\r\n');

interface Message {
  tp: string;
  data: string | null;
}
const Message = (tp: string, data: string | null): Message => ({ tp, data });

/**
 * A parser is used with a StreamBuffer for incremental protocol parsing. It is a generator function, but
 * not a coroutine: the StreamBuffer resumes it as data arrives. Usually parsers are state machines.
 *
 * More details in coroutines/parsers.ts.
 */
function* my_protocol_parser(out: DataBuffer<Message>, buf: ParserBuffer): Parser {
  for (;;) {
    const tp = (yield* buf.read(5)).toString('latin1');
    if (tp === MSG_PING || tp === MSG_PONG) {
      // skip line
      yield* buf.skipuntil(CRLF);
      out.feed_data(Message(tp, null));
    } else if (tp === MSG_STOP) {
      out.feed_data(Message(tp, null));
    } else if (tp === MSG_TEXT) {
      // read text
      const text = yield* buf.readuntil(CRLF);
      out.feed_data(Message(tp, text.toString('utf8').trim()));
    } else {
      throw new SyntaxError('Unknown protocol prefix.');
    }
  }
}

class MyProtocolWriter {
  constructor(readonly transport: Transport) {}

  ping(): void {
    this.transport.write(Buffer.from('ping:\r\n'));
  }

  pong(): void {
    this.transport.write(Buffer.from('pong:\r\n'));
  }

  stop(): void {
    this.transport.write(Buffer.from('stop:\r\n'));
  }

  send_text(text: string): void {
    this.transport.write(Buffer.from(`text:${text.trim()}\r\n`, 'utf8'));
  }
}

/** The next message, or null once the peer has gone (Tulip's read() returned None; ours raises EofStream). */
function* read_message(reader: DataBuffer<Message>): Coroutine<Message | null> {
  try {
    return yield* reader.read();
  } catch (e) {
    if (e instanceof EofStream) return null;
    throw e;
  }
}

const show = (msg: Message): string => `Message(tp=${JSON.stringify(msg.tp)}, data=${JSON.stringify(msg.data)})`;

class EchoServer extends Protocol {
  transport!: Transport;
  stream!: StreamBuffer;

  override connection_made(transport: Transport): void {
    console.log('Connection made');
    this.transport = transport;
    this.stream = new StreamBuffer();
    this.dispatch();
  }

  override data_received(data: Buffer): void {
    this.stream.feed_data(data);
  }

  override eof_received(): void {
    this.stream.feed_eof();
  }

  override connection_lost(): void {
    console.log('Connection lost');
  }

  dispatch = task(function* (this: EchoServer) {
    const reader = this.stream.set_parser(my_protocol_parser);
    const writer = new MyProtocolWriter(this.transport);

    for (;;) {
      const msg = yield* read_message(reader);
      if (msg === null) break; // client has been disconnected

      console.log(`Message received: ${show(msg)}`);

      if (msg.tp === MSG_PING) {
        writer.pong();
      } else if (msg.tp === MSG_TEXT) {
        writer.send_text('Re: ' + msg.data);
      } else if (msg.tp === MSG_STOP) {
        this.transport.close();
        break;
      }
    }
  });
}

const start_client = task(function* (loop: AbstractEventLoop, host: string, port: number) {
  const [transport, stream] = yield* loop.create_connection(() => new StreamProtocol(), host, port);
  const reader = stream.set_parser(my_protocol_parser);
  const writer = new MyProtocolWriter(transport);
  writer.ping();

  const message = 'This is the message. It will be echoed.';

  for (;;) {
    const msg = yield* read_message(reader);
    if (msg === null) break;

    console.log(`Message received: ${show(msg)}`);
    if (msg.tp === MSG_PONG) {
      writer.send_text(message);
      console.log('data sent:', message);
    } else if (msg.tp === MSG_TEXT) {
      writer.stop();
      console.log('stop sent');
      break;
    }
  }

  transport.close();
});

function start_server(loop: AbstractEventLoop, host: string, port: number): void {
  const f = loop.start_serving(() => new EchoServer(), host, port);
  const x = loop.run_until_complete(f)[0]!;
  console.log('serving on', x.getsockname());
  loop.run_forever();
}

let host = option('host', '127.0.0.1');
let port = Number(option('port', '9999'));
if (host.includes(':')) [host, port] = [host.split(':')[0]!, Number(host.split(':')[1])];
const server = process.argv.includes('--server');
const client = process.argv.includes('--client');

if (server === client) {
  console.log('Please specify --server or --client');
  process.exitCode = 2;
} else {
  const loop = get_event_loop();
  loop.add_signal_handler(SIGINT, () => loop.stop());

  if (server) {
    start_server(loop, host, port);
  } else {
    loop.run_until_complete(start_client(loop, host, port));
  }
  loop.close();
}
