"""accesshttp: the HTTP JSON-RPC gateway in front of matchengine, marketprice and readhistory."""
