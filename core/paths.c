/*
 * paths.c: where the bundled files are (paths.h says which places, in what
 * order, and why).
 *
 * Owns: turning the program's own path into the places it looks, reading
 * the build tree's pointer file, and the process-wide answer.
 *
 * Never: compiles in a path of the source or build tree (the build tree is
 * found through a file beside the program, which an install leaves
 * behind), or prints.
 */
#include "paths.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *dir, const char *sub)
{
	char path[PATH_MAX + 32];
	struct stat sb;

	if (snprintf(path, sizeof path, "%s/%s", dir, sub) >= (int)sizeof path)
		return 0;
	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int has_bundle(const char *dir)
{
	return dir[0] != '\0' && is_dir(dir, "importers") && is_dir(dir, "lib");
}

/* Copies src into dst[size]; an over-long path becomes "" (not used) rather
 * than a truncated one that could name some other directory. */
static void set_dir(char *dst, size_t size, const char *src)
{
	if (strlen(src) >= size)
		src = "";
	memcpy(dst, src, strlen(src) + 1);
}

/* The directory part of path ("/a/b/c" -> "/a/b", "/c" -> "/", "c" -> "."). */
static void parent(char *out, size_t size, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t len;

	if (slash == NULL) {
		set_dir(out, size, ".");
		return;
	}
	len = slash == path ? 1 : (size_t)(slash - path);
	if (len >= size) {
		out[0] = '\0';
		return;
	}
	memcpy(out, path, len);
	out[len] = '\0';
}

/* The first line of BINDIR/salesengine-data-dir; a relative path in it is
 * taken from BINDIR, so a build tree moved with its sources still works. */
static void read_pointer(se_data_place *p, const char *bindir)
{
	char file[PATH_MAX + 32], line[PATH_MAX];
	FILE *f;
	size_t len;

	p->absent = "no " SE_DATA_DIR_POINTER " file beside the program";
	if (snprintf(file, sizeof file, "%s/%s", bindir, SE_DATA_DIR_POINTER) >= (int)sizeof file ||
	    (f = fopen(file, "r")) == NULL)
		return;
	if (fgets(line, sizeof line, f) == NULL)
		line[0] = '\0';
	fclose(f);
	len = strcspn(line, "\r\n");
	line[len] = '\0';
	p->absent = "empty " SE_DATA_DIR_POINTER " file";
	if (len == 0)
		return;
	if (line[0] == '/')
		set_dir(p->dir, sizeof p->dir, line);
	else if (snprintf(p->dir, sizeof p->dir, "%s/%s", bindir, line) >= (int)sizeof p->dir)
		p->dir[0] = '\0';
}

void se_paths_resolve(se_data_dirs *d, const char *env, const char *exe)
{
	static const char *const what[SE_N_PLACES] = { ("$" SE_DATA_DIR_ENV), "installed", "build tree" };
	char bindir[PATH_MAX], prefix[PATH_MAX];
	const char *use;

	memset(d, 0, sizeof *d);
	for (int i = 0; i < SE_N_PLACES; i++)
		d->place[i].what = what[i];

	d->place[SE_PLACE_ENV].absent = "not set";
	if (env != NULL && env[0] != '\0')
		set_dir(d->place[SE_PLACE_ENV].dir, PATH_MAX, env);

	bindir[0] = '\0';
	if (exe != NULL && exe[0] != '\0')
		parent(bindir, sizeof bindir, exe);
	d->place[SE_PLACE_INSTALLED].absent = "the program's own path is unknown";
	d->place[SE_PLACE_BUILD].absent = d->place[SE_PLACE_INSTALLED].absent;
	if (bindir[0] != '\0') {
		parent(prefix, sizeof prefix, bindir);
		/* "/bin/salesengine" has the prefix "/", not "//". */
		if (snprintf(d->place[SE_PLACE_INSTALLED].dir, PATH_MAX, "%s/share/salesengine",
		             strcmp(prefix, "/") == 0 ? "" : prefix) >= PATH_MAX)
			d->place[SE_PLACE_INSTALLED].dir[0] = '\0';
		read_pointer(&d->place[SE_PLACE_BUILD], bindir);
	}

	d->chosen = -1;
	for (int i = 0; i < SE_N_PLACES; i++)
		d->place[i].found = has_bundle(d->place[i].dir);
	if (d->place[SE_PLACE_ENV].dir[0] != '\0')
		d->chosen = SE_PLACE_ENV;
	for (int i = 0; i < SE_N_PLACES && d->chosen < 0; i++)
		if (d->place[i].found)
			d->chosen = i;

	use = d->chosen >= 0 ? d->place[d->chosen].dir : d->place[SE_PLACE_INSTALLED].dir;
	if (use[0] == '\0')
		use = "share/salesengine"; /* nothing known: at least not "/importers" */
	set_dir(d->data, sizeof d->data, use);
	snprintf(d->importers, sizeof d->importers, "%s/importers", d->data);
	snprintf(d->lib, sizeof d->lib, "%s/lib", d->data);
}

static se_data_dirs process_dirs;
static pthread_once_t process_once = PTHREAD_ONCE_INIT;

static void resolve_process(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	exe[n > 0 ? n : 0] = '\0';
	se_paths_resolve(&process_dirs, getenv(SE_DATA_DIR_ENV), exe);
}

const se_data_dirs *se_paths(void)
{
	pthread_once(&process_once, resolve_process);
	return &process_dirs;
}

const char *se_paths_importers(void)
{
	return se_paths()->importers;
}

const char *se_paths_lib(void)
{
	return se_paths()->lib;
}
