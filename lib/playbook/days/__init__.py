"""Days: one module per day of the week (day1 ... day7, selection = day 8) and the helpers only days use.

No day imports another day: what two days share lives in a lower layer (load.greedy, load.sweep).
"""
