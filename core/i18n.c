/*
 * i18n.c: the English/Russian catalog and numbers for people.
 *
 * Owns the catalog (English message id -> Russian text) and the digit
 * grouping, decimal mark and currency sign of each language.  Never calls
 * setlocale or reads the environment (see i18n.h for why a compiled-in
 * catalog rather than gettext).
 */
#include "i18n.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* U+00A0 NO-BREAK SPACE in UTF-8 (i18n.h says why this one). */
#define NBSP "\xc2\xa0"

typedef struct entry {
	const char *en, *ru;
} entry;

/* Message ids are the English text.  Kept in one list so a missing
 * translation is one line to add; test_i18n checks there are no duplicates
 * and no empty translations. */
static const entry catalog[] = {
	/* report titles */
	{ "Digest", "Сводка" },
	{ "Leads", "Лиды" },
	{ "Conversion", "Конверсия" },
	{ "Pre-sale deals", "Сделки до продажи" },
	{ "Sources", "Источники" },
	{ "Unknown stages", "Неизвестные этапы" },
	{ "Lead handling", "Обработка лидов" },
	{ "Diagnostics", "Диагностика" },
	{ "Sales style", "Стиль продаж" },
	{ "Velocity", "Скорость" },
	{ "Time to won", "Время до продажи" },
	{ "Stale deals", "Зависшие сделки" },
	{ "Forecast", "Прогноз" },
	{ "Forecast by month", "Прогноз по месяцам" },
	{ "Backtest", "Проверка прогноза" },
	{ "Source steps", "Шаги по источникам" },
	{ "Channels", "Каналы" },
	{ "Comparison", "Сравнение" },
	{ "Metrics", "Метрики" },
	{ "Alerts firing", "Сработавшие оповещения" },
	{ "Funnel", "Воронка" },
	{ "Team funnel", "Воронка команды" },
	{ "Managers by step", "Менеджеры по шагам" },
	{ "Sales report", "Отчёт по продажам" },
	/* column headers */
	{ "funnel", "воронка" },
	{ "period", "период" },
	{ "dimension", "разрез" },
	{ "name", "имя" },
	{ "leads", "лиды" },
	{ "pair", "пара" },
	{ "mode", "режим" },
	{ "from_stage", "из этапа" },
	{ "to_stage", "в этап" },
	{ "reached_from", "дошли до начала" },
	{ "reached_to", "дошли до конца" },
	{ "conversion_pct", "конверсия, %" },
	{ "window_open", "окно открыто" },
	{ "stage", "этап" },
	{ "deals", "сделки" },
	{ "amount", "сумма" },
	{ "source", "источник" },
	{ "won", "выиграно" },
	{ "revenue", "выручка" },
	{ "manager", "менеджер" },
	{ "step", "шаг" },
	{ "spend", "расходы" },
	{ "romi", "ROMI" },
	{ "weak", "слабый" },
	{ "taken", "взято" },
	{ "released", "отпущено" },
	{ "nontarget", "нецелевые" },
	{ "unprocessed", "не обработано" },
	{ "value", "значение" },
	{ "metric", "метрика" },
	{ "month", "месяц" },
	{ "days_open", "дней в работе" },
	{ "deal", "сделка" },
	{ "growth_point", "точка роста" },
	{ "rule", "правило" },
	{ "severity", "важность" },
	{ "message", "сообщение" },
	{ "team", "команда" },
	{ "all", "все" },
	{ "win_rate_pct", "доля выигрышей, %" },
	{ "win_rate_basis", "основа доли" },
	{ "forecast", "прогноз" },
	{ "no_amount", "без суммы" },
	{ "status", "статус" },
	{ "events", "события" },
	{ "example_deal", "пример сделки" },
	{ "waiting", "ждут" },
	{ "first_move_median_h", "первое действие, медиана, ч" },
	{ "first_move_p90_h", "первое действие, p90, ч" },
	{ "ci_low_pct", "интервал от, %" },
	{ "ci_high_pct", "интервал до, %" },
	{ "others_pct", "у остальных, %" },
	{ "gap_low_pct", "разрыв от, %" },
	{ "gap_high_pct", "разрыв до, %" },
	{ "missed", "упущено" },
	{ "significant", "значимо" },
	{ "periods", "периоды" },
	{ "volume", "объём" },
	{ "depth_pct", "глубина, %" },
	{ "style", "стиль" },
	{ "stay_median_h", "на этапе, медиана, ч" },
	{ "stay_p90_h", "на этапе, p90, ч" },
	{ "total_median_h", "всего, медиана, ч" },
	{ "total_p90_h", "всего, p90, ч" },
	{ "open", "открыто" },
	{ "stale", "зависло" },
	{ "median_h", "медиана, ч" },
	{ "p90_h", "p90, ч" },
	{ "age_h", "возраст, ч" },
	{ "stage_median_h", "медиана этапа, ч" },
	{ "ratio", "во сколько раз" },
	{ "probability_pct", "вероятность, %" },
	{ "forecast_stage", "прогноз по этапам" },
	{ "closed", "закрыто" },
	{ "team_rate_pct", "доля команды, %" },
	{ "shrunk_rate_pct", "сглаженная доля, %" },
	{ "forecast_shrunk", "прогноз по доле" },
	{ "cutoff", "дата среза" },
	{ "won_deals", "выиграно сделок" },
	{ "won_amount", "выиграно на сумму" },
	{ "still_open", "ещё открыто" },
	{ "error_stage", "ошибка по этапам" },
	{ "error_stage_pct", "ошибка по этапам, %" },
	{ "error_shrunk", "ошибка по доле" },
	{ "error_shrunk_pct", "ошибка по доле, %" },
	{ "cpl", "цена лида" },
	{ "cps", "цена продажи" },
	{ "romi_pct", "ROMI, %" },
	{ "within_manager_z", "z внутри менеджера" },
	{ "p_value", "p-значение" },
	{ "p_adjusted", "p-значение с поправкой" },
	{ "not_testable", "не проверить" },
	{ "forecast_time", "прогноз по времени" },
	{ "error_time", "ошибка по времени" },
	{ "error_time_pct", "ошибка по времени, %" },
	{ "data_ends", "данные кончаются" },
	{ "previous", "предыдущий" },
	{ "previous_value", "было" },
	{ "change", "изменение" },
	{ "change_pct", "изменение, %" },
	/* table titles */
	{ "pre-sale deals now, with forecast", "сделки до продажи сейчас, с прогнозом" },
	{ "statuses no funnel knows", "статусы, которых не знает ни одна воронка" },
	{ "(none: every status is known)", "(нет: все статусы известны)" },
	{ "(no data)", "(нет данных)" },
	{ "managers against the rest of the team (Wilson 95%)",
	  "менеджеры против остальной команды (Уилсон, 95%)" },
	{ "style: volume (leads per period) and depth (lead to won)",
	  "стиль: объём (лидов за период) и глубина (от лида до продажи)" },
	{ "time from the first stage to won, hours", "время от первого этапа до продажи, часы" },
	{ "stale deals, most overdue first", "зависшие сделки, сначала самые просроченные" },
	{ "forecast by expected close month", "прогноз по ожидаемому месяцу закрытия" },
	{ "forecast backtest: as of past month starts, against what was won",
	  "проверка прогноза: на начала прошлых месяцев против выигранного" },
	{ "conversion of every step by source", "конверсия каждого шага по источникам" },
	{ "sources: money and within-manager quality", "источники: деньги и качество внутри менеджера" },
	/* digest and page text */
	{ "last 7 days", "последние 7 дней" },
	{ "Unprocessed leads", "Необработанные лиды" },
	{ "Growth points", "Точки роста" },
	{ "Weak sources", "Слабые источники" },
	{ "most overdue first", "сначала самые просроченные" },
	{ "Forecast for the horizon", "Прогноз на горизонт" },
	{ "none", "нет" },
	{ "no alerts firing", "оповещений нет" },
	{ "days", "дн." },
	{ "%d more: see the CSV report", "ещё %d: полный список в CSV" },
	{ "conversion", "конверсия" },
	{ "interval", "интервал" },
	{ "as of", "на" },
	{ "Generated by salesengine", "Сформировано salesengine" },
	{ "yesterday", "вчера" },
	{ "the day before", "позавчера" },
	{ "the 7 before", "7 дней до того" },
	{ "vs", "против" },
	{ "for the others", "у остальных" },
	{ "missed deals", "упущено сделок" },
	{ "the median", "медианы" },
	{ "open pre-sale deals", "открытых сделок до продажи" },
	{ "by stage probability", "по вероятностям этапов" },
	{ "by win rate", "по доле выигрышей" },
	{ "by close month", "по месяцам закрытия" },
	{ "won within", "выигрыш в ближайшие" },
	{ "days, by time at the stage", "дн., по времени на этапе" },
	{ "since", "с" },
	/* alerts */
	{ "FIRING", "СРАБОТАЛО" },
	{ "RESOLVED", "ЗАКРЫТО" },
	{ "firing", "срабатывает" },
	{ "pending", "ожидает" },
	{ "value %s, threshold %s", "значение %s, порог %s" },
};

