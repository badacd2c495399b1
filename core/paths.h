/*
 * paths.h: where the bundled files are (adapters and Lua modules).
 *
 * Owns: the answer to "which directory holds importers/ and lib/?", found
 * at run time from where the running program is, so an installed copy works
 * wherever its prefix is moved and no source path is compiled in.  The
 * places, first found wins:
 *
 *   1. $SALESENGINE_DATA_DIR, when set and not empty: used as given, found
 *      or not (an explicit choice is never second-guessed);
 *   2. PREFIX/share/salesengine, for a program at PREFIX/bin/salesengine
 *      (from /proc/self/exe, so symlinks to the program do not matter);
 *   3. the build tree: a file "salesengine-data-dir" next to the program,
 *      whose first line names the directory (the build writes it; an
 *      install never copies it).
 *
 * A place is found when it has both importers/ and lib/ directories.  With
 * none found, the installed place (2) is used, so messages name where the
 * files were expected.
 *
 * Never: prints, or reads anything but the environment, /proc/self/exe and
 * the pointer file.  The process-wide answer is computed once, on first use.
 */
#ifndef SE_PATHS_H
#define SE_PATHS_H

#include <limits.h>

#define SE_DATA_DIR_ENV "SALESENGINE_DATA_DIR"
#define SE_DATA_DIR_POINTER "salesengine-data-dir"

enum { SE_PLACE_ENV, SE_PLACE_INSTALLED, SE_PLACE_BUILD, SE_N_PLACES };

typedef struct se_data_place {
	const char *what;     /* "$SALESENGINE_DATA_DIR", "installed", "build tree" */
	char dir[PATH_MAX];   /* "" when the place does not apply */
	const char *absent;   /* when dir is "": why ("not set", "no salesengine-data-dir file") */
	int found;            /* dir has importers/ and lib/ */
} se_data_place;

typedef struct se_data_dirs {
	se_data_place place[SE_N_PLACES];
	int chosen;                    /* index into place[], or -1 when none was found */
	char data[PATH_MAX];           /* the directory used */
	char importers[PATH_MAX + 16]; /* data/importers */
	char lib[PATH_MAX + 16];       /* data/lib */
} se_data_dirs;

/* Fills *d from the variable's value env (NULL: unset) and the program's
 * own path exe (NULL or "": unknown).  Pure apart from looking at the file
 * system, so tests can call it with any inputs. */
void se_paths_resolve(se_data_dirs *d, const char *env, const char *exe);

/* The answer for this process (environment and /proc/self/exe), computed
 * once, thread-safe. */
const se_data_dirs *se_paths(void);

/* se_paths()->importers and ->lib. */
const char *se_paths_importers(void);
const char *se_paths_lib(void);

#endif
