"""Robot emulators: a real-time PyBullet robot behind a real wire protocol on 127.0.0.1."""
