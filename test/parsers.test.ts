// The generator parsers (coroutines/parsers.ts): ParserBuffer methods with data arriving in pieces, the
// StreamBuffer driver (set/unset parser, EOF, exceptions), DataBuffer reads on virtual time, lines and
// chunks parsers, and a StreamProtocol end to end over TCP on 127.0.0.1. Cases follow Tulip's
// tests/parsers_test.py.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CancelledError, DataBuffer, Future, EofStream, LineLimitExceededError, ParserBuffer, Protocol, StreamBuffer, StreamProtocol,
  Task, TestLoop, chunks_parser, lines_parser, new_event_loop, set_event_loop, wait,
  type Parser, type Transport,
} from '../src/index.js';
import { throws_a } from './support/asserts.js';
import { test_loop_each } from './support/loops.js';

let loop: TestLoop;
test_loop_each(test, (l) => (loop = l), { current: true });

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const strs = (out: DataBuffer<Buffer>): string[] => out._buffer.slice(out._head).map((x) => x.toString('latin1'));


/** Feeds each piece into `buf` and resumes `p`; returns what `p` returned (fails if it is still waiting). */
function drive<R>(buf: ParserBuffer, p: Parser<R>, ...pieces: string[]): R {
  let r = p.next();
  for (const piece of pieces) {
    assert.not.ok(r.done, `finished before ${JSON.stringify(piece)}`);
    buf.feed_data(b(piece));
    r = p.next();
  }
  assert.ok(r.done, 'still waiting for data');
  return r.value as R;
}

// ---- ParserBuffer ----

test('ParserBuffer: feed_data appends; empty data is nothing; strings are refused', () => {
  const buf = new ParserBuffer();
  buf.feed_data(b(''));
  assert.is(buf.size, 0);
  buf.feed_data(b('data'));
  assert.is(buf.size, 4);
  assert.is(buf.bytes().toString(), 'data');
  throws_a(() => buf.feed_data('text' as unknown as Uint8Array), TypeError, /encode/);
});

test('ParserBuffer: read(n) waits for n bytes across pieces and leaves the rest', () => {
  const buf = new ParserBuffer();
  assert.is(drive(buf, buf.read(3), '1', '234').toString(), '123');
  assert.is(buf.bytes().toString(), '4');
  assert.is(drive(buf, buf.read(0)).length, 0);
  throws_a(() => buf.read(-1).next(), RangeError);
});

test('ParserBuffer: readsome() returns what is there, up to size', () => {
  const buf = new ParserBuffer();
  assert.is(drive(buf, buf.readsome(3), '1').toString(), '1');
  assert.is(drive(buf, buf.readsome(2), '234').toString(), '23');
  assert.is(buf.bytes().toString(), '4');
  buf.feed_data(b('567'));
  assert.is(drive(buf, buf.readsome()).toString(), '4567');
});

test('ParserBuffer: skip(n)', () => {
  const buf = new ParserBuffer();
  assert.is(drive(buf, buf.skip(3), '1', '234'), undefined);
  assert.is(buf.bytes().toString(), '4');
});

test('ParserBuffer: readuntil() returns through the separator, also one split across pieces', () => {
  const buf = new ParserBuffer();
  assert.is(drive(buf, buf.readuntil(b('\n'), 4), '123', '\n456').toString(), '123\n');
  assert.is(buf.bytes().toString(), '456');
  assert.is(drive(buf, buf.readuntil(b('\r\n')), '7\r', '\n8').toString(), '4567\r\n');
  assert.is(buf.bytes().toString(), '8');
  throws_a(() => buf.readuntil(b('')).next(), RangeError, /empty/);
  throws_a(() => buf.readuntil('\n' as unknown as Uint8Array).next(), TypeError, /encode/);
});

