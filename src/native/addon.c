/*
 * addon.c: module initialisation of tulip_native, plus the two message lookups (strerror, gai_strerror).
 *
 * The addon is context-aware (NAPI_MODULE_INIT) and keeps no mutable global state: the main thread and
 * any number of worker_threads may each load it. Every other file contributes its functions through a
 * register_* call; what a platform lacks (epoll off Linux, kqueue off the BSDs) is simply not exported,
 * so the TypeScript side feature-tests with `binding.epoll_create !== undefined` or constants.HAVE_*.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* EAI_ADDRFAMILY, EAI_NODATA, NI_MAXHOST... and the GNU strerror_r */
#endif
#include "util.h"

#include <string.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/select.h>
#include <poll.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* strerror() may share one static buffer between threads; strerror_r comes in a GNU flavour (returns the
 * message, maybe not in buf) and an XSI flavour (fills buf, returns 0). */
static const char *tl_strerror(int e, char *buf, size_t n) {
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
  return strerror_r(e, buf, n);
#else
  if (strerror_r(e, buf, n) != 0) snprintf(buf, n, "Unknown error %d", e);
  return buf;
#endif
}

static napi_value js_strerror(napi_env env, napi_callback_info info) {
  napi_value argv[1], r;
  int e;
  char buf[256];
  if (!tl_args(env, info, 1, argv) || !tl_get_i32(env, argv[0], "strerror", "errno", &e)) return NULL;
  TL_CALL(env, napi_create_string_utf8(env, tl_strerror(e, buf, sizeof buf), NAPI_AUTO_LENGTH, &r));
  return r;
}

/* gai_strerror returns constant strings on every platform we target, so it is thread-safe. */
static napi_value js_gai_strerror(napi_env env, napi_callback_info info) {
  napi_value argv[1], r;
  int code;
  if (!tl_args(env, info, 1, argv) || !tl_get_i32(env, argv[0], "gai_strerror", "code", &code))
    return NULL;
  TL_CALL(env, napi_create_string_utf8(env, gai_strerror(code), NAPI_AUTO_LENGTH, &r));
  return r;
}

/* malloc_retain(trim_threshold, mmap_threshold) -> whether it applied (glibc only). glibc hands freed
 * heap top back to the kernel past trim_threshold, and serves blocks of mmap_threshold or more with mmap
 * (unmapped on free): either way the next block of that memory is faulted in page by page again. The read
 * slabs (1 MiB, freed in batches by V8's GC) hit exactly that; see ReadSlab in selector_transports.ts. */
static napi_value js_malloc_retain(napi_env env, napi_callback_info info) {
  napi_value argv[2], r;
  int64_t trim, mmap_min;
  if (!tl_args(env, info, 2, argv) ||
      !tl_get_int(env, argv[0], "malloc_retain", "trim_threshold", 0, INT32_MAX, &trim) ||
      !tl_get_int(env, argv[1], "malloc_retain", "mmap_threshold", 0, INT32_MAX, &mmap_min))
    return NULL;
#ifdef __GLIBC__
  /* Setting either one also ends glibc's own sliding of both thresholds, so both are set. */
  bool applied = mallopt(M_MMAP_THRESHOLD, (int)mmap_min) == 1 && mallopt(M_TRIM_THRESHOLD, (int)trim) == 1;
#else
  bool applied = false;
#endif
  TL_CALL(env, napi_get_boolean(env, applied, &r));
  return r;
}

static bool build_constants(napi_env env, napi_value c) {
#define TL_CONST(name) if (!tl_set_int(env, c, #name, (int64_t)(name))) return false;
#include "const_table.h"
#undef TL_CONST
#ifdef __linux__
  bool have_epoll = true, have_eventfd = true;
#else
  bool have_epoll = false, have_eventfd = false;
#endif
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
  bool have_kqueue = true;
#else
  bool have_kqueue = false;
#endif
  return tl_set_int(env, c, "HAVE_EPOLL", have_epoll) && tl_set_int(env, c, "HAVE_KQUEUE", have_kqueue) &&
         tl_set_int(env, c, "HAVE_EVENTFD", have_eventfd) &&
         tl_set_int(env, c, "IOV_MAX", 1024);
}

static bool build_errno_codes(napi_env env, napi_value c) {
#define TL_ERRNO(name) if (!tl_set_int(env, c, #name, (int64_t)(name))) return false;
#include "errno_table.h"
#undef TL_ERRNO
  return true;
}

NAPI_MODULE_INIT() {
  napi_value constants, codes;
  TL_CALL(env, napi_create_object(env, &constants));
  TL_CALL(env, napi_create_object(env, &codes));
  if (!build_constants(env, constants) || !build_errno_codes(env, codes) ||
      !tl_export_fn(env, exports, "strerror", js_strerror) ||
      !tl_export_fn(env, exports, "gai_strerror", js_gai_strerror) ||
      !tl_export_fn(env, exports, "malloc_retain", js_malloc_retain) ||
      !register_fds(env, exports) || !register_epoll(env, exports) || !register_poll(env, exports) ||
      !register_select(env, exports) || !register_kqueue(env, exports, constants) ||
      !register_sockets(env, exports) || !register_dns(env, exports) ||
      !register_signals(env, exports) || !register_process(env, exports) || !register_tls(env, exports) ||
      !register_zlib(env, exports, constants) || !register_host(env, exports))
    return NULL;
  TL_CALL(env, napi_set_named_property(env, exports, "constants", constants));
  TL_CALL(env, napi_set_named_property(env, exports, "errno_codes", codes));
  return exports;
}
