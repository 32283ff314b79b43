// docs/examples/11_parsers.ts
import {
  EofStream, StreamBuffer, get_event_loop, type Coroutine, type DataBuffer, type Parser, type ParserBuffer,
} from 'tulip-ts';

/** Tulip's generator parsers: a parser asks its input for bytes with yield* and feeds out whole terms. */
function* key_values(out: DataBuffer<[string, string]>, buf: ParserBuffer): Parser {
  for (;;) {
    const line = (yield* buf.readuntil(Buffer.from('\n'))).toString().trim();
    const [key, value] = line.split('=');
    out.feed_data([key!, value ?? '']);
  }
}

const stream = new StreamBuffer();
const terms = stream.set_parser(key_values);
// Bytes arrive in any pieces; the parser is resumed as they come.
for (const piece of ['na', 'me=tulip\nyear=2', '013\n']) stream.feed_data(Buffer.from(piece));
stream.feed_eof();

function* read_all(): Coroutine<void> {
  try {
    for (;;) console.log(yield* terms.read());
  } catch (e) {
    if (!(e instanceof EofStream)) throw e;
    console.log('end of stream');
  }
}

const loop = get_event_loop();
loop.run_until_complete(read_all());
loop.close();
