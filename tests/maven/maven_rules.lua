-- The Maven CRM funnel, for the events tests/maven/to_events.sql makes.
-- tests/maven/expected.sql encodes the same funnel by hand: change both
-- together.
--
-- The export's deal_stage runs Prospecting -> Engaging -> Won | Lost, but a
-- Prospecting deal has no date, so it yields no event; the first stage
-- with events is Engaging.  Declaring Prospecting anyway would count every
-- deal as a lead in reached mode (through its first event) and none in
-- touched mode (nobody is ever seen at Prospecting): a funnel about data
-- the export does not have.  So the funnel starts where the dates start.
-- Open deals sit at Engaging: that is the pre-sale pipeline.
--
-- With two stages the only pair is Engaging -> Won, which is counted
-- anyway; it is listed once more with a 90-day window, so the test covers
-- windows and window_open as well (the two blocks carry the same pair
-- label; only their numbers tell them apart).

settings {
  timezone = "UTC",
}

funnel {
  name = "maven",
  stages = {
    { "Engaging", presale = true },
    "Won",
  },
  lost = { "Lost" },
  pairs = {
    { "Engaging", "Won", window = "90d" },
  },
}
