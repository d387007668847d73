/* top_rows.c -- `snet-tun top`'s model: parses /connections (jansson) into rows, sorts
 * them, sums them, and formats sizes, rates, ages and the table's lines. */
#include "service/top_rows.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct top_rows {
	struct top_row *v;
	size_t n, cap;
	bool truncated;
};

struct top_rows *top_rows_new(void)
{
	return calloc(1, sizeof(struct top_rows));
}

void top_rows_free(struct top_rows *t)
{
	if (!t)
		return;
	free(t->v);
	free(t);
}

void top_rows_clear(struct top_rows *t)
{
	t->n = 0;
	t->truncated = false;
}

bool top_rows_truncated(const struct top_rows *t)
{
	return t->truncated;
}

size_t top_rows_count(const struct top_rows *t)
{
	return t->n;
}

const struct top_row *top_rows_get(const struct top_rows *t, size_t i)
{
	return i < t->n ? &t->v[i] : NULL;
}

/* Printable ASCII only, truncated to fit. */
static void copy_clean(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	for (; src[i] && i + 1 < cap; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

static int field_str(json_t *o, const char *key, bool nullable, char *dst, size_t cap,
		     size_t idx, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (v && json_is_null(v) && nullable) {
		dst[0] = '\0';
		return 0;
	}
	if (!v || !json_is_string(v)) {
		snprintf(err, errlen, "connections[%zu]: \"%s\" %s", idx, key,
			 v ? (nullable ? "is not a string or null" : "is not a string")
			   : "is missing");
		return -1;
	}
	copy_clean(dst, cap, json_string_value(v));
	return 0;
}

static int field_count(json_t *o, const char *key, uint64_t *dst, size_t idx, char *err,
		       size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!v || !json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(err, errlen, "connections[%zu]: \"%s\" %s", idx, key,
			 v ? "is not a non-negative integer" : "is missing");
		return -1;
	}
	*dst = (uint64_t)json_integer_value(v);
	return 0;
}

static int field_num(json_t *o, const char *key, double *dst, size_t idx, char *err,
		     size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!v || !json_is_number(v) || !(json_number_value(v) >= 0) ||
	    !isfinite(json_number_value(v))) {
		snprintf(err, errlen, "connections[%zu]: \"%s\" %s", idx, key,
			 v ? "is not a non-negative number" : "is missing");
		return -1;
	}
	*dst = json_number_value(v);
	return 0;
}

static int parse_row(json_t *o, size_t idx, struct top_row *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (!json_is_object(o)) {
		snprintf(err, errlen, "connections[%zu] is not an object", idx);
		return -1;
	}
	if (field_count(o, "id", &r->id, idx, err, errlen) < 0 ||
	    field_str(o, "proto", false, r->proto, sizeof(r->proto), idx, err, errlen) < 0 ||
	    field_str(o, "src", false, r->src, sizeof(r->src), idx, err, errlen) < 0 ||
	    field_str(o, "dst", false, r->dst, sizeof(r->dst), idx, err, errlen) < 0 ||
	    field_str(o, "host", true, r->host, sizeof(r->host), idx, err, errlen) < 0 ||
	    field_str(o, "upstream", true, r->upstream, sizeof(r->upstream), idx, err, errlen) < 0 ||
	    field_count(o, "bytes_up", &r->bytes_up, idx, err, errlen) < 0 ||
	    field_count(o, "bytes_down", &r->bytes_down, idx, err, errlen) < 0 ||
	    field_num(o, "rate_up", &r->rate_up, idx, err, errlen) < 0 ||
	    field_num(o, "rate_down", &r->rate_down, idx, err, errlen) < 0 ||
	    field_num(o, "age_s", &r->age_s, idx, err, errlen) < 0)
		return -1;
	return 0;
}

int top_rows_parse(struct top_rows *t, const char *json, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *list, *trunc;
	size_t n;
	int rc = -1;

	top_rows_clear(t);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line,
			 jerr.column, jerr.text);
		return -1;
	}
	list = json_is_object(root) ? json_object_get(root, "connections") : NULL;
	if (!list || !json_is_array(list)) {
		snprintf(err, errlen, "not a /connections answer: expected {\"connections\": [...]}");
		goto fail;
	}
	n = json_array_size(list);
	if (n > t->cap) {
		struct top_row *v = realloc(t->v, n * sizeof(*v));
		if (!v) {
			snprintf(err, errlen, "out of memory for %zu connections", n);
			goto fail;
		}
		t->v = v;
		t->cap = n;
	}
	for (size_t i = 0; i < n; i++)
		if (parse_row(json_array_get(list, i), i, &t->v[i], err, errlen) < 0)
			goto fail;
	t->n = n;
	trunc = json_object_get(root, "truncated");
	t->truncated = trunc && json_is_true(trunc);
	rc = 0;
