"""Pictures and reports for people: replay timelines, the bundle's HTML report (matplotlib;
never imported by the runtime)."""
