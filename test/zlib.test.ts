// zlib: ZlibStream (src/zlib.ts) over the addon's streaming zlib (src/native/zlib.c). Node's own one-shot
// functions (zlib.gzipSync, gunzipSync, ...) are the reference in both directions; inputs are fed in
// random splits from a seeded PRNG (so a failure reproduces), down to one byte at a time. Then the
// failure modes: truncated, corrupt, too large (a 100 MB bomb against a 1 MB limit, with the peak memory
// measured), use after close, bad arguments to the raw binding, and memory over many streams.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { binding as b } from '../src/binding.js';
import {
  DataBuffer, EofStream, StreamBuffer, ZlibError, ZlibStream, type Coroutine, type ParserFunction, type ZlibErrorCode, type ZlibMode,
} from '../src/index.js';
import { throws_a } from './support/asserts.js';
import { collect_until, get_gc } from './support/gc.js';
import { make_loop, register_loop_cleanup, run } from './support/loops.js';
import { start_ts_worker } from './support/workers.js';

const C = b.constants;
register_loop_cleanup();

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n bytes that compress somewhat (words, numbers) with stretches of noise, as real bodies do. */
function sample(n: number, seed = 1): Buffer {
  const random = prng(seed);
  const words = ['tulip', 'event', 'loop', 'yield', 'future', 'task', ' ', '\n', '<div>', '</div>', '{"a":1}'];
  const out = Buffer.alloc(n);
  let i = 0;
  while (i < n) {
    if (random() < 0.05) {
      const len = Math.min(n - i, 1 + Math.floor(random() * 64));
      for (let k = 0; k < len; k++) out[i++] = Math.floor(random() * 256);
    } else {
      i += out.write(words[Math.floor(random() * words.length)]!, i);
    }
  }
  return out;
}

/** Splits data into chunks of 1..max bytes (max 1: one byte at a time), with some empty ones. */
function split(data: Buffer, random: () => number, max: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    if (random() < 0.02) parts.push(Buffer.alloc(0));
    const n = 1 + Math.floor(random() * max);
    parts.push(data.subarray(i, i + n));
    i += n;
  }
  return parts;
}

/** Runs parts through a new stream: every process() output, then finish(). */
function through(mode: ZlibMode, parts: Buffer[], options = {}): Buffer {
  const z = new ZlibStream(mode, options);
  const out = parts.map((p) => z.process(p));
  out.push(z.finish());
  return Buffer.concat(out);
}

function zlib_error(fn: () => unknown, code: ZlibErrorCode, message?: RegExp): ZlibError {
  const e = throws_a(fn, ZlibError, message) as ZlibError;
  assert.is(e.code, code, e.message);
  return e;
}

const ENCODERS: Array<[ZlibMode, (b: Buffer) => Buffer]> = [
  ['gzip', zlib.gunzipSync],
  ['deflate', zlib.inflateSync],
  ['deflate-raw', zlib.inflateRawSync],
];
const DECODERS: Array<[ZlibMode, (b: Buffer, o?: zlib.ZlibOptions) => Buffer]> = [
  ['gunzip', zlib.gzipSync],
  ['inflate', zlib.deflateSync],
  ['inflate-raw', zlib.deflateRawSync],
];
const SPLITS = [1, 7, 300, 5000, 1 << 20];

test('our encoders, fed in random splits, produce what node:zlib decodes', () => {
  const random = prng(42);
  for (const [mode, decode] of ENCODERS) {
    for (const size of [1, 100, 20_000, 150_000]) {
      const data = sample(size, size);
      for (const max of SPLITS) {
        if (max === 1 && size > 20_000) continue;
        for (const level of max === 1 ? [-1] : [-1, 0, 1, 9]) {
          const out = through(mode, split(data, random, max), { level });
          assert.ok(decode(out).equals(data), `${mode} size ${size} split ${max} level ${level}`);
        }
      }
    }
  }
});

