-- b2b_services_test.lua: rule tests for b2b_services.lua.  Run:
--   build/salesengine test scripts/b2b_services_test.lua
--
-- The clock starts on Thursday 2026-10-01 09:00 Berlin time (07:00 UTC;
-- summer time ends on 25 October, which offsets, being plain durations,
-- do not notice).  October is the month under test; steps in November
-- look back at October with window = "previous".  A list given in a step
-- must account for every alert in that state, from any rule.

local start = "2026-10-01 09:00"

-- proposal_rate_drop: last month's discovery calls -> proposals < 50%,
-- at least 4 calls, two daily runs in a row.
test {
  name = "proposal rate drop of last month: pending, firing, resolved by late proposals",
  rules = "b2b_services.lua",
  start = start,
  -- October: Olga holds 4 discovery calls and sends no proposal until
  -- 5 November (O1, O2 at 35d).  Ivan: 6 calls, 5 proposals.  Lena: 3 calls,
  -- no proposal, under min_sample 4.  Ivan's history (H1 won, H2 lost from
  -- the proposal) gives him a win rate of 1/2 from "Proposal sent", so his
  -- three open proposals of 60000 weigh 3 x 60000 x 1/2 = 90000 and keep
  -- the pipeline rule (floor 50000) quiet.  Every lead qualifies, so the
  -- source rule is quiet too.
  deals = [[
    # DEAL MANAGER SOURCE [AMOUNT] | OFFSET STATUS | ...
    O1 Olga Referral | 0 Lead | 1d Qualified | 3d Discovery call | 35d Proposal sent
    O2 Olga Referral | 0 Lead | 1d Qualified | 3d Discovery call | 35d Proposal sent
    O3 Olga LinkedIn | 0 Lead | 1d Qualified | 3d Discovery call
    O4 Olga LinkedIn | 0 Lead | 1d Qualified | 3d Discovery call
    I1 Ivan Referral 60000 | 0 Lead | 1d Qualified | 3d Discovery call | 10d Proposal sent
    I2 Ivan Referral 60000 | 0 Lead | 1d Qualified | 3d Discovery call | 10d Proposal sent
    I3 Ivan LinkedIn 60000 | 0 Lead | 1d Qualified | 3d Discovery call | 10d Proposal sent
    I4 Ivan LinkedIn       | 0 Lead | 1d Qualified | 3d Discovery call
    H1 Ivan Referral 40000 | 0 Lead | 1d Qualified | 2d Discovery call | 3d Proposal sent | 5d Negotiation | 8d Contract signed
    H2 Ivan Referral 20000 | 0 Lead | 1d Qualified | 2d Discovery call | 3d Proposal sent | 6d Lost
    L1 Lena LinkedIn | 0 Lead | 1d Qualified | 4d Discovery call
    L2 Lena LinkedIn | 0 Lead | 1d Qualified | 4d Discovery call
    L3 Lena LinkedIn | 0 Lead | 1d Qualified | 4d Discovery call
  ]],
  steps = {
    -- Still October: the previous month (September) has no calls.
    { at = "20d", firing = {}, pending = {} },
    -- 1 November: October is the previous month.  Olga 0/4: pending.
    { at = "31d", firing = {},
      pending = { { rule = "proposal_rate_drop", manager = "Olga", value = 0 } } },
    -- 2 November, the second run in a row: firing, Olga only.
    { at = "32d", pending = {},
      firing = { { rule = "proposal_rate_drop", manager = "Olga", value = 0 } } },
    { at = "34d", firing = { { rule = "proposal_rate_drop", manager = "Olga" } }, resolved = {} },
    -- O1 and O2 got proposals on 5 November: October's cohort is 2/4 =
    -- 50%, not < 50%.  Resolved, once.
    { at = "36d", firing = {},
      resolved = { { rule = "proposal_rate_drop", manager = "Olga" } } },
    { at = "37d", firing = {}, pending = {}, resolved = {} },
  },
}

