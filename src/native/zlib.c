/*
 * zlib.c: streaming deflate/inflate for src/zlib.ts, on the zlib inside the node binary.
 *
 * Why not node:zlib: its asynchronous API needs Node's event loop, which a running tulip loop blocks,
 * and its synchronous API is one-shot (processChunkSync ends the stream after one call). HTTP needs
 * both directions chunk by chunk from synchronous code: a generator parser decoding a gzip body as it
 * arrives, a writer filter compressing a response as it is written.
 *
 * What this file must never do: link or bundle a second zlib (the symbols come from the node binary,
 * which exports its own zlib; the header is node's /usr/include/node/zlib.h, found first because
 * node-gyp puts node's include directory before the system's), throw from inside a stream step (a
 * failure is returned as a negative code and its message kept for zlib_error), or let one call's output
 * grow past the limit the caller gave (a decompression bomb costs at most that much memory).
 *
 * Objects: a stream is a type-tagged napi external, freed by zlib_end or by its finalizer, whichever
 * comes first; a call on an ended stream throws an Error that says so. Each stream reports its state's
 * size to V8 (napi_adjust_external_memory) so that dropped streams make the collector run sooner; but
 * Node runs N-API finalizers from its own loop, which a tulip loop blocks, so long-running code must end
 * its streams explicitly (ZlibStream.finish/close do).
 *
 * Results of zlib_process: a Buffer with all the output the call produced, or a negative code: zlib's
 * Z_DATA_ERROR, Z_STREAM_ERROR, Z_MEM_ERROR, or ours, ZLIB_TOO_LARGE (the output would pass max_output)
 * and ZLIB_NEED_DICT (a zlib stream that needs a preset dictionary). Z_BUF_ERROR is never a result: it
 * only means "no progress possible now" (more input needed, or nothing left to flush).
 */
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { ZL_DEFLATE, ZL_GZIP, ZL_DEFLATE_RAW, ZL_INFLATE, ZL_GUNZIP, ZL_INFLATE_RAW, ZL_NMODES };
enum { ZL_TOO_LARGE = -100, ZL_NEED_DICT = -101 };

/* zlib counts in uInt (32 bits): bigger inputs and outputs go through in pieces of at most this. */
#define ZL_PIECE ((size_t)1 << 30)
/* The most output one call returns: a Buffer cannot be longer (Node 20's kMaxLength is 4 GiB). */
#define ZL_MAX_CALL_OUTPUT ((size_t)UINT32_MAX)
#define ZL_MIN_OUT 16384

typedef struct tl_zs {
  z_stream s;
  int mode;
  bool encoder;
  bool live;       /* deflateInit2/inflateInit2 succeeded and End has not run yet */
  bool ended;      /* decoders: Z_STREAM_END seen; encoders: Z_FINISH completed */
  bool trailing;   /* decoders: bytes after the end that do not start another gzip member were seen */
  int64_t mem;     /* what this stream reported to napi_adjust_external_memory */
  int last_code;
  char msg[128];
} tl_zs;

static const napi_type_tag ZS_TAG = {0x7475c11e7c7a0003ULL, 0x5e5e01a1d7c0f11eULL};

static void zs_end(napi_env env, tl_zs *z) {
  if (!z->live) return;
  if (z->encoder) deflateEnd(&z->s);
  else inflateEnd(&z->s);
  z->live = false;
  int64_t left;
  napi_adjust_external_memory(env, -z->mem, &left);
  z->mem = 0;
}

static void zs_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  zs_end(env, data);
  free(data);
}

/* Any stream of ours, ended or not (zlib_end and zlib_error accept ended ones). */
static bool get_zs_any(napi_env env, napi_value v, const char *fn, tl_zs **out) {
  void *p;
  if (!tl_get_ext(env, v, &ZS_TAG, fn, "zlib stream", &p)) return false;
  *out = p;
  return true;
}

static bool get_zs(napi_env env, napi_value v, const char *fn, tl_zs **out) {
  if (!get_zs_any(env, v, fn, out)) return false;
  if (!(*out)->live) {
    napi_throw_error(env, NULL, "zlib stream is already ended");
    return false;
  }
  return true;
}

