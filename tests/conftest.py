"""Test-wide setup: the exchange decimal context for the main thread."""

from common.decimals import install_context

install_context()
