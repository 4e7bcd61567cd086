"""Schedule batches: a practice's appointment CSV in, one verification per visit, a report out.

- `columns`: the CSV format and a streaming reader (BOM, CRLF and quoted fields welcome).
- `rows`: one row -> a validated inquiry body (same rules as the API), or named problems.
- `grouping`: rows of the same patient, payer, day and provider -> one inquiry.
- `freshness`: the keyed hash that finds a recent answer for the same visit.
- `report`: the per-appointment, per-CPT report and the error report (CSV and JSON).
- `ingest`: the upload, end to end, over small ports (table, archive, executions).
"""
