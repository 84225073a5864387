"""The local Branch sandbox: `tap-branch-sandbox --port N --seed S`.

It plays Branch for the tests and the demo, as Branch's documents and real clients show it, and
imports nothing from `tap_branch` (a witness, not an echo). The families it serves are listed
in `families.py`; this module stays empty so that its modules can import one another.
"""
