"""Subcommands of `trd-fhir` that live in their own modules (registered in cli.EXTRA_COMMANDS):
each has add_arguments(parser) and run(args) -> exit code."""
