"""Robot backends behind the one Robot interface.

``sim`` (PyBullet, lockstep or real time), ``go1_udp`` (A1/Go1 low level through the official
``unitree_legged_sdk`` UDP client) and ``go2_dds`` (Go2 low level through ``unitree_sdk2py`` over
Cyclone DDS). :func:`robot_deploy.cli.make_backend` builds one by name.
"""
