"""Pure planners per network driver: names, MTUs, options. The engine applies their plans."""
