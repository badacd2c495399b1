-- expected.sql: the report salesengine should print for the Maven CRM data,
-- computed straight from the raw wide export, for the funnel of
-- maven_rules.lua (Engaging presale -> Won, lost = Lost, and the pair
-- Engaging -> Won once more with a 90-day window) and the mapping of
-- to_events.sql.  It never reads the generated events: each metric of
-- docs/METRICS.md is restated in terms of the export's columns below, so a
-- bug in the engine (or in to_events.sql) shows up as a difference.
--
-- Input: a table sales_pipeline imported unchanged from sales_pipeline.csv,
-- and three parameters: @mode (reached or touched), @period (total, day,
-- week or month) and @as_of (a UTC time like 2018-01-01T00:00:00Z).
-- Output: one line per line of
--   salesengine --format csv --mode @mode --period @period --as-of @as_of maven_rules.lua
-- (all reports, no --from/--to, zone UTC), in no particular order: compare
-- after sorting both.  run.sh does this; by hand:
--
--   sqlite3 -bail -cmd '.import --csv ../shared/data/maven_crm/sales_pipeline.csv sales_pipeline' \
--     -cmd '.parameter set @mode reached' -cmd '.parameter set @period month' \
--     -cmd '.parameter set @as_of 2018-01-01T00:00:00Z' :memory: < tests/maven/expected.sql
--
-- What a deal's events are (to_events.sql): at engage_date an Engaging event
-- (manager, source, amount), at close_date a Won or Lost event; none for a
-- deal without dates.  Same-day ties put the engage event first.
--
-- Mode by mode (METRICS.md section 2), for the first stage Engaging:
--   reached: the deal reached Engaging at its earliest event of any class,
--            i.e. the earlier of engage_date and close_date;
--   touched: at its Engaging event, i.e. engage_date (none: not a lead).
-- Conversion Engaging -> Won, from that cohort event:
--   reached: the deal reached Won at all, i.e. deal_stage = 'Won';
--   touched: a Won event after the Engaging one, i.e. Won and
--            close_date >= engage_date (a same-day close sorts after).
-- On this export every closed deal has an engage_date (to_events.sql
-- checks it) on or before its close_date, so both modes give the same
-- numbers and only the conversion rows' mode column differs (run.sh checks
-- that too).  The SQL keeps the two definitions apart all the same, so that
-- it stays right if the data ever stops being that tidy.

CREATE TEMP TABLE expected_assumption (
  name TEXT NOT NULL,
  ok INTEGER NOT NULL,
  CONSTRAINT "@mode is reached or touched" CHECK (ok OR name <> 'mode'),
  CONSTRAINT "@period is total, day, week or month" CHECK (ok OR name <> 'period'),
  CONSTRAINT "@as_of is a time" CHECK (ok OR name <> 'as_of'),
  CONSTRAINT "close_value is a whole number" CHECK (ok OR name <> 'value')
);
INSERT INTO expected_assumption VALUES ('mode', @mode IN ('reached', 'touched'));
INSERT INTO expected_assumption VALUES ('period', @period IN ('total', 'day', 'week', 'month'));
INSERT INTO expected_assumption VALUES ('as_of', julianday(@as_of) IS NOT NULL);
INSERT INTO expected_assumption
SELECT 'value', count(*) = 0 FROM sales_pipeline
 WHERE close_value <> '' AND close_value GLOB '*[^0-9]*';

-- One row per deal, values as the importer stores them: trimmed, empty =
-- none, and an absent manager or source reported as (none).
CREATE TEMP TABLE deal AS
SELECT trim(opportunity_id) AS id,
       coalesce(nullif(trim(sales_agent), ''), '(none)') AS manager,
       coalesce(nullif(trim(product), ''), '(none)') AS source,
       trim(deal_stage) AS stage,
       nullif(trim(engage_date), '') AS engage,
       nullif(trim(close_date), '') AS close,
       CAST(nullif(trim(close_value), '') AS INTEGER) AS value
  FROM sales_pipeline;

-- Per deal that entered the funnel: the date of its cohort event
-- (reached_m(Engaging)), the report bucket of that date and the bucket's
-- end (NULL for total: no --to, so no end).
CREATE TEMP TABLE cohort AS
SELECT id, cohort,
       CASE @period
         WHEN 'total' THEN 'all'
         WHEN 'month' THEN substr(cohort, 1, 7)
         WHEN 'day' THEN cohort
         -- ISO week: named by the year and ordinal of its Thursday.
         WHEN 'week' THEN strftime('%Y', date(cohort, '-3 days', 'weekday 4')) || '-W' ||
                          printf('%02d', (strftime('%j', date(cohort, '-3 days', 'weekday 4')) - 1) / 7 + 1)
       END AS bucket,
       CASE @period
         WHEN 'total' THEN NULL
         WHEN 'month' THEN date(cohort, 'start of month', '+1 month')
         WHEN 'day' THEN date(cohort, '+1 day')
         WHEN 'week' THEN date(cohort, '+1 day', 'weekday 1')    -- the next Monday
       END AS bucket_end
  FROM (SELECT id,
               CASE @mode
                 WHEN 'reached' THEN CASE WHEN engage IS NULL OR close < engage THEN close ELSE engage END
                 ELSE engage
               END AS cohort
          FROM deal)
 WHERE cohort IS NOT NULL;

