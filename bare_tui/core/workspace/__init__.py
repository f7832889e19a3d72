"""The workspace: one SQLite file and what it holds now. The store (connections,
transactions that wait their turn, clear errors), the schema's migrations (each step
fixed once written), what a candidate says now (`current`: the one reading of the
`candidate_state` view) and the yield counted at each quality step. The lowest room:
it imports no other part of core/."""