fail:
	json_decref(root);
	return rc;
}

void top_rows_totals(const struct top_rows *t, struct top_totals *out)
{
	memset(out, 0, sizeof(*out));
	out->n = t->n;
	for (size_t i = 0; i < t->n; i++) {
		out->bytes_up += t->v[i].bytes_up;
		out->bytes_down += t->v[i].bytes_down;
		out->rate_up += t->v[i].rate_up;
		out->rate_down += t->v[i].rate_down;
	}
}

/* ---- sorting: every order ends on the id, so equal rows keep their places ---- */

static int cmp_desc(double a, double b)
{
	return a > b ? -1 : a < b ? 1 : 0;
}

static int cmp_id(const struct top_row *a, const struct top_row *b)
{
	return a->id < b->id ? -1 : a->id > b->id ? 1 : 0;
}

static int by_rate_down(const void *x, const void *y)
{
	const struct top_row *a = x, *b = y;
	int c = cmp_desc(a->rate_down, b->rate_down);

	if (!c)
		c = cmp_desc(a->rate_up, b->rate_up);
	return c ? c : cmp_id(a, b);
}

static int by_rate_up(const void *x, const void *y)
{
	const struct top_row *a = x, *b = y;
	int c = cmp_desc(a->rate_up, b->rate_up);

	if (!c)
		c = cmp_desc(a->rate_down, b->rate_down);
	return c ? c : cmp_id(a, b);
}

static int by_total(const void *x, const void *y)
{
	const struct top_row *a = x, *b = y;
	int c = cmp_desc((double)a->bytes_up + (double)a->bytes_down,
			 (double)b->bytes_up + (double)b->bytes_down);

	return c ? c : cmp_id(a, b);
}

static int by_age(const void *x, const void *y)
{
	const struct top_row *a = x, *b = y;
	int c = cmp_desc(a->age_s, b->age_s);

	return c ? c : cmp_id(a, b);
}

static int by_host(const void *x, const void *y)
{
	const struct top_row *a = x, *b = y;
	int c;

	if (!a->host[0] != !b->host[0])
		return a->host[0] ? -1 : 1;
	c = strcasecmp(a->host, b->host);
	return c ? c : by_rate_down(x, y);
}

static int by_dst(const void *x, const void *y)
{
	const struct top_row *a = x, *b = y;
	int c = strcmp(a->dst, b->dst);

	return c ? c : by_rate_down(x, y);
}

void top_rows_sort(struct top_rows *t, enum top_sort by)
{
	static int (*const cmp[])(const void *, const void *) = {
		[TOP_SORT_RATE_DOWN] = by_rate_down, [TOP_SORT_RATE_UP] = by_rate_up,
		[TOP_SORT_TOTAL] = by_total,	     [TOP_SORT_AGE] = by_age,
		[TOP_SORT_HOST] = by_host,	     [TOP_SORT_DST] = by_dst,
	};

	if ((size_t)by >= sizeof(cmp) / sizeof(cmp[0]) || t->n < 2)
		return;
	qsort(t->v, t->n, sizeof(t->v[0]), cmp[by]);
}

int top_sort_for_key(int ch)
{
	switch (ch) {
	case 'r': return TOP_SORT_RATE_DOWN;
	case 'u': return TOP_SORT_RATE_UP;
	case 't': return TOP_SORT_TOTAL;
	case 'a': return TOP_SORT_AGE;
	case 'h': return TOP_SORT_HOST;
	case 'd': return TOP_SORT_DST;
	default: return -1;
	}
}

const char *top_sort_name(enum top_sort by)
{
	switch (by) {
	case TOP_SORT_RATE_DOWN: return "rate down";
	case TOP_SORT_RATE_UP: return "rate up";
	case TOP_SORT_TOTAL: return "total";
	case TOP_SORT_AGE: return "age";
	case TOP_SORT_HOST: return "host";
	case TOP_SORT_DST: return "destination";
	}
	return "?";
}

/* ---- formatting ---- */

