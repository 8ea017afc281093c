/*
 * Unit tests for src/auth/apikey.h: Binance's published HMAC-SHA256 signature test vectors
 * (Spot API docs, "SIGNED Endpoint Examples for POST /api/v3/order": query string only, and
 * query string + request body), constant-time verification, sealing secrets at rest, and the
 * recvWindow timing rule.
 */
#include <criterion/criterion.h>

#include <sodium.h>
#include <string.h>

#include "auth/apikey.h"

static const char *secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

static void setup(void)
{
    cr_assert_geq(sodium_init(), 0);
}

TestSuite(apikey, .init = setup);

Test(apikey, binance_vector_query_string)
{
    const char *payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&"
                          "recvWindow=5000&timestamp=1499827319559";
    char sig[APIKEY_SIG_HEX];
    apikey_hmac_hex(secret, strlen(secret), payload, strlen(payload), sig);
    cr_assert_str_eq(sig, "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71");
    cr_assert(apikey_verify(secret, payload, strlen(payload),
                            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"));
    /* hex case does not matter; anything else does */
    cr_assert(apikey_verify(secret, payload, strlen(payload),
                            "C8DB56825AE71D6D79447849E617115F4A920FA2ACDCAB2B053C4B2838BD6B71"));
    cr_assert_not(
        apikey_verify(secret, payload, strlen(payload) - 1,
                      "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"));
    cr_assert_not(apikey_verify(secret, payload, strlen(payload),
                                "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b7"));
    cr_assert_not(apikey_verify(secret, payload, strlen(payload), NULL));
}

Test(apikey, binance_vector_query_and_body)
{
    /* query "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC" immediately followed by the body
     * "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559", no separator */
    const char *payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=0.1&"
                          "recvWindow=5000&timestamp=1499827319559";
    char sig[APIKEY_SIG_HEX];
    apikey_hmac_hex(secret, strlen(secret), payload, strlen(payload), sig);
    cr_assert_str_eq(sig, "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77");
}

Test(apikey, seal_open_round_trip_and_tamper)
{
    uint8_t key[APIKEY_SERVER_KEY_BYTES];
    uint8_t other[APIKEY_SERVER_KEY_BYTES];
    char sealed[APIKEY_SEAL_HEX_MAX];
    char sealed2[APIKEY_SEAL_HEX_MAX];
    char out[101];
    randombytes_buf(key, sizeof(key));
    randombytes_buf(other, sizeof(other));
    cr_assert_eq(apikey_seal(key, secret, sealed), CG_OK);
    cr_assert_null(strstr(sealed, secret));
    cr_assert_eq(apikey_open(key, sealed, out), CG_OK);
    cr_assert_str_eq(out, secret);
    /* a fresh nonce each time */
    cr_assert_eq(apikey_seal(key, secret, sealed2), CG_OK);
    cr_assert_str_neq(sealed, sealed2);
    cr_assert_eq(apikey_open(other, sealed, out), CG_EAUTH);
    sealed[60] = sealed[60] == '0' ? '1' : '0';
    cr_assert_eq(apikey_open(key, sealed, out), CG_EAUTH);
    cr_assert_eq(apikey_open(key, "zz", out), CG_EAUTH);
    cr_assert_eq(apikey_open(key, "", out), CG_EAUTH);
}

Test(apikey, random_keys)
{
    char a[APIKEY_LEN + 1];
    char b[APIKEY_LEN + 1];
    apikey_random(a, APIKEY_LEN);
    apikey_random(b, APIKEY_LEN);
    cr_assert_eq(strlen(a), APIKEY_LEN);
    cr_assert_str_neq(a, b);
    for (size_t i = 0; i < APIKEY_LEN; i++)
        cr_assert((a[i] >= 'A' && a[i] <= 'Z') || (a[i] >= 'a' && a[i] <= 'z') ||
                  (a[i] >= '0' && a[i] <= '9'));
}

Test(apikey, recv_window_rule)
{
    int64_t now = 1700000000000;
    cr_assert(apikey_timestamp_ok(now, now, 5000));
    cr_assert(apikey_timestamp_ok(now - 5000, now, 5000));
    cr_assert_not(apikey_timestamp_ok(now - 5001, now, 5000));
    cr_assert(apikey_timestamp_ok(now + 999, now, 5000));
    cr_assert_not(apikey_timestamp_ok(now + 1000, now, 5000));
    cr_assert(apikey_timestamp_ok(now - 60000, now, 60000));
}