int se_lang_parse(const char *name, se_lang *out)
{
	if (name == NULL)
		return -1;
	if (strcasecmp(name, "en") == 0 || strcasecmp(name, "english") == 0) {
		*out = SE_LANG_EN;
		return 0;
	}
	if (strcasecmp(name, "ru") == 0 || strcasecmp(name, "russian") == 0) {
		*out = SE_LANG_RU;
		return 0;
	}
	return -1;
}

const char *se_lang_name(se_lang lang)
{
	return lang == SE_LANG_RU ? "ru" : "en";
}

se_lang se_lang_from_locale(const char *lc_all, const char *lc_messages, const char *lang)
{
	const char *v[] = { lc_all, lc_messages, lang };

	for (int i = 0; i < 3; i++)
		if (v[i] != NULL && v[i][0] != '\0')
			return (v[i][0] == 'r' || v[i][0] == 'R') && (v[i][1] == 'u' || v[i][1] == 'U')
			       ? SE_LANG_RU : SE_LANG_EN;
	return SE_LANG_EN;
}

const char *se_tr(se_lang lang, const char *msgid)
{
	if (lang != SE_LANG_RU || msgid == NULL)
		return msgid;
	for (size_t i = 0; i < sizeof catalog / sizeof catalog[0]; i++)
		if (strcmp(catalog[i].en, msgid) == 0)
			return catalog[i].ru;
	return msgid;
}

