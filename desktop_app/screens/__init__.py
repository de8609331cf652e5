"""One module per screen of the desktop app; each screen only calls the Engage libraries."""
