-- amocrm.lua: amoCRM (Kommo) API v4 dumps -> status history.
--
--   salesengine --import-with amocrm pipelines.json users.json leads.json events.json rules.lua
--
-- Inputs are the JSON bodies of these API calls, saved as they come
-- (several pages of one call may be concatenated as JSON Lines, one body
-- per line, in a .jsonl file):
--   GET /api/v4/leads/pipelines        status names: _embedded.pipelines[]._embedded.statuses[]
--   GET /api/v4/users                  manager names (optional)
--   GET /api/v4/leads                  price, responsible_user_id, created_at, custom fields
--   GET /api/v4/events?filter[type]=lead_status_changed
--                                      {id, type, entity_id, created_at, value_before, value_after}
-- Give them in this order: a lead's event needs its status names and its
-- lead already read.  Each record says which kind it is by its shape.
--
-- Events: one per status change ("amo:<event id>", at created_at, unix
-- seconds), and one for each lead's entry ("amo:<lead>:created", at the
-- lead's created_at, at the status its first change left, or its current
-- status if it never moved).  Entries are emitted after the last input.
-- Status 142 is won and 143 lost in every pipeline.

-- Names of the fixed closing statuses when no pipelines dump says them
-- (as in scripts/lib/amocrm.lua).
local names = { won = "Успешно реализовано", lost = "Закрыто и не реализовано" }

local M = {
  name = "amocrm",
  records = "_embedded.pipelines|_embedded.users|_embedded.leads|_embedded.events",
}

-- The custom field that holds the lead's ad source: by field_code, then by
-- field_name.  Edit for your account.
M.source_fields = { "UTM_SOURCE", "Источник", "Source" }

local statuses = {}   -- [pipeline_id][status_id] = name
local pipelines = {}  -- [pipeline_id] = name
local users = {}      -- [user_id] = name
local leads = {}      -- [lead_id] = {created_at, manager, source, price, status_id, pipeline_id}
local first_move = {} -- [lead_id] = {at, status_id, pipeline_id} of its earliest change

local function status_name(pipeline_id, status_id)
  if status_id == 142 then return (statuses[pipeline_id] or {})[142] or names.won end
  if status_id == 143 then return (statuses[pipeline_id] or {})[143] or names.lost end
  return (statuses[pipeline_id] or {})[status_id] or ("status " .. tostring(status_id))
end

local function source_of(lead)
  for _, want in ipairs(M.source_fields) do
    for _, f in ipairs(lead.custom_fields_values or {}) do
      if (f.field_code == want or f.field_name == want) and f.values and f.values[1] then
        return tostring(f.values[1].value)
      end
    end
  end
  return nil
end

local function pipeline(rec)
  local rows = rec._embedded and rec._embedded.statuses
  if rows == nil then error("pipeline " .. tostring(rec.id) .. " has no _embedded.statuses", 0) end
  pipelines[rec.id] = rec.name
  statuses[rec.id] = statuses[rec.id] or {}
  for _, s in ipairs(rows) do
    statuses[rec.id][s.id] = s.name
  end
end

local function lead(rec)
  leads[rec.id] = {
    created_at = rec.created_at,
    manager = users[rec.responsible_user_id] or
      (rec.responsible_user_id and "user " .. tostring(rec.responsible_user_id)),
    source = source_of(rec),
    price = rec.price,
    status_id = rec.status_id,
    pipeline_id = rec.pipeline_id,
  }
end

local function lead_status(list, what, id)
  local s = list and list[1] and list[1].lead_status
  if s == nil or s.id == nil then
    error(("event %s: no %s[1].lead_status"):format(id, what), 0)
  end
  return s
end

local function change(rec, emit)
  if rec.type ~= "lead_status_changed" then
    return -- other event types are not status history
  end
  local after = lead_status(rec.value_after, "value_after", rec.id)
  local before = lead_status(rec.value_before, "value_before", rec.id)
  local l = leads[rec.entity_id] or {}
  local first = first_move[rec.entity_id]
  if first == nil or rec.created_at < first.at then
    first_move[rec.entity_id] = { at = rec.created_at, status_id = before.id,
      pipeline_id = before.pipeline_id }
  end
  emit {
    event_id = "amo:" .. tostring(rec.id),
    deal_id = tostring(rec.entity_id),
    ts = rec.created_at,
    stage = status_name(after.pipeline_id, after.id),
    from_stage = status_name(before.pipeline_id, before.id),
    pipeline = pipelines[after.pipeline_id] or tostring(after.pipeline_id),
    manager = l.manager,
    source = l.source,
    amount = l.price,
  }
end

function M.record(rec, emit, ctx)
  if rec.type ~= nil and rec.entity_id ~= nil then
    change(rec, emit)
  elseif rec._embedded ~= nil and rec._embedded.statuses ~= nil then
    pipeline(rec)
  elseif rec.status_id ~= nil then
    lead(rec)
  elseif rec.email ~= nil or rec.rights ~= nil then
    users[rec.id] = rec.name
  else
    error("not a pipeline, user, lead or event", 0)
  end
end

-- Entries, once everything is read: each lead enters at its creation, at
-- the status its first change left (or where it still is).
function M.finish(emit, ctx)
  if ctx.input ~= ctx.inputs then
    return
  end
  local ids = {}
  for id in pairs(leads) do ids[#ids + 1] = id end
  table.sort(ids)
  for _, id in ipairs(ids) do
    local l = leads[id]
    local first = first_move[id]
    local status_id = first and first.status_id or l.status_id
    local pipeline_id = first and first.pipeline_id or l.pipeline_id
    if l.created_at ~= nil and status_id ~= nil then
      emit {
        event_id = "amo:" .. tostring(id) .. ":created",
        deal_id = tostring(id),
        ts = l.created_at,
        stage = status_name(pipeline_id, status_id),
        pipeline = pipelines[pipeline_id] or tostring(pipeline_id),
        manager = l.manager,
        source = l.source,
        amount = l.price,
      }
    end
  end
end

return M
