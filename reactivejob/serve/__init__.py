"""The process face: the command line, the kopf adapter, admission and its webhook server, and
the probe and metrics endpoints, which ask the engine's manager how it is."""