/* zlib_new(mode, level, window_bits, mem_level, strategy) -> stream
 * mode: ZLIB_DEFLATE, ZLIB_GZIP, ZLIB_DEFLATE_RAW (encoders), ZLIB_INFLATE, ZLIB_GUNZIP,
 * ZLIB_INFLATE_RAW (decoders). window_bits 9..15 for encoders (zlib refuses 8 for gzip and raw), 8..15
 * for decoders; level -1..9, mem_level 1..9 and strategy 0..4 are checked for decoders too, and unused. */
static napi_value js_new(napi_env env, napi_callback_info info) {
  napi_value argv[5], ext;
  int64_t mode, level, wbits, memlevel, strategy;
  const char *fn = "zlib_new";
  if (!tl_args(env, info, 5, argv) || !tl_get_int(env, argv[0], fn, "mode", 0, ZL_NMODES - 1, &mode) ||
      !tl_get_int(env, argv[1], fn, "level", -1, 9, &level))
    return NULL;
  bool encoder = mode <= ZL_DEFLATE_RAW;
  if (!tl_get_int(env, argv[2], fn, "window_bits", encoder ? 9 : 8, 15, &wbits) ||
      !tl_get_int(env, argv[3], fn, "mem_level", 1, 9, &memlevel) ||
      !tl_get_int(env, argv[4], fn, "strategy", 0, Z_FIXED, &strategy))
    return NULL;
  tl_zs *z = calloc(1, sizeof *z);
  if (z == NULL) {
    napi_throw_error(env, NULL, "zlib_new: out of memory");
    return NULL;
  }
  z->mode = (int)mode;
  z->encoder = encoder;
  /* zlib picks the wrapper from the sign and range of windowBits: n zlib, n + 16 gzip, -n raw. */
  int wrap = mode == ZL_GZIP || mode == ZL_GUNZIP ? 16 : 0;
  int w = mode == ZL_DEFLATE_RAW || mode == ZL_INFLATE_RAW ? -(int)wbits : (int)wbits + wrap;
  int r = encoder ? deflateInit2(&z->s, (int)level, Z_DEFLATED, w, (int)memlevel, (int)strategy)
                  : inflateInit2(&z->s, w);
  if (r != Z_OK) {
    free(z);
    if (r == Z_MEM_ERROR) napi_throw_error(env, NULL, "zlib_new: out of memory");
    else napi_throw_error(env, NULL, r == Z_VERSION_ERROR ? "zlib_new: incompatible zlib version" : "zlib_new: zlib refused the parameters");
    return NULL;
  }
  z->live = true;
  /* The sizes zlib.h gives for its own allocations, plus the stream's bookkeeping. */
  z->mem = (int64_t)sizeof *z + 7168 +
           (encoder ? ((int64_t)1 << (wbits + 2)) + ((int64_t)1 << (memlevel + 9)) : (int64_t)1 << wbits);
  if (napi_create_external(env, z, zs_finalize, NULL, &ext) != napi_ok) {
    z->mem = 0;
    zs_end(env, z);
    free(z);
    TL_CALL(env, napi_generic_failure);
  }
  /* From here the finalizer owns z: a failure to tag must not free it a second time (nor uncount
   * memory that was never counted). */
  if (napi_type_tag_object(env, ext, &ZS_TAG) != napi_ok) {
    z->mem = 0;
    TL_CALL(env, napi_generic_failure);
  }
  int64_t total;
  napi_adjust_external_memory(env, z->mem, &total);
  return ext;
}

static int fail(tl_zs *z, int code, const char *msg) {
  z->last_code = code;
  snprintf(z->msg, sizeof z->msg, "%s", msg != NULL ? msg : zError(code));
  return code;
}

static bool is_gzip(const tl_zs *z) { return z->mode == ZL_GUNZIP; }

/* Makes room for more output: doubles, never past limit + 1 bytes (one byte past the limit is how a
 * call learns that the output would exceed it). False when out of memory. */
static bool grow(uint8_t **out, size_t *cap, size_t want, size_t limit) {
  size_t n = *cap == 0 ? want : *cap * 2;
  if (n < ZL_MIN_OUT) n = ZL_MIN_OUT;
  if (n > limit + 1) n = limit + 1;
  uint8_t *p = realloc(*out, n);
  if (p == NULL) return false;
  *out = p;
  *cap = n;
  return true;
}

