/* test_lookup.c -- unit tests for looking our own names up: the /etc/hosts and
 * /etc/resolv.conf parsers and the answer's addresses and TTL (dns/lookup_parse.c), and
 * the resolver's cache with a backend (core/resolve.c: TTL clamping, every address kept,
 * forget moving to the next address and then to a new lookup, literals never asked), and
 * its getaddrinfo workers (several at once; freed while they run). */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/net.h"
#include "base/resolve.h"
#include "dns/lookup_parse.h"
#include "dns/msg.h"
#include "tests/unit/check.h"

static const char *ip(const struct sockaddr_storage *ss, char *buf)
{
	const void *a = ss->ss_family == AF_INET ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
						 : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
	return inet_ntop(ss->ss_family, a, buf, INET6_ADDRSTRLEN);
}

static void test_hosts(void)
{
	static const char hosts[] =
		"127.0.0.1 localhost\n"
		"# 198.18.0.9 proxy.test\n"
		"198.18.0.2\tother.test   Proxy.Test. alias # comment proxy.test\n"
		"  fd00::2 proxy.test\n"
		"198.18.0.2 proxy.test\n" /* a duplicate */
		"fe80::1%eth0 proxy.test\n" /* scoped: skipped */
		"not-an-address proxy.test\n"
		"198.18.0.3 proxy.testx xproxy.test\n"
		"198.18.0.4"; /* no newline, no name */
	struct sockaddr_storage out[4];
	char b[INET6_ADDRSTRLEN];
	size_t n;

	n = lookup_parse_hosts(hosts, strlen(hosts), "proxy.test", out, 4);
	CHECK(n == 2);
	CHECK(n >= 1 && !strcmp(ip(&out[0], b), "198.18.0.2"));
	CHECK(n >= 2 && !strcmp(ip(&out[1], b), "fd00::2"));
	CHECK(lookup_parse_hosts(hosts, strlen(hosts), "PROXY.test.", out, 1) == 1);
	CHECK(lookup_parse_hosts(hosts, strlen(hosts), "nowhere.test", out, 4) == 0);
	CHECK(lookup_parse_hosts(hosts, strlen(hosts), "", out, 4) == 0);
	CHECK(lookup_parse_hosts("", 0, "proxy.test", out, 4) == 0);
}

static void test_hosts_long_line(void)
{
	size_t len = 5000;
	char *t = malloc(len);
	struct sockaddr_storage out[2];

	memset(t, ' ', len);
	memcpy(t, "198.18.0.2", 10);
	memcpy(t + len - 11, "proxy.test\n", 11);
	CHECK(lookup_parse_hosts(t, len, "proxy.test", out, 2) == 0); /* over-long: skipped */
	memset(t, 'a', len); /* one huge token */
	CHECK(lookup_parse_hosts(t, len, "proxy.test", out, 2) == 0);
	free(t);
}

static void test_resolv(void)
{
	static const char conf[] =
		"# generated\n"
		"search example.test\n"
		"nameserver 127.0.0.53\n"
		"nameserver ::1\n"
		"nameserver\t198.18.0.53 ; trailing\n"
		"nameserver fd00::53\n"
		"nameserver 198.18.0.53\n" /* duplicate */
		"nameserverx 198.18.0.54\n"
		"options edns0\n"
		"nameserver bogus\n"
		"nameserver 198.18.0.55";
	struct sockaddr_storage out[8];
	char b[INET6_ADDRSTRLEN];
	size_t lo, n;

	n = lookup_parse_resolv(conf, strlen(conf), out, 8, &lo);
	CHECK(n == 3);
	CHECK(lo == 2);
	CHECK(n >= 1 && !strcmp(ip(&out[0], b), "198.18.0.53") &&
	      ntohs(((struct sockaddr_in *)&out[0])->sin_port) == 53);
	CHECK(n >= 2 && !strcmp(ip(&out[1], b), "fd00::53") &&
	      ntohs(((struct sockaddr_in6 *)&out[1])->sin6_port) == 53);
	CHECK(n >= 3 && !strcmp(ip(&out[2], b), "198.18.0.55"));
	CHECK(lookup_parse_resolv(conf, strlen(conf), out, 1, &lo) == 1);
	CHECK(lookup_parse_resolv("nameserver 127.0.0.1\n", 21, out, 8, &lo) == 0 && lo == 1);
}

