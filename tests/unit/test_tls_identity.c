/* Unit tests of crypto/tls_identity: the certificate installed for a transport key carries
 * exactly that key, and only Ed25519 keys are accepted. */
#include <openssl/ssl.h>
#include <string.h>

#include "crypto/sign.h"
#include "crypto/tls_identity.h"
#include "unit.h"

static void
test_install_and_extract(void **state)
{
    (void)state;
    struct secret_key *key = NULL;
    assert_int_equal(secret_key_generate(SIG_ED25519, &key), ERR_OK);
    struct public_key pub;
    secret_key_public(key, &pub);
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    assert_non_null(ctx);
    assert_int_equal(tls_identity_install(ctx, key), ERR_OK);
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    assert_non_null(cert);
    struct public_key got;
    assert_int_equal(tls_identity_peer_key(cert, &got), ERR_OK);
    assert_true(public_key_equal(&pub, &got));
    /* The certificate is self-signed by that key. */
    assert_int_equal(X509_verify(cert, X509_get0_pubkey(cert)), 1);
    /* Another key gives another certificate key. */
    struct secret_key *other = NULL;
    assert_int_equal(secret_key_generate(SIG_ED25519, &other), ERR_OK);
    SSL_CTX *ctx2 = SSL_CTX_new(TLS_method());
    assert_int_equal(tls_identity_install(ctx2, other), ERR_OK);
    struct public_key got2;
    assert_int_equal(tls_identity_peer_key(SSL_CTX_get0_certificate(ctx2), &got2), ERR_OK);
    assert_false(public_key_equal(&got, &got2));
    SSL_CTX_free(ctx2);
    SSL_CTX_free(ctx);
    secret_key_free(other);
    secret_key_free(key);
}

static void
test_sm2_unsupported(void **state)
{
    (void)state;
    struct secret_key *key = NULL;
    assert_int_equal(secret_key_generate(SIG_SM2, &key), ERR_OK);
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    assert_int_equal(tls_identity_install(ctx, key), ERR_UNSUPPORTED);
    assert_null(SSL_CTX_get0_certificate(ctx));
    SSL_CTX_free(ctx);
    secret_key_free(key);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install_and_extract),
        cmocka_unit_test(test_sm2_unsupported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
