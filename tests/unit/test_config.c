/* test_config.c -- unit tests for the configuration loader (base/config.c and the section tables
 * in base/config_keys_*.c, over base/yaml_walk.c): one table of cases, each a YAML text that must
 * either load (its values checked by a function) or fail with one line "NAME:LINE:COL: message"
 * at its position; plus what does not fit a row: the free, lists past several powers of two,
 * buffers whose length is not their strlen, small error buffers, and config_load from real files
 * (relative cidr files, unreadable paths). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/config.h"
#include "tests/unit/check.h"

#define NAME "cfg.yaml"

/* A valid proxy section, lines 2-6 of every test config that starts with MINIMAL. */
#define MINIMAL                                                                                \
	"mode: redirect\n"   /* 1 */                                                            \
	"proxy:\n"           /* 2 */                                                            \
	"  type: ss\n"       /* 3 */                                                            \
	"  server: 198.18.0.2\n" /* 4 */                                                        \
	"  port: 8388\n"     /* 5 */                                                            \
	"  password: secret\n" /* 6 */

static int load(const char *yaml, struct config *cfg, char *err, size_t errlen)
{
	return config_load_buffer(NAME, yaml, strlen(yaml), cfg, err, errlen);
}

/* Parses "NAME:LINE:COL: " at the start of err; returns the message after it or NULL. */
static const char *err_pos(const char *err, const char *name, unsigned *line, unsigned *col)
{
	size_t n = strlen(name);
	int used = -1;

	if (strncmp(err, name, n) != 0 || err[n] != ':')
		return NULL;
	if (sscanf(err + n, ":%u:%u: %n", line, col, &used) != 2 || used < 0)
		return NULL;
	return err + n + (size_t)used;
}

/* Loads yaml, which must fail with exactly one line at line:col (col 0: any column) whose
 * message contains every one of the (up to two) fragments. Prints the line on a mismatch. */
static int expect_err(const char *yaml, unsigned line, unsigned col, const char *frag1,
		      const char *frag2)
{
	struct config cfg;
	char err[512];
	unsigned l = 0, c = 0;
	const char *msg;
	int ok = 1;

	memset(err, 'x', sizeof(err));
	if (load(yaml, &cfg, err, sizeof(err)) != -1) {
		config_free(&cfg);
		printf("  (loaded, expected an error at %u:%u)\n", line, col);
		return 0;
	}
	msg = err_pos(err, NAME, &l, &c);
	if (!msg || l != line || (col && c != col) || strchr(err, '\n') || !*msg)
		ok = 0;
	if (msg && frag1 && !strstr(msg, frag1))
		ok = 0;
	if (msg && frag2 && !strstr(msg, frag2))
		ok = 0;
	/* *cfg is left freed: no list survives */
	if (cfg.rules.bypass_cidrs.v || cfg.rules.bypass_domains.v || cfg.dns.hosts ||
	    cfg.dns.domestic.v || cfg.tun.uids.v)
		ok = 0;
	if (!ok)
		printf("  (expected %u:%u '%s'; got \"%s\")\n", line, col, frag1 ? frag1 : "", err);
	return ok;
}

static bool sa_is(const struct sockaddr_storage *ss, socklen_t len, const char *ip, uint16_t port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	struct in_addr a;

	if (inet_pton(AF_INET, ip, &a) != 1)
		return false;
	return ss->ss_family == AF_INET && len == sizeof(*sin) &&
	       sin->sin_addr.s_addr == a.s_addr && ntohs(sin->sin_port) == port;
}

static bool cidr_is(const struct cidr *c, int family, const char *ip, unsigned prefix)
{
	uint8_t a[16] = { 0 };

	if (inet_pton(family, ip, a) != 1)
		return false;
	return c->family == family && c->prefix == prefix &&
	       memcmp(c->addr, a, family == AF_INET ? 4 : 16) == 0;
}

/* ---- the values of configs that load ---- */

static void check_minimal_defaults(const struct config *c, const char *want)
{
	(void)want;
	CHECK(strcmp(c->path, NAME) == 0);
	CHECK(c->mode == MODE_REDIRECT);
	CHECK(c->log_level == LOG_INFO);
	CHECK(c->fwmark == 0x534e);
	CHECK(c->proxy.type == PROXY_TYPE_SS);
	CHECK(strcmp(c->proxy.server, "198.18.0.2") == 0);
	CHECK(c->proxy.port == 8388);
	CHECK(strcmp(c->proxy.method, "chacha20-ietf-poly1305") == 0);
	CHECK(strcmp(c->proxy.password, "secret") == 0);
	CHECK(c->proxy.username[0] == '\0');
	CHECK(c->proxy.udp);
	CHECK(c->proxy.connect_timeout == 10);
	CHECK(c->proxy.idle_timeout == 0); /* never: idle connections are kept */
	CHECK(c->proxy.keepalive == 60);
	CHECK(strcmp(c->tun.name, "snet0") == 0);
	CHECK(cidr_is(&c->tun.address, AF_INET, "198.18.255.1", 30));
	CHECK(!c->tun.has_address6);
	CHECK(c->tun.mtu == 1500);
	CHECK(c->tun.auto_route);
	CHECK(c->tun.uids.n == 0 && c->tun.exclude_uids.n == 0);
	CHECK(sa_is(&c->redirect.listen, c->redirect.listen_len, "127.0.0.1", 1111));
	CHECK(c->redirect.install_rules);
	CHECK(c->redirect.method == REDIRECT_METHOD_REDIRECT);
	CHECK(c->rules.scope == SCOPE_GLOBAL);
	CHECK(c->rules.cn_cidr_file[0] == '\0');
	CHECK(c->rules.bypass_cidrs.n == 0 && c->rules.cn_cidrs.n == 0);
	CHECK(c->rules.bypass_domains.n == 0 && c->rules.block_domains.n == 0);
	CHECK(c->dns.enable);
	CHECK(sa_is(&c->dns.listen, c->dns.listen_len, "127.0.0.1", 1153));
	/* left out: the system's resolvers (read at start), and two public ones through
	 * the proxy -- never test addresses */
	CHECK(c->dns.domestic.n == 0);
	CHECK(c->dns.foreign.n == 2 && strcmp(c->dns.foreign.v[0].host, "8.8.8.8") == 0 &&
	      c->dns.foreign.v[0].port == 53 && strcmp(c->dns.foreign.v[1].host, "1.1.1.1") == 0);
	CHECK(c->dns.split);
	CHECK(c->dns.cache_size == 10000);
	CHECK(c->dns.min_ttl == 0 && c->dns.max_ttl == 86400);
	CHECK(c->dns.disable_qtypes.n == 0 && c->dns.n_hosts == 0);
	CHECK(c->dns.prefetch);
	CHECK(c->dns.query_log[0] == '\0');
	CHECK(!c->stats.enable);
}

