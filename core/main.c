/*
 * main.c: the salesengine command line.
 *
 * Owns: option parsing, the order of work (script, store, imports, report),
 * what goes to stdout (the report) and stderr (progress, rejected rows,
 * summaries, errors), and the exit status.  Everything else is a library
 * call through include/salesengine.h; this is the only file that exits.
 */
#include "cli_test.h"
#include "error.h"
#include "salesengine.h"
#include "i18n.h"
#include "paths.h"
#include "script.h"
#include "timeconv.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_DB "salesengine.db"

enum exit_status {
	EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_REJECTED = 3,
	/* --alerts: bits, so a cron job can tell both at once */
	EXIT_FIRING = 4, EXIT_RULE_FAILED = 8
};

#define MAX_IMPORTS 64

typedef struct cli {
	const char *db;
	const char *imports[MAX_IMPORTS];
	int n_imports;
	se_input_format input_format;
	int delimiter;
	const char *input_tz;
	se_output format;
	se_report_opts report;
	int check;
	int alerts;              /* 0: report; 1: announce alerts; 2: also list pending/firing */
	int allow_commands;
	int hook_timeout_ms;     /* --hook-timeout; 0: the default */
	int compare;   /* --compare: the compare report besides the others */
	int quiet;
	se_script_limits limits;
	const char *script;
	const char *adapter;       /* --import-with */
	const char *inputs[MAX_IMPORTS];
	int n_inputs;
	const char *encoding;
	const char *snapshot_time;
	const char *sync;          /* --sync CRM */
	int lang;                  /* se_lang; -1 until --lang or the locale decides */
	const char *output;        /* -o: the report goes to this file instead of stdout */
	int excel;                 /* --excel: CSV for Excel */
	int digest;                /* --report lists digest */
	int format_given;          /* --format was on the command line */
} cli;

/* What the digest reads besides leads by day (format/write_digest.c). */
#define DIGEST_NEEDS (SE_REPORT_LEADS | SE_REPORT_HANDLING | SE_REPORT_DIAGNOSTICS | \
                      SE_REPORT_VELOCITY | SE_REPORT_FORECAST | SE_REPORT_CHANNELS)
/* The page's sections when --report does not choose them. */
#define HTML_DEFAULT (SE_REPORT_CLASSIC | SE_REPORT_METRICS | DIGEST_NEEDS)

static const char *progname = "salesengine";

/* The import whose last commit is held open for the report's partial
 * counts: its summary line already counted those rows, so a release that
 * fails must say they were not stored after all. */