/* One call's work: feeds all of in[0, inlen) with `flush`, collecting the output in a malloc'd buffer
 * (*out, *outlen; the caller frees). Returns 0, or a negative code after fail() recorded the message.
 * *unused gets the count of input bytes after the end of a decoder's stream. */
static int run(tl_zs *z, const uint8_t *in, size_t inlen, int flush, size_t limit, uint8_t **out,
               size_t *outlen, size_t *unused) {
  size_t pos = 0, used = 0, cap = 0;
  /* A first guess at the output size; pages malloc hands out untouched cost nothing. */
  size_t want = z->encoder ? inlen / 2 + 1024 : inlen * 4;
  *out = NULL;
  *unused = 0;
  for (;;) {
    if (z->ended && !z->encoder) {
      /* A gzip file may hold several members back to back (gunzip reads them all, as Node's gunzip
       * does); anything else after the end is ignored and counted, like the padding some servers add. */
      if (pos < inlen && is_gzip(z) && !z->trailing && in[pos] == 0x1f) {
        inflateReset(&z->s);
        z->ended = false;
        continue;
      }
      if (pos < inlen) z->trailing = true;
      *unused = inlen - pos;
      break;
    }
    if (used == cap && !grow(out, &cap, want, limit)) return fail(z, Z_MEM_ERROR, "out of memory");
    size_t in_piece = inlen - pos < ZL_PIECE ? inlen - pos : ZL_PIECE;
    size_t out_piece = cap - used < ZL_PIECE ? cap - used : ZL_PIECE;
    bool last_piece = pos + in_piece == inlen;
    z->s.next_in = (Bytef *)(in + pos);
    z->s.avail_in = (uInt)in_piece;
    z->s.next_out = *out + used;
    z->s.avail_out = (uInt)out_piece;
    /* A flush (Z_FINISH above all) applies to the end of the input, not to a piece of it. */
    int r = z->encoder ? deflate(&z->s, last_piece ? flush : Z_NO_FLUSH) : inflate(&z->s, Z_NO_FLUSH);
    size_t took = in_piece - z->s.avail_in, made = out_piece - z->s.avail_out;
    pos += took;
    used += made;
    z->s.next_in = NULL; /* the input belongs to JS: keep no pointer into it between calls */
    z->s.avail_in = 0;
    if (used > limit) return fail(z, ZL_TOO_LARGE, "output exceeds max_output");
    if (r == Z_STREAM_END) {
      z->ended = true;
      if (z->encoder) break;
      continue;
    }
    if (r == Z_NEED_DICT) return fail(z, ZL_NEED_DICT, "a preset dictionary is needed");
    if (r == Z_BUF_ERROR) {
      if (took == 0 && made == 0 && last_piece) break; /* nothing more to do until more input comes */
      continue;
    }
    if (r != Z_OK) return fail(z, r, z->s.msg);
    if (made == out_piece) continue; /* the output space was filled: there may be more */
    if (!last_piece || pos < inlen) continue;
    if (z->encoder && flush == Z_FINISH) continue; /* Z_FINISH is done only at Z_STREAM_END */
    break;
  }
  *outlen = used;
  return 0;
}

/* zlib_process(stream, input, flush, max_output, state) -> Buffer | negative code
 * flush: Z_NO_FLUSH..Z_BLOCK (decoders ignore it and always inflate as far as the input goes).
 * max_output: the most bytes this call may produce (ZLIB_TOO_LARGE past it; at most 4 GiB - 1 in any
 * case). state: a Float64Array of at least 2, set to [ended (1 | 0), input bytes unused after the end]. */
