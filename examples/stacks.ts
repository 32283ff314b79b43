/**
 * Crude demo for print_stack() (asyncio's examples/stacks.py).
 *
 * What differs, and why:
 * - Python's Task.print_stack() walks the suspended coroutine's frames (gi_frame, and gi_yieldfrom down a
 *   `yield from` chain). JavaScript generators do not expose their suspended frames, so our Task has no
 *   get_stack()/print_stack(): the print_stack() below prints the task, and for a task that failed, the
 *   traceback of its exception (which is also what Python prints for a task that is done).
 * - That traceback is the point: the future's iterator raises the stored exception after the task resumes
 *   the coroutine, so an Error's `.stack` runs through the whole `yield*` chain. helper() is called
 *   through outer() -> middle() -> helper() to show it (the original called helper() directly). The
 *   running task's frames are visible too, on the JavaScript stack (print_stack() from inside helper()).
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

/** Python's Task.print_stack(), as far as a generator lets us see (see above). */
function print_stack(t: Task<unknown>): void {
  console.log(`Stack for ${String(t)}:`);
  if (t.done() && !t.cancelled() && t.exception() !== null) {
    console.log((t.exception() as Error).stack);
  } else if (t === Task.current_task()) {
    // The running task is the one whose frames we can see: they are on the JavaScript stack right now.
    console.log(new Error('(running)').stack!.split('\n').slice(2).join('\n'));
  } else {
    console.log('  (no frames: a suspended generator does not expose them)');
  }
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