static struct {
	const char *file;
	int64_t rows;
} held_import;

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: %s [OPTION]... [RULES.lua]\n"
	        "  or:  %s [OPTION]... --import-with=ADAPTER INPUT... [RULES.lua]\n"
	        "Import CRM events into a SQLite store and report per-manager funnel metrics\n"
	        "defined by a Lua rules script.\n"
	        "\n"
	        "Store and import:\n"
	        "  -d, --db=FILE            database file (default: $SALESENGINE_DB or ./" DEFAULT_DB ")\n"
	        "  -i, --import=FILE        import events from FILE first (repeatable; - is stdin)\n"
	        "      --input-format=FMT   csv or jsonl (default: by extension, else csv)\n"
	        "      --delimiter=CHAR     CSV delimiter: ',' ';' or 'tab', of the imported files\n"
	        "                           (default: detect) and of CSV output (default ',')\n"
	        "      --input-tz=ZONE      zone of timestamps without an offset (default: the\n"
	        "                           script's input_timezone, else the adapter's, else UTC)\n"
	        "      --encoding=NAME      input encoding, e.g. cp1251 (default: UTF-8)\n"
	        "\n"
	        "Import through an adapter (docs/IMPORTERS.md):\n"
	        "      --import-with=ADAPTER  read the INPUT files (CRM API dumps or exports) with a\n"
	        "                           Lua adapter: a bundled one (amocrm, bitrix24, bluesales,\n"
	        "                           hubspot, pipedrive, two_table, wide) or a .lua path;\n"
	        "                           a last argument ending in .lua is the rules script\n"
	        "      --sync=CRM           fetch new data from the CRM's API (bluesales, amocrm,\n"
	        "                           bitrix24, pipedrive, hubspot) and import it through its\n"
	        "                           adapter; credentials from SALESENGINE_<CRM>_* variables\n"
	        "                           or ~/.config/salesengine/sync.conf (docs/IMPORTERS.md)\n"
	        "      --snapshot-time=TIME when the inputs were taken (default: the date in each\n"
	        "                           file name, at midnight in the input zone)\n"
	        "\n"
	        "Report:\n"
	        "  -f, --format=FMT         table (default), csv, json, prometheus, html (a page\n"
	        "                           with charts, opening with the digest) or xlsx\n"
	        "  -o, --output=FILE        write the report to FILE (replaced whole when done)\n"
	        "      --excel              CSV for Excel: UTF-8 BOM, CRLF; with --lang ru also ';'\n"
	        "                           and decimal commas\n"
	        "  -r, --report=LIST        comma-separated: leads,conversion,presale,sources,unknown,\n"
	        "                           handling,diagnostics,velocity,forecast,backtest,channels,\n"
	        "                           compare,metrics, or all (default: the first five and\n"
	        "                           metrics; the script's settings{reports}); digest: the\n"
	        "                           morning digest (table, html), first when others follow\n"
	        "      --compare            add compare: each period next to the previous one\n"
	        "      --spend=FILE         ad spend per source and month, CSV source,month,amount\n"
	        "  -p, --period=P           total, day, week or month (default: the script's, else total)\n"
	        "  -m, --mode=M             reached or touched, for every pair (default: per pair)\n"
	        "      --from=DATE          first local day, YYYY-MM-DD\n"
	        "      --to=DATE            last local day, inclusive\n"
	        "      --tz=ZONE            report zone, e.g. Europe/Moscow (default: the script's, else UTC)\n"
	        "      --funnel=NAME        only this funnel\n"
	        "      --as-of=TIME         'now' for open conversion windows (default: the clock)\n"
	        "      --recount            count every deal again, without the kept partial counts\n"
	        "                           (a check of them; docs/HACKING.md)\n"
	        "\n"
	        "Alerts (the script's rule{}s):\n"
	        "      --alerts[=all]       evaluate the rules instead of reporting; announce alerts\n"
	        "                           that start firing or resolve (all: also list pending and\n"
	        "                           still-firing ones); state is kept in the database\n"
	        "      --allow-commands     run the rules' command hooks (default: never)\n"
	        "      --hook-timeout=S     kill a command hook after S seconds (default %d)\n"
	        "\n"
	        "Script:\n"
	        "      --check              load and validate RULES.lua, print what it declares, exit\n"
	        "      --max-instructions=N Lua instructions per script call (default %u)\n"
	        "      --max-memory=MB      Lua memory in MiB (default %u)\n"
	        "      --max-seconds=S      wall-clock seconds per script call (default %g)\n"
	        "\n"
	        "      --lang=LANG          ru or en: words and numbers for people (default: from\n"
	        "                           LC_ALL, LC_MESSAGES or LANG; ru* is Russian)\n"
	        "  -q, --quiet              no progress line and no import summary\n"
	        "  -h, --help               show this help and exit\n"
	        "  -V, --version            show the version and where the bundled adapters and\n"
	        "                           Lua modules are looked for ($SALESENGINE_DATA_DIR), exit\n"
	        "\n"
	        "With --import and no RULES.lua, events are imported and nothing is reported.\n"
	        "Exit status: 0 ok, 1 failure, 2 bad usage, 3 done but some rows were rejected;\n"
	        "with --alerts, 4 is added when an alert is firing and 8 when a rule failed.\n"
	        "Rule tests: %s test RULES_TEST.lua... (docs/SCRIPTING.md)\n"
	        "Metrics: docs/METRICS.md; script API: docs/SCRIPTING.md.\n",
	        progname, progname, SE_ALERT_DEFAULT_HOOK_TIMEOUT_MS / 1000, SE_SCRIPT_DEFAULT_INSTRUCTIONS,
	        SE_SCRIPT_DEFAULT_MEMORY >> 20, SE_SCRIPT_DEFAULT_SECONDS, progname);
}

/* The version, and where the bundled adapters and Lua modules come from:
 * every place in the order tried, so a user can see why one was not used. */
static void print_version(void)
{
	const se_data_dirs *d = se_paths();

	printf("salesengine %s\n", SE_VERSION);
	printf("Bundled adapters and Lua modules (importers/ and lib/), in the order tried:\n");
	for (int i = 0; i < SE_N_PLACES; i++) {
		const se_data_place *p = &d->place[i];

		if (p->dir[0] == '\0')
			printf("  %-23s (%s)\n", p->what, p->absent);
		else
			printf("  %-23s %s%s\n", p->what, p->dir,
			       i == d->chosen ? (p->found ? " (used)" : " (used, but has no importers/ and lib/)")
			                      : p->found ? " (found)" : " (not found)");
	}
	if (d->chosen < 0)
		printf("None found: adapters must be given as .lua paths and require() finds only\n"
		       "modules beside the script; set $%s to a directory with importers/ and lib/.\n",
		       SE_DATA_DIR_ENV);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", progname);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", progname);
	return EXIT_USAGE;
}

static int pick(const char *arg, const char *const *names, int *out)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(arg, names[i]) == 0) {
			*out = i;
			return 0;
		}
	return -1;
}

static int parse_reports(const char *arg, unsigned *out, int *digest)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof buf, "%s", arg);
	*out = 0;
	*digest = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned bit;

		if (strcmp(tok, "digest") == 0) {
			*digest = 1;
			continue;
		}
		if (se_report_flag(tok, &bit) != SE_OK)
			return -1;
		*out |= bit;
	}
	return *out || *digest ? 0 : -1;
}

