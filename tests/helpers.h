/*
 * helpers.h: fixtures every unit test can use (linked into each of them by
 * se_add_test in CMakeLists.txt).
 *
 * Owns: the temporary-store fixture (a fresh directory under /tmp with a
 * store file in it, opened; closed and removed whole afterwards) and
 * writing a small input file, so no test file keeps its own copy.
 *
 * Never: reaches outside the directory it made, or leaves it behind when a
 * setup fails half-way.  May print (it is test code): a setup that fails
 * says why on stderr, since cmocka only sees -1.
 */
#ifndef SE_TEST_HELPERS_H
#define SE_TEST_HELPERS_H

#include "salesengine.h"

#include <stddef.h>
#include <stdint.h>

/* Makes a fresh directory /tmp/NAME_XXXXXX into dir[size]; 0, or -1 with
 * dir set to "" and the reason on stderr. */
int scratch_dir(char *dir, size_t size, const char *name);

/* Removes dir and everything under it (files and subdirectories, without
 * following symlinks); "" or a missing dir is nothing to do. */
void remove_tree(const char *dir);

/* The temporary store: scratch_dir(name), then DIR/DB_FILE opened as *st
 * (its path into db[db_size] when db is not NULL).  0, or -1 with nothing
 * left behind (*st NULL, dir "" and removed) and the reason on stderr. */
int scratch_store_open(const char *name, const char *db_file, char *dir, size_t dir_size, char *db,
                       size_t db_size, se_store **st);

/* Closes *st (NULL is fine; *st becomes NULL) and removes dir whole. */
void scratch_store_close(se_store **st, const char *dir);

/* Writes len bytes of data (NULs included) to path, replacing it; fails the
 * running test if it cannot. */
void write_bytes(const char *path, const void *data, size_t len);

/* Writes text to path, replacing it; fails the running test if it cannot. */
void write_file(const char *path, const char *text);

/* The next number of a xorshift64 sequence kept in *state (never 0): the
 * one generator the randomized tests share, each with its own seed, so a
 * failure repeats exactly. */
uint64_t test_rng_next(uint64_t *state);

/* A number below n (n > 0) from the same sequence. */
unsigned test_rng_below(uint64_t *state, unsigned n);

#endif
