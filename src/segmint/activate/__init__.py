"""From segments to action: recommendations, playbooks, audiences, campaigns with holdouts,
lookalikes, markets and demand.

Pure estimators and functions of frames, plus the workspace reads they need; above the
models (segment, predict) whose outputs they act on, below the report that shows them.
"""
