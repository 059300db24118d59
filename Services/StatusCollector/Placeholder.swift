// PazStatusCollector lands with issue 3.
