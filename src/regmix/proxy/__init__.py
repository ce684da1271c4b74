"""The proxy sweep: one small model per mixture, in a local process pool or on Ray, cached per proxy."""
