"""SLA clocks: per-ticket timers persisted in the database that warn the desk at 80 % and page
the on-call engineer and the lead at breach, until someone acknowledges."""
