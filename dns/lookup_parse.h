/* lookup_parse.h -- the pure parts of looking our own proxy server's name up (lookup.c):
 * /etc/hosts, the nameservers of /etc/resolv.conf, and the addresses and TTL of an answer.
 * All three read untrusted bytes through bounds and never allocate. */
#ifndef SNET_DNS_LOOKUP_PARSE_H
#define SNET_DNS_LOOKUP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct dns_msg;

/* hosts(5) text[0..len): the addresses of name (ASCII case-insensitive, a trailing dot on
 * either side ignored) in file order, duplicates dropped, at most max into out (port 0).
 * Lines longer than 1023 bytes, bad addresses and scoped IPv6 are skipped. The count. */
size_t lookup_parse_hosts(const char *text, size_t len, const char *name,
			  struct sockaddr_storage *out, size_t max);

/* resolv.conf(5) text[0..len): the `nameserver` addresses, port 53, at most max into out.
 * Loopback addresses (127/8, ::1) are skipped and counted into *loopback (they may be our
 * own capture, or a stub that forwards to it). The count. */
size_t lookup_parse_resolv(const char *text, size_t len, struct sockaddr_storage *out, size_t max,
			   size_t *loopback);

/* An answer to our A (qtype 1) or AAAA (28) question, parsed (dns_msg_parse): the answer
 * section's records of qtype appended to out[*n..max) (port 0, duplicates dropped) and
 * *ttl lowered to the smallest TTL of the answer section (CNAMEs included). Returns the
 * rcode. */
int lookup_parse_answer(const struct dns_msg *m, uint16_t qtype, struct sockaddr_storage *out,
			size_t max, size_t *n, uint32_t *ttl);

#endif
