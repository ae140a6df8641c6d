"""Offline RL: datasets in Minari's format (``dataset``) and recording them from jaxrl's own
runs (``record``)."""
