"""The trial's allocation in the application: sealing, revealing, voiding, verifying.

``sealing`` seals the boroughs' allocation, reveals and voids it (the service behind
``rct allocate``); ``state`` says which allocation record is current; ``design`` turns a
protocol's allocation specification into the ``allocation`` library's inputs; ``verify``
checks a revealed allocation from plain records; ``certificate`` renders the allocation
certificate; ``records`` holds the typed allocation record and certificate; ``arms_guard``
refuses arms that do not follow from the sealed commitment.

The randomisation itself (the stream, scheme spaces, the commitment) lives in the pure
library ``allocation``; this package binds it to the trial's database and audit trail.
"""
