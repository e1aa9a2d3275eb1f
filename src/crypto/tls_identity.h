/* A node's TLS identity, bound to its on-chain transport key (ARCHITECTURE.md "Node
 * transport keys").
 *
 * Each node has an Ed25519 transport key. At start-up p2p/ asks this module to install it
 * into its SSL_CTX as a fresh self-signed X.509 certificate; the certificate carries no
 * meaning beyond the key (peers check the key against the chain, not the certificate's names
 * or dates). During the handshake, TLS 1.3 CertificateVerify proves that the peer holds the
 * secret key of the certificate it sent; tls_identity_peer_key extracts that key so p2p/ can
 * check it against the registered node keys.
 *
 * This lives in crypto/ because it needs libcrypto's key and X.509 APIs (the raw Ed25519
 * secret enters OpenSSL only here). The OpenSSL types are named by their struct tags so
 * callers do not need OpenSSL headers to include this one. The private key copy inside the
 * SSL_CTX is OpenSSL's ordinary heap memory for as long as the SSL_CTX lives. Thread-safe. */
#ifndef LM_CRYPTO_TLS_IDENTITY_H
#define LM_CRYPTO_TLS_IDENTITY_H

#include "base/err.h"
#include "crypto/sign.h"

struct ssl_ctx_st; /* SSL_CTX */
struct x509_st;    /* X509 */

/* Makes a self-signed certificate for key and installs certificate and key in ctx.
 * ERR_UNSUPPORTED if key is not Ed25519 (OpenSSL 3.0 cannot do SM2 in TLS); ERR_CRYPTO if
 * OpenSSL fails. */
MUST_USE enum err tls_identity_install(struct ssl_ctx_st *ctx, const struct secret_key *key);

/* The public key of a peer's certificate. ERR_UNSUPPORTED if it is not an Ed25519 key. */
MUST_USE enum err tls_identity_peer_key(const struct x509_st *cert, struct public_key *out);

#endif
