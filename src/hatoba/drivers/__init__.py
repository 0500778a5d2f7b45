"""Network drivers, pure planners: the seam (`base`), one module per driver, and the registry
the engine finds a network's driver in. The engine makes what they plan."""
