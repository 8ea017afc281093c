/*
 * Binance-compatible market-data WebSocket (spot "WebSocket Streams" of
 * https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams), served on the same
 * port as the native /ws:
 *
 *   /ws/<stream>[/<stream>...]   raw payloads; any other path under /ws/ connects with no stream
 *   /stream?streams=<a>/<b>/...  combined: every payload wrapped as {"stream":"<name>","data":...}
 *
 * Requests (JSON text frames): {"method":"SUBSCRIBE"|"UNSUBSCRIBE","params":[names],"id":N},
 * {"method":"LIST_SUBSCRIPTIONS","id":N}, {"method":"SET_PROPERTY","params":["combined",bool],
 * "id":N}, {"method":"GET_PROPERTY","params":["combined"],"id":N}; answers {"result":...,"id":N}
 * or {"error":{"code":C,"msg":"..."},"id":N} with Binance's codes (0 unknown property, 1 invalid
 * value type, 2 invalid request, 3 invalid JSON).
 *
 * Streams (symbol lower-case, Binance form: btcusdt <-> native BTC-USDT):
 *   <s>@trade, <s>@aggTrade        one event per engine fill / per run of fills of one taker
 *                                  order at one price (a = f = first fill id, l = last fill id);
 *                                  trade ids are Coinage's fill ids (global across markets)
 *   <s>@kline_<i>                  i in 1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M; the
 *                                  current candle from engine fills, pushed every 1 s (1s) or 2 s
 *                                  (others), x=true once when its period has ended. Open times
 *                                  are UTC multiples of the interval since the epoch, except 1w
 *                                  (Monday 00:00 UTC) and 1M (first of the month).
 *   <s>@depth, <s>@depth@100ms     diff depth: the native book deltas of a 1000 ms / 100 ms
 *                                  window merged; U/u = first/last native book seq in it, the
 *                                  same seq the native REST book (and /api/v3/depth lastUpdateId)
 *                                  carries, so Binance's "manage a local order book" procedure
 *                                  works. A gap (U != previous u + 1) means messages were dropped
 *                                  (slow consumer): the client refetches the snapshot.
 *   <s>@depth5|10|20[@100ms]       partial book {lastUpdateId, bids, asks} every 1000/100 ms
 *   <s>@ticker, <s>@miniTicker     rolling 24h statistics of the native ticker read model, pushed
 *   !ticker@arr, !miniTicker@arr   at most every 1000 ms for markets that changed
 *   <s>@bookTicker                 best bid/ask on every change, u = native book seq
 * Prices and quantities are decimal strings at the asset's full scale; times are ms since epoch.
 * The server sends a ping frame every 20 s and closes a connection that has not answered any
 * ping for 60 s. Each client has a bounded queue (BWS_QUEUE_CAP messages, or fewer with the
 * environment variable COINAGE_BWS_QUEUE_CAP, which tests use); a client that falls
 * behind loses its backlog (depth streams then show a U/u gap) instead of growing memory.
 *
 * Threads: bws_publish_batch runs on the store thread; everything else on the network thread.
 */
#ifndef CG_API_BINANCE_WS_H
#define CG_API_BINANCE_WS_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"

/* md_msg channel of the binary per-batch digest that feeds the Binance streams */
#define MD_BWS_DIGEST 200
#define BWS_QUEUE_CAP 1024
#define BWS_MAX_STREAMS 1024
#define BWS_PING_MS                                                                                \
    20000 /* COINAGE_BWS_PING_MS overrides it (tests); no pong for 3 intervals closes */

struct bws_client;

/* Store thread, after a commit, with mdata_lock held (right after the native book deltas, so
 * the digest's book seqs are ordered like theirs): queue one binary digest of the batch's fills,
 * L2 changes and book tops for the network thread. */
void bws_publish_batch(struct app *app, const struct batch *b);

/* Network thread. Is this WebSocket request path (no query) Binance's (/ws/..., /stream)? */
bool bws_path_is_binance(const char *path);
/* A new connection on a Binance path; `wsi` is its lws handle (headers still readable: the
 * streams of the path or of ?streams= are subscribed). NULL on out of memory. */
struct bws_client *bws_client_new(struct app *app, void *wsi, const char *path);
void bws_client_free(struct bws_client *c);
/* A complete text message from the client. */
void bws_client_receive(struct bws_client *c, const char *data, size_t len);
/* A pong frame arrived. */
void bws_client_pong(struct bws_client *c);
/* Writable: send a ping or one queued message. -1 closes the connection. */
int bws_client_writable(struct bws_client *c);
/* Consume one MD_BWS_DIGEST message (borrowed). */
void bws_ingest(struct app *app, const struct md_msg *m);
/* Start the 100 ms timer that flushes windows, pushes periodic streams and pings (after the lws
 * context exists); bws_stop cancels it. */
void bws_start(struct app *app);
void bws_stop(void);

#endif
