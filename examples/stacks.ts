/**
 * Crude demo for print_stack() (asyncio's examples/stacks.py).
 *
 * What differs, and why:
 * - Python's Task.print_stack() shows a suspended coroutine's outermost frame. JavaScript generators do not
 *   expose their suspended frames, so ours records them as the task suspends, in debug mode only (a stack
 *   capture costs microseconds): the loop is put in debug mode below. Then it shows the whole `yield*`
 *   chain, outer() -> middle() -> helper() -> readline() and down (the original called helper() directly).
 * - For the running task (print_stack() from inside helper()) the frames are live, in any mode; for a task
 *   that failed, they are its exception's, which also run through the whole chain.
 * - The original read from python.org; this one starts a local server that answers one line, so the demo
 *   needs no network. 1/0 is Infinity in JavaScript, so helper() throws a ZeroDivisionError itself.
 */
import {
  Task, async, get_event_loop, open_connection, start_server,
  type BaseEventLoop, type Coroutine, type Future, type StreamReader, type StreamWriter,
} from 'tulip-ts';

class ZeroDivisionError extends Error {
  override name = 'ZeroDivisionError';
}

const stdout = { write: (text: string) => process.stdout.write(text) };

function print_stack(t: Task<unknown>): void {
  t.print_stack({ file: stdout });
}

function* helper(r: StreamReader): Coroutine<Buffer> {
  console.log('--- helper ---');
  for (const t of Task.all_tasks()) print_stack(t);
  console.log('--- end helper ---');
  const line = yield* r.readline();
  throw new ZeroDivisionError('division by zero'); // 1/0
  return line; // eslint-disable-line no-unreachable
}

function* middle(r: StreamReader): Coroutine<Buffer> {
  return yield* helper(r);
}

function* outer(r: StreamReader): Coroutine<Buffer> {
  return yield* middle(r);
}

// Stands in for python.org: reads the request line, answers with one line, closes.
function* http_ish(reader: StreamReader, writer: StreamWriter): Coroutine<void> {
  yield* reader.readline();
  writer.write(Buffer.from('HTTP/1.0 200 OK\r\n'));
  writer.close();
}

function doit(): void {
  const l = get_event_loop();
  l.set_debug(true); // so that suspended tasks record their frames
  const lr = <T>(c: Coroutine<T> | Future<T>): T => l.run_until_complete(c);
  const svr = lr(start_server(http_ish, '127.0.0.1', 0));
  const [host, port] = svr.sockets![0]!.getsockname() as [string, number];
  const [r, w] = lr(open_connection(host, port));
  const t1 = async(outer(r));
  for (const t of Task.all_tasks()) print_stack(t);
  console.log('---');
  (l as BaseEventLoop)._run_once();
  for (const t of Task.all_tasks()) print_stack(t);
  console.log('---');
  w.write(Buffer.from('GET /\r\n'));
  w.write_eof();
  try {
    lr(t1);
  } catch (e) {
    console.log('catching', String(e));
  } finally {
    for (const t of Task.all_tasks()) print_stack(t);
    // all_tasks() holds only pending tasks; t1 is done now, and its traceback is the interesting one.
    print_stack(t1 as Task<unknown>);
  }
  svr.close();
  l.close();
}

function main(): void {
  doit();
}

main();
