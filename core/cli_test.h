/*
 * cli_test.h: `salesengine test FILE...` (core/cli_test.c), part of the
 * program, not of the core library.
 */
#ifndef SE_CLI_TEST_H
#define SE_CLI_TEST_H

/* argv[0] is "test"; returns the exit status. */
int se_cli_test_main(int argc, char **argv);

#endif
