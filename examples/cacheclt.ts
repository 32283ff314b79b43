/**
 * Client for cache server (asyncio 3.4's examples/cacheclt.py).
 *
 * See cachesvr.ts for protocol description.
 *
 * Differences from the Python: --max_n N makes each tester task stop after N rounds (0, the default,
 * runs forever as the original does) so the client can end by itself; there is no --iocp (Windows only).
 */
import {
  CancelledError, Future, SSLContext, PROTOCOL_TLS_CLIENT, CERT_NONE, Task, TimeoutError,
  gather, new_event_loop, open_connection, set_event_loop, sleep, wait_for,
  type AbstractEventLoop, type Coroutine, type StreamReader, type StreamWriter,
} from 'tulip-ts';
import { option } from './args.js';

// argparse, reduced to what this example needs: --name value, or a bare --flag for booleans.
const args = {
  tls: process.argv.includes('--tls'),
  host: option('host', 'localhost'),
  port: Number(option('port', '54321')),
  timeout: Number(option('timeout', '5')),
  max_backoff: Number(option('max_backoff', '5')), // Max backoff on reconnect
  ntasks: Number(option('ntasks', '10')), // Number of tester tasks
  ntries: Number(option('ntries', '5')), // Number of request tries before giving up (unused, as in the original)
  max_n: Number(option('max_n', '0')), // Rounds per tester task; 0: forever
};

// logging.basicConfig(level=logging.INFO): 'LEVEL:root:message' on stderr.
const logging = {
  info: (msg: string): void => console.error(`INFO:root:${msg}`),
  warn: (msg: string): void => console.error(`WARNING:root:${msg}`),
  exception: (msg: string, exc: unknown): void =>
    console.error(`ERROR:root:${msg}\n${exc instanceof Error ? exc.stack : String(exc)}`),
};
const repr = (exc: unknown): string => (exc instanceof Error ? `${exc.name}(${JSON.stringify(exc.message)})` : String(exc));

type Resp = { status?: string; value?: string; error?: string } | null;
type Pair = [Buffer, Future<Resp>]; // payload, waiter

/**
 * Multiplexing cache client.
 *
 * This wraps a single connection to the cache client.  The
 * connection is automatically re-opened when an error occurs.
 *
 * Multiple tasks may share this object; the requests will be
 * serialized.
 *
 * The public API is get(), set(), delete() (all are coroutines).
 */
class CacheClient {
  todo = new Set<Pair>();
  initialized = false;
  task: Task<void>;
  reader!: StreamReader;
  writer!: StreamWriter;
  next_id = 0;
  pending = new Map<number, Pair>();

  constructor(readonly host: string, readonly port: number,
              readonly sslctx: SSLContext | null = null, readonly loop: AbstractEventLoop) {
    this.task = new Task(this.activity(), { loop: this.loop });
  }

  *get(key: string): Coroutine<string | null> {
    const resp = yield* this.request('get', key);
    if (resp === null) return null;
    return resp.value ?? null;
  }

  *set(key: string, value: string): Coroutine<boolean> {
    const resp = yield* this.request('set', key, value);
    if (resp === null) return false;
    return resp.status === 'ok';
  }

  *delete(key: string): Coroutine<boolean> {
    const resp = yield* this.request('delete', key);
    if (resp === null) return false;
    return resp.status === 'ok';
  }

  *request(type: string, key: string, value?: string): Coroutine<Resp> {
    if (this.task.done()) throw new Error('assert not self.task.done()');
    const data: Record<string, string> = { type, key };
    if (value !== undefined) data['value'] = value;
    const payload = Buffer.from(JSON.stringify(data), 'utf-8');
    const waiter = new Future<Resp>({ loop: this.loop });
    if (this.initialized) {
      try {
        yield* this.send(payload, waiter);
      } catch (exc) {
        // IOError: the connection broke under us; activity() resends it after reconnecting.
        if (exc instanceof CancelledError) throw exc;
        this.todo.add([payload, waiter]);
      }
    } else {
      this.todo.add([payload, waiter]);
    }
    return yield* waiter;
  }