test('our decoders read node:zlib output fed in random splits, one byte at a time included; unzip reads all three', () => {
  const random = prng(7);
  for (const [mode, encode] of DECODERS) {
    for (const size of [1, 100, 20_000, 150_000]) {
      const data = sample(size, size + 1);
      const packed = encode(data, { level: size % 10 });
      for (const max of SPLITS) {
        for (const m of [mode, 'unzip'] as const) {
          const z = new ZlibStream(m);
          const out = split(packed, random, max).map((p) => z.process(p));
          assert.ok(z.ended, `${m} ended`);
          out.push(z.finish());
          assert.ok(Buffer.concat(out).equals(data), `${m} (${mode} data) size ${size} split ${max}`);
        }
      }
    }
  }
});

test('empty input: encoders make a valid empty stream, decoders read one, and a decoder fed nothing is TRUNCATED', () => {
  for (const [mode, decode] of ENCODERS) {
    assert.is(decode(through(mode, [])).length, 0, mode);
    assert.is(decode(through(mode, [Buffer.alloc(0)])).length, 0, mode);
  }
  for (const [mode, encode] of DECODERS) {
    for (const m of [mode, 'unzip'] as const) {
      assert.is(through(m, [encode(Buffer.alloc(0))]).length, 0, m);
      zlib_error(() => through(m, []), 'TRUNCATED', /truncated/);
      zlib_error(() => through(m, [Buffer.alloc(0)]), 'TRUNCATED');
    }
  }
});

test('large input (8 MB): in 64 KiB chunks and in one, both directions, with node:zlib', () => {
  const data = sample(8 << 20, 99);
  const random = prng(3);
  const ours = through('gzip', split(data, random, 65536));
  assert.ok(zlib.gunzipSync(ours).equals(data));
  assert.ok(zlib.gunzipSync(through('gzip', [data])).equals(data));
  const theirs = zlib.gzipSync(data);
  assert.ok(through('gunzip', split(theirs, random, 65536)).equals(data));
  assert.ok(through('gunzip', [theirs]).equals(data));
  // A highly compressible stream: one small input chunk makes tens of MB in one call.
  const zeros = Buffer.alloc(40 << 20);
  assert.ok(through('unzip', [zlib.deflateSync(zeros)]).equals(zeros));
});

test('flush(): everything fed so far is decodable before the stream ends', () => {
  const part1 = sample(10_000, 5), part2 = sample(3_000, 6);
  for (const [mode] of ENCODERS) {
    const enc = new ZlibStream(mode);
    const dec = new ZlibStream(mode === 'gzip' ? 'gunzip' : mode === 'deflate' ? 'inflate' : 'inflate-raw');
    const a = Buffer.concat([enc.process(part1), enc.flush()]);
    assert.ok(a.length > 0 && a.length < part1.length, mode);
    assert.ok(dec.process(a).equals(part1), `${mode}: all of part1 after the flush`);
    assert.not.ok(dec.ended);
    // node:zlib agrees when told the data ends at a sync flush.
    const sync = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
    const node_view = mode === 'gzip' ? zlib.gunzipSync(a, sync) : mode === 'deflate' ? zlib.inflateSync(a, sync) : zlib.inflateRawSync(a, sync);
    assert.ok(node_view.equals(part1), mode);
    assert.is(enc.flush().length, 0, 'a second flush with nothing new adds nothing');
    const rest = Buffer.concat([enc.process(part2), enc.flush(), enc.finish()]);
    assert.ok(enc.ended);
    assert.ok(dec.process(rest).equals(part2), `${mode}: part2`);
    assert.ok(dec.ended);
    assert.is(dec.finish().length, 0);
    assert.ok(ENCODERS.find(([m]) => m === mode)![1](Buffer.concat([a, rest])).equals(Buffer.concat([part1, part2])));
  }
});

test('decoders: a decoder flush() returns nothing and keeps the stream usable', () => {
  const packed = zlib.gzipSync(sample(1000));
  const dec = new ZlibStream('gunzip');
  const a = dec.process(packed.subarray(0, 100));
  assert.is(dec.flush().length, 0);
  assert.ok(Buffer.concat([a, dec.process(packed.subarray(100)), dec.finish()]).equals(sample(1000)));
});

