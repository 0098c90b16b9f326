"""Reference data files (CSV, package data); read by gateway.reference. Each file documents its source."""
