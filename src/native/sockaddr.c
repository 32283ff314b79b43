/*
 * sockaddr.c: JS address values <-> struct sockaddr (see sockaddr.h for the shapes).
 *
 * Why numeric hosts only: a name lookup can block for seconds, and this code runs on the loop's thread.
 * The TypeScript layer resolves names with getaddrinfo (dns.c) on a worker thread and passes literals.
 * Everything here is reentrant (inet_pton/inet_ntop, if_nametoindex; no static buffers), so dns.c may
 * call it from worker threads.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sockaddr.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define HOST_MAX 128 /* longest numeric literal: INET6_ADDRSTRLEN (46) + '%' + an interface name */

static bool not_numeric(napi_env env, const char *fn) {
  return TL_TYPE_ERROR(env, "%s: host must be a numeric address; resolve names with getaddrinfo first", fn);
}

static bool get_host(napi_env env, const char *fn, napi_value v, char *buf) {
  napi_valuetype t;
  size_t len;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string)
    return TL_TYPE_ERROR(env, "%s: host must be a string", fn);
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return false;
  if (len >= HOST_MAX) return not_numeric(env, fn);
  if (napi_get_value_string_utf8(env, v, buf, HOST_MAX, &len) != napi_ok) return false;
  if (strlen(buf) != len) return not_numeric(env, fn); /* an embedded NUL */
  return true;
}

/* [host, port, ...rest]: checks the shape and returns host and port. */
static bool get_inet_parts(napi_env env, const char *fn, napi_value v, uint32_t minlen, uint32_t maxlen,
                           const char *shape, char *host, uint16_t *port, napi_value *rest) {
  bool is = false;
  uint32_t n = 0;
  napi_value h, p;
  int64_t x;
  if (napi_is_array(env, v, &is) != napi_ok || !is || napi_get_array_length(env, v, &n) != napi_ok ||
      n < minlen || n > maxlen)
    return TL_TYPE_ERROR(env, "%s: address must be %s", fn, shape);
  if (napi_get_element(env, v, 0, &h) != napi_ok || napi_get_element(env, v, 1, &p) != napi_ok) return false;
  if (!get_host(env, fn, h, host) || !tl_get_int(env, p, fn, "port", 0, 65535, &x)) return false;
  *port = (uint16_t)x;
  for (uint32_t i = 2; i < maxlen; i++) {
    if (i < n) {
      if (napi_get_element(env, v, i, &rest[i - 2]) != napi_ok) return false;
    } else {
      rest[i - 2] = NULL;
    }
  }
  return true;
}

static bool parse_inet(napi_env env, const char *fn, napi_value v, struct sockaddr_in *sin) {
  char host[HOST_MAX];
  uint16_t port;
  if (!get_inet_parts(env, fn, v, 2, 2, "[host, port] for AF_INET", host, &port, NULL)) return false;
  memset(sin, 0, sizeof *sin);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  if (host[0] == '\0')
    sin->sin_addr.s_addr = htonl(INADDR_ANY);
  else if (strcmp(host, "<broadcast>") == 0)
    sin->sin_addr.s_addr = htonl(INADDR_BROADCAST);
  else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
    return not_numeric(env, fn);
  return true;
}

static bool parse_inet6(napi_env env, const char *fn, napi_value v, struct sockaddr_in6 *sin6) {
  char host[HOST_MAX];
  uint16_t port;
  napi_value rest[2];
  int64_t flow = 0, scope = 0;
  if (!get_inet_parts(env, fn, v, 2, 4, "[host, port, flowinfo?, scope_id?] for AF_INET6", host, &port,
                      rest))
    return false;
  if (rest[0] && !tl_is_undefined(env, rest[0]) && !tl_get_int(env, rest[0], fn, "flowinfo", 0, 0xfffff, &flow))
    return false;
  if (rest[1] && !tl_is_undefined(env, rest[1]) &&
      !tl_get_int(env, rest[1], fn, "scope_id", 0, UINT32_MAX, &scope))
    return false;
  memset(sin6, 0, sizeof *sin6);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  sin6->sin6_flowinfo = htonl((uint32_t)flow);
  /* "fe80::1%eth0" or "fe80::1%2": the zone names the interface of a link-local address. */
  char *pct = strchr(host, '%');
  if (pct) {
    *pct = '\0';
    char *end;
    unsigned long idx = strtoul(pct + 1, &end, 10);
    if (pct[1] == '\0' || *end != '\0' || idx > UINT32_MAX) idx = if_nametoindex(pct + 1);
    if (idx == 0) return TL_TYPE_ERROR(env, "%s: unknown interface in scoped address: %s", fn, pct + 1);
    if (scope == 0) scope = (int64_t)idx;
  }
  sin6->sin6_scope_id = (uint32_t)scope;
  if (host[0] == '\0')
    sin6->sin6_addr = in6addr_any;
  else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
    return not_numeric(env, fn);
  return true;
}