/* "--report takes leads,...,metrics or all; got '%s'" from the library's
 * list of reports. */
static int report_usage_error(const char *arg)
{
	char fmt[512];
	size_t n = (size_t)snprintf(fmt, sizeof fmt, "--report takes ");

	for (size_t i = 0; se_report_option(i) != NULL && n < sizeof fmt; i++)
		n += (size_t)snprintf(fmt + n, sizeof fmt - n, "%s%s", i ? "," : "", se_report_option(i));
	if (n < sizeof fmt)
		snprintf(fmt + n, sizeof fmt - n, ",digest or all; got '%%s'");
	return usage_error(fmt, arg);
}

static int parse_positive(const char *arg, unsigned long long *out)
{
	char *end;

	*out = strtoull(arg, &end, 10);
	return (*arg == '\0' || *end != '\0' || *out == 0 || arg[0] == '-') ? -1 : 0;
}

static int parse_option(cli *c, int opt, const char *arg)
{
	static const char *const formats[] = { "table", "csv", "json", "prometheus", "html", "xlsx", NULL };
	static const char *const periods[] = { "total", "day", "week", "month", NULL };
	static const char *const modes[] = { "reached", "touched", NULL };
	static const char *const inputs[] = { "csv", "jsonl", NULL };
	unsigned long long n;
	int i;

	switch (opt) {
	case 'd': c->db = arg; return 0;
	case 'i':
		if (c->n_imports == MAX_IMPORTS)
			return usage_error("at most %s --import options", "64");
		c->imports[c->n_imports++] = arg;
		return 0;
	case 1:
		if (pick(arg, inputs, &i) != 0)
			return usage_error("--input-format must be csv or jsonl, not '%s'", arg);
		c->input_format = i == 0 ? SE_INPUT_CSV : SE_INPUT_JSONL;
		return 0;
	case 2:
		if (strcmp(arg, "tab") == 0 || strcmp(arg, "\\t") == 0)
			c->delimiter = '\t';
		else if (strcmp(arg, ",") == 0 || strcmp(arg, ";") == 0)
			c->delimiter = arg[0];
		else
			return usage_error("--delimiter must be ',', ';' or 'tab', not '%s'", arg);
		return 0;
	case 3: c->input_tz = arg; return 0;
	case 'f':
		if (pick(arg, formats, &i) != 0)
			return usage_error("--format must be table, csv, json, prometheus, html or xlsx, not '%s'", arg);
		c->format = (se_output)i;
		c->format_given = 1;
		return 0;
	case 'r':
		if (parse_reports(arg, &c->report.reports, &c->digest) != 0)
			return report_usage_error(arg);
		return 0;
	case 'p':
		if (pick(arg, periods, &i) != 0)
			return usage_error("--period must be total, day, week or month, not '%s'", arg);
		c->report.period = (se_period)(SE_PERIOD_TOTAL + i);
		return 0;
	case 'm':
		if (pick(arg, modes, &i) != 0)
			return usage_error("--mode must be reached or touched, not '%s'", arg);
		c->report.mode = i == 0 ? SE_MODE_REACHED : SE_MODE_TOUCHED;
		return 0;
	case 4: c->report.from = arg; return 0;
	case 5: c->report.to = arg; return 0;
	case 6: c->report.timezone = arg; return 0;
	case 7: c->report.funnel = arg; return 0;
	case 8: {
		const char *why = NULL;

		if (se_time_parse(arg, strlen(arg), NULL, &c->report.as_of, &why) != SE_OK)
			return usage_error("--as-of: cannot read time '%s'", arg);
		return 0;
	}
	case 9: c->check = 1; return 0;
	case 22: c->report.spend_csv = arg; return 0;
	case 23: c->compare = 1; return 0;
	case 26: c->report.recount = 1; return 0;
	case 10:
		if (parse_positive(arg, &n) != 0)
			return usage_error("--max-instructions must be a positive number, not '%s'", arg);
		c->limits.instructions = n;
		return 0;
	case 11:
		if (parse_positive(arg, &n) != 0 || n > 65536)
			return usage_error("--max-memory must be a number of MiB (1-65536), not '%s'", arg);
		c->limits.memory = (size_t)n << 20;
		return 0;
	case 30:
	case 31: {
		char *end;
		double s = strtod(arg, &end);

		if (end == arg || *end != '\0' || !(s > 0 && s <= 3600))
			return usage_error(opt == 30 ? "--max-seconds must be a number of seconds (0-3600), not '%s'"
			                             : "--hook-timeout must be a number of seconds (0-3600), not '%s'",
			                   arg);
		if (opt == 30)
			c->limits.seconds = s;
		else
			c->hook_timeout_ms = (int)(s * 1000 + 0.5) > 0 ? (int)(s * 1000 + 0.5) : 1;
		return 0;
	}
	case 20:
		if (arg != NULL && strcmp(arg, "all") != 0)
			return usage_error("--alerts takes no value or 'all', not '%s'", arg);
		c->alerts = arg ? 2 : 1;
		return 0;
	case 21: c->allow_commands = 1; return 0;
	case 'q': c->quiet = 1; return 0;
	case 'o': c->output = arg; return 0;
	case 25: c->excel = 1; return 0;
	case 24: {
		se_lang l;

		if (se_lang_parse(arg, &l) != 0)
			return usage_error("--lang must be ru or en, not '%s'", arg);
		c->lang = (int)l;
		return 0;
	}
	case 12: c->adapter = arg; return 0;
	case 15: c->sync = arg; return 0;
	case 13: c->encoding = arg; return 0;
	case 14: {
		const char *why = NULL;
		int64_t t;

		if (se_time_parse(arg, strlen(arg), NULL, &t, &why) != SE_OK)
			return usage_error("--snapshot-time: cannot read time '%s'", arg);
		c->snapshot_time = arg;
		return 0;
	}
	default: return EXIT_USAGE;
	}
}