/* "<x" is no placeholder: only a value both opened and closed by angle brackets is */
static void check_not_placeholder(const struct config *c, const char *want)
{
	(void)want;
	CHECK(!strcmp(c->proxy.username, "<x"));
}

static void check_stats_allow(const struct config *c, const char *want)
{
	(void)want;
	CHECK(c->stats.enable && c->stats.allow.n == 2);
	CHECK(c->stats.allow.n == 2 && c->stats.allow.v[0].family == AF_INET &&
	      c->stats.allow.v[0].prefix == 24 && c->stats.allow.v[1].family == AF_INET6);
}

static void check_direct(const struct config *c, const char *want)
{
	(void)want;
	CHECK(c->mode == MODE_TUN && c->proxy.type == PROXY_TYPE_DIRECT);
}

static void check_socks5_by_name(const struct config *c, const char *want)
{
	(void)want;
	CHECK(c->proxy.type == PROXY_TYPE_SOCKS5 && strcmp(c->proxy.server, "proxy.example") == 0);
}

/* want: the keepalive as written */
/* capture.cgroups as stored: joined with ',' (leading/trailing '/' dropped). */
static void check_cgroups(const struct config *c, const char *want)
{
	char v[256] = "";

	for (size_t i = 0; i < c->capture.cgroups.n; i++)
		snprintf(v + strlen(v), sizeof(v) - strlen(v), "%s%s", i ? "," : "",
			 c->capture.cgroups.v[i]);
	CHECK(strcmp(v, want) == 0);
}

static void check_keepalive(const struct config *c, const char *want)
{
	char v[16];

	snprintf(v, sizeof(v), "%u", c->proxy.keepalive);
	CHECK(strcmp(v, want) == 0);
	CHECK(c->proxy.idle_timeout == 0);
}

static void check_method(const struct config *c, const char *want)
{
	CHECK(strcmp(c->proxy.method, want) == 0);
}

static const char full_yaml[] =
	"mode: tun\n"
	"log-level: debug\n"
	"fwmark: 0x1234\n"
	"proxy:\n"
	"  type: ss\n"
	"  server: \"[fd00::2]\"\n"
	"  port: 8388\n"
	"  method: aes-128-gcm\n"
	"  password: \"p@ss: word\"\n"
	"  udp: no\n"
	"  connect-timeout: 3600\n"
	"  idle-timeout: 300\n"
	"  keepalive: 0\n"
	"tun:\n"
	"  name: tun9\n"
	"  address: 198.18.255.5/30\n"
	"  address6: fdfe:dcba:9876::1/126\n"
	"  mtu: 1280\n"
	"  auto-route: off\n"
	"  uids: [0, 1000, 4294967294]\n"
	"  exclude-uids:\n"
	"    - 65534\n"
	"redirect:\n"
	"  listen: \"[::1]:1112\"\n"
	"  install-rules: false\n"
	"  method: tproxy\n"
	"  uids: [1000]\n"
	"  exclude-uids: [0, 65534]\n"
	"rules:\n"
	"  bypass-cidrs: [10.0.0.0/8, 192.168.1.1, \"fd00::/8\", 0.0.0.0/0]\n"
	"  bypass-domains: [.Example.COM, lan., a-b_c.d]\n"
	"  block-domains: [ads.example]\n"
	"dns:\n"
	"  listen: 127.0.0.1:5353\n"
	"  domestic: [198.18.0.53, \"198.18.0.54:5353\", \"[fd00::53]:53\", fd00::54, ns.example]\n"
	"  foreign: [198.18.1.53]\n"
	"  split: false\n"
	"  cache-size: 0\n"
	"  min-ttl: 60\n"
	"  max-ttl: 60\n"
	"  disable-qtypes: [AAAA, https, 255, 65535]\n"
	"  hosts:\n"
	"    router.lan: 198.18.0.1\n"
	"    multi.lan: [198.18.0.2, fd00::2]\n"
	"  prefetch: false\n"
	"  query-log: /tmp/q.log\n"
	"stats:\n"
	"  listen: 127.0.0.1:9090\n";

static void check_full(const struct config *c, const char *want)
{
	(void)want;
	CHECK(c->mode == MODE_TUN && c->log_level == LOG_DEBUG && c->fwmark == 0x1234);
	CHECK(strcmp(c->proxy.server, "fd00::2") == 0);
	CHECK(strcmp(c->proxy.method, "aes-128-gcm") == 0);
	CHECK(strcmp(c->proxy.password, "p@ss: word") == 0);
	CHECK(!c->proxy.udp && c->proxy.connect_timeout == 3600 && c->proxy.idle_timeout == 300);
	CHECK(c->proxy.keepalive == 0);
	CHECK(strcmp(c->tun.name, "tun9") == 0);
	CHECK(cidr_is(&c->tun.address, AF_INET, "198.18.255.5", 30));
	CHECK(c->tun.has_address6 && cidr_is(&c->tun.address6, AF_INET6, "fdfe:dcba:9876::1", 126));
	CHECK(c->tun.mtu == 1280 && !c->tun.auto_route);
	CHECK(c->tun.uids.n == 3 && c->tun.uids.v[2] == 4294967294u);
	CHECK(c->tun.exclude_uids.n == 1 && c->tun.exclude_uids.v[0] == 65534);
	CHECK(c->redirect.listen.ss_family == AF_INET6 && !c->redirect.install_rules);
	CHECK(c->redirect.method == REDIRECT_METHOD_TPROXY);
	CHECK(c->redirect.uids.n == 1 && c->redirect.uids.v[0] == 1000);
	CHECK(c->redirect.exclude_uids.n == 2 && c->redirect.exclude_uids.v[1] == 65534);
	CHECK(c->rules.bypass_cidrs.n == 4);
	if (c->rules.bypass_cidrs.n == 4) {
		CHECK(cidr_is(&c->rules.bypass_cidrs.v[0], AF_INET, "10.0.0.0", 8));
		CHECK(cidr_is(&c->rules.bypass_cidrs.v[1], AF_INET, "192.168.1.1", 32));
		CHECK(cidr_is(&c->rules.bypass_cidrs.v[2], AF_INET6, "fd00::", 8));
		CHECK(cidr_is(&c->rules.bypass_cidrs.v[3], AF_INET, "0.0.0.0", 0));
	}
	CHECK(c->rules.bypass_domains.n == 3);
	if (c->rules.bypass_domains.n == 3) {
		CHECK(strcmp(c->rules.bypass_domains.v[0], "example.com") == 0);
		CHECK(strcmp(c->rules.bypass_domains.v[1], "lan") == 0);
	}
	CHECK(c->rules.block_domains.n == 1);
	CHECK(sa_is(&c->dns.listen, c->dns.listen_len, "127.0.0.1", 5353));
	CHECK(c->dns.domestic.n == 5);
	if (c->dns.domestic.n == 5) {
		CHECK(c->dns.domestic.v[1].port == 5353);
		CHECK(strcmp(c->dns.domestic.v[2].host, "fd00::53") == 0);
		CHECK(strcmp(c->dns.domestic.v[3].host, "fd00::54") == 0 &&
		      c->dns.domestic.v[3].port == 53);
		CHECK(strcmp(c->dns.domestic.v[4].host, "ns.example") == 0);
	}
	CHECK(c->dns.foreign.n == 1 && !c->dns.split && c->dns.cache_size == 0);
	CHECK(c->dns.min_ttl == 60 && c->dns.max_ttl == 60);
	CHECK(c->dns.disable_qtypes.n == 4);
	if (c->dns.disable_qtypes.n == 4)
		CHECK(c->dns.disable_qtypes.v[0] == 28 && c->dns.disable_qtypes.v[1] == 65 &&
		      c->dns.disable_qtypes.v[2] == 255 && c->dns.disable_qtypes.v[3] == 65535);
	CHECK(c->dns.n_hosts == 2);
	if (c->dns.n_hosts == 2) {
		CHECK(strcmp(c->dns.hosts[0].name, "router.lan") == 0 && c->dns.hosts[0].n == 1);
		CHECK(c->dns.hosts[1].n == 2 &&
		      cidr_is(&c->dns.hosts[1].addrs[1], AF_INET6, "fd00::2", 128));
	}
	CHECK(!c->dns.prefetch && strcmp(c->dns.query_log, "/tmp/q.log") == 0);
	CHECK(c->stats.enable && sa_is(&c->stats.listen, c->stats.listen_len, "127.0.0.1", 9090));
}

