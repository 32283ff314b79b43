/*
 * tls.c: a TLS engine over OpenSSL memory BIOs, for src/ssl.ts and src/sslproto.ts.
 *
 * Why memory BIOs: the loop owns the sockets and the selector; OpenSSL must never touch an fd. The
 * TypeScript side feeds the ciphertext it received (tls_feed), asks OpenSSL to make progress
 * (tls_handshake / tls_read / tls_write / tls_shutdown) and sends what OpenSSL produced (tls_take_out).
 *
 * What this file must never do: link or bundle a second libssl (the symbols come from the node binary,
 * which exports its own OpenSSL 3.0); block; prompt on a terminal for a key password (a callback that
 * answers "no password" is always installed); crash on a freed or foreign object.
 *
 * This file holds the connections; contexts are in tls_ctx.c, the certificate dict in tls_cert.c.
 *
 * Objects: a context (SSL_CTX) and a connection (SSL + two memory BIOs) are napi externals, type-tagged
 * so that a foreign external is a TypeError. Each may be freed explicitly (tls_ctx_free / tls_free) or
 * by its finalizer; a call on a freed object throws an Error that says so. A connection keeps its
 * context's struct alive (a plain count: every finalizer of one env runs on that env's thread), because
 * the ALPN select callback of the SSL_CTX reads the server's protocol list from it.
 *
 * Results: the progress calls return a count (>= 0) or -SSL_ERROR_* (WANT_READ, ZERO_RETURN, SSL,
 * SYSCALL...). A real failure's details (the first OpenSSL error code, the verify result) are kept in
 * the connection and read with tls_error(), which builds the message only when somebody asks.
 */
#include "tls.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/x509v3.h>

/* ---- connections --------------------------------------------------------------------------------------- */

static bool get_conn(napi_env env, napi_value v, const char *fn, tl_conn **out) {
  void *p;
  if (!tl_get_ext(env, v, &CONN_TAG, fn, "TLS connection", &p)) return false;
  tl_conn *c = p;
  if (c->ssl == NULL) {
    napi_throw_error(env, NULL, "TLS connection is already freed");
    return false;
  }
  *out = c;
  return true;
}

static void conn_free(tl_conn *c) {
  if (c->ssl == NULL) return;
  SSL_free(c->ssl); /* frees both BIOs */
  c->ssl = NULL;
  ctx_release(c->owner);
  c->owner = NULL;
  if (c->sni_owner != NULL) ctx_release(c->sni_owner);
  c->sni_owner = NULL;
  free(c->sni_name);
  c->sni_name = NULL;
}

static void conn_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  tl_conn *c = data;
  conn_free(c);
  free(c);
}

static bool is_ip_literal(const char *host) {
  ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);
  if (ip == NULL) {
    ERR_clear_error();
    return false;
  }
  ASN1_OCTET_STRING_free(ip);
  return true;
}

