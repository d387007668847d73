/* test_top_rows.c -- service/top_rows.c: /connections JSON into rows (null hosts, unknown
 * fields, hostile strings), every sort order, totals, malformed answers refused with a
 * message and no rows, the formatting of sizes, rates, ages and lines, and /upstreams. */
#include <stdio.h>
#include <string.h>

#include "service/top_rows.h"
#include "tests/unit/check.h"

#define ROW(id, host, dst, up, down, rup, rdown, age)                                         \
	"{\"id\": " #id ", \"proto\": \"tcp\", \"src\": \"198.18.0.1:4000" #id "\", "          \
	"\"dst\": \"" dst "\", \"host\": " host ", \"upstream\": \"proxy\", "                   \
	"\"bytes_up\": " #up ", \"bytes_down\": " #down ", \"rate_up\": " #rup ", "            \
	"\"rate_down\": " #rdown ", \"age_s\": " #age "}"

static const char three[] =
	"{\"connections\": ["
	ROW(1, "\"b.test\"", "198.18.0.2:443", 100, 5000, 10, 2000.5, 30) ","
	ROW(2, "null", "[fd00::2]:80", 900000, 10, 7000, 0, 4000) ","
	ROW(3, "\"A.test\"", "198.18.0.3:22", 1, 1, 0, 9000, 2)
	"], \"extra\": {\"ignored\": true}}";

static struct top_rows *parsed(const char *json)
{
	struct top_rows *t = top_rows_new();
	char err[256] = "";

	if (t && top_rows_parse(t, json, strlen(json), err, sizeof(err)) < 0)
		printf("parse: %s\n", err);
	return t;
}

static uint64_t id_at(const struct top_rows *t, size_t i)
{
	const struct top_row *r = top_rows_get(t, i);
	return r ? r->id : 0;
}

static void test_parse_fields(void)
{
	struct top_rows *t = parsed(three);
	const struct top_row *r;

	CHECK(top_rows_count(t) == 3);
	r = top_rows_get(t, 0);
	CHECK(r && r->id == 1 && !strcmp(r->proto, "tcp") && !strcmp(r->src, "198.18.0.1:40001"));
	CHECK(r && !strcmp(r->dst, "198.18.0.2:443") && !strcmp(r->host, "b.test"));
	CHECK(r && !strcmp(r->upstream, "proxy") && r->bytes_up == 100 && r->bytes_down == 5000);
	CHECK(r && r->rate_up == 10 && r->rate_down == 2000.5 && r->age_s == 30);
	r = top_rows_get(t, 1);
	CHECK(r && r->host[0] == '\0' && !strcmp(r->dst, "[fd00::2]:80")); /* host null */
	CHECK(top_rows_get(t, 3) == NULL);
	top_rows_free(t);
}

static void test_sort_orders(void)
{
	struct top_rows *t = parsed(three);

	top_rows_sort(t, TOP_SORT_RATE_DOWN);
	CHECK(id_at(t, 0) == 3 && id_at(t, 1) == 1 && id_at(t, 2) == 2);
	top_rows_sort(t, TOP_SORT_RATE_UP);
	CHECK(id_at(t, 0) == 2 && id_at(t, 1) == 1 && id_at(t, 2) == 3);
	top_rows_sort(t, TOP_SORT_TOTAL);
	CHECK(id_at(t, 0) == 2 && id_at(t, 1) == 1 && id_at(t, 2) == 3);
	top_rows_sort(t, TOP_SORT_AGE);
	CHECK(id_at(t, 0) == 2 && id_at(t, 1) == 1 && id_at(t, 2) == 3);
	top_rows_sort(t, TOP_SORT_HOST); /* case-blind A-Z, null last */
	CHECK(id_at(t, 0) == 3 && id_at(t, 1) == 1 && id_at(t, 2) == 2);
	top_rows_sort(t, TOP_SORT_DST);
	CHECK(id_at(t, 0) == 1 && id_at(t, 1) == 3 && id_at(t, 2) == 2);
	top_rows_free(t);
}

static void test_sort_ties_by_id(void)
{
	struct top_rows *t = parsed("{\"connections\": [" ROW(9, "null", "x", 0, 0, 0, 0, 0) ","
				    ROW(4, "null", "x", 0, 0, 0, 0, 0) ","
				    ROW(7, "null", "x", 0, 0, 0, 0, 0) "]}");

	for (int by = TOP_SORT_RATE_DOWN; by <= TOP_SORT_DST; by++) {
		top_rows_sort(t, (enum top_sort)by);
		CHECK(id_at(t, 0) == 4 && id_at(t, 1) == 7 && id_at(t, 2) == 9);
	}
	top_rows_free(t);
}

static void test_keys(void)
{
	CHECK(top_sort_for_key('r') == TOP_SORT_RATE_DOWN);
	CHECK(top_sort_for_key('u') == TOP_SORT_RATE_UP);
	CHECK(top_sort_for_key('t') == TOP_SORT_TOTAL);
	CHECK(top_sort_for_key('a') == TOP_SORT_AGE);
	CHECK(top_sort_for_key('h') == TOP_SORT_HOST);
	CHECK(top_sort_for_key('d') == TOP_SORT_DST);
	CHECK(top_sort_for_key('q') == -1 && top_sort_for_key(-1) == -1);
	CHECK(!strcmp(top_sort_name(TOP_SORT_RATE_UP), "rate up"));
}

