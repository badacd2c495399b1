-- to_events.sql: the Olist marketing funnel -> canonical salesengine events.
--
-- Input: tables mql and closed imported unchanged from
-- ../shared/data/olist_funnel/olist_marketing_qualified_leads_dataset.csv
-- and olist_closed_deals_dataset.csv.  Output, on stdout: events as CSV
-- (event_id, deal_id, ts, stage, manager, source).
--
-- Each lead becomes:
--   <mql_id>-1  at first_contact_date (midnight UTC), stage MQL, source =
--               origin ('' = none), manager = sdr_id (who qualified it);
--   <mql_id>-2  at won_date, stage Won, manager = sr_id (who closed it),
--               for the 842 closed deals.
-- No amounts: the data set has no deal value (declared_monthly_revenue is
-- the seller's, not the deal's), so revenue is 0 throughout.

DROP VIEW IF EXISTS olist_events;
CREATE VIEW olist_events AS
SELECT m.mql_id || '-1' AS event_id, m.mql_id AS deal_id, m.first_contact_date AS ts, 'MQL' AS stage,
       nullif(c.sdr_id, '') AS manager, nullif(m.origin, '') AS source
  FROM mql m LEFT JOIN closed c ON c.mql_id = m.mql_id
UNION ALL
SELECT mql_id || '-2', mql_id, won_date, 'Won', nullif(sr_id, ''), NULL
  FROM closed;

.headers on
.mode csv
.separator , "\n"
SELECT * FROM olist_events ORDER BY deal_id, event_id;
