/*
 * API keys and Binance-style request signing (pure functions; any thread).
 *
 * A key pair is an API key (public identifier, sent as X-MBX-APIKEY) and a secret (shown to the
 * user once). The server must be able to recompute HMAC-SHA256 with the secret, so it cannot
 * store a one-way hash: the secret is stored encrypted at rest with libsodium's crypto_secretbox
 * (XSalsa20-Poly1305) under a server key kept in the data directory (apikeys.key, mode 0600,
 * like jwt.key). Never log a secret, a sealed secret or a signature.
 *
 * Signing, as Binance's spot API defines it (developers.binance.com, "SIGNED Endpoint security"):
 * signature = lowercase hex HMAC-SHA256(secret, totalParams), where totalParams is the query
 * string immediately followed by the x-www-form-urlencoded request body (no separator), both
 * without the `signature` parameter itself.
 */
#ifndef CG_AUTH_APIKEY_H
#define CG_AUTH_APIKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define APIKEY_LEN 64        /* characters of [A-Za-z0-9] */
#define APIKEY_SECRET_LEN 64 /* characters of [A-Za-z0-9] */
#define APIKEY_SIG_HEX 65    /* 64 hex chars + NUL */
#define APIKEY_SEAL_HEX_MAX 256
#define APIKEY_SERVER_KEY_BYTES 32 /* crypto_secretbox_KEYBYTES */

/* Fill out with `len` random characters of [A-Za-z0-9] (libsodium randombytes) and a NUL. */
void apikey_random(char *out, size_t len);

/*
 * Lowercase hex HMAC-SHA256(key, msg) into out (65 bytes). RFC 2104 via libsodium's
 * crypto_auth_hmacsha256 (which accepts keys of any length).
 */
void apikey_hmac_hex(const char *key, size_t key_len, const char *msg, size_t msg_len,
                     char out[APIKEY_SIG_HEX]);

/* Constant-time check that `sig` (hex, any case) is HMAC-SHA256(secret, msg). */
bool apikey_verify(const char *secret, const char *msg, size_t msg_len, const char *sig);

/*
 * Encrypt `secret` (NUL-terminated, <= 100 bytes) under the 32-byte server key: hex of
 * nonce || crypto_secretbox_easy(secret). out needs APIKEY_SEAL_HEX_MAX bytes.
 * CG_OK or CG_EINVAL (secret too long).
 */
enum cg_err apikey_seal(const uint8_t key[APIKEY_SERVER_KEY_BYTES], const char *secret,
                        char out[APIKEY_SEAL_HEX_MAX]) __attribute__((warn_unused_result));
/*
 * Decrypt what apikey_seal produced. out needs 101 bytes. CG_OK, or CG_EAUTH when the box does
 * not open (wrong server key, tampered, malformed).
 */
enum cg_err apikey_open(const uint8_t key[APIKEY_SERVER_KEY_BYTES], const char *sealed_hex,
                        char out[101]) __attribute__((warn_unused_result));

/*
 * Binance's timing rule (developers.binance.com "Timing security"): accept iff
 * timestamp < server_time + 1000 and server_time - timestamp <= recv_window. Times in ms.
 */
bool apikey_timestamp_ok(int64_t timestamp, int64_t server_time, int64_t recv_window);

#endif
