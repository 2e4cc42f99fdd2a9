"""composer.cli.project spells out the Compose labels it filters on (to keep networkx out of `ps`)."""

from composer.cli import project
from composer.planner import desired


def test_labels_match_the_planner() -> None:
    assert (project._PROJECT, project._SERVICE, project._NUMBER, project._ONEOFF) == (
        desired.PROJECT, desired.SERVICE, desired.NUMBER, desired.ONEOFF)
