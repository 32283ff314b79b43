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
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>

typedef struct tl_ctx {
  SSL_CTX *ctx;
  int refs;           /* 1 while the JS object is alive and not freed, + one per live connection */
  bool js_freed;      /* tls_ctx_free was called, or the finalizer ran: the JS count is gone */
  bool finalized;     /* the external is gone: the struct may be freed with the last count */
  unsigned char *alpn; /* the server's ALPN list in wire format (length-prefixed names) */
  unsigned int alpn_len;
} tl_ctx;

typedef struct tl_conn {
  SSL *ssl;
  tl_ctx *owner;
  int last_ssl_error;       /* SSL_ERROR_* of the last failure */
  unsigned long last_err;   /* the OpenSSL error code of the last failure (0: none queued) */
  long verify_code;         /* X509_V_* when the failure was a certificate verification */
  int sys_errno;
} tl_conn;

static const napi_type_tag CTX_TAG = {0x7475c11e7c7a0001ULL, 0x5e5e01a1d7c0f11eULL};
static const napi_type_tag CONN_TAG = {0x7475c11e7c7a0002ULL, 0x5e5e01a1d7c0f11eULL};

static void ctx_release(tl_ctx *c) {
  if (--c->refs > 0) return;
  SSL_CTX_free(c->ctx);
  c->ctx = NULL;
  free(c->alpn);
  c->alpn = NULL;
  if (c->finalized) free(c);
}

/* ---- argument helpers ---------------------------------------------------------------------------------- */

static bool get_ext(napi_env env, napi_value v, const napi_type_tag *tag, const char *fn, const char *what, void **out) {
  napi_valuetype t;
  bool ok = false;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, tag, &ok) != napi_ok || !ok)
    return TL_TYPE_ERROR(env, "%s: the first argument must be a %s from this addon", fn, what);
  return napi_get_value_external(env, v, out) == napi_ok;
}

static bool get_ctx(napi_env env, napi_value v, const char *fn, tl_ctx **out) {
  void *p;
  if (!get_ext(env, v, &CTX_TAG, fn, "TLS context", &p)) return false;
  tl_ctx *c = p;
  if (c->js_freed) {
    napi_throw_error(env, NULL, "TLS context is already freed");
    return false;
  }
  *out = c;
  return true;
}

static bool get_conn(napi_env env, napi_value v, const char *fn, tl_conn **out) {
  void *p;
  if (!get_ext(env, v, &CONN_TAG, fn, "TLS connection", &p)) return false;
  tl_conn *c = p;
  if (c->ssl == NULL) {
    napi_throw_error(env, NULL, "TLS connection is already freed");
    return false;
  }
  *out = c;
  return true;
}

/* A string argument (UTF-8, at most 64 KiB) into a malloc'd C string; null/undefined gives NULL when
 * allowed. The caller frees. */
static bool get_str(napi_env env, napi_value v, const char *fn, const char *name, bool nullable, char **out) {
  napi_valuetype t;
  size_t len;
  *out = NULL;
  if (nullable && tl_is_undefined(env, v)) return true;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string)
    return TL_TYPE_ERROR(env, "%s: %s must be a string%s", fn, name, nullable ? " or null" : "");
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return false;
  if (len > 1 << 24) return TL_RANGE_ERROR(env, "%s: %s is too long", fn, name);
  char *s = malloc(len + 1);
  if (s == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return false;
  }
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  if (strlen(s) != len) {
    free(s);
    return TL_TYPE_ERROR(env, "%s: %s must not contain NUL characters", fn, name);
  }
  *out = s;
  return true;
}

/* ---- errors -------------------------------------------------------------------------------------------- */

/* Python's short library names ("SSL", "PEM", "X509") for the [LIB: REASON] prefix of its messages. */
static const char *lib_name(int lib) {
  switch (lib) {
    case ERR_LIB_SSL: return "SSL";
    case ERR_LIB_PEM: return "PEM";
    case ERR_LIB_X509: return "X509";
    case ERR_LIB_X509V3: return "X509V3";
    case ERR_LIB_EVP: return "EVP";
    case ERR_LIB_ASN1: return "ASN1";
    case ERR_LIB_SYS: return "SYS";
    case ERR_LIB_BIO: return "BIO";
    case ERR_LIB_PKCS12: return "PKCS12";
    case ERR_LIB_RSA: return "RSA";
    case ERR_LIB_EC: return "EC";
    case ERR_LIB_PROV: return "PROV";
#ifdef ERR_LIB_OSSL_DECODER
    case ERR_LIB_OSSL_DECODER: return "DECODER";
#endif
    case ERR_LIB_CRYPTO: return "CRYPTO";
    default: return NULL;
  }
}

