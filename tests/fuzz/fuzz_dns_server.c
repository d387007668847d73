/* fuzz_dns_server.c -- libFuzzer target for the resolver's input side. The first byte picks
 * what the rest is:
 *   even: a client query, handed to a resolver (dns/server.c) with hosts, block-domains,
 *         disable-qtypes and a cache; every reply it gives must parse, carry the query's
 *         ID, and have QR set. Queries that reach the upstreams stay in flight (the loop
 *         never runs) until the resolver is rebuilt every 4096 inputs.
 *   odd:  an upstream's answer, checked by dns_up_match, parsed once and fitted to an EDNS
 *         and a plain client (dns/answer.c), and stripped of its OPT as the cache keeps it
 *         and fitted again without a parse; a fitted answer must parse and fit its size,
 *         and the stripped one's view must be what the parser says of its bytes. */
#include <ev.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "relay/relay.h"
#include "base/resolve.h"
#include "dns/answer.h"
#include "dns/msg.h"
#include "dns/server.h"
#include "dns/upstream.h"
#include "tests/unit/dns_view.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(x)                          \
	do {                               \
		if (!(x))                  \
			__builtin_trap();  \
	} while (0)

static const char conf[] = "mode: redirect\n"
			   "proxy: {type: direct}\n"
			   "rules: {block-domains: [ads.test], bypass-domains: [dom.test]}\n"
			   "dns:\n"
			   "  listen: 127.0.0.1:%u\n"
			   "  domestic: [127.0.0.1:9]\n"
			   "  foreign: [127.0.0.1:9]\n"
			   "  hosts: {myhost.test: [198.18.9.9, 'fd00::9']}\n"
			   "  disable-qtypes: [13]\n";

static struct ev_loop *loop;
static struct resolver *res;
static struct relay *relay;
static struct config cfg;
static struct dns_server *srv;
static unsigned runs;
static uint16_t want_id;

static void on_reply(void *ctx, const struct dns_client *c, const uint8_t *msg, size_t len)
{
	struct dns_msg m;
	char err[256];

	(void)ctx;
	ASSERT(len >= DNS_HEADER_LEN && len <= (c->tcp ? 65535u : 65535u));
	ASSERT(dns_msg_parse(&m, msg, len, err, sizeof(err)) == 0);
	ASSERT(m.id == want_id && (m.flags & DNS_F_QR));
}

static void setup(void)
{
	char err[1024], text[sizeof(conf) + 16];
	int n;

	if (loop)
		return;
	loop = ev_default_loop(0);
	res = resolver_new(loop);
	/* A port of our own, so parallel runs do not collide. */
	n = snprintf(text, sizeof(text), conf, 20000u + (unsigned)getpid() % 40000u);
	if (config_load_buffer("fuzz.yaml", text, (size_t)n, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	relay = relay_new(loop, res, &cfg, err, sizeof(err));
	if (!res || !relay)
		abort();
}

static void fuzz_query(const uint8_t *q, size_t len, bool tcp)
{
	struct dns_client c = { .tcp = tcp };
	char err[1024];

	if (!srv || ++runs % 4096 == 0) {
		dns_server_free(srv);
		srv = dns_server_new(loop, res, relay, &cfg, err, sizeof(err));
		if (!srv)
			abort();
	}
	want_id = len >= 2 ? (uint16_t)(q[0] << 8 | q[1]) : 0;
	dns_server_query(srv, q, len, &c, on_reply, NULL);
}

static void fuzz_answer(const uint8_t *a, size_t len, uint16_t max)
{
	static uint8_t out[65535], plain[65535];
	struct dns_question qq = { .qtype = DNS_T_A, .qclass = DNS_C_IN };
	struct dns_edns e = { .present = true, .udp_size = 1232 };
	uint8_t qb[512];
	struct dns_msg q, m, ans, p;
	size_t qn, n, olen;
	char err[256];
	int stripped;

	if (dns_name_from_text("www.example.com", qq.name, &n) < 0)
		abort();
	qq.name_len = (uint8_t)n;
	(void)dns_up_match(a, len, 0x4242, &qq, &m);
	if (dns_msg_parse(&ans, a, len, err, sizeof(err)) < 0)
		return;
	stripped = dns_answer_strip_opt(&ans, plain, &p);
	if (stripped == 0)
		ASSERT(dns_view_is_parse(&p) && !p.edns.present);
	for (int k = 0; k < 2; k++) {
		size_t lim = max < 512 ? 512 : max;
		if (dns_write_query(0x4242, DNS_F_RD, &qq, k ? &e : NULL, qb, sizeof(qb), &qn, err,
				    sizeof(err)) < 0 ||
		    dns_msg_parse(&q, qb, qn, err, sizeof(err)) < 0)
			abort();
		if (dns_answer_fit(&ans, &q, lim, out, &olen) == 0) {
			ASSERT(olen <= lim);
			ASSERT(dns_msg_parse(&m, out, olen, err, sizeof(err)) == 0);
			ASSERT(!k ? !m.edns.present : 1);
		}
		if (stripped == 0 && dns_answer_fit_plain(&p, &q, lim, out, &olen) == 0) {
			ASSERT(olen <= lim);
			ASSERT(dns_msg_parse(&m, out, olen, err, sizeof(err)) == 0);
			ASSERT(k || !m.edns.present);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	setup();
	if (data[0] & 1)
		fuzz_answer(data + 3, size - 3, (uint16_t)(data[1] << 8 | data[2]));
	else
		fuzz_query(data + 1, size - 1, data[0] & 2);
	return 0;
}
