/*
 * test_paths.c: where the bundled files are (core/paths.h): the order of
 * the places, what counts as found, the build tree's pointer file, and
 * that this test program (built in the build tree) finds this checkout's
 * scripts/.  Each case lays out a fake prefix in a scratch directory and
 * resolves with a given variable and program path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "helpers.h"
#include "paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef SE_SOURCE_DIR
#define SE_SOURCE_DIR "."
#endif

typedef struct fixture {
	char dir[64];
	char exe[256];         /* DIR/prefix/bin/salesengine (need not exist) */
	char share[256];       /* DIR/prefix/share/salesengine */
	se_data_dirs d;
} fixture;

static void make_dir(const char *dir, const char *sub)
{
	char path[512];

	snprintf(path, sizeof path, "%s/%s", dir, sub);
	assert_int_equal(mkdir(path, 0700), 0);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);

	if (f == NULL || scratch_dir(f->dir, sizeof f->dir, "test_paths") != 0) {
		free(f);
		return -1;
	}
	snprintf(f->exe, sizeof f->exe, "%s/prefix/bin/salesengine", f->dir);
	snprintf(f->share, sizeof f->share, "%s/prefix/share/salesengine", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	remove_tree(f->dir);
	free(f);
	return 0;
}

/* DIR/prefix/{bin, share/salesengine/importers, share/salesengine/lib}. */
static void install_layout(fixture *f, int with_lib)
{
	make_dir(f->dir, "prefix");
	make_dir(f->dir, "prefix/bin");
	make_dir(f->dir, "prefix/share");
	make_dir(f->dir, "prefix/share/salesengine");
	make_dir(f->dir, "prefix/share/salesengine/importers");
	if (with_lib)
		make_dir(f->dir, "prefix/share/salesengine/lib");
}

/* DIR/src/scripts/{importers,lib}, and the pointer file in prefix/bin. */
static void build_layout(fixture *f, const char *pointer_text)
{
	char path[512];

	make_dir(f->dir, "src");
	make_dir(f->dir, "src/scripts");
	make_dir(f->dir, "src/scripts/importers");
	make_dir(f->dir, "src/scripts/lib");
	snprintf(path, sizeof path, "%s/prefix/bin/" SE_DATA_DIR_POINTER, f->dir);
	write_file(path, pointer_text);
}

static void test_installed_prefix(void **state)
{
	fixture *f = *state;
	char want[512];

	install_layout(f, 1);
	se_paths_resolve(&f->d, NULL, f->exe);
	assert_int_equal(f->d.chosen, SE_PLACE_INSTALLED);
	assert_string_equal(f->d.data, f->share);
	snprintf(want, sizeof want, "%s/importers", f->share);
	assert_string_equal(f->d.importers, want);
	snprintf(want, sizeof want, "%s/lib", f->share);
	assert_string_equal(f->d.lib, want);
	assert_int_equal(f->d.place[SE_PLACE_INSTALLED].found, 1);
	assert_string_equal(f->d.place[SE_PLACE_ENV].what, "$SALESENGINE_DATA_DIR");
	assert_string_equal(f->d.place[SE_PLACE_ENV].dir, "");
	assert_string_equal(f->d.place[SE_PLACE_ENV].absent, "not set");
	assert_string_equal(f->d.place[SE_PLACE_BUILD].dir, "");
	assert_string_equal(f->d.place[SE_PLACE_BUILD].absent, "no salesengine-data-dir file beside the program");
}

/* The variable wins even over a complete installed prefix, and is used
 * even when it holds nothing (an explicit choice is not second-guessed). */
static void test_variable_wins(void **state)
{
	fixture *f = *state;
	char want[512];

	install_layout(f, 1);
	se_paths_resolve(&f->d, "/nowhere/data", f->exe);
	assert_int_equal(f->d.chosen, SE_PLACE_ENV);
	assert_int_equal(f->d.place[SE_PLACE_ENV].found, 0);
	assert_int_equal(f->d.place[SE_PLACE_INSTALLED].found, 1);
	assert_string_equal(f->d.importers, "/nowhere/data/importers");
	assert_string_equal(f->d.lib, "/nowhere/data/lib");
	/* Set but empty is unset. */
	se_paths_resolve(&f->d, "", f->exe);
	assert_int_equal(f->d.chosen, SE_PLACE_INSTALLED);
	snprintf(want, sizeof want, "%s/lib", f->share);
	assert_string_equal(f->d.lib, want);
}

/* Found means importers/ and lib/ both: without lib/ the installed place
 * is passed over for the build tree. */
static void test_incomplete_prefix_falls_to_build_tree(void **state)
{
	fixture *f = *state;
	char want[512];

	install_layout(f, 0);
	snprintf(want, sizeof want, "%s/src/scripts\n", f->dir);
	build_layout(f, want);
	se_paths_resolve(&f->d, NULL, f->exe);
	assert_int_equal(f->d.place[SE_PLACE_INSTALLED].found, 0);
	assert_int_equal(f->d.chosen, SE_PLACE_BUILD);
	snprintf(want, sizeof want, "%s/src/scripts", f->dir);
	assert_string_equal(f->d.data, want); /* the newline is not part of it */
	snprintf(want, sizeof want, "%s/src/scripts/lib", f->dir);
	assert_string_equal(f->d.lib, want);
}