static int parse_args(cli *c, int argc, char **argv, int *done)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "import", required_argument, NULL, 'i' },
		{ "input-format", required_argument, NULL, 1 },
		{ "delimiter", required_argument, NULL, 2 },
		{ "input-tz", required_argument, NULL, 3 },
		{ "format", required_argument, NULL, 'f' },
		{ "report", required_argument, NULL, 'r' },
		{ "period", required_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'm' },
		{ "from", required_argument, NULL, 4 },
		{ "to", required_argument, NULL, 5 },
		{ "tz", required_argument, NULL, 6 },
		{ "funnel", required_argument, NULL, 7 },
		{ "as-of", required_argument, NULL, 8 },
		{ "check", no_argument, NULL, 9 },
		{ "spend", required_argument, NULL, 22 },
		{ "compare", no_argument, NULL, 23 },
		{ "recount", no_argument, NULL, 26 },
		{ "max-instructions", required_argument, NULL, 10 },
		{ "max-memory", required_argument, NULL, 11 },
		{ "max-seconds", required_argument, NULL, 30 },
		{ "hook-timeout", required_argument, NULL, 31 },
		{ "alerts", optional_argument, NULL, 20 },
		{ "allow-commands", no_argument, NULL, 21 },
		{ "quiet", no_argument, NULL, 'q' },
		{ "output", required_argument, NULL, 'o' },
		{ "excel", no_argument, NULL, 25 },
		{ "lang", required_argument, NULL, 24 },
		{ "import-with", required_argument, NULL, 12 },
		{ "encoding", required_argument, NULL, 13 },
		{ "snapshot-time", required_argument, NULL, 14 },
		{ "sync", required_argument, NULL, 15 },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int opt, rc;

	*done = 0;
	while ((opt = getopt_long(argc, argv, "d:i:f:r:p:m:o:qhV", longopts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			*done = 1;
			return EXIT_OK;
		}
		if (opt == 'V') {
			print_version();
			*done = 1;
			return EXIT_OK;
		}
		if (opt == '?')
			return usage_error("%s", "bad option");
		if ((rc = parse_option(c, opt, optarg)) != 0)
			return rc;
	}
	if (c->adapter != NULL) {
		/* The inputs, then the rules script if the last one is a .lua. */
		int last = argc;
		size_t len = optind < argc ? strlen(argv[argc - 1]) : 0;

		if (len > 4 && strcmp(argv[argc - 1] + len - 4, ".lua") == 0)
			c->script = argv[--last];
		for (; optind < last; optind++) {
			if (c->n_inputs == MAX_IMPORTS)
				return usage_error("at most %s input files", "64");
			c->inputs[c->n_inputs++] = argv[optind];
		}
		if (c->n_inputs == 0)
			return usage_error("--import-with %s: no input files (e.g. --import-with bluesales customers.json)", c->adapter);
	}
	if (optind < argc)
		c->script = argv[optind++];
	if (optind < argc)
		return usage_error("unexpected argument '%s' (one rules script at most)", argv[optind]);
	if (c->snapshot_time != NULL && c->adapter == NULL)
		return usage_error("%s goes with --import-with", "--snapshot-time");
	if (c->encoding != NULL && c->adapter == NULL && c->n_imports == 0)
		return usage_error("%s goes with --import or --import-with", "--encoding");
	if (c->compare)
		c->report.reports |= (c->report.reports ? 0 : SE_REPORT_DEFAULT) | SE_REPORT_COMPARE;
	if (c->sync != NULL && (c->adapter != NULL || c->n_imports > 0))
		return usage_error("%s", "--sync goes alone (not with --import or --import-with)");
	if (c->script == NULL && (c->check || (c->n_imports == 0 && c->adapter == NULL && c->sync == NULL)))
		return usage_error("%s", "a rules script is needed (e.g. scripts/example.lua)");
	return EXIT_OK;
}