test('ParserBuffer: readuntil() limit: a line too long raises as soon as it is known', () => {
  let buf = new ParserBuffer();
  let p = buf.readuntil(b('\n'), 4);
  p.next();
  buf.feed_data(b('1'));
  p.next();
  buf.feed_data(b('234'));
  assert.not.ok(p.next().done);
  buf.feed_data(b('5'));
  throws_a(() => p.next(), LineLimitExceededError, /too long/);

  buf = new ParserBuffer();
  p = buf.readuntil(b('\n'), 4);
  p.next();
  buf.feed_data(b('12345\n6'));
  throws_a(() => p.next(), LineLimitExceededError);

  class CustomExc extends Error {}
  buf = new ParserBuffer();
  p = buf.readuntil(b('\n'), 4, CustomExc);
  p.next();
  buf.feed_data(b('12345\n6'));
  throws_a(() => p.next(), CustomExc);
});

test('ParserBuffer: skipuntil() discards through the separator, also one split across pieces', () => {
  const buf = new ParserBuffer();
  drive(buf, buf.skipuntil(b('\n')), '123', '\n456\n');
  assert.is(buf.bytes().toString(), '456\n');
  drive(buf, buf.skipuntil(b('\n')));
  assert.is(buf.bytes().toString(), '');
  drive(buf, buf.skipuntil(b('\r\n')), 'abc\r', '\nxy');
  assert.is(buf.bytes().toString(), 'xy');
});

test('ParserBuffer: wait() and waituntil() leave the bytes in the buffer', () => {
  const buf = new ParserBuffer();
  assert.is(drive(buf, buf.wait(3), '1', '234').toString(), '123');
  assert.is(buf.bytes().toString(), '1234');
  assert.is(drive(buf, buf.waituntil(b('\n')), '5\n6').toString(), '12345\n');
  assert.is(buf.bytes().toString(), '12345\n6');
  const p = buf.waituntil(b('!'), 8);
  p.next();
  buf.feed_data(b('789'));
  throws_a(() => p.next(), LineLimitExceededError);
});

test('ParserBuffer: many small pieces and one long line stay linear (no quadratic copying or scanning)', () => {
  const buf = new ParserBuffer();
  const p = buf.readuntil(b('\n'));
  p.next();
  const piece = b('x'.repeat(16));
  const t0 = performance.now();
  for (let i = 0; i < 200_000; i++) {
    buf.feed_data(piece);
    assert.not.ok(p.next().done);
  }
  buf.feed_data(b('\n'));
  const r = p.next();
  const ms = performance.now() - t0;
  assert.ok(r.done);
  assert.is((r.value as Buffer).length, 16 * 200_000 + 1);
  assert.ok(ms < 3000, `3.2 MB in 16-byte pieces took ${ms} ms`);
  assert.ok(buf._data.length <= 8 * 1024 * 1024, 'capacity stays within a small factor of the data');
});

test('ParserBuffer: consuming and refilling reuses the storage', () => {
  const buf = new ParserBuffer();
  for (let i = 0; i < 10_000; i++) {
    buf.feed_data(b('line of text\n'));
    assert.is(drive(buf, buf.readuntil(b('\n'))).toString(), 'line of text\n');
  }
  assert.ok(buf._data.length <= 1024);
});

// ---- lines_parser, chunks_parser (run by hand, as Tulip's tests do) ----

test('lines_parser(): lines in pieces; EofStream leaves the partial line in the buffer', () => {
  const out = new DataBuffer<Buffer>();
  const buf = new ParserBuffer();
  const p = lines_parser()(out, buf);
  p.next();
  for (const d of ['line1', '\r\n', 'lin', 'e2\r', '\ndata']) {
    buf.feed_data(b(d));
    p.next();
  }
  assert.equal(strs(out), ['line1\r\n', 'line2\r\n']);
  throws_a(() => p.throw(new EofStream()), EofStream);
  assert.is(buf.bytes().toString(), 'data');
});

test('lines_parser(limit): a longer line fails the output', () => {
  const stream = new StreamBuffer();
  const out = stream.set_parser(lines_parser(8));
  stream.feed_data(b('short\nmuch too long'));
  assert.equal(strs(out), ['short\n']);
  assert.instance(out.exception(), LineLimitExceededError);
  assert.is(stream._parser, null);
});

