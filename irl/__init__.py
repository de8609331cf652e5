"""IRL: reward heads, MaxEnt/MCE IRL, offline IQ-Learn, baselines, simulation, metrics,
explanations and reports. Reads fusion's dataset type; never imports ``desktop_app``."""
