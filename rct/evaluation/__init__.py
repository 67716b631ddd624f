"""What an evaluator receives and checks: the bundle, and its independent reproduction.

``bundle`` exports the plain-file bundle (``rct bundle export``); ``bundle_trust`` carries
and checks the anchors that make a bundle prove itself; ``reproduce`` re-checks a bundle
item by item without a database (``rct reproduce``), with ``reproduce_analyses`` (recompute
every prespecified analysis) and ``reproduce_dataset`` (the CSV copy of the snapshot).
"""