test('chunks_parser(size)', () => {
  const out = new DataBuffer<Buffer>();
  const buf = new ParserBuffer();
  const p = chunks_parser(5)(out, buf);
  p.next();
  for (const d of ['line1', 'lin', 'e2d', 'ata']) {
    buf.feed_data(b(d));
    p.next();
  }
  assert.equal(strs(out), ['line1', 'line2']);
  throws_a(() => p.throw(new EofStream()), EofStream);
  assert.is(buf.bytes().toString(), 'data');
  throws_a(() => chunks_parser(0), RangeError);
});

// ---- StreamBuffer ----

/** A parser that takes whatever arrives, then fails at EOF (Tulip's tests' `p()` with `raise ValueError()`). */
function* fails_at_eof(_out: DataBuffer<Buffer>, buf: ParserBuffer): Parser {
  try {
    for (;;) yield* buf.readsome();
  } catch (e) {
    if (e instanceof EofStream) throw new SyntaxError('bad eof');
    throw e;
  }
}
/** Takes whatever arrives and ignores EOF (lets EofStream through). */
function* eats_all(_out: DataBuffer<Buffer>, buf: ParserBuffer): Parser {
  for (;;) yield* buf.readsome();
}
/** Takes whatever arrives and ends its output itself at EOF. */
function* ends_at_eof(out: DataBuffer<Buffer>, buf: ParserBuffer): Parser {
  try {
    for (;;) yield* buf.readsome();
  } catch (e) {
    if (!(e instanceof EofStream)) throw e;
    out.feed_eof();
  }
}

test('StreamBuffer: exception() / set_exception(), which also fails the current parser', () => {
  const stream = new StreamBuffer();
  assert.is(stream.exception(), null);
  const out = stream.set_parser(lines_parser());
  const exc = new RangeError();
  stream.set_exception(exc);
  assert.is(stream.exception(), exc);
  assert.is(out.exception(), exc);
  assert.is(stream._parser, null);
  assert.is(stream.set_parser(lines_parser()).exception(), exc, 'a later parser fails at once');
});

test('StreamBuffer: feed_data without a parser buffers; empty data is nothing; strings are refused', () => {
  const stream = new StreamBuffer();
  stream.feed_data(b(''));
  assert.is(stream._buffer.bytes().toString(), '');
  stream.feed_data(b('line1\nline2\n'));
  assert.is(stream._buffer.bytes().toString(), 'line1\nline2\n');
  throws_a(() => stream.feed_data('x' as unknown as Uint8Array), TypeError);
});

test('StreamBuffer: set_parser unsets the previous parser (its output gets EOF)', () => {
  const stream = new StreamBuffer();
  const first = stream.set_parser(lines_parser());
  stream.set_parser(lines_parser());
  assert.ok(first._eof);
});

test('StreamBuffer: set_parser parses what is already buffered; unset_parser keeps the rest', () => {
  const stream = new StreamBuffer();
  stream.feed_data(b('line1'));
  stream.feed_data(b('\r\nline2\r\ndata'));
  const out = stream.set_parser(lines_parser());
  assert.equal(strs(out), ['line1\r\n', 'line2\r\n']);
  assert.is(stream._buffer.bytes().toString(), 'data');
  assert.ok(stream._parser !== null);
  stream.unset_parser();
  assert.is(stream._parser, null);
  assert.is(stream._buffer.bytes().toString(), 'data');
  assert.ok(out._eof);
  throws_a(() => stream.unset_parser(), Error, /no parser/);
});

test('StreamBuffer: a parser that fails on the buffered data, or when called, fails its output', () => {
  const stream = new StreamBuffer();
  stream.feed_data(b('line1'));
  // eslint-disable-next-line require-yield
  const out = stream.set_parser(function* (): Parser {
    throw new SyntaxError('bad');
  });
  assert.instance(out.exception(), SyntaxError);
  const out2 = stream.set_parser((): Parser => {
    throw new TypeError('not even a generator');
  });
  assert.instance(out2.exception(), TypeError);
  assert.is(stream._parser, null);
});

