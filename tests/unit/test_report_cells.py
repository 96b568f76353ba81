"""A day's report shows every table cell whole: pandas' default cut text at 50 characters, which hid a reason
or a second result behind "..." in the rendered reports."""

import pandas as pd

from playbook.run.notebook import start_day


def test_after_start_day_a_long_cell_renders_whole(tmp_path):
    reason = "could not run: the server loads the checkpoint and never finishes a forward pass on it (probe)"
    with pd.option_context("display.max_colwidth", 50):
        assert "..." in pd.DataFrame({"cell": [reason]})._repr_html_()  # the default this guards against
        start_day(8, "cpu-smollm2", [], str(tmp_path / "day08"))
        html = pd.DataFrame({"cell": [reason]})._repr_html_()
    assert reason in html and "..." not in html
