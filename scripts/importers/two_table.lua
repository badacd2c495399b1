-- two_table.lua: funnels exported as two tables joined by an id: leads in
-- one file, won deals in another.
--
--   salesengine --import-with two_table leads.csv won_deals.csv rules.lua
--
-- The leads file comes first, the deals file second.  Set up for Olist's
-- "Marketing Funnel" (olist_marketing_qualified_leads_dataset.csv:
-- mql_id, first_contact_date, landing_page_id, origin; and
-- olist_closed_deals_dataset.csv: mql_id, seller_id, sdr_id, sr_id,
-- won_date, ...).  For another export, copy this file and edit the tables.
--
-- Events: "<id>:lead" at the lead's date, stage M.leads.stage, with its
-- source; "<id>:won" at the deal's date, stage M.deals.stage, with its
-- manager (the one who closed it) and amount.  A deal whose id is not
-- among the leads is rejected: nothing says when it came in or from where.

local M = {
  name = "two_table",
}

M.leads = {
  id = "mql_id",
  date = "first_contact_date",
  source = "origin",
  stage = "Lead",
}

M.deals = {
  id = "mql_id",
  date = "won_date",
  manager = "sr_id",      -- the closer; sdr_id qualified the lead
  amount = nil,           -- Olist has no deal value (declared_monthly_revenue is a guess)
  stage = "Won",
}

local leads = {}

local function need(row, column, what)
  local v = row[column]
  if v == nil then
    error(("%s without %s"):format(what, column), 0)
  end
  return v
end

function M.record(row, emit, ctx)
  if ctx.input == 1 then
    local id = need(row, M.leads.id, "lead")
    leads[id] = true
    emit {
      event_id = id .. ":lead",
      deal_id = id,
      ts = need(row, M.leads.date, "lead " .. id),
      stage = M.leads.stage,
      source = row[M.leads.source],
    }
  elseif ctx.input == 2 then
    local id = need(row, M.deals.id, "deal")
    if not leads[id] then
      error(("deal %s: no lead %s in the leads file"):format(id, id), 0)
    end
    emit {
      event_id = id .. ":won",
      deal_id = id,
      ts = need(row, M.deals.date, "deal " .. id),
      stage = M.deals.stage,
      manager = M.deals.manager and row[M.deals.manager],
      amount = M.deals.amount and row[M.deals.amount],
    }
  else
    error("two_table reads two files: the leads, then the deals", 0)
  end
end

return M
