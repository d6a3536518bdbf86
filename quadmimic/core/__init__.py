"""The core: what every stage shares, imported by every stage, importing no stage.

* :mod:`quadmimic.core.errors`: the one exception hierarchy (located, one-line errors);
* :mod:`quadmimic.core.fileio`: atomic writes and the user-written tables;
* :mod:`quadmimic.core.console`: the console and progress bar of every command;
* :mod:`quadmimic.core.options`: the range and output-path checks of every command's options;
* :mod:`quadmimic.core.geometry`: quaternions (xyzw), rotations and planar trajectories;
* :mod:`quadmimic.core.robots`: one spec file per robot, its actuator figures included.

The stages above it, each importing only the core and the stages before it:
``motion_retarget ← sim_training ← robot_deploy ← adaptation ← quadmimic`` (the command
line); ``tests/test_architecture.py`` holds the rule.
"""

__all__ = ["console", "errors", "fileio", "geometry", "options", "robots"]
