// `tsx bench/zlib.ts`: ZlibStream (src/zlib.ts, the zlib inside node driven by our addon) against
// node:zlib's one-shot gzipSync/gunzipSync on the same 10 MB body, in MB/s of uncompressed data.
//
//   gzip   whole       ZlibStream: one process() + finish()     vs zlib.gzipSync
//   gzip   16 KiB      ZlibStream fed 16 KiB chunks (a streaming response)
//   gunzip whole       ZlibStream: one process() + finish()     vs zlib.gunzipSync
//   gunzip 16 KiB      ZlibStream fed 16 KiB chunks (a body read off a socket)
//
// Both use the same zlib (node's own), so the ratio measures the glue: buffer handling and calls.
// Each figure is the best of several runs.
import * as zlib from 'node:zlib';
import { ZlibStream } from '../src/index.js';
import { best } from './timing.js';

const SIZE = 10 << 20;
const CHUNK = 16 * 1024;

/** A body that compresses about as well as HTML or JSON does (about 6:1 at level 6): words with some noise. */
function body(n: number): Buffer {
  const words = ['<div class="item">', '</div>', '"name": ', '"tulip"', ', ', '{', '}', '\n', 'event loop ', 'yield* '];
  const out = Buffer.alloc(n);
  let seed = 12345;
  const rand = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / (1 << 24);
  for (let i = 0; i < n; ) {
    if (rand() < 0.15) out[i++] = Math.floor(rand() * 256);
    else i += out.write(words[Math.floor(rand() * words.length)]!, i);
  }
  return out;
}

/** MB/s of uncompressed data: the best of several runs of fn. */
function rate(fn: () => void): number {
  const ms = best(() => {
    const t0 = performance.now();
    fn();
    return performance.now() - t0;
  });
  return SIZE / 2 ** 20 / (ms / 1000);
}

function feed(mode: 'gzip' | 'gunzip', input: Buffer, chunk: number): Buffer {
  const z = new ZlibStream(mode);
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) out.push(z.process(input.subarray(i, i + chunk)));
  out.push(z.finish());
  return Buffer.concat(out);
}

const data = body(SIZE);
const packed = zlib.gzipSync(data);
if (!feed('gunzip', packed, CHUNK).equals(data) || !zlib.gunzipSync(feed('gzip', data, CHUNK)).equals(data)) {
  throw new Error('bench/zlib: a round trip failed');
}
console.log(`zlib ${process.versions.zlib}, ${(SIZE / 2 ** 20).toFixed(0)} MB body, compresses to ${(packed.length / 2 ** 20).toFixed(2)} MB (level 6)`);

const rows: Array<[string, () => void, () => void]> = [
  ['gzip   whole ', () => feed('gzip', data, SIZE), () => zlib.gzipSync(data)],
  ['gzip   16 KiB', () => feed('gzip', data, CHUNK), () => zlib.gzipSync(data)],
  ['gunzip whole ', () => feed('gunzip', packed, SIZE), () => zlib.gunzipSync(packed)],
  ['gunzip 16 KiB', () => feed('gunzip', packed, CHUNK), () => zlib.gunzipSync(packed)],
];
for (const [name, ours, node] of rows) {
  const a = rate(ours), b = rate(node);
  console.log(`${name}  ZlibStream ${a.toFixed(0).padStart(5)} MB/s   node:zlib sync ${b.toFixed(0).padStart(5)} MB/s   ratio ${(a / b).toFixed(2)}x`);
}
