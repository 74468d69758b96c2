"""The sandbox: static checks, the Docker image and runners, host-side verification.

Kept import-free: the image carries this package's runner, which needs only the standard
library and the simulator.
"""
