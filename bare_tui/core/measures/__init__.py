"""Measuring what was made: sentence embeddings, BARE's diversity (mean pairwise
similarity, histograms, clusters), near neighbours and near-duplicates (curation), the
judge that tries to tell generated items from seeds, and the comparison of methods with
its report. It imports the workspace, the inputs and generation; it never decides."""
