/* domainset.c -- compact domain suffix sets and the block-list file reader (see
 * domainset.h). */
#include "base/domainset.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_TEXT 253

struct domainset {
	unsigned refs;
	bool sealed;
	unsigned char *arena; /* entries: one length byte, then the lowercased name */
	size_t alen, acap;
	uint32_t *off; /* entry offsets; sorted by (length, bytes) once sealed */
	size_t n, cap;
};

struct domainset *domainset_new(void)
{
	struct domainset *s = calloc(1, sizeof(*s));

	if (s)
		s->refs = 1;
	return s;
}

void domainset_ref(struct domainset *s)
{
	if (s)
		s->refs++;
}

void domainset_unref(struct domainset *s)
{
	if (!s || --s->refs > 0)
		return;
	free(s->arena);
	free(s->off);
	free(s);
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Checks a text name without its trailing dot: labels of 1..63 name characters. */
static bool name_valid(const char *p, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > NAME_MAX_TEXT)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!name_char((unsigned char)p[i]) || ++label > 63) {
			return false;
		}
	}
	return label > 0;
}

int domainset_add(struct domainset *s, const char *name, size_t len)
{
	if (len > 1 && name[len - 1] == '.')
		len--;
	if (!name_valid(name, len))
		return -1;
	if (s->sealed)
		return -2;
	if (s->alen + 1 + len > s->acap) {
		size_t cap = s->acap ? s->acap * 2 : 1 << 16;
		unsigned char *a;
		if (cap > UINT32_MAX) /* offsets are 32-bit: about 150 million names */
			return -2;
		a = realloc(s->arena, cap);
		if (!a)
			return -2;
		s->arena = a;
		s->acap = cap;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		uint32_t *o = reallocarray(s->off, cap, sizeof(*o));
		if (!o)
			return -2;
		s->off = o;
		s->cap = cap;
	}
	s->off[s->n++] = (uint32_t)s->alen;
	s->arena[s->alen++] = (unsigned char)len;
	for (size_t i = 0; i < len; i++)
		s->arena[s->alen++] = lower((unsigned char)name[i]);
	return 0;
}

static int entry_cmp(const unsigned char *a, const unsigned char *b)
{
	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	return memcmp(a + 1, b + 1, a[0]);
}

static int off_cmp(const void *x, const void *y, void *ctx)
{
	const unsigned char *arena = ctx;
	return entry_cmp(arena + *(const uint32_t *)x, arena + *(const uint32_t *)y);
}

int domainset_seal(struct domainset *s)
{
	unsigned char *a;
	size_t n = 0, alen = 0;

	if (s->sealed)
		return 0;
	if (s->n)
		qsort_r(s->off, s->n, sizeof(*s->off), off_cmp, s->arena);
	/* Rewrite the arena in sorted order without duplicates: no slack, and neighbours in
	 * the binary search sit close together. */
	a = malloc(s->alen ? s->alen : 1);
	if (!a)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		const unsigned char *e = s->arena + s->off[i];
		if (n && entry_cmp(a + s->off[n - 1], e) == 0)
			continue;
		memcpy(a + alen, e, (size_t)e[0] + 1);
		s->off[n++] = (uint32_t)alen;
		alen += (size_t)e[0] + 1;
	}
	free(s->arena);
	s->arena = a;
	s->alen = s->acap = alen;
	if (n < s->cap) {
		uint32_t *o = realloc(s->off, (n ? n : 1) * sizeof(*o));
		if (o) {
			s->off = o;
			s->cap = n ? n : 1;
		}
	}
	s->n = n;
	s->sealed = true;
	return 0;
}

/* Whether the lowercased text p[0..len) is an entry. */
static bool find(const struct domainset *s, const unsigned char *p, size_t len)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const unsigned char *e = s->arena + s->off[mid];
		int c = e[0] != len ? (e[0] < len ? -1 : 1) : memcmp(e + 1, p, len);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Tries text[0..len) and each suffix after a label boundary; starts[] holds the offsets
 * where labels begin. */
static bool match_suffixes(const struct domainset *s, const unsigned char *text, size_t len,
			   const size_t *starts, size_t nstarts)
{
	for (size_t i = 0; i < nstarts; i++)
		if (find(s, text + starts[i], len - starts[i]))
			return true;
	return false;
}

bool domainset_match_wire(const struct domainset *s, const uint8_t *name, size_t len)
{
	unsigned char text[256];
	size_t starts[128], ns = 0, t = 0, off = 0;

	if (!s || !s->n || !s->sealed || len < 2 || len > 255)
		return false;
	/* Lowercased text form, noting where each label starts. */
	while (off < len && name[off] != 0) {
		size_t l = name[off];
		if (l > 63 || off + 1 + l >= len || ns == 128)
			return false;
		if (t)
			text[t++] = '.';
		starts[ns++] = t;
		for (size_t i = 0; i < l; i++)
			text[t++] = lower(name[off + 1 + i]);
		off += l + 1;
	}
	return t > 0 && t <= NAME_MAX_TEXT && match_suffixes(s, text, t, starts, ns);
}

