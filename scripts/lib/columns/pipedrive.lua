-- columns.pipedrive: the deals export of Pipedrive's English interface
-- (Deals, list view, "Export filter results", CSV), for columns{}:
--
--   columns(require "columns.pipedrive")
--
-- Pipedrive names export columns "Deal - <field>". One row per deal as it
-- is now: the deal at its stage ("Deal - Stage") at its last update
-- ("Deal - Update time", always filled, unlike "Deal - Last stage change",
-- which is empty for a deal never moved). Won and lost are the deal's
-- status ("Deal - Status") in Pipedrive, not stages: a won deal stays at
-- the stage it was won from, so this mapping shows the open funnel; for
-- won and lost as events use the API adapter (--import-with pipedrive).
-- Times are the account's zone: set settings { input_timezone = ... }.
-- Header names: docs/IMPORTERS.md, "UI exports"; sample:
-- tests/fixtures/importers/ui_pipedrive/.
return {
  deal_id = "Deal - ID",
  ts = "Deal - Update time",
  stage = "Deal - Stage",
  manager = "Deal - Owner",
  amount = "Deal - Value",
  pipeline = "Deal - Pipeline",
}
