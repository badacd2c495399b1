-- pipedrive.lua: Pipedrive API dumps -> status history.
--
--   salesengine --import-with pipedrive stages.json deals.json flow.json rules.lua
--
-- Inputs are the JSON bodies of these calls, saved as they come (several
-- bodies, e.g. one flow per deal, may be concatenated as JSON Lines):
--   GET /v1/stages              {id, name, pipeline_id, pipeline_name}: stage names
--   GET /v1/deals               {id, status, stage_id, pipeline_id, value, currency,
--                                user_id{id,name}, add_time, won_time, lost_time}
--   GET /v1/deals/{id}/flow     items {object:"dealChange", data:{id, item_id,
--                                field_key, old_value, new_value, log_time, user_id}}
-- in this order.  Times are UTC ("YYYY-MM-DD HH:MM:SS").
--
-- Events: each stage change in the flow (field_key "stage_id"), "pd:<change
-- id>", at its log_time; the deal's entry, "pd:<deal>:added", at add_time,
-- at the stage its first change left (or its current stage); and, since
-- won and lost are the deal's status in Pipedrive, not a stage, a "Won" or
-- "Lost" event ("pd:<deal>:won"/":lost") at won_time or lost_time.
-- Declare "Won" as the won stage and "Lost" as lost in the rules.

local M = {
  name = "pipedrive",
  records = "data",
  timezone = "UTC",
}

-- The deal field holding the ad source (a custom field's key), or nil.
M.source_field = nil
M.won_stage, M.lost_stage = "Won", "Lost"

local stages = {}     -- [id] = name
local pipelines = {}  -- [stage id] = pipeline name
local deals = {}      -- [id] = deal
local first = {}      -- [deal id] = earliest stage change {at, old}
local order = {}      -- deal ids in input order

local function stage_name(id)
  return stages[tostring(id)] or ("stage " .. tostring(id))
end

local function owner(deal)
  local u = deal.user_id
  if type(u) == "table" then return u.name or (u.id and "user " .. u.id) end
  return u and "user " .. tostring(u)
end

local function common(deal, ev)
  ev.manager = owner(deal)
  ev.source = M.source_field and deal[M.source_field] and tostring(deal[M.source_field])
  ev.amount = deal.value
  ev.currency = deal.currency
  ev.pipeline = deal.stage_id and pipelines[tostring(deal.stage_id)]
  return ev
end

local function change(item, emit)
  local d = item.data
  if d == nil or d.field_key ~= "stage_id" then
    return -- other fields changed: not the stage history
  end
  local deal_id = tostring(d.item_id)
  local at = d.log_time
  if first[deal_id] == nil or at < first[deal_id].at then
    first[deal_id] = { at = at, old = d.old_value }
  end
  emit(common(deals[deal_id] or {}, {
    event_id = "pd:" .. tostring(d.id),
    deal_id = deal_id,
    ts = at,
    stage = stage_name(d.new_value),
    from_stage = d.old_value and stage_name(d.old_value),
  }))
end

function M.record(rec, emit, ctx)
  if rec.object ~= nil then
    if rec.object == "dealChange" then change(rec, emit) end
  elseif rec.order_nr ~= nil and rec.pipeline_id ~= nil then
    stages[tostring(rec.id)] = rec.name
    pipelines[tostring(rec.id)] = rec.pipeline_name
  elseif rec.status ~= nil and rec.stage_id ~= nil then
    if deals[tostring(rec.id)] == nil then order[#order + 1] = tostring(rec.id) end
    deals[tostring(rec.id)] = rec
  else
    error("not a stage, deal or deal flow item", 0)
  end
end

-- After the last input: entries, and won/lost from the deals' status.
function M.finish(emit, ctx)
  if ctx.input ~= ctx.inputs then return end
  for _, id in ipairs(order) do
    local deal = deals[id]
    local entry = first[id] and first[id].old or deal.stage_id
    if deal.add_time ~= nil and entry ~= nil then
      emit(common(deal, { event_id = "pd:" .. id .. ":added", deal_id = id, ts = deal.add_time,
        stage = stage_name(entry) }))
    end
    if deal.status == "won" and deal.won_time ~= nil then
      emit(common(deal, { event_id = "pd:" .. id .. ":won", deal_id = id, ts = deal.won_time,
        stage = M.won_stage }))
    elseif deal.status == "lost" and deal.lost_time ~= nil then
      emit(common(deal, { event_id = "pd:" .. id .. ":lost", deal_id = id, ts = deal.lost_time,
        stage = M.lost_stage }))
    end
  end
end

return M
