/* top.c -- `snet-tun top`: finds the stats endpoint (--stats, or the config's
 * stats.listen), polls /connections and /upstreams once a second (libcurl) and draws
 * the rows top_rows.c makes on the terminal (ncurses); keys re-sort, `q` quits. */
#include "service/top.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <ncurses.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/config.h"
#include "base/net.h"
#include "service/top_rows.h"

#define TOP_DEFAULT_CONFIG "/etc/snet-tun/config.yaml"
#define TOP_DEFAULT_STATS "127.0.0.1:9090"
#define TOP_BODY_MAX (32u << 20) /* an answer larger than this is refused */
#define TOP_HOSTPORT_MAX 300

struct top_body {
	char *p;
	size_t n, cap;
	bool too_big;
};

struct top {
	char stats[TOP_HOSTPORT_MAX]; /* HOST:PORT, as given or from the config */
	CURL *curl; /* one handle: the connection to the endpoint is kept between polls */
	struct top_body body;
	char curl_err[CURL_ERROR_SIZE];
	struct top_rows *rows;
	enum top_sort sort;
	char error[1024]; /* what went wrong with the last poll; "" when it worked */
	char upstreams[512]; /* the /upstreams line; "" when there is none */
	char when[16]; /* the last successful poll, HH:MM:SS */
};

static void top_usage(FILE *f)
{
	fprintf(f, "usage: snet-tun top [--stats HOST:PORT] [-c FILE]\n\n"
		   "Shows the live connections of a running snet-tun, from its stats endpoint,\n"
		   "refreshed every second. Keys: r rate down, u rate up, t total, a age,\n"
		   "h host, d destination (sort orders); q quits.\n\n"
		   "      --stats HOST:PORT  the endpoint ([IPv6]:PORT for IPv6); default: the\n"
		   "                         stats.listen of FILE, else " TOP_DEFAULT_STATS "\n"
		   "  -c, --config FILE      the config to read stats.listen from (default\n"
		   "                         " TOP_DEFAULT_CONFIG " when it exists)\n"
		   "  -h, --help             this text\n");
}

/* HOST:PORT or [IPv6]:PORT, host a name or an address: nothing a URL would read
 * differently. 0, or -1 with err set. */
static int top_check_hostport(const char *s, char *err, size_t errlen)
{
	const char *colon, *p;
	char *end;
	unsigned long port;

	if (strlen(s) >= TOP_HOSTPORT_MAX)
		goto bad;
	if (s[0] == '[') {
		p = strchr(s, ']');
		if (!p || p == s + 1 || p[1] != ':')
			goto bad;
		for (const char *q = s + 1; q < p; q++)
			if (!strchr("0123456789abcdefABCDEF:.", *q))
				goto bad;
		colon = p + 1;
	} else {
		colon = strchr(s, ':');
		if (!colon || colon == s || strchr(colon + 1, ':'))
			goto bad;
		for (const char *q = s; q < colon; q++)
			if (!strchr("0123456789abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-", *q))
				goto bad;
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || port == 0 || port > 65535)
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "--stats: '%.*s' is not HOST:PORT or [IPv6]:PORT", 200, s);
	return -1;
}

/* stats.listen of the config at path, a wildcard address turned into loopback.
 * 1 found, 0 the config has none, -1 error (err set). */