/* An answer to name/qtype with a CNAME (ttl 30) and two records of qtype (ttl 120, 600). */
static size_t answer(uint16_t qtype, unsigned rcode, uint8_t *out, size_t max)
{
	static uint8_t qname[DNS_NAME_MAX], target[DNS_NAME_MAX];
	static const uint8_t a1[4] = { 198, 18, 0, 2 }, a2[4] = { 198, 18, 0, 3 };
	static const uint8_t b1[16] = { 0xfd, [15] = 2 };
	struct dns_question q = { .qtype = qtype, .qclass = DNS_C_IN };
	size_t ql, tl, len;
	struct dns_rr rr[3];
	char err[128];

	dns_name_from_text("proxy.test", qname, &ql);
	dns_name_from_text("real.test", target, &tl);
	memcpy(q.name, qname, ql);
	q.name_len = (uint8_t)ql;
	rr[0] = (struct dns_rr){ qname, ql, DNS_T_CNAME, DNS_C_IN, 30, target, (uint16_t)tl, 0 };
	rr[1] = (struct dns_rr){ target, tl, qtype, DNS_C_IN, 600,
				 qtype == DNS_T_A ? a1 : b1, qtype == DNS_T_A ? 4 : 16, 0 };
	rr[2] = (struct dns_rr){ target, tl, qtype, DNS_C_IN, 120,
				 qtype == DNS_T_A ? a2 : b1, qtype == DNS_T_A ? 4 : 16, 0 };
	struct dns_reply r = { .id = 7, .flags = DNS_F_RD | DNS_F_RA, .rcode = rcode, .q = &q,
			       .rr = { rr }, .n = { rcode ? 0 : 3 } };
	if (dns_write_reply(&r, out, max, &len, err, sizeof(err)) < 0)
		abort();
	return len;
}

/* lookup_parse_answer of msg[len], parsed first as lookup.c gets it; -1 when it does not
 * parse. */
static int parse_answer(const uint8_t *msg, size_t len, uint16_t qtype,
			struct sockaddr_storage *out, size_t max, size_t *n, uint32_t *ttl)
{
	struct dns_msg m;
	char err[128];

	if (dns_msg_parse(&m, msg, len, err, sizeof(err)) < 0)
		return -1;
	return lookup_parse_answer(&m, qtype, out, max, n, ttl);
}

static void test_answer(void)
{
	uint8_t msg[1024];
	struct sockaddr_storage out[8];
	char b[INET6_ADDRSTRLEN];
	size_t n = 0, len;
	uint32_t ttl = UINT32_MAX;

	len = answer(DNS_T_A, 0, msg, sizeof(msg));
	CHECK(parse_answer(msg, len, DNS_T_A, out, 8, &n, &ttl) == DNS_R_NOERROR);
	CHECK(n == 2 && ttl == 30);
	CHECK(n == 2 && !strcmp(ip(&out[0], b), "198.18.0.2") && !strcmp(ip(&out[1], b), "198.18.0.3"));
	/* AAAA: one address (a duplicate dropped), appended after the A ones */
	len = answer(DNS_T_AAAA, 0, msg, sizeof(msg));
	CHECK(parse_answer(msg, len, DNS_T_AAAA, out, 8, &n, &ttl) == DNS_R_NOERROR);
	CHECK(n == 3 && !strcmp(ip(&out[2], b), "fd00::2"));
	/* records of the other type are not taken */
	n = 0;
	len = answer(DNS_T_AAAA, 0, msg, sizeof(msg));
	CHECK(parse_answer(msg, len, DNS_T_A, out, 8, &n, &ttl) == DNS_R_NOERROR && n == 0);
	/* room for one */
	n = 0;
	len = answer(DNS_T_A, 0, msg, sizeof(msg));
	CHECK(parse_answer(msg, len, DNS_T_A, out, 1, &n, &ttl) == 0 && n == 1);
	n = 0;
	len = answer(DNS_T_A, DNS_R_NXDOMAIN, msg, sizeof(msg));
	CHECK(parse_answer(msg, len, DNS_T_A, out, 8, &n, &ttl) == DNS_R_NXDOMAIN && n == 0);
	CHECK(parse_answer(msg, len - 1, DNS_T_A, out, 8, &n, &ttl) == -1);
	CHECK(parse_answer(msg, 3, DNS_T_A, out, 8, &n, &ttl) == -1);
}

