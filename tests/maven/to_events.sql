-- to_events.sql: the Maven CRM "wide" export -> canonical salesengine events.
--
-- Input: a table sales_pipeline imported unchanged from
-- ../shared/data/maven_crm/sales_pipeline.csv (columns opportunity_id,
-- sales_agent, product, account, deal_stage, engage_date, close_date,
-- close_value; every value text, '' when empty).  Output, on stdout: the
-- events as CSV with a header (event_id, deal_id, ts, stage, manager,
-- source, amount).  run.sh does this; by hand:
--
--   sqlite3 -bail -cmd '.import --csv ../shared/data/maven_crm/sales_pipeline.csv sales_pipeline' \
--     :memory: < tests/maven/to_events.sql > events.csv
--
-- The export keeps one row per deal, so each deal becomes at most two
-- events, placed at the only two dates it has:
--   <id>-1  at engage_date, stage Engaging, with the deal's attributes;
--   <id>-2  at close_date, stage Won or Lost (deal_stage), for closed deals.
-- ts is the bare date, so midnight in the import zone (UTC unless told).
-- The suffixes make a same-day engage and close sort Engaging first: ties
-- on ts are broken by event_id (docs/METRICS.md section 1).
--
-- manager = sales_agent.  source = product: the export has no lead source,
-- and product is the only per-deal category it does have, so it stands in
-- for one (the sources report then reads "per product").  amount =
-- close_value where present (Won: the sale; Lost: 0; open deals: none, so
-- they count under no_amount).  The attributes ride on the first event only:
-- a deal's manager and amount are those of its latest event that has one,
-- its source that of its earliest, so here they are simply the row's.
--
-- Prospecting deals have neither date: nothing tells when they happened, so
-- no event can be placed in time and they are left out.  The view
-- maven_undated lists them (it stays in the database, like maven_events);
-- run.sh counts them and checks that they are exactly the Prospecting deals.
--
-- The assumptions the mapping rests on are checked first; if one fails,
-- sqlite3 (run with -bail) stops with "CHECK constraint failed: <name>".

CREATE TEMP TABLE maven_assumption (
  name TEXT NOT NULL,
  ok INTEGER NOT NULL,
  CONSTRAINT "each opportunity_id once" CHECK (ok OR name <> 'unique'),
  CONSTRAINT "deal_stage is Prospecting, Engaging, Won or Lost" CHECK (ok OR name <> 'stages'),
  CONSTRAINT "a deal has an engage_date exactly when it is not Prospecting" CHECK (ok OR name <> 'engage'),
  CONSTRAINT "a deal has a close_date exactly when it is Won or Lost" CHECK (ok OR name <> 'close'),
  CONSTRAINT "close_value is empty exactly for open deals" CHECK (ok OR name <> 'value'),
  CONSTRAINT "dates are YYYY-MM-DD" CHECK (ok OR name <> 'dates')
);

INSERT INTO maven_assumption (name, ok)
SELECT 'unique', count(*) = count(DISTINCT opportunity_id) FROM sales_pipeline;
INSERT INTO maven_assumption (name, ok)
SELECT 'stages', count(*) = 0 FROM sales_pipeline
 WHERE deal_stage NOT IN ('Prospecting', 'Engaging', 'Won', 'Lost');
INSERT INTO maven_assumption (name, ok)
SELECT 'engage', count(*) = 0 FROM sales_pipeline
 WHERE (engage_date = '') <> (deal_stage = 'Prospecting');
INSERT INTO maven_assumption (name, ok)
SELECT 'close', count(*) = 0 FROM sales_pipeline
 WHERE (close_date <> '') <> (deal_stage IN ('Won', 'Lost'));
INSERT INTO maven_assumption (name, ok)
SELECT 'value', count(*) = 0 FROM sales_pipeline
 WHERE (close_value = '') <> (deal_stage IN ('Prospecting', 'Engaging'));
INSERT INTO maven_assumption (name, ok)
SELECT 'dates', count(*) = 0 FROM sales_pipeline
 WHERE (engage_date <> '' AND date(engage_date) IS NOT engage_date)
    OR (close_date <> '' AND date(close_date) IS NOT close_date);

DROP VIEW IF EXISTS maven_undated;
CREATE VIEW maven_undated AS
SELECT opportunity_id, deal_stage FROM sales_pipeline
 WHERE engage_date = '' AND close_date = '';

DROP VIEW IF EXISTS maven_events;
CREATE VIEW maven_events AS
SELECT opportunity_id || '-1' AS event_id,
       opportunity_id AS deal_id,
       engage_date AS ts,
       'Engaging' AS stage,
       sales_agent AS manager,
       product AS source,
       nullif(close_value, '') AS amount
  FROM sales_pipeline
 WHERE engage_date <> ''
UNION ALL
SELECT opportunity_id || '-2', opportunity_id, close_date, deal_stage, NULL, NULL, NULL
  FROM sales_pipeline
 WHERE close_date <> '';

-- sqlite3's CSV mode quotes any field with a space and ends rows with CRLF;
-- both are valid RFC 4180, which is what the importer reads.  LF is tidier.
.headers on
.mode csv
.separator , "\n"
SELECT * FROM maven_events ORDER BY deal_id, event_id;
