"""The trial report: one self-contained HTML page (``rct report``)."""
