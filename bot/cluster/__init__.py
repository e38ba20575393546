"""Running more than one process: the SQLite instance lock, leases and leadership on a shared
database (see README "Several workers")."""
