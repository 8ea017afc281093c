/* Coin listings metadata: the shipped snapshot (data/coins, run from the repo root) and
 * malformed files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analytics/coins.h"

#define SHIPPED "data/coins/coingecko_markets_2025-03-04.csv"

Test(coins, shipped_snapshot)
{
    static struct coins cs;
    const struct coin_meta *btc;
    const struct coin_meta *ltc;
    cr_assert_eq(coins_load(SHIPPED, &cs), CG_OK);
    cr_expect_eq(cs.n, 30);
    cr_expect_str_eq(cs.as_of, "2025-03-04");
    cr_expect_str_eq(cs.currency, "EUR");
    btc = coins_find(&cs, "btc");
    cr_assert_not_null(btc);
    cr_expect_eq(btc->rank, 1);
    cr_expect_str_eq(btc->name, "Bitcoin");
    cr_expect_str_eq(btc->market_cap, "1592704518472");
    cr_expect_str_eq(btc->circulating_supply, "19832115.0");
    cr_expect_str_eq(btc->max_supply, "21000000.0");
    ltc = coins_find(&cs, "LTC");
    cr_assert_not_null(ltc);
    cr_expect_eq(ltc->rank, 21);
    /* every coin Coinage trades is in the snapshot */
    for (const char *const *s =
             (const char *const[]){"BTC", "ETH", "BNB", "SOL", "XRP", "ADA", "DOGE", "LTC", NULL};
         *s; s++)
        cr_expect_not_null(coins_find(&cs, *s), "%s", *s);
    cr_expect_null(coins_find(&cs, "NOPE"));
}

static const char *write_tmp(const char *text)
{
    static char path[64];
    FILE *f;
    snprintf(path, sizeof(path), "/tmp/cg-coins-%d.csv", (int)getpid());
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

Test(coins, malformed_files_rejected)
{
    static struct coins cs;
    const char *hdr =
        "market_cap_rank,id,symbol,name,market_cap,circulating_supply,total_supply,"
        "max_supply,fully_diluted_valuation,current_price,total_volume,last_updated\n";
    char buf[1024];
    cr_expect_eq(coins_load("/nonexistent/coins.csv", &cs), CG_EIO);
    cr_expect_eq(coins_load(write_tmp("rank,id\n"), &cs), CG_EINVAL);
    snprintf(buf, sizeof(buf), "%s1,bitcoin,BTC,Bitcoin,1e12,1,1,,1,1,1,2025-03-04T00:00:00Z\n",
             hdr);
    cr_expect_eq(coins_load(write_tmp(buf), &cs), CG_EINVAL, "exponent is not a plain decimal");
    snprintf(buf, sizeof(buf), "%s1,bitcoin,BTC,Bitcoin,100,1\n", hdr);
    cr_expect_eq(coins_load(write_tmp(buf), &cs), CG_EINVAL, "short row");
    snprintf(buf, sizeof(buf), "%s1,bitcoin,BTC,Bitcoin,100,5.5,,,,,,2025-03-04T00:00:00Z\n", hdr);
    cr_expect_eq(coins_load(write_tmp(buf), &cs), CG_OK);
    cr_expect_eq(cs.n, 1);
    cr_expect_str_eq(cs.c[0].total_supply, "");
    unlink(write_tmp(""));
}
