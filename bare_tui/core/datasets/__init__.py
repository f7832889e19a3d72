"""What leaves the workspace and what comes in whole: export (profiles, splits,
placement of files with undo on failure), the dataset card written beside it, and the
import of an existing dataset as candidates. The top room: it may import any other
part of core/, and none imports it."""