test('StreamBuffer: set_parser after EOF parses the buffered data, then ends the parser', () => {
  const stream = new StreamBuffer();
  stream.feed_data(b('line1'));
  stream.feed_data(b('\r\nline2\r\ndata'));
  stream.feed_eof();
  const out = stream.set_parser(lines_parser());
  assert.equal(strs(out), ['line1\r\n', 'line2\r\n']);
  assert.is(stream._buffer.bytes().toString(), 'data');
  assert.is(stream._parser, null);
  assert.ok(out._eof);
  assert.is(out.exception(), null);

  assert.instance(stream.set_parser(fails_at_eof).exception(), SyntaxError);
  const out3 = stream.set_parser(eats_all);
  assert.is(out3.exception(), null);
  assert.ok(out3._eof);
});

test('StreamBuffer: a parser that returns is removed, its output ends, the rest stays buffered', () => {
  const stream = new StreamBuffer();
  stream.feed_data(b('line1'));
  stream.feed_data(b('\r\nline2\r\ndata'));
  const out = stream.set_parser(function* two_lines(out: DataBuffer<Buffer>, buf: ParserBuffer): Parser {
    out.feed_data(yield* buf.readuntil(b('\n')));
    out.feed_data(yield* buf.readuntil(b('\n')));
  });
  assert.equal(strs(out), ['line1\r\n', 'line2\r\n']);
  assert.is(stream._buffer.bytes().toString(), 'data');
  assert.is(stream._parser, null);
  assert.ok(out._eof);
  stream.feed_data(b('more'));
  assert.is(stream._buffer.bytes().toString(), 'datamore');
});

test('StreamBuffer: data fed to a parser; EOF in the middle of a line', () => {
  const stream = new StreamBuffer();
  const out = stream.set_parser(lines_parser());
  stream.feed_data(b('line1'));
  stream.feed_data(b('\r\nline2\r\ndata'));
  assert.is(stream._buffer.bytes().toString(), 'data');
  stream.feed_eof();
  assert.equal(strs(out), ['line1\r\n', 'line2\r\n']);
  assert.is(stream._buffer.bytes().toString(), 'data');
  assert.ok(out._eof);
  assert.is(stream._parser, null);
});

test('StreamBuffer: a parser that fails on fed data fails its output and is removed', () => {
  const stream = new StreamBuffer();
  const out = stream.set_parser(function* (_o: DataBuffer<never>, buf: ParserBuffer): Parser {
    yield* buf.readsome();
    throw new SyntaxError('bad data');
  });
  stream.feed_data(b('line1'));
  assert.instance(out.exception(), SyntaxError);
  assert.is(stream._parser, null);
  assert.is(stream._buffer.bytes().toString(), '');
});

test('StreamBuffer: at EOF a parser may fail, end its output itself, or let EofStream through', () => {
  for (const [parser, failed] of [[fails_at_eof, true], [ends_at_eof, false], [eats_all, false]] as const) {
    const stream = new StreamBuffer();
    const out = stream.set_parser(parser);
    stream.feed_data(b('line1'));
    assert.is(out.exception(), null);
    stream.feed_eof();
    if (failed) assert.instance(out.exception(), SyntaxError);
    else assert.ok(out._eof && out.exception() === null, parser.name);
    assert.is(stream._parser, null);
  }
});

test('StreamBuffer: unset_parser throws EofStream in the same way', () => {
  for (const [parser, failed] of [[fails_at_eof, true], [ends_at_eof, false], [eats_all, false]] as const) {
    const stream = new StreamBuffer();
    const out = stream.set_parser(parser);
    stream.feed_data(b('line1'));
    stream.unset_parser();
    if (failed) assert.instance(out.exception(), SyntaxError);
    else assert.ok(out._eof && out.exception() === null, parser.name);
    assert.is(stream._parser, null);
  }
});

test('StreamBuffer: a parser that yields something of its own fails with a TypeError that says why', () => {
  const stream = new StreamBuffer();
  const out = stream.set_parser(function* (): Parser {
    yield 42 as never;
  });
  assert.instance(out.exception(), TypeError);
  assert.match(String((out.exception() as Error).message), /yield\*/);
});

