/* top_rows.h -- `snet-tun top`'s model: the stats endpoint's /connections JSON turned into
 * sorted rows, totals, and the fixed-width text of each line (no screen, no network). */
#ifndef SNET_SERVICE_TOP_ROWS_H
#define SNET_SERVICE_TOP_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum top_sort {
	TOP_SORT_RATE_DOWN, /* r: fastest download first (the default) */
	TOP_SORT_RATE_UP, /* u: fastest upload first */
	TOP_SORT_TOTAL, /* t: most bytes both ways first */
	TOP_SORT_AGE, /* a: oldest first */
	TOP_SORT_HOST, /* h: host name A-Z, connections without one last */
	TOP_SORT_DST, /* d: destination A-Z */
};

/* Strings are printable ASCII only: anything else the endpoint sends (an SNI is the
 * client's to choose) becomes '?', so no escape sequence reaches the terminal. */
struct top_row {
	uint64_t id;
	char proto[8];
	char src[64];
	char dst[64];
	char host[256]; /* "" when the endpoint said null */
	char upstream[64];
	uint64_t bytes_up, bytes_down;
	double rate_up, rate_down; /* bytes/s */
	double age_s;
};

struct top_totals {
	size_t n;
	uint64_t bytes_up, bytes_down;
	double rate_up, rate_down;
};

struct top_rows;

struct top_rows *top_rows_new(void);
void top_rows_free(struct top_rows *t);
void top_rows_clear(struct top_rows *t);

/* Replaces the rows with those of a /connections answer (json, len bytes, need not end
 * with NUL). On a malformed answer returns -1, writes one line into err saying what is
 * wrong and where, and leaves no rows. Fields it does not know are ignored. */
int top_rows_parse(struct top_rows *t, const char *json, size_t len, char *err, size_t errlen);

void top_rows_sort(struct top_rows *t, enum top_sort by);
size_t top_rows_count(const struct top_rows *t);
/* The answer said "truncated": true (the endpoint lists only so many connections). */
bool top_rows_truncated(const struct top_rows *t);
const struct top_row *top_rows_get(const struct top_rows *t, size_t i);
void top_rows_totals(const struct top_rows *t, struct top_totals *out);

/* The sort a key selects, or -1 when the key selects none. */
int top_sort_for_key(int ch);
const char *top_sort_name(enum top_sort by);

/* "812 B", "1.5 KiB", "20.0 MiB", ... and the same with "/s"; ages as "42s", "3m05s",
 * "2h03m", "4d07h". Each returns buf. */
char *top_fmt_bytes(uint64_t n, char *buf, size_t len);
char *top_fmt_rate(double bps, char *buf, size_t len);
char *top_fmt_age(double s, char *buf, size_t len);

/* The column titles, and one row, as lines of the same fixed width (no newline). */
void top_fmt_header(char *buf, size_t len);
void top_fmt_row(const struct top_row *r, char *buf, size_t len);

/* One line naming the upstreams and their state from a /upstreams answer, whose shape
 * is not fixed: {"upstreams": [{"name", "state"|"health"|"status"|"up"}...]} or the bare
 * array. Returns -1 (and writes nothing useful) when it finds no such list. */
int top_upstreams_line(const char *json, size_t len, char *out, size_t outlen);

#endif
