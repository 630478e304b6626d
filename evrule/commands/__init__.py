"""Commands of the `evrule` command line that live in their own modules (`<name>_cmd.py`, each
exposing one click command); `evrule/cli.py` registers them with `cli.add_command`."""
