#!/usr/bin/env python3
"""Extract data/coins/coingecko_markets_2025-03-04.csv from the CoinGecko /coins/markets response
in ../shared/data/coin_metadata_coingecko (see data/coins/SOURCE.md). Numbers are copied as the
decimal text of the JSON (parsed as Decimal, never through float). One-off; the CSV is shipped.
usage: python3 scripts/coins-extract.py ../shared/data/coin_metadata_coingecko/coingecko_coins_markets_2025-03-04.json > data/coins/coingecko_markets_2025-03-04.csv
"""
import csv
import decimal
import json
import sys

COLS = ["market_cap_rank", "id", "symbol", "name", "market_cap", "circulating_supply",
        "total_supply", "max_supply", "fully_diluted_valuation", "current_price", "total_volume",
        "last_updated"]


def text(v):
    if v is None:
        return ""
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    return str(v)


rows = json.load(open(sys.argv[1]), parse_float=decimal.Decimal, parse_int=decimal.Decimal)
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(COLS)
for r in sorted(rows, key=lambda r: r["market_cap_rank"] or 10**9):
    out = [text(r[c]) for c in COLS]
    out[2] = out[2].upper()
    w.writerow(out)
