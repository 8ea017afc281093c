/* Wall and monotonic clocks in milliseconds, and RFC 3339 formatting. Any thread. */
#ifndef CG_CORE_CLOCK_H
#define CG_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* ms since the Unix epoch (UTC), from CLOCK_REALTIME. */
int64_t clock_now_ms(void);
/* ms from CLOCK_MONOTONIC (arbitrary origin; for intervals only). */
int64_t clock_mono_ms(void);
/* Format ms since epoch as RFC 3339 UTC with milliseconds ("2024-08-08T23:54:13.123Z").
 * buf needs 32 bytes. Returns buf. */
char *clock_rfc3339(int64_t ms, char *buf, size_t len);

#endif
