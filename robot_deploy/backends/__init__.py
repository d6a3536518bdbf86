"""Robot backends: ``sim`` (PyBullet); Unitree SDK clients come next."""
