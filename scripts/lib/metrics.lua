-- metrics.lua: reusable helpers for metric{} and rule{} functions.
--   local m = require "metrics"
--   metric { name = "avg_check", format = "money", value = m.average_deal }
-- Every helper returns value, sample (the count the value rests on), or
-- nil when there is nothing to divide by, so rules can use min_sample.

local M = {}

-- num / den, or nil when den is 0 or nil; the sample is den.
function M.ratio(num, den)
  if den == nil or den == 0 or num == nil then
    return nil, den or 0
  end
  return num / den, den
end

-- A metric function: cohort conversion from stage a to stage b; with
-- `within` ("30d"), the declared pair with that window.
function M.step(a, b, within)
  return function(s)
    local rate, _, cohort = s:conversion(a, b, within)
    return rate, cohort
  end
end

-- A metric function: deals reaching stage b per deal reaching stage a in
-- the same period (not a cohort: "how many quotes per presentation").
function M.per(b, a)
  return function(s)
    return M.ratio(s:reached(b), s:reached(a))
  end
end

-- Average won deal in the period.
function M.average_deal(s)
  local deals, revenue = s:won()
  return M.ratio(revenue, deals)
end

-- Won revenue per lead that came in the period.
function M.revenue_per_lead(s)
  local _, revenue = s:won()
  return M.ratio(revenue, s:leads())
end

-- Share of the period's leads marked non-target.
function M.nontarget_share(s)
  return M.ratio(s:nontarget(), s:leads())
end

-- A metric function: the relative change of metric `name` against the
-- previous period (0.1 = +10%); nil when either has no value.
function M.change(name)
  return function(s)
    local now, n = s:metric(name)
    local before = s:prev():metric(name)
    if now == nil or before == nil or before == 0 then
      return nil, n
    end
    return (now - before) / before, n
  end
end

-- A metric function: this scope's value of `name` minus the team's, in
-- the same period (negative: below the team).
function M.gap_to_team(name)
  return function(s)
    local mine, n = s:metric(name)
    local team = s:team():metric(name)
    if mine == nil or team == nil then
      return nil, n
    end
    return mine - team, n
  end
end

return M
