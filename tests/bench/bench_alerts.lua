-- Alert rules for the benchmark: the funnel of bench_rules.lua with three
-- metrics and two rules, as a cron job would run them with --alerts.
-- run_bench.sh times `--alerts` over the full store and again after a
-- small import (the incremental case).
require "bench_rules"

local m = require "metrics"

metric { name = "quotes_per_presentation", title = "КП на презентацию",
         value = m.per("КП отправлено", "Презентация") }
metric { name = "average_deal", format = "money", value = m.average_deal }
metric { name = "revenue_per_lead", format = "money", value = m.revenue_per_lead }

rule {
  name = "presentation_to_quote",
  scope = "manager",
  window = "previous",
  metric = "conversion", from = "Презентация", to = "КП отправлено",
  op = "<", threshold = 0.62,
  min_sample = 20,
  message = "{manager}: презентация → КП {value} (порог {threshold}, {sample} презентаций)",
}

rule {
  name = "average_deal_drop",
  scope = "manager",
  window = "previous",
  metric = "average_deal",
  op = "<", threshold = 180000,
  min_sample = 10,
  message = "{manager}: средний чек {value} ({sample} сделок)",
}