  *activity(): Coroutine<void> {
    let backoff = 0;
    for (;;) {
      try {
        [this.reader, this.writer] = yield* open_connection(
          this.host, this.port, { ssl: this.sslctx ?? undefined, loop: this.loop });
      } catch (exc) {
        // In Python 3.4 CancelledError is an Exception too; here it must end the task, so let it through.
        if (exc instanceof CancelledError) throw exc;
        backoff = Math.min(args.max_backoff, backoff + Math.floor(backoff / 2) + 1);
        logging.info(`Error connecting: ${repr(exc)}; sleep ${backoff}`);
        yield* sleep(backoff, undefined, { loop: this.loop });
        continue;
      }
      backoff = 0;
      this.next_id = 0;
      this.pending = new Map();
      this.initialized = true;
      try {
        while (this.todo.size > 0) {
          const pair = this.todo.values().next().value!; // set.pop()
          this.todo.delete(pair);
          const [payload, waiter] = pair;
          if (!waiter.done()) yield* this.send(payload, waiter);
        }
        for (;;) {
          const [resp_id, resp] = yield* this.process();
          const pair = this.pending.get(resp_id);
          if (pair !== undefined) {
            this.pending.delete(resp_id);
            const [, waiter] = pair;
            if (!waiter.done()) waiter.set_result(resp);
          }
        }
      } catch (exc) {
        this.initialized = false;
        this.writer.close();
        for (const [req_id, pair] of this.pending) {
          this.pending.delete(req_id);
          const [, waiter] = pair;
          if (!waiter.done()) this.todo.add(pair);
        }
        if (exc instanceof CancelledError) throw exc; // see above
        logging.info(`Error processing: ${repr(exc)}`);
      }
    }
  }

  *send(payload: Buffer, waiter: Future<Resp>): Coroutine<void> {
    this.next_id += 1;
    const req_id = this.next_id;
    const frame = `request ${req_id} ${payload.length}\n`;
    this.writer.write(Buffer.from(frame, 'ascii'));
    this.writer.write(payload);
    this.pending.set(req_id, [payload, waiter]);
    yield* this.writer.drain();
  }

  *process(): Coroutine<[number, Resp]> {
    const frame = (yield* this.reader.readline()).toString('latin1');
    if (!frame) throw new Error('EOFError');
    // frame.split(None, 1): the first word, and the rest
    const [head, tail = ''] = frame.trim().split(/\s+(.*)/s) as [string, string?];
    if (head === 'error') throw new Error(`OOB error: ${JSON.stringify(tail)}`);
    if (head !== 'response') throw new Error(`Bad frame: ${JSON.stringify(frame)}`);
    const [resp_id, resp_size] = tail.split(/\s+/).map(Number) as [number, number];
    const data = yield* this.reader.readexactly(resp_size);
    if (data.length !== resp_size) throw new Error('EOFError');
    const resp = JSON.parse(data.toString('utf-8')) as Resp;
    return [resp_id, resp];
  }
}

function main(): void {
  // No default loop: everything below gets its loop explicitly, as in the original.
  set_event_loop(null);
  const loop = new_event_loop();
  let sslctx: SSLContext | null = null;
  if (args.tls) {
    // test_utils.dummy_ssl_context(): encrypt, but verify nothing.
    sslctx = new SSLContext(PROTOCOL_TLS_CLIENT);
    sslctx.check_hostname = false;
    sslctx.verify_mode = CERT_NONE;
  }
  const cache = new CacheClient(args.host, args.port, sslctx, loop);
  try {
    loop.run_until_complete(
      gather(
        ...Array.from({ length: args.ntasks }, (_, i) => testing(i, cache, loop)),
        { loop }));
  } finally {
    // Only reached with --max_n: the connection task runs forever otherwise, so stop it before closing.
    cache.task.cancel();
    try {
      loop.run_until_complete(cache.task);
    } catch {
      // cancelled
    }
    loop.close();
  }
}

function* testing(label: number, cache: CacheClient, loop: AbstractEventLoop): Coroutine<void> {
  const w = <T>(g: Coroutine<T>): Coroutine<T> => wait_for(g, args.timeout, { loop });

  const key = `foo-${label}`;
  for (let n = 0; args.max_n === 0 || n < args.max_n; n++) {
    logging.info(`${label} ${'-'.repeat(20)}`);
    try {
      let ret: unknown = yield* w(cache.set(key, `hello-${label}-world`));
      logging.info(`${label} set ${String(ret)}`);
      ret = yield* w(cache.get(key));
      logging.info(`${label} get ${String(ret)}`);
      ret = yield* w(cache.delete(key));
      logging.info(`${label} del ${String(ret)}`);
      ret = yield* w(cache.get(key));
      logging.info(`${label} get2 ${String(ret)}`);
    } catch (exc) {
      if (exc instanceof TimeoutError) {
        logging.warn(`${label} Timeout`);
      } else {
        logging.exception(`${label} Client exception: ${repr(exc)}`, exc);
        break;
      }
    }
  }
}

main();
