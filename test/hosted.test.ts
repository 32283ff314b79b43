// The hosted mode (src/hosted.ts): a tulip loop inside Node's own. Node's timers, Promises and sockets go
// on while tulip tasks run, and the two talk to each other in one process over real sockets on 127.0.0.1
// (which run_forever() cannot do: it owns the thread). Stopping, re-running, worker threads waking the
// hosted loop, errors, and what cannot be hosted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import {
  PollSelector, Protocol, RuntimeError, SelectorEventLoop, get_running_loop, new_event_loop, sleep,
  type AbstractEventLoop, type Transport,
} from '../src/index.js';
import { executor_function, run_in_executor } from '../src/executor.js';
import type * as jobs from './support/executor_jobs.js';
import { open_fds } from './support/backends.js';
import { logger } from '../src/log.js';
import { open_connection } from '../coroutines/streams.js';

const is_runtime_error = (e: unknown): boolean => e instanceof RuntimeError;
const ADD = executor_function<typeof jobs.add>(new URL('./support/executor_jobs.ts', import.meta.url).href, 'add');

/** A fresh loop for `body`, closed afterwards, with no fd left open. */
async function with_loop(body: (loop: SelectorEventLoop) => Promise<void>): Promise<void> {
  const before = open_fds();
  const loop = new_event_loop() as SelectorEventLoop;
  try {
    await body(loop);
  } finally {
    loop.close();
  }
  // An executor's worker threads exit on Node's loop after close(): wait for that (2 s at most).
  const leaked = () => [...open_fds()].filter((fd) => !before.has(fd));
  for (let waited = 0; leaked().length > 0 && waited < 2000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  assert.equal(leaked(), [], 'no fd leaked');
}

class Echo extends Protocol {
  private transport!: Transport;
  override connection_made(t: Transport): void {
    this.transport = t;
  }
  override data_received(data: Buffer): void {
    this.transport.write(data);
  }
}

test('Node\'s timers and Promises go on while a tulip coroutine sleeps; the result comes back as a Promise', () =>
  with_loop(async (loop) => {
    let ticks = 0;
    const interval = setInterval(() => ticks++, 5);
    let promise_ran = false;
    const result = await loop.run_until_complete_hosted((function* () {
      void Promise.resolve().then(() => (promise_ran = true)); // a microtask queued inside a turn
      yield* sleep(0.1);
      return 42;
    })());
    clearInterval(interval);
    assert.is(result, 42);
    assert.ok(promise_ran);
    assert.ok(ticks >= 5, `Node's interval ran ${ticks} times in 100 ms`);
  }));

test('a Node net client talks to a hosted tulip server, in one process', () =>
  with_loop(async (loop) => {
    const server = await loop.run_until_complete_hosted(loop.create_server(() => new Echo(), '127.0.0.1', 0));
    const port = (server.sockets![0]!.getsockname() as [string, number])[1];
    const hosting = loop.run_hosted();
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');
    const big = Buffer.alloc(1 << 20, 'tulip ');
    const chunks: Buffer[] = [];
    let received = 0;
    const done = new Promise<void>((resolve) => client.on('data', (d: Buffer) => {
      chunks.push(d);
      if ((received += d.length) >= big.length) resolve();
    }));
    client.write(big);
    await done;
    assert.ok(Buffer.concat(chunks).equals(big), '1 MiB echoed byte for byte');
    client.destroy();
    server.close();
    loop.call_soon(() => loop.stop());
    await hosting;
    await loop.run_until_complete_hosted(server.wait_closed());
  }));

test('a tulip client talks to a Node net server, in one process', () =>
  with_loop(async (loop) => {
    const node_server = net.createServer((s) => s.on('data', (d) => s.write(Buffer.concat([Buffer.from('node: '), d]))));
    node_server.listen(0, '127.0.0.1');
    await once(node_server, 'listening');
    const { port } = node_server.address() as net.AddressInfo;
    const reply = await loop.run_until_complete_hosted((function* () {
      const [reader, writer] = yield* open_connection('127.0.0.1', port, { loop });
      writer.write(Buffer.from('hello'));
      const data = yield* reader.readexactly(11);
      writer.close();
      return data.toString();
    })());
    assert.is(reply, 'node: hello');
    node_server.close();
    await once(node_server, 'close');
  }));

test('a worker thread\'s result wakes the hosted loop (run_in_executor)', () =>
  with_loop(async (loop) => {
    assert.is(await loop.run_until_complete_hosted(run_in_executor(loop, null, ADD, 2, 3)), 5);
  }));

test('stop() ends the hosting; the loop runs again, hosted or not; get_running_loop() only inside a turn', () =>
  with_loop(async (loop) => {
    let inside: AbstractEventLoop | null = null;
    loop.call_later(0.01, () => {
      inside = get_running_loop();
      loop.stop();
    });
    await loop.run_hosted();
    assert.is(inside, loop);
    assert.is(get_running_loop(), null);
    assert.is(loop.run_until_complete((function* () { yield* sleep(0.001); return 'sync'; })()), 'sync');
    assert.is(await loop.run_until_complete_hosted((function* () { return 'again'; })()), 'again');
  }));

test('failures: a rejected Promise for a failing coroutine; a throwing callback is logged; no double running', () =>
  with_loop(async (loop) => {
    try {
      await loop.run_until_complete_hosted((function* () {
        yield* sleep(0.001);
        throw new TypeError('boom');
      })());
      assert.unreachable('resolved');
    } catch (e) {
      assert.instance(e, TypeError);
    }
    const records: string[] = [];
    const saved = logger.handler;
    logger.handler = (r) => records.push(r.message);
    try {
      const hosting = loop.run_hosted();
      loop.call_soon(() => {
        throw new Error('in a callback');
      });
      assert.throws(() => loop.run_forever(), is_runtime_error);
      assert.throws(() => loop.run_hosted(), is_runtime_error);
      loop.call_later(0.005, () => loop.stop());
      await hosting;
    } finally {
      logger.handler = saved;
    }
    assert.ok(records.some((m) => /Exception in callback/.test(m)), records.join('\n'));
  }));

test('only a selector with an fd can be hosted; a closed loop cannot', () => {
  const loop = new SelectorEventLoop(new PollSelector());
  try {
    assert.throws(() => loop.run_hosted(), (e: Error) => e instanceof RuntimeError && /cannot be hosted/.test(e.message));
  } finally {
    loop.close();
  }
  assert.throws(() => loop.run_hosted(), is_runtime_error);
});

test.run();
