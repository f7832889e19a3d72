"""The curator's decisions: accept, reject, edit, merge by hunks and pick an
alternative, with undo and redo from the event log (review), the review list and its
filters, diffs and merges, alternatives asked of the models, decisions on many items at
once (bulk), and the team's queue, leases and agreement. It imports everything below
it (workspace, inputs, generation, measures), and nothing above."""