static void test_totals(void)
{
	struct top_rows *t = parsed(three);
	struct top_totals tot;

	top_rows_totals(t, &tot);
	CHECK(tot.n == 3 && tot.bytes_up == 900101 && tot.bytes_down == 5011);
	CHECK(tot.rate_up == 7010 && tot.rate_down == 11000.5);
	top_rows_clear(t);
	top_rows_totals(t, &tot);
	CHECK(tot.n == 0 && tot.bytes_up == 0 && tot.rate_down == 0);
	top_rows_free(t);
}

static void test_empty_list(void)
{
	struct top_rows *t = parsed("{\"connections\": []}");
	const char *tr = "{\"connections\": [], \"truncated\": true}";
	char err[64];

	CHECK(t && top_rows_count(t) == 0 && !top_rows_truncated(t));
	CHECK(top_rows_parse(t, tr, strlen(tr), err, sizeof(err)) == 0);
	CHECK(top_rows_truncated(t));
	top_rows_clear(t);
	CHECK(!top_rows_truncated(t));
	top_rows_free(t);
}

/* Each is refused with a message naming the problem, and leaves no rows behind. */
static void test_malformed(void)
{
	static const struct {
		const char *json, *says;
	} bad[] = {
		{ "", "invalid JSON" },
		{ "{\"connections\": [", "invalid JSON" },
		{ "not json", "invalid JSON" },
		{ "[]", "not a /connections answer" },
		{ "{\"connections\": {}}", "not a /connections answer" },
		{ "{\"conns\": []}", "not a /connections answer" },
		{ "{\"connections\": [1]}", "connections[0] is not an object" },
		{ "{\"connections\": [" ROW(1, "null", "x", 0, 0, 0, 0, 0) ", {\"id\": 2}]}",
		  "connections[1]: \"proto\" is missing" },
		{ "{\"connections\": [" ROW(1, "5", "x", 0, 0, 0, 0, 0) "]}",
		  "\"host\" is not a string or null" },
		{ "{\"connections\": [" ROW(1, "null", "x", -1, 0, 0, 0, 0) "]}",
		  "\"bytes_up\" is not a non-negative integer" },
		{ "{\"connections\": [" ROW(1, "null", "x", 1.5, 0, 0, 0, 0) "]}",
		  "\"bytes_up\" is not a non-negative integer" },
		{ "{\"connections\": [{\"id\": 1, \"proto\": \"tcp\", \"src\": \"a\", \"dst\": \"b\", "
		  "\"host\": null, \"upstream\": null, \"bytes_up\": 0, \"bytes_down\": 0, "
		  "\"rate_up\": \"fast\", \"rate_down\": 0, \"age_s\": 0}]}",
		  "\"rate_up\" is not a non-negative number" },
		{ "{\"connections\": [" ROW(1, "null", "x", 0, 0, 0, 0, -3) "]}",
		  "\"age_s\" is not a non-negative number" },
		{ "{\"connections\": [], \"connections\": []}", "invalid JSON" },
	};
	struct top_rows *t = parsed(three);
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(top_rows_parse(t, bad[i].json, strlen(bad[i].json), err, sizeof(err)) < 0);
		if (!strstr(err, bad[i].says))
			printf("  case %zu: got '%s', wanted '%s'\n", i, err, bad[i].says);
		CHECK(strstr(err, bad[i].says) != NULL);
		CHECK(top_rows_count(t) == 0);
		/* the next good answer is taken again */
		CHECK(top_rows_parse(t, three, strlen(three), err, sizeof(err)) == 0);
	}
	/* a length short of the text: only that much is read */
	CHECK(top_rows_parse(t, three, 20, err, sizeof(err)) < 0);
	top_rows_free(t);
}

/* An SNI or Host header is the client's to choose: nothing but printable ASCII may
 * reach the terminal; over-long values are cut, not overflowed. */
