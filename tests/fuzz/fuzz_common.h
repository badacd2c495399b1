/*
 * fuzz_common.h: what the fuzz targets share: a scratch directory in memory
 * (/dev/shm when there is one) and writing the input into a file there, for
 * the entry points that read files.
 *
 * Never: used by the library or the unit tests.
 */
#ifndef SE_FUZZ_COMMON_H
#define SE_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir_path[64];

/* The bundled adapters and Lua modules: those of this source tree, since a
 * fuzz build writes no pointer file beside its targets (core/paths.h) and
 * an adapter that cannot be found would fuzz nothing. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("SALESENGINE_DATA_DIR", SE_SOURCE_DIR "/scripts", 0);
	return 0;
}

/* Leaves nothing behind in /dev/shm when the run ends. */
static void fuzz_dir_remove(void)
{
	DIR *d = opendir(fuzz_dir_path);
	struct dirent *e;
	char path[512];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", fuzz_dir_path, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(fuzz_dir_path);
}

/* A directory of this process's own, made once. */
static const char *fuzz_dir(void)
{
	char *dir = fuzz_dir_path;

	if (dir[0] == '\0') {
		snprintf(dir, sizeof fuzz_dir_path, "%s/se_fuzz_%d",
		         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
		if (mkdir(dir, 0700) != 0) {
			perror(dir);
			abort();
		}
		atexit(fuzz_dir_remove);
	}
	return dir;
}

/* Writes data to dir/name and gives the path (a static buffer). */
static const char *fuzz_write(const char *name, const uint8_t *data, size_t size)
{
	static char path[256];
	FILE *fp;

	snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
	fp = fopen(path, "wb");
	if (fp == NULL || (size > 0 && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) {
		perror(path);
		abort();
	}
	return path;
}

#endif