-- The leads, with whether each converted to Won after its cohort event, and
-- whether within 90 days of it (the windowed pair: the arrival at Won "no
-- later than ts(cohort event) + W").
CREATE TEMP TABLE lead AS
SELECT d.*, c.cohort, c.bucket, c.bucket_end, conv.converted,
       conv.converted AND julianday(d.close) <= julianday(c.cohort) + 90 AS converted_90
  FROM deal d
  JOIN cohort c ON c.id = d.id
  JOIN (SELECT id,
               CASE @mode
                 WHEN 'reached' THEN stage = 'Won'
                 ELSE stage = 'Won' AND close >= engage
               END AS converted
          FROM deal) conv ON conv.id = d.id;

-- ---- the rows, with their numbers still apart -----------------------------

-- leads (4a): per bucket, the team, each manager, each source.
CREATE TEMP TABLE leads_out AS
SELECT bucket, 'team' AS dim, '*' AS name, count(*) AS leads FROM lead GROUP BY bucket
UNION ALL
SELECT bucket, 'manager', manager, count(*) FROM lead GROUP BY bucket, manager
UNION ALL
SELECT bucket, 'source', source, count(*) FROM lead GROUP BY bucket, source;

-- conversion (4b), per bucket of the cohort event, the team and each
-- manager: the pair Engaging -> Won without a window (window_open 0), and
-- again within 90 days ("Engaging -> Won within 90d").  window_open: some
-- deal of the row had its cohort event less than 90 days before @as_of, so
-- it may still convert inside its window.
CREATE TEMP TABLE conversion_out AS
SELECT 'Engaging -> Won' AS pair, bucket, 'team' AS dim, '*' AS name, count(*) AS n_from,
       sum(converted) AS n_to, 0 AS window_open
  FROM lead GROUP BY bucket
UNION ALL
SELECT 'Engaging -> Won', bucket, 'manager', manager, count(*), sum(converted), 0
  FROM lead GROUP BY bucket, manager;
INSERT INTO conversion_out
SELECT 'Engaging -> Won within 90d', bucket, 'team', '*', count(*), sum(converted_90),
       julianday(max(cohort)) + 90 > julianday(@as_of)
  FROM lead GROUP BY bucket
UNION ALL
SELECT 'Engaging -> Won within 90d', bucket, 'manager', manager, count(*), sum(converted_90),
       julianday(max(cohort)) + 90 > julianday(@as_of)
  FROM lead GROUP BY bucket, manager;

-- presale (4c): deals open at Engaging now, i.e. whose only event is the
-- Engaging one (deal_stage Engaging).  Win rate per manager: of the
-- manager's closed deals that reached Engaging (in the mode), the share
-- won, over all history; no closed deal: the team's rate; none: 0.
CREATE TEMP TABLE closed_rate AS
SELECT manager, sum(stage = 'Won') AS won, count(*) AS closed
  FROM lead
 WHERE stage IN ('Won', 'Lost') AND (@mode = 'reached' OR engage IS NOT NULL)
 GROUP BY manager;

CREATE TEMP TABLE presale_manager AS
SELECT o.manager, o.deals, o.amount, o.no_amount,
       CASE WHEN r.closed > 0 THEN 'manager' WHEN t.closed > 0 THEN 'team' ELSE 'none' END AS basis,
       CASE WHEN r.closed > 0 THEN r.won WHEN t.closed > 0 THEN t.won ELSE 0 END AS rate_won,
       CASE WHEN r.closed > 0 THEN r.closed WHEN t.closed > 0 THEN t.closed ELSE 0 END AS rate_closed
  FROM (SELECT manager, count(*) AS deals, coalesce(sum(value), 0) AS amount,
               sum(value IS NULL) AS no_amount
          FROM deal
         WHERE stage = 'Engaging' AND engage IS NOT NULL
         GROUP BY manager) o
  LEFT JOIN closed_rate r ON r.manager = o.manager
  CROSS JOIN (SELECT sum(won) AS won, sum(closed) AS closed FROM closed_rate) t;

-- forecast = amount x win_rate per manager; the team and '*' rows add the
-- forecasts up and show forecast / amount as their rate.
CREATE TEMP TABLE presale_out AS
SELECT 'Engaging' AS stage, 'manager' AS dim, manager AS name, deals, amount,
       rate_won AS pct_num, rate_closed AS pct_den, basis,
       CASE WHEN rate_closed > 0 THEN amount * 1.0 * rate_won / rate_closed ELSE 0 END AS forecast,
       no_amount
  FROM presale_manager;
-- A sum's basis is the one its parts share, else 'mixed'.  (One pre-sale
-- stage: a manager's '*' row has its single part's basis.)
INSERT INTO presale_out
SELECT '*', 'manager', name, deals, amount, NULL, NULL, basis, forecast, no_amount
  FROM presale_out WHERE stage = 'Engaging';
