"""common package: what two or more daemons share.

Importing it first routes stale compiled modules to their sources (`common.native`).
"""

from common.native import guard

guard()
