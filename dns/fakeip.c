/* fakeip.c -- the fake-IP pool (see fakeip.h): slot i is address range + 1 + i; a slot
 * holds one name, in a hash table by name (base/hash.h) and in an LRU list. */
#include "dns/fakeip.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/config.h"
#include "base/hash.h"

struct slot {
	UT_hash_handle hh; /* key: name[len]; in the table when hashed */
	TAILQ_ENTRY(slot) lru; /* most recent first; every used slot */
	bool used, hashed;
	uint8_t len;
	uint8_t name[DNS_NAME_MAX]; /* lowercased wire form */
};

struct fakeip {
	struct config_fake_ip cfg;
	struct slot *slots;
	size_t n, used; /* slots in the pool, slots handed out so far */
	struct slot *table;
	TAILQ_HEAD(slot_list, slot) lru;
};

struct fakeip *fakeip_new(const struct config_fake_ip *cfg)
{
	struct fakeip *f;
	uint64_t room = (uint64_t)1 << (32 - cfg->range.prefix);

	if (!(f = calloc(1, sizeof(*f))))
		return NULL;
	f->cfg = *cfg;
	TAILQ_INIT(&f->lru);
	/* Not the network's first and last address. */
	room = room > 2 ? room - 2 : 0;
	if (cfg->has_range6 && cfg->range6.prefix >= 96) {
		uint64_t r6 = ((uint64_t)1 << (128 - cfg->range6.prefix)) - 2;
		if (r6 < room)
			room = r6;
	}
	f->n = cfg->size < room ? cfg->size : (size_t)room;
	f->slots = calloc(f->n ? f->n : 1, sizeof(*f->slots));
	if (!f->slots) {
		fakeip_free(f);
		return NULL;
	}
	return f;
}

void fakeip_free(struct fakeip *f)
{
	if (!f)
		return;
	HASH_CLEAR(hh, f->table);
	free(f->slots);
	free(f);
}

bool fakeip_same(const struct fakeip *f, const struct config_fake_ip *cfg)
{
	return f && !memcmp(&f->cfg.range, &cfg->range, sizeof(cfg->range)) &&
	       f->cfg.has_range6 == cfg->has_range6 &&
	       (!cfg->has_range6 || !memcmp(&f->cfg.range6, &cfg->range6, sizeof(cfg->range6))) &&
	       f->cfg.size == cfg->size;
}

bool fakeip_has_v6(const struct fakeip *f)
{
	return f->cfg.has_range6;
}

static void slot_addrs(const struct fakeip *f, size_t i, uint8_t a4[4], uint8_t a6[16])
{
	uint32_t base = (uint32_t)f->cfg.range.addr[0] << 24 | (uint32_t)f->cfg.range.addr[1] << 16 |
			(uint32_t)f->cfg.range.addr[2] << 8 | f->cfg.range.addr[3];
	uint32_t a = base + 1 + (uint32_t)i;
	uint64_t off = i + 1;

	a4[0] = (uint8_t)(a >> 24);
	a4[1] = (uint8_t)(a >> 16);
	a4[2] = (uint8_t)(a >> 8);
	a4[3] = (uint8_t)a;
	if (!f->cfg.has_range6)
		return;
	memcpy(a6, f->cfg.range6.addr, 16);
	for (int k = 15; k >= 0 && off; k--) { /* add the offset to the low bits */
		unsigned v = a6[k] + (unsigned)(off & 0xFF);
		a6[k] = (uint8_t)v;
		off >>= 8;
		if (v > 0xFF)
			off++;
	}
}

/* The slot holding the name (key: lowercased into key[]), or NULL. */
static struct slot *lookup(struct fakeip *f, const uint8_t *name, size_t len, uint8_t *key)
{
	struct slot *s;

	dns_name_lower(name, len, key);
	HASH_FIND(hh, f->table, key, len, s);
	return s;
}

