/*
 * helpers.c: the shared unit-test fixtures (helpers.h says what they owe).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int scratch_dir(char *dir, size_t size, const char *name)
{
	if (snprintf(dir, size, "/tmp/%s_XXXXXX", name) >= (int)size) {
		fprintf(stderr, "scratch_dir: name '%s' too long\n", name);
		dir[0] = '\0';
		return -1;
	}
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "scratch_dir: %s: %s\n", dir, strerror(errno));
		dir[0] = '\0';
		return -1;
	}
	return 0;
}

void remove_tree(const char *dir)
{
	DIR *d;
	struct dirent *e;
	struct stat sb;
	char path[1024];

	if (dir[0] == '\0' || (d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
			continue;
		if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			remove_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

int scratch_store_open(const char *name, const char *db_file, char *dir, size_t dir_size, char *db,
                       size_t db_size, se_store **st)
{
	char path[1024];
	se_error err = { 0 };

	*st = NULL;
	if (scratch_dir(dir, dir_size, name) != 0)
		return -1;
	snprintf(path, sizeof path, "%s/%s", dir, db_file);
	if (db != NULL && snprintf(db, db_size, "%s", path) >= (int)db_size) {
		fprintf(stderr, "scratch_store_open: %s does not fit %zu bytes\n", path, db_size);
		goto fail;
	}
	if (se_store_open(st, path, 0, &err) != SE_OK) {
		fprintf(stderr, "cannot open the store %s: %s\n", path, err.msg);
		goto fail;
	}
	return 0;
fail:
	se_store_close(*st);
	*st = NULL;
	remove_tree(dir);
	dir[0] = '\0';
	return -1;
}

void scratch_store_close(se_store **st, const char *dir)
{
	se_store_close(*st);
	*st = NULL;
	remove_tree(dir);
}

void write_bytes(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	if (fp == NULL)
		fail_msg("cannot write %s: %s", path, strerror(errno));
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

void write_file(const char *path, const char *text)
{
	write_bytes(path, text, strlen(text));
}

uint64_t test_rng_next(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

unsigned test_rng_below(uint64_t *state, unsigned n)
{
	return (unsigned)(test_rng_next(state) % n);
}