static void print_reject(void *ud, const char *msg)
{
	(void)ud;
	fprintf(stderr, "%s\n", msg);
}

/* A message from the library that names no program: "salesengine: ..." */
static void print_message(void *ud, const char *msg)
{
	(void)ud;
	fprintf(stderr, "%s: %s\n", progname, msg);
}

/* What a script's print() says goes to stderr: stdout holds the report. */
static void print_script_output(void *ud, const char *text, size_t len)
{
	(void)ud;
	fwrite(text, 1, len, stderr);
}

/* The progress line of an import on a terminal, rewritten in place. */
static void print_progress(void *ud, const char *file, long long rows, double percent, int done)
{
	(void)ud;
	if (done)
		fprintf(stderr, "\r\033[K");
	else if (percent >= 0)
		fprintf(stderr, "\r%s: %lld rows, %.0f%%\033[K", file, rows, percent);
	else
		fprintf(stderr, "\r%s: %lld rows\033[K", file, rows);
	fflush(stderr);
}

/* One adapter run over all the inputs; one summary line. */
static int run_adapter(const cli *c, se_store *st, const se_tz *zone, int *rejected)
{
	se_import_opts o = { .delimiter = c->delimiter, .zone = zone, .on_reject = print_reject,
	                     .format = c->input_format, .encoding = c->encoding,
	                     .snapshot_time = c->snapshot_time };
	se_import_stats s;
	se_error err;
	int rc = se_import_with(st, c->adapter, c->inputs, c->n_inputs, &o, &c->limits, &s, &err);

	if ((!c->quiet || rc != SE_OK) && (rc == SE_OK || s.read > 0 || s.records > 0)) {
		fprintf(stderr, "%s", c->inputs[0]);
		for (int i = 1; i < c->n_inputs; i++)
			fprintf(stderr, " + %s", c->inputs[i]);
		fprintf(stderr, " (%s): records %lld, read %lld, imported %lld, duplicates %lld, rejected %lld\n",
		        c->adapter, (long long)s.records, (long long)s.read, (long long)s.imported,
		        (long long)s.duplicates, (long long)s.rejected);
	}
	if (s.rejected > 0)
		*rejected = 1;
	if (rc != SE_OK) {
		fprintf(stderr, "%s: %s\n", progname, err.msg);
		return err.code == SE_EUSAGE ? EXIT_USAGE : EXIT_FAIL;
	}
	return EXIT_OK;
}

static void print_note(void *ud, const char *msg)
{
	const cli *c = ud;

	if (!c->quiet)
		fprintf(stderr, "%s\n", msg);
}

/* One sync from a CRM's API; one summary line. */
static int run_sync(const cli *c, se_store *st, const se_tz *zone, int *rejected)
{
	se_import_opts o = { .zone = zone, .on_reject = print_reject };
	se_sync_opts so = { .crm = c->sync, .import = &o, .limits = &c->limits, .note = print_note, .ud = (void *)c };
	se_import_stats s;
	se_error err;
	int rc = se_sync(st, &so, &s, &err);

	if ((!c->quiet || rc != SE_OK) && (rc == SE_OK || s.read > 0 || s.records > 0))
		fprintf(stderr, "--sync %s: records %lld, read %lld, imported %lld, duplicates %lld, rejected %lld\n",
		        c->sync, (long long)s.records, (long long)s.read, (long long)s.imported,
		        (long long)s.duplicates, (long long)s.rejected);
	if (s.rejected > 0)
		*rejected = 1;
	if (rc != SE_OK) {
		fprintf(stderr, "%s: %s\n", progname, err.msg);
		return err.code == SE_EUSAGE ? EXIT_USAGE : EXIT_FAIL;
	}
	return EXIT_OK;
}

