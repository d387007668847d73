/* hash.h -- the one hash table and the one list of the project, both well-kept headers:
 * Debian's uthash (intrusive, <uthash.h>) keyed with SipHash-2-4 under a secret random
 * key, so chosen keys (DNS names, addresses) cannot flood a bucket; and glibc's
 * <sys/queue.h> (TAILQ) for lists. An out-of-memory uthash does not abort: the element
 * is just not added, and HASH_ADD_OK() says so. LRU_TOUCH is the one LRU step.
 *
 * Include this instead of <uthash.h>. */
#ifndef SNET_HASH_H
#define SNET_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

/* SipHash-2-4 of len bytes under the process's secret key (made at first use). */
uint32_t hash_keyed(const void *key, size_t len);

extern bool hash_oom; /* set when uthash could not grow; see HASH_ADD_OK */

#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = hash_keyed((keyptr), (keylen)))
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (hash_oom = true)
#include <uthash.h>

/* Runs one HASH_ADD* statement and sets the bool ok: true when the element went in.
 * (A statement, not an expression: uthash's HASH_ADD* are do { } while (0) blocks.) */
#define HASH_ADD_OK(ok, stmt)                                                                  \
	do {                                                                                   \
		hash_oom = false;                                                              \
		stmt;                                                                          \
		(ok) = !hash_oom;                                                              \
	} while (0)

/* Moves elm to the front of a TAILQ kept in use order (most recent first). */
#define LRU_TOUCH(head, elm, field)                                                            \
	do {                                                                                   \
		if (TAILQ_FIRST(head) != (elm)) {                                              \
			TAILQ_REMOVE(head, elm, field);                                        \
			TAILQ_INSERT_HEAD(head, elm, field);                                   \
		}                                                                              \
	} while (0)

#endif
