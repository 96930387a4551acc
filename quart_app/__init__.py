"""The HTTP faces: the gateway app and the read-model app."""