/* tls_new(ctx, server, server_hostname | null, check_hostname) -> connection */
static napi_value js_new(napi_env env, napi_callback_info info) {
  napi_value argv[4], ext;
  tl_ctx *owner;
  bool server, check;
  char *host = NULL;
  const char *fn = "tls_new";
  if (!tl_args(env, info, 4, argv) || !get_ctx(env, argv[0], fn, &owner) || !tl_get_bool(env, argv[1], fn, "server", &server) ||
      !get_str(env, argv[2], fn, "server_hostname", true, &host) || !tl_get_bool(env, argv[3], fn, "check_hostname", &check))
    return NULL;
  tl_conn *c = calloc(1, sizeof *c);
  SSL *ssl = c ? SSL_new(owner->ctx) : NULL;
  BIO *rbio = ssl ? BIO_new(BIO_s_mem()) : NULL, *wbio = rbio ? BIO_new(BIO_s_mem()) : NULL;
  if (wbio == NULL) {
    BIO_free(rbio);
    SSL_free(ssl);
    free(c);
    free(host);
    napi_throw_error(env, NULL, "tls_new: out of memory");
    return NULL;
  }
  /* An empty incoming BIO means "no data yet" (WANT_READ), not EOF, until tls_feed_eof. */
  BIO_set_mem_eof_return(rbio, -1);
  SSL_set_bio(ssl, rbio, wbio);
  SSL_set_app_data(ssl, c); /* for tl_client_hello_cb */
  c->ssl = ssl;
  c->owner = owner;
  owner->refs++;
  bool ok = true;
  if (server) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
    if (host != NULL && host[0] != '\0') {
      bool ip = is_ip_literal(host);
      /* RFC 6066: SNI carries DNS names only, never an IP literal. */
      if (!ip) ok = SSL_set_tlsext_host_name(ssl, host) == 1;
      if (ok && check) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1 : X509_VERIFY_PARAM_set1_host(param, host, 0) == 1;
      }
    }
  }
  free(host);
  if (!ok) {
    conn_free(c);
    free(c);
    ERR_clear_error();
    { (void)TL_RANGE_ERROR(env, "tls_new: invalid server_hostname"); return NULL; }
  }
  if (napi_create_external(env, c, conn_finalize, NULL, &ext) != napi_ok) {
    conn_free(c);
    free(c);
    TL_CALL(env, napi_generic_failure);
  }
  /* From here the finalizer owns c: a failure to tag must not free it a second time. */
  TL_CALL(env, napi_type_tag_object(env, ext, &CONN_TAG));
  return ext;
}

static napi_value js_free(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void *p;
  if (!tl_args(env, info, 1, argv) || !tl_get_ext(env, argv[0], &CONN_TAG, "tls_free", "TLS connection", &p)) return NULL;
  conn_free(p);
  return NULL;
}

/* After a progress call returned ret <= 0: the SSL_ERROR_* code, negated; a real failure is recorded. */
static int fail(tl_conn *c, int ret) {
  int e = SSL_get_error(c->ssl, ret);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_ZERO_RETURN ||
      e == SSL_ERROR_WANT_CLIENT_HELLO_CB)
    return -e;
  c->last_ssl_error = e;
  c->sys_errno = e == SSL_ERROR_SYSCALL ? errno : 0;
  c->last_err = take_error_queue();
  c->verify_code = 0;
  if (c->last_err && ERR_GET_LIB(c->last_err) == ERR_LIB_SSL && ERR_GET_REASON(c->last_err) == SSL_R_CERTIFICATE_VERIFY_FAILED)
    c->verify_code = SSL_get_verify_result(c->ssl);
  return -e;
}

/* tls_feed(conn, buf, offset, length) -> bytes taken (all of them: a memory BIO grows) */
static napi_value js_feed(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  tl_conn *c;
  uint8_t *buf;
  size_t buflen, off, len;
  if (!tl_args(env, info, 4, argv) || !get_conn(env, argv[0], "tls_feed", &c) ||
      !tl_get_bytes(env, argv[1], "tls_feed", "buf", &buf, &buflen) ||
      !tl_get_span(env, argv[2], argv[3], buflen, "tls_feed", &off, &len))
    return NULL;
  if (len > INT_MAX) { (void)TL_RANGE_ERROR(env, "tls_feed: length is too large"); return NULL; }
  int n = len ? BIO_write(SSL_get_rbio(c->ssl), buf + off, (int)len) : 0;
  return tl_num(env, n < 0 ? 0 : n);
}

/* tls_feed_eof(conn): the peer closed the TCP stream; reads now see EOF instead of "want more". */
static napi_value js_feed_eof(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tl_conn *c;
  if (!tl_args(env, info, 1, argv) || !get_conn(env, argv[0], "tls_feed_eof", &c)) return NULL;
  BIO_set_mem_eof_return(SSL_get_rbio(c->ssl), 0);
  return NULL;
}

