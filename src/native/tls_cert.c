/*
 * tls_cert.c: a certificate as Python's ssl getpeercert() dict (for tls.c's tls_peer_cert): subject and
 * issuer as arrays of RDNs of [long name, value] pairs, version, serialNumber (hex), notBefore/notAfter
 * (OpenSSL's "May 10 00:00:00 2024 GMT" form, as Python prints them) and subjectAltName.
 *
 * Separate from tls.c only to keep each file readable; it never keeps state and never throws (a field
 * that cannot be decoded is left out or empty, as in Python).
 */
#include "tls.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>


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

napi_value tl_cert_dict(napi_env env, X509 *x) {
  napi_value r;
  if (napi_create_object(env, &r) != napi_ok) return NULL;
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
  return r;
}
