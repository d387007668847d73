/* names.c -- domain suffix sets (see names.h). */
#include "dns/names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "dns/msg.h"

struct entry {
	uint8_t len;
	uint8_t name[DNS_NAME_MAX];
};

struct dns_names {
	struct entry *v;
	size_t n;
};

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->name, y->name, x->len);
}

static void lower(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] >= 'A' && p[i] <= 'Z')
			p[i] = (uint8_t)(p[i] + 32);
}

struct dns_names *dns_names_new(const struct str_list *l, char *err, size_t errlen)
{
	struct dns_names *s = calloc(1, sizeof(*s));
	size_t i;

	if (!s || !(s->v = calloc(l->n ? l->n : 1, sizeof(*s->v)))) {
		free(s);
		snprintf(err, errlen, "dns: out of memory");
		return NULL;
	}
	for (i = 0; i < l->n; i++) {
		size_t len;
		/* Length labels are below 64, so lowercasing the whole wire form is safe. */
		if (dns_name_from_text(l->v[i], s->v[i].name, &len) < 0) {
			snprintf(err, errlen, "dns: invalid domain name '%s'", l->v[i]);
			dns_names_free(s);
			return NULL;
		}
		s->v[i].len = (uint8_t)len;
		lower(s->v[i].name, len);
	}
	s->n = l->n;
	qsort(s->v, s->n, sizeof(*s->v), entry_cmp);
	return s;
}

void dns_names_free(struct dns_names *s)
{
	if (!s)
		return;
	free(s->v);
	free(s);
}

bool dns_names_match(const struct dns_names *s, const uint8_t *name, size_t len)
{
	struct entry key;

	if (!s || !s->n || len == 0 || len > DNS_NAME_MAX)
		return false;
	/* Each suffix that starts at a label, the root excluded. */
	for (size_t off = 0; off < len && name[off] != 0; off += (size_t)name[off] + 1) {
		key.len = (uint8_t)(len - off);
		memcpy(key.name, name + off, key.len);
		lower(key.name, key.len);
		if (bsearch(&key, s->v, s->n, sizeof(*s->v), entry_cmp))
			return true;
	}
	return false;
}