/* tls_take_out(conn) -> Buffer of every ciphertext byte waiting to be sent, or null */
static napi_value js_take_out(napi_env env, napi_callback_info info) {
  napi_value argv[1], r;
  tl_conn *c;
  if (!tl_args(env, info, 1, argv) || !get_conn(env, argv[0], "tls_take_out", &c)) return NULL;
  BIO *w = SSL_get_wbio(c->ssl);
  size_t n = BIO_ctrl_pending(w);
  if (n == 0) {
    napi_get_null(env, &r);
    return r;
  }
  void *data;
  TL_CALL(env, napi_create_buffer(env, n, &data, &r));
  int got = BIO_read(w, data, (int)n);
  (void)got; /* a memory BIO hands out exactly what it reported pending */
  return r;
}

/* ---- SNI (server side) ------------------------------------------------------------------------------------
 *
 * The sni_callback is JavaScript, and JavaScript never runs inside OpenSSL here: the ClientHello callback
 * only reads the name and pauses the handshake (SSL_CLIENT_HELLO_RETRY, so tls_handshake returns
 * -SSL_ERROR_WANT_CLIENT_HELLO_CB). The TypeScript side then calls the sni_callback, which may switch the
 * context (tls_set_ctx), answers with tls_sni_done, and calls tls_handshake again: this time the
 * callback lets the handshake go on, or fails it with the alert asked for. The ClientHello callback is
 * the place OpenSSL documents for switching SSL_CTX: before the certificate is chosen. */

_Static_assert(SSL_ERROR_WANT_CLIENT_HELLO_CB == 11, "src/ssl.ts has SSL_ERROR_WANT_CLIENT_HELLO_CB = 11");

/* The first host_name of a server_name extension (RFC 6066 3: a 2-byte list length, then entries of a
 * type byte, a 2-byte length and the name). NULL in *out when there is none; false when malformed. */
static bool parse_sni(const unsigned char *p, size_t len, char **out) {
  *out = NULL;
  if (len < 2 || (size_t)((p[0] << 8) | p[1]) != len - 2) return false;
  p += 2;
  len -= 2;
  while (len >= 3) {
    unsigned type = p[0];
    size_t n = (size_t)((p[1] << 8) | p[2]);
    if (n > len - 3) return false;
    if (type == TLSEXT_NAMETYPE_host_name) {
      if (n == 0 || n > 255) return false;
      for (size_t i = 0; i < n; i++)
        if (p[3 + i] <= 0x20 || p[3 + i] >= 0x7f) return false; /* a DNS name (A-labels): printable ASCII */
      if ((*out = malloc(n + 1)) == NULL) return false;
      memcpy(*out, p + 3, n);
      (*out)[n] = '\0';
      return true;
    }
    p += 3 + n;
    len -= 3 + n;
  }
  return len == 0;
}

int tl_client_hello_cb(SSL *s, int *al, void *arg) {
  (void)arg;
  tl_conn *c = SSL_get_app_data(s);
  if (c == NULL) return SSL_CLIENT_HELLO_SUCCESS;
  if (c->sni_done) {
    if (c->sni_alert == 0) return SSL_CLIENT_HELLO_SUCCESS;
    *al = c->sni_alert;
    return SSL_CLIENT_HELLO_ERROR;
  }
  const unsigned char *ext;
  size_t len;
  free(c->sni_name);
  c->sni_name = NULL;
  if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &ext, &len) == 1 && !parse_sni(ext, len, &c->sni_name)) {
    *al = SSL_AD_DECODE_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_RETRY;
}

/* tls_sni_name(conn) -> the name the client asked for, or null (no SNI): valid once tls_handshake
 * returned -SSL_ERROR_WANT_CLIENT_HELLO_CB */
static napi_value js_sni_name(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tl_conn *c;
  if (!tl_args(env, info, 1, argv) || !get_conn(env, argv[0], "tls_sni_name", &c)) return NULL;
  return str_or_null(env, c->sni_name);
}

