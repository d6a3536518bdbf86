"""Stage 3: the hardware driver layer.

One :class:`~robot_deploy.robot.Robot` interface with backends (a PyBullet sim; the Unitree
SDK clients come next), a safety layer that wraps any robot and is itself a robot, and the
control loop that runs a policy bundle on a robot.
"""