static char *fmt_scaled(double v, const char *suffix, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	size_t u = 0;

	if (v < 1024) {
		snprintf(buf, len, "%.0f %s%s", v, unit[0], suffix);
		return buf;
	}
	while (v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024;
		u++;
	}
	/* 1023.96 KiB would print as "1024.0 KiB": one unit up reads better. */
	if (v >= 1023.95 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s%s", v, unit[u], suffix);
	return buf;
}

char *top_fmt_bytes(uint64_t n, char *buf, size_t len)
{
	return fmt_scaled((double)n, "", buf, len);
}

char *top_fmt_rate(double bps, char *buf, size_t len)
{
	return fmt_scaled(bps > 0 ? bps : 0, "/s", buf, len);
}

char *top_fmt_age(double s, char *buf, size_t len)
{
	uint64_t t = s > 0 && s < 1e15 ? (uint64_t)s : 0;

	if (t < 60)
		snprintf(buf, len, "%us", (unsigned)t);
	else if (t < 3600)
		snprintf(buf, len, "%um%02us", (unsigned)(t / 60), (unsigned)(t % 60));
	else if (t < 86400)
		snprintf(buf, len, "%uh%02um", (unsigned)(t / 3600), (unsigned)(t / 60 % 60));
	else
		snprintf(buf, len, "%llud%02uh", (unsigned long long)(t / 86400),
			 (unsigned)(t / 3600 % 24));
	return buf;
}

/* s cut to w columns, the cut marked with '~'. Returns buf. */
static const char *fit(const char *s, int w, char *buf, size_t len)
{
	size_t n = strlen(s);

	if (n <= (size_t)w || w < 2)
		return s;
	snprintf(buf, len, "%.*s~", w - 1, s);
	return buf;
}

#define ROW_FMT "%7s %-5s %-30s %-28s %-12s %11s %11s %10s %10s %7s  %s"

void top_fmt_header(char *buf, size_t len)
{
	snprintf(buf, len, ROW_FMT, "ID", "PROTO", "HOST", "DESTINATION", "UPSTREAM", "DOWN/s",
		 "UP/s", "DOWN", "UP", "AGE", "SOURCE");
}

void top_fmt_row(const struct top_row *r, char *buf, size_t len)
{
	char id[24], host[32], dst[32], up[16], rd[24], ru[24], bd[24], bu[24], age[24];

	snprintf(id, sizeof(id), "%llu", (unsigned long long)r->id);
	snprintf(buf, len, ROW_FMT, id, r->proto,
		 fit(r->host[0] ? r->host : "-", 30, host, sizeof(host)),
		 fit(r->dst, 28, dst, sizeof(dst)),
		 fit(r->upstream[0] ? r->upstream : "-", 12, up, sizeof(up)),
		 top_fmt_rate(r->rate_down, rd, sizeof(rd)), top_fmt_rate(r->rate_up, ru, sizeof(ru)),
		 top_fmt_bytes(r->bytes_down, bd, sizeof(bd)),
		 top_fmt_bytes(r->bytes_up, bu, sizeof(bu)), top_fmt_age(r->age_s, age, sizeof(age)),
		 r->src);
}

/* ---- /upstreams, best effort ---- */

static const char *upstream_state(json_t *o)
{
	static const char *const keys[] = { "state", "health", "status" };
	json_t *v;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		v = json_object_get(o, keys[i]);
		if (v && json_is_string(v))
			return json_string_value(v);
	}
	v = json_object_get(o, "up");
	if (v && json_is_boolean(v))
		return json_is_true(v) ? "up" : "down";
	return "?";
}

int top_upstreams_line(const char *json, size_t len, char *out, size_t outlen)
{
	json_t *root, *list;
	size_t used;
	char name[64], state[32];
	int rc = -1;

	if (!outlen)
		return -1;
	root = json_loadb(json, len, 0, NULL);
	if (!root)
		return -1;
	list = json_is_array(root) ? root : json_object_get(root, "upstreams");
	if (!list || !json_is_array(list) || !json_array_size(list))
		goto out;
	used = (size_t)snprintf(out, outlen, "upstreams:");
	for (size_t i = 0; i < json_array_size(list) && used < outlen; i++) {
		json_t *o = json_array_get(list, i), *nm;

		if (!json_is_object(o))
			goto out;
		nm = json_object_get(o, "name");
		copy_clean(name, sizeof(name), nm && json_is_string(nm) ? json_string_value(nm) : "?");
		copy_clean(state, sizeof(state), upstream_state(o));
		used += (size_t)snprintf(out + used, outlen - used, "%s %s %s", i ? "," : "", name,
					 state);
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}