/* tls_sni_done(conn, alert): the sni_callback has answered; 0 goes on, else a TLS alert (1..255) */
static napi_value js_sni_done(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tl_conn *c;
  int64_t alert;
  if (!tl_args(env, info, 2, argv) || !get_conn(env, argv[0], "tls_sni_done", &c) ||
      !tl_get_int(env, argv[1], "tls_sni_done", "alert", 0, 255, &alert))
    return NULL;
  c->sni_done = true;
  c->sni_alert = (int)alert;
  return NULL;
}

/* tls_set_ctx(conn, ctx): the connection goes on with another context (its certificate, verification,
 * ALPN), as Python's `SSLObject.context = ...` in an sni_callback */
static napi_value js_set_ctx(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tl_conn *c;
  tl_ctx *next;
  if (!tl_args(env, info, 2, argv) || !get_conn(env, argv[0], "tls_set_ctx", &c) || !get_ctx(env, argv[1], "tls_set_ctx", &next))
    return NULL;
  if (SSL_set_SSL_CTX(c->ssl, next->ctx) == NULL) {
    ERR_clear_error();
    napi_throw_error(env, NULL, "tls_set_ctx: SSL_set_SSL_CTX failed");
    return NULL;
  }
  /* The ALPN callback of the new SSL_CTX reads its struct: keep it counted until the connection goes. */
  next->refs++;
  if (c->sni_owner != NULL) ctx_release(c->sni_owner);
  c->sni_owner = next;
  return NULL;
}

/* tls_handshake(conn) -> 1 done | -SSL_ERROR_* */
static napi_value js_handshake(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tl_conn *c;
  if (!tl_args(env, info, 1, argv) || !get_conn(env, argv[0], "tls_handshake", &c)) return NULL;
  ERR_clear_error();
  int r = SSL_do_handshake(c->ssl);
  return tl_num(env, r == 1 ? 1 : fail(c, r));
}

/* tls_read(conn, buf, offset, length) -> bytes (> 0) | -SSL_ERROR_* (-ZERO_RETURN: close_notify came) */
static napi_value js_read(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  tl_conn *c;
  uint8_t *buf;
  size_t buflen, off, len, got = 0;
  if (!tl_args(env, info, 4, argv) || !get_conn(env, argv[0], "tls_read", &c) ||
      !tl_get_bytes(env, argv[1], "tls_read", "buf", &buf, &buflen) ||
      !tl_get_span(env, argv[2], argv[3], buflen, "tls_read", &off, &len))
    return NULL;
  if (len == 0) return tl_num(env, 0);
  ERR_clear_error();
  int r = SSL_read_ex(c->ssl, buf + off, len, &got);
  return tl_num(env, r == 1 ? (int64_t)got : fail(c, r));
}

/* tls_write(conn, buf, offset, length) -> bytes taken | -SSL_ERROR_* */
static napi_value js_write(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  tl_conn *c;
  uint8_t *buf;
  size_t buflen, off, len, done = 0;
  if (!tl_args(env, info, 4, argv) || !get_conn(env, argv[0], "tls_write", &c) ||
      !tl_get_bytes(env, argv[1], "tls_write", "buf", &buf, &buflen) ||
      !tl_get_span(env, argv[2], argv[3], buflen, "tls_write", &off, &len))
    return NULL;
  if (len == 0) return tl_num(env, 0);
  ERR_clear_error();
  int r = SSL_write_ex(c->ssl, buf + off, len, &done);
  return tl_num(env, r == 1 ? (int64_t)done : fail(c, r));
}

/* tls_shutdown(conn) -> 1 both close_notify sent and received | 0 ours sent | -SSL_ERROR_* */
static napi_value js_shutdown(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tl_conn *c;
  if (!tl_args(env, info, 1, argv) || !get_conn(env, argv[0], "tls_shutdown", &c)) return NULL;
  ERR_clear_error();
  int r = SSL_shutdown(c->ssl);
  return tl_num(env, r >= 0 ? r : fail(c, r));
}

