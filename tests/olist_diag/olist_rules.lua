-- The Olist marketing funnel (tests/olist/to_events.sql): a lead at first
-- contact, then won.  Monthly buckets in UTC; an SLA of one day.
settings { timezone = "UTC", period = "month", sla = "1d" }

funnel {
  name = "olist",
  stages = { "MQL", "Won" },
}
