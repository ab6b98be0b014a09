"""The offline playground: the real bot against the local Discord emulator, in one process."""
