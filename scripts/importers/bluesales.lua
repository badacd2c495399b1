-- bluesales.lua: BlueSales API dumps -> status history.
--
--   salesengine --import-with bluesales customers_2026-11-28.json rules.lua
--
-- BlueSales keeps no status history: customers.get and orders.get return
-- only each record's current status.  So this adapter builds the history
-- itself.  A dump taken at time T (--snapshot-time, else the date in the
-- file name, midnight Moscow time) is compared with what the last dump
-- said, kept in the store's adapter state; where a status changed, the
-- deal moved at T.  Run daily, this gives the conversion history the CRM
-- cannot show.  The state is written in the same transaction as the
-- events, so importing a dump again changes nothing.
--
-- Records (docs/IMPORTERS.md shows the shapes):
--   customers.get  {count, notReturnedCount, customers: [...]}: the deal is
--                  the customer; pipeline "customers"
--   orders.get     {count, notReturnedCount, orders: [...]}: the deal is
--                  the order, with its amount; pipeline "orders"
--
-- Copy this file to change the mapping (say, a custom field as the source):
--   salesengine --import-with ./my_bluesales.lua dump.json rules.lua
-- Keep `name` if the copy should go on from the state the original kept.

local M = {
  name = "bluesales",
  records = "customers|orders",
  timezone = "Europe/Moscow", -- firstContactDate and order dates are Moscow time
}

-- A customer (or order) that was in an earlier dump and is missing from
-- this one.  nil (the default): no event; its last status stands, and if
-- it comes back later its new status is compared with that one.  A dump
-- can miss records for many reasons (a filter, an archive, a page limit)
-- and only deletion would justify a move.  If your dumps are always
-- complete, set a status name here (and declare it lost or nontarget in
-- your rules): a missing record then moves to it at T.
M.missing_status = nil

-- Ids of this dump, per kind: the missing ones are those not here.  Kept
-- only when missing_status is set, so a dump of a million customers does
-- not hold a million keys in memory otherwise.
local seen

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

function M.start(ctx)
  local t = ctx.snapshot_time
  if t == nil then
    error("no snapshot time: put the dump's date in its file name (customers_2026-11-28.json)"
      .. " or pass --snapshot-time", 0)
  end
  local last = tonumber(ctx.state_get("snapshot"))
  if last ~= nil and t < last then
    error(("this dump was taken at %s, before the last one imported (%s): import dumps in"
      .. " the order they were taken"):format(iso(t), iso(last)), 0)
  end
  ctx.state_set("snapshot", t)
  seen = { customer = {}, order = {} }
end

-- One record of either kind: what it is, and where its status is.
local function describe(rec)
  if rec.orderStatus ~= nil or rec.totalSumMinusDiscount ~= nil then
    return "order", rec.orderStatus and rec.orderStatus.name, rec.date, rec.customer
  end
  return "customer", rec.crmStatus and rec.crmStatus.name, rec.firstContactDate, rec
end

function M.record(rec, emit, ctx)
  local kind, status, entered, customer = describe(rec)
  if rec.id == nil then
    error(kind .. " without an id", 0)
  end
  if status == nil or status == "" then
    error(("%s %s has no status"):format(kind, rec.id), 0)
  end
  local id = tostring(math.tointeger(rec.id) or rec.id)
  local key = kind .. ":" .. id
  local last = ctx.state_get(key)
  if M.missing_status ~= nil then
    seen[kind][key] = true
  end
  if last == status then
    return
  end
  local t = ctx.snapshot_time
  local source = customer and customer.source and customer.source.name
  local ev = {
    deal_id = kind == "order" and "order:" .. id or id,
    stage = status,
    manager = rec.manager and (rec.manager.fullName or rec.manager.login),
    source = source,
    amount = rec.totalSumMinusDiscount,
    pipeline = kind .. "s",
  }
  if last == nil then
    -- First seen: the record enters at its first contact (order date).
    ev.event_id = "bs:" .. key .. ":new"
    ev.ts = entered or t
  else
    ev.event_id = "bs:" .. key .. ":" .. iso(t)
    ev.ts = t
    ev.from_stage = last
  end
  -- A rejected event (a bad date, say) leaves the state alone, so the
  -- next dump tries again.
  if emit(ev) then
    ctx.state_set(key, status)
  end
end

function M.finish(emit, ctx)
  if M.missing_status == nil then
    return
  end
  local t = ctx.snapshot_time
  for kind, ids in pairs(seen) do
    if next(ids) ~= nil then -- only the kind this dump holds
      for _, key in ipairs(ctx.state_keys(kind .. ":")) do
        local last = ctx.state_get(key)
        if not ids[key] and last ~= M.missing_status then
          local id = key:sub(#kind + 2)
          local ok = emit {
            event_id = "bs:" .. key .. ":" .. iso(t),
            deal_id = kind == "order" and "order:" .. id or id,
            ts = t,
            stage = M.missing_status,
            from_stage = last,
            pipeline = kind .. "s",
          }
          if ok then
            ctx.state_set(key, M.missing_status)
          end
        end
      end
    end
  end
end

return M
