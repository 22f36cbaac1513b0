"""Course catalogue and staff publishing: MOOCs, instant courses and masterclasses."""
