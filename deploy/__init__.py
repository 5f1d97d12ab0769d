"""Deployment: the local launcher (`deploy.launcher`), the database tool (`deploy.initdb`), and beside them
the production samples and scripts (`deploy/<daemon>/conf`, `deploy/<daemon>/shell`, `deploy/sql`)."""
