"""robot_deploy package."""
