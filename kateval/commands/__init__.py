"""One module per `kateval` subcommand: thin argument handling over library calls."""