// Type-level: a parser yields only the ParserBuffer's marker (proven by `tsc --noEmit`, never run).
export function* _not_a_coroutine(buf: ParserBuffer): Parser {
  const line: Buffer = yield* buf.readuntil(b('\n'));
  void line;
  // @ts-expect-error: a future yields Suspend, which a parser cannot pass on (parsers do not wait on futures)
  yield* new Future<number>({ loop });
  // @ts-expect-error: a bare yield is not a request for data; use yield* on a ParserBuffer method
  yield;
}

// ---- DataBuffer ----

test('DataBuffer: feed_data, feed_eof, exception', () => {
  const out = new DataBuffer<object>();
  const item = {};
  out.feed_data(item);
  assert.equal(out._buffer, [item]);
  assert.is(out.exception(), null);
  out.feed_eof();
  assert.ok(out._eof);
  const exc = new Error();
  out.set_exception(exc);
  assert.is(out.exception(), exc);
});

test('DataBuffer: read() waits for the next term', () => {
  const out = new DataBuffer<object>();
  const item = {};
  const t = new Task(out.read());
  loop.call_soon(() => out.feed_data(item));
  assert.is(loop.run_until_complete(t), item);
});

test('DataBuffer: read() raises EofStream at the end, after the terms before it', () => {
  const out = new DataBuffer<string>();
  const t = new Task(out.read());
  loop.call_soon(() => out.feed_eof());
  throws_a(() => loop.run_until_complete(t), EofStream);

  const out2 = new DataBuffer<string>();
  out2.feed_data('a');
  out2.feed_data('b');
  out2.feed_eof();
  assert.is(loop.run_until_complete(out2.read()), 'a');
  assert.not.ok(out2.at_eof());
  assert.is(loop.run_until_complete(out2.read()), 'b');
  assert.ok(out2.at_eof());
  throws_a(() => loop.run_until_complete(out2.read()), EofStream);
});

test('DataBuffer: read_or(x) gives x at the end instead of raising, also to a waiting reader; exceptions still raise', () => {
  const out = new DataBuffer<string>();
  out.feed_data('a');
  assert.is(loop.run_until_complete(out.read_or(null)), 'a');
  const t = new Task(out.read_or(null));
  loop.call_soon(() => out.feed_eof());
  assert.is(loop.run_until_complete(t), null);
  assert.is(loop.run_until_complete(out.read_or('end')), 'end');
  const failed = new DataBuffer<string>();
  failed.set_exception(new SyntaxError());
  throws_a(() => loop.run_until_complete(failed.read_or(null)), SyntaxError);
});

test('DataBuffer: read() raises the exception set, also in a waiting reader', () => {
  const out = new DataBuffer<object>();
  out.feed_data({});
  out.set_exception(new SyntaxError());
  throws_a(() => loop.run_until_complete(out.read()), SyntaxError);

  const out2 = new DataBuffer<object>();
  const t1 = new Task(out2.read());
  const t2 = new Task((function* () {
    out2.set_exception(new SyntaxError());
  })());
  loop.run_until_complete(wait<unknown>([t1, t2]));
  throws_a(() => t1.result(), SyntaxError);
});

test('DataBuffer: a cancelled reader does not break the next feed or the next read', () => {
  const out = new DataBuffer<number>();
  const t = new Task(out.read());
  loop.run_until_complete((function* () { yield; })());
  t.cancel();
  throws_a(() => loop.run_until_complete(t), CancelledError);
  out.feed_data(1);
  assert.is(loop.run_until_complete(out.read()), 1);
  const t2 = new Task(out.read());
  loop.run_until_complete((function* () { yield; })());
  throws_a(() => loop.run_until_complete(out.read()), Error, /already waiting/);
  out.feed_data(2);
  assert.is(loop.run_until_complete(t2), 2);
});

test('DataBuffer: many terms read one by one', () => {
  const out = new DataBuffer<number>();
  for (let i = 0; i < 5000; i++) out.feed_data(i);
  out.feed_eof();
  const got = loop.run_until_complete((function* () {
    const all: number[] = [];
    for (;;) {
      try {
        all.push(yield* out.read());
      } catch (e) {
        if (e instanceof EofStream) return all;
        throw e;
      }
    }
  })());
  assert.is(got.length, 5000);
  assert.is(got[4999], 4999);
});

