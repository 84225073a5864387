"""Cohort settings: the polling a run gets without any polling setting (the e2e tests poll
faster than this, `tests/conftest.py`'s base_config)."""

from __future__ import annotations

from tap_branch.api.jobs import Polling
from tap_branch.streams.cohort.settings import CohortSettings


def test_a_job_is_first_polled_5_s_after_its_submission_then_ever_less_often():
    settings = CohortSettings.from_config({"access_token": "api_app_x", "app_id": "1"})
    assert settings.polling == Polling(
        first_wait=5, wait=5, growth=1.5, longest_wait=60, timeout=3600
    )
    faster = CohortSettings.from_config(
        {"app_id": "1", "cohort_poll_interval": 0.5, "cohort_poll_max_interval": 2}
    )
    assert (faster.polling.first_wait, faster.polling.longest_wait) == (0.5, 2)