static void check_gateway_off(const struct config *c, const char *want)
{
	(void)want;
	CHECK(!c->gateway.enable && c->gateway.lan.n == 0);
}

static void check_gateway_lan(const struct config *c, const char *want)
{
	(void)want;
	CHECK(c->gateway.enable && c->gateway.lan.n == 3);
	if (c->gateway.lan.n == 3) {
		CHECK(cidr_is(&c->gateway.lan.v[0], AF_INET, "198.18.10.0", 24));
		CHECK(cidr_is(&c->gateway.lan.v[1], AF_INET6, "fd00:10::", 64));
		CHECK(cidr_is(&c->gateway.lan.v[2], AF_INET, "198.18.12.7", 32));
	}
}

static void check_gateway_lan_off(const struct config *c, const char *want)
{
	(void)want;
	CHECK(!c->gateway.enable && c->gateway.lan.n == 1);
}

static void check_gateway_tun(const struct config *c, const char *want)
{
	(void)want;
	CHECK(c->mode == MODE_TUN && c->gateway.enable);
}

/* proxies: two upstreams in order, upstream: their policy and checks. */
static void check_proxies(const struct config *c, const char *want)
{
	(void)want;
	CHECK(c->n_proxies == 2);
	CHECK(!strcmp(c->proxies[0].name, "hk") && c->proxies[0].type == PROXY_TYPE_SS);
	CHECK(c->proxies[0].keepalive == 60 && c->proxies[0].connect_timeout == 10);
	CHECK(!strcmp(c->proxies[1].name, "proxy2") && c->proxies[1].type == PROXY_TYPE_SOCKS5);
	CHECK(!strcmp(c->proxy.name, "hk") && !strcmp(c->proxy.server, c->proxies[0].server));
	CHECK(c->upstream.policy == UPSTREAM_FASTEST);
	CHECK(!strcmp(c->upstream.check_host, "198.18.1.2") && c->upstream.check_port == 9080);
	CHECK(!strcmp(c->upstream.check_path, "/generate_204"));
	CHECK(c->upstream.check_interval == 0 && c->upstream.check_timeout == 5);
}

/* proxy: alone is one upstream named "proxy"; the checks' defaults. */
static void check_one_upstream(const struct config *c, const char *want)
{
	(void)want;
	CHECK(c->n_proxies == 1 && !strcmp(c->proxies[0].name, "proxy"));
	CHECK(c->upstream.policy == UPSTREAM_FAILOVER && c->upstream.check_interval == 30);
	CHECK(!strcmp(c->upstream.check_host, "www.gstatic.com") && c->upstream.check_port == 80);
}

static void check_https(const struct config *c, const char *want)
{
	(void)want;
	CHECK(c->proxy.type == PROXY_TYPE_HTTPS && c->proxy.insecure && !c->proxy.ca_file[0]);
}

#define PROXIES "mode: redirect\nproxies:\n  - {name: hk, type: ss, server: 198.18.0.2, " \
		"port: 8388, password: x}\n  - {type: socks5, server: 198.18.0.2, port: 1080}\n"

/* ---- the table ---- */

/* A case either loads (line 0; check looks at the values, with want when it needs one) or fails
 * at line:col (col 0: any column) with a message containing frag1, and frag2 or the text of
 * errnum when given. `at` is the row's own line, printed when the case fails. */
struct config_case {
	int at;
	const char *yaml;
	void (*check)(const struct config *c, const char *want);
	const char *want;
	unsigned line, col;
	const char *frag1, *frag2;
	int errnum;
};

#define OK(y, fn, w) { .at = __LINE__, .yaml = y, .check = fn, .want = w }
#define ERR(y, l, c, f1, f2) \
	{ .at = __LINE__, .yaml = y, .line = l, .col = c, .frag1 = f1, .frag2 = f2 }
#define ERRNO(y, l, c, f1, e) \
	{ .at = __LINE__, .yaml = y, .line = l, .col = c, .frag1 = f1, .errnum = e }
#define KEEPALIVE(v) OK(MINIMAL "  keepalive: " #v "\n", check_keepalive, #v)
#define METHOD(m) OK(MINIMAL "  method: " m "\n", check_method, m)

