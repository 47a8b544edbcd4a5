"""Test configuration: hypothesis runs derandomized in CI (a failing example must reproduce,
never flake), randomized locally, and thoroughly with HYPOTHESIS_PROFILE=thorough."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("thorough", max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))