bool fakeip_known(struct fakeip *f, const uint8_t *name, size_t len)
{
	uint8_t key[DNS_NAME_MAX];
	struct slot *s;

	if (len > DNS_NAME_MAX || !(s = lookup(f, name, len, key)))
		return false;
	LRU_TOUCH(&f->lru, s, lru);
	return true;
}

void fakeip_assign(struct fakeip *f, const uint8_t *name, size_t len, uint8_t a4[4],
		   uint8_t a6[16])
{
	uint8_t key[DNS_NAME_MAX];
	struct slot *s;

	if (len > DNS_NAME_MAX)
		len = DNS_NAME_MAX;
	s = lookup(f, name, len, key);
	if (!s) {
		if (f->used < f->n) {
			s = &f->slots[f->used++];
		} else { /* the least recently used name gives its address up */
			s = TAILQ_LAST(&f->lru, slot_list);
			if (s->hashed)
				HASH_DEL(f->table, s);
		}
		if (s->used)
			TAILQ_REMOVE(&f->lru, s, lru);
		s->used = true;
		s->len = (uint8_t)len;
		memcpy(s->name, key, len);
		/* Out of memory: the name has these addresses now, just not the next time. */
		HASH_ADD_OK(s->hashed, HASH_ADD(hh, f->table, name, len, s));
		TAILQ_INSERT_HEAD(&f->lru, s, lru);
	} else {
		LRU_TOUCH(&f->lru, s, lru);
	}
	slot_addrs(f, (size_t)(s - f->slots), a4, a6);
}

static uint64_t low64(const uint8_t *a)
{
	uint64_t v = 0;

	for (int k = 8; k < 16; k++)
		v = v << 8 | a[k];
	return v;
}

/* The slot index of addr; -1 outside the ranges, -2 inside but past the pool. */
static long slot_of(const struct fakeip *f, int family, const uint8_t *addr)
{
	uint64_t off;

	if (family == AF_INET) {
		uint32_t a = (uint32_t)addr[0] << 24 | (uint32_t)addr[1] << 16 |
			     (uint32_t)addr[2] << 8 | addr[3];
		uint32_t b = (uint32_t)f->cfg.range.addr[0] << 24 | (uint32_t)f->cfg.range.addr[1] << 16 |
			     (uint32_t)f->cfg.range.addr[2] << 8 | f->cfg.range.addr[3];
		uint32_t m = ~0u << (32 - f->cfg.range.prefix);
		if ((a & m) != b)
			return -1;
		off = a - b;
	} else if (family == AF_INET6 && f->cfg.has_range6) {
		unsigned p = f->cfg.range6.prefix; /* 64..120: the pool is in the low half */
		uint64_t m = p == 64 ? 0 : ~(uint64_t)0 << (128 - p);
		if (memcmp(addr, f->cfg.range6.addr, 8) || (low64(addr) & m) != low64(f->cfg.range6.addr))
			return -1;
		off = low64(addr) - low64(f->cfg.range6.addr);
	} else {
		return -1;
	}
	if (off == 0 || off > f->n)
		return -2;
	return (long)(off - 1);
}

bool fakeip_contains(const struct fakeip *f, int family, const uint8_t *addr)
{
	return f && slot_of(f, family, addr) != -1;
}

int fakeip_name(struct fakeip *f, int family, const uint8_t *addr, char *host, size_t hostlen)
{
	long i = slot_of(f, family, addr);
	struct slot *s;
	char text[DNS_NAME_TEXT_MAX];
	size_t n;

	if (i == -1)
		return -1;
	if (i < 0 || (size_t)i >= f->used || !f->slots[i].used)
		return 1;
	s = &f->slots[i];
	if (dns_name_to_text(s->name, s->len, text) < 0)
		return 1;
	n = strlen(text);
	if (n > 1 && text[n - 1] == '.')
		text[--n] = 0;
	if (n + 1 > hostlen)
		return 1;
	memcpy(host, text, n + 1);
	LRU_TOUCH(&f->lru, s, lru);
	return 0;
}
