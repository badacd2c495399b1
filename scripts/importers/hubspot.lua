-- hubspot.lua: HubSpot deals -> status history, from either
--   the API: GET /crm/v3/objects/deals?propertiesWithHistory=dealstage
--            &properties=amount,hubspot_owner_id,hs_analytics_source
--            {results: [{id, properties{...}, propertiesWithHistory{dealstage:
--             [{value, timestamp, updatedByUserId}]}}]}; owners from
--            GET /crm/v3/owners {results: [{id, firstName, lastName, email}]}
--   or an export (CSV) with property names as headers: hs_object_id,
--            dealstage, amount, hubspot_owner_id, hs_analytics_source and
--            one hs_date_entered_<stage id> column per stage.
--
--   salesengine --import-with hubspot owners.json deals.json rules.lua
--   salesengine --import-with hubspot deals_export.csv rules.lua
--
-- Events: one per dealstage history entry ("hs:<deal>:<stage>:<timestamp>")
-- or per filled hs_date_entered_* cell ("hs:<deal>:<stage>:entered").  The
-- stage is named by M.stage_names (HubSpot's default sales pipeline; add
-- your custom stage ids), else its id.  manager = the owner's name (owners
-- dump) or "owner <id>"; source = hs_analytics_source; amount = amount.

local M = {
  name = "hubspot",
  records = "results",
  timezone = "UTC",
}

M.stage_names = {
  appointmentscheduled = "Appointment Scheduled",
  qualifiedtobuy = "Qualified To Buy",
  presentationscheduled = "Presentation Scheduled",
  decisionmakerboughtin = "Decision Maker Bought-In",
  contractsent = "Contract Sent",
  closedwon = "Closed Won",
  closedlost = "Closed Lost",
}

local owners = {}

local function stage(id)
  return M.stage_names[id] or id
end

-- HubSpot times: ISO 8601 ("2026-11-02T09:30:00.123Z"), or milliseconds.
local function time(v)
  local ms = tonumber(v)
  if ms ~= nil and ms > 1e11 then return ms // 1000 end
  return v
end

local function attributes(deal_id, p, ev)
  local o = p.hubspot_owner_id
  ev.deal_id = deal_id
  ev.manager = o and (owners[tostring(o)] or "owner " .. tostring(o))
  ev.source = p.hs_analytics_source
  ev.amount = p.amount
  return ev
end

local function api_deal(rec, emit)
  local p = rec.properties or {}
  local h = rec.propertiesWithHistory and rec.propertiesWithHistory.dealstage
  if h == nil then
    error("deal " .. tostring(rec.id) .. " has no propertiesWithHistory.dealstage", 0)
  end
  for _, entry in ipairs(h) do
    emit(attributes(tostring(rec.id), p, {
      event_id = "hs:" .. rec.id .. ":" .. entry.value .. ":" .. tostring(entry.timestamp),
      ts = time(entry.timestamp),
      stage = stage(entry.value),
    }))
  end
end

local function export_row(row, emit)
  local id = row.hs_object_id or row["Record ID"]
  if id == nil then error("no hs_object_id", 0) end
  local columns = {}
  for column in pairs(row) do
    if column:match("^hs_date_entered_") then columns[#columns + 1] = column end
  end
  table.sort(columns) -- pairs() has no order; messages should
  for _, column in ipairs(columns) do
    local s = column:sub(#"hs_date_entered_" + 1)
    emit(attributes(id, row, {
      event_id = "hs:" .. id .. ":" .. s .. ":entered",
      ts = time(row[column]),
      stage = stage(s),
    }))
  end
end

function M.record(rec, emit, ctx)
  if rec.propertiesWithHistory ~= nil or rec.properties ~= nil then
    api_deal(rec, emit)
  elseif rec.email ~= nil and rec.id ~= nil then
    owners[tostring(rec.id)] = ((rec.firstName or "") .. " " .. (rec.lastName or "")):gsub("^%s+", ""):gsub("%s+$", "")
  else
    export_row(rec, emit)
  end
end

return M
