-- The funnel of the significance simulation (tests/sim/run_sim.py).
settings { timezone = 'UTC' }
funnel {
  name = 'sim',
  stages = { 'Lead', 'Qualified', 'Meeting', 'Invoice', 'Won' },
  lost = 'Lost',
}