/* The error an OpenSSL failure reports: the most specific entry is the earliest one queued. */
static unsigned long take_error_queue(void) {
  unsigned long first = ERR_get_error(), e;
  while ((e = ERR_get_error()) != 0) {
    /* A later "PEM lib" or "system lib" wrapper says less than the first cause: keep the first. */
  }
  return first;
}

static napi_value str_or_null(napi_env env, const char *s) {
  napi_value v;
  if (s == NULL) napi_get_null(env, &v);
  else napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

/* [ssl_error, library, reason, verify_code, verify_message, errno] (library and reason are null when
 * OpenSSL queued nothing: a bare EOF or a system error). */
static napi_value make_error(napi_env env, int ssl_error, unsigned long code, long verify_code, int sys_errno) {
  napi_value arr;
  TL_CALL(env, napi_create_array_with_length(env, 6, &arr));
  const char *lib = code ? lib_name(ERR_GET_LIB(code)) : NULL;
  if (code && lib == NULL) lib = ERR_lib_error_string(code);
  const char *reason = code ? ERR_reason_error_string(code) : NULL;
  char buf[64];
  if (code && reason == NULL) {
    snprintf(buf, sizeof buf, "reason(%d)", ERR_GET_REASON(code));
    reason = buf;
  }
  napi_set_element(env, arr, 0, tl_num(env, ssl_error));
  napi_set_element(env, arr, 1, str_or_null(env, lib));
  napi_set_element(env, arr, 2, str_or_null(env, reason));
  napi_set_element(env, arr, 3, tl_num(env, verify_code));
  napi_set_element(env, arr, 4, str_or_null(env, verify_code ? X509_verify_cert_error_string(verify_code) : NULL));
  napi_set_element(env, arr, 5, tl_num(env, sys_errno));
  return arr;
}

/* For the context calls: null on success, else the error of the queue. */
static napi_value ctx_result(napi_env env, bool ok) {
  if (ok) {
    ERR_clear_error();
    napi_value n;
    napi_get_null(env, &n);
    return n;
  }
  return make_error(env, SSL_ERROR_SSL, take_error_queue(), 0, 0);
}

/* ---- contexts ------------------------------------------------------------------------------------------ */

/* Installed on every context: an encrypted key without a password fails instead of prompting on a tty. */
static int no_password_cb(char *buf, int size, int rwflag, void *u) {
  (void)buf; (void)size; (void)rwflag; (void)u;
  return 0;
}

typedef struct { const char *pw; size_t len; bool too_long; } pw_data;

static int password_cb(char *buf, int size, int rwflag, void *u) {
  (void)rwflag;
  pw_data *d = u;
  if (d == NULL) return 0;
  if (d->len > (size_t)size) {
    d->too_long = true;
    return -1;
  }
  memcpy(buf, d->pw, d->len);
  return (int)d->len;
}

static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                          unsigned int inlen, void *arg) {
  (void)ssl;
  tl_ctx *c = arg;
  if (c->alpn == NULL) return SSL_TLSEXT_ERR_NOACK;
  unsigned char *sel = NULL;
  unsigned char sel_len = 0;
  /* Server preference, as Python's select callback: the first of ours that the client offers. */
  if (SSL_select_next_proto(&sel, &sel_len, c->alpn, c->alpn_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  *outlen = sel_len;
  return SSL_TLSEXT_ERR_OK;
}

static void ctx_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  tl_ctx *c = data;
  c->finalized = true;
  if (!c->js_freed) {
    c->js_freed = true;
    ctx_release(c); /* frees the struct too when no connection holds it */
  } else if (c->refs == 0) {
    free(c); /* released earlier by tls_ctx_free and the last connection */
  }
}

/* tls_ctx_new(method) -> context; method 0: either side (TLS_method), 1: client, 2: server */
static napi_value js_ctx_new(napi_env env, napi_callback_info info) {
  napi_value argv[1], ext;
  int64_t method;
  if (!tl_args(env, info, 1, argv) || !tl_get_int(env, argv[0], "tls_ctx_new", "method", 0, 2, &method)) return NULL;
  SSL_CTX *ctx = SSL_CTX_new(method == 1 ? TLS_client_method() : method == 2 ? TLS_server_method() : TLS_method());
  if (ctx == NULL) {
    napi_throw_error(env, NULL, "SSL_CTX_new failed");
    return NULL;
  }
  tl_ctx *c = calloc(1, sizeof *c);
  if (c == NULL) {
    SSL_CTX_free(ctx);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  c->ctx = ctx;
  c->refs = 1;
  SSL_CTX_set_default_passwd_cb(ctx, no_password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* Writes go to a memory BIO, so they always complete; partial writes only matter for record sizes. */
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
  /* Disable renegotiation (TLS 1.2) as modern Python does; no compression (CRIME). */
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, c);
  if (napi_create_external(env, c, ctx_finalize, NULL, &ext) != napi_ok ||
      napi_type_tag_object(env, ext, &CTX_TAG) != napi_ok) {
    ctx_release(c);
    TL_CALL(env, napi_generic_failure);
  }
  return ext;
}

static napi_value js_ctx_free(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void *p;
  if (!tl_args(env, info, 1, argv) || !get_ext(env, argv[0], &CTX_TAG, "tls_ctx_free", "TLS context", &p)) return NULL;
  tl_ctx *c = p;
  /* Drops the JS count: the SSL_CTX goes now, or with its last connection. The struct stays for the
   * finalizer, since the external still points at it. */
  if (!c->js_freed) {
    c->js_freed = true;
    ctx_release(c);
  }
  return NULL;
}

/* tls_ctx_set_verify(ctx, mode): 0 CERT_NONE, 1 CERT_OPTIONAL, 2 CERT_REQUIRED */
static napi_value js_ctx_set_verify(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tl_ctx *c;
  int64_t mode;
  if (!tl_args(env, info, 2, argv) || !get_ctx(env, argv[0], "tls_ctx_set_verify", &c) ||
      !tl_get_int(env, argv[1], "tls_ctx_set_verify", "mode", 0, 2, &mode))
    return NULL;
  int m = mode == 0 ? SSL_VERIFY_NONE : mode == 1 ? SSL_VERIFY_PEER : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(c->ctx, m, NULL);
  return NULL;
}

/* tls_ctx_set_versions(ctx, min, max): TLS1_2_VERSION-style numbers, 0 = no bound */
static napi_value js_ctx_set_versions(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  tl_ctx *c;
  int64_t lo, hi;
  if (!tl_args(env, info, 3, argv) || !get_ctx(env, argv[0], "tls_ctx_set_versions", &c) ||
      !tl_get_int(env, argv[1], "tls_ctx_set_versions", "min", 0, 0xffff, &lo) ||
      !tl_get_int(env, argv[2], "tls_ctx_set_versions", "max", 0, 0xffff, &hi))
    return NULL;
  return ctx_result(env, SSL_CTX_set_min_proto_version(c->ctx, (int)lo) == 1 &&
                             SSL_CTX_set_max_proto_version(c->ctx, (int)hi) == 1);
}

/* tls_ctx_load_cert_chain(ctx, certfile, keyfile, password | null) -> null | error */
static napi_value js_ctx_load_cert_chain(napi_env env, napi_callback_info info) {
  napi_value argv[4], r = NULL;
  tl_ctx *c;
  char *certfile = NULL, *keyfile = NULL;
  uint8_t *pw = NULL;
  size_t pwlen = 0;
  const char *fn = "tls_ctx_load_cert_chain";
  if (!tl_args(env, info, 4, argv) || !get_ctx(env, argv[0], fn, &c) ||
      !get_str(env, argv[1], fn, "certfile", false, &certfile) || !get_str(env, argv[2], fn, "keyfile", false, &keyfile))
    goto out;
  if (!tl_is_undefined(env, argv[3]) && !tl_get_bytes(env, argv[3], fn, "password", &pw, &pwlen)) goto out;
  pw_data d = {(const char *)pw, pwlen, false};
  ERR_clear_error();
  SSL_CTX_set_default_passwd_cb(c->ctx, password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(c->ctx, pw != NULL ? &d : NULL);
  bool ok = SSL_CTX_use_certificate_chain_file(c->ctx, certfile) == 1;
  if (!ok) {
    r = ctx_result(env, false);
  } else if (SSL_CTX_use_PrivateKey_file(c->ctx, keyfile, SSL_FILETYPE_PEM) != 1) {
    unsigned long code = take_error_queue();
    napi_value e = make_error(env, SSL_ERROR_SSL, code, 0, 0);
    /* Tell the TS side which step failed, so that it can say "wrong password?" */
    napi_value tag;
    napi_create_string_utf8(env, d.too_long ? "password_too_long" : "key", NAPI_AUTO_LENGTH, &tag);
    napi_set_element(env, e, 6, tag);
    r = e;
  } else {
    r = ctx_result(env, SSL_CTX_check_private_key(c->ctx) == 1);
  }
  SSL_CTX_set_default_passwd_cb(c->ctx, no_password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(c->ctx, NULL);
out:
  free(certfile);
  free(keyfile);
  return r;
}

/* tls_ctx_load_verify_locations(ctx, cafile | null, capath | null, cadata: string (PEM) | Uint8Array (DER) | null) */
static napi_value js_ctx_load_verify_locations(napi_env env, napi_callback_info info) {
  napi_value argv[4], r = NULL;
  tl_ctx *c;
  char *cafile = NULL, *capath = NULL, *pem = NULL;
  uint8_t *der = NULL;
  size_t derlen = 0;
  const char *fn = "tls_ctx_load_verify_locations";
  if (!tl_args(env, info, 4, argv) || !get_ctx(env, argv[0], fn, &c) || !get_str(env, argv[1], fn, "cafile", true, &cafile) ||
      !get_str(env, argv[2], fn, "capath", true, &capath))
    goto out;
  if (!tl_is_undefined(env, argv[3])) {
    napi_valuetype t;
    napi_typeof(env, argv[3], &t);
    if (t == napi_string) {
      if (!get_str(env, argv[3], fn, "cadata", false, &pem)) goto out;
    } else if (!tl_get_bytes(env, argv[3], fn, "cadata", &der, &derlen)) {
      goto out;
    }
  }
  ERR_clear_error();
  bool ok = true;
  if (cafile != NULL || capath != NULL) ok = SSL_CTX_load_verify_locations(c->ctx, cafile, capath) == 1;
  X509_STORE *store = SSL_CTX_get_cert_store(c->ctx);
  if (ok && (pem != NULL || der != NULL)) {
    BIO *bio = pem != NULL ? BIO_new_mem_buf(pem, -1) : BIO_new_mem_buf(der, (int)derlen);
    int count = 0;
    ok = bio != NULL;
    while (ok) {
      X509 *x = pem != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : d2i_X509_bio(bio, NULL);
      if (x == NULL) break;
      /* The same CA twice is not an error (as in Python). */
      if (X509_STORE_add_cert(store, x) != 1) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_CERT_ALREADY_IN_HASH_TABLE) ERR_clear_error();
        else ok = false;
      }
      X509_free(x);
      count++;
    }
    BIO_free(bio);
    if (ok) {
      /* Running off the end of the data queues a "no start line" / "not enough data": expected once some
       * certificates were read; with none, it is the error. */
      if (count > 0) ERR_clear_error();
      else ok = false;
    }
  }
  r = ctx_result(env, ok);
out:
  free(cafile);
  free(capath);
  free(pem);
  return r;
}

/* tls_ctx_set_default_verify_paths(ctx) -> null | error; also returns (as a second call) the paths. */
static napi_value js_ctx_set_default_verify_paths(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tl_ctx *c;
  if (!tl_args(env, info, 1, argv) || !get_ctx(env, argv[0], "tls_ctx_set_default_verify_paths", &c)) return NULL;
  ERR_clear_error();
  return ctx_result(env, SSL_CTX_set_default_verify_paths(c->ctx) == 1);
}

/* tls_default_verify_paths() -> [cert_file_env, cert_file, cert_dir_env, cert_dir] (Python's
 * ssl.get_default_verify_paths() raw values) */
static napi_value js_default_verify_paths(napi_env env, napi_callback_info info) {
  napi_value arr;
  TL_CALL(env, napi_create_array_with_length(env, 4, &arr));
  napi_set_element(env, arr, 0, str_or_null(env, X509_get_default_cert_file_env()));
  napi_set_element(env, arr, 1, str_or_null(env, X509_get_default_cert_file()));
  napi_set_element(env, arr, 2, str_or_null(env, X509_get_default_cert_dir_env()));
  napi_set_element(env, arr, 3, str_or_null(env, X509_get_default_cert_dir()));
  return arr;
}

/* tls_ctx_set_ciphers(ctx, spec) -> null | error (the TLS 1.2 list; TLS 1.3 suites stay the default) */
static napi_value js_ctx_set_ciphers(napi_env env, napi_callback_info info) {
  napi_value argv[2], r = NULL;
  tl_ctx *c;
  char *spec = NULL;
  if (!tl_args(env, info, 2, argv) || !get_ctx(env, argv[0], "tls_ctx_set_ciphers", &c) ||
      !get_str(env, argv[1], "tls_ctx_set_ciphers", "ciphers", false, &spec))
    return NULL;
  ERR_clear_error();
  r = ctx_result(env, SSL_CTX_set_cipher_list(c->ctx, spec) == 1);
  free(spec);
  return r;
}

/* tls_ctx_set_alpn(ctx, wire) -> null | error: the client's offer, and the server's preference list */
static napi_value js_ctx_set_alpn(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tl_ctx *c;
  uint8_t *wire;
  size_t len;
  if (!tl_args(env, info, 2, argv) || !get_ctx(env, argv[0], "tls_ctx_set_alpn", &c) ||
      !tl_get_bytes(env, argv[1], "tls_ctx_set_alpn", "protocols", &wire, &len))
    return NULL;
  if (len > 0xffff) { (void)TL_RANGE_ERROR(env, "tls_ctx_set_alpn: the protocol list is too long"); return NULL; }
  unsigned char *copy = malloc(len ? len : 1);
  if (copy == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  memcpy(copy, wire, len);
  free(c->alpn);
  c->alpn = copy;
  c->alpn_len = (unsigned int)len;
  ERR_clear_error();
  /* SSL_CTX_set_alpn_protos returns 0 on success (the opposite of most of OpenSSL). */
  return ctx_result(env, SSL_CTX_set_alpn_protos(c->ctx, copy, (unsigned int)len) == 0);
}

/* ---- connections --------------------------------------------------------------------------------------- */

static void conn_free(tl_conn *c) {
  if (c->ssl == NULL) return;
  SSL_free(c->ssl); /* frees both BIOs */
  c->ssl = NULL;
  ctx_release(c->owner);
  c->owner = NULL;
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
  if (napi_create_external(env, c, conn_finalize, NULL, &ext) != napi_ok || napi_type_tag_object(env, ext, &CONN_TAG) != napi_ok) {
    conn_free(c);
    free(c);
    TL_CALL(env, napi_generic_failure);
  }
  return ext;
}

static napi_value js_free(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void *p;
  if (!tl_args(env, info, 1, argv) || !get_ext(env, argv[0], &CONN_TAG, "tls_free", "TLS connection", &p)) return NULL;
  conn_free(p);
  return NULL;
}

/* After a progress call returned ret <= 0: the SSL_ERROR_* code, negated; a real failure is recorded. */
static int fail(tl_conn *c, int ret) {
  int e = SSL_get_error(c->ssl, ret);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_ZERO_RETURN) return -e;
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

/* ---- the peer's certificate as Python's getpeercert() dict ------------------------------------------- */

static napi_value bio_string(napi_env env, BIO *b) {
  char *data;
  long n = BIO_get_mem_data(b, &data);
  napi_value v;
  napi_create_string_utf8(env, data, (size_t)(n > 0 ? n : 0), &v);
  return v;
}

/* A distinguished name: [[[name, value]], ...], one inner array per RDN (multi-valued RDNs share one). */
static napi_value name_value(napi_env env, X509_NAME *name) {
  napi_value rdns, rdn = NULL;
  napi_create_array(env, &rdns);
  int count = X509_NAME_entry_count(name), last_set = -1;
  uint32_t nr = 0, ne = 0;
  for (int i = 0; i < count; i++) {
    X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
    int set = X509_NAME_ENTRY_set(e);
    if (rdn == NULL || set != last_set) {
      napi_create_array(env, &rdn);
      napi_set_element(env, rdns, nr++, rdn);
      ne = 0;
      last_set = set;
    }
    ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
    int nid = OBJ_obj2nid(obj);
    char oid[128];
    const char *key = nid != NID_undef ? OBJ_nid2ln(nid) : (OBJ_obj2txt(oid, sizeof oid, obj, 1), oid);
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    napi_value pair = tl_pair(env, str_or_null(env, key), NULL), val;
    napi_create_string_utf8(env, len >= 0 ? (const char *)utf8 : "", len >= 0 ? (size_t)len : 0, &val);
    napi_set_element(env, pair, 1, val);
    OPENSSL_free(utf8);
    napi_set_element(env, rdn, ne++, pair);
  }
  return rdns;
}

static napi_value san_value(napi_env env, X509 *x) {
  GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  if (names == NULL) return NULL;
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t n = 0;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
    GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
    const char *kind = NULL;
    char buf[64];
    napi_value v = NULL;
    if (g->type == GEN_DNS || g->type == GEN_EMAIL || g->type == GEN_URI) {
      ASN1_IA5STRING *s = g->type == GEN_DNS ? g->d.dNSName : g->type == GEN_EMAIL ? g->d.rfc822Name : g->d.uniformResourceIdentifier;
      kind = g->type == GEN_DNS ? "DNS" : g->type == GEN_EMAIL ? "email" : "URI";
      napi_create_string_latin1(env, (const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s), &v);
    } else if (g->type == GEN_IPADD) {
      const unsigned char *p = ASN1_STRING_get0_data(g->d.iPAddress);
      int len = ASN1_STRING_length(g->d.iPAddress);
      kind = "IP Address";
      if (len == 4) {
        snprintf(buf, sizeof buf, "%d.%d.%d.%d", p[0], p[1], p[2], p[3]);
      } else if (len == 16) {
        /* Python's spelling: eight uppercase groups, no "::" compression. */
        int o = 0;
        for (int k = 0; k < 8; k++) o += snprintf(buf + o, sizeof buf - o, k ? ":%X" : "%X", (p[2 * k] << 8) | p[2 * k + 1]);
      } else {
        snprintf(buf, sizeof buf, "<invalid>");
      }
      v = str_or_null(env, buf);
    } else if (g->type == GEN_DIRNAME) {
      kind = "DirName";
      v = name_value(env, g->d.directoryName);
    } else {
      continue; /* othername, x400, EDI, RID: as Python, "<unsupported>" is not worth reporting */
    }
    napi_value pair = tl_pair(env, str_or_null(env, kind), v);
    napi_set_element(env, arr, n++, pair);
  }
  GENERAL_NAMES_free(names);
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
  napi_create_object(env, &r);
  napi_set_named_property(env, r, "subject", name_value(env, X509_get_subject_name(x)));
  napi_set_named_property(env, r, "issuer", name_value(env, X509_get_issuer_name(x)));
  napi_set_named_property(env, r, "version", tl_num(env, X509_get_version(x) + 1));
  BIO *b = BIO_new(BIO_s_mem());
  if (b != NULL) {
    i2a_ASN1_INTEGER(b, X509_get0_serialNumber(x));
    napi_set_named_property(env, r, "serialNumber", bio_string(env, b));
    (void)BIO_reset(b);
    ASN1_TIME_print(b, X509_get0_notBefore(x));
    napi_set_named_property(env, r, "notBefore", bio_string(env, b));
    (void)BIO_reset(b);
    ASN1_TIME_print(b, X509_get0_notAfter(x));
    napi_set_named_property(env, r, "notAfter", bio_string(env, b));
    BIO_free(b);
  }
  napi_value san = san_value(env, x);
  if (san != NULL) napi_set_named_property(env, r, "subjectAltName", san);
  X509_free(x);
  ERR_clear_error();
  return r;
}

bool register_tls(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"tls_ctx_new", js_ctx_new},
      {"tls_ctx_free", js_ctx_free},
      {"tls_ctx_set_verify", js_ctx_set_verify},
      {"tls_ctx_set_versions", js_ctx_set_versions},
      {"tls_ctx_load_cert_chain", js_ctx_load_cert_chain},
      {"tls_ctx_load_verify_locations", js_ctx_load_verify_locations},
      {"tls_ctx_set_default_verify_paths", js_ctx_set_default_verify_paths},
      {"tls_default_verify_paths", js_default_verify_paths},
      {"tls_ctx_set_ciphers", js_ctx_set_ciphers},
      {"tls_ctx_set_alpn", js_ctx_set_alpn},
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
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (!tl_export_fn(env, exports, fns[i].name, fns[i].cb)) return false;
  return true;
}