static const struct config_case cases[] = {
	/* ---- configs that load ---- */
	OK(MINIMAL, check_minimal_defaults, NULL),
	OK("proxy:\n  type: direct\n", check_direct, NULL),
	OK("proxy: {type: socks5, server: proxy.example, port: 1080}\n", check_socks5_by_name,
	   NULL),
	/* proxy.keepalive: 0 turns it off; 1 and the kernel's largest TCP_KEEPIDLE are taken */
	KEEPALIVE(0),
	KEEPALIVE(1),
	KEEPALIVE(10),
	KEEPALIVE(32767),
	OK(full_yaml, check_full, NULL),
	METHOD("chacha20-ietf-poly1305"),
	METHOD("aes-256-gcm"),
	METHOD("aes-128-gcm"),
	METHOD("xchacha20-ietf-poly1305"),
	/* gateway: off by default; lan is a list of IPv4/IPv6 CIDRs; off with a list is kept */
	OK(MINIMAL, check_gateway_off, NULL),
	OK(MINIMAL "gateway:\n  enable: true\n  lan: [198.18.10.0/24, fd00:10::/64, 198.18.12.7]\n",
	   check_gateway_lan, NULL),
	OK(MINIMAL "gateway:\n  lan: [198.18.10.0/24]\n", check_gateway_lan_off, NULL),
	OK("mode: tun\nproxy:\n  type: direct\ngateway:\n  enable: true\n  lan: [198.18.10.0/24]\n",
	   check_gateway_tun, NULL),
	/* several upstreams */
	OK(PROXIES "upstream:\n  policy: fastest\n  check-url: http://198.18.1.2:9080/generate_204\n"
	   "  check-interval: 0\n", check_proxies, NULL),
	OK(MINIMAL, check_one_upstream, NULL),
	ERR(MINIMAL "proxies:\n  - {type: direct}\n", 7, 1, "proxy and proxies exclude each other",
	    NULL),
	ERR(PROXIES "  - {name: hk, type: http, server: 198.18.0.2, port: 3128}\n", 3, 3,
	    "two proxies are named 'hk'", NULL),
	ERR("mode: redirect\nproxies:\n  - {type: ss, server: 198.18.0.2, port: 8388}\n", 2, 1,
	    "missing required key 'password' in proxies.0", NULL),
	ERR("mode: redirect\nproxies: []\n", 2, 10, "at least one proxy is needed", NULL),
	/* the packaged template's placeholders: refused wherever they stand, key named */
	ERR("mode: redirect\nproxy:\n  type: ss\n  server: \"<your-server>\"\n", 4, 11,
	    "proxy.server: <your-server> is a placeholder of the template", NULL),
	ERR(MINIMAL "dns:\n  domestic: [\"<your-isp-resolver>\"]\n", 8, 14,
	    "dns.domestic: <your-isp-resolver> is a placeholder", NULL),
	ERR(MINIMAL "log-level: <info>\n", 7, 12, "log-level: <info> is a placeholder", NULL),
	OK(MINIMAL "  username: \"<x\"\n", check_not_placeholder, NULL),
	ERR("mode: redirect\nproxies: {type: direct}\n", 2, 10, "expected a sequence", NULL),
	ERR("mode: redirect\nproxies:\n  - direct\n", 3, 5, "expected a mapping (one proxy)", NULL),
	ERR(PROXIES "upstream:\n  policy: random\n", 6, 11, "expected one of: failover, fastest, "
	    "round-robin", NULL),
	ERR(PROXIES "upstream:\n  check-url: https://x.example/\n", 6, 14,
	    "invalid check URL 'https://x.example/'", NULL),
	ERR(PROXIES "upstream:\n  check-url: http://x.example:0/\n", 6, 14,
	    "invalid port in check URL", NULL),
	ERR(PROXIES "upstream:\n  check-timeout: 0\n", 6, 18, "out of range 1..300", NULL),
	ERR(PROXIES "  - {name: 'a b', type: direct}\n", 5, 12, "invalid name 'a b'", NULL),
	/* https: ca-file and insecure mean something there only */
	OK("mode: redirect\nproxy: {type: https, server: proxy.example, port: 443, insecure: true}\n",
	   check_https, NULL),
	ERR(MINIMAL "  insecure: true\n", 7, 3, "proxy: ca-file and insecure are for type https", NULL),

	/* ---- unknown keys ---- */
	ERR(MINIMAL "bogus: 1\n", 7, 1, "unknown key 'bogus' in top level", NULL),
	ERR("mode: tun\nprox:\n  type: direct\n", 2, 1, "unknown key 'prox'",
	    "did you mean 'proxy'?"),
	ERR(MINIMAL "  passwrd: x\n", 7, 3, "unknown key 'passwrd' in proxy",
	    "did you mean 'password'?"),
	ERR(MINIMAL "tun:\n  bogus:\n    deeper: 1\n", 8, 3, "unknown key 'bogus' in tun", NULL),
	ERR(MINIMAL "dns:\n  hosts:\n    a.lan: 198.18.0.1\n  hostz: {}\n", 10, 3,
	    "unknown key 'hostz' in dns", NULL),
	/* a key that is not a plain scalar */
	ERR(MINIMAL "[a]: 1\n", 7, 1, "a key must be a plain name", NULL),

	/* ---- wrong types ---- */
	ERR("mode: redirect\nproxy:\n  type: ss\n  server: 198.18.0.2\n  port: {a: 1}\n"
	    "  password: x\n", 5, 9, "proxy.port: expected an integer, got a mapping", NULL),
	ERR("mode: redirect\nproxy:\n  type: ss\n  server: 198.18.0.2\n  port: abc\n"
	    "  password: x\n", 5, 9, "proxy.port: expected an integer, got 'abc'", NULL),
	ERR("mode: redirect\nproxy:\n  type: ss\n  server: 198.18.0.2\n  port: 8388.0\n"
	    "  password: x\n", 5, 9, "expected an integer", NULL),
	ERR(MINIMAL "tun:\n  mtu: [1500]\n", 8, 8, "tun.mtu: expected an integer, got a "
	    "sequence", NULL),
	ERR(MINIMAL "proxy2: 1\n", 7, 1, "unknown key", NULL),
	ERR("mode: {a: b}\n", 1, 7, "mode: expected a name, got a mapping", NULL),
	ERR(MINIMAL "tun: 5\n", 7, 6, "tun: expected a mapping, got '5'", NULL),
	ERR(MINIMAL "tun:\n  auto-route: maybe\n", 8, 15, "expected a boolean", NULL),
	ERR(MINIMAL "rules:\n  bypass-cidrs: 10.0.0.0/8\n", 8, 17,
	    "rules.bypass-cidrs: expected a sequence", NULL),
	ERR(MINIMAL "rules:\n  bypass-cidrs:\n    - [10.0.0.0/8]\n", 9, 7,
	    "expected a single value in each list item, got a sequence", NULL),
	ERR(MINIMAL "log-level: verbose\n", 7, 12,
	    "invalid value 'verbose' (expected one of: error, warn, info, debug)", NULL),
	ERR("just a scalar\n", 1, 1, "expected a mapping of settings at top level", NULL),
	ERR("- a\n- b\n", 1, 1, "expected a mapping of settings at top level, got a "
	    "sequence", NULL),
	ERR(MINIMAL "dns:\n  hosts: [a]\n", 8, 10, "expected a mapping of host names", NULL),

	/* ---- out of range ---- */
	ERR("mode: redirect\nproxy:\n  type: ss\n  server: 198.18.0.2\n  port: 0\n  password: x\n",
	    5, 9, "proxy.port: 0 is out of range 1..65535", NULL),
	ERR("mode: redirect\nproxy:\n  type: ss\n  server: 198.18.0.2\n  port: 70000\n"
	    "  password: x\n", 5, 9, "proxy.port: 70000 is out of range 1..65535", NULL),
	ERR("mode: redirect\nproxy:\n  type: ss\n  server: 198.18.0.2\n  port: -1\n  password: x\n",
	    5, 9, "-1 is out of range", NULL),
	ERR("mode: redirect\nproxy:\n  type: ss\n  server: 198.18.0.2\n"
	    "  port: 99999999999999999999999\n  password: x\n",
	    5, 9, "is out of range 1..65535", NULL),
	ERR(MINIMAL "  connect-timeout: 0\n", 7, 20,
	    "proxy.connect-timeout: 0 is out of range 1..3600", NULL),
	ERR(MINIMAL "  connect-timeout: 3601\n", 7, 20, "out of range 1..3600", NULL),
	ERR(MINIMAL "  keepalive: 32768\n", 7, 14,
	    "proxy.keepalive: 32768 is out of range 0..32767", NULL),
	ERR(MINIMAL "  keepalive: -1\n", 7, 14, "-1 is out of range 0..32767", NULL),
	ERR(MINIMAL "  keepalive: 60s\n", 7, 14, "proxy.keepalive: expected an integer", NULL),
	ERR(MINIMAL "  idle-timeout: 604801\n", 7, 17, "out of range 0..604800", NULL),
	ERR(MINIMAL "tun:\n  mtu: 575\n", 8, 8, "tun.mtu: 575 is out of range 576..65535", NULL),
	ERR(MINIMAL "tun:\n  mtu: 65536\n", 8, 8, "out of range 576..65535", NULL),
	ERR(MINIMAL "fwmark: 0\n", 7, 9, "fwmark: 0 is out of range", NULL),
	ERR(MINIMAL "fwmark: 0x100000000\n", 7, 9, "out of range 1..4294967295", NULL),
	OK(MINIMAL "capture:\n  cgroups: [/snet/app/, user.slice/x-1.scope]\n", check_cgroups,
	   "snet/app,user.slice/x-1.scope"),
	OK(MINIMAL "capture:\n  cgroups: []\n", check_cgroups, ""),
	ERR(MINIMAL "capture:\n  cgroups: [a/../b]\n", 8, 13, "invalid cgroup path 'a/../b'",
	    NULL),
	ERR(MINIMAL "capture:\n  cgroups: [\"/\"]\n", 8, 13, "invalid cgroup path", NULL),
	ERR(MINIMAL "capture:\n  cgroups: [\"a b\"]\n", 8, 13, "no spaces, quotes", NULL),
	ERR(MINIMAL "capture:\n  cgroups: [a, /a]\n", 8, 16, "'a' is listed twice", NULL),
	ERR(MINIMAL "capture:\n  bogus: 1\n", 8, 3, "bogus", NULL),
	OK("mode: tun\nproxy:\n  type: direct\ncapture:\n  cgroups: [a]\n", check_cgroups, "a"),
	ERR(MINIMAL "tun:\n  uids: [1, 4294967295]\n", 8, 13,
	    "'4294967295' is out of range 0..4294967294", NULL),
	ERR(MINIMAL "redirect:\n  exclude-uids: [1, -1]\n", 8, 21,
	    "'-1' is out of range 0..4294967294", NULL),
	ERR(MINIMAL "redirect:\n  uids: [root]\n", 8, 10, "root", NULL),
	ERR(MINIMAL "dns:\n  disable-qtypes: [0]\n", 8, 20, "out of range 1..65535", NULL),
	ERR(MINIMAL "dns:\n  disable-qtypes: [AAAA, BOGUS]\n", 8, 26,
	    "unknown DNS type 'BOGUS'", NULL),
	/* cross-key checks point at the offending value */
	ERR(MINIMAL "dns:\n  min-ttl: 100\n  max-ttl: 10\n", 9, 12,
	    "dns.max-ttl (10) is below dns.min-ttl (100)", NULL),
	ERR(MINIMAL "tun:\n  mtu: 1000\n  address6: fd00::1/64\n", 8, 8,
	    "tun.mtu: 1000 is below 1280", NULL),
	ERR(MINIMAL "dns:\n  foreign: []\n", 8, 12, "dns.foreign: at least one server", NULL),

	/* ---- bad addresses, names and CIDRs ---- */
	ERR(MINIMAL "rules:\n  bypass-cidrs: [10.0.0.1/33]\n", 8, 18,
	    "rules.bypass-cidrs: invalid CIDR '10.0.0.1/33'", NULL),
	ERR(MINIMAL "rules:\n  bypass-cidrs:\n    - 10.0.0.0/8\n    - \"1.2.3.0/8\"\n",
	    10, 7, "invalid CIDR '1.2.3.0/8': host bits set beyond the /8 prefix", NULL),
	ERR(MINIMAL "rules:\n  bypass-cidrs: [\"fd00::1/8\"]\n", 8, 18,
	    "host bits set beyond the /8 prefix", NULL),
	ERR(MINIMAL "rules:\n  bypass-cidrs: [300.1.1.1]\n", 8, 18,
	    "invalid CIDR '300.1.1.1'", NULL),
	ERR(MINIMAL "rules:\n  bypass-cidrs: [10.0.0.0/]\n", 8, 18, "invalid CIDR", NULL),
	ERR(MINIMAL "redirect:\n  listen: 127.0.0.1\n", 8, 11,
	    "redirect.listen: invalid address '127.0.0.1'", NULL),
	ERR(MINIMAL "redirect:\n  listen: 127.0.0.1:0\n", 8, 11, "invalid address", NULL),
	ERR(MINIMAL "redirect:\n  method: nat\n", 8, 11,
	    "redirect.method: invalid value 'nat' (expected one of: redirect, tproxy)", NULL),
	ERR(MINIMAL "dns:\n  listen: localhost:53\n", 8, 11, "dns.listen: invalid address", NULL),
	ERR(MINIMAL "tun:\n  address: 198.18.255.1\n", 8, 12,
	    "tun.address: invalid interface address '198.18.255.1'", NULL),
	ERR(MINIMAL "tun:\n  address6: 198.18.255.1/30\n", 8, 13,
	    "invalid interface address", NULL),
	ERR(MINIMAL "tun:\n  name: a/b\n", 8, 9, "invalid interface name 'a/b'", NULL),
	ERR(MINIMAL "tun:\n  name: abcdefghijklmnop\n", 8, 9, "too long (16 bytes, at "
	    "most 15)", NULL),
	ERR("mode: redirect\nproxy:\n  type: ss\n  server: 198.18.0.2:8388\n  port: 8388\n"
	    "  password: x\n", 4, 11, "(the port goes in proxy.port)", NULL),
	ERR("mode: redirect\nproxy:\n  type: ss\n  server: 10.0.0.300\n  port: 8388\n"
	    "  password: x\n", 4, 11, "invalid IP address or host name '10.0.0.300'", NULL),
	ERR(MINIMAL "dns:\n  domestic: [\"1.2.3.4:99999\"]\n", 8, 14,
	    "dns.domestic: invalid server '1.2.3.4:99999'", NULL),
	ERR(MINIMAL "dns:\n  hosts:\n    a.lan: 198.18.0.1/32\n", 9, 12,
	    "dns.hosts.a.lan: invalid IP address '198.18.0.1/32'", NULL),
	ERR(MINIMAL "dns:\n  hosts:\n    a.lan: []\n", 9, 12,
	    "expected at least one IP address", NULL),
	ERR(MINIMAL "dns:\n  hosts:\n    a.lan: 198.18.0.1\n    A.lan: 198.18.0.2\n", 10, 5,
	    "duplicate host name 'a.lan'", NULL),
	ERR(MINIMAL "rules:\n  bypass-domains: [\"bad..name\"]\n", 8, 20,
	    "invalid domain name 'bad..name'", NULL),

	/* ---- cidr files ---- */
	ERRNO(MINIMAL "rules:\n  bypass-cidr-files: [/nonexistent]\n", 8, 23,
	      "rules.bypass-cidr-files: cannot read cidr file '/nonexistent': ", ENOENT),
	ERRNO(MINIMAL "rules:\n  bypass-cidr-files:\n    - /\n", 9, 7,
	      "cannot read cidr file '/'", EISDIR),
	ERR(MINIMAL "rules:\n  bypass-cidr-files:\n    - /dev/null\n", 9, 7,
	    "cannot read cidr file '/dev/null': not a regular file", NULL),
	ERR(MINIMAL "rules:\n  bypass-cidr-files: [\"\"]\n", 8, 23,
	    "expected a file path, got ''", NULL),
	ERRNO(MINIMAL "rules:\n  scope: bypass-cn\n  cn-cidr-file: /nonexistent/cn.txt\n", 9,
	      17, "rules.cn-cidr-file: cannot read cidr file '/nonexistent/cn.txt'", ENOENT),
	ERR(MINIMAL "rules:\n  scope: bypass-cn\n  cn-cidr-file: \"\"\n", 9, 17,
	    "must not be empty", NULL),

	/* ---- missing required keys ---- */
	ERR("mode: redirect\nproxy:\n  type: ss\n  server: 198.18.0.2\n  port: 8388\n",
	    2, 1, "missing required key 'password' in proxy (required for type ss)", NULL),
	ERR("mode: redirect\nproxy:\n  type: ss\n  port: 8388\n  password: x\n", 2, 1,
	    "missing required key 'server' in proxy", NULL),
	ERR("mode: redirect\nproxy:\n  type: http\n  server: 198.18.0.2\n", 2, 1,
	    "missing required key 'port' in proxy", NULL),
	ERR("mode: redirect\nproxy:\n  type: ss\n  server: 198.18.0.2\n  port: 8388\n"
	    "  password: \"\"\n", 6, 13, "proxy.password: must not be empty for type ss", NULL),
	ERR("mode: redirect\nproxy:\n  type: socks5\n  server: 198.18.0.2\n  port: 1080\n"
	    "  password: x\n", 6, 13, "needs proxy.username too", NULL),
	/* proxy absent altogether; the position is the top-level mapping */
	ERR("mode: redirect\n", 1, 1, "missing required key 'proxy' in top level", NULL),
	/* proxy present but null */
	ERR("mode: redirect\nproxy:\n", 2, 1, "missing required key 'server' in proxy", NULL),
	ERR("mode: redirect\nproxy:\n  type: ss\n  server:\n  port: 8388\n  password: x\n",
	    4, 10, "expected an IP address or host name, got an empty value", NULL),

	/* ---- gateway: lan is needed with enable; tun mode needs auto-route with it ---- */
	/* enable with an empty list: at the list; without one: at the gateway mapping */
	/* ---- stats: a non-loopback listen needs allow ---- */
	OK(MINIMAL "stats:\n  listen: 198.18.0.1:9090\n  allow: [198.18.0.0/24, fd00::/8]\n",
	   check_stats_allow, NULL),
	ERR(MINIMAL "stats:\n  listen: 198.18.0.1:9090\n", 8, 11,
	    "stats.listen: a non-loopback address needs stats.allow", NULL),
	ERR(MINIMAL "stats:\n  listen: '[::]:9090'\n  allow: []\n", 8, 11, "needs stats.allow", NULL),
	ERR(MINIMAL "stats:\n  listen: 127.0.0.1:9090\n  allow: [nowhere]\n", 9, 11,
	    "invalid CIDR 'nowhere'", NULL),
	ERR(MINIMAL "gateway:\n  enable: true\n  lan: []\n", 9, 8,
	    "gateway.lan: at least one CIDR is needed", NULL),
	ERR(MINIMAL "gateway:\n  enable: true\n", 8, 11,
	    "gateway.lan: at least one CIDR is needed", NULL),
	ERR(MINIMAL "gateway:\n  enable: true\n  lan: [198.18.10.1/24]\n", 9, 9,
	    "gateway.lan", "host bits set beyond the /24 prefix"),
	ERR(MINIMAL "gateway:\n  lan: [eth0]\n", 8, 9, "invalid CIDR 'eth0'", NULL),
	ERR(MINIMAL "gateway:\n  enable: yes-please\n", 8, 11, "gateway.enable", NULL),
	ERR(MINIMAL "gateway:\n  lan: [198.18.10.0/24]\n  wan: []\n", 9, 3, "wan", NULL),
	/* tun mode: the LAN's rules are part of auto-route */
	ERR("mode: tun\nproxy:\n  type: direct\ntun:\n  auto-route: false\n"
	    "gateway:\n  enable: true\n  lan: [198.18.10.0/24]\n", 7, 3,
	    "gateway.enable: tun mode needs tun.auto-route", NULL),

	/* ---- ciphers ---- */
	/* config_keys_proxy.c rejects stream ciphers itself (proxy/aead.c would too, see
	 * test_aead) */
	ERR(MINIMAL "  method: aes-256-cfb\n", 7, 11,
	    "proxy.method: 'aes-256-cfb' is a stream cipher", "aes-256-gcm"),
	ERR(MINIMAL "  method: RC4-MD5\n", 7, 11, "is a stream cipher", NULL),
	ERR(MINIMAL "  method: 2022-blake3-aes-256-gcm\n", 7, 11,
	    "unknown method '2022-blake3-aes-256-gcm'", NULL),
	ERR(MINIMAL "  method: [a]\n", 7, 11, "expected a cipher name, got a sequence", NULL),

	/* ---- duplicate keys ---- */
	ERR("mode: redirect\nproxy:\n  type: ss\n  server: 198.18.0.2\n  port: 8388\n"
	    "  port: 8389\n  password: x\n",
	    6, 3, "duplicate key 'port' in proxy (first at line 5)", NULL),
	ERR(MINIMAL "mode: tun\n", 7, 1, "duplicate key 'mode' in top level (first at "
	    "line 1)", NULL),
	ERR(MINIMAL "proxy:\n  type: direct\n", 7, 1, "duplicate key 'proxy'", NULL),

	/* ---- YAML syntax ---- */
	ERR("mode: redirect\nproxy: {type: ss\n", 3, 1, "YAML syntax error:",
	    "while parsing a flow mapping at line 2"),
	ERR("mode: redirect\n\tproxy: 1\n", 2, 1, "YAML syntax error:", "tab"),
	ERR("mode: redirect\nlog-level: 'info\n", 3, 1, "YAML syntax error:", NULL),
	ERR("mode: redirect\nlog-level: info: x\n", 2, 16,
	    "YAML syntax error: mapping values are not allowed in this context", NULL),
	/* aliases, several documents, NUL and invalid UTF-8 */
	ERR(MINIMAL "tun:\n  name: &n tun1\nlog-level: *n\n", 9, 12,
	    "YAML aliases are not supported (*n)", NULL),
	ERR(MINIMAL "---\nmode: tun\n", 7, 1, "only one YAML document is allowed", NULL),
	ERR(MINIMAL "tun:\n  name: \"a\\0b\"\n", 8, 9, "value contains a NUL character", NULL),
	ERR("mode: tun\n\xff\n", 2, 1, "invalid input: invalid leading UTF-8 octet", NULL),

	/* ---- empty documents ---- */
	ERR("", 1, 1, "empty document: expected a mapping of settings", NULL),
	ERR("# only a comment\n", 2, 1, "empty document", NULL),
	ERR("---\n...\n", 2, 1, "empty document", NULL),
	ERR("~\n", 1, 1, "empty document", NULL),
};

