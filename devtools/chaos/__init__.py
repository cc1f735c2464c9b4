"""``streammesh chaos``: faults injected into a running mesh, on purpose and on record.

devtools/chaos/monkey.py holds the faults and the loop that picks them;
devtools/chaos/cli.py the command. Each fault is one JSON line in the log:
what was done, to what, when, and how long the target took to serve again.
"""