test('truncated input: finish() throws TRUNCATED wherever the stream is cut, trailer included', () => {
  const data = sample(2000, 11);
  for (const [mode, encode] of DECODERS) {
    const packed = encode(data);
    for (let cut = 0; cut < packed.length; cut += packed.length > 400 ? 7 : 1) {
      for (const m of [mode, 'unzip'] as const) {
        const z = new ZlibStream(m);
        const got = z.process(packed.subarray(0, cut));
        assert.not.ok(z.ended, `${m} cut at ${cut}`);
        assert.ok(data.subarray(0, got.length).equals(got), 'what came out is a prefix of the data');
        zlib_error(() => z.finish(), 'TRUNCATED', new RegExp(`^${m}: .*truncated`));
        zlib_error(() => z.process(packed), 'CLOSED', /finished/);
      }
    }
  }
  zlib_error(() => through('unzip', [Buffer.of(0x1f)]), 'TRUNCATED');
});

test('corrupt input: Z_DATA_ERROR with zlib\'s reason; the stream is closed after it', () => {
  const data = sample(5000, 12);
  const gz = zlib.gzipSync(data);
  const cases: Array<[ZlibMode, Buffer, RegExp]> = [
    ['gunzip', Buffer.from('this is not gzip at all'), /incorrect header check/],
    ['inflate', Buffer.from('this is not zlib at all'), /incorrect header check/],
    ['unzip', Buffer.of(0x1f, 0x8b, 99, 0, 0, 0, 0, 0, 0, 3), /unknown compression method/],
    ['inflate-raw', Buffer.of(0xff, 0xff, 0xff), /invalid block type/],
    ['gunzip', Buffer.concat([gz.subarray(0, gz.length - 8), Buffer.from('XXXXXXXX')]), /incorrect data check/],
    ['inflate', (() => { const z = zlib.deflateSync(data); z[z.length - 1] ^= 1; return z; })(), /incorrect data check/],
    ['unzip', Buffer.concat([gz, Buffer.from('\x1fgarbage')]), /incorrect header check/],
  ];
  for (const [mode, bad, reason] of cases) {
    const z = new ZlibStream(mode);
    const e = zlib_error(() => z.process(bad), 'Z_DATA_ERROR', reason);
    assert.match(e.message, new RegExp(`^${mode}: invalid compressed data: `));
    zlib_error(() => z.process(gz), 'CLOSED', /failed: .*invalid compressed data/);
    zlib_error(() => z.finish(), 'CLOSED');
    z.close();
  }
});

test('a zlib stream made with a preset dictionary: Z_NEED_DICT', () => {
  const packed = zlib.deflateSync(sample(500), { dictionary: Buffer.from('tulip event loop') });
  zlib_error(() => through('inflate', [packed]), 'Z_NEED_DICT', /dictionary/);
  zlib_error(() => through('unzip', [packed]), 'Z_NEED_DICT');
});

/** The process's peak resident set since the last reset (Linux: /proc/self/status VmHWM), in bytes. */
function reset_peak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
function peak_rss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m![1]) * 1024;
}

test('max_output: a 100 MB bomb against a 1 MB limit stops with TOO_LARGE without ever holding the 100 MB', () => {
  // The bomb is made in pieces, so that this test never holds 100 MB itself.
  const enc = new ZlibStream('gzip', { level: 9 });
  const mb = Buffer.alloc(1 << 20);
  const parts: Buffer[] = [];
  for (let i = 0; i < 100; i++) parts.push(enc.process(mb));
  parts.push(enc.finish());
  const bomb = Buffer.concat(parts);
  assert.ok(bomb.length < 200_000, `bomb is ${bomb.length} bytes`);
  get_gc()();
  const can_measure = reset_peak();
  const before = peak_rss();
  for (const mode of ['gunzip', 'unzip'] as const) {
    const z = new ZlibStream(mode, { max_output: 1 << 20 });
    zlib_error(() => z.process(bomb), 'TOO_LARGE', new RegExp(`^${mode}: .*exceeds max_output \\(1048576 bytes\\)`));
    zlib_error(() => z.process(bomb), 'CLOSED', /failed/);
  }
  if (can_measure) {
    const grew = peak_rss() - before;
    assert.ok(grew < 24 << 20, `peak RSS grew by ${(grew / 2 ** 20).toFixed(1)} MB`);
  }
  // The limit counts the whole stream, across calls: fed in 4 KiB chunks, it stops at the same place.
  const z = new ZlibStream('gunzip', { max_output: 1 << 20 });
  let total = 0;
  const e = throws_a(() => {
    for (const p of split(bomb, prng(1), 4096)) total += z.process(p).length;
  }, ZlibError) as ZlibError;
  assert.is(e.code, 'TOO_LARGE');
  assert.ok(total <= 1 << 20, `returned ${total} bytes before stopping`);
});