static bool parse_unix(napi_env env, const char *fn, napi_value v, struct sockaddr_un *su, socklen_t *len) {
  napi_valuetype t;
  size_t n;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string)
    return TL_TYPE_ERROR(env, "%s: an AF_UNIX address must be a path string", fn);
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) return false;
  memset(su, 0, sizeof *su);
  su->sun_family = AF_UNIX;
  /* A filesystem path needs its NUL terminator to fit portably; an abstract name has none. */
  if (n > sizeof su->sun_path)
    return TL_RANGE_ERROR(env, "%s: AF_UNIX path is too long (%zu bytes, limit %zu)", fn, n,
                          sizeof su->sun_path - 1);
  char tmp[sizeof su->sun_path + 1];
  if (napi_get_value_string_utf8(env, v, tmp, sizeof tmp, &n) != napi_ok) return false;
  bool abstract = n > 0 && tmp[0] == '\0';
  if (!abstract && n >= sizeof su->sun_path)
    return TL_RANGE_ERROR(env, "%s: AF_UNIX path is too long (%zu bytes, limit %zu)", fn, n,
                          sizeof su->sun_path - 1);
  memcpy(su->sun_path, tmp, n);
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (abstract || n == 0 ? 0 : 1));
  return true;
}

int tl_parse_addr(napi_env env, const char *fn, int family, napi_value v, struct sockaddr_storage *ss,
                  socklen_t *len) {
  switch (family) {
  case AF_INET:
    *len = sizeof(struct sockaddr_in);
    return parse_inet(env, fn, v, (struct sockaddr_in *)ss);
  case AF_INET6:
    *len = sizeof(struct sockaddr_in6);
    return parse_inet6(env, fn, v, (struct sockaddr_in6 *)ss);
  case AF_UNIX:
    return parse_unix(env, fn, v, (struct sockaddr_un *)ss, len);
  default:
    return -1;
  }
}

static napi_value inet_value(napi_env env, int af, const void *addr, unsigned port, const uint32_t *extra) {
  char host[INET6_ADDRSTRLEN];
  napi_value arr, h;
  if (!inet_ntop(af, addr, host, sizeof host)) host[0] = '\0';
  TL_CALL(env, napi_create_array_with_length(env, extra ? 4 : 2, &arr));
  TL_CALL(env, napi_create_string_utf8(env, host, NAPI_AUTO_LENGTH, &h));
  TL_CALL(env, napi_set_element(env, arr, 0, h));
  TL_CALL(env, napi_set_element(env, arr, 1, tl_num(env, port)));
  if (extra) {
    TL_CALL(env, napi_set_element(env, arr, 2, tl_num(env, extra[0])));
    TL_CALL(env, napi_set_element(env, arr, 3, tl_num(env, extra[1])));
  }
  return arr;
}

napi_value tl_make_addr(napi_env env, const struct sockaddr_storage *ss, socklen_t len) {
  napi_value r;
  if (len >= sizeof(struct sockaddr_in) && ss->ss_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    return inet_value(env, AF_INET, &sin->sin_addr, ntohs(sin->sin_port), NULL);
  }
  if (len >= sizeof(struct sockaddr_in6) && ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
    uint32_t extra[2] = {ntohl(sin6->sin6_flowinfo), sin6->sin6_scope_id};
    return inet_value(env, AF_INET6, &sin6->sin6_addr, ntohs(sin6->sin6_port), extra);
  }
  if (len >= offsetof(struct sockaddr_un, sun_path) && ss->ss_family == AF_UNIX) {
    const struct sockaddr_un *su = (const struct sockaddr_un *)ss;
    size_t n = len - offsetof(struct sockaddr_un, sun_path);
    if (n > sizeof su->sun_path) n = sizeof su->sun_path;
    /* Unnamed sockets give n == 0 (''); abstract names keep their leading NUL and are not
     * NUL-terminated; filesystem paths end at the first NUL. */
    if (n > 0 && su->sun_path[0] != '\0') n = strnlen(su->sun_path, n);
    TL_CALL(env, napi_create_string_utf8(env, su->sun_path, n, &r));
    return r;
  }
  TL_CALL(env, napi_get_null(env, &r));
  return r;
}