static int top_stats_from_config(const char *path, char *out, size_t outlen, char *err,
				 size_t errlen)
{
	struct config cfg;
	struct sockaddr_storage ss;
	char a[NET_ADDRSTRLEN];
	int rc = 0;

	if (config_load(path, &cfg, err, errlen) < 0)
		return -1;
	if (cfg.stats.enable) {
		ss = cfg.stats.listen;
		if (ss.ss_family == AF_INET &&
		    ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY))
			((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (ss.ss_family == AF_INET6 &&
		    IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr))
			((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
		snprintf(out, outlen, "%s", net_ntop(&ss, a, sizeof(a)));
		rc = 1;
	}
	config_free(&cfg);
	return rc;
}

/* Picks the endpoint: --stats, else -c FILE's stats.listen (an error if it has none),
 * else the default config's when it exists and names one, else the default address. */
static int top_pick_stats(struct top *t, const char *stats, const char *path, char *err,
			  size_t errlen)
{
	int r;

	if (stats) {
		if (top_check_hostport(stats, err, errlen) < 0)
			return -1;
		snprintf(t->stats, sizeof(t->stats), "%s", stats);
		return 0;
	}
	if (path) {
		r = top_stats_from_config(path, t->stats, sizeof(t->stats), err, errlen);
		if (r == 0)
			snprintf(err, errlen, "%s: stats.listen is not set (give --stats HOST:PORT)",
				 path);
		return r > 0 ? 0 : -1;
	}
	if (access(TOP_DEFAULT_CONFIG, R_OK) == 0) {
		r = top_stats_from_config(TOP_DEFAULT_CONFIG, t->stats, sizeof(t->stats), err,
					  errlen);
		if (r < 0)
			return -1;
		if (r > 0)
			return 0;
	}
	snprintf(t->stats, sizeof(t->stats), "%s", TOP_DEFAULT_STATS);
	return 0;
}

static size_t top_on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct top_body *b = ud;
	size_t n = size * nmemb;

	if (n > TOP_BODY_MAX - b->n) {
		b->too_big = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *p;

		while (cap < b->n + n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, ptr, n);
	b->n += n;
	return n;
}

/* GETs path into t->body. 0, or -1 with err set. */
static int top_get(struct top *t, const char *path, char *err, size_t errlen)
{
	char url[TOP_HOSTPORT_MAX + 32];
	long code = 0;
	CURLcode rc;

	snprintf(url, sizeof(url), "http://%s%s", t->stats, path);
	t->body.n = 0;
	t->body.too_big = false;
	t->curl_err[0] = '\0';
	curl_easy_setopt(t->curl, CURLOPT_URL, url);
	rc = curl_easy_perform(t->curl);
	if (rc != CURLE_OK) {
		if (t->body.too_big)
			snprintf(err, errlen, "%s: answer larger than %u MiB", url, TOP_BODY_MAX >> 20);
		else
			snprintf(err, errlen, "%s: %s", url,
				 t->curl_err[0] ? t->curl_err : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		snprintf(err, errlen, "%s: HTTP status %ld", url, code);
		return -1;
	}
	return 0;
}

/* Whatever the endpoint sent (jansson quotes the bad input in its message) reaches the
 * terminal as printable ASCII only. */
static void top_printable(char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s >= 0x7f)
			*s = '?';
}

/* One poll: the rows (an error clears them), then the upstreams' line if there is one. */
static void top_poll(struct top *t)
{
	char err[sizeof(t->error) - 100];
	time_t now = time(NULL);
	struct tm tm;

	if (top_get(t, "/connections", err, sizeof(err)) < 0) {
		top_rows_clear(t->rows);
		snprintf(t->error, sizeof(t->error), "cannot fetch %s (retrying every second)", err);
		top_printable(t->error);
		return;
	}
	if (top_rows_parse(t->rows, t->body.p, t->body.n, err, sizeof(err)) < 0) {
		snprintf(t->error, sizeof(t->error), "malformed /connections: %s", err);
		top_printable(t->error);
		return;
	}
	t->error[0] = '\0';
	localtime_r(&now, &tm);
	strftime(t->when, sizeof(t->when), "%H:%M:%S", &tm);
	if (top_get(t, "/upstreams", err, sizeof(err)) < 0 ||
	    top_upstreams_line(t->body.p, t->body.n, t->upstreams, sizeof(t->upstreams)) < 0)
		t->upstreams[0] = '\0';
}

static void top_draw(struct top *t)
{
	char line[1200], rd[24], ru[24], bd[24], bu[24];
	struct top_totals tot;
	int y = 0, rows_room;
	size_t n;

	top_rows_sort(t->rows, t->sort);
	top_rows_totals(t->rows, &tot);
	erase();
	snprintf(line, sizeof(line),
		 "snet-tun top  %s  updated %s  connections %zu%s  down %s  up %s  (totals: down %s, "
		 "up %s)  sorted by %s",
		 t->stats, t->when[0] ? t->when : "--:--:--", tot.n,
		 top_rows_truncated(t->rows) ? " (list truncated)" : "",
		 top_fmt_rate(tot.rate_down, rd, sizeof(rd)), top_fmt_rate(tot.rate_up, ru, sizeof(ru)),
		 top_fmt_bytes(tot.bytes_down, bd, sizeof(bd)),
		 top_fmt_bytes(tot.bytes_up, bu, sizeof(bu)), top_sort_name(t->sort));
	attron(A_BOLD);
	mvaddnstr(y++, 0, line, COLS);
	attroff(A_BOLD);
	if (t->error[0]) {
		attron(A_BOLD | A_REVERSE);
		snprintf(line, sizeof(line), "error: %s", t->error);
		mvaddnstr(y++, 0, line, COLS);
		attroff(A_BOLD | A_REVERSE);
	} else {
		mvaddnstr(y++, 0, t->upstreams, COLS);
	}
	top_fmt_header(line, sizeof(line));
	attron(A_REVERSE);
	mvaddnstr(y++, 0, line, COLS);
	attroff(A_REVERSE);
	n = top_rows_count(t->rows);
	rows_room = LINES - y - 1;
	for (size_t i = 0; i < n && (int)i < rows_room; i++) {
		top_fmt_row(top_rows_get(t->rows, i), line, sizeof(line));
		mvaddnstr(y++, 0, line, COLS);
	}
	snprintf(line, sizeof(line),
		 "sort: r rate down  u rate up  t total  a age  h host  d destination   q quit%s",
		 rows_room >= 0 && n > (size_t)rows_room ? "   (more rows than fit)" : "");
	attron(A_REVERSE);
	mvaddnstr(LINES - 1, 0, line, COLS);
	attroff(A_REVERSE);
	refresh();
}

static double top_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Polls every second and redraws; keys are read in between (100 ms at most apart). */
static void top_loop(struct top *t)
{
	double next = 0, now;
	int ch, s;

	for (;;) {
		now = top_now();
		if (now >= next) {
			/* once a second from the poll's start; a slow poll is not caught up */
			next = next + 1.0 > now ? next + 1.0 : now + 1.0;
			top_poll(t);
			top_draw(t);
		}
		ch = getch();
		if (ch == 'q' || ch == 'Q')
			return;
		s = top_sort_for_key(ch);
		if (s >= 0) {
			t->sort = (enum top_sort)s;
			top_draw(t);
		} else if (ch == KEY_RESIZE || ch == 12 /* ^L */) {
			clear();
			top_draw(t);
		}
	}
}

static int top_curl_init(struct top *t, char *err, size_t errlen)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (rc != CURLE_OK) {
		snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(rc));
		return -1;
	}
	t->curl = curl_easy_init();
	if (!t->curl) {
		snprintf(err, errlen, "libcurl: cannot make a handle (out of memory?)");
		curl_global_cleanup();
		return -1;
	}
	curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, top_on_data);
	curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, &t->body);
	curl_easy_setopt(t->curl, CURLOPT_ERRORBUFFER, t->curl_err);
	curl_easy_setopt(t->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->curl, CURLOPT_CONNECTTIMEOUT_MS, 800L);
	curl_easy_setopt(t->curl, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(t->curl, CURLOPT_PROXY, ""); /* never through *_proxy variables */
	curl_easy_setopt(t->curl, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(t->curl, CURLOPT_USERAGENT, "snet-tun-top/" SNET_VERSION);
	return 0;
}

int top_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stats", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *stats = NULL, *path = NULL;
	struct top t;
	char err[1024];
	SCREEN *scr = NULL;
	int c, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': stats = optarg; break;
		case 'c': path = optarg; break;
		case 'h': top_usage(stdout); return 0;
		default: top_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		top_usage(stderr);
		return 2;
	}
	memset(&t, 0, sizeof(t));
	if (top_pick_stats(&t, stats, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "top: %s\n", err);
		return stats ? 2 : 1;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "top: needs a terminal on stdin and stdout\n");
		return 1;
	}
	t.rows = top_rows_new();
	if (!t.rows) {
		fprintf(stderr, "top: out of memory: %s\n", strerror(errno));
		return 1;
	}
	if (top_curl_init(&t, err, sizeof(err)) < 0) {
		fprintf(stderr, "top: %s\n", err);
		goto fail_rows;
	}
	scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		fprintf(stderr, "top: cannot use the terminal (TERM=%s)\n",
			getenv("TERM") ? getenv("TERM") : "");
		goto fail_curl;
	}
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	timeout(100);
	top_loop(&t);
	endwin();
	delscreen(scr);
	rc = 0;
fail_curl:
	curl_easy_cleanup(t.curl);
	curl_global_cleanup();
fail_rows:
	top_rows_free(t.rows);
	free(t.body.p);
	return rc;
}
