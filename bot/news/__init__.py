"""The monthly report, milestones, records, goals, and the bulletin's rendering."""
