/*
 * tls.c - the TLS context for HTTPS listeners. The handshake and record layer are h2o's
 * (h2o_socket_ssl_handshake); this only loads the certificate and key and sets the
 * floor at TLS 1.2, which every AWS SDK speaks.
 */
#include "http/http.h"

#include <openssl/err.h>
#include <stdio.h>

enum qr_err http_tls_ctx(const char *cert_file, const char *key_file, SSL_CTX **out)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return QR_E_INTERNAL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    enum qr_err e = QR_OK;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        fprintf(stderr, "quarry: cannot load the certificate chain %s\n", cert_file);
        e = QR_E_IO;
    } else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        fprintf(stderr, "quarry: cannot load the private key %s\n", key_file);
        e = QR_E_IO;
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "quarry: %s does not match the certificate %s\n", key_file, cert_file);
        e = QR_E_BAD_INPUT;
    }
    if (e != QR_OK) {
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return e;
    }
    *out = ctx;
    return QR_OK;
}