/* Loads a case that must load: err is cleared, the values pass the case's check. */
static int expect_ok(const struct config_case *k)
{
	struct config cfg;
	char err[512];

	memset(err, 'x', sizeof(err) - 1);
	err[sizeof(err) - 1] = '\0';
	if (load(k->yaml, &cfg, err, sizeof(err)) != 0) {
		printf("  (expected a load; got \"%s\")\n", err);
		return 0;
	}
	k->check(&cfg, k->want);
	config_free(&cfg);
	if (err[0]) {
		printf("  (loaded, but err is \"%.40s\")\n", err);
		return 0;
	}
	return 1;
}

static void test_cases(void)
{
	size_t i, n = sizeof(cases) / sizeof(cases[0]);

	for (i = 0; i < n; i++) {
		const struct config_case *k = &cases[i];
		int failed_before = check_failed_in_test, ok;

		check_failed_in_test = 0;
		if (k->line)
			ok = expect_err(k->yaml, k->line, k->col, k->frag1,
					k->errnum ? strerror(k->errnum) : k->frag2);
		else
			ok = expect_ok(k);
		if (!ok || check_failed_in_test) {
			printf("FAIL test_cases: the case at %s:%d\n", __FILE__, k->at);
			check_failed_in_test = 1;
		}
		check_failed_in_test |= failed_before;
	}
	printf("  %zu cases\n", n);
}