/* A relative path in the pointer file is taken from the program's
 * directory; CRLF endings and later lines are ignored. */
static void test_relative_pointer(void **state)
{
	fixture *f = *state;
	char want[512];

	install_layout(f, 0);
	build_layout(f, "../../src/scripts\r\nsecond line\n");
	se_paths_resolve(&f->d, NULL, f->exe);
	assert_int_equal(f->d.chosen, SE_PLACE_BUILD);
	snprintf(want, sizeof want, "%s/prefix/bin/../../src/scripts", f->dir);
	assert_string_equal(f->d.data, want);
	assert_int_equal(f->d.place[SE_PLACE_BUILD].found, 1);
}

static void test_empty_pointer(void **state)
{
	fixture *f = *state;

	install_layout(f, 0);
	build_layout(f, "\n");
	se_paths_resolve(&f->d, NULL, f->exe);
	assert_string_equal(f->d.place[SE_PLACE_BUILD].dir, "");
	assert_string_equal(f->d.place[SE_PLACE_BUILD].absent, "empty salesengine-data-dir file");
	assert_int_equal(f->d.chosen, -1);
}

/* Nothing found: the installed place is named, so messages say where the
 * files were expected. */
static void test_nothing_found(void **state)
{
	fixture *f = *state;
	char want[512];

	se_paths_resolve(&f->d, NULL, f->exe);
	assert_int_equal(f->d.chosen, -1);
	assert_string_equal(f->d.data, f->share);
	snprintf(want, sizeof want, "%s/importers", f->share);
	assert_string_equal(f->d.importers, want);
	for (int i = 0; i < SE_N_PLACES; i++)
		assert_int_equal(f->d.place[i].found, 0);
}

static void test_program_at_the_root(void **state)
{
	se_data_dirs d;

	(void)state;
	se_paths_resolve(&d, NULL, "/salesengine");
	assert_string_equal(d.place[SE_PLACE_INSTALLED].dir, "/share/salesengine");
	se_paths_resolve(&d, NULL, "/usr/bin/salesengine");
	assert_string_equal(d.place[SE_PLACE_INSTALLED].dir, "/usr/share/salesengine");
}

static void test_program_path_unknown(void **state)
{
	se_data_dirs d;

	(void)state;
	se_paths_resolve(&d, NULL, NULL);
	assert_int_equal(d.chosen, -1);
	assert_string_equal(d.place[SE_PLACE_INSTALLED].dir, "");
	assert_string_equal(d.place[SE_PLACE_INSTALLED].absent, "the program's own path is unknown");
	assert_string_equal(d.place[SE_PLACE_BUILD].absent, "the program's own path is unknown");
	/* Never "/importers" at the root. */
	assert_string_equal(d.importers, "share/salesengine/importers");
	se_paths_resolve(&d, "/opt/data", "");
	assert_int_equal(d.chosen, SE_PLACE_ENV);
	assert_string_equal(d.lib, "/opt/data/lib");
}

/* A variable longer than a path can be is not used cut short. */
static void test_overlong_variable(void **state)
{
	char *big = malloc(PATH_MAX + 10);
	se_data_dirs d;

	(void)state;
	assert_non_null(big);
	memset(big, 'a', PATH_MAX + 9);
	big[0] = '/';
	big[PATH_MAX + 9] = '\0';
	se_paths_resolve(&d, big, "/usr/bin/salesengine");
	assert_string_equal(d.place[SE_PLACE_ENV].dir, "");
	assert_int_not_equal(d.chosen, SE_PLACE_ENV);
	free(big);
}

/* This program runs from the build tree: the pointer file the build wrote
 * beside it leads to this checkout's scripts/. */
static void test_this_build_tree(void **state)
{
	const se_data_dirs *d;

	(void)state;
	if (getenv(SE_DATA_DIR_ENV) != NULL && getenv(SE_DATA_DIR_ENV)[0] != '\0')
		skip();
	d = se_paths();
	assert_ptr_equal(se_paths(), d); /* computed once */
	assert_int_equal(d->chosen, SE_PLACE_BUILD);
	assert_string_equal(se_paths_lib(), SE_SOURCE_DIR "/scripts/lib");
	assert_string_equal(se_paths_importers(), SE_SOURCE_DIR "/scripts/importers");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_installed_prefix),
		T(test_variable_wins),
		T(test_incomplete_prefix_falls_to_build_tree),
		T(test_relative_pointer),
		T(test_empty_pointer),
		T(test_nothing_found),
		cmocka_unit_test(test_program_at_the_root),
		cmocka_unit_test(test_program_path_unknown),
		cmocka_unit_test(test_overlong_variable),
		cmocka_unit_test(test_this_build_tree),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
