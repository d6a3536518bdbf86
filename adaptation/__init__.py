"""Stage 4: latent-space adaptation of a frozen policy on a robot (AWR over z)."""

__all__ = ["adapt", "awr", "bench", "cli", "config", "returns", "rollouts", "run", "transfer",
           "transfer_report", "transfer_robots"]