/* ---- what does not fit a row ---- */

/* After a load, err is cleared; config_free wipes the password and a second free is a no-op. */
static void test_free(void)
{
	struct config cfg;
	char err[256] = "unchanged";

	CHECK(load(MINIMAL, &cfg, err, sizeof(err)) == 0);
	CHECK(err[0] == '\0');
	CHECK(strcmp(cfg.proxy.password, "secret") == 0);
	config_free(&cfg);
	CHECK(cfg.proxy.password[0] == '\0' && cfg.dns.domestic.v == NULL);
	config_free(&cfg);
	config_free(NULL);
}

static void test_many_items(void)
{
	/* lists grow past several powers of two */
	char yaml[16384];
	size_t o = (size_t)snprintf(yaml, sizeof(yaml), MINIMAL "rules:\n  bypass-cidrs:\n");
	struct config cfg;
	char err[256];
	int i;

	for (i = 0; i < 300; i++)
		o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "    - 10.%d.%d.0/24\n", i / 256,
				      i % 256);
	CHECK(o < sizeof(yaml));
	CHECK(load(yaml, &cfg, err, sizeof(err)) == 0);
	CHECK(cfg.rules.bypass_cidrs.n == 300);
	CHECK(cfg.rules.bypass_cidrs.n == 300 &&
	      cidr_is(&cfg.rules.bypass_cidrs.v[299], AF_INET, "10.1.43.0", 24));
	config_free(&cfg);
	/* an error after 300 items frees them all (ASan checks the leak) */
	o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "    - 10.0.0.1/8\n");
	CHECK(expect_err(yaml, 309, 7, "host bits set beyond the /8 prefix", NULL));
}

