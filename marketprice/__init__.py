"""marketprice package."""
