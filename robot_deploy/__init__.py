"""Stage 3: the hardware driver layer.

One :class:`~robot_deploy.robot.Robot` interface with backends (PyBullet, MuJoCo, the Unitree
go1-udp and go2-dds clients; :mod:`robot_deploy.backends`), emulators of the wire protocols, a
safety layer that wraps any robot and is itself a robot, the control loop that runs a policy
bundle on a robot and :mod:`robot_deploy.deploy`, a deployment as a function.
"""

__all__ = ["backends", "bench", "cli", "controller", "deploy", "emulator", "mujoco_model",
           "network", "noise", "realtime", "remote", "robot", "safety", "shove", "timing"]