/* The length, not a NUL, ends the input. */
static void test_buffer_length(void)
{
	/* a NUL byte inside the buffer itself */
	static const char bin[] = "mode: tun\nlog-level: in\0fo\n";
	struct config cfg;
	char err[256];
	unsigned l = 0, c = 0;

	CHECK(config_load_buffer(NAME, bin, sizeof(bin) - 1, &cfg, err, sizeof(err)) == -1);
	CHECK(err_pos(err, NAME, &l, &c) != NULL && l == 2);
	/* zero bytes of a non-empty buffer */
	CHECK(config_load_buffer(NAME, "mode: tun\n", 0, &cfg, err, sizeof(err)) == -1);
	CHECK(strncmp(err, NAME ":1:1: empty document", strlen(NAME) + 20) == 0);
}

static void test_err_buffer_limits(void)
{
	static const char yaml[] = MINIMAL "bogus: 1\n";
	struct config cfg;
	char err[8];

	memset(err, 'x', sizeof(err));
	CHECK(load(yaml, &cfg, err, sizeof(err)) == -1);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	CHECK(strncmp(err, "cfg.yam", 7) == 0);
	CHECK(load(yaml, &cfg, NULL, 0) == -1);
	CHECK(load(yaml, &cfg, err, 0) == -1);
	/* a very long value is quoted cut, the line stays bounded */
	{
		char big[2048];
		char msg[1024];
		size_t o = (size_t)snprintf(big, sizeof(big), MINIMAL "log-level: ");

		memset(big + o, 'v', 1500);
		big[o + 1500] = '\n';
		big[o + 1501] = '\0';
		CHECK(load(big, &cfg, msg, sizeof(msg)) == -1);
		CHECK(strlen(msg) < 300 && strstr(msg, "...'") != NULL);
	}
}

