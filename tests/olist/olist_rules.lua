-- The Olist marketing funnel, for the events scripts/importers/two_table.lua
-- makes of the two files: a lead at its first contact, Won at won_date.
-- tests/olist/expected.sql encodes the same funnel by hand: change both
-- together.  The pair is listed once more with a 60-day window, so windows
-- are covered too.

settings {
  timezone = "UTC",
}

funnel {
  name = "olist",
  stages = { "Lead", "Won" },
  pairs = {
    { "Lead", "Won", window = "60d" },
  },
}
