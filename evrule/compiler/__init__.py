"""The rule compiler: parse, check, lower, generate."""