// ---- StreamProtocol ----

test('StreamProtocol: connection_made, connection_lost (clean: EOF; with an error: the exception)', () => {
  const tr = {} as Transport;
  const proto = new StreamProtocol();
  assert.is(proto.transport, null);
  proto.connection_made(tr);
  assert.is(proto.transport, tr);
  const out = proto.set_parser(lines_parser());
  proto.data_received(b('a\nb'));
  proto.connection_lost(null);
  assert.is(proto.transport, null);
  assert.ok(proto.stream._eof);
  assert.equal(strs(out), ['a\n']);
  assert.ok(out._eof);

  const proto2 = new StreamProtocol();
  proto2.connection_made(tr);
  const exc = new Error('reset');
  proto2.connection_lost(exc);
  assert.is(proto2.exception(), exc);
});

test('StreamProtocol end to end over TCP on 127.0.0.1: lines, a switch to chunks, EOF', () => {
  set_event_loop(null);
  const real = new_event_loop();
  set_event_loop(real);
  try {
    class Sender extends Protocol {
      override connection_made(t: Transport): void {
        // Split across writes at awkward places; the parser must not care.
        for (const piece of ['hel', 'lo\nwor', 'ld\n', 'ABCDE', 'FGHIJ', 'K']) t.write(b(piece));
        t.close();
      }
    }
    const [server] = real.run_until_complete(real.start_serving(() => new Sender(), '127.0.0.1', 0));
    const port = (server!.getsockname() as [string, number])[1];
    const result = real.run_until_complete((function* () {
      const [, stream] = yield* real.create_connection(() => new StreamProtocol(), '127.0.0.1', port);
      const lines = stream.set_parser(lines_parser());
      const got: string[] = [yield* lines.read(), yield* lines.read()].map((l) => l.toString());
      const chunks = stream.set_parser(chunks_parser(5));
      for (;;) {
        try {
          got.push((yield* chunks.read()).toString());
        } catch (e) {
          if (e instanceof EofStream) break;
          throw e;
        }
      }
      return { got, rest: stream.stream._buffer.bytes().toString() };
    })(), 10);
    assert.equal(result.got, ['hello\n', 'world\n', 'ABCDE', 'FGHIJ']);
    assert.is(result.rest, 'K');
    real.stop_serving(server!);
  } finally {
    set_event_loop(null);
    real.close();
    set_event_loop(loop);
  }
});

test('StreamBuffer: set_exception() closes the running parser, so its finally blocks run', () => {
  const stream = new StreamBuffer();
  let cleaned = false;
  const out = stream.set_parser(function* (_out: DataBuffer<Buffer>, buf: ParserBuffer) {
    try {
      yield* buf.read(10);
    } finally {
      cleaned = true;
    }
  });
  stream.feed_data(b('abc'));
  assert.not.ok(cleaned);
  stream.set_exception(new Error('boom'));
  assert.ok(cleaned);
  assert.is((out.exception() as Error).message, 'boom');
});

test('ParserBuffer: find/at/peek_text/drop scan synchronously; more() waits for new bytes', () => {
  const buf = new ParserBuffer();
  buf.feed_data(b('GET / HTTP/1.1\r\n\r\nrest'));
  assert.is(buf.find(b('\r\n\r\n')), 14);
  assert.is(buf.find(b('\r\n\r\n'), 15), -1);
  assert.is(buf.at(0), 0x47);
  assert.is(buf.at(100), undefined);
  assert.is(buf.peek_text(3), 'GET');
  throws_a(() => buf.peek_text(1000), RangeError);
  assert.is(buf.peek_text(18), 'GET / HTTP/1.1\r\n\r\n');
  buf.drop(19);
  assert.is(buf.bytes().toString(), 'est');
  throws_a(() => buf.drop(4), RangeError);
  throws_a(() => buf.find(b('')), RangeError);
  const more = buf.more();
  assert.not.ok(more.next().done);
  assert.not.ok(more.next().done, 'no new bytes yet');
  buf.feed_data(b('!'));
  assert.ok(more.next().done);
});

test.run();