/* tls_error(conn) -> the last failure as make_error describes it */
static napi_value js_error(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tl_conn *c;
  if (!tl_args(env, info, 1, argv) || !get_conn(env, argv[0], "tls_error", &c)) return NULL;
  return make_error(env, c->last_ssl_error, c->last_err, c->verify_code, c->sys_errno);
}

/* tls_info(conn) -> [version, cipher_name, cipher_protocol, cipher_bits, alpn, servername, verify_result]
 * (nulls where there is nothing yet) */
static napi_value js_info(napi_env env, napi_callback_info info) {
  napi_value argv[1], arr, alpn_v;
  tl_conn *c;
  if (!tl_args(env, info, 1, argv) || !get_conn(env, argv[0], "tls_info", &c)) return NULL;
  TL_CALL(env, napi_create_array_with_length(env, 7, &arr));
  bool done = SSL_is_init_finished(c->ssl);
  const SSL_CIPHER *cipher = SSL_get_current_cipher(c->ssl);
  napi_set_element(env, arr, 0, str_or_null(env, done ? SSL_get_version(c->ssl) : NULL));
  napi_set_element(env, arr, 1, str_or_null(env, cipher ? SSL_CIPHER_get_name(cipher) : NULL));
  napi_set_element(env, arr, 2, str_or_null(env, cipher ? SSL_CIPHER_get_version(cipher) : NULL));
  napi_set_element(env, arr, 3, tl_num(env, cipher ? SSL_CIPHER_get_bits(cipher, NULL) : 0));
  const unsigned char *alpn = NULL;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
  if (alpn_len > 0) napi_create_string_latin1(env, (const char *)alpn, alpn_len, &alpn_v);
  else napi_get_null(env, &alpn_v);
  napi_set_element(env, arr, 4, alpn_v);
  napi_set_element(env, arr, 5, str_or_null(env, SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name)));
  napi_set_element(env, arr, 6, tl_num(env, SSL_get_verify_result(c->ssl)));
  return arr;
}

/* tls_peer_cert(conn, binary) -> dict | DER Buffer | null */
static napi_value js_peer_cert(napi_env env, napi_callback_info info) {
  napi_value argv[2], r;
  tl_conn *c;
  bool binary;
  if (!tl_args(env, info, 2, argv) || !get_conn(env, argv[0], "tls_peer_cert", &c) ||
      !tl_get_bool(env, argv[1], "tls_peer_cert", "binary", &binary))
    return NULL;
  X509 *x = SSL_get1_peer_certificate(c->ssl);
  if (x == NULL) {
    napi_get_null(env, &r);
    return r;
  }
  if (binary) {
    int len = i2d_X509(x, NULL);
    void *data;
    if (len < 0 || napi_create_buffer(env, (size_t)len, &data, &r) != napi_ok) {
      X509_free(x);
      napi_get_null(env, &r);
      return r;
    }
    unsigned char *p = data;
    i2d_X509(x, &p);
    X509_free(x);
    return r;
  }
  r = tl_cert_dict(env, x);
  X509_free(x);
  ERR_clear_error();
  return r;
}

bool register_tls(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"tls_new", js_new},
      {"tls_free", js_free},
      {"tls_feed", js_feed},
      {"tls_feed_eof", js_feed_eof},
      {"tls_take_out", js_take_out},
      {"tls_handshake", js_handshake},
      {"tls_read", js_read},
      {"tls_write", js_write},
      {"tls_shutdown", js_shutdown},
      {"tls_error", js_error},
      {"tls_info", js_info},
      {"tls_peer_cert", js_peer_cert},
      {"tls_sni_name", js_sni_name},
      {"tls_sni_done", js_sni_done},
      {"tls_set_ctx", js_set_ctx},
  };
  if (!register_tls_ctx(env, exports)) return false;
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (!tl_export_fn(env, exports, fns[i].name, fns[i].cb)) return false;
  return true;
}
