"""Platform pieces shared by every bounded context: settings, AWS clients, errors, ids, clock, money."""