static int run_imports(const cli *c, se_store *st, const se_rules *rules, int *rejected)
{
	se_tz *zone = NULL;
	se_error err;
	int status = EXIT_OK;

	if (c->input_tz != NULL && se_tz_open(&zone, c->input_tz, &err) != SE_OK) {
		fprintf(stderr, "%s: --input-tz: %s\n", progname, err.msg);
		return EXIT_USAGE;
	}
	if (zone == NULL && rules != NULL && se_rules_input_timezone(rules) != NULL &&
	    se_tz_open(&zone, se_rules_input_timezone(rules), &err) != SE_OK) {
		fprintf(stderr, "%s: %s\n", progname, err.msg);
		return EXIT_FAIL;
	}
	for (int i = 0; i < c->n_imports; i++) {
		/* Given the rules, a report follows: the last file's last
		 * commit waits for the partial counts it keeps (release_import). */
		se_import_opts o = { .format = c->input_format, .delimiter = c->delimiter, .zone = zone,
		                     .on_progress = !c->quiet && isatty(STDERR_FILENO) ? print_progress : NULL,
		                     .on_reject = print_reject, .encoding = c->encoding,
		                     .columns = rules != NULL ? se_rules_columns(rules) : NULL,
		                     .hold_last = rules != NULL && i == c->n_imports - 1 && c->adapter == NULL &&
		                                  c->sync == NULL };
		se_import_stats s;
		int rc = se_import_file(st, c->imports[i], &o, &s, &err);

		if ((!c->quiet || rc != SE_OK) && (rc == SE_OK || s.read > 0))
			fprintf(stderr, "%s: read %lld, imported %lld, duplicates %lld, rejected %lld\n",
			        c->imports[i], (long long)s.read, (long long)s.imported,
			        (long long)s.duplicates, (long long)s.rejected);
		/* Most rows not UTF-8: the file is in another encoding, not a few
		 * bad cells. */
		if (c->encoding == NULL && s.not_utf8 > 0 && s.not_utf8 * 2 > s.read)
			fprintf(stderr, "%s: %lld of %lld rows are not valid UTF-8; if it is a Windows export,"
			        " try --encoding cp1251\n", c->imports[i], (long long)s.not_utf8,
			        (long long)s.read);
		if (s.rejected > 0)
			*rejected = 1;
		held_import.file = c->imports[i];
		held_import.rows = rc == SE_OK ? s.held : 0;
		if (rc != SE_OK) {
			fprintf(stderr, "%s: %s\n", progname, err.msg);
			status = EXIT_FAIL;
			break;
		}
	}
	if (status == EXIT_OK && c->adapter != NULL)
		status = run_adapter(c, st, zone, rejected);
	if (status == EXIT_OK && c->sync != NULL)
		status = run_sync(c, st, zone, rejected);
	se_tz_free(zone);
	return status;
}

static int release_held(se_store *st, se_error *err)
{
	int rc = se_store_release(st, err);

	if (rc != SE_OK && held_import.rows > 0)
		se_error_prefix(err, "%s: the last %lld row%s rolled back, not imported (import the file again)",
		                held_import.file, (long long)held_import.rows,
		                held_import.rows == 1 ? " was" : "s were");
	held_import.rows = 0;
	return rc;
}

/* Commits what the import left open (its last events and cache refresh)
 * with the partial counts the report build after it kept: one commit, so
 * no reader (and no kill) finds those events without their partials.
 * Events kept matter more than the build's error, so a failure here is
 * the one told.  A no-op when nothing is held. */
static int release_import(se_store *st, int rc, se_error *err)
{
	se_error rel;

	if (release_held(st, &rel) != SE_OK) {
		*err = rel;
		return rel.code;
	}
	return rc;
}

static int run_alerts(const cli *c, se_script *sc, se_store *st)
{
	se_alert_opts o = { .format = c->format, .allow_commands = c->allow_commands,
		                .all = c->alerts == 2, .language = c->lang, .on_message = print_message,
		                .hook_timeout_ms = c->hook_timeout_ms };
	se_alert_summary sum;
	se_report *rep = NULL;
	se_error err;
	int status = EXIT_OK;

	if (se_rules_alert_count(se_script_rules(sc)) == 0 && se_script_failed_files(sc, NULL) == 0) {
		fprintf(stderr, "%s: %s declares no rule{}: nothing to evaluate\n", progname, c->script);
		return EXIT_USAGE;
	}
	if (release_import(st, se_report_build(&rep, st, se_script_rules(sc), &c->report, &err), &err) != SE_OK ||
	    se_alerts_run(sc, st, rep, &o, stdout, &sum, &err) != SE_OK) {
		fprintf(stderr, "%s: %s\n", progname, err.msg);
		se_report_free(rep);
		return err.code == SE_EUSAGE ? EXIT_USAGE : EXIT_FAIL;
	}
	se_report_free(rep);
	if (!c->quiet)
		fprintf(stderr, "alerts: %d firing (%d new), %d pending, %d resolved, %d rule%s failed\n",
		        sum.firing, sum.fired, sum.pending, sum.resolved, sum.failed,
		        sum.failed == 1 ? "" : "s");
	if (sum.firing > 0)
		status |= EXIT_FIRING;
	if (sum.failed > 0)
		status |= EXIT_RULE_FAILED;
	return status;
}

static void print_warning(void *ud, const char *message)
{
	(void)ud;
	fprintf(stderr, "%s: warning: %s\n", progname, message);
}

/* A report alone writes nothing: the file is opened read-only, so a
 * read-only database can be reported on.  Only a history cache that is
 * behind the events (an import was killed) or corrupt needs writing: then
 * the report runs once more on a writable handle, which brings it up to
 * date (or says why it cannot). */
static int open_store(const cli *c, se_store **st, int readonly, se_error *err)
{
	int rc = se_store_open(st, c->db, readonly ? SE_STORE_READONLY : 0, err);

	if (rc != SE_OK && readonly) /* no file yet, or not made a store yet */
		rc = se_store_open(st, c->db, 0, err);
	if (rc == SE_OK)
		se_store_on_warning(*st, print_warning, NULL);
	return rc;
}