static napi_value js_process(napi_env env, napi_callback_info info) {
  napi_value argv[5], r;
  tl_zs *z;
  uint8_t *in;
  size_t inlen, nstate;
  int64_t flush, max_output;
  void *statep;
  const char *fn = "zlib_process";
  if (!tl_args(env, info, 5, argv) || !get_zs(env, argv[0], fn, &z) || !tl_get_bytes(env, argv[1], fn, "input", &in, &inlen) ||
      !tl_get_int(env, argv[2], fn, "flush", Z_NO_FLUSH, Z_BLOCK, &flush) ||
      !tl_get_int(env, argv[3], fn, "max_output", 0, ((int64_t)1 << 53) - 1, &max_output) ||
      !tl_get_typed(env, argv[4], napi_float64_array, fn, "state", "Float64Array", &statep, &nstate))
    return NULL;
  if (nstate < 2) { (void)TL_RANGE_ERROR(env, "%s: state must hold at least 2 numbers", fn); return NULL; }
  size_t limit = (uint64_t)max_output < ZL_MAX_CALL_OUTPUT ? (size_t)max_output : ZL_MAX_CALL_OUTPUT;
  uint8_t *out;
  size_t outlen = 0, unused = 0;
  /* No N-API call happens while `in` is in use: nothing can run the collector under it. */
  int code = run(z, in, inlen, (int)flush, limit, &out, &outlen, &unused);
  double *state = statep;
  state[0] = z->ended ? 1 : 0;
  state[1] = (double)unused;
  if (code < 0) {
    free(out);
    return tl_num(env, code);
  }
  void *unused_data;
  napi_status st = outlen == 0 ? napi_create_buffer(env, 0, &unused_data, &r) : napi_create_buffer_copy(env, outlen, out, NULL, &r);
  free(out);
  TL_CALL(env, st);
  return r;
}

/* zlib_error(stream) -> [code, message] of the last failure ([0, ''] when none). */
static napi_value js_error(napi_env env, napi_callback_info info) {
  napi_value argv[1], msg;
  tl_zs *z;
  if (!tl_args(env, info, 1, argv) || !get_zs_any(env, argv[0], "zlib_error", &z)) return NULL;
  TL_CALL(env, napi_create_string_utf8(env, z->msg, NAPI_AUTO_LENGTH, &msg));
  return tl_pair(env, tl_num(env, z->last_code), msg);
}

/* zlib_end(stream): frees zlib's state now (idempotent; the finalizer would do it later). */
static napi_value js_end(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tl_zs *z;
  if (!tl_args(env, info, 1, argv) || !get_zs_any(env, argv[0], "zlib_end", &z)) return NULL;
  zs_end(env, z);
  return NULL;
}

bool register_zlib(napi_env env, napi_value exports, napi_value constants) {
  napi_value version;
#define ZC(name, value) if (!tl_set_int(env, constants, name, value)) return false;
  ZC("ZLIB_DEFLATE", ZL_DEFLATE) ZC("ZLIB_GZIP", ZL_GZIP) ZC("ZLIB_DEFLATE_RAW", ZL_DEFLATE_RAW)
  ZC("ZLIB_INFLATE", ZL_INFLATE) ZC("ZLIB_GUNZIP", ZL_GUNZIP) ZC("ZLIB_INFLATE_RAW", ZL_INFLATE_RAW)
  ZC("ZLIB_TOO_LARGE", ZL_TOO_LARGE) ZC("ZLIB_NEED_DICT", ZL_NEED_DICT)
  ZC("Z_NO_FLUSH", Z_NO_FLUSH) ZC("Z_PARTIAL_FLUSH", Z_PARTIAL_FLUSH) ZC("Z_SYNC_FLUSH", Z_SYNC_FLUSH)
  ZC("Z_FULL_FLUSH", Z_FULL_FLUSH) ZC("Z_FINISH", Z_FINISH) ZC("Z_BLOCK", Z_BLOCK)
  ZC("Z_STREAM_ERROR", Z_STREAM_ERROR) ZC("Z_DATA_ERROR", Z_DATA_ERROR) ZC("Z_MEM_ERROR", Z_MEM_ERROR)
  ZC("Z_BUF_ERROR", Z_BUF_ERROR)
  ZC("Z_DEFAULT_COMPRESSION", Z_DEFAULT_COMPRESSION) ZC("Z_DEFAULT_STRATEGY", Z_DEFAULT_STRATEGY)
  ZC("Z_FILTERED", Z_FILTERED) ZC("Z_HUFFMAN_ONLY", Z_HUFFMAN_ONLY) ZC("Z_RLE", Z_RLE) ZC("Z_FIXED", Z_FIXED)
#undef ZC
  return napi_create_string_utf8(env, zlibVersion(), NAPI_AUTO_LENGTH, &version) == napi_ok &&
         napi_set_named_property(env, exports, "zlib_version", version) == napi_ok &&
         tl_export_fn(env, exports, "zlib_new", js_new) && tl_export_fn(env, exports, "zlib_process", js_process) &&
         tl_export_fn(env, exports, "zlib_error", js_error) && tl_export_fn(env, exports, "zlib_end", js_end);
}
