"""A day's report shows every table cell whole and every column: pandas' defaults cut text at 50 characters and
left out the middle columns of a wide table, behind "..." in the rendered reports."""

import pandas as pd

from playbook.run.notebook import start_day


def test_after_start_day_a_long_cell_renders_whole(tmp_path):
    reason = "could not run: the server loads the checkpoint and never finishes a forward pass on it (probe)"
    with pd.option_context("display.max_colwidth", 50):
        assert "..." in pd.DataFrame({"cell": [reason]})._repr_html_()  # the default this guards against
        start_day(8, "cpu-smollm2", [], str(tmp_path / "day08"))
        html = pd.DataFrame({"cell": [reason]})._repr_html_()
    assert reason in html and "..." not in html


def test_after_start_day_a_wide_table_keeps_every_column(tmp_path):
    wide = pd.DataFrame([{f"column_{i}": i for i in range(30)}])
    with pd.option_context("display.max_columns", 20):
        assert "<th>...</th>" in wide._repr_html_()  # the default this guards against
        start_day(8, "cpu-smollm2", [], str(tmp_path / "day08"))
        html = wide._repr_html_()
    assert "<th>...</th>" not in html and "column_29" in html and "column_15" in html
