"""sim_training package."""
