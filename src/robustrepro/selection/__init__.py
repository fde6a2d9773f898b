"""Sample selection: offline set cover, online facility location, and what they are computed on."""