test('max_output: exactly the size passes, one byte less is TOO_LARGE, 0 allows only empty data', () => {
  const data = sample(100_000, 13);
  const packed = zlib.gzipSync(data);
  assert.ok(through('gunzip', split(packed, prng(2), 999), { max_output: data.length }).equals(data));
  zlib_error(() => through('gunzip', split(packed, prng(2), 999), { max_output: data.length - 1 }), 'TOO_LARGE');
  assert.is(through('gunzip', [zlib.gzipSync(Buffer.alloc(0))], { max_output: 0 }).length, 0);
  zlib_error(() => through('gunzip', [zlib.gzipSync(Buffer.of(1))], { max_output: 0 }), 'TOO_LARGE');
  assert.ok(through('gunzip', [packed], { max_output: Infinity }).equals(data));
});

test('after the end: a gzip file\'s further members are read, other trailing bytes are ignored and counted', () => {
  const a = sample(3000, 20), c = sample(5000, 21);
  const two = Buffer.concat([zlib.gzipSync(a), zlib.gzipSync(c)]);
  for (const m of ['gunzip', 'unzip'] as const) {
    assert.ok(through(m, [two]).equals(Buffer.concat([a, c])), m);
    assert.ok(through(m, split(two, prng(4), 3)).equals(Buffer.concat([a, c])), `${m} in 1..3-byte chunks`);
  }
  assert.ok(zlib.gunzipSync(two).equals(Buffer.concat([a, c])), 'node agrees');
  // Zero padding after a gzip body; anything after a zlib or raw stream.
  const cases: Array<[ZlibMode, Buffer, Buffer]> = [
    ['gunzip', zlib.gzipSync(a), Buffer.alloc(10)],
    ['inflate', zlib.deflateSync(a), Buffer.from('trailing junk')],
    ['inflate-raw', zlib.deflateRawSync(a), Buffer.from('trailing junk')],
    ['unzip', zlib.deflateSync(a), Buffer.from('\x1f\x8b trailing')],
  ];
  for (const [m, packed, trailer] of cases) {
    const z = new ZlibStream(m);
    const out = z.process(Buffer.concat([packed, trailer]));
    assert.ok(z.ended, m);
    assert.ok(out.equals(a), m);
    assert.is(z.unused_bytes, trailer.length, m);
    assert.is(z.process(Buffer.from('more')).length, 0);
    assert.is(z.unused_bytes, trailer.length + 4, m);
    assert.is(z.finish().length, 0);
  }
});

test('use after close() or finish(): a clear CLOSED error; close() is idempotent', () => {
  for (const mode of ['gzip', 'gunzip', 'unzip'] as const) {
    const z = new ZlibStream(mode);
    z.close();
    z.close();
    zlib_error(() => z.process(Buffer.from('x')), 'CLOSED', new RegExp(`^ZlibStream \\(${mode}\\) is closed`));
    zlib_error(() => z.flush(), 'CLOSED');
    zlib_error(() => z.finish(), 'CLOSED');
  }
  const enc = new ZlibStream('deflate');
  const head = enc.process(Buffer.from('abc'));
  assert.ok(zlib.inflateSync(Buffer.concat([head, enc.finish()])).equals(Buffer.from('abc')));
  zlib_error(() => enc.finish(), 'CLOSED', /is finished/);
  zlib_error(() => enc.process(Buffer.from('x')), 'CLOSED', /is finished/);
  enc.close();
  zlib_error(() => enc.flush(), 'CLOSED', /is finished/);
});