static void test_ttl_clamp(void)
{
	CHECK(resolve_clamp_ttl(0) == RESOLVE_TTL_MIN);
	CHECK(resolve_clamp_ttl(9) == 10);
	CHECK(resolve_clamp_ttl(10) == 10);
	CHECK(resolve_clamp_ttl(300) == 300);
	CHECK(resolve_clamp_ttl(3600) == 3600);
	CHECK(resolve_clamp_ttl(86400) == RESOLVE_TTL_MAX);
	CHECK(resolve_clamp_ttl(UINT32_MAX) == RESOLVE_TTL_MAX);
}

/* A backend that records its one lookup; the test answers it. */
struct fake {
	int starts, cancels;
	char host[256];
	resolve_done_fn done;
	void *done_arg;
	int handle;
};

static void *fake_start(void *ctx, const char *host, resolve_done_fn done, void *done_arg)
{
	struct fake *f = ctx;

	f->starts++;
	snprintf(f->host, sizeof(f->host), "%s", host);
	f->done = done;
	f->done_arg = done_arg;
	return &f->handle;
}

static void fake_cancel(void *ctx, void *handle)
{
	struct fake *f = ctx;

	(void)handle;
	f->cancels++;
}

struct got {
	int calls, err;
	struct sockaddr_storage addr;
};

static void got_cb(void *arg, int err, const struct sockaddr_storage *addr)
{
	struct got *g = arg;

	g->calls++;
	g->err = err;
	g->addr = *addr;
}

struct seen {
	int calls;
	uint32_t ttl;
	size_t n;
};

static void seen_cb(void *ctx, const char *host, const struct resolve_answer *ans)
{
	struct seen *s = ctx;

	(void)host;
	s->calls++;
	s->ttl = ans->ttl;
	s->n = ans->n;
}

static void set4(struct sockaddr_storage *ss, const char *a)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = AF_INET;
	inet_pton(AF_INET, a, &((struct sockaddr_in *)ss)->sin_addr);
}

