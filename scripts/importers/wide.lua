-- wide.lua: "wide" exports, one row per deal with a date column per stage.
--
--   salesengine --import-with wide sales_pipeline.csv rules.lua
--
-- Set up for the Maven Analytics CRM export (sales_pipeline.csv:
-- opportunity_id, sales_agent, product, account, deal_stage, engage_date,
-- close_date, close_value).  For another export, copy this file and edit
-- the two tables below.
--
-- Each dated stage column gives one event, "<deal>-<n>" where n is the
-- column's place in M.dates (so same-day events sort in that order), at
-- that date.  A row with no date at all (Maven's Prospecting deals) says
-- nothing about when anything happened and gives no event.  The deal's
-- manager, source and amount ride on every event.

local M = {
  name = "wide",
  -- timezone = "Europe/Moscow",   -- if the export's dates are local times
}

-- Which column holds what.  source: Maven has no lead source; the product
-- is the one per-deal category it has, so it stands in for one.
M.columns = {
  deal_id = "opportunity_id",
  manager = "sales_agent",
  source = "product",
  amount = "close_value",
}

-- The dated stages, in funnel order: the column with the date, and the
-- stage it means: a name, or a function of the row (Maven's close_date
-- means Won or Lost, as deal_stage says).
M.dates = {
  { column = "engage_date", stage = "Engaging" },
  { column = "close_date", stage = function(row) return row.deal_stage end },
}

function M.record(row, emit, ctx)
  local deal = row[M.columns.deal_id]
  if deal == nil then
    error("no " .. M.columns.deal_id, 0)
  end
  for n, d in ipairs(M.dates) do
    local ts = row[d.column]
    if ts ~= nil then
      local stage = d.stage
      if type(stage) == "function" then
        stage = stage(row)
      end
      emit {
        event_id = deal .. "-" .. n,
        deal_id = deal,
        ts = ts,
        stage = stage,
        manager = row[M.columns.manager],
        source = row[M.columns.source],
        amount = row[M.columns.amount],
      }
    end
  end
end

return M