test('ZlibStream arguments: TypeError for the wrong kind, RangeError out of range', () => {
  throws_a(() => new ZlibStream('zip' as ZlibMode), TypeError, /mode must be one of deflate, gzip/);
  throws_a(() => new ZlibStream('toString' as ZlibMode), TypeError, /mode/);
  throws_a(() => new ZlibStream('gzip', { level: 10 }), RangeError, /level must be in \[-1, 9\]/);
  throws_a(() => new ZlibStream('gzip', { level: 1.5 }), TypeError, /level must be an integer/);
  throws_a(() => new ZlibStream('gzip', { level: '9' as never }), TypeError, /level/);
  throws_a(() => new ZlibStream('gzip', { window_bits: 8 }), RangeError, /window_bits must be in \[9, 15\]/);
  throws_a(() => new ZlibStream('unzip', { window_bits: 16 }), RangeError, /window_bits must be in \[8, 15\]/);
  throws_a(() => new ZlibStream('gzip', { mem_level: 0 }), RangeError, /mem_level/);
  throws_a(() => new ZlibStream('gzip', { strategy: 5 }), RangeError, /strategy/);
  throws_a(() => new ZlibStream('gunzip', { max_output: -1 }), RangeError, /max_output/);
  throws_a(() => new ZlibStream('gunzip', { max_output: 0.5 }), RangeError, /max_output/);
  throws_a(() => new ZlibStream('gunzip', { max_output: NaN }), TypeError, /max_output/);
  throws_a(() => new ZlibStream('gunzip', { max_output: '1' as never }), TypeError, /max_output/);
  const z = new ZlibStream('gzip');
  throws_a(() => z.process('text' as never), TypeError, /not a string: encode it first/);
  throws_a(() => z.process(null as never), TypeError, /bytes/);
  throws_a(() => z.process(new Uint16Array(2) as never), TypeError, /bytes/);
  const head = z.process(new Uint8Array([1, 2, 3])); // a plain Uint8Array is fine, and a bad call did no harm
  assert.ok(zlib.gunzipSync(Buffer.concat([head, z.finish()])).equals(Buffer.of(1, 2, 3)));
});

test('encoder options: window_bits, mem_level and strategy make streams node:zlib reads; a small decoder window refuses a big one', () => {
  const data = sample(50_000, 30);
  for (const options of [{ window_bits: 9 }, { mem_level: 1 }, { mem_level: 9, level: 9 }, ...[0, 1, 2, 3, 4].map((strategy) => ({ strategy }))]) {
    for (const [mode, decode] of ENCODERS) {
      assert.ok(decode(through(mode, split(data, prng(5), 10_000), options)).equals(data), `${mode} ${JSON.stringify(options)}`);
    }
  }
  zlib_error(() => through('inflate', [zlib.deflateSync(data)], { window_bits: 9 }), 'Z_DATA_ERROR', /invalid window size/);
  assert.ok(through('inflate', [zlib.deflateSync(data, { windowBits: 9 })], { window_bits: 9 }).equals(data));
});

