"""Tests of the upstream adapter and the end-to-end test harness."""
