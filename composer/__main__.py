"""`python -m composer`: the same entry point as the `composer` executable."""

from composer.cli.main import main

main()
