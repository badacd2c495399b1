-- b2b_services.lua: a B2B services firm (software development and
-- consulting for companies in the EU) with long sales cycles: from the
-- first contact to a signed contract takes one to three months.
--
--   build/salesengine --db b2b.db --import crm_export.csv scripts/b2b_services.lua
--   build/salesengine --db b2b.db --alerts scripts/b2b_services.lua   # from cron, daily
--   build/salesengine test scripts/b2b_services_test.lua
--
-- What this example shows: a funnel in English whose older statuses (the
-- team came from HubSpot's default pipeline) are aliases; two pre-sale
-- stages; conversion pairs with windows of 30, 60 and 90 days; a custom
-- metric read back by a rule; a rule on the previous month; a `when` rule
-- that returns a number compared with op/threshold; and a per-source rule
-- held for a duration.  The API is in docs/SCRIPTING.md, the numbers in
-- docs/METRICS.md.

local m = require "metrics"

-- The firm sells the month: targets, bonuses and the board review are
-- monthly, so reports and rules look at calendar months in Berlin time.
settings {
  timezone = "Europe/Berlin",
  input_timezone = "Europe/Berlin",
  period = "month",
}

-- What the firm wants signed per month, in EUR; the weighted pipeline is
-- judged against it (see pipeline_coverage and the pipeline rule).
local MONTHLY_TARGET = 60000
-- Below this weighted pipeline, next month's target is out of reach.
local PIPELINE_FLOOR = 50000

funnel {
  name = "b2b",
  stages = {
    -- Inbound form, a conference badge scan or an intro; "New" and
    -- "Subscriber" are how HubSpot named them before the migration.
    { "Lead", aliases = { "New", "Subscriber", "Inbound lead" } },
    -- Budget, authority, need and timing confirmed on a short call.
    { "Qualified", aliases = { "Qualified to buy", "SQL" } },
    { "Discovery call", aliases = { "Appointment scheduled", "Presentation scheduled" } },
    -- From the proposal on, the deal has a price: both stages make the
    -- weighted pipeline (deal amount x the manager's win rate from there).
    { "Proposal sent", aliases = { "Proposal made" }, presale = true },
    { "Negotiation", aliases = { "Decision maker bought-in", "Contract sent" }, presale = true },
    { "Contract signed", aliases = { "Closed won" } },
  },
  won = "Contract signed",
  lost = { "Lost", "Closed lost", "No budget", "Chose competitor" },
  -- Not buyers at all: counting them as lost would make marketing's
  -- numbers the managers' problem.
  nontarget = { "Not a fit", "Spam", "Job applicant", "Vendor pitch" },
  pairs = {
    -- Lead to contract within a quarter: a lead that takes longer was
    -- revived, not won by the process this funnel measures.
    { "Lead", "Contract signed", window = "90d" },
    -- A qualified client who does not see a proposal within a month has
    -- usually gone quiet: the 30-day rate is what managers are coached on.
    { "Qualified", "Proposal sent", window = "30d" },
    -- Proposal to signature within two months.
    { "Proposal sent", "Contract signed", window = "60d" },
  },
}

-- Proposals sent per discovery call held in the month (a ratio of counts
-- in the same month, not a cohort conversion).
metric {
  name = "proposals_per_call",
  title = "Proposals per discovery call",
  value = m.per("Proposal sent", "Discovery call"),
}

-- Average signed contract of the month.
metric { name = "avg_contract", title = "Average contract, EUR", format = "money", value = m.average_deal }

-- The 30-day pair declared above: qualified clients of the month who got
-- a proposal within 30 days (the third argument picks the windowed pair).
metric {
  name = "qualified_to_proposal_30d",
  title = "Qualified -> proposal in 30 days",
  format = "percent",
  value = m.step("Qualified", "Proposal sent", "30d"),
}

-- Lead to contract within 90 days (the declared window).
metric {
  name = "win_rate_90d",
  title = "Lead -> contract in 90 days",
  format = "percent",
  value = m.step("Lead", "Contract signed", "90d"),
}

-- Written inline: weighted pipeline (the pre-sale forecast, docs/METRICS.md
-- 4c) over the monthly target.  Below 100% the firm does not have enough
-- proposals out to make next month.  The sample is the number of pre-sale
-- deals; the period does not apply (it is "now").
metric {
  name = "pipeline_coverage",
  title = "Weighted pipeline / monthly target",
  format = "percent",
  value = function(s)
    local deals, _, forecast = s:presale()
    return forecast / MONTHLY_TARGET, deals
  end,
}

-- A manager whose discovery calls of last month did not turn into
-- proposals.  The previous month, because a call made yesterday has not
-- had time to get its proposal; the cohort still grows as late proposals
-- go out this month, so the alert resolves by itself when they do.  Fewer
-- than 4 calls say nothing about a manager; two daily runs in a row.
rule {
  name = "proposal_rate_drop",
  scope = "manager",
  window = "previous",
  metric = "conversion", from = "Discovery call", to = "Proposal sent",
  op = "<", threshold = 0.5,
  min_sample = 4,
  hold = 2,
  severity = "warning",
  message = "{manager}: last month's discovery calls -> proposals {value} < {threshold} ({sample} calls)",
}

-- The weighted pipeline below the floor.  `when` returns a number (the
-- forecast) and its sample, compared with op and threshold like a metric
-- rule, so the message can print {threshold}.  Team scope: one alert for
-- the funnel.  Two runs in a row, then a weekly reminder while it lasts.
rule {
  name = "pipeline_below_floor",
  scope = "team",
  when = function(s)
    local deals, _, forecast = s:presale()
    return forecast, deals
  end,
  op = "<", threshold = PIPELINE_FLOOR,
  hold = 2,
  repeat_every = "7d",
  severity = "critical",
  message = "Weighted pipeline {value} EUR < {threshold} EUR ({sample} deals in proposal/negotiation)",
}

-- A source that stopped bringing qualified leads: under 15% of this
-- month's leads from it qualified, at least 6 leads.  hold = "3d": with a
-- daily cron, three days of it before anyone pauses a campaign.
rule {
  name = "source_not_qualifying",
  scope = "source",
  metric = "conversion", from = "Lead", to = "Qualified",
  op = "<", threshold = 0.15,
  min_sample = 6,
  hold = "3d",
  severity = "warning",
  message = "Source {source}: {value} of {sample} leads this month qualified (< {threshold})",
}