static void test_hostile_strings(void)
{
	char json[2048], host[600];
	struct top_rows *t;
	const struct top_row *r;

	memset(host, 'x', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(json, sizeof(json),
		 "{\"connections\": [" ROW(1, "\"a\\u001b[2Jb\\u00e9c\"", "x", 0, 0, 0, 0, 0) ","
		 ROW(2, "\"%s\"", "x", 0, 0, 0, 0, 0) "]}", host);
	t = parsed(json);
	r = top_rows_get(t, 0);
	CHECK(r && !strcmp(r->host, "a?[2Jb??c")); /* é is two bytes in UTF-8 */
	r = top_rows_get(t, 1);
	CHECK(r && strlen(r->host) == sizeof(r->host) - 1);
	top_rows_free(t);
}

static void test_fmt_sizes(void)
{
	char b[32];

	CHECK(!strcmp(top_fmt_bytes(0, b, sizeof(b)), "0 B"));
	CHECK(!strcmp(top_fmt_bytes(1023, b, sizeof(b)), "1023 B"));
	CHECK(!strcmp(top_fmt_bytes(1024, b, sizeof(b)), "1.0 KiB"));
	CHECK(!strcmp(top_fmt_bytes(1536, b, sizeof(b)), "1.5 KiB"));
	CHECK(!strcmp(top_fmt_bytes(1048575, b, sizeof(b)), "1.0 MiB"));
	CHECK(!strcmp(top_fmt_bytes(100u << 20, b, sizeof(b)), "100.0 MiB"));
	CHECK(!strcmp(top_fmt_bytes(5ull << 40, b, sizeof(b)), "5.0 TiB"));
	CHECK(!strcmp(top_fmt_bytes(UINT64_MAX, b, sizeof(b)), "16.0 EiB"));
	CHECK(!strcmp(top_fmt_rate(0, b, sizeof(b)), "0 B/s"));
	CHECK(!strcmp(top_fmt_rate(-5, b, sizeof(b)), "0 B/s"));
	CHECK(!strcmp(top_fmt_rate(2.5 * 1048576, b, sizeof(b)), "2.5 MiB/s"));
	CHECK(!strcmp(top_fmt_age(0, b, sizeof(b)), "0s"));
	CHECK(!strcmp(top_fmt_age(59.9, b, sizeof(b)), "59s"));
	CHECK(!strcmp(top_fmt_age(185, b, sizeof(b)), "3m05s"));
	CHECK(!strcmp(top_fmt_age(7380, b, sizeof(b)), "2h03m"));
	CHECK(!strcmp(top_fmt_age(4 * 86400 + 7 * 3600 + 5, b, sizeof(b)), "4d07h"));
	CHECK(!strcmp(top_fmt_age(1e300, b, sizeof(b)), "0s"));
}

static void test_fmt_lines(void)
{
	struct top_rows *t = parsed(three);
	char head[512], line[512];
	const struct top_row *r;

	top_fmt_header(head, sizeof(head));
	CHECK(strstr(head, "HOST") && strstr(head, "DESTINATION") && strstr(head, "DOWN/s"));
	top_rows_sort(t, TOP_SORT_AGE);
	r = top_rows_get(t, 0); /* id 2, host null */
	top_fmt_row(r, line, sizeof(line));
	CHECK(strlen(line) == strlen(head) + strlen(r->src) - strlen("SOURCE"));
	CHECK(strstr(line, " - ") && strstr(line, "[fd00::2]:80") && strstr(line, "6.8 KiB/s"));
	CHECK(strstr(line, "878.9 KiB") && strstr(line, "1h06m"));
	/* the DOWN/s column ends where its title ends */
	CHECK(strstr(head, "DOWN/s") - head + 6 == strstr(line, "0 B/s") - line + 5);
	/* long names are cut with a mark, keeping the columns */
	{
		struct top_row big = *r;
		memset(big.host, 'h', 100);
		big.host[100] = '\0';
		top_fmt_row(&big, line, sizeof(line));
		CHECK(strstr(line, "hhhhhhhhhhhhhhhhhhhhhhhhhhhhh~ "));
		CHECK(strlen(line) == strlen(head) + strlen(r->src) - strlen("SOURCE"));
	}
	/* a short buffer is cut, never overrun */
	top_fmt_row(r, line, 10);
	CHECK(strlen(line) == 9);
	top_rows_free(t);
}

static void test_upstreams_line(void)
{
	char out[256];
	const char *a = "{\"upstreams\": [{\"name\": \"hk\", \"state\": \"up\"}, "
			"{\"name\": \"jp\", \"up\": false}, {\"name\": \"x\\u001b\"}]}";

	CHECK(top_upstreams_line(a, strlen(a), out, sizeof(out)) == 0);
	CHECK(!strcmp(out, "upstreams: hk up, jp down, x? ?"));
	const char *b = "[{\"name\": \"p\", \"health\": \"down\"}]";

	CHECK(top_upstreams_line(b, strlen(b), out, sizeof(out)) == 0);
	CHECK(!strcmp(out, "upstreams: p down"));
	CHECK(top_upstreams_line("{}", 2, out, sizeof(out)) < 0);
	CHECK(top_upstreams_line("[1]", 3, out, sizeof(out)) < 0);
	CHECK(top_upstreams_line("oops", 4, out, sizeof(out)) < 0);
	CHECK(top_upstreams_line(a, strlen(a), out, 12) == 0 && strlen(out) == 11);
}

int main(void)
{
	RUN(test_parse_fields);
	RUN(test_sort_orders);
	RUN(test_sort_ties_by_id);
	RUN(test_keys);
	RUN(test_totals);
	RUN(test_empty_list);
	RUN(test_malformed);
	RUN(test_hostile_strings);
	RUN(test_fmt_sizes);
	RUN(test_fmt_lines);
	RUN(test_upstreams_line);
	CHECK_EXIT();
}
