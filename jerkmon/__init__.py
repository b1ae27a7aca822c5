"""jerkmon: the application that wires collector, detector, storage and reports."""
