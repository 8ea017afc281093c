/* API keys: random identifiers, sealed secrets and HMAC-SHA256 request signatures. */
#include <sodium.h>
#include <string.h>

#include "auth/apikey.h"

void apikey_random(char *out, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (size_t i = 0; i < len; i++)
        out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    out[len] = '\0';
}

void apikey_hmac_hex(const char *key, size_t key_len, const char *msg, size_t msg_len,
                     char out[APIKEY_SIG_HEX])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, msg_len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, APIKEY_SIG_HEX, mac, sizeof(mac));
    sodium_memzero(&st, sizeof(st));
}

bool apikey_verify(const char *secret, const char *msg, size_t msg_len, const char *sig)
{
    char want[APIKEY_SIG_HEX];
    char got[APIKEY_SIG_HEX];
    size_t n = sig ? strlen(sig) : 0;
    bool ok;
    if (n != APIKEY_SIG_HEX - 1)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = sig[i];
        got[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
    }
    got[n] = '\0';
    apikey_hmac_hex(secret, strlen(secret), msg, msg_len, want);
    ok = sodium_memcmp(want, got, APIKEY_SIG_HEX - 1) == 0;
    sodium_memzero(want, sizeof(want));
    return ok;
}

enum cg_err apikey_seal(const uint8_t key[APIKEY_SERVER_KEY_BYTES], const char *secret,
                        char out[APIKEY_SEAL_HEX_MAX])
{
    unsigned char buf[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 100];
    size_t n = strlen(secret);
    if (n > 100 ||
        2 * (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n) + 1 > APIKEY_SEAL_HEX_MAX)
        return CG_EINVAL;
    randombytes_buf(buf, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(buf + crypto_secretbox_NONCEBYTES, (const unsigned char *)secret, n, buf,
                          key);
    sodium_bin2hex(out, APIKEY_SEAL_HEX_MAX, buf,
                   crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n);
    sodium_memzero(buf, sizeof(buf));
    return CG_OK;
}

enum cg_err apikey_open(const uint8_t key[APIKEY_SERVER_KEY_BYTES], const char *sealed_hex,
                        char out[101])
{
    unsigned char buf[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 100];
    size_t n = 0;
    size_t clen;
    if (sodium_hex2bin(buf, sizeof(buf), sealed_hex, strlen(sealed_hex), NULL, &n, NULL) != 0 ||
        n < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        return CG_EAUTH;
    clen = n - crypto_secretbox_NONCEBYTES;
    if (crypto_secretbox_open_easy((unsigned char *)out, buf + crypto_secretbox_NONCEBYTES, clen,
                                   buf, key) != 0)
        return CG_EAUTH;
    out[clen - crypto_secretbox_MACBYTES] = '\0';
    return CG_OK;
}

bool apikey_timestamp_ok(int64_t timestamp, int64_t server_time, int64_t recv_window)
{
    return timestamp < server_time + 1000 && server_time - timestamp <= recv_window;
}