/* ---- config_load on real files ---- */

static char tmpdir[64];

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void test_load_file(void)
{
	char path[256], cidrs[256], err[512];
	struct config cfg;
	unsigned l = 0, c = 0;
	const char *msg;

	snprintf(path, sizeof(path), "%s/snet.yaml", tmpdir);
	snprintf(cidrs, sizeof(cidrs), "%s/extra.txt", tmpdir);
	CHECK(write_file(cidrs, "# comment\n\n10.1.0.0/16  # trailing\n \tfd00::/8\r\n192.0.2.1") == 0);
	CHECK(write_file(path, MINIMAL "rules:\n  bypass-cidrs: [10.0.0.0/8]\n"
				     "  bypass-cidr-files: [extra.txt]\n") == 0);
	CHECK(config_load(path, &cfg, err, sizeof(err)) == 0);
	CHECK(strcmp(cfg.path, path) == 0);
	CHECK(cfg.rules.bypass_cidr_files.n == 1 &&
	      strcmp(cfg.rules.bypass_cidr_files.v[0], cidrs) == 0);
	CHECK(cfg.rules.bypass_cidrs.n == 4);
	if (cfg.rules.bypass_cidrs.n == 4) {
		CHECK(cidr_is(&cfg.rules.bypass_cidrs.v[1], AF_INET, "10.1.0.0", 16));
		CHECK(cidr_is(&cfg.rules.bypass_cidrs.v[2], AF_INET6, "fd00::", 8));
		CHECK(cidr_is(&cfg.rules.bypass_cidrs.v[3], AF_INET, "192.0.2.1", 32));
	}
	config_free(&cfg);

	/* bypass-cn reads cn-cidr-file (relative to the config's directory) */
	CHECK(write_file(path, MINIMAL "rules:\n  scope: bypass-cn\n  cn-cidr-file: extra.txt\n") == 0);
	CHECK(config_load(path, &cfg, err, sizeof(err)) == 0);
	CHECK(cfg.rules.scope == SCOPE_BYPASS_CN && cfg.rules.cn_cidrs.n == 3);
	CHECK(strcmp(cfg.rules.cn_cidr_file, cidrs) == 0);
	config_free(&cfg);

	/* bypass-cn without a file: the installed lists, or data/ of the source tree this
	 * test binary was built in, both families */
	CHECK(write_file(path, MINIMAL "rules:\n  scope: bypass-cn\n") == 0);
	CHECK(config_load(path, &cfg, err, sizeof(err)) == 0);
	CHECK(cfg.rules.cn_default && strstr(cfg.rules.cn_cidr_file, "/cn-ipv4-cidrs.txt") &&
	      strstr(cfg.rules.cn_cidr6_file, "/cn-ipv6-cidrs.txt"));
	CHECK(cfg.rules.cn_n4 > 1000 && cfg.rules.cn_n6 > 100 &&
	      cfg.rules.cn_cidrs.n == cfg.rules.cn_n4 + cfg.rules.cn_n6);
	config_free(&cfg);
	/* cn-cidr6-file alone adds the IPv6 networks to a named IPv4 file */
	CHECK(write_file(cidrs, "2001:250::/30\n240e::/20\n") == 0);
	CHECK(write_file(path, MINIMAL "rules:\n  scope: bypass-cn\n  cn-cidr6-file: extra.txt\n") == 0);
	CHECK(config_load(path, &cfg, err, sizeof(err)) == 0);
	CHECK(!cfg.rules.cn_default && cfg.rules.cn_n4 == 0 && cfg.rules.cn_n6 == 2);
	config_free(&cfg);

	/* a bad line inside a cidr file is reported at that file's line */
	CHECK(write_file(cidrs, "10.0.0.0/8\n# c\n1.2.3.4/40\n") == 0);
	CHECK(write_file(path, MINIMAL "rules:\n  bypass-cidr-files: [extra.txt]\n") == 0);
	CHECK(config_load(path, &cfg, err, sizeof(err)) == -1);
	msg = err_pos(err, cidrs, &l, &c);
	CHECK(msg != NULL && l == 3 && c == 1 && strcmp(msg, "invalid CIDR '1.2.3.4/40'") == 0);
	CHECK(cfg.rules.bypass_cidrs.v == NULL && cfg.rules.bypass_cidr_files.v == NULL);

	/* an error in the file itself names the path */
	CHECK(write_file(path, MINIMAL "tun:\n  mtu: 70000\n") == 0);
	CHECK(config_load(path, &cfg, err, sizeof(err)) == -1);
	msg = err_pos(err, path, &l, &c);
	CHECK(msg != NULL && l == 8 && c == 8 && strstr(msg, "tun.mtu: 70000 is out of range"));

	unlink(cidrs);
	unlink(path);
}

static void test_load_unreadable(void)
{
	char err[512], dir[128];
	struct config cfg;
	unsigned l = 0, c = 0;
	const char *msg;

	CHECK(config_load("/nonexistent/snet.yaml", &cfg, err, sizeof(err)) == -1);
	msg = err_pos(err, "/nonexistent/snet.yaml", &l, &c);
	CHECK(msg != NULL && l == 1 && c == 1);
	CHECK(msg && strstr(msg, "cannot read") && strstr(msg, strerror(ENOENT)));
	CHECK(strchr(err, '\n') == NULL);
	snprintf(dir, sizeof(dir), "%s", tmpdir);
	CHECK(config_load(dir, &cfg, err, sizeof(err)) == -1);
	msg = err_pos(err, dir, &l, &c);
	CHECK(msg && strstr(msg, strerror(EISDIR)));
	CHECK(config_load("/nonexistent", &cfg, NULL, 0) == -1);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/snet-test-config.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_cases);
	RUN(test_free);
	RUN(test_many_items);
	RUN(test_buffer_length);
	RUN(test_err_buffer_limits);
	RUN(test_load_file);
	RUN(test_load_unreadable);
	rmdir(tmpdir);
	CHECK_EXIT();
}
