"""Reports read only the run store."""
