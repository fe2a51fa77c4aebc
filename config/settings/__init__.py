"""Settings modules: ``base`` (shared), ``local`` (embedded default), ``test``, ``production``."""
