/* lookup_parse.c -- /etc/hosts, /etc/resolv.conf and answer addresses (see lookup_parse.h). */
#include "dns/lookup_parse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "dns/msg.h"

#define LINE_MAX_LEN 1023
#define TOKEN_MAX 256

/* A line cursor over text[0..len): the next line without its newline, comments cut at
 * any of `comment`. false at the end. Over-long lines come back with *too_long set. */
struct lines {
	const char *p, *end;
};

static bool next_line(struct lines *l, const char *comment, const char **s, size_t *n,
		      bool *too_long)
{
	const char *nl, *c;

	if (l->p >= l->end)
		return false;
	nl = memchr(l->p, '\n', (size_t)(l->end - l->p));
	if (!nl)
		nl = l->end;
	*s = l->p;
	*n = (size_t)(nl - l->p);
	l->p = nl < l->end ? nl + 1 : l->end;
	*too_long = *n > LINE_MAX_LEN;
	for (c = *s; c < *s + *n; c++)
		if (strchr(comment, *c) && *c) {
			*n = (size_t)(c - *s);
			break;
		}
	return true;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* The next token of s[0..n) from *i into tok (NUL-terminated); false when none is left
 * or it does not fit (the rest of the line is then skipped). */
static bool next_token(const char *s, size_t n, size_t *i, char tok[TOKEN_MAX])
{
	size_t start, len;

	while (*i < n && is_space(s[*i]))
		(*i)++;
	start = *i;
	while (*i < n && !is_space(s[*i]) && s[*i])
		(*i)++;
	len = *i - start;
	if (!len || len >= TOKEN_MAX || (*i < n && !s[*i]))
		return false;
	memcpy(tok, s + start, len);
	tok[len] = '\0';
	return true;
}

static bool parse_addr(const char *tok, struct sockaddr_storage *ss, uint16_t port)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, tok, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		return true;
	}
	if (inet_pton(AF_INET6, tok, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		return true;
	}
	return false;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return !memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			       &((const struct sockaddr_in *)b)->sin_addr, 4);
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
}

/* Appends ss to out[*n..max) unless it is there already. */
static void add_unique(struct sockaddr_storage *out, size_t max, size_t *n,
		       const struct sockaddr_storage *ss)
{
	for (size_t i = 0; i < *n; i++)
		if (same_addr(&out[i], ss))
			return;
	if (*n < max)
		out[(*n)++] = *ss;
}

/* Names equal ignoring ASCII case and one trailing dot on either. */
static bool name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return la && la == lb && !strncasecmp(a, b, la);
}

size_t lookup_parse_hosts(const char *text, size_t len, const char *name,
			  struct sockaddr_storage *out, size_t max)
{
	struct lines l = { text, text + len };
	char tok[TOKEN_MAX];
	const char *s;
	size_t n, i, found = 0;
	bool too_long;

	while (next_line(&l, "#", &s, &n, &too_long)) {
		struct sockaddr_storage ss;
		i = 0;
		if (too_long || !next_token(s, n, &i, tok) || !parse_addr(tok, &ss, 0))
			continue;
		while (next_token(s, n, &i, tok))
			if (name_eq(tok, name)) {
				add_unique(out, max, &found, &ss);
				break;
			}
	}
	return found;
}

static bool loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr) ||
	       IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)ss)->sin6_addr) ||
	       IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

size_t lookup_parse_resolv(const char *text, size_t len, struct sockaddr_storage *out, size_t max,
			   size_t *loopback_n)
{
	struct lines l = { text, text + len };
	char tok[TOKEN_MAX];
	const char *s;
	size_t n, i, found = 0;
	bool too_long;

	*loopback_n = 0;
	while (next_line(&l, "#;", &s, &n, &too_long)) {
		struct sockaddr_storage ss;
		i = 0;
		if (too_long || !next_token(s, n, &i, tok) || strcmp(tok, "nameserver") != 0 ||
		    !next_token(s, n, &i, tok) || !parse_addr(tok, &ss, 53))
			continue;
		if (loopback(&ss)) {
			(*loopback_n)++;
			continue;
		}
		add_unique(out, max, &found, &ss);
	}
	return found;
}

int lookup_parse_answer(const struct dns_msg *m, uint16_t qtype, struct sockaddr_storage *out,
			size_t max, size_t *n, uint32_t *ttl)
{
	struct dns_rr_iter it;
	struct dns_rr rr;

	dns_rr_iter_init(&it, m);
	while (dns_rr_next(&it, &rr)) {
		struct sockaddr_storage ss = { 0 };
		if (rr.section != DNS_SEC_ANSWER || rr.rclass != DNS_C_IN)
			continue;
		if (rr.ttl < *ttl)
			*ttl = rr.ttl;
		if (rr.type != qtype)
			continue;
		if (qtype == DNS_T_A && rr.rdlen == 4) {
			ss.ss_family = AF_INET;
			memcpy(&((struct sockaddr_in *)&ss)->sin_addr, rr.rdata, 4);
		} else if (qtype == DNS_T_AAAA && rr.rdlen == 16) {
			ss.ss_family = AF_INET6;
			memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, rr.rdata, 16);
		} else {
			continue;
		}
		add_unique(out, max, n, &ss);
	}
	return (int)dns_msg_rcode(m);
}