INSERT INTO presale_out
SELECT stage, 'team', '*', sum(deals), sum(amount), NULL, NULL,
       CASE WHEN count(DISTINCT basis) = 1 THEN min(basis) ELSE 'mixed' END,
       sum(forecast), sum(no_amount)
  FROM presale_out WHERE dim = 'manager' GROUP BY stage;

-- sources (4d): per bucket of the lead's cohort event, per source and the
-- team: leads, those won (at any time), revenue = their amounts.
CREATE TEMP TABLE sources_out AS
SELECT bucket, 'team' AS dim, '*' AS name, count(*) AS leads, sum(stage = 'Won') AS won,
       sum(CASE WHEN stage = 'Won' THEN coalesce(value, 0) ELSE 0 END) AS revenue
  FROM lead GROUP BY bucket
UNION ALL
SELECT bucket, 'source', source, count(*), sum(stage = 'Won'),
       sum(CASE WHEN stage = 'Won' THEN coalesce(value, 0) ELSE 0 END)
  FROM lead GROUP BY bucket, source;

-- Percentages: one decimal, halves rounded up (docs/OUTPUT.md), which in
-- exact integer arithmetic is the nearest tenth of num / den.
CREATE TEMP TABLE pct AS
SELECT num, den, (2000 * num + den) / (2 * den) AS tenths
  FROM (SELECT n_to AS num, n_from AS den FROM conversion_out
        UNION SELECT won, leads FROM sources_out
        UNION SELECT pct_num, pct_den FROM presale_out WHERE pct_den > 0);

-- ---- printing ------------------------------------------------------------
-- Numbers: counts as integers, amounts with two decimals, percentages with
-- one.  Text fields are quoted (RFC 4180) only when they hold , " CR or LF:
-- sqlite3's own CSV mode quotes far more (any space), so lines are built
-- here and printed in list mode.

.mode list
.headers off
.nullvalue ''

WITH header(line) AS (
  VALUES ('report,funnel,period,dimension,name,leads'),
         ('report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,reached_to,conversion_pct,window_open'),
         ('report,funnel,stage,dimension,name,deals,amount,win_rate_pct,win_rate_basis,forecast,no_amount'),
         ('report,funnel,period,dimension,name,leads,won,conversion_pct,revenue'),
         ('report,status,events,deals,example_deal'),
         -- One empty line between the five blocks.  The unknown block has
         -- no rows: every status (Engaging, Won, Lost) is the funnel's.
         (''), (''), (''), ('')
),
quoted(raw, csv) AS (
  SELECT name, CASE WHEN instr(name, ',') OR instr(name, '"') OR instr(name, char(13)) OR instr(name, char(10))
                    THEN '"' || replace(name, '"', '""') || '"' ELSE name END
    FROM (SELECT name FROM leads_out UNION SELECT name FROM conversion_out
          UNION SELECT name FROM presale_out UNION SELECT name FROM sources_out)
)
SELECT line FROM header
UNION ALL
SELECT 'leads,maven,' || bucket || ',' || dim || ',' || q.csv || ',' || leads
  FROM leads_out JOIN quoted q ON q.raw = name
UNION ALL
SELECT 'conversion,maven,' || pair || ',' || @mode || ',' || bucket || ',' || dim || ',' || q.csv ||
       ',Engaging,Won,' || n_from || ',' || n_to || ',' || (p.tenths / 10) || '.' || (p.tenths % 10) || ',' ||
       window_open
  FROM conversion_out JOIN quoted q ON q.raw = name JOIN pct p ON p.num = n_to AND p.den = n_from
UNION ALL
SELECT 'presale,maven,' || stage || ',' || dim || ',' || q.csv || ',' || deals || ',' ||
       printf('%.2f', amount) || ',' ||
       CASE WHEN pct_den > 0 THEN (p.tenths / 10) || '.' || (p.tenths % 10)
            WHEN pct_den IS NULL AND amount > 0 THEN printf('%.1f', 100.0 * forecast / amount)
            WHEN basis = 'none' THEN '0.0'
            ELSE ''
       END || ',' || basis || ',' || printf('%.2f', forecast) || ',' || no_amount
  FROM presale_out JOIN quoted q ON q.raw = name LEFT JOIN pct p ON p.num = pct_num AND p.den = pct_den
UNION ALL
SELECT 'sources,maven,' || bucket || ',' || dim || ',' || q.csv || ',' || leads || ',' || won || ',' ||
       (p.tenths / 10) || '.' || (p.tenths % 10) || ',' || printf('%.2f', revenue)
  FROM sources_out JOIN quoted q ON q.raw = name JOIN pct p ON p.num = won AND p.den = leads;