static void test_resolver_backend(void)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct resolver *r = resolver_new(loop);
	struct fake f = { 0 };
	struct seen s = { 0 };
	struct got g = { 0 };
	struct resolve_req *req = NULL;
	struct sockaddr_storage out;
	struct resolve_answer ans = { .n = 2, .ttl = 5 };
	char b[INET6_ADDRSTRLEN];

	resolver_set_backend(r, fake_start, fake_cancel, &f);
	resolver_set_on_answer(r, seen_cb, &s);
	/* a literal never reaches the backend */
	CHECK(resolver_query(r, "198.18.0.9", 80, &out, got_cb, &g, &req) == 1 && f.starts == 0);
	CHECK(resolver_query(r, "proxy.test", 8388, &out, got_cb, &g, &req) == 0);
	CHECK(f.starts == 1 && !strcmp(f.host, "proxy.test") && g.calls == 0);
	set4(&ans.addr[0], "198.18.0.2");
	set4(&ans.addr[1], "198.18.0.3");
	f.done(f.done_arg, 0, &ans);
	CHECK(g.calls == 1 && g.err == 0 && !strcmp(ip(&g.addr, b), "198.18.0.2") &&
	      ntohs(((struct sockaddr_in *)&g.addr)->sin_port) == 8388);
	CHECK(s.calls == 1 && s.ttl == RESOLVE_TTL_MIN && s.n == 2); /* 5 s clamped */
	/* cached, every address kept: forget moves to the next, then to a new lookup */
	CHECK(resolver_query(r, "PROXY.test", 1, &out, got_cb, &g, &req) == 1 &&
	      !strcmp(ip(&out, b), "198.18.0.2"));
	resolver_forget(r, "proxy.test", &out);
	CHECK(resolver_query(r, "proxy.test", 1, &out, got_cb, &g, &req) == 1 &&
	      !strcmp(ip(&out, b), "198.18.0.3"));
	resolver_forget(r, "proxy.test", &g.addr); /* 198.18.0.2: gone already */
	CHECK(resolver_query(r, "proxy.test", 1, &out, got_cb, &g, &req) == 1);
	resolver_forget(r, "proxy.test", &out);
	CHECK(f.starts == 1);
	CHECK(resolver_query(r, "proxy.test", 1, &out, got_cb, &g, &req) == 0 && f.starts == 2);
	/* a failure is not cached and tells no one */
	f.done(f.done_arg, EAI_AGAIN, NULL);
	CHECK(g.calls == 2 && g.err == EAI_AGAIN && s.calls == 1);
	/* a cancelled query: the answer is still cached, no callback */
	CHECK(resolver_query(r, "proxy.test", 1, &out, got_cb, &g, &req) == 0 && f.starts == 3);
	resolver_cancel(req);
	ans.ttl = 99999;
	f.done(f.done_arg, 0, &ans);
	CHECK(g.calls == 2 && s.calls == 2 && s.ttl == RESOLVE_TTL_MAX);
	CHECK(resolver_query(r, "proxy.test", 1, &out, got_cb, &g, &req) == 1);
	/* unplugging the backend ends its lookups with EAI_AGAIN */
	CHECK(resolver_query(r, "other.test", 1, &out, got_cb, &g, &req) == 0 && f.starts == 4);
	resolver_set_backend(r, NULL, NULL, NULL);
	CHECK(f.cancels == 1 && g.calls == 3 && g.err == EAI_AGAIN);
	/* a backend that declines (ENOENT) hands over to getaddrinfo: not tested here (it
	 * would ask the machine's resolver) */
	resolver_free(r);
	ev_loop_destroy(loop);
}

/* getaddrinfo in worker threads: several at once each come back once on the loop, and a
 * resolver freed while its workers run joins them and calls nobody back. */
static void test_resolver_workers(void)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct resolver *r = resolver_new(loop);
	struct got g[6], late[3];
	struct resolve_req *req;
	struct sockaddr_storage out;
	int started = 0, calls = 0, errs = 0;

	memset(g, 0, sizeof(g));
	memset(late, 0, sizeof(late));
	for (int i = 0; i < 6; i++)
		started += resolver_query(r, "localhost", (uint16_t)(1000 + i), &out, got_cb, &g[i],
					  &req) == 0;
	CHECK(started == 6);
	for (int spin = 0; spin < 5000 && calls < 6; spin++) {
		ev_run(loop, EVRUN_NOWAIT);
		calls = 0;
		for (int i = 0; i < 6; i++)
			calls += g[i].calls;
		if (calls < 6)
			usleep(1000);
	}
	for (int i = 0; i < 6; i++) {
		CHECK(g[i].calls == 1);
		errs += g[i].err != 0;
		CHECK(g[i].err || net_port(&g[i].addr) == 1000 + i);
	}
	CHECK(errs == 0);
	/* cached now */
	CHECK(resolver_query(r, "localhost", 1, &out, got_cb, &g[0], &req) == 1);
	resolver_free(r);

	r = resolver_new(loop);
	for (int i = 0; i < 3; i++)
		CHECK(resolver_query(r, "localhost", 1, &out, got_cb, &late[i], &req) == 0);
	resolver_free(r);
	ev_run(loop, EVRUN_NOWAIT);
	CHECK(late[0].calls + late[1].calls + late[2].calls == 0);
	ev_loop_destroy(loop);
}

int main(void)
{
	RUN(test_hosts);
	RUN(test_hosts_long_line);
	RUN(test_resolv);
	RUN(test_answer);
	RUN(test_ttl_clamp);
	RUN(test_resolver_backend);
	RUN(test_resolver_workers);
	CHECK_EXIT();
}