static int build_report(const cli *c, se_script *sc, const se_rules *rules, se_store **st,
                        int readonly, const se_report_opts *ro, se_report **rep, se_error *err)
{
	int rc = release_import(*st, se_report_build(rep, *st, rules, ro, err), err);

	if (rc == SE_EDB && readonly) {
		se_error first = *err;

		se_store_close(*st);
		*st = NULL;
		if ((rc = open_store(c, st, 0, err)) != SE_OK) {
			*err = first; /* the reason the read-only run gave is the useful one */
			return rc;
		}
		rc = se_report_build(rep, *st, rules, ro, err);
	}
	if (rc == SE_OK)
		rc = se_script_fill_metrics(sc, *rep, err);
	return rc;
}

/* The report to stdout, or with -o to FILE: written beside it first and
 * renamed over it when complete, so a page a web server shows or a file a
 * cron job mails is never seen half-written. */
static int write_report(const cli *c, const se_report *rep, const se_write_options *wo)
{
	char tmp[4096];
	FILE *out = stdout;
	se_error err;
	int rc;

	memset(&err, 0, sizeof err);
	if (c->output != NULL) {
		if (snprintf(tmp, sizeof tmp, "%s.tmp", c->output) >= (int)sizeof tmp) {
			fprintf(stderr, "%s: --output: file name too long\n", progname);
			return EXIT_USAGE;
		}
		if ((out = fopen(tmp, "wb")) == NULL) {
			fprintf(stderr, "%s: %s: %s\n", progname, tmp, strerror(errno));
			return EXIT_FAIL;
		}
	}
	rc = se_report_write_with(rep, out, c->format, wo, &err);
	if (c->output == NULL) {
		if (rc != SE_OK)
			fprintf(stderr, "%s: %s\n", progname, err.msg);
		return rc == SE_OK ? EXIT_OK : err.code == SE_EUSAGE ? EXIT_USAGE : EXIT_FAIL;
	}
	if (rc != SE_OK)
		fprintf(stderr, "%s: %s\n", progname, err.msg);
	if (fclose(out) != 0 && rc == SE_OK) {
		fprintf(stderr, "%s: %s: %s\n", progname, tmp, strerror(errno));
		rc = SE_EIO;
	}
	if (rc == SE_OK && rename(tmp, c->output) != 0) {
		fprintf(stderr, "%s: %s: %s\n", progname, c->output, strerror(errno));
		rc = SE_EIO;
	}
	if (rc != SE_OK) {
		remove(tmp);
		return err.code == SE_EUSAGE ? EXIT_USAGE : EXIT_FAIL;
	}
	return EXIT_OK;
}

/* settings{ reports, format, language } where the command line said
 * nothing, then the locale's language; then what only makes sense for
 * some formats. */
static int apply_defaults(cli *c, const se_rules *rules)
{
	se_script_defaults d = { 0, 0, -1, -1 };

	if (rules != NULL)
		se_rules_defaults(rules, &d);
	if (c->report.reports == 0 && !c->digest && (d.reports != 0 || d.digest)) {
		c->report.reports = d.reports;
		c->digest = d.digest;
		if (c->compare)
			c->report.reports |= SE_REPORT_COMPARE;
	}
	if (!c->format_given && d.format >= 0)
		c->format = (se_output)d.format;
	if (c->lang < 0)
		c->lang = d.language >= 0 ? d.language
		          : (int)se_lang_from_locale(getenv("LC_ALL"), getenv("LC_MESSAGES"), getenv("LANG"));
	if (c->digest && c->format != SE_OUTPUT_TABLE && c->format != SE_OUTPUT_HTML)
		return usage_error("%s is for --format table or html", "--report digest");
	if (c->excel && c->format != SE_OUTPUT_CSV)
		return usage_error("%s goes with --format csv", "--excel");
	return EXIT_OK;
}

/* --check runs every metric and rule once over an empty store, so a
 * misspelt stage, pair or metric name fails now, with its line, not on the
 * day the data first reaches it.  Returns the number of failures. */