-- pipeline_below_floor: the weighted pipeline (forecast) < 50000.
test {
  name = "weighted pipeline below the floor fires on the 2nd run, a new proposal resolves it",
  rules = "b2b_services.lua",
  start = start,
  -- Marco's closed history: W1 won, W2 lost after the proposal, W3 lost
  -- in negotiation.  His win rate from "Proposal sent" is 1/3 (W1 of W1
  -- W2 W3), from "Negotiation" 1/2 (W1 of W1 W3).  W3 is lost under
  -- HubSpot's "Closed lost", one of the funnel's lost statuses.
  deals = [[
    W1 Marco Referral 30000 | 0 Lead | 1d Qualified | 2d Discovery call | 4d Proposal sent | 6d Negotiation | 9d Contract signed
    W2 Marco Referral 20000 | 0 Lead | 1d Qualified | 2d Discovery call | 4d Proposal sent | 7d Lost
    W3 Marco LinkedIn 25000 | 0 Lead | 1d Qualified | 2d Discovery call | 4d Proposal sent | 6d Negotiation | 8d Closed lost
    P1 Marco LinkedIn 45000 | 0 Lead | 1d Qualified | 3d Discovery call | 10d Proposal sent
    P2 Marco Referral 60000 | 0 Lead | 1d Qualified | 3d Discovery call | 10d Proposal made | 12d Negotiation
    P3 Marco Referral 90000 | 0 Lead | 1d Qualified | 3d Discovery call | 15d Proposal sent
  ]],
  steps = {
    -- Forecast = P1 45000 x 1/3 + P2 60000 x 1/2 = 15000 + 30000 = 45000
    -- < 50000: pending on the first run.  (P2's proposal came in under
    -- HubSpot's "Proposal made": an alias.)
    { at = "13d", firing = {},
      pending = { { rule = "pipeline_below_floor", value = 45000 } } },
    -- Second run: firing.  pipeline_coverage = 45000 / 60000 = 0.75.
    { at = "14d", pending = {},
      firing = { { rule = "pipeline_below_floor", funnel = "b2b", value = 45000 } },
      metrics = { { "pipeline_coverage", value = 0.75 } } },
    -- P3 sent at 15d: + 90000 x 1/3 = 30000 -> 75000 >= 50000: resolved.
    -- pipeline_coverage = 75000 / 60000 = 1.25.
    { at = "16d", firing = {}, pending = {},
      resolved = { { rule = "pipeline_below_floor" } },
      metrics = { { "pipeline_coverage", value = 1.25 },
                  { "pipeline_coverage", manager = "Marco", value = 1.25 } } },
  },
}

-- source_not_qualifying: < 15% of a source's leads this month qualified,
-- at least 6 leads, for 3 days (hold = "3d" is time, not runs).
test {
  name = "a source that stopped qualifying fires after 3 days, for that source only",
  rules = "b2b_services.lua",
  start = start,
  -- LinkedIn: 6 leads, none qualified by day 6, two of them at 6d.
  -- Referral: 6 leads, 4 qualified.  Webinar: 5 leads, none qualified, but
  -- 5 < min_sample 6.  Nobody has a proposal out, so the pipeline floor
  -- alert fires as well (forecast 0): it is listed, and it shows matching
  -- by the rule alone.
  deals = [[
    A1 Anna LinkedIn | 0 Lead | 6d Qualified
    A2 Anna LinkedIn | 0 Lead | 6d Qualified
    A3 Anna LinkedIn | 0 Lead | 1d Not a fit
    A4 Anna LinkedIn | 0 Lead | 1d Vendor pitch
    A5 Anna LinkedIn | 0 Lead
    A6 Anna LinkedIn | 0 Lead
    R1 Anna Referral | 0 Lead | 1d Qualified
    R2 Anna Referral | 0 Lead | 1d Qualified
    R3 Anna Referral | 0 Lead | 1d Qualified
    R4 Anna Referral | 0 Lead | 1d SQL
    R5 Anna Referral | 0 Lead | 1d No budget
    R6 Anna Referral | 0 Lead
    B1 Anna Webinar  | 0 Lead | 1d Spam
    B2 Anna Webinar  | 0 Lead
    B3 Anna Webinar  | 0 Lead
    B4 Anna Webinar  | 0 Lead
    B5 Anna Webinar  | 0 Lead
  ]],
  steps = {
    { at = "2d", firing = {},
      pending = { { rule = "source_not_qualifying", source = "LinkedIn", value = 0 },
                  { rule = "pipeline_below_floor", value = 0 } } },
    -- Two days since it began to hold: still pending (the pipeline alert,
    -- held for two runs, fires).
    { at = "4d",
      pending = { { rule = "source_not_qualifying", source = "LinkedIn" } },
      firing = { { rule = "pipeline_below_floor" } } },
    -- Three days: firing, for LinkedIn alone (Referral 4/6, Webinar too few).
    { at = "5d", pending = {},
      firing = { { rule = "source_not_qualifying", source = "LinkedIn", value = 0 },
                 { rule = "pipeline_below_floor" } },
      -- nontarget: A3, A4 (LinkedIn), B1 (Webinar) = 3; lost: R5.
      metrics = { { "nontarget", value = 3 }, { "nontarget", source = "LinkedIn", value = 2 },
                  { "lost", value = 1 } } },
    -- A1, A2 qualified at 6d: 2/6 = 33% >= 15%: resolved.
    { at = "7d",
      resolved = { { rule = "source_not_qualifying", source = "LinkedIn" } },
      firing = { { rule = "pipeline_below_floor" } } },
  },
}

test {
  name = "monthly metrics by hand: proposals per call, 30-day window, average contract",
  rules = "b2b_services.lua",
  start = start,
  -- All in October.  C3's proposal comes 30d2h after its qualification,
  -- outside the 30-day window; C2's after 28 days, inside.  C4 is won
  -- under HubSpot's "Closed won".
  deals = [[
    C1 Marco Referral 30000 | 0 Lead | 1d Qualified | 3d Discovery call | 5d Proposal sent | 9d Contract signed
    C2 Marco Referral 50000 | 0 Lead | 1d Qualified | 4d Discovery call | 29d Proposal sent
    C3 Lena  LinkedIn       | 0 Lead | 2h Qualified | 5d Discovery call | 30d4h Proposal sent
    C4 Lena  LinkedIn 12000 | 0 Lead | 1d Qualified | 2d Discovery call | 6d Proposal sent | 8d Negotiation | 12d Closed won
    C5 Lena  Webinar        | 0 Lead | 1d Not a fit
    C6 Marco Webinar        | 0 Lead | 2d Qualified | 4d Discovery call | 10d Lost
  ]],
  steps = {
    { at = "30d5h",
      -- proposals_per_call = deals reaching "Proposal sent" / reaching
      --   "Discovery call" in October: team 4 (C1-C4) / 5 (C1-C4, C6);
      --   Marco 2 (C1 C2) / 3 (C1 C2 C6); Lena 2/2
      -- avg_contract: C1 30000 and C4 12000 -> team 21000, Lena 12000
      -- qualified_to_proposal_30d: qualified C1 C2 C3 C4 C6 = 5; proposal
      --   within 30 days: C1 (4d), C2 (28d), C4 (5d) = 3 -> 3/5; C3 at 30d2h
      --   is outside -> Lena 1/2 (C4 of C3 C4)
      -- win_rate_90d: leads 6, won C1 C4 -> 2/6; Marco 1/3 (C1 of C1 C2 C6)
      -- pipeline_coverage: open pre-sale C2 50000 (Marco: won 1 of 1 closed
      --   from the proposal, C1) and C3 without amount -> forecast 50000,
      --   / 60000
      metrics = {
        { "proposals_per_call", value = 4 / 5 },
        { "proposals_per_call", manager = "Marco", value = 2 / 3 },
        { "proposals_per_call", manager = "Lena", value = 1 },
        { "avg_contract", value = 21000 },
        { "avg_contract", manager = "Lena", value = 12000 },
        { "qualified_to_proposal_30d", value = 3 / 5 },
        { "qualified_to_proposal_30d", manager = "Lena", value = 1 / 2 },
        { "win_rate_90d", value = 2 / 6 },
        { "win_rate_90d", manager = "Marco", value = 1 / 3 },
        { "pipeline_coverage", value = 50000 / 60000 },
      } },
  },
}
