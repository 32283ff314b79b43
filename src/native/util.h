/*
 * util.h: argument checking and result helpers shared by every file of the addon.
 *
 * Why one header: each entry point must validate its arguments the same way (TypeError for the wrong
 * kind of value, RangeError for a value of the right kind outside its domain) and report system call
 * failures as -errno instead of throwing. Keeping that policy here means it is written once.
 *
 * Conventions: every tl_get_* helper returns true on success; on failure it has already thrown a
 * JS exception and the caller returns NULL at once. Nothing here keeps state between calls, so the
 * addon stays context-aware (safe to load in several worker_threads at the same time).
 */
#ifndef TULIP_UTIL_H
#define TULIP_UTIL_H

#include <node_api.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <limits.h>

/* Evaluate an N-API call; on failure make sure an exception is pending, then return NULL. The calls
 * guarded this way only fail on engine trouble (out of memory, terminating worker), never on user input
 * that the tl_get_* helpers have already checked. */
#define TL_CALL(env, call)                                                   \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      bool pending_ = false;                                                 \
      napi_is_exception_pending((env), &pending_);                           \
      if (!pending_) napi_throw_error((env), NULL, "tulip_native: N-API call failed"); \
      return NULL;                                                           \
    }                                                                        \
  } while (0)

__attribute__((format(printf, 3, 4)))
static inline void tl_throw(napi_env env, bool range, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (range)
    napi_throw_range_error(env, NULL, msg);
  else
    napi_throw_type_error(env, NULL, msg);
}
/* Both evaluate to false, visibly to the compiler (a varargs function is never inlined), so that
 * `return TL_TYPE_ERROR(...)` in a bool helper does not look like a path that leaves outputs unset. */
#define TL_TYPE_ERROR(env, ...) (tl_throw((env), false, __VA_ARGS__), false)
#define TL_RANGE_ERROR(env, ...) (tl_throw((env), true, __VA_ARGS__), false)

/* Fetch exactly n arguments; absent ones come back as `undefined`, which the type checks then reject. */
static inline bool tl_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok;
}

static inline bool tl_is_undefined(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && (t == napi_undefined || t == napi_null);
}

/* An integral JS number in [min, max]. NaN, fractions and non-numbers are TypeErrors. */
static inline bool tl_get_int(napi_env env, napi_value v, const char *fn, const char *name,
                              int64_t min, int64_t max, int64_t *out) {
  double d;
  /* napi_get_value_double fails (napi_number_expected) on anything but a number, so no napi_typeof
   * first; and a range check then a round trip through int64_t tells a fraction without floor(). Both
   * matter on the hot path: recv and send check their integers on every call. */
  if (napi_get_value_double(env, v, &d) != napi_ok || !isfinite(d))
    return TL_TYPE_ERROR(env, "%s: %s must be an integer", fn, name);
  if (d < (double)min || d > (double)max)
    return TL_RANGE_ERROR(env, "%s: %s must be in [%lld, %lld], got %.0f", fn, name,
                          (long long)min, (long long)max, d);
  int64_t x = (int64_t)d;
  if ((double)x != d) return TL_TYPE_ERROR(env, "%s: %s must be an integer", fn, name);
  *out = x;
  return true;
}

static inline bool tl_get_i32(napi_env env, napi_value v, const char *fn, const char *name, int *out) {
  int64_t x;
  if (!tl_get_int(env, v, fn, name, INT32_MIN, INT32_MAX, &x)) return false;
  *out = (int)x;
  return true;
}

/* Event masks are unsigned in C (EPOLLET is bit 31) but JS bit operations produce signed int32, so
 * accept both spellings of the same 32 bits. */
static inline bool tl_get_mask(napi_env env, napi_value v, const char *fn, const char *name,
                               uint32_t *out) {
  int64_t x;
  if (!tl_get_int(env, v, fn, name, INT32_MIN, UINT32_MAX, &x)) return false;
  *out = (uint32_t)x;
  return true;
}

static inline bool tl_get_fd(napi_env env, napi_value v, const char *fn, const char *name, int *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !isfinite(d))
    return TL_TYPE_ERROR(env, "%s: %s must be an integer", fn, name);
  if (d < 0) return TL_RANGE_ERROR(env, "%s: %s must be >= 0, got %.0f", fn, name, d);
  if (d > INT_MAX) return TL_RANGE_ERROR(env, "%s: %s is too large: %.0f", fn, name, d);
  if ((double)(int)d != d) return TL_TYPE_ERROR(env, "%s: %s must be an integer", fn, name);
  *out = (int)d;
  return true;
}

static inline bool tl_get_bool(napi_env env, napi_value v, const char *fn, const char *name, bool *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean)
    return TL_TYPE_ERROR(env, "%s: %s must be a boolean", fn, name);
  return napi_get_value_bool(env, v, out) == napi_ok;
}

static inline bool tl_get_typed(napi_env env, napi_value v, napi_typedarray_type want,
                                const char *fn, const char *name, const char *tname,
                                void **data, size_t *len) {
  napi_typedarray_type type;
  /* napi_get_typedarray_info fails (napi_invalid_arg) on anything but a typed array. */
  if (napi_get_typedarray_info(env, v, &type, len, data, NULL, NULL) != napi_ok || type != want)
    return TL_TYPE_ERROR(env, "%s: %s must be a%s %s", fn, name, tname[0] == 'I' ? "n" : "", tname);
  return true;
}

