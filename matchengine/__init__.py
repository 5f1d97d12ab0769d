"""matchengine package."""

import common  # noqa: F401  (its guard must run before a compiled module of this package is imported)