/* For test_i18n: the catalog as the test walks it. */
size_t se_i18n_catalog(size_t i, const char **en, const char **ru);
size_t se_i18n_catalog(size_t i, const char **en, const char **ru)
{
	size_t n = sizeof catalog / sizeof catalog[0];

	if (i < n) {
		*en = catalog[i].en;
		*ru = catalog[i].ru;
	}
	return n;
}

/* Writes digits of v (>= 0) grouped by three with sep into buf. */
static void group_digits(uint64_t v, const char *sep, char *buf, size_t size)
{
	char digits[32], out[96];
	int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
	size_t o = 0, seplen = strlen(sep);

	for (int i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0) {
			memcpy(out + o, sep, seplen);
			o += seplen;
		}
		out[o++] = digits[i];
	}
	out[o] = '\0';
	snprintf(buf, size, "%s", out);
}

/* sign, whole part grouped, then frac_digits of frac (already rounded). */
static char *compose(se_lang lang, int negative, uint64_t whole, uint64_t frac, int decimals,
                     const char *suffix, char *buf, size_t size)
{
	char g[96], f[32] = "";

	group_digits(whole, lang == SE_LANG_RU ? NBSP : ",", g, sizeof g);
	if (decimals > 0)
		snprintf(f, sizeof f, "%s%0*llu", lang == SE_LANG_RU ? "," : ".", decimals,
		         (unsigned long long)frac);
	snprintf(buf, size, "%s%s%s%s", negative ? "-" : "", g, f, suffix);
	return buf;
}

char *se_fmt_int(se_lang lang, int64_t v, char *buf, size_t size)
{
	uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	return compose(lang, v < 0, m, 0, 0, "", buf, size);
}

static char *fixed(se_lang lang, double v, int decimals, const char *suffix, char *buf,
                   size_t size)
{
	static const uint64_t pow10[] = { 1, 10, 100, 1000, 10000, 100000, 1000000 };
	uint64_t scale, scaled;
	double a;

	if (isnan(v) || isinf(v)) {
		snprintf(buf, size, "-");
		return buf;
	}
	if (decimals < 0)
		decimals = 0;
	if (decimals > 6)
		decimals = 6;
	scale = pow10[decimals];
	a = fabs(v) * (double)scale;
	if (a >= 9.0e18) { /* beyond what groups exactly: plain notation */
		snprintf(buf, size, "%.*g", 15, v);
		return buf;
	}
	/* halves away from zero, as people round */
	scaled = (uint64_t)llround(a);
	return compose(lang, v < 0 && scaled > 0, scaled / scale, scaled % scale, decimals, suffix,
	               buf, size);
}

char *se_fmt_fixed(se_lang lang, double v, int decimals, char *buf, size_t size)
{
	return fixed(lang, v, decimals, "", buf, size);
}

char *se_fmt_kopecks(se_lang lang, int64_t kopecks, char *buf, size_t size)
{
	uint64_t m = kopecks < 0 ? (uint64_t)0 - (uint64_t)kopecks : (uint64_t)kopecks;

	return compose(lang, kopecks < 0, m / 100, m % 100, 2, lang == SE_LANG_RU ? NBSP "₽" : "",
	               buf, size);
}

char *se_fmt_money(se_lang lang, double units, char *buf, size_t size)
{
	return fixed(lang, units, 2, lang == SE_LANG_RU ? NBSP "₽" : "", buf, size);
}

char *se_fmt_percent(se_lang lang, double ratio, char *buf, size_t size)
{
	/* Russian typography puts a (no-break) space before the sign */
	return fixed(lang, ratio * 100.0, 1, lang == SE_LANG_RU ? NBSP "%" : "%", buf, size);
}