static int check_early(const cli *c, se_script *sc)
{
	se_store *st = NULL;
	se_report *rep = NULL;
	se_rule_result *res = NULL;
	size_t n = 0;
	se_error err;
	int failed = 0;

	if (se_store_open(&st, ":memory:", 0, &err) != SE_OK ||
	    se_report_build(&rep, st, se_script_rules(sc), &c->report, &err) != SE_OK ||
	    se_script_check(sc, rep, &res, &n, &err) != SE_OK) {
		fprintf(stderr, "%s: %s\n", progname, err.msg);
		failed = 1;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%s: %s\n", progname, res[i].message);
	failed = (int)n;
out:
	free(res);
	se_report_free(rep);
	se_store_close(st);
	return failed;
}

static int run(cli *c)
{
	se_script *sc = NULL;
	se_store *st = NULL;
	se_report *rep = NULL, *daily = NULL;
	se_firing_alert *firing = NULL;
	const se_rules *rules = NULL;
	se_report_opts ro;
	se_write_options wo;
	se_error err;
	int status = EXIT_FAIL, rejected = 0, readonly;

	if (c->script != NULL) {
		if (se_script_load(&sc, c->script, &c->limits, &err) != SE_OK) {
			fprintf(stderr, "%s: %s\n", progname, err.msg);
			return EXIT_FAIL;
		}
		rules = se_script_rules(sc);
		if (c->check) {
			int failed = se_script_failed_files(sc, &err);

			if (failed > 0)
				fprintf(stderr, "%s: rules file: %s (%d rules file%s failed to load)\n", progname,
				        err.msg, failed, failed == 1 ? "" : "s");
			failed += check_early(c, sc);
			if (failed == 0)
				printf("%s: ok\n", c->script);
			se_rules_describe(rules, stdout);
			se_script_free(sc);
			return failed > 0 ? EXIT_FAIL : EXIT_OK;
		}
	}
	if ((status = apply_defaults(c, rules)) != EXIT_OK) {
		se_script_free(sc);
		return status;
	}
	ro = c->report;
	wo = (se_write_options){ .language = c->lang, .excel = c->excel, .delimiter = c->delimiter };
	status = EXIT_FAIL;
	/* Reporting on a database that does not exist would create an empty
	 * one and print "(no data)": a cron job would mail that every day. */
	if (c->n_imports == 0 && c->adapter == NULL && c->sync == NULL && strcmp(c->db, ":memory:") != 0 &&
	    access(c->db, F_OK) != 0) {
		fprintf(stderr, "%s: %s: no such database; import events into it first: %s --db %s --import EVENTS.csv\n",
		        progname, c->db, progname, c->db);
		goto out;
	}
	readonly = c->n_imports == 0 && c->adapter == NULL && c->sync == NULL && !c->alerts && rules != NULL;
	if (open_store(c, &st, readonly, &err) != SE_OK) {
		fprintf(stderr, "%s: %s\n", progname, err.msg);
		goto out;
	}
	if ((status = run_imports(c, st, rules, &rejected)) != EXIT_OK || rules == NULL)
		goto out;
	status = EXIT_FAIL;
	if (c->alerts) {
		status = run_alerts(c, sc, st);
		goto out;
	}
	/* The digest (asked for, or opening the page) reads reports it may not
	 * print, and leads by day from a second, leads-only run (after the main
	 * one, which brings a read-only store's cache up to date if need be). */
	wo.digest = c->digest || c->format == SE_OUTPUT_HTML;
	if (wo.digest) {
		wo.reports = c->report.reports ? c->report.reports
		             : c->format == SE_OUTPUT_HTML ? HTML_DEFAULT : 0;
		if (wo.reports == 0)
			wo.digest = 2; /* the digest alone */
		ro.reports = wo.reports | DIGEST_NEEDS;
	}
	if (build_report(c, sc, rules, &st, readonly, &ro, &rep, &err) != SE_OK) {
		fprintf(stderr, "%s: %s\n", progname, err.msg);
		if (err.code == SE_EUSAGE)
			status = EXIT_USAGE;
		goto out;
	}
	if (wo.digest) {
		se_report_opts by_day = c->report;

		by_day.reports = SE_REPORT_LEADS;
		by_day.period = SE_PERIOD_DAY;
		if (se_report_build(&daily, st, rules, &by_day, &err) != SE_OK ||
		    se_alerts_firing(st, &firing, &wo.n_firing, &err) != SE_OK) {
			fprintf(stderr, "%s: %s\n", progname, err.msg);
			goto out;
		}
		wo.daily = daily;
		wo.firing = firing;
	}
	status = write_report(c, rep, &wo);
out:
	/* A run that stopped before its report still keeps its import. */
	if (st != NULL && release_held(st, &err) != SE_OK) {
		fprintf(stderr, "%s: %s\n", progname, err.msg);
		status = EXIT_FAIL;
	}
	se_firing_free(firing, wo.n_firing);
	se_report_free(daily);
	se_report_free(rep);
	se_store_close(st);
	se_script_free(sc);
	if (status == EXIT_OK && rejected)
		status = EXIT_REJECTED;
	return status;
}

int main(int argc, char **argv)
{
	cli c;
	int done, status;

	if (argc >= 2 && strcmp(argv[1], "test") == 0)
		return se_cli_test_main(argc - 1, argv + 1);
	memset(&c, 0, sizeof c);
	c.lang = -1;
	c.limits.on_print = print_script_output;
	c.db = getenv("SALESENGINE_DB") ? getenv("SALESENGINE_DB") : DEFAULT_DB;
	status = parse_args(&c, argc, argv, &done);
	if (status != EXIT_OK || done)
		return status;
	return run(&c);
}
