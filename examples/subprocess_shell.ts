// Writing to and reading from a subprocess at the same time, with tasks (asyncio 3.4.3's
// examples/subprocess_shell.py).
//
//   npx tsx examples/subprocess_shell.ts
//
// 'sleep 2; wc' reads nothing for two seconds, so the 1.2 MB of input fills the pipe: drain() pauses
// the writer until wc starts reading ("pause writing" / "resume writing").
import {
  PIPE, create_subprocess_shell, get_event_loop, wait,
  type AbstractEventLoop, type Coroutine, type ProcessOptions, type StreamReader, type StreamWriter,
  type WriteTransport,
} from 'tulip-ts';

// The stdin pipe's high-water mark, set explicitly so the example can tell when drain() will wait.
const HIGH_WATER = 64 * 1024;

function* send_input(writer: StreamWriter<WriteTransport>, input: Buffer[]): Coroutine<void> {
  writer.transport.set_write_buffer_limits(HIGH_WATER);
  try {
    for (const line of input) {
      console.log('sending', line.length, 'bytes');
      writer.write(line);
      // asyncio's `d = writer.drain(); if d:` relied on 3.4.0's drain() returning a future only when
      // paused; a coroutine drain() can't say, so ask whether the buffer is above the high-water mark.
      if (writer.transport.get_write_buffer_size() > HIGH_WATER) {
        console.log('pause writing');
        yield* writer.drain();
        console.log('resume writing');
      }
    }
    writer.close();
  } catch (e) {
    const name = (e as Error).name;
    if (name === 'BrokenPipeError') console.log('stdin: broken pipe error');
    else if (name === 'ConnectionResetError') console.log('stdin: connection reset error');
    else throw e;
  }
}

function* log_errors(reader: StreamReader): Coroutine<void> {
  for (;;) {
    const line = yield* reader.readline();
    if (line.length === 0) break;
    console.log('ERROR', JSON.stringify(line.toString()));
  }
}

function* read_stdout(stdout: StreamReader): Coroutine<void> {
  for (;;) {
    const line = yield* stdout.readline();
    console.log('received', JSON.stringify(line.toString()));
    if (line.length === 0) break;
  }
}

function* start(loop: AbstractEventLoop, cmd: string, input: Buffer[] | null = null, kwds: ProcessOptions = {}): Coroutine<void> {
  kwds.stdout = PIPE;
  kwds.stderr = PIPE;
  if (input === null && kwds.stdin === undefined) kwds.stdin = null;
  else kwds.stdin = PIPE;
  const proc = yield* create_subprocess_shell(loop, cmd, kwds);

  const tasks: Coroutine<void>[] = [];
  if (input !== null) tasks.push(send_input(proc.stdin!, input));
  else console.log('No stdin');
  if (proc.stderr !== null) tasks.push(log_errors(proc.stderr));
  else console.log('No stderr');
  if (proc.stdout !== null) tasks.push(read_stdout(proc.stdout));
  else console.log('No stdout');

  if (tasks.length > 0) {
    // feed stdin while consuming stdout to avoid hang when stdin pipe is full
    yield* wait(tasks);
  }

  const exitcode = yield* proc.wait();
  console.log(`exit code: ${exitcode}`);
}

const loop = get_event_loop();
const input = Array.from({ length: 100 }, () => Buffer.from('foo bar baz\n'.repeat(300)));
loop.run_until_complete(start(loop, 'sleep 2; wc', input));
loop.close();