/* Bytes: a Uint8Array, which includes Buffer. */
static inline bool tl_get_bytes(napi_env env, napi_value v, const char *fn, const char *name,
                                uint8_t **data, size_t *len) {
  void *p = NULL;
  if (!tl_get_typed(env, v, napi_uint8_array, fn, name, "Uint8Array", &p, len)) return false;
  *data = p;
  return true;
}

/* len is the element count, not the byte count. */
static inline bool tl_get_i32array(napi_env env, napi_value v, const char *fn, const char *name,
                                   int32_t **data, size_t *len) {
  void *p = NULL;
  if (!tl_get_typed(env, v, napi_int32_array, fn, name, "Int32Array", &p, len)) return false;
  *data = p;
  return true;
}

/* The pointer inside an external the addon made, checked against its type tag: a foreign external, an
 * external of another kind (a TLS context passed for a zlib stream) or any other value is a TypeError,
 * never a bad cast. */
static inline bool tl_get_ext(napi_env env, napi_value v, const napi_type_tag *tag, const char *fn,
                              const char *what, void **out) {
  napi_valuetype t;
  bool ok = false;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, tag, &ok) != napi_ok || !ok)
    return TL_TYPE_ERROR(env, "%s: the first argument must be a %s from this addon", fn, what);
  return napi_get_value_external(env, v, out) == napi_ok;
}

/* (offset, length) must lie inside a buffer of buflen bytes; checked without overflow. */
static inline bool tl_get_span(napi_env env, napi_value offv, napi_value lenv, size_t buflen,
                               const char *fn, size_t *off, size_t *len) {
  int64_t o, l;
  if (!tl_get_int(env, offv, fn, "offset", 0, INT64_MAX >> 11, &o)) return false;
  if (!tl_get_int(env, lenv, fn, "length", 0, INT64_MAX >> 11, &l)) return false;
  if ((uint64_t)o > buflen || (uint64_t)l > buflen - (uint64_t)o)
    return TL_RANGE_ERROR(env, "%s: offset (%lld) + length (%lld) exceeds the buffer length (%zu)", fn,
                          (long long)o, (long long)l, buflen);
  *off = (size_t)o;
  *len = (size_t)l;
  return true;
}

/* Selector timeouts in milliseconds: -1 blocks; otherwise a number >= 0. Fractions round UP so that a
 * loop never wakes before its earliest timer and spins (asyncio's selectors do math.ceil for the same
 * reason). Values beyond INT_MAX (about 24.8 days) are clamped: the caller just wakes early and rewaits. */
static inline bool tl_get_timeout(napi_env env, napi_value v, const char *fn, int *out) {
  napi_valuetype t;
  double d;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number)
    return TL_TYPE_ERROR(env, "%s: timeout_ms must be a number", fn);
  napi_get_value_double(env, v, &d);
  if (d == -1) { *out = -1; return true; }
  if (!(d >= 0)) return TL_RANGE_ERROR(env, "%s: timeout_ms must be -1 or >= 0, got %g", fn, d);
  d = ceil(d);
  *out = d > INT_MAX ? INT_MAX : (int)d;
  return true;
}

/* Integers that fit in 31 bits become Smis in V8, so returning them allocates nothing. */
static inline napi_value tl_num(napi_env env, int64_t n) {
  napi_value r = NULL;
  if (n >= INT32_MIN && n <= INT32_MAX)
    napi_create_int32(env, (int32_t)n, &r);
  else
    napi_create_double(env, (double)n, &r);
  return r;
}

/* The value returned for a failed system call; e must be errno read right after the call. */
static inline napi_value tl_errno(napi_env env, int e) { return tl_num(env, -(int64_t)e); }

/* A syscall result: n >= 0 as is, -1 as -errno. Reads errno first, before any N-API call can touch it. */
static inline napi_value tl_sysret(napi_env env, int64_t n) {
  int e = errno;
  return n < 0 ? tl_errno(env, e) : tl_num(env, n);
}

static inline napi_value tl_pair(napi_env env, napi_value a, napi_value b) {
  napi_value arr;
  if (napi_create_array_with_length(env, 2, &arr) != napi_ok) return NULL;
  napi_set_element(env, arr, 0, a);
  napi_set_element(env, arr, 1, b);
  return arr;
}

static inline bool tl_export_fn(napi_env env, napi_value obj, const char *name, napi_callback cb) {
  napi_value fn;
  return napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn) == napi_ok &&
         napi_set_named_property(env, obj, name, fn) == napi_ok;
}

static inline bool tl_set_int(napi_env env, napi_value obj, const char *name, int64_t v) {
  napi_value n = tl_num(env, v);
  return n != NULL && napi_set_named_property(env, obj, name, n) == napi_ok;
}

/* Per-file registration; each adds its functions (and nothing on platforms where they don't exist). */
bool register_fds(napi_env env, napi_value exports);
bool register_epoll(napi_env env, napi_value exports);
bool register_poll(napi_env env, napi_value exports);
bool register_select(napi_env env, napi_value exports);
bool register_kqueue(napi_env env, napi_value exports, napi_value constants);
bool register_sockets(napi_env env, napi_value exports);
bool register_dns(napi_env env, napi_value exports);
bool register_signals(napi_env env, napi_value exports);
bool register_process(napi_env env, napi_value exports);
bool register_tls(napi_env env, napi_value exports);
bool register_zlib(napi_env env, napi_value exports, napi_value constants);
bool register_host(napi_env env, napi_value exports);

#endif
