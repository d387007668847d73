/* fuzz_lookup.c -- libFuzzer target for the parsers behind our own name lookups
 * (dns/lookup_parse.c). The first byte picks the parser: /etc/hosts text (the name asked
 * is the first token of the input, so hits happen), /etc/resolv.conf text, or a DNS answer
 * whose A and AAAA records are collected. Every address returned must be one family with
 * a port of 0 or 53, the counts within their bounds, and the TTL never raised. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "dns/lookup_parse.h"
#include "dns/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(x)                          \
	do {                               \
		if (!(x))                  \
			__builtin_trap();  \
	} while (0)

static void check_addrs(const struct sockaddr_storage *v, size_t n, uint16_t port)
{
	for (size_t i = 0; i < n; i++) {
		ASSERT(v[i].ss_family == AF_INET || v[i].ss_family == AF_INET6);
		ASSERT(ntohs(((const struct sockaddr_in *)&v[i])->sin_port) == port);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage out[4];
	struct dns_msg m;
	size_t n = 0, lo;
	char name[64], err[128];
	uint32_t ttl = 1000;
	int rc;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: {
		size_t k = 0;
		const char *text = (const char *)data + 1;
		while (k < size - 1 && k < sizeof(name) - 1 && text[k] != ' ' && text[k] != '\n')
			k++;
		memcpy(name, text, k);
		name[k] = '\0';
		n = lookup_parse_hosts(text, size - 1, name, out, 4);
		ASSERT(n <= 4);
		check_addrs(out, n, 0);
		break;
	}
	case 1:
		n = lookup_parse_resolv((const char *)data + 1, size - 1, out, 4, &lo);
		ASSERT(n <= 4);
		check_addrs(out, n, 53);
		break;
	default:
		if (dns_msg_parse(&m, data + 1, size - 1, err, sizeof(err)) < 0)
			break;
		rc = lookup_parse_answer(&m, DNS_T_A, out, 4, &n, &ttl);
		ASSERT(rc >= 0 && rc <= 4095 && n <= 4);
		rc = lookup_parse_answer(&m, DNS_T_AAAA, out, 4, &n, &ttl);
		ASSERT(rc >= 0 && rc <= 4095 && n <= 4 && ttl <= 1000);
		check_addrs(out, n, 0);
		break;
	}
	return 0;
}