test('the raw binding: every bad argument is a TypeError or RangeError, never a crash', () => {
  const state = new Float64Array(2);
  const ok_args: [number, number, number, number, number] = [C.ZLIB_GZIP, -1, 15, 8, 0];
  throws_a(() => b.zlib_new(...(ok_args.slice(0, 4) as [number, number, number, number, number])), TypeError, /strategy must be an integer/);
  const bad_new: Array<[number, unknown, Function, RegExp]> = [
    [0, '1', TypeError, /mode must be an integer/], [0, 6, RangeError, /mode/], [0, -1, RangeError, /mode/], [0, 1.5, TypeError, /mode/],
    [1, 10, RangeError, /level/], [1, -2, RangeError, /level/], [1, NaN, TypeError, /level/], [1, null, TypeError, /level/],
    [2, 8, RangeError, /window_bits/], [2, 16, RangeError, /window_bits/], [2, Infinity, TypeError, /window_bits/],
    [3, 0, RangeError, /mem_level/], [3, 10, RangeError, /mem_level/], [4, 5, RangeError, /strategy/], [4, {}, TypeError, /strategy/],
  ];
  for (const [i, v, cls, msg] of bad_new) {
    const args = [...ok_args] as unknown[];
    args[i] = v;
    throws_a(() => (b.zlib_new as (...a: unknown[]) => unknown)(...args), cls, msg);
  }
  b.zlib_end(b.zlib_new(C.ZLIB_INFLATE, -1, 8, 1, 0)); // decoders take window_bits 8

  const h = b.zlib_new(C.ZLIB_DEFLATE, -1, 15, 8, 0);
  const data = Buffer.from('data');
  const tls_ctx = b.tls_ctx_new(0);
  const bad_process: Array<[number, unknown, Function, RegExp]> = [
    [0, {}, TypeError, /first argument must be a zlib stream/], [0, tls_ctx, TypeError, /zlib stream/], [0, null, TypeError, /zlib stream/],
    [1, 'data', TypeError, /input must be a Uint8Array/], [1, new Int8Array(2), TypeError, /input/], [1, data.buffer, TypeError, /input/],
    [2, C.Z_BLOCK + 1, RangeError, /flush/], [2, -1, RangeError, /flush/], [2, '0', TypeError, /flush/],
    [3, -1, RangeError, /max_output/], [3, 2 ** 53, RangeError, /max_output/], [3, 0.5, TypeError, /max_output/],
    [4, new Int32Array(2), TypeError, /state must be a Float64Array/], [4, [0, 0], TypeError, /state/], [4, new Float64Array(1), RangeError, /at least 2/],
  ];
  for (const [i, v, cls, msg] of bad_process) {
    const args: unknown[] = [h, data, C.Z_NO_FLUSH, 1000, state];
    args[i] = v;
    throws_a(() => (b.zlib_process as (...a: unknown[]) => unknown)(...args), cls, msg);
  }
  throws_a(() => (b.zlib_process as (...a: unknown[]) => unknown)(h, data), TypeError);
  throws_a(() => b.zlib_error(tls_ctx as never), TypeError, /zlib stream/);
  throws_a(() => b.zlib_end(1 as never), TypeError, /zlib stream/);
  throws_a(() => b.tls_ctx_set_verify(h as never, 0), TypeError, /TLS context/);
  b.tls_ctx_free(tls_ctx);
  // The stream survived all of that.
  const out = b.zlib_process(h, data, C.Z_FINISH, 1000, state);
  assert.ok(Buffer.isBuffer(out));
  assert.equal([...state], [1, 0]);
  assert.ok(zlib.inflateSync(out as Buffer).equals(data));
  assert.equal(b.zlib_error(h), [0, '']);
  b.zlib_end(h);
  b.zlib_end(h);
  throws_a(() => b.zlib_process(h, data, 0, 1000, state), Error, /zlib stream is already ended/);
  // Failures are returned, not thrown, and zlib_error still answers after the end.
  const d = b.zlib_new(C.ZLIB_INFLATE, -1, 15, 8, 0);
  assert.is(b.zlib_process(d, data, 0, 1000, state), C.Z_DATA_ERROR);
  b.zlib_end(d);
  assert.equal(b.zlib_error(d), [C.Z_DATA_ERROR, 'incorrect header check']);
  assert.match(b.zlib_version, /^1\.\d+/);
});

/** Resident memory in MB. */
const rss_mb = (): number => process.memoryUsage().rss / 2 ** 20;

