/**
 * The console client of the WebSocket chat (Tulip's examples/wsclient.py, for examples/wssrv.ts): connects,
 * prints every message it receives, and sends each line typed (or piped) on stdin as "NAME: LINE".
 *
 *   npx tsx examples/wsclient.ts [ws://HOST:PORT/PATH] [--host HOST[:PORT]] [--port 8080] [--name NAME]
 *
 * Without --name it asks for one first, as wsclient.py did. Prints "Connected to URL." once the handshake
 * is done. At the end of stdin (Ctrl-D), or on SIGINT/SIGTERM, it does the closing handshake and exits
 * with status 0; when the server closes it prints "Disconnected: CODE REASON" and exits, with status 0 if
 * the server sent a close frame, 1 if the connection was lost without one or could not be made.
 *
 * stdin is watched with the loop's add_reader() (wsclient.py's way; Node's own stdin events cannot fire
 * while our loop owns the thread) and read with a plain read(2) when the selector says it is readable, so
 * its blocking mode is left alone: a terminal shared with the shell stays as it was. A regular file or
 * /dev/null as stdin cannot be watched (always readable, epoll refuses them): it is just read, a chunk per
 * loop iteration.
 */
import { readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import {
  PermissionError, SIGINT, SIGTERM, get_event_loop, http,
  type AbstractEventLoop, type Coroutine, type Task,
} from 'tulip-ts';
import { ADDRESS_OPTIONS, host_and_port, parse_command_line, usage_error } from './args.js';

const USAGE = 'usage: wsclient.ts [ws://HOST:PORT/PATH] [--host HOST[:PORT]] [--port PORT] [--name NAME]';

function parse(argv: string[]): { url: string; name: string | null } {
  const { values, positionals } = parse_command_line(USAGE, {
    args: argv,
    allowPositionals: true,
    options: {
      ...ADDRESS_OPTIONS,
      name: { type: 'string' },
    },
  });
  if (positionals.length > 1) usage_error(USAGE, 'one URL at most');
  let url = positionals[0];
  if (url === undefined) {
    const [host, port] = host_and_port(USAGE, values.host, values.port);
    url = `ws://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  } else if (!/^wss?:\/\//i.test(url)) {
    usage_error(USAGE, `not a ws:// or wss:// URL: ${url}`);
  }
  return { url, name: values.name ?? null };
}

/** wsclient.py's input(): a line from stdin, read before the loop runs (a byte at a time: nothing read past it). */
function ask(prompt: string): string | null {
  process.stdout.write(prompt);
  const byte = Buffer.alloc(1);
  const bytes: number[] = [];
  while (readSync(0, byte, 0, 1, null) === 1 && byte[0] !== 0x0a) bytes.push(byte[0]!);
  const line = Buffer.from(bytes).toString('utf8').trim();
  return line === '' ? null : line;
}

/** How long a line may grow without its newline before it is sent as it is (stdin cannot fill our memory). */
const MAX_LINE = 64 * 1024;

/** Reads stdin as the loop sees it readable, and hands out whole lines (without the newline), then the end. */
class StdinLines {
  private readonly chunk = Buffer.alloc(MAX_LINE);
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private watching = false;
  private stopped = false;

  constructor(private readonly loop: AbstractEventLoop, private readonly on_line: (line: string) => void, private readonly on_end: () => void) {
    try {
      loop.add_reader(0, () => this.read());
      this.watching = true;
    } catch (e) {
      if (!(e instanceof PermissionError)) throw e;
      loop.call_soon(() => this.read()); // a file: always readable
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.watching) this.loop.remove_reader(0);
  }

  private read(): void {
    if (this.stopped) return;
    let n: number;
    try {
      n = readSync(0, this.chunk, 0, this.chunk.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return; // someone made stdin non-blocking: wait for more
      n = 0; // EIO (a terminal that went away), say: the end
    }
    if (n === 0) {
      const rest = this.partial + this.decoder.end();
      this.partial = '';
      if (rest !== '') this.on_line(rest);
      this.stop();
      this.on_end();
      return;
    }
    const lines = (this.partial + this.decoder.write(this.chunk.subarray(0, n))).split('\n');
    this.partial = lines.pop()!;
    if (this.partial.length > MAX_LINE) {
      lines.push(this.partial);
      this.partial = '';
    }
    for (const line of lines) this.on_line(line);
    if (!this.watching) this.loop.call_soon(() => this.read());
  }
}

/** Connects, then prints what arrives until the connection ends. Returns the exit status. */
function* chat(loop: AbstractEventLoop, url: string, name: string): Coroutine<number> {
  // wsclient.py's handshake, in one call: a GET with the Upgrade headers through http.request(), the 101
  // checked (Sec-WebSocket-Accept against our key), then the connection taken over by the frame parser
  // and a masking writer.
  const ws = yield* http.ws_connect(url, { timeout: 10, loop });
  console.log(`Connected to ${url}.`);

  let closer = null as Task<void> | null; // (not narrowed to null: close() sets it)
  const close = (): void => {
    if (closer === null && !ws.closing) closer = loop.create_task(ws.close());
  };
  const input = new StdinLines(loop, (line) => {
    const text = line.trim();
    if (text !== '' && !ws.closing) ws.send(`${name}: ${text}`);
  }, close);
  for (const sig of [SIGINT, SIGTERM]) loop.add_signal_handler(sig, close);
  try {
    for (;;) {
      const msg = yield* ws.receive(); // pings are answered in there
      if (msg === null || msg.tp === http.MSG_CLOSE) break;
      if (msg.tp === http.MSG_TEXT) console.log(msg.data.trim());
    }
  } finally {
    input.stop();
    for (const sig of [SIGINT, SIGTERM]) loop.remove_signal_handler(sig);
  }
  if (closer !== null) yield* closer; // our close: the server's answer has arrived (or the connection ended)
  else console.log(`Disconnected: ${ws.close_code} ${ws.close_reason}`.trimEnd());
  return ws.close_code === http.CLOSE_ABNORMAL ? 1 : 0;
}

const { url, name: given } = parse(process.argv.slice(2));
const name = given ?? ask('Please enter your name: ');
if (name === null) usage_error(USAGE, 'no name');
const loop = get_event_loop();
let status: number;
try {
  status = loop.run_until_complete(chat(loop, url, name));
} catch (e) {
  console.error(`wsclient.ts: ${(e as Error).name}: ${(e as Error).message}`);
  status = 1;
} finally {
  loop.close();
}
process.exit(status);
