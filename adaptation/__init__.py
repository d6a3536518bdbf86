"""Stage 4: latent-space adaptation of a frozen policy on a robot (AWR over z)."""