test('no memory growth over thousands of streams, closed explicitly', () => {
  const data = sample(16 * 1024, 40);
  const gz = zlib.gzipSync(data);
  const round = (): void => {
    for (let i = 0; i < 300; i++) {
      const enc = new ZlibStream('gzip', { level: 1, mem_level: 9 }); // ~400 KiB of zlib state each
      enc.process(data);
      if (i % 2) enc.finish();
      else enc.close();
      const dec = new ZlibStream('unzip');
      dec.process(gz);
      dec.close();
    }
  };
  round();
  const gc = get_gc();
  gc();
  const before = rss_mb();
  for (let r = 0; r < 6; r++) round();
  gc();
  const grew = rss_mb() - before;
  // A leak would keep 1800 x (more than 150 KiB touched of each deflate state, plus the inflate state).
  assert.ok(grew < 64, `RSS grew by ${grew.toFixed(1)} MB over 3600 streams`);
});

test('streams dropped without close() are freed by their finalizers', async () => {
  const data = sample(16 * 1024, 41);
  const round = async (): Promise<void> => {
    for (let i = 0; i < 300; i++) new ZlibStream('gzip', { level: 1, mem_level: 9 }).process(data);
    // Finalizers run from Node's loop: collect and let it turn.
    let n = 0;
    await collect_until(() => n++ >= 3);
  };
  await round();
  const before = rss_mb();
  for (let r = 0; r < 6; r++) await round();
  const grew = rss_mb() - before;
  assert.ok(grew < 64, `RSS grew by ${grew.toFixed(1)} MB over 1800 dropped streams`);
});

/** The shape the HTTP layer uses: a generator parser that decodes a compressed body as it arrives. */
function decoding_parser(max_output: number): ParserFunction<Buffer> {
  return function* (out, buf) {
    const z = new ZlibStream('unzip', { max_output });
    try {
      for (;;) {
        let chunk: Buffer;
        try {
          chunk = yield* buf.readsome();
        } catch (e) {
          if (e instanceof EofStream) break;
          throw e;
        }
        const data = z.process(chunk);
        if (data.length > 0) out.feed_data(data);
      }
      z.finish();
    } finally {
      z.close();
    }
  };
}

function* read_all(out: DataBuffer<Buffer>): Coroutine<Buffer> {
  const parts: Buffer[] = [];
  for (;;) {
    try {
      parts.push(yield* out.read());
    } catch (e) {
      if (e instanceof EofStream) return Buffer.concat(parts);
      throw e;
    }
  }
}

test('inside a running tulip loop: a generator parser decodes a body fed chunk by chunk from callbacks', () => {
  const data = sample(300_000, 50);
  const inputs: Array<[Buffer, ZlibErrorCode | null]> = [
    [zlib.gzipSync(data), null],
    [zlib.deflateRawSync(data), null],
    [zlib.deflateSync(data).subarray(0, 5000), 'TRUNCATED'],
    [zlib.gzipSync(Buffer.alloc(10 << 20)), 'TOO_LARGE'],
  ];
  for (const [body, failure] of inputs) {
    const loop = make_loop();
    const stream = new StreamBuffer();
    const out = stream.set_parser(decoding_parser(1 << 20), { loop });
    const parts = split(body, prng(body.length), 4096);
    const feed = (i: number): void => {
      if (i === parts.length) return stream.feed_eof();
      stream.feed_data(parts[i]!);
      loop.call_soon(feed, i + 1);
    };
    loop.call_soon(feed, 0);
    if (failure === null) assert.ok(run(loop, read_all(out)).equals(data));
    else zlib_error(() => run(loop, read_all(out)), failure);
  }
});

test('worker threads use their own streams and exit cleanly with some left open', async () => {
  for (const exit of [false, true]) {
    const w = start_ts_worker(new URL('./support/zlib_worker.ts', import.meta.url), { exit });
    const errors: unknown[] = [];
    w.on('error', (e) => errors.push(e));
    const msg = await new Promise((resolve) => w.once('message', resolve));
    assert.is(msg, 'ready 66');
    const code = exit ? await new Promise((resolve) => w.once('exit', resolve)) : await w.terminate();
    assert.is(code, exit ? 0 : 1);
    assert.equal(errors, []);
  }
});

test.run();