bool domainset_match_text(const struct domainset *s, const char *name, size_t len)
{
	unsigned char text[NAME_MAX_TEXT];
	size_t starts[128], ns = 0;

	if (!s || !s->n || !s->sealed)
		return false;
	if (len > 1 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > NAME_MAX_TEXT)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (i == 0 || name[i - 1] == '.') {
			if (ns == 128)
				return false;
			starts[ns++] = i;
		}
		text[i] = lower((unsigned char)name[i]);
	}
	return match_suffixes(s, text, len, starts, ns);
}

size_t domainset_count(const struct domainset *s)
{
	return s ? s->n : 0;
}

size_t domainset_bytes(const struct domainset *s)
{
	return s ? sizeof(*s) + s->acap + s->cap * sizeof(*s->off) : 0;
}

/* ---- block-list files ------------------------------------------------------------------ */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* An IPv4 or IPv6 literal, with an optional %scope ("fe80::1%lo0"). */
static bool is_address(const char *p, size_t len)
{
	char buf[INET6_ADDRSTRLEN + 16];
	unsigned char a[16];
	const char *pct = memchr(p, '%', len);

	if (pct)
		len = (size_t)(pct - p);
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, a) == 1 || inet_pton(AF_INET6, buf, a) == 1;
}

/* Names hosts files map to themselves that must never be blocked. */
static bool is_local_name(const char *p, size_t len)
{
	static const char *const local[] = { "localhost", "localhost.localdomain", "local",
					     "broadcasthost", "localdomain", NULL };

	if (len > 1 && p[len - 1] == '.')
		len--;
	if (len >= 4 && strncasecmp(p, "ip6-", 4) == 0)
		return true;
	for (size_t i = 0; local[i]; i++)
		if (strlen(local[i]) == len && strncasecmp(p, local[i], len) == 0)
			return true;
	return is_address(p, len);
}

static void quote(const char *p, size_t len, char *out, size_t outlen)
{
	size_t o = 0, i;

	for (i = 0; i < len && o + 8 < outlen; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
	}
	if (i < len)
		o += (size_t)snprintf(out + o, outlen - o, "...");
	out[o] = '\0';
}

/* One line (no newline). 0, -2 bad (col, msg set), -3 out of memory. */
static int load_line(struct domainset *s, const char *p, size_t len, size_t *col, char *msg,
		     size_t msglen)
{
	const char *tok[2] = { 0 }, *end = p + len, *hash = memchr(p, '#', len);
	size_t tlen[2] = { 0 }, ntok = 0;
	char q[80];
	int rc;

	if (hash)
		end = hash;
	for (const char *c = p; c < end && ntok < 2;) {
		while (c < end && is_blank(*c))
			c++;
		if (c == end)
			break;
		tok[ntok] = c;
		while (c < end && !is_blank(*c))
			c++;
		tlen[ntok] = (size_t)(c - tok[ntok]);
		ntok++;
	}
	if (ntok == 0)
		return 0;
	if (!is_address(tok[0], tlen[0])) {
		if (ntok > 1) {
			*col = (size_t)(tok[1] - p) + 1;
			snprintf(msg, msglen, "expected one domain name, or an address followed by "
				 "names (hosts format)");
			return -2;
		}
		rc = domainset_add(s, tok[0], tlen[0]);
		if (rc == -1) {
			*col = (size_t)(tok[0] - p) + 1;
			quote(tok[0], tlen[0], q, sizeof(q));
			snprintf(msg, msglen, "invalid domain name '%s'", q);
		}
		return rc == -2 ? -3 : rc < 0 ? -2 : 0;
	}
	if (ntok < 2) {
		*col = (size_t)(tok[0] - p) + 1;
		snprintf(msg, msglen, "address without a name (hosts format: ADDRESS NAME...)");
		return -2;
	}
	/* Hosts format: every name after the address. */
	for (const char *c = tok[1]; c < end;) {
		const char *t;
		while (c < end && is_blank(*c))
			c++;
		if (c == end)
			break;
		t = c;
		while (c < end && !is_blank(*c))
			c++;
		if (is_local_name(t, (size_t)(c - t)))
			continue;
		rc = domainset_add(s, t, (size_t)(c - t));
		if (rc == -2)
			return -3;
		if (rc < 0) {
			*col = (size_t)(t - p) + 1;
			quote(t, (size_t)(c - t), q, sizeof(q));
			snprintf(msg, msglen, "invalid domain name '%s'", q);
			return -2;
		}
	}
	return 0;
}

int domainset_load_file(struct domainset *s, const char *path, size_t *line, size_t *col,
			char *msg, size_t msglen)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0, e;

	*line = 0;
	*col = 0;
	if (!f)
		return -1;
	while ((n = getline(&buf, &cap, f)) >= 0) {
		++*line;
		if (n > 0 && buf[n - 1] == '\n')
			n--;
		if (memchr(buf, '\0', (size_t)n)) {
			*col = (size_t)((char *)memchr(buf, '\0', (size_t)n) - buf) + 1;
			snprintf(msg, msglen, "NUL byte in a text file");
			rc = -2;
			break;
		}
		rc = load_line(s, buf, (size_t)n, col, msg, msglen);
		if (rc < 0)
			break;
	}
	e = errno;
	if (rc == 0 && ferror(f)) {
		rc = -1;
		errno = e ? e : EIO;
	}
	free(buf);
	fclose(f);
	if (rc == -1)
		errno = e ? e : EIO;
	return rc;
}
