"""Pictures and reports for people: replay timelines, the bundle's report.md and report.html
rendered from its report.json (matplotlib; never imported by the runtime). Imports only the
runtime."""
