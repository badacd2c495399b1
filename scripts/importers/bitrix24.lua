-- bitrix24.lua: Bitrix24 REST dumps -> status history.
--
--   salesengine --import-with bitrix24 statuses.json users.json deals.json stagehistory.json rules.lua
--
-- Inputs are the JSON bodies of these REST calls, saved as they come
-- (pages of one call may be concatenated as JSON Lines in a .jsonl file):
--   crm.status.list                 names of stages (ENTITY_ID DEAL_STAGE,
--                                   DEAL_STAGE_<n>) and sources (SOURCE); optional
--   user.get                        manager names; optional
--   crm.deal.list                   ASSIGNED_BY_ID, SOURCE_ID, OPPORTUNITY, CURRENCY_ID
--   crm.stagehistory.list (entityTypeId 2: deals)
--                                   {ID, TYPE_ID, OWNER_ID, CREATED_TIME, CATEGORY_ID,
--                                    STAGE_SEMANTIC_ID, STAGE_ID}
-- in this order.  Each history item is one event, "b24:<ID>", at
-- CREATED_TIME (it carries its offset, e.g. +03:00): TYPE_ID 1 (created),
-- 2 (moved) and 3 (moved to a final stage) alike.  The stage is the
-- stage's name when crm.status.list gave it, else its id (stages outside
-- the main pipeline are prefixed "C<n>:", e.g. "C1:NEW"); the pipeline is
-- "main" or "C<n>".  STAGE_SEMANTIC_ID (P in progress, S success, F
-- failure) is the CRM's own won/lost: declare those stages as won and lost
-- in the rules.

local M = {
  name = "bitrix24",
  records = "result.items|result",
}

local names = {}  -- [ENTITY_ID][STATUS_ID] = NAME
local users = {}  -- [ID] = "NAME LAST_NAME"
local deals = {}  -- [ID] = deal record

local function lookup(entity, id)
  return names[entity] and names[entity][id]
end

local function stage_name(category, stage)
  local entity = (category == nil or tostring(category) == "0") and "DEAL_STAGE"
    or "DEAL_STAGE_" .. tostring(category)
  return lookup(entity, stage) or stage
end

local function history(rec, emit)
  if rec.STAGE_ID == nil then
    error("history item " .. tostring(rec.ID) .. " has no STAGE_ID", 0)
  end
  local deal = deals[tostring(rec.OWNER_ID)] or {}
  local category = tostring(rec.CATEGORY_ID or "0")
  emit {
    event_id = "b24:" .. tostring(rec.ID),
    deal_id = tostring(rec.OWNER_ID),
    ts = rec.CREATED_TIME,
    stage = stage_name(category, rec.STAGE_ID),
    pipeline = category == "0" and "main" or "C" .. category,
    manager = deal.ASSIGNED_BY_ID and (users[tostring(deal.ASSIGNED_BY_ID)] or "user " .. deal.ASSIGNED_BY_ID),
    source = deal.SOURCE_ID and (lookup("SOURCE", deal.SOURCE_ID) or deal.SOURCE_ID),
    amount = deal.OPPORTUNITY,
    currency = deal.CURRENCY_ID,
  }
end

function M.record(rec, emit, ctx)
  if rec.OWNER_ID ~= nil and rec.STAGE_SEMANTIC_ID ~= nil then
    history(rec, emit)
  elseif rec.ENTITY_ID ~= nil and rec.STATUS_ID ~= nil then
    names[rec.ENTITY_ID] = names[rec.ENTITY_ID] or {}
    names[rec.ENTITY_ID][rec.STATUS_ID] = rec.NAME
  elseif rec.STAGE_ID ~= nil and rec.ID ~= nil then
    deals[tostring(rec.ID)] = rec
  elseif rec.ID ~= nil and (rec.NAME ~= nil or rec.LAST_NAME ~= nil) then
    local full = ((rec.NAME or "") .. " " .. (rec.LAST_NAME or "")):gsub("^%s+", ""):gsub("%s+$", "")
    users[tostring(rec.ID)] = full
  else
    error("not a status, user, deal or stage history item", 0)
  end
end

return M
