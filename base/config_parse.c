/* config_parse.c -- the text syntaxes inside config values (IP literals, CIDRs, IP:port,
 * host[:port], DNS names) and reading the files a config names (CIDR lists). Pure functions
 * over (pointer, length); nothing here knows YAML. */
#include "base/config_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/yaml_walk.h"

void *config_vec_grow(void *v, size_t n, size_t elem)
{
	size_t cap;

	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return v; /* capacity is max(4, next power of two >= n) */
	cap = n ? n * 2 : 4;
	if (cap < n || cap > SIZE_MAX / elem)
		return NULL;
	return realloc(v, cap * elem);
}

int config_read_file(const char *path, size_t max, bool regular_only, char **out, size_t *len)
{
	struct stat st;
	size_t cap, n = 0;
	char *buf = NULL;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0));
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	if (regular_only && !S_ISREG(st.st_mode)) {
		errno = ENOTSUP; /* see config_read_strerror */
		goto fail;
	}
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	for (;;) {
		ssize_t r;

		if (!buf || n + 1 >= cap) {
			size_t ncap = buf ? cap * 2 : cap;
			char *p;

			if (ncap > max + 1)
				ncap = max + 1;
			if (buf && ncap <= cap) {
				errno = EFBIG;
				goto fail;
			}
			p = realloc(buf, ncap);
			if (!p)
				goto fail;
			buf = p;
			cap = ncap;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return -1;
}

const char *config_read_strerror(int err)
{
	return err == ENOTSUP ? "not a regular file" : strerror(err);
}

static bool cidr_has_host_bits(const struct cidr *c)
{
	unsigned bytes = c->family == AF_INET ? 4 : 16, i;

	for (i = 0; i < bytes; i++) {
		unsigned lo = i * 8;
		uint8_t keep;

		if (c->prefix >= lo + 8)
			continue;
		keep = c->prefix <= lo ? 0 : (uint8_t)(0xffu << (8 - (c->prefix - lo)));
		if (c->addr[i] & (uint8_t)~keep)
			return true;
	}
	return false;
}

/* The common CIDR reader: "addr" or "addr/prefix". */
static int cidr_parse_text(const char *s, size_t len, bool need_prefix, bool host_bits_ok,
			   struct cidr *out)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash;
	size_t alen, plen, i;
	unsigned prefix = 0, max;

	memset(out, 0, sizeof(*out));
	if (memchr(s, '\0', len))
		return -1;
	slash = memchr(s, '/', len);
	alen = slash ? (size_t)(slash - s) : len;
	if (alen == 0 || alen >= sizeof(addr))
		return -1;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (memchr(addr, ':', alen)) {
		if (inet_pton(AF_INET6, addr, out->addr) != 1)
			return -1;
		out->family = AF_INET6;
		max = 128;
	} else {
		if (inet_pton(AF_INET, addr, out->addr) != 1)
			return -1;
		out->family = AF_INET;
		max = 32;
	}
	if (!slash) {
		out->prefix = (uint8_t)max;
		return need_prefix ? -1 : 0;
	}
	plen = len - alen - 1;
	if (plen == 0 || plen > 3)
		return -1;
	for (i = 0; i < plen; i++) {
		char c = slash[1 + i];

		if (c < '0' || c > '9')
			return -1;
		prefix = prefix * 10 + (unsigned)(c - '0');
	}
	if (prefix > max)
		return -1;
	out->prefix = (uint8_t)prefix;
	if (!host_bits_ok && cidr_has_host_bits(out))
		return -1;
	return 0;
}

int cidr_parse(const char *s, struct cidr *out)
{
	return cidr_parse_text(s, strlen(s), false, false, out);
}

int config_parse_cidr(const char *s, size_t len, bool host_bits_ok, struct cidr *out)
{
	return cidr_parse_text(s, len, false, host_bits_ok, out);
}

int config_parse_ip(const char *s, size_t len, struct cidr *out)
{
	if (memchr(s, '/', len))
		return -1;
	return cidr_parse_text(s, len, false, false, out);
}

int config_parse_iface(const char *s, size_t len, int family, struct cidr *out)
{
	if (cidr_parse_text(s, len, true, true, out) < 0)
		return -1;
	return out->family == family && out->prefix >= 1 ? 0 : -1;
}

