/*
 * dns.c: getaddrinfo and getnameinfo, the only calls of the addon that may block.
 *
 * Why they are here and synchronous: a lookup can take seconds (DNS timeouts), so the TypeScript layer
 * runs these on worker threads (Tulip's run_in_executor) and passes a wake-up to the loop. That makes
 * thread safety the rule for this file: getaddrinfo/getnameinfo are MT-safe, results go into stack
 * buffers, and nothing is cached between calls (no gethostbyname, no static buffers).
 *
 * Failures are results, not exceptions: {error: EAI_*, errno} (errno only meaningful for EAI_SYSTEM),
 * which the TS side turns into socket.gaierror / OSError as Python does.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* NI_MAXHOST, EAI_ADDRFAMILY... in glibc */
#endif
#include "sockaddr.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#ifndef NI_MAXHOST
#define NI_MAXHOST 1025
#endif
#ifndef NI_MAXSERV
#define NI_MAXSERV 32
#endif

static napi_value gai_result(napi_env env, int code, int err) {
  napi_value o;
  TL_CALL(env, napi_create_object(env, &o));
  if (!tl_set_int(env, o, "error", code) || !tl_set_int(env, o, "errno", code == EAI_SYSTEM ? err : 0))
    return NULL;
  return o;
}

/* A JS string as a malloc'd C string; *out stays NULL for null/undefined when nullable. */
static bool get_cstr(napi_env env, napi_value v, const char *fn, const char *name, const char *what,
                     char **out) {
  napi_valuetype t;
  size_t len;
  *out = NULL;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_null || t == napi_undefined) return true;
  if (t != napi_string) return TL_TYPE_ERROR(env, "%s: %s must be %s", fn, name, what);
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return false;
  if ((*out = malloc(len + 1)) == NULL) {
    napi_throw_error(env, "ENOMEM", "getaddrinfo: out of memory");
    return false;
  }
  napi_get_value_string_utf8(env, v, *out, len + 1, &len);
  if (strlen(*out) != len) {
    free(*out);
    *out = NULL;
    return TL_TYPE_ERROR(env, "%s: %s must not contain NUL characters", fn, name);
  }
  return true;
}

/* One [family, type, proto, canonname, addr] entry, or JS undefined to skip it (family we don't decode). */
static napi_value ai_entry(napi_env env, const struct addrinfo *ai) {
  napi_value e, canon, addr;
  struct sockaddr_storage ss;
  if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addr == NULL ||
      ai->ai_addrlen > sizeof ss) {
    TL_CALL(env, napi_get_undefined(env, &e));
    return e;
  }
  memset(&ss, 0, sizeof ss);
  memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
  if ((addr = tl_make_addr(env, &ss, (socklen_t)ai->ai_addrlen)) == NULL) return NULL;
  TL_CALL(env, napi_create_string_utf8(env, ai->ai_canonname ? ai->ai_canonname : "", NAPI_AUTO_LENGTH, &canon));
  TL_CALL(env, napi_create_array_with_length(env, 5, &e));
  TL_CALL(env, napi_set_element(env, e, 0, tl_num(env, ai->ai_family)));
  TL_CALL(env, napi_set_element(env, e, 1, tl_num(env, ai->ai_socktype)));
  TL_CALL(env, napi_set_element(env, e, 2, tl_num(env, ai->ai_protocol)));
  TL_CALL(env, napi_set_element(env, e, 3, canon));
  TL_CALL(env, napi_set_element(env, e, 4, addr));
  return e;
}

static napi_value js_getaddrinfo(napi_env env, napi_callback_info info) {
  napi_value argv[6], result = NULL;
  char *host = NULL, *port = NULL, portbuf[8];
  struct addrinfo hints, *res = NULL;
  napi_valuetype t;
  int64_t portnum;
  if (!tl_args(env, info, 6, argv)) return NULL;
  memset(&hints, 0, sizeof hints);
  if (!tl_get_i32(env, argv[2], "getaddrinfo", "family", &hints.ai_family) ||
      !tl_get_i32(env, argv[3], "getaddrinfo", "type", &hints.ai_socktype) ||
      !tl_get_i32(env, argv[4], "getaddrinfo", "proto", &hints.ai_protocol) ||
      !tl_get_i32(env, argv[5], "getaddrinfo", "flags", &hints.ai_flags))
    return NULL;
  TL_CALL(env, napi_typeof(env, argv[1], &t));
  if (t == napi_number) {
    if (!tl_get_int(env, argv[1], "getaddrinfo", "port", 0, 65535, &portnum)) return NULL;
    snprintf(portbuf, sizeof portbuf, "%d", (int)portnum);
  } else if (!get_cstr(env, argv[1], "getaddrinfo", "port", "a string, a number or null", &port)) {
    return NULL;
  }
  if (!get_cstr(env, argv[0], "getaddrinfo", "host", "a string or null", &host)) {
    free(port);
    return NULL;
  }
  int code = getaddrinfo(host, t == napi_number ? portbuf : port, &hints, &res);
  int err = errno;
  free(host);
  free(port);
  if (code != 0) return gai_result(env, code, err);

  uint32_t n = 0;
  if (napi_create_array(env, &result) != napi_ok) goto fail;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    napi_value e = ai_entry(env, ai);
    napi_valuetype et;
    if (e == NULL || napi_typeof(env, e, &et) != napi_ok) goto fail;
    if (et != napi_undefined && napi_set_element(env, result, n++, e) != napi_ok) goto fail;
  }
  freeaddrinfo(res);
  return result;
fail:
  freeaddrinfo(res);
  return NULL;
}

static napi_value js_getnameinfo(napi_env env, napi_callback_info info) {
  napi_value argv[3], h, s;
  int family, flags, r;
  struct sockaddr_storage ss;
  socklen_t len = 0;
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  if (!tl_args(env, info, 3, argv) || !tl_get_i32(env, argv[0], "getnameinfo", "family", &family) ||
      !tl_get_i32(env, argv[2], "getnameinfo", "flags", &flags))
    return NULL;
  if (family != AF_INET && family != AF_INET6) return gai_result(env, EAI_FAMILY, 0);
  if ((r = tl_parse_addr(env, "getnameinfo", family, argv[1], &ss, &len)) == 0) return NULL;
  if (r < 0) return gai_result(env, EAI_FAMILY, 0);
  int code = getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv, sizeof serv, flags);
  if (code != 0) return gai_result(env, code, errno);
  TL_CALL(env, napi_create_string_utf8(env, host, NAPI_AUTO_LENGTH, &h));
  TL_CALL(env, napi_create_string_utf8(env, serv, NAPI_AUTO_LENGTH, &s));
  return tl_pair(env, h, s);
}

bool register_dns(napi_env env, napi_value exports) {
  return tl_export_fn(env, exports, "getaddrinfo", js_getaddrinfo) &&
         tl_export_fn(env, exports, "getnameinfo", js_getnameinfo);
}