/* A decimal port 1..65535 from exactly len bytes. */
static int port_parse(const char *s, size_t len, uint16_t *out)
{
	int64_t v;

	if (len > 5 || walk_parse_int(s, len, false, &v) < 0 || v < 1 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

int config_parse_listen(const char *s, size_t len, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *hs, *ps, *colon;
	size_t hlen, plen;
	uint16_t port;
	bool v6;

	if (memchr(s, '\0', len) || len == 0)
		return -1;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close || (size_t)(close - s) + 1 >= len || close[1] != ':')
			return -1;
		hs = s + 1;
		hlen = (size_t)(close - hs);
		ps = close + 2;
		v6 = true;
	} else {
		colon = memchr(s, ':', len);
		if (!colon || memchr(colon + 1, ':', len - (size_t)(colon - s) - 1))
			return -1;
		hs = s;
		hlen = (size_t)(colon - s);
		ps = colon + 1;
		v6 = false;
	}
	plen = len - (size_t)(ps - s);
	if (hlen == 0 || hlen >= sizeof(host) || port_parse(ps, plen, &port) < 0)
		return -1;
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -1;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		*sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -1;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		*sl = sizeof(*a);
	}
	return 0;
}

static bool is_label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* A DNS name without leading or trailing dot. */
static int domain_check(const char *s, size_t len, bool numeric_last_ok)
{
	size_t i, label = 0;
	bool digits = true;

	if (len == 0 || len > 253)
		return -1;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return -1;
			label = 0;
			digits = true;
			continue;
		}
		if (!is_label_char(c) || (label == 0 && c == '-') || ++label > 63)
			return -1;
		if (c < '0' || c > '9')
			digits = false;
	}
	if (label == 0 || s[len - 1] == '-')
		return -1;
	return !numeric_last_ok && digits ? -1 : 0;
}

int config_parse_domain(const char *s, size_t len, bool leading_dot, char *out, size_t outsize)
{
	size_t i;

	if (leading_dot && len > 0 && s[0] == '.') {
		s++;
		len--;
	}
	if (len > 1 && s[len - 1] == '.')
		len--;
	if (domain_check(s, len, true) < 0 || len >= outsize)
		return -1;
	for (i = 0; i < len; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	out[len] = '\0';
	return 0;
}

int config_parse_host(const char *s, size_t len, char *out, size_t outsize)
{
	struct cidr ip;

	if (memchr(s, '\0', len))
		return -1;
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
		if (config_parse_ip(s, len, &ip) < 0 || ip.family != AF_INET6)
			return -1;
	} else if (config_parse_ip(s, len, &ip) < 0) {
		size_t n = len > 1 && s[len - 1] == '.' ? len - 1 : len;

		if (domain_check(s, n, false) < 0)
			return -1;
	}
	if (len >= outsize)
		return -1;
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

int config_parse_host_port(const char *s, size_t len, uint16_t def_port, struct host_port *out)
{
	const char *colon;
	size_t hlen = len;

	out->port = def_port;
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close)
			return -1;
		hlen = (size_t)(close - s) + 1;
		if (hlen < len) {
			if (close[1] != ':' || port_parse(close + 2, len - hlen - 1, &out->port) < 0)
				return -1;
		}
		return config_parse_host(s, hlen, out->host, sizeof(out->host));
	}
	colon = memchr(s, ':', len);
	if (colon && !memchr(colon + 1, ':', len - (size_t)(colon - s) - 1)) {
		hlen = (size_t)(colon - s);
		if (port_parse(colon + 1, len - hlen - 1, &out->port) < 0)
			return -1;
	}
	/* two or more colons without brackets: a bare IPv6 literal, default port */
	return config_parse_host(s, hlen, out->host, sizeof(out->host));
}

int config_cidr_push(struct cidr_list *l, const struct cidr *c)
{
	struct cidr *v = config_vec_grow(l->v, l->n, sizeof(*v));

	if (!v)
		return -1;
	l->v = v;
	l->v[l->n++] = *c;
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

int config_load_cidr_file(const char *path, struct cidr_list *out, size_t *bad_line, char *bad,
			  size_t badsize)
{
	const size_t max = 64u << 20;
	size_t len, lineno = 0;
	char *data, *p, *end;

	if (config_read_file(path, max, true, &data, &len) < 0)
		return -1;
	for (p = data, end = data + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *e = nl ? nl : end, *hash;
		struct cidr c;

		lineno++;
		hash = memchr(p, '#', (size_t)(e - p));
		if (hash)
			e = hash;
		while (p < e && is_blank(*p))
			p++;
		while (e > p && is_blank(e[-1]))
			e--;
		if (e > p && cidr_parse_text(p, (size_t)(e - p), false, false, &c) < 0) {
			*bad_line = lineno;
			walk_quote(p, (size_t)(e - p), bad, badsize);
			free(data);
			return -2;
		}
		if (e > p && config_cidr_push(out, &c) < 0) {
			free(data);
			errno = ENOMEM;
			return -1;
		}
		p = nl ? nl + 1 : end;
	}
	free(data);
	return 0;
}
